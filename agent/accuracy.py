"""Accuracy from logits, and the device's own accuracy on an artifact's eval.npz.

The build records accuracy on the whole evaluation split with torch; each worker measures
it again with its backend on its device, on the samples shipped in eval.npz, so a device
whose numerics differ (a different runtime, reduced precision, a kernel bug) shows it.
"""
from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.artifacts import EVAL_SET, Artifact

if TYPE_CHECKING:
    from agent.backends.base import Backend

EVAL_BATCH = 64  # small enough for any device that can hold the model at all


@dataclass(frozen=True)
class EvalSet:
    inputs: np.ndarray  # float32, N x C x H x W, normalised as in training
    labels: np.ndarray  # int64, N
    has_labels: bool  # False for synthetic data: random labels, accuracy means nothing

    @classmethod
    def load(cls, artifact: Artifact) -> EvalSet:
        with np.load(artifact.file(EVAL_SET), allow_pickle=False) as data:
            inputs, labels = data["inputs"], data["labels"]
        return cls(inputs, labels, bool(artifact.meta["eval"]["has_labels"]))


def topk_accuracy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float | None]:
    """Top-1 and top-5 (None with 5 classes or fewer) of ``logits`` (N x classes)."""
    if len(labels) == 0:
        raise ValueError("the evaluation set is empty")
    classes = logits.shape[1]
    k = min(5, classes)
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    top1 = float(np.mean(top[:, 0] == labels))
    top5 = float(np.mean((top == labels[:, None]).any(axis=1))) if classes > 5 else None
    return top1, top5


def same_as_build(meta: Mapping[str, Any], backend: str, device: str) -> dict[str, Any] | None:
    """The build's accuracy, where measuring it again would repeat the build's very computation
    (torch, on the CPU of the machine that built the artifact, with the same torch: the build
    evaluated exactly eval.npz); None where the device must measure it itself."""
    from agent.fingerprint import package_versions  # metadata only: no torch import

    built_with = meta.get("versions", {}).get("torch")
    if (backend != "torch" or device != "cpu" or meta.get("host") != socket.gethostname()
            or built_with is None or built_with != package_versions(["torch"])["torch"]):
        return None
    evaluated = meta["eval"]
    return {"accuracy_top1_device": evaluated["accuracy_top1"], "accuracy_top5_device": evaluated["accuracy_top5"],
            "eval_samples_device": evaluated["samples"] if evaluated["has_labels"] else None}


def predict_all(predict: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray,
                batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Logits of every input, in batches of ``batch_size``."""
    return np.concatenate([predict(inputs[i:i + batch_size]) for i in range(0, len(inputs), batch_size)])


def device_accuracy(backend: Backend, model: object, artifact: Artifact, device: str,
                    batch_size: int = EVAL_BATCH) -> dict[str, Any]:
    """The row's ``accuracy_*_device`` columns (null without labels). The accuracy pass runs
    this in a worker of its own (agent.worker.WorkerPool.device_accuracy), so a batch that does
    not fit in memory ends that pass only, never a trial."""
    data = EvalSet.load(artifact)
    if not data.has_labels:
        return {"accuracy_top1_device": None, "accuracy_top5_device": None, "eval_samples_device": None}
    logits = predict_all(lambda batch: backend.predict(model, batch, device), data.inputs, batch_size)
    top1, top5 = topk_accuracy(logits, data.labels)
    return {"accuracy_top1_device": top1, "accuracy_top5_device": top5, "eval_samples_device": len(data.labels)}
