"""The ViT (torchvision's VisionTransformer) with real Torch-Pruning and onnxruntime: every method
prunes every weight, attention's packed q/k/v projection included; ``structured`` removes heads
and channels; the result trains and exports; its MACs agree with torch's own FLOP counter."""
from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from agent.artifacts import ArtifactStore
from agent.backends.torch_backend import TorchBackend
from agent.counting import count_model, dense_layer_macs, layer_sparsity
from agent.export import INPUT_NAME, TOLERANCE, export_onnx
from agent.layertime_torch import profile_torch
from agent.modelio import ModelSpec, load_model, save_model
from agent.models import attention_modules, build_model, classifier_head, prunable_layers
from agent.pruning import PruneContext, check_method_options, prune_model
from agent.runner import ArtifactBuilder
from agent.training import train
from shared import catalog
from shared.errors import UserError
from shared.sweep import MethodSpec, load_sweep, parse_sweep
from tests.conftest import TINY_SWEEP

ROOT = Path(__file__).parents[2]
NUM_CLASSES = 10
CHANNELS = 1  # the digits are grayscale: the patchify stem takes one channel
MASK_METHODS = ("l1_unstructured", "random_unstructured", "ln_structured_mask", "semi_structured_24")


@cache
def _dense_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return build_model("vit", NUM_CLASSES, CHANNELS, 32).state_dict()


def vit() -> nn.Module:
    """A fresh small ViT, the same weights every time."""
    model = build_model("vit", NUM_CLASSES, CHANNELS, 32)
    model.load_state_dict(_dense_state())
    return model.eval()


def images(n: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).standard_normal((n, CHANNELS, 32, 32), dtype=np.float32))


def labelled(n: int) -> torch.utils.data.TensorDataset:
    return torch.utils.data.TensorDataset(images(n), torch.arange(n) % NUM_CLASSES)


def prune(model: nn.Module, method: str, ratio: float, *, steps: int = 1,
          finetune: Callable[[nn.Module], None] = lambda _: None, **options: object) -> nn.Module:
    checked = check_method_options(MethodSpec(method, options), "test.yml", "methods[0]")
    context = PruneContext(labelled(32), torch.device("cpu"), 16, 1e-3, 0)
    return prune_model(model, MethodSpec(method, checked), ratio, steps, 0, prunable_layers(model),
                       classifier_head(model), images(1), finetune, context=context)


def in_proj_rows(model: nn.Module) -> list[dict]:
    return [row for row in layer_sparsity(model) if row["layer"].endswith("in_proj_weight")]


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("method", [*MASK_METHODS, "causal"])
def test_mask_methods_prune_every_weight_attention_included(method: str) -> None:
    model = vit()
    layers = prunable_layers(model)
    options = {"scope": "layer"} if method in ("l1_unstructured", "random_unstructured", "causal") else {}
    if method == "causal":
        options["prune_epochs"] = 1

    pruned = prune(model, method, 0.5, **options)

    rows = layer_sparsity(pruned, layers)
    assert len(rows) == len(layers) == 17  # stem, 4 x (in_proj, out_proj, 2 MLP)
    assert all(row["sparsity"] == pytest.approx(0.5, abs=0.01) for row in rows), rows
    assert len(in_proj_rows(pruned)) == 4
    assert all(row["sparsity"] == pytest.approx(0.5, abs=0.01) for row in in_proj_rows(pruned))
    assert not any(name.endswith(("_orig", "_mask")) for name, _ in
                   [*pruned.named_parameters(), *pruned.named_buffers()])  # finalized
    counts = count_model(pruned, images(1))
    assert counts.params_reported == param_count(vit())  # masks: nothing removed
    assert counts.macs_effective < 0.6 * counts.macs  # half of every weight's MACs multiply zeros
    with torch.no_grad():
        assert pruned(images(2)).shape == (2, NUM_CLASSES)


def test_ln_structured_mask_zeroes_rows_of_the_qkv_projection() -> None:
    pruned = prune(vit(), "ln_structured_mask", 0.5)
    for attention in attention_modules(pruned):
        rows = attention.in_proj_weight.abs().sum(dim=1)
        assert int((rows == 0).sum()) == round(0.5 * attention.in_proj_weight.shape[0])


def test_structured_removes_heads_and_channels() -> None:
    model = vit()
    before = param_count(model)

    pruned = prune(model, "structured", 0.5, head_ratio=0.5)

    for attention in attention_modules(pruned):
        # two heads of four go, and the 0.5 channel ratio halves each remaining head's 48 dims
        assert (attention.num_heads, attention.head_dim, attention.embed_dim) == (2, 24, 48)
        assert attention.in_proj_weight.shape == (3 * 48, 48)
        assert attention.out_proj.weight.shape == (48, 48)
    for block in pruned.encoder.layers:
        assert block.num_heads == 2
        assert block.mlp[0].out_features == 192  # 384 MLP channels, half removed
    assert pruned.hidden_dim == pruned.conv_proj.out_channels == 48
    assert pruned.class_token.shape == (1, 1, 48) and pruned.encoder.pos_embedding.shape == (1, 17, 48)
    assert classifier_head(pruned).out_features == NUM_CLASSES
    assert param_count(pruned) < 0.15 * before
    counts = count_model(pruned, images(1))
    assert counts.params_actual == param_count(pruned)
    with torch.no_grad():
        assert pruned.eval()(images(3)).shape == (3, NUM_CLASSES)


def test_structured_without_head_ratio_narrows_every_head_alike() -> None:
    pruned = prune(vit(), "structured", 0.5)
    for attention in attention_modules(pruned):
        assert (attention.num_heads, attention.head_dim, attention.embed_dim) == (4, 24, 96)
    assert pruned.encoder.layers[0].mlp[0].out_features == 192


def test_structured_iterative_removes_the_heads_in_the_first_step() -> None:
    heads: list[int] = []
    iterative = prune(vit(), "structured", 0.5, steps=2, head_ratio=0.25,
                      finetune=lambda m: heads.append(attention_modules(m)[0].num_heads))
    one_shot = prune(vit(), "structured", 0.5, head_ratio=0.25)
    assert heads == [3, 3]
    assert param_count(iterative) == param_count(one_shot)


def test_pruned_vit_trains(tmp_path: Path) -> None:
    """A train step after structured pruning: gradients reach the shrunk attention."""
    pruned = prune(vit(), "structured", 0.5, head_ratio=0.5)
    before = attention_modules(pruned)[0].in_proj_weight.detach().clone()
    train(pruned, labelled(32), epochs=1, lr=0.05, batch_size=16, seed=0, device=torch.device("cpu"))
    assert not torch.equal(attention_modules(pruned)[0].in_proj_weight, before)


@pytest.mark.parametrize("make", [vit, lambda: prune(vit(), "structured", 0.5, head_ratio=0.5),
                                  lambda: prune(vit(), "l1_unstructured", 0.5)],
                         ids=["dense", "structured-0.5-heads-0.5", "l1-0.5"])
def test_export_runs_on_onnxruntime_like_torch(tmp_path: Path, make) -> None:
    model = make().eval()
    # the zero-initialised head would make every logit 0 and any export look right
    nn.init.normal_(classifier_head(model).weight)
    path = tmp_path / "model.onnx"
    result = export_onnx(model, images(5).numpy(), path)
    assert result.ok, result.error
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        got = session.run(None, {INPUT_NAME: images(batch).numpy()})[0]
        with torch.inference_mode():
            want = model(images(batch)).numpy()
        assert got.shape == (batch, NUM_CLASSES) and np.abs(got - want).max() <= TOLERANCE
        assert np.abs(want).max() > 1e-3


def test_a_pruned_vit_reloads_from_its_file(tmp_path: Path) -> None:
    pruned = prune(vit(), "structured", 0.5, head_ratio=0.5).eval()
    nn.init.normal_(classifier_head(pruned).weight)
    save_model(pruned, tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt", ModelSpec("vit", NUM_CLASSES, CHANNELS, 32))
    assert loaded.hidden_dim == 48 and attention_modules(loaded)[0].num_heads == 2
    with torch.no_grad():
        assert torch.allclose(loaded(images(2)), pruned(images(2)), atol=1e-6)


def test_layer_time_gives_attention_its_own_time() -> None:
    """torch's attention never runs its out_proj Linear as a module: the attention is the layer."""
    profile = profile_torch(TorchBackend(), vit(), (2, CHANNELS, 32, 32), "cpu", 1, passes=2)
    layers = {op.layer: op for op in profile.ops}
    attention = layers["encoder.layers.encoder_layer_0.self_attention"]
    assert attention.op_type == "MultiheadAttention" and attention.kind == "linear"
    assert attention.calls == 1 and attention.time_ms > 0
    assert not any(name.endswith("out_proj") for name in layers)
    assert {"encoder.layers.encoder_layer_0.mlp.0", "conv_proj", "heads.head"} <= set(layers)


def matmul_macs(model: nn.Module, inputs: torch.Tensor) -> int:
    """Torch's own count of the matrix products of one forward pass (its FLOPs are 2 x MACs).

    Without attention's inference fast path and with the plain (math) attention kernel: the
    counter has no formula for the fused CPU kernels (``_native_multi_head_attention``, the CPU
    flash attention) and would count nothing of them."""
    counter = FlopCounterMode(display=False)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with counter, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
            model(inputs)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return counter.get_total_flops() // 2


def attention_products(model: nn.Module) -> int:
    """MACs of QK^T and of (softmax) V in every attention layer: 2 x tokens^2 x width each."""
    tokens = model.seq_length
    return sum(2 * tokens * tokens * a.embed_dim for a in attention_modules(model))


@pytest.mark.parametrize("make", [vit, lambda: prune(vit(), "structured", 0.5, head_ratio=0.25)],
                         ids=["dense", "structured"])
def test_macs_agree_with_torch_flop_counter(make) -> None:
    model = make().eval()
    inputs = images(1)
    ours = dense_layer_macs(model, inputs)
    tokens = model.seq_length
    for attention in attention_modules(model):
        width = attention.embed_dim
        name = next(w.name for w in prunable_layers(model) if w.module is attention)
        assert ours[name] == 3 * tokens * width * width  # q, k and v of every token
        out_name = next(w.name for w in prunable_layers(model) if w.module is attention.out_proj)
        assert ours[out_name] == tokens * width * width
    # every matrix product torch counts is a weight's or one of attention's two products
    assert sum(ours.values()) + attention_products(model) == matmul_macs(model, inputs)
    counts = count_model(model, inputs)
    # Torch-Pruning's total adds biases, LayerNorm, GELU, softmax and scaling to those
    assert matmul_macs(model, inputs) < counts.macs < 1.1 * matmul_macs(model, inputs)
    assert counts.params_reported == param_count(model)


def refusal(sweep: dict, root: Path) -> str:
    """The error the agent's builder raises for ``sweep``; it has built nothing by then."""
    with pytest.raises(UserError) as caught:
        ArtifactBuilder(parse_sweep({**TINY_SWEEP, **sweep}, "s.yml"), ArtifactStore(root / "store"),
                        root / "cache")
    assert not (root / "cache").exists() and not list((root / "store").glob("*/meta.json"))
    return str(caught.value)


def test_a_head_ratio_that_leaves_no_head_is_refused_before_building(tmp_path: Path) -> None:
    message = refusal({"models": ["lenet5", "vit"],
                       "methods": ["l1_unstructured", {"name": "structured", "head_ratio": 0.9}]}, tmp_path)
    assert message == ("s.yml: methods[1].head_ratio: method 'structured': head_ratio 0.9 would leave "
                       "model 'vit' none of its 4 attention heads")
    assert refusal({"methods": [{"name": "structured", "head_ratio": 1.0}]}, tmp_path) == (
        "s.yml: methods[0].head_ratio: method 'structured': head_ratio 1.0 is outside [0, 1)")


def test_a_head_ratio_that_keeps_a_head_is_accepted(tmp_path: Path) -> None:
    """0.9 keeps one of ViT-B/16's twelve heads; CNNs have none to lose."""
    for size in ("small", "imagenet"):
        ratio = 0.7 if size == "small" else 0.9
        sweep = parse_sweep({**TINY_SWEEP, "models": ["lenet5", "vit"], "input_size": size,
                             "methods": [{"name": "structured", "head_ratio": ratio}]}, "s.yml")
        ArtifactBuilder(sweep, ArtifactStore(tmp_path), tmp_path / "cache")


@pytest.mark.parametrize("path", sorted((ROOT / "deploy").glob("sweep.*.yml")), ids=lambda p: p.name)
def test_every_deploy_sweep_passes_the_agents_checks(path: Path, tmp_path: Path) -> None:
    """What the agent checks before it builds (options, and each method against each model),
    beyond what the collector's torch-free sweep check sees."""
    ArtifactBuilder(load_sweep(path), ArtifactStore(tmp_path), tmp_path / "cache")


def test_every_method_is_covered_here() -> None:
    assert set(catalog.METHODS) == {*MASK_METHODS, "causal", "structured"}
