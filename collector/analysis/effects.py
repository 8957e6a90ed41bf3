"""One question -> one :class:`Effect` a group: rows, graph cut to the data, identify, estimate, refute.

DoWhy's functional API is used (``identify_effect_auto``, ``estimate_effect``, the
``refute_*`` functions) rather than ``CausalModel``, which warns about every graph node
that has no column and prints a summary on construction.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from dowhy.causal_estimator import estimate_effect
from dowhy.causal_identifier import EstimandType, IdentifiedEstimand, identify_effect_auto

from collector.analysis.config import AnalysisConfig, Question
from collector.analysis.estimators import ESTIMATOR_CLASSES, OneClass, one_hot
from collector.analysis.frame import STANDS_IN_FOR, groups, is_binary, question_rows, unit_rows
from collector.analysis.graph import CausalGraph
from collector.analysis.refuters import run_refuters
from collector.analysis.values import Effect
from collector.analysis.verdict import judge_effect, judge_refutation
from shared.errors import UserError

MIN_ROWS = 10


def question_graph(graph: CausalGraph, question: Question) -> tuple[CausalGraph, str]:
    """The graph with the question's seed columns standing in for their sources, or why the
    graph cannot answer the question (a user graph need not have every default outcome)."""
    mapping = {STANDS_IN_FOR[c]: c for c in (question.treatment, question.outcome)
               if c not in graph.nodes and STANDS_IN_FOR.get(c) in graph.nodes}
    graph = graph.relabel(mapping) if mapping else graph
    missing = [c for c in (question.treatment, question.outcome) if c not in graph.nodes]
    return graph, f"{', '.join(missing)} is not a node of the graph" if missing else ""


@dataclass
class _Cut:
    """The graph as far as these rows can support it, and what was done to get there."""

    graph: CausalGraph
    observed: list[str]
    notes: list[str]


def _absent(graph: CausalGraph, nodes: list[str], cut: _Cut, why: str) -> None:
    # A node with parents, or with one child, can be bypassed: its effects still flow from its
    # parents. A root with several children is a confounder; dropping it would hide that, so
    # it stays in as unobserved and identification decides whether the effect survives.
    projectable = [n for n in nodes if graph.parents(n) or len(graph.children(n)) <= 1]
    cut.graph = cut.graph.project_out(projectable)
    cut.observed = [n for n in cut.observed if n not in nodes]
    for node in nodes:
        what = "left out of the graph, its parents linked to its children" if node in projectable \
            else "an unobserved confounder"
        cut.notes.append(f"{node} {why}: {what}")


def _cut_graph(graph: CausalGraph, rows: pd.DataFrame, keep: tuple[str, str]) -> _Cut:
    # an unobserved node stays in the graph (identification must see what it confounds) but
    # is never one of the columns DoWhy may adjust for
    observed = [n for n in graph.nodes if n not in graph.unobserved]
    cut = _Cut(graph, observed, [f"{n} is declared unobserved: no column adjusts for it"
                                 for n in graph.unobserved])
    empty = [n for n in observed if n not in keep and rows[n].isna().all()]
    if empty:
        _absent(graph, empty, cut, "has no values in these rows")
    return cut


def _identify(cut: _Cut, treatment: str, outcome: str) -> IdentifiedEstimand:
    return identify_effect_auto(cut.graph.dag, [treatment], [outcome], cut.observed,
                                EstimandType.NONPARAMETRIC_ATE)


def _complete_backdoor(cut: _Cut, rows: pd.DataFrame, question: Question, max_missing: float,
                       left_out: dict[str, int]) -> tuple[IdentifiedEstimand, pd.DataFrame]:
    """Identify; a confounder missing in a few rows drops those rows, in many it is unobserved."""
    estimand = _identify(cut, question.treatment, question.outcome)
    backdoor = estimand.get_backdoor_variables() or []
    sparse = [c for c in backdoor if rows[c].isna().mean() > max_missing]
    if sparse:
        _absent(cut.graph, sparse, cut, f"is missing in more than {max_missing:.0%} of the rows")
        estimand = _identify(cut, question.treatment, question.outcome)
        backdoor = estimand.get_backdoor_variables() or []
    rows, dropped = question_rows(rows, [c for c in backdoor if rows[c].isna().any()])
    left_out.update(dropped)
    return estimand, rows


def _why_not(rows: pd.DataFrame, treatment: str, outcome: str) -> str:
    if len(rows) < MIN_ROWS:
        return f"{len(rows)} rows with both {treatment} and {outcome}; at least {MIN_ROWS} needed"
    for column in (treatment, outcome):
        values = rows[column].unique()
        if len(values) < 2:
            return f"{column} is {values[0]:g} in all {len(rows)} rows: nothing to compare"
    return ""


def _estimator_name(question: Question, binary_treatment: bool, config: AnalysisConfig, backdoor: list) -> str:
    name = question.estimator or (config.binary_estimator if binary_treatment else "linear_regression")
    # propensity scores need covariates; without confounders a difference in means is the estimate
    return "linear_regression" if name != "linear_regression" and not backdoor else name


def _estimand_text(treatment: str, outcome: str, backdoor: list[str]) -> str:
    given = f" | {', '.join(backdoor)}" if backdoor else ""
    return f"d/d[{treatment}] E[{outcome}{given}]"


def _naive(rows: pd.DataFrame, treatment: str, outcome: str) -> float:
    """The unadjusted slope (a difference of means for a 0/1 treatment)."""
    return float(np.polyfit(rows[treatment].astype(float), rows[outcome].astype(float), 1)[0])


def _skipped(question: Question, group: Mapping[str, str], reason: str, rows: int, left_out: dict,
             notes: list[str] | tuple = ()) -> Effect:
    return Effect(question.name, question.treatment, question.outcome, dict(group), reason=reason,
                  n_rows=rows, left_out=left_out, notes=tuple(notes))


def _not_identified(estimand: IdentifiedEstimand, treatment: str, outcome: str) -> str:
    if estimand.no_directed_path:
        return f"the graph has no path from {treatment} to {outcome}"
    if estimand.estimands.get("backdoor") is None:
        return "not identified: no observed set of columns closes every backdoor path"
    return ""


def _estimate_and_refute(rows: pd.DataFrame, estimand: IdentifiedEstimand, question: Question,
                         adjusted: list[str], graph: CausalGraph, config: AnalysisConfig,
                         refute: bool = True) -> dict[str, Any]:
    """Estimate with a CI, run the refuters (unless not ``refute``), judge: the Effect's numbers."""
    t, y = question.treatment, question.outcome
    binary = is_binary(rows[t])
    data = _estimation_data(rows, [t, y, *adjusted])
    if binary:
        data[t] = data[t].astype(int)  # 0/1: what propensity scores and DoWhy's flips both accept
    name = _estimator_name(question, binary, config, adjusted)
    estimator = ESTIMATOR_CLASSES[name](estimand, confidence_intervals=True,
                                        num_simulations=config.refuters.bootstrap_simulations)
    estimate = estimate_effect(data, [t], [y], "backdoor", estimator, control_value=0, treatment_value=1,
                               method_params={})
    ci_low, ci_high = (float(v) for v in np.asarray(estimate.get_confidence_intervals()).ravel()[:2])
    measured = [c for c in adjusted if graph.role(c) == "mediator"]
    refutations = [judge_refutation(r, estimate.value, ci_low, ci_high, config.verdict)
                   for r in run_refuters(data, estimand, estimate, config.refuters, measured)] if refute else []
    return {"estimator": f"backdoor.{name}", "estimate": float(estimate.value), "ci_low": ci_low,
            "ci_high": ci_high, "naive_estimate": _naive(rows, t, y), "n_rows": len(data),
            "refutations": tuple(refutations), "verdict": judge_effect(ci_low, ci_high, refutations)}


def _estimate_group(graph: CausalGraph, question: Question, group: Mapping[str, str], part: pd.DataFrame,
                    config: AnalysisConfig, refute: bool = True) -> Effect:
    t, y = question.treatment, question.outcome
    rows, left_out = question_rows(part, [t, y])
    reason = _why_not(rows, t, y)
    if reason:
        return _skipped(question, group, reason, len(rows), left_out)
    cut = _cut_graph(graph, rows, (t, y))
    estimand, rows = _complete_backdoor(cut, rows, question, config.max_missing_share, left_out)
    reason = _not_identified(estimand, t, y)
    if reason:
        return _skipped(question, group, reason, len(rows), left_out, cut.notes)
    backdoor = list(estimand.get_backdoor_variables())
    adjusted, notes = _informative(rows, backdoor)
    estimand.set_identifier_method("backdoor")
    estimand.set_backdoor_variables(adjusted, key="backdoor")
    try:
        numbers = _estimate_and_refute(rows, estimand, question, adjusted, cut.graph, config, refute)
    except OneClass:
        # the CI's bootstrap drew a resample without one of the treatment classes: with so few
        # rows of a class there is no interval, and an estimate without one says nothing
        treated = int((rows[t].astype(float) == 1).sum())
        return _skipped(question, group, f"too few rows for a confidence interval: {t} = 1 in {treated} of {len(rows)} "
                        "rows, and a bootstrap resample drew only one of the two values",
                        len(rows), left_out, cut.notes + notes)
    return Effect(question.name, t, y, dict(group), estimated=True, estimand=_estimand_text(t, y, backdoor),
                  backdoor=tuple(backdoor), left_out=left_out, notes=tuple(cut.notes + notes), **numbers)


def _informative(rows: pd.DataFrame, backdoor: list[str]) -> tuple[list[str], list[str]]:
    """The confounders worth adjusting for in these rows, and notes on the others.

    One constant in these rows (one device in this group) needs no adjustment; one fixed by
    the others (device_mem_gb by device_class) adds nothing. Either only makes the design
    matrix singular.
    """
    constant = [c for c in backdoor if rows[c].nunique() <= 1]
    kept, redundant = [], []
    design = np.ones((len(rows), 1))  # the intercept
    for column in [c for c in backdoor if c not in constant]:
        block = one_hot(_estimation_data(rows, [column])).to_numpy()
        trial = np.column_stack([design, block])
        if np.linalg.matrix_rank(trial) < trial.shape[1]:
            redundant.append(column)
        else:
            kept.append(column)
            design = trial
    notes = [f"constant in these rows, nothing to adjust: {', '.join(constant)}"] if constant else []
    if redundant:
        notes.append(f"fixed by the other confounders, nothing to add: {', '.join(redundant)}")
    return kept, notes


def _estimation_data(rows: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    data = rows[columns].copy()
    for name in columns:
        if isinstance(data[name].dtype, pd.CategoricalDtype):  # categories of other groups: all-zero columns
            data[name] = data[name].cat.remove_unused_categories()
    return data


def _check_numeric(frame_data: pd.DataFrame, question: Question) -> None:
    for column in (question.treatment, question.outcome):
        if isinstance(frame_data[column].dtype, pd.CategoricalDtype):
            raise UserError(f"question {question.name!r}: {column} is categorical; a treatment or outcome "
                            "must be a number or 0/1 (e.g. target_ratio, High_Pruning, is_oom)")


def answer(frame_data: pd.DataFrame, graph: CausalGraph, question: Question, config: AnalysisConfig,
           refute: bool = True) -> list[Effect]:
    """Every group's effect for one question (one group unless ``question.per`` splits the rows);
    without ``refute``, the estimates and CIs alone (what an adaptive sweep refits each round)."""
    graph, missing = question_graph(graph, question)
    if missing:
        return [_skipped(question, {}, missing, 0, {})]
    _check_numeric(frame_data, question)
    data = unit_rows(frame_data, question.unit)
    parts = groups(data, question.per)
    if not parts:
        return [_skipped(question, {}, f"no rows have {', '.join(question.per)}", 0, {})]
    return [_estimate_group(graph, question, group, part, config, refute) for group, part in parts]
