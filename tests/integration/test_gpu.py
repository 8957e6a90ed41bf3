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
