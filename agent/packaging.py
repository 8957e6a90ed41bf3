"""Turn a built variant into an artifact: model.pt, model.onnx, eval.npz and meta.json.

Runs where the variant was built (torch is needed); see agent/artifacts.py for the layout
and the hash. The evaluation set is the first samples of the sweep's evaluation split (the
split is seeded, so every device gets the same images), at most :data:`EVAL_MAX_SAMPLES`
and :data:`EVAL_MAX_BYTES`.
"""
from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agent.accuracy import predict_all, topk_accuracy
from agent.artifacts import EVAL_SET, FORMAT, MODEL_ONNX, MODEL_PT, Artifact, ArtifactStore
from agent.build import BuiltVariant
from agent.data import DataBundle
from agent.export import EXPORT_OPSET, ExportResult, export_onnx
from agent.fingerprint import package_versions
from agent.modelio import save_model
from shared.plan import Variant
from shared.resultsdir import utc_now
from shared.version import __version__

EVAL_MAX_SAMPLES = 512
EVAL_MAX_BYTES = 32 * 2**20  # 224 px colour images are 0.6 MB each: ~55 of them
CHECK_SAMPLES = 5  # the export's check batch (odd: not the export's batch of 2)
VERSIONED = ("torch", "torchvision", "torch-pruning", "onnx", "onnxscript", "onnxruntime")


def eval_arrays(data: DataBundle) -> tuple[np.ndarray, np.ndarray]:
    """(inputs float32 N x C x H x W, labels int64 N): the first samples of the eval split."""
    first_input = data.test[0][0]
    limit = min(len(data.test), EVAL_MAX_SAMPLES, max(1, EVAL_MAX_BYTES // (first_input.numel() * 4)))
    items = [data.test[i] for i in range(limit)]
    inputs = torch.stack([x for x, _ in items]).numpy().astype(np.float32)
    labels = np.asarray([int(y) for _, y in items], dtype=np.int64)
    return inputs, labels


def _torch_logits(model: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    def predict(inputs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(inputs)).numpy()
    return predict


EXPORT_SKIPPED = "not exported: the sweep had no onnxruntime backend (`agent build` always exports)"


def package_variant(store: ArtifactStore, variant: Variant, built: BuiltVariant, data: DataBundle,
                    method_options: Mapping[str, Any], export: bool = True) -> Artifact:
    """Write ``built`` into ``store`` and return the verified artifact. ``export=False``
    leaves model.onnx out (a torch-only sweep: the dynamo export costs seconds a variant)."""
    model = built.model.to("cpu").eval()
    spec = {"name": variant.model, "num_classes": data.num_classes, "in_channels": data.in_channels,
            "input_size": variant.input_size}

    def fill(folder: Path) -> dict[str, Any]:
        save_model(model, folder / MODEL_PT)
        inputs, labels = eval_arrays(data)
        np.savez_compressed(folder / EVAL_SET, inputs=inputs, labels=labels)
        exported = (export_onnx(model, inputs[:CHECK_SAMPLES], folder / MODEL_ONNX) if export
                    else ExportResult("skipped", EXPORT_OPSET, error=EXPORT_SKIPPED))
        top1, top5 = topk_accuracy(predict_all(_torch_logits(model), inputs), labels)
        return {
            "format": FORMAT, "variant_key": variant.key, "label": variant.label,
            "variant": dict(variant.identity()), "base_model_key": variant.base_model_key,
            "method_options": dict(method_options), "model_spec": spec,
            "columns": {**built.columns, "num_classes": data.num_classes}, "layers": built.layers,
            "eval": {"samples": len(labels), "has_labels": data.has_labels,
                     "accuracy_top1": top1 if data.has_labels else None,
                     "accuracy_top5": top5 if data.has_labels else None},
            "onnx": exported.meta(),
            "created_at": utc_now(), "host": socket.gethostname(), "agent_version": __version__,
            "versions": package_versions(VERSIONED),
        }

    return store.write(fill)
