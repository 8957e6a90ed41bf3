"""The causal graph: loaded from DOT or GML, checked against the result columns, cut to the data.

A node is a result column (``shared.schema``), one the analysis derives
(:data:`collector.analysis.frame.DERIVED_COLUMNS`), or an unobserved one: a cause with no
column, marked as DoWhy's graphs mark it (``observed="no"``) or named or labelled so
(``U[label="Unobserved Confounders"]``, as the seed study's graph has it). Each node has a
role: ``option`` (set by the sweep), ``device`` (what the trial ran on), ``mediator``,
``outcome`` or ``unobserved``, from the node's ``role`` attribute or else from
:data:`ROLE_BY_COLUMN`. The rules (Unicorn's, adapted to a fleet): no mediator or outcome
points into an option or a device, an unobserved node has no measured parent, and no edge
leaves an outcome except into an outcome derived from it (accuracy_top1 ->
High_Accuracy_Loss). Edges among options and devices are allowed: they are the fleet's
design (which ratios ran at which batch sizes on which device).
"""
from __future__ import annotations

import contextlib
import difflib
import io
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from shared.errors import UserError
from shared.yamlfile import decode_utf8, read_bounded

# The shipped graph is 3 KiB; pydot parses 64 KiB of DOT in about 2 s, a megabyte in a minute.
MAX_GRAPH_BYTES = 64 << 10

DEFAULT_GRAPH_PATH = Path(__file__).with_name("default_graph.dot")
ROLES = ("option", "device", "mediator", "outcome", "unobserved")
_EXOGENOUS = ("option", "device", "unobserved")
# DoWhy's GML and DOT graphs say observed="no"; anything else (or no attribute) is observed
_NOT_OBSERVED = ("no", "false", "0")

ROLE_BY_COLUMN: dict[str, str] = {
    **dict.fromkeys(("model", "method", "method_options", "target_ratio", "batch_size", "backend",
                     "threads", "schedule", "schedule_steps", "finetune_epochs", "dataset",
                     "input_size", "num_classes", "seed", "device", "mem_limit_mb", "sweep",
                     "High_Pruning"), "option"),
    **dict.fromkeys(("device_class", "device_mem_gb", "host"), "device"),
    **dict.fromkeys(("accuracy_top1", "accuracy_top5", "latency_p50_ms", "latency_p90_ms",
                     "latency_p99_ms", "latency_mean_ms", "latency_min_ms", "throughput_sps",
                     "is_oom", "status", "High_Accuracy_Loss"), "outcome"),
}


@dataclass(frozen=True)
class CausalGraph:
    """A checked DAG over result columns; ``source`` says where it came from."""

    dag: nx.DiGraph
    source: str

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(self.dag.nodes)

    def role(self, node: str) -> str:
        return str(self.dag.nodes[node]["role"])

    def parents(self, node: str) -> tuple[str, ...]:
        return tuple(self.dag.predecessors(node))

    def children(self, node: str) -> tuple[str, ...]:
        return tuple(self.dag.successors(node))

    @property
    def unobserved(self) -> tuple[str, ...]:
        """The nodes without a column: causes the graph declares but no row measures."""
        return tuple(n for n in self.dag.nodes if self.role(n) == "unobserved")

    def relabel(self, mapping: Mapping[str, str]) -> CausalGraph:
        """The same graph with some nodes renamed (a seed column standing in for its source)."""
        return CausalGraph(nx.relabel_nodes(self.dag, dict(mapping), copy=True), self.source)

    def project_out(self, nodes: Iterable[str]) -> CausalGraph:
        """Remove nodes, linking each one's parents to its children (its effects still flow)."""
        dag = self.dag.copy()
        for node in nodes:
            dag.add_edges_from((p, c) for p in dag.predecessors(node) for c in dag.successors(node))
            dag.remove_node(node)
        return CausalGraph(dag, self.source)

    def drop(self, nodes: Iterable[str]) -> CausalGraph:
        """Remove nodes and their edges (nothing of theirs flows on)."""
        dag = self.dag.copy()
        dag.remove_nodes_from(list(nodes))
        return CausalGraph(dag, self.source)

    def without_parents(self, nodes: Iterable[str]) -> CausalGraph:
        """Cut the edges into ``nodes``: what an intervention on them does to the graph."""
        dag = self.dag.copy()
        dag.remove_edges_from([(p, n) for n in nodes for p in list(dag.predecessors(n))])
        return CausalGraph(dag, self.source)

    def ancestral(self, target: str) -> CausalGraph:
        """The target and everything upstream of it."""
        keep = nx.ancestors(self.dag, target) | {target}
        return CausalGraph(self.dag.subgraph(keep).copy(), self.source)

    def edges_text(self) -> list[str]:
        """One ``parent -> child`` line an edge, grouped by child in topological order."""
        return [f"{p} -> {c}" for c in nx.topological_sort(self.dag) for p in sorted(self.dag.predecessors(c))]


def _unquote(text: object) -> str:
    text = str(text).strip()
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _pydot_graphs(text: str, source: str) -> list:
    # pydot 4 calls pyparsing's camelCase API, deprecated in pyparsing 3.3: a known, harmless
    # warning of that one category. A syntax error is printed by pydot, so stdout is captured.
    from pyparsing.warnings import PyparsingDeprecationWarning
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=PyparsingDeprecationWarning)
        import pydot
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            graphs = pydot.graph_from_dot_data(text)
    if not graphs:
        detail = " ".join(printed.getvalue().split()) or "no graph in the file"
        raise UserError(f"not a DOT graph: {detail}", source=source)
    return graphs


def _walk_pydot(graph, dag: nx.DiGraph) -> None:
    """Nodes and edges of a pydot graph and its subgraphs (networkx's reader skips subgraphs)."""
    for node in graph.get_node_list():
        name = _unquote(node.get_name())
        if name in ("node", "edge", "graph"):
            continue  # default-attribute statements, not nodes
        dag.add_node(name, **{k: _unquote(v) for k, v in node.get_attributes().items()})
    for edge in graph.get_edge_list():
        dag.add_edge(_unquote(edge.get_source()), _unquote(edge.get_destination()))
    for sub in graph.get_subgraph_list():
        _walk_pydot(sub, dag)


def parse_dot(text: str, source: str) -> nx.DiGraph:
    graph = _pydot_graphs(text, source)[0]
    if graph.get_type() != "digraph":
        raise UserError("the graph must be directed (digraph, edges with ->)", source=source)
    dag = nx.DiGraph()
    _walk_pydot(graph, dag)
    return dag


def parse_gml(text: str, source: str) -> nx.DiGraph:
    try:
        graph = nx.parse_gml(text, label="label")
    except (nx.NetworkXError, ValueError) as exc:
        raise UserError(f"not a GML graph: {exc}", source=source) from None
    if not graph.is_directed():
        raise UserError("the graph must be directed (GML: directed 1)", source=source)
    return nx.DiGraph(graph)


def close_match(name: str, known: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def _declared_unobserved(node: str, attrs: Mapping[str, object]) -> bool:
    if str(attrs.get("observed", "yes")).strip().lower() in _NOT_OBSERVED:
        return True
    return any("unobserved" in str(text).lower() for text in (node, attrs.get("label", "")))


def _assign_roles(dag: nx.DiGraph, source: str) -> None:
    for node, attrs in dag.nodes(data=True):
        default = "unobserved" if _declared_unobserved(node, attrs) else ROLE_BY_COLUMN.get(node, "mediator")
        role = attrs.get("role", default)
        if role not in ROLES:
            raise UserError(f"node {node!r} has role {role!r}", source=source, valid=ROLES)
        attrs["role"] = role


def check_graph(dag: nx.DiGraph, columns: Iterable[str], source: str,
                derived_from: Mapping[str, Iterable[str]] | None = None) -> None:
    """Every observed node a known column, acyclic, and the edge rules; else one UserError
    naming what. ``derived_from`` names, for an outcome computed from others, its sources:
    the one edge allowed to leave an outcome."""
    known = set(columns)
    derived = {child: set(parents) for child, parents in (derived_from or {}).items()}
    unknown = [n for n in dag.nodes if n not in known and dag.nodes[n]["role"] != "unobserved"]
    if unknown:
        names = ", ".join(f"{n!r}{close_match(n, known)}" for n in unknown)
        raise UserError(f"unknown node {names}: not a result column (a cause without a column "
                        'is declared with observed="no")', source=source)
    if not nx.is_directed_acyclic_graph(dag):
        cycle = " -> ".join(u for u, _ in nx.find_cycle(dag))
        raise UserError(f"the graph has a cycle: {cycle}", source=source)
    for parent, child in dag.edges:
        parent_role, child_role = dag.nodes[parent]["role"], dag.nodes[child]["role"]
        if parent_role == "outcome" and parent not in derived.get(child, ()):
            raise UserError(f"edge {parent} -> {child} leaves an outcome ({parent}); "
                            "make the parent a mediator (role=mediator) if it causes something; "
                            "only an outcome derived from it may follow it", source=source)
        if child_role in _EXOGENOUS and parent_role not in _EXOGENOUS:
            raise UserError(f"edge {parent} -> {child}: a measured {parent_role} points into "
                            f"{'an' if child_role[0] in 'aeiou' else 'a'} {child_role} ({child})", source=source)


def load_graph(path: str | Path | None, columns: Iterable[str],
               derived_from: Mapping[str, Iterable[str]] | None = None) -> CausalGraph:
    """Read a DOT or GML file (the default graph if ``path`` is None) and check it."""
    path = Path(path) if path is not None else DEFAULT_GRAPH_PATH
    source = str(path)
    text = decode_utf8(read_bounded(path, "graph file", MAX_GRAPH_BYTES), source)
    is_gml = path.suffix.lower() == ".gml" or text.lstrip().startswith("graph [")
    dag = parse_gml(text, source) if is_gml else parse_dot(text, source)
    if dag.number_of_nodes() == 0:
        raise UserError("the graph has no nodes", source=source)
    _assign_roles(dag, source)
    check_graph(dag, columns, source, derived_from)
    return CausalGraph(dag, source)
