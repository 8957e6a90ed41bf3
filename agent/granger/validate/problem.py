"""The problem every validation prunes: a trained base model, and its causal and magnitude
prunings at matched sparsity, each fine-tuned alike and evaluated."""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from agent.data import DataBundle, load_dataset
from agent.models import build_model, classifier_head, prunable_layers
from agent.pruning import PruneContext, check_method_options, prune_model
from agent.training import evaluate, train
from shared.errors import UserError
from shared.sweep import DatasetSpec, MethodSpec

MAGNITUDE = MethodSpec("l1_unstructured", {"scope": "global"})
# stop: zero ignores the ratio, but the schedule returns the base model untouched at 0
ANY_RATIO = 0.5
MAX_RATIO = 0.9999


@dataclass(frozen=True)
class ProblemSpec:
    """What defines the base model and how every pruned model is fine-tuned."""

    model: str = "lenet5"
    dataset: DatasetSpec = DatasetSpec("digits")
    input_size: int = 32
    seed: int = 0
    train_epochs: int = 6
    train_lr: float = 0.05
    train_batch_size: int = 64
    finetune_epochs: int = 1
    finetune_lr: float = 0.02
    finetune_batch_size: int = 16
    # checked, defaults filled in (a lambda: causal_options is defined further down)
    causal_options: dict[str, Any] = field(default_factory=lambda: causal_options({}))

    def describe(self) -> dict[str, Any]:
        """The settings as plain JSON values, for every row."""
        values = asdict(self)
        values["dataset"] = self.dataset.name  # root is a local path: left out, as in a sweep's keys
        values["train_samples"] = self.dataset.train_samples
        values["eval_samples"] = self.dataset.eval_samples
        return values


@dataclass
class Problem:
    spec: ProblemSpec
    data: DataBundle
    base: nn.Module
    device: torch.device
    base_accuracy: float

    @property
    def causal(self) -> MethodSpec:
        return MethodSpec("causal", self.spec.causal_options)


@dataclass(frozen=True)
class Pruned:
    """One pruned, fine-tuned model and where its prunable weights are zero."""

    method: str
    setting: float  # the ratio asked for, or (stop: zero) the L1 coefficient
    model: nn.Module
    pruned: list[torch.Tensor]  # per prunable layer, True where the weight is zero
    accuracy: float

    @property
    def sparsity(self) -> float:
        """Pruned weights over all weights of the prunable layers (the head is never pruned)."""
        return sum(int(p.sum()) for p in self.pruned) / sum(p.numel() for p in self.pruned)


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("no CUDA device on this machine", field="--device", valid=("auto", "cpu"))
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def causal_options(given: dict[str, Any]) -> dict[str, Any]:
    """``given`` checked as a sweep file's method options would be (UserError naming the key)."""
    return check_method_options(MethodSpec("causal", given), "--causal", "causal")


def make_problem(spec: ProblemSpec, device: torch.device) -> Problem:
    """Load the data and train the base model (seeded: the same spec gives the same model)."""
    data = load_dataset(spec.dataset, spec.input_size, spec.seed, "--dataset")
    if not data.has_labels:
        raise UserError(f"dataset {spec.dataset.name!r} has no real labels: accuracy would mean nothing",
                        field="--dataset")
    torch.manual_seed(spec.seed)
    base = build_model(spec.model, data.num_classes, data.in_channels, spec.input_size)
    train(base, data.train, epochs=spec.train_epochs, lr=spec.train_lr, batch_size=spec.train_batch_size,
          seed=spec.seed, device=device)
    accuracy = evaluate(base, data.test, data.num_classes, device).top1
    return Problem(spec, data, base.eval(), device, accuracy)


def prune(problem: Problem, method: MethodSpec, ratio: float, seed: int, setting: float | None = None) -> Pruned:
    """A copy of the base model pruned by ``method`` to ``ratio``, fine-tuned, evaluated."""
    spec = problem.spec
    torch.manual_seed(seed)
    model = copy.deepcopy(problem.base).to(problem.device)

    def finetune(m: nn.Module) -> None:
        train(m, problem.data.train, epochs=spec.finetune_epochs, lr=spec.finetune_lr,
              batch_size=spec.finetune_batch_size, seed=seed, device=problem.device)

    context = PruneContext(problem.data.train, problem.device, spec.finetune_batch_size, spec.finetune_lr, seed)
    example = next(iter(problem.data.test))[0].unsqueeze(0).to(problem.device)
    model = prune_model(model, method, ratio, 1, seed, prunable_layers(model), classifier_head(model),
                        example, finetune, context=context).eval()
    pruned = [getattr(w.module, w.param).detach() == 0 for w in prunable_layers(model)]
    accuracy = evaluate(model, problem.data.test, problem.data.num_classes, problem.device).top1
    return Pruned(method.name, ratio if setting is None else setting, model, pruned, accuracy)


def causal_and_magnitude(problem: Problem, setting: float, seed: int) -> tuple[Pruned, Pruned]:
    """Causal pruning at ``setting`` and magnitude pruning at the sparsity causal reached.

    ``setting`` is the ratio, or with ``stop: zero`` the L1 coefficient (the ratio is then
    whatever the lasso gives, and magnitude pruning is matched to it).
    """
    if problem.spec.causal_options["stop"] == "zero":
        options = {**problem.spec.causal_options, "l1_coeff": setting}
        causal = prune(problem, MethodSpec("causal", options), ANY_RATIO, seed, setting)
    else:
        causal = prune(problem, problem.causal, setting, seed)
    # a ratio must stay below 1; a causal model with every weight gone has nothing to compare
    magnitude = prune(problem, MAGNITUDE, min(causal.sparsity, MAX_RATIO), seed, setting)
    return causal, magnitude
