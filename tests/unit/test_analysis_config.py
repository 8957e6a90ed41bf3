"""The analysis config: documented defaults, YAML overrides, and clear errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from collector.analysis.config import DEFAULT_QUESTIONS, AnalysisConfig, Question, load_config
from shared.errors import UserError


def test_the_defaults_are_the_seed_thresholds_and_the_issue_questions() -> None:
    config = load_config(None)
    assert config.thresholds.high_pruning_ratio == 0.3
    assert config.refuters.simulations == 100 and config.verdict.max_change == 0.1
    assert [(q.treatment, q.outcome) for q in config.questions] == [
        ("target_ratio", "accuracy_top1"), ("target_ratio", "latency_p50_ms"), ("target_ratio", "peak_mem_mb"),
        ("target_ratio", "is_oom"), ("High_Pruning", "High_Accuracy_Loss")]
    assert config.questions[1].per == ("method", "backend", "device_class")  # one latency slope a method
    assert config.questions[2].per == ("method",)


def test_a_file_overrides_single_fields_section_by_section(tmp_path: Path) -> None:
    path = tmp_path / "analysis.yml"
    path.write_text("thresholds: {high_pruning_ratio: 0.5, min_accuracy: 0.96}\n"
                    "budgets: {max_latency_ms: 20}\n"
                    "questions:\n"
                    "  - {name: lat, treatment: target_ratio, outcome: latency_p50_ms, per: [device_class]}\n")
    config = load_config(path)
    assert config.thresholds.high_pruning_ratio == 0.5 and config.thresholds.min_accuracy == 0.96
    assert config.thresholds.high_accuracy_loss == 0.02  # untouched
    assert config.budgets.max_latency_ms == 20.0 and config.budgets.max_accuracy_drop == 0.01
    assert config.questions == (Question("lat", "target_ratio", "latency_p50_ms", per=("device_class",)),)


@pytest.mark.parametrize("text, message", [
    ("thresholds: {high_pruning: 0.3}", r"thresholds: unknown key 'high_pruning' \(valid: high_pruning_ratio"),
    ("budgets: {max_latency_ms: fast}", "budgets.max_latency_ms: wants float"),
    ("refuters: {simulations: 1.5}", "refuters.simulations: wants int"),
    ("questions: []", "questions: wants a non-empty list"),
    ("questions: [{name: q, treatment: t, outcome: o, unit: row}]", r"questions\[0\].unit: unknown unit 'row'"),
    ("binary_estimator: magic", "binary_estimator: unknown estimator 'magic'"),
    ("[1, 2]", "top level: wants a mapping"),
    ("thresholds: {", "malformed YAML"),
])
def test_a_mistake_names_the_file_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "analysis.yml"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as err:
        load_config(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_replace_changes_one_section_and_ignores_unset_values() -> None:
    config = AnalysisConfig().replace("budgets", max_latency_ms=15.0, max_peak_mem_mb=None)
    assert config.budgets.max_latency_ms == 15.0 and config.budgets.max_peak_mem_mb is None
    assert config.questions == DEFAULT_QUESTIONS
