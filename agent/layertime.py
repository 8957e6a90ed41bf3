"""Per-layer time with onnxruntime's own profiler, and what both backends' profiles share.

onnxruntime writes a Chrome-trace JSON array when ``SessionOptions.enable_profiling`` is on
(``end_profiling()`` returns its path): a ``{"cat": "Session", "name": "model_run"}`` event a
run, and for every node a ``{"cat": "Node", "name": "<node>_kernel_time", "dur": µs,
"args": {"op_name": ..., "provider": ...}}`` event, between ``_fence_before``/``_fence_after``
events of no interest. The kernel events of the warm-up runs are left out by the runs'
windows. This module imports no runtime (a light agent uses it); the torch side is
agent/layertime_torch.py. The record format is shared/layertime.py.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.layertime import LayerTimes, OpTime, role_of

if TYPE_CHECKING:
    from agent.backends.base import Prepared
    from shared.plan import Variant

WARMUP_PASSES = 3  # forward passes run before the profiled ones (first-call allocations, plans)
DEFAULT_PASSES = 20  # profiled forward passes: per-op times are their mean
KERNEL_SUFFIX = "_kernel_time"
ORT_PROFILER = "onnxruntime"


@dataclass(frozen=True)
class LayerProfile:
    """What a backend's profiler measured: which profiler, over how many passes, the ops."""

    profiler: str
    passes: int
    ops: tuple[OpTime, ...]


def record_of(profile: LayerProfile, run_id: str, trial_key: str | None, variant: Variant, backend: str,
              device: str, batch_size: int) -> LayerTimes:
    """The layer_time.jsonl record of a profile of ``variant``."""
    return LayerTimes(run_id=run_id, trial_key=trial_key, variant_key=variant.key,
                      base_model_key=variant.base_model_key, role=role_of(variant.target_ratio),
                      model=variant.model, method=variant.method, target_ratio=variant.target_ratio,
                      backend=backend, device=device, batch_size=batch_size, profiler=profile.profiler,
                      passes=profile.passes, ops=profile.ops)


def run_passes(prepared: Prepared, passes: int, warmup: int = WARMUP_PASSES) -> None:
    """Warm-up passes, then the profiled ones, in the backend's session (torch: inference mode)."""
    with prepared.session():
        for _ in range(warmup + passes):
            prepared.call()


def read_ort_profile(path: Path) -> list[dict[str, Any]]:
    """The events of a profile file onnxruntime wrote."""
    events = json.loads(Path(path).read_text())
    if not isinstance(events, list):
        raise ValueError(f"{path}: not an onnxruntime profile (a JSON array of trace events)")
    return [e for e in events if isinstance(e, dict)]


def _run_windows(events: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    return sorted((float(e["ts"]), float(e["ts"]) + float(e["dur"])) for e in runs)


def parse_ort_profile(events: Sequence[Mapping[str, Any]], skip_runs: int = 0) -> LayerProfile:
    """Mean time per run of every node, in the order nodes first ran.

    ``skip_runs``: the first runs (the warm-up) are left out. A profile without run events
    (an excerpt) counts as one run."""
    windows = _run_windows(events)[skip_runs:]
    kernels = [e for e in events if e.get("cat") == "Node" and str(e.get("name", "")).endswith(KERNEL_SUFFIX)]
    if windows:
        kernels = [k for k in kernels if any(start <= float(k["ts"]) <= end for start, end in windows)]
    passes = max(len(windows), 1)
    totals: dict[str, list[Any]] = {}  # node -> [op type, µs, count]; dicts keep first-run order
    for kernel in kernels:
        node = str(kernel["name"])[: -len(KERNEL_SUFFIX)]
        entry = totals.setdefault(node, [str(kernel.get("args", {}).get("op_name", "?")), 0.0, 0])
        entry[1] += float(kernel["dur"])
        entry[2] += 1
    ops = tuple(OpTime(node, op_type, us / passes / 1000.0, count / passes)
                for node, (op_type, us, count) in totals.items())
    return LayerProfile(ORT_PROFILER, passes, ops)
