"""analysis.json: value objects own their serialization, the file carries a format version."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.analysis.output import FORMAT_VERSION, dump_analysis, load_analysis
from collector.analysis.values import Analysis, ArrowStrength, Effect, Recommendation, Refutation, Verdict, WhatIf
from shared.errors import UserError

# A document as version 1 writes it, trimmed: once the format changes, this must still load.
VERSION_1 = {
    "format_version": 1, "source": "results/quick/results.jsonl", "n_rows": 120,
    "created_at": "2026-11-21T09:00:00+00:00", "edgeprune_version": "0.1.0",
    "graph_source": "default_graph.dot", "graph_edges": ["target_ratio -> accuracy_top1"], "settings": {},
    "effects": [{
        "question": "ratio_on_accuracy", "treatment": "target_ratio", "outcome": "accuracy_top1", "group": {},
        "estimated": True, "reason": "", "estimand": "d/d[target_ratio] E[accuracy_top1 | method, model]",
        "backdoor": ["method", "model"], "estimator": "backdoor.linear_regression", "estimate": -0.7024,
        "ci_low": -0.9192, "ci_high": -0.4855, "naive_estimate": -0.7024, "n_rows": 40, "left_out": {},
        "refutations": [{"name": "random_common_cause", "new_effect": -0.7026, "p_value": 0.96,
                         "expected": "unchanged", "change": 0.0003, "outcome": "pass", "note": "", "detail": {}}],
        "verdict": {"label": "robust", "reasons": ["5 of 5 refuters pass"]}, "notes": []}],
}


def _analysis() -> Analysis:
    effect = Effect(
        "ratio_on_latency", "target_ratio", "latency_p50_ms", {"device_class": "x86"}, estimated=True,
        estimand="d/d[target_ratio] E[latency_p50_ms | batch_size]", backdoor=("batch_size",),
        estimator="backdoor.linear_regression", estimate=-8.0, ci_low=-8.2, ci_high=-7.8, naive_estimate=15.0,
        n_rows=900, left_out={"latency_p50_ms missing (oom)": 100},
        refutations=(Refutation("placebo_treatment", 0.01, 0.9, "zero", 0.001, "pass", "moved 0.1%"),
                     Refutation("unobserved_common_cause", -7.5, None, "survives", detail={"hidden_r2": 0.05})),
        verdict=Verdict("robust", ("5 of 5 refuters pass",)))
    return Analysis(
        source="r/results.jsonl", n_rows=1000, created_at="2026-01-01T00:00:00+00:00", edgeprune_version="0.1.0",
        graph_source="default_graph.dot", graph_edges=("batch_size -> latency_p50_ms",),
        settings={"budgets": {"max_latency_ms": None}}, notes=("1000 rows",), effects=(effect,),
        arrow_strengths=(ArrowStrength("latency_p50_ms", "batch_size", 120.0, 0.8),),
        what_ifs=(WhatIf({"model": "resnet18", "target_ratio": 0.5}, 24.0, 23.0, 25.0, 0.0, 0.0, 0.0, 2000),),
        recommendations=(Recommendation("x86", "resnet18", "l1_unstructured", 0.3, 1, 0.007, 18.0, 700.0, 0.0,
                                        "ratio 0.4: accuracy drop 0.06 > 0.01"),),
        timings_s={"effects": 1.5})


def test_an_analysis_survives_a_round_trip(tmp_path: Path) -> None:
    analysis = _analysis()
    path = dump_analysis(analysis, tmp_path)
    assert path == tmp_path / "analysis.json"
    assert load_analysis(path) == analysis


def test_the_file_lists_what_the_issue_asks_for_every_effect(tmp_path: Path) -> None:
    document = json.loads(dump_analysis(_analysis(), tmp_path / "a.json").read_text())
    assert document["format_version"] == FORMAT_VERSION
    effect = document["effects"][0]
    assert {"treatment", "outcome", "estimand", "estimate", "ci_low", "ci_high", "estimator", "n_rows",
            "refutations", "verdict", "backdoor", "left_out"} <= set(effect)
    assert {"name", "new_effect", "p_value"} <= set(effect["refutations"][0])
    assert effect["refutations"][1]["p_value"] is None


def test_nan_is_written_as_null(tmp_path: Path) -> None:
    analysis = _analysis()
    effect = Effect("q", "t", "y", naive_estimate=float("nan"))
    path = dump_analysis(Analysis(**{**analysis.__dict__, "effects": (effect,)}), tmp_path / "a.json")
    assert json.loads(path.read_text())["effects"][0]["naive_estimate"] is None


def test_a_file_from_a_newer_edgeprune_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "analysis.json"
    path.write_text(json.dumps({"format_version": FORMAT_VERSION + 1}))
    with pytest.raises(UserError, match="reads up to"):
        load_analysis(path)


def test_a_version_1_file_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "analysis.json"
    path.write_text(json.dumps(VERSION_1))
    analysis = load_analysis(path)
    assert analysis.effects[0].estimate is not None
    assert analysis.effects[0].refutations[0].name == "random_common_cause"


def test_an_unwritable_place_is_a_user_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match="cannot write the analysis"):
        dump_analysis(_analysis(), blocker / "sub" / "analysis.json")
    assert dump_analysis(_analysis(), tmp_path / "new" / "a.json").is_file()
