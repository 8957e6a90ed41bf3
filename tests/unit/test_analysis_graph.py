"""The causal graph: the shipped default, user graphs in DOT and GML, and the checks."""
from __future__ import annotations

from pathlib import Path

import pytest

from collector.analysis.frame import ANALYSIS_COLUMNS, DERIVED_FROM
from collector.analysis.graph import DEFAULT_GRAPH_PATH, load_graph
from shared.errors import UserError


def _write(tmp_path: Path, text: str, name: str = "graph.dot") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_default_graph_is_shipped_and_passes_its_own_rules() -> None:
    graph = load_graph(None, ANALYSIS_COLUMNS)
    assert graph.source == str(DEFAULT_GRAPH_PATH)
    assert {"target_ratio", "batch_size", "device_class", "device_mem_gb", "latency_p50_ms", "is_oom",
            "accuracy_top1", "peak_mem_mb"} <= set(graph.nodes)
    assert graph.role("target_ratio") == "option" and graph.role("is_oom") == "outcome"
    # batch size and the device are common causes of the ratio and the outcomes
    assert {"batch_size", "device_class"} <= set(graph.parents("target_ratio"))
    assert "batch_size" in graph.parents("latency_p50_ms")
    assert "device_mem_gb" in graph.parents("is_oom")


def test_an_unknown_node_is_named_with_the_column_it_probably_meant(tmp_path: Path) -> None:
    # the seed study's typo, which made a phantom node
    path = _write(tmp_path, "digraph { pruning_ration -> accuracy_top1; }")
    with pytest.raises(UserError, match=r"unknown node 'pruning_ration' \(did you mean target_ratio\?\)") as err:
        load_graph(path, ANALYSIS_COLUMNS)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_cycle_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "digraph { sparsity -> macs -> params_actual -> sparsity; }")
    with pytest.raises(UserError, match="cycle"):
        load_graph(path, ANALYSIS_COLUMNS)


def test_no_edge_may_leave_an_outcome(tmp_path: Path) -> None:
    path = _write(tmp_path, "digraph { latency_p50_ms -> is_oom; }")
    with pytest.raises(UserError, match="leaves an outcome"):
        load_graph(path, ANALYSIS_COLUMNS)


def test_no_measured_quantity_may_point_into_an_option(tmp_path: Path) -> None:
    path = _write(tmp_path, "digraph { macs -> batch_size; }")
    with pytest.raises(UserError, match="points into an option"):
        load_graph(path, ANALYSIS_COLUMNS)


def test_design_edges_between_options_and_devices_are_allowed(tmp_path: Path) -> None:
    path = _write(tmp_path, "digraph { device_class -> batch_size -> target_ratio -> latency_p50_ms; "
                            "batch_size -> latency_p50_ms; }")
    assert load_graph(path, ANALYSIS_COLUMNS).parents("target_ratio") == ("batch_size",)


def test_a_role_attribute_overrides_the_default_role(tmp_path: Path) -> None:
    path = _write(tmp_path, 'digraph { peak_rss_mb [role="outcome"]; target_ratio -> peak_rss_mb; }')
    assert load_graph(path, ANALYSIS_COLUMNS).role("peak_rss_mb") == "outcome"
    bad = _write(tmp_path, "digraph { target_ratio [role=knob]; }", "bad.dot")
    with pytest.raises(UserError, match="role 'knob'"):
        load_graph(bad, ANALYSIS_COLUMNS)


def test_edges_inside_subgraphs_are_read(tmp_path: Path) -> None:
    path = _write(tmp_path, "digraph { subgraph cluster_a { target_ratio -> accuracy_top1; } "
                            "node [shape=box]; model -> accuracy_top1; }")
    graph = load_graph(path, ANALYSIS_COLUMNS)
    assert set(graph.parents("accuracy_top1")) == {"target_ratio", "model"}
    assert "node" not in graph.nodes


def test_a_gml_graph_is_accepted(tmp_path: Path) -> None:
    text = ('graph [ directed 1 node [ id 0 label "target_ratio" ] node [ id 1 label "accuracy_top1" ] '
            'edge [ source 0 target 1 ] ]')
    graph = load_graph(_write(tmp_path, text, "graph.gml"), ANALYSIS_COLUMNS)
    assert graph.parents("accuracy_top1") == ("target_ratio",)


@pytest.mark.parametrize("text, message", [
    ("graph { target_ratio -- accuracy_top1; }", "must be directed"),
    ("digraph { target_ratio -> ; }", "not a DOT graph"),
    ("", "not a DOT graph"),
])
def test_a_broken_file_is_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as err:
        load_graph(_write(tmp_path, text), ANALYSIS_COLUMNS)
    assert "\n" not in str(err.value)


def test_a_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read graph file"):
        load_graph(tmp_path / "nope.dot", ANALYSIS_COLUMNS)


def test_projecting_a_node_out_keeps_its_effects_flowing() -> None:
    graph = load_graph(None, ANALYSIS_COLUMNS).project_out(["peak_mem_mb"])
    assert "peak_mem_mb" not in graph.nodes
    assert {"params_actual", "batch_size", "model", "backend", "device_class"} <= set(graph.parents("is_oom"))


def test_cutting_the_design_edges_makes_options_roots() -> None:
    graph = load_graph(None, ANALYSIS_COLUMNS)
    cut = graph.without_parents(["target_ratio"])
    assert cut.parents("target_ratio") == () and graph.parents("target_ratio")
    assert set(cut.ancestral("accuracy_top1").nodes) == {"accuracy_top1", "target_ratio", "method", "model"}


# The seed study's graph declares its unobserved confounders as a labelled node, and derives
# High_Accuracy_Loss from accuracy; DoWhy's own graphs mark such a node observed="no".
SEED_STYLE = """digraph {
  U[label="Unobserved Confounders"];
  U -> target_ratio; U -> accuracy_top1;
  target_ratio -> accuracy_top1; accuracy_top1 -> High_Accuracy_Loss;
}"""


@pytest.mark.parametrize("declaration", ['U[label="Unobserved Confounders"];', 'U[observed="no"];',
                                         "unobserved_load;"])
def test_a_node_declared_unobserved_needs_no_column(tmp_path: Path, declaration: str) -> None:
    name = declaration.split("[")[0].rstrip(";")
    text = f"digraph {{ {declaration} {name} -> target_ratio; {name} -> latency_p50_ms; target_ratio -> latency_p50_ms; }}"
    graph = load_graph(_write(tmp_path, text), ANALYSIS_COLUMNS)
    assert graph.role(name) == "unobserved" and graph.unobserved == (name,)


def test_an_unobserved_node_in_gml_as_dowhy_writes_it(tmp_path: Path) -> None:
    text = ('graph [ directed 1 node [ id "U" label "U" observed "no" ] node [ id "t" label "target_ratio" ] '
            'node [ id "y" label "latency_p50_ms" ] edge [ source "U" target "t" ] edge [ source "U" target "y" ] '
            'edge [ source "t" target "y" ] ]')
    graph = load_graph(_write(tmp_path, text, "graph.gml"), ANALYSIS_COLUMNS)
    assert graph.unobserved == ("U",)


def test_a_plain_unknown_node_is_still_refused_with_how_to_declare_one(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r'unknown node .U.*observed="no"'):
        load_graph(_write(tmp_path, "digraph { U -> latency_p50_ms; }"), ANALYSIS_COLUMNS)


def test_an_unobserved_node_cannot_have_a_measured_parent(tmp_path: Path) -> None:
    text = 'digraph { U[observed="no"]; macs -> U; U -> latency_p50_ms; }'
    with pytest.raises(UserError, match=r"macs -> U: a measured mediator points into an unobserved \(U\)"):
        load_graph(_write(tmp_path, text), ANALYSIS_COLUMNS)


def test_an_edge_into_an_outcome_derived_from_it_is_accepted(tmp_path: Path) -> None:
    graph = load_graph(_write(tmp_path, SEED_STYLE), ANALYSIS_COLUMNS, DERIVED_FROM)
    assert graph.parents("High_Accuracy_Loss") == ("accuracy_top1",)
    # but not into an outcome that is not computed from it
    bad = _write(tmp_path, "digraph { accuracy_top1 -> High_Memory_Consumption; }")
    with pytest.raises(UserError, match="leaves an outcome"):
        load_graph(bad, ANALYSIS_COLUMNS, DERIVED_FROM)
