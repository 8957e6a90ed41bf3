"""The few findings a user came for, with their evidence: the report's headline and the last
lines a run prints. Built from what the sections already concluded (one owner for each
claim), plus the warnings that qualify every claim: a base model at chance level, and a
machine too loaded for its timings to say much."""
from __future__ import annotations

import pandas as pd

from collector.report.data import ReportData, at_chance, chance_note
from collector.report.model import Section

MAX_FINDINGS = 4
# a host whose 1-minute load reached this share of its cores was busy with something else too
LOADED_SHARE = 0.8
# where rows carry the disturbance verdict: a host disturbed in this share of its judged trials
# was busy with other work (the load alone counts the measuring worker's own threads)
DISTURBED_SHARE = 0.25


def machine_load(data: ReportData) -> pd.DataFrame:
    """One row a host: its cores, the 1-minute load (median, max) and CPU busy share sampled over its
    trials' timed regions, and how many of its ok trials were flagged noisy."""
    ok = data.ok
    columns = ["host", "cores", "load_1m_median", "load_1m_max", "cpu_busy_mean_pct", "cpu_steal_mean_pct",
               "noisy_trials", "ok_trials", "disturbed_trials", "judged_trials"]
    if "disturbed" not in ok.columns:
        ok = ok.assign(disturbed=pd.Series(pd.NA, index=ok.index, dtype="boolean"))
    if ok.empty:
        return pd.DataFrame(columns=columns)
    grouped = ok.groupby("host")
    table = pd.DataFrame({
        "load_1m_median": grouped["sys_load_1m_max"].median(), "load_1m_max": grouped["sys_load_1m_max"].max(),
        "cpu_busy_mean_pct": grouped["sys_cpu_mean_pct"].mean(), "cpu_steal_mean_pct": grouped["sys_cpu_steal_pct"].mean(),
        "noisy_trials": grouped["trusted"].agg(lambda s: int((~s).sum())), "ok_trials": grouped.size(),
        "disturbed_trials": grouped["disturbed"].agg(_count_true),
        "judged_trials": grouped["disturbed"].agg(lambda s: int(s.notna().sum()))})
    machines = data.machines
    cores = machines.drop_duplicates("host").set_index("host")["cores"] if "cores" in machines.columns \
        else pd.Series(dtype=float)
    table["cores"] = [cores.get(h) for h in table.index]
    return table.reset_index()[columns]


def _count_true(values: pd.Series) -> int:
    return int(values.astype("boolean").fillna(False).astype(bool).sum())


def load_sentence(load: pd.DataFrame) -> str:
    """The machine's load during the run in one sentence ("" when no host sampled it)."""
    sampled = load.dropna(subset=["load_1m_max"])
    if sampled.empty:
        return ""
    noisy, ok = int(load["noisy_trials"].sum()), int(load["ok_trials"].sum())
    judged = "judged_trials" in load.columns and load["judged_trials"].fillna(0).sum() > 0
    if judged:  # the disturbance verdict saw other processes on the worker's cores: the evidence
        loaded = [r for r in sampled.itertuples() if r.disturbed_trials >= DISTURBED_SHARE * max(r.judged_trials, 1)]
    else:  # older rows: the load alone, which counts the measuring threads too
        loaded = [r for r in sampled.itertuples() if pd.notna(r.cores) and r.load_1m_max >= LOADED_SHARE * r.cores]
    worst = max(sampled.itertuples(), key=lambda r: r.load_1m_max / (r.cores or 1))
    cores = f" on {worst.cores:.0f} cores" if pd.notna(worst.cores) else ""
    where = f" ({worst.host})" if len(sampled) > 1 else ""
    text = (f"Machine load during the run: 1-minute load up to {worst.load_1m_max:.1f}{cores}{where}; "
            f"{noisy} of {ok} ok trials flagged noisy")
    if loaded:
        return text + (f". {len(loaded)} host(s) were busy with other work: their timings are noisy, and noisy "
                       f"trials are left out of every recommendation.")
    return text + "."


def findings(data: ReportData, sections: tuple[Section, ...]) -> tuple[str, ...]:
    """At most MAX_FINDINGS sentences: the warning about a base model at chance level, the
    recommendations (their evidence included), the latency effect per method, the load."""
    chance = chance_note(at_chance(data.rows))
    by_id = {s.id: s for s in sections}
    picks = list(by_id["recommendations"].summary) if "recommendations" in by_id else []
    effects = [line for line in by_id["causal"].summary if line.startswith("Latency")] if "causal" in by_id else []
    noisy = int((~data.ok["trusted"]).sum()) if len(data.ok) else 0
    if effects and noisy:  # a regression over every trial: its interval carries their noise, say so
        effects = [effects[0][:-1] + f" (over every trial, the {noisy} noisy ones included: their noise widens "
                   f"the intervals)."]
    load = load_sentence(machine_load(data))
    room = MAX_FINDINGS - bool(chance) - bool(load) - min(len(effects), 1)
    if len(picks) > room:  # a fleet: the first picks, and where the others are
        keep = max(room - 1, 0)
        more = f"... and {len(picks) - keep} more" if keep else f"{len(picks)} picks, one a device class and model,"
        picks = picks[:keep] + [f"{more} under Recommendations."]
    found = [chance] if chance else []
    return tuple(found + picks + effects[:1] + ([load] if load else []))


def console_lines(headline: tuple[str, ...]) -> list[str]:
    """The last lines a run prints: the report's findings (its first headline line says what was
    run, which the console has said already)."""
    return ["findings (details in the report):", *(f"  - {line}" for line in headline[1:])] \
        if len(headline) > 1 else []
