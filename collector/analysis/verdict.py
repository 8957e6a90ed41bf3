"""Judge each refutation, then the effect: by how far the effect moved, not by the p-value alone.

A refuter's p-value says whether its new effect is distinguishable from the estimate; with a
precise estimate almost any shift is. Measured before this module: on 3,900 rows an
estimate of -40.12 became -40.19 (0.2% away) under the data-subset refuter, with p = 0.0,
which a bare ``p > 0.05`` rule calls a failure. Here a refutation fails only if the effect
moved by more than ``max_change`` of its scale (the larger of |estimate| and the CI's
half-width) *and* the move is significant (p <= alpha): size decides whether a move matters,
the p-value whether it is more than the noise of the simulations.

The unobserved-common-cause analysis asks a hypothetical (could a hidden confounder of a given
strength explain the effect away?); a yes is a warning, never a failure.
"""
from __future__ import annotations

import dataclasses

from collector.analysis.config import VerdictSettings
from collector.analysis.values import (FAIL, FRAGILE, NO_CLEAR_EFFECT, NOT_RUN, PASS, REFUTED, ROBUST, WARN,
                                       Refutation, Verdict)


def effect_scale(estimate: float, ci_low: float, ci_high: float) -> float:
    """What a change is measured against: the effect's size, or its uncertainty if larger."""
    return max(abs(estimate), (ci_high - ci_low) / 2, 1e-12)


def _judge_shift(ref: Refutation, estimate: float, scale: float, settings: VerdictSettings) -> Refutation:
    target = estimate if ref.expected == "unchanged" else 0.0
    change = abs(ref.new_effect - target) / scale
    significant = ref.p_value is None or ref.p_value <= settings.alpha
    p = "p not computed" if ref.p_value is None else f"p = {ref.p_value:.2g}"
    if change > settings.max_change and significant:
        return dataclasses.replace(ref, change=change, outcome=FAIL, note=f"moved {change:.0%} of the effect, {p}")
    if change > settings.max_change:
        note = f"moved {change:.0%} of the effect, within the noise of the simulations ({p})"
    elif significant:
        note = f"{p}, but it moved only {change:.1%} of the effect: a precise estimate, not a failure"
    else:
        note = f"moved {change:.1%} of the effect"
    return dataclasses.replace(ref, change=change, outcome=PASS, note=note)


def _judge_survival(ref: Refutation, estimate: float, scale: float) -> Refutation:
    """A hypothetical hidden confounder: warn if it could explain the effect away, never fail."""
    change = abs(ref.new_effect - estimate) / scale
    same_sign = ref.new_effect * estimate > 0
    low, high = ref.detail.get("ci_low"), ref.detail.get("ci_high")
    if low is not None and high is not None:
        survives = same_sign and not (low <= 0 <= high)
    else:
        survives = same_sign and abs(ref.new_effect) >= 0.5 * abs(estimate)
    if "hidden_r2" in ref.detail:
        who = (f"a hidden confounder explaining {ref.detail['hidden_r2']:.0%} of what is left of both "
               f"(robustness value {ref.detail['robustness_value']:.2f})")
    else:
        who = f"a hidden confounder flipping {ref.detail.get('flip_share', 0):.0%} of the treatments"
    if survives:
        note = f"{who} would leave it at {ref.new_effect:.4g}"
        return dataclasses.replace(ref, change=change, outcome=PASS, note=note)
    note = f"{who} could explain it away ({ref.new_effect:.4g})"
    return dataclasses.replace(ref, change=change, outcome=WARN, note=note)


def judge_refutation(ref: Refutation, estimate: float, ci_low: float, ci_high: float,
                     settings: VerdictSettings) -> Refutation:
    if ref.new_effect is None:
        return dataclasses.replace(ref, outcome=NOT_RUN)
    scale = effect_scale(estimate, ci_low, ci_high)
    if ref.expected == "survives":
        return _judge_survival(ref, estimate, scale)
    return _judge_shift(ref, estimate, scale, settings)


def judge_effect(ci_low: float, ci_high: float, refutations: list[Refutation]) -> Verdict:
    """robust, fragile (a warning), refuted (a failure) or no clear effect (the CI spans 0)."""
    failed = [f"{r.name}: {r.note}" for r in refutations if r.outcome == FAIL]
    warned = [f"{r.name}: {r.note}" for r in refutations if r.outcome == WARN]
    not_run = [r.name for r in refutations if r.outcome == NOT_RUN]
    if ci_low <= 0 <= ci_high:
        return Verdict(NO_CLEAR_EFFECT, (f"the confidence interval [{ci_low:.4g}, {ci_high:.4g}] includes 0",
                                         *failed))
    extra = (f"not run: {', '.join(not_run)}",) if not_run else ()
    if failed:
        return Verdict(REFUTED, (*failed, *warned, *extra))
    if warned:
        return Verdict(FRAGILE, (*warned, *extra))
    passed = sum(r.outcome == PASS for r in refutations)
    return Verdict(ROBUST, (f"{passed} of {len(refutations)} refuters pass", *extra))
