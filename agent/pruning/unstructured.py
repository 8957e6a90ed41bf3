"""Mask-based methods (torch.nn.utils.prune): weights are zeroed, no tensor changes shape.

The masks live in forward pre-hooks (``weight = weight_orig * weight_mask`` before every
forward), so weights pruned in one step stay zero while the caller fine-tunes; ``finalize``
makes them permanent with ``prune.remove``.

Every step is given as an exact *count* of entries (or channels) to prune now:
``round(cumulative_ratio * total) - already_pruned``. torch's PruningContainer applies a new
amount to the still-unpruned entries only; a count computed from the current mask is what
the relative amount ``1 - (1 - s_i) / (1 - s_{i-1})`` means, without its rounding drift.
"""
from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import ClassVar

import torch
from torch import nn
from torch.nn.utils import prune

from agent.models import PrunableWeight
from agent.pruning.base import Option, PruningMethod, current_tensor, register


def count_to_prune(ratio: float, total: int, already: int) -> int:
    """How many more of ``total`` to prune so that ``ratio`` of them are pruned in all."""
    return max(0, round(ratio * total) - already)


def pruned_entries(weight: PrunableWeight) -> int:
    """Entries of ``weight`` that its current mask zeroes (0 when it has no mask)."""
    mask = getattr(weight.module, f"{weight.param}_mask", None)
    return 0 if mask is None else int((mask == 0).sum())


def pruned_channels(weight: PrunableWeight, dim: int) -> int:
    """Slices along ``dim`` of ``weight`` that its mask zeroes entirely."""
    mask = getattr(weight.module, f"{weight.param}_mask", None)
    if mask is None:
        return 0
    others = [d for d in range(mask.dim()) if d != dim]
    return int((mask.sum(dim=others) == 0).sum())


@contextmanager
def seeded_rng(seed: int) -> Iterator[None]:
    """Run the block with the RNGs seeded to ``seed``; restore them afterwards.

    Seeds the CPU generator and, when CUDA is initialised (it is whenever weights live on a
    GPU), every CUDA generator; ``torch.manual_seed`` is avoided because on a machine whose
    CUDA is not initialised yet it queues a seed that would leak into later CUDA use.
    """
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=cuda):
        torch.random.default_generator.manual_seed(seed)
        for device in cuda:
            torch.cuda.default_generators[device].manual_seed(seed)
        yield


class MaskPruningMethod(PruningMethod):
    """A method that prunes with torch.nn.utils.prune masks on each of ``layers``' weights
    (``module.weight``, or an attention's ``in_proj_weight``)."""

    def step(self, cumulative_ratio: float) -> None:
        # no autograd: masks need none, and a masked weight computed with a grad_fn would make
        # the model refuse copy.deepcopy until the next forward pass
        with self.randomness(), torch.no_grad():
            self.prune_to(cumulative_ratio)
        self.steps_done += 1

    @abstractmethod
    def prune_to(self, cumulative_ratio: float) -> None:
        """Extend the masks so that ``cumulative_ratio`` is pruned in all."""

    def randomness(self) -> AbstractContextManager[None]:
        """The context the masks are computed in; deterministic methods need none."""
        return nullcontext()

    def finalize(self) -> nn.Module:
        for weight in self.layers:
            if hasattr(weight.module, f"{weight.param}_mask"):
                prune.remove(weight.module, weight.param)
        return self.model


class UnstructuredMethod(MaskPruningMethod):
    """Zeroes single weight entries ranked by ``pruning_method``.

    ``scope: global`` ranks all layers' weights together (layers end up with different
    sparsities), ``scope: layer`` prunes every layer to the same ratio.
    """

    options = {"scope": Option("global", choices=("global", "layer"))}
    pruning_method: ClassVar[type[prune.BasePruningMethod]]

    def prune_to(self, cumulative_ratio: float) -> None:
        groups = [self.layers] if self.option_values["scope"] == "global" else [[w] for w in self.layers]
        for group in groups:
            self._prune_group(group, cumulative_ratio)

    def _prune_group(self, weights: list[PrunableWeight], cumulative_ratio: float) -> None:
        """Prune ``weights`` ranked together (one weight: plain per-layer pruning)."""
        scores = {(w.module, w.param): current_tensor(w.module, w.param) for w in weights}
        total = sum(score.numel() for score in scores.values())
        amount = count_to_prune(cumulative_ratio, total, sum(pruned_entries(w) for w in weights))
        prune.global_unstructured(list(scores), pruning_method=self.pruning_method,
                                  importance_scores=scores, amount=amount)


@register
class L1Unstructured(UnstructuredMethod):
    """Zeroes the weights of smallest magnitude (Han et al. style magnitude pruning)."""

    name = "l1_unstructured"
    pruning_method = prune.L1Unstructured


@register
class RandomUnstructured(UnstructuredMethod):
    """Zeroes weights chosen at random: the baseline magnitude pruning must beat.

    Seeded: step ``i`` (from 0) draws with ``seed + i`` in a forked RNG, so the same seed gives
    the same masks and the caller's RNG state is untouched.
    """

    name = "random_unstructured"
    pruning_method = prune.RandomUnstructured

    def randomness(self) -> AbstractContextManager[None]:
        return seeded_rng(self.seed + self.steps_done)


@register
class LnStructuredMask(MaskPruningMethod):
    """Zeroes whole slices of each layer's weight by their Ln norm; shapes do not change.

    With the default ``dim: 0`` whole output channels (conv filters, Linear rows, rows of an
    attention's q/k/v projection) are zeroed, ``cumulative_ratio`` of them in every layer. Nothing gets smaller or faster unless a
    runtime exploits the zeros; compare with ``structured``, which removes the channels.
    """

    name = "ln_structured_mask"
    options = {"n": Option(2, choices=(1, 2)), "dim": Option(0, choices=(0, 1))}

    def prune_to(self, cumulative_ratio: float) -> None:
        dim = self.option_values["dim"]
        for weight in self.layers:
            tensor = current_tensor(weight.module, weight.param)
            amount = count_to_prune(cumulative_ratio, tensor.shape[dim], pruned_channels(weight, dim))
            prune.ln_structured(weight.module, weight.param, amount=amount, n=self.option_values["n"], dim=dim,
                                importance_scores=tensor)
