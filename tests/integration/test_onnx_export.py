"""ONNX export with real torch and onnxruntime: a dynamic batch axis, checked, failures as data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from agent import export
from agent.export import EXPORT_OPSET, INPUT_NAME, TOLERANCE, export_onnx
from agent.models import build_model, classifier_head, prunable_layers
from agent.pruning import check_method_options, prune_model
from shared.sweep import MethodSpec


def inputs(n: int, channels: int = 1) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((n, channels, 32, 32), dtype=np.float32)


def pruned_resnet18() -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("resnet18", 10, 1, 32).eval()
    spec = MethodSpec("structured", check_method_options(MethodSpec("structured"), "t", "m"))
    return prune_model(model, spec, 0.5, 1, 0, prunable_layers(model), classifier_head(model),
                       torch.randn(1, 1, 32, 32), lambda m: None).eval()


@pytest.mark.parametrize("make", [lambda: build_model("lenet5", 10, 1, 32), pruned_resnet18],
                         ids=["lenet5", "resnet18-structured-0.5"])
def test_an_export_matches_torch_at_any_batch_size(tmp_path: Path, make) -> None:
    torch.manual_seed(0)
    model = make().eval()
    path = tmp_path / "model.onnx"
    result = export_onnx(model, inputs(5), path)
    assert result.ok and result.error is None and result.max_abs_diff <= TOLERANCE
    proto = onnx.load(str(path))
    assert [(o.domain, o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [("", EXPORT_OPSET)]
    assert not proto.graph.initializer or all(not t.external_data for t in proto.graph.initializer)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert isinstance(session.get_inputs()[0].shape[0], str)  # symbolic: the batch axis is dynamic
    for batch in (1, 7):
        got = session.run(None, {INPUT_NAME: inputs(batch)})[0]
        with torch.inference_mode():
            want = model(torch.from_numpy(inputs(batch))).numpy()
        assert got.shape == (batch, 10) and np.abs(got - want).max() <= TOLERANCE


def test_an_exporter_failure_is_returned_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(model, example, path):
        path.write_bytes(b"half a file")
        raise RuntimeError("Failed to convert the exported program: unsupported op aten::foo")

    monkeypatch.setattr(export, "_export", broken)
    result = export_onnx(build_model("lenet5", 10, 1, 32), inputs(5), tmp_path / "model.onnx")
    assert result.status == "failed" and not (tmp_path / "model.onnx").exists()
    assert result.error == "RuntimeError: Failed to convert the exported program: unsupported op aten::foo"
    assert result.meta()["status"] == "failed" and result.meta()["opset"] == EXPORT_OPSET


def test_an_export_that_differs_from_torch_is_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "max_abs_diff", lambda model, path, x: 3e-3)
    result = export_onnx(build_model("lenet5", 10, 1, 32), inputs(5), tmp_path / "model.onnx")
    assert result.status == "failed" and result.max_abs_diff == 3e-3
    assert result.error == f"max abs difference 0.003 against torch exceeds {TOLERANCE:g}"
    assert not (tmp_path / "model.onnx").exists()
