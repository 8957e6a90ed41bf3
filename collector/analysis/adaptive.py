"""The adaptive sweep: the causal model chooses the next trials.

A full grid (models x methods x ratios x batch sizes x devices) spends most of its trials
confirming what the first ones showed. The planner here starts from a small space-filling
design (every model, method and device represented, the ratios and batch sizes of each
balanced like the grid's, the unpruned ratio always in: accuracy drops are measured against it), fits
the analysis's effects on the rows so far (estimates and CIs; refuters are for the final
analysis), and gives the next round of trials to the targets whose intervals are widest
against their tolerance, in proportion. Inside a target's group a trial is chosen to keep the
sample balanced: each ratio, each batch size and each pair of them about equally often, as in
the grid, so that the slope estimated is the grid's slope, not one bent by where the curve was
sampled (a design that reaches for the ends first, the textbook optimum for a straight line,
missed the full grid's CI on recorded data where the line is an approximation). An out-of-memory trial bounds its variant's batch ladder on that device: the larger
batch sizes are not spent on for latency or memory (they would run out of memory too), only
for the OOM question itself.

Used by ``collector replay`` (drawing from a recorded full grid, :mod:`collector.replay`) and
by sweeps with ``strategy: {kind: adaptive}``; the order and the reason of every choice are
recorded (:class:`Choice`).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from collector.analysis.config import AnalysisConfig, Question
from collector.analysis.effects import answer
from collector.analysis.frame import build_frame, groups, unit_rows
from collector.analysis.graph import CausalGraph
from collector.analysis.quiet import quiet_dowhy
from shared.strategy import Strategy

# what makes a trial: its key (variant, batch size, backend, ...) on one host
TRIAL_KEYS = ("host", "trial_key")
# the design a start must cover, and what the spread is measured in
CELL_KEYS = ("host", "model", "method", "backend")
START_SHARE = 0.4        # of the budget, spent on the space-filling start
ROUND_SHARE = 0.15        # of the budget, spent each later round
# An effect whose CI half-width is within this many outcome SDs per treatment SD is known to be
# small: a null effect never gets narrow relative to its own estimate, and would take the budget.
SMALL_EFFECT_SD = 0.1


@dataclass(frozen=True)
class Interval:
    estimate: float
    ci_low: float
    ci_high: float
    scale: float = 0.0     # the outcome's SD per SD of the treatment in the group's rows

    @property
    def verdict(self) -> str:
        """The sign the interval supports: what a conclusion from it would say."""
        if self.ci_low > 0:
            return "positive"
        if self.ci_high < 0:
            return "negative"
        return "no clear effect"

    @property
    def width(self) -> float:
        return self.ci_high - self.ci_low

    def to_json(self) -> dict[str, float]:
        return {"estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high}


@dataclass(frozen=True)
class Choice:
    """One trial chosen: its position, its key and why."""

    order: int
    key: tuple[Any, ...]
    round: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"order": self.order, **dict(zip(TRIAL_KEYS, self.key)), "round": self.round, "reason": self.reason}


def target_label(question: str, group: Mapping[str, str]) -> str:
    inside = ", ".join(f"{k}={v}" for k, v in group.items())
    return f"{question} [{inside}]" if inside else question


def fit_targets(rows: Sequence[Mapping[str, Any]], graph: CausalGraph, config: AnalysisConfig,
                questions: Iterable[Question]) -> dict[str, Interval]:
    """Every estimated effect of ``questions`` on ``rows``, by its label: estimate and CI only."""
    if not rows:
        return {}
    # in one order whatever order they came in: the bootstrap CIs resample by position, so the
    # same rows give the same interval in a replay, a resume and the full grid
    ordered = sorted(rows, key=lambda r: tuple(str(r.get(k)) for k in ("host", "variant_key", "trial_key")))
    frame = build_frame(ordered, config.thresholds, "adaptive sweep")
    found: dict[str, Interval] = {}
    for question in questions:
        # each question from the same seed: its CI must not depend on what was fitted before it
        with quiet_dowhy(config.refuters.seed):
            parts = dict((tuple(g.items()), part) for g, part in groups(unit_rows(frame.data, question.unit),
                                                                        question.per))
            effects = answer(frame.data, graph, question, config, refute=False)
        for effect in effects:
            if effect.estimated and effect.estimate is not None and effect.ci_low is not None:
                part = parts.get(tuple(effect.group.items()))
                found[target_label(question.name, effect.group)] = Interval(
                    float(effect.estimate), float(effect.ci_low), float(effect.ci_high),
                    _scale(part, question.treatment, question.outcome))
    return found


def _scale(rows: pd.DataFrame | None, treatment: str, outcome: str) -> float:
    if rows is None:
        return 0.0
    sd_t, sd_y = rows[treatment].astype(float).std(), rows[outcome].astype(float).std()
    return float(sd_y / sd_t) if sd_t > 0 and np.isfinite(sd_y) else 0.0


def _ranks(values: pd.Series) -> pd.Series:
    """Each value's place among its distinct values, 0 to 1 (a ratio ladder, a batch ladder)."""
    levels = sorted(values.dropna().unique())
    scale = max(len(levels) - 1, 1)
    return values.map({v: i / scale for i, v in enumerate(levels)}).astype(float)


@dataclass
class Planner:
    """Chooses trials from ``candidates`` (one row a possible trial: TRIAL_KEYS, the cell keys,
    ``variant_key``, ``batch_size``, ``target_ratio``, ``device_class``, ``backend``) until the budget is spent or every target is
    narrow enough. ``measure(keys) -> rows`` runs (or, in a replay, looks up) trials."""

    candidates: pd.DataFrame
    strategy: Strategy
    graph: CausalGraph
    config: AnalysisConfig = field(default_factory=AnalysisConfig)
    choices: list[Choice] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    fits: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        c = self.candidates.reset_index(drop=True).copy()
        c["_key"] = list(zip(*(c[k] for k in TRIAL_KEYS)))
        c["_cell"] = list(zip(*(c[k] for k in CELL_KEYS)))
        # ladders per model: one model's ratios are not another's
        c["_r"] = c.groupby("model", observed=True)["target_ratio"].transform(_ranks)
        c["_b"] = c.groupby("host", observed=True)["batch_size"].transform(_ranks)
        self._c = c
        self._taken: set[tuple[Any, ...]] = set()
        self._barred: set[tuple[Any, ...]] = set()
        self.budget_trials = max(1, math.floor(self.strategy.budget * len(c)))
        names = set(self.strategy.targets)
        self.questions = tuple(q for q in self.config.questions if not names or q.name in names)

    # --- the loop ---------------------------------------------------------------------------

    def run(self, measure: Callable[[list[tuple[Any, ...]]], list[dict[str, Any]]],
            on_choice: Callable[[Choice], None] | None = None) -> list[Choice]:
        """Choose, measure, refit, until the budget is spent or every target is narrow enough;
        ``on_choice`` hears of each choice before its trial is measured."""
        round_no = 0
        picks = self._start()
        while picks:
            self._record(picks, round_no, measure, on_choice)
            round_no += 1
            left = self.budget_trials - len(self._taken)
            if left <= 0:
                break
            fitted = fit_targets(self.rows, self.graph, self.config, self.questions)
            self.fits.append({"round": round_no, "trials": len(self._taken),
                              "targets": {k: v.to_json() for k, v in fitted.items()}})
            picks = self._next(fitted, min(left, max(1, round(ROUND_SHARE * self.budget_trials))))
        return self.choices

    def _record(self, picks: list[tuple[tuple[Any, ...], str]], round_no: int,
                measure: Callable[[list[tuple[Any, ...]]], list[dict[str, Any]]],
                on_choice: Callable[[Choice], None] | None = None) -> None:
        keys = [k for k, _ in picks]
        for key, reason in picks:
            choice = Choice(len(self.choices), key, round_no, reason)
            self.choices.append(choice)
            self._taken.add(key)
            if on_choice:
                on_choice(choice)
        measured = measure(keys)
        self.rows.extend(measured)
        for row in measured:
            if row.get("status") == "oom":
                self._bar_above(row)

    def _bar_above(self, row: Mapping[str, Any]) -> None:
        c = self._c
        above = c[(c["host"] == row["host"]) & (c["variant_key"] == row["variant_key"])
                  & (c["backend"] == row.get("backend")) & (c["batch_size"] > row["batch_size"])]
        self._barred.update(above["_key"])

    def _open(self, question: Question) -> pd.DataFrame:
        """The trials not yet run that can still tell ``question`` something: above an OOM on
        the same variant, backend and host a trial runs out of memory too, which only the OOM
        question wants to see (leaving them out of its sample would hide where OOMs are)."""
        c = self._c
        open_ = c[~c["_key"].isin(self._taken)]
        return open_ if question.outcome == "is_oom" else open_[~open_["_key"].isin(self._barred)]

    # --- the start: every cell, its ends first ---------------------------------------------

    def _start(self) -> list[tuple[tuple[Any, ...], str]]:
        cells = self._c["_cell"].unique()
        per_cell = max(2, math.floor(START_SHARE * self.budget_trials / max(len(cells), 1)))
        picks: list[tuple[tuple[Any, ...], str]] = []
        for cell in cells:
            for key in self._spread(self._c[self._c["_cell"] == cell], per_cell, []):
                picks.append((key, "start: space-filling design, every host, model and method"))
        return picks[: self.budget_trials]

    def _spread(self, pool: pd.DataFrame, count: int, have: list[tuple[float, float]]) -> list[tuple[Any, ...]]:
        """``count`` trials of ``pool`` that keep the cell's sample balanced like the grid: each
        the one whose ratio, batch size and their pair the trials had so far have least of
        (ties: the farthest from them, then seeded chance); the unpruned base first where
        there is none (accuracy drops need it). A balanced sample keeps the ratio as
        independent of the batch size as the grid has it: the grid's own estimate is what it
        recovers, even where a straight line is only an approximation of the curve."""
        pool = pool[~pool["_key"].isin(self._taken)]
        points = list(have)
        chosen: list[tuple[Any, ...]] = []
        rng = np.random.default_rng(self.strategy.seed + len(self.choices))
        order = pool.iloc[rng.permutation(len(pool))]  # ties broken at random, seeded
        for _ in range(min(count, len(order))):
            left = order[~order["_key"].isin(chosen)]
            if left.empty:
                break
            here = left[["_r", "_b"]].to_numpy()
            if not points:
                best = int(np.lexsort((here[:, 1], here[:, 0]))[0])  # lowest ratio, smallest batch
            else:
                had = np.array(points)
                same_r = (here[:, None, 0] == had[None, :, 0]).sum(axis=1)
                same_b = (here[:, None, 1] == had[None, :, 1]).sum(axis=1)
                same_pair = ((here[:, None, :] == had[None, :, :]).all(axis=2)).sum(axis=1)
                crowding = same_r + same_b + 2 * same_pair
                distance = np.min(np.abs(here[:, None, :] - had[None, :, :]).sum(axis=2), axis=1)
                best = int(np.lexsort((-distance, crowding))[0])
            pick = left.iloc[best]
            chosen.append(pick["_key"])
            points.append((pick["_r"], pick["_b"]))
        return chosen

    # --- later rounds: where the intervals are widest --------------------------------------

    def _widths(self, fitted: Mapping[str, Interval]) -> dict[str, float]:
        """Each target's CI half-width over what would do (>1: not yet narrow enough): the
        tolerance's share of the estimate, or a small effect in SD units, whichever is larger
        (so a null effect is done once it is known to be small). A target the rows cannot
        estimate yet counts as wide: it needs rows most."""
        widths = {}
        for label in self._wanted_targets():
            interval = fitted.get(label)
            if interval is None:
                widths[label] = 10.0
                continue
            enough = max(self.strategy.tolerance * abs(interval.estimate), SMALL_EFFECT_SD * interval.scale, 1e-12)
            widths[label] = interval.width / 2 / enough
        return {k: v for k, v in widths.items() if v > 1}

    def _wanted_targets(self) -> list[str]:
        """The labels of every group each question can have over the candidates."""
        labels = []
        for q in self.questions:
            if not q.per:
                labels.append(q.name)
                continue
            for values, _ in self._c.dropna(subset=list(q.per)).groupby(list(q.per), observed=True, sort=True):
                values = values if isinstance(values, tuple) else (values,)
                labels.append(target_label(q.name, {k: str(v) for k, v in zip(q.per, values)}))
        return labels

    def _members(self, label: str) -> pd.DataFrame:
        """The open candidates whose rows would land in the target's group."""
        for q in self.questions:
            open_ = self._open(q)
            if not q.per:
                if label == q.name:
                    return open_
                continue
            for values, part in open_.dropna(subset=list(q.per)).groupby(list(q.per), observed=True, sort=True):
                values = values if isinstance(values, tuple) else (values,)
                if target_label(q.name, {k: str(v) for k, v in zip(q.per, values)}) == label:
                    return part
        return self._c.iloc[:0]

    def _next(self, fitted: Mapping[str, Interval], count: int) -> list[tuple[tuple[Any, ...], str]]:
        widths = self._widths(fitted)
        if not widths:
            return []
        total = sum(widths.values())
        picks: list[tuple[tuple[Any, ...], str]] = []
        for label, width in sorted(widths.items(), key=lambda kv: -kv[1]):
            share = max(1, round(count * width / total))
            members = self._members(label)
            if members.empty:
                continue
            interval = fitted.get(label)
            why = ("not estimable yet" if interval is None else
                   f"CI {interval.ci_low:.4g}..{interval.ci_high:.4g}, {width:.1f}x the tolerance")
            for cell, part in members.groupby("_cell", sort=False):
                # the cell's spread so far: its taken trials' ranks
                taken = self._c[(self._c["_cell"] == cell) & self._c["_key"].isin(self._taken)]
                have = list(zip(taken["_r"], taken["_b"]))
                n = max(1, round(share * len(part) / len(members)))
                for key in self._spread(part, n, have):
                    if key not in self._taken and all(key != k for k, _ in picks):
                        picks.append((key, f"{label}: {why}"))
            if len(picks) >= count:
                break
        return picks[:count]
