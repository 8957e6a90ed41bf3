"""What-if predictions and per-device recommendations from the outcome models (gcm.py).

A setting (model, method, ratio, batch size, backend, device class; any left out vary as in
the data) is applied to rows drawn from the trials on that device class, so that what the
setting does not fix (the device's memory, say) stays consistent with it; gcm then draws
every downstream node from its mechanism, trial noise included.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from dowhy import gcm

from collector.analysis.config import Budgets, GcmSettings
from collector.analysis.frame import distinct
from collector.analysis.gcm import (OutcomeModel, as_numbers, fit_outcome_model, from_model_scale, gcm_frame,
                                   quiet_gcm)
from collector.analysis.graph import CausalGraph
from collector.analysis.measured import UNMEASURED, measured_speedup
from collector.analysis.values import Recommendation, WhatIf
from shared.errors import UserError
from shared.resultsdir import SampleIndex
from shared.stats import FASTER, Speedup

# what a user may write in a setting, and the column it sets
SETTING_KEYS = {"model": "model", "method": "method", "ratio": "target_ratio", "target_ratio": "target_ratio",
                "batch_size": "batch_size", "batch": "batch_size", "backend": "backend",
                "device_class": "device_class", "device": "device_class"}
_NUMERIC = ("target_ratio", "batch_size")


def parse_setting(text: str) -> dict[str, Any]:
    """``model=resnet18,ratio=0.5,batch_size=32,device_class=X`` -> {column: value}."""
    setting: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        column = SETTING_KEYS.get(key.strip())
        if not sep or column is None:
            raise UserError(f"what-if {text!r}: {part!r} is not KEY=VALUE with a known key",
                            valid=sorted(SETTING_KEYS))
        try:
            setting[column] = float(value) if column in _NUMERIC else value.strip()
        except ValueError:
            raise UserError(f"what-if {text!r}: {key} wants a number, got {value!r}") from None
    if "device_class" not in setting:
        raise UserError(f"what-if {text!r}: say which device_class")
    return setting


def check_setting(data: pd.DataFrame, setting: Mapping[str, Any]) -> None:
    """Every named model, method, backend and device class must occur in the trials."""
    for column, value in setting.items():
        known = set(data[column].dropna().astype(str))
        if column not in _NUMERIC and value not in known:
            raise UserError(f"what-if: no trial has {column} {value!r}", valid=sorted(known))


def _base_rows(data: pd.DataFrame, setting: Mapping[str, Any], n: int, seed: int) -> pd.DataFrame:
    pool = data[data["device_class"].astype(str) == str(setting["device_class"])]
    return pool.sample(n, replace=True, random_state=seed)


def _draw(model: OutcomeModel, rows: pd.DataFrame) -> np.ndarray:
    """The target drawn under the settings already written into ``rows``, in its own unit."""
    frame = gcm_frame(rows, list(model.scm.graph.nodes))
    # the settings are in the (root) columns: intervening with the identity keeps them and
    # redraws everything downstream
    keep = {root: (lambda value: value) for root in model.roots}
    with quiet_gcm():
        samples = gcm.interventional_samples(model.scm, keep, observed_data=frame)
    return from_model_scale(model.target, as_numbers(samples[model.target]))


def _apply(rows: pd.DataFrame, setting: Mapping[str, Any]) -> pd.DataFrame:
    rows = rows.copy()
    for column, value in setting.items():
        if isinstance(rows[column].dtype, pd.CategoricalDtype) and value not in rows[column].cat.categories:
            rows[column] = rows[column].cat.add_categories([value])
        rows[column] = value
    return rows


def what_if(models: Mapping[str, OutcomeModel], data: pd.DataFrame, graph: CausalGraph, setting: Mapping[str, Any],
            settings: GcmSettings, max_missing: float, seed: int) -> WhatIf:
    """Predicted latency and P(OOM) of one setting; intervals from refits on resampled rows."""
    rows = _apply(_base_rows(data, setting, settings.samples, seed), setting)
    latency, p_oom = [], []
    for i in range(max(settings.whatif_resamples, 1)):
        # the first draw uses the models as fitted; each later one refits on resampled trials
        fitted = models if i == 0 else _refit(data, graph, settings, max_missing, seed + i)
        if "latency_p50_ms" in fitted:
            latency.append(_draw(fitted["latency_p50_ms"], rows))
        if "is_oom" in fitted:
            p_oom.append(float(np.mean(_draw(fitted["is_oom"], rows))))
    pooled = np.concatenate(latency) if latency else None
    return WhatIf(
        dict(setting),
        latency_ms=None if pooled is None else float(np.median(pooled)),
        latency_low_ms=None if pooled is None else float(np.percentile(pooled, 5)),
        latency_high_ms=None if pooled is None else float(np.percentile(pooled, 95)),
        p_oom=float(np.mean(p_oom)) if p_oom else None,
        p_oom_low=float(np.percentile(p_oom, 5)) if p_oom else None,
        p_oom_high=float(np.percentile(p_oom, 95)) if p_oom else None,
        n_samples=len(rows) * max(settings.whatif_resamples, 1))


def _refit(data: pd.DataFrame, graph: CausalGraph, settings: GcmSettings, max_missing: float,
           seed: int) -> dict[str, OutcomeModel]:
    resampled = data.sample(len(data), replace=True, random_state=seed)
    fitted = {}
    for target in ("latency_p50_ms", "is_oom"):
        if target in graph.nodes:
            model = fit_outcome_model(resampled, graph, target, settings, max_missing, seed)
            if model is not None:
                fitted[target] = model
    return fitted


def _grid(data: pd.DataFrame, batch_size: int) -> pd.DataFrame:
    """Every (device class, model, method, ratio) the fleet measured, at one batch size."""
    variants = data[["model", "method", "target_ratio"]].dropna().drop_duplicates()
    devices = pd.DataFrame({"device_class": distinct(data["device_class"])})
    grid = devices.merge(variants.astype({"model": object, "method": object}), how="cross")
    grid["batch_size"] = float(batch_size)
    return grid.reset_index(drop=True)


def _predict_grid(models: Mapping[str, OutcomeModel], data: pd.DataFrame, grid: pd.DataFrame,
                  samples: int, seed: int) -> pd.DataFrame:
    """Mean prediction of every outcome model for every grid setting (``samples`` draws each)."""
    parts = []
    for i, setting in enumerate(grid.to_dict("records")):
        base = data[data["device_class"].astype(str) == setting["device_class"]]
        part = _apply(base.sample(samples, replace=True, random_state=seed + i), setting)
        part["_setting"] = i
        parts.append(part)
    rows = pd.concat(parts, ignore_index=True)
    predicted = grid.copy()
    for target, model in models.items():
        predicted[target] = pd.Series(_draw(model, rows)).groupby(rows["_setting"].to_numpy()).mean()
    return predicted


def _limits(row: Mapping[str, Any], budgets: Budgets) -> list[str]:
    checks = [("accuracy_drop", budgets.max_accuracy_drop, "accuracy drop"),
              ("latency_p50_ms", budgets.max_latency_ms, "latency"),
              ("peak_mem_mb", budgets.max_peak_mem_mb, "peak memory"),
              ("is_oom", budgets.max_p_oom, "P(OOM)")]
    return [f"{label} {row[column]:.3g} > {limit:g}" for column, limit, label in checks
            if limit is not None and column in row and pd.notna(row[column]) and row[column] > limit]


def _reasons(row: Mapping[str, Any], budgets: Budgets) -> str:
    return f"ratio {row['target_ratio']:g} ({row['method']}): {'; '.join(_limits(row, budgets))}"


def _best(options: pd.DataFrame, budgets: Budgets) -> tuple[pd.Series | None, str]:
    """The highest ratio within every budget (best accuracy among equals), and what stops the
    same method one ratio higher (or, if nothing fits, what stops the lowest ratio)."""
    options = options.sort_values(["target_ratio", "accuracy_drop"], ascending=[False, True])
    fits = [not _limits(row, budgets) for _, row in options.iterrows()]
    if not any(fits):
        return None, _reasons(options.iloc[-1], budgets)
    best = options.iloc[fits.index(True)]
    higher = options[(options["method"] == best["method"]) & (options["target_ratio"] > best["target_ratio"])]
    return best, _reasons(higher.iloc[-1], budgets) if len(higher) else "the highest ratio measured"


def _latency_rests_on_it(options: pd.DataFrame, best: pd.Series, budgets: Budgets) -> bool:
    """Whether the recommendation needs the pruned variant to be faster: a latency budget that
    the unpruned model (same method, ratio 0) is predicted to miss."""
    if budgets.max_latency_ms is None or best["target_ratio"] == 0:
        return False
    unpruned = options[(options["method"] == best["method"]) & (options["target_ratio"] == 0)]
    return any(any(limit.startswith("latency ") for limit in _limits(row, budgets)) for _, row in unpruned.iterrows())


def _unmeasurable(best: pd.Series, measured: Speedup) -> str:
    shown = ("not measured (no raw samples of it and its unpruned model on one host and backend)"
             if measured.estimate is None else measured.describe())
    return (f"latency: ratio {best['target_ratio']:g} ({best['method']}) is predicted within the budget where the "
            f"unpruned model is not, but its speed-up over it is {shown}: the budget is not measurably met")


def _measure(data: pd.DataFrame, samples: SampleIndex | None, device: str, model: str, batch_size: int,
             best: pd.Series) -> Speedup:
    return measured_speedup(data, samples, device, model, str(best["method"]), float(best["target_ratio"]), batch_size)


def measured_best(options: pd.DataFrame, budgets: Budgets, measure: Callable[[pd.Series], Speedup]
                  ) -> tuple[pd.Series | None, str, Speedup]:
    """The highest ratio within the budgets (:func:`_best`), what stops the next, and its measured
    speed-up (``measure``); withdrawn where the latency budget rests on a speed-up not measured."""
    best, blocked = _best(options, budgets)
    if best is None or best["target_ratio"] == 0:
        return best, blocked, UNMEASURED
    measured = measure(best)
    if _latency_rests_on_it(options, best, budgets) and measured.verdict != FASTER:
        return None, _unmeasurable(best, measured), measured
    return best, blocked, measured


def recommend(models: Mapping[str, OutcomeModel], data: pd.DataFrame, budgets: Budgets, settings: GcmSettings,
              seed: int, samples: SampleIndex | None = None) -> list[Recommendation]:
    """Per device class and model: the highest pruning ratio whose predictions fit the budgets,
    with its measured speed-up over the unpruned model (``samples``: the raw latency samples).
    A recommendation that a latency budget makes rest on a speed-up the samples do not show
    (not measurably faster) is withdrawn, saying why."""
    batch_sizes = distinct(data["batch_size"])
    if not batch_sizes or "accuracy_top1" not in models:
        return []
    batch_size = int(budgets.batch_size if budgets.batch_size is not None else min(batch_sizes))
    predicted = _predict_grid(models, data, _grid(data, batch_size), settings.samples, seed)
    unpruned = predicted[predicted["target_ratio"] == 0].groupby(["model", "method"])["accuracy_top1"].mean()
    predicted["accuracy_drop"] = predicted.join(unpruned.rename("base"), on=["model", "method"])["base"] \
        - predicted["accuracy_top1"]
    out = []
    for (device, model), options in predicted.groupby(["device_class", "model"], sort=True):
        measure = partial(_measure, data, samples, str(device), str(model), batch_size)
        best, blocked, measured = measured_best(options, budgets, measure)
        value = (lambda column: None if best is None or column not in best or pd.isna(best[column])
                 else float(best[column]))
        out.append(Recommendation(
            str(device), str(model), None if best is None else str(best["method"]), value("target_ratio"),
            batch_size, accuracy_drop=value("accuracy_drop"), latency_ms=value("latency_p50_ms"),
            peak_mem_mb=value("peak_mem_mb"), p_oom=value("is_oom"), limited_by=blocked,
            measured_speedup=measured.estimate, measured_speedup_low=measured.ci_low,
            measured_speedup_high=measured.ci_high, measured_verdict=measured.verdict, measured_basis=measured.basis))
    return out
