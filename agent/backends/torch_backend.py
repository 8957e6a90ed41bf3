"""Eager PyTorch inference, on the CPU or a CUDA device."""
from __future__ import annotations

import torch
from torch import nn

from agent.backends.base import BACKENDS, Backend, Prepared

# A CPU allocation failure in torch is a RuntimeError with this text, not a MemoryError.
_CPU_OOM_TEXT = "can't allocate memory"


@BACKENDS.register("torch")
class TorchBackend(Backend):
    name = "torch"

    def resolve_devices(self, requested: tuple[str, ...]) -> dict[str, str | None]:
        has_cuda = torch.cuda.is_available()
        resolved: dict[str, str | None] = {}
        for name in requested:
            if name == "auto":
                resolved[name] = "cuda:0" if has_cuda else "cpu"
            elif name == "cuda":
                resolved[name] = "cuda:0" if has_cuda else None
            else:
                resolved[name] = "cpu"
        return resolved

    def prepare(self, model: nn.Module, input_shape: tuple[int, ...], device: str,
                threads: int | None) -> Prepared:
        if threads is not None:
            torch.set_num_threads(threads)
        target = torch.device(device)
        model = model.to(target).eval()
        batch = torch.randn(input_shape, generator=torch.Generator().manual_seed(0)).to(target)
        sync = torch.cuda.synchronize if target.type == "cuda" else None  # only on a GPU

        def call() -> None:
            model(batch)
            if sync is not None:
                sync(target)

        return Prepared(call, device, torch.get_num_threads(), session=torch.inference_mode)

    def reset_peak_memory(self, device: str) -> None:
        if device.startswith("cuda"):
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
