"""The probe extension point: one small ABC, one registry, and a set that runs several.

A probe measures something around one timed region of a worker: ``start()`` right
before it, ``stop()`` right after. Neither ever raises: a probe that cannot measure
(no perf, no GPU, no NVML library, no /proc/pressure) gives null columns and the reason,
which the worker keeps in the row's ``probe_errors`` column (probe name -> reason).

Each probe says itself whether it runs for a worker's job (:meth:`Probe.why_not`) and how it
is set up for it (:meth:`Probe.for_job`); the worker runs what :func:`region_probes` builds
from the registry. Adding a probe is a module with its class and one line in
:data:`PROBE_CLASSES`.
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
from typing import Any, ClassVar, Protocol

from shared.registry import Registry
from shared.sweep import TelemetrySpec

# Every probe: name -> its class, imported on first use. In the order a worker starts them
# around its timed region: samplers first, perf last (it starts nearest the region and stops
# first, so it counts the least of the others' work).
PROBE_CLASSES: dict[str, str] = {
    "system": "agent.probes.system:SystemProbe",
    "tegrastats": "agent.probes.tegrastats:TegrastatsProbe",
    "nvml": "agent.probes.nvml:NvmlProbe",
    "rapl": "agent.probes.rapl:RaplProbe",
    "perf": "agent.probes.perf:PerfAttachProbe",
    "gpuprofile": "agent.probes.gpuprofile:GpuProfileProbe",
}
PROBE_NAMES = tuple(PROBE_CLASSES)


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


class ProbeJob(Protocol):
    """What a probe may ask of a worker's job (agent.worker.WorkerJob) to decide whether and
    how it runs."""

    @property
    def device(self) -> str: ...  # "cpu", "cuda:0"

    @property
    def telemetry(self) -> TelemetrySpec: ...

    @property
    def perf(self) -> Any: ...  # the parent's agent.probes.perf.PerfSupport; None: perf not wanted


def is_cuda(device: str) -> bool:
    return device.startswith("cuda")


def cuda_index(device: str) -> int:
    """``cuda:1`` -> 1, ``cuda`` -> 0."""
    return int(device.partition(":")[2] or 0)


class Probe(ABC):
    """Start right before a timed region, stop right after; never raises.

    Subclasses implement ``_start``/``_stop`` and may raise there: the public methods turn
    any exception into a failed result with every column of the probe null.
    """

    name: ClassVar[str]
    columns: ClassVar[tuple[str, ...]] = ()
    # True: in the worker's set around the timed region; False: the worker runs it in a pass
    # of its own (a kernel-level profile slows what it watches)
    around_timed_region: ClassVar[bool] = True

    @classmethod
    def why_not(cls, job: ProbeJob) -> str | None:
        """Why this probe does not run for ``job`` (its columns are then null with this
        reason); None: it runs. A probe that runs and cannot measure says so at ``stop()``."""
        return None

    @classmethod
    def for_job(cls, job: ProbeJob) -> Probe:
        """This probe set up for ``job``."""
        return cls()

    @classmethod
    def absent(cls, reason: str) -> ProbeResult:
        """The result of a probe that does not run: every column null, and why."""
        return ProbeResult(columns=dict.fromkeys(cls.columns), error=reason)

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
for _name, _target in PROBE_CLASSES.items():
    PROBES.register_lazy(_name, _target)


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


def region_probes(job: ProbeJob) -> tuple[list[Probe], ProbeOutcome]:
    """The registry's probes around a timed region that run for ``job``, set up for it, in
    starting order; and the outcome of those that do not (null columns, and why)."""
    running: list[Probe] = []
    absent: list[tuple[str, ProbeResult]] = []
    for name in PROBES:
        probe_class = PROBES.get(name)
        if not probe_class.around_timed_region:
            continue
        reason = probe_class.why_not(job)
        if reason is None:
            running.append(probe_class.for_job(job))
        else:
            absent.append((probe_class.name, probe_class.absent(reason)))
    return running, merge_results(absent)


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
