"""semi_structured_24 on real models: the 2:4 pattern in every Linear and conv, held while
fine-tuning, refused where its options prune nothing, and measured by both backends with the
row saying why no sparse kernel ran (this machine has no GPU: tests/integration/test_gpu.py
and scripts/gpu_check.py run the kernels where there is one)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from agent.artifacts import ArtifactStore
from agent.backends.sparse24 import apply_sparse_kernels, why_not_eligible
from agent.pruning.semi_structured import gemm_rows, is_two_of_four, two_of_four_mask
from agent.runner import ArtifactBuilder, SweepRunner
from shared.errors import UserError
from shared.sweep import parse_sweep
from tests.conftest import TINY_SWEEP
from tests.integration.test_pruning import prune, subject, zero_masks

METHOD = "semi_structured_24"


def expected_zeros(weight: torch.Tensor) -> int:
    """2 of every full group of 4 along the GEMM's input dimension; a short last group of r
    weights counts its 4 - r padding as zeros, so it loses max(0, r - 2)."""
    out, k = gemm_rows(weight).shape
    return out * (k // 4 * 2 + max(0, k % 4 - 2))


@pytest.mark.parametrize("name", ["lenet5", "resnet18"])
def test_every_linear_and_conv_is_exactly_2_of_4(name: str) -> None:
    s = subject(name, channels=1)
    prune(s, METHOD, 0.5)
    assert any(isinstance(w.module, nn.Linear) for w in s.layers) == (name == "lenet5")
    for w in s.layers:
        assert is_two_of_four(w.module.weight), w.name
        assert int((w.module.weight == 0).sum()) == expected_zeros(w.module.weight), w.name
    assert not (s.head.weight == 0).any()  # the classifier head is never pruned


def test_the_mask_keeps_the_two_largest_of_each_group() -> None:
    weight = torch.tensor([[0.1, -4.0, 3.0, 0.2, 5.0, -6.0, 0.0, 1.0, 7.0]])
    assert two_of_four_mask(weight).tolist() == [[0, 1, 1, 0, 1, 1, 0, 0, 1]]


@pytest.mark.parametrize("ratio", [0.3, 0.9])
def test_every_ratio_above_zero_is_the_same_2_of_4(ratio: float) -> None:
    half, other = subject("lenet5", channels=1), subject("lenet5", channels=1)
    prune(half, METHOD, 0.5)
    prune(other, METHOD, ratio)
    assert all(torch.equal(a, b) for a, b in zip(zero_masks(half), zero_masks(other), strict=True))


def test_layers_linear_leaves_the_convs_dense() -> None:
    s = subject("lenet5", channels=1)
    prune(s, METHOD, 0.5, layers="linear")
    for w in s.layers:
        assert is_two_of_four(w.module.weight) == isinstance(w.module, nn.Linear), w.name


def test_iterative_goes_1_of_4_then_2_of_4_keeping_the_first_zeros() -> None:
    s = subject("lenet5", channels=1)
    seen: list[list[torch.Tensor]] = []
    prune(s, METHOD, 0.5, steps=2, finetune=lambda _: seen.append(zero_masks(s)))
    first, last = seen
    for zeros_first, zeros_last in zip(first, last, strict=True):
        full = gemm_rows(zeros_first)[:, : gemm_rows(zeros_first).shape[1] // 4 * 4]
        assert bool((full.reshape(full.shape[0], -1, 4).sum(dim=-1) == 1).all())  # 1:4 after step 1
        assert bool(zeros_last[zeros_first].all())  # held
    assert all(is_two_of_four(w.module.weight) for w in s.layers)


def test_an_option_that_prunes_nothing_is_one_line_before_anything_is_built(tmp_path: Path) -> None:
    data = {**TINY_SWEEP, "models": ["lenet5", "resnet18"],
            "methods": ["l1_unstructured", {"name": METHOD, "layers": "linear"}]}
    store = tmp_path / "store"
    with pytest.raises(UserError) as caught:
        ArtifactBuilder(parse_sweep(data, "s.yml"), ArtifactStore(store), tmp_path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("s.yml: methods[1].layers: method 'semi_structured_24'")
    assert "layers: linear" in message and "'resnet18'" in message
    assert not store.exists() or not any(store.iterdir())
    ArtifactBuilder(parse_sweep({**data, "models": ["lenet5"]}, "s.yml"), ArtifactStore(store), tmp_path)


def test_no_kernel_on_the_cpu_and_the_reason_says_so() -> None:
    s = subject("lenet5", channels=1)
    prune(s, METHOD, 0.5)
    plan = apply_sparse_kernels(s.model, {"target_ratio": 0.5}, {"dtype": "float16"}, "cpu")
    assert plan.columns() == {"sparse_kernel": False, "sparse_kernel_layers": 0, "sparse_kernel_reason":
                              "the trial runs on cpu: torch's 2:4 kernels are CUDA only (the weights run dense)"}
    assert next(s.model.parameters()).dtype == torch.float32


def test_eligibility_names_the_pattern_and_the_tile() -> None:
    s = subject("lenet5", channels=1)
    prune(s, METHOD, 0.5)
    linears = {name: m for name, m in s.model.named_modules() if isinstance(m, nn.Linear)}
    reasons = {name: why_not_eligible(m, (16, 16)) for name, m in linears.items()}
    assert reasons[next(reversed(linears))] == "weight not 2:4"  # the head
    assert any(r is not None and "not a multiple of 16x16" in r for r in reasons.values()), reasons


@pytest.mark.slow
def test_both_backends_measure_a_2_of_4_variant_saying_why_it_ran_dense(tmp_path: Path) -> None:
    data = {**TINY_SWEEP, "methods": [METHOD], "ratios": [0.0, 0.5], "batch_sizes": [1],
            "backends": ["torch", "onnxruntime"], "devices": ["cpu"]}
    runner = SweepRunner(parse_sweep(data, str(tmp_path / "s.yml")), tmp_path / "out", tmp_path / "cache")
    runner.run()
    rows = list(runner.out.results.rows())
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}, [r["error"] for r in rows]
    reasons = {(r["backend"], r["target_ratio"]): r["sparse_kernel_reason"] for r in rows}
    assert all(r["sparse_kernel"] is False for r in rows)
    assert reasons[("torch", 0.5)].startswith("the trial runs on cpu: torch's 2:4 kernels are CUDA only")
    assert reasons[("onnxruntime", 0.5)].startswith("the onnxruntime backend has no 2:4 kernel")
    base = "ratio 0 is the unpruned base model: no 2:4 weights"
    assert reasons[("torch", 0.0)] == reasons[("onnxruntime", 0.0)] == base
    pruned = next(r for r in rows if r["target_ratio"] == 0.5)
    assert 0.3 < pruned["sparsity"] < 0.5  # half of every pruned layer; the head and biases stay
