"""Result rows -> one pandas frame: typed columns, derived columns, the seed's binary columns.

Every row stays in, out-of-memory trials included (``is_oom`` is an outcome). A row that
lacks a question's outcome is left out of that question only, and counted
(:func:`question_rows`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from collector.analysis.config import Thresholds
from shared.errors import UserError
from shared.resultsdir import load_results
from shared.schema import COLUMNS, COLUMN_NAMES

DERIVED_COLUMNS: dict[str, str] = {
    "peak_mem_mb": "peak memory of the trial: peak_gpu_mem_mb on a GPU, else peak_rss_mb",
    "accuracy_drop": "top-1 accuracy of the unpruned base (same host, model, data, seed) minus this one",
    "High_Pruning": "target_ratio above thresholds.high_pruning_ratio",
    "High_Accuracy_Loss": "accuracy_drop above thresholds.high_accuracy_loss "
                          "(or top-1 below thresholds.min_accuracy)",
    "High_Memory_Consumption": "peak_mem_mb above thresholds.high_memory_share of the memory cap "
                               "or device memory (or above thresholds.high_memory_mb); 1 on OOM",
}
# A seed column asked about in a question takes its source column's place in the graph.
STANDS_IN_FOR = {"High_Pruning": "target_ratio", "High_Accuracy_Loss": "accuracy_top1",
                 "High_Memory_Consumption": "peak_mem_mb"}
# the columns each derived outcome is computed from: a graph may draw an edge from an outcome
# into one derived from it (the seed study's graph has accuracy -> High_Accuracy_Loss)
DERIVED_FROM: dict[str, tuple[str, ...]] = {
    "accuracy_drop": ("accuracy_top1",),
    "High_Accuracy_Loss": ("accuracy_top1", "accuracy_drop"),
    "High_Memory_Consumption": ("peak_mem_mb", "peak_rss_mb", "peak_gpu_mem_mb", "is_oom"),
    "peak_mem_mb": ("peak_rss_mb", "peak_gpu_mem_mb"),
}
ANALYSIS_COLUMNS: tuple[str, ...] = COLUMN_NAMES + tuple(DERIVED_COLUMNS)
# what makes two rows the same unpruned base model
_BASE_KEYS = ("host", "model", "dataset", "input_size", "seed")
# one row a variant on a host: accuracy is measured once a variant, then copied to each trial
_VARIANT_KEYS = ("host", "variant_key")


@dataclass(frozen=True)
class ResultFrame:
    """Typed rows of one results file: strings as categories, booleans as 0/1, nulls as NaN."""

    data: pd.DataFrame
    source: str
    notes: tuple[str, ...] = ()

    @property
    def n_rows(self) -> int:
        return len(self.data)


def read_rows(results_dir: str | Path) -> tuple[list[dict[str, Any]], str, tuple[str, ...]]:
    """Every row of a results folder (one device's, or a fleet's host folders), its source, and a
    note a host folder left out as unreadable; no row at all is a UserError."""
    loaded = load_results(results_dir)
    if not loaded.rows:
        raise UserError("no result rows yet: nothing to analyse", source=str(results_dir))
    return loaded.rows, str(results_dir), loaded.notes()


def _typed(rows: list[dict[str, Any]]) -> pd.DataFrame:
    raw = pd.DataFrame.from_records(rows, columns=list(COLUMN_NAMES))
    typed = {}  # built whole: column-by-column assignment fragments a frame of 100+ columns
    for column in COLUMNS:
        if column.type is str:
            typed[column.name] = raw[column.name].astype("category")
        else:  # numbers and booleans: float, so that null is NaN and 0/1 works in a regression
            typed[column.name] = pd.to_numeric(raw[column.name].astype(object), errors="coerce").astype(float)
    return pd.DataFrame(typed, index=raw.index)


def _peak_mem_mb(data: pd.DataFrame) -> pd.Series:
    on_gpu = data["device"].astype(str).str.startswith("cuda") & data["peak_gpu_mem_mb"].notna()
    return data["peak_gpu_mem_mb"].where(on_gpu, data["peak_rss_mb"])


def _accuracy_drop(data: pd.DataFrame) -> pd.Series:
    keys = [k for k in _BASE_KEYS if data[k].notna().any()]
    bases = data[data["target_ratio"] == 0].groupby(keys, observed=True)["accuracy_top1"].mean()
    base = data[keys].join(bases.rename("base"), on=keys)["base"]
    return base - data["accuracy_top1"]


def _flag(condition: pd.Series, known: pd.Series) -> pd.Series:
    """1.0 / 0.0 where ``known``, NaN elsewhere."""
    return condition.astype(float).where(known)


def _binary_columns(data: pd.DataFrame, thresholds: Thresholds) -> list[str]:
    notes = []
    data["High_Pruning"] = _flag(data["target_ratio"] > thresholds.high_pruning_ratio, data["target_ratio"].notna())
    if thresholds.min_accuracy is not None:
        accuracy = data["accuracy_top1"]
        data["High_Accuracy_Loss"] = _flag(accuracy < thresholds.min_accuracy, accuracy.notna())
    else:
        drop = data["accuracy_drop"]
        data["High_Accuracy_Loss"] = _flag(drop > thresholds.high_accuracy_loss, drop.notna())
    capacity_mb = data["mem_limit_mb"].fillna(data["device_mem_gb"] * 1024)
    peak = data["peak_mem_mb"]
    high = _flag(peak > thresholds.high_memory_share * capacity_mb, peak.notna() & capacity_mb.notna())
    if thresholds.high_memory_mb is not None:
        high = high.fillna(_flag(peak > thresholds.high_memory_mb, peak.notna()))
    elif capacity_mb.isna().any():
        notes.append(f"High_Memory_Consumption: {int(capacity_mb.isna().sum())} rows have neither "
                     "mem_limit_mb nor device_mem_gb; set thresholds.high_memory_mb to judge them")
    data["High_Memory_Consumption"] = high.mask(data["is_oom"] == 1, 1.0)  # an OOM is high memory
    return notes


def build_frame(rows: list[dict[str, Any]], thresholds: Thresholds, source: str,
                notes_in: tuple[str, ...] = ()) -> ResultFrame:
    """The typed frame with every derived column, and notes on what could not be derived
    (after ``notes_in``: what reading the rows left out)."""
    data = _typed(rows)
    data["peak_mem_mb"] = _peak_mem_mb(data)
    data["accuracy_drop"] = _accuracy_drop(data)
    notes = _binary_columns(data, thresholds)
    no_base = int((data["accuracy_drop"].isna() & data["accuracy_top1"].notna()).sum())
    if no_base:
        notes.append(f"accuracy_drop: {no_base} rows have no unpruned base (target_ratio 0) of their "
                     "model on their host")
    statuses = data["status"].value_counts()
    notes.insert(0, f"{len(data)} rows: " + ", ".join(f"{n} {s}" for s, n in statuses.items() if n))
    return ResultFrame(data, source, (*notes_in, *notes))


def distinct(values: pd.Series) -> list[Any]:
    return list(pd.unique(values.dropna()))


def unit_rows(data: pd.DataFrame, unit: str) -> pd.DataFrame:
    """One row a trial, or one a variant and host (what accuracy is a property of)."""
    if unit == "variant":
        return data.drop_duplicates(subset=list(_VARIANT_KEYS))
    return data


def missing_counts(data: pd.DataFrame, column: str) -> dict[str, int]:
    """How many rows lack ``column``, by status: ``{"latency_p50_ms missing (oom)": 30}``."""
    missing = data.loc[data[column].isna(), "status"].astype(str).value_counts()
    return {f"{column} missing ({status})": int(n) for status, n in missing.items() if n}


def question_rows(data: pd.DataFrame, columns: Iterable[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The rows that have every one of ``columns``, and how many were left out for which."""
    left_out: dict[str, int] = {}
    for column in columns:
        left_out.update(missing_counts(data, column))
        data = data[data[column].notna()]
    return data, left_out


def groups(data: pd.DataFrame, per: Iterable[str]) -> list[tuple[Mapping[str, str], pd.DataFrame]]:
    """The rows split by the ``per`` columns (one group of all rows if none)."""
    per = list(per)
    if not per:
        return [({}, data)]
    present = data.dropna(subset=per)
    return [({k: str(v) for k, v in zip(per, key)}, part)
            for key, part in present.groupby(per, observed=True, sort=True)]


def is_binary(values: pd.Series) -> bool:
    return set(np.unique(values.dropna())) <= {0.0, 1.0}
