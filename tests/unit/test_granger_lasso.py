"""The streaming lasso: Tsuruoka et al.'s cumulative L1 penalty, checked by hand and
against scikit-learn's coordinate-descent Lasso."""
from __future__ import annotations

import pytest
import torch
from sklearn.linear_model import Lasso

from agent.granger.lasso import CumulativePenaltyLasso, LassoSettings

# fixed step, no normalisation: every number below can be followed with pencil and paper
HAND = LassoSettings(alpha=0.1, lr=0.5, power_t=0.0, normalize=False)


def feed(lasso: CumulativePenaltyLasso, x: list[float], y: float) -> float:
    return float(lasso.partial_fit([torch.tensor(x)], y))


def test_cumulative_penalty_matches_a_hand_computed_case() -> None:
    lasso = CumulativePenaltyLasso((2,), 1, HAND)

    # r = 1; w = (0.5, 0.25); u = 0.05; both shrink by u + q = 0.05; q = (-0.05, -0.05)
    assert feed(lasso, [1.0, 0.5], 1.0) == pytest.approx(1.0)
    assert lasso.coef[0].tolist() == pytest.approx([0.45, 0.20])
    assert lasso._received[0].tolist() == pytest.approx([-0.05, -0.05])

    # r = -1 - 0.2 = -1.2; w1 = 0.2 - 0.6 = -0.4 crosses zero; u = 0.1
    # w0 > 0: max(0, 0.45 - (0.1 - 0.05)) = 0.40;  w1 < 0: min(0, -0.4 + (0.1 + 0.05)) = -0.25
    assert feed(lasso, [0.0, 1.0], -1.0) == pytest.approx(-1.2)
    assert lasso.coef[0].tolist() == pytest.approx([0.40, -0.25])
    assert lasso._received[0].tolist() == pytest.approx([-0.10, 0.10])
    assert lasso.penalty == pytest.approx(0.1)


def test_a_clipped_coefficient_is_charged_later_what_it_still_owes() -> None:
    lasso = CumulativePenaltyLasso((1,), 1, LassoSettings(alpha=0.5, lr=1.0, power_t=0.0, normalize=False))

    feed(lasso, [1.0], 0.1)  # w = 0.1, u = 0.5: clipped at 0 (never across), having received 0.1
    assert lasso.coef[0].item() == 0.0
    assert lasso._received[0].item() == pytest.approx(-0.1)

    feed(lasso, [1.0], 1.0)  # w = 1.0, u = 1.0: owes u - 0.1 = 0.9, not just this step's 0.5
    assert lasso.coef[0].item() == pytest.approx(0.1)
    assert lasso._received[0].item() == pytest.approx(-1.0)


def test_a_coefficient_at_zero_receives_no_penalty() -> None:
    lasso = CumulativePenaltyLasso((2,), 1, HAND)
    feed(lasso, [1.0, 0.0], 1.0)
    assert lasso.coef[0][1].item() == 0.0 and lasso._received[0][1].item() == 0.0


def test_features_that_never_move_leave_their_coefficients_at_zero() -> None:
    lasso = CumulativePenaltyLasso((3,), 1, LassoSettings(alpha=0.0))  # normalised step
    for _ in range(5):
        feed(lasso, [0.0, 0.0, 0.0], 1.0)  # nothing to learn: no step, no penalty, no NaN
    assert lasso.coef[0].tolist() == [0.0, 0.0, 0.0] and lasso.penalty == 0.0
    for y in (1.0, -0.5, 2.0):
        feed(lasso, [1.0, 0.0, 2.0], y)
    assert lasso.coef[0][1].item() == 0.0
    assert lasso.coef[0][0].item() != 0.0 and lasso.coef[0][2].item() != 0.0


def test_blocks_are_one_regression() -> None:
    """Two blocks fit as one: the residual is over both, so the second sample's prediction
    is the sum of all four coefficients."""
    lasso = CumulativePenaltyLasso((2,), 2, LassoSettings(alpha=0.0, lr=0.5, power_t=0.0, normalize=False))
    ones = [torch.ones(2), torch.ones(2)]
    assert float(lasso.partial_fit([x.clone() for x in ones], 1.0)) == 1.0
    expected = sum(c.sum().item() for c in lasso.coef)  # 4 * 0.5
    assert float(lasso.partial_fit([x.clone() for x in ones], 0.0)) == pytest.approx(-expected)


def test_chunks_give_the_same_fit_as_one_piece() -> None:
    """A layer too big for one scratch chunk is fitted in chunks: the same numbers."""
    generator = torch.Generator().manual_seed(0)
    whole = CumulativePenaltyLasso((10,), 3, LassoSettings(alpha=0.05))
    chunked = CumulativePenaltyLasso((10,), 3, LassoSettings(alpha=0.05), chunk=3)
    visited: list[slice] = []
    for _ in range(20):
        features = [torch.rand(10, generator=generator) for _ in range(3)]
        target = float(torch.randn(1, generator=generator))
        whole.partial_fit([x.clone() for x in features], target)
        chunked.partial_fit_chunks(lambda at, xs=features: [x[at].clone() for x in xs], target,
                                   after_chunk=visited.append)
    for a, b in zip(whole.coef, chunked.coef, strict=True):
        torch.testing.assert_close(a, b)
    assert visited[:4] == [slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 10)]


def test_many_passes_converge_to_scikit_learns_lasso() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(100, 6, generator=generator)
    y = x @ torch.tensor([2.0, -1.0, 0.0, 0.0, 0.5, 0.0]) + 0.01 * torch.randn(100, generator=generator)
    alpha = 0.02
    expected = Lasso(alpha=alpha, fit_intercept=False).fit(x.numpy(), y.numpy()).coef_

    lasso = CumulativePenaltyLasso((6,), 1, LassoSettings(alpha=alpha, lr=0.1, power_t=0.25, normalize=False))
    for _ in range(60):
        for i in torch.randperm(100, generator=generator).tolist():
            lasso.partial_fit([x[i].clone()], y[i])

    assert lasso.coef[0].tolist() == pytest.approx(expected.tolist(), abs=0.01)
    assert [c == 0 for c in lasso.coef[0].tolist()] == [c == 0 for c in expected.tolist()]


@pytest.mark.parametrize("settings", [dict(alpha=-1.0), dict(alpha=0.1, lr=0.0), dict(alpha=0.1, power_t=-1.0)])
def test_bad_settings_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LassoSettings(**settings)
