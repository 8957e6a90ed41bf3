"""One host's `collector run` against a real sshd, as the fault tests drive it: the command
line, a run in the background to strike mid-way, and the checks every fault test makes."""
from __future__ import annotations

import json
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.integration.fleet import (collector, fleet_sweep, rows, ssh_host, start_collector, wait_for_rows,
                                     write_inventory)
from tests.sshhosts import KeyPair, SshdHost, write_known_hosts

TRIALS = 8  # fleet_sweep(): 2 variants x 4 batch sizes
SLOW_TRIALS = 12  # slow_sweep(): 2 variants x 6 batch sizes


@dataclass
class Fleet:
    """A one-host fleet: its inventory, sweep and folders (the host's run folder is real files)."""

    tmp: Path
    inventory: Path
    known_hosts: Path
    sweep: Path
    store: Path
    out: Path
    name: str = "h"

    @property
    def home(self) -> Path:
        return self.tmp / "home"

    @property
    def run_folder(self) -> Path:  # <workdir>/runs/<run>/<host> on the "device"
        from shared.inventory import Host
        return self.tmp / "w" / "runs" / "fleet" / Host(name=self.name).folder_name

    @property
    def agent_out(self) -> Path:
        return self.run_folder / "out"

    @property
    def local(self) -> Path:  # the collector's copy: OUT/<host>/results.jsonl
        return self.out / self.name / "results.jsonl"

    def args(self, *extra: str) -> list[str]:
        return ["run", "--hosts", str(self.inventory), "--sweep", str(self.sweep), "--artifacts", str(self.store),
                "--out", str(self.out), "--known-hosts", str(self.known_hosts), "--no-deploy", "--no-report",
                "--poll", "0.3", "--connect-timeout", "3", "--io-timeout", "3", *extra]

    def run(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return collector(self.args(*extra), self.home)

    def start(self, log: str = "collector.log", *extra: str) -> subprocess.Popen[bytes]:
        return start_collector(self.args(*extra), self.home, self.tmp / log)

    def log(self, name: str = "collector.log") -> str:
        return " ".join((self.tmp / name).read_text().split())

    def outcome(self) -> dict[str, Any]:
        return json.loads((self.out / "fleet.json").read_text())["hosts"][0]

    def wait_rows(self, n: int, proc: subprocess.Popen[bytes]) -> None:
        wait_for_rows(self.local, n, proc=proc)


def make_fleet(tmp: Path, sshd: SshdHost, key: KeyPair, store: Path, *, slow: bool = False,
               out: Path | None = None) -> Fleet:
    sweep = tmp / "fleet.yml"
    sweep.write_text(yaml.safe_dump(fleet_sweep(min_time_s=0.8, batch_sizes=(1, 2, 4, 8, 16, 32)) if slow
                                    else fleet_sweep()))
    inventory = write_inventory(tmp / "inv.yml", [ssh_host("h", sshd, key, tmp / "w")])
    return Fleet(tmp, inventory, write_known_hosts(tmp / "known_hosts", [sshd]), sweep, store, out or tmp / "out")


def every_line_a_row(path: Path) -> list[dict[str, Any]]:
    """Every line of a local results file parses: no fragment, no torn line."""
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), f"torn last line in {path}: {data[-80:]!r}"
    found = []
    for number, line in enumerate(data.splitlines(), 1):
        try:
            found.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"{path}:{number} is not a row: {line[:80]!r}") from None
    return found


def assert_each_trial_once(path: Path, total: int, runs: int = 1) -> list[dict[str, Any]]:
    """``runs`` agent runs (run ids), each with every trial exactly once, all ok."""
    found = every_line_a_row(path)
    counts = Counter((r["run_id"], r["trial_key"]) for r in found)
    assert len({r["run_id"] for r in found}) == runs, Counter(r["run_id"] for r in found)
    assert len(counts) == total * runs, f"{len(counts)} distinct trials, want {total * runs}"
    assert max(counts.values()) == 1, f"doubled rows: {[k for k, n in counts.items() if n > 1]}"
    assert all(r["status"] == "ok" for r in found), [r["error"] for r in found if r["status"] != "ok"]
    return found


__all__ = ["Fleet", "SLOW_TRIALS", "TRIALS", "assert_each_trial_once", "every_line_a_row", "make_fleet", "rows"]
