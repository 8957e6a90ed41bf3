"""Mask overlap (the paper's figure 1b): how far causal and magnitude pruning agree.

For two masks over the same prunable weights, the 2x2 matrix of shares of those weights::

                        magnitude prunes   magnitude keeps
    causal prunes       (0,0) both         (0,1) causal only
    causal keeps        (1,0) magnitude    (1,1) neither
                              only

(the paper's layout: (1,0) is "in magnitude pruning but not causal pruning").
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from agent.granger.validate.problem import Problem, causal_and_magnitude


@dataclass(frozen=True)
class Overlap:
    """Shares (0..1) of the prunable weights in each cell of the matrix."""

    both: float
    first_only: float
    second_only: float
    neither: float

    @property
    def matrix(self) -> list[list[float]]:
        """``[[both, first only], [second only, neither]]``."""
        return [[self.both, self.first_only], [self.second_only, self.neither]]

    @property
    def jaccard(self) -> float:
        """Both over either: 1 for identical masks (0 when neither prunes anything)."""
        either = self.both + self.first_only + self.second_only
        return self.both / either if either else 0.0


def overlap(first: Sequence[torch.Tensor], second: Sequence[torch.Tensor]) -> Overlap:
    """The matrix of two masks given per layer (True where the weight is pruned)."""
    a = torch.cat([m.flatten().bool().cpu() for m in first])
    b = torch.cat([m.flatten().bool().cpu() for m in second])
    if a.shape != b.shape:
        raise ValueError(f"masks over different weights: {a.numel()} and {b.numel()} entries")
    total = a.numel()

    def share(cell: torch.Tensor) -> float:
        return int(cell.sum()) / total

    return Overlap(share(a & b), share(a & ~b), share(~a & b), share(~a & ~b))


@dataclass(frozen=True)
class MaskComparison:
    setting: float  # the ratio asked for, or (stop: zero) the L1 coefficient
    causal_sparsity: float
    magnitude_sparsity: float
    causal_accuracy: float
    magnitude_accuracy: float
    overlap: Overlap


@dataclass(frozen=True)
class MaskOverlapResult:
    comparisons: tuple[MaskComparison, ...]

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for c in self.comparisons:
            row = {key: value for key, value in asdict(c).items() if key != "overlap"}
            rows.append({"kind": "overlap", **row, **asdict(c.overlap), "matrix": c.overlap.matrix,
                         "jaccard": c.overlap.jaccard})
        return rows


def run_mask_overlap(problem: Problem, settings: Sequence[float]) -> MaskOverlapResult:
    """Causal and magnitude masks at matched sparsity, one comparison a setting."""
    comparisons = []
    for setting in settings:
        causal, magnitude = causal_and_magnitude(problem, setting, problem.spec.seed)
        comparisons.append(MaskComparison(setting, causal.sparsity, magnitude.sparsity, causal.accuracy,
                                          magnitude.accuracy, overlap(causal.pruned, magnitude.pruned)))
    return MaskOverlapResult(tuple(comparisons))
