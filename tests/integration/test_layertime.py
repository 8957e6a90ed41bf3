"""Per-layer time on real models: `agent profile` (a variant beside its original) and the
opt-in sweep option (a profile beside every trial), with torch.profiler and onnxruntime's profiler."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from agent.cli import main
from agent.runner import SweepRunner
from shared.layertime import ORIGINAL, VARIANT, read_records
from shared.plan import variants
from shared.resultsdir import ResultsFolder
from shared.sweep import parse_sweep
from tests.conftest import TINY_SWEEP

SWEEP = {**TINY_SWEEP, "methods": [{"name": "structured", "importance": "l1"}], "ratios": [0.0, 0.5],
         "batch_sizes": [2], "backends": ["torch", "onnxruntime"], "telemetry": {"perf": False}}


def records(folder: Path) -> list:
    lines = [json.loads(line) for line in (folder / ResultsFolder.LAYER_TIME).read_text().splitlines()]
    found = read_records(lines)
    assert len(found) == len(lines)  # every line is a record the report can read
    return found


def test_agent_profile_sets_the_pruned_variant_beside_its_original(tmp_path: Path, private_cache: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    sweep = tmp_path / "sweep.yml"
    sweep.write_text(yaml.safe_dump(SWEEP))
    pruned = next(v for v in variants(parse_sweep(SWEEP, str(sweep))) if v.target_ratio == 0.5)
    assert main(["profile", "--sweep", str(sweep), "--variant", pruned.key[:8], "--out", str(tmp_path / "out"),
                 "--passes", "3"]) == 0
    found = records(tmp_path / "out")
    assert {(r.backend, r.role) for r in found} == {(b, role) for b in ("torch", "onnxruntime")
                                                      for role in (ORIGINAL, VARIANT)}
    for record in found:
        assert record.batch_size == 2 and record.passes == 3 and record.trial_key is None
        convs = [op for op in record.ops if op.kind == "conv"]
        assert convs and all(op.time_ms > 0 for op in convs), record
    assert {r.variant_key for r in found if r.role == VARIANT} == {pruned.key}
    assert "where the time went" in capsys.readouterr().out


def test_the_sweep_option_profiles_beside_each_trial(tmp_path: Path, private_cache: Path) -> None:
    data = {**SWEEP, "ratios": [0.0], "telemetry": {"perf": False, "layer_time": True}}
    runner = SweepRunner(parse_sweep(data, str(tmp_path / "s.yml")), tmp_path / "out", private_cache)
    summary = runner.run()
    rows = list(runner.out.results.rows())
    assert {r["status"] for r in rows} == {"ok"} and len(rows) == 2
    found = records(tmp_path / "out")
    assert sorted(r.trial_key for r in found) == sorted(r["trial_key"] for r in rows)
    assert {r.profiler for r in found} == {"torch.profiler", "onnxruntime"}
    assert all(any(op.kind == "conv" for op in r.ops) for r in found)
    assert summary.stages.seconds["layer time pass"] > 0  # counted apart from the timed region


def test_an_unknown_variant_is_one_line_naming_the_file_and_the_field(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    sweep = tmp_path / "sweep.yml"
    sweep.write_text(yaml.safe_dump(SWEEP))
    assert main(["profile", "--sweep", str(sweep), "--variant", "nope", "--out", str(tmp_path / "out")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"{sweep}: --variant: no variant of the sweep has key 'nope'; its variants: " in line
    assert "lenet5 structured r=0.5" in line
    assert not (tmp_path / "out" / ResultsFolder.LAYER_TIME).exists()
