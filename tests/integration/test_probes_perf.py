"""Real perf on this machine: the attaching probe counts only the enabled region.

The region's own CPU time (``time.process_time``, every thread) is the reference, so the
checks hold on a loaded machine too: task-clock is CPU time, not wall time.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from agent.probes.perf import PerfAttachProbe, perf_support

HARDWARE = ("perf_instructions", "perf_cycles", "perf_cache_references", "perf_cache_misses",
            "perf_branches", "perf_branch_misses")
SOFTWARE = ("perf_task_clock_ms", "perf_context_switches", "perf_cpu_migrations", "perf_page_faults")
SLACK_MS = 25.0  # enable/disable round trips and the ack reads around the region

needs_perf = pytest.mark.skipif(not perf_support().ok,
                                reason=f"perf cannot run here: {perf_support().reason}")

def _check_hardware_columns(columns: dict, error: str | None) -> None:
    for column in HARDWARE:  # counted where the CPU has counters, else null with the reason
        assert columns[column] is not None or (error and column in error and "not supported" in error)
    for column in SOFTWARE:
        assert columns[column] is not None, f"{column}: software events always count"


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@needs_perf
def test_the_attaching_probe_counts_each_region_on_its_own_threads_included() -> None:
    probe = PerfAttachProbe()  # one probe, several regions: one perf each
    for region_s in (0.1, 0.25):
        _busy(0.2)  # before the region: not counted
        c0 = time.process_time()
        probe.start()
        c1 = time.process_time()
        helper = threading.Thread(target=_busy, args=(0.05,))  # started inside the region
        helper.start()
        _busy(region_s)
        helper.join()
        c2 = time.process_time()
        result = probe.stop()
        c3 = time.process_time()
        task_clock = result.columns["perf_task_clock_ms"]
        assert (c2 - c1) * 1e3 - SLACK_MS <= task_clock <= (c3 - c0) * 1e3 + SLACK_MS, region_s
        _check_hardware_columns(result.columns, result.error)


@needs_perf
def test_a_perf_that_cannot_attach_is_a_reason_not_an_exception() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer exists
    probe = PerfAttachProbe(pid=gone.pid, timeout_s=10)
    probe.start()
    result = probe.stop()
    assert all(value is None for value in result.columns.values())
    assert "perf answered 'enable'" in result.error and "perf said:" in result.error
