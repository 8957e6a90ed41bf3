"""The runner with real models: failures become rows and the sweep goes on."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from agent.models import build_model
from agent.runner import SweepRunner
from shared.errors import UserError
from shared.sweep import parse_sweep
from tests.conftest import TINY_SWEEP

ONE_METHOD = {**TINY_SWEEP, "methods": ["l1_unstructured"], "ratios": [0.5]}


def run(tmp_path: Path, data: dict, cache: Path) -> list[dict]:
    runner = SweepRunner(parse_sweep(data, str(tmp_path / "s.yml")), tmp_path / "out", cache)
    runner.run()
    return list(runner.out.results.rows())


def test_a_variant_that_fails_to_build_is_error_rows(tmp_path: Path, private_cache: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("the dependency graph broke")

    monkeypatch.setattr("agent.runner.build_variant", broken)
    rows = run(tmp_path, ONE_METHOD, private_cache)
    assert len(rows) == 2 and {r["status"] for r in rows} == {"error"}
    assert all("build failed: RuntimeError: the dependency graph broke" in r["error"] for r in rows)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this host has a GPU, so cuda is not missing")
def test_a_device_this_host_lacks_is_a_skipped_row(tmp_path: Path, private_cache: Path) -> None:
    rows = run(tmp_path, {**ONE_METHOD, "devices": ["cpu", "cuda"]}, private_cache)
    by_device = {}
    for row in rows:
        by_device.setdefault(row["device"], []).append(row)
    assert {r["status"] for r in by_device["cpu"]} == {"ok"}
    assert {r["status"] for r in by_device["cuda"]} == {"skipped"}
    assert "not available on this host" in by_device["cuda"][0]["error"]


def test_local_weights_are_used_instead_of_training(tmp_path: Path, private_cache: Path) -> None:
    torch.manual_seed(123)
    model = build_model("lenet5", 10, 1, 32)
    torch.nn.init.zeros_(model.classifier[-1].weight)  # a model that always says the same class
    torch.nn.init.zeros_(model.classifier[-1].bias)
    torch.save(model.state_dict(), tmp_path / "lenet.pt")
    data = {**TINY_SWEEP, "methods": ["l1_unstructured"], "ratios": [0.0], "batch_sizes": [1],
            "train": {"weights": {"lenet5": "lenet.pt"}}}
    rows = run(tmp_path, data, private_cache)
    assert rows[0]["accuracy_top1"] < 0.2  # not a freshly trained model


def test_weights_that_do_not_fit_stop_the_run_with_a_clear_error(tmp_path: Path, private_cache: Path) -> None:
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "other.pt")
    data = {**ONE_METHOD, "train": {"weights": {"lenet5": "other.pt"}}}
    with pytest.raises(UserError, match=r"train.weights.lenet5: .*other.pt' does not fit lenet5"):
        run(tmp_path, data, private_cache)


def test_a_missing_weights_file_is_refused_when_the_sweep_loads(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"train.weights.lenet5: weights file .* does not exist"):
        parse_sweep({**ONE_METHOD, "train": {"weights": {"lenet5": "nope.pt"}}}, str(tmp_path / "s.yml"))
