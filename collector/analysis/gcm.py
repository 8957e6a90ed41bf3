"""Beyond effect estimates, with ``dowhy.gcm``: a structural causal model of each outcome.

One model a target (latency, OOM, peak memory, accuracy), over the target's ancestors in
the graph, with two changes that make it a model of *settings*:

- every option and device node is a root: the design edges (which ratios ran where) say
  how the fleet was sampled, not how a chosen setting behaves, so an intervention cuts
  them anyway;
- a node missing in most of the target's rows is bypassed (its parents linked to its
  children): an OOM trial has no peak memory, so the OOM model goes straight from what
  drives memory to the OOM.

Mechanisms are assigned, not searched for (``gcm.auto`` takes ~6 s on 2,000 rows): roots
follow their observed values, a number is an additive-noise model around a gradient-boosted
regressor, a 0/1 or categorical node a gradient-boosted classifier. Each mechanism is fitted
on the rows that have it and its parents.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
from dowhy import gcm
from dowhy.gcm import config as gcm_config
from dowhy.gcm.divergence import estimate_kl_divergence_of_probabilities
from dowhy.gcm.fitting_sampling import fit_causal_model_of_target
from dowhy.gcm.shapley import ShapleyApproximationMethods, ShapleyConfig

from collector.analysis.config import GcmSettings
from collector.analysis.graph import CausalGraph
from collector.analysis.values import ArrowStrength, Attribution
from shared.errors import UserError

TARGETS = ("latency_p50_ms", "is_oom", "peak_mem_mb", "accuracy_top1")
# Positive quantities, modelled as their logarithm: a prediction is exp() of a draw, so it is
# never below zero (an additive-noise model of raw latency predicted -104 ms), and a trial's
# noise scales with its value (a descheduled call is 10x slower, not 10 ms slower).
LOG_SCALE = ("latency_p50_ms", "peak_mem_mb", "macs", "params_actual")
_UNIT = {"accuracy_top1": "variant"}


@contextmanager
def quiet_gcm() -> Iterator[None]:
    """No progress bars, and no worker processes: gcm's default is a joblib process per core,
    which costs more in start-up and pickling than the work (attribution took 28 s, not 3)."""
    shown, jobs = gcm_config.show_progress_bars, gcm_config.default_n_jobs
    gcm_config.disable_progress_bars()
    gcm_config.set_default_n_jobs(1)
    try:
        yield
    finally:
        gcm_config.show_progress_bars = shown
        gcm_config.set_default_n_jobs(jobs)


def as_numbers(values: pd.Series) -> np.ndarray:
    """Drawn values as floats: a classifier's "0" / "1" back to 0.0 / 1.0."""
    if values.dtype == object:
        return (values.astype(str) == "1").to_numpy(dtype=float)
    return values.to_numpy(dtype=float)


@dataclass
class OutcomeModel:
    """A fitted SCM of one target; ``data`` is what it was fitted on (gcm-typed columns)."""

    target: str
    scm: gcm.InvertibleStructuralCausalModel
    data: pd.DataFrame
    notes: list[str]

    @property
    def roots(self) -> list[str]:
        return [n for n in self.scm.graph.nodes if self.scm.graph.in_degree(n) == 0]


def gcm_frame(data: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Columns as gcm takes them: categories as plain strings, 0/1 flags as integers, the
    LOG_SCALE quantities as logarithms (a value that is not positive: missing)."""
    out = data[columns].copy()
    for name in columns:
        if isinstance(out[name].dtype, pd.CategoricalDtype):
            out[name] = out[name].astype(object).where(out[name].notna(), None)
        elif name in LOG_SCALE:
            values = out[name].astype(float)
            out[name] = np.log(values.where(values > 0))
    return out


def from_model_scale(target: str, values: np.ndarray) -> np.ndarray:
    """Values drawn from a model back in the target's own unit (ms, MiB)."""
    return np.exp(values) if target in LOG_SCALE else values


def _is_discrete(values: pd.Series) -> bool:
    return values.dtype == object or set(np.unique(values.dropna())) <= {0.0, 1.0}


def _missing_share(rows: pd.DataFrame, node: str, target: str) -> float:
    """The share of rows without ``node``; for a 0/1 target, the larger of the two classes' shares
    (peak memory is missing in every OOM row, however few those are)."""
    missing = rows[node].isna()
    if _is_discrete(rows[target]):
        return float(missing.groupby(rows[target].to_numpy()).mean().max())
    return float(missing.mean())


def _model_graph(graph: CausalGraph, target: str, rows: pd.DataFrame, max_missing: float) -> tuple[CausalGraph, list[str]]:
    exogenous = [n for n in graph.nodes if graph.role(n) in ("option", "device")]
    cut = graph.without_parents(exogenous).ancestral(target)
    # a structural model needs values for every node: an unobserved cause is left out (its
    # effect becomes part of its children's noise), and said so
    unobserved = [n for n in cut.nodes if cut.role(n) == "unobserved"]
    cut = cut.drop(unobserved)
    sparse = [n for n in cut.nodes if n != target and _missing_share(rows, n, target) > max_missing]
    notes = [f"{target} model: {n} is missing in too many of its rows, bypassed" for n in sparse
             if rows[n].notna().any()]
    notes += [f"{target} model: {n} is unobserved, left out (its effect is in its children's noise)"
              for n in unobserved]
    return cut.project_out(sparse), notes


def _mechanism(node: str, graph: nx.DiGraph, values: pd.Series) -> object:
    if graph.in_degree(node) == 0:
        return gcm.EmpiricalDistribution()
    # scikit-learn's default leaf of 20 rows cannot tell 40 variants apart (one device's sweep):
    # leaves of 1/50 of the rows, 1 to 20
    leaf = int(min(20, max(1, values.notna().sum() // 50)))
    if _is_discrete(values):
        return gcm.ClassifierFCM(gcm.ml.create_hist_gradient_boost_classifier(min_samples_leaf=leaf))
    return gcm.AdditiveNoiseModel(gcm.ml.create_hist_gradient_boost_regressor(min_samples_leaf=leaf))


def fit_outcome_model(data: pd.DataFrame, graph: CausalGraph, target: str, settings: GcmSettings,
                      max_missing: float, seed: int) -> OutcomeModel | None:
    """The target's SCM fitted on (a seeded sample of) its rows; None if it has too few."""
    rows = data[data[target].notna()]
    if _UNIT.get(target) == "variant":
        rows = rows.drop_duplicates(subset=["host", "variant_key"])
    if len(rows) < 10 or rows[target].nunique() < 2:
        return None
    if len(rows) > settings.max_rows:
        rows = rows.sample(settings.max_rows, random_state=seed)
    cut, notes = _model_graph(graph, target, rows, max_missing)
    frame = gcm_frame(rows, list(cut.nodes))
    for name in frame.columns:  # gcm's classifiers want their targets as strings: "0" / "1"
        if cut.parents(name) and frame[name].dtype != object and _is_discrete(frame[name]):
            frame[name] = frame[name].map({0.0: "0", 1.0: "1"}).astype(object)
    scm = gcm.InvertibleStructuralCausalModel(nx.DiGraph(cut.dag.edges))
    scm.graph.add_nodes_from(cut.nodes)
    for node in scm.graph.nodes:
        scm.set_causal_mechanism(node, _mechanism(node, scm.graph, frame[node]))
    with quiet_gcm():
        for node in scm.graph.nodes:
            needed = [node, *scm.graph.predecessors(node)]
            fit_causal_model_of_target(scm, node, frame.dropna(subset=needed))
    return OutcomeModel(target, scm, frame, notes)


_EPSILON = 1e-12


def _kl_never_zero(old: np.ndarray, new: np.ndarray) -> float:
    return float(estimate_kl_divergence_of_probabilities(old, new)) + _EPSILON


def arrow_strengths(model: OutcomeModel, seed: int) -> list[ArrowStrength]:
    """How much the target's distribution depends on each of its parents."""
    parents = list(model.scm.graph.predecessors(model.target))
    if not parents:
        return []
    samples = model.data[parents].dropna()
    samples = samples.sample(min(len(samples), 2000), random_state=seed)
    options: dict = {"num_samples_conditional": 500, "max_num_runs": 20}
    if isinstance(model.scm.causal_mechanism(model.target), gcm.ClassifierFCM):
        # gcm stops a parent's average once three runs in a row are exactly 0, which a rare
        # outcome gives for most settings (P(OOM) is 0 at batch 1 with or without the parent):
        # the strength of device_class on OOM came out as 0. A constant offset and no early stop
        # average over every run instead.
        options = {"num_samples_conditional": 100, "max_num_runs": 60, "tolerance": -1.0,
                   "difference_estimation_func": _kl_never_zero}
    with quiet_gcm():
        strengths = gcm.arrow_strength(model.scm, model.target, parent_samples=samples, n_jobs=1, **options)
    if "difference_estimation_func" in options:
        strengths = {k: v - _EPSILON for k, v in strengths.items()}
    total = sum(max(float(v), 0.0) for v in strengths.values()) or 1.0
    return sorted((ArrowStrength(model.target, parent, float(value), max(float(value), 0.0) / total)
                   for (parent, _), value in strengths.items()), key=lambda a: -a.strength)


def attribute_trial(model: OutcomeModel, row: pd.Series) -> Attribution:
    """Each upstream node's share of why this trial's target is unusual."""
    key, host = str(row["trial_key"]), str(row["host"])
    sample = gcm_frame(row.to_frame().T, list(model.scm.graph.nodes))
    missing = [n for n in sample.columns if pd.isna(sample[n].iloc[0])]
    if missing:
        raise UserError(f"trial {key} has no {', '.join(missing)} (status {row['status']}): "
                        f"nothing to attribute its {model.target} to")
    non_invertible = [n for n in model.scm.graph.nodes if model.scm.graph.in_degree(n)
                      and not isinstance(model.scm.causal_mechanism(n), gcm.AdditiveNoiseModel)]
    if non_invertible:
        raise UserError(f"cannot attribute {model.target}: {', '.join(non_invertible)} is categorical")
    # Shapley values over 10 or so upstream nodes: sampled permutations, not every subset (2 s
    # rather than 4 for one trial; the main causes rank the same)
    shapley = ShapleyConfig(approximation_method=ShapleyApproximationMethods.PERMUTATION, num_permutations=10,
                            n_jobs=1)
    with quiet_gcm():
        scores = gcm.attribute_anomalies(model.scm, model.target, anomaly_samples=sample,
                                         num_distribution_samples=500, shapley_config=shapley)
    contributions = {node: float(values[0]) for node, values in
                     sorted(scores.items(), key=lambda kv: -abs(float(kv[1][0])))}
    typical = float(from_model_scale(model.target, np.asarray([model.data[model.target].median()]))[0])
    return Attribution(key, host, model.target, float(row[model.target]), typical, contributions)


def fit_models(data: pd.DataFrame, graph: CausalGraph, settings: GcmSettings, max_missing: float,
               seed: int) -> dict[str, OutcomeModel]:
    """An SCM for each target the graph and the rows support."""
    models = {}
    for target in TARGETS:
        if target in graph.nodes:
            model = fit_outcome_model(data, graph, target, settings, max_missing, seed)
            if model is not None:
                models[target] = model
    return models


def check_explainable(row: pd.Series) -> None:
    """A trial whose latency can be attributed: one that has a latency."""
    if pd.isna(row["latency_p50_ms"]):
        raise UserError(f"trial {row['trial_key']} has no latency_p50_ms (status {row['status']}): "
                        "nothing to attribute its latency to")


def trial_row(data: pd.DataFrame, trial_key: str) -> pd.Series:
    match = data[data["trial_key"].astype(str) == trial_key]
    if match.empty:
        raise UserError(f"no trial with trial_key {trial_key!r} in these results")
    return match.iloc[0]

