"""What a report is made from: the rows, each host's fingerprint, per-layer sparsity, the
analysis and, in a fleet folder, the collector's own account of each host it asked
(``fleet.json``), read once from a results folder (one device's or a fleet's) through
shared.resultsdir; and the columns every section derives the same way.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from shared.layertime import LayerTimes, read_records
from shared.resultsdir import ResultsFolder, SampleIndex, device_folders, load_results, load_samples
from shared.schema import COLUMN_NAMES, COLUMNS

if TYPE_CHECKING:
    from collector.analysis.values import Analysis

FLEET_HOST_COLUMNS = ("host", "outcome", "reason", "trials_done", "trials_total", "not_ok", "restarts", "reconnects")
# the unpruned model of a host: what accuracy drop and speed-up are measured against
BASE_KEYS = ("host", "model", "dataset", "input_size", "seed")
# an unpruned model below this many times chance (1 / classes) never learned: 0.15 on 10 classes.
# Accuracy drops of its variants measure noise around chance, not what pruning cost.
CHANCE_MARGIN = 1.5
# row columns that, when true, say a trial's timing is not evidence (the agent's own noise flag;
# `disturbed` where the agent records it): such a trial never makes a headline or a recommendation
PRECISE_MEDIAN = 0.05  # a median whose 95% interval is within +-5% of it is evidence despite a high CV


@dataclass(frozen=True)
class FleetRun:
    """``collector run``'s fleet.json: the hosts it asked, those without a host folder or a row
    (unreachable, auth-failed) included, one row a host with FLEET_HOST_COLUMNS."""

    path: Path
    run_name: str | None
    sweep: str | None
    inventory: str | None
    started_at: str | None
    wall_s: float | None
    hosts: pd.DataFrame


@dataclass(frozen=True)
class ReportData:
    source: Path
    rows: pd.DataFrame              # one row a trial, schema columns plus the derived ones below
    machines: pd.DataFrame          # one row a host: its machine.json, flattened
    layers: pd.DataFrame            # one row a layer of a variant (layers.jsonl), each variant once
    analysis: Analysis | None
    analysis_path: Path
    analysis_problem: str           # why there is no analysis ("" when there is one)
    fleet: FleetRun | None = None   # fleet.json: None for one device's folder or a fleet folder without one
    fleet_problem: str = ""         # why a fleet.json that is there could not be read ("" otherwise)
    left_out: tuple[str, ...] = ()  # a line a host folder whose results could not be read, and why
    samples: SampleIndex | None = None  # raw latency samples (samples.jsonl); None: none were read
    # an adaptive sweep's choices (strategy.jsonl), one row a trial chosen; empty for a full grid
    strategy: pd.DataFrame = field(default_factory=pd.DataFrame)
    layer_times: tuple[tuple[str, LayerTimes], ...] = ()  # (host, record) of layer_time.jsonl

    @property
    def ok(self) -> pd.DataFrame:
        return self.rows[self.rows["status"] == "ok"]

    @property
    def variants(self) -> pd.DataFrame:
        """One row a (host, variant): what was built and its accuracy (the same in every trial)."""
        return self.rows.drop_duplicates(["host", "variant_key"])


def _number(value: Any) -> float | None:
    """A number from a fingerprint file, None when it is missing or is not one (a damaged file)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
    return float(value) if ok else None


def _machine_row(folder_name: str, machine: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    gpus = machine.get("gpus") if isinstance(machine.get("gpus"), list) else []
    text = {key: _text_or_none(machine.get(key)) for key in ("host", "device_class", "cpu_model", "arch", "os")}
    return {
        "host": text["host"] or folder_name,
        "device_class": text["device_class"],
        "cpu_model": text["cpu_model"],
        "arch": text["arch"],
        "cores": _number(machine.get("cores_logical")) or _number(machine.get("cores_physical")),
        "mem_total_gb": _number(machine.get("mem_total_gb")),
        "gpu": ", ".join(str(g.get("name")) for g in gpus if isinstance(g, dict)) or "none",
        "device_mem_gb": _number(machine.get("device_mem_gb")),
        "os": text["os"],
        "sweep": _text_or_none(run.get("sweep")),
    }


def _layers(records: list[dict[str, Any]]) -> pd.DataFrame:
    # a damaged record (layers not a list of objects) adds nothing: the rows do not depend on it
    flat = [{"model": r.get("model"), "method": r.get("method"), "target_ratio": r.get("target_ratio"),
             "variant_key": r.get("variant_key"), **layer}
            for r in records if isinstance(r.get("layers"), list)
            for layer in r["layers"] if isinstance(layer, dict)]
    columns = ["model", "method", "target_ratio", "variant_key", "layer", "kind", "params", "nonzero", "sparsity"]
    frame = pd.DataFrame(flat, columns=columns) if flat else pd.DataFrame(columns=columns)
    # the same variant is measured on every host: its layers once
    return frame.drop_duplicates(["variant_key", "layer"])


def derive(rows: pd.DataFrame, machines: pd.DataFrame) -> pd.DataFrame:
    """Columns several sections use: peak memory of the device the trial ran on, its capacity
    and the utilisation, and the accuracy drop against the host's unpruned model."""
    on_gpu = rows["device"].astype(str).str.startswith("cuda") & rows["peak_gpu_mem_mb"].notna()
    rows["peak_mem_mb"] = np.where(on_gpu, rows["peak_gpu_mem_mb"], rows["peak_rss_mb"]).astype(float)
    # rows from before device_mem_gb: the host's fingerprint knows it
    machine_mem = rows["host"].map(machines.set_index("host")["device_mem_gb"]) if len(machines) else np.nan
    device_mem_gb = rows["device_mem_gb"].astype(float).fillna(pd.Series(machine_mem, index=rows.index, dtype=float))
    capacity = rows["mem_limit_mb"].astype(float).fillna(device_mem_gb * 1024)
    rows["mem_capacity_mb"] = capacity
    rows["mem_util_pct"] = 100 * rows["peak_mem_mb"] / capacity
    # a transform, not a join: a key column that is null in every row (seed) is object-typed, and a
    # join on it against the float index of a groupby fails
    unpruned = rows["accuracy_top1"].where(rows["target_ratio"] == 0)
    rows["accuracy_unpruned"] = unpruned.groupby([rows[k] for k in BASE_KEYS], dropna=False).transform("mean")
    rows["accuracy_drop"] = rows["accuracy_unpruned"] - rows["accuracy_top1"]
    rows["chance_top1"] = 1.0 / rows["num_classes"].astype(float).where(rows["num_classes"] >= 2)
    rows["base_at_chance"] = (rows["accuracy_unpruned"] < CHANCE_MARGIN * rows["chance_top1"]).fillna(False)
    rows["trusted"] = trusted(rows)
    return rows


def _flag(rows: pd.DataFrame, name: str) -> pd.Series:
    if name not in rows.columns:
        return pd.Series(False, index=rows.index)
    return rows[name].astype("boolean").fillna(False).astype(bool)


def precise_median(rows: pd.DataFrame) -> pd.Series:
    """True where the p50's 95% interval (latency_p50_ci_*) is within PRECISE_MEDIAN of it."""
    if not {"latency_p50_ci_low_ms", "latency_p50_ci_high_ms"} <= set(rows.columns):
        return pd.Series(False, index=rows.index)
    half = (rows["latency_p50_ci_high_ms"].astype(float) - rows["latency_p50_ci_low_ms"].astype(float)) / 2
    return (half <= PRECISE_MEDIAN * rows["latency_p50_ms"].astype(float)).fillna(False)


def trusted(rows: pd.DataFrame) -> pd.Series:
    """True where neither ``disturbed`` nor ``noisy`` says the trial's timing cannot be trusted. A trial
    flagged noisy by the spread of its single samples (CV) still counts where its median is
    precise: at sub-millisecond latencies a CV of 0.2 is scheduler jitter around a median that
    a few hundred samples pin down to a percent."""
    noisy = _flag(rows, "noisy") & ~precise_median(rows)
    return ~(noisy | _flag(rows, "disturbed"))


def at_chance(rows: pd.DataFrame) -> pd.DataFrame:
    """One row a (host, model) whose unpruned model is at or near chance level: the warning
    every accuracy statement about it carries."""
    flagged = rows[rows["base_at_chance"]]
    columns = ["host", "model", "dataset", "num_classes", "accuracy_unpruned", "chance_top1"]
    return flagged.drop_duplicates(["host", "model"])[columns].reset_index(drop=True)


def chance_note(flagged: pd.DataFrame) -> str:
    """The one sentence that says which base models never learned ("" when none)."""
    if flagged.empty:
        return ""
    parts = sorted({f"{r.model} on {r.host} (top-1 {r.accuracy_unpruned:.3f}; chance {r.chance_top1:.3f} with "
                    f"{int(r.num_classes)} classes)" for r in flagged.itertuples()})
    return (f"Base model at chance level, it never learned: {'; '.join(parts)}. Its accuracy drops and any "
            f"pruning recommendation for it mean nothing: train it first.")


def rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=list(COLUMN_NAMES))
    # a number column null in every row comes as object, which no groupby key, join or arithmetic
    # on another frame's float column accepts: NaN floats, as when only some rows lack it
    floats = {c.name: float for c in COLUMNS
              if c.type in (int, float) and (c.type is float or frame[c.name].isna().all())}
    return frame.astype(floats).copy()  # copy: one block a dtype again, not one a column


def _analysis(path: Path) -> tuple[Analysis | None, str]:
    if not path.is_file():
        return None, f"no {path.name} in {path.parent}"
    from collector.analysis.output import load_analysis  # the value objects only: no DoWhy
    from shared.errors import UserError
    try:
        return load_analysis(path), ""
    except (UserError, KeyError, TypeError, ValueError) as exc:
        return None, f"{path} could not be read: {exc}"


def _count(value: Any) -> int | None:
    """A non-negative count from JSON, None when it is missing or not a count (never a crash)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return None
    return int(value)


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _fleet(path: Path) -> tuple[FleetRun | None, str]:
    """fleet.json if there is one (None, "" when not); a file that cannot be read is a note, not an
    exception: the report of the rows does not need it."""
    if not path.is_file():
        return None, ""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"{path} could not be read: {exc}"
    hosts = content.get("hosts") if isinstance(content, dict) else None
    if not isinstance(hosts, list):
        return None, f"{path} could not be read: no list of hosts in it"
    records = []
    for entry in hosts:
        if not isinstance(entry, dict) or entry.get("name") is None:
            return None, f"{path} could not be read: a host without a name ({str(entry)[:80]})"
        records.append({
            "host": str(entry["name"]),
            # as the collector's own table: a host that never got an outcome stopped part way
            "outcome": str(entry.get("outcome") or "partial"),
            "reason": str(entry.get("reason") or ""),
            "trials_done": _count(entry.get("trials_done")), "trials_total": _count(entry.get("trials_total")),
            "not_ok": _count(entry.get("not_ok")), "restarts": _count(entry.get("restarts")),
            "reconnects": _count(entry.get("reconnects")),
        })
    frame = pd.DataFrame(records, columns=list(FLEET_HOST_COLUMNS))
    for column in FLEET_HOST_COLUMNS[3:]:
        frame[column] = frame[column].astype("Int64")  # a count, or missing
    wall_s = content.get("wall_s")
    wall = float(wall_s) if isinstance(wall_s, (int, float)) and not isinstance(wall_s, bool) else None
    return FleetRun(path, _text_or_none(content.get("run_name")), _text_or_none(content.get("sweep")),
                    _text_or_none(content.get("inventory")), _text_or_none(content.get("started_at")), wall,
                    frame), ""


def load_report_data(results_dir: str | Path, analysis_path: str | Path | None = None) -> ReportData:
    """Everything under ``results_dir``; a UserError when it holds no results."""
    source = Path(results_dir)
    folders = device_folders(source)
    machines = pd.DataFrame([_machine_row(f.root.name, f.read_machine(), f.read_run()) for f in folders])
    layers = _layers([record for f in folders for record in f.records(ResultsFolder.LAYERS)])
    # a fleet's host is its folder's (as its rows'), one device's its fingerprint's
    layer_times = tuple((f.host or host, record) for f, host in zip(folders, machines["host"])
                        for record in read_records(f.records(ResultsFolder.LAYER_TIME)))
    loaded = load_results(source)
    rows = derive(rows_frame(loaded.rows), machines)
    top = ResultsFolder(source)
    path = Path(analysis_path) if analysis_path else top.path(ResultsFolder.ANALYSIS)
    analysis, problem = _analysis(path)
    fleet, fleet_problem = _fleet(top.path(ResultsFolder.FLEET))  # written by `collector run`
    strategy = pd.DataFrame([{**record, "host": f.host or record.get("host")}
                             for f in folders for record in f.records(ResultsFolder.STRATEGY)])
    return ReportData(source, rows, machines, layers, analysis, path, problem, fleet, fleet_problem,
                      loaded.notes(), load_samples(source), strategy, layer_times)


def probe_errors(rows: pd.DataFrame) -> pd.DataFrame:
    """One row a (host, probe, reason) that left columns null, with how many trials it hit.

    The same JSON text repeats in every trial of a host: each distinct one is parsed once."""
    counts = rows.groupby(["host", "probe_errors"]).size()
    found = []
    for (host, text), trials in counts.items():
        try:
            errors = json.loads(text)
        except ValueError:
            errors = {"?": str(text)}
        found.extend({"host": host, "probe": probe, "reason": str(reason), "trials": int(trials)}
                     for probe, reason in errors.items())
    return pd.DataFrame(found, columns=["host", "probe", "reason", "trials"])
