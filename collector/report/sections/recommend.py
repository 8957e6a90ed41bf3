"""Per device class: the pruning ratio to use within the budgets, and the largest batch size
before out-of-memory, for each model. From what was measured (the causal analysis's own
model-based recommendations are in the causal section)."""
from __future__ import annotations

import math

import pandas as pd

from collector.report.cells import said
from collector.report.data import ReportData
from collector.report.model import Block, Budgets, Note, Section, Table

# latencies this close to the fastest are a tie (timing noise): the tie goes to the better accuracy
LATENCY_TIE = 0.03
CANDIDATE = ["device_class", "model", "method", "target_ratio", "backend"]
COLUMNS = ["device_class", "model", "hosts", "batch_size", "method", "target_ratio", "backend", "accuracy_top1",
           "accuracy_drop", "latency_p50_ms", "unpruned_ms", "speedup", "next_faster"]


def candidates(ok: pd.DataFrame, budgets: Budgets) -> pd.DataFrame:
    """One row a (device class, model, method, ratio, backend) at the budget's batch size:
    median latency and accuracy drop over its hosts."""
    ok = ok.dropna(subset=["latency_p50_ms"])
    if budgets.batch_size is not None:
        at = ok[ok["batch_size"] == budgets.batch_size]
    else:  # the smallest batch each model was measured at on each device class
        smallest = ok.groupby(["device_class", "model"])["batch_size"].transform("min")
        at = ok[ok["batch_size"] == smallest]
    table = at.groupby(CANDIDATE).agg(
        batch_size=("batch_size", "first"), latency_p50_ms=("latency_p50_ms", "median"),
        accuracy_top1=("accuracy_top1", "median"), accuracy_drop=("accuracy_drop", "median"),
        hosts=("host", "nunique")).reset_index()
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
    return fits


def _why_not(row: pd.Series, budgets: Budgets) -> str:
    reasons = []
    if pd.isna(row["accuracy_drop"]):
        reasons.append("no accuracy")
    elif row["accuracy_drop"] > budgets.max_accuracy_drop:
        reasons.append(f"loses {row['accuracy_drop'] * 100:.1f} points")
    if budgets.max_latency_ms is not None and row["latency_p50_ms"] > budgets.max_latency_ms:
        reasons.append(f"{row['latency_p50_ms']:.3g} ms")
    latency = said(row["latency_p50_ms"], ".3g", unit=" ms")
    return (f"{row['method']} {row['target_ratio']:g} on {row['backend']} ({latency}) "
            f"{' and '.join(reasons)}")


def recommendations(ok: pd.DataFrame, budgets: Budgets) -> pd.DataFrame:
    table = candidates(ok, budgets)
    table["fits"] = _fits(table, budgets)
    picked = []
    for (device, model), part in table.groupby(["device_class", "model"]):
        part = part.sort_values(["latency_p50_ms", "target_ratio"], ascending=[True, False])
        fitting = part[part["fits"]]
        if fitting.empty:
            best = part.iloc[0]
            picked.append({"device_class": device, "model": model, "hosts": int(part["hosts"].max()),
                           "batch_size": int(best["batch_size"]), "method": None,
                           "next_faster": "nothing within the budgets; fastest: " + _why_not(best, budgets)})
            continue
        tied = fitting[fitting["latency_p50_ms"] <= fitting["latency_p50_ms"].iloc[0] * (1 + LATENCY_TIE)]
        best = tied.sort_values(["accuracy_drop", "target_ratio"]).iloc[0]
        faster = part[(part["latency_p50_ms"] < fitting["latency_p50_ms"].iloc[0]) & ~part["fits"]]
        picked.append({**{k: best[k] for k in COLUMNS if k in best.index}, "hosts": int(part["hosts"].max()),
                       "next_faster": _why_not(faster.iloc[0], budgets) if len(faster) else "none measured"})
    return pd.DataFrame(picked, columns=COLUMNS)


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


def _pick(row: pd.Series) -> str:
    return f"{row['method']} {row['target_ratio']:g} · {row['backend']}"


def picks_grid(picked: pd.DataFrame) -> pd.DataFrame:
    """One row a device class, one column a model: the pick and its speed-up, at a glance."""
    cells = picked.assign(pick=[_pick(r) + f" ({said(r['speedup'], '.2f', unit='x')})"
                                if isinstance(r["method"], str) else "none"
                                for _, r in picked.iterrows()])
    grid = cells.pivot(index="device_class", columns="model", values="pick")
    grid.columns.name = None
    return grid.reset_index()


def _summary(picked: pd.DataFrame) -> tuple[str, ...]:
    """One line a model: the picks over the device classes, the same pick said once."""
    lines = []
    classes = picked["device_class"].nunique()
    for model, part in picked.groupby("model"):
        found = part[part["method"].apply(lambda m: isinstance(m, str))]
        texts = []
        for pick, same in found.groupby(found.apply(_pick, axis=1)):
            where = f" on {len(same)} of {classes} device classes" if classes > 1 else ""
            speed = same["speedup"].median()
            texts.append(f"{pick}{where} ({said(speed, '.2f', unit='x')} the unpruned model's speed, top-1 drop "
                         f"{said(same['accuracy_drop'].median(), '.2f', 100, ' points')})")
        if len(found) < len(part):
            texts.append(f"nothing within the budgets on {len(part) - len(found)} device class(es)")
        lines.append(f"{model}: " + "; ".join(texts) + ".")
    return tuple(lines)


def build(data: ReportData, budgets: Budgets) -> Section:
    title = "Recommendations per device"
    intro = (f"The fastest measured variant of each model on each device class within the budgets "
             f"({budgets.describe()}); latencies within {LATENCY_TIE:.0%} of the fastest are a tie, won by the "
             f"better accuracy.")
    picked = recommendations(data.ok, budgets)
    blocks: list[Block] = []
    if picked.empty:
        blocks.append(Note("No ok trial with a latency: nothing to recommend.", "warn"))
    else:
        blocks.append(Table("recommended_grid", "Recommended variant per device class and model", picks_grid(picked),
                            "method, ratio and backend of the pick, and how much faster it is than the unpruned "
                            "model (details below).", max_rows=100))
        blocks.append(Table("recommended_ratio", "Recommended pruning ratio, in detail", picked,
                            "Latency is the median p50 over the device class's hosts at that batch size; accuracy "
                            "drop against the same model unpruned. next_faster: the fastest variant that beats the "
                            "pick but breaks a budget. Change the budgets with --max-accuracy-drop, "
                            "--max-latency-ms and --batch-size.", max_rows=100,
                            formats={"accuracy_top1": ".4f", "accuracy_drop": "+.4f", "speedup": ".2f"},
                            collapsed=len(picked) > 12))
    batches = largest_batches(data.rows)
    blocks.append(Table("largest_batch_grid", "Largest batch size before out-of-memory", batch_grid(batches),
                        "Per device class and model: the largest batch size at which no variant ran out of memory "
                        "on any host, and where the first OOM came.", max_rows=100))
    blocks.append(Table("largest_batch", "Largest batch size before out-of-memory, in detail", batches,
                        "largest_batch_ok: the largest batch at which some variant (a pruned one) still ran. Blank "
                        "first_oom_batch: no batch size measured ran out of memory.", max_rows=100,
                        collapsed=len(batches) > 12))
    return Section("recommendations", title, intro, tuple(blocks), _summary(picked))
