"""Faults the tests really cause: an OOM under a memory cap, a hang, a crash. After each,
the agent goes on and the later trials are ok."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent.memlimit import make_trial_group
from shared.resultlog import ResultLog

# Random weights on synthetic data: no training, so each test is a few seconds of work.
SYNTHETIC = {
    "name": "faults", "dataset": {"name": "synthetic", "samples": 8},
    "models": ["resnet18"], "methods": ["l1_unstructured"], "ratios": [0.0],
    "timing": {"warmup_s": 0, "min_reps": 2, "min_time_s": 0, "max_time_s": 0.2, "retry_disturbed": 0},
}


def run_agent(tmp_path: Path, sweep: dict, *args: str, env: dict[str, str] | None = None) -> list[dict]:
    path = tmp_path / "sweep.yml"
    path.write_text(yaml.safe_dump({**SYNTHETIC, **sweep}))
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "agent.cli", "run", "--sweep", str(path), "--out", str(out), *args],
                            capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    return sorted(ResultLog(out / "results.jsonl").rows(), key=lambda r: r["batch_size"])


def statuses(rows: list[dict]) -> list[tuple[int, str]]:
    return [(r["batch_size"], r["status"]) for r in rows]


@pytest.mark.slow
def test_a_batch_that_does_not_fit_the_cap_is_an_oom_and_larger_ones_are_skipped(tmp_path: Path) -> None:
    # measured here: batch 1 peaks at 462 MiB (the runtime included), batch 512 at 1,131 MiB
    rows = run_agent(tmp_path, {"batch_sizes": [1, 512, 1024]}, "--mem-limit", "700MiB")
    assert statuses(rows) == [(1, "ok"), (512, "oom"), (1024, "skipped")]
    oom = rows[1]
    assert oom["is_oom"] is True and oom["mem_limit_mb"] == 700.0
    assert rows[2]["error"].startswith("after_oom")
    assert all(r["device_mem_gb"] == pytest.approx(700 / 1024) for r in rows)
    group, why_not = make_trial_group("edgeprune-probe")
    if group is not None:  # where the agent may make a cgroup, the kernel's word confirms it
        group.remove()
        assert "OOM killer (cgroup oom_kill" in oom["error"] and oom["mem_cap_method"].startswith("cgroup")
    else:
        pytest.skip(f"OOM row checked; no cgroup to confirm it here: {why_not}")


@pytest.mark.slow
def test_continue_after_oom_runs_the_larger_batches_anyway(tmp_path: Path) -> None:
    rows = run_agent(tmp_path, {"batch_sizes": [1, 512, 1024], "continue_after_oom": True},
                     "--mem-limit", "700MiB")
    assert statuses(rows) == [(1, "ok"), (512, "oom"), (1024, "oom")]


@pytest.mark.slow
def test_without_a_cap_the_same_batch_runs(tmp_path: Path) -> None:
    rows = run_agent(tmp_path, {"batch_sizes": [512], "telemetry": {"perf": False}})
    assert statuses(rows) == [(512, "ok")] and rows[0]["mem_limit_mb"] is None
    assert rows[0]["peak_rss_mb"] > 700  # it did need more than the cap of the test above


def test_a_hanging_trial_is_killed_at_its_timeout_and_the_next_one_runs(tmp_path: Path) -> None:
    rows = run_agent(tmp_path, {"batch_sizes": [1, 2, 4], "trial_timeout_s": 10},
                     env={"EDGEPRUNE_TEST_FAULT": "hang@2"})
    assert statuses(rows) == [(1, "ok"), (2, "timeout"), (4, "ok")]
    assert "no result within 10 s" in rows[1]["error"]


def test_a_worker_killed_by_a_signal_is_a_crash_and_the_next_one_runs(tmp_path: Path) -> None:
    rows = run_agent(tmp_path, {"batch_sizes": [1, 2, 4]}, env={"EDGEPRUNE_TEST_FAULT": "crash@2"})
    assert statuses(rows) == [(1, "ok"), (2, "crash"), (4, "ok")]
    assert "killed by signal SIGSEGV" in rows[1]["error"]
    assert "Fatal Python error: Segmentation fault" in rows[1]["error"]  # the worker's stderr tail


def test_an_accuracy_pass_that_dies_costs_the_accuracy_only(tmp_path: Path) -> None:
    # onnxruntime: torch on the CPU that built the model would reuse the build's accuracy, no pass
    rows = run_agent(tmp_path, {"batch_sizes": [1, 2], "backends": ["onnxruntime"]},
                     env={"EDGEPRUNE_TEST_FAULT": "crash@accuracy"})
    assert statuses(rows) == [(1, "ok"), (2, "ok")]
    for row in rows:
        assert row["accuracy_top1_device"] is None
        assert "crash evaluating in batches of 2: killed by signal SIGSEGV" in json.loads(row["probe_errors"])["accuracy_device"]


def test_the_accuracy_pass_fills_every_row(tmp_path: Path) -> None:
    digits = {"dataset": {"name": "digits", "train_samples": 256, "eval_samples": 100}, "models": ["lenet5"],
              "train": {"epochs": 2}, "batch_sizes": [1, 2]}
    rows = run_agent(tmp_path, digits)
    # torch on the CPU it was built on: the device's accuracy is the build's, on every row
    assert [r["accuracy_top1_device"] for r in rows] == [rows[0]["accuracy_top1"]] * 2
    assert rows[0]["eval_samples_device"] == 100
