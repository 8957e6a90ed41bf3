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
    stats = time_calls(clock.call, TimingSpec(warmup_s=0.05, min_reps=5, min_time_s=0.2, max_time_s=9),
                       clock=clock)
    assert stats.warmup_s == pytest.approx(0.05)
    assert len(stats.samples_ms) == 20  # 0.2 s of 10 ms calls; 5 would be too few seconds


def test_min_reps_wins_for_slow_calls_until_max_time() -> None:
    clock = FakeClock([400.0] * 1000)
    stats = time_calls(clock.call, TimingSpec(warmup_s=0, min_reps=10, min_time_s=0.1, max_time_s=2.0),
                       clock=clock)
    assert len(stats.samples_ms) == 5  # 5 x 0.4 s reaches max_time before 10 reps


def test_statistics() -> None:
    samples = tuple(float(v) for v in range(1, 101))
    cols = LatencyStats(samples, 0.1, 5.05).columns(batch_size=10, noisy_cv=0.1)
    assert cols["latency_p50_ms"] == pytest.approx(50.5)
    assert cols["latency_p90_ms"] == pytest.approx(90.1)
    assert cols["latency_p99_ms"] == pytest.approx(99.01)
    assert cols["latency_mean_ms"] == pytest.approx(50.5)
    assert cols["latency_cv"] == pytest.approx(cols["latency_std_ms"] / 50.5)
    assert cols["noisy"] is True and cols["n_samples"] == 100
    assert cols["throughput_sps"] == pytest.approx(10 * 1000 / 50.5)


def test_steady_samples_are_not_noisy() -> None:
    cols = LatencyStats((10.0, 10.1, 9.9, 10.0), 0, 0.04).columns(1, 0.1)
    assert cols["noisy"] is False and cols["latency_cv"] < 0.01
