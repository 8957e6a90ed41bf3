"""Accuracy from logits, as the build and every device compute it."""
from __future__ import annotations

import numpy as np
import pytest

from agent.accuracy import predict_all, topk_accuracy


def test_top1_and_top5_from_logits() -> None:
    logits = np.eye(10, dtype=np.float32)[[0, 1, 2, 3]] + np.linspace(0, 0.5, 10, dtype=np.float32)
    labels = np.array([0, 1, 9, 4])  # right, right, 9 is 2nd best, 4 is 6th: outside the top 5
    assert topk_accuracy(logits, labels) == (0.5, 0.75)
    assert topk_accuracy(logits[:, :5], np.array([0, 1, 2, 4]))[1] is None  # 5 classes: no top-5


def test_predict_all_goes_in_batches_and_keeps_the_order() -> None:
    seen = []

    def predict(batch: np.ndarray) -> np.ndarray:
        seen.append(len(batch))
        return batch[:, :2] * 2

    inputs = np.arange(14, dtype=np.float32).reshape(7, 2)
    assert np.array_equal(predict_all(predict, inputs, batch_size=3), inputs * 2)
    assert seen == [3, 3, 1]
    with pytest.raises(ValueError, match="empty"):
        topk_accuracy(np.zeros((0, 10)), np.zeros(0, dtype=np.int64))


def test_the_build_accuracy_stands_only_for_the_same_computation() -> None:
    import socket

    from agent.accuracy import same_as_build
    from agent.fingerprint import package_versions

    meta = {"host": socket.gethostname(), "versions": {"torch": package_versions(["torch"])["torch"]},
            "eval": {"samples": 100, "has_labels": True, "accuracy_top1": 0.9, "accuracy_top5": None}}
    assert same_as_build(meta, "torch", "cpu") == {"accuracy_top1_device": 0.9, "accuracy_top5_device": None,
                                                   "eval_samples_device": 100}
    assert same_as_build(meta, "onnxruntime", "cpu") is None  # another runtime: measure it
    assert same_as_build(meta, "torch", "cuda:0") is None  # another device
    assert same_as_build({**meta, "host": "elsewhere"}, "torch", "cpu") is None  # another machine
    assert same_as_build({**meta, "versions": {"torch": "1.0"}}, "torch", "cpu") is None  # another torch
