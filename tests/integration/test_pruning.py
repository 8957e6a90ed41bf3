"""Every pruning method on real models at 32x32: what it zeroes or removes, and the schedule."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from agent.counting import count_model, layer_sparsity
from agent.models import PrunableWeight, build_model, classifier_head, prunable_layers
from agent.pruning import METHODS, check_method_options, cumulative_ratios, prune_model
from agent.pruning.base import current_tensor
from shared import catalog
from shared.sweep import MethodSpec

NUM_CLASSES = 10
MASK_METHODS = ("l1_unstructured", "random_unstructured", "ln_structured_mask", "semi_structured_24")


@dataclass
class Subject:
    """A freshly built model with what the schedule needs to prune it."""

    model: nn.Module
    layers: list[PrunableWeight]
    head: nn.Linear
    inputs: torch.Tensor


def subject(name: str, channels: int = 3) -> Subject:
    torch.manual_seed(0)
    model = build_model(name, NUM_CLASSES, channels, 32)
    return Subject(model, prunable_layers(model), classifier_head(model), torch.randn(1, channels, 32, 32))


def no_finetune(model: nn.Module) -> None:
    """The schedule's callable when a test does not care about fine-tuning."""


def prune(s: Subject, method: str, ratio: float, *, steps: int = 1, seed: int = 0,
          finetune: Callable[[nn.Module], None] = no_finetune, **options: object) -> nn.Module:
    """Check ``options`` the way a sweep does, then run the schedule."""
    checked = check_method_options(MethodSpec(method, options), "test.yml", "methods[0]")
    return prune_model(s.model, MethodSpec(method, checked), ratio, steps, seed, s.layers, s.head,
                       s.inputs, finetune)


def pruned_fraction(s: Subject) -> float:
    """Zero weight entries over all prunable layers together (masks applied)."""
    rows = layer_sparsity(s.model, s.layers)
    return 1.0 - sum(r["nonzero"] for r in rows) / sum(r["params"] for r in rows)


def zero_counts(s: Subject) -> list[int]:
    """Zero weight entries of each prunable layer (masks applied)."""
    return [row["params"] - row["nonzero"] for row in layer_sparsity(s.model, s.layers)]


def tensor(weight: PrunableWeight) -> torch.Tensor:
    """The weight as the next forward pass uses it (masks applied)."""
    return current_tensor(weight.module, weight.param)


def zero_masks(s: Subject) -> list[torch.Tensor]:
    """Where each prunable layer's weight is zero (masks applied)."""
    return [tensor(w) == 0 for w in s.layers]


def zero_output_channels(weight: torch.Tensor) -> int:
    return int((weight.flatten(1).abs().sum(dim=1) == 0).sum())


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def nonzero_count(model: nn.Module) -> int:
    return sum(int(torch.count_nonzero(p)) for p in model.parameters())


def assert_no_pruning_left(model: nn.Module) -> None:
    """finalize() made the masks permanent: plain parameters, no pruning hooks or buffers."""
    for module in model.modules():
        assert not any(name.endswith(("_orig", "_mask")) for name, _ in
                       [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)])
        assert not module._forward_pre_hooks


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_l1_unstructured_zeroes_half_the_prunable_weights(scope: str) -> None:
    s = subject("resnet18")
    reported, nonzero = param_count(s.model), nonzero_count(s.model)
    head_before = s.head.weight.detach().clone()
    prunable = sum(tensor(w).numel() for w in s.layers)

    model = prune(s, "l1_unstructured", 0.5, scope=scope)

    assert param_count(model) == reported  # masks change values, not shapes
    assert pruned_fraction(s) == pytest.approx(0.5, abs=0.01)
    assert nonzero - nonzero_count(model) == pytest.approx(0.5 * prunable, rel=0.01)
    assert torch.equal(s.head.weight, head_before)
    if scope == "layer":
        assert all(row["sparsity"] == pytest.approx(0.5, abs=0.01) for row in layer_sparsity(model, s.layers))
    assert_no_pruning_left(model)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_random_unstructured_is_seeded(scope: str) -> None:
    def masks(seed: int) -> list[torch.Tensor]:
        s = subject("lenet5", channels=1)
        prune(s, "random_unstructured", 0.5, steps=2, seed=seed, scope=scope)
        return zero_masks(s)

    first, again, other = masks(7), masks(7), masks(8)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_random_unstructured_leaves_the_global_rng_alone() -> None:
    s = subject("lenet5", channels=1)
    torch.manual_seed(123)
    expected = torch.rand(5)
    torch.manual_seed(123)
    prune(s, "random_unstructured", 0.5, seed=0)
    assert torch.equal(torch.rand(5), expected)


def test_ln_structured_mask_zeroes_half_the_output_channels() -> None:
    s = subject("resnet18")
    shapes = [tuple(tensor(w).shape) for w in s.layers]

    model = prune(s, "ln_structured_mask", 0.5)

    assert [tuple(tensor(w).shape) for w in s.layers] == shapes
    for w in s.layers:
        assert zero_output_channels(tensor(w)) == round(0.5 * tensor(w).shape[0])
    assert zero_output_channels(s.head.weight) == 0
    assert_no_pruning_left(model)


@pytest.mark.parametrize("name", ["lenet5", "resnet18", "mobilenet_v2", "googlenet"])
def test_structured_removes_channels(name: str) -> None:
    s = subject(name)
    before = param_count(s.model)

    model = prune(s, "structured", 0.5)

    # a 0.5 channel ratio halves both sides of most weights: about a quarter is left
    assert param_count(model) < 0.4 * before
    assert count_model(model, s.inputs).params_actual == param_count(model)
    with torch.no_grad():
        assert model.eval()(s.inputs).shape == (1, NUM_CLASSES)
    assert classifier_head(model).out_features == NUM_CLASSES


def test_structured_iterative_shrinks_each_step_and_ends_like_one_shot() -> None:
    sizes: list[int] = []
    s = subject("mobilenet_v2")
    iterative = prune(s, "structured", 0.5, steps=3, finetune=lambda m: sizes.append(param_count(m)))
    one_shot = prune(subject("mobilenet_v2"), "structured", 0.5)

    assert len(sizes) == 3 and sizes[0] > sizes[1] > sizes[2]
    assert param_count(iterative) == param_count(one_shot)


def test_structured_passes_its_options_through() -> None:
    s = subject("lenet5", channels=1)
    method = METHODS.get("structured")(s.model, s.layers, s.head, s.inputs, 1, 0.5, 0,
                                       {"importance": "l2", "global_pruning": True})
    assert method.pruner.global_pruning is True
    assert method.pruner.importance.p == 2
    with pytest.raises(ValueError, match="prunes to 0.5"):
        method.step(0.3)  # off the schedule the pruner was built with


@pytest.mark.parametrize(("method", "scope"), [
    ("l1_unstructured", "global"), ("l1_unstructured", "layer"),
    ("random_unstructured", "global"), ("random_unstructured", "layer"),
])
def test_iterative_unstructured_reaches_each_cumulative_ratio_exactly(method: str, scope: str) -> None:
    s = subject("lenet5", channels=1)
    sizes = [tensor(w).numel() for w in s.layers]
    seen: list[list[int]] = []

    prune(s, method, 0.6, steps=3, finetune=lambda m: seen.append(zero_counts(s)), scope=scope)

    assert len(seen) == 3  # fine-tuned after every step, the last included
    for ratio, zeros in zip(cumulative_ratios(0.6, 3), seen, strict=True):
        if scope == "global":
            assert sum(zeros) == round(ratio * sum(sizes))
        else:
            assert zeros == [round(ratio * size) for size in sizes]
    assert zero_counts(s) == seen[-1]  # finalize keeps exactly the last masks


def test_iterative_ln_structured_mask_reaches_each_channel_count() -> None:
    s = subject("lenet5", channels=1)
    seen: list[list[int]] = []

    def record(_: nn.Module) -> None:
        seen.append([zero_output_channels(tensor(w)) for w in s.layers])

    prune(s, "ln_structured_mask", 0.6, steps=3, finetune=record)

    for ratio, zeros in zip(cumulative_ratios(0.6, 3), seen, strict=True):
        assert zeros == [round(ratio * tensor(w).shape[0]) for w in s.layers]


@pytest.mark.parametrize("method", MASK_METHODS)
def test_masks_hold_during_finetuning(method: str) -> None:
    """A fine-tune that sets every parameter to 1.0 cannot revive a pruned weight."""
    s = subject("lenet5", channels=1)
    first_masks: list[list[torch.Tensor]] = []

    def overwrite(model: nn.Module) -> None:
        first_masks.append(zero_masks(s))
        with torch.no_grad():
            for param in model.parameters():
                param.fill_(1.0)

    prune(s, method, 0.5, steps=2, finetune=overwrite)

    for w, pruned_first in zip(s.layers, first_masks[0], strict=True):
        assert not tensor(w)[pruned_first].any()  # pruned at step 1, still zero
        assert set(tensor(w).unique().tolist()) == {0.0, 1.0}
    assert pruned_fraction(s) == pytest.approx(0.5, abs=0.01)
    assert bool((s.head.weight == 1.0).all())


@pytest.mark.parametrize("method", catalog.METHODS)
def test_ratio_zero_returns_the_model_untouched(method: str) -> None:
    s = subject("lenet5", channels=1)
    state = {k: v.clone() for k, v in s.model.state_dict().items()}

    def never(_: nn.Module) -> None:
        raise AssertionError("ratio 0 must not fine-tune")

    model = prune(s, method, 0.0, finetune=never)

    assert model is s.model
    assert model.state_dict().keys() == state.keys()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    assert_no_pruning_left(model)


@pytest.mark.parametrize("name", catalog.MODELS)
def test_l1_per_layer_prunes_every_prunable_layer(name: str) -> None:
    s = subject(name, channels=1)
    model = prune(s, "l1_unstructured", 0.5, scope="layer")
    rows = layer_sparsity(model, s.layers)
    assert len(rows) == len(s.layers)
    assert min(row["sparsity"] for row in rows) > 0.45
