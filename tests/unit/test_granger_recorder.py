"""Features and targets of the per-layer regressions, the momentum variant's rule, and the
bounded float16 store."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from agent.granger.lasso import LassoSettings
from agent.granger.recorder import GrangerRecorder, LayerRegression
from agent.granger.store import DeltaStore, StoreFull, store_bytes

SHAPES = [torch.Size((4, 3)), torch.Size((5,))]
CPU = torch.device("cpu")


def steps(count: int = 40, seed: int = 0) -> list[tuple[list[torch.Tensor], torch.Tensor]]:
    """Random steps whose loss change depends on a few weights only (weight 0 of each layer
    never moves)."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        deltas = [torch.randn(shape, generator=generator) for shape in SHAPES]
        for delta in deltas:
            delta.view(-1)[0] = 0.0
        change = -(deltas[0][1, 1] ** 2 + 3 * deltas[1][2] ** 2) + 0.01 * torch.randn((), generator=generator)
        out.append((deltas, change))
    return out


def fit(data: list[tuple[list[torch.Tensor], torch.Tensor]], scales: tuple[float, float, float] = (1, 1, 1),
        momentum: bool = False, alpha: float = 0.05) -> GrangerRecorder:
    recorder = GrangerRecorder(SHAPES, LassoSettings(alpha=alpha), momentum, CPU)
    for deltas, change in data:
        recorder.observe([deltas[0] * scales[0], deltas[1] * scales[1]], 1.0, change * scales[2])
    return recorder


def test_weights_that_never_move_get_zero_coefficients() -> None:
    recorder = fit(steps(), alpha=0.0)
    zero = recorder.zero()
    assert bool(zero[0].view(-1)[0]) and bool(zero[1][0])
    assert int(zero[0].sum()) == 1 and int(zero[1].sum()) == 1  # alpha 0: every moving weight kept


def test_the_weights_that_drive_the_loss_score_highest() -> None:
    importance = fit(steps(1000)).take_importance()  # a streaming fit needs its samples
    for scores, driver in zip(importance, (1 * 3 + 1, 2), strict=True):
        others = torch.cat([scores.view(-1)[:driver], scores.view(-1)[driver + 1:]])
        assert scores.view(-1)[driver] > 2 * others.median()
        assert int(scores.argmax()) == driver


def test_the_l1_coefficient_does_not_care_about_layer_or_loss_scales() -> None:
    """The scaling makes the fit the same whatever the size of each layer's steps and of the
    loss: what lets one l1_coeff serve every layer."""
    data = steps()
    plain, rescaled = fit(data), fit(data, scales=(1e-4, 1e3, 1e-6))
    for a, b in zip(plain.zero(), rescaled.zero(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(plain.take_importance(), rescaled.take_importance(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-6)


def test_a_larger_l1_coefficient_zeroes_more() -> None:
    data = steps()
    zeros = [sum(int(z.sum()) for z in fit(data, alpha=alpha).zero()) for alpha in (0.0, 0.05, 0.5, 5.0)]
    assert zeros == sorted(zeros) and zeros[0] < zeros[-1]


def test_momentum_prunes_only_where_all_three_coefficients_are_zero() -> None:
    layer = LayerRegression(torch.Size((3,)), LassoSettings(alpha=0.0), momentum=True, device=CPU)
    assert layer.zero().tolist() == [True, True, True]
    layer.lasso.coef[1][1] = 0.3  # weight 1: only its (dtheta_{t-1})^2 coefficient is nonzero
    layer.lasso.coef[2][2] = -0.1  # weight 2: only its cross term
    assert layer.zero().tolist() == [True, False, False]


def test_momentum_starts_at_the_second_step() -> None:
    recorder = fit(steps(3), momentum=True)
    assert recorder.steps == 3
    assert [layer.lasso.samples for layer in recorder.layers] == [2, 2]
    assert all(len(layer.lasso.coef) == 3 for layer in recorder.layers)


def test_replaying_needs_a_store() -> None:
    with pytest.raises(ValueError, match="store"):
        fit(steps(2)).replay(1, seed=0)


@pytest.mark.parametrize("momentum", [False, True])
def test_a_replay_runs_more_passes_over_the_stored_steps(tmp_path: Path, momentum: bool) -> None:
    data = steps(10)
    with DeltaStore(SHAPES, 1 << 20, folder=tmp_path) as store:
        recorder = GrangerRecorder(SHAPES, LassoSettings(alpha=0.05), momentum, CPU, store)
        for deltas, change in data:
            recorder.observe(deltas, -2.0, change)
        first = recorder.layers[0].lasso.samples
        recorder.replay(2, seed=0)
        assert recorder.layers[0].lasso.samples == 3 * first
    assert not any(tmp_path.iterdir())  # the store's folder is gone


# --- the store ---

def test_the_store_gives_back_tiny_steps_that_raw_float16_would_lose(tmp_path: Path) -> None:
    deltas = [torch.full((4, 3), 1e-9), torch.linspace(-3e-6, 5e-6, 5)]
    assert not torch.tensor(1e-9).half().item()  # what storing raw dtheta would do
    with DeltaStore(SHAPES, 1 << 10, folder=tmp_path, chunk=4) as store:
        store.append([d / -1e-3 for d in deltas], -1e-3)  # dtheta = -lr * gradient
        back = [store.read(0, layer) for layer in range(2)]
    for a, b in zip(deltas, back, strict=True):
        torch.testing.assert_close(b, a, rtol=2e-3, atol=0.0)


def test_the_store_is_bounded_and_cleaned_up(tmp_path: Path) -> None:
    row = [torch.ones(4, 3), torch.ones(5)]
    store = DeltaStore(SHAPES, store_bytes(2, 17), folder=tmp_path)
    store.append(row)
    store.append(row)
    with pytest.raises(StoreFull):
        store.append(row)
    assert store.bytes_written == store_bytes(2, 17) and store.rows == 2
    store.close()
    store.close()  # idempotent
    assert not any(tmp_path.iterdir())


def test_the_store_is_deleted_when_the_fit_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), DeltaStore(SHAPES, 1 << 10, folder=tmp_path) as store:
        store.append([torch.ones(4, 3), torch.ones(5)])
        raise RuntimeError("boom")
    assert not any(tmp_path.iterdir())
