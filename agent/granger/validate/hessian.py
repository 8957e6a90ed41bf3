"""Flat minima (the paper's test 2): the top Hessian eigenvalues of the loss at each model.

The eigenvalues come from Lanczos iterations (with full reorthogonalisation) on exact
Hessian-vector products (double backward), as PyHessian does. For a pruned model the
Hessian is that of the loss over the weights that are left: every vector is projected onto
the unpruned coordinates before and after each product, so pruned weights stay at zero and
add no directions of their own. The loss is the mean cross-entropy over a fixed subset of
the training data, in eval mode (no dropout, batch-norm running statistics).

Memory: Lanczos keeps its ``iterations`` vectors, each the size of the model.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from agent.granger.validate.problem import Problem, Pruned, causal_and_magnitude
from agent.models import prunable_layers
from agent.pruning.base import eval_mode

HVP = Callable[[torch.Tensor], torch.Tensor]


def lanczos_top_eigenvalues(hvp: HVP, dim: int, k: int, iterations: int, seed: int,
                            projection: torch.Tensor | None = None,
                            device: torch.device | None = None) -> list[float]:
    """The ``k`` largest eigenvalues of the symmetric operator ``hvp`` on R^dim, largest first.

    ``projection`` (0/1, length ``dim``) restricts the operator to the coordinates that are
    1. With ``iterations >= dim`` the answer is exact up to rounding.
    """
    mask = torch.ones(dim, device=device) if projection is None \
        else projection.to(device=device, dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(dim, generator=generator).to(device) * mask
    basis = [q / q.norm()]
    alphas: list[float] = []
    betas: list[float] = []
    for _ in range(min(iterations, int(mask.sum()))):
        w = hvp(basis[-1] * mask) * mask
        alphas.append(float(torch.dot(w, basis[-1])))
        for _ in range(2):  # full reorthogonalisation, twice is enough (Parlett's "twice is enough")
            for v in basis:
                w -= torch.dot(w, v) * v
        beta = float(w.norm())
        if beta < 1e-8 * max(1.0, abs(alphas[-1])):
            break  # an invariant subspace: the tridiagonal matrix is exact
        betas.append(beta)
        basis.append(w / beta)
    size = len(alphas)
    tridiagonal = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    off = torch.tensor(betas[:size - 1], dtype=torch.float64)
    tridiagonal += torch.diag(off, 1) + torch.diag(off, -1)
    eigenvalues = torch.linalg.eigvalsh(tridiagonal).flip(0)
    return eigenvalues[:k].tolist()


def flatten(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def model_hvp(model: nn.Module, data: Dataset, device: torch.device) -> tuple[HVP, list[nn.Parameter]]:
    """The Hessian-vector product of the mean cross-entropy over ``data`` at ``model``."""
    params = [p for p in model.parameters() if p.requires_grad]
    inputs = torch.stack([data[i][0] for i in range(len(data))]).to(device)  # type: ignore[arg-type]
    labels = torch.tensor([int(data[i][1]) for i in range(len(data))], device=device)  # type: ignore[arg-type]
    loss = nn.functional.cross_entropy(model(inputs), labels)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    flat_grad = flatten(grads)

    def hvp(vector: torch.Tensor) -> torch.Tensor:
        products = torch.autograd.grad(flat_grad, params, grad_outputs=vector, retain_graph=True)
        return flatten(products).detach()

    return hvp, params


def keep_projection(model: nn.Module, params: Sequence[nn.Parameter]) -> torch.Tensor:
    """1 for every coordinate of ``params`` that may move, 0 for a pruned (zero) weight."""
    prunable = {id(getattr(w.module, w.param)) for w in prunable_layers(model)}
    return flatten([(p.detach() != 0).float() if id(p) in prunable else torch.ones_like(p) for p in params])


def top_eigenvalues(model: nn.Module, data: Dataset, device: torch.device, k: int, iterations: int,
                    seed: int) -> list[float]:
    """The top ``k`` Hessian eigenvalues at ``model``, pruned weights held at zero."""
    with eval_mode(model):
        hvp, params = model_hvp(model, data, device)
        projection = keep_projection(model, params)
        return lanczos_top_eigenvalues(hvp, projection.numel(), k, iterations, seed, projection, device)


@dataclass(frozen=True)
class Spectrum:
    model: str  # base, causal, magnitude
    sparsity: float
    accuracy: float
    eigenvalues: tuple[float, ...]  # largest first


@dataclass(frozen=True)
class HessianResult:
    ratio: float
    samples: int
    spectra: tuple[Spectrum, ...]

    def rows(self) -> list[dict[str, Any]]:
        return [{"kind": "spectrum", "ratio": self.ratio, "samples": self.samples, **asdict(s)}
                for s in self.spectra]


def subset(data: Dataset, samples: int, seed: int) -> Dataset:
    """The first ``samples`` items of a seeded permutation (all of them if fewer)."""
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))  # type: ignore[arg-type]
    return Subset(data, order[:samples].tolist())


def run_hessian(problem: Problem, setting: float, k: int, iterations: int, samples: int) -> HessianResult:
    """Spectra of the base model and of its causal and magnitude prunings at ``setting``."""
    seed = problem.spec.seed
    data = subset(problem.data.train, samples, seed)
    zeros = [getattr(w.module, w.param).detach() == 0 for w in prunable_layers(problem.base)]
    base = Pruned("base", 0.0, problem.base, zeros, problem.base_accuracy)
    spectra = [Spectrum(p.method, p.sparsity, p.accuracy,
                        tuple(top_eigenvalues(p.model, data, problem.device, k, iterations, seed)))
               for p in (base, *causal_and_magnitude(problem, setting, seed))]
    return HessianResult(setting, len(data), tuple(spectra))
