"""How the trials were chosen: shown only for an adaptive sweep (strategy.jsonl), with what
its conclusions rest on and which of them are less certain than a full grid's."""
from __future__ import annotations

import pandas as pd

from collector.report.data import ReportData
from collector.report.model import Block, Budgets, Note, Section, Table


def chosen_by_host(strategy: pd.DataFrame) -> pd.DataFrame:
    grouped = strategy.groupby("host")
    table = pd.DataFrame({
        "trials_chosen": grouped["trial_key"].nunique(),
        "grid_trials": grouped["grid_trials"].max() if "grid_trials" in strategy else None,
        "budget": grouped["budget"].max() if "budget" in strategy else None,
        "rounds": grouped["round"].max() + 1,
        "start_trials": grouped["reason"].agg(lambda s: int(s.str.startswith("start:").sum())),
    }).reset_index()
    return table


def chosen_for(strategy: pd.DataFrame) -> pd.DataFrame:
    """The later rounds' trials by the target they were chosen for."""
    later = strategy[~strategy["reason"].str.startswith("start:")]
    target = later["reason"].str.split(": ", n=1).str[0]
    return (later.assign(target=target).groupby(["host", "target"]).size().rename("trials").reset_index()
            .sort_values(["host", "trials"], ascending=[True, False]))


def build(data: ReportData, budgets: Budgets) -> Section | None:
    """None for a full grid: the report then has no such section."""
    strategy = data.strategy
    if strategy.empty or "reason" not in strategy:
        return None
    by_host = chosen_by_host(strategy)
    blocks: list[Block] = [
        Note("These results come from an adaptive sweep: the causal model chose which trials to run (a "
             "balanced start over every model, method and device, then the trials that most narrowed the "
             "widest confidence intervals), and the rest of the grid was never measured. Less certain "
             "because of it: the tables and plots of measured settings have gaps (a setting not run is "
             "missing, not slow); a 'fastest measured' recommendation ranks only what was run; the effects "
             "rest on fewer trials (their intervals say how much) and on a straight-line model between "
             "the settings measured; what-if predictions stand in where a setting was not measured. "
             "`collector replay` on a full grid shows how close such a sweep comes.", "warn"),
        Table("strategy-hosts", "Trials chosen per host", by_host, formats={"budget": ".0%"}),
    ]
    targets = chosen_for(strategy)
    if not targets.empty:
        blocks.append(Table("strategy-targets", "Later rounds: trials chosen for each target effect", targets))
    total, grid = int(by_host["trials_chosen"].sum()), by_host["grid_trials"].sum()
    share = f" of {int(grid)} in the grid ({total / grid:.0%})" if grid else ""
    summary = (f"Adaptive sweep: {total} trials chosen{share} across {len(by_host)} host(s); "
               "settings not chosen were not measured.",)
    return Section("strategy", "How the trials were chosen", "An adaptive sweep ran part of the grid, chosen by "
                   "the causal model; why each trial was chosen is in each host's strategy.jsonl.",
                   tuple(blocks), summary)
