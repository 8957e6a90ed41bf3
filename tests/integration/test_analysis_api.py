"""The whole analysis through the Python API, dowhy.gcm included, on a synthetic fleet."""
from __future__ import annotations

from pathlib import Path

import pytest

from collector.analysis import analyze, dump_analysis, load_analysis
from collector.analysis.config import AnalysisConfig
from shared.errors import UserError
from tests.synthetic.known_effects import TRUE_LATENCY_MS_PER_RATIO, synthetic_rows, write_results

CONFIG = (AnalysisConfig().replace("refuters", simulations=10, bootstrap_simulations=10)
          .replace("gcm", samples=100, whatif_resamples=2, max_rows=1500))
XEON = "x86_64-xeon-6140-p40"
ROWS = synthetic_rows(1500, seed=7)
SLOW_TRIAL = max((r for r in ROWS if r["status"] == "ok"), key=lambda r: r["latency_p50_ms"])


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fleet")
    write_results(folder, ROWS)
    return folder


@pytest.fixture(scope="module")
def analysis(results: Path):
    return analyze(results, config=CONFIG, explain=[SLOW_TRIAL["trial_key"]],
                   what_ifs=[f"model=resnet18,ratio=0.5,batch_size=32,device_class={XEON}"])


def test_every_default_question_is_answered(analysis) -> None:
    questions = [e.question for e in analysis.effects]
    # latency: one estimate a method, backend and device class (2 x 2 x 3); memory one a method
    assert questions == ["ratio_on_accuracy"] + ["ratio_on_latency"] * 12 + ["ratio_on_peak_memory"] * 2 + [
        "ratio_on_oom", "seed_high_pruning_on_accuracy_loss"]
    assert {e.group["method"] for e in analysis.effects if e.question == "ratio_on_latency"} == {
        "l1_unstructured", "structured"}
    assert all(e.estimated for e in analysis.effects)
    for effect in analysis.effects:
        if effect.outcome == "latency_p50_ms":
            assert abs(effect.estimate - TRUE_LATENCY_MS_PER_RATIO) < 0.15 * abs(TRUE_LATENCY_MS_PER_RATIO)
            assert effect.naive_estimate > 0  # what a correlation would have said
    assert analysis.n_rows == 1500 and set(analysis.timings_s) >= {"load", "effects", "gcm_fit"}


def test_the_analysis_round_trips_through_its_file(analysis, tmp_path: Path) -> None:
    assert load_analysis(dump_analysis(analysis, tmp_path)) == analysis


def test_arrow_strengths_rank_what_drives_latency_and_oom(analysis) -> None:
    latency = [a for a in analysis.arrow_strengths if a.target == "latency_p50_ms"]
    assert latency[0].parent == "batch_size"  # 0.25 ms a sample, batches up to 128
    assert sum(a.share for a in latency) == pytest.approx(1.0)
    oom = {a.parent: a for a in analysis.arrow_strengths if a.target == "is_oom"}
    assert oom and "peak_mem_mb" not in oom  # missing in every OOM row: bypassed
    assert oom["batch_size"].strength > 0 and oom["model"].strength > 0


def test_a_what_if_predicts_latency_and_oom(analysis) -> None:
    (prediction,) = analysis.what_ifs
    # the synthetic truth: 20 ms + 0.5 (half the trials on torch) + 0.25 * 32 - 8 * 0.5
    assert prediction.latency_ms == pytest.approx(24.5, abs=1.5)
    assert 0 < prediction.latency_low_ms < prediction.latency_ms < prediction.latency_high_ms  # log scale
    assert 0 <= prediction.p_oom_low <= prediction.p_oom <= prediction.p_oom_high < 0.2


def test_recommendations_stay_within_the_accuracy_budget(analysis) -> None:
    assert {(r.device_class, r.model) for r in analysis.recommendations} == {
        (d, m) for d in {r["device_class"] for r in ROWS} for m in ("lenet5", "resnet18")}
    for r in analysis.recommendations:
        # l1 loses 0.1 * ratio^2 of accuracy, structured 0.4 * ratio^2: 0.3 of l1 is the last within 0.01
        assert r.ratio is not None and r.ratio <= 0.4 and r.accuracy_drop <= 0.01
        assert r.batch_size == 1 and r.limited_by


def test_a_slow_trial_is_attributed_to_its_causes(analysis) -> None:
    (attribution,) = analysis.attributions
    assert attribution.trial_key == SLOW_TRIAL["trial_key"]
    assert attribution.observed == pytest.approx(SLOW_TRIAL["latency_p50_ms"])
    assert attribution.observed > attribution.typical
    # the slowest trials are batch-128 ones: the batch explains part of it, trial noise the rest
    assert attribution.contributions["batch_size"] > 0
    assert {"latency_p50_ms", "target_ratio", "model", "device_class"} <= set(attribution.contributions)


def test_an_oom_trial_cannot_be_asked_why_it_was_slow(results: Path) -> None:
    oom = next(r for r in ROWS if r["status"] == "oom")
    with pytest.raises(UserError, match=f"trial {oom['trial_key']} has no latency_p50_ms .*status oom"):
        analyze(results, config=CONFIG.replace("refuters", simulations=3, bootstrap_simulations=3),
                explain=[oom["trial_key"]])


def test_a_what_if_on_an_unknown_device_class_is_a_user_error(results: Path) -> None:
    with pytest.raises(UserError, match="no trial has device_class 'jetson'"):
        analyze(results, config=CONFIG.replace("refuters", simulations=3, bootstrap_simulations=3),
                what_ifs=["model=resnet18,ratio=0.5,batch_size=32,device_class=jetson"])


def test_a_what_if_on_noisy_latencies_never_predicts_a_negative_one(tmp_path: Path) -> None:
    """A loaded machine: one trial in five 100x slower. An additive model of raw latency drew
    negative ones (-104 ms); the log-scale model cannot."""
    rows = [dict(r) for r in synthetic_rows(600, seed=3)]
    for i, row in enumerate(rows):
        if row["latency_p50_ms"] is not None and i % 5 == 0:
            row["latency_p50_ms"] *= 100
    write_results(tmp_path, rows)
    config = CONFIG.replace("refuters", simulations=3, bootstrap_simulations=3)
    (prediction,) = analyze(tmp_path, config=config, what_ifs=[
        f"model=lenet5,ratio=0.5,batch_size=1,device_class={XEON}"]).what_ifs
    assert 0 < prediction.latency_low_ms < prediction.latency_ms < prediction.latency_high_ms
