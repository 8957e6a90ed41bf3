"""``agent validate``: each validation end to end on a small problem, and bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import main

# small and quick: 1 training epoch on 256 digits, no fine-tuning
QUICK = ["--train-epochs", "1", "--finetune-epochs", "0", "--train-samples", "256", "--eval-samples", "64"]


def rows(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "validation.jsonl").read_text().splitlines()]


def test_phase_shift_writes_points_and_a_transition_per_method(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "phase-shift", "--out", str(tmp_path), "--ratios", "0.5", "0.9", *QUICK]) == 0
    written = rows(tmp_path)
    points = [r for r in written if r["kind"] == "point"]
    assert {(r["method"], r["setting"]) for r in points} == {
        (m, s) for m in ("causal", "l1_unstructured") for s in (0.5, 0.9)}
    assert all(r["sparsity"] == pytest.approx(r["setting"], abs=1e-4) for r in points)  # matched
    transitions = [r for r in written if r["kind"] == "transition"]
    assert [r["method"] for r in transitions] == ["causal", "l1_unstructured"]
    assert all(r["validation"] == "phase-shift" and r["model"] == "lenet5" for r in written)
    assert written[0]["causal_options"]["stop"] == "ratio"
    assert "sharpness" in capsys.readouterr().out


def test_phase_shift_with_l1_coefficients_matches_magnitude_to_causal(tmp_path: Path) -> None:
    assert main(["validate", "phase-shift", "--out", str(tmp_path), "--l1-coeffs", "0.05", "0.5", *QUICK]) == 0
    points = [r for r in rows(tmp_path) if r["kind"] == "point"]
    for setting in (0.05, 0.5):
        causal, magnitude = (next(r for r in points if r["method"] == m and r["setting"] == setting)
                             for m in ("causal", "l1_unstructured"))
        assert magnitude["sparsity"] == pytest.approx(causal["sparsity"], abs=1e-4)
    assert rows(tmp_path)[0]["causal_options"]["stop"] == "zero"


def test_hessian_gives_sorted_spectra_of_three_models(tmp_path: Path) -> None:
    args = ["validate", "hessian", "--out", str(tmp_path), "--top-k", "3", "--lanczos-iterations", "8",
            "--samples", "64", *QUICK]
    assert main(args) == 0
    spectra = rows(tmp_path)
    assert [r["model"] for r in spectra] == ["base", "causal", "l1_unstructured"]
    for r in spectra:
        values = r["eigenvalues"]
        assert len(values) == 3 and values == sorted(values, reverse=True) and values[0] > 0


def test_mask_overlap_cells_add_up(tmp_path: Path) -> None:
    assert main(["validate", "mask-overlap", "--out", str(tmp_path), "--ratios", "0.5", "0.8", *QUICK]) == 0
    for r in rows(tmp_path):
        assert sum(sum(line) for line in r["matrix"]) == pytest.approx(1.0)
        assert r["both"] + r["first_only"] == pytest.approx(r["causal_sparsity"])
        assert r["both"] + r["second_only"] == pytest.approx(r["magnitude_sparsity"])


@pytest.mark.parametrize(("args", "message"), [
    (["phase-shift", "--ratios", "0.5", "1.5"], "--ratios: 1.5 is outside (0, 1)"),
    (["phase-shift", "--ratios", "0.5"], "--ratios: a curve needs at least two settings"),
    (["mask-overlap", "--causal", "iterations=0"], "--causal: causal.iterations: 0 is outside [1, inf]"),
    (["mask-overlap", "--causal", "stop=zero"], "give --l1-coeffs"),
    (["mask-overlap", "--causal", "nonsense"], "--causal: expected KEY=VALUE"),
    (["mask-overlap", "--causal", "colour=red"], "unknown option 'colour'"),
    (["hessian", "--top-k", "10", "--lanczos-iterations", "5"], "--lanczos-iterations: must be at least"),
    (["hessian", "--model", "resnet19"], "unknown model 'resnet19'"),
    (["hessian", "--threads", "0"], "--threads: must be at least 1"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", *args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "validation.jsonl").exists()


def test_an_out_that_is_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("")
    assert main(["validate", "mask-overlap", "--out", str(target)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_help_explains_the_validations() -> None:
    done = subprocess.run([sys.executable, "-m", "agent.cli", "validate", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    for word in ("phase-shift", "hessian", "mask-overlap", "validation.jsonl", "magnitude"):
        assert word in done.stdout
