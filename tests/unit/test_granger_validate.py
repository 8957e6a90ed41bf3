"""The validations' arithmetic: the overlap matrix, the sharpness of a curve, Lanczos."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from agent.granger.validate.hessian import flatten, lanczos_top_eigenvalues, model_hvp
from agent.granger.validate.mask_overlap import overlap
from agent.granger.validate.phase_shift import CurvePoint, mean_curve, transition
from agent.data import LabelledTensors


def test_the_overlap_matrix_counts_each_cell() -> None:
    causal = [torch.tensor([True, True, False, False]), torch.tensor([[True, False], [False, False]])]
    magnitude = [torch.tensor([True, False, True, False]), torch.tensor([[True, True], [False, False]])]
    result = overlap(causal, magnitude)
    # 8 weights: both prune 2, causal only 1, magnitude only 2, neither 3
    assert result.matrix == [[2 / 8, 1 / 8], [2 / 8, 3 / 8]]
    assert result.jaccard == pytest.approx(2 / 5)
    assert overlap(causal, causal).jaccard == 1.0


def test_masks_over_different_weights_are_refused() -> None:
    with pytest.raises(ValueError, match="different weights"):
        overlap([torch.ones(3, dtype=torch.bool)], [torch.ones(4, dtype=torch.bool)])


def test_sharpness_is_the_steepest_drop_per_percentage_point() -> None:
    curve = [(0.5, 0.95), (0.9, 0.94), (0.95, 0.90), (0.97, 0.50)]
    t = transition("causal", curve)
    assert t.sharpness == pytest.approx((0.90 - 0.50) / 2 * 100)  # 40 points over 2 pruned points
    assert (t.steepest_from, t.steepest_to) == (0.95, 0.97)
    assert t.total_drop == pytest.approx(0.45) and t.drop_share == pytest.approx(0.40 / 0.45)


def test_a_flat_curve_has_no_sharpness_and_repeated_sparsities_are_skipped() -> None:
    assert transition("m", [(0.5, 0.9), (0.5, 0.1), (0.9, 0.9)]).sharpness == 0.0


def test_the_mean_curve_averages_repeats_and_sorts_by_sparsity() -> None:
    points = [CurvePoint("m", 0.9, r, 0.9, acc) for r, acc in enumerate((0.8, 0.6))]
    points.append(CurvePoint("m", 0.5, 0, 0.5, 0.95))
    assert mean_curve(points) == [(0.5, 0.95), (0.9, pytest.approx(0.7))]


def spd_matrix(n: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator, dtype=torch.float64)
    return (a @ a.T / n).float()


def test_lanczos_finds_the_exact_top_eigenvalues() -> None:
    matrix = spd_matrix(12)
    expected = torch.linalg.eigvalsh(matrix.double()).flip(0)[:4].tolist()
    found = lanczos_top_eigenvalues(lambda v: matrix @ v, 12, 4, iterations=12, seed=0)
    assert found == pytest.approx(expected, rel=1e-4)


def test_lanczos_restricted_to_unpruned_coordinates_sees_the_principal_submatrix() -> None:
    matrix = spd_matrix(12)
    keep = torch.tensor([1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0], dtype=torch.float32)
    index = keep.nonzero().flatten()
    expected = torch.linalg.eigvalsh(matrix[index][:, index].double()).flip(0)[:3].tolist()
    found = lanczos_top_eigenvalues(lambda v: matrix @ v, 12, 3, iterations=12, seed=0, projection=keep)
    assert found == pytest.approx(expected, rel=1e-4)


def test_the_model_hessian_vector_product_is_the_dense_hessian() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    data = LabelledTensors(torch.randn(16, 3), torch.randint(0, 2, (16,)))
    hvp, params = model_hvp(model, data, torch.device("cpu"))
    shapes = [p.shape for p in params]

    def loss(*flat_params: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(model, {n: p for (n, _), p in zip(model.named_parameters(), flat_params)},
                                         (data.tensors[0],))
        return nn.functional.cross_entropy(out, data.tensors[1])

    blocks = torch.autograd.functional.hessian(loss, tuple(p.detach() for p in params))
    dense = torch.cat([torch.cat([blocks[i][j].reshape(shapes[i].numel(), shapes[j].numel())
                                  for j in range(len(params))], dim=1) for i in range(len(params))])
    vector = torch.randn(dense.shape[0])
    torch.testing.assert_close(hvp(vector), dense @ vector, rtol=1e-4, atol=1e-5)
    assert flatten([p.detach() for p in params]).numel() == dense.shape[0]
