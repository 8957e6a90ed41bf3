"""DoWhy's estimators, made cheap enough to refit a few thousand times (the refuters do).

DoWhy re-encodes categorical columns with scikit-learn's OneHotEncoder on every fit,
deep-copies the fitted estimator for every simulation and predicts the outcome twice per
estimate; on 10,000 rows that is ~150 ms a refit, and the default analysis refits ~4,000
times. The classes here change only that plumbing:

- categorical columns (pandas ``category`` dtype, as the frame builds them) are one-hot
  encoded from their codes, dropping the first category, as DoWhy does;
- a refit starts from a shallow copy without the fitted state;
- the linear regression's effect is its treatment coefficient, solved with numpy; the
  statsmodels fit (standard errors, CI, the sensitivity analysis) is built once, on demand;
- propensity weighting computes its one weighting scheme on arrays, with a Newton-solved
  logistic regression for the propensity scores, scikit-learn's default objective (DoWhy's
  default model).

Same numbers as DoWhy's own classes (tests/integration/test_analysis_effects.py checks it).

Why DoWhy's private state: its estimators have no public hook for "refit from codes" or
"copy without the fit", so these subclasses set and read the attributes DoWhy's own ``fit`` and
``estimate_effect`` use (``_target_estimand``, ``_observed_common_causes``, ``_fit_data``,
``_set_effect_modifiers`` ...). That couples this module, and the refuters' reading of
``_observed_common_causes``, to DoWhy's internals: pyproject.toml caps DoWhy at the minor
release the tests cover, and the comparison tests with plain DoWhy are what a bump must pass.
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
from dowhy.causal_estimator import CausalEstimate
from dowhy.causal_estimators.linear_regression_estimator import LinearRegressionEstimator
from dowhy.causal_estimators.propensity_score_stratification_estimator import (
    PropensityScoreStratificationEstimator)
from dowhy.causal_estimators.propensity_score_weighting_estimator import PropensityScoreWeightingEstimator


def _as_codes(column: pd.Series) -> tuple[np.ndarray, pd.Index] | None:
    """A categorical or text column as integer codes and its categories; None for numbers."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), column.cat.categories
    if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
        codes, categories = pd.factorize(column, sort=True)
        return codes, categories
    return None


def encoded_block(column: pd.Series) -> np.ndarray:
    """One column as model inputs: itself if a number, else 0/1 columns, the first category dropped."""
    coded = _as_codes(column)
    if coded is None:
        return column.to_numpy(dtype=float)[:, None]
    codes, categories = coded
    return (codes[:, None] == np.arange(1, len(categories))).astype(float)


def encoded_names(data: pd.DataFrame) -> list[str]:
    names: list[str] = []
    for name in data.columns:
        coded = _as_codes(data[name])
        names += [name] if coded is None else [f"{name}_{c}" for c in coded[1][1:]]
    return names


def one_hot(data: pd.DataFrame) -> pd.DataFrame:
    """Numbers as they are; each categorical column as 0/1 columns, its first category dropped."""
    blocks = [encoded_block(data[name]) for name in data.columns]
    matrix = np.hstack(blocks) if blocks else np.empty((len(data), 0))
    return pd.DataFrame(matrix, columns=pd.Index(encoded_names(data), dtype=object), index=data.index)


class Lean:
    """DoWhy's plumbing made cheap: encoding from category codes, and refits without deep copies."""

    _FITTED: tuple[str, ...] = ("_observed_common_causes",)

    def _encode(self, data: pd.DataFrame, encoder_name: str) -> pd.DataFrame:
        return one_hot(data)

    def _forget_fit(self) -> None:
        for name in self._FITTED:
            setattr(self, name, None)

    def get_new_estimator_object(self, identified_estimand: Any, test_significance: bool = False,
                                 evaluate_effect_strength: bool = False, confidence_intervals: bool | None = None) -> Any:
        # DoWhy deep-copies the fitted estimator, its data and models included, for every refuter
        # simulation; a shallow copy without the fitted state is all a refit needs.
        new = copy.copy(self)
        new._forget_fit()
        new._target_estimand = identified_estimand
        new._significance_test = test_significance
        new._effect_strength_eval = evaluate_effect_strength
        if confidence_intervals is not None:
            new._confidence_intervals = confidence_intervals
        return new


class FastLinearRegression(Lean, LinearRegressionEstimator):
    """DoWhy's ``backdoor.linear_regression``: outcome ~ treatment + adjustment set, OLS."""

    _statsmodel: Any = None
    _fit_data: pd.DataFrame | None = None
    _encoded_causes: pd.DataFrame | None = None
    _FITTED = ("_observed_common_causes", "_statsmodel", "_fit_data")

    @property
    def _observed_common_causes(self) -> pd.DataFrame | None:
        """The encoded confounders, built on first use (the sensitivity analysis reads them)."""
        names = getattr(self, "_observed_common_causes_names", None)
        if self._encoded_causes is None and self._fit_data is not None and names:
            self._encoded_causes = self._encode(self._fit_data[names], "observed_common_causes")
        return self._encoded_causes

    @_observed_common_causes.setter
    def _observed_common_causes(self, value: pd.DataFrame | None) -> None:
        self._encoded_causes = value

    @property
    def model(self) -> Any:
        """The statsmodels fit, built on first use (CIs, sensitivity); refuters never need it."""
        if self._statsmodel is None and self._fit_data is not None:
            _, self._statsmodel = self._build_model(self._fit_data)
        return self._statsmodel

    @model.setter
    def model(self, value: Any) -> None:
        self._statsmodel = value

    def fit(self, data: pd.DataFrame, effect_modifier_names: list[str] | None = None) -> FastLinearRegression:
        if effect_modifier_names:
            raise NotImplementedError("effect modifiers are not supported by the fast estimator")
        self._set_effect_modifiers(data, effect_modifier_names)
        estimand = self._target_estimand
        names = estimand.get_adjustment_set()
        self._observed_common_causes_names = names
        self.symbolic_estimator = self.construct_symbolic_estimator(estimand)
        self._fit_data, self._statsmodel, self._observed_common_causes = data, None, None
        # the same design matrix as DoWhy's _build_features: intercept, treatment, confounders
        blocks = [np.ones((len(data), 1)), data[estimand.treatment_variable[0]].to_numpy(dtype=float)[:, None],
                  *(encoded_block(data[name]) for name in names)]
        outcome = data[estimand.outcome_variable[0]].to_numpy(dtype=float)
        self._coefficients = np.linalg.lstsq(np.hstack(blocks), outcome, rcond=None)[0]
        return self

    def estimate_effect(self, data: pd.DataFrame, treatment_value: Any = 1, control_value: Any = 0,
                        target_units: Any = None, **_: Any) -> CausalEstimate:
        # Linear without effect modifiers: E[y | do(t1)] - E[y | do(t0)] is the coefficient times
        # (t1 - t0), whatever the data; DoWhy predicts every row twice to get the same number.
        self._target_units, self._treatment_value, self._control_value = target_units, treatment_value, control_value
        estimand = self._target_estimand
        estimate = CausalEstimate(
            data=data, treatment_name=estimand.treatment_variable, outcome_name=estimand.outcome_variable,
            estimate=float(self._coefficients[1] * (treatment_value - control_value)),
            control_value=control_value, treatment_value=treatment_value, conditional_estimates=None,
            target_estimand=estimand, realized_estimand_expr=self.symbolic_estimator,
            intercept=float(self._coefficients[0]))
        estimate.add_estimator(self)
        return estimate


class OneClass(ValueError):
    """A propensity model asked to tell treated from untreated rows when only one kind is there."""


class Logit:
    """scikit-learn's ``LogisticRegression()``, DoWhy's default propensity model (L2 penalty,
    C = 1, intercept not penalised, on the inputs as they are), solved by Newton's method:
    the refuters refit it hundreds of times on a few hundred rows, where scikit-learn's checks
    and solver set-up cost ~10x the arithmetic. The objective is scikit-learn's, so the
    scores are DoWhy's default ones (to the solver's tolerance); standardizing the inputs
    first, as this class once did, changes what the penalty shrinks and the estimate with it."""

    def fit(self, features: Any, labels: Any) -> Logit:
        design = self._design(np.asarray(features, dtype=float))
        y = np.asarray(labels, dtype=float).ravel()
        if len(np.unique(y)) < 2:
            # scikit-learn refuses too; Newton's method would run the intercept to infinity
            # until its Hessian is singular (a bootstrap resample of a few rows does this)
            raise OneClass(f"the treatment has one value in all {len(y)} rows of a resample")
        penalty = np.eye(design.shape[1])
        penalty[0, 0] = 0.0  # the intercept is not penalised
        weights = np.zeros(design.shape[1])
        for _ in range(100):
            p = 1 / (1 + np.exp(-design @ weights))
            hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
            step = np.linalg.solve(hessian, design.T @ (y - p) - penalty @ weights)
            weights += step
            if np.max(np.abs(step)) < 1e-10:
                break
        self._weights = weights
        return self

    @staticmethod
    def _design(x: np.ndarray) -> np.ndarray:
        return np.column_stack([np.ones(len(x)), x])

    def predict_proba(self, features: Any) -> np.ndarray:
        p = 1 / (1 + np.exp(-self._design(np.asarray(features, dtype=float)) @ self._weights))
        return np.column_stack([1 - p, p])


class _Propensity(Lean):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, propensity_score_model=Logit(), **kwargs)

    def _forget_fit(self) -> None:
        super()._forget_fit()
        self.propensity_score_model = Logit()  # never refit the original's model in place


class FastPropensityScoreWeighting(_Propensity, PropensityScoreWeightingEstimator):
    """DoWhy's ``backdoor.propensity_score_weighting`` (the seed's estimator)."""

    def estimate_effect(self, data: pd.DataFrame, treatment_value: Any = 1, control_value: Any = 0,
                        target_units: Any = "ate", **kwargs: Any) -> CausalEstimate:
        if target_units != "ate" or self.weighting_scheme != "ips_weight":
            # DoWhy writes its propensity and weight columns into the caller's frame (a refuter
            # copying that frame would reuse stale scores), so it gets a copy
            return super().estimate_effect(data.copy(), treatment_value, control_value, target_units, **kwargs)
        # DoWhy's ATE with inverse-propensity weights, on arrays: DoWhy computes a dozen weighting
        # schemes with pandas and Python sums on every call to use one of them (~30 ms a call)
        self._target_units, self._treatment_value, self._control_value = target_units, treatment_value, control_value
        estimand = self._target_estimand
        treated = data[estimand.treatment_variable[0]].to_numpy(dtype=float)
        outcome = data[estimand.outcome_variable[0]].to_numpy(dtype=float)
        covariates = self._encode(data[self._observed_common_causes_names], "observed_common_causes")
        score = np.clip(self.propensity_score_model.predict_proba(covariates)[:, 1], self.min_ps_score,
                        self.max_ps_score)
        weight = treated / score + (1 - treated) / (1 - score)
        value = (np.sum(weight * treated * outcome) / np.sum(weight * treated)
                 - np.sum(weight * (1 - treated) * outcome) / np.sum(weight * (1 - treated)))
        estimate = CausalEstimate(
            data=data, treatment_name=estimand.treatment_variable, outcome_name=estimand.outcome_variable,
            estimate=float(value), control_value=control_value, treatment_value=treatment_value,
            target_estimand=estimand, realized_estimand_expr=self.symbolic_estimator,
            propensity_scores=pd.Series(score, index=data.index))
        estimate.add_estimator(self)
        return estimate


class FastPropensityScoreStratification(_Propensity, PropensityScoreStratificationEstimator):
    """DoWhy's ``backdoor.propensity_score_stratification``."""


ESTIMATOR_CLASSES: dict[str, type] = {
    "linear_regression": FastLinearRegression,
    "propensity_score_weighting": FastPropensityScoreWeighting,
    "propensity_score_stratification": FastPropensityScoreStratification,
}
