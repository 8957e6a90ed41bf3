"""The causal graph of an analysis, drawn left to right: causes before effects, one column a
layer, node colour by role (option, device, mediator, outcome).

No Graphviz (a C build): layers by longest path, a source moved next to its first child, and
the order inside a layer by the mean position of the parents (one barycentre pass a layer).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx
from matplotlib.patches import Patch

from collector.analysis.graph import ROLE_BY_COLUMN
from collector.report import plots, svg
from collector.report.model import Figure

ROLE_COLORS = {"option": "#c6dbef", "device": "#fdd0a2", "mediator": "#e5e5e5", "outcome": "#c7e9c0"}
FONT_PT = 9


def parse_edges(edges: Sequence[str]) -> nx.DiGraph:
    """``"parent -> child"`` lines (analysis.json's graph_edges) as a graph."""
    dag = nx.DiGraph()
    for edge in edges:
        parent, _, child = edge.partition("->")
        if child:
            dag.add_edge(parent.strip(), child.strip())
    return dag


def layers(dag: nx.DiGraph) -> dict[str, int]:
    layer: dict[str, int] = {}
    for node in nx.topological_sort(dag):
        layer[node] = max((layer[p] + 1 for p in dag.predecessors(node)), default=0)
    for node in dag:  # a source right before its first child, so that its arrows stay short
        if dag.in_degree(node) == 0 and dag.out_degree(node):
            layer[node] = min(layer[c] for c in dag.successors(node)) - 1
    return layer


def positions(dag: nx.DiGraph) -> dict[str, tuple[float, float]]:
    layer = layers(dag)
    columns: dict[int, list[str]] = {}
    for node in sorted(dag, key=str):
        columns.setdefault(layer[node], []).append(node)
    y: dict[str, float] = {}
    for index in sorted(columns):
        nodes = columns[index]
        # parents' mean height, then spread evenly around the middle
        nodes.sort(key=lambda n: sum(y.get(p, 0.0) for p in dag.predecessors(n)) / max(1, dag.in_degree(n)))
        for i, node in enumerate(nodes):
            y[node] = (len(nodes) - 1) / 2 - i
    return {n: (float(layer[n]), y[n]) for n in dag}


def _boxes(fig: Any, ax: Any, labels: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Each label's box, left and right edge in data units, as drawn: the layout is settled by one
    draw and then frozen, so that the arrows drawn after it meet the boxes."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    fig.set_layout_engine("none")
    to_data = ax.transData.inverted()
    edges = {}
    for node, text in labels.items():
        extent = text.get_bbox_patch().get_window_extent(renderer)
        (left, _), (right, _) = to_data.transform([(extent.x0, extent.y0), (extent.x1, extent.y1)])
        edges[node] = (float(left), float(right))
    return edges


def without(dag: nx.DiGraph, absent: Sequence[str]) -> tuple[nx.DiGraph, list[str]]:
    """The graph with ``absent`` nodes left out as the analysis leaves them out (effects.py):
    one with parents, or with one child, is bypassed (parents linked to children); a root with
    several children stays, as the unobserved confounder the analysis keeps it as."""
    removed = [n for n in absent if n in dag and (dag.in_degree(n) or dag.out_degree(n) <= 1)]  # as first drawn
    dag = dag.copy()
    for node in removed:
        dag.add_edges_from((p, c) for p in dag.predecessors(node) for c in dag.successors(node))
        dag.remove_node(node)
    return dag, removed


def draw(edges: Sequence[str], roles: dict[str, str] | None = None, absent: Sequence[str] = ()) -> Figure:
    """``absent``: columns with no value in any row, left out of the drawing as of the analysis."""
    dag, absent = without(parse_edges(edges), absent)
    pos = positions(dag)
    roles = {n: (roles or {}).get(n) or ROLE_BY_COLUMN.get(n, "mediator") for n in dag}
    n_layers = max(int(x) for x, _ in pos.values()) + 1
    tallest = max(sum(1 for x, _ in pos.values() if int(x) == i) for i in range(n_layers))
    fig, axes = svg.figure(height_in=max(2.5, 0.7 * tallest + 1.0))
    ax = axes[0, 0]
    ax.set_axis_off()
    ax.set_xlim(-0.6, n_layers - 0.4)
    ax.set_ylim(-tallest / 2, tallest / 2)
    labels = {node: ax.text(x, y, node, ha="center", va="center", fontsize=FONT_PT, zorder=3,
                            bbox={"boxstyle": "round,pad=0.3", "fc": ROLE_COLORS.get(roles[node], "#ffffff"),
                                  "ec": "#606060", "lw": 0.8})
              for node, (x, y) in pos.items()}
    plots.legend_below(fig, [Patch(fc=c, ec="#606060") for c in ROLE_COLORS.values()], list(ROLE_COLORS), title="role")
    boxes = _boxes(fig, ax, labels)
    for parent, child in dag.edges:  # from the right edge of the cause to the left edge of the effect
        from_option = roles[parent] in ("option", "device")
        ax.annotate("", xy=(boxes[child][0], pos[child][1]), xytext=(boxes[parent][1], pos[parent][1]), zorder=1,
                    arrowprops={"arrowstyle": "-|>", "color": "#a8a8a8" if from_option else "#303030",
                                "lw": 0.7 if from_option else 1.2, "shrinkA": 1, "shrinkB": 1,
                                "connectionstyle": "arc3,rad=0.06", "mutation_scale": 9})
    return Figure("causal-graph", svg.to_svg(fig, "causal-graph"),
                  "The causal graph the analysis used, causes on the left. Grey arrows leave a setting (option or "
                  "device); dark ones carry what pruning changes on the way to an outcome."
                  + (f" Left out, as the analysis left them out (no value in any row; their parents linked to "
                     f"their children): {', '.join(sorted(absent))}." if absent else ""))
