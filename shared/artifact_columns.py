"""Columns of the result row about the measured file and the backend's settings.

Every trial measures a prebuilt artifact (agent/artifacts.py), the same file on every
device; these columns say which one, how the backend ran it, and what accuracy the device
itself reached on the evaluation set shipped with it (``eval.npz``).
"""
from __future__ import annotations

from shared.columns import Column, _c

ARTIFACT_COLUMNS: tuple[Column, ...] = (
    _c("artifact_sha256", str, "content hash of the artifact measured (its folder name in the store)"),
    _c("base_model_key", str, "stable hash of the unpruned base model; with target_ratio 0 it finds the original"),
    _c("onnx_opset", int, "ONNX opset of the artifact's model.onnx (onnxruntime rows)"),
    _c("ort_providers", str, "execution providers of the onnxruntime session, comma-separated, in order"),
    _c("ort_graph_optimization", str, "onnxruntime graph optimisation level: disable, basic, extended or all"),
    _c("ort_intra_op_threads", int, "intra-op threads asked of onnxruntime; null: its default"),
    _c("sparse_kernel", bool, "semi_structured_24 rows: whether 2:4 sparse kernels ran (null for other methods)"),
    _c("sparse_kernel_reason", str, "semi_structured_24 rows: where they ran and in which dtype, or why not"),
    _c("sparse_kernel_layers", int, "semi_structured_24 rows: Linear layers that ran 2:4 kernels"),
    _c("accuracy_top1_device", float, "top-1 accuracy measured by this backend on this device on eval.npz, 0..1"),
    _c("accuracy_top5_device", float, "top-5 accuracy on eval.npz on this device (more than 5 classes), 0..1"),
    _c("eval_samples_device", int, "labelled samples in eval.npz that the device accuracy is over"),
)
