"""A sweep's strategy: run every trial of the grid, or let the causal model choose them.

``strategy: {kind: adaptive, budget: 0.4, tolerance: 0.25, targets: [ratio_on_latency]}`` in a
sweep (or ``--strategy adaptive --budget 0.4``): the planner in
:mod:`collector.analysis.adaptive` chooses the trials. Read here, without the analysis
packages, so a light agent can check a sweep that has one.
"""
from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import UserError, shown

KINDS = ("grid", "adaptive")
# the analysis's default questions (collector.analysis.config.DEFAULT_QUESTIONS), by name
TARGETS = ("ratio_on_accuracy", "ratio_on_latency", "ratio_on_peak_memory", "ratio_on_oom",
           "seed_high_pruning_on_accuracy_loss")
_KEYS = ("kind", "budget", "tolerance", "targets", "seed")


@dataclass(frozen=True)
class Strategy:
    kind: str = "grid"                       # grid (every trial) | adaptive
    budget: float = 1.0                      # share of the grid's trials at most
    tolerance: float = 0.25                  # done when every target's CI half-width is this share of it
    targets: tuple[str, ...] = ()            # question names; () = every default question
    seed: int = 0

    @property
    def adaptive(self) -> bool:
        return self.kind == "adaptive"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "budget": self.budget, "tolerance": self.tolerance,
                "targets": list(self.targets), "seed": self.seed}


def _number(value: Any, source: str, where: str, what: str, ok: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
        raise UserError(f"wants {what}, got {shown(value)}", source=source, field=where)
    return float(value)


def parse_strategy(value: Any, source: str, where: str = "strategy") -> Strategy:
    """A sweep's ``strategy`` mapping (None: the full grid); a mistake is a one-line UserError."""
    if value is None:
        return Strategy()
    if not isinstance(value, Mapping):
        raise UserError(f"wants a mapping such as {{kind: adaptive, budget: 0.4}}, got {shown(value)}",
                        source=source, field=where)
    for key in value:
        if key not in _KEYS:
            raise UserError(f"unknown key {shown(key)}", source=source, field=where, valid=_KEYS)
    kind = value.get("kind", "grid")
    if kind not in KINDS:
        raise UserError(f"unknown kind {shown(kind)}", source=source, field=f"{where}.kind", valid=KINDS)
    budget = _number(value.get("budget", 0.4 if kind == "adaptive" else 1.0), source, f"{where}.budget",
                     "a share of the grid's trials in (0, 1]", lambda v: 0 < v <= 1)
    if kind == "grid" and budget != 1.0:
        raise UserError("a grid runs every trial; a budget is for kind: adaptive", source=source,
                        field=f"{where}.budget")
    tolerance = _number(value.get("tolerance", 0.25), source, f"{where}.tolerance", "a positive number",
                        lambda v: v > 0)
    targets = value.get("targets", [])
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise UserError(f"wants a list of question names, got {shown(targets)}", source=source,
                        field=f"{where}.targets")
    for target in targets:
        if target not in TARGETS:
            raise UserError(f"unknown question {shown(target)}", source=source, field=f"{where}.targets",
                            valid=TARGETS)
    seed = value.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UserError(f"wants an integer, got {shown(seed)}", source=source, field=f"{where}.seed")
    return Strategy(kind, budget, tolerance, tuple(targets), seed)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--strategy`` and ``--budget`` of ``agent run`` and ``collector run``."""
    parser.add_argument("--strategy", choices=KINDS,
                        help="grid: every trial of the sweep; adaptive: the causal model chooses the trials, "
                             "a space-filling start and then where the effects' CIs are widest, until they "
                             "are narrow or the budget is spent (overrides the sweep's strategy)")
    parser.add_argument("--budget", type=float, metavar="SHARE",
                        help="with --strategy adaptive: the share of the grid's trials it may run (default 0.4)")


def with_arguments(value: Mapping[str, Any] | None, args: argparse.Namespace) -> Mapping[str, Any] | None:
    """A sweep's ``strategy`` mapping with ``--strategy``/``--budget`` applied (checked by
    :func:`parse_strategy` with the rest of the sweep)."""
    if args.strategy is None and args.budget is None:
        return value
    merged = dict(value) if isinstance(value, Mapping) else {}
    if args.strategy is not None:
        if args.strategy != merged.get("kind"):
            merged.pop("budget", None)  # another kind's budget does not carry over
        merged["kind"] = args.strategy
    if args.budget is not None:
        merged["budget"] = args.budget
    return merged
