"""The sweep file: a good one loads, and each mistake is one clear UserError."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shared.errors import UserError
from shared.sweep import load_sweep, parse_sweep

GOOD = {
    "name": "t", "dataset": {"name": "digits"}, "models": ["lenet5", "resnet18"],
    "methods": [{"name": "l1_unstructured", "scope": "global"}, "random_unstructured"],
    "ratios": [0.0, 0.5], "schedule": {"kind": "one_shot", "finetune_epochs": 1},
    "batch_sizes": [1, 8], "backends": ["torch"],
}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "sweep.yml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_good_sweep_loads(tmp_path: Path) -> None:
    sweep = load_sweep(write(tmp_path, GOOD))
    assert sweep.models == ("lenet5", "resnet18")
    assert sweep.methods[0].options == {"scope": "global"}
    assert sweep.methods[1].options == {}
    assert sweep.ratios == (0.0, 0.5) and sweep.input_pixels == 32


def test_nsight_compute_is_opt_in_and_bounded(tmp_path: Path) -> None:
    assert load_sweep(write(tmp_path, GOOD)).telemetry.gpu_profiler == "auto"
    sweep = load_sweep(write(tmp_path, {**GOOD, "telemetry": {"gpu_profiler": "ncu", "ncu_launch_count": 40}}))
    assert (sweep.telemetry.gpu_profiler, sweep.telemetry.ncu_launch_count) == ("ncu", 40)


def test_per_layer_time_is_opt_in(tmp_path: Path) -> None:
    assert load_sweep(write(tmp_path, GOOD)).telemetry.layer_time is False
    assert load_sweep(write(tmp_path, {**GOOD, "telemetry": {"layer_time": True}})).telemetry.layer_time is True


def test_the_shipped_default_sweep_loads() -> None:
    sweep = load_sweep(Path(__file__).parents[2] / "deploy" / "sweep.quick.yml")
    assert sweep.name == "quick" and len(sweep.methods) == 4
    assert sweep.timing.percentiles == (50, 90)  # p99's 662 samples would multiply its time: not asked


def test_percentile_backing_and_processes_are_read(tmp_path: Path) -> None:
    default = load_sweep(write(tmp_path, GOOD)).timing
    assert default.percentiles == (50, 90, 99) and default.processes == 1
    assert (default.min_samples_p50, default.min_samples_p90, default.min_samples_p99) == (10, 64, 662)
    timing = load_sweep(write(tmp_path, {**GOOD, "timing": {"percentiles": [50], "min_samples_p90": 100,
                                                            "processes": 3}})).timing
    assert timing.percentiles == (50,) and timing.min_samples(90) == 100 and timing.processes == 3
    assert timing.target_samples == 10


@pytest.mark.parametrize(("change", "expected"), [
    ({"models": ["lenet5", "resnet19"]}, "models[1]: unknown model 'resnet19' (valid: alexnet,"),
    ({"methods": ["prune_it"]}, "methods[0]: unknown method 'prune_it' (valid: causal, l1_unstructured,"),
    ({"methods": [{"scope": "global"}]}, "methods[0]: a method mapping needs name:"),
    ({"dataset": {"name": "imagenet21k"}}, "dataset.name: unknown dataset 'imagenet21k' (valid: cifar10, digits,"),
    ({"backends": ["tensorflow"]}, "backends[0]: unknown backend 'tensorflow' (valid: onnxruntime, torch)"),
    ({"ratios": [0.5, 1.0]}, "ratios[1]: 1.0 is outside [0.0, 1.0)"),
    ({"ratios": [-0.1]}, "ratios[0]: -0.1 is outside [0.0, 1.0)"),
    ({"batch_sizes": [0]}, "batch_sizes[0]: 0 is outside [1, inf)"),
    ({"batch_sizes": [-4]}, "batch_sizes[0]: -4 is outside [1, inf)"),
    ({"batch_sizes": ["big"]}, "batch_sizes[0]: expected an integer, got 'big'"),
    ({"batch_sizes": [8, 8]}, "batch_sizes[1]: 8 is batch_sizes[0] again"),
    ({"models": []}, "models: expected a non-empty list"),
    ({"schedule": {"kind": "cyclic"}}, "schedule.kind: unknown schedule kind 'cyclic' (valid: iterative, one_shot)"),
    ({"schedule": {"kind": "one_shot", "steps": 3}}, "schedule.steps: one_shot has exactly 1 step"),
    ({"colour": "red"}, "unknown key 'colour' (valid:"),
    ({"dataset": {"name": "mnist"}}, "dataset.root: dataset 'mnist' reads local files and needs root:"),
    ({"dataset": {"name": "cifar10", "root": "/nonexistent/cifar"}}, "dataset.root: folder '/nonexistent/cifar' does not exist"),
    ({"input_size": "huge"}, "input_size: unknown input size 'huge' (valid: imagenet, small)"),
    ({"telemetry": {"gpu_profiler": "nvvp"}},
     "telemetry.gpu_profiler: unknown GPU profiler 'nvvp' (valid: auto, ncu, nsys, nvprof, torch_profiler)"),
    ({"telemetry": {"ncu_launch_count": 0}}, "telemetry.ncu_launch_count: 0 is outside [1, inf)"),
    ({"timing": {"percentiles": [50, 95]}}, "timing.percentiles[1]: 95 is not a percentile a row reports (valid: 50, 90, 99)"),
    ({"timing": {"percentiles": [90, 90]}}, "timing.percentiles[1]: 90 is timing.percentiles[0] again"),
    ({"timing": {"min_samples_p99": 0}}, "timing.min_samples_p99: 0 is outside [1, inf)"),
    ({"timing": {"processes": 0}}, "timing.processes: 0 is outside [1, 64]"),
    ({"timing": {"processes": 2.5}}, "timing.processes: expected an integer, got 2.5"),
    ({"telemetry": {"layer_time": "yes"}}, "telemetry.layer_time: expected true or false, got 'yes'"),
])
def test_each_mistake_names_file_field_and_valid_values(tmp_path: Path, change: dict, expected: str) -> None:
    path = write(tmp_path, {**GOOD, **change})
    with pytest.raises(UserError) as caught:
        load_sweep(path)
    message = str(caught.value)
    assert message.startswith(str(path) + ": ")
    assert expected in message
    assert "\n" not in message


def test_missing_required_key(tmp_path: Path) -> None:
    data = {k: v for k, v in GOOD.items() if k != "models"}
    with pytest.raises(UserError, match=r"models: missing \(required\)"):
        load_sweep(write(tmp_path, data))


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"sweep.yml: line 3, column \d+: malformed YAML"):
        load_sweep(write(tmp_path, "name: x\nmodels: [lenet5\nratios: [0.1]\n"))


def test_unreadable_file() -> None:
    with pytest.raises(UserError, match="cannot read sweep file"):
        load_sweep("/nonexistent/sweep.yml")


def test_not_a_mapping() -> None:
    with pytest.raises(UserError, match="expected a mapping, got list"):
        parse_sweep([1, 2], "s.yml")


def test_relative_dataset_root_is_relative_to_the_sweep_file(tmp_path: Path) -> None:
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    sweep = load_sweep(write(tmp_path, {**GOOD, "dataset": {"name": "mnist", "root": "data/mnist"}}))
    assert sweep.dataset.root == str((tmp_path / "data" / "mnist").resolve())
