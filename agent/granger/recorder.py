"""Every SGD step of the network turned into one lasso sample per layer, as it happens.

The paper's model for one layer, for plain SGD::

    dL_t = sum_k gamma_k (dtheta_{t,k})^2                                    (eq. 7)

and for SGD with momentum (its appendix A), three features a weight::

    dL_t = sum_k g0_k (dtheta_{t,k})^2 + g1_k (dtheta_{t-1,k})^2 + g2_k dtheta_{t,k} dtheta_{t-1,k}

How features and targets are scaled (docs/GRANGER_PRUNING.md says why): a layer's
``dtheta`` is divided by its running root mean square ``s_l`` (over the layer's weights and
the steps so far), so every layer's features have mean about 1 whatever its size, its
learning rate and its gradient scale; the loss change is divided by its own running root
mean square. With the lasso's normalised step (``LassoSettings.normalize``) the L1
coefficient is then a threshold on a correlation of unit-free numbers, the same for a
150-weight conv and a 2-million-weight linear layer.

Memory, per layer: the lasso's coefficients and penalties and, for the momentum variant,
the previous step's ``dtheta``; features are made a chunk at a time from the optimiser's
own tensors. Nothing grows with the number of steps unless a
:class:`~agent.granger.store.DeltaStore` is given for fits of several passes.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from agent.granger.lasso import CHUNK, CumulativePenaltyLasso, LassoSettings
from agent.granger.store import DeltaStore


class RunningMeanSquare:
    """The mean of the squares of everything seen so far (a 0-d tensor, never synced)."""

    def __init__(self, device: torch.device) -> None:
        self._sum = torch.zeros((), dtype=torch.float64, device=device)
        self._count = 0

    def add(self, sum_of_squares: torch.Tensor, count: int) -> None:
        self._sum += sum_of_squares.double()
        self._count += count

    @property
    def value(self) -> torch.Tensor:
        """The mean so far; 1 while it is still 0, so that dividing by it is harmless."""
        mean = self._sum / max(1, self._count)
        return torch.where(mean > 0, mean, 1.0).float()


def sum_of_squares(tensor: torch.Tensor) -> torch.Tensor:
    flat = tensor.reshape(-1)
    return torch.dot(flat, flat)


class LayerRegression:
    """One layer's lasso, with the scale of its ``dtheta`` and, for momentum, the last step."""

    def __init__(self, shape: torch.Size, settings: LassoSettings, momentum: bool,
                 device: torch.device, chunk: int = CHUNK) -> None:
        self.lasso = CumulativePenaltyLasso(shape, 3 if momentum else 1, settings, device, chunk)
        self.momentum = momentum
        self.scale = RunningMeanSquare(device)  # of dtheta: the features' unit
        self.previous: torch.Tensor | None = None  # momentum only: dtheta of the step before, flat

    def observe(self, direction: torch.Tensor, factor: float, target: torch.Tensor,
                unit: torch.Tensor | None = None) -> None:
        """Feed one step, ``dtheta = factor * direction`` (``direction`` is only read).

        ``unit`` (the mean square of ``dtheta``) defaults to the running one, which this
        step updates; a replay passes the final one.
        """
        flat = direction.reshape(-1)
        if unit is None:
            self.scale.add(sum_of_squares(flat) * factor ** 2, flat.numel())
            unit = self.scale.value
        if not self.momentum:
            weight = factor ** 2 / unit  # x = dtheta^2 / unit
            self.lasso.partial_fit_chunks(lambda at: [flat[at].square().mul_(weight)], target)
            return
        if self.previous is None:  # appendix A starts at t = 2: the first step only becomes "previous"
            self.previous = flat.mul(factor)
            return
        previous = self.previous

        def features(at: slice) -> list[torch.Tensor]:
            delta = flat[at].mul(factor)
            cross = delta * previous[at]
            return [delta.square_().div_(unit), previous[at].square().div_(unit), cross.div_(unit)]

        def remember(at: slice) -> None:
            torch.mul(flat[at], factor, out=previous[at])

        self.lasso.partial_fit_chunks(features, target, after_chunk=remember)

    def forget_previous(self) -> None:
        """Start a new run of consecutive steps (a replay reads steps out of order)."""
        self.previous = None

    def take_importance(self) -> torch.Tensor:
        """Per weight, ``|gamma|`` in a unit that is the same for every layer (the largest of
        its three with momentum), made in place of the coefficients: the fit is over.

        The lasso's ``gamma`` is on the scaled problem: raw ``gamma = gamma_scaled * s_L / u_l``
        (``s_L`` the loss change's scale, ``u_l`` the layer's mean square ``dtheta``). And each
        layer's regression explains the whole loss change alone, which inflates raw ``gamma``
        by ``S / S_l``, the network's squared step over the layer's (``S_l = d_l * u_l``, ``d_l``
        the layer's weights). Undoing both leaves ``|gamma_scaled| * d_l``, up to a factor
        common to all layers: under the paper's model of plain gradient descent (every
        ``gamma = -1/lr``) every weight of every layer would score the same.
        """
        best = self.lasso.coef[0].abs_()
        for coef in self.lasso.coef[1:]:
            torch.maximum(best, coef.abs_(), out=best)
        return best.mul_(best.numel())

    def zero(self) -> torch.Tensor:
        """Where every coefficient of a weight is exactly zero (the paper's pruning rule)."""
        zero = self.lasso.coef[0] == 0
        for coef in self.lasso.coef[1:]:
            zero &= coef == 0
        return zero


class GrangerRecorder:
    """One :class:`LayerRegression` a pruned layer, fed every step while training runs.

    With a ``store``, every step is also written to disk and :meth:`replay` runs further
    passes over them (in a seeded order, with the final scales).
    """

    def __init__(self, shapes: Sequence[torch.Size], settings: LassoSettings, momentum: bool,
                 device: torch.device, store: DeltaStore | None = None, chunk: int = CHUNK) -> None:
        self.layers = [LayerRegression(shape, settings, momentum, device, chunk) for shape in shapes]
        self.momentum = momentum
        self.target_scale = RunningMeanSquare(device)
        self.store = store
        self._loss_changes: list[torch.Tensor] = []  # only with a store: one number a step
        self.steps = 0

    def observe(self, directions: list[torch.Tensor], factor: float, loss_change: torch.Tensor) -> None:
        """One SGD step: layer ``i`` moved by ``factor * directions[i]`` (read, never written),
        and the loss changed by ``loss_change``."""
        if self.store is not None:
            self.store.append(directions, factor)
            self._loss_changes.append(loss_change.detach().double())
        loss_change = torch.nan_to_num(loss_change.detach().double())  # a diverged step says nothing
        self.target_scale.add(loss_change * loss_change, 1)
        target = loss_change / self.target_scale.value.double().sqrt()
        for layer, direction in zip(self.layers, directions, strict=True):
            layer.observe(direction, factor, target)
        self.steps += 1

    def replay(self, passes: int, seed: int) -> None:
        """``passes`` more passes over the stored steps, one layer read at a time; needs a store."""
        if passes <= 0:
            return
        if self.store is None:
            raise ValueError("replaying needs the steps on disk: give the recorder a store")
        units = [layer.scale.value for layer in self.layers]
        target_unit = self.target_scale.value.double().sqrt()
        first = 1 if self.momentum else 0  # a momentum sample needs the step before it
        generator = torch.Generator().manual_seed(seed)
        for _ in range(passes):
            for row in (torch.randperm(self.steps - first, generator=generator) + first).tolist():
                target = torch.nan_to_num(self._loss_changes[row]) / target_unit
                for index, (layer, unit) in enumerate(zip(self.layers, units, strict=True)):
                    if self.momentum:
                        layer.forget_previous()
                        layer.observe(self.store.read(row - 1, index), 1.0, target, unit)  # "previous" only
                    layer.observe(self.store.read(row, index), 1.0, target, unit)

    def take_importance(self) -> list[torch.Tensor]:
        """Per layer, per weight: ``|gamma|`` comparable across layers (see LayerRegression).
        Consumes the recorder: its memory becomes the scores."""
        scores = [layer.take_importance() for layer in self.layers]
        self.layers = []
        return scores

    def zero(self) -> list[torch.Tensor]:
        """Per layer, per weight: whether all its coefficients are exactly zero."""
        return [layer.zero() for layer in self.layers]
