"""``python -m agent.profile_target SPEC.json``: the process an external GPU profiler starts.

nvprof, Nsight Systems and Nsight Compute profile only a process they start themselves,
so the worker's profile pass runs this module under the tool's argv prefix
(:mod:`agent.probes.external_profile`). It loads the trial's artifact with the same
backend, device, threads and input shape as the timed pass, runs one warm-up call (lazy
initialisation and autotuning stay out of the profile), then ``calls`` forward passes
between cudaProfilerStart and cudaProfilerStop, the range each tool is told to capture,
and exits. On a CPU there is nothing to mark and the passes simply run.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.artifacts import Artifact
from agent.backends import BACKENDS


def _cudart() -> Any:
    """The CUDA runtime the backend loaded (torch's, or the one onnxruntime's CUDA provider
    mapped): the profiler range must be marked on the runtime that launches the kernels."""
    if "torch" in sys.modules:
        import torch

        return torch.cuda.cudart()
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        maps = ""
    paths = sorted({line.split()[-1] for line in maps.splitlines() if "libcudart.so" in line})
    if not paths:
        raise RuntimeError("no CUDA runtime (libcudart) is loaded to mark the profiled range")
    return ctypes.CDLL(paths[0])


@contextlib.contextmanager
def profiler_range(device: str) -> Iterator[None]:
    """cudaProfilerStart/Stop around the block on a CUDA device; nothing on a CPU."""
    if not device.startswith("cuda"):
        yield
        return
    cudart = _cudart()
    cudart.cudaProfilerStart()
    try:
        yield
    finally:
        cudart.cudaProfilerStop()


def run(spec: dict[str, Any]) -> None:
    backend = BACKENDS.get(spec["backend"])(spec["backend_options"])
    model = backend.load(Artifact(Path(spec["artifact_dir"]), spec["artifact_meta"]), spec["device"])
    prepared = backend.prepare(model, tuple(spec["input_shape"]), spec["device"], spec["threads"])
    with prepared.session():
        prepared.call()
        with profiler_range(spec["device"]):
            for _ in range(spec["calls"]):
                prepared.call()  # synchronised: every kernel ends inside the range


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m agent.profile_target SPEC.json", file=sys.stderr)
        return 2
    run(json.loads(Path(args[0]).read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
