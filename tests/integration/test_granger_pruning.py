"""The causal method end to end: what it zeroes, that it is seeded, that masks hold."""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from agent.build import build_variant
from agent.data import DataBundle, LabelledTensors, load_dataset
from agent.models import build_model, classifier_head, prunable_layers
from agent.pruning import METHODS, PruneContext, check_method_options, prune_model
from agent.pruning.base import current_tensor
from shared.errors import UserError
from shared.plan import Variant
from shared.sweep import DatasetSpec, MethodSpec

CPU = torch.device("cpu")
DEAD = 7  # a first-layer unit whose ReLU never fires


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """These models are tiny: intra-op threads only add synchronisation, which on a busy
    2-core machine made this module 10x slower. Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def probe() -> tuple[nn.Module, LabelledTensors]:
    """A net where some weights provably cannot change the loss: inputs 4 and 5 are always
    0 (so are the gradients of every weight reading them), and unit ``DEAD`` of the first
    layer has a bias of -100 (its ReLU is 0 on every sample, so the weights into it and the
    second-layer weights reading it have zero gradient too). Tanh after the second layer: no
    unit there can die by accident."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))
    with torch.no_grad():
        model[0].bias[DEAD] = -100.0
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(256, 6, generator=generator)
    inputs[:, 4:] = 0.0
    labels = (inputs[:, :4] @ torch.randn(4, 3, generator=generator)).argmax(dim=1)
    return model, LabelledTensors(inputs, labels)


def no_effect() -> list[torch.Tensor]:
    first = torch.zeros(8, 6, dtype=torch.bool)
    first[:, 4:] = True
    first[DEAD, :] = True
    second = torch.zeros(8, 8, dtype=torch.bool)
    second[:, DEAD] = True
    return [first, second]


def causal(model: nn.Module, data: LabelledTensors | DataBundle, ratio: float, *, seed: int = 0,
           finetune: Callable[[nn.Module], None] = lambda m: None, steps: int = 1,
           **options: object) -> nn.Module:
    train = data.train if isinstance(data, DataBundle) else data
    checked = check_method_options(MethodSpec("causal", options), "test.yml", "methods[0]")
    example = train[0][0].unsqueeze(0)
    return prune_model(model, MethodSpec("causal", checked), ratio, steps, seed, prunable_layers(model),
                       classifier_head(model), example, finetune,
                       context=PruneContext(train, CPU, 16, 0.02, seed))


def zeros(model: nn.Module) -> list[torch.Tensor]:
    return [current_tensor(w.module, w.param) == 0 for w in prunable_layers(model)]


@pytest.fixture(scope="module")
def digits() -> DataBundle:
    return load_dataset(DatasetSpec("digits", train_samples=192, eval_samples=64), 32, 0)


def lenet() -> nn.Module:
    torch.manual_seed(0)
    return build_model("lenet5", 10, 1, 32)


@pytest.mark.parametrize("options", [{}, {"momentum": 0.9}, {"lasso_passes": 3}],
                         ids=["plain", "momentum", "three-passes"])
def test_the_lasso_zeroes_exactly_the_weights_without_effect_on_the_loss(options: dict[str, object]) -> None:
    model, data = probe()
    pruned = causal(model, data, 0.5, stop="zero", l1_coeff=1e-3, **options)
    for found, expected in zip(zeros(pruned), no_effect(), strict=True):
        assert torch.equal(found, expected)


def test_stop_zero_ignores_the_ratio() -> None:
    first = zeros(causal(probe()[0], probe()[1], 0.3, stop="zero", l1_coeff=0.05))
    second = zeros(causal(probe()[0], probe()[1], 0.9, stop="zero", l1_coeff=0.05))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_stop_ratio_prunes_exactly_the_ratio(digits: DataBundle, scope: str) -> None:
    model = causal(lenet(), digits, 0.7, scope=scope, iterations=2)
    counts = [(int(z.sum()), z.numel()) for z in zeros(model)]
    if scope == "global":
        assert sum(c for c, _ in counts) == round(0.7 * sum(n for _, n in counts))
    else:
        assert [c for c, _ in counts] == [round(0.7 * n) for _, n in counts]
    assert not any(hasattr(m, "weight_mask") for m in model.modules())  # finalized


def test_the_same_seed_gives_the_same_mask(digits: DataBundle) -> None:
    first, again, other = (zeros(causal(lenet(), digits, 0.7, seed=seed)) for seed in (3, 3, 4))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_pruned_weights_stay_zero_through_post_training_and_finetuning(digits: DataBundle) -> None:
    model = lenet()
    layers = prunable_layers(model)
    checked = check_method_options(MethodSpec("causal", {"post_epochs": 1}), "test.yml", "methods[0]")
    method = METHODS.get("causal")(model, layers, classifier_head(model), digits.train[0][0][None], 1, 0.6, 0,
                                   checked, context=PruneContext(digits.train, CPU, 16, 0.02, 0))
    rewind = [w.module.weight.detach().clone() for w in layers]

    method.step(0.6)  # iterations, then the post-training

    masks = [w.module.weight_mask.bool() for w in layers]
    for w, mask, before in zip(layers, masks, rewind, strict=True):
        weight = current_tensor(w.module, w.param)
        assert not weight[~mask].any()  # pruned: zero after a post-training epoch
        assert not torch.equal(weight[mask], before[mask])  # the rest did train
    with torch.no_grad():  # a fine-tune that sets everything to 1 cannot revive them either
        for param in model.parameters():
            param.fill_(1.0)
    final = method.finalize()
    for w, mask in zip(prunable_layers(final), masks, strict=True):
        assert not w.module.weight[~mask].any() and bool((w.module.weight[mask] == 1.0).all())
    assert [entry["iteration"] for entry in method.history] == [0, 1]


def test_iterative_schedule_reaches_each_step(digits: DataBundle) -> None:
    seen: list[float] = []

    def record(model: nn.Module) -> None:
        z = zeros(model)
        seen.append(sum(int(x.sum()) for x in z) / sum(x.numel() for x in z))

    causal(lenet(), digits, 0.75, steps=2, finetune=record, iterations=1)
    assert seen == pytest.approx([0.5, 0.75], abs=1e-4)


def test_the_caller_s_random_numbers_are_left_alone() -> None:
    model, data = probe()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    causal(model, data, 0.5)
    assert torch.equal(torch.rand(3), expected)


def test_it_needs_a_context() -> None:
    model, _ = probe()
    checked = check_method_options(MethodSpec("causal", {}), "test.yml", "methods[0]")
    with pytest.raises(ValueError, match="PruneContext"):
        prune_model(model, MethodSpec("causal", checked), 0.5, 1, 0, prunable_layers(model),
                    classifier_head(model), torch.zeros(1, 6), lambda m: None)


def test_a_store_too_small_is_refused_before_training(digits: DataBundle) -> None:
    with pytest.raises(UserError, match="store_mb"):
        causal(lenet(), digits, 0.5, lasso_passes=2, prune_epochs=50, store_mb=1)


def test_the_store_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    model, data = probe()
    causal(model, data, 0.5, lasso_passes=2)
    assert not any(tmp_path.iterdir())


def test_build_variant_hands_the_method_its_training_data(digits: DataBundle) -> None:
    variant = Variant(model="lenet5", dataset="digits", input_size=32, method="causal", method_options={},
                      target_ratio=0.5, schedule="one_shot", schedule_steps=1, finetune_epochs=0,
                      finetune_lr=0.02, finetune_batch_size=16, seed=0, train_epochs=0, train_lr=0.05,
                      train_batch_size=64, train_samples=192, eval_samples=64)
    base = lenet()
    nonzero = sum(int(p.count_nonzero()) for p in base.parameters())
    checked = check_method_options(MethodSpec("causal", {}), "test.yml", "methods[0]")
    built = build_variant(variant, MethodSpec("causal", checked), base, nonzero, digits, CPU)
    prunable = sum(w.module.weight.numel() for w in prunable_layers(base))
    assert built.columns["params_nonzero"] == nonzero - round(0.5 * prunable)
    assert built.columns["accuracy_top1"] is not None
