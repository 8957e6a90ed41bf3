"""What a recommendation's latency rests on, measured: the recommended variant's speed-up over
its unpruned model on the same device class and batch size, with its 95% interval and verdict,
from the trials' raw samples (shared/stats.speedup), not from the outcome model's predictions.

A variant's trials are compared with their unpruned model's (any method's ratio 0) on the same
device class, backend, device and thread count; where there are several trials a side (hosts
of the device class, settings, processes), each trial's processes are groups of the
hierarchical bootstrap, so the interval covers the spread between them too.
"""
from __future__ import annotations

from typing import Any, Optional

import pandas as pd

from shared.resultsdir import SampleIndex
from shared.stats import NOT_MEASURED, Speedup, speedup

UNMEASURED = Speedup(None, None, None, NOT_MEASURED, "")
# what the unpruned model's trials must share with the variant's to be compared with them (on the
# same device class: its hosts are the same hardware)
_SETTING = ("backend", "device", "threads", "base_model_key")


def _setting(row: pd.Series) -> tuple[str, ...]:
    return tuple("" if pd.isna(row[c]) else str(row[c]) for c in _SETTING)


def _within(rows: pd.DataFrame, settings: set[tuple[str, ...]]) -> pd.DataFrame:
    keep = pd.Series([_setting(r) in settings for _, r in rows.iterrows()], index=rows.index, dtype=bool)
    return rows[keep]


def _groups(rows: pd.DataFrame, samples: SampleIndex) -> list[list[float]]:
    """Every process's samples of every row: the groups of the hierarchical bootstrap."""
    return [group for _, row in rows.iterrows()
            for group in samples.of({"host": str(row["host"]), "trial_key": str(row["trial_key"])})]


def measured_speedup(data: pd.DataFrame, samples: Optional[SampleIndex], device_class: str, model: str,
                     method: str, ratio: float, batch_size: int) -> Speedup:
    """The variant's measured speed-up over the unpruned model; "not measured" without samples
    of both in one setting."""
    if samples is None:
        return UNMEASURED
    ok = data[(data["status"].astype(str) == "ok") & (data["device_class"].astype(str) == device_class)
              & (data["model"].astype(str) == model) & (data["batch_size"] == batch_size)]
    variant = ok[(ok["method"].astype(str) == method) & (ok["target_ratio"] == ratio)]
    bases = ok[ok["target_ratio"] == 0]  # every method's ratio 0 is the same unpruned model
    shared = {_setting(r) for _, r in variant.iterrows()} & {_setting(r) for _, r in bases.iterrows()}
    base_groups, variant_groups = _groups(_within(bases, shared), samples), _groups(_within(variant, shared), samples)
    return speedup(base_groups, variant_groups) if base_groups and variant_groups else UNMEASURED
