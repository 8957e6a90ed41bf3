"""The model zoo: every architecture a sweep may name, randomly initialised, in two input sizes.

``small`` (inputs under 64 px, i.e. 32x32) swaps the ImageNet stems for the usual
CIFAR-size ones, so a 32x32 image is not shrunk to nothing before the last stage; the ViT
gets a small geometry of its own there (:data:`VIT_SHAPES`), ViT-B/16's at 224 px.
Nothing is ever pretrained: weights come from training here or from a local file.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torchvision import models as tv
from torchvision.models.googlenet import BasicConv2d
from torchvision.models.vision_transformer import EncoderBlock, VisionTransformer

from shared import catalog
from shared.registry import Registry

ModelBuilder = Callable[[int, int, bool], nn.Module]
"""``(num_classes, in_channels, small) -> model``."""

MODELS: Registry[ModelBuilder] = Registry("model", catalog.MODELS)

SMALL_BELOW = 64  # input sizes under this get the CIFAR-style stem


def build_model(name: str, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
    """A freshly initialised ``name`` for ``in_channels`` x ``input_size`` x ``input_size`` inputs.

    Raises the registry's UserError (listing the valid names) for an unknown name.
    """
    builder = MODELS.get(name, field="model")
    return builder(num_classes, in_channels, input_size < SMALL_BELOW)


class PrunableWeight(NamedTuple):
    """One weight tensor that pruning acts on and MACs are counted for: ``module.<param>``.

    ``name`` is the module's qualified name for a Conv2d or Linear weight, the parameter's own
    qualified name otherwise (``encoder.layers.encoder_layer_0.self_attention.in_proj_weight``).
    """

    name: str
    module: nn.Module
    param: str


WEIGHTED = (nn.Conv2d, nn.Linear)  # modules whose ``weight`` is one such tensor


def weight_tensors(model: nn.Module) -> list[PrunableWeight]:
    """Every weight a pruning method may act on, in module order, the classifier head included:
    each Conv2d and Linear ``weight`` and each ``nn.MultiheadAttention``'s packed q/k/v
    projection ``in_proj_weight``, which is a bare Parameter, not a Linear (its ``out_proj`` is
    a Linear). The one owner of that list: pruning, counting and sparsity tables all use it.
    """
    found = []
    for name, module in model.named_modules():
        if isinstance(module, WEIGHTED):
            found.append(PrunableWeight(name, module, "weight"))
        elif isinstance(module, nn.MultiheadAttention):
            if not module._qkv_same_embed_dim:  # separate q/k/v weights: no model here has them
                raise ValueError(f"{name}: MultiheadAttention with separate q/k/v weights is not supported")
            found.append(PrunableWeight(f"{name}.in_proj_weight", module, "in_proj_weight"))
    return found


def classifier_head(model: nn.Module) -> nn.Linear:
    """The Linear layer that produces the logits: the last ``nn.Linear`` in module order.

    Holds for every model here: each ends in a Linear and none registers a Linear after it
    (GoogLeNet's auxiliary heads, which would, are disabled; ViT's attention out-projections
    come before its head).
    """
    head = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            head = module
    if head is None:
        raise ValueError(f"{type(model).__name__} has no nn.Linear classifier head")
    return head


def prunable_layers(model: nn.Module) -> list[PrunableWeight]:
    """Every weight of :func:`weight_tensors` except the classifier head's, in module order.

    Every architecture, every such layer: not only modules whose name contains "layer"
    (which on most torchvision models silently leaves whole networks unpruned).
    """
    head = classifier_head(model)
    return [weight for weight in weight_tensors(model) if weight.module is not head]


def attention_modules(model: nn.Module) -> list[nn.MultiheadAttention]:
    """The model's multi-head attention layers, in module order (none in a CNN)."""
    return [module for module in model.modules() if isinstance(module, nn.MultiheadAttention)]


def sync_pruned_attributes(model: nn.Module) -> None:
    """After channels or heads were removed, make the attributes torchvision's forward reads
    agree with the tensors again (Torch-Pruning resizes tensors, not these): a
    VisionTransformer reshapes its patches with ``hidden_dim``; every EncoderBlock keeps a copy
    of its attention's ``num_heads``; an attention's ``head_dim`` follows its width."""
    if isinstance(model, VisionTransformer):
        model.hidden_dim = model.conv_proj.out_channels
    for module in model.modules():
        if isinstance(module, nn.MultiheadAttention):
            module.head_dim = module.embed_dim // module.num_heads
        elif isinstance(module, EncoderBlock):
            module.num_heads = module.self_attention.num_heads


# --- initialisation of replaced layers, matching what torchvision gives the originals ---

def _kaiming_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """ResNet / VGG / MobileNet initialise convs this way; a swapped-in stem should match."""
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def _vgg_linear(linear: nn.Linear) -> nn.Linear:
    nn.init.normal_(linear.weight, 0.0, 0.01)
    nn.init.zeros_(linear.bias)
    return linear


def _googlenet_conv(block: BasicConv2d) -> BasicConv2d:
    nn.init.trunc_normal_(block.conv.weight, mean=0.0, std=0.01, a=-2, b=2)
    return block


# --- builders ---

class LeNet5(nn.Module):
    """Classic LeNet-5 with ReLU; the adaptive pool lets it run at 224 px too (identity at 32)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        self.pool = nn.AdaptiveAvgPool2d((5, 5))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(inplace=True),
            nn.Linear(120, 84), nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))


@MODELS.register("lenet5")
def _lenet5(num_classes: int, in_channels: int, small: bool) -> nn.Module:
    return LeNet5(num_classes, in_channels)  # one design for both sizes


@MODELS.register("alexnet")
def _alexnet(num_classes: int, in_channels: int, small: bool) -> nn.Module:
    model = tv.alexnet(weights=None, num_classes=num_classes)
    if small:
        # 11x11/4 would leave a 32 px input at 1x1 after the second pool
        model.features[0] = nn.Conv2d(in_channels, 64, kernel_size=3, stride=2, padding=1)
        model.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        model.classifier[1] = nn.Linear(256 * 2 * 2, 4096)
    elif in_channels != 3:
        model.features[0] = nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2)
    return model


@MODELS.register("vgg16")
def _vgg16(num_classes: int, in_channels: int, small: bool) -> nn.Module:
    model = tv.vgg16_bn(weights=None, num_classes=num_classes)
    if in_channels != 3:
        model.features[0] = _kaiming_conv(nn.Conv2d(in_channels, 64, kernel_size=3, padding=1))
    if small:
        # five pools take 32 px to 1x1; the 7x7 pool would only copy that pixel 49 times
        model.avgpool = nn.AdaptiveAvgPool2d(1)
        model.classifier[0] = _vgg_linear(nn.Linear(512, 4096))
    return model


def _resnet(factory: Callable[..., tv.ResNet], num_classes: int, in_channels: int,
            small: bool) -> nn.Module:
    model = factory(weights=None, num_classes=num_classes)
    if small:
        model.conv1 = _kaiming_conv(nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False))
        model.maxpool = nn.Identity()
    elif in_channels != 3:
        model.conv1 = _kaiming_conv(nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False))
    return model


@MODELS.register("resnet18")
def _resnet18(num_classes: int, in_channels: int, small: bool) -> nn.Module:
    return _resnet(tv.resnet18, num_classes, in_channels, small)


@MODELS.register("resnet50")
def _resnet50(num_classes: int, in_channels: int, small: bool) -> nn.Module:
    return _resnet(tv.resnet50, num_classes, in_channels, small)


@MODELS.register("googlenet")
def _googlenet(num_classes: int, in_channels: int, small: bool) -> nn.Module:
    # aux heads off: they only help training and make train-mode forward return a tuple
    model = tv.googlenet(weights=None, num_classes=num_classes, aux_logits=False,
                         init_weights=True, transform_input=False)
    if small:
        model.conv1 = _googlenet_conv(BasicConv2d(in_channels, 64, kernel_size=3, stride=1, padding=1))
        model.maxpool1 = nn.Identity()
        model.maxpool2 = nn.Identity()
    elif in_channels != 3:
        model.conv1 = _googlenet_conv(BasicConv2d(in_channels, 64, kernel_size=7, stride=2, padding=3))
    return model


@MODELS.register("mobilenet_v2")
def _mobilenet_v2(num_classes: int, in_channels: int, small: bool) -> nn.Module:
    model = tv.mobilenet_v2(weights=None, num_classes=num_classes)
    if small or in_channels != 3:
        stem: nn.Conv2d = model.features[0][0]
        model.features[0][0] = _kaiming_conv(nn.Conv2d(
            in_channels, stem.out_channels, kernel_size=3, stride=1 if small else 2,
            padding=1, bias=False))
    return model


@dataclass(frozen=True)
class ViTShape:
    """The geometry of a VisionTransformer (torchvision's arguments)."""

    image_size: int
    patch_size: int
    num_layers: int
    num_heads: int
    hidden_dim: int
    mlp_dim: int


# small: 32 px in patches of 8 (16 tokens and the class token), 4 blocks of 4 heads of 48 dims.
# Patches of 4 (65 tokens) learnt less in the same time on the digits (upsampled 8 px images);
# what it reaches and how long it takes: README, "The ViT". imagenet: ViT-B/16.
VIT_SHAPES = {
    True: ViTShape(image_size=32, patch_size=8, num_layers=4, num_heads=4, hidden_dim=192, mlp_dim=384),
    False: ViTShape(image_size=224, patch_size=16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072),
}


@MODELS.register("vit")
def _vit(num_classes: int, in_channels: int, small: bool) -> nn.Module:
    shape = VIT_SHAPES[small]
    model = VisionTransformer(**shape.__dict__, num_classes=num_classes)
    if in_channels != 3:
        stem = nn.Conv2d(in_channels, shape.hidden_dim, kernel_size=shape.patch_size, stride=shape.patch_size)
        fan_in = in_channels * shape.patch_size ** 2  # torchvision's own init of the patchify stem
        nn.init.trunc_normal_(stem.weight, std=math.sqrt(1 / fan_in))
        nn.init.zeros_(stem.bias)
        model.conv_proj = stem
    return model
