"""structured's importance criteria, global and isomorphic ranking, and the paper's union coupling,
on real models with real Torch-Pruning: what each removes, and the refusals before anything is built."""
from __future__ import annotations

import pytest
import torch
import torch_pruning as tp
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from agent.models import build_model
from agent.pruning import PruneContext, check_method_options, prune_model
from agent.pruning.base import check_method_on_models
from agent.pruning.structured import HESSIAN_SAMPLES, IMPORTANCES, Structured
from shared import catalog
from shared.errors import UserError
from shared.sweep import MethodSpec
from tests.integration.test_pruning import NUM_CLASSES, Subject, param_count, subject

# a plain network for each criterion (lenet5 has no BatchNorm: bn_scale goes to vgg16), and a residual one
PLAIN = {name: "vgg16" if name == "bn_scale" else "lenet5" for name in IMPORTANCES}


def context(channels: int, seed: int = 0) -> PruneContext:
    generator = torch.Generator().manual_seed(seed)
    data = TensorDataset(torch.randn(64, channels, 32, 32, generator=generator),
                         torch.randint(0, NUM_CLASSES, (64,), generator=generator))
    return PruneContext(data, torch.device("cpu"), batch_size=16, lr=0.01, seed=seed)


def checked(options: dict[str, object], models: tuple[str, ...] = ()) -> dict[str, object]:
    """Options checked as a sweep's are: alone, then against its models (built on meta)."""
    values = check_method_options(MethodSpec("structured", options), "test.yml", "methods[0]")
    with torch.device("meta"):
        built = {name: build_model(name, NUM_CLASSES, 3, 32) for name in models}
    check_method_on_models(MethodSpec("structured", values), built, "test.yml", "methods[0]")
    return values


def prune(s: Subject, ratio: float, *, steps: int = 1, seed: int = 0, models: tuple[str, ...] = (),
          finetune=lambda m: None, **options: object) -> nn.Module:
    values = checked(options, models)
    return prune_model(s.model, MethodSpec("structured", values), ratio, steps, seed, s.layers, s.head,
                       s.inputs, finetune, context=context(s.inputs.shape[1]))


def channels(model: nn.Module) -> list[int]:
    return [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)]


def linear_widths(model: nn.Module) -> list[int]:
    return [m.out_features for m in model.modules() if isinstance(m, nn.Linear)]


def kept_weights(model: nn.Module) -> torch.Tensor:
    """Every conv's and Linear's surviving weights, which tell which channels a criterion kept."""
    return torch.cat([m.weight.detach().flatten() for m in model.modules()
                      if isinstance(m, (nn.Conv2d, nn.Linear))])


@pytest.mark.parametrize("importance", list(IMPORTANCES))
@pytest.mark.parametrize("kind", ["plain", "residual"])
def test_every_criterion_prunes_a_plain_and_a_residual_network(importance: str, kind: str) -> None:
    name = PLAIN[importance] if kind == "plain" else "resnet18"
    reference = prune(subject(name), 0.5, importance="l1")
    s = subject(name)
    before = param_count(s.model)

    model = prune(s, 0.5, models=(name,), importance=importance)

    # per-layer ranking: every criterion leaves the same shapes, it differs in which channels
    assert channels(model) == channels(reference)
    if importance == "bn_scale":  # ranks only channels a BatchNorm follows: VGG's Linears stay
        assert linear_widths(model) == linear_widths(subject(name).model) and param_count(model) < before
    else:
        assert param_count(model) < 0.4 * before
    with torch.no_grad():
        assert model.eval()(s.inputs).shape == (1, NUM_CLASSES)
    assert all(p.grad is None for p in model.parameters())  # the ranking's gradients are gone
    if importance not in ("l1", "bn_scale"):  # bn_scale on a fresh net: every gamma is 1, ties
        assert not torch.equal(kept_weights(model), kept_weights(reference))


def test_random_criterion_is_seeded() -> None:
    first = kept_weights(prune(subject("lenet5"), 0.5, importance="random", seed=3))
    again = kept_weights(prune(subject("lenet5"), 0.5, importance="random", seed=3))
    other = kept_weights(prune(subject("lenet5"), 0.5, importance="random", seed=4))
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_global_ranking_gives_layers_different_ratios_and_isomorphic_passes_through() -> None:
    per_layer = channels(prune(subject("resnet18"), 0.5))
    s = subject("resnet18")
    method = Structured(s.model, s.layers, s.head, s.inputs, 1, 0.5, 0,
                        {"global_pruning": True, "isomorphic": True, "importance": "lamp"})
    assert method.pruner.global_pruning is True and method.pruner.isomorphic is True
    method.step(0.5)
    assert channels(s.model) != per_layer
    assert sum(channels(s.model)) < sum(channels(subject("resnet18").model))


def test_hessian_gradients_are_the_mean_of_every_samples_squared_gradient() -> None:
    """Checked against per-sample gradients from torch.func, an independent computation."""
    s = subject("lenet5")
    method = Structured(s.model, s.layers, s.head, s.inputs, 1, 0.5, 0, {"importance": "hessian"},
                        context=context(3))
    method._hessian_gradients()
    inputs, labels = next(iter(method._batches(HESSIAN_SAMPLES)))
    params = {k: v.detach() for k, v in s.model.named_parameters()}

    def loss(p: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(s.model, p, (x[None],)), y[None])

    s.model.eval()
    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))(params, inputs, labels)
    for name, p in s.model.named_parameters():
        torch.testing.assert_close(p.grad, (per_sample[name] ** 2).mean(dim=0), rtol=1e-4, atol=1e-9)


def test_torch_prunings_own_hessian_accumulation_keeps_only_the_last_sample() -> None:
    """Why structured computes the squared gradients itself (see _hessian_gradients). When this
    fails, Torch-Pruning has fixed its accumulate_grad and the workaround can go."""
    layer = nn.Linear(2, 1, bias=False)
    scorer = tp.importance.HessianImportance()
    for value in (1.0, 3.0):
        layer.weight.grad = torch.full_like(layer.weight, value)
        scorer.accumulate_grad(layer)
    assert torch.equal(scorer._accu_grad[layer.weight], torch.full_like(layer.weight, 9.0))
    assert scorer._counter[layer.weight] == 1


def test_union_coupling_leaves_far_fewer_parameters_than_grouped_on_resnet18() -> None:
    """The paper's table: 0.1 repeated six times keeps 53.14% of each conv's channels; removed as
    a union across the residual streams, ResNet18 keeps 6-8% of its parameters (~28% grouped)."""
    ratio = 1 - 0.9 ** 6
    before = param_count(subject("resnet18").model)
    grouped = param_count(prune(subject("resnet18"), ratio, importance="l2")) / before
    s = subject("resnet18")
    shapes: list[list[int]] = []
    union = prune(s, ratio, steps=3, importance="l2", coupling="union",
                  finetune=lambda m: shapes.append(channels(m)))

    assert 0.2 < grouped < 0.35
    assert param_count(union) / before < 0.12
    # masks held through the earlier fine-tunings; the last one trains the physically pruned model
    assert shapes[0] == shapes[1] == channels(subject("resnet18").model) != shapes[2] == channels(union)
    with torch.no_grad():
        assert union.eval()(s.inputs).shape == (1, NUM_CLASSES)
    assert union.fc.out_features == NUM_CLASSES


@pytest.mark.parametrize("name", ["lenet5", "mobilenet_v2", "googlenet"])
def test_union_coupling_on_plain_depthwise_and_concatenating_networks(name: str) -> None:
    s = subject(name)
    linears = [tuple(m.weight.shape) for m in s.model.modules() if isinstance(m, nn.Linear)]
    model = prune(s, 0.5, coupling="union")
    with torch.no_grad():
        assert model.eval()(s.inputs).shape == (1, NUM_CLASSES)
    assert sum(channels(model)) < sum(channels(subject(name).model))
    if name == "lenet5":  # union prunes convolutions only: the Linears keep their outputs
        assert linear_widths(model) == [shape[0] for shape in linears]


@pytest.mark.parametrize(("options", "models", "field", "words"), [
    ({"isomorphic": True}, (), "isomorphic", "needs global_pruning: true"),
    ({"coupling": "union", "importance": "taylor"}, (), "importance", "must be l1 or l2, got 'taylor'"),
    ({"coupling": "union", "global_pruning": True}, (), "global_pruning", "applies to coupling: group"),
    ({"coupling": "union", "round_to": 8}, (), "round_to", "applies to coupling: group"),
    ({"importance": "bn_scale"}, ("resnet18", "lenet5"), "importance", "model 'lenet5' has no BatchNorm"),
    ({"importance": "obd"}, (), "importance", "valid: l1, l2, taylor"),
])
def test_impossible_settings_are_one_line_errors_naming_method_option_and_model(
        options: dict[str, object], models: tuple[str, ...], field: str, words: str) -> None:
    with pytest.raises(UserError) as caught:
        checked(options, models)
    assert caught.value.field == f"methods[0].{field}"
    assert words in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("name", catalog.MODELS)
def test_bn_scale_is_refused_exactly_where_a_model_has_no_batchnorm(name: str) -> None:
    model = build_model(name, NUM_CLASSES, 3, 32)
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if has_bn:
        assert checked({"importance": "bn_scale"}, (name,))["importance"] == "bn_scale"
    else:
        with pytest.raises(UserError, match=f"model '{name}' has no BatchNorm"):
            checked({"importance": "bn_scale"}, (name,))
