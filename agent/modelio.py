"""Save a (possibly structurally pruned) model and load it back without trusting pickles.

Torch-Pruning's ``tp.state_dict`` keeps the pruned shapes, so the pruned architecture
reloads onto a fresh model of the same name. ``torch.load`` runs with ``weights_only=True``
and only the layer classes of that model allowlisted, so a file from another host can
carry weights and shapes, never code.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import torch
import torch_pruning as tp
from torch import nn

from agent.models import build_model


@dataclass(frozen=True)
class ModelSpec:
    """What is needed to rebuild the architecture before the weights are loaded."""

    name: str
    num_classes: int
    in_channels: int
    input_size: int


def save_model(model: nn.Module, path: Path) -> None:
    """Write atomically, so a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(tp.state_dict(model), tmp)
    tmp.replace(path)


def load_model(path: Path, spec: ModelSpec) -> nn.Module:
    # built on the meta device: no time spent drawing random weights the file replaces
    # (for ResNet18 that is most of the load); every parameter and buffer is then loaded
    with torch.device("meta"):
        model = build_model(spec.name, spec.num_classes, spec.in_channels, spec.input_size)
    model = model.to_empty(device="cpu")
    with torch.serialization.safe_globals(_allowed_globals(model)):
        state = torch.load(path, map_location="cpu", weights_only=True)
    tp.load_state_dict(model, state_dict=state)
    return model.eval()


def _allowed_globals(model: nn.Module) -> list[type]:
    """What ``tp.state_dict`` of ``model`` pickles besides tensors: its layer classes, and
    ``functools.partial`` where a module keeps one (a ViT keeps ``norm_layer``, a partial of
    LayerNorm; the unpickler still refuses a partial of anything not allowed here)."""
    allowed: set[type] = set()
    for module in model.modules():
        allowed.add(type(module))
        partials = [value for value in vars(module).values() if isinstance(value, functools.partial)]
        if partials:
            allowed.add(functools.partial)
            allowed.update(p.func for p in partials if isinstance(p.func, type))
    return list(allowed)
