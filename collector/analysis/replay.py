"""``collector replay``: an adaptive sweep simulated on a recorded full grid.

The planner (:mod:`collector.analysis.adaptive`) draws trials from the grid's rows as if it
ran them; its effects are compared with the full grid's (estimate inside the full CI, same
verdict) and with uniform random samples of the same size (seeded, averaged over seeds).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from collector.analysis.adaptive import TRIAL_KEYS, Choice, Interval, Planner, fit_targets
from collector.analysis.config import AnalysisConfig
from collector.analysis.frame import ANALYSIS_COLUMNS, DERIVED_FROM, read_rows
from collector.analysis.graph import load_graph
from shared.errors import UserError
from shared.strategy import Strategy

# what the planner needs to know of a trial before it runs: its design, never its outcome
DESIGN_COLUMNS = (*TRIAL_KEYS, "variant_key", "batch_size", "model", "method", "target_ratio", "device_class",
                  "backend")


@dataclass(frozen=True)
class Recovered:
    """One target effect: the full grid's, the adaptive sweep's, random sampling's error."""

    label: str
    treatment: str
    outcome: str
    full: Interval
    adaptive: Interval | None
    random_abs_errors: tuple[float, ...]
    random_missing: int                      # seeds whose sample could not estimate it

    @property
    def inside(self) -> bool:
        return self.adaptive is not None and self.full.ci_low <= self.adaptive.estimate <= self.full.ci_high

    @property
    def same_verdict(self) -> bool:
        return self.adaptive is not None and self.adaptive.verdict == self.full.verdict

    @property
    def adaptive_abs_error(self) -> float | None:
        return None if self.adaptive is None else abs(self.adaptive.estimate - self.full.estimate)

    @property
    def random_abs_error(self) -> float | None:
        return statistics.fmean(self.random_abs_errors) if self.random_abs_errors else None

    def to_json(self) -> dict[str, Any]:
        return {"target": self.label, "treatment": self.treatment, "outcome": self.outcome,
                "full": self.full.to_json(), "adaptive": None if self.adaptive is None else self.adaptive.to_json(),
                "inside": self.inside, "same_verdict": self.same_verdict,
                "verdict_full": self.full.verdict, "verdict_adaptive": None if self.adaptive is None else self.adaptive.verdict,
                "adaptive_abs_error": self.adaptive_abs_error, "random_abs_error": self.random_abs_error,
                "random_seeds_without_estimate": self.random_missing}


@dataclass
class Replay:
    trials_total: int
    trials_used: int
    budget: float
    effects: list[Recovered]
    choices: list[Choice] = field(default_factory=list)
    random_seeds: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"trials_total": self.trials_total, "trials_used": self.trials_used, "budget": self.budget,
                "random_seeds": self.random_seeds,
                "recovered": sum(e.inside and e.same_verdict for e in self.effects),
                "effects": [e.to_json() for e in self.effects],
                "choices": [c.to_json() for c in self.choices]}


def _grid(rows: list[dict[str, Any]], source: str) -> tuple[pd.DataFrame, dict[tuple[Any, ...], dict[str, Any]]]:
    """The recorded trials, one a key (the last row of a key wins, as in a resumed run)."""
    by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        if all(row.get(k) is not None for k in DESIGN_COLUMNS):
            by_key[tuple(row[k] for k in TRIAL_KEYS)] = row
    if len(by_key) < 20:
        raise UserError(f"{len(by_key)} trials: a replay needs a recorded grid of at least 20", source=source)
    design = pd.DataFrame([{c: row.get(c) for c in DESIGN_COLUMNS} for row in by_key.values()])
    return design, by_key


def replay(results_dir: str | Path, strategy: Strategy, *, seeds: int = 5,
           config: AnalysisConfig | None = None, graph_path: str | Path | None = None) -> Replay:
    config = config or AnalysisConfig()
    rows, source, _ = read_rows(results_dir)
    design, by_key = _grid(rows, source)
    graph = load_graph(graph_path, ANALYSIS_COLUMNS, DERIVED_FROM)
    planner = Planner(design, strategy, graph, config)
    questions = planner.questions
    full = fit_targets(list(by_key.values()), graph, config, questions)
    choices = planner.run(lambda keys: [by_key[k] for k in keys])
    adaptive = fit_targets(planner.rows, graph, config, questions)
    used = len(planner.rows)
    keys = list(by_key)
    randoms = []
    for seed in range(seeds):
        pick = np.random.default_rng(seed).choice(len(keys), size=used, replace=False)
        randoms.append(fit_targets([by_key[keys[i]] for i in pick], graph, config, questions))
    names = {q.name: q for q in questions}
    effects = []
    for label, interval in full.items():
        question = names[label.split(" [")[0]]
        errors = tuple(abs(r[label].estimate - interval.estimate) for r in randoms if label in r)
        effects.append(Recovered(label, question.treatment, question.outcome, interval, adaptive.get(label),
                                 errors, seeds - len(errors)))
    return Replay(len(by_key), used, strategy.budget, effects, choices, seeds)


def format_replay(result: Replay) -> list[str]:
    """The replay as plain lines: one an effect, then the totals."""
    lines = [f"{result.trials_used} of {result.trials_total} trials used "
             f"({result.trials_used / result.trials_total:.0%}; budget {result.budget:.0%}); "
             f"random sampling: the same number of trials, {result.random_seeds} seeds"]

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.4g}"

    for e in result.effects:
        a = e.adaptive
        adaptive = "not estimated" if a is None else f"{a.estimate:.4g} [{a.ci_low:.4g}, {a.ci_high:.4g}]"
        mark = "inside, same verdict" if e.inside and e.same_verdict else (
            "inside, verdict differs" if e.inside else "outside the full CI")
        lines.append(f"{e.label}: full {e.full.estimate:.4g} [{e.full.ci_low:.4g}, {e.full.ci_high:.4g}] "
                     f"({e.full.verdict}); adaptive {adaptive}: {mark}; abs error adaptive "
                     f"{number(e.adaptive_abs_error)}, random {number(e.random_abs_error)}")
    recovered = sum(e.inside and e.same_verdict for e in result.effects)
    lines.append(f"recovered {recovered} of {len(result.effects)} target effects "
                 "(adaptive estimate inside the full grid's 95% CI, same verdict)")
    return lines
