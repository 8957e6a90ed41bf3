"""The import graph (tests/import_graph.py) and the seam between the light agent and the collector.

The checker is run as CI runs it, on this checkout, and on a small tree of its own where every
kind of violation is planted, so that a checker that sees nothing fails too.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.import_graph import violations
from tests.unit.test_min_python import LIGHT_ENTRY_POINTS

ROOT = Path(__file__).resolve().parents[2]

PLANTED = {
    "shared/__init__.py": "",
    "shared/a.py": "def f():\n    from agent import b  # inside a function: an edge all the same\n",
    "agent/__init__.py": "",
    "agent/b.py": "from agent.c import x\n",
    "agent/c.py": "def g():\n    from agent.b import y\n",
    "agent/d.py": "import collector.fleet.e\n",
    "agent/seam.py": "def h():\n    from collector.analysis import z\n    from collector.fleet import e\n",
    "agent/t.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from agent.u import U\n",
    "agent/u.py": "from agent.t import T\n",
    "agent/p/__init__.py": "from agent.p.m import M\nfrom agent.p.n import N\n",
    "agent/p/m.py": "from .base import B\n",
    "agent/p/base.py": "",
    "agent/p/n.py": "from agent.p import M  # the package's re-export, while the package imports this module\n",
    "collector/__init__.py": "",
    "collector/cli.py": "from collector.fleet import e\nfrom collector.report import w\n",
    "collector/fleet/__init__.py": "",
    "collector/fleet/e.py": "from collector.report import w\n",
    "collector/analysis/__init__.py": "",
    "collector/analysis/z.py": "from shared import a\n",
    "collector/report/__init__.py": "",
    "collector/report/w.py": "from collector.analysis import z\n",
}


def test_this_checkout_has_no_import_cycle_and_no_module_importing_up() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "import_graph.py")], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert (done.returncode, done.stdout) == (0, ""), done.stdout + done.stderr


def test_the_checker_names_both_modules_of_each_planted_violation(tmp_path: Path) -> None:
    for name, text in PLANTED.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    gone = frozenset({"agent.t", "agent.u"})  # a type-only loop: never a cycle, so an allowed one is stale
    assert sorted(violations(tmp_path, {gone: "planted"})) == [
        "allowed cycle gone: agent.t and agent.u (planted): remove it from ALLOWED_CYCLES",
        "cycle: agent.b -> agent.c -> agent.b",
        "cycle: agent.p -> agent.p.n -> agent.p",
        "up: agent.d imports collector.fleet.e (line 1): the agent reaches the collector only through agent.seam",
        "up: agent.seam imports collector.fleet.e (line 3): the agent reaches the collector only through agent.seam",
        "up: collector.fleet.e imports collector.report.w (line 1): collector.fleet may import only shared",
        "up: shared.a imports agent.b (line 2): shared may import only itself",
    ]


def _loaded_after(code: str) -> dict[str, object]:
    script = (f"import importlib, json, sys\n{code}\n"
              "print(json.dumps({'collector': sorted(m for m in sys.modules if m.split('.')[0] == 'collector'),"
              " 'heavy': sorted(m for m in ('pandas', 'dowhy', 'matplotlib', 'torch') if m in sys.modules)}))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          check=True)
    return json.loads(done.stdout)


def test_the_light_agents_command_line_and_measuring_modules_load_no_collector_module() -> None:
    loaded = _loaded_after(f"for m in {LIGHT_ENTRY_POINTS!r} + ('agent.adaptive', 'agent.commands.run'):\n"
                           "    importlib.import_module(m)\n"
                           "from agent.cli import build_parser\n"
                           "build_parser().parse_args(['run', '--artifacts', 'A'])\n"
                           "build_parser().format_help()")
    assert loaded == {"collector": [], "heavy": []}


def test_agent_analyze_reaches_its_options_through_the_seam_when_chosen_and_no_further() -> None:
    loaded = _loaded_after("from agent.cli import build_parser\n"
                           "args = build_parser().parse_args(['analyze', '--results', 'R', '--what-if', 'model=x'])\n"
                           "assert args.what_if == ['model=x'] and args.execute.__module__ == 'collector.analysis.command'")
    assert loaded == {"collector": ["collector", "collector.analysis", "collector.analysis.command"], "heavy": []}
