"""Build one pruned variant: copy the base model, prune (fine-tuning between steps),
then count, evaluate and describe it. The result is what every trial of it measures."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from agent.counting import count_model, layer_sparsity
from agent.data import DataBundle
from agent.models import classifier_head, prunable_layers
from agent.pruning import PruneContext, prune_model
from agent.training import evaluate, train
from shared.plan import Variant
from shared.sweep import MethodSpec


@dataclass(frozen=True)
class BuiltVariant:
    model: nn.Module
    columns: dict[str, Any]  # the schema's variant columns
    layers: list[dict[str, Any]]  # per-layer sparsity table


def input_shape(data: DataBundle, variant: Variant, batch_size: int) -> tuple[int, int, int, int]:
    return (batch_size, data.in_channels, variant.input_size, variant.input_size)


def build_variant(variant: Variant, method: MethodSpec, base: nn.Module, base_nonzero: int,
                  data: DataBundle, device: torch.device) -> BuiltVariant:
    """Prune a copy of ``base`` as ``variant`` says; ``method`` carries checked options.

    ``base_nonzero`` is the base model's nonzero parameter count: achieved sparsity is the
    share of those that pruning removed (a dense model already has zeros, e.g. BN biases).
    """
    started = time.perf_counter()
    torch.manual_seed(variant.seed)  # dropout during fine-tuning draws from the global RNG
    model = copy.deepcopy(base).to(device)

    def finetune(m: nn.Module) -> None:
        if data.has_labels:
            train(m, data.train, epochs=variant.finetune_epochs, lr=variant.finetune_lr,
                  batch_size=variant.finetune_batch_size, seed=variant.seed, device=device)

    example = torch.randn(input_shape(data, variant, 1)).to(device)
    pruned = prune_model(
        model, method, variant.target_ratio, variant.schedule_steps, variant.seed,
        prunable_layers(model), classifier_head(model), example, finetune,
        context=PruneContext(data.train, device, variant.finetune_batch_size, variant.finetune_lr, variant.seed),
    ).eval()
    counts = count_model(pruned, example)
    accuracy = evaluate(pruned, data.test, data.num_classes, device) if data.has_labels else None
    columns = {
        **counts.__dict__,
        "sparsity": 1.0 - counts.params_nonzero / base_nonzero,
        "accuracy_top1": accuracy.top1 if accuracy else None,
        "accuracy_top5": accuracy.top5 if accuracy else None,
        "build_s": time.perf_counter() - started,
    }
    return BuiltVariant(pruned, columns, layer_sparsity(pruned))
