"""What a (pruned) model costs on paper: parameters, MACs and bytes, three ways each.

Mask-based pruning changes what is nonzero but not what is stored or computed by a dense
runtime; real channel removal changes both. The counts keep those apart so the results can
show which savings are real.
"""
from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch_pruning as tp
from torch import nn
from torch.nn.utils import prune

from agent.models import WEIGHTED, PrunableWeight, weight_tensors
from agent.pruning.base import current_tensor, eval_mode


@dataclass(frozen=True)
class ModelCounts:
    """Per-sample counts of one model.

    ``params_reported``: ``sum(p.numel())`` over ``model.parameters()``, what PyTorch
    reports; mask-based pruning leaves it unchanged. ``params_nonzero``: parameter entries that
    are not zero, what a sparse format would have to store. ``params_actual``: parameters
    physically present in the model; it drops only when channels are really removed. In PyTorch
    it is the same number as ``params_reported`` (a zeroed weight is still present); it is kept
    as its own field so results can say "physically present" without relying on that.
    ``macs``: Torch-Pruning's dense count (Conv2d, Linear, BatchNorm, pooling, attention with
    its projections and its two matrix products, ...).
    ``macs_effective``: ``macs`` minus the multiply-accumulates of the weights of
    :func:`agent.models.weight_tensors` that are zero, i.e. what a runtime that skips zeros
    would still do.
    ``model_bytes``: ``torch.save(model.state_dict())``; ``model_bytes_compressed``: the same
    bytes zip-deflated (zeros compress, so unstructured sparsity shows up here).
    """

    params_reported: int
    params_nonzero: int
    params_actual: int
    macs: int
    macs_effective: int
    model_bytes: int
    model_bytes_compressed: int


@contextmanager
def _inspection(model: nn.Module) -> Iterator[None]:
    """Eval mode and no autograd for the block; every module's own mode restored after."""
    with eval_mode(model), torch.no_grad():
        _refresh_masked_tensors(model)
        yield


def _refresh_masked_tensors(model: nn.Module) -> None:
    """Recompute each masked tensor as its pruning hook would before the next forward.

    While torch.nn.utils.prune holds a mask, ``module.weight`` is a cached product from the
    last forward pass; after a training pass it carries a grad_fn, and ``copy.deepcopy``
    (which Torch-Pruning's counter uses) refuses such a module. The value is unchanged; only
    the autograd history is dropped, and the next forward recomputes it anyway.
    """
    for module in model.modules():
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, prune.BasePruningMethod):
                setattr(module, hook._tensor_name, hook.apply_mask(module))


def _current_parameters(model: nn.Module) -> Iterator[torch.Tensor]:
    """Every parameter as the forward pass uses it: ``X_orig * X_mask`` while a mask is held."""
    seen: set[int] = set()  # a tied parameter counts once, as in model.parameters()
    for module in model.modules():
        for name, param in module._parameters.items():
            if param is None or id(param) in seen:
                continue
            seen.add(id(param))
            base = name.removesuffix("_orig")
            masked = name != base and hasattr(module, f"{base}_mask")
            yield current_tensor(module, base if masked else name)


def _attention_macs(attention: nn.MultiheadAttention, query: torch.Tensor, key: torch.Tensor,
                    value: torch.Tensor) -> tuple[int, int]:
    """Multiply-accumulates of an attention's packed q/k/v projection and of its output
    projection in one forward pass: each of the three ``E x E`` blocks of ``in_proj_weight``
    projects every token of its input, ``out_proj`` every query token. (Torch's attention calls
    ``out_proj``'s weight directly, so a hook on that Linear never fires.)"""
    embed = attention.embed_dim
    tokens = [t.numel() // t.shape[-1] for t in (query, key, value)]  # batch included
    return sum(tokens) * embed * embed, tokens[0] * attention.out_proj.weight.numel()


def dense_layer_macs(model: nn.Module, example_inputs: torch.Tensor) -> dict[str, int]:
    """Multiply-accumulates of each weight of :func:`agent.models.weight_tensors` in one
    forward pass, keyed by its name (bias excluded; attention's two matrix products, which
    multiply activations by activations, are not any weight's).

    Every output element of a Conv2d or Linear takes ``in_channels / groups * kernel`` products,
    i.e. one weight row, so a layer costs ``output positions * weight.numel()`` where positions
    (batch included) is ``output.numel() / out_channels``; this holds for grouped and depthwise
    convs and for Linear layers on inputs of any rank.
    """
    macs: dict[str, int] = {}
    names = {(id(w.module), w.param): w.name for w in weight_tensors(model)}

    def add(module: nn.Module, param: str, count: int) -> None:
        name = names[(id(module), param)]
        macs[name] = macs.get(name, 0) + count  # a module may run twice

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if isinstance(module, nn.MultiheadAttention):
            projections, out_projection = _attention_macs(module, *inputs[:3])
            add(module, "in_proj_weight", projections)
            add(module.out_proj, "weight", out_projection)
            return
        weight = current_tensor(module, "weight")
        add(module, "weight", output.numel() // weight.shape[0] * weight.numel())

    handles = [module.register_forward_hook(record) for module in model.modules()
               if isinstance(module, (*WEIGHTED, nn.MultiheadAttention))]
    try:
        with _inspection(model):
            model(example_inputs)
    finally:
        for handle in handles:
            handle.remove()
    return macs


def _zero_macs(weight: PrunableWeight, dense_macs: int) -> int:
    """The share of a weight's ``dense_macs`` that multiplies a zero entry (exact where every
    entry is used equally often: convs, Linear layers, self-attention's q/k/v projection)."""
    tensor = current_tensor(weight.module, weight.param)
    return dense_macs * int((tensor == 0).sum()) // tensor.numel()


def _state_dict_bytes(model: nn.Module) -> tuple[int, int]:
    """Size of the saved state dict, raw and zip-deflated."""
    raw = io.BytesIO()
    torch.save(model.state_dict(), raw)
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("state_dict.pt", raw.getvalue())
    return raw.getbuffer().nbytes, packed.getbuffer().nbytes


def count_model(model: nn.Module, example_inputs: torch.Tensor) -> ModelCounts:
    """Count ``model`` on ``example_inputs`` (batch 1, so every count is per sample).

    Leaves the model as it was: modes restored, no hooks left, no gradients.
    """
    with _inspection(model):
        params = list(_current_parameters(model))
        dense_macs, _ = tp.utils.count_ops_and_params(model, example_inputs)
    layer_macs = dense_layer_macs(model, example_inputs)
    weights = {w.name: w for w in weight_tensors(model)}
    skipped = sum(_zero_macs(weights[name], macs) for name, macs in layer_macs.items())
    model_bytes, compressed = _state_dict_bytes(model)
    reported = sum(p.numel() for p in params)
    return ModelCounts(
        params_reported=reported,
        params_nonzero=sum(int(torch.count_nonzero(p)) for p in params),
        params_actual=reported,
        macs=int(dense_macs),
        macs_effective=int(dense_macs) - skipped,
        model_bytes=model_bytes,
        model_bytes_compressed=compressed,
    )


def layer_sparsity(model: nn.Module, layers: list[PrunableWeight] | None = None) -> list[dict]:
    """One row per weight (``layers``, or every one of :func:`agent.models.weight_tensors`):
    how much of it is zero. Keys: layer, kind, shape, params (weight entries), nonzero, sparsity.
    """
    rows = []
    for weight in weight_tensors(model) if layers is None else layers:
        tensor = current_tensor(weight.module, weight.param)
        nonzero = int(torch.count_nonzero(tensor))
        rows.append({
            "layer": weight.name,
            "kind": type(weight.module).__name__,
            "shape": tuple(tensor.shape),
            "params": tensor.numel(),
            "nonzero": nonzero,
            "sparsity": 1.0 - nonzero / tensor.numel(),
        })
    return rows
