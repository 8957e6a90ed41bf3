"""The causal method's options as a sweep file gives them, its iteration schedule and its ranking."""
from __future__ import annotations

import math

import pytest
import torch

from agent.pruning import check_method_options, cumulative_ratios
from agent.pruning.granger import geometric_targets, prune_lowest
from shared.errors import UserError
from shared.sweep import MethodSpec


def check(**options: object) -> dict[str, object]:
    return check_method_options(MethodSpec("causal", options), "sweep.yml", "methods[0]")


def test_defaults_are_small_and_the_paper_s_optimiser() -> None:
    assert check() == {
        "pre_epochs": 0, "iterations": 2, "prune_epochs": 1, "post_epochs": 0, "l1_coeff": 0.05,
        "lr": 1e-3, "momentum": 0.0, "stop": "ratio", "scope": "global", "loss_change": "same_batch",
        "lasso_lr": 0.1, "lasso_passes": 1, "store_mb": 1024,
    }


def test_the_paper_s_settings_are_accepted() -> None:
    values = check(pre_epochs=10, iterations=10, prune_epochs=10, post_epochs=200, l1_coeff=1e-14, stop="zero",
                   momentum=0.9)
    assert values["iterations"] == 10 and values["stop"] == "zero" and values["momentum"] == 0.9


@pytest.mark.parametrize(("option", "value", "message"), [
    ("iterations", 0, "outside [1, inf]"),
    ("prune_epochs", 0, "outside [1, inf]"),
    ("pre_epochs", -1, "outside [0, inf]"),
    ("l1_coeff", -1e-3, "outside [0, inf]"),
    ("lr", 0.0, "outside (0, inf]"),
    ("momentum", 1.5, "outside [0, 1]"),
    ("lasso_lr", 2.5, "outside (0, 2]"),
    ("lasso_passes", 0, "outside [1, inf]"),
])
def test_values_out_of_range_name_the_field(option: str, value: object, message: str) -> None:
    with pytest.raises(UserError) as caught:
        check(**{option: value})
    assert str(caught.value) == f"sweep.yml: methods[0].{option}: {value!r} is {message}"


def test_a_bad_choice_lists_the_valid_ones() -> None:
    with pytest.raises(UserError) as caught:
        check(stop="never")
    assert caught.value.field == "methods[0].stop" and caught.value.valid == ("ratio", "zero")


def test_an_integer_option_refuses_a_float() -> None:
    with pytest.raises(UserError, match="methods\\[0\\].iterations: expected int"):
        check(iterations=2.5)


def test_iterations_remove_the_same_fraction_of_what_is_left_and_end_on_target() -> None:
    targets = geometric_targets(0.2, 0.8, 3)
    assert targets[-1] == 0.8 and targets == sorted(targets)
    kept = [b / a for a, b in zip([0.8, *(1 - t for t in targets)], [1 - t for t in targets])]
    assert kept == pytest.approx([(0.2 / 0.8) ** (1 / 3)] * 3)
    assert geometric_targets(0.0, 0.5, 1) == cumulative_ratios(0.5, 1)


def test_nothing_more_to_prune_keeps_the_fraction() -> None:
    assert geometric_targets(0.6, 0.5, 2) == [0.6, 0.6]


def test_the_lowest_scores_go_first_and_the_pruned_are_never_chosen_again() -> None:
    scores = [torch.tensor([0.5, 0.0, math.inf]), torch.tensor([0.0, 0.2])]
    keep = [torch.tensor([True, True, False]), torch.tensor([True, True])]
    prune_lowest(scores, keep, 3)
    assert [k.tolist() for k in keep] == [[True, False, False], [False, False]]


def test_ties_are_broken_by_position_first_layer_first() -> None:
    keep = [torch.ones(3, dtype=torch.bool), torch.ones(2, 2, dtype=torch.bool)]
    prune_lowest([torch.zeros(3), torch.zeros(2, 2)], keep, 4)
    assert [k.tolist() for k in keep] == [[False] * 3, [[False, True], [True, True]]]


def test_the_ranking_is_a_stable_sort_without_the_sort() -> None:
    generator = torch.Generator().manual_seed(0)
    scores = [torch.randint(0, 20, (50,), generator=generator).float() / 7,
              torch.randint(0, 20, (6, 5), generator=generator).float() / 7]
    keep = [torch.ones_like(s, dtype=torch.bool) for s in scores]
    prune_lowest(scores, keep, 37)
    expected = torch.zeros(80, dtype=torch.bool)
    expected[torch.argsort(torch.cat([s.flatten() for s in scores]), stable=True)[:37]] = True
    assert torch.equal(~torch.cat([k.flatten() for k in keep]), expected)
