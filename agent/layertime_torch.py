"""Per-layer time with torch.profiler: each leaf module's forward is a ``record_function``
range (forward hooks open and close it), so the profile's averages are per layer rather than
per aten op (``aten::conv2d`` would lump every conv together).

On a GPU the hooks synchronise the device as a layer ends, so that a layer's range covers its
kernels rather than their launch; that serialises the pass (a profile, not the latency).
"""
from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from agent.layertime import WARMUP_PASSES, LayerProfile, run_passes
from shared.layertime import OpTime

TORCH_PROFILER = "torch.profiler"
_PREFIX = "layer::"


def _leaves(model: nn.Module) -> dict[str, nn.Module]:
    """The modules that are one layer's time: those without children, and attention layers as a
    whole (torch's attention multiplies by its ``out_proj`` weight without running that Linear,
    so a transformer's attention would otherwise be no layer's time)."""
    inside = {id(sub) for m in model.modules() if isinstance(m, nn.MultiheadAttention)
              for sub in m.modules() if sub is not m}
    return {name: m for name, m in model.named_modules() if name and id(m) not in inside
            and (isinstance(m, nn.MultiheadAttention) or not any(True for _ in m.children()))}


def _hook(model: nn.Module, device: str) -> tuple[list[Any], dict[str, str]]:
    """Hooks that wrap every leaf module's forward in a named range; returns the handles and
    each range's module class."""
    handles, classes = [], {}
    open_ranges: dict[str, list[Any]] = {}
    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    for name, module in _leaves(model).items():
        label = _PREFIX + name
        classes[label] = type(module).__name__

        def before(_module: nn.Module, _inputs: Any, label: str = label) -> None:
            scope = torch.profiler.record_function(label)
            scope.__enter__()
            open_ranges.setdefault(label, []).append(scope)

        def after(_module: nn.Module, _inputs: Any, _output: Any, label: str = label) -> None:
            if sync is not None:
                sync()
            open_ranges[label].pop().__exit__(None, None, None)

        handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    return handles, classes


def profile_torch(backend: Any, model: nn.Module, input_shape: tuple[int, ...], device: str,
                  threads: int | None, passes: int) -> LayerProfile:
    """Profile ``passes`` forward passes (after a warm-up) of ``model`` prepared by ``backend``."""
    prepared = backend.prepare(model, input_shape, device, threads)
    run_passes(prepared, 0, WARMUP_PASSES)  # unhooked: what the profile leaves out anyway
    handles, classes = _hook(model, device)
    activities = [torch.profiler.ProfilerActivity.CPU]
    # kineto's own log (e.g. "gpuGetDeviceCount failed" on a host without a GPU) would land on the
    # user's terminal or in a worker's stderr tail; read when the profiler first starts
    os.environ.setdefault("KINETO_LOG_LEVEL", "5")
    try:
        with torch.profiler.profile(activities=activities) as profiler:
            run_passes(prepared, passes, warmup=0)
    finally:
        for handle in handles:
            handle.remove()
    averages = {e.key: e for e in profiler.key_averages() if e.key.startswith(_PREFIX)}
    ops = tuple(OpTime(label[len(_PREFIX):], classes[label], averages[label].cpu_time_total / passes / 1000.0,
                       averages[label].count / passes)
                for label in classes if label in averages)  # module order; unused modules left out
    return LayerProfile(TORCH_PROFILER, passes, ops)
