"""The verdict weighs how far an effect moved, not only the refuter's p-value."""
from __future__ import annotations

import pytest

from collector.analysis.config import VerdictSettings
from collector.analysis.values import FAIL, PASS, WARN, Refutation
from collector.analysis.verdict import effect_scale, judge_effect, judge_refutation

SETTINGS = VerdictSettings()


def _judge(ref: Refutation, estimate: float = -40.12, ci: tuple[float, float] = (-40.5, -39.7)) -> Refutation:
    return judge_refutation(ref, estimate, *ci, SETTINGS)


def test_a_tiny_significant_move_of_a_precise_estimate_passes() -> None:
    # measured before this issue: 3,900 rows, -40.12 -> -40.19 under the data-subset refuter, p = 0.0
    judged = _judge(Refutation("data_subset", -40.19, 0.0))
    assert judged.outcome == PASS
    assert judged.change == pytest.approx(0.07 / 40.12)
    assert "not a failure" in judged.note


def test_a_large_significant_move_fails() -> None:
    judged = _judge(Refutation("random_common_cause", -30.0, 0.01))
    assert judged.outcome == FAIL and "25%" in judged.note


def test_a_large_move_within_the_noise_of_the_simulations_passes() -> None:
    judged = _judge(Refutation("bootstrap", -30.0, 0.4))
    assert judged.outcome == PASS and "within the noise" in judged.note


def test_the_placebo_is_judged_against_zero() -> None:
    assert _judge(Refutation("placebo_treatment", 0.5, 0.0, expected="zero")).outcome == PASS
    assert _judge(Refutation("placebo_treatment", -20.0, 0.0, expected="zero")).outcome == FAIL


def test_an_imprecise_estimate_is_measured_against_its_uncertainty() -> None:
    assert effect_scale(0.1, -5.0, 5.0) == 5.0
    judged = judge_refutation(Refutation("data_subset", 0.5, 0.0), 0.1, -5.0, 5.0, SETTINGS)
    assert judged.outcome == PASS  # moved 8% of the CI's half-width


def test_a_hidden_confounder_warns_but_never_fails() -> None:
    survives = _judge(Refutation("unobserved_common_cause", -35.0, None, expected="survives",
                                 detail={"hidden_r2": 0.05, "robustness_value": 0.4, "ci_low": -36.0,
                                         "ci_high": -34.0}))
    assert survives.outcome == PASS
    explained = _judge(Refutation("unobserved_common_cause", -1.0, None, expected="survives",
                                  detail={"hidden_r2": 0.05, "robustness_value": 0.02, "ci_low": -3.0,
                                          "ci_high": 1.0}))
    assert explained.outcome == WARN and "explain it away" in explained.note


def test_a_refuter_that_could_not_run_is_reported_not_judged() -> None:
    judged = _judge(Refutation("bootstrap", None, None, note="could not run: ValueError: x"))
    assert judged.outcome == "not run"


def test_the_effect_verdict() -> None:
    ok = Refutation("data_subset", -40.0, 0.5, outcome=PASS)
    warn = Refutation("unobserved_common_cause", -1.0, None, outcome=WARN, note="could explain it away")
    fail = Refutation("placebo_treatment", -20.0, 0.0, outcome=FAIL, note="moved 50%")
    assert judge_effect(-41.0, -39.0, [ok, ok]).label == "robust"
    assert judge_effect(-41.0, -39.0, [ok, warn]).label == "fragile"
    refuted = judge_effect(-41.0, -39.0, [ok, warn, fail])
    assert refuted.label == "refuted" and refuted.reasons[0] == "placebo_treatment: moved 50%"
    assert judge_effect(-1.0, 2.0, [ok]).label == "no clear effect"
