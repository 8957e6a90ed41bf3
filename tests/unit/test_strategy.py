"""A sweep's strategy: parsing, the command-line overrides, one-line errors."""
from __future__ import annotations

import argparse

import pytest

from collector.analysis.config import DEFAULT_QUESTIONS
from shared.errors import UserError
from shared.strategy import TARGETS, Strategy, add_arguments, parse_strategy, with_arguments
from shared.sweep import load_sweep


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_the_targets_are_the_analysis_default_questions() -> None:
    assert TARGETS == tuple(q.name for q in DEFAULT_QUESTIONS)


def test_no_strategy_is_the_full_grid_and_adaptive_defaults_to_forty_percent() -> None:
    assert parse_strategy(None, "s.yml") == Strategy() and not Strategy().adaptive
    adaptive = parse_strategy({"kind": "adaptive"}, "s.yml")
    assert adaptive.adaptive and adaptive.budget == 0.4 and adaptive.tolerance == 0.25
    assert load_sweep("deploy/sweep.quick.yml").strategy == Strategy()


def test_the_command_line_overrides_the_sweep() -> None:
    assert with_arguments({"kind": "adaptive", "budget": 0.3}, _args()) == {"kind": "adaptive", "budget": 0.3}
    assert with_arguments(None, _args("--strategy", "adaptive")) == {"kind": "adaptive"}
    assert with_arguments({"kind": "adaptive", "budget": 0.3}, _args("--budget", "0.2"))["budget"] == 0.2
    # a grid's budget does not carry over into adaptive, nor the other way
    assert with_arguments({"kind": "grid", "budget": 1.0}, _args("--strategy", "adaptive")) == {"kind": "adaptive"}
    assert parse_strategy(with_arguments({"kind": "adaptive", "budget": 0.3}, _args("--strategy", "grid")),
                          "cli") == Strategy()


@pytest.mark.parametrize("value, message", [
    ("adaptive", "strategy: wants a mapping"),
    ({"kind": "grid", "budget": 0.5}, "strategy.budget: a grid runs every trial"),
    ({"kind": "adaptive", "budget": 0}, "strategy.budget: wants a share"),
    ({"kind": "adaptive", "budget": True}, "strategy.budget: wants a share"),
    ({"kind": "adaptive", "tolerance": -1}, "strategy.tolerance: wants a positive number"),
    ({"kind": "adaptive", "targets": "ratio_on_latency"}, "strategy.targets: wants a list"),
    ({"kind": "adaptive", "seed": 1.5}, "strategy.seed: wants an integer"),
])
def test_a_bad_strategy_names_its_field(value: object, message: str) -> None:
    with pytest.raises(UserError, match=message) as err:
        parse_strategy(value, "s.yml")
    assert str(err.value).startswith("s.yml: ") and "\n" not in str(err.value)
