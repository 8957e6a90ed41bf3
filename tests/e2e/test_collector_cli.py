"""The collector's command line on bad input: one line naming the file, host and field, exit
status 2, never a traceback; and a --help for every command."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

BAD_INVENTORIES = {
    "missing address": ("hosts:\n  - name: pi-4\n", "hosts[0] (pi-4): address"),
    "duplicate name": ("hosts:\n  - {name: a, address: h1}\n  - {name: a, address: h2}\n", "duplicate"),
    "unknown key": ("hosts:\n  - {name: a, address: h1, adress: h2}\n", "adress"),
    "unreadable identity file": ("hosts:\n  - {name: a, address: h1, identity_file: /nonexistent/id_x}\n",
                                 "identity_file"),
    "yaml error": ("hosts:\n  - {name: a, address: [h1\n", "line"),
    "a password in the file": ("hosts:\n  - {name: a, address: h1, password: hunter2}\n", "password"),
}


def collector(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "collector"), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("case", sorted(BAD_INVENTORIES))
def test_a_bad_inventory_is_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    text, expected = BAD_INVENTORIES[case]
    inventory = tmp_path / "inv.yml"
    inventory.write_text(text)
    done = collector("run", "--hosts", str(inventory), "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert str(inventory) in done.stderr and expected in done.stderr


def test_an_unknown_limit_and_a_missing_inventory_are_one_line(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.yml"
    inventory.write_text("hosts:\n  - {name: a, transport: local}\n")
    limited = collector("status", "--hosts", str(inventory), "--limit", "nope")
    assert limited.returncode == 2 and "nope" in limited.stderr and "Traceback" not in limited.stderr
    missing = collector("run", "--hosts", str(tmp_path / "absent.yml"))
    assert missing.returncode == 2 and "absent.yml" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.parametrize("command", ["run", "deploy", "status", "fetch", "analyze", "report"])
def test_every_command_explains_itself(command: str) -> None:
    done = collector(command, "--help")
    assert done.returncode == 0 and "usage: collector" in done.stdout and len(done.stdout) > 300


def test_status_with_an_unreachable_host_exits_1(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.yml"
    inventory.write_text("hosts:\n  - {name: gone, address: 127.0.0.1, port: 1, user: nobody}\n")
    (tmp_path / "known_hosts").touch()
    done = collector("status", "--hosts", str(inventory), "--known-hosts", str(tmp_path / "known_hosts"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "unreachable" in done.stdout and "1 host(s) not reached: gone" in done.stdout
