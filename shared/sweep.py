"""The sweep file: what to build and measure, loaded from YAML and checked field by field.

Every mistake becomes one :class:`UserError` naming the file, the field and the valid values.
Method options are checked by the agent's pruning registry, which knows each method's options.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared import catalog
from shared.errors import UserError, shown, unknown_name
from shared.latency_columns import DEFAULT_MIN_SAMPLES
from shared.resultsdir import PLAIN_NAME
from shared.strategy import Strategy, parse_strategy
from shared.yamlfile import read_yaml_file

# the largest integer any count, size or seed may be: a C int everywhere it goes (torch, numpy)
MAX_INT = 2**31 - 1
MAX_PROCESSES = 64  # timing.processes: fresh workers a trial (pyperf runs 20)
# the quick sweep (deploy/sweep.quick.yml links to it): what `agent run` and `collector run`
# measure when no --sweep is given; packaged with shared/, so installed agents have it too
DEFAULT_SWEEP = Path(__file__).parent / "sweeps" / "quick.yml"


@dataclass(frozen=True)
class DatasetSpec:
    name: str = "digits"
    root: str | None = None
    eval_samples: int | None = None  # cap on the evaluation split (deterministic subset)
    train_samples: int | None = None  # cap on the training split
    num_classes: int = 10  # synthetic only
    samples: int = 512  # synthetic only


@dataclass(frozen=True)
class MethodSpec:
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScheduleSpec:
    kind: str = "one_shot"
    steps: int = 1
    finetune_epochs: int = 1
    # small batches: a pruned net recovers with more steps, not more samples (measured on
    # digits: ResNet18 random 50%, one epoch of 512 images: batch 64 -> 0.15 top-1, 16 -> 0.91)
    finetune_lr: float = 0.02
    finetune_batch_size: int = 16


@dataclass(frozen=True)
class TrainSpec:
    """How the base model is made when no local weights are given."""

    epochs: int = 3
    lr: float = 0.05
    batch_size: int = 64
    weights: Mapping[str, str] = field(default_factory=dict)  # model -> local file


PERCENTILES = tuple(DEFAULT_MIN_SAMPLES)  # the latency percentiles a row reports (latency_p50_ms, ...)


@dataclass(frozen=True)
class DisturbanceSpec:
    """When a trial counts as disturbed (``timing.disturbance``): each limit is checked against
    what the system sampler saw over the timed region; null turns a check off."""

    other_cpu_pct: float | None = 20.0  # other processes' busy share of the worker's cores, %
    steal_pct: float | None = 5.0  # CPU time stolen by the hypervisor, %
    psi_cpu_pct: float | None = 40.0  # share of the region some task waited for a CPU (PSI), %
    load_per_cpu: float | None = 2.0  # highest 1-minute load average / the machine's usable cores
    freq_drop_pct: float | None = 10.0  # fall of the CPU clock within the region, % of its highest
    swap_mb: float | None = 1.0  # swapped in plus out during the region, MiB


@dataclass(frozen=True)
class TimingSpec:
    """How a trial is timed (the sweep's ``timing:`` section; agent/timing.py does it).

    A percentile is reported only from at least ``min_samples_pNN`` samples (MLPerf LoadGen's
    rule: a p90 from fewer than 64 queries, or a p99 from fewer than 662, is the maximum in
    disguise); else it is null with the reason in the row. Timing goes on, within
    ``max_time_s``, until every percentile in ``percentiles`` has its count. ``processes``:
    each trial is measured in that many fresh workers and the row pools them (pyperf's
    reason: memory layout, allocator state and thread placement vary between processes more
    than between repetitions in one).
    """

    warmup_s: float = 0.2
    min_reps: int = 10
    min_time_s: float = 0.5
    max_time_s: float = 5.0
    noisy_cv: float = 0.10  # pyperf warns at std >= 10% of the mean
    percentiles: tuple[int, ...] = PERCENTILES  # the ones timing goes on for
    min_samples_p50: int = DEFAULT_MIN_SAMPLES[50]
    min_samples_p90: int = DEFAULT_MIN_SAMPLES[90]
    min_samples_p99: int = DEFAULT_MIN_SAMPLES[99]
    processes: int = 1

    def min_samples(self, percentile: int) -> int:
        """Samples needed before ``percentile`` is reported."""
        return int(getattr(self, f"min_samples_p{percentile}"))

    @property
    def target_samples(self) -> int:
        """Samples timing goes on for (within max_time_s): min_reps, and every wanted percentile's count."""
        return max([self.min_reps, *(self.min_samples(p) for p in self.percentiles)])
    disturbance: DisturbanceSpec = DisturbanceSpec()
    retry_disturbed: int = 1  # re-measure a disturbed trial at the end of the run, at most this often
    quiet_wait_s: float = 0.0  # before a trial, wait up to this long for the machine to be quiet
    cooldown_s: float = 0.0  # sleep before every trial
    cooldown_temp_c: float | None = None  # before every trial, cool until below this (where readable)
    cooldown_max_s: float = 120.0  # the longest cooling to a temperature may take
    sustained_s: float = 0.0  # after the timed region, run this long recording latency, clock, heat


@dataclass(frozen=True)
class TelemetrySpec:
    """What is recorded around each timed region besides latency."""

    perf: bool = True  # perf stat counters (null, with the reason, where perf cannot count)
    system_interval_s: float = 0.5  # CPU, PSI, memory, disk, temperature sampler
    nvml_interval_s: float = 0.05  # GPU sampler (CUDA devices only)
    tegrastats_interval_s: float = 0.1  # tegrastats sampler (wherever tegrastats is on PATH)
    gpu_profile: bool = True  # a kernel-level profile in a separate pass (CUDA devices only)
    # auto: nvprof where it supports the GPU and is installed, else nsys, else torch.profiler;
    # ncu only when named here (it replays and serialises every kernel it profiles).
    gpu_profiler: str = "auto"
    ncu_launch_count: int = 200  # kernel launches Nsight Compute profiles (the first N of the region)
    # per-layer time in a pass of its own after the timed one (torch.profiler or onnxruntime's
    # profiler), written to layer_time.jsonl; off by default: it costs a profiled pass a trial
    layer_time: bool = False


@dataclass(frozen=True)
class OnnxRuntimeSpec:
    """Settings of the onnxruntime backend (the sweep's ``onnxruntime:`` section).

    ``providers``: execution providers in order of preference (catalog.ORT_PROVIDERS); None
    means what the device needs: ``cpu`` on a CPU, ``cuda`` (with the CPU for what CUDA cannot
    run) on a GPU. ``threads``: intra-op threads; None: the sweep's ``threads``, else
    onnxruntime's default (one a physical core).
    """

    providers: tuple[str, ...] | None = None
    graph_optimization: str = "all"
    threads: int | None = None


@dataclass(frozen=True)
class Sweep:
    name: str
    dataset: DatasetSpec
    models: tuple[str, ...]
    methods: tuple[MethodSpec, ...]
    ratios: tuple[float, ...]
    schedule: ScheduleSpec
    batch_sizes: tuple[int, ...]
    backends: tuple[str, ...] = ("torch",)
    devices: tuple[str, ...] = ("auto",)
    input_size: str = "small"
    threads: int | None = None  # None: the backend's default (all cores)
    cpus: tuple[int, ...] | None = None  # pin the workers to these cores (None: not pinned)
    seed: int = 0
    train: TrainSpec = TrainSpec()
    timing: TimingSpec = TimingSpec()
    telemetry: TelemetrySpec = TelemetrySpec()
    trial_timeout_s: float = 600.0  # a worker with no result for this long is killed
    continue_after_oom: bool = False  # run the larger batches of a ladder after an OOM
    onnxruntime: OnnxRuntimeSpec = OnnxRuntimeSpec()
    strategy: Strategy = Strategy()  # the full grid, or the adaptive planner choosing trials
    source: str = "<sweep>"  # the file it came from, for messages

    @property
    def input_pixels(self) -> int:
        return catalog.INPUT_SIZES[self.input_size]

    def backend_options(self, backend: str) -> dict[str, Any]:
        """The settings a backend is configured with (empty for torch); part of a trial's key,
        so that measuring with other settings is a new trial."""
        if backend != "onnxruntime":
            return {}
        spec = self.onnxruntime
        return {"providers": list(spec.providers) if spec.providers is not None else None,
                "graph_optimization": spec.graph_optimization,
                "threads": spec.threads if spec.threads is not None else self.threads}


class _Reader:
    """Walks a parsed YAML document, turning every problem into a UserError with its path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str, valid: Sequence[object] | None = None) -> UserError:
        return UserError(message, source=self.source, field=where, valid=valid)

    def mapping(self, value: Any, where: str, allowed: Sequence[str]) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        for key in value:
            if key not in allowed:
                raise unknown_name("key", key, allowed, source=self.source, field=where or None)
        return value

    def number(self, value: Any, where: str, kind: type, low: float | None = None,
               high: float | None = None, high_open: bool = False) -> Any:
        ok_type = (int,) if kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_type):
            raise self.fail(where, f"expected {'an integer' if kind is int else 'a number'}, got {shown(value)}")
        if not math.isfinite(value):  # .nan passes every comparison below; .inf is never reached
            raise self.fail(where, f"expected a finite number, got {shown(value)}")
        if kind is int and high is None and value > MAX_INT:
            raise self.fail(where, f"{shown(value)} is larger than {MAX_INT}")
        too_high = high is not None and (value >= high if high_open else value > high)
        if (low is not None and value < low) or too_high:
            bound = f"{high})" if high_open else f"{high}]"
            raise self.fail(where, f"{shown(value)} is outside [{low}, {bound if high is not None else 'inf)'}")
        return kind(value)

    def choice(self, value: Any, where: str, valid: Sequence[str], kind: str) -> str:
        if not isinstance(value, str) or value not in valid:
            raise unknown_name(kind, value, valid, source=self.source, field=where)
        return value

    def items(self, value: Any, where: str, *, allow_empty: bool = False) -> list[Any]:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or (not value and not allow_empty):
            raise self.fail(where, "expected a non-empty list")
        return value

    def each(self, value: Any, where: str, read: Callable[[Any, str], Any]) -> tuple[Any, ...]:
        """A list's items, each read by ``read(item, "where[i]")``; an item read twice (``0`` and
        ``0.0``, a method once by name and once as a mapping) would be measured twice under one
        trial key, so it is refused with both positions."""
        values = tuple(read(v, f"{where}[{i}]") for i, v in enumerate(self.items(value, where)))
        first: dict[str, int] = {}
        for i, v in enumerate(values):
            key = json.dumps(v.__dict__ if isinstance(v, MethodSpec) else v, sort_keys=True, default=repr)
            if key in first:
                raise self.fail(f"{where}[{i}]", f"{shown(v)} is {where}[{first[key]}] again")
            first[key] = i
        return values

    def nested(self, cls: type, value: Any, where: str, checks: Mapping[str, Any]) -> Any:
        """Fill dataclass ``cls`` from a mapping; ``checks`` maps a key to a reader of its value."""
        data = self.mapping(value, where, list(checks))
        return cls(**{k: checks[k](v, f"{where}.{k}") for k, v in data.items()})


def _method(r: _Reader, value: Any, where: str) -> MethodSpec:
    if isinstance(value, str):
        return MethodSpec(r.choice(value, where, catalog.METHODS, "method"))
    if isinstance(value, Mapping):
        if "name" not in value:
            raise r.fail(where, "a method mapping needs name:", valid=catalog.METHODS)
        options = {k: v for k, v in value.items() if k != "name"}
        return MethodSpec(r.choice(value["name"], f"{where}.name", catalog.METHODS, "method"), options)
    raise r.fail(where, f"expected a method name or a mapping with name:, got {shown(value)}")


def _dataset(r: _Reader, value: Any, where: str) -> DatasetSpec:
    pos = lambda v, w: r.number(v, w, int, low=1)  # noqa: E731
    spec = r.nested(DatasetSpec, value, where, {
        "name": lambda v, w: r.choice(v, w, catalog.DATASETS, "dataset"),
        "root": lambda v, w: _path_text(r, v, w),
        "eval_samples": pos, "train_samples": pos,
        "num_classes": lambda v, w: r.number(v, w, int, low=2),
        "samples": pos,
    })
    if spec.name in catalog.FILE_DATASETS:
        if not spec.root:
            raise r.fail(f"{where}.root", f"dataset {spec.name!r} reads local files and needs root:")
        root = Path(spec.root).expanduser()
        if not root.is_absolute():  # relative to the sweep file, so a sweep travels with its data
            root = Path(r.source).resolve().parent / root
        if not root.is_dir():
            raise r.fail(f"{where}.root", f"folder {str(root)!r} does not exist")
        spec = DatasetSpec(**{**spec.__dict__, "root": str(root)})
    return spec


def _name(r: _Reader, value: Any) -> str:
    """The sweep's name is a folder name (results/<name>, the fleet's runs/<name>) and is
    printed by rich: '../../x' would write outside results/, '[/]' is rich markup."""
    if not isinstance(value, str) or not PLAIN_NAME.fullmatch(value):
        raise r.fail("name", f"{shown(value)} is not a plain name: 1 to 100 letters, digits, '.', '_' "
                             "or '-', not starting with '.' or '-' (it names the results folder)")
    return value


def _path_text(r: _Reader, value: Any, where: str) -> str:
    """A local path as written: a string the file system can be asked about."""
    if not isinstance(value, str) or not value.strip() or "\x00" in value or len(value) > 4096:
        raise r.fail(where, f"expected a path, got {shown(value)}")
    return value


def _weights_file(r: _Reader, value: Any, where: str) -> str:
    """A local weights file, relative to the sweep file; it must exist now, not mid-sweep."""
    path = Path(_path_text(r, value, where)).expanduser()
    if not path.is_absolute():
        path = Path(r.source).resolve().parent / path
    if not path.is_file():
        raise r.fail(where, f"weights file {str(path)!r} does not exist")
    return str(path)


def _schedule(r: _Reader, value: Any, where: str) -> ScheduleSpec:
    spec = r.nested(ScheduleSpec, value, where, {
        "kind": lambda v, w: r.choice(v, w, catalog.SCHEDULES, "schedule kind"),
        "steps": lambda v, w: r.number(v, w, int, low=1),
        "finetune_epochs": lambda v, w: r.number(v, w, int, low=0),
        "finetune_lr": lambda v, w: r.number(v, w, float, low=0),
        "finetune_batch_size": lambda v, w: r.number(v, w, int, low=1),
    })
    if spec.kind == "one_shot" and spec.steps != 1:
        raise r.fail(f"{where}.steps", "one_shot has exactly 1 step; use kind: iterative")
    return spec


def parse_sweep(data: Any, source: str = "<sweep>") -> Sweep:
    """Check a parsed YAML document and return the Sweep it describes."""
    r = _Reader(source)
    top = r.mapping(data, "", [f.name for f in Sweep.__dataclass_fields__.values() if f.name != "source"])
    for key in ("name", "models", "methods", "ratios", "batch_sizes"):
        if key not in top:
            raise r.fail(key, "missing (required)")
    return _fits_the_time_limit(r, Sweep(
        name=_name(r, top["name"]),
        dataset=_dataset(r, top.get("dataset", {"name": "digits"}), "dataset"),
        models=r.each(top["models"], "models", lambda v, w: r.choice(v, w, catalog.MODELS, "model")),
        methods=r.each(top["methods"], "methods", lambda v, w: _method(r, v, w)),
        ratios=r.each(top["ratios"], "ratios", lambda v, w: r.number(v, w, float, low=0.0, high=1.0, high_open=True)),
        schedule=_schedule(r, top.get("schedule"), "schedule"),
        batch_sizes=r.each(top["batch_sizes"], "batch_sizes", lambda v, w: r.number(v, w, int, low=1)),
        backends=r.each(top.get("backends", ["torch"]), "backends",
                        lambda v, w: r.choice(v, w, catalog.BACKENDS, "backend")),
        devices=r.each(top.get("devices", ["auto"]), "devices", lambda v, w: r.choice(v, w, catalog.DEVICES, "device")),
        input_size=r.choice(top.get("input_size", "small"), "input_size", list(catalog.INPUT_SIZES), "input size"),
        threads=None if top.get("threads") is None else r.number(top["threads"], "threads", int, low=1),
        cpus=None if top.get("cpus") is None else _cpus(r, top["cpus"], "cpus"),
        seed=r.number(top.get("seed", 0), "seed", int, low=0),
        train=r.nested(TrainSpec, top.get("train"), "train", {
            "epochs": lambda v, w: r.number(v, w, int, low=0),
            "lr": lambda v, w: r.number(v, w, float, low=0),
            "batch_size": lambda v, w: r.number(v, w, int, low=1),
            "weights": lambda v, w: {k: _weights_file(r, p, f"{w}.{k}")
                                     for k, p in r.mapping(v, w, catalog.MODELS).items()},
        }),
        timing=r.nested(TimingSpec, top.get("timing"), "timing", {
            "warmup_s": lambda v, w: r.number(v, w, float, low=0),
            "min_reps": lambda v, w: r.number(v, w, int, low=2),
            "min_time_s": lambda v, w: r.number(v, w, float, low=0),
            "max_time_s": lambda v, w: r.number(v, w, float, low=0),
            "noisy_cv": lambda v, w: r.number(v, w, float, low=0),
            "percentiles": lambda v, w: r.each(v, w, lambda p, at: _percentile(r, p, at)),
            "min_samples_p50": lambda v, w: r.number(v, w, int, low=1),
            "min_samples_p90": lambda v, w: r.number(v, w, int, low=1),
            "min_samples_p99": lambda v, w: r.number(v, w, int, low=1),
            "processes": lambda v, w: r.number(v, w, int, low=1, high=MAX_PROCESSES),
            "disturbance": lambda v, w: r.nested(DisturbanceSpec, v, w, {
                name: lambda x, at: None if x is None else r.number(x, at, float, low=0)
                for name in DisturbanceSpec.__dataclass_fields__}),
            "retry_disturbed": lambda v, w: r.number(v, w, int, low=0, high=10),
            "quiet_wait_s": lambda v, w: r.number(v, w, float, low=0, high=3600),
            "cooldown_s": lambda v, w: r.number(v, w, float, low=0, high=3600),
            "cooldown_temp_c": lambda v, w: None if v is None else r.number(v, w, float, low=0, high=150),
            "cooldown_max_s": lambda v, w: r.number(v, w, float, low=0, high=3600),
            "sustained_s": lambda v, w: r.number(v, w, float, low=0, high=86400),
        }),
        telemetry=r.nested(TelemetrySpec, top.get("telemetry"), "telemetry", {
            "perf": lambda v, w: _flag(r, v, w),
            "system_interval_s": lambda v, w: r.number(v, w, float, low=0.01),
            "nvml_interval_s": lambda v, w: r.number(v, w, float, low=0.001),
            "tegrastats_interval_s": lambda v, w: r.number(v, w, float, low=0.001),
            "gpu_profile": lambda v, w: _flag(r, v, w),
            "gpu_profiler": lambda v, w: r.choice(v, w, catalog.GPU_PROFILERS, "GPU profiler"),
            "ncu_launch_count": lambda v, w: r.number(v, w, int, low=1),
            "layer_time": lambda v, w: _flag(r, v, w),
        }),
        trial_timeout_s=r.number(top.get("trial_timeout_s", 600.0), "trial_timeout_s", float, low=0.001),
        continue_after_oom=_flag(r, top.get("continue_after_oom", False), "continue_after_oom"),
        onnxruntime=_onnxruntime(r, top.get("onnxruntime"), "onnxruntime"),
        strategy=parse_strategy(top.get("strategy"), source),
        source=source,
    ))


def _fits_the_time_limit(r: _Reader, sweep: Sweep) -> Sweep:
    """A trial's waits, timing and sustained run all count towards ``trial_timeout_s``: a sweep
    whose trials could not fit is refused now, not killed trial by trial."""
    t = sweep.timing
    cooling = t.cooldown_max_s if t.cooldown_temp_c is not None else 0.0
    longest = t.quiet_wait_s + max(t.cooldown_s, cooling) + t.warmup_s + t.max_time_s + t.sustained_s
    if t.sustained_s + t.quiet_wait_s + t.cooldown_s > 0 and longest >= sweep.trial_timeout_s:
        raise r.fail("timing", f"a trial may take {longest:g} s (quiet wait, cooling, warm-up, max_time_s and "
                               f"sustained_s), not less than trial_timeout_s {sweep.trial_timeout_s:g}: raise "
                               f"trial_timeout_s or shorten them")
    return sweep


def _onnxruntime(r: _Reader, value: Any, where: str) -> OnnxRuntimeSpec:
    """Provider names are checked here; whether this host has them, by the backend."""
    return r.nested(OnnxRuntimeSpec, value, where, {
        "providers": lambda v, w: None if v is None else r.each(
            v, w, lambda p, at: r.choice(p, at, catalog.ORT_PROVIDERS, "execution provider")),
        "graph_optimization": lambda v, w: r.choice(v, w, catalog.ORT_GRAPH_OPTIMIZATIONS,
                                                    "graph optimization level"),
        "threads": lambda v, w: None if v is None else r.number(v, w, int, low=1),
    })


def _percentile(r: _Reader, value: Any, where: str) -> int:
    if isinstance(value, bool) or value not in PERCENTILES:
        raise r.fail(where, f"{shown(value)} is not a percentile a row reports", valid=PERCENTILES)
    return int(value)
def _cpus(r: _Reader, value: Any, where: str) -> tuple[int, ...]:
    """Core numbers; whether this machine has them is the agent's check (the collector reads
    sweeps for hosts it does not run on)."""
    cores = r.each(value, where, lambda v, w: r.number(v, w, int, low=0, high=4095))
    return tuple(cores)


def _flag(r: _Reader, value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise r.fail(where, f"expected true or false, got {shown(value)}")
    return value


def read_sweep_file(path: str | Path) -> Any:
    """The YAML of a sweep file, unchecked (the collector adds each host's overrides to it);
    an unreadable, oversized, non-UTF-8 or malformed file is a one-line UserError."""
    return read_yaml_file(path, "sweep file")


def load_sweep(path: str | Path) -> Sweep:
    """Read and check a sweep file; any problem is a one-line UserError."""
    return parse_sweep(read_sweep_file(path), source=str(path))
