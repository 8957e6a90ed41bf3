"""collector/fleet/hostlock.py with the local transport: a real shell, real mkdir, real threads."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from collector.fleet.hostlock import host_lock
from collector.fleet.transport import TransportError
from collector.fleet.transport.local import LocalTransport
from shared.inventory import Host


def transport() -> LocalTransport:
    return LocalTransport(Host(name="here", transport="local"))


def test_the_second_holder_waits_until_the_first_lets_go(tmp_path: Path) -> None:
    lock, order, said = str(tmp_path / "venv.deploy-lock"), [], []
    first_in = threading.Event()

    def first() -> None:
        with host_lock(transport(), lock, "a"):
            first_in.set()
            order.append("a in")
            time.sleep(0.5)
            order.append("a out")

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(10)
    with host_lock(transport(), lock, "b", log=said.append, poll_s=0.05):
        order.append("b in")
    thread.join()
    assert order == ["a in", "a out", "b in"]
    assert said and said[0].startswith("waiting for a (collector on")
    assert not Path(lock).exists()


def test_a_stale_lock_is_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / "venv.deploy-lock"
    lock.mkdir()
    (lock / "owner").write_text("ghost (collector on elsewhere)\n")
    old = time.time() - 7200
    os.utime(lock, (old, old))
    said: list[str] = []
    with host_lock(transport(), str(lock), "b", log=said.append, stale_s=3600, poll_s=0.05):
        assert (lock / "owner").read_text().startswith("b (collector on")
    assert "stale lock" in said[0] and "ghost" in said[0]


def test_a_lock_held_too_long_is_a_transport_error(tmp_path: Path) -> None:
    lock = tmp_path / "venv.deploy-lock"
    lock.mkdir()
    with pytest.raises(TransportError, match=r"still held by .* after 0.2 s"):
        with host_lock(transport(), str(lock), "b", wait_s=0.2, poll_s=0.05):
            pass
