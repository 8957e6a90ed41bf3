"""The inference backend extension point: one ABC, one registry."""
from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from shared import catalog
from shared.registry import Registry


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


class Backend(ABC):
    name: str

    @abstractmethod
    def resolve_devices(self, requested: tuple[str, ...]) -> dict[str, str | None]:
        """Map each requested device to a concrete one, or to None where it is missing."""

    @abstractmethod
    def prepare(self, model: object, input_shape: tuple[int, ...], device: str,
                threads: int | None) -> Prepared:
        """Load ``model`` for inference on ``device`` with an input of ``input_shape``."""

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
