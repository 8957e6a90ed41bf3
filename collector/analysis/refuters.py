"""DoWhy's refuters on one estimate, each result as a :class:`Refutation` (judged in verdict.py).

random common cause, data subset, placebo treatment (``placebo_type="permute"``: DoWhy's
default placebo for a float treatment is all zeros, whose p-value is NaN), bootstrap, and
an unobserved-common-cause sensitivity analysis: Cinelli and Hazlett's partial R^2 bounds
for the linear estimator, a direct simulation (flipped treatments) for the others.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from dowhy.causal_estimator import CausalEstimate
from dowhy.causal_identifier import IdentifiedEstimand
from dowhy.causal_refuters.add_unobserved_common_cause import (sensitivity_linear_partial_r2,
                                                               sensitivity_simulation)
from dowhy.causal_refuters.bootstrap_refuter import refute_bootstrap
from dowhy.causal_refuters.data_subset_refuter import refute_data_subset
from dowhy.causal_refuters.placebo_treatment_refuter import PlaceboType, refute_placebo_treatment
from dowhy.causal_refuters.random_common_cause import refute_random_common_cause

from collector.analysis.config import RefuterSettings
from collector.analysis.estimators import FastLinearRegression, OneClass
from collector.analysis.values import Refutation


def _from_dowhy(name: str, expected: str, run: Callable[[], Any]) -> Refutation:
    result = run()
    p_value = (result.refutation_result or {}).get("p_value")
    return Refutation(name, float(result.new_effect), None if p_value is None else float(p_value), expected)


def _noisy_confounders(data: pd.DataFrame, measured: list[str]) -> list[str] | bool:
    # DoWhy's bootstrap adds measurement noise to the confounders it is given (it skips ints and
    # crashes on categories). Only measured ones can be mismeasured: a batch size is exact.
    names = [c for c in measured if pd.api.types.is_float_dtype(data[c])]
    return names or False


def _linear_sensitivity(data: pd.DataFrame, estimate: CausalEstimate, treatment: str,
                        settings: RefuterSettings) -> Refutation:
    """Cinelli and Hazlett's bounds: the estimate if a hidden confounder explained a share
    ``settings.hidden_confounder`` of the residual variance of both treatment and outcome."""
    analyzer = None
    # DoWhy insists on an observed benchmark (whose bounds are not used here, hence the tiny
    # strength); one that predicts the treatment perfectly makes it raise, so try the next
    # (the fitted covariates are DoWhy private state: see estimators.py on why and the version cap)
    for covariate in estimate.estimator._observed_common_causes.columns:
        try:
            with np.errstate(divide="ignore", invalid="ignore"):
                analyzer = sensitivity_linear_partial_r2(
                    data, estimate, [treatment], frac_strength_treatment=[1e-9], frac_strength_outcome=[1e-9],
                    benchmark_common_causes=[covariate], significance_level=0.05, plot_estimate=False)
            break
        except ValueError:
            continue
    if analyzer is None:
        raise ValueError("no observed confounder DoWhy accepts as a benchmark")
    share = np.array([settings.hidden_confounder])
    bounds = analyzer.compute_bias_adjusted(share, share)
    detail = {"hidden_r2": settings.hidden_confounder,
              "robustness_value": float(analyzer.stats["robustness_value"]),
              "ci_low": float(bounds["bias_adjusted_lower_CI"][0]),
              "ci_high": float(bounds["bias_adjusted_upper_CI"][0])}
    return Refutation("unobserved_common_cause", float(bounds["bias_adjusted_estimate"][0]), None,
                      "survives", detail=detail)


def _simulated_sensitivity(data: pd.DataFrame, estimand: IdentifiedEstimand, estimate: CausalEstimate,
                           treatment: str, outcome: str, settings: RefuterSettings) -> Refutation:
    # A confounder flipping a share ``hidden_confounder`` of the treatments, and as many binary
    # outcomes (or moving a continuous one by twice that share of its standard deviation).
    binary_outcome = set(np.unique(data[outcome])) <= {0, 1}
    share = settings.hidden_confounder
    kappa_y = share if binary_outcome else 2 * share * float(data[outcome].std())
    result = sensitivity_simulation(
        data, estimand, estimate, [treatment], [outcome], kappa_t=share, kappa_y=kappa_y,
        confounders_effect_on_treatment="binary_flip",
        confounders_effect_on_outcome="binary_flip" if binary_outcome else "linear")
    return Refutation("unobserved_common_cause", float(result.new_effect), None, "survives",
                      detail={"flip_share": share})


def _sensitivity(data: pd.DataFrame, estimand: IdentifiedEstimand, estimate: CausalEstimate,
                 settings: RefuterSettings) -> Refutation:
    treatment, outcome = estimand.treatment_variable[0], estimand.outcome_variable[0]
    if isinstance(estimate.estimator, FastLinearRegression):
        if not estimand.get_backdoor_variables():
            return Refutation("unobserved_common_cause", None, None, "survives",
                              note="no observed confounder to compare a hidden one with")
        return _linear_sensitivity(data, estimate, treatment, settings)
    return _simulated_sensitivity(data, estimand, estimate, treatment, outcome, settings)


def run_refuters(data: pd.DataFrame, estimand: IdentifiedEstimand, estimate: CausalEstimate,
                 settings: RefuterSettings, measured: list[str]) -> list[Refutation]:
    """Every refuter (``measured``: confounders that are measurements, not settings); one that cannot run is a Refutation saying why, not an exception."""
    rng = np.random.RandomState(settings.seed)  # a generator object: an int seed repeats each draw
    treatment = estimand.treatment_variable
    sims = settings.simulations
    runs: dict[str, Callable[[], Refutation]] = {
        "random_common_cause": lambda: _from_dowhy("random_common_cause", "unchanged", lambda: (
            refute_random_common_cause(data, estimand, estimate, num_simulations=sims, random_state=rng))),
        "data_subset": lambda: _from_dowhy("data_subset", "unchanged", lambda: refute_data_subset(
            data, estimand, estimate, subset_fraction=settings.subset_fraction, num_simulations=sims,
            random_state=rng)),
        "placebo_treatment": lambda: _from_dowhy("placebo_treatment", "zero", lambda: refute_placebo_treatment(
            data, estimand, estimate, treatment, num_simulations=sims, placebo_type=PlaceboType.PERMUTE,
            random_state=rng)),
        "bootstrap": lambda: _from_dowhy("bootstrap", "unchanged", lambda: refute_bootstrap(
            data, estimand, estimate, num_simulations=settings.bootstrap_simulations, random_state=rng,
            required_variables=_noisy_confounders(data, measured))),
        "unobserved_common_cause": lambda: _sensitivity(data, estimand, estimate, settings),
    }
    results = []
    for name, run in runs.items():
        try:
            results.append(run())
        except OneClass as exc:
            results.append(Refutation(name, None, None, note=f"could not run: {exc}"))
        except Exception as exc:  # noqa: BLE001 - a refuter DoWhy cannot run is a result too
            results.append(Refutation(name, None, None, note=f"could not run: {type(exc).__name__}: {exc}"))
    return results
