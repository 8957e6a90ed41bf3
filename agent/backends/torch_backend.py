"""Eager PyTorch inference, on the CPU or a CUDA device; loads the artifact's model.pt."""
from __future__ import annotations

import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from agent.artifacts import MODEL_PT, Artifact
from agent.backends.base import Backend, Prepared
from agent.backends.sparse24 import SparsePlan, apply_sparse_kernels
from agent.layertime import LayerProfile
from agent.modelio import ModelSpec, load_model
from shared import catalog

# A CPU allocation failure in torch is a RuntimeError with this text, not a MemoryError.
_CPU_OOM_TEXT = "can't allocate memory"


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        # what was done with each loaded 2:4 variant (agent/backends/sparse24.py)
        self._sparse: weakref.WeakKeyDictionary[nn.Module, SparsePlan] = weakref.WeakKeyDictionary()

    def has_gpu(self) -> bool:
        return torch.cuda.is_available()

    def load(self, artifact: Artifact, device: str) -> nn.Module:
        # on the CPU: prepare() moves it, so a load never holds two copies on the device; a 2:4
        # variant that gets sparse kernels is converted on the device here, once
        model = load_model(artifact.file(MODEL_PT), ModelSpec(**artifact.model_spec))
        if artifact.variant.get("method") == catalog.SEMI_STRUCTURED_24:
            self._sparse[model] = apply_sparse_kernels(model, artifact.variant, artifact.meta["method_options"],
                                                       device)
        return model

    def sparse_kernel_columns(self, artifact: Artifact, model: nn.Module) -> dict[str, Any]:
        plan = self._sparse.get(model)
        return plan.columns() if plan is not None else super().sparse_kernel_columns(artifact, model)

    def _on_device(self, model: nn.Module, target: torch.device) -> tuple[nn.Module, torch.dtype]:
        """The model on ``target`` in eval mode, and the dtype its input must have. A model
        with semi-structured weights is left where load() put it: on the device, in its dtype."""
        plan = self._sparse.get(model)
        if plan is None or not plan.used:
            model = model.to(target)
        return model.eval(), plan.dtype if plan is not None else torch.float32

    def prepare(self, model: nn.Module, input_shape: tuple[int, ...], device: str,
                threads: int | None) -> Prepared:
        if threads is not None:
            torch.set_num_threads(threads)
        target = torch.device(device)
        model, dtype = self._on_device(model, target)
        batch = torch.randn(input_shape, generator=torch.Generator().manual_seed(0)).to(target, dtype)
        sync = torch.cuda.synchronize if target.type == "cuda" else None  # only on a GPU

        def call() -> None:
            model(batch)
            if sync is not None:
                sync(target)

        return Prepared(call, device, torch.get_num_threads(), session=torch.inference_mode)

    def profile_layers(self, artifact: Artifact, model: nn.Module, input_shape: tuple[int, ...], device: str,
                       threads: int | None, passes: int, work_dir: Path) -> LayerProfile:
        from agent.layertime_torch import profile_torch  # the profiler's imports: only when asked

        return profile_torch(self, model, input_shape, device, threads, passes)

    def predict(self, model: nn.Module, inputs: np.ndarray, device: str) -> np.ndarray:
        target = torch.device(device)
        model, dtype = self._on_device(model, target)
        with torch.inference_mode():
            return model(torch.from_numpy(inputs).to(target, dtype)).float().cpu().numpy()

    def reset_peak_memory(self, device: str) -> None:
        if device.startswith("cuda"):
            # A fresh worker has not touched CUDA yet, and its caching allocator refuses peak
            # resets until CUDA is initialised ("Invalid device argument"; seen on an H200).
            torch.cuda.init()
            torch.cuda.reset_peak_memory_stats(device)

    def peak_memory_mb(self, device: str) -> float | None:
        if not device.startswith("cuda"):
            return None
        return torch.cuda.max_memory_allocated(device) / 2**20

    @staticmethod
    def is_oom(error: BaseException) -> bool:
        if isinstance(error, (MemoryError, torch.cuda.OutOfMemoryError)):
            return True
        return isinstance(error, RuntimeError) and _CPU_OOM_TEXT in str(error)
