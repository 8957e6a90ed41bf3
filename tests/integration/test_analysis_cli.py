"""``collector analyze`` and ``agent analyze``: the commands, their output, their errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main as agent_main
from collector.cli import main as collector_main
from tests.synthetic.known_effects import synthetic_rows, write_results

QUICK = ["--simulations", "5", "--no-gcm"]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("device")
    write_results(folder, synthetic_rows(400, seed=8))
    return folder


def test_collector_still_says_its_version_and_lists_its_commands(capsys) -> None:
    for argv in (["--version"], ["--help"]):
        with pytest.raises(SystemExit) as exit_:
            collector_main(argv)
        assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "edgeprune collector" in out and "analyze" in out


def test_collector_analyze_writes_analysis_json_and_prints_a_summary(results: Path, capsys) -> None:
    assert collector_main(["analyze", "--results", str(results), *QUICK]) == 0
    out = capsys.readouterr().out
    assert "Causal effects" in out and "target_ratio" in out and "analysis:" in out
    document = json.loads((results / "analysis.json").read_text())
    # latency a method (2) x backend (2) x device class (3), memory a method (2), and three more
    assert document["format_version"] == 1 and len(document["effects"]) == 17


def test_agent_analyze_is_the_same_analysis(results: Path, tmp_path: Path, capsys) -> None:
    out_file = tmp_path / "a.json"
    assert agent_main(["analyze", "--results", str(results), "--out", str(out_file), "--json", *QUICK]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["effects"] == json.loads(out_file.read_text())["effects"]


def test_budgets_on_the_command_line_reach_the_recommendations(results: Path, tmp_path: Path, capsys) -> None:
    out_file = tmp_path / "a.json"
    argv = ["analyze", "--results", str(results), "--out", str(out_file), "--simulations", "3",
            "--max-accuracy-drop", "0.05", "--max-latency-ms", "40", "--details"]
    assert collector_main(argv) == 0
    assert "estimand: d/d[target_ratio]" in capsys.readouterr().out
    document = json.loads(out_file.read_text())
    assert document["settings"]["budgets"]["max_latency_ms"] == 40.0
    assert document["recommendations"] and all(r["latency_ms"] <= 40 for r in document["recommendations"]
                                               if r["ratio"] is not None)
    for r in document["recommendations"]:  # each measured from the raw samples, or withdrawn saying why
        if r["ratio"]:
            assert r["measured_verdict"] in ("faster", "slower", "no measurable difference", "not measured")
            assert r["measured_verdict"] == "not measured" or \
                r["measured_speedup_low"] <= r["measured_speedup"] <= r["measured_speedup_high"]
        elif r["ratio"] is None and "not measurably met" in r["limited_by"]:
            assert r["measured_verdict"] != "faster"


@pytest.mark.parametrize("argv, message", [
    (["analyze", "--results", "/nonexistent/results"], "no such results folder"),
    (["analyze", "--results", "{results}", "--graph", "{results}/missing.dot"], "cannot read graph file"),
    (["analyze", "--results", "{results}", "--what-if", "ratio=0.5"], "say which device_class"),
])
def test_a_user_mistake_is_one_line_and_exit_code_2(results: Path, capsys, argv: list[str], message: str) -> None:
    argv = [a.replace("{results}", str(results)) for a in argv]
    assert collector_main([*argv, *QUICK[:2]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("collector: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
