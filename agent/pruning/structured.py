"""Real channel removal with Torch-Pruning: the model physically shrinks."""
from __future__ import annotations

import math
from itertools import islice
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch_pruning as tp
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from agent.models import PrunableWeight, attention_modules, sync_pruned_attributes
from agent.pruning.base import Option, PruningMethod, eval_mode, register
from agent.pruning.schedule import cumulative_ratios
from agent.pruning.unstructured import LnStructuredMask, seeded_rng
from agent.training import seeded_loader
from shared.errors import UserError

# option value -> Torch-Pruning's importance criterion (each a fresh object: some keep state)
IMPORTANCES: dict[str, Callable[[], tp.importance.Importance]] = {
    "l1": lambda: tp.importance.MagnitudeImportance(p=1),
    "l2": lambda: tp.importance.MagnitudeImportance(p=2),
    "taylor": tp.importance.TaylorImportance,  # |w * dL/dw|, first order (Molchanov et al. 2019)
    "hessian": tp.importance.HessianImportance,  # w^2 * diag Fisher, the OBD saliency
    "lamp": tp.importance.LAMPImportance,  # magnitude rescaled per layer (Lee et al. 2021)
    "fpgm": tp.importance.FPGMImportance,  # distance to the layer's geometric median (He et al. 2019)
    "bn_scale": tp.importance.BNScaleImportance,  # |gamma| of the following BatchNorm (network slimming)
    "random": tp.importance.RandomImportance,
}
# the union procedure ranks each conv's filters by their Ln norm: these importances name the n
NORM_OF = {"l1": 1, "l2": 2}
GRADIENT_BATCHES = 4  # batches of the build's training data whose loss gradient Taylor ranks with
HESSIAN_SAMPLES = 32  # single samples whose squared gradients estimate the Hessian's diagonal
# layers Torch-Pruning prunes as modules; a parameter registered directly on any other module
# (a ViT's class token and position embedding) is "unwrapped"
WRAPPING = (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.MultiheadAttention,
            nn.PReLU, nn.Embedding)


def geometric_scheduler(ratio: float, steps: int) -> list[float]:
    """Torch-Pruning's scheduler interface: the cumulative ratio before step 1 and after each."""
    return [0.0, *cumulative_ratios(ratio, steps)]


def heads_removed(head_ratio: float, heads: int) -> int:
    """How many of ``heads`` a ``head_ratio`` removes (rounded as mask methods round entries)."""
    return round(head_ratio * heads)


def unwrapped_parameters(model: nn.Module) -> list[tuple[nn.Parameter, int]]:
    """Parameters outside the layers Torch-Pruning knows, each pruned along its last dimension:
    what it would guess itself, said explicitly so that it does not warn."""
    return [(param, param.dim() - 1) for module in model.modules() if not isinstance(module, WRAPPING)
            for param in module._parameters.values() if param is not None]


@register
class Structured(PruningMethod):
    """Removes whole channels through Torch-Pruning's dependency graph.

    The ratio is a per-layer CHANNEL ratio (Torch-Pruning's ``pruning_ratio``), not a
    parameter ratio: a conv's weight shrinks in both its output and its input channels, so
    0.5 removes about 75% of a conv net's parameters and MACs. Every Conv2d and Linear except
    ``head`` is prunable; the head keeps its outputs.

    ``coupling: group`` (default) prunes coupled layers together, as one group ranked as one:
    residual additions (ResNet), concatenations (GoogLeNet), depthwise convs (MobileNetV2).
    ``coupling: union`` is the structured-pruning paper's own procedure: every conv is masked
    on its own with ``ln_structured`` (n from ``importance``, ``l1`` or ``l2``; the paper used
    ``l2``), the masks held while fine-tuning, and at the last step each conv's zeroed filters
    are removed through the dependency graph, which removes them from every coupled layer too.
    On a residual network the removals add up across a residual stream: ResNet18 at the paper's
    0.4686 keeps about 7% of its parameters where ``group`` keeps about 28%. Linear layers are
    not pruned by ``union`` (the paper pruned only convolutions).

    Options (``group``): ``importance`` ranks channels: ``l1``/``l2`` magnitude, ``taylor`` and
    ``hessian`` (gradients of a few seeded batches of the build's training data), ``lamp``,
    ``fpgm``, ``bn_scale`` (needs BatchNorm layers, and ranks only the channels a BatchNorm
follows: VGG's Linear layers, for one, stay whole), ``random`` (seeded);
    ``global_pruning`` ranks channels across layers instead of within each; ``isomorphic``
    (with ``global_pruning``) ranks only groups of the same structure against each other
    (Fang et al., ECCV 2024); ``round_to`` keeps every pruned layer's channel count a multiple
    of it. Dense CPU kernels run much faster on multiples of 8 (onnxruntime's MLAS on this
    project's VM: ResNet18 at ratio 0.7 keeps 19 channels of 64 and realises 0.54 of its MAC
    reduction, with ``round_to: 8`` it keeps 16 and realises more than all of it);
    ``head_ratio`` (default 0; nothing on models without attention) the share of attention
    heads to remove, which must leave at least one.

    On a transformer (torchvision's ``nn.MultiheadAttention``, whose width is the residual
    stream's) the ratio removes MLP channels and embedding channels, the latter the same
    ones in every head (its channels are grouped by head), so every head narrows alike;
    ``head_ratio`` first removes whole heads (the least important by the same criterion, the
    same in every layer: they share the residual stream), all in the first step.
    Torch-Pruning's own head pruning (``num_heads`` with ``prune_num_heads``) leaves torch's
    attention layers, and the residual stream coupled to them, untouched (Torch-Pruning
    1.6.1): it is written for separate q/k/v Linear layers (timm, Hugging Face).
    """

    name = "structured"
    options = {
        "importance": Option("l1", choices=tuple(IMPORTANCES)),
        "global_pruning": Option(False, kind=bool),
        "isomorphic": Option(False, kind=bool),
        "round_to": Option(None, choices=(None, 2, 4, 8, 16, 32, 64)),
        "coupling": Option("group", choices=("group", "union")),
        "head_ratio": Option(0.0, kind=float),
    }

    @classmethod
    def resolve_options(cls, given: Mapping[str, Any], *, source: str | None = None,
                        where: str = "options") -> dict[str, Any]:
        values = super().resolve_options(given, source=source, where=where)

        def refuse(option: str, message: str) -> UserError:
            return UserError(f"method 'structured': {message}", source=source, field=f"{where}.{option}")

        if not 0.0 <= values["head_ratio"] < 1.0:
            raise refuse("head_ratio", f"head_ratio {values['head_ratio']!r} is outside [0, 1)")
        if values["isomorphic"] and not values["global_pruning"]:
            raise refuse("isomorphic", "isomorphic pruning ranks groups across layers: it needs "
                                       "global_pruning: true")
        if values["coupling"] == "union":
            if values["importance"] not in NORM_OF:
                raise refuse("importance", f"coupling: union masks each conv by its filters' norm: "
                                           f"importance must be l1 or l2, got {values['importance']!r}")
            for option in ("global_pruning", "isomorphic"):
                if values[option]:
                    raise refuse(option, "coupling: union prunes every conv on its own; "
                                         f"{option} applies to coupling: group")
            if values["round_to"] is not None:
                raise refuse("round_to", "coupling: union keeps whatever the union leaves; "
                                         "round_to applies to coupling: group")
            if values["head_ratio"]:
                raise refuse("head_ratio", "coupling: union prunes convolutions only; "
                                           "head_ratio applies to coupling: group")
        return values

    @classmethod
    def refusal(cls, model_name: str, model: nn.Module, layers: list[PrunableWeight],
                options: Mapping[str, Any]) -> tuple[str, str] | None:
        if options["importance"] == "bn_scale" and not any(
                isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            return "importance", (f"importance bn_scale ranks channels by their BatchNorm scale, "
                                  f"and model {model_name!r} has no BatchNorm layers")
        attention = attention_modules(model)
        ratio = options["head_ratio"]
        if attention and heads_removed(ratio, attention[0].num_heads) >= attention[0].num_heads:
            return "head_ratio", (f"head_ratio {ratio:g} would leave model {model_name!r} none of its "
                                  f"{attention[0].num_heads} attention heads")
        return None

    def setup(self) -> None:
        self.schedule = geometric_scheduler(self.target_ratio, self.steps)
        if self.option_values["coupling"] == "union":
            self.pruner = UnionPruner(self)
            return
        importance = self.option_values["importance"]
        if importance in ("taylor", "hessian") and self.context is None:
            raise ValueError(f"importance {importance} needs gradients: give prune_model a PruneContext")
        # every head of an attention layer keeps the same width: its channels are grouped by
        # head (fresh dicts: MetaPruner's defaults are shared, mutable and updated in place)
        heads = {attention: attention.num_heads for attention in attention_modules(self.model)}
        # Torch-Pruning traces the model with a forward pass; in train mode that pass would
        # update BatchNorm running statistics and apply dropout
        with eval_mode(self.model):
            self.pruner = tp.pruner.MetaPruner(
                self.model,
                self.example_inputs,
                importance=IMPORTANCES[importance](),
                pruning_ratio=self.target_ratio,
                global_pruning=self.option_values["global_pruning"],
                isomorphic=self.option_values["isomorphic"],
                round_to=self.option_values["round_to"],
                ignored_layers=[self.head],
                iterative_steps=self.steps,
                iterative_pruning_ratio_scheduler=geometric_scheduler,
                in_channel_groups=dict(heads),
                out_channel_groups=dict(heads),
                unwrapped_parameters=unwrapped_parameters(self.model),
            )

    def step(self, cumulative_ratio: float) -> None:
        # the pruner follows its own schedule; refuse to silently prune to another ratio
        expected = self.schedule[self.steps_done + 1]
        if not math.isclose(cumulative_ratio, expected, rel_tol=1e-9, abs_tol=1e-12):
            raise ValueError(f"step {self.steps_done + 1} of the schedule prunes to {expected}, "
                             f"not {cumulative_ratio}")
        importance = self.option_values["importance"]
        with seeded_rng(self.seed + self.steps_done):  # random importance and the gradient batches
            if importance == "taylor":
                self._taylor_gradients()
            elif importance == "hessian":
                self._hessian_gradients()
            if self.steps_done == 0 and self.option_values["head_ratio"] > 0:
                self._remove_heads()
            self.pruner.step()
        sync_pruned_attributes(self.model)
        self.model.zero_grad(set_to_none=True)  # the ranking's gradients are no fine-tuning's
        self.steps_done += 1

    def _remove_heads(self) -> None:
        """Remove ``head_ratio`` of every attention layer's heads: the same heads in each, since
        torch's attention is as wide as the residual stream that couples them all."""
        attention = attention_modules(self.model)
        if not attention:
            return
        first = attention[0]
        heads, width = first.num_heads, first.embed_dim // first.num_heads
        removed = heads_removed(self.option_values["head_ratio"], heads)
        if removed >= heads:  # refusal() turns this sweep away before any build
            raise ValueError(f"head_ratio {self.option_values['head_ratio']} leaves none of {heads} heads")
        prune_fn = tp.prune_multihead_attention_out_channels
        group = self.pruner.DG.get_pruning_group(first, prune_fn, list(range(first.embed_dim)))
        with torch.no_grad():
            head_importance = self.pruner.estimate_importance(group).view(heads, width).mean(dim=1)
        dropped = torch.topk(head_importance, k=removed, largest=False).indices.tolist()
        group = self.pruner.DG.get_pruning_group(
            first, prune_fn, [h * width + i for h in sorted(dropped) for i in range(width)])
        coupled = {id(dep.target.module) for dep, _ in group}
        for module in attention:  # Torch-Pruning checks the new width against num_heads
            if id(module) in coupled:
                module.num_heads = heads - removed
                self.pruner.in_channel_groups[module] = self.pruner.out_channel_groups[module] = heads - removed
        group.prune()
        sync_pruned_attributes(self.model)

    def _batches(self, batch_size: int) -> DataLoader:
        assert self.context is not None
        return seeded_loader(self.context.train_data, batch_size, self.seed + self.steps_done, shuffle=True)

    def _backward(self, inputs: torch.Tensor, labels: torch.Tensor) -> None:
        assert self.context is not None
        device = self.context.device
        F.cross_entropy(self.model(inputs.to(device)), labels.to(device)).backward()

    def _taylor_gradients(self) -> None:
        """The loss gradient of a few seeded batches, summed into ``.grad`` (Taylor ranks |w * g|)."""
        assert self.context is not None
        self.model.zero_grad(set_to_none=True)
        with eval_mode(self.model):  # no BatchNorm statistics updated, no dropout
            for inputs, labels in islice(self._batches(self.context.batch_size), GRADIENT_BATCHES):
                self._backward(inputs, labels)

    def _hessian_gradients(self) -> None:
        """The mean squared per-sample gradient in ``.grad``: the diagonal Fisher estimate of the
        Hessian that HessianImportance ranks with. Computed here rather than with its
        ``accumulate_grad``, which (Torch-Pruning 1.6) tests a parameter's *name* against a
        dict keyed by the parameter and so keeps only the last sample's gradient."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        squares = [torch.zeros_like(p) for p in params]
        seen = 0
        with eval_mode(self.model):
            for inputs, labels in islice(self._batches(1), HESSIAN_SAMPLES):
                self.model.zero_grad(set_to_none=True)
                self._backward(inputs, labels)
                for square, p in zip(squares, params, strict=True):
                    if p.grad is not None:
                        square += p.grad.detach() ** 2
                seen += 1
        for square, p in zip(squares, params, strict=True):
            p.grad = square / max(seen, 1)


class UnionPruner:
    """``coupling: union``: the paper's mask-then-remove procedure, one ``step()`` a schedule step.

    Each conv gets its own ``ln_structured`` mask (held while the caller fine-tunes); the last
    step removes every conv's zeroed filters through the dependency graph, so the model the
    last fine-tuning trains is the physically pruned one (the paper fine-tuned after removal
    "to compensate the missing bias values").
    """

    def __init__(self, method: Structured) -> None:
        self.method = method
        convs = [w for w in method.layers if isinstance(w.module, nn.Conv2d)]
        self.masks = LnStructuredMask(method.model, convs, method.head, method.example_inputs,
                                      method.steps, method.target_ratio, method.seed,
                                      {"n": NORM_OF[method.option_values["importance"]], "dim": 0})
        with eval_mode(method.model):
            self.graph = tp.DependencyGraph().build_dependency(method.model, method.example_inputs)
        self.kept_for_shape = 0  # filters kept because the union would have emptied a layer

    def step(self) -> None:
        self.masks.step(self.method.schedule[self.masks.steps_done + 1])
        if self.masks.steps_done == self.method.steps:
            self.masks.finalize()  # the zeros become the weights
            self._remove_zeroed_filters()

    @torch.no_grad()
    def _remove_zeroed_filters(self) -> None:
        for weight in self.masks.layers:
            conv = weight.module
            # read now, not before: removing an earlier conv's group may have taken filters here
            zeroed = (conv.weight.flatten(1).abs().sum(dim=1) == 0).nonzero().flatten().tolist()
            if not zeroed:
                continue
            group = self.graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=zeroed)
            if not self.graph.check_pruning_group(group):
                # the union would leave some coupled layer with no channel: keep one
                self.kept_for_shape += 1
                group = self.graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=zeroed[:-1])
                if not zeroed[:-1] or not self.graph.check_pruning_group(group):
                    continue
            group.prune()
