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
