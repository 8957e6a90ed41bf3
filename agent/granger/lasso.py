"""A lasso fitted one sample at a time: SGD with the cumulative L1 penalty.

The objective is scikit-learn's ``Lasso``'s::

    1/(2T) * sum_t (y_t - gamma . x_t)^2  +  alpha * |gamma|_1

Plain SGD with an L1 subgradient almost never lands a coefficient on exactly zero, and
truncating at zero after every step (Langford et al.'s truncated gradient) zeroes too few
when the steps are noisy. Tsuruoka, Tsujii and Ananiadou (2009) keep, for every coefficient
``k``, the total penalty ``q_k`` it has actually received, next to ``u``, the total penalty
any coefficient could have received so far; after each gradient step a coefficient is
pulled towards zero by what it is still owed (``u - |q_k|``), never across it. Coefficients
whose data keep them near zero end up exactly zero; that is what the pruning reads.

Memory is the coefficients and the penalties received, two tensors the size of the
features. A sample's features may be handed over in chunks (computed on demand, used as
scratch space), so that a layer of millions of weights never needs a full-size temporary;
nothing grows with the number of samples.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

CHUNK = 1 << 20  # features handled at once: 4 MB of float32 scratch, whatever the layer

FeaturesOf = Callable[[slice], Sequence[torch.Tensor]]
"""``features_of(positions)``: each block's features at those flat positions, as new
tensors (or views) that the lasso may overwrite."""


@dataclass(frozen=True)
class LassoSettings:
    """How the lasso is fitted.

    Step ``t`` (from 0) has the learning rate ``eta_t = lr / (t + 1) ** power_t``
    (scikit-learn's ``invscaling``). With ``normalize`` it is also divided by the running
    mean of ``|x_t|^2``, as in normalised LMS: each step then removes about ``lr`` of the
    residual whatever the number and the size of the features, so one ``lr`` suits a layer of
    150 weights and one of 2 million; it must stay below 2 for stability.
    """

    alpha: float
    lr: float = 0.1
    power_t: float = 0.25
    normalize: bool = True

    def __post_init__(self) -> None:
        if self.alpha < 0 or self.lr <= 0 or self.power_t < 0:
            raise ValueError(f"invalid lasso settings {self}")


class CumulativePenaltyLasso:
    """``y = sum_b coef[b] . x[b]``: one regression over ``blocks`` blocks of features of one
    shape (one block a layer's ``(dtheta)^2``; three for the momentum variant).

    Call :meth:`partial_fit` (or :meth:`partial_fit_chunks`) once a sample, in any order, as
    often as wanted.
    """

    def __init__(self, shape: torch.Size | tuple[int, ...], blocks: int, settings: LassoSettings,
                 device: torch.device | str | None = None, chunk: int = CHUNK) -> None:
        self.settings = settings
        self.coef = [torch.zeros(shape, device=device) for _ in range(blocks)]
        self._received = [torch.zeros(shape, device=device) for _ in range(blocks)]  # q_k
        size = self.coef[0].numel()
        self._chunks = [slice(start, min(start + chunk, size)) for start in range(0, size, chunk)] or [slice(0, 0)]
        # running totals as tensors, so that no step waits for the device
        self._penalty = torch.zeros((), dtype=torch.float64, device=device)  # u
        self._sq_norm_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.samples = 0

    @property
    def penalty(self) -> float:
        """``u``: the total L1 penalty a coefficient could have received so far."""
        return float(self._penalty)

    def partial_fit(self, features: Sequence[torch.Tensor], target: torch.Tensor | float) -> torch.Tensor:
        """One sample whose features (one tensor a block, float32, shaped like the
        coefficients) are at hand; they are overwritten (scratch). Returns the residual."""
        return self.partial_fit_chunks(lambda positions: [x.view(-1)[positions] for x in features], target)

    def partial_fit_chunks(self, features_of: FeaturesOf, target: torch.Tensor | float,
                           after_chunk: Callable[[slice], None] | None = None) -> torch.Tensor:
        """One SGD step on one sample, then the cumulative penalty; returns the residual.

        The features are asked for chunk by chunk, twice when there are several chunks (the
        prediction needs all of them before any coefficient may move). ``after_chunk(positions)``
        runs once a chunk is done with.
        """
        single = len(self._chunks) == 1
        prediction = torch.zeros((), device=self.coef[0].device)
        sq_norm = torch.zeros((), dtype=torch.float64, device=self.coef[0].device)
        kept: Sequence[torch.Tensor] = ()
        for positions in self._chunks:
            x = features_of(positions)
            for coef, xb in zip(self.coef, x, strict=True):
                prediction += torch.dot(coef.view(-1)[positions], xb)
                sq_norm += torch.dot(xb, xb).double()
            kept = x if single else ()
        eta = self._learning_rate(sq_norm)
        residual = target - prediction
        step = (eta * residual).to(self.coef[0].dtype)
        self._penalty += eta * self.settings.alpha
        penalty = self._penalty.to(self.coef[0].dtype)
        for positions in self._chunks:
            x = kept if single else features_of(positions)
            for coef, received, xb in zip(self.coef, self._received, x, strict=True):
                c, q = coef.view(-1)[positions], received.view(-1)[positions]
                c.addcmul_(xb, step)  # the squared loss's gradient step: gamma += eta * r * x
                self._apply_penalty(c, q, penalty, scratch=xb)
            if after_chunk is not None:
                after_chunk(positions)
        return residual

    def _learning_rate(self, sq_norm: torch.Tensor) -> torch.Tensor:
        self.samples += 1
        eta = torch.full((), self.settings.lr / self.samples ** self.settings.power_t,
                         dtype=torch.float64, device=self._penalty.device)
        if not self.settings.normalize:
            return eta
        self._sq_norm_sum += sq_norm
        mean_sq_norm = self._sq_norm_sum / self.samples
        # all-zero features so far: nothing to learn, and no penalty either
        return torch.where(mean_sq_norm > 0, eta / mean_sq_norm.clamp_min(1e-300), 0.0)

    @staticmethod
    def _apply_penalty(coef: torch.Tensor, received: torch.Tensor, penalty: torch.Tensor,
                       scratch: torch.Tensor) -> None:
        """Tsuruoka et al.'s ApplyPenalty for every coefficient at once, in place::

            w > 0:  w <- max(0, w - (u + q))        w < 0:  w <- min(0, w + (u - q))
            q <- q + (w_new - w_old)

        Written as ``w <- s * max(0, s * (w - s*u - q))`` with ``s = sign(w_old)``, so that
        the only temporary is ``s``, kept in ``scratch``.
        """
        sign = torch.sign(coef, out=scratch)
        received.sub_(coef)  # q - w_old
        coef.copy_(received).neg_()  # w_old - q
        coef.addcmul_(sign, penalty, value=-1)  # w_old - s*u - q
        coef.mul_(sign).clamp_(min=0).mul_(sign)
        received.add_(coef)  # q + w_new - w_old
