"""The light agent's modules run on the oldest Python boards ship (shared.version.MIN_PYTHON_LIGHT).

Two static checks over exactly the modules a light agent imports (found by importing its entry
points, not listed by hand): vermin, and what vermin does not see because
``from __future__ import annotations`` makes annotations strings while other expressions still
run (``Alias = dict[str, int]``, ``str.removeprefix``, ``zip(strict=)``, ``int | None`` outside an
annotation). tests/e2e/test_light_agent.py runs the light agent on a real 3.8 where one is found.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.version import MIN_PYTHON_FULL, MIN_PYTHON_LIGHT, min_python

ROOT = Path(__file__).resolve().parents[2]
LIGHT_ENTRY_POINTS = ("agent.cli", "agent.worker", "agent.measure_runner", "agent.backends.onnxruntime_backend",
                      "agent.probes", "agent.fingerprint", "agent.machine")
TARGET = ".".join(map(str, MIN_PYTHON_LIGHT))
BUILTIN_GENERICS = {"dict", "list", "tuple", "set", "frozenset", "type"}
NEWER_STR_METHODS = {"removeprefix", "removesuffix"}  # 3.9
TYPE_NAMES = {"int", "float", "str", "bytes", "bool", "None", "dict", "list", "tuple", "set"}


def light_modules() -> list[Path]:
    code = (f"import importlib, json, sys\nfor m in {LIGHT_ENTRY_POINTS!r}: importlib.import_module(m)\n"
            "mods = [m for m in sys.modules.values() if (m.__name__.split('.')[0] in ('agent', 'shared', 'collector'))]\n"
            "print(json.dumps({'files': sorted(m.__file__ for m in mods if getattr(m, '__file__', None)),"
            " 'torch': 'torch' in sys.modules}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    found = json.loads(done.stdout)
    assert not found["torch"], "the light agent's entry points import torch"
    return [Path(f) for f in found["files"]]


def runtime_violations(path: Path) -> list[str]:
    """Expressions Python evaluates at run time that MIN_PYTHON_LIGHT cannot."""
    tree = ast.parse(path.read_text(), str(path))
    abc_names = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and node.module == "collections.abc" for a in node.names}
    annotations = set()
    for node in ast.walk(tree):  # annotations are strings under `from __future__ import annotations`
        if isinstance(node, (ast.arg, ast.AnnAssign)) and node.annotation is not None:
            annotations.update(map(id, ast.walk(node.annotation)))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            annotations.update(map(id, ast.walk(node.returns)))
    found = []
    for node in ast.walk(tree):
        if id(node) in annotations:
            continue
        where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and \
                node.value.id in BUILTIN_GENERICS | abc_names:
            found.append(f"{where}: {node.value.id}[...] at run time (3.9)")
        elif isinstance(node, ast.Attribute) and node.attr in NEWER_STR_METHODS:
            found.append(f"{where}: .{node.attr}() (3.9)")
        elif isinstance(node, ast.Call) and any(k.arg == "strict" for k in node.keywords) and \
                isinstance(node.func, ast.Name) and node.func.id == "zip":
            found.append(f"{where}: zip(strict=) (3.10)")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) and any(
                (isinstance(side, ast.Name) and side.id in TYPE_NAMES) or
                (isinstance(side, ast.Constant) and side.value is None) for side in (node.left, node.right)):
            found.append(f"{where}: X | Y of types at run time (3.10)")
        elif isinstance(node, ast.Match if hasattr(ast, "Match") else ()):
            found.append(f"{where}: match statement (3.10)")
    return found


def test_the_light_agent_imports_these_modules_and_no_torch() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in light_modules()}
    assert {"agent/cli.py", "agent/worker.py", "agent/backends/onnxruntime_backend.py", "shared/schema.py"} <= names
    assert not any(n.startswith(("agent/pruning/", "collector/")) for n in names)


def test_vermin_finds_nothing_newer_than_the_light_floor() -> None:
    files = [str(p) for p in light_modules()]
    vermin = "import sys; from vermin.main import main; sys.exit(main())"  # no __main__ module
    done = subprocess.run([sys.executable, "-c", vermin, f"-t={TARGET}-", "--no-tips", "--violations",
                           "--backport", "typing", *files], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "Target versions not met" not in done.stdout, done.stdout[-3000:]


def test_nothing_evaluated_at_run_time_needs_a_newer_python() -> None:
    found = [v for p in light_modules() for v in runtime_violations(p)]
    assert found == []


def test_the_runtime_check_sees_what_vermin_misses(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from __future__ import annotations\nfrom collections.abc import Mapping\n"
                      "Row = Mapping[str, int]\nA = dict[str, int]\n"
                      "def f(x: dict[str, int] | None) -> list[int]:\n    return 'ab'.removeprefix('a'), int | None\n")
    found = runtime_violations(sample)
    assert sorted(f.split(": ", 1)[1] for f in found) == [".removeprefix() (3.9)", "Mapping[...] at run time (3.9)",
                                                         "X | Y of types at run time (3.10)", "dict[...] at run time (3.9)"]


@pytest.mark.parametrize(("extras", "floor"), [("agent", MIN_PYTHON_LIGHT), ("", MIN_PYTHON_LIGHT),
                                               ("full", MIN_PYTHON_FULL), ("agent,analysis", MIN_PYTHON_FULL)])
def test_which_install_needs_which_python(extras: str, floor: tuple[int, int]) -> None:
    assert min_python(extras) == floor
