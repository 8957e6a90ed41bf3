"""The model zoo: every model builds, runs at both input sizes, and exposes the right layers."""
from __future__ import annotations

from functools import cache

import pytest
import torch
from torch import nn
from torchvision.models.vision_transformer import VisionTransformer

from agent.models import MODELS, attention_modules, build_model, classifier_head, prunable_layers
from shared import catalog
from shared.errors import UserError

NUM_CLASSES = 7  # not 10 or 1000, so a head left at a default size is caught

# (convs, prunable linears, attention q/k/v projections) per model: every conv, every linear
# but the head, every attention's packed in_proj_weight
LAYER_COUNTS = {
    "lenet5": (2, 2, 0),
    "alexnet": (5, 2, 0),
    "vgg16": (13, 2, 0),
    "resnet18": (20, 0, 0),  # stem + 8 blocks x 2 + 3 downsample
    "resnet50": (53, 0, 0),  # stem + 16 blocks x 3 + 4 downsample
    "googlenet": (57, 0, 0),  # 3 stem convs + 9 inception blocks x 6
    "mobilenet_v2": (52, 0, 0),
    "vit": (1, 12, 4),  # patchify stem; 4 blocks x (out_proj + 2 MLP linears); 4 x in_proj
}


@cache
def small_model(name: str, channels: int) -> nn.Module:
    """Built once per module run: GoogLeNet and VGG take about a second each to initialise."""
    torch.manual_seed(0)
    return build_model(name, NUM_CLASSES, channels, 32).eval()


def test_registry_covers_the_catalog() -> None:
    assert sorted(MODELS.names()) == sorted(catalog.MODELS)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", catalog.MODELS)
@torch.no_grad()
def test_small_model_forwards(name: str, channels: int) -> None:
    model = small_model(name, channels)
    assert model(torch.randn(2, channels, 32, 32)).shape == (2, NUM_CLASSES)


@pytest.mark.parametrize(("name", "channels"), [("lenet5", 1), ("resnet18", 3), ("alexnet", 1), ("vit", 1)])
@torch.no_grad()
def test_imagenet_size_model_forwards(name: str, channels: int) -> None:
    model = build_model(name, NUM_CLASSES, channels, 224).eval()
    assert model(torch.randn(1, channels, 224, 224)).shape == (1, NUM_CLASSES)


def test_small_resnet_keeps_resolution_in_the_stem() -> None:
    model = small_model("resnet18", 3)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert model.conv1.bias is None
    assert isinstance(model.maxpool, nn.Identity)


def test_imagenet_size_keeps_the_torchvision_stem() -> None:
    model = build_model("resnet18", NUM_CLASSES, 1, 224)
    assert model.conv1.kernel_size == (7, 7) and model.conv1.in_channels == 1


@pytest.mark.parametrize("name", catalog.MODELS)
@torch.no_grad()
def test_classifier_head_produces_the_logits(name: str) -> None:
    model = small_model(name, 3)
    head = classifier_head(model)
    assert isinstance(head, nn.Linear) and head.out_features == NUM_CLASSES
    seen: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda _m, _i, out: seen.append(out))
    try:
        logits = model(torch.randn(2, 3, 32, 32))
    finally:
        hook.remove()
    assert len(seen) == 1 and torch.equal(seen[0], logits)


@pytest.mark.parametrize("name", catalog.MODELS)
def test_prunable_layers_are_every_conv_and_linear_but_the_head(name: str) -> None:
    model = small_model(name, 3)
    layers = prunable_layers(model)
    head = classifier_head(model)
    assert all(w.module is not head for w in layers)
    expected = [n if isinstance(m, (nn.Conv2d, nn.Linear)) else f"{n}.in_proj_weight"
                for n, m in model.named_modules()
                if isinstance(m, (nn.Conv2d, nn.Linear, nn.MultiheadAttention)) and m is not head]
    assert [w.name for w in layers] == expected  # module order, qualified names
    params = dict(model.named_parameters())
    assert all(getattr(w.module, w.param) is params[w.name if w.param != "weight" else f"{w.name}.weight"]
               for w in layers)
    counts = tuple(sum(isinstance(w.module, kind) for w in layers)
                   for kind in (nn.Conv2d, nn.Linear, nn.MultiheadAttention))
    assert counts == LAYER_COUNTS[name]


def test_prunable_layers_reach_beyond_names_with_layer() -> None:
    # the seed paper pruned only modules named "*layer*": ResNet's stem and downsample count too
    names = [w.name for w in prunable_layers(small_model("resnet18", 3))]
    assert "conv1" in names and "layer2.0.downsample.0" in names


def test_unknown_model_lists_the_valid_names() -> None:
    with pytest.raises(UserError) as caught:
        build_model("resnet19", 10, 3, 32)
    message = str(caught.value)
    assert "resnet19" in message
    assert all(name in message for name in catalog.MODELS)


def test_vit_geometry_per_input_size() -> None:
    small = small_model("vit", 1)
    assert isinstance(small, VisionTransformer)
    assert (small.image_size, small.patch_size, small.hidden_dim, len(small.encoder.layers)) == (32, 8, 192, 4)
    assert small.conv_proj.in_channels == 1 and attention_modules(small)[0].num_heads == 4
    large = build_model("vit", NUM_CLASSES, 1, 224)  # vit_b_16's geometry
    assert (large.image_size, large.patch_size, large.hidden_dim, large.mlp_dim) == (224, 16, 768, 3072)
    assert len(large.encoder.layers) == 12 and large.encoder.layers[0].self_attention.num_heads == 12
    assert attention_modules(small_model("resnet18", 3)) == []
