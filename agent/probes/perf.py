"""``perf stat`` around the timed region only, never around model loading.

:class:`PerfAttachProbe` (name ``perf``) starts its own ``perf stat -p <this pid>`` for each
region (about 20-40 ms before the region, outside it), counting from an ``enable`` to a
``disable`` written on perf's control channel (``perf stat -D -1 --control``: events start
disabled), and parses perf's output itself: per-region counts for a forked worker that
times several regions.

perf always runs in the C locale (:func:`perf_env`): perf honours ``LC_NUMERIC`` even with
``-x,``, so under ``de_DE.UTF-8`` it prints ``230,44,msec,task-clock`` and the CSV reader
would take 44.

It counts every thread of the worker, the probes' sampler threads included. Where an
event is ``<not supported>`` (a VM without hardware counters), perf is missing, or
``perf_event_paranoid`` forbids it, the column is null and the reason is kept.
"""
from __future__ import annotations

import functools
import os
import select
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from agent.probes.base import Probe, ProbeJob, ProbeResult, ProbeUnavailable, format_reasons

PERF_EVENTS: tuple[str, ...] = (
    "instructions", "cycles", "cache-references", "cache-misses", "branches", "branch-misses",
    "task-clock", "context-switches", "cpu-migrations", "page-faults",
)
_TIME_EVENTS = frozenset({"task-clock", "cpu-clock"})  # perf reports these in msec
_TO_MS = {"msec": 1.0, "ms": 1.0, "usec": 1e-3, "us": 1e-3, "nsec": 1e-6, "ns": 1e-6, "sec": 1e3, "s": 1e3}
PARANOID_FILE = Path("/proc/sys/kernel/perf_event_paranoid")
ACK_TIMEOUT_S = 5.0
_REASONS = {
    "<not supported>": "not supported (no such hardware counter on this CPU or VM)",
    "<not counted>": "not counted (never enabled in the region, or starved by multiplexing)",
}


def column_name(event: str) -> str:
    """``cache-misses`` -> ``perf_cache_misses``; ``task-clock`` -> ``perf_task_clock_ms``."""
    name = "perf_" + event.replace("-", "_")
    return f"{name}_ms" if event in _TIME_EVENTS else name


PERF_COLUMNS: tuple[str, ...] = tuple(column_name(e) for e in PERF_EVENTS)


# ------------------------------------------------------------------------- parsing

def _event_name(field: str) -> str:
    """``instructions:u`` / ``cpu_core/instructions/`` (hybrid CPUs) -> ``instructions``."""
    name = field.strip()
    if "/" in name:
        name = name.split("/")[1] or name
    return name.split(":")[0]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _fields(line: str, sep: str) -> tuple[str, str, str] | None:
    """(value, unit, event) of one CSV line; interval mode (-I) has a leading timestamp."""
    fields = line.split(sep)
    if len(fields) >= 4 and _number(fields[0]) is not None and (
            fields[1].startswith("<") or _number(fields[1]) is not None):
        fields = fields[1:]
    if len(fields) < 3 or not fields[2].strip():
        return None
    return fields[0].strip(), fields[1].strip(), _event_name(fields[2])


def parse_perf_csv(text: str, events: Sequence[str] = PERF_EVENTS,
                   sep: str = ",") -> tuple[dict[str, float | None], dict[str, str]]:
    """Columns ``perf_<event>`` from ``perf stat -x,`` output, and a reason per null column.

    Lines are ``value,unit,event,run-time,percentage,metric,metric-unit``; a value of
    ``<not supported>`` or ``<not counted>`` becomes None. Lines of one event (several
    intervals, or the two PMUs of a hybrid CPU) are summed. Time events are in ms.
    """
    totals: dict[str, float] = {}
    markers: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parsed = _fields(line, sep)
        if parsed is None:
            continue
        value, unit, event = parsed
        number = _number(value)
        if number is None:
            markers.setdefault(event, value)
            continue
        scale = _TO_MS.get(unit, 1.0) if event in _TIME_EVENTS else 1.0
        totals[event] = totals.get(event, 0.0) + number * scale
    values: dict[str, float | None] = {}
    reasons: dict[str, str] = {}
    for event in events:
        column = column_name(event)
        values[column] = totals.get(event)
        if event not in totals:
            marker = markers.get(event)
            reasons[column] = _REASONS.get(marker, marker) if marker else "absent from perf output"
    return values, reasons


def result_from_text(text: str, events: Sequence[str] = PERF_EVENTS) -> ProbeResult:
    values, reasons = parse_perf_csv(text, events)
    return ProbeResult(columns=dict(values), error=format_reasons(reasons))


# ------------------------------------------------------------------------- the C locale


def perf_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment to start perf in: ``env`` (default: this process's) with ``LC_ALL=C``,
    so perf prints a decimal point whatever the user's locale (LC_ALL overrides every
    other LC_* and LANG)."""
    return {**(os.environ if env is None else env), "LC_ALL": "C"}


# ------------------------------------------------------------------------- can perf run here?

@dataclass(frozen=True)
class PerfSupport:
    binary: str | None
    reason: str | None  # None: perf can count this user's processes here

    @property
    def ok(self) -> bool:
        return self.reason is None


def check_perf(which: Callable[[str], str | None] = shutil.which,
               paranoid_file: Path = PARANOID_FILE, euid: int | None = None,
               smoke_test: bool = True) -> PerfSupport:
    """Whether perf can count here: installed, allowed by ``perf_event_paranoid``, and
    able to run ``perf stat -D -1 --control`` (perf >= 5.10) on a trivial command."""
    binary = which("perf")
    if binary is None:
        return PerfSupport(None, "perf is not installed (no perf on PATH)")
    euid = os.geteuid() if euid is None else euid
    try:
        paranoid = int(paranoid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        paranoid = None
    if euid != 0 and paranoid is not None and paranoid > 2:
        return PerfSupport(binary, f"kernel.perf_event_paranoid={paranoid} forbids perf for "
                                   "non-root users (needs <= 2, or run as root)")
    if smoke_test:
        failure = _smoke_test(binary)
        if failure:
            return PerfSupport(binary, failure)
    return PerfSupport(binary, None)


def _smoke_test(binary: str) -> str | None:
    ctl_r, ctl_w = os.pipe()
    ack_r, ack_w = os.pipe()
    try:
        done = subprocess.run(
            [binary, "stat", "-x,", "-o", os.devnull, "-D", "-1", "--control",
             f"fd:{ctl_r},{ack_w}", "-e", "task-clock", "--", "true"],
            pass_fds=(ctl_r, ack_w), capture_output=True, text=True, timeout=20, check=False,
            env=perf_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"perf does not run: {exc}"
    finally:
        for fd in (ctl_r, ctl_w, ack_r, ack_w):
            os.close(fd)
    if done.returncode != 0:
        tail = " ".join(done.stderr.split())[-300:]
        return f"perf stat -D -1 --control failed (exit {done.returncode}): {tail}"
    return None


@functools.lru_cache(maxsize=None)  # functools.cache is 3.9+: the light agent runs on 3.8
def perf_support() -> PerfSupport:
    """:func:`check_perf` for this process, checked once."""
    return check_perf()


# ------------------------------------------------------------------------- the control channel

def _command(ctl_fd: int, ack_fd: int, command: str, timeout_s: float) -> None:
    """Write a control command and wait for perf's ``ack``."""
    os.write(ctl_fd, f"{command}\n".encode())
    ready, _, _ = select.select([ack_fd], [], [], timeout_s)
    if not ready:
        raise TimeoutError(f"perf did not acknowledge {command!r} within {timeout_s} s")
    answer = os.read(ack_fd, 5).lstrip(b"\0")  # perf sends "ack\n\0"
    if not answer.startswith(b"ack"):
        raise ProbeUnavailable(f"perf answered {command!r} with {answer!r} (perf exited?)")


class PerfAttachProbe(Probe):
    """Starts ``perf stat -p <pid>`` for each region and returns the ``perf_*`` columns.

    perf attaches to every thread of ``pid`` (default: this process) and, with counter
    inheritance, to threads started later; counting runs from ``enable`` (acknowledged
    before ``start()`` returns) to ``disable`` (acknowledged before ``stop()`` parses).
    """

    name: ClassVar[str] = "perf"
    columns: ClassVar[tuple[str, ...]] = PERF_COLUMNS

    @classmethod
    def why_not(cls, job: ProbeJob) -> str | None:
        return None if job.perf is not None else "telemetry.perf is off"

    @classmethod
    def for_job(cls, job: ProbeJob) -> PerfAttachProbe:
        return cls(support=job.perf)  # checked once by the parent, not again in every worker

    def __init__(self, events: Sequence[str] = PERF_EVENTS, pid: int | None = None,
                 timeout_s: float = ACK_TIMEOUT_S, support: PerfSupport | None = None) -> None:
        super().__init__()
        self.events = tuple(events)
        self.columns = tuple(column_name(e) for e in self.events)  # type: ignore[misc]
        self.pid = os.getpid() if pid is None else pid
        self.timeout_s = timeout_s
        self.support = support
        self._proc: subprocess.Popen[bytes] | None = None
        self._fds: tuple[int, int] | None = None
        self._dir: Path | None = None

    def _start(self) -> None:
        support = self.support or perf_support()
        if not support.ok or support.binary is None:
            raise ProbeUnavailable(support.reason)
        self._dir = Path(tempfile.mkdtemp(prefix="edgeprune-perf-"))
        ctl_r, ctl_w = os.pipe()
        ack_r, ack_w = os.pipe()
        try:
            with open(self._dir / "stderr", "wb") as err:
                self._proc = subprocess.Popen(
                    [support.binary, "stat", "-x,", "-o", str(self._dir / "out.csv"),
                     "-p", str(self.pid), "-D", "-1", "--control", f"fd:{ctl_r},{ack_w}",
                     "-e", ",".join(self.events)],
                    pass_fds=(ctl_r, ack_w), stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=err, env=perf_env())
        finally:
            os.close(ctl_r)
            os.close(ack_w)  # perf holds the only write end: its exit is EOF here
            self._fds = (ctl_w, ack_r)
        try:
            _command(ctl_w, ack_r, "enable", self.timeout_s)
        except (OSError, RuntimeError, TimeoutError) as exc:
            raise ProbeUnavailable(f"{exc}; perf said: {self._stderr_tail()}") from None

    def _stop(self) -> ProbeResult:
        assert self._fds is not None and self._proc is not None and self._dir is not None
        try:
            _command(*self._fds, "disable", self.timeout_s)
            self._proc.send_signal(signal.SIGINT)  # perf -p prints its counts on SIGINT
            self._proc.wait(timeout=self.timeout_s)
            return result_from_text((self._dir / "out.csv").read_text(errors="replace"), self.events)
        finally:
            self._cleanup()

    def _stderr_tail(self) -> str:
        try:
            assert self._dir is not None
            return " ".join((self._dir / "stderr").read_text(errors="replace").split())[-300:]
        except (OSError, AssertionError):
            return ""

    def _cleanup(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
        if self._fds is not None:
            for fd in self._fds:
                os.close(fd)
            self._fds = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
