"""Fleet overview: the hosts, their hardware, agent versions and how their trials ended; and, in
a fleet folder with ``fleet.json``, how the collector's run ended on each host it asked, those
that left no row (unreachable, auth-failed) included."""
from __future__ import annotations

import re

import pandas as pd
from matplotlib.patches import Patch

from collector.report import plots, svg
from collector.report.data import FleetRun, ReportData
from collector.report.model import Block, Budgets, Figure, Note, Section, Table
from shared.schema import STATUSES

# the collector's host outcomes (collector/fleet/hostrun.py), worst first: the order of the table and the summary
HOST_OUTCOMES = ("auth-failed", "unreachable", "agent-error", "partial", "ok")
SUMMARY_ORDER = ("ok", "partial", "agent-error", "unreachable", "auth-failed")
FLAG = "\u26a0"               # warning sign: a host that needs a look
ALL_HOSTS_OPEN = 40           # up to this many hosts asked, the whole table is open on the page
NOT_OK_ROWS = 200             # the hosts that did not end ok shown on the page (all of them in the CSV)
NAMES_IN_NOTE = 10


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


def collector_hosts(fleet: FleetRun, rows: pd.DataFrame) -> pd.DataFrame:
    """One row a host the collector asked, worst outcome first: its outcome, trials, restarts,
    reconnects and reason from fleet.json, and how many rows of it this report holds (0: no host
    folder, as for an unreachable host)."""
    table = fleet.hosts.drop_duplicates("host", keep="last").copy()
    counts = rows.groupby("host").size()
    table["rows_in_report"] = table["host"].map(counts).fillna(0).astype(int)
    bad = table["outcome"] != "ok"
    table["flag"] = ""
    table.loc[bad, "flag"] = FLAG
    table.loc[table["rows_in_report"] == 0, "flag"] = f"{FLAG} no rows"
    rank = {outcome: i for i, outcome in enumerate(HOST_OUTCOMES)}
    table["_rank"] = table["outcome"].map(rank).fillna(-1)  # an outcome this report does not know: first
    table = table.sort_values(["_rank", "host"], kind="stable").drop(columns="_rank")
    columns = ["flag", "host", "outcome", "trials_done", "trials_total", "not_ok", "restarts", "reconnects",
               "rows_in_report", "reason"]
    return table[columns].reset_index(drop=True)


def _plain_name(name: str) -> str:
    """A name on one line of a note or summary. It may hold anything: html.py escapes it, but a
    backtick would open a code span there, so it becomes a quote (the tables keep the name as is)."""
    return re.sub(r"\s+", " ", name).strip().replace("`", "'") or repr(name)


def _total(column: pd.Series) -> int:
    return int(column.fillna(0).sum())


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _fleet_blocks(data: ReportData) -> tuple[tuple[str, ...], tuple[Block, ...]]:
    """The summary lines and blocks of fleet.json's view; nothing when there is none."""
    if data.fleet is None:
        note = (Note(f"The collector's account of the hosts was not read: {data.fleet_problem}. The tables below "
                     "show the hosts with rows only; a host that left none is not in them.", "warn"),)
        return (), note if data.fleet_problem else ()
    fleet = data.fleet
    table = collector_hosts(fleet, data.rows)
    if table.empty:
        return (f"{fleet.path.name} lists no hosts.",), ()
    by_outcome = table["outcome"].value_counts()
    known = [o for o in SUMMARY_ORDER if o in by_outcome]
    known += sorted(o for o in by_outcome.index if o not in SUMMARY_ORDER)
    asked = f"{len(table)} host(s) asked: " + ", ".join(f"{by_outcome[o]} {o}" for o in known) + "."
    ok = table[table["outcome"] == "ok"]
    not_ok = table[table["outcome"] != "ok"]
    run = [f"collector run `{_plain_name(fleet.run_name)}`" if fleet.run_name else "collector run"]
    if fleet.started_at:
        run.append(f"started {fleet.started_at}")
    if fleet.wall_s is not None:
        run.append(f"took {_duration(fleet.wall_s)}")
    summary = [asked, ", ".join(run) + (f"; the ok hosts ran {_total(ok['trials_done'])} trials with "
                                         f"{_total(ok['restarts'])} agent restart(s) and "
                                         f"{_total(ok['reconnects'])} reconnect(s)." if len(ok) else ".")]
    blocks: list[Block] = []
    if len(not_ok):
        shown = list(zip(not_ok["host"], not_ok["outcome"]))[:NAMES_IN_NOTE]
        named = "; ".join(f"{_plain_name(h)} ({o})" for h, o in shown)
        more = f"; and {len(not_ok) - len(shown)} more" if len(not_ok) > len(shown) else ""
        no_rows = int((not_ok["rows_in_report"] == 0).sum())
        missing = (f" {no_rows} of them left no rows: every section below is without them." if no_rows else "")
        blocks.append(Note(f"{len(not_ok)} of {len(table)} hosts asked did not end ok: {named}{more}.{missing} "
                           f"Their reasons are in the table below.", "warn"))
    unlisted = sorted(set(data.rows["host"].dropna()) - set(table["host"]))
    if unlisted:
        names = ", ".join(_plain_name(str(h)) for h in unlisted[:NAMES_IN_NOTE])
        more = f" and {len(unlisted) - NAMES_IN_NOTE} more" if len(unlisted) > NAMES_IN_NOTE else ""
        blocks.append(Note(f"{len(unlisted)} host(s) with rows here are not in {fleet.path.name} (from an earlier "
                           f"run into the same folder?): {names}{more}."))
    caption = ("One row a host the collector asked (fleet.json), worst outcome first: how its run ended, the trials "
               "it finished of those planned, rows that did not end ok, agent restarts, reconnects, the rows this "
               "report holds of it and the collector's reason. Unreachable and auth-failed hosts have no host folder "
               f"and no rows. {FLAG}: not ok, or no rows.")
    if len(table) <= ALL_HOSTS_OPEN:
        blocks.append(Table("collector_hosts", "Collector outcome per host", table, caption,
                            max_rows=ALL_HOSTS_OPEN))
    else:
        if len(not_ok):
            blocks.append(Table("collector_not_ok", f"Hosts that did not end ok ({len(not_ok)} of {len(table)})",
                                not_ok.reset_index(drop=True), caption, max_rows=NOT_OK_ROWS))
        blocks.append(Table("collector_hosts", "Collector outcome per host, every host", table, caption,
                            max_rows=100, collapsed=True))
    return tuple(summary), tuple(blocks)


def _left_out_note(data: ReportData) -> tuple[Block, ...]:
    """The host folders whose results could not be read: not in any section, and why."""
    if not data.left_out:
        return ()
    shown = "; ".join(_plain_name(line) for line in data.left_out[:NAMES_IN_NOTE])
    more = f"; and {len(data.left_out) - NAMES_IN_NOTE} more" if len(data.left_out) > NAMES_IN_NOTE else ""
    return (Note(f"{len(data.left_out)} host folder(s) left out of this report, their results unreadable: "
                 f"{shown}{more}.", "warn"),)


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
    fleet_summary, fleet_blocks = _fleet_blocks(data)
    return Section("overview", "Fleet overview",
                   "Which devices ran the sweep, on what hardware, and how their trials ended.",
                   (*_left_out_note(data), *fleet_blocks, _outcome_figure(rows), table), (*fleet_summary, *summary))
