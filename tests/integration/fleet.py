"""What the collector's integration tests share: a prebuilt artifact store, a light sweep that
measures it with onnxruntime (no torch, no training on the "hosts"), inventories pointing at
real sshd hosts, and `collector` run as a real subprocess with a private HOME (so neither the
user's ~/.ssh/known_hosts nor ~/.ssh/config nor an ssh-agent takes part)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import TINY_SWEEP
from tests.sshhosts import REPO_ROOT, KeyPair, SshdHost

BIN = Path(sys.executable).parent
VENV = Path(sys.prefix)  # the hosts run the agent of this checkout, already installed here


def fleet_sweep(min_time_s: float = 0.05, batch_sizes: Iterable[int] = (1, 2, 4, 8)) -> dict[str, Any]:
    """A sweep measured from prebuilt artifacts with onnxruntime (the light agent's path)."""
    return {**TINY_SWEEP, "name": "fleet", "methods": [{"name": "structured", "importance": "l1"}],
            "ratios": [0.0, 0.5], "backends": ["onnxruntime"], "batch_sizes": list(batch_sizes),
            "telemetry": {"perf": False},
            "timing": {"warmup_s": 0.01, "min_reps": 3, "min_time_s": min_time_s, "max_time_s": max(1.0, min_time_s * 2),
                       "retry_disturbed": 0}}


def build_store(tmp: Path) -> Path:
    """`agent build` of the fleet sweep: the artifacts every host measures."""
    sweep = tmp / "build.yml"
    sweep.write_text(yaml.safe_dump(fleet_sweep()))
    store = tmp / "store"
    subprocess.run([str(BIN / "agent"), "build", "--sweep", str(sweep), "--out", str(store)],
                   check=True, capture_output=True, text=True, env=os.environ.copy())
    return store


def ssh_host(name: str, sshd: SshdHost, key: KeyPair, workdir: Path, **extra: Any) -> dict[str, Any]:
    return {"name": name, "address": sshd.address, "port": sshd.port, "user": "root",
            "identity_file": str(key.private_path), "workdir": str(workdir), "venv": str(VENV), **extra}


def write_inventory(path: Path, hosts: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"hosts": hosts}, sort_keys=False))
    return path


def collector_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    env["HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def collector(args: list[str], home: Path, timeout: float = 300, **popen: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "collector"), *args], capture_output=True, text=True, timeout=timeout,
                          env=collector_env(home), **popen)


def start_collector(args: list[str], home: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([str(BIN / "collector"), *args], stdout=out, stderr=subprocess.STDOUT,
                                env=collector_env(home), cwd=home.parent, preexec_fn=_default_sigint)


def _default_sigint() -> None:
    """Ctrl-C as at a terminal: a test suite started in the background (`cmd &`, as CI may)
    inherits SIGINT ignored, and Python then never turns it into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def wait_for_rows(path: Path, n: int, timeout: float = 120, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while len(rows(path)) < n:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"collector ended (exit {proc.returncode}) before {n} rows")
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {n} rows in {path} after {timeout} s")
        time.sleep(0.2)
