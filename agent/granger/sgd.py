"""The pruning epochs: SGD (plain, or with momentum) whose every step is handed to an observer.

The paper records ``(theta_t, L_t)`` after every gradient step. Here nothing is kept:
each step's ``dtheta`` of the pruned weights and the loss change go to ``observe`` at once.

``dtheta`` comes from the update itself (``-lr * grad``, or ``-lr * velocity`` with
momentum), exactly what the step added, so no copy of the previous weights is needed.

The loss change (``loss_change``):

``same_batch``   ``L_B(theta_t) - L_B(theta_{t-1})`` on the batch ``B`` that made the step:
                 one more forward pass (no gradient) a step, with the same dropout draws
                 and batch-norm statistics left as they were, so the change is the step's
                 effect and not the difference between two batches.
``consecutive``  ``L_t - L_{t-1}``, the training losses of two successive steps, paired with
                 the ``dtheta`` between them: free, but mostly the noise of the batches.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

Observer = Callable[[list[torch.Tensor], float, torch.Tensor], None]
"""``observe(directions, factor, loss_change)``: weight ``i`` moved by ``factor * directions[i]``.
The directions are the optimiser's own tensors (gradients or velocities), to be read during
the call only: nothing the size of the model is copied to report a step."""
LOSS_CHANGES = ("same_batch", "consecutive")


@dataclass(frozen=True)
class SGDSettings:
    """The optimiser of the pruning epochs (the paper: plain SGD, lr 1e-3, no weight decay)."""

    lr: float = 1e-3
    momentum: float = 0.0
    batch_size: int = 16
    loss_change: str = "same_batch"

    def __post_init__(self) -> None:
        if self.loss_change not in LOSS_CHANGES:
            raise ValueError(f"loss_change must be one of {LOSS_CHANGES}, got {self.loss_change!r}")


class SGD:
    """``theta -= lr * v`` with ``v = momentum * v + grad`` (PyTorch's SGD without dampening).

    Written out so that the direction of every step is at hand for ``dtheta``. Entries that
    ``frozen`` marks (True) get no gradient, so a pruned weight stays exactly where it is.
    """

    def __init__(self, params: list[nn.Parameter], lr: float, momentum: float,
                 frozen: Mapping[nn.Parameter, torch.Tensor] | None = None) -> None:
        self.params = params
        self.lr = lr
        self.momentum = momentum
        self.frozen = dict(frozen or {})
        self.velocity: dict[nn.Parameter, torch.Tensor] = {}

    @torch.no_grad()
    def step(self) -> dict[nn.Parameter, torch.Tensor]:
        """Update every parameter that has a gradient; returns each one's direction ``v``."""
        directions = {}
        for param in self.params:
            if param.grad is None:
                continue
            if param in self.frozen:
                param.grad.masked_fill_(self.frozen[param], 0.0)
            direction = param.grad
            if self.momentum:
                velocity = self.velocity.get(param)
                if velocity is None:
                    velocity = self.velocity[param] = param.grad.clone()
                else:
                    velocity.mul_(self.momentum).add_(param.grad)
                direction = velocity
            param.add_(direction, alpha=-self.lr)
            directions[param] = direction
        return directions


def batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextmanager
def untouched_statistics(norms: list[nn.modules.batchnorm._BatchNorm]) -> Iterator[None]:
    """Let a forward pass in train mode run without moving batch-norm running statistics."""
    saved = [(buffer, buffer.clone()) for norm in norms for buffer in norm.buffers()]
    try:
        yield
    finally:
        for buffer, value in saved:
            buffer.copy_(value)


@contextmanager
def replayed_randomness(device: torch.device, state: tuple[torch.Tensor, torch.Tensor | None]) -> Iterator[None]:
    """Run the block with the RNG as ``state`` was (same dropout masks), then restore it."""
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.set_rng_state(state[0])
        if state[1] is not None:
            torch.cuda.set_rng_state(state[1], device)
        yield


def rng_state(device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def loader(data: Dataset, batch_size: int, seed: int) -> DataLoader:
    return DataLoader(data, batch_size=batch_size, shuffle=True, num_workers=0,
                      generator=torch.Generator().manual_seed(seed))


def train_recorded(model: nn.Module, weights: list[nn.Parameter], data: Dataset, epochs: int,
                   settings: SGDSettings, seed: int, device: torch.device, observe: Observer | None,
                   frozen: Mapping[nn.Parameter, torch.Tensor] | None = None) -> int:
    """Train ``model`` for ``epochs`` epochs and hand every step of ``weights`` to ``observe``.

    ``observe`` (see :data:`Observer`) is called once a step. With ``observe=None`` this is
    the same SGD without the recording (the baseline of benchmark P5). ``frozen`` (True where
    a weight is pruned) holds those entries still. Epoch ``e`` shuffles with ``seed + e``.
    Returns the steps made; the gradients are freed at the end.
    """
    model.train()
    sgd = SGD([p for p in model.parameters() if p.requires_grad], settings.lr, settings.momentum, frozen)
    step = _RecordedStep(model, weights, sgd, settings, device, observe)
    steps = 0
    for epoch in range(epochs):
        for inputs, labels in loader(data, settings.batch_size, seed + epoch):
            step(inputs.to(device), labels.to(device))
            steps += 1
    model.zero_grad(set_to_none=True)  # a model's worth of memory the pruning can use
    return steps


class _RecordedStep:
    """One SGD step and what ``observe`` is told about it."""

    def __init__(self, model: nn.Module, weights: list[nn.Parameter], sgd: SGD, settings: SGDSettings,
                 device: torch.device, observe: Observer | None) -> None:
        self.model, self.weights, self.sgd, self.settings = model, weights, sgd, settings
        self.device, self.observe = device, observe
        self.norms = batch_norms(model)
        self.loss_fn = nn.CrossEntropyLoss()
        self.same_batch = observe is not None and settings.loss_change == "same_batch"
        self.pending: tuple[list[torch.Tensor], torch.Tensor] | None = None  # consecutive only

    def __call__(self, inputs: torch.Tensor, labels: torch.Tensor) -> None:
        state = rng_state(self.device) if self.same_batch else None
        loss = self.loss_fn(self.model(inputs), labels)
        self.model.zero_grad(set_to_none=True)
        loss.backward()
        directions = self.sgd.step()
        if self.observe is None:
            return
        moved = [directions[w] if w in directions else torch.zeros_like(w) for w in self.weights]
        if state is not None:
            with torch.no_grad(), untouched_statistics(self.norms), replayed_randomness(self.device, state):
                after = self.loss_fn(self.model(inputs), labels)
            self.observe(moved, -self.sgd.lr, after - loss.detach())
            return
        # consecutive: L_t - L_{t-1} is what the step before this one did (plus batch noise);
        # that step's directions are gone by now, hence the copies
        if self.pending is not None:
            self.observe(self.pending[0], 1.0, loss.detach() - self.pending[1])
        self.pending = ([d.mul(-self.sgd.lr) for d in moved], loss.detach())
