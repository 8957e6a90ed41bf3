"""Energy per inference against the pruning ratio, per device class: drawn only where some
trial measured energy (tegrastats on a Jetson, NVML on a GPU, RAPL on an x86 CPU)."""
from __future__ import annotations

import pandas as pd

from collector.report import plots, svg
from collector.report.data import ReportData
from collector.report.model import Block, Budgets, Figure, Section, Table


def energy_table(ok: pd.DataFrame) -> pd.DataFrame:
    """Median energy per sample by device class, model, backend, batch size and ratio."""
    known = ok.dropna(subset=["energy_per_sample_mj"])
    keys = ["device_class", "model", "backend", "batch_size", "target_ratio"]
    table = known.groupby(keys).agg(
        energy_per_sample_mj=("energy_per_sample_mj", "median"), energy_j=("energy_j", "median"),
        latency_p50_ms=("latency_p50_ms", "median"), trials=("trial_key", "size"),
        energy_source=("energy_source", lambda s: ", ".join(sorted(set(s.dropna()))))).reset_index()
    return table


def _figure(table: pd.DataFrame) -> Figure:
    """One panel a model; a line a device class (its smallest batch size, the first backend)."""
    models = sorted(table["model"].unique())
    palette = plots.colors(table["device_class"].unique())
    fig, axes = plots.facets(len(models))
    for ax, model in zip(axes, models):
        part = table[table["model"] == model]
        for device, lines in part.groupby("device_class"):
            first = lines[(lines["batch_size"] == lines["batch_size"].min())
                          & (lines["backend"] == sorted(lines["backend"])[0])].sort_values("target_ratio")
            ax.plot(first["target_ratio"], first["energy_per_sample_mj"], color=palette[device], marker="o", ms=3)
        plots.log_y(ax)
        plots.ratio_ticks(ax)
        ax.set_title(model)
        ax.set_xlabel("pruning ratio")
    axes[0].set_ylabel("mJ per sample")
    plots.legend_below(fig, [plots.line_handle(palette[d]) for d in palette], list(palette), title="device class")
    return Figure("energy-ratio", svg.to_svg(fig, "energy-ratio"),
                  "Energy per inferred sample against the pruning ratio (median over trials), per device class at "
                  "its smallest batch size: the device's energy over the timed region (idle power included) "
                  "divided by the samples processed. Source per row in the table: tegrastats board input, "
                  "NVML GPU counter or RAPL package.")


def build(data: ReportData, budgets: Budgets) -> Section | None:
    """None where no trial measured energy: the report then has no energy section at all."""
    table = energy_table(data.ok)
    if table.empty:
        return None
    blocks: list[Block] = [_figure(table), Table("energy", "Energy per sample", table, formats={
        "energy_per_sample_mj": ".4g", "energy_j": ".4g", "target_ratio": ".0%"})]
    classes = ", ".join(sorted(table["device_class"].unique()))
    summary = (f"Energy measured on {table['device_class'].nunique()} device class(es): {classes}.",)
    return Section("energy", "Energy per inference", "What one inferred sample costs in energy, by pruning "
                   "ratio, where the device has a sensor.", tuple(blocks), summary)
