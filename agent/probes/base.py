"""The probe extension point: one small ABC, one registry, and a set that runs several.

A probe measures something around one timed region of a worker: ``start()`` right
before it, ``stop()`` right after. Neither ever raises: a probe that cannot measure
(no perf, no GPU, no NVML library, no /proc/pressure) gives null columns and the reason,
which the worker keeps in the row's ``probe_errors`` column (probe name -> reason).
"""
from __future__ import annotations

import contextlib
import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from shared.registry import Registry

# The names a worker may ask for. "perf" is the fifo-controlled probe of a worker that the
# parent started under perf; "perf_attach" starts its own perf on the worker's pid.
PROBE_NAMES = ("perf", "perf_attach", "nvml", "gpuprofile", "system", "tegrastats", "rapl")


class ProbeUnavailable(RuntimeError):
    """This machine cannot measure what the probe measures; the message is the reason."""


@dataclass(frozen=True)
class ProbeResult:
    """What one probe measured over one region.

    ``columns``: result-row columns (every column the probe owns, None where unmeasured).
    ``error``: why some or all columns are None (None when all were measured).
    ``side``: JSON-serialisable detail for a side file (a time series, a per-kernel table).
    """

    columns: dict[str, Any]
    error: str | None = None
    side: dict[str, Any] | None = None


class Probe(ABC):
    """Start right before a timed region, stop right after; never raises.

    Subclasses implement ``_start``/``_stop`` and may raise there: the public methods turn
    any exception into a failed result with every column of the probe null.
    """

    name: ClassVar[str]
    columns: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self._start_error: str | None = None

    @abstractmethod
    def _start(self) -> None:
        """Begin measuring."""

    @abstractmethod
    def _stop(self) -> ProbeResult:
        """End measuring and summarise."""

    def start(self) -> None:
        self._start_error = None
        try:
            self._start()
        except Exception as exc:  # noqa: BLE001 - a probe must never fail a trial
            self._start_error = _reason(exc)

    def stop(self) -> ProbeResult:
        if self._start_error is not None:
            self._cleanup()
            return self.failed(self._start_error)
        try:
            return self._stop()
        except Exception as exc:  # noqa: BLE001
            self._cleanup()
            return self.failed(_reason(exc))

    def _cleanup(self) -> None:
        """Release what ``_start`` may have acquired (threads, processes) after a failure."""

    def failed(self, reason: str) -> ProbeResult:
        """Every column null, and why."""
        return ProbeResult(columns=dict.fromkeys(self.columns), error=reason)


def format_reasons(reasons: Mapping[str, str]) -> str | None:
    """Column -> reason as one line, columns grouped by reason: ``a, b: why; c: other``."""
    if not reasons:
        return None
    by_reason: dict[str, list[str]] = {}
    for column, reason in reasons.items():
        by_reason.setdefault(reason, []).append(column)
    return "; ".join(f"{', '.join(columns)}: {reason}" for reason, columns in by_reason.items())


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, ProbeUnavailable):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


PROBES: Registry[type[Probe]] = Registry("probe", PROBE_NAMES)


def make_probe(name: str, **options: Any) -> Probe:
    """The probe registered as ``name``, built with ``options``; an unknown name is a
    UserError listing the valid ones."""
    return PROBES.get(name)(**options)


@dataclass(frozen=True)
class ProbeOutcome:
    """Several probes' results over one region, merged for a row."""

    columns: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)  # probe name -> reason
    side: dict[str, dict[str, Any]] = field(default_factory=dict)  # probe name -> side data

    def row_columns(self) -> dict[str, Any]:
        """The columns plus ``probe_errors`` as the row stores it (JSON text, null if none)."""
        return {**self.columns, "probe_errors": probe_errors_json(self.errors)}


def probe_errors_json(errors: Mapping[str, str]) -> str | None:
    return json.dumps(dict(sorted(errors.items())), sort_keys=True) if errors else None


def merge_results(results: Iterable[tuple[str, ProbeResult]]) -> ProbeOutcome:
    """Merge (probe name, result) pairs; two reasons under one name are joined, and a
    column two probes fill keeps the last value that is not null."""
    columns: dict[str, Any] = {}
    errors: dict[str, str] = {}
    side: dict[str, dict[str, Any]] = {}
    for name, result in results:
        for column, value in result.columns.items():
            if value is not None or column not in columns:  # a null never hides a value
                columns[column] = value
        if result.error:
            errors[name] = f"{errors[name]}; {result.error}" if name in errors else result.error
        if result.side is not None:
            side[name] = result.side
    return ProbeOutcome(columns, errors, side)


class ProbeSet:
    """Probes around one region: started in order, stopped in reverse (the first started,
    e.g. a sampler, sees the whole of the others' start and stop)."""

    def __init__(self, probes: Sequence[Probe], timer: Callable[[str], AbstractContextManager[object]] | None = None,
                 ) -> None:
        self.probes = tuple(probes)
        # timer(probe name): a context around each probe's start and stop (the run's stage times)
        self._timer = timer or (lambda name: contextlib.nullcontext())

    def start(self) -> None:
        for probe in self.probes:
            with self._timer(probe.name):
                probe.start()

    def stop(self) -> ProbeOutcome:
        results = []
        for probe in reversed(self.probes):
            with self._timer(probe.name):
                results.append((probe.name, probe.stop()))
        return merge_results(reversed(results))


class Sampler:
    """Calls ``sample(t_s)`` every ``interval_s`` seconds on a daemon thread until stopped.

    ``t_s`` is seconds since ``start()``. The first and the last sample are the caller's to
    take (synchronously, at start and stop), so a region shorter than one interval still
    has two samples.
    """

    def __init__(self, sample: Callable[[float], None], interval_s: float, name: str) -> None:
        if interval_s <= 0:
            raise ValueError(f"sampling interval must be > 0 s, got {interval_s}")
        self._sample = sample
        self.interval_s = interval_s
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.t0 = 0.0
        self.error: str | None = None  # the first exception a sample raised, if any

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._sample(self.now())
            except Exception as exc:  # noqa: BLE001 - keep sampling; report once
                self.error = self.error or f"{type(exc).__name__}: {exc}"

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
