"""What the analysis asks and how strict it is: thresholds, budgets, refuters, questions.

Every field has a default (docs/ANALYSIS.md lists them); a YAML file given with
``--config`` overrides any of them, section by section::

    thresholds: {high_pruning_ratio: 0.3, high_accuracy_loss: 0.02}
    budgets: {max_accuracy_drop: 0.01, max_latency_ms: 20}
    refuters: {simulations: 100}
    verdict: {max_change: 0.1}
    questions:                     # replaces the default questions
      - {name: ratio_on_latency, treatment: target_ratio, outcome: latency_p50_ms, per: [device_class]}
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.errors import UserError, shown
from shared.yamlfile import read_yaml_file

UNITS = ("trial", "variant")
ESTIMATORS = ("linear_regression", "propensity_score_weighting", "propensity_score_stratification")


@dataclass(frozen=True)
class Thresholds:
    """The seed's binary columns (its X, Y, Z), each a documented default."""

    high_pruning_ratio: float = 0.3          # High_Pruning: target_ratio above this
    high_accuracy_loss: float = 0.02         # High_Accuracy_Loss: top-1 this far below the unpruned base
    min_accuracy: float | None = None        # or, as the seed did: top-1 below this (0..1)
    high_memory_share: float = 0.8           # High_Memory_Consumption: peak above this share of capacity
    high_memory_mb: float | None = None      # or, where no capacity is known: peak above this (MiB)


@dataclass(frozen=True)
class Budgets:
    """What a recommended ratio must stay within on a device (None: no limit)."""

    max_accuracy_drop: float = 0.01          # top-1, against the same model and method unpruned
    max_latency_ms: float | None = None      # p50 at ``batch_size``
    max_peak_mem_mb: float | None = None
    max_p_oom: float = 0.05
    batch_size: int | None = None            # None: the smallest batch size in the data


@dataclass(frozen=True)
class RefuterSettings:
    simulations: int = 100                   # random common cause, data subset, placebo
    bootstrap_simulations: int = 100         # bootstrap refuter, and bootstrap CIs
    subset_fraction: float = 0.8
    hidden_confounder: float = 0.05          # sensitivity: a hidden confounder explaining this share of
                                             # the residual variance of treatment and outcome (linear),
                                             # or flipping this share of the treatments (others)
    seed: int = 0


@dataclass(frozen=True)
class VerdictSettings:
    alpha: float = 0.05                      # a refuter's p-value counts below this ...
    max_change: float = 0.10                 # ... only if the effect moved more than this share


@dataclass(frozen=True)
class GcmSettings:
    enabled: bool = True                     # arrow strengths, what-if, recommendations
    samples: int = 200                       # interventional samples a setting
    whatif_resamples: int = 5                # fits on resampled rows for what-if intervals
    max_rows: int = 5000                     # rows a mechanism is fitted on (a seeded sample)


@dataclass(frozen=True)
class Question:
    """One causal effect to estimate: of ``treatment`` on ``outcome``, separately ``per`` group."""

    name: str
    treatment: str
    outcome: str
    per: tuple[str, ...] = ()
    unit: str = "trial"                      # variant: one row a variant and host (accuracy)
    estimator: str | None = None             # None: by the treatment's type


# Latency and memory one estimate per pruning method: mask-only pruning buys no speed and channel
# removal does, so a slope pooled over methods answers no one's question (it averages opposites).
DEFAULT_QUESTIONS = (
    Question("ratio_on_accuracy", "target_ratio", "accuracy_top1", unit="variant"),
    Question("ratio_on_latency", "target_ratio", "latency_p50_ms", per=("method", "backend", "device_class")),
    Question("ratio_on_peak_memory", "target_ratio", "peak_mem_mb", per=("method",)),
    Question("ratio_on_oom", "target_ratio", "is_oom"),
    Question("seed_high_pruning_on_accuracy_loss", "High_Pruning", "High_Accuracy_Loss", unit="variant"),
)


@dataclass(frozen=True)
class AnalysisConfig:
    thresholds: Thresholds = field(default_factory=Thresholds)
    budgets: Budgets = field(default_factory=Budgets)
    refuters: RefuterSettings = field(default_factory=RefuterSettings)
    verdict: VerdictSettings = field(default_factory=VerdictSettings)
    gcm: GcmSettings = field(default_factory=GcmSettings)
    questions: tuple[Question, ...] = DEFAULT_QUESTIONS
    binary_estimator: str = "propensity_score_weighting"   # the seed's choice
    max_missing_share: float = 0.5           # a confounder missing in more rows is unobserved

    def replace(self, section: str, **values: Any) -> AnalysisConfig:
        """A copy with some fields of one section changed (None values are ignored)."""
        given = {k: v for k, v in values.items() if v is not None}
        return dataclasses.replace(self, **{section: dataclasses.replace(getattr(self, section), **given)})


def _check_scalar(value: Any, kind: Any, where: str, source: str) -> Any:
    args = typing.get_args(kind)
    if isinstance(kind, types.UnionType):
        if value is None and type(None) in args:
            return None
        kind = next(a for a in args if a is not type(None))
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)  # .nan and .inf are refused: no threshold or budget means them
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind in (bool, str) and isinstance(value, kind):
        return value
    if typing.get_origin(kind) is tuple and isinstance(value, list):
        return tuple(_check_scalar(v, args[0], where, source) for v in value)
    name = getattr(kind, "__name__", str(kind))
    raise UserError(f"wants {name}, got {shown(value)}", source=source, field=where)


def _build(cls: type, data: Any, source: str, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise UserError("wants a mapping", source=source, field=where or "top level")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            raise UserError(f"unknown key {shown(key)}", source=source, field=where or "top level", valid=names)
    for f in dataclasses.fields(cls):
        if f.name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise UserError("missing (required)", source=source, field=f"{where}.{f.name}" if where else f.name)
    values = {}
    for key, value in data.items():
        at = f"{where}.{key}" if where else str(key)
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            values[key] = _build(kind, value, source, at)
        elif key == "questions":
            values[key] = _questions(value, source, at)
        else:
            values[key] = _check_scalar(value, kind, at, source)
    return cls(**values)


def _questions(data: Any, source: str, where: str) -> tuple[Question, ...]:
    if not isinstance(data, list) or not data:
        raise UserError("wants a non-empty list of questions", source=source, field=where)
    questions = tuple(_build(Question, q, source, f"{where}[{i}]") for i, q in enumerate(data))
    for i, q in enumerate(questions):
        if q.unit not in UNITS:
            raise UserError(f"unknown unit {q.unit!r}", source=source, field=f"{where}[{i}].unit", valid=UNITS)
        if q.estimator is not None and q.estimator not in ESTIMATORS:
            raise UserError(f"unknown estimator {q.estimator!r}", source=source,
                            field=f"{where}[{i}].estimator", valid=ESTIMATORS)
    return questions


def parse_config(data: Any, source: str) -> AnalysisConfig:
    config = _build(AnalysisConfig, data or {}, source, "")
    if config.binary_estimator not in ESTIMATORS[1:]:
        raise UserError(f"unknown estimator {config.binary_estimator!r}", source=source,
                        field="binary_estimator", valid=ESTIMATORS[1:])
    return config


def load_config(path: str | Path | None) -> AnalysisConfig:
    """The defaults, overridden by the YAML file at ``path`` if one is given."""
    if path is None:
        return AnalysisConfig()
    return parse_config(read_yaml_file(path, "analysis config"), str(path))
