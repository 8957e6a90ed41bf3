"""One recommendation per device class and model, with its evidence: the fastest measured
variant within the budgets whose speed-up over the unpruned model is measurable (its
interval, from ``shared.stats.speedup`` over the raw samples, lies above 1). A trial flagged
noisy (or disturbed) is no evidence, a base model at chance level gets no recommendation,
and the causal model's prediction is used only for a device class and model that nothing
was measured for. Also the largest batch size before out-of-memory."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from collector.report.cells import said, times_faster
from collector.report.data import ReportData
from collector.report.model import Block, Budgets, Note, Section, Table
from shared.resultsdir import SampleIndex
from shared.stats import FASTER, NOT_MEASURED, Speedup, speedup

# latencies this close to the fastest are a tie (timing noise): the tie goes to the better accuracy
LATENCY_TIE = 0.03
CANDIDATE = ["device_class", "model", "method", "target_ratio", "backend"]
MEASURED = "measured"
PREDICTED = "causal model (not measured)"
COLUMNS = ["device_class", "model", "hosts", "batch_size", "pick", "method", "target_ratio", "backend",
           "accuracy_top1", "accuracy_drop", "latency_p50_ms", "unpruned_ms", "speedup", "speedup_ci_low",
           "speedup_ci_high", "verdict", "evidence", "basis", "next_faster", "noisy_left_out"]
UNPRUNED = "unpruned"


def _at_batch(ok: pd.DataFrame, budgets: Budgets) -> pd.DataFrame:
    ok = ok.dropna(subset=["latency_p50_ms"])
    if budgets.batch_size is not None:
        return ok[ok["batch_size"] == budgets.batch_size]
    smallest = ok.groupby(["device_class", "model"])["batch_size"].transform("min")
    return ok[ok["batch_size"] == smallest]  # the smallest batch each model was measured at


def candidates(ok: pd.DataFrame, budgets: Budgets) -> pd.DataFrame:
    """One row a (device class, model, method, ratio, backend) at the budget's batch size:
    median latency, accuracy drop and peak memory over its hosts, from trusted trials only."""
    at = _at_batch(ok, budgets)
    at = at[at["trusted"]] if "trusted" in at.columns else at
    table = at.groupby(CANDIDATE, observed=True).agg(
        batch_size=("batch_size", "first"), latency_p50_ms=("latency_p50_ms", "median"),
        accuracy_top1=("accuracy_top1", "median"), accuracy_drop=("accuracy_drop", "median"),
        peak_mem_mb=("peak_mem_mb", "max"), hosts=("host", "nunique")).reset_index()
    table.loc[table["target_ratio"] == 0, "accuracy_drop"] = 0.0  # the unpruned model is its own reference
    unpruned = table[table["target_ratio"] == 0].groupby(["device_class", "model", "backend"])["latency_p50_ms"].min()
    table["unpruned_ms"] = [unpruned.get((d, m, b), math.nan) for d, m, b in
                            zip(table["device_class"], table["model"], table["backend"])]
    table["speedup"] = table["unpruned_ms"] / table["latency_p50_ms"]
    return table


def _fits(table: pd.DataFrame, budgets: Budgets) -> pd.Series:
    fits = table["accuracy_drop"] <= budgets.max_accuracy_drop + 1e-12
    if budgets.max_latency_ms is not None:
        fits &= table["latency_p50_ms"] <= budgets.max_latency_ms
    if budgets.max_peak_mem_mb is not None:
        fits &= table["peak_mem_mb"] <= budgets.max_peak_mem_mb
    return fits


def _why_not(row: pd.Series, budgets: Budgets) -> str:
    reasons = []
    if pd.isna(row["accuracy_drop"]):
        reasons.append("no accuracy")
    elif row["accuracy_drop"] > budgets.max_accuracy_drop:
        reasons.append(f"loses {row['accuracy_drop'] * 100:.1f} points")
    if budgets.max_latency_ms is not None and row["latency_p50_ms"] > budgets.max_latency_ms:
        reasons.append(f"{row['latency_p50_ms']:.3g} ms")
    if budgets.max_peak_mem_mb is not None and row["peak_mem_mb"] > budgets.max_peak_mem_mb:
        reasons.append(f"peaks at {row['peak_mem_mb']:.0f} MiB")
    latency = said(row["latency_p50_ms"], ".3g", unit=" ms")
    return (f"{row['method']} {row['target_ratio']:g} on {row['backend']} ({latency}) "
            f"{' and '.join(reasons)}")


@dataclass(frozen=True)
class _Evidence:
    """Finds each candidate's raw samples and judges its speed-up over the unpruned model."""

    at: pd.DataFrame                 # trusted ok trials at the budget's batch size
    samples: SampleIndex | None

    def _groups(self, trials: pd.DataFrame) -> list[list[float]]:
        """Every process of every trial (each host's trial is one more process)."""
        if self.samples is None:
            return []
        return [g for _, row in trials.iterrows() for g in self.samples.of(row.to_dict())]

    def of(self, row: pd.Series) -> Speedup:
        same = self.at[(self.at["device_class"] == row["device_class"]) & (self.at["model"] == row["model"])
                       & (self.at["backend"] == row["backend"])]
        base = self._groups(same[same["target_ratio"] == 0])
        variant = self._groups(same[(same["method"] == row["method"]) & (same["target_ratio"] == row["target_ratio"])])
        return speedup(base, variant)


def _evidence_text(judged: Speedup, point: float) -> str:
    if judged.estimate is not None:
        return judged.describe()
    return f"{point:.2f}x faster (point estimate; no raw samples)"


def _pick_row(best: pd.Series, judged: Speedup | None, hosts: int, next_faster: str) -> dict:
    found = {k: best[k] for k in COLUMNS if k in best.index}
    found.update(hosts=hosts, basis=MEASURED, next_faster=next_faster)
    if judged is None:  # the unpruned model stays
        return {**found, "pick": UNPRUNED, "verdict": "", "evidence": ""}
    if judged.estimate is not None:
        found.update(speedup=judged.estimate, speedup_ci_low=judged.ci_low, speedup_ci_high=judged.ci_high)
    return {**found, "pick": _pick_text(best), "verdict": judged.verdict,
            "evidence": _evidence_text(judged, best["speedup"])}


def _no_pick(device: str, model: str, part: pd.DataFrame, why: str) -> dict:
    return {"device_class": device, "model": model, "hosts": int(part["hosts"].max()) if len(part) else 0,
            "batch_size": int(part["batch_size"].iloc[0]) if len(part) else None, "pick": None, "method": None,
            "basis": MEASURED, "next_faster": why}


def _supported(judged: Speedup, candidate: pd.Series) -> bool:
    """Measurably faster; or, where there are no raw samples at all, faster by more than a tie."""
    if judged.estimate is None:
        return bool(candidate["speedup"] > 1 / (1 - LATENCY_TIE))
    return judged.verdict == FASTER


def _choose(part: pd.DataFrame, evidence: _Evidence) -> tuple[pd.Series, Speedup | None, str]:
    """The fastest fitting pruned variant measurably faster than the unpruned one (a tie within
    LATENCY_TIE goes to the better accuracy); else the unpruned model, and why."""
    part = part.sort_values(["latency_p50_ms", "target_ratio"], ascending=[True, False])
    fitting = [c for _, c in part[part["fits"] & (part["target_ratio"] > 0)].iterrows()]
    judged: dict[object, Speedup] = {}

    def supported(candidate: pd.Series) -> bool:
        if candidate.name not in judged:
            judged[candidate.name] = evidence.of(candidate)
        return _supported(judged[candidate.name], candidate)

    first = next((c for c in fitting if supported(c)), None)
    unpruned = part[part["target_ratio"] == 0]
    keep = unpruned.iloc[0] if len(unpruned) else part.iloc[0]
    if first is None:
        if not fitting:
            return keep, None, "no pruned variant within the budgets"
        fastest = fitting[0]
        judged_fastest = judged[fastest.name]
        evidence = judged_fastest.describe() if judged_fastest.estimate is not None else \
            f"{times_faster(fastest['speedup'])} by point estimate (no raw samples to tell it from noise)"
        return keep, None, (f"no pruned variant within the budgets is measurably faster; the fastest: "
                            f"{_pick_text(fastest)}, {evidence}")
    tied = [c for c in fitting if c["latency_p50_ms"] <= first["latency_p50_ms"] * (1 + LATENCY_TIE) and supported(c)]
    best = min(tied, key=lambda c: (c["accuracy_drop"], c["target_ratio"]))
    return best, judged[best.name], ""


def recommendations(ok: pd.DataFrame, budgets: Budgets, samples: SampleIndex | None = None,
                    at_chance: set[tuple[str, str]] | frozenset = frozenset()) -> pd.DataFrame:
    """One row a (device class, model): its pick, the evidence, and the next faster that breaks
    a budget. ``at_chance``: (device class, model) pairs whose base never learned: no pick."""
    table = candidates(ok, budgets)
    table["fits"] = _fits(table, budgets)
    at = _at_batch(ok, budgets)
    evidence = _Evidence(at[at["trusted"]] if "trusted" in at.columns else at, samples)
    noisy = at.groupby(["device_class", "model"], observed=True)["trusted"].agg(lambda s: int((~s).sum())) \
        if "trusted" in at.columns else pd.Series(dtype=int)
    picked = []
    for (device, model), part in table.groupby(["device_class", "model"]):
        left_out = int(noisy.get((device, model), 0))
        if (device, model) in at_chance:
            picked.append({**_no_pick(device, model, part, "base model at chance level: train it first"),
                           "noisy_left_out": left_out})
            continue
        if not part["fits"].any():
            best = part.sort_values("latency_p50_ms").iloc[0]
            picked.append({**_no_pick(device, model, part, "nothing within the budgets; fastest: "
                                      + _why_not(best, budgets)), "noisy_left_out": left_out})
            continue
        if not (part["target_ratio"] == 0).any():
            picked.append({**_no_pick(device, model, part, "no trusted measurement of the unpruned model at this "
                                      "batch size (flagged noisy, or failed): nothing to compare with"),
                           "noisy_left_out": left_out})
            continue
        best, judged, why = _choose(part, evidence)
        faster = part[(part["latency_p50_ms"] < best["latency_p50_ms"]) & ~part["fits"]]
        next_faster = why or (_why_not(faster.iloc[0], budgets) if len(faster) else "none measured")
        picked.append({**_pick_row(best, judged, int(part["hosts"].max()), next_faster), "noisy_left_out": left_out})
    return pd.DataFrame(picked, columns=COLUMNS)


def predicted_where_unmeasured(data: ReportData, picked: pd.DataFrame) -> pd.DataFrame:
    """The causal model's recommendations for the device classes and models nothing measured."""
    if data.analysis is None or not data.analysis.recommendations:
        return pd.DataFrame(columns=COLUMNS)
    measured = set(zip(picked["device_class"], picked["model"]))
    rows = [{"device_class": r.device_class, "model": r.model, "hosts": 0, "batch_size": r.batch_size,
             "pick": f"{r.method} {r.ratio:g}", "method": r.method, "target_ratio": r.ratio,
             "accuracy_drop": r.accuracy_drop, "latency_p50_ms": r.latency_ms, "verdict": "predicted",
             "evidence": f"predicted by the causal model; limited by {r.limited_by}", "basis": PREDICTED}
            for r in data.analysis.recommendations if (r.device_class, r.model) not in measured]
    return pd.DataFrame(rows, columns=COLUMNS)


def largest_batches(rows: pd.DataFrame) -> pd.DataFrame:
    """Per device class and model: the largest batch size that ran without an OOM (at it and every
    smaller one, in every variant on every host), the first that ran out of memory, and the
    largest at which some variant still ran ok (pruning can make room)."""
    found = []
    for (device, model), part in rows.groupby(["device_class", "model"]):
        measured = sorted(int(b) for b in part["batch_size"].unique())
        oom = sorted(int(b) for b in part.loc[part["is_oom"].astype(bool), "batch_size"].unique())
        ok = part.loc[part["status"] == "ok", "batch_size"]
        first_oom = oom[0] if oom else None
        before = [b for b in measured if first_oom is None or b < first_oom]
        found.append({"device_class": device, "model": model,
                      "largest_batch_before_oom": before[-1] if before else None, "first_oom_batch": first_oom,
                      "largest_batch_ok": int(ok.max()) if len(ok) else None,
                      "batches_measured": " ".join(map(str, measured))})
    columns = ["device_class", "model", "largest_batch_before_oom", "first_oom_batch", "largest_batch_ok",
               "batches_measured"]
    return pd.DataFrame(found, columns=columns).astype({c: "Int64" for c in columns[2:5]})


def batch_grid(batches: pd.DataFrame) -> pd.DataFrame:
    def text(row: pd.Series) -> str:
        before = "none" if pd.isna(row["largest_batch_before_oom"]) else str(row["largest_batch_before_oom"])
        return f"{before}, no OOM" if pd.isna(row["first_oom_batch"]) else f"{before} (OOM at {row['first_oom_batch']})"
    grid = batches.assign(cell=batches.apply(text, axis=1)).pivot(index="device_class", columns="model",
                                                                  values="cell")
    grid.columns.name = None
    return grid.reset_index()


def _pick_text(row: pd.Series) -> str:
    return f"{row['method']} {row['target_ratio']:g} · {row['backend']}"


def _cell(row: pd.Series) -> str:
    if not isinstance(row["pick"], str):
        return "none"
    if row["pick"] == UNPRUNED:
        return "unpruned (nothing measurably faster)"
    if row["basis"] == PREDICTED:
        return f"{row['pick']} (predicted)"
    return f"{row['pick']} ({row['evidence']})"


def picks_grid(picked: pd.DataFrame) -> pd.DataFrame:
    """One row a device class, one column a model: the pick and its evidence, at a glance."""
    grid = picked.assign(cell=[_cell(r) for _, r in picked.iterrows()]).pivot(
        index="device_class", columns="model", values="cell")
    grid.columns.name = None
    return grid.reset_index()


def finding(row: pd.Series, several_classes: bool) -> str:
    """One recommendation as a sentence, with its evidence."""
    where = f"{row['model']} on {row['device_class']}" if several_classes else str(row["model"])
    if not isinstance(row["pick"], str):
        return f"{where}: no recommendation ({row['next_faster']})."
    if row["pick"] == UNPRUNED:
        return f"{where}: keep the unpruned model ({row['next_faster']})."
    if row["basis"] == PREDICTED:
        return f"{where}: {row['pick']}, predicted by the causal model (nothing was measured there)."
    drop = row["accuracy_drop"]
    accuracy = (f"top-1 up {said(-drop, '.2f', 100, ' points')}" if pd.notna(drop) and drop < 0
                else f"top-1 drop {said(drop, '.2f', 100, ' points')}")
    return f"{where}: {row['pick']}, {row['evidence']} than the unpruned model, {accuracy}."


def build(data: ReportData, budgets: Budgets) -> Section:
    title = "Recommendations per device"
    intro = (f"One pick per device class and model: the fastest measured variant within the budgets "
             f"({budgets.describe()}) whose speed-up over the unpruned model is measurable: its 95% interval, "
             f"bootstrapped from the raw latency samples, lies above 1. Latencies within {LATENCY_TIE:.0%} of the "
             f"fastest are a tie, won by the better accuracy. Trials flagged noisy are no evidence. The causal "
             f"model is used only where a device class and model was not measured.")
    chance = {(d, m) for d, m in data.rows.loc[data.rows["base_at_chance"], ["device_class", "model"]]
              .itertuples(index=False)}
    picked = recommendations(data.ok, budgets, data.samples, chance)
    parts = [p for p in (picked, predicted_where_unmeasured(data, picked)) if len(p)]
    picked = pd.concat(parts, ignore_index=True) if parts else picked
    blocks: list[Block] = []
    untrusted = int((~data.ok["trusted"]).sum())
    summary: tuple[str, ...] = ()
    if picked.empty and untrusted:
        summary = (f"Nothing measurable remains: the trials that could say which variant is faster were flagged "
                   f"noisy ({untrusted} of {len(data.ok)} ok trials), so nothing is recommended. Rerun on a "
                   f"quieter machine (see Measurement quality).",)
        blocks.append(Note(summary[0], "warn"))
    elif picked.empty:
        blocks.append(Note("No ok trial with a latency: nothing to recommend.", "warn"))
    else:
        if not data.samples or not data.samples.by_folder or not any(data.samples.by_folder.values()):
            blocks.append(Note("These results hold no raw latency samples (samples.jsonl): a speed-up has no "
                               "interval, and a pick rests on point estimates.", "warn"))
        blocks.append(Table("recommended_grid", "Recommended variant per device class and model", picks_grid(picked),
                            "method, ratio and backend of the pick, and its speed-up over the unpruned model with "
                            "the 95% interval (details below).", max_rows=100))
        blocks.append(Table("recommended_ratio", "Recommended pruning ratio, in detail", picked,
                            "Latency is the median p50 over the device class's hosts at that batch size; accuracy "
                            "drop against the same model unpruned. next_faster: the fastest variant that beats the "
                            "pick but breaks a budget, or why the unpruned model stays. noisy_left_out: trials not "
                            "used as evidence. Change the budgets with --max-accuracy-drop, --max-latency-ms, "
                            "--max-memory-mb and --batch-size.", max_rows=100,
                            formats={"accuracy_top1": ".4f", "accuracy_drop": "+.4f", "speedup": ".2f",
                                     "speedup_ci_low": ".2f", "speedup_ci_high": ".2f"},
                            shown=("device_class", "model", "batch_size", "pick", "accuracy_drop", "latency_p50_ms",
                                   "evidence", "basis", "next_faster", "noisy_left_out"),
                            collapsed=len(picked) > 12))
    batches = largest_batches(data.rows)
    blocks.append(Table("largest_batch_grid", "Largest batch size before out-of-memory", batch_grid(batches),
                        "Per device class and model: the largest batch size at which no variant ran out of memory "
                        "on any host, and where the first OOM came.", max_rows=100))
    blocks.append(Table("largest_batch", "Largest batch size before out-of-memory, in detail", batches,
                        "largest_batch_ok: the largest batch at which some variant (a pruned one) still ran. Blank "
                        "first_oom_batch: no batch size measured ran out of memory.", max_rows=100,
                        collapsed=len(batches) > 12))
    several = picked["device_class"].nunique() > 1 if len(picked) else False
    return Section("recommendations", title, intro, tuple(blocks),
                   summary + tuple(finding(r, several) for _, r in picked.iterrows()))
