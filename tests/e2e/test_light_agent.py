"""The light agent: artifacts built where torch is, measured where importing torch fails.

Two environments without torch: this venv with every package outside ``edgeprune[agent]``
made unimportable (a meta-path hook in ``sitecustomize``, inherited by the forkserver and its
workers, which also logs any attempt), and a real venv with only the extra installed
(``scripts/light-venv.sh``, ~15 s from a package index; skipped with the reason where there
is none).
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from shared.resultlog import ResultLog
from shared.version import MIN_PYTHON_LIGHT
from tests.conftest import TINY_SWEEP

ROOT = Path(__file__).parents[2]
LIGHT_EXTRA = "agent"
VENV_TOOLS = {"pip", "setuptools", "pkg_resources", "_distutils_hack", "wheel"}  # what `python -m venv` has
HEAVY = {"torch", "torchvision", "torch_pruning", "sklearn", "scipy", "onnx", "onnxscript", "pandas", "dowhy"}
# the operator's side ships in the same wheel, but the light agent never enters it (agent/seam.py is
# its one door, opened by `agent analyze`, `agent report` and the report after a full agent's run):
# blocked and logged like a package that is not installed
OPERATOR = {"collector"}
SWEEP = {**TINY_SWEEP, "methods": [{"name": "structured", "importance": "l1"}], "ratios": [0.0, 0.5],
         "backends": ["onnxruntime", "torch"]}

HOOK = '''\
"""Written by tests/e2e/test_light_agent.py: packages outside edgeprune[agent] are not installed."""
import importlib.abc, importlib.machinery, importlib.util, os, sys

BLOCKED = {blocked!r}


class _NotInstalled(importlib.abc.Loader):
    def create_module(self, spec):
        log = os.environ.get("EDGEPRUNE_IMPORT_LOG")
        if log:
            with open(log, "a") as f:
                f.write(spec.name + "\\n")
        raise ModuleNotFoundError(f"No module named {{spec.name!r}}", name=spec.name)

    def exec_module(self, module):
        raise AssertionError("unreachable")


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:  # a spec whose loading fails (and is logged)
            return importlib.machinery.ModuleSpec(name, _NotInstalled())
        return None


sys.meta_path.insert(0, _Finder())

# asking whether a package is installed (importlib.util.find_spec) imports nothing; in a light
# venv the answer for these is None, so it is here too
_find_spec = importlib.util.find_spec


def _light_find_spec(name, package=None):
    return None if name.partition(".")[0] in BLOCKED else _find_spec(name, package)


importlib.util.find_spec = _light_find_spec
'''


def light_closure() -> set[str]:
    """Distributions ``edgeprune[agent]`` installs (names normalised), read from this venv."""
    wanted, seen = [Requirement(r) for r in importlib.metadata.requires("edgeprune") or []], {"edgeprune"}
    wanted = [r for r in wanted if r.marker is None or r.marker.evaluate({"extra": LIGHT_EXTRA})]
    while wanted:
        req = wanted.pop()
        name = req.name.lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        for text in importlib.metadata.requires(req.name) or []:
            dep = Requirement(text)
            if dep.marker is None or dep.marker.evaluate({"extra": ""}):
                wanted.append(dep)
    return seen


def blocked_modules() -> set[str]:
    closure = light_closure()
    return {module for module, dists in importlib.metadata.packages_distributions().items()
            if module not in VENV_TOOLS and not any(d.lower().replace("_", "-") in closure for d in dists)}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Artifacts built by `agent build` in the full install."""
    root = tmp_path_factory.mktemp("light")
    sweep = root / "sweep.yml"
    sweep.write_text(yaml.safe_dump(SWEEP))
    result = subprocess.run([sys.executable, "-m", "agent.cli", "build", "--sweep", str(sweep), "--out",
                             str(root / "artifacts")], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "COLUMNS": "160"})
    assert result.returncode == 0, result.stderr
    assert "2 variants in" in result.stdout and "2 built, 0 reused, 0 failed; 0 without ONNX" in result.stdout
    return root / "artifacts"


@pytest.fixture(scope="module")
def hook_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("hook")
    blocked = blocked_modules()
    assert HEAVY - {"dowhy", "pandas"} <= blocked, "the full install's packages are blocked"
    (folder / "sitecustomize.py").write_text(HOOK.format(blocked=sorted(blocked | OPERATOR)))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)]),
            "EDGEPRUNE_IMPORT_LOG": str(folder / "imports.log"), "COLUMNS": "160"}


def agent(env: dict[str, str], *args: str, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    # run from / so that `-m` finds the agent on the environment's path, not in the current folder
    return subprocess.run([python, "-m", "agent.cli", *args], capture_output=True, text=True, timeout=300,
                          env=env, cwd="/")


def sweep_file(tmp_path: Path, **change: object) -> Path:
    path = tmp_path / "sweep.yml"
    path.write_text(yaml.safe_dump({**SWEEP, **change}))
    return path


def attempted(env: dict[str, str]) -> set[str]:
    log = Path(env["EDGEPRUNE_IMPORT_LOG"])
    return set(log.read_text().split()) if log.exists() else set()


def test_without_torch_the_agent_measures_artifacts_and_never_tries_to_import_it(
        store: Path, hook_env: dict[str, str], tmp_path: Path) -> None:
    unlogged = {k: v for k, v in hook_env.items() if k != "EDGEPRUNE_IMPORT_LOG"}
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=unlogged, capture_output=True, text=True)
    assert probe.returncode == 1 and "No module named 'torch'" in probe.stderr
    info = agent(hook_env, "info", "--json")
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["versions"]["onnxruntime"]
    out = tmp_path / "out"
    result = agent(hook_env, "run", "--artifacts", str(store), "--sweep",
                   str(sweep_file(tmp_path, backends=["onnxruntime"])), "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(ResultLog(out / "results.jsonl").rows())
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}, [r["error"] for r in rows]
    assert all(r["accuracy_top1_device"] == pytest.approx(r["accuracy_top1"], abs=1 / 120) for r in rows)
    assert all(r["peak_rss_mb"] < 300 for r in rows)  # a torch worker starts near 700 MiB
    tried = {name.partition(".")[0] for name in attempted(hook_env)}
    assert not tried & (HEAVY | OPERATOR), f"imports tried without torch: {sorted(tried)}"


def test_torch_trials_on_a_light_agent_are_skipped_rows_that_say_why(
        store: Path, hook_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = agent(hook_env, "run", "--artifacts", str(store), "--sweep", str(sweep_file(tmp_path)), "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(ResultLog(out / "results.jsonl").rows())
    torch_rows = [r for r in rows if r["backend"] == "torch"]
    assert len(torch_rows) == 4 and {r["status"] for r in torch_rows} == {"skipped"}
    assert torch_rows[0]["error"] == ("backend 'torch' needs module 'torch', which is not installed here "
                                      "(pip install 'edgeprune[full]' brings it)")
    assert {r["status"] for r in rows if r["backend"] == "onnxruntime"} == {"ok"}
    building = agent(hook_env, "run", "--sweep", str(sweep_file(tmp_path)), "--out", str(tmp_path / "o2"))
    assert building.returncode == 2 and "building variants needs torch" in building.stderr
    assert len(building.stderr.strip().splitlines()) == 1


def test_a_variant_missing_from_the_store_is_skipped_then_built_and_measured(
        store: Path, hook_env: dict[str, str], tmp_path: Path) -> None:
    sweep = sweep_file(tmp_path, ratios=[0.0, 0.5, 0.7], backends=["onnxruntime"])
    out, own = tmp_path / "out", tmp_path / "a"
    own.mkdir()
    for artifact in store.iterdir():  # a copy: this test adds to it
        os.symlink(artifact, own / artifact.name)
    result = agent(hook_env, "run", "--artifacts", str(own), "--sweep", str(sweep), "--out", str(out))
    assert result.returncode == 0, result.stderr
    skipped = [r for r in ResultLog(out / "results.jsonl").rows() if r["status"] == "skipped"]
    assert [r["target_ratio"] for r in skipped] == [0.7, 0.7] and "missing_artifact" in skipped[0]["error"]
    full = agent({**os.environ, "COLUMNS": "160"}, "run", "--artifacts", str(own), "--build-missing",
                 "--sweep", str(sweep), "--out", str(out))
    assert full.returncode == 0, full.stderr
    latest = {r["trial_key"]: r for r in ResultLog(out / "results.jsonl").rows()}
    assert len(latest) == 6 and {r["status"] for r in latest.values()} == {"ok"}


def oldest_python() -> str | None:
    """An interpreter of the light agent's floor (MIN_PYTHON_LIGHT), where this machine has one."""
    version = "%d.%d" % MIN_PYTHON_LIGHT
    candidates = [*sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python")), shutil.which(f"python{version}")]
    for candidate in filter(None, candidates):  # a pyenv shim is on PATH even where it cannot run
        if subprocess.run([str(candidate), "--version"], capture_output=True).returncode == 0:
            return str(candidate)
    return None


@pytest.mark.slow
@pytest.mark.parametrize("which", ["current", "oldest"])
def test_a_real_venv_with_only_the_light_extra_measures_artifacts(store: Path, tmp_path: Path, which: str) -> None:
    interpreter = sys.executable if which == "current" else oldest_python()
    if interpreter is None:
        pytest.skip("no Python %d.%d on this machine (tests/unit/test_min_python.py checks the modules statically)"
                    % MIN_PYTHON_LIGHT)
    venv = tmp_path / "venv"
    made = subprocess.run([str(ROOT / "scripts" / "light-venv.sh"), str(venv)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHON": interpreter})
    if made.returncode != 0:
        pytest.skip(f"cannot install edgeprune[{LIGHT_EXTRA}] here (no package index?): {made.stderr[-300:]}")
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    assert subprocess.run([python, "-c", "import torch"], capture_output=True, env=env).returncode == 1
    info = agent(env, "info", "--json", python=python)
    assert info.returncode == 0, info.stderr
    out = tmp_path / "out"
    result = agent(env, "run", "--artifacts", str(store), "--sweep",
                   str(sweep_file(tmp_path, backends=["onnxruntime"])), "--out", str(out), python=python)
    assert result.returncode == 0, result.stderr
    assert {r["status"] for r in ResultLog(out / "results.jsonl").rows()} == {"ok"}
