"""Inference backends, one registry. Importing this package imports no runtime.

Each backend is registered by explicit module path and imported on first
``BACKENDS.get(name)``: the torch backend (and torch, ~670 MB resident) only where a sweep
asks for torch, onnxruntime only where it asks for onnxruntime. On a light agent (no torch),
``BACKENDS.get("torch")`` raises :class:`~shared.errors.MissingDependency` naming the
missing package; the runner turns that into skipped rows.
"""
from agent.backends.base import BACKENDS, Backend, Prepared

BACKENDS.register_lazy("torch", "agent.backends.torch_backend:TorchBackend")
BACKENDS.register_lazy("onnxruntime", "agent.backends.onnxruntime_backend:OnnxRuntimeBackend")

__all__ = ["BACKENDS", "Backend", "Prepared"]
