"""How measuring workers start: one owner for the process start method.

Workers are forked from a ``forkserver`` that has imported the worker module and the sweep's
runtimes (torch where the sweep measures with torch) once and never run an op: a fork costs
milliseconds, and is safe although the agent itself trains models (GNU OpenMP, which torch
uses, hangs in a child forked from a process that already ran parallel regions).

Left to itself, multiprocessing hands every forkserver (and spawn) child the parent's main
script, and the child imports it again as ``__mp_main__`` before it runs its target: the
``agent`` console script, ``benchmarks/bench_overhead.py`` or pytest, with every heavy module
they import (torchvision, Torch-Pruning, pandas: 0.4 to 1.3 s a worker on a 2-core VM, most
of the quick sweep's overhead). A worker's target lives in an importable module
(:func:`agent.worker.worker_main`), so the child needs no main module at all:
:class:`WorkerProcess` starts children without it. And the server freezes its heap for the
garbage collector before it forks (:mod:`agent.forkserver_freeze`), so that a child's first
collection does not copy every page it inherited.
"""
from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from multiprocessing import forkserver, popen_forkserver, spawn
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerProcess
from typing import Any

# what makes a child import the parent's main module again (multiprocessing.spawn.prepare)
_MAIN_KEYS = ("init_main_from_path", "init_main_from_name")
_launching = threading.Lock()
FREEZE_MODULE = "agent.forkserver_freeze"  # preloaded last: freezes the server's heap (see there)


@contextmanager
def _without_main() -> Iterator[None]:
    """While held, the preparation data sent to a new child names no main module.

    multiprocessing offers no option for this; its forkserver Popen reads
    ``spawn.get_preparation_data`` when it launches, so it is wrapped for that one call
    (under a lock: workers are started from one thread, but nothing else may see the wrapper)."""
    original = spawn.get_preparation_data

    def preparation_data(name: str) -> dict[str, Any]:
        data = original(name)
        for key in _MAIN_KEYS:
            data.pop(key, None)
        return data

    with _launching:
        spawn.get_preparation_data = preparation_data
        try:
            yield
        finally:
            spawn.get_preparation_data = original


class _Popen(popen_forkserver.Popen):
    def _launch(self, process_obj: Any) -> None:
        with _without_main():
            super()._launch(process_obj)


class WorkerProcess(ForkServerProcess):
    """A forkserver child that does not import the parent's main script."""

    @staticmethod
    def _Popen(process_obj: Any) -> _Popen:  # noqa: N802 - multiprocessing's name
        return _Popen(process_obj)


class WorkerStarter:
    """Starts worker processes from one forkserver that has imported ``preload`` once, then
    frozen its heap for the garbage collector."""

    def __init__(self, preload: Sequence[str]) -> None:
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload([*preload, FREEZE_MODULE])

    def start_server(self) -> None:
        """Start the server now (it imports ``preload`` in the background: seconds for torch),
        so that it is ready by the first worker rather than delaying it."""
        forkserver.ensure_running()

    def pipe(self) -> tuple[Connection, Connection]:
        """A one-way pipe: (the parent's reading end, the child's writing end)."""
        return self._ctx.Pipe(duplex=False)

    def process(self, target: Any, args: tuple[Any, ...]) -> WorkerProcess:
        """A daemon worker, not started yet; ``target`` must be importable (a module's function)."""
        return WorkerProcess(target=target, args=args, daemon=True)
