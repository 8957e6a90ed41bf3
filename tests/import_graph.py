"""The import graph of agent/, collector/ and shared/: no cycle, and no module importing "up".

``python tests/import_graph.py`` prints one line a violation, naming both modules, and exits 1
if there is any (tests/unit/test_import_graph.py runs it, so CI does).

Every ``import`` is read with ``ast``, at module level or inside a function: a function-level
import runs whenever its function does, so it is an edge like any other. An import under
``if TYPE_CHECKING:`` never runs: it counts for the rooms below, not for cycles. An edge goes
to the module named, not to the packages above it: ``from agent.probes.base import Probe``
does not point at ``agent/probes/__init__.py``, but ``from agent.probes import Probe`` (a
re-export) does, and is a cycle if that ``__init__`` imports the importing module back.

The rooms, and whom each may import besides itself (a module's room is the longest prefix
that names it):

    shared               nothing of agent or collector: both stand on it
    agent                shared; agent.seam alone may also reach collector.analysis and
                         collector.report (inside functions: the light agent never loads them)
    collector.fleet      shared: inventory, transports, deploy, host runs, store
    collector.analysis   shared
    collector.report     collector.analysis (it shows the analysis), shared
    collector            (cli, commands) every collector room, shared
"""
from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "collector", "shared")
ALLOWED: dict[str, frozenset[str]] = {
    "shared": frozenset(),
    "agent": frozenset({"shared"}),
    "collector.fleet": frozenset({"shared"}),
    "collector.analysis": frozenset({"shared"}),
    "collector.report": frozenset({"collector.analysis", "shared"}),
    "collector": frozenset({"collector.fleet", "collector.analysis", "collector.report", "shared"}),
}
SEAM = "agent.seam"
SEAM_REACHES = frozenset({"collector.analysis", "collector.report"})
# Cycles known and owned elsewhere, each with why it is still here; an entry whose cycle is gone
# is itself reported, so that this list only shrinks. Keep it empty when you can.
ALLOWED_CYCLES: dict[frozenset[str], str] = {}  # none today; an entry says why the cycle must stay


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    runs: bool  # False under `if TYPE_CHECKING:`


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for package in PACKAGES for p in sorted((root / package).rglob("*.py"))}


def _type_checking_only(tree: ast.Module) -> set[int]:
    """The ids of the import nodes that sit under ``if TYPE_CHECKING:``."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return found


def _targets(node: ast.Import | ast.ImportFrom, source: str, is_package: bool,
             modules: dict[str, Path]) -> Iterator[str]:
    """The project modules one import statement loads (the deepest module of each name)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: from the importing module's package, up level - 1
            package = source.split(".") if is_package else source.split(".")[:-1]
            base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
    for name in names:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name:
            yield name


def edges_of(source: str, path: Path, modules: dict[str, Path]) -> Iterator[Edge]:
    tree = ast.parse(path.read_text(), str(path))
    hidden = _type_checking_only(tree)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for target in _targets(node, source, path.name == "__init__.py", modules):
                if target != source:
                    yield Edge(source, target, node.lineno, id(node) not in hidden)


def room(module: str) -> str:
    return max((r for r in ALLOWED if module == r or module.startswith(r + ".")), key=len)


def up_violation(edge: Edge) -> str | None:
    """Why this edge goes against the rooms' order (None where it is allowed)."""
    source_room, target_room = room(edge.source), room(edge.target)
    if target_room == source_room or target_room in ALLOWED[source_room]:
        return None
    if edge.source == SEAM and target_room in SEAM_REACHES:
        return None
    if source_room == "agent" and target_room.startswith("collector"):
        return f"the agent reaches the collector only through {SEAM}"
    return f"{source_room} may import only {', '.join(sorted(ALLOWED[source_room])) or 'itself'}"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected component of more than one module (Tarjan), as one cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(_cycle_through(sorted(component), graph))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _cycle_through(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest path from the component's first module back to itself (breadth first)."""
    start, members = component[0], set(component)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph.get(node, set()) & members):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, node, start]
                if nxt not in came_from:
                    came_from[nxt] = node
                    following.append(nxt)
        frontier = following
    return component


def violations(root: Path = ROOT, allowed_cycles: dict[frozenset[str], str] | None = None) -> list[str]:
    allowed = ALLOWED_CYCLES if allowed_cycles is None else allowed_cycles
    modules = all_modules(root)
    edges = [edge for name, path in modules.items() for edge in edges_of(name, path, modules)]
    lines = [f"up: {e.source} imports {e.target} (line {e.line}): {why}"
             for e in edges if (why := up_violation(e)) is not None]
    graph: dict[str, set[str]] = {}
    for e in edges:
        if e.runs:
            graph.setdefault(e.source, set()).add(e.target)
    found = cycles(graph)
    lines += [f"cycle: {' -> '.join(cycle)}" for cycle in found if frozenset(cycle) not in allowed]
    lines += [f"allowed cycle gone: {' and '.join(sorted(members))} ({why}): remove it from ALLOWED_CYCLES"
              for members, why in allowed.items() if members not in {frozenset(cycle) for cycle in found}]
    return lines


def main() -> int:
    found = violations()
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
