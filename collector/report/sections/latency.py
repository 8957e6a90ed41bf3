"""Latency: against batch size per device class and backend, against the parameters left (the
structured-pruning paper's figures 6 and 7), and original vs mask-only vs really pruned."""
from __future__ import annotations

import numpy as np
import pandas as pd

from collector.report import plots, svg
from collector.report.cells import said, times_faster
from collector.report.data import ReportData
from collector.report.model import Block, Budgets, Figure, Note, Section, Table
from shared.comparison import seed_comparisons

SETTING = ["host", "model", "dataset", "input_size", "seed", "backend", "device", "batch_size", "threads"]


def by_batch_table(ok: pd.DataFrame) -> pd.DataFrame:
    """The unpruned models' p50 per device class, backend and batch size (median over hosts)."""
    base = ok[ok["target_ratio"] == 0]
    table = base.groupby(["model", "device_class", "backend", "batch_size"]).agg(
        latency_p50_ms=("latency_p50_ms", "median"), latency_p50_min_ms=("latency_p50_ms", "min"),
        latency_p50_max_ms=("latency_p50_ms", "max"), hosts=("host", "nunique")).reset_index()
    table["ms_per_sample"] = table["latency_p50_ms"] / table["batch_size"]
    return table


def _batch_ticks(ax, batches: pd.Series) -> None:
    ax.set_xscale("log", base=2)
    ticks = sorted(set(int(b) for b in batches))
    ax.set_xticks(ticks, [str(b) for b in ticks])
    ax.minorticks_off()


def _by_batch_figure(table: pd.DataFrame) -> Figure:
    models = sorted(table["model"].unique())
    classes, backends = sorted(table["device_class"].unique()), sorted(table["backend"].unique())
    caption = ("p50 latency of one batch of the unpruned model (ratio 0) against the batch size, median over "
               "the hosts of a device class. ")
    if len(classes) > plots.MAX_LINES or len(backends) > 3:  # too many lines to tell apart: a grid instead
        fig, axes = plots.facets(len(models), cols=2, height_in=0.6 + 0.28 * len(classes) * len(backends))
        for ax, model in zip(axes, models):
            grid = table[table["model"] == model].pivot_table(
                index=["device_class", "backend"], columns="batch_size", values="latency_p50_ms")
            grid.index = [f"{d} · {b}" for d, b in grid.index]
            plots.heatmap(ax, np.log10(grid), labels=grid.map(lambda v: "" if pd.isna(v) else f"{v:.3g}"),
                          cmap="viridis", colorbar="log10 ms", fig=fig)
            ax.set_title(model)
            ax.set_xlabel("batch size")
        return Figure("latency-batch", svg.to_svg(fig, "latency-batch"), caption + "Cells: ms; blank: not measured.")
    palette = plots.colors(classes)
    styles = dict(zip(backends, ["-", "--", ":"]))
    fig, axes = plots.facets(len(models))
    for ax, model in zip(axes, models):
        for (device, backend), line in table[table["model"] == model].groupby(["device_class", "backend"]):
            line = line.sort_values("batch_size")
            ax.plot(line["batch_size"], line["latency_p50_ms"], color=palette[device], ls=styles[backend],
                    marker="o", ms=3)
        plots.log_y(ax)
        _batch_ticks(ax, table["batch_size"])
        ax.set_title(model)
        ax.set_xlabel("batch size")
        ax.set_ylabel("p50 ms per batch")
    handles = [plots.line_handle(palette[c]) for c in classes]
    handles += [plots.line_handle("#333333", ls=styles[b], marker=None) for b in backends]
    plots.legend_below(fig, handles, [*classes, *(f"backend {b}" for b in backends)], cols=4)
    return Figure("latency-batch", svg.to_svg(fig, "latency-batch"),
                  caption + "Colour: device class; line style: backend. Both axes are logarithmic.")


def relative_latency(ok: pd.DataFrame) -> pd.DataFrame:
    """Every ok trial's p50 over its unpruned model's in the same setting (host, backend,
    device, batch size, threads), and its nonzero parameters over the unpruned model's."""
    keys = [k for k in SETTING if k in ok.columns]
    base = ok[ok["target_ratio"] == 0]
    original = base.groupby(keys, dropna=False).agg(original_ms=("latency_p50_ms", "median"),
                                                     params_base=("params_reported", "max"))
    trials = ok.join(original, on=keys, how="inner")
    trials["latency_rel"] = trials["latency_p50_ms"] / trials["original_ms"]
    trials["params_left"] = trials["params_nonzero"].astype(float) / trials["params_base"].astype(float)
    return trials


def by_params_table(ok: pd.DataFrame) -> pd.DataFrame:
    trials = relative_latency(ok)
    grouped = trials.groupby(["model", "method", "target_ratio"])
    table = grouped.agg(params_left=("params_left", "median"), latency_rel=("latency_rel", "median"),
                        trials=("latency_rel", "size")).reset_index()
    # per group, not quantile().unstack(): that has no 0.25 column when no trial has an unpruned base
    table["latency_rel_q25"] = grouped["latency_rel"].quantile(0.25).to_numpy()
    table["latency_rel_q75"] = grouped["latency_rel"].quantile(0.75).to_numpy()
    return table


def _by_params_figure(table: pd.DataFrame) -> Figure:
    models = sorted(table["model"].unique())
    styles = plots.series_styles(table["method"].unique())
    fig, axes = plots.facets(len(models))
    for ax, model in zip(axes, models):
        for method, line in table[table["model"] == model].groupby("method"):
            line = line.sort_values("params_left")
            ax.plot(line["params_left"], line["latency_rel"], **styles[method])
            ax.fill_between(line["params_left"], line["latency_rel_q25"], line["latency_rel_q75"],
                            color=styles[method]["color"], alpha=0.12, linewidth=0)
        ax.axhline(1.0, color="#555555", lw=0.8)
        ax.set_title(model)
        ax.set_xlabel("parameters left (nonzero)")
        ax.set_ylabel("latency / unpruned")
        ax.set_xlim(1.03, -0.03)  # pruning goes left to right
        ax.set_ylim(bottom=0)
        plots.ratio_ticks(ax)
    plots.series_legend(fig, styles, title="method")
    return Figure("latency-params", svg.to_svg(fig, "latency-params"),
                  "Latency relative to the unpruned model in the same setting (host, backend, batch size) against "
                  "the share of parameters left nonzero: median over every host, backend and batch size, band "
                  "25th to 75th percentile. Below 1 is faster. The unpruned points (all parameters left) sit off 1 "
                  "by timing noise alone: each method's unpruned variant is timed on its own and divided by their "
                  "median, so their spread is the noise floor. Zeroed weights that stay in the tensors (every "
                  "mask-only method) leave the latency where it was; only removing channels (structured) cuts it.")


def comparison_frame(ok: pd.DataFrame) -> pd.DataFrame:
    """shared.comparison's table, one host at a time (it links rows by setting, not by host)."""
    columns = ["status", "base_model_key", "target_ratio", "method", "method_options", "latency_p50_ms", "macs",
               "model", "input_size", "backend", "device", "batch_size", "threads", "variant_key"]
    found = []
    for (host, device_class), part in ok.groupby(["host", "device_class"]):
        records = part[columns].astype(object).where(part[columns].notna(), None).to_dict("records")
        for c in seed_comparisons(records):
            found.append({"host": host, "device_class": device_class, "model": c.model,
                          "target_ratio": c.target_ratio, "backend": c.backend, "batch_size": c.batch_size,
                          "original_ms": c.original_ms, "mask_ms": c.mask_ms, "pruned_ms": c.pruned_ms,
                          "speedup_mask": c.speedup_mask, "speedup_pruned": c.speedup_pruned,
                          "mac_reduction": c.mac_reduction, "realised": c.realised})
    columns_out = ["host", "device_class", "model", "target_ratio", "backend", "batch_size", "original_ms",
                   "mask_ms", "pruned_ms", "speedup_mask", "speedup_pruned", "mac_reduction", "realised"]
    frame = pd.DataFrame(found, columns=columns_out)
    numbers = columns_out[6:]  # None where a setting lacks its original or its mask: NaN, not object
    frame[numbers] = frame[numbers].astype(float)
    return frame


def comparison_table(frame: pd.DataFrame) -> pd.DataFrame:
    keys = ["model", "target_ratio", "device_class", "backend", "batch_size"]
    numbers = frame.drop(columns=["host"]).groupby(keys).median(numeric_only=True)
    numbers["hosts"] = frame.groupby(keys)["host"].nunique()
    return numbers.reset_index()


COMPARED = (("speedup_mask", "mask only (ln_structured_mask)", "#9ecae1", "-"),
            ("speedup_pruned", "really pruned (structured)", "#08519c", "-"),
            ("mac_reduction", "MAC reduction (the ideal)", "#d62728", "--"))


def _comparison_figure(frame: pd.DataFrame) -> Figure:
    models = sorted(frame["model"].unique())
    fig, axes = plots.facets(len(models))
    for ax, model in zip(axes, models):
        part = frame[frame["model"] == model].groupby("target_ratio").median(numeric_only=True)
        for column, _, color, ls in COMPARED:
            if part[column].notna().any():
                ax.plot(part.index, part[column], color=color, ls=ls, marker="o", ms=5, lw=2)
        ax.axhline(1.0, color="#555555", lw=0.8)
        plots.log_y(ax)
        ax.set_xticks(list(part.index), [f"{r:g}" for r in part.index])
        ax.set_title(model)
        ax.set_xlabel("pruning ratio")
        ax.set_ylabel("x faster than the original")
    plots.legend_below(fig, [plots.line_handle(c, ls=ls) for _, _, c, ls in COMPARED],
                       [label for _, label, _, _ in COMPARED])
    return Figure("latency-seed", svg.to_svg(fig, "latency-seed"),
                  "Speed-up over the original model of the mask-only and the really pruned variant at the same "
                  "ratio, median over hosts, backends and batch sizes (log scale). Where the blue line meets the "
                  "red one, every multiply-accumulate removed became time saved; the gap is what the runtime "
                  "does not turn into speed (realised in the table).")


def speedup_grid(frame: pd.DataFrame) -> pd.DataFrame:
    """The really pruned model's speed-up, one row a (model, ratio), one column a device class."""
    grid = frame.pivot_table(index=["model", "target_ratio"], columns="device_class", values="speedup_pruned",
                             aggfunc="median")
    grid.columns.name = None
    mask = frame.groupby(["model", "target_ratio"])["speedup_mask"].median().rename("mask_only_all")
    return grid.join(mask).reset_index()


def _summary(comparison: pd.DataFrame, left_out: int) -> tuple[str, ...]:
    """From trusted trials only: a noisy trial's speed-up is no finding."""
    lines = []
    for model, part in comparison.groupby("model"):
        top = part.groupby("target_ratio").median(numeric_only=True).iloc[-1]
        ratio = part["target_ratio"].max()
        mask = "" if pd.isna(top["speedup_mask"]) else f", mask-only {times_faster(top['speedup_mask'])}"
        lines.append(f"{model} at ratio {ratio:g}: structured pruning is {times_faster(top['speedup_pruned'])} "
                     f"than the original (median){mask}; MACs fell {said(top['mac_reduction'], '.2f', unit='x')}.")
    if left_out and not lines:
        lines.append(f"No speed-up finding: the trials it needs were flagged noisy ({left_out} noisy trials).")
    return tuple(lines)


def build(data: ReportData, budgets: Budgets) -> Section:
    title, intro = "Latency", ("What pruning does to inference time, on each device class and backend, and "
                               "whether removing parameters or only zeroing them makes the difference.")
    ok = data.ok.dropna(subset=["latency_p50_ms"])
    if ok.empty:
        return Section("latency", title, intro, (Note("No trial ended ok with a latency.", "warn"),))
    blocks: list[Block] = []
    by_batch = by_batch_table(ok)
    if not by_batch.empty:
        blocks += [_by_batch_figure(by_batch),
                   Table("latency_by_batch", "Unpruned latency by batch size", by_batch,
                         "Median over the hosts of a device class; min and max across them.", collapsed=True)]
    else:
        blocks.append(Note("No unpruned (ratio 0) model ended ok: nothing to compare against.", "warn"))
    by_params = by_params_table(ok)
    if not by_params.empty:
        blocks += [_by_params_figure(by_params),
                   Table("latency_vs_params", "Latency against parameters left", by_params,
                         "Medians over every host, backend and batch size of the model.",
                         formats={"params_left": ".3f", "latency_rel": ".3f", "latency_rel_q25": ".3f",
                                  "latency_rel_q75": ".3f"}, collapsed=True)]
    comparison = comparison_frame(ok)
    if comparison.empty:
        blocks.append(Note("No structured variant with its original measured: run a sweep with the methods "
                           "structured and ln_structured_mask (and ratio 0) to compare original, mask-only and "
                           "really pruned latency."))
    else:
        grid = speedup_grid(comparison)
        blocks += [_comparison_figure(comparison),
                   Table("seed_speedup", "Speed-up of really pruned models, per device class", grid,
                         "structured over the original, median over hosts, backends and batch sizes; mask_only_all: "
                         "ln_structured_mask over the original, every device class together.",
                         formats={c: ".2f" for c in grid.columns if c not in ("model", "target_ratio")}),
                   Table("seed_comparison", "Original vs mask-only vs really pruned, by batch size",
                         comparison_table(comparison),
                         "p50 ms of one batch, median over the hosts of a device class (per host: "
                         "seed_comparison_hosts.csv). realised = speed-up / MAC reduction.",
                         formats={c: ".2f" for c in ("speedup_mask", "speedup_pruned", "mac_reduction", "realised")},
                         collapsed=True),
                   Table("seed_comparison_hosts", "Original vs mask-only vs really pruned, per host", comparison,
                         max_rows=0)]
    trusted = ok[ok["trusted"]] if "trusted" in ok.columns else ok
    return Section("latency", title, intro, tuple(blocks),
                   _summary(comparison_frame(trusted) if len(trusted) < len(ok) else comparison, len(ok) - len(trusted)))
