"""The agent as a user runs it: a real sweep in a subprocess, a kill, a resume, bad input."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from shared.resultlog import ResultLog
from tests.conftest import TINY_SWEEP

AGENT = [sys.executable, "-m", "agent.cli"]
N_TRIALS = 2 * 2 * 2  # methods x ratios x batch sizes


def agent(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AGENT, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "160"})


@pytest.mark.slow
def test_run_writes_every_trial_once_and_a_rerun_adds_nothing(tiny_sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = agent("run", "--sweep", str(tiny_sweep), "--out", str(out))
    assert first.returncode == 0, first.stderr
    rows = list(ResultLog(out / "results.jsonl").rows())
    assert len(rows) == N_TRIALS and len({r["trial_key"] for r in rows}) == N_TRIALS
    assert {r["status"] for r in rows} == {"ok"}
    by = {(r["method"], r["target_ratio"], r["batch_size"]): r for r in rows}
    dense, l1, structured = by[("l1_unstructured", 0.0, 1)], by[("l1_unstructured", 0.5, 1)], by[("structured", 0.5, 1)]
    assert dense["sparsity"] == pytest.approx(0.0, abs=1e-6) and dense["accuracy_top1"] > 0.5
    assert l1["params_reported"] == dense["params_reported"] and l1["params_nonzero"] < dense["params_nonzero"]
    assert structured["params_actual"] < 0.5 * dense["params_actual"]
    assert all(r["latency_p50_ms"] > 0 and r["n_samples"] >= 3 for r in rows)
    assert "variants (p50 latency in ms per batch size)" in first.stdout
    assert (out / "results.csv").read_text().count("\n") == N_TRIALS + 1
    assert len((out / "samples.jsonl").read_text().splitlines()) == N_TRIALS
    assert len((out / "layers.jsonl").read_text().splitlines()) == 4  # one line a variant
    run_id = json.loads((out / "run.json").read_text())["run_id"]

    again = agent("run", "--sweep", str(tiny_sweep), "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert "8 already done" in again.stdout
    rows_again = list(ResultLog(out / "results.jsonl").rows())
    assert rows_again == rows and {r["run_id"] for r in rows_again} == {run_id}


@pytest.mark.slow
def test_a_sweep_killed_midway_loses_nothing_and_resumes(tiny_sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    log = ResultLog(out / "results.jsonl")
    proc = subprocess.Popen([*AGENT, "run", "--sweep", str(tiny_sweep), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(log.completed_keys()) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = log.completed_keys()
    assert 2 <= len(kept) < N_TRIALS, "the kill should land mid-sweep"

    resumed = agent("run", "--sweep", str(tiny_sweep), "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    keys = [r["trial_key"] for r in log.rows()]
    assert len(keys) == N_TRIALS == len(set(keys)) and kept <= set(keys)
    variants = [json.loads(line)["variant_key"] for line in (out / "layers.jsonl").read_text().splitlines()]
    assert len(variants) == len(set(variants)), "the interrupted variant's layers are recorded once"


@pytest.mark.parametrize(("change", "field"), [
    ({"models": ["resnet19"]}, "models[0]: unknown model 'resnet19' (valid: alexnet"),
    ({"methods": ["snip"]}, "methods[0]: unknown method 'snip' (valid:"),
    ({"methods": [{"name": "l1_unstructured", "scope": "everywhere"}]}, "methods[0].scope"),
    ({"dataset": {"name": "cifar100"}}, "dataset.name: unknown dataset 'cifar100'"),
    ({"dataset": {"name": "mnist", "root": "/nonexistent"}}, "dataset.root: folder '/nonexistent' does not exist"),
    ({"backends": ["tvm"]}, "backends[0]: unknown backend 'tvm'"),
    ({"ratios": [1.0]}, "ratios[0]: 1.0 is outside [0.0, 1.0)"),
    ({"batch_sizes": [0]}, "batch_sizes[0]: 0 is outside [1, inf)"),
])
def test_bad_sweeps_give_one_line_and_exit_2(tmp_path: Path, change: dict, field: str) -> None:
    sweep = tmp_path / "bad.yml"
    sweep.write_text(yaml.safe_dump({**TINY_SWEEP, **change}))
    result = agent("run", "--sweep", str(sweep), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"agent: error: {sweep}: ") and field in lines[0]


def test_malformed_yaml_and_unwritable_output(tmp_path: Path, tiny_sweep: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("name: x\nmodels: [lenet5\n")
    result = agent("run", "--sweep", str(broken))
    assert result.returncode == 2 and "malformed YAML" in result.stderr and "Traceback" not in result.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = agent("run", "--sweep", str(tiny_sweep), "--out", str(blocker / "out"))
    assert result.returncode == 2 and "--out: cannot write to output folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_info_json() -> None:
    result = agent("info", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert {"cpu_model", "cores_logical", "mem_total_gb", "gpus", "device_class"} <= set(info)


def test_help_explains_every_command() -> None:
    result = agent("--help")
    assert result.returncode == 0 and "run" in result.stdout and "info" in result.stdout
    result = agent("run", "--help")
    assert "resumes" in result.stdout and "--sweep" in result.stdout
