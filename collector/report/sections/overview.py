"""Fleet overview: the hosts, their hardware, agent versions and how their trials ended."""
from __future__ import annotations

import pandas as pd
from matplotlib.patches import Patch

from collector.report import plots, svg
from collector.report.data import ReportData
from collector.report.model import Budgets, Figure, Section, Table
from shared.schema import STATUSES


def outcomes(rows: pd.DataFrame, by: str) -> pd.DataFrame:
    """Trials a status, one row a ``by`` value, every status a column (zeros included)."""
    counts = rows.groupby([by, "status"]).size().unstack(fill_value=0)
    return counts.reindex(columns=list(STATUSES), fill_value=0).astype(int)


def hosts_table(data: ReportData) -> pd.DataFrame:
    rows = data.rows
    per_host = rows.groupby("host").agg(
        device_class=("device_class", "first"),
        agent_versions=("agent_version", lambda s: ", ".join(sorted(set(s.dropna())))),
        runs=("run_id", "nunique"), trials=("trial_key", "size"))
    machine = data.machines.drop(columns=["device_class"], errors="ignore").drop_duplicates("host")
    table = per_host.join(machine.set_index("host"), how="left").join(outcomes(rows, "host"))
    columns = ["device_class", "cpu_model", "cores", "mem_total_gb", "gpu", "device_mem_gb", "os",
               "agent_versions", "runs", "trials", *STATUSES]
    return table.reindex(columns=columns).reset_index()


def _counts_text(row: pd.Series) -> str:
    failed = ", ".join(f"{int(row[s])} {s}" for s in STATUSES if s != "ok" and row[s])
    return f"{int(row.sum())} trials" + (f": {failed}" if failed else ", all ok")


def _outcome_figure(rows: pd.DataFrame) -> Figure:
    counts = outcomes(rows, "device_class")
    shares = counts.div(counts.sum(axis=1), axis=0) * 100
    fig, axes = svg.figure(height_in=0.9 + 0.32 * len(shares))
    ax = axes[0, 0]
    left = pd.Series(0.0, index=shares.index)
    for status in STATUSES:
        ax.barh(range(len(shares)), shares[status], left=left, color=plots.STATUS_COLORS[status], height=0.7)
        left += shares[status]
    ax.set_yticks(range(len(shares)), [str(d) for d in shares.index])
    ax.invert_yaxis()
    counted = ax.twinx()  # the counts on the right, where no bar hides them
    counted.set_ylim(ax.get_ylim())
    counted.set_yticks(range(len(shares)), [_counts_text(row) for _, row in counts.iterrows()], fontsize=8)
    counted.tick_params(length=0)
    counted.grid(False)
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of trials, %")
    ax.grid(axis="y", visible=False)
    plots.legend_below(fig, [Patch(color=plots.STATUS_COLORS[s]) for s in STATUSES], list(STATUSES))
    return Figure("outcomes", svg.to_svg(fig, "outcomes"),
                  "How trials ended, per device class (all its hosts together); the per-host counts are in "
                  "the table below. Anything but ok carries its reason in the results' error column.")


def build(data: ReportData, budgets: Budgets) -> Section:
    rows = data.rows
    statuses = rows["status"].value_counts()
    failed = ", ".join(f"{statuses[s]} {s}" for s in STATUSES if s != "ok" and s in statuses)
    versions = sorted(set(rows["agent_version"].dropna()))
    summary = (
        f"{rows['host'].nunique()} host(s) in {rows['device_class'].nunique()} device class(es); "
        f"{len(rows)} trials, {statuses.get('ok', 0)} ok" + (f", {failed}" if failed else "") + ".",
        f"agent version(s): {', '.join(versions)}." + (" Hosts run different versions." if len(versions) > 1 else ""),
    )
    table = Table("hosts", "Hosts", hosts_table(data),
                  "One row a host: its hardware fingerprint (machine.json), the agent versions and runs its "
                  "rows come from, and its trials by outcome.", max_rows=100,
                  formats={"mem_total_gb": ".1f", "device_mem_gb": ".1f"})
    return Section("overview", "Fleet overview",
                   "Which devices ran the sweep, on what hardware, and how their trials ended.",
                   (_outcome_figure(rows), table), summary)
