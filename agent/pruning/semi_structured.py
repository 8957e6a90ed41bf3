"""2:4 semi-structured sparsity: in every group of 4 consecutive weights along a layer's input
dimension, at least 2 are zero (the pattern NVIDIA's sparse tensor cores run, compute
capability 8.0 and later; ``torch.sparse.to_sparse_semi_structured``).

The input dimension is that of the layer's GEMM: a Linear's ``in_features``; a conv's weight
``(out, in/groups, kh, kw)`` seen as ``(out, in/groups * kh * kw)``, the matrix its im2col
product multiplies by. A row whose length is no multiple of 4 is treated as padded with zeros
to one (as a kernel pads it), so its short last group keeps up to 2 of its weights.

**What a ratio means here.** 2:4 is one pattern, not a dial: ratio 0 is the unpruned base (as
for every method), and every ratio above 0 gives exactly the 2:4 pattern, half of each pruned
layer's weights (``sparsity`` in the row says what was reached, ``target_ratio`` what the grid
asked). A grid sweep lists its ratios once for all its methods; refusing 0.3 or 0.9 here would
make a user split every sweep that compares 2:4 with magnitude pruning, while the rows
say plainly what each variant is. (``causal`` with ``stop: zero`` treats the ratio alike.)

The masks are torch.nn.utils.prune masks (``prune.custom_from_mask``), held while the schedule
fine-tunes, like every mask method. An iterative schedule goes 1:4 then 2:4: each step zeroes
``round(2 * s_i / r)`` (at least 1, at most 2) weights a group, ``s_i`` the step's cumulative
ratio and ``r`` the target, keeping the weights zeroed before.

Where the sparse kernels run is the torch backend's business (agent/backends/sparse24.py):
only for Linear layers on CUDA devices of compute capability 8.0 or later; convs keep the
pattern but run dense everywhere (torch has no 2:4 conv kernel).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from agent.models import PrunableWeight
from agent.pruning.base import Option, current_tensor, register
from agent.pruning.unstructured import MaskPruningMethod
from shared.catalog import SEMI_STRUCTURED_24

GROUP = 4  # weights a group
KEEP = 2  # at most this many nonzero a group


def gemm_rows(weight: torch.Tensor) -> torch.Tensor:
    """The weight as its GEMM's ``(out, K)`` matrix: a Linear's as it is, a conv's flattened."""
    return weight.reshape(weight.shape[0], -1)


def two_of_four_mask(weight: torch.Tensor, zeros: int = GROUP - KEEP,
                     held: torch.Tensor | None = None) -> torch.Tensor:
    """A 0/1 mask of ``weight``'s shape that zeroes the ``zeros`` smallest-magnitude weights of
    every group of 4 along the GEMM's input dimension; entries where ``held`` is 0 are zeroed
    first (a mask holds). A short last group counts its padding as its zeros."""
    rows = gemm_rows(weight).abs().float()
    if held is not None:  # below every magnitude, above the padding
        rows = torch.where(gemm_rows(held) == 0, torch.full_like(rows, -1.0), rows)
    k = rows.shape[1]
    groups = F.pad(rows, (0, (-k) % GROUP), value=-2.0).reshape(rows.shape[0], -1, GROUP)
    drop = groups.topk(zeros, dim=-1, largest=False).indices
    mask = torch.ones_like(groups).scatter_(-1, drop, 0.0)
    return mask.reshape(rows.shape[0], -1)[:, :k].reshape(weight.shape).to(weight.dtype)


def is_two_of_four(weight: torch.Tensor) -> bool:
    """Whether every group of 4 along the GEMM's input dimension (padded with zeros) has at
    least 2 zeros."""
    rows = gemm_rows(weight)
    padded = F.pad(rows, (0, (-rows.shape[1]) % GROUP)).reshape(rows.shape[0], -1, GROUP)
    return bool(((padded != 0).sum(dim=-1) <= KEEP).all())


@register
class SemiStructured24(MaskPruningMethod):
    """2:4 sparsity in every pruned Linear and conv (see the module doc for what a ratio means).

    ``layers: all`` prunes convs (through their GEMM view), Linears and attention's packed q/k/v
    projections; ``layers: linear`` only the Linears, the only layers that get sparse kernels. ``dtype`` is what the torch backend
    runs the variant in where the kernels run (they take float16 or bfloat16, not float32).
    """

    name = SEMI_STRUCTURED_24
    options = {"layers": Option("all", choices=("all", "linear")),
               "dtype": Option("float16", choices=("float16", "bfloat16"))}

    @classmethod
    def refusal(cls, model_name: str, model: nn.Module, layers: list[PrunableWeight],
                options: Mapping[str, Any]) -> tuple[str, str] | None:
        if options["layers"] == "linear" and not any(isinstance(w.module, nn.Linear) for w in layers):
            return "layers", (f"option layers: linear prunes nothing in model {model_name!r}: its only "
                              f"Linear is the classifier head, which is never pruned (use layers: all)")
        return None

    def _pruned(self) -> list[PrunableWeight]:
        """``layers: all``: every prunable weight (an attention's q/k/v projection is a GEMM's
        weight too); ``layers: linear``: the Linears', which the sparse kernels replace."""
        if self.option_values["layers"] == "all":
            return self.layers
        return [w for w in self.layers if isinstance(w.module, nn.Linear)]

    def prune_to(self, cumulative_ratio: float) -> None:
        zeros = max(1, min(GROUP - KEEP, round((GROUP - KEEP) * cumulative_ratio / self.target_ratio)))
        for w in self._pruned():
            weight = current_tensor(w.module, w.param)
            held = getattr(w.module, f"{w.param}_mask", None)
            prune.custom_from_mask(w.module, w.param, two_of_four_mask(weight, zeros, held))
