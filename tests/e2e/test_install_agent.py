"""deploy/install-agent.sh: the light agent installed by hand from a wheel of this checkout,
into a fresh venv under tmp_path, as on a board (a real pip install, ~15 s from a package
index; skipped with pip's own message where no index can be reached)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.version import __version__

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "deploy" / "install-agent.sh"
# what pip prints when it cannot reach an index (or the index lacks a dependency): only then skip
NO_INDEX = ("No matching distribution found", "Could not find a version that satisfies",
            "Failed to establish a new connection", "Temporary failure in name resolution",
            "Network is unreachable", "Max retries exceeded", "ProxyError")


def clean_env() -> dict[str, str]:
    """This environment without the test venv's traces (the script must not rely on them)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


def install(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          env=clean_env(), cwd=ROOT.parent)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, text=True, timeout=300)
    return next(out.glob(f"edgeprune-{__version__}-*.whl"))


def test_the_light_agent_installs_from_a_wheel_into_a_fresh_venv_and_again(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "a venv"  # a space: everything is quoted
    done = install("--wheel", str(wheel), "--extras", "agent", "--venv", str(venv))
    if done.returncode != 0 and any(text in done.stderr for text in NO_INDEX):
        pytest.skip(f"no package index reachable to install edgeprune[agent]: {done.stderr.strip()[-300:]}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"edgeprune agent {__version__} installed in {venv} (extras: agent)" in done.stdout
    assert "agent run --artifacts DIR" in done.stdout  # the next step for a light agent
    assert "onnxruntime execution providers: " in done.stdout and "CPUExecutionProvider" in done.stdout

    version = subprocess.run([str(venv / "bin" / "agent"), "--version"], capture_output=True, text=True,
                             env=clean_env())
    assert version.returncode == 0 and version.stdout.strip() == f"edgeprune agent {__version__}"
    info = subprocess.run([str(venv / "bin" / "agent"), "info", "--json"], capture_output=True, text=True,
                          env=clean_env(), timeout=120)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["device_class"]
    python = str(venv / "bin" / "python")
    assert subprocess.run([python, "-c", "import onnxruntime, agent.cli"], env=clean_env()).returncode == 0
    assert subprocess.run([python, "-c", "import torch"], capture_output=True, env=clean_env()).returncode == 1

    started = time.monotonic()
    again = install("--wheel", str(wheel), "--extras", "agent", "--venv", str(venv))  # idempotent
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"reusing the venv at {venv}" in again.stdout
    assert f"edgeprune agent {__version__} installed" in again.stdout
    assert time.monotonic() - started < 120  # nothing downloaded: every dependency is there


def test_help_and_bad_arguments(tmp_path: Path) -> None:
    help_text = install("--help")
    assert help_text.returncode == 0
    for option in ("--wheel", "--source", "--extras", "--venv", "--python", "--onnxruntime", "--pip-args",
                   "~/.edgeprune/venv"):
        assert option in help_text.stdout
    bad = install("--extras", "heavy", "--venv", str(tmp_path / "v"))
    assert bad.returncode == 2 and "--extras must be agent" in bad.stderr
    assert install("--frobnicate").returncode == 2
    assert install("--extras", "full", "--onnxruntime", "onnxruntime-gpu").returncode == 2
    missing = install("--wheel", str(tmp_path / "edgeprune-0.1.0-py3-none-any.whl"))
    assert missing.returncode == 1 and "no such wheel" in missing.stderr
    (tmp_path / "notavenv").mkdir()
    (tmp_path / "notavenv" / "data").write_text("keep me")
    clash = install("--source", str(ROOT), "--venv", str(tmp_path / "notavenv"))
    assert clash.returncode == 1 and "is not a venv" in clash.stderr
    assert (tmp_path / "notavenv" / "data").read_text() == "keep me"


def fake_python(tmp_path: Path, version: tuple[int, int, int]) -> Path:
    """Answers the script's version probe as an interpreter of ``version`` would."""
    fake = tmp_path / f"python{version[0]}.{version[1]}"
    fake.write_text("#!/bin/sh\n"
                    "[ \"$1\" = -c ] || exit 3\n"
                    f"exec {sys.executable} -c 'import sys, collections; "
                    "V = collections.namedtuple(\"V\", \"major minor micro releaselevel serial\"); "
                    f"sys.version_info = V({version[0]}, {version[1]}, {version[2]}, \"final\", 0); "
                    "exec(sys.argv[1])' \"$2\"\n")
    fake.chmod(0o755)
    return fake


def test_an_interpreter_older_than_the_extras_need_is_refused(tmp_path: Path) -> None:
    fake = fake_python(tmp_path, (3, 9, 2))
    done = install("--source", str(ROOT), "--python", str(fake), "--venv", str(tmp_path / "v"))
    assert done.returncode == 1, done.stderr
    assert "Python 3.9.2; edgeprune[full] needs 3.11 or newer" in done.stderr, done.stderr
    assert "--extras agent: the light agent runs on 3.8" in done.stderr
    too_old = fake_python(tmp_path, (3, 7, 9))
    light = install("--source", str(ROOT), "--extras", "agent", "--python", str(too_old), "--venv", str(tmp_path / "v"))
    assert light.returncode == 1 and "Python 3.7.9; edgeprune[agent] needs 3.8 or newer" in light.stderr, light.stderr
    assert not (tmp_path / "v").exists()
