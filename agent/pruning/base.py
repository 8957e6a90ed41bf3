"""The pruning extension point: one small ABC, its options, and one registry of methods."""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import Dataset

from agent.models import PrunableWeight, prunable_layers
from shared import catalog
from shared.errors import UserError, shown, unknown_name
from shared.registry import Registry
from shared.sweep import MethodSpec


@dataclass(frozen=True)
class PruneContext:
    """What a method that trains while it prunes needs beyond the model (e.g. ``causal``).

    ``lr`` and ``batch_size`` are the sweep's fine-tuning settings, for any training a method
    does with :func:`agent.training.train`; ``seed`` seeds its data order.
    """

    train_data: Dataset
    device: torch.device
    batch_size: int
    lr: float
    seed: int


@dataclass(frozen=True)
class Option:
    """One option a method takes in a sweep file, e.g. ``scope: global | layer``.

    ``choices`` lists every valid value; otherwise ``kind`` is the type a value must have.
    """

    default: Any
    choices: tuple[Any, ...] | None = None
    kind: type | None = None

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is valid; ``True`` is no ``1`` here, although Python says ``True == 1``."""
        if self.choices is not None:
            return any(type(value) is type(choice) and value == choice for choice in self.choices)
        if self.kind is float:  # .nan passes every later comparison, .inf is no setting
            return type(value) in (int, float) and math.isfinite(value)
        if self.kind is not None:
            return type(value) is self.kind
        return True

    def describe(self) -> str:
        """What a valid value looks like, for the error message."""
        if self.kind is not None:
            return f"expected {'a finite float' if self.kind is float else self.kind.__name__}"
        return "invalid value"


class PruningMethod(ABC):
    """Prunes one model in ``steps`` steps towards ``target_ratio``.

    The schedule (:func:`agent.pruning.schedule.prune_model`) calls :meth:`step` with the
    cumulative ratio to reach, lets the caller fine-tune, and finally calls :meth:`finalize`.
    ``layers`` are the weights to prune (:func:`agent.models.prunable_layers`: every Conv2d and
    Linear weight and every attention's q/k/v projection, except ``head``, the classifier,
    which is never pruned). ``context`` carries training data and a device for the methods
    that train while they prune; the others ignore it.
    """

    name: ClassVar[str]
    options: ClassVar[Mapping[str, Option]] = {}

    def __init__(
        self,
        model: nn.Module,
        layers: list[PrunableWeight],
        head: nn.Module,
        example_inputs: torch.Tensor,
        steps: int,
        target_ratio: float,
        seed: int,
        options: Mapping[str, Any],
        *,
        context: PruneContext | None = None,
    ) -> None:
        if any(weight.module is head for weight in layers):
            raise ValueError("the classifier head must not be among the layers to prune")
        self.model = model
        self.layers = list(layers)
        self.head = head
        self.example_inputs = example_inputs
        self.steps = steps
        self.target_ratio = target_ratio
        self.seed = seed
        self.context = context
        # named apart from the class attribute ``options``, which declares them
        self.option_values = type(self).resolve_options(options)
        self.steps_done = 0
        self.setup()

    def setup(self) -> None:
        """Prepare what every step needs, once (e.g. a dependency graph); options are resolved."""

    @classmethod
    def resolve_options(cls, given: Mapping[str, Any], *, source: str | None = None,
                        where: str = "options") -> dict[str, Any]:
        """``given`` checked against :attr:`options` and completed with the defaults.

        An unknown option or a bad value raises UserError with ``field=f"{where}.{option}"``.
        """
        for key, value in given.items():
            field = f"{where}.{key}"
            option = cls.options.get(key)
            if option is None:
                if not cls.options:
                    raise UserError(f"method {cls.name!r} takes no options", source=source, field=field)
                raise unknown_name("option", key, cls.options, source=source, field=field)
            if not option.accepts(value):
                raise UserError(f"{option.describe()}, got {shown(value)}", source=source, field=field,
                                valid=option.choices)
        return {key: given.get(key, option.default) for key, option in cls.options.items()}

    @classmethod
    def refusal(cls, model_name: str, model: nn.Module, layers: list[PrunableWeight],
                options: Mapping[str, Any]) -> tuple[str, str] | None:
        """``(option, why)`` where this method with ``options`` (resolved) cannot prune
        ``model_name`` (``model``, built without weights, and its prunable ``layers``); None
        where it can. Asked of every model of a sweep before anything is built
        (:func:`check_method_on_models`)."""
        return None

    @abstractmethod
    def step(self, cumulative_ratio: float) -> None:
        """Prune so that ``cumulative_ratio`` of the prunable weights (or channels) are gone."""

    def finalize(self) -> nn.Module:
        """Make the pruning permanent and return the model to measure (may be a new object)."""
        return self.model


METHODS: Registry[type[PruningMethod]] = Registry("method", catalog.METHODS)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Run the block in eval mode, then give every module back its own mode (a model may be
    partly in train and partly in eval mode; ``model.train()`` would not restore that)."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield
    finally:
        for module, training in modes.items():
            module.train(training)


def current_tensor(module: nn.Module, name: str) -> torch.Tensor:
    """``module.<name>`` as the next forward pass will see it, detached.

    While torch.nn.utils.prune holds a mask, ``module.<name>`` is only recomputed from
    ``<name>_orig * <name>_mask`` at each forward, so after an optimizer step it is stale;
    ranking or counting must use the product instead.
    """
    mask = getattr(module, f"{name}_mask", None)
    orig = module._parameters.get(f"{name}_orig")
    if mask is not None and orig is not None:
        return (orig * mask).detach()
    return getattr(module, name).detach()


def register(cls: type[PruningMethod]) -> type[PruningMethod]:
    """Class decorator: register ``cls`` under its ``name``, so the name is written once."""
    return METHODS.register(cls.name)(cls)


def check_method_options(spec: MethodSpec, source: str, where: str) -> dict[str, Any]:
    """The options of ``spec`` with the defaults filled in; ``where`` is e.g. ``methods[0]``.

    An unknown method, an unknown option or a bad value is a UserError naming the field.
    """
    method = METHODS.get(spec.name, source=source, field=where)
    return method.resolve_options(spec.options, source=source, where=where)


def check_method_on_models(spec: MethodSpec, models: Mapping[str, nn.Module], source: str,
                           where: str) -> None:
    """Refuse (UserError naming the method, the option and the model) a method whose options
    cannot prune one of ``models`` (name -> the model); ``spec.options`` are resolved."""
    method = METHODS.get(spec.name, source=source, field=where)
    for model_name, model in models.items():
        problem = method.refusal(model_name, model, prunable_layers(model), spec.options)
        if problem is not None:
            option, why = problem
            raise UserError(f"method {spec.name!r}: {why}", source=source, field=f"{where}.{option}")
