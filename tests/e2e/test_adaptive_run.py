"""An adaptive sweep as a user runs it: `agent run --strategy adaptive --budget`, a resume, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from shared.resultlog import ResultLog
from tests.conftest import TINY_SWEEP
from tests.e2e.test_agent_cli import agent

# 2 methods x 4 ratios x 3 batch sizes = 24 trials in the grid
GRID = {**TINY_SWEEP, "ratios": [0.0, 0.3, 0.6, 0.9], "batch_sizes": [1, 8, 32]}


@pytest.mark.slow
def test_an_adaptive_run_keeps_its_budget_says_why_and_resumes(tmp_path: Path) -> None:
    sweep = tmp_path / "grid.yml"
    sweep.write_text(yaml.safe_dump(GRID))
    out = tmp_path / "out"
    first = agent("run", "--sweep", str(sweep), "--out", str(out), "--strategy", "adaptive", "--budget", "0.5")
    assert first.returncode == 0, first.stderr
    rows = list(ResultLog(out / "results.jsonl").rows())
    choices = [json.loads(line) for line in (out / "strategy.jsonl").read_text().splitlines()]
    assert 0 < len(rows) <= 12
    assert [c["trial_key"] for c in choices] == [r["trial_key"] for r in rows]
    assert [c["order"] for c in choices] == list(range(len(choices)))
    assert choices[0]["reason"].startswith("start: space-filling")
    # the start covers both methods, each with its unpruned base
    assert {(r["method"], r["target_ratio"]) for r in rows} >= {("l1_unstructured", 0.0), ("structured", 0.0)}
    assert "adaptive sweep: at most 50% of the grid's trials" in first.stdout

    again = agent("run", "--sweep", str(sweep), "--out", str(out), "--strategy", "adaptive", "--budget", "0.5")
    assert again.returncode == 0, again.stderr
    assert f"({len(rows)} already done; this run: nothing new)" in again.stdout
    assert list(ResultLog(out / "results.jsonl").rows()) == rows
    assert len((out / "strategy.jsonl").read_text().splitlines()) == len(choices)


@pytest.mark.parametrize("args, message", [
    (["--strategy", "adaptive", "--budget", "1.5"], "command line: strategy.budget: wants a share of the grid's trials"),
    (["--budget", "0.5"], "command line: strategy.budget: a grid runs every trial"),
])
def test_a_bad_budget_is_one_line_exit_2(tiny_sweep: Path, tmp_path: Path, args: list[str], message: str) -> None:
    done = agent("run", "--sweep", str(tiny_sweep), "--out", str(tmp_path / "out"), *args)
    assert done.returncode == 2 and done.stderr.strip() == f"agent: {message}" or message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
