"""Pinning, cooling and sustained runs: the pieces, on fake sensors and on this process."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import yaml

from agent.affinity import check_cpus, format_cpus, parse_cpus, pin, usable_cpus
from agent.cli import main
from agent.sustained import Sensors, SustainedSeries, run_sustained, sustained_columns, throttle_verdict
from agent.thermal import cool_down, read_clock_mhz, read_temp_c, read_throttle_count
from shared.errors import UserError
from shared.sweep import TimingSpec, parse_sweep
from tests.conftest import TINY_SWEEP

# ------------------------------------------------------------------ affinity


def test_core_lists_parse_and_format() -> None:
    assert parse_cpus("0,2-3") == (0, 2, 3) and format_cpus((3, 0)) == "0,3"
    for bad in ("a", "3-1", "-1", "0,0", ""):
        with pytest.raises(UserError, match=r"^--cpus: "):
            parse_cpus(bad)


def test_a_core_this_machine_lacks_is_one_line_naming_the_field() -> None:
    missing = max(usable_cpus()) + 1
    with pytest.raises(UserError, match=rf"^s.yml: cpus: this machine has no usable core {missing} "):
        check_cpus((0, missing), "cpus", "s.yml")
    assert check_cpus(None, "cpus") is None


def test_agent_run_refuses_a_core_it_lacks_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sweep = tmp_path / "s.yml"
    sweep.write_text(yaml.safe_dump(TINY_SWEEP))
    code = main(["run", "--sweep", str(sweep), "--out", str(tmp_path / "out"), "--cpus", "4000"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("agent: error: --cpus: this machine has no usable core 4000") and "\n" not in err


def test_the_sweep_reads_cpus_and_refuses_a_core_named_twice() -> None:
    assert parse_sweep({**TINY_SWEEP, "cpus": [1, 0]}).cpus == (1, 0)
    with pytest.raises(UserError, match=r"cpus\[1\]: 0 is cpus\[0\] again"):
        parse_sweep({**TINY_SWEEP, "cpus": [0, 0]})
    with pytest.raises(UserError, match=r"cpus\[0\]: expected an integer"):
        parse_sweep({**TINY_SWEEP, "cpus": ["x"]})


def test_pin_applies_to_this_process_and_says_where_it_may_run() -> None:
    before = os.sched_getaffinity(0)
    core = max(before)
    try:
        assert pin((core,)) == (core,) and os.sched_getaffinity(0) == {core}
        assert pin(None) == (core,)  # None leaves it as it is
    finally:
        os.sched_setaffinity(0, before)


# ------------------------------------------------------------------ sensors and cooling


def test_sensors_read_sysfs_and_say_none_where_there_is_none(tmp_path: Path) -> None:
    (tmp_path / "thermal_zone0").mkdir()
    (tmp_path / "thermal_zone0" / "temp").write_text("61500\n")
    (tmp_path / "cpu1" / "cpufreq").mkdir(parents=True)
    (tmp_path / "cpu1" / "cpufreq" / "scaling_cur_freq").write_text("1800000\n")
    (tmp_path / "cpu1" / "thermal_throttle").mkdir()
    (tmp_path / "cpu1" / "thermal_throttle" / "core_throttle_count").write_text("7\n")
    assert read_temp_c(tmp_path) >= 61.5  # hwmon sensors of this machine may be hotter
    assert read_clock_mhz([1], tmp_path) == 1800.0 and read_throttle_count([1], tmp_path) == 7
    assert read_clock_mhz([0], tmp_path) is None and read_throttle_count([0], tmp_path) is None


class Cooling:
    def __init__(self, temps: list[float | None]) -> None:
        self.temps, self.now, self.slept = temps, 0.0, 0.0

    def read(self) -> float | None:
        return self.temps.pop(0) if len(self.temps) > 1 else self.temps[0]

    def sleep(self, s: float) -> None:
        self.now += s
        self.slept += s


def cool(spec: TimingSpec, temps: list[float | None]):
    machine = Cooling(temps)
    return cool_down(spec, machine.read, machine.sleep, lambda: machine.now), machine


def test_cooling_is_a_sleep_or_a_bounded_wait_for_a_temperature() -> None:
    assert cool(TimingSpec(), [50.0])[0] is None
    slept, _ = cool(TimingSpec(cooldown_s=3), [None])
    assert (slept.seconds, slept.reason) == (3, "slept 3 s")
    cooled, _ = cool(TimingSpec(cooldown_temp_c=50), [70.0, 60.0, 49.0])
    assert cooled.seconds == 2 and cooled.reason == "cooled from 70.0 to 49.0 C (below 50 C) in 2.0 s"
    hot, _ = cool(TimingSpec(cooldown_temp_c=50, cooldown_max_s=3), [90.0])
    assert hot.seconds == 3 and hot.reason.startswith("still 90.0 C after 3.0 s")


def test_without_a_sensor_the_row_says_so_rather_than_inventing_a_temperature() -> None:
    cooled, machine = cool(TimingSpec(cooldown_temp_c=50), [None])
    assert cooled.seconds == 0 and machine.slept == 0
    assert cooled.reason.startswith("no sensor: no temperature readable") and cooled.reason.endswith("not cooled to 50 C")
    fallback, machine = cool(TimingSpec(cooldown_temp_c=50, cooldown_s=2), [None])
    assert machine.slept == 2 and fallback.reason.endswith("slept cooldown_s 2 s instead")


# ------------------------------------------------------------------ sustained


def series(p50: list[float], clocks: list[float | None], throttle: tuple[int | None, int | None] = (None, None),
           temps: list[float | None] | None = None) -> SustainedSeries:
    return SustainedSeries(t_s=[float(i + 1) for i in range(len(p50))], p50_ms=p50, calls=[10] * len(p50),
                           temp_c=temps or [None] * len(p50), clock_mhz=clocks,
                           throttle_start=throttle[0], throttle_end=throttle[1])


def test_a_device_that_slows_as_it_heats_shows_cold_and_steady_latency_and_throttling() -> None:
    heating = series([10.0] * 3 + [12.0] * 3 + [15.0] * 4, [2000.0] * 3 + [1800.0] * 3 + [1500.0] * 4,
                     temps=[50.0 + i for i in range(10)])
    columns = sustained_columns(heating)
    assert columns["sustained_cold_p50_ms"] == 10.0 and columns["sustained_steady_p50_ms"] == 15.0
    assert columns["sustained_temp_max_c"] == 59.0 and columns["sustained_s"] == 10.0
    assert columns["throttled"] is True and columns["throttled_reason"].startswith("CPU clock 2000 -> 1500 MHz")


def test_the_throttle_counter_is_the_best_evidence_and_no_sensor_is_no_verdict() -> None:
    assert throttle_verdict(series([1.0] * 4, [2000.0] * 4, throttle=(5, 5))) == (False, "core_throttle_count rose by 0")
    assert throttle_verdict(series([1.0] * 4, [2000.0] * 4, throttle=(5, 9)))[0] is True
    verdict, why = throttle_verdict(series([1.0] * 4, [None] * 4))
    assert verdict is None and why == "no sensor: no CPU clock or throttle counter readable"


def test_a_sustained_run_lasts_as_asked_in_windows() -> None:
    now = [0]

    def clock() -> int:
        now[0] += 10_000_000  # every reading 10 ms later
        return now[0]

    run = run_sustained(lambda: None, 1.0, Sensors(lambda: None, lambda c: 1234.0, lambda c: None), clock)
    assert 5 <= len(run.p50_ms) <= 10 and run.t_s[-1] >= 1.0 and set(run.clock_mhz) == {1234.0}
    assert run.side()["throttle_count_start"] is None


def test_a_pinned_worker_runs_one_thread_a_pinned_core_where_the_sweep_leaves_it_open() -> None:
    from agent.worker import WorkerJob, _one_thread_a_core

    job = WorkerJob(artifact_dir="", artifact_meta={}, backend="onnxruntime", backend_options={"threads": None},
                    device="cpu", threads=None, timing=TimingSpec(), trials=(), stop_after_oom=True,
                    telemetry=None, perf=None, mem_limit_bytes=None, cgroup=None, stderr_path="",  # type: ignore[arg-type]
                    cpus=(2, 3))
    pinned = _one_thread_a_core(job, (2, 3))
    assert pinned.threads == 2 and pinned.backend_options == {"threads": 2}
    assert _one_thread_a_core(dataclasses.replace(job, threads=4), (2, 3)).threads == 4  # the sweep's word stands
    assert _one_thread_a_core(dataclasses.replace(job, cpus=None), (0, 1)).threads is None


def test_the_run_summary_counts_disturbed_measurements() -> None:
    from agent.measure_runner import RunSummary

    summary = RunSummary(Path("out"), "r", total=6, already_done=0)
    assert summary.disturbed_line() is None
    summary.disturbed, summary.remeasured, summary.still_disturbed = 3, 2, 1
    assert summary.disturbed_line() == ("disturbed: 3 measurements this run (2 of them re-measurements); "
                                        "1 trials still disturbed at the end (their disturbed_reason says why)")
