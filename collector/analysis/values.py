"""The analysis's value objects: what each step hands the next, and what analysis.json holds.

Like DoWhy's ``IdentifiedEstimand -> CausalEstimate -> CausalRefutation``, each carries
where it came from (question, group, rows, estimator), and each owns its serialization:
``to_dict()`` gives plain JSON types and ``from_dict()`` reads them back. The file format
around them (its version, its history) is in :mod:`collector.analysis.output`.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from shared.stats import Speedup

T = TypeVar("T")

# Refutation outcomes and effect verdicts
PASS, WARN, FAIL, NOT_RUN = "pass", "warn", "fail", "not run"
ROBUST, FRAGILE, REFUTED, NO_CLEAR_EFFECT, NOT_ESTIMATED = (
    "robust", "fragile", "refuted", "no clear effect", "not estimated")


def _plain(value: Any) -> Any:
    """JSON types only: tuples become lists, NaN and infinities become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _read(kind: Any, value: Any) -> Any:
    """``value`` read back as ``kind`` (a dataclass, a tuple of them, or a plain type)."""
    if value is None:
        return None
    if isinstance(kind, types.UnionType):
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if dataclasses.is_dataclass(kind):
        return from_dict(kind, value)
    if typing.get_origin(kind) is tuple:
        return tuple(_read(typing.get_args(kind)[0], v) for v in value)
    return value


def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Any value object of this module from its ``to_dict()``; unknown keys are ignored."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: _read(hints[k], v) for k, v in data.items() if k in names})


class _Value:
    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
        return from_dict(cls, data)


@dataclass(frozen=True)
class Refutation(_Value):
    """One refuter's result. ``change`` is how far the new effect moved from what it should be
    (the estimate, or zero for the placebo), as a share of the effect's scale."""

    name: str
    new_effect: float | None
    p_value: float | None
    expected: str = "unchanged"              # unchanged | zero | survives
    change: float | None = None
    outcome: str = NOT_RUN                   # pass | warn | fail | not run
    note: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        p = "-" if self.p_value is None else f"{self.p_value:.2f}"
        new = "-" if self.new_effect is None else f"{self.new_effect:.4g}"
        return f"{self.name}: new effect {new}, p {p}: {self.outcome}{f' ({self.note})' if self.note else ''}"


@dataclass(frozen=True)
class Verdict(_Value):
    label: str
    reasons: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.label}: {'; '.join(self.reasons)}" if self.reasons else self.label


@dataclass(frozen=True)
class Effect(_Value):
    """The causal effect of ``treatment`` on ``outcome`` in one group of rows, per unit of treatment."""

    question: str
    treatment: str
    outcome: str
    group: Mapping[str, str] = field(default_factory=dict)
    estimated: bool = False
    reason: str = ""                         # why not estimated
    estimand: str = ""
    backdoor: tuple[str, ...] = ()
    estimator: str = ""
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    naive_estimate: float | None = None      # the unadjusted slope, to show the confounding
    n_rows: int = 0
    left_out: Mapping[str, int] = field(default_factory=dict)
    refutations: tuple[Refutation, ...] = ()
    verdict: Verdict = field(default_factory=lambda: Verdict(NOT_ESTIMATED))
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        group = ", ".join(f"{k}={v}" for k, v in self.group.items())
        return f"{self.treatment} -> {self.outcome}" + (f" [{group}]" if group else "")

    def __str__(self) -> str:
        if not self.estimated:
            return f"{self.label}: not estimated ({self.reason})"
        return (f"{self.label}: {self.estimate:.4g} [{self.ci_low:.4g}, {self.ci_high:.4g}] "
                f"({self.estimator}, {self.n_rows} rows): {self.verdict}")


@dataclass(frozen=True)
class ArrowStrength(_Value):
    """How much the target's distribution changes without this parent (dowhy.gcm.arrow_strength)."""

    target: str
    parent: str
    strength: float
    share: float                             # of the target's incoming strengths together


@dataclass(frozen=True)
class Attribution(_Value):
    """Why one trial's outcome is unusual: each upstream node's share of its anomaly score."""

    trial_key: str
    host: str
    target: str
    observed: float
    typical: float                           # the target's median over all trials
    contributions: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class WhatIf(_Value):
    """Predicted outcomes of one setting, e.g. resnet18 at ratio 0.5, batch 32, on a device class."""

    setting: Mapping[str, Any]
    latency_ms: float | None = None          # median of the predicted trials
    latency_low_ms: float | None = None      # 5th..95th percentile: model and trial noise
    latency_high_ms: float | None = None
    p_oom: float | None = None
    p_oom_low: float | None = None           # 5th..95th percentile over refits on resampled rows
    p_oom_high: float | None = None
    n_samples: int = 0


@dataclass(frozen=True)
class Recommendation(_Value):
    """The highest pruning ratio of one model on one device class that stays within the budgets."""

    device_class: str
    model: str
    method: str | None
    ratio: float | None                      # None: not even the unpruned model fits
    batch_size: int
    accuracy_drop: float | None = None
    latency_ms: float | None = None
    peak_mem_mb: float | None = None
    p_oom: float | None = None
    limited_by: str = ""                     # what stops the next higher ratio
    # measured, not predicted: speed-up over the unpruned model from the raw samples, its 95%
    # interval and verdict (shared/stats.speedup); basis "samples" or "processes"
    measured_speedup: float | None = None
    measured_speedup_low: float | None = None
    measured_speedup_high: float | None = None
    measured_verdict: str = "not measured"
    measured_basis: str = ""

    def measured(self) -> Speedup:
        return Speedup(self.measured_speedup, self.measured_speedup_low, self.measured_speedup_high,
                       self.measured_verdict, self.measured_basis)


@dataclass(frozen=True)
class Analysis(_Value):
    """Everything one run of the analysis found, with what it was run on."""

    source: str
    n_rows: int
    created_at: str
    edgeprune_version: str
    graph_source: str
    graph_edges: tuple[str, ...]
    settings: Mapping[str, Any]
    notes: tuple[str, ...] = ()
    effects: tuple[Effect, ...] = ()
    arrow_strengths: tuple[ArrowStrength, ...] = ()
    attributions: tuple[Attribution, ...] = ()
    what_ifs: tuple[WhatIf, ...] = ()
    recommendations: tuple[Recommendation, ...] = ()
    timings_s: Mapping[str, float] = field(default_factory=dict)
