"""The inference backend extension point: one ABC, one registry.

A backend owns everything about running a model: loading it from an artifact (torch reads
model.pt, onnxruntime model.onnx), which devices it can use here, timing one batch, the
logits for the device's accuracy, and what its errors mean. The registry is filled lazily
(agent/backends/__init__.py), so a light agent never imports torch.
"""
from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from shared import catalog
from shared.registry import Registry

if TYPE_CHECKING:  # numpy and the store are light, but only types are needed here
    from pathlib import Path

    import numpy as np

    from agent.artifacts import Artifact
    from agent.layertime import LayerProfile


@dataclass(frozen=True)
class ModelOnDevice:
    """Which built model a process loads, on which backend and device, with how many threads:
    what a measuring worker (agent.worker.WorkerJob) and an external GPU profiler's child
    (agent.probes.external_profile.ProfileTarget) both start from. Picklable."""

    artifact_dir: str
    artifact_meta: Mapping[str, Any]
    backend: str
    backend_options: Mapping[str, Any]
    device: str
    threads: int | None


@dataclass(frozen=True)
class Prepared:
    """A model ready to time: ``call()`` runs one batch, synchronised, inside ``session()``.

    The session is entered once around warm-up and timing (for torch: inference mode),
    so that what each timed call measures is the forward pass alone.
    """

    call: Callable[[], object]
    device: str  # the concrete device, e.g. cpu or cuda:0
    threads: int
    session: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext


# a 2:4 variant's ratio-0 rows: the base model, nothing 2:4 to run sparse
UNPRUNED_BASE = "ratio 0 is the unpruned base model: no 2:4 weights"


class Backend(ABC):
    """One way of running a model. ``options`` are the sweep's settings for it
    (``Sweep.backend_options``), already checked by name and type."""

    name: ClassVar[str]
    # why a 2:4 variant runs dense on this backend ({name}: the backend's)
    no_sparse_kernel: ClassVar[str] = "the {name} backend has no 2:4 kernel: the weights run dense"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = dict(options or {})

    def check_host(self, source: str) -> None:
        """Refuse (UserError naming ``source`` and the field) settings this host cannot honour."""

    @abstractmethod
    def has_gpu(self) -> bool:
        """Whether this backend can run on a CUDA device of this host."""

    def has_cpu(self) -> bool:
        return True

    def resolve_devices(self, requested: tuple[str, ...]) -> dict[str, str | None]:
        """Map each requested device (auto, cpu, cuda, cuda:N) to a concrete one, or to None
        where this backend cannot use it here."""
        gpu, cpu = self.has_gpu(), self.has_cpu()
        resolved: dict[str, str | None] = {}
        for name in requested:
            if name == "auto":
                resolved[name] = "cuda:0" if gpu else "cpu" if cpu else None
            elif name.startswith("cuda"):
                resolved[name] = (name if ":" in name else "cuda:0") if gpu else None
            else:
                resolved[name] = "cpu" if cpu else None
        return resolved

    @abstractmethod
    def load(self, artifact: Artifact, device: str) -> object:
        """The artifact's model, loaded for ``device``; raises with the reason if it cannot be."""

    @abstractmethod
    def prepare(self, model: object, input_shape: tuple[int, ...], device: str,
                threads: int | None) -> Prepared:
        """Make ``model`` ready to time one batch of ``input_shape`` on ``device``."""

    @abstractmethod
    def predict(self, model: object, inputs: np.ndarray, device: str) -> np.ndarray:
        """Logits of a float32 batch, as a numpy array (for the device's own accuracy)."""

    def profile_layers(self, artifact: Artifact, model: object, input_shape: tuple[int, ...], device: str,
                       threads: int | None, passes: int, work_dir: Path) -> LayerProfile:
        """Per-layer time of ``passes`` forward passes with this backend's own profiler
        (``telemetry.layer_time``, ``agent profile``); ``work_dir`` for any file it writes."""
        raise NotImplementedError(f"the {self.name} backend has no per-layer profiler")

    def row_columns(self, model: object) -> dict[str, Any]:
        """Columns every row of this model records (e.g. onnxruntime's session settings)."""
        return {}

    def sparse_kernel_columns(self, artifact: Artifact, model: object) -> dict[str, Any]:
        """``sparse_kernel`` and its reason for every row of a 2:4 variant (``semi_structured_24``;
        nothing for other methods' rows). By default none ran: the backend has no 2:4 kernel."""
        if artifact.variant.get("method") != catalog.SEMI_STRUCTURED_24:
            return {}
        reason = self.no_sparse_kernel if artifact.variant.get("target_ratio") else UNPRUNED_BASE
        return {"sparse_kernel": False, "sparse_kernel_reason": reason.format(name=self.name)}

    def reset_peak_memory(self, device: str) -> None:
        """Start a fresh accelerator peak-memory count (no-op where there is none)."""

    def peak_memory_mb(self, device: str) -> float | None:
        """Peak accelerator memory since the last reset, or None on a CPU."""
        return None

    @staticmethod
    def is_oom(error: BaseException) -> bool:
        """Whether an exception raised while measuring means out of memory."""
        return isinstance(error, MemoryError)


BACKENDS: Registry[type[Backend]] = Registry("backend", catalog.BACKENDS)
