"""Two inventory names for one machine, one user and one workdir (a board listed twice), against
a real sshd: the collector warns at the start, one deploy installs the agent into the shared
venv under a lock on the host while the other waits and then finds it up to date, each name
gets its own run folder, and both end ``ok`` with every row once.

Deploying makes a fresh venv on the "host" (pip runs there): where no package index can be
reached, pip's own message says so and the test is skipped with it.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.integration.fleet import build_store, collector, fleet_sweep, rows, ssh_host, write_inventory
from tests.integration.test_collector_deploy import NO_INDEX, flat
from tests.sshhosts import KeyPair, write_known_hosts

pytestmark = pytest.mark.slow
TRIALS = 8  # fleet_sweep(): 2 variants x 4 batch sizes


def test_two_names_for_one_machine_share_the_venv_under_a_lock_and_both_finish_ok(
        tmp_path: Path, sshd_loopback, ssh_client_key: KeyPair) -> None:
    (tmp_path / "artifacts").mkdir()
    store = build_store(tmp_path / "artifacts")
    host = sshd_loopback()
    known = write_known_hosts(tmp_path / "known_hosts", [host])
    venv, workdir = tmp_path / "device-venv", tmp_path / "w"
    inventory = write_inventory(tmp_path / "inv.yml", [
        ssh_host(name, host, ssh_client_key, workdir, venv=str(venv), extras="agent")
        for name in ("board-a", "board-b")])
    sweep = tmp_path / "fleet.yml"
    sweep.write_text(yaml.safe_dump(fleet_sweep()))
    out = tmp_path / "out"
    run = collector(["run", "--hosts", str(inventory), "--sweep", str(sweep), "--artifacts", str(store),
                     "--out", str(out), "--known-hosts", str(known), "--no-report", "--poll", "0.3",
                     "--connect-timeout", "3", "--io-timeout", "10"], tmp_path / "home", timeout=1200)
    text = flat(run)
    if run.returncode != 0 and any(msg in text for msg in NO_INDEX):
        pytest.skip(f"no package index reachable from the host's pip: {text[-400:]}")
    assert run.returncode == 0, text
    assert "warning: board-a, board-b are one machine" in text
    assert len(re.findall(r"board-[ab]: agent installed", text)) == 1, text  # one installs...
    assert re.search(r"board-[ab]: waiting for board-[ab] \(collector on", text), text  # ...the other waits
    fleet = json.loads((out / "fleet.json").read_text())
    assert {h["name"]: h["outcome"] for h in fleet["hosts"]} == {"board-a": "ok", "board-b": "ok"}
    for name in ("board-a", "board-b"):
        found = rows(out / name / "results.jsonl")
        assert len({r["trial_key"] for r in found}) == len(found) == TRIALS
        assert {r["host"] for r in found} == {name}
        assert (workdir / "runs" / "fleet" / name / "sweep.yml").is_file()  # a run folder each
    assert not (Path(f"{venv}.deploy-lock")).exists()  # released
    print(f"two names, one machine: {text[:2000]}")
