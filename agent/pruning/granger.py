"""``causal``: Granger-causal pruning (Shah et al., "A Granger-Causal Perspective on Gradient
Descent with Application to Pruning"), the paper's Algorithm 1.

Train ``pre_epochs``; keep those weights as the rewind point. Then ``iterations`` times:
train ``prune_epochs`` with SGD (``lr``, ``momentum``), fitting per layer, step by step, the
lasso ``dL = sum_k gamma_k (dtheta_k)^2`` (three features a weight with momentum); prune;
rewind the remaining weights to the rewind point. Finally train ``post_epochs``, pruned
weights held at zero (the sweep's fine-tuning follows, as for every method).

Stopping (``stop``):

``zero``   the paper's rule: prune where every coefficient is exactly 0. The sweep's ratio is
           ignored; the achieved sparsity is whatever ``l1_coeff`` gives (the row records it).
``ratio``  prune to the schedule's ratio by the smallest ``|gamma|``, ranked across layers
           (``scope: global``, in a unit that makes layers comparable: see
           agent.granger.recorder) or within each layer (``scope: layer``); ratio-sweepable
           like every other method.

The lasso is fitted while training runs (agent.granger): memory O(parameters), never
O(steps x parameters). ``l1_coeff`` is on the scaled problem of docs/GRANGER_PRUNING.md,
not the paper's raw one (whose 1e-18 .. 1e-11 depends on each layer's gradient scale).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune

from agent.granger.lasso import LassoSettings
from agent.granger.recorder import GrangerRecorder
from agent.granger.sgd import LOSS_CHANGES, SGDSettings, train_recorded
from agent.granger.store import DeltaStore, store_bytes
from agent.pruning.base import Option, PruneContext, current_tensor, register
from agent.models import PrunableWeight
from agent.pruning.unstructured import MaskPruningMethod, count_to_prune, seeded_rng
from agent.training import train
from shared.errors import UserError

MIB = 1024 * 1024
INF_BITS = int(torch.tensor(math.inf).view(torch.int32))

# option -> (lowest, highest, whether the lowest itself is allowed); checked with the sweep
RANGES: dict[str, tuple[float, float, bool]] = {
    "pre_epochs": (0, math.inf, True), "iterations": (1, math.inf, True),
    "prune_epochs": (1, math.inf, True), "post_epochs": (0, math.inf, True),
    "l1_coeff": (0, math.inf, True), "lr": (0, math.inf, False), "momentum": (0, 1, True),
    "lasso_lr": (0, 2, False), "lasso_passes": (1, math.inf, True), "store_mb": (0, math.inf, False),
}


def weight_parameter(weight: PrunableWeight) -> nn.Parameter:
    """The parameter an optimiser updates for ``weight`` (``<param>_orig`` once masked)."""
    orig = weight.module._parameters.get(f"{weight.param}_orig")
    return orig if orig is not None else weight.module._parameters[weight.param]


def weight_mask(weight: PrunableWeight) -> torch.Tensor:
    """Where ``weight`` is still alive (all True before any pruning)."""
    mask = getattr(weight.module, f"{weight.param}_mask", None)
    if mask is None:
        return torch.ones_like(current_tensor(weight.module, weight.param), dtype=torch.bool)
    return mask.bool()


def geometric_targets(start: float, end: float, iterations: int) -> list[float]:
    """Cumulative ratios after each iteration from ``start`` to exactly ``end``, each iteration
    removing the same fraction of what is left (as :func:`cumulative_ratios` does)."""
    if end <= start:
        return [start] * iterations
    kept = (1.0 - end) / (1.0 - start)
    return [*(1.0 - (1.0 - start) * kept ** (i / iterations) for i in range(1, iterations)), end]


def prune_lowest(scores: list[torch.Tensor], keep: list[torch.Tensor], count: int) -> None:
    """Clear ``keep`` (in place) at the ``count`` lowest of ``scores`` (float32, >= 0, +inf
    where already pruned), ties broken by position, first layer first.

    The threshold is found by bisection on the bits of the scores (for floats >= 0 their
    int32 bits sort like the values): some 31 counting passes and no sorted copy, no index
    array, no concatenation, where an argsort of 21 M scores would need 3 model sizes.
    """
    if count <= 0:
        return
    bits = [s.view(torch.int32) for s in scores]
    low, high = 0, INF_BITS
    while low < high:  # the smallest threshold with at least ``count`` scores at or below it
        middle = (low + high) // 2
        if sum(int((b <= middle).sum()) for b in bits) >= count:
            high = middle
        else:
            low = middle + 1
    needed = count - sum(int((b < low).sum()) for b in bits)
    for b, k in zip(bits, keep, strict=True):
        k.masked_fill_(b < low, False)
        ties = (b == low).view(-1)
        tied = int(ties.sum())
        if tied and needed:
            take = ties if tied <= needed else ties & (ties.cumsum(0, dtype=torch.int32) <= needed)
            k.view(-1).masked_fill_(take, False)
            needed -= min(tied, needed)


@register
class GrangerPruning(MaskPruningMethod):
    """Granger-causal pruning; see the module docstring. Needs a :class:`PruneContext`."""

    name = "causal"
    options = {
        "pre_epochs": Option(0, kind=int),  # the paper: 5-10; a sweep's base model is trained already
        "iterations": Option(2, kind=int),  # N_iter; the paper: 10
        "prune_epochs": Option(1, kind=int),  # N_prune; the paper: 10
        "post_epochs": Option(0, kind=int),  # N_post; the paper: 100-300
        "l1_coeff": Option(0.05, kind=float),
        "lr": Option(1e-3, kind=float),
        "momentum": Option(0.0, kind=float),  # > 0: SGD with momentum, three features a weight
        "stop": Option("ratio", choices=("ratio", "zero")),
        "scope": Option("global", choices=("global", "layer")),
        "loss_change": Option("same_batch", choices=LOSS_CHANGES),
        "lasso_lr": Option(0.1, kind=float),
        "lasso_passes": Option(1, kind=int),  # > 1: more passes over an on-disk float16 store
        "store_mb": Option(1024, kind=int),
    }

    @classmethod
    def resolve_options(cls, given: Mapping[str, Any], *, source: str | None = None,
                        where: str = "options") -> dict[str, Any]:
        values = super().resolve_options(given, source=source, where=where)
        for key, (low, high, low_ok) in RANGES.items():
            value = values[key]
            if value < low or value > high or (value == low and not low_ok):
                bound = f"[{low}, {high}]" if low_ok else f"({low}, {high}]"
                raise UserError(f"{value!r} is outside {bound}", source=source, field=f"{where}.{key}")
        return values

    def setup(self) -> None:
        if self.context is None:
            raise ValueError("causal pruning trains while it prunes: give prune_model a PruneContext")
        self._check_store_fits()
        self._rewind_point: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._keep = [weight_mask(weight) for weight in self.layers]  # True: alive
        self.history: list[dict[str, Any]] = []  # one entry an iteration, for reports and tests

    @property
    def ctx(self) -> PruneContext:
        assert self.context is not None  # setup() refused to go on without one
        return self.context

    def randomness(self) -> AbstractContextManager[None]:
        return seeded_rng(self.seed + self.steps_done)

    def step(self, cumulative_ratio: float) -> None:
        # unlike the other mask methods, this one trains: no torch.no_grad() around it
        with self.randomness():
            self.prune_to(cumulative_ratio)
        self.steps_done += 1

    def prune_to(self, cumulative_ratio: float) -> None:
        if self.steps_done == 0:
            self._train(self.option_values["pre_epochs"])
            self._rewind_point = [(t, t.detach().clone()) for t in self._state_tensors()]
        # while iterating, masks are plain booleans held by the optimiser (no mask buffers,
        # no masked copy of each weight a forward pass); torch's masks come at the end
        self._keep = [weight_mask(weight) for weight in self.layers]
        targets = geometric_targets(self.pruned_fraction(), cumulative_ratio, self.option_values["iterations"])
        for iteration, target in enumerate(targets):
            self._iterate(iteration, target)
        self._apply()
        if self.steps_done == self.steps - 1:
            self._train(self.option_values["post_epochs"])

    def pruned_fraction(self) -> float:
        """Pruned weights over all weights of the pruned layers."""
        return 1.0 - sum(int(k.sum()) for k in self._keep) / sum(k.numel() for k in self._keep)

    # --- the pieces of one iteration ---

    def _iterate(self, iteration: int, target: float) -> None:
        """Record, fit, prune, rewind. The lassos live only here: one iteration's at a time."""
        recorder = self._record(iteration)
        steps = recorder.steps
        if self.option_values["stop"] == "zero":
            for keep, zero in zip(self._keep, recorder.zero(), strict=True):
                keep.masked_fill_(zero, False)  # the paper's rule: every coefficient is 0
        else:
            scores = recorder.take_importance()
            del recorder  # the penalties go before the ranking needs its memory
            self._drop_weakest(scores, target)
        self._rewind()
        self.history.append({"step": self.steps_done, "iteration": iteration, "sgd_steps": steps,
                             "pruned_fraction": self.pruned_fraction()})

    def _train(self, epochs: int) -> None:
        """Pre- or post-training with the sweep's fine-tuning optimiser; masks hold."""
        train(self.model, self.ctx.train_data, epochs=epochs, lr=self.ctx.lr,
              batch_size=self.ctx.batch_size, seed=self.ctx.seed, device=self.ctx.device)

    def _state_tensors(self) -> list[torch.Tensor]:
        """Every parameter and buffer of the model: what rewinding restores (not the masks,
        which are registered later and are not among them)."""
        return [*self.model.parameters(), *self.model.buffers()]

    def _rewind(self) -> None:
        """Back to the rewind point, pruned weights at zero."""
        with torch.no_grad():
            for tensor, saved in self._rewind_point:
                tensor.copy_(saved)
            for weight, keep in zip(self.layers, self._keep, strict=True):
                weight_parameter(weight).masked_fill_(~keep, 0.0)

    def _record(self, iteration: int) -> GrangerRecorder:
        """Train ``prune_epochs`` with SGD, feeding every step to the per-layer lassos."""
        values = self.option_values
        weights = [weight_parameter(weight) for weight in self.layers]
        frozen = {w: ~keep for w, keep in zip(weights, self._keep, strict=True) if not bool(keep.all())}
        settings = LassoSettings(alpha=values["l1_coeff"], lr=values["lasso_lr"])
        sgd = SGDSettings(values["lr"], values["momentum"], self.ctx.batch_size, values["loss_change"])
        seed = self.ctx.seed + 1000 * self.steps_done + iteration
        shapes = [w.shape for w in weights]
        store = DeltaStore(shapes, values["store_mb"] * MIB, self.ctx.device) \
            if values["lasso_passes"] > 1 else None
        try:
            recorder = GrangerRecorder(shapes, settings, values["momentum"] > 0, self.ctx.device, store)
            train_recorded(self.model, weights, self.ctx.train_data, values["prune_epochs"], sgd, seed,
                           self.ctx.device, recorder.observe, frozen)
            recorder.replay(values["lasso_passes"] - 1, seed)
        finally:
            if store is not None:
                store.close()
        return recorder

    def _drop_weakest(self, scores: list[torch.Tensor], target: float) -> None:
        """Prune the lowest ``scores`` so that ``target`` of the weights are pruned in all,
        over all layers (``scope: global``) or in each."""
        for score, keep in zip(scores, self._keep, strict=True):
            score.masked_fill_(~keep, math.inf)  # the already pruned are never chosen twice
        everything = list(range(len(scores)))
        groups = [everything] if self.option_values["scope"] == "global" else [[i] for i in everything]
        for group in groups:
            keeps = [self._keep[i] for i in group]
            total = sum(k.numel() for k in keeps)
            count = count_to_prune(target, total, total - sum(int(k.sum()) for k in keeps))
            prune_lowest([scores[i] for i in group], keeps, count)

    def _apply(self) -> None:
        """Hand the masks to torch.nn.utils.prune, so that fine-tuning cannot revive a weight."""
        for weight, keep in zip(self.layers, self._keep, strict=True):
            prune.custom_from_mask(weight.module, weight.param, keep)

    # --- the optional store ---

    def _row_values(self) -> int:
        return sum(current_tensor(w.module, w.param).numel() for w in self.layers)

    def _check_store_fits(self) -> None:
        """Refuse at once, not after an epoch, a multi-pass fit whose steps exceed ``store_mb``."""
        values = self.option_values
        if values["lasso_passes"] == 1:
            return
        batches = math.ceil(len(self.ctx.train_data) / self.ctx.batch_size)  # type: ignore[arg-type]
        steps = values["prune_epochs"] * batches
        needed = store_bytes(steps, self._row_values())
        if needed > values["store_mb"] * MIB:
            raise UserError(f"lasso_passes: {values['lasso_passes']} keeps {steps} steps x "
                            f"{self._row_values()} weights in float16 on disk, {needed / MIB:.0f} MiB, "
                            f"over store_mb: {values['store_mb']}; raise store_mb or lower prune_epochs",
                            field="options.store_mb")
