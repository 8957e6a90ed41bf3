"""Phase shift (the paper's test 1): accuracy against percent pruned, causal and magnitude.

If a method finds the set of weights that can go, accuracy holds until that set is gone
and then falls at once; a method that approximates it loses accuracy gradually. The
sharpness of the transition is reported as a number: the steepest accuracy loss, in
accuracy points per percentage point pruned, between two neighbouring points of the mean
curve (and the share of the curve's whole drop that happens there).
"""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from agent.granger.validate.problem import Problem, causal_and_magnitude


@dataclass(frozen=True)
class CurvePoint:
    method: str
    setting: float  # the ratio asked for, or (stop: zero) the L1 coefficient
    repeat: int
    sparsity: float
    accuracy: float


@dataclass(frozen=True)
class Transition:
    """How abrupt one method's accuracy curve is."""

    method: str
    sharpness: float  # accuracy points lost per percentage point pruned, steepest segment
    steepest_from: float  # sparsity where that segment starts
    steepest_to: float
    total_drop: float  # the curve's highest accuracy minus its lowest
    drop_share: float  # of total_drop, the part lost in the steepest segment (0..1)


@dataclass(frozen=True)
class PhaseShiftResult:
    base_accuracy: float
    points: tuple[CurvePoint, ...]
    transitions: tuple[Transition, ...]

    def rows(self) -> list[dict[str, Any]]:
        """One row a point, then one a method's transition (``kind`` tells them apart)."""
        return ([{"kind": "point", **asdict(p)} for p in self.points]
                + [{"kind": "transition", "base_accuracy": self.base_accuracy, **asdict(t)}
                   for t in self.transitions])


def mean_curve(points: Sequence[CurvePoint]) -> list[tuple[float, float]]:
    """``(sparsity, accuracy)`` averaged over repeats, by setting, sorted by sparsity."""
    settings = sorted({p.setting for p in points})
    curve = []
    for setting in settings:
        same = [p for p in points if p.setting == setting]
        curve.append((statistics.fmean(p.sparsity for p in same), statistics.fmean(p.accuracy for p in same)))
    return sorted(curve)


def transition(method: str, curve: Sequence[tuple[float, float]]) -> Transition:
    """The steepest accuracy loss along ``curve`` (needs two points of different sparsity)."""
    best = (0.0, curve[0][0], curve[0][0], 0.0)  # (slope, from, to, drop)
    for (s0, a0), (s1, a1) in zip(curve, curve[1:]):
        if s1 - s0 <= 1e-9:
            continue  # the same sparsity twice (stop: zero can do that): no slope to speak of
        slope = (a0 - a1) / ((s1 - s0) * 100)
        if slope > best[0]:
            best = (slope, s0, s1, a0 - a1)
    accuracies = [accuracy for _, accuracy in curve]
    total = max(accuracies) - min(accuracies)  # a curve need not fall monotonically
    share = best[3] / total if total > 0 else 0.0
    return Transition(method, best[0] * 100, best[1], best[2], total, share)


def run_phase_shift(problem: Problem, settings: Sequence[float], repeats: int) -> PhaseShiftResult:
    """Prune at every setting, ``repeats`` times (pruning seeds ``seed``, ``seed + 1``, ...)."""
    points: list[CurvePoint] = []
    for setting in settings:
        for repeat in range(repeats):
            for pruned in causal_and_magnitude(problem, setting, problem.spec.seed + repeat):
                points.append(CurvePoint(pruned.method, setting, repeat, pruned.sparsity, pruned.accuracy))
    methods = list(dict.fromkeys(p.method for p in points))
    transitions = tuple(transition(m, mean_curve([p for p in points if p.method == m])) for m in methods)
    return PhaseShiftResult(problem.base_accuracy, tuple(points), transitions)
