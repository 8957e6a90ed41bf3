"""shared.stats: the median's order-statistic interval against scipy's binomial, its coverage
on known distributions, and the speed-up's bootstrap interval and verdict."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from shared.stats import (FASTER, NO_DIFFERENCE, NOT_MEASURED, SLOWER, median_interval,
                          median_rank_interval, speedup)


@pytest.mark.parametrize("n", [6, 7, 10, 11, 25, 64, 100, 662, 1001, 20000])
def test_ranks_match_scipy_binomial(n: int) -> None:
    lo, hi = median_rank_interval(n)
    # the largest lo with P(B <= lo) <= 2.5%, B ~ Binomial(n, 1/2)
    assert scipy_stats.binom.cdf(lo, n, 0.5) <= 0.025 < scipy_stats.binom.cdf(lo + 1, n, 0.5)
    assert hi == n - 1 - lo
    assert 1 - 2 * scipy_stats.binom.cdf(lo, n, 0.5) >= 0.95


def test_too_few_samples_have_no_interval() -> None:
    assert median_rank_interval(5) is None
    assert median_interval([1.0, 2.0, 3.0]) is None
    assert median_rank_interval(0) is None


def test_median_interval_covers_the_true_median_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    true_median = float(np.exp(0.0))  # lognormal(0, s): the median is e^0 whatever s
    covered = 0
    for _ in range(1000):
        low, high = median_interval(rng.lognormal(0.0, 0.5, 30).tolist())
        covered += low <= true_median <= high
    assert 0.94 <= covered / 1000 <= 0.995  # 95% at least; order statistics overshoot a little


def test_speedup_verdicts() -> None:
    rng = np.random.default_rng(3)
    base = rng.lognormal(np.log(10.0), 0.05, 300)
    assert speedup(base, base / 1.2).verdict == FASTER
    assert speedup(base, base * 1.2).verdict == SLOWER
    same = speedup(base, rng.lognormal(np.log(10.0), 0.05, 300))
    assert same.verdict == NO_DIFFERENCE and same.ci_low < 1.0 < same.ci_high
    fast = speedup(base, base / 1.2)
    assert fast.ci_low < fast.estimate < fast.ci_high and abs(fast.estimate - 1.2) < 0.01
    assert fast.basis == "samples"


def test_speedup_describes_slower_as_a_slowdown() -> None:
    rng = np.random.default_rng(4)
    base = rng.lognormal(np.log(10.0), 0.05, 300)
    text = speedup(base, base * 2.0).describe()
    assert text.startswith("2.00x slower [") and "0." not in text.split("[")[1]


def test_nothing_measured() -> None:
    assert speedup([], [1.0, 2.0]).verdict == NOT_MEASURED
    assert speedup([[1.0, 2.0]], [[]]).describe() == NOT_MEASURED


def test_process_repeats_widen_the_interval_by_the_between_process_spread() -> None:
    """Each process has its own level (memory layout, thread placement): the samples of one
    process cannot see it; resampling processes can."""
    rng = np.random.default_rng(5)
    levels = [9.0, 10.0, 11.5]  # the same model in three processes
    base = [rng.lognormal(np.log(m), 0.02, 200) for m in levels]
    variant = [rng.lognormal(np.log(m / 1.03), 0.02, 200) for m in [11.0, 9.5, 10.0]]
    pooled = speedup(np.concatenate(base).tolist(), np.concatenate(variant).tolist())
    nested = speedup(base, variant)
    assert nested.basis == "processes"
    assert (nested.ci_high - nested.ci_low) > 2 * (pooled.ci_high - pooled.ci_low)
    assert nested.verdict == NO_DIFFERENCE


def test_same_samples_same_interval() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.lognormal(0, 0.1, 100), rng.lognormal(0.05, 0.1, 100)
    assert speedup(a, b) == speedup(a.tolist(), b.tolist())


def test_samples_are_found_by_row(tmp_path) -> None:
    """samples.jsonl through the results folder: one list a process, a retried process
    replacing its earlier line, junk lines skipped; a fleet's host folders kept apart."""
    import json

    from shared.resultsdir import load_samples
    for host in ("a", "b"):
        folder = tmp_path / host
        folder.mkdir()
        (folder / "results.jsonl").write_text("")
        lines = [{"trial_key": "t1", "samples_ms": [1.0, 2.0], "process": 0},
                 {"trial_key": "t1", "samples_ms": [3.0], "process": 1},
                 {"trial_key": "t1", "samples_ms": [4.0, 5.0], "process": 1},
                 {"trial_key": "t2", "samples_ms": ["x"]}, {"trial_key": 3, "samples_ms": [1]},
                 {"trial_key": "t3", "samples_ms": [7.0 if host == "a" else 8.0]}]
        (folder / "samples.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"torn')
    index = load_samples(tmp_path)
    assert index.of({"host": "a", "trial_key": "t1"}) == [[1.0, 2.0], [4.0, 5.0]]
    assert index.of({"host": "b", "trial_key": "t3"}) == [[8.0]]
    assert index.of({"host": "a", "trial_key": "t2"}) == []
    assert index.of({"host": "zz", "trial_key": "t1"}) == []
