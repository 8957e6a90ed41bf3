"""Effects with real DoWhy on data with a known effect, confounded by batch size."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dowhy.causal_estimator import estimate_effect
from dowhy.causal_estimators.linear_regression_estimator import LinearRegressionEstimator
from dowhy.causal_estimators.propensity_score_weighting_estimator import PropensityScoreWeightingEstimator
from dowhy.causal_identifier import EstimandType, identify_effect_auto
from dowhy.utils.encoding import one_hot_encode

from collector.analysis.api import analyze
from collector.analysis.config import AnalysisConfig, Question
from collector.analysis.effects import answer
from collector.analysis.estimators import FastLinearRegression, FastPropensityScoreWeighting, Logit, OneClass, one_hot
from collector.analysis.frame import ANALYSIS_COLUMNS, DERIVED_FROM, build_frame
from collector.analysis.graph import load_graph
from collector.analysis.quiet import quiet_dowhy
from shared.errors import UserError
from tests.synthetic.known_effects import TRUE_LATENCY_MS_PER_RATIO, synthetic_rows, write_results

FEW = AnalysisConfig().replace("refuters", simulations=20, bootstrap_simulations=20)
GRAPH = load_graph(None, ANALYSIS_COLUMNS)


def _frame(rows: list[dict]) -> pd.DataFrame:
    return build_frame(rows, FEW.thresholds, "synthetic").data


@pytest.fixture(scope="module")
def confounded() -> pd.DataFrame:
    return _frame(synthetic_rows(1500, seed=3))


def _answer(data: pd.DataFrame, question: Question, config: AnalysisConfig = FEW, graph=GRAPH) -> list:
    with quiet_dowhy(0):
        return answer(data, graph, question, config)


def test_adjusting_for_batch_size_finds_the_truth_that_the_naive_slope_misses(confounded) -> None:
    (effect,) = _answer(confounded, Question("latency", "target_ratio", "latency_p50_ms"))
    truth = TRUE_LATENCY_MS_PER_RATIO
    assert "batch_size" in effect.backdoor
    assert abs(effect.estimate - truth) / abs(truth) < 0.10
    assert abs(effect.naive_estimate - truth) / abs(truth) > 0.10  # biased, here even of the wrong sign
    assert effect.ci_low < truth < effect.ci_high
    placebo = next(r for r in effect.refutations if r.name == "placebo_treatment")
    assert abs(placebo.new_effect) < 0.05 * abs(truth)
    assert [r.name for r in effect.refutations] == ["random_common_cause", "data_subset", "placebo_treatment",
                                                    "bootstrap", "unobserved_common_cause"]
    assert all(r.p_value is not None for r in effect.refutations[:4])
    assert effect.verdict.label == "robust", effect.verdict


def test_oom_rows_stay_in_and_those_without_the_outcome_are_counted(confounded) -> None:
    n_oom = int((confounded["status"] == "oom").sum())
    (latency,) = _answer(confounded, Question("latency", "target_ratio", "latency_p50_ms"))
    assert latency.left_out == {"latency_p50_ms missing (oom)": n_oom}
    (oom,) = _answer(confounded, Question("oom", "target_ratio", "is_oom"))
    assert oom.n_rows == len(confounded) and oom.left_out == {}
    assert oom.estimate < 0  # pruning frees memory: fewer OOMs


def test_latency_is_answered_per_backend_and_device_class(confounded) -> None:
    effects = _answer(confounded, Question("latency", "target_ratio", "latency_p50_ms",
                                           per=("backend", "device_class")))
    assert len(effects) == 6
    assert all(abs(e.estimate - TRUE_LATENCY_MS_PER_RATIO) < 0.15 * 8 for e in effects)
    assert all("constant in these rows, nothing to adjust: device_class" in e.notes for e in effects)


def test_the_seed_question_uses_propensity_scores(confounded) -> None:
    (effect,) = _answer(confounded, FEW.questions[-1])
    assert effect.estimator == "backdoor.propensity_score_weighting"
    assert effect.treatment == "High_Pruning" and effect.estimate > 0.3
    assert effect.n_rows == len(confounded.drop_duplicates(["host", "variant_key"]))


def test_device_memory_is_a_confounder_only_where_present() -> None:
    absent = _frame(synthetic_rows(800, seed=4, device_mem=False))
    (effect,) = _answer(absent, Question("oom", "target_ratio", "is_oom"))
    assert effect.estimated and "device_mem_gb" not in effect.backdoor
    assert any(n.startswith("device_mem_gb has no values") for n in effect.notes)
    present = _frame(synthetic_rows(800, seed=4))
    (effect,) = _answer(present, Question("oom", "target_ratio", "is_oom"))
    assert "device_mem_gb" in effect.backdoor


def test_a_confounder_missing_in_a_few_rows_drops_those_rows_only() -> None:
    data = _frame(synthetic_rows(800, seed=5))
    data.loc[data.index[:40], "device_mem_gb"] = np.nan
    (effect,) = _answer(data, Question("oom", "target_ratio", "is_oom"))
    assert sum(n for why, n in effect.left_out.items() if why.startswith("device_mem_gb missing")) == 40
    assert effect.n_rows == 760


def test_an_unblockable_backdoor_path_is_reported_not_estimated(tmp_path: Path, confounded) -> None:
    path = tmp_path / "g.dot"
    path.write_text("digraph { mem_limit_mb -> target_ratio; mem_limit_mb -> latency_p50_ms; "
                    "target_ratio -> latency_p50_ms; }")
    (effect,) = _answer(confounded, Question("latency", "target_ratio", "latency_p50_ms"),
                        graph=load_graph(path, ANALYSIS_COLUMNS))
    assert not effect.estimated and effect.reason.startswith("not identified")
    assert "mem_limit_mb has no values in these rows: an unobserved confounder" in effect.notes


def test_a_constant_outcome_is_skipped_with_the_reason(confounded) -> None:
    data = confounded.assign(is_oom=0.0)
    (effect,) = _answer(data, Question("oom", "target_ratio", "is_oom"))
    assert not effect.estimated and effect.reason == f"is_oom is 0 in all {len(data)} rows: nothing to compare"


def _estimand(treatment: str, outcome: str, backdoor: list[str], graph=GRAPH):
    estimand = identify_effect_auto(graph.dag, [treatment], [outcome], list(graph.nodes),
                                    EstimandType.NONPARAMETRIC_ATE)
    estimand.set_identifier_method("backdoor")
    estimand.set_backdoor_variables(backdoor, key="backdoor")
    return estimand


def test_the_fast_linear_regression_is_dowhys_to_the_last_digit(confounded) -> None:
    data = confounded.dropna(subset=["latency_p50_ms"])[
        ["target_ratio", "latency_p50_ms", "batch_size", "model", "device_class"]].copy()
    data["model"] = data["model"].cat.remove_unused_categories()
    results = []
    for cls in (LinearRegressionEstimator, FastLinearRegression):
        estimand = _estimand("target_ratio", "latency_p50_ms", ["batch_size", "model", "device_class"])
        with quiet_dowhy(0):
            estimate = estimate_effect(data, ["target_ratio"], ["latency_p50_ms"], "backdoor",
                                       cls(estimand, confidence_intervals=True), method_params={})
        results.append((estimate.value, np.ravel(estimate.get_confidence_intervals())))
    (dowhy_value, dowhy_ci), (fast_value, fast_ci) = results
    assert fast_value == pytest.approx(dowhy_value, rel=1e-9)
    assert fast_ci == pytest.approx(dowhy_ci, rel=1e-9)


def test_the_fast_propensity_weighting_is_dowhys_default_as_a_user_calls_it(confounded) -> None:
    # plain DoWhy as its docs call it: CausalModel, identify, estimate; its default propensity
    # model is scikit-learn's LogisticRegression() on the one-hot confounders
    from dowhy import CausalModel
    data = confounded.drop_duplicates(["host", "variant_key"])[
        ["High_Pruning", "High_Accuracy_Loss", "model", "method", "batch_size"]].dropna().copy()
    data["High_Pruning"] = data["High_Pruning"].astype(int)
    plain = data.astype({"model": object, "method": object})
    with quiet_dowhy(0):
        model = CausalModel(plain, "High_Pruning", "High_Accuracy_Loss", common_causes=["model", "method", "batch_size"])
        theirs = model.estimate_effect(model.identify_effect(proceed_when_unidentifiable=True),
                                       method_name="backdoor.propensity_score_weighting").value
        estimand = _estimand("High_Pruning", "High_Accuracy_Loss", ["model", "method", "batch_size"],
                             GRAPH.relabel({"target_ratio": "High_Pruning", "accuracy_top1": "High_Accuracy_Loss"}))
        ours = estimate_effect(data.copy(), ["High_Pruning"], ["High_Accuracy_Loss"], "backdoor",
                               FastPropensityScoreWeighting(estimand), method_params={}).value
    # scikit-learn's lbfgs stops at its tolerance; Newton's method goes to convergence
    assert ours == pytest.approx(theirs, rel=1e-4)


def test_the_encoding_is_dowhys(confounded) -> None:
    columns = confounded[["batch_size", "model", "device_class"]]
    ours = one_hot(columns)
    theirs, _ = one_hot_encode(columns.astype({"model": object, "device_class": object}), drop_first=True)
    assert ours.to_numpy() == pytest.approx(theirs[list(theirs.columns)].to_numpy())
    assert len(ours.columns) == len(theirs.columns) == 1 + 1 + 2


# --- user mistakes through the API: one clear message each ---

def test_a_constant_treatment_is_a_user_error(tmp_path: Path) -> None:
    rows = [{**row, "target_ratio": 0.5} for row in synthetic_rows(50, seed=6)]
    write_results(tmp_path, rows)
    with pytest.raises(UserError, match=r"target_ratio is 0.5 in every one of the 50 rows: .*at least two values"):
        analyze(tmp_path, config=FEW)


def test_an_empty_results_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no results.jsonl here"):
        analyze(tmp_path, config=FEW)


def test_a_graph_naming_a_missing_column_is_a_user_error(tmp_path: Path) -> None:
    write_results(tmp_path, synthetic_rows(50, seed=6))
    graph = tmp_path / "mine.dot"
    graph.write_text("digraph { batch_size -> target_ratio; target_ratio -> latency_ms; }")
    with pytest.raises(UserError, match=r"mine.dot: unknown node 'latency_ms'"):
        analyze(tmp_path, graph=graph, config=FEW)


def test_a_question_about_a_category_is_a_user_error(tmp_path: Path) -> None:
    write_results(tmp_path, synthetic_rows(50, seed=6))
    config = AnalysisConfig(questions=(Question("m", "method", "latency_p50_ms"),))
    with pytest.raises(UserError, match="method is categorical"):
        analyze(tmp_path, config=config)


def test_a_question_about_a_column_that_does_not_exist_is_a_user_error(tmp_path: Path) -> None:
    write_results(tmp_path, synthetic_rows(50, seed=6))
    config = AnalysisConfig(questions=(Question("q", "target_ratio", "latency_ms"),))
    with pytest.raises(UserError, match=r"unknown column 'latency_ms' \(did you mean latency_"):
        analyze(tmp_path, config=config)


def test_a_graph_without_a_questions_outcome_skips_that_question(confounded, tmp_path: Path) -> None:
    path = tmp_path / "g.dot"
    path.write_text("digraph { batch_size -> target_ratio -> latency_p50_ms; batch_size -> latency_p50_ms; }")
    graph = load_graph(path, ANALYSIS_COLUMNS)
    (effect,) = _answer(confounded, Question("oom", "target_ratio", "is_oom"), graph=graph)
    assert not effect.estimated and effect.reason == "is_oom is not a node of the graph"


def test_a_treatment_class_too_small_for_a_bootstrap_is_a_reason_not_a_crash(confounded) -> None:
    # the seed's very small data sets: a CI resample without a single treated row made DoWhy's
    # propensity fit fail (LinAlgError: Singular matrix) and took the whole analysis with it
    part = confounded.drop_duplicates(["host", "variant_key"]).head(16).copy()
    part["High_Pruning"] = 0.0
    part.iloc[0, part.columns.get_loc("High_Pruning")] = 1.0
    config = FEW.replace("refuters", bootstrap_simulations=50)
    (effect,) = _answer(part, Question("seed", "High_Pruning", "High_Accuracy_Loss", unit="variant"), config)
    assert not effect.estimated
    assert effect.reason.startswith("too few rows for a confidence interval: High_Pruning = 1 in 1 of 16 rows")


def test_the_propensity_model_refuses_one_class_as_scikit_learn_does() -> None:
    features = np.random.default_rng(0).integers(0, 2, (12, 3)).astype(float)
    with pytest.raises(OneClass, match="one value in all 12 rows"):
        Logit().fit(features, np.zeros(12))


def test_refuters_refit_the_propensity_model_where_plain_dowhy_reuses_a_stale_one(confounded) -> None:
    # DoWhy's propensity estimators write a propensity_score column into the frame and, finding
    # it there on a refit, reuse it: a random common cause then cannot move the estimate at all
    # (the seed paper's p-value of exactly 1.0). edgeprune's estimator refits on every call.
    from dowhy.causal_refuters.random_common_cause import refute_random_common_cause
    data = confounded.drop_duplicates(["host", "variant_key"])[
        ["High_Pruning", "High_Accuracy_Loss", "model", "method"]].dropna().copy()
    data["High_Pruning"] = data["High_Pruning"].astype(int)
    estimand = _estimand("High_Pruning", "High_Accuracy_Loss", ["model", "method"],
                         GRAPH.relabel({"target_ratio": "High_Pruning", "accuracy_top1": "High_Accuracy_Loss"}))
    moved = {}
    for name, cls in (("plain", PropensityScoreWeightingEstimator), ("ours", FastPropensityScoreWeighting)):
        frame = data.copy()
        # plain DoWhy's simulations are all equal: its p-value divides by a zero spread
        with quiet_dowhy(0), np.errstate(invalid="ignore", divide="ignore"):
            estimate = estimate_effect(frame, ["High_Pruning"], ["High_Accuracy_Loss"], "backdoor", cls(estimand),
                                       method_params={})
            refuted = refute_random_common_cause(frame, estimand, estimate, num_simulations=10,
                                                 random_state=np.random.RandomState(0))
        moved[name] = abs(refuted.new_effect - estimate.value)
    assert moved["plain"] == 0.0
    assert moved["ours"] > 1e-6


def test_the_seed_graph_with_unobserved_confounders_and_a_derived_outcome(confounded, tmp_path: Path) -> None:
    path = tmp_path / "seed.dot"
    path.write_text('digraph { U[label="Unobserved Confounders"]; U -> High_Pruning; U -> High_Accuracy_Loss; '
                    "model -> High_Pruning; model -> accuracy_top1; High_Pruning -> accuracy_top1; "
                    "accuracy_top1 -> High_Accuracy_Loss; batch_size -> latency_p50_ms; "
                    "High_Pruning -> latency_p50_ms; }")
    graph = load_graph(path, ANALYSIS_COLUMNS, DERIVED_FROM)
    # U confounds pruning and accuracy loss: nothing observed closes that path
    (loss,) = _answer(confounded, Question("seed", "High_Pruning", "High_Accuracy_Loss", unit="variant"), graph=graph)
    assert not loss.estimated and loss.reason.startswith("not identified")
    assert "U is declared unobserved: no column adjusts for it" in loss.notes
    # latency is not confounded by U: estimated, through the same graph
    (latency,) = _answer(confounded, Question("lat", "High_Pruning", "latency_p50_ms"), graph=graph)
    assert latency.estimated and "U" not in latency.backdoor
