"""Export a built variant to ONNX with a dynamic batch axis, and check the file.

torch 2.14's exporter is the dynamo one (it needs ``onnxscript``); its ``dynamic_shapes`` are
keyed by the name of the model's ``forward()`` argument, and ``external_data=False`` keeps the
weights inside the one file. Every export is checked twice: ``onnx.checker`` (full check,
shapes included) and the largest absolute difference of the logits against torch on a sample
batch whose size differs from the export's (so the batch axis is proven dynamic), run by
onnxruntime on the CPU. A failure is returned as data (:class:`ExportResult`), never raised:
the variant's torch trials still run, its onnxruntime trials become error rows with the reason.
"""
from __future__ import annotations

import inspect
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

# Opset 18: what onnxruntime >= 1.14 runs (NVIDIA's Jetson wheels for JetPack 5 are 1.15-1.17,
# which stop at opset 19 or 20); the exporter's own default is newer.
EXPORT_OPSET = 18
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
TOLERANCE = 1e-4  # largest absolute difference of a logit against torch
EXPORT_BATCH = 2  # not 1: torch.export would specialise a batch of 1 to a constant
ERROR_CHARS = 500


@dataclass(frozen=True)
class ExportResult:
    """How the export went; stored in the artifact's meta.json as ``onnx``."""

    status: str  # ok | failed | skipped
    opset: int
    error: str | None = None
    max_abs_diff: float | None = None
    export_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def meta(self) -> dict[str, Any]:
        return {**asdict(self), "input_name": INPUT_NAME, "output_name": OUTPUT_NAME,
                "tolerance": TOLERANCE}


def _forward_argument(model: nn.Module) -> str:
    """The name of the input argument of ``forward`` (``x`` for torchvision's models)."""
    return next(iter(inspect.signature(model.forward).parameters))


def _export(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    batch = torch.export.Dim("batch", min=1)
    # verbose=False: no progress lines on stdout; no exporter warning was seen on any model here
    torch.onnx.export(model, (example,), str(path), dynamo=True, external_data=False, verbose=False,
                      opset_version=EXPORT_OPSET, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                      dynamic_shapes={_forward_argument(model): {0: batch}})


def max_abs_diff(model: nn.Module, path: Path, inputs: np.ndarray) -> float:
    """Largest |logit(onnxruntime) - logit(torch)| on ``inputs``, both on the CPU."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: inputs})[0]
    with torch.inference_mode():
        want = model(torch.from_numpy(inputs)).numpy()
    if got.shape != want.shape:
        raise ValueError(f"onnxruntime gives logits of shape {got.shape}, torch {want.shape}")
    return float(np.max(np.abs(got - want)))


def export_onnx(model: nn.Module, inputs: np.ndarray, path: Path) -> ExportResult:
    """Export ``model`` (on the CPU, eval mode) to ``path`` and check it on ``inputs`` (float32,
    a few samples, not :data:`EXPORT_BATCH` of them). On failure ``path`` is removed."""
    started = time.perf_counter()
    model = model.to("cpu").eval()
    example = torch.from_numpy(np.resize(inputs, (EXPORT_BATCH, *inputs.shape[1:])))
    try:
        _export(model, example, path)
        onnx.checker.check_model(str(path), full_check=True)
        diff = max_abs_diff(model, path, inputs)
    except Exception as exc:  # noqa: BLE001 - whatever the exporter raises is the row's reason
        path.unlink(missing_ok=True)
        message = f"{type(exc).__name__}: {exc}".strip()
        return ExportResult("failed", EXPORT_OPSET, message[:ERROR_CHARS], None, time.perf_counter() - started)
    if not diff <= TOLERANCE:  # also catches NaN
        path.unlink(missing_ok=True)
        return ExportResult("failed", EXPORT_OPSET, f"max abs difference {diff:.3g} against torch exceeds "
                            f"{TOLERANCE:g}", diff, time.perf_counter() - started)
    return ExportResult("ok", EXPORT_OPSET, None, diff, time.perf_counter() - started)
