"""Uncertainty of latency figures: a distribution-free interval for a median, and the
speed-up of one variant over another as an interval with a verdict.

One owner for both so that every table the product prints (seed comparison, report,
recommendations, ``agent analyze`` budgets) says "faster" on the same evidence.

Latency samples are skewed and heavy-tailed (a descheduled call is 10x a normal one), so
nothing here assumes normality: the median's interval comes from order statistics (the
binomial distribution of how many samples fall below the true median), and the speed-up's
from a bootstrap of the ratio of medians. Samples measured in several processes are
resampled hierarchically (processes first, then samples within each, as Saravanan et al.,
"Application of the hierarchical bootstrap to multi-level data", 2020): the interval then
covers the between-process spread that one process's repetitions cannot show. With a single
process per side it covers only the within-trial noise, and says so (``basis``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 1000  # bootstrap draws: the 2.5% and 97.5% quantiles settle to ~1% of the ratio
SEED = 0  # a fixed seed: the same samples always give the same interval and verdict

FASTER = "faster"
SLOWER = "slower"
NO_DIFFERENCE = "no measurable difference"
NOT_MEASURED = "not measured"
# samples of one side: one flat sequence (one process) or one sequence per process
Samples = Union[Sequence[float], Sequence[Sequence[float]]]


def median_rank_interval(n: int, confidence: float = CONFIDENCE) -> Optional[Tuple[int, int]]:
    """0-based ranks (lo, hi) of the sorted samples that bound the median with at least
    ``confidence``; None when n is too small for any such pair (n < 6 at 95%).

    The sample at rank ``lo`` lies above the median only when at most ``lo`` samples fall
    below it: P(B <= lo) for B ~ Binomial(n, 1/2). ``lo`` is the largest rank keeping that
    at most (1 - confidence) / 2; by symmetry the upper rank is n - 1 - lo.
    """
    log_alpha = math.log((1.0 - confidence) / 2.0)
    log_half_n = n * math.log(0.5)
    if n < 1 or log_half_n > log_alpha:  # even (min, max) is not enough
        return None
    log_cdf = log_half_n  # P(B <= 0), then summed upward in log space (n may be 10^5)
    lo = 0
    while lo + 1 < n:
        k = lo + 1
        log_pmf = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + log_half_n
        log_cdf = max(log_cdf, log_pmf) + math.log1p(math.exp(-abs(log_cdf - log_pmf)))
        if log_cdf > log_alpha:
            break
        lo = k
    return lo, n - 1 - lo


def median_interval(samples: Sequence[float], confidence: float = CONFIDENCE
                    ) -> Optional[Tuple[float, float]]:
    """The order-statistic confidence interval of the median of ``samples``."""
    ranks = median_rank_interval(len(samples), confidence)
    if ranks is None:
        return None
    ordered = sorted(samples)
    return float(ordered[ranks[0]]), float(ordered[ranks[1]])


def _groups(samples: Samples) -> list:
    """One float array per process; an empty list when nothing was measured."""
    if not len(samples):
        return []
    if isinstance(samples[0], (int, float, np.floating, np.integer)):
        flat = np.asarray(samples, dtype=float)
        return [flat] if flat.size else []
    return [np.asarray(g, dtype=float) for g in samples if len(g)]


def _boot_medians(groups: list, rng: np.random.Generator, draws: int) -> np.ndarray:
    """Medians of ``draws`` resamples: processes with replacement, then samples in each."""
    if len(groups) == 1:
        x = groups[0]
        out = np.empty(draws)
        chunk = max(1, 2_000_000 // x.size)  # bounded memory for 10^5-sample trials
        for start in range(0, draws, chunk):
            size = min(chunk, draws - start)
            out[start:start + size] = np.median(x[rng.integers(0, x.size, (size, x.size))], axis=1)
        return out
    out = np.empty(draws)
    for b in range(draws):
        picked = rng.integers(0, len(groups), len(groups))
        pooled = np.concatenate([groups[i][rng.integers(0, groups[i].size, groups[i].size)]
                                 for i in picked])
        out[b] = np.median(pooled)
    return out


@dataclass(frozen=True)
class Speedup:
    """How many times faster the variant is than the base (base median / variant median)."""

    estimate: Optional[float]
    ci_low: Optional[float]
    ci_high: Optional[float]
    verdict: str
    basis: str  # "samples" (within-trial noise only), "processes" (between-process too) or ""
    confidence: float = CONFIDENCE

    def describe(self) -> str:
        """'1.84x faster [1.79, 1.90]', '1.60x slower [1.55, 1.66]' or
        'no measurable difference (1.01x [0.97, 1.05])'."""
        if self.estimate is None:
            return NOT_MEASURED
        interval = "" if self.ci_low is None else f" [{self.ci_low:.2f}, {self.ci_high:.2f}]"
        if self.verdict == FASTER:
            return f"{self.estimate:.2f}x faster{interval}"
        if self.verdict == SLOWER:  # as a slow-down, interval and all
            return f"{1 / self.estimate:.2f}x slower [{1 / self.ci_high:.2f}, {1 / self.ci_low:.2f}]"
        return f"{NO_DIFFERENCE} ({self.estimate:.2f}x{interval})"


def verdict_of(ci_low: Optional[float], ci_high: Optional[float]) -> str:
    """The verdict an interval of a speed-up supports."""
    if ci_low is None or ci_high is None:
        return NOT_MEASURED
    if ci_low > 1.0:
        return FASTER
    if ci_high < 1.0:
        return SLOWER
    return NO_DIFFERENCE


def speedup(base: Samples, variant: Samples, confidence: float = CONFIDENCE,
            draws: int = RESAMPLES, seed: int = SEED) -> Speedup:
    """The speed-up of ``variant`` over ``base`` from their raw latency samples (ms)."""
    base_groups, variant_groups = _groups(base), _groups(variant)
    if not base_groups or not variant_groups:
        return Speedup(None, None, None, NOT_MEASURED, "", confidence)
    estimate = float(np.median(np.concatenate(base_groups)) / np.median(np.concatenate(variant_groups)))
    rng = np.random.default_rng(seed)
    ratios = _boot_medians(base_groups, rng, draws) / _boot_medians(variant_groups, rng, draws)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = (float(v) for v in np.percentile(ratios, [tail, 100.0 - tail]))
    basis = "processes" if min(len(base_groups), len(variant_groups)) > 1 else "samples"
    return Speedup(estimate, low, high, verdict_of(low, high), basis, confidence)
