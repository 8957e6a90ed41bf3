"""The product's GPU path on a real CUDA device: a trial measured in a forked worker on cuda.

Skipped on machines without a GPU (CI has none); scripts/gpu-check.sh runs this and more on
a GPU machine, and docs/GPU.md records what was seen there.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from agent.runner import SweepRunner
from shared.sweep import parse_sweep
from tests.conftest import TINY_SWEEP

pytestmark = [pytest.mark.gpu, pytest.mark.slow,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU (torch.cuda.is_available() is False)")]


def test_a_fresh_worker_measures_on_cuda_with_peak_gpu_memory(tmp_path: Path, private_cache: Path) -> None:
    # The first run on an H200 failed every cuda trial here: a forked worker reset the CUDA
    # allocator's peak before CUDA was initialised ("Invalid device argument").
    data = {**TINY_SWEEP, "methods": ["l1_unstructured"], "ratios": [0.0], "devices": ["cuda"],
            "telemetry": {"gpu_profile": False}}
    runner = SweepRunner(parse_sweep(data, str(tmp_path / "s.yml")), tmp_path / "out", private_cache)
    runner.run()
    rows = list(runner.out.results.rows())
    assert [r["status"] for r in rows] == ["ok", "ok"], [r.get("error") for r in rows]
    assert all(r["device"].startswith("cuda") and r["peak_gpu_mem_mb"] > 0 for r in rows)


def _capability() -> tuple[int, int]:
    return torch.cuda.get_device_capability() if torch.cuda.is_available() else (0, 0)


needs_sparse_cores = pytest.mark.skipif(torch.cuda.is_available() and _capability() < (8, 0),
                                        reason="compute capability < 8.0: no 2:4 sparse kernels")


@needs_sparse_cores
def test_a_2_of_4_linear_on_sparse_kernels_gives_the_dense_output() -> None:
    from torch import nn

    from agent.backends.sparse24 import apply_sparse_kernels
    from agent.pruning.semi_structured import two_of_four_mask

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    with torch.no_grad():
        model[0].weight.mul_(two_of_four_mask(model[0].weight))
    x = torch.randn(64, 256)
    with torch.inference_mode():
        want = model.cuda().half()(x.cuda().half()).float()
    plan = apply_sparse_kernels(model, {"target_ratio": 0.5}, {"dtype": "float16"}, "cuda:0")
    assert plan.used and plan.layers == 1, plan.reason
    assert isinstance(model[0].weight, torch.sparse.SparseSemiStructuredTensor)
    assert "not eligible: 2 (weight not 2:4)" in plan.reason  # the head stays dense
    with torch.inference_mode():
        got = model(x.cuda().half()).float()
    assert torch.allclose(got, want, atol=1e-2, rtol=1e-2), float((got - want).abs().max())


@needs_sparse_cores
def test_a_2_of_4_variant_runs_sparse_kernels_in_its_rows(tmp_path: Path, private_cache: Path) -> None:
    # AlexNet at 32x32: its two hidden Linears (4096x1024, 4096x4096) fit every kernel's tile
    data = {**TINY_SWEEP, "models": ["alexnet"], "methods": ["semi_structured_24"], "ratios": [0.5],
            "devices": ["cuda"], "batch_sizes": [1, 64], "train": {"epochs": 1, "lr": 0.01, "batch_size": 64},
            "telemetry": {"gpu_profile": False}}
    runner = SweepRunner(parse_sweep(data, str(tmp_path / "s.yml")), tmp_path / "out", private_cache)
    runner.run()
    rows = list(runner.out.results.rows())
    assert [r["status"] for r in rows] == ["ok", "ok"], [r.get("error") for r in rows]
    assert all(r["sparse_kernel"] is True and r["sparse_kernel_layers"] == 2 for r in rows), rows[0]
    assert rows[0]["sparse_kernel_reason"].startswith("2:4 kernels (")
    assert rows[0]["accuracy_top1_device"] is not None  # the float16 sparse model evaluated as it ran
