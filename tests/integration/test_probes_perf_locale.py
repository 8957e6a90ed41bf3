"""Real perf under a comma-decimal locale (``de_DE.UTF-8``): the numbers must still be right.

perf honours ``LC_NUMERIC`` even with ``-x,`` and prints ``230,44,msec,task-clock``; read
as CSV that is 44 ms. The probes run perf with ``LC_ALL=C``. The reference is the region's
own CPU time, as in test_probes_perf.py. CI makes the locale in ``.ci/run``.
"""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from agent.probes.perf import PerfAttachProbe, perf_support

COMMA_LOCALE = "de_DE.UTF-8"
SLACK_MS = 25.0


def _has_locale(name: str) -> bool:
    try:
        listed = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    wanted = name.lower().replace("-", "")
    return any(line.strip().lower().replace("-", "") == wanted for line in listed.splitlines())


pytestmark = [
    pytest.mark.skipif(not perf_support().ok, reason=f"perf cannot run here: {perf_support().reason}"),
    pytest.mark.skipif(not _has_locale(COMMA_LOCALE),
                       reason=f"locale {COMMA_LOCALE} is not installed (Debian: locales + localedef "
                              "-i de_DE -f UTF-8 de_DE.UTF-8; .ci/run does it)"),
]


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_perf_itself_prints_a_decimal_comma_in_this_locale(tmp_path: Path) -> None:
    """The premise: without LC_ALL=C, perf's CSV is ambiguous here."""
    out = tmp_path / "raw.csv"
    subprocess.run(["perf", "stat", "-x,", "-o", str(out), "-e", "task-clock", "--", "sleep", "0.05"],
                   env={"PATH": "/usr/bin:/bin", "LC_ALL": COMMA_LOCALE}, check=True, timeout=30)
    line = next(ln for ln in out.read_text().splitlines() if "task-clock" in ln)
    assert line.split(",")[2] == "msec", line  # value "0,70" took two fields


def test_the_attaching_probe_reads_task_clock_under_a_comma_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LC_ALL", COMMA_LOCALE)
    probe = PerfAttachProbe()
    c0 = time.process_time()
    probe.start()
    c1 = time.process_time()
    _busy(0.3)
    c2 = time.process_time()
    result = probe.stop()
    c3 = time.process_time()
    task_clock = result.columns["perf_task_clock_ms"]
    # misread, task-clock would be the fraction digits (0..99 ms) of the ~300 ms region
    assert (c2 - c1) * 1e3 - SLACK_MS <= task_clock <= (c3 - c0) * 1e3 + SLACK_MS
    assert result.columns["perf_context_switches"] is not None
