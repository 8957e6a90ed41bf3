"""What a trial worker tells its manager over the pipe: one small frozen dataclass a kind of
message, matched by type.

They cross a multiprocessing pipe from the forkserver's child, so each is a module-level
dataclass of plain, picklable fields. In the order a worker sends them: ``Emulated`` (an
emulated device only), ``Pinned`` (or ``Failed``), ``Capped``, then for each trial ``Started``,
``StageSeconds`` and ``Done``, and last ``Ended``; ``Failed`` ends a worker that could not
load its model, for every trial it had.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from shared.schema import TrialEnd


@dataclass(frozen=True)
class Emulated:
    """The device profile's constraints the worker could not apply: constraint -> why."""

    missing: dict[str, str]


@dataclass(frozen=True)
class Pinned:
    """The cores the worker may run on, as ``format_cpus`` writes them."""

    cpus: str


@dataclass(frozen=True)
class Capped:
    """How the worker's memory was capped (cgroup-v1/-v2, rlimit-as), None: not capped."""

    method: str | None


@dataclass(frozen=True)
class Started:
    """The worker began this trial: the manager's time limit starts again."""

    key: str


@dataclass(frozen=True)
class Done:
    """One trial measured (or failed inside the worker): its row's columns."""

    key: str
    columns: dict[str, Any]


@dataclass(frozen=True)
class StageSeconds:
    """Where the worker's time went since the last such message (stage -> seconds)."""

    seconds: dict[str, float]


@dataclass(frozen=True)
class Failed:
    """The worker cannot measure at all (no cores to pin to, no model): the trial it was on,
    or every trial it had, ends this way."""

    end: TrialEnd


@dataclass(frozen=True)
class Ended:
    """Every trial of the worker is done."""


# typing.Union: an alias is evaluated at run time, and the light agent runs on Python 3.8
WorkerMessage = Union[Emulated, Pinned, Capped, Started, StageSeconds, Done, Failed, Ended]
