"""Faults at the collector's (and the agent's) own output folder: a full disk, and a second
collector on the same --out. A full disk is real: a small tmpfs mounted by the test (root)."""
from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.faults.fleetrun import SLOW_TRIALS, TRIALS, assert_each_trial_once, every_line_a_row, make_fleet
from tests.integration.fleet import BIN, fleet_sweep
from tests.sshhosts import KeyPair

pytestmark = pytest.mark.slow
PAGE = 4096


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs: a disk that really fills (ENOSPC from the kernel)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a real full disk) needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave_bytes: int) -> Path:
    """Fill the disk but ``leave_bytes`` (rounded to pages)."""
    stat = os.statvfs(disk)
    filler = disk / "filler"
    with filler.open("wb") as f:
        f.write(b"\0" * (stat.f_bavail * stat.f_frsize - leave_bytes))
    return filler


def one_line_no_space(text: str) -> None:
    assert "Traceback" not in text, text
    assert "no space left on" in text, text


@pytest.mark.parametrize("free_pages", [3, 24])  # full while rows come in; full at the merge
def test_a_full_disk_at_out_is_one_line_and_the_rerun_resumes(tmp_path: Path, small_disk: Path, sshd_loopback,
                                                              ssh_client_key: KeyPair, store: Path,
                                                              free_pages: int) -> None:
    fleet = make_fleet(tmp_path, sshd_loopback(), ssh_client_key, store, out=small_disk / "out")
    filler = fill(small_disk, free_pages * PAGE)
    full = fleet.run()
    assert full.returncode != 0
    one_line_no_space(full.stdout + full.stderr)
    if fleet.local.exists():
        every_line_a_row(fleet.local)  # a row cut short by the full disk was taken back

    filler.unlink()
    again = fleet.run()
    assert again.returncode == 0, again.stdout + again.stderr
    assert_each_trial_once(fleet.local, TRIALS)


def test_a_full_disk_under_the_agent_is_one_line_and_the_rerun_resumes(tmp_path: Path, small_disk: Path,
                                                                       store: Path) -> None:
    sweep = tmp_path / "sweep.yml"
    sweep.write_text(yaml.safe_dump(fleet_sweep()))
    out = small_disk / "agent"
    command = [str(BIN / "agent"), "run", "--sweep", str(sweep), "--out", str(out), "--artifacts", str(store),
               "--events", str(out / "events.jsonl")]
    filler = fill(small_disk, 12 * PAGE)
    full = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert full.returncode != 0
    one_line_no_space(full.stdout + full.stderr)
    assert "no space left on" in full.stderr.strip().splitlines()[-1]

    filler.unlink()
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert_each_trial_once(out / "results.jsonl", TRIALS)
    for side in ("telemetry.jsonl", "events.jsonl"):
        every_line_a_row(out / side)  # no torn line left in the middle of a side file


def test_a_second_collector_on_the_same_out_is_refused(tmp_path: Path, sshd_loopback, ssh_client_key: KeyPair,
                                                       store: Path) -> None:
    fleet = make_fleet(tmp_path, sshd_loopback(), ssh_client_key, store, slow=True)
    first = fleet.start()
    try:
        fleet.wait_rows(2, first)
        second = fleet.run()
        text = " ".join((second.stdout + second.stderr).split())
        assert second.returncode == 2 and "Traceback" not in text, text
        assert f"another collector (pid {first.pid}" in text and str(fleet.out) in text, text
        assert first.wait(timeout=180) == 0, fleet.log()
    finally:
        first.kill()
    assert_each_trial_once(fleet.local, SLOW_TRIALS)
    assert fleet.run().returncode == 0
