"""Parameter, MAC and byte counts of dense and pruned models, and that counting changes nothing."""
from __future__ import annotations

import pytest
import torch
import torch_pruning as tp
from torch import nn

from agent.counting import ModelCounts, count_model, dense_layer_macs, layer_sparsity
from agent.models import build_model, classifier_head, prunable_layers
from agent.pruning import METHODS, prune_model
from shared.sweep import MethodSpec

NUM_CLASSES = 10


def small(name: str, channels: int = 3) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    return build_model(name, NUM_CLASSES, channels, 32), torch.randn(1, channels, 32, 32)


def pruned(name: str, method: str, **options: object) -> tuple[ModelCounts, ModelCounts]:
    """Counts of ``name`` dense, then one-shot pruned to 0.5 by ``method``."""
    model, inputs = small(name)
    dense = count_model(model, inputs)
    model = prune_model(model, MethodSpec(method, options), 0.5, 1, 0, prunable_layers(model),
                        classifier_head(model), inputs, lambda _: None)
    return dense, count_model(model, inputs)


def test_dense_lenet5_counts_agree() -> None:
    model, inputs = small("lenet5", channels=1)
    counts = count_model(model, inputs)
    assert counts.params_reported == counts.params_nonzero == counts.params_actual == 61706
    assert counts.macs == counts.macs_effective > 0
    assert counts.model_bytes > 4 * counts.params_reported  # float32 plus the pickle around it


def test_dense_resnet18_counts_agree() -> None:
    model, inputs = small("resnet18")
    counts = count_model(model, inputs)
    # torchvision zero-initialises BatchNorm biases: those are the only zeros of a dense ResNet
    bn_biases = sum(m.bias.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert counts.params_reported == counts.params_actual == sum(p.numel() for p in model.parameters())
    assert counts.params_nonzero == counts.params_reported - bn_biases
    assert counts.macs == counts.macs_effective == int(tp.utils.count_ops_and_params(model, inputs)[0])


@pytest.mark.parametrize("name", ["lenet5", "resnet18", "mobilenet_v2"])
def test_dense_layer_macs_match_torch_pruning(name: str) -> None:
    """Our per-layer MACs are Torch-Pruning's for the same layer, less its bias additions."""
    model, inputs = small(name)
    ours = dense_layer_macs(model, inputs)
    _, _, theirs, _ = tp.utils.count_ops_and_params(model, inputs, layer_wise=True)
    total, _ = tp.utils.count_ops_and_params(model, inputs)
    for layer_name, module in model.named_modules():
        if not isinstance(module, (nn.Conv2d, nn.Linear)):
            continue
        positions = ours[layer_name] // module.weight.numel()
        # tp adds one bias per output element of a conv, but once per output of a Linear
        per_bias = positions if isinstance(module, nn.Conv2d) else 1
        bias = 0 if module.bias is None else module.bias.numel() * per_bias
        assert theirs[module] == ours[layer_name] + bias, layer_name
    assert 0 < sum(ours.values()) < total  # tp also counts BatchNorm, ReLU, pooling


def test_l1_lowers_effective_macs_and_compressed_size() -> None:
    dense, sparse = pruned("resnet18", "l1_unstructured", scope="layer")
    assert sparse.params_reported == sparse.params_actual == dense.params_reported
    assert sparse.params_nonzero < 0.55 * dense.params_reported
    assert sparse.macs == dense.macs  # a dense runtime still multiplies every zero
    assert sparse.macs_effective < 0.6 * sparse.macs
    assert sparse.model_bytes == dense.model_bytes
    assert sparse.model_bytes_compressed < 0.75 * dense.model_bytes_compressed


def test_structured_lowers_macs_and_params() -> None:
    dense, slim = pruned("resnet18", "structured")
    assert slim.params_actual == slim.params_reported < 0.3 * dense.params_actual
    assert slim.macs == slim.macs_effective < 0.3 * dense.macs
    assert slim.model_bytes < 0.3 * dense.model_bytes


def test_masked_model_counts_like_its_finalized_self() -> None:
    """Mid-schedule (masks in hooks) the counts already see the zeros."""
    model, inputs = small("lenet5", channels=1)
    method = METHODS.get("l1_unstructured")(model, prunable_layers(model), classifier_head(model),
                                           inputs, 1, 0.5, 0, {})
    method.step(0.5)
    model(inputs)  # as fine-tuning would: the cached masked weights now carry a grad_fn
    masked = count_model(model, inputs)
    final = count_model(method.finalize(), inputs)
    assert (masked.params_nonzero, masked.macs_effective) == (final.params_nonzero, final.macs_effective)
    assert masked.params_reported == final.params_reported


def hook_counts(model: nn.Module) -> list[tuple[int, int, int]]:
    return [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
            for m in model.modules()]


def test_count_model_leaves_the_model_as_it_was() -> None:
    model, inputs = small("resnet18")
    model.train()
    model.layer2.eval()  # a mixed state must come back mixed, not all-train
    modes = [m.training for m in model.modules()]
    hooks = hook_counts(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}

    count_model(model, inputs)
    dense_layer_macs(model, inputs)

    assert [m.training for m in model.modules()] == modes
    assert hook_counts(model) == hooks
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())  # BN stats too
    assert all(p.grad is None for p in model.parameters())
    assert torch.is_grad_enabled()


def test_layer_sparsity_lists_every_weighted_layer() -> None:
    model, _ = small("lenet5", channels=1)
    rows = layer_sparsity(model)
    assert [row["layer"] for row in rows] == [
        "features.0", "features.3", "classifier.1", "classifier.3", "classifier.5"]
    assert rows[0] == {"layer": "features.0", "kind": "Conv2d", "shape": (6, 1, 5, 5), "params": 150,
                       "nonzero": 150, "sparsity": 0.0}
    assert len(layer_sparsity(model, prunable_layers(model))) == 4
