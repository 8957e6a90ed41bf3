"""Where the time went: per-layer time of pruned variants beside their unpruned originals
(layer_time.jsonl: ``agent profile`` or ``telemetry: {layer_time: true}``), by kind of op.

Drawn only where some model was profiled. A variant is paired with the original of the same
host, base model, backend, device, batch size and profiler (the latest such record of each);
a kind of op is what torch.profiler and onnxruntime's profiler share (shared/layertime.py).
"""
from __future__ import annotations

import pandas as pd

from collector.report import plots, svg
from collector.report.data import ReportData
from collector.report.model import Block, Budgets, Figure, Note, Section, Table
from shared.layertime import KINDS, ORIGINAL, LayerTimes, side_by_side

MAX_PAIRS_DRAWN = 12  # a bar pair each; the table holds every one

def _key(host: str, record: LayerTimes) -> tuple[object, ...]:
    return (host, record.model, record.base_model_key, record.backend, record.device, record.batch_size,
            record.profiler)


def pairs(layer_times: tuple[tuple[str, LayerTimes], ...]) -> list[tuple[str, LayerTimes, LayerTimes]]:
    """(host, original, variant) for every profiled variant whose original was profiled alike."""
    originals: dict[tuple[object, ...], LayerTimes] = {}
    latest: dict[tuple[object, ...], tuple[str, LayerTimes]] = {}
    for host, record in layer_times:  # file order: a later record of the same model replaces an earlier
        if record.role == ORIGINAL:
            originals[_key(host, record)] = record
        else:
            latest[(*_key(host, record), record.variant_key)] = (host, record)
    return [(host, originals[_key(host, v)], v) for host, v in latest.values() if _key(host, v) in originals]


def kind_table(found: list[tuple[str, LayerTimes, LayerTimes]]) -> pd.DataFrame:
    """One row a (pair, kind of op): ms a forward pass in the original and the variant."""
    rows = []
    for host, original, variant in found:
        for kind in side_by_side(original, variant):
            rows.append({"host": host, "model": variant.model, "method": variant.method,
                         "target_ratio": variant.target_ratio, "backend": variant.backend, "device": variant.device,
                         "batch_size": variant.batch_size, "kind": kind.kind, "original_ms": kind.original_ms,
                         "variant_ms": kind.variant_ms, "saved_ms": kind.saved_ms,
                         "share_of_original": kind.original_ms / original.total_ms if original.total_ms else None})
    return pd.DataFrame(rows)


def total_table(found: list[tuple[str, LayerTimes, LayerTimes]]) -> pd.DataFrame:
    """One row a pair: whole forward pass as profiled, and the kind of op that gained most."""
    rows = []
    for host, original, variant in found:
        kinds = side_by_side(original, variant)
        top = max(kinds, key=lambda k: k.saved_ms) if kinds else None
        rows.append({"host": host, "model": variant.model, "method": variant.method,
                     "target_ratio": variant.target_ratio, "backend": variant.backend,
                     "batch_size": variant.batch_size, "profiler": variant.profiler,
                     "original_ms": original.total_ms, "variant_ms": variant.total_ms,
                     "profiled_speedup": original.total_ms / variant.total_ms if variant.total_ms else None,
                     "most_saved_in": top.kind if top else None,
                     "slowest_in_variant": max(kinds, key=lambda k: k.variant_ms).kind if kinds else None})
    return pd.DataFrame(rows)


def _figure(found: list[tuple[str, LayerTimes, LayerTimes]]) -> Figure:
    """One panel a profiler; a pair of bars a profiled variant (its original above it), each
    bar the time of a forward pass stacked by kind of op."""
    drawn = found[:MAX_PAIRS_DRAWN]
    profilers = sorted({v.profiler for _, _, v in drawn})
    palette = plots.colors(KINDS)
    fleet = len({host for host, _, _ in found}) > 1  # name the host only where there are several
    fig, axes = plots.facets(len(profilers), cols=2, height_in=2.0 + 0.6 * len(drawn))  # room for the legend
    for ax, profiler in zip(axes, profilers):
        bars = [(f"{v.model} {v.method} {v.target_ratio:.0%} b{v.batch_size}{' ' + h if fleet else ''}", o, v)
                for h, o, v in drawn if v.profiler == profiler]
        labels, y = [], 0
        for label, original, variant in bars:
            for which, record in (("original", original), (label, variant)):
                left = 0.0
                for kind, ms in sorted(record.by_kind().items(), key=lambda kv: KINDS.index(kv[0])):
                    ax.barh(y, ms, left=left, color=palette[kind], height=0.8)
                    left += ms
                labels.append(which)
                y += 1
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.set_title(profiler)
        ax.set_xlabel("ms a forward pass (profiled)")
    plots.legend_below(fig, [plots.line_handle(palette[k], marker=None) for k in KINDS], list(KINDS),
                       title="kind of op")
    return Figure("layer-time", svg.to_svg(fig, "layer-time"),
                  "Where a forward pass spends its time: each profiled variant under its original, the bar "
                  f"stacked by kind of op (at most {MAX_PAIRS_DRAWN} variants drawn; every one is in the tables).")


def build(data: ReportData, budgets: Budgets) -> Section | None:
    """None where nothing was profiled: the report then has no such section."""
    if not data.layer_times:
        return None
    found = pairs(data.layer_times)
    intro = ("Where a forward pass spends its time, by kind of op, in each profiled pruned variant and in its "
             "unpruned original (same host, backend, device and batch size), from torch.profiler or "
             "onnxruntime's own profiler. Profiled times carry the profiler's overhead: compare the two "
             "columns, not these figures with the measured latency.")
    if not found:
        note = Note(f"{len(data.layer_times)} model(s) profiled, but no pruned variant beside its original: "
                    "profile with `agent profile --variant KEY` (it profiles both).", "warn")
        return Section("layertime", "Where the time went", intro, (note,))
    totals = total_table(found)
    blocks: list[Block] = [
        _figure(found),
        Table("layer-time-totals", "Profiled forward pass, original against variant", totals,
              formats={"original_ms": ".4g", "variant_ms": ".4g", "profiled_speedup": ".2f", "target_ratio": ".0%"}),
        Table("layer-time-kinds", "Time by kind of op", kind_table(found), collapsed=True,
              formats={"original_ms": ".4g", "variant_ms": ".4g", "saved_ms": "+.4g", "share_of_original": ".0%",
                       "target_ratio": ".0%"}),
    ]
    summary = tuple(f"{r.model} {r.method} at {r.target_ratio:.0%} on {r.backend} (batch {r.batch_size}): "
                    f"from {r.original_ms:.3g} to {r.variant_ms:.3g} ms profiled; most time saved in {r.most_saved_in}, "
                    f"most time left in {r.slowest_in_variant}." for r in totals.head(5).itertuples())
    return Section("layertime", "Where the time went", intro, tuple(blocks), summary)
