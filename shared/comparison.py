"""The seed comparison: original, mask-only and really pruned latency side by side.

The structured-pruning paper's figures 6 and 7: for every ``structured`` variant (channels
removed), the latency of the original model, of ``ln_structured_mask`` at the same ratio
(the same channels zeroed, nothing removed) and of the pruned model, per backend, device,
batch size and thread count. Rows are linked by ``base_model_key`` (every variant pruned
from one base model shares it; the original is any of its ratio-0 variants, all of which
are the unpruned base). Only ``ok`` rows carry a latency; the others are left out.

Each speed-up over the original comes with its 95% interval and a verdict (faster, slower,
no measurable difference) from the two trials' raw samples (samples.jsonl, one list a
process), by :func:`shared.stats.speedup`: two p50s 5% apart are noise on a busy machine, and
the table says so. Without the samples the verdict is "not measured".
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from shared.resultsdir import SampleIndex
from shared.stats import NOT_MEASURED, Speedup, speedup

STRUCTURED = "structured"
MASK = "ln_structured_mask"

Row = "Mapping[str, Any]"  # a string: collections.abc generics need 3.9 at run time (light agent: 3.8)
UNMEASURED = Speedup(None, None, None, NOT_MEASURED, "")


@dataclass(frozen=True)
class SeedComparison:
    """One structured variant at one (backend, device, batch size, threads)."""

    model: str
    input_size: int
    target_ratio: float
    method_options: str  # of the structured variant, canonical JSON (a sweep may have several)
    backend: str
    device: str
    batch_size: int
    threads: int | None
    variant_key: str  # of the structured variant
    original_ms: float | None  # p50 latency of one batch
    mask_ms: float | None
    pruned_ms: float | None
    macs_original: int | None
    macs_pruned: int | None
    mask_interval: Speedup = field(default=UNMEASURED)  # from the raw samples: interval and verdict
    pruned_interval: Speedup = field(default=UNMEASURED)

    @staticmethod
    def _ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    @property
    def speedup_mask(self) -> float | None:
        """Original over mask-only median latency: from the raw samples where they were kept."""
        return _estimate(self.mask_interval, self._ratio(self.original_ms, self.mask_ms))

    @property
    def speedup_pruned(self) -> float | None:
        return _estimate(self.pruned_interval, self._ratio(self.original_ms, self.pruned_ms))

    @property
    def mac_reduction(self) -> float | None:
        return self._ratio(self.macs_original, self.macs_pruned)

    @property
    def realised(self) -> float | None:
        """Realised speed-up over MAC reduction: 1.0 means the runtime turns every MAC removed
        into time saved (the P6 figure)."""
        return self._ratio(self.speedup_pruned, self.mac_reduction)


def _estimate(interval: Speedup, p50_ratio: float | None) -> float | None:
    return interval.estimate if interval.estimate is not None else p50_ratio


def _interval(samples: Optional[SampleIndex], original: Optional[Row], other: Optional[Row]) -> Speedup:
    """The speed-up of ``other`` over ``original`` from their raw samples."""
    if samples is None or original is None or other is None:
        return UNMEASURED
    return speedup(samples.of(original), samples.of(other))


def _setting(row: Row) -> tuple[Any, ...]:
    return (row["base_model_key"], row["backend"], row["device"], row["batch_size"], row["threads"])


def seed_comparisons(rows: Iterable[Row], samples: Optional[SampleIndex] = None) -> list[SeedComparison]:
    """Every structured variant's comparison, in the order the rows came; with ``samples``
    (shared.resultsdir.load_samples of the rows' folder) each speed-up's interval and verdict."""
    ok = [r for r in rows if r["status"] == "ok" and r.get("base_model_key")]
    originals: dict[tuple[Any, ...], Row] = {}
    for row in ok:  # any ratio-0 variant is the base; structured's own is preferred
        if row["target_ratio"] == 0.0 and (_setting(row) not in originals or row["method"] == STRUCTURED):
            originals[_setting(row)] = row
    masks = {(*_setting(r), r["target_ratio"]): r for r in ok if r["method"] == MASK}
    found = []
    for row in ok:
        if row["method"] != STRUCTURED or row["target_ratio"] == 0.0:
            continue
        original = originals.get(_setting(row))
        mask = masks.get((*_setting(row), row["target_ratio"]))
        found.append(SeedComparison(
            model=row["model"], input_size=row["input_size"], target_ratio=row["target_ratio"],
            method_options=row.get("method_options") or "{}",
            backend=row["backend"], device=row["device"], batch_size=row["batch_size"],
            threads=row["threads"], variant_key=row["variant_key"],
            original_ms=original["latency_p50_ms"] if original else None,
            mask_ms=mask["latency_p50_ms"] if mask else None, pruned_ms=row["latency_p50_ms"],
            macs_original=original["macs"] if original else None, macs_pruned=row["macs"],
            mask_interval=_interval(samples, original, mask), pruned_interval=_interval(samples, original, row)))
    return found


COMPARISON_HEADER = ("model", "ratio", "options", "backend", "device", "batch", "original ms", "mask ms",
                     "pruned ms", "mask speed-up", "mask 95% low", "mask 95% high", "mask verdict",
                     "pruned speed-up", "pruned 95% low", "pruned 95% high", "pruned verdict", "interval basis",
                     "MAC reduction", "realised")


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _interval_cells(point: float | None, interval: Speedup) -> tuple[str, ...]:
    return (_num(point, ".2f"), _num(interval.ci_low, ".2f"), _num(interval.ci_high, ".2f"), interval.verdict)


def format_comparison(c: SeedComparison) -> tuple[str, ...]:
    """The cells of one comparison, in :data:`COMPARISON_HEADER` order. The basis says what the
    intervals cover: "samples" (one process a side: within-trial noise only) or "processes"."""
    basis = c.pruned_interval.basis or c.mask_interval.basis or "-"
    return (c.model, f"{c.target_ratio:g}", c.method_options, c.backend, c.device, str(c.batch_size),
            _num(c.original_ms, ".3f"), _num(c.mask_ms, ".3f"), _num(c.pruned_ms, ".3f"),
            *_interval_cells(c.speedup_mask, c.mask_interval), *_interval_cells(c.speedup_pruned, c.pruned_interval),
            basis, _num(c.mac_reduction, ".2f"), _num(c.realised, ".2f"))


def write_comparisons_csv(comparisons: Iterable[SeedComparison], path: str | Path) -> int:
    """The table as CSV (``seed_comparison.csv`` beside results.csv); returns the line count."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    count = 0
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([*COMPARISON_HEADER[:6], "threads", *COMPARISON_HEADER[6:]])
        for c in comparisons:
            cells = format_comparison(c)
            writer.writerow([*cells[:6], "" if c.threads is None else c.threads, *cells[6:]])
            count += 1
    tmp.replace(path)
    return count
