"""The causal analysis at the end of ``agent run`` / ``collector run``: written before the report,
skipped with one line when asked to or when its packages are missing, and never a failed run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.analysis import after_run
from collector.analysis.after_run import AFTER_RUN_SIMULATIONS, analyse_after_run
from tests.synthetic.known_effects import synthetic_rows, write_results


def test_it_writes_analysis_json_with_the_bounded_simulations(tmp_path: Path) -> None:
    write_results(tmp_path, synthetic_rows(120))
    line = analyse_after_run(tmp_path)
    assert line.startswith(f"analysis: {tmp_path / 'analysis.json'}"), line
    document = json.loads((tmp_path / "analysis.json").read_text())
    assert document["settings"]["refuters"]["simulations"] == AFTER_RUN_SIMULATIONS
    assert document["effects"]


def test_no_analysis_flag_says_how_to_make_one(tmp_path: Path) -> None:
    line = analyse_after_run(tmp_path, enabled=False)
    assert line.startswith("analysis: skipped (--no-analysis)") and "collector analyze" in line
    assert not (tmp_path / "analysis.json").exists()


def test_missing_packages_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = after_run.importlib.util.find_spec
    monkeypatch.setattr(after_run.importlib.util, "find_spec", lambda name: None if name == "dowhy" else real(name))
    line = analyse_after_run(tmp_path)
    assert line.startswith("analysis: skipped (dowhy not installed") and "\n" not in line


def test_data_that_cannot_be_analysed_is_a_line_not_a_failure(tmp_path: Path) -> None:
    rows = [r for r in synthetic_rows(60) if r["target_ratio"] == 0.0] or synthetic_rows(60)[:1]
    for row in rows:
        row["target_ratio"] = 0.0
    write_results(tmp_path, rows)
    line = analyse_after_run(tmp_path)
    assert line.startswith("analysis: none (") and "target_ratio" in line
