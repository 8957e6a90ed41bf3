"""One-shot and iterative pruning: prune a step, fine-tune, repeat, then make it permanent."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from agent.pruning.base import METHODS, PruneContext
from shared.sweep import MethodSpec


def cumulative_ratios(target_ratio: float, steps: int) -> list[float]:
    """The ratio pruned in all after each of ``steps`` steps; the last is ``target_ratio``.

    Geometric: every step removes the same fraction of what is still left,
    ``s_i = 1 - (1 - r) ** (i / steps)``, so late steps (on a thinner model) take fewer weights.
    """
    if not 0.0 <= target_ratio < 1.0:
        raise ValueError(f"target_ratio must be in [0, 1), got {target_ratio}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    ratios = [1.0 - (1.0 - target_ratio) ** (i / steps) for i in range(1, steps)]
    return [*ratios, target_ratio]  # exactly the target, not 1 - (1 - r) ** 1.0 rounded


def prune_model(
    model: nn.Module,
    method: MethodSpec,
    target_ratio: float,
    steps: int,
    seed: int,
    layers: list[tuple[str, nn.Module]],
    head: nn.Module,
    example_inputs: torch.Tensor,
    finetune: Callable[[nn.Module], None],
    *,
    context: PruneContext | None = None,
) -> nn.Module:
    """Prune ``model`` to ``target_ratio`` in ``steps`` steps and return the model to measure.

    ``method.options`` must already be checked (:func:`check_method_options`). After every
    step, the last included, ``finetune(model)`` may train the model in place; masks hold
    meanwhile. ``context`` (training data, device) is handed to the method. Ratio 0 returns
    ``model`` itself, untouched and not fine-tuned, so the ratio-0 baseline is the same base
    model for every method.
    """
    if target_ratio == 0.0:
        return model
    ratios = cumulative_ratios(target_ratio, steps)
    pruner = METHODS.get(method.name)(model, layers, head, example_inputs, steps, target_ratio,
                                      seed, method.options, context=context)
    for ratio in ratios:
        pruner.step(ratio)
        finetune(model)
    return pruner.finalize()
