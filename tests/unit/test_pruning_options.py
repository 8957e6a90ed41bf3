"""The schedule's ratios and the checking of method names and options."""
from __future__ import annotations

import pytest

from agent.pruning import METHODS, check_method_options, cumulative_ratios
from shared import catalog
from shared.errors import UserError
from shared.sweep import MethodSpec


def check(name: str, **options: object) -> dict[str, object]:
    return check_method_options(MethodSpec(name, options), "sweep.yml", "methods[0]")


def test_one_step_is_the_target() -> None:
    assert cumulative_ratios(0.7, 1) == [0.7]


def test_steps_remove_the_same_fraction_of_what_is_left() -> None:
    ratios = cumulative_ratios(0.5, 3)
    left = [1.0, *(1.0 - r for r in ratios)]
    kept = [after / before for before, after in zip(left, left[1:])]
    assert kept == pytest.approx([0.5 ** (1 / 3)] * 3)
    assert ratios[-1] == 0.5  # exactly, not 1 - 0.5 ** 1.0 rounded
    assert ratios == sorted(ratios)


def test_ratio_zero_gives_zeros() -> None:
    assert cumulative_ratios(0.0, 3) == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(("ratio", "steps"), [(1.0, 1), (-0.1, 1), (0.5, 0)])
def test_bad_schedule_is_refused(ratio: float, steps: int) -> None:
    with pytest.raises(ValueError):
        cumulative_ratios(ratio, steps)


def test_registry_holds_exactly_the_catalog() -> None:
    assert METHODS.names() == catalog.METHODS


@pytest.mark.parametrize(("name", "defaults"), [
    ("l1_unstructured", {"scope": "global"}),
    ("random_unstructured", {"scope": "global"}),
    ("ln_structured_mask", {"n": 2, "dim": 0}),
    ("structured", {"importance": "l1", "global_pruning": False, "isomorphic": False, "round_to": None,
                    "coupling": "group", "head_ratio": 0.0}),
    ("semi_structured_24", {"layers": "all", "dtype": "float16"}),
])
def test_defaults_are_filled_in(name: str, defaults: dict[str, object]) -> None:
    assert check(name) == defaults


def test_given_options_override_defaults() -> None:
    assert check("structured", importance="l2", global_pruning=True) == {
        "importance": "l2", "global_pruning": True, "isomorphic": False, "round_to": None, "coupling": "group",
        "head_ratio": 0.0}
    assert check("l1_unstructured", scope="layer") == {"scope": "layer"}


def test_unknown_option_names_the_field_and_the_valid_options() -> None:
    with pytest.raises(UserError) as caught:
        check("l1_unstructured", foo=1)
    assert caught.value.field == "methods[0].foo"
    assert caught.value.valid == ("scope",)
    assert str(caught.value).startswith("sweep.yml: methods[0].foo: unknown option 'foo'")


def test_bad_choice_lists_the_choices() -> None:
    with pytest.raises(UserError) as caught:
        check("l1_unstructured", scope="everywhere")
    assert caught.value.field == "methods[0].scope"
    assert caught.value.valid == ("global", "layer")
    assert "(valid: global, layer)" in str(caught.value)


@pytest.mark.parametrize(("name", "option", "value"), [
    ("structured", "global_pruning", "yes"),
    ("structured", "global_pruning", 1),
    ("ln_structured_mask", "n", True),  # True == 1 in Python, but is no norm
    ("ln_structured_mask", "n", 2.0),
])
def test_wrong_type_is_refused(name: str, option: str, value: object) -> None:
    with pytest.raises(UserError) as caught:
        check(name, **{option: value})
    assert caught.value.field == f"methods[0].{option}"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_float_option_must_be_finite(value: float) -> None:
    # .nan passes every later comparison: accepted, it failed only when the method ran
    with pytest.raises(UserError, match=r"methods\[0\]\.lr: expected a finite float, got (nan|inf|-inf)$"):
        check("causal", lr=value)


def test_unknown_method_lists_the_valid_ones() -> None:
    with pytest.raises(UserError) as caught:
        check("magic")
    assert caught.value.valid == tuple(sorted(catalog.METHODS))
    assert "unknown method 'magic'" in str(caught.value)
