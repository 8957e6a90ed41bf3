"""The stage timer behind the run's overhead breakdown (benchmark P3)."""
from __future__ import annotations

import pytest

from agent import stages
from agent.stages import breakdown, format_breakdown, overhead_record
from shared.stages import StageTimes


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_stage_sums_every_time_it_ran_even_when_it_raised() -> None:
    clock = FakeClock()
    times = StageTimes(clock)
    with times.stage(stages.MODEL_LOAD):
        clock.now += 1.5
    with pytest.raises(ValueError), times.stage(stages.MODEL_LOAD):
        clock.now += 0.5
        raise ValueError("load failed")
    with times.stage(stages.PROBES):
        clock.now += 0.25
    assert times.seconds == {stages.MODEL_LOAD: 2.0, stages.PROBES: 0.25}


def test_merge_adds_what_a_worker_sent() -> None:
    times = StageTimes()
    times.add(stages.PROBES, 1.0)
    times.merge({stages.PROBES: 0.5, stages.MODEL_LOAD: 2.0})
    assert times.seconds == {stages.PROBES: 1.5, stages.MODEL_LOAD: 2.0}


def test_breakdown_is_in_trial_order_with_what_no_stage_covers() -> None:
    seen = {stages.TIMED: 6.0, stages.WORKER_START: 1.0, stages.GPU_PROFILE: 0.0001, "custom": 0.5}
    result = breakdown(seen, wall_s=10.0)
    assert list(result) == [stages.WORKER_START, stages.TIMED, "custom", stages.UNACCOUNTED]
    assert result[stages.UNACCOUNTED] == pytest.approx(2.5)  # the sub-millisecond stage is dropped
    # each probe is a stage of its own, placed where the probes are (after the warm-up, before the timed region)
    probes = breakdown({stages.TIMED: 1.0, stages.probe_stage("system"): 0.1, stages.probe_stage("perf"): 0.2,
                        stages.WARMUP: 0.5}, wall_s=2.0)
    assert list(probes)[:4] == [stages.WARMUP, "probes: perf", "probes: system", stages.TIMED]
    # overlapping stages (a row written while the worker goes on) never give a negative remainder
    assert breakdown({stages.TIMED: 11.0}, wall_s=10.0)[stages.UNACCOUNTED] == 0.0


def test_overhead_record_and_lines() -> None:
    record = overhead_record({stages.TIMED: 8.0, stages.WARMUP: 1.0}, wall_s=10.0, timed_s=8.0)
    assert record["ratio"] == 1.25 and record["measuring_s"] == 10.0
    assert record["stages_s"] == {stages.WARMUP: 1.0, stages.TIMED: 8.0, stages.UNACCOUNTED: 1.0}
    assert overhead_record({}, wall_s=1.0, timed_s=0.0)["ratio"] is None
    lines = format_breakdown({stages.TIMED: 8.0}, wall_s=10.0)
    assert lines[0].split() == ["timed", "region", "8.0", "s", "80.0%"]
    assert "not in any stage" in lines[1] and "20.0%" in lines[1]
