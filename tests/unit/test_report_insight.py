"""What the report concludes, on small hand-made frames with known answers: a recommendation rests
on a measurable speed-up (the interval from the raw samples), noisy trials are no evidence, a
base model at chance level gets no accuracy claim and no pick, slower is said slower, and the
causal section says when adjustment changed nothing and why."""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from collector.analysis.values import Analysis, Effect, Recommendation, Verdict
from collector.report.cells import times_faster
from collector.report.findings import findings, load_sentence, machine_load
from collector.report.model import Budgets
from collector.report.sections import accuracy, causal, recommend
from shared.resultsdir import SampleIndex
from tests.unit.test_report_sections import data, row

def samples(p50: float, n: int = 60, spread: float = 0.02) -> list[list[float]]:
    """The same draws for every trial, scaled: two trials differ by their p50s alone."""
    return [list(p50 * np.exp(np.random.default_rng(0).normal(0, spread, n)))]


def with_samples(rows: list[dict[str, Any]], spreads: dict[str, float] | None = None) -> Any:
    found = data(rows)
    index = {r["trial_key"]: samples(r["latency_p50_ms"], spread=(spreads or {}).get(r["trial_key"], 0.02))
             for r in rows if r.get("latency_p50_ms") is not None}
    return dataclasses.replace(found, samples=SampleIndex({None: index}))


def pick(rows: list[dict[str, Any]], budgets: Budgets = Budgets(), **kw: Any) -> pd.Series:
    found = with_samples(rows, **kw)
    return recommend.recommendations(found.ok, budgets, found.samples).iloc[0]


def test_a_measurably_faster_variant_is_picked_with_its_interval() -> None:
    got = pick([row(target_ratio=0.0, accuracy_top1=0.9, latency_p50_ms=10.0),
                row(method="structured", target_ratio=0.5, accuracy_top1=0.895, latency_p50_ms=6.0)])
    assert got["pick"] == "structured 0.5 · torch" and got["verdict"] == "faster"
    assert 1.5 < got["speedup_ci_low"] < got["speedup"] < got["speedup_ci_high"] < 1.8
    assert got["evidence"].startswith("1.6") and "faster [" in got["evidence"]


def test_a_difference_within_the_noise_keeps_the_unpruned_model_and_says_why() -> None:
    base = row(target_ratio=0.0, accuracy_top1=0.9, latency_p50_ms=10.0)
    variant = row(target_ratio=0.5, accuracy_top1=0.9, latency_p50_ms=9.5)  # 5% faster by p50, within the spread
    got = pick([base, variant], spreads={base["trial_key"]: 0.6, variant["trial_key"]: 0.6})
    assert got["pick"] == recommend.UNPRUNED
    assert "no measurable difference" in got["next_faster"]


def test_a_noisy_trial_is_never_the_pick() -> None:
    got = pick([row(target_ratio=0.0, accuracy_top1=0.9, latency_p50_ms=10.0),
                row(target_ratio=0.5, accuracy_top1=0.9, latency_p50_ms=0.1, noisy=True, latency_cv=2.0),
                row(method="structured", target_ratio=0.5, accuracy_top1=0.9, latency_p50_ms=6.0)])
    assert got["pick"] == "structured 0.5 · torch" and got["noisy_left_out"] == 1


def test_nothing_measurable_left_is_said() -> None:
    found = with_samples([row(target_ratio=0.0, accuracy_top1=0.9, latency_p50_ms=10.0, noisy=True),
                          row(target_ratio=0.5, accuracy_top1=0.9, latency_p50_ms=1.0, noisy=True)])
    section = recommend.build(found, Budgets())
    assert section.summary[0].startswith("Nothing measurable remains") and "2 of 2" in section.summary[0]


def test_a_base_model_at_chance_gets_no_pick_and_no_accuracy_claim() -> None:
    rows = [row(target_ratio=0.0, accuracy_top1=0.1, latency_p50_ms=10.0, num_classes=10),
            row(method="structured", target_ratio=0.5, accuracy_top1=0.12, latency_p50_ms=5.0, num_classes=10)]
    found = with_samples(rows)
    picks = recommend.build(found, Budgets()).summary
    assert picks == ("m: no recommendation (base model at chance level: train it first).",)
    claims = accuracy.build(found, Budgets()).summary
    assert claims[0].startswith("m: no accuracy finding") and not any("keeps top-1" in c for c in claims)
    assert any("chance level" in f for f in findings(found, (recommend.build(found, Budgets()),)))


def test_a_base_model_above_chance_is_not_flagged() -> None:
    rows = [row(target_ratio=0.0, accuracy_top1=0.16, latency_p50_ms=10.0, num_classes=10)]
    assert not data(rows).rows["base_at_chance"].any()


def test_slower_is_said_slower() -> None:
    assert times_faster(0.37) == "2.70x slower" and times_faster(1.84) == "1.84x faster"


def test_the_load_during_the_run_is_one_sentence_and_a_busy_host_is_named() -> None:
    rows = [row(target_ratio=0.0, latency_p50_ms=10.0, sys_load_1m_max=3.5, noisy=True),
            row(target_ratio=0.5, latency_p50_ms=9.0, sys_load_1m_max=1.0)]
    found = data(rows)
    found = dataclasses.replace(found, machines=pd.DataFrame({"host": ["h1"], "cores": [2.0], "device_mem_gb": [4.0]}))
    text = load_sentence(machine_load(found))
    assert "load up to 3.5 on 2 cores" in text and "1 of 2 ok trials flagged noisy" in text and "busy" in text


def _effect(method: str, estimate: float, naive: float) -> Effect:
    return Effect("ratio_on_latency", "target_ratio", "latency_p50_ms", {"method": method}, estimated=True,
                  estimate=estimate, ci_low=estimate - 0.1, ci_high=estimate + 0.1, naive_estimate=naive,
                  verdict=Verdict("robust"), n_rows=30)


def _analysis(*effects: Effect, recommendations: tuple = ()) -> Analysis:
    return Analysis(source="x", n_rows=60, created_at="", edgeprune_version="", graph_source="", graph_edges=(),
                    settings={}, notes=(), effects=effects, recommendations=recommendations)


def test_adjusted_equal_to_naive_is_explained_and_a_change_is_named() -> None:
    same = _analysis(_effect("structured", -2.0, -2.0), _effect("l1_unstructured", 0.01, 0.0101))
    assert "full grid" in causal.adjustment_note(same)
    changed = _analysis(_effect("structured", -2.0, -3.0), _effect("l1_unstructured", 0.01, 0.0101))
    note = causal.adjustment_note(changed)
    assert note.startswith("Adjustment changed the answer in 1 of 2") and "structured" in note


def test_latency_is_said_per_method() -> None:
    text = causal.latency_by_method(_analysis(_effect("structured", -2.0, -2.0), _effect("ln_structured_mask", 0.0, 0.0)))
    assert "structured -2 ms" in text and "ln_structured_mask +0 ms" in text


def test_the_causal_model_is_used_only_where_nothing_was_measured() -> None:
    rows = [row(target_ratio=0.0, accuracy_top1=0.9, latency_p50_ms=10.0),
            row(method="structured", target_ratio=0.5, accuracy_top1=0.895, latency_p50_ms=6.0)]
    predicted = (Recommendation("dev-a", "m", "l1_unstructured", 0.7, 1, 0.0, 5.0, None, 0.0, "accuracy"),
                 Recommendation("dev-b", "m", "structured", 0.3, 1, 0.0, 5.0, None, 0.0, "accuracy"))
    found = dataclasses.replace(with_samples(rows), analysis=_analysis(recommendations=predicted))
    table = recommend.build(found, Budgets()).tables[1].frame
    assert list(zip(table["device_class"], table["basis"])) == [("dev-a", recommend.MEASURED),
                                                                ("dev-b", recommend.PREDICTED)]


def test_the_graph_leaves_out_what_the_analysis_left_out() -> None:
    from collector.report.causal_graph import parse_edges, without
    dag, removed = without(parse_edges(["a -> m", "m -> y", "c -> y", "c -> m", "r -> y", "r -> m"]), ["m", "r"])
    assert removed == ["m"] and set(dag.edges) == {("a", "y"), ("c", "y"), ("r", "y")}  # r: a confounder, kept


def test_without_a_quiet_unpruned_trial_nothing_is_compared() -> None:
    got = pick([row(target_ratio=0.0, accuracy_top1=0.9, latency_p50_ms=10.0, noisy=True),
                row(method="structured", target_ratio=0.5, accuracy_top1=0.9, latency_p50_ms=6.0)])
    assert got["pick"] is None and "no trusted measurement of the unpruned model" in got["next_faster"]


def test_the_headline_keeps_to_four_findings() -> None:
    from collector.report.model import Section
    found = data([row(target_ratio=0.0, accuracy_top1=0.1, num_classes=10, latency_p50_ms=1.0,
                      sys_load_1m_max=1.0)])
    picks = Section("recommendations", "", "", (), tuple(f"pick {i}." for i in range(9)))
    effects = Section("causal", "", "", (), ("1 effect.", "Latency change ... by method: x."))
    lines = findings(found, (picks, effects))
    assert len(lines) == 4 and "chance level" in lines[0] and lines[1] == "9 picks, one a device class and model, " \
        "under Recommendations." and lines[2].startswith("Latency") and lines[3].startswith("Machine load")


def test_a_disturbed_trial_is_untrusted_where_rows_carry_the_flag() -> None:
    from collector.report.data import trusted
    frame = pd.DataFrame({"noisy": [False, None, False], "disturbed": [False, False, True]})
    assert trusted(frame).tolist() == [True, True, False]
    assert trusted(frame.drop(columns="disturbed")).tolist() == [True, True, True]


def test_a_noisy_trial_with_a_precise_median_is_evidence() -> None:
    # sub-millisecond trials: a CV of 0.2 from scheduler jitter, the median pinned to a percent
    from collector.report.data import trusted
    frame = pd.DataFrame({"noisy": [True, True, True], "disturbed": [False, False, True],
                          "latency_p50_ms": [0.125, 0.125, 0.125],
                          "latency_p50_ci_low_ms": [0.124, 0.100, 0.124], "latency_p50_ci_high_ms": [0.126, 0.150, 0.126]})
    assert trusted(frame).tolist() == [True, False, False]  # precise; too wide; disturbed whatever its median
    assert trusted(frame.drop(columns=["latency_p50_ci_low_ms", "latency_p50_ci_high_ms"])).tolist() == [False] * 3


def test_the_latency_sentence_names_the_largest_changes_and_counts_the_rest() -> None:
    effects = [_effect(f"m{i}", -float(i), -float(i)) for i in range(7)]
    text = causal.latency_by_method(_analysis(*effects))
    assert "m6 -6 ms" in text and "m3 -3 ms" in text and "m2 -2 ms" not in text
    assert text.endswith("; 3 more in the causal effects table.")


def test_where_rows_carry_the_disturbance_verdict_it_decides_who_was_busy() -> None:
    # the load counts the measuring worker's own threads: a 2-thread worker on 2 cores reads 2.0
    quiet = [row(target_ratio=r, latency_p50_ms=10.0, sys_load_1m_max=1.9, disturbed=False) for r in (0.0, 0.5)]
    found = dataclasses.replace(data(quiet), machines=pd.DataFrame({"host": ["h1"], "cores": [2.0],
                                                                     "device_mem_gb": [4.0]}))
    assert "busy" not in load_sentence(machine_load(found))
    busy = [row(target_ratio=r, latency_p50_ms=10.0, sys_load_1m_max=1.0, disturbed=d) for r, d in ((0.0, True), (0.5, False))]
    found = dataclasses.replace(data(busy), machines=found.machines)
    assert "1 host(s) were busy with other work" in load_sentence(machine_load(found))
