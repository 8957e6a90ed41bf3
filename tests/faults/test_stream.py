"""The collector's row stream against faults on the device, each on a real sshd host: a run
folder wiped and redone, a torn line in the agent's event file, the agent alone killed by
SIGKILL (the OOM killer's way). After each: no row lost, none doubled, no fragment."""
from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import duckdb
import pytest

from tests.faults.fleetrun import SLOW_TRIALS, TRIALS, assert_each_trial_once, every_line_a_row, make_fleet, rows
from tests.sshhosts import KeyPair

pytestmark = pytest.mark.slow


def test_a_wiped_run_folder_is_read_again_from_the_start(tmp_path: Path, sshd_loopback, ssh_client_key: KeyPair,
                                                         store: Path) -> None:
    fleet = make_fleet(tmp_path, sshd_loopback(), ssh_client_key, store)
    first = fleet.run()
    assert first.returncode == 0, first.stdout + first.stderr
    old = assert_each_trial_once(fleet.local, TRIALS)
    telemetry = fleet.out / "h" / "telemetry.jsonl"
    old_telemetry = every_line_a_row(telemetry)

    shutil.rmtree(fleet.run_folder)  # a re-imaged board, a cleaned workdir: the same run, from scratch
    again = fleet.run()
    assert again.returncode == 0, again.stdout + again.stderr
    text = " ".join(again.stdout.split())
    assert "re-reading it from the start" in text, text
    both = assert_each_trial_once(fleet.local, TRIALS, runs=2)  # the old rows kept, the new ones added
    assert both[:TRIALS] == old  # in place, unchanged
    assert fleet.outcome()["outcome"] == "ok"
    both_telemetry = every_line_a_row(telemetry)  # side files too: the old run's lines kept
    assert both_telemetry[:len(old_telemetry)] == old_telemetry and len(both_telemetry) == 2 * len(old_telemetry)
    con = duckdb.connect(str(fleet.out / "fleet.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM results WHERE host = 'h'").fetchall() == [(2 * TRIALS,)]
    con.close()

    third = fleet.run()  # nothing new anywhere: nothing fetched twice
    assert third.returncode == 0, third.stdout + third.stderr
    assert "merged 16 rows (0 new)" in " ".join(third.stdout.split())
    assert_each_trial_once(fleet.local, TRIALS, runs=2)


def test_a_torn_event_line_is_cut_or_skipped_never_fatal(tmp_path: Path, sshd_loopback,
                                                          ssh_client_key: KeyPair, store: Path) -> None:
    fleet = make_fleet(tmp_path, sshd_loopback(), ssh_client_key, store, slow=True)
    events = fleet.agent_out / "events.jsonl"
    proc = fleet.start()
    try:
        fleet.wait_rows(2, proc)
        pid = int((fleet.agent_out / "agent.pid").read_text())
        with events.open("ab") as f:
            f.write(b'{"event": "row", "t": 17')  # the agent's last write, cut short
        os.killpg(pid, signal.SIGKILL)  # ... by its death: the restarted agent appends after it
        assert proc.wait(timeout=180) == 0, fleet.log()
    finally:
        proc.kill()
    assert fleet.outcome()["restarts"] == 1
    assert_each_trial_once(fleet.local, SLOW_TRIALS)
    every_line_a_row(events)  # the restarted agent cut the half line before writing its own

    # a garbled line in the middle, as an older agent left it (its next line glued to the half)
    lines = events.read_bytes().splitlines(keepends=True)
    events.write_bytes(b"".join(lines[:3]) + b'{"event": "row", "t": 17{"event": "stage", "text": "x"}\n'
                       + b"".join(lines[3:]))
    again = fleet.run()  # events are read again from the start: later runs of the host go on
    text = " ".join(again.stdout.split())
    assert again.returncode == 0, again.stdout + again.stderr
    assert "skipped 1 unreadable line(s) of events.jsonl" in text, text
    assert_each_trial_once(fleet.local, SLOW_TRIALS)


def test_an_agent_killed_alone_by_sigkill_is_restarted(tmp_path: Path, sshd_loopback, ssh_client_key: KeyPair,
                                                       store: Path) -> None:
    fleet = make_fleet(tmp_path, sshd_loopback(), ssh_client_key, store, slow=True)
    proc = fleet.start()
    try:
        fleet.wait_rows(2, proc)
        # the agent alone, not its session: its wrapper lives on and records the death (137)
        os.kill(int((fleet.agent_out / "agent.child").read_text()), signal.SIGKILL)
        assert proc.wait(timeout=180) == 0, fleet.log()
    finally:
        proc.kill()
    assert "killed by SIGKILL" in fleet.log(), fleet.log()
    assert fleet.outcome()["restarts"] == 1
    assert_each_trial_once(fleet.local, SLOW_TRIALS)
    assert len(rows(fleet.agent_out / "results.jsonl")) == SLOW_TRIALS
