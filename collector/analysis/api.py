"""The analysis as one call, for the CLIs and for a notebook::

    from collector.analysis import analyze
    analysis = analyze("results/quick")                  # default graph, default config
    for effect in analysis.effects:
        print(effect)                                     # estimate, CI, verdict
    analyze("results/fleet", graph="my.dot", config="analysis.yml",
            explain=["9cfff7a18774a68f"], what_ifs=["model=resnet18,ratio=0.5,batch_size=32,device_class=X"])
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from collector.analysis.config import AnalysisConfig, load_config
from collector.analysis.effects import answer
from collector.analysis.frame import ANALYSIS_COLUMNS, DERIVED_FROM, ResultFrame, build_frame, read_rows
from collector.analysis.gcm import (OutcomeModel, arrow_strengths, attribute_trial, check_explainable, fit_models,
                                   trial_row)
from collector.analysis.graph import CausalGraph, close_match, load_graph
from collector.analysis.quiet import quiet_dowhy
from collector.analysis.values import Analysis, Effect
from collector.analysis.whatif import check_setting, parse_setting, recommend, what_if
from shared.errors import UserError
from shared.resultsdir import SampleIndex, load_samples
from shared.schema import COLUMN_NAMES
from shared.stages import StageTimes
from shared.version import __version__


def _check_treatments(frame: ResultFrame, config: AnalysisConfig) -> None:
    """A result column asked about as a treatment must vary: else no question can be answered."""
    for question in config.questions:
        for column in (question.treatment, question.outcome, *question.per):
            if column not in frame.data.columns:
                raise UserError(f"question {question.name!r}: unknown column {column!r}"
                                f"{close_match(column, ANALYSIS_COLUMNS)}")
        values = frame.data[question.treatment].dropna().unique()
        # a derived column (High_Pruning) may be constant for a threshold: that question is skipped
        if question.treatment in COLUMN_NAMES and len(values) < 2:
            what = "has no values" if len(values) == 0 else f"is {values[0]} in every one of the {frame.n_rows} rows"
            raise UserError(f"{question.treatment} {what}: a causal effect needs at least two values "
                            "(sweep more than one ratio)", source=frame.source)


def _check_requests(frame: ResultFrame, config: AnalysisConfig, explain: Iterable[str],
                    what_ifs: Iterable[str | Mapping[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """The trials to explain and the settings to predict, checked before the work, not after it."""
    explain = list(explain)
    settings = [parse_setting(s) if isinstance(s, str) else dict(s) for s in what_ifs]
    if (explain or settings) and not config.gcm.enabled:
        raise UserError("--explain and --what-if need the gcm part (gcm.enabled is false)")
    for setting in settings:
        check_setting(frame.data, setting)
    for key in explain:
        check_explainable(trial_row(frame.data, key))
    return explain, settings


def _unique_notes(frame: ResultFrame, effects: Iterable[Effect], extra: Iterable[str]) -> tuple[str, ...]:
    notes = list(frame.notes)
    for note in [n for e in effects for n in e.notes] + list(extra):
        if note not in notes:
            notes.append(note)
    return tuple(notes)


def _settings(config: AnalysisConfig) -> dict[str, Any]:
    return {"thresholds": vars(config.thresholds), "budgets": vars(config.budgets),
            "refuters": vars(config.refuters), "verdict": vars(config.verdict), "gcm": vars(config.gcm),
            "binary_estimator": config.binary_estimator, "max_missing_share": config.max_missing_share}


def _gcm_results(frame: ResultFrame, graph: CausalGraph, config: AnalysisConfig, clock: StageTimes,
                 explain: Iterable[str], what_ifs: Iterable[Mapping[str, Any]], samples: SampleIndex) -> dict[str, Any]:
    seed = config.refuters.seed
    with clock.stage("gcm_fit"):
        models: dict[str, OutcomeModel] = fit_models(frame.data, graph, config.gcm, config.max_missing_share, seed)
    with clock.stage("gcm_arrow_strengths"):
        strengths = [a for t in ("latency_p50_ms", "is_oom") if t in models for a in arrow_strengths(models[t], seed)]
    with clock.stage("gcm_attribution"):
        if explain and "latency_p50_ms" not in models:
            raise UserError("no latency model to explain trials with (too few rows with latency_p50_ms)")
        attributions = [attribute_trial(models["latency_p50_ms"], trial_row(frame.data, key)) for key in explain]
    with clock.stage("gcm_what_if"):
        predictions = [what_if(models, frame.data, graph, s, config.gcm, config.max_missing_share, seed)
                       for s in what_ifs]
    with clock.stage("gcm_recommend"):
        recommendations = recommend(models, frame.data, config.budgets, config.gcm, seed, samples)
    notes = [n for m in models.values() for n in m.notes]
    return {"arrow_strengths": tuple(strengths), "attributions": tuple(attributions),
            "what_ifs": tuple(predictions), "recommendations": tuple(recommendations), "notes": notes}


def analyze(results_dir: str | Path, graph: str | Path | CausalGraph | None = None,
            config: str | Path | AnalysisConfig | None = None, *, explain: Iterable[str] = (),
            what_ifs: Iterable[str | Mapping[str, Any]] = ()) -> Analysis:
    """Analyse ``results_dir/results.jsonl``: effects with refutations and verdicts, and (unless
    ``config.gcm.enabled`` is off) arrow strengths, recommendations, the trials in ``explain``
    attributed, and the ``what_ifs`` settings predicted. A user mistake is a UserError."""
    clock = StageTimes()
    config = config if isinstance(config, AnalysisConfig) else load_config(config)
    with clock.stage("load"):
        rows, source, left_out = read_rows(results_dir)
        samples = load_samples(results_dir)  # the raw latencies every measured speed-up comes from
        frame = build_frame(rows, config.thresholds, source, left_out)
        graph = graph if isinstance(graph, CausalGraph) else load_graph(graph, ANALYSIS_COLUMNS, DERIVED_FROM)
        _check_treatments(frame, config)
        explain, settings = _check_requests(frame, config, explain, what_ifs)
    with quiet_dowhy(config.refuters.seed):
        with clock.stage("effects"):
            effects = tuple(e for q in config.questions for e in answer(frame.data, graph, q, config))
        extra: dict[str, Any] = {"notes": []}
        if config.gcm.enabled:
            extra = _gcm_results(frame, graph, config, clock, explain, settings, samples)
    notes = _unique_notes(frame, effects, extra.pop("notes"))
    return Analysis(
        source=source, n_rows=frame.n_rows, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        edgeprune_version=__version__, graph_source=graph.source, graph_edges=tuple(graph.edges_text()),
        settings=_settings(config), notes=notes, effects=effects, timings_s={k: round(v, 3) for k, v in clock.seconds.items()}, **extra)
