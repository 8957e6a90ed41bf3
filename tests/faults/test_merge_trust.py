"""The merge's trust boundary: a row's host is the folder the collector fetched it into (the
inventory's name), never the ``host`` a row claims. A folder dropped into OUT/ whose rows
claim a real host's name must not overwrite that host's rows in fleet.duckdb."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
import yaml

from collector.fleet.store import merge
from shared.resultsdir import load_results
from tests.faults.fleetrun import TRIALS, assert_each_trial_once, make_fleet
from tests.integration.fleet import collector
from tests.sshhosts import KeyPair

pytestmark = pytest.mark.slow


def test_rows_claiming_another_host_do_not_overwrite_it(tmp_path: Path, sshd_loopback, ssh_client_key: KeyPair,
                                                        store: Path) -> None:
    fleet = make_fleet(tmp_path, sshd_loopback(), ssh_client_key, store)
    done = fleet.run()
    assert done.returncode == 0, done.stdout + done.stderr
    real = assert_each_trial_once(fleet.local, TRIALS)

    # a folder dropped into OUT/ (or a device that lies): the same trials, claiming host "h"
    forged = [{**row, "latency_p50_ms": 999.0} for row in real]
    (fleet.out / "intruder").mkdir()
    (fleet.out / "intruder" / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in forged))
    fetched = collector(["fetch", "--hosts", str(fleet.inventory), "--known-hosts", str(fleet.known_hosts),
                         "--name", "fleet", "--out", str(fleet.out)], fleet.home)
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    text = " ".join(fetched.stdout.split())
    assert "intruder" in text and "claim host 'h'" in text, text

    con = duckdb.connect(str(fleet.out / "fleet.duckdb"), read_only=True)
    by_host = dict(con.execute("SELECT host, max(latency_p50_ms) FROM results GROUP BY host").fetchall())
    con.close()
    assert by_host == {"h": max(r["latency_p50_ms"] for r in real), "intruder": 999.0}
    assert {r["host"] for r in load_results(fleet.out).rows} == {"h", "intruder"}  # analysis and report read the same
    again = merge(fleet.out)
    assert again.rows_total == 2 * TRIALS and set(again.mismatched) == {"intruder"}


def test_an_odd_host_name_survives_its_folder_slug(tmp_path: Path, sshd_loopback, ssh_client_key: KeyPair,
                                                   store: Path) -> None:
    fleet = make_fleet(tmp_path, sshd_loopback(), ssh_client_key, store)
    inventory = yaml.safe_load(fleet.inventory.read_text())
    inventory["hosts"][0]["name"] = "lab board #1"
    fleet.inventory.write_text(yaml.safe_dump(inventory))
    done = fleet.run()
    assert done.returncode == 0, done.stdout + done.stderr
    (folder,) = [p for p in fleet.out.iterdir() if p.is_dir()]
    assert folder.name != "lab board #1"  # a slug, but the rows keep the inventory's name
    con = duckdb.connect(str(fleet.out / "fleet.duckdb"), read_only=True)
    assert con.execute("SELECT DISTINCT host FROM results").fetchall() == [("lab board #1",)]
    con.close()
