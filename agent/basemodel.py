"""The unpruned base model: a local weights file if the sweep names one, else trained once and cached.

The cache key is everything that defines the base model (model, data set, input
size, seed, training settings), so a rerun, or another sweep with the same base,
never retrains. Checkpoints are written atomically and read with weights_only=True.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from agent.data import DataBundle
from agent.models import build_model
from agent.training import train
from shared.errors import UserError
from shared.plan import Variant, stable_hash
from shared.sweep import Sweep


def _load_weights(model: nn.Module, path: Path, sweep: Sweep, name: str) -> None:
    where = {"source": sweep.source, "field": f"train.weights.{name}"}
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a foreign file: anything it raises is the user's to fix
        raise UserError(f"cannot load {str(path)!r}: {exc}".splitlines()[0], **where) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise UserError(f"{str(path)!r} does not fit {name}: {str(exc).splitlines()[0]}", **where) from None


def base_model(variant: Variant, sweep: Sweep, data: DataBundle, device: torch.device,
               cache_dir: Path) -> tuple[nn.Module, bool]:
    """The base model of ``variant`` and whether it came from the cache (or a weights file)."""
    model = build_model(variant.model, data.num_classes, data.in_channels, variant.input_size)
    weights = sweep.train.weights.get(variant.model)
    if weights:  # an absolute path: the sweep loader resolved and checked it
        _load_weights(model, Path(weights), sweep, variant.model)
        return model.eval(), True
    if not data.has_labels:  # synthetic data: latency only, training would mean nothing
        return model.eval(), False
    key = stable_hash({**variant.base_identity, "classes": data.num_classes, "channels": data.in_channels})
    path = cache_dir / f"base-{variant.model}-{key}.pt"
    if path.exists():
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.eval(), True
    torch.manual_seed(variant.seed)
    model = build_model(variant.model, data.num_classes, data.in_channels, variant.input_size)
    train(model, data.train, epochs=variant.train_epochs, lr=variant.train_lr,
          batch_size=variant.train_batch_size, seed=variant.seed, device=device)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(model.to("cpu").state_dict(), tmp)
    tmp.replace(path)
    return model.eval(), False
