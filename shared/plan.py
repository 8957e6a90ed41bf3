"""Expand a sweep into Variants (what is built) and Trials (what is measured), each with a stable key.

A key is a hash of canonical JSON of everything that defines the thing, so the same
variant or trial gets the same key on every host and in every rerun (that is what
resume and the collector's de-duplication rely on). Local paths are left out: they
differ between hosts without changing what is built.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.sweep import Sweep


def stable_hash(data: Any, length: int = 16) -> str:
    """Hex sha256 of canonical JSON (sorted keys, no spaces), truncated."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Variant:
    """One pruned model: the treatment, the same everywhere it is measured."""

    model: str
    dataset: str
    input_size: int
    method: str
    method_options: Mapping[str, Any]
    target_ratio: float
    schedule: str
    schedule_steps: int
    finetune_epochs: int
    finetune_lr: float
    finetune_batch_size: int
    seed: int
    train_epochs: int
    train_lr: float
    train_batch_size: int
    train_samples: int | None
    eval_samples: int | None
    weights_file: str | None = None  # base name only
    key: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", stable_hash(self.identity()))

    def identity(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "key"}

    @property
    def base_identity(self) -> dict[str, Any]:
        """What defines the unpruned base model this variant starts from."""
        keep = ("model", "dataset", "input_size", "seed", "train_epochs", "train_lr",
                "train_batch_size", "train_samples", "weights_file")
        return {k: self.__dict__[k] for k in keep}

    @property
    def base_model_key(self) -> str:
        """Stable hash of the base model: every variant pruned from the same model shares it,
        so a pruned variant's rows can be set beside the original's (target_ratio 0)."""
        return stable_hash(self.base_identity)

    @property
    def label(self) -> str:
        return f"{self.model} {self.method} r={self.target_ratio:g}"


@dataclass(frozen=True)
class Trial:
    """One measurement of a variant: backend x device x batch size.

    ``options`` are the backend's settings (``Sweep.backend_options``); they enter the key
    only where there are any, so a torch trial keeps the key it had before backends had them.
    """

    variant: Variant
    backend: str
    device: str
    batch_size: int
    threads: int | None
    options: Mapping[str, Any] = field(default_factory=dict)
    key: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        identity = {"variant": self.variant.key, "backend": self.backend, "device": self.device,
                    "batch_size": self.batch_size, "threads": self.threads}
        if self.options:
            identity["options"] = dict(self.options)
        object.__setattr__(self, "key", stable_hash(identity))


def variants(sweep: Sweep) -> Iterator[Variant]:
    """Every variant of the sweep, model-major so that a base model is reused while it is hot."""
    for model in sweep.models:
        weights = sweep.train.weights.get(model)
        for method in sweep.methods:
            for ratio in sweep.ratios:
                yield Variant(
                    model=model, dataset=sweep.dataset.name, input_size=sweep.input_pixels,
                    method=method.name, method_options=dict(method.options), target_ratio=ratio,
                    schedule=sweep.schedule.kind, schedule_steps=sweep.schedule.steps,
                    finetune_epochs=sweep.schedule.finetune_epochs,
                    finetune_lr=sweep.schedule.finetune_lr,
                    finetune_batch_size=sweep.schedule.finetune_batch_size, seed=sweep.seed,
                    train_epochs=sweep.train.epochs, train_lr=sweep.train.lr,
                    train_batch_size=sweep.train.batch_size,
                    train_samples=sweep.dataset.train_samples,
                    eval_samples=sweep.dataset.eval_samples,
                    weights_file=Path(weights).name if weights else None,
                )


def trials(sweep: Sweep, variant: Variant,
           devices: tuple[str, ...] | Mapping[str, tuple[str, ...]]) -> list[Trial]:
    """The trials of one variant, batch sizes ascending (small batches first, the OOM ladder).

    ``devices``: the same devices for every backend, or each backend's own (backends resolve
    ``auto`` differently, e.g. onnxruntime without a GPU provider).
    """
    return [
        Trial(variant, backend, device, batch, sweep.threads, sweep.backend_options(backend))
        for backend in sweep.backends
        for device in (devices[backend] if isinstance(devices, Mapping) else devices)
        for batch in sorted(sweep.batch_sizes)
    ]
