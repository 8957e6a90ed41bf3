"""What a recommendation's latency rests on, measured: the recommended variant's speed-up over
its unpruned model on the same device class and batch size, with its 95% interval and verdict,
from the trials' raw samples (shared/stats.speedup), not from the outcome model's predictions.

A variant's trials are paired with their unpruned model's (ratio 0) on the same host, backend,
device and thread count; where several pairs exist (hosts of one device class, backends) each
trial's processes are groups of the hierarchical bootstrap, so the interval covers the spread
between them too.
"""
from __future__ import annotations

from typing import Any, Optional

import pandas as pd

from shared.resultsdir import SampleIndex
from shared.stats import NOT_MEASURED, Speedup, speedup

UNMEASURED = Speedup(None, None, None, NOT_MEASURED, "")
_PAIR = ("host", "backend", "device", "threads", "base_model_key")


def _key(row: pd.Series) -> tuple[str, ...]:
    return tuple("" if pd.isna(row[c]) else str(row[c]) for c in _PAIR)


def _record(row: pd.Series) -> dict[str, Any]:
    """What SampleIndex finds a row's samples by."""
    return {"host": str(row["host"]), "trial_key": str(row["trial_key"])}


def _partner(base_rows: list[tuple[tuple[str, ...], pd.Series]], key: tuple[str, ...]) -> Optional[pd.Series]:
    return next((row for k, row in base_rows if k == key), None)


def measured_speedup(data: pd.DataFrame, samples: Optional[SampleIndex], device_class: str, model: str,
                     method: str, ratio: float, batch_size: int) -> Speedup:
    """The variant's measured speed-up over the unpruned model; "not measured" without samples."""
    if samples is None:
        return UNMEASURED
    ok = data[(data["status"].astype(str) == "ok") & (data["device_class"].astype(str) == device_class)
              & (data["model"].astype(str) == model) & (data["batch_size"] == batch_size)]
    variant = ok[(ok["method"].astype(str) == method) & (ok["target_ratio"] == ratio)]
    # every method's ratio 0 is the same unpruned model; the method's own trial is preferred
    bases = ok[ok["target_ratio"] == 0].sort_values("method", key=lambda m: m.astype(str) != method, kind="stable")
    base_rows = [(_key(row), row) for _, row in bases.iterrows()]
    base_groups: list[list[float]] = []
    variant_groups: list[list[float]] = []
    for _, row in variant.iterrows():
        partner = _partner(base_rows, _key(row))
        if partner is not None:
            variant_groups += samples.of(_record(row))
            base_groups += samples.of(_record(partner))
    return speedup(base_groups, variant_groups) if base_groups and variant_groups else UNMEASURED
