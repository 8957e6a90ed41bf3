"""The adaptive sweep's planner and ``collector replay``, with real DoWhy on synthetic fleet rows."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from collector.analysis.adaptive import Planner
from shared.strategy import Strategy, parse_strategy
from collector.analysis.config import AnalysisConfig
from collector.analysis.frame import ANALYSIS_COLUMNS, DERIVED_FROM
from collector.analysis.graph import load_graph
from collector.analysis.replay import DESIGN_COLUMNS, replay
from shared.errors import UserError
from tests.synthetic.known_effects import synthetic_rows, write_results

FEW = AnalysisConfig().replace("refuters", bootstrap_simulations=30)
GRAPH = load_graph(None, ANALYSIS_COLUMNS, DERIVED_FROM)


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("grid")
    write_results(folder, synthetic_rows(900, seed=5))
    return folder


def _design(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{c: r[c] for c in DESIGN_COLUMNS} for r in rows])


def test_the_start_covers_every_host_model_and_method_with_its_unpruned_base() -> None:
    rows = synthetic_rows(600, seed=1)
    planner = Planner(_design(rows), Strategy("adaptive", 0.3), GRAPH, FEW)
    start = planner._start()
    picked = {k for k, _ in start}
    chosen = [r for r in rows if (r["host"], r["trial_key"]) in picked]
    cells = {(r["host"], r["model"], r["method"]) for r in rows}
    assert {(r["host"], r["model"], r["method"]) for r in chosen} == cells
    lowest = {c: min(r["target_ratio"] for r in rows if (r["host"], r["model"], r["method"]) == c) for c in cells}
    assert all(any(r["target_ratio"] == lowest[c] for r in chosen if (r["host"], r["model"], r["method"]) == c)
               for c in cells)
    assert all(why.startswith("start: space-filling") for _, why in start)


def test_a_replay_keeps_its_budget_and_says_why_each_trial_was_chosen(grid: Path) -> None:
    result = replay(grid, Strategy("adaptive", 0.4), seeds=2, config=FEW)
    assert result.trials_used <= 0.4 * result.trials_total
    keys = [c.key for c in result.choices]
    assert len(keys) == len(set(keys)) == result.trials_used
    assert [c.order for c in result.choices] == list(range(len(keys)))
    assert any(c.round > 0 and "x the tolerance" in c.reason or "not estimable" in c.reason for c in result.choices)
    data = result.to_json()
    assert {"trials_total", "trials_used", "effects"} <= set(data)
    effect = data["effects"][0]
    assert {"treatment", "outcome", "full", "adaptive", "inside", "adaptive_abs_error", "random_abs_error"} <= set(effect)
    assert set(effect["full"]) == {"estimate", "ci_low", "ci_high"}
    # the synthetic truth is -8 ms per unit of ratio in every group (12: method x backend x
    # device class): 95% intervals of 40% of the rows, so about one in twenty may miss
    latency = [e for e in result.effects if e.outcome == "latency_p50_ms" and e.adaptive is not None]
    assert len(latency) == 12
    assert sum(e.inside for e in latency) >= 10
    assert sum(e.adaptive.ci_low <= -8 <= e.adaptive.ci_high for e in latency) >= 10


def test_a_trial_above_an_oom_is_not_spent_on_for_latency() -> None:
    rows = [r for r in synthetic_rows(900, seed=2) if r["backend"] == "torch"]
    oom = next(r for r in rows if r["status"] == "oom")
    same = [r for r in rows if (r["host"], r["variant_key"], r["backend"]) == (oom["host"], oom["variant_key"], oom["backend"])
            and r["batch_size"] > oom["batch_size"]]
    planner = Planner(_design(rows), Strategy("adaptive", 1.0, targets=("ratio_on_latency",)), GRAPH, FEW)
    by_key = {(r["host"], r["trial_key"]): r for r in rows}
    planner._record([((oom["host"], oom["trial_key"]), "test")], 0, lambda keys: [by_key[k] for k in keys])
    latency = next(q for q in planner.questions if q.outcome == "latency_p50_ms")
    open_keys = set(planner._open(latency)["_key"])
    assert all((r["host"], r["trial_key"]) not in open_keys for r in same)


@pytest.mark.parametrize("value, message", [
    ({"kind": "smart"}, "strategy.kind: unknown kind 'smart'"),
    ({"kind": "adaptive", "budget": 1.5}, "strategy.budget: wants a share"),
    ({"kind": "adaptive", "targets": ["ratio_on_speed"]}, "strategy.targets: unknown question 'ratio_on_speed'"),
    ({"kind": "adaptive", "budgett": 0.4}, "strategy: unknown key 'budgett'"),
])
def test_a_bad_strategy_is_one_line_naming_the_field(value: dict, message: str) -> None:
    with pytest.raises(UserError, match=message) as err:
        parse_strategy(value, "sweep.yml")
    assert str(err.value).startswith("sweep.yml: ") and "\n" not in str(err.value)


def _collector(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "collector.cli", *args], capture_output=True, text=True, timeout=300)


def test_collector_replay_prints_one_json_object(grid: Path) -> None:
    done = _collector("replay", "--results", str(grid), "--budget", "0.4", "--seeds", "2", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["trials_total"] > data["trials_used"] > 0 and data["effects"]


def test_collector_replay_bad_input_is_exit_2_one_line(tmp_path: Path) -> None:
    done = _collector("replay", "--results", str(tmp_path), "--budget", "0.4")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and str(tmp_path) in done.stderr
    done = _collector("replay", "--results", str(tmp_path), "--budget", "0")
    assert done.returncode == 2 and "command line: strategy.budget: wants a share" in done.stderr


def test_the_report_says_when_results_come_from_an_adaptive_sweep(grid: Path, tmp_path: Path) -> None:
    from collector.report.data import load_report_data
    from collector.report.model import Budgets
    from collector.report.sections import strategy as section
    assert section.build(load_report_data(grid), Budgets()) is None  # a full grid: no such section
    folder = tmp_path / "adaptive"
    rows = synthetic_rows(200, seed=7)
    write_results(folder, rows[:80])
    lines = [{"order": i, "host": r["host"], "trial_key": r["trial_key"], "round": i // 40,
              "reason": "start: space-filling design" if i < 40 else "ratio_on_latency: CI 1..2, 3.0x the tolerance",
              "grid_trials": 200, "budget": 0.4} for i, r in enumerate(rows[:80])]
    (folder / "strategy.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    built = section.build(load_report_data(folder), Budgets())
    assert built is not None and "80 trials chosen of 1200 in the grid (7%) across 6 host(s)" in built.summary[0]  # 200 a host
    warning = built.blocks[0]
    assert warning.kind == "warn" and "a setting not run is missing, not slow" in warning.text
