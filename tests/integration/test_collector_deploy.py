"""`collector deploy` against a real OpenSSH server: the wheel of this checkout built here,
uploaded over SFTP, installed with the light extra into a fresh venv on the "host" (pip runs
there, in the SSH session, from a package index), skipped the second time; then `collector
run` (deploying, not --no-deploy) measures prebuilt artifacts with that light agent.

The host's venv is a folder of the test's own, never this checkout's venv. Where no package
index can be reached, pip's own message says so and the test is skipped with it.
"""
from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from collector.fleet.deploy import STAMP, source_digest
from shared.version import __version__
from tests.integration.fleet import build_store, collector, fleet_sweep, rows, ssh_host, write_inventory
from tests.sshhosts import KeyPair, write_known_hosts

pytestmark = pytest.mark.slow
TRIALS = 8  # fleet_sweep(): 2 variants x 4 batch sizes
# what pip prints (its last lines are in the deploy's reason) when it cannot reach an index
NO_INDEX = ("No matching distribution found", "Could not find a version that satisfies",
            "Failed to establish a new connection", "Temporary failure in name resolution",
            "Network is unreachable", "Max retries exceeded", "ProxyError")


def flat(done: subprocess.CompletedProcess[str]) -> str:
    """The output as one line, without the table's box drawing (a reason wraps inside its cell)."""
    return " ".join(re.sub("[\u2500-\u257f]", " ", done.stdout + done.stderr).split())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("artifacts"))


def test_deploy_installs_the_light_agent_then_skips_it_then_run_measures_with_it(
        tmp_path: Path, sshd_loopback, ssh_client_key: KeyPair, store: Path) -> None:
    host = sshd_loopback()
    known = write_known_hosts(tmp_path / "known_hosts", [host])
    venv = tmp_path / "device-venv"  # not this checkout's venv: a fresh one, made by the deploy
    inventory = write_inventory(tmp_path / "inv.yml", [
        ssh_host("board", host, ssh_client_key, tmp_path / "w", venv=str(venv), extras="agent")])
    deploy = ["deploy", "--hosts", str(inventory), "--known-hosts", str(known)]

    previous = source_digest.__wrapped__()
    started = time.monotonic()
    first = collector(deploy, tmp_path / "home", timeout=900)
    first_s = time.monotonic() - started
    text = flat(first)
    if first.returncode != 0 and any(msg in text for msg in NO_INDEX):
        pytest.skip(f"no package index reachable from the host's pip: {text[-400:]}")
    assert first.returncode == 0, text
    assert re.search(r"board\W+installed\b", text) and "Traceback" not in text, text
    assert (tmp_path / "w" / "wheels" / f"edgeprune-{__version__}-py3-none-any.whl").is_file()  # via SFTP
    version = subprocess.run([str(venv / "bin" / "agent"), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == f"edgeprune agent {__version__}"
    assert (venv / STAMP).read_text().split()[0::2] == [__version__, "agent"]  # version, digest, extras
    light = subprocess.run([str(venv / "bin" / "python"), "-c", "import onnxruntime; import torch"],
                           capture_output=True, text=True)
    assert "No module named 'torch'" in light.stderr  # the light agent: onnxruntime, no torch

    # again: the same build is there. The stamp holds a digest of this checkout's sources, so
    # where someone edits them meanwhile (a shared checkout) the deploy rightly installs again;
    # then once more, but only where the sources did change
    for _ in range(3):
        digest = source_digest.__wrapped__()
        started = time.monotonic()
        second = collector(deploy, tmp_path / "home", timeout=900)
        second_s = time.monotonic() - started
        assert second.returncode == 0, flat(second)
        if re.search(r"board\W+up to date\b", flat(second)):
            break
        assert digest != previous or source_digest.__wrapped__() != digest, \
            f"installed again though no source changed: {flat(second)}"
        previous = digest
    assert re.search(r"board\W+up to date\b", flat(second)) and "uploading" not in flat(second), flat(second)
    print(f"collector deploy: {first_s:.1f} s installing, {second_s:.1f} s up to date")
    assert second_s < first_s, (first_s, second_s)

    sweep = tmp_path / "fleet.yml"
    sweep.write_text(yaml.safe_dump(fleet_sweep()))
    out = tmp_path / "out"
    run = collector(["run", "--hosts", str(inventory), "--sweep", str(sweep), "--artifacts", str(store),
                     "--out", str(out), "--known-hosts", str(known), "--no-report", "--poll", "0.3",
                     "--connect-timeout", "3", "--io-timeout", "10"], tmp_path / "home", timeout=900)
    assert run.returncode == 0, flat(run)
    found = rows(out / "board" / "results.jsonl")
    assert len(found) == TRIALS
    assert all(r["status"] == "ok" for r in found), [r["error"] for r in found if r["status"] != "ok"]
    assert {r["backend"] for r in found} == {"onnxruntime"} and {r["host"] for r in found} == {"board"}
    assert len({r["trial_key"] for r in found}) == TRIALS
    assert json.loads((out / "fleet.json").read_text())["hosts"][0]["outcome"] == "ok"
    versions = json.loads((out / "board" / "machine.json").read_text())["versions"]
    assert versions["torch"] is None and versions["onnxruntime"]  # measured by the light agent
