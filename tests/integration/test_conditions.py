"""Trial conditions with real workers: pinning to cores, a core loaded by a busy loop making
a trial disturbed (and re-measured, both rows kept), the same trial on a quiet core, and
cooling and sustained runs recorded with what the machine could say.

The machine these tests run on may be shared: they assert on the evidence the sampler
recorded (the reason and its figures), never on latency ratios."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from agent.affinity import usable_cpus
from agent.runner import SweepRunner
from shared.resultlog import ResultLog
from shared.resultsdir import load_results
from shared.sweep import parse_sweep
from tests.conftest import TINY_SWEEP

CORE = usable_cpus()[-1]
ONE_TRIAL = {**TINY_SWEEP, "methods": ["l1_unstructured"], "ratios": [0.0], "batch_sizes": [1],
             "cpus": [CORE], "telemetry": {"perf": False},
             "timing": {"warmup_s": 0.05, "min_reps": 10, "min_time_s": 1.0, "max_time_s": 2.0,
                        "retry_disturbed": 0}}
BUSY_LOOP = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass"


def run(tmp_path: Path, data: dict, cache: Path, out: str = "out") -> tuple[SweepRunner, list[dict]]:
    runner = SweepRunner(parse_sweep(data, str(tmp_path / "s.yml")), tmp_path / out, cache)
    runner.summary = runner.run()  # type: ignore[attr-defined]
    return runner, list(runner.out.results.rows())


@pytest.fixture
def loaded_core() -> Iterator[int]:
    """A busy loop pinned to CORE for the test's duration."""
    loop = subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(CORE)])
    try:
        yield CORE
    finally:
        loop.kill()
        loop.wait(10)


def test_a_pinned_worker_records_the_cores_it_ran_on(tmp_path: Path, private_cache: Path) -> None:
    _, rows = run(tmp_path, ONE_TRIAL, private_cache)
    (row,) = rows
    assert row["status"] == "ok" and row["cpus"] == str(CORE)  # the worker's own affinity, reported
    assert row["threads"] == 1  # one thread a pinned core, not the machine's count
    assert row["attempt"] == 1 and row["retry_of"] is None
    assert row["sys_other_cpu_pct"] is not None and row["disturbed"] is not None


def test_a_loaded_core_makes_the_trial_disturbed_and_it_is_measured_again(
        tmp_path: Path, private_cache: Path, loaded_core: int) -> None:
    runner, rows = run(tmp_path, {**ONE_TRIAL, "timing": {**ONE_TRIAL["timing"], "retry_disturbed": 1}},
                       private_cache)
    first, again = rows  # the busy loop is still there: the re-measurement is disturbed too
    for row in rows:
        assert row["disturbed"] is True, row["disturbed_reason"]
        assert row["sys_other_cpu_pct"] >= 20  # the loop takes about half the core from the worker
        assert f"other processes used {row['sys_other_cpu_pct']:.3g}% of the worker's cores" in row["disturbed_reason"]
    assert (first["attempt"], again["attempt"]) == (1, 2) and again["retry_of"] == first["started_at"]
    assert first["trial_key"] == again["trial_key"]
    summary = runner.summary  # type: ignore[attr-defined]
    assert (summary.disturbed, summary.remeasured, summary.still_disturbed) == (2, 1, 1)
    # readers count the trial once (its last row); the first row's evidence stays in the file
    (latest,) = load_results(tmp_path / "out").rows
    assert latest["attempt"] == 2
    # bounded: a resume does not measure it a third time
    _, after = run(tmp_path, {**ONE_TRIAL, "timing": {**ONE_TRIAL["timing"], "retry_disturbed": 1}},
                   private_cache)
    assert len(after) == 2


def test_the_same_trial_on_a_quiet_core_is_not_disturbed(tmp_path: Path, private_cache: Path) -> None:
    data = {**ONE_TRIAL, "timing": {**ONE_TRIAL["timing"], "quiet_wait_s": 10, "retry_disturbed": 0}}
    _, (row,) = run(tmp_path, data, private_cache)
    assert row["quiet_wait_s"] is not None and row["quiet_wait_result"] is not None
    if row["quiet_wait_result"] != "quiet" or (row["disturbed"] and "other processes" not in row["disturbed_reason"]):
        pytest.skip(f"this machine was not quiet: {row['quiet_wait_result']}; {row['disturbed_reason']}")
    assert row["disturbed"] is False, row["disturbed_reason"]


def test_cooling_and_a_sustained_run_are_recorded_with_what_the_machine_can_read(
        tmp_path: Path, private_cache: Path) -> None:
    timing = {**ONE_TRIAL["timing"], "sustained_s": 1.0, "cooldown_s": 0.2, "cooldown_temp_c": 95,
              "cooldown_max_s": 2}
    runner, (row,) = run(tmp_path, {**ONE_TRIAL, "timing": timing}, private_cache)
    assert row["cooldown_s"] is not None and row["cooldown_reason"]
    if row["sys_temp_max_c"] is None:  # no sensor (most VMs): said, not invented
        assert row["cooldown_reason"].startswith("no sensor: no temperature readable")
        assert row["sustained_temp_max_c"] is None
    assert 1.0 <= row["sustained_s"] < 3.0
    assert row["sustained_cold_p50_ms"] > 0 and row["sustained_steady_p50_ms"] > 0
    assert row["throttled_reason"]
    assert (row["throttled"] is None) == row["throttled_reason"].startswith("no sensor")
    (side,) = [line for line in runner.out.results.path.parent.joinpath("telemetry.jsonl").read_text().splitlines()]
    assert '"sustained"' in side and '"clock_mhz"' in side


def test_agent_run_cpus_pins_the_workers_of_a_sweep_that_names_none(tmp_path: Path) -> None:
    sweep = tmp_path / "s.yml"
    sweep.write_text(yaml.safe_dump({k: v for k, v in ONE_TRIAL.items() if k != "cpus"}))
    done = subprocess.run([sys.executable, "-m", "agent.cli", "run", "--sweep", str(sweep), "--out",
                           str(tmp_path / "out"), "--cpus", str(CORE)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (row,) = ResultLog(tmp_path / "out" / "results.jsonl").rows()
    assert row["cpus"] == str(CORE) and row["threads"] == 1
