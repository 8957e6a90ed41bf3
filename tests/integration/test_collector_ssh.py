"""`collector run` against real OpenSSH servers: on loopback and in network namespaces.

Every host runs this checkout's agent (its venv is given in the inventory, so nothing is
installed) on prebuilt artifacts with onnxruntime; the collector is a real subprocess with a
private HOME. Faults are real: sshd and its sessions killed, a namespace's link cut, the
agent's process group killed.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.integration.fleet import (build_store, collector, fleet_sweep, rows, ssh_host, start_collector,
                                     wait_for_rows, write_inventory)
from tests.sshhosts import KeyPair, write_known_hosts

pytestmark = pytest.mark.slow
TRIALS = 8  # fleet_sweep(): 2 variants x 4 batch sizes


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yml"
    path.write_text(yaml.safe_dump(fleet_sweep()))
    return path


def slow_sweep(tmp_path: Path) -> Path:
    """Long enough (~1 s a trial) to be interrupted mid-run."""
    path = tmp_path / "slow.yml"
    path.write_text(yaml.safe_dump(fleet_sweep(min_time_s=0.8, batch_sizes=(1, 2, 4, 8, 16, 32))))
    return path


def run_args(inventory: Path, sweep: Path, store: Path, out: Path, known_hosts: Path, *extra: str) -> list[str]:
    return ["run", "--hosts", str(inventory), "--sweep", str(sweep), "--artifacts", str(store),
            "--out", str(out), "--known-hosts", str(known_hosts), "--no-deploy", "--no-report",
            "--poll", "0.3", "--connect-timeout", "3", "--io-timeout", "3", *extra]


def assert_each_trial_once(path: Path, total: int) -> None:
    found = rows(path)
    counts = Counter(r["trial_key"] for r in found)
    assert len(counts) == total, f"{len(counts)} distinct trials, want {total}"
    assert max(counts.values()) == 1, f"duplicated rows: {[k for k, n in counts.items() if n > 1]}"
    assert all(r["status"] == "ok" for r in found), [r["error"] for r in found if r["status"] != "ok"]


def test_a_clean_two_host_run_merges_both(tmp_path: Path, sshd_loopback, ssh_client_key: KeyPair,
                                          store: Path, sweep: Path) -> None:
    a, b = sshd_loopback(), sshd_loopback()
    known = write_known_hosts(tmp_path / "known_hosts", [a, b])
    inventory = write_inventory(tmp_path / "inv.yml", [
        ssh_host("alpha", a, ssh_client_key, tmp_path / "w-alpha"),
        ssh_host("beta", b, ssh_client_key, tmp_path / "w-beta", batch_sizes=[1, 2])])
    out = tmp_path / "out"
    done = collector(run_args(inventory, sweep, store, out, known), tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_each_trial_once(out / "alpha" / "results.jsonl", TRIALS)
    assert_each_trial_once(out / "beta" / "results.jsonl", 4)  # the inventory's batch-size override
    con = duckdb.connect(str(out / "fleet.duckdb"), read_only=True)
    assert con.execute("SELECT host, count(*) FROM results GROUP BY host ORDER BY host").fetchall() == [
        ("alpha", TRIALS), ("beta", 4)]
    con.close()
    assert (out / "results.parquet").stat().st_size > 0
    assert json.loads((out / "alpha" / "machine.json").read_text())["host"] == "alpha"
    fleet = json.loads((out / "fleet.json").read_text())
    assert {h["name"]: h["outcome"] for h in fleet["hosts"]} == {"alpha": "ok", "beta": "ok"}

    again = collector(run_args(inventory, sweep, store, out, known), tmp_path / "home")  # resumes: nothing new
    assert again.returncode == 0, again.stdout + again.stderr
    assert "merged 12 rows (0 new)" in " ".join(again.stdout.split())
    assert_each_trial_once(out / "alpha" / "results.jsonl", TRIALS)


def test_unknown_host_key_is_refused_then_accepted_with_the_flag(tmp_path: Path, sshd_loopback,
                                                                 ssh_client_key: KeyPair, store: Path,
                                                                 sweep: Path) -> None:
    host = sshd_loopback()
    known = tmp_path / "known_hosts"
    inventory = write_inventory(tmp_path / "inv.yml", [ssh_host("new", host, ssh_client_key, tmp_path / "w")])
    out = tmp_path / "out"
    refused = collector(run_args(inventory, sweep, store, out, known), tmp_path / "home")
    text = " ".join(refused.stdout.split())
    assert refused.returncode == 1 and "auth-failed" in text and "is not known" in text, text
    assert "--accept-new-host-keys" in text and not known.exists()

    accepted = collector(run_args(inventory, sweep, store, out, known, "--accept-new-host-keys"), tmp_path / "home")
    text = " ".join(accepted.stdout.split())
    assert accepted.returncode == 0, text
    assert "accepted new host key" in text and "SHA256:" in text
    assert known.read_text().split()[:2] == host.known_hosts_line().split()[:2]
    assert_each_trial_once(out / "new" / "results.jsonl", TRIALS)


def test_a_changed_host_key_is_refused_even_with_the_flag(tmp_path: Path, sshd_loopback,
                                                          ssh_client_key: KeyPair, store: Path,
                                                          sweep: Path) -> None:
    host, impostor = sshd_loopback(), sshd_loopback()
    known = tmp_path / "known_hosts"
    # the known key of `host` is another server's key: what a man-in-the-middle looks like
    known.write_text(f"[{host.address}]:{host.port} " + " ".join(impostor.known_hosts_line().split()[1:]) + "\n")
    inventory = write_inventory(tmp_path / "inv.yml", [ssh_host("h", host, ssh_client_key, tmp_path / "w")])
    done = collector(run_args(inventory, sweep, store, tmp_path / "out", known, "--accept-new-host-keys"),
                     tmp_path / "home")
    text = " ".join(done.stdout.split())
    assert done.returncode == 1 and "auth-failed" in text and "CHANGED" in text, text
    assert "Traceback" not in done.stdout + done.stderr


def test_a_key_the_host_does_not_accept_is_auth_failed(tmp_path: Path, sshd_loopback, ssh_client_key: KeyPair,
                                                       store: Path, sweep: Path) -> None:
    from tests.sshhosts import make_keypair

    other = make_keypair(tmp_path / "other", "id_other")
    host = sshd_loopback()
    known = write_known_hosts(tmp_path / "known_hosts", [host])
    inventory = write_inventory(tmp_path / "inv.yml", [
        {**ssh_host("h", host, ssh_client_key, tmp_path / "w"), "identity_file": str(other.private_path)}])
    done = collector(run_args(inventory, sweep, store, tmp_path / "out", known), tmp_path / "home")
    text = " ".join(done.stdout.split())
    assert done.returncode == 1 and "auth-failed" in text and "authentication as root@" in text, text


@dataclass
class MidRun:
    """A collector run on one host, two rows in: the moment the tests below strike."""

    proc: subprocess.Popen
    out: Path  # the collector's results folder; the host's rows are in out / name
    agent_out: Path  # the agent's own folder on the host
    log_path: Path

    def log(self) -> str:
        return " ".join(self.log_path.read_text().split())

    def wait(self, timeout: float = 180) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(self.log()) from None


@contextlib.contextmanager
def mid_run(tmp_path: Path, sshd, key: KeyPair, store: Path, name: str = "h") -> Iterator[MidRun]:
    known = write_known_hosts(tmp_path / "known_hosts", [sshd])
    inventory = write_inventory(tmp_path / "inv.yml", [ssh_host(name, sshd, key, tmp_path / "w")])
    out = tmp_path / "out"
    run = MidRun(start_collector(run_args(inventory, slow_sweep(tmp_path), store, out, known), tmp_path / "home",
                                 tmp_path / "collector.log"),
                 out, tmp_path / "w" / "runs" / "fleet" / name / "out", tmp_path / "collector.log")
    try:
        wait_for_rows(out / name / "results.jsonl", 2, proc=run.proc)
        yield run
    finally:
        run.proc.kill()


def test_sshd_killed_mid_run_then_back_resumes_with_no_row_lost_or_doubled(
        tmp_path: Path, sshd_loopback, ssh_client_key: KeyPair, store: Path) -> None:
    host = sshd_loopback()
    with mid_run(tmp_path, host, ssh_client_key, store) as run:
        host.stop()  # the listener and every session: the collector's connection is gone
        time.sleep(4)  # the agent, detached, keeps measuring meanwhile
        host.restart()
        assert run.wait() == 0, run.log()
    assert "reconnecting" in run.log()
    assert_each_trial_once(run.out / "h" / "results.jsonl", 12)
    assert json.loads((run.out / "fleet.json").read_text())["hosts"][0]["restarts"] == 0  # the agent lived on


def test_a_host_cut_off_the_network_mid_run_resumes(tmp_path: Path, sshd_netns, ssh_client_key: KeyPair,
                                                    store: Path) -> None:
    host = sshd_netns()
    with mid_run(tmp_path, host, ssh_client_key, store, name="device") as run:
        host.cut_network()
        time.sleep(10)  # longer than --io-timeout and --connect-timeout: the link is down, not slow
        host.restore_network()
        assert run.wait() == 0, run.log()
    assert "reconnecting" in run.log()
    assert_each_trial_once(run.out / "device" / "results.jsonl", 12)


def test_an_agent_killed_mid_run_is_restarted_and_resumes(tmp_path: Path, sshd_loopback,
                                                          ssh_client_key: KeyPair, store: Path) -> None:
    with mid_run(tmp_path, sshd_loopback(), ssh_client_key, store) as run:
        pid = int((run.agent_out / "agent.pid").read_text())
        os.killpg(pid, signal.SIGKILL)  # the agent's whole session, as the OOM killer or a reboot would
        assert run.wait() == 0, run.log()
    assert "restarting it" in run.log()
    assert_each_trial_once(run.out / "h" / "results.jsonl", 12)
    assert json.loads((run.out / "fleet.json").read_text())["hosts"][0]["restarts"] == 1


def test_ctrl_c_stops_the_remote_agents_and_keeps_the_rows(tmp_path: Path, sshd_loopback,
                                                           ssh_client_key: KeyPair, store: Path) -> None:
    with mid_run(tmp_path, sshd_loopback(), ssh_client_key, store) as run:
        run.proc.send_signal(signal.SIGINT)
        assert run.wait(timeout=60) == 130, run.log()
    assert "stopped by the operator" in run.log() and "partial" in run.log()
    remote = rows(run.agent_out / "results.jsonl")
    assert 2 <= len(rows(run.out / "h" / "results.jsonl")) == len(remote) < 12  # every finished row is here
    assert (run.agent_out / "agent.exit").exists()  # the agent stopped


def test_a_hostile_host_and_run_name_stay_names(tmp_path: Path, sshd_loopback, ssh_client_key: KeyPair,
                                                store: Path, sweep: Path) -> None:
    # a relative canary: made in the collector's folder or in the remote home if a name ever ran
    canary = f"edgeprune-canary-{os.getpid()}"
    places = [tmp_path, Path.home(), tmp_path / "w"]
    host = sshd_loopback()
    known = write_known_hosts(tmp_path / "known_hosts", [host])
    name = f"x; touch {canary}; echo $(touch {canary}2) `touch {canary}3`"
    inventory = write_inventory(tmp_path / "inv.yml", [ssh_host(name, host, ssh_client_key, tmp_path / "w")])
    out = tmp_path / "out"
    done = collector(run_args(inventory, sweep, store, out, known, "--name", f"r'; touch {canary}4; '"),
                     tmp_path / "home", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not [p for place in places for p in place.glob(f"{canary}*")], "a name was run as a command"
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    assert ";" not in folder.name and " " not in folder.name
    assert {r["host"] for r in rows(folder / "results.jsonl")} == {name}


def test_an_ansible_inventory_with_an_ssh_config_alias(tmp_path: Path, sshd_loopback, ssh_client_key: KeyPair,
                                                       store: Path, sweep: Path) -> None:
    host = sshd_loopback()
    known = write_known_hosts(tmp_path / "known_hosts", [host])
    config = tmp_path / "ssh_config"
    config.write_text(f"Host lab-board\n  HostName {host.address}\n  Port {host.port}\n  User root\n"
                      f"  IdentityFile {ssh_client_key.private_path}\n")
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"boards": {
        "hosts": {"board-1": {"ansible_host": "lab-board"}},
        "vars": {"edgeprune_workdir": str(tmp_path / "w"), "edgeprune_venv": str(Path(os.sys.prefix))}}}}}))
    out = tmp_path / "out"
    done = collector([*run_args(inventory, sweep, store, out, known), "--ssh-config", str(config)], tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_each_trial_once(out / "board-1" / "results.jsonl", TRIALS)


def test_a_host_behind_a_proxyjump(tmp_path: Path, sshd_loopback, ssh_client_key: KeyPair, store: Path,
                                   sweep: Path) -> None:
    jump, target = sshd_loopback(), sshd_loopback()
    known = write_known_hosts(tmp_path / "known_hosts", [jump, target])
    config = tmp_path / "ssh_config"
    config.write_text(f"Host bastion\n  HostName {jump.address}\n  Port {jump.port}\n  User root\n"
                      f"  IdentityFile {ssh_client_key.private_path}\n"
                      f"Host inner\n  HostName {target.address}\n  Port {target.port}\n  User root\n"
                      f"  IdentityFile {ssh_client_key.private_path}\n  ProxyJump bastion\n")
    inventory = write_inventory(tmp_path / "inv.yml", [
        {"name": "inner", "address": "inner", "workdir": str(tmp_path / "w"), "venv": str(Path(os.sys.prefix))}])
    done = collector([*run_args(inventory, sweep, store, tmp_path / "out", known), "--ssh-config", str(config)],
                     tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_each_trial_once(tmp_path / "out" / "inner" / "results.jsonl", TRIALS)
    assert "Accepted publickey for root" in jump.log_path.read_text()  # the jump host was the way in


def test_status_and_fetch_of_a_finished_run(tmp_path: Path, sshd_loopback, ssh_client_key: KeyPair,
                                            store: Path, sweep: Path) -> None:
    host = sshd_loopback()
    known = write_known_hosts(tmp_path / "known_hosts", [host])
    inventory = write_inventory(tmp_path / "inv.yml", [ssh_host("h", host, ssh_client_key, tmp_path / "w")])
    assert collector(run_args(inventory, sweep, store, tmp_path / "out", known), tmp_path / "home").returncode == 0
    fleet = ["--hosts", str(inventory), "--known-hosts", str(known), "--name", "fleet"]
    status = collector(["status", *fleet], tmp_path / "home")
    assert status.returncode == 0 and "exited (0)" in status.stdout and f"{TRIALS}/{TRIALS}" in status.stdout
    fetched = collector(["fetch", *fleet, "--out", str(tmp_path / "again")], tmp_path / "home")
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    assert_each_trial_once(tmp_path / "again" / "h" / "results.jsonl", TRIALS)


def test_an_unreachable_host_does_not_stop_the_others(tmp_path: Path, sshd_loopback, ssh_client_key: KeyPair,
                                                      store: Path, sweep: Path) -> None:
    good, gone = sshd_loopback(), sshd_loopback()
    known = write_known_hosts(tmp_path / "known_hosts", [good, gone])
    gone.stop()
    inventory = write_inventory(tmp_path / "inv.yml", [
        ssh_host("good", good, ssh_client_key, tmp_path / "w1"), ssh_host("gone", gone, ssh_client_key, tmp_path / "w2")])
    done = collector(run_args(inventory, sweep, store, tmp_path / "out", known), tmp_path / "home")
    assert done.returncode == 1
    outcomes = {h["name"]: h["outcome"] for h in json.loads((tmp_path / "out" / "fleet.json").read_text())["hosts"]}
    assert outcomes == {"good": "ok", "gone": "unreachable"}
    assert_each_trial_once(tmp_path / "out" / "good" / "results.jsonl", TRIALS)
