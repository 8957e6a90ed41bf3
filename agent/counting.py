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

from agent.pruning.base import current_tensor, eval_mode

WEIGHTED = (nn.Conv2d, nn.Linear)  # the layers pruning acts on and MACs are dominated by


@dataclass(frozen=True)
class ModelCounts:
    """Per-sample counts of one model.

    ``params_reported``: ``sum(p.numel())`` over ``model.parameters()``, what PyTorch
    reports; mask-based pruning leaves it unchanged. ``params_nonzero``: parameter entries that
    are not zero, what a sparse format would have to store. ``params_actual``: parameters
    physically present in the model; it drops only when channels are really removed. In PyTorch
    it is the same number as ``params_reported`` (a zeroed weight is still present); it is kept
    as its own field so results can say "physically present" without relying on that.
    ``macs``: Torch-Pruning's dense count (Conv2d, Linear, BatchNorm, pooling, ...).
    ``macs_effective``: ``macs`` minus the multiply-accumulates of Conv2d and Linear layers
    with a zero weight, i.e. what a runtime that skips zeros would still do.
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


def dense_layer_macs(model: nn.Module, example_inputs: torch.Tensor) -> dict[str, int]:
    """Multiply-accumulates of each Conv2d / Linear weight in one forward pass (bias excluded).

    Every output element of such a layer takes ``in_channels / groups * kernel`` products, i.e.
    one weight row, so a layer costs ``output positions * weight.numel()`` where positions
    (batch included) is ``output.numel() / out_channels``; this holds for grouped and depthwise
    convs and for Linear layers on inputs of any rank.
    """
    macs: dict[str, int] = {}

    def hook_for(name: str):
        def record(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            weight = current_tensor(module, "weight")
            positions = output.numel() // weight.shape[0]
            macs[name] = macs.get(name, 0) + positions * weight.numel()  # a module may run twice
        return record

    handles = [module.register_forward_hook(hook_for(name))
               for name, module in model.named_modules() if isinstance(module, WEIGHTED)]
    try:
        with _inspection(model):
            model(example_inputs)
    finally:
        for handle in handles:
            handle.remove()
    return macs


def _zero_macs(module: nn.Module, dense_macs: int) -> int:
    """The share of a layer's ``dense_macs`` that multiplies a zero weight (exact: the dense
    count is a multiple of the weight's size)."""
    weight = current_tensor(module, "weight")
    return dense_macs * int((weight == 0).sum()) // weight.numel()


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
    modules = dict(model.named_modules())
    skipped = sum(_zero_macs(modules[name], macs) for name, macs in layer_macs.items())
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


def layer_sparsity(model: nn.Module, layers: list[tuple[str, nn.Module]] | None = None) -> list[dict]:
    """One row per Conv2d / Linear (``layers``, or every one in ``model``): how much of its
    weight is zero. Keys: layer, kind, shape, params (weight entries), nonzero, sparsity.
    """
    if layers is None:
        layers = [(name, m) for name, m in model.named_modules() if isinstance(m, WEIGHTED)]
    rows = []
    for name, module in layers:
        weight = current_tensor(module, "weight")
        nonzero = int(torch.count_nonzero(weight))
        rows.append({
            "layer": name,
            "kind": type(module).__name__,
            "shape": tuple(weight.shape),
            "params": weight.numel(),
            "nonzero": nonzero,
            "sparsity": 1.0 - nonzero / weight.numel(),
        })
    return rows
