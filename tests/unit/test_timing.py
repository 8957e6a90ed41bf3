"""The timing loop and its statistics, on a fake clock (no wall-clock dependence)."""
from __future__ import annotations

import pytest

from agent.timing import LatencyStats, time_calls
from shared.sweep import TimingSpec


class FakeClock:
    """Each call() advances time by the next duration; reading the clock costs nothing."""

    def __init__(self, durations_ms: list[float]) -> None:
        self.now = 0
        self.durations = iter(durations_ms)

    def __call__(self) -> int:
        return self.now

    def call(self) -> None:
        self.now += int(next(self.durations) * 1e6)


def test_stops_when_both_count_and_time_are_reached() -> None:
    clock = FakeClock([10.0] * 1000)
    stats = time_calls(clock.call, TimingSpec(warmup_s=0.05, min_reps=5, min_time_s=0.2, max_time_s=9,
                                              percentiles=(50,)), clock=clock)
    assert stats.warmup_s == pytest.approx(0.05)
    assert len(stats.samples_ms) == 20  # 0.2 s of 10 ms calls; 5 would be too few seconds


def test_min_reps_wins_for_slow_calls_until_max_time() -> None:
    clock = FakeClock([400.0] * 1000)
    stats = time_calls(clock.call, TimingSpec(warmup_s=0, min_reps=10, min_time_s=0.1, max_time_s=2.0,
                                              percentiles=(50,)), clock=clock)
    assert len(stats.samples_ms) == 5  # 5 x 0.4 s reaches max_time before 10 reps


def test_statistics() -> None:
    samples = tuple(float(v) for v in range(1, 101))
    cols = LatencyStats(samples, 0.1, 5.05).columns(10, TimingSpec(min_samples_p99=100))
    assert cols["latency_p50_ms"] == pytest.approx(50.5)
    assert cols["latency_p90_ms"] == pytest.approx(90.1)
    assert cols["latency_p99_ms"] == pytest.approx(99.01)  # 100 samples back it when 100 are asked for
    assert cols["latency_p99_reason"] is None and cols["process_count"] == 1
    assert cols["latency_mean_ms"] == pytest.approx(50.5)
    assert cols["latency_cv"] == pytest.approx(cols["latency_std_ms"] / 50.5)
    assert cols["noisy"] is True and cols["n_samples"] == 100
    assert cols["throughput_sps"] == pytest.approx(10 * 1000 / 50.5)


def test_steady_samples_are_not_noisy() -> None:
    cols = LatencyStats((10.0, 10.1, 9.9, 10.0), 0, 0.04).columns(1, TimingSpec())
    assert cols["noisy"] is False and cols["latency_cv"] < 0.01


def test_timing_goes_on_toward_the_count_the_wanted_percentiles_need() -> None:
    clock = FakeClock([10.0] * 1000)
    stats = time_calls(clock.call, TimingSpec(warmup_s=0, min_reps=10, min_time_s=0.1, max_time_s=9,
                                              percentiles=(50, 90)), clock=clock)
    assert len(stats.samples_ms) == 64  # p90's 64, though 10 reps and 0.1 s came at 10
    clock = FakeClock([10.0] * 1000)
    stats = time_calls(clock.call, TimingSpec(warmup_s=0, min_reps=10, min_time_s=0.1, max_time_s=2.0), clock=clock)
    assert len(stats.samples_ms) == 200  # toward p99's 662, cut at max_time_s (2 s of 10 ms calls)


def test_a_percentile_too_few_samples_back_is_null_with_the_reason() -> None:
    spec = TimingSpec(max_time_s=2.0, percentiles=(50, 90))
    cols = LatencyStats(tuple(float(v) for v in range(1, 41)), 0.0, 2.0).columns(1, spec)
    assert cols["latency_p50_ms"] == pytest.approx(20.5) and cols["latency_p50_reason"] is None
    assert cols["latency_p90_ms"] is None and cols["latency_p99_ms"] is None
    assert cols["latency_p90_reason"] == "40 samples, p90 needs 64: max_time_s (2 s) ran out first"
    assert cols["latency_p99_reason"].startswith("40 samples, p99 needs 662: not in timing.percentiles (50, 90)")
    few = LatencyStats((5.0, 6.0, 7.0), 0.0, 2.0).columns(1, spec)
    assert few["latency_p50_ms"] is None and few["latency_p50_ci_low_ms"] is None
    assert few["latency_p50_reason"] == "3 samples, p50 needs 10: max_time_s (2 s) ran out first"
    assert few["latency_mean_ms"] == pytest.approx(6.0)  # what does not depend on a count stays


def test_the_median_interval_brackets_the_median() -> None:
    samples = tuple(float(v) for v in range(1, 101))
    cols = LatencyStats(samples, 0.0, 1.0).columns(1, TimingSpec())
    assert cols["latency_p50_ci_low_ms"] == 40.0 and cols["latency_p50_ci_high_ms"] == 61.0  # ranks 39, 60
    assert cols["latency_p50_ci_low_ms"] < cols["latency_p50_ms"] < cols["latency_p50_ci_high_ms"]


def test_the_counts_are_configurable() -> None:
    spec = TimingSpec(min_samples_p50=20, min_samples_p90=30, min_samples_p99=40)
    cols = LatencyStats(tuple(float(v) for v in range(25)), 0.0, 1.0).columns(1, spec)
    assert cols["latency_p50_ms"] is not None and cols["latency_p90_ms"] is None and cols["latency_p99_ms"] is None
    assert spec.target_samples == 40 and TimingSpec(percentiles=()).target_samples == 10  # min_reps
