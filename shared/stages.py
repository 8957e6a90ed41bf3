"""Seconds a named stage, summed over every time it ran: the one stage timer of the agent's
measuring (agent/stages.py, benchmark P3) and the analysis's stages (analysis.json, P7)."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager


class StageTimes:
    """Seconds a stage, summed over every time it ran."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = self._clock()
        try:
            yield
        finally:
            self.add(name, self._clock() - started)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def merge(self, other: Mapping[str, float]) -> None:
        for name, seconds in other.items():
            self.add(name, seconds)
