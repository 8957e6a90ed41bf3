"""Variants and trials: stable keys, ascending batches, every combination once."""
from __future__ import annotations

from dataclasses import replace

from shared.plan import stable_hash, trials, variants
from shared.sweep import parse_sweep
from tests.unit.test_sweep import GOOD


def test_keys_are_stable_and_distinct() -> None:
    sweep = parse_sweep(GOOD, "a.yml")
    first = [v.key for v in variants(sweep)]
    again = [v.key for v in variants(parse_sweep(GOOD, "b.yml"))]
    assert first == again  # the file name is not part of the identity
    assert len(first) == len(set(first)) == 2 * 2 * 2
    assert all(len(k) == 16 for k in first)


def test_trial_keys_cover_backend_device_and_batch() -> None:
    sweep = parse_sweep({**GOOD, "batch_sizes": [32, 1, 8]}, "s.yml")
    variant = next(variants(sweep))
    ts = trials(sweep, variant, ("cpu", "cuda:0"))
    assert [t.batch_size for t in ts[:3]] == [1, 8, 32]  # ascending: the OOM ladder
    assert len({t.key for t in ts}) == 6


def test_anything_that_defines_a_variant_changes_its_key() -> None:
    variant = next(variants(parse_sweep(GOOD, "s.yml")))
    for change in ({"target_ratio": 0.3}, {"seed": 1}, {"method_options": {"scope": "layer"}},
                   {"finetune_epochs": 2}, {"input_size": 224}):
        assert replace(variant, **change).key != variant.key


def test_stable_hash_ignores_key_order() -> None:
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
