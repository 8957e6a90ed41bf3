"""Out-of-memory incidents by platform and batch size, and memory utilisation by platform (the
causal-inference paper's figures 2 and 3)."""
from __future__ import annotations

import pandas as pd

from collector.report import plots, svg
from collector.report.data import ReportData
from collector.report.model import Block, Budgets, Figure, Note, Section, Table

HIGH_MEMORY_SHARE = 80.0  # the seed study's Z: a trial above 80% of the device's memory


def oom_table(rows: pd.DataFrame) -> pd.DataFrame:
    grouped = rows.groupby(["device_class", "batch_size"])
    table = grouped.agg(trials=("status", "size"), oom=("is_oom", "sum"),
                        skipped=("status", lambda s: int((s == "skipped").sum())),
                        hosts=("host", "nunique")).reset_index()
    table["oom"] = table["oom"].astype(int)
    table["oom_share"] = table["oom"] / (table["trials"] - table["skipped"]).clip(lower=1)
    oom_models = rows[rows["is_oom"].astype(bool)].groupby(["device_class", "batch_size"])["model"].agg(
        lambda s: ", ".join(sorted(set(s))))
    table["models_oom"] = [oom_models.get((d, b), "") for d, b in zip(table["device_class"], table["batch_size"])]
    return table


def _oom_figure(table: pd.DataFrame) -> Figure:
    shares = table.pivot(index="device_class", columns="batch_size", values="oom_share") * 100
    counts = table.pivot(index="device_class", columns="batch_size", values="oom")
    trials = table.pivot(index="device_class", columns="batch_size", values="trials")
    labels = (counts.astype("Int64").astype(str) + "/" + trials.astype("Int64").astype(str)).where(counts > 0, "")
    fig, axes = svg.figure(height_in=1.6 + 0.34 * len(shares), width_in=min(11.0, 4.5 + 1.1 * shares.shape[1]))
    ax = axes[0, 0]
    # at least 0..10 %: a fleet without an OOM gets a readable scale, not 0.00..1.00 under "%"
    plots.heatmap(ax, shares, labels=labels, cmap="Reds", vmin=0, vmax=max(10.0, float(shares.max().max())),
                  colorbar="OOM, % of trials", fig=fig)
    ax.set_xlabel("batch size")
    return Figure("oom", svg.to_svg(fig, "oom"),
                  "Out-of-memory trials per device class and batch size: OOM trials / trials run (a larger batch "
                  "skipped after an OOM is not counted as run); blank: none. Colour: the OOM share.")


def utilisation_table(ok: pd.DataFrame) -> pd.DataFrame:
    known = ok.dropna(subset=["mem_util_pct"])
    grouped = known.groupby("device_class")["mem_util_pct"]
    table = pd.DataFrame({
        "capacity_mb": known.groupby("device_class")["mem_capacity_mb"].median(),
        "trials": grouped.size(), "util_median_pct": grouped.median(), "util_p95_pct": grouped.quantile(0.95),
        "util_max_pct": grouped.max(),
        "over_80_pct_share": grouped.agg(lambda s: float((s > HIGH_MEMORY_SHARE).mean())),
    })
    return table.reset_index()


def _utilisation_figure(ok: pd.DataFrame) -> Figure:
    known = ok.dropna(subset=["mem_util_pct"])
    classes = sorted(known["device_class"].unique())
    fig, axes = svg.figure(height_in=1.0 + 0.4 * len(classes))
    ax = axes[0, 0]
    values = [known.loc[known["device_class"] == c, "mem_util_pct"].to_numpy() for c in classes]
    # whiskers at the 5th and 95th percentile, no outlier points: a box is a few marks at any scale
    ax.boxplot(values, orientation="horizontal", whis=(5, 95), showfliers=False, widths=0.6, patch_artist=True,
               boxprops={"facecolor": "#c6dbef", "edgecolor": "#3182bd"}, medianprops={"color": "#08519c"})
    ax.set_yticks(range(1, len(classes) + 1), classes)
    ax.invert_yaxis()
    ax.axvline(HIGH_MEMORY_SHARE, color="#ff7f0e", ls="--", lw=1)
    ax.axvline(100, color="#d62728", lw=1)
    ax.set_xlabel("peak memory, % of the device's memory (or of the --mem-limit cap)")
    ax.set_xlim(left=0)
    return Figure("memory-util", svg.to_svg(fig, "memory-util"),
                  "Peak memory of each ok trial as a share of what the device has (GPU memory on a GPU, RAM "
                  "otherwise, the cap where one was set): box 25th to 75th percentile, whiskers 5th to 95th. "
                  "Dashed: 80%, the seed study's high-memory threshold; red: the whole device.")


def build(data: ReportData, budgets: Budgets) -> Section:
    title, intro = "Memory and out-of-memory", "Where the devices run out of memory, and how full they get."
    rows = data.rows
    table = oom_table(rows)
    incidents = table[(table["oom"] > 0) | (table["skipped"] > 0)]
    blocks: list[Block] = [_oom_figure(table)]
    if len(incidents):
        blocks.append(Table("oom_incidents", "Where out-of-memory happened", incidents, formats={"oom_share": ".1%"}))
    blocks.append(Table("oom_by_platform", "Out-of-memory trials, every device class and batch size", table,
                        formats={"oom_share": ".1%"}, collapsed=True))
    ok = data.ok
    utilisation = utilisation_table(ok)
    if utilisation.empty:
        blocks.append(Note("No peak memory with a known device memory in the rows: utilisation needs "
                           "peak_rss_mb or peak_gpu_mem_mb and device_mem_gb (or machine.json)."))
    else:
        blocks += [_utilisation_figure(ok), Table("memory_utilisation", "Memory utilisation", utilisation,
                                                  formats={"over_80_pct_share": ".1%", "capacity_mb": ",.0f"})]
    n_oom = int(rows["is_oom"].astype(bool).sum())
    summary = [f"{n_oom} out-of-memory trial(s)" + (
        f", on {', '.join(sorted(rows.loc[rows['is_oom'].astype(bool), 'device_class'].unique()))}." if n_oom else ".")]
    return Section("memory", title, intro, tuple(blocks), tuple(summary))
