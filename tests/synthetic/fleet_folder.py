"""A synthetic fleet folder, as ``collector run`` lays it out: for report tests and the benchmark.

``DIR/<host>/{results.jsonl, machine.json, run.json, layers.jsonl}``, one folder a host, rows
built with ``shared.schema.make_row``. One host's sweep is a full grid (model x method x ratio
x batch size x backend: 5 x 5 x 5 x 4 x 2 = 1,000 trials by default), batch sizes ascending,
with what a real fleet shows: an accuracy phase shift as the ratio grows, real speed-ups only
for ``structured``, out-of-memory trials on small devices followed by ``skipped`` larger
batches, a few timeouts, crashes and errors, noisy trials on shared VMs, and probes that a
device lacks (``probe_errors``). With ``fleet_file=True``, also ``DIR/fleet.json`` as ``collector
run`` writes it, with hosts that did not end ok: the last host folder stopped half way
(partial), the one before it lost its agent (agent-error), and two hosts asked that left no
folder at all (unreachable, auth-failed).
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.plan import stable_hash
from shared.resultsdir import ResultsFolder
from shared.schema import make_row


@dataclass(frozen=True)
class Platform:
    device_class: str
    cpu_model: str
    arch: str
    cores: int
    ram_gb: float
    gpu: str | None            # GPU name; None: trials run on the CPU
    gpu_mem_gb: float
    speed: float               # latency multiplier against the fastest
    vm: bool                   # perf hardware events unavailable, noisier timings

    @property
    def mem_gb(self) -> float:
        return self.gpu_mem_gb if self.gpu else self.ram_gb


PLATFORMS = (
    Platform("x86_64-xeon-6140-p40", "Intel Xeon Gold 6140", "x86_64", 36, 192.0, "Tesla P40", 24.0, 0.35, False),
    Platform("x86_64-ryzen-3700x-rtx3060", "AMD Ryzen 7 3700X", "x86_64", 8, 32.0, "GeForce RTX 3060", 12.0,
             0.3, False),
    Platform("x86_64-i7-9750h-gtx1650", "Intel Core i7-9750H", "x86_64", 6, 16.0, "GeForce GTX 1650", 4.0, 0.6,
             False),
    Platform("aarch64-jetson-orin-nano", "ARMv8 Cortex-A78AE", "aarch64", 6, 8.0, "Orin (nvgpu)", 7.4, 1.4, False),
    Platform("x86_64-amd-epyc-cpu", "AMD EPYC", "x86_64", 2, 23.5, None, 0.0, 4.0, True),
    Platform("aarch64-raspberry-pi-4", "ARMv8 Cortex-A72", "aarch64", 4, 4.0, None, 0.0, 12.0, False),
    Platform("x86_64-xeon-e5-2680-cpu", "Intel Xeon E5-2680 v4", "x86_64", 28, 128.0, None, 0.0, 1.6, True),
    Platform("aarch64-jetson-xavier-nx", "ARMv8 Carmel", "aarch64", 6, 8.0, "Xavier (nvgpu)", 7.6, 1.8, False),
)

# model -> (params, MACs a sample, top-1 unpruned, ms a sample on the fastest, MiB of activations a sample,
#           MiB the weights take)
MODELS: dict[str, tuple[int, int, float, float, float, float]] = {
    "lenet5": (61_706, 436_250, 0.97, 0.02, 0.05, 0.3),
    "alexnet": (57_044_810, 710_000_000, 0.89, 0.6, 6.0, 220.0),
    "resnet18": (11_173_962, 556_651_520, 0.93, 0.5, 10.0, 45.0),
    "mobilenet_v2": (2_236_682, 96_000_000, 0.92, 0.35, 14.0, 9.0),
    "vgg16_bn": (14_728_266, 313_000_000, 0.94, 1.2, 24.0, 57.0),
}
# method -> ratio at which accuracy falls off (the phase shift), and how much it has lost by 0.9
METHODS: dict[str, tuple[float, float]] = {
    "l1_unstructured": (0.8, 0.35),
    "random_unstructured": (0.45, 0.6),
    "ln_structured_mask": (0.55, 0.5),
    "structured": (0.6, 0.45),
    "causal": (0.85, 0.3),
}
RATIOS = (0.0, 0.3, 0.5, 0.7, 0.9)
BATCH_SIZES = (1, 8, 32, 128)
BACKENDS = ("torch", "onnxruntime")
RUNTIME_MB = {"torch": 900.0, "onnxruntime": 250.0}  # what the runtime itself takes
# (model, layer name, kind, share of the model's parameters)
LAYER_SHARES = (("features.0", "Conv2d", 0.01), ("features.3", "Conv2d", 0.05), ("features.6", "Conv2d", 0.14),
                ("classifier.1", "Linear", 0.6), ("classifier.3", "Linear", 0.15), ("classifier.5", "Linear", 0.05))


def _grid(models: Sequence[str], methods: Sequence[str]) -> Iterator[tuple[str, str, float, str, int]]:
    """A host's trials in the order an agent runs them: variant by variant, batch sizes ascending."""
    for model in models:
        for method in methods:
            for ratio in RATIOS:
                for backend in BACKENDS:
                    for batch in BATCH_SIZES:
                        yield model, method, ratio, backend, batch


def _variant(model: str, method: str, ratio: float) -> dict[str, Any]:
    """What was built: the same on every host (the treatment means the same thing everywhere)."""
    params, macs, top1, _, _, _ = MODELS[model]
    rng = np.random.default_rng(int(stable_hash([model, method, ratio], 8), 16))
    structured = method == "structured"
    sparsity = 1 - (1 - ratio) ** 2 if structured else ratio
    cliff, loss = METHODS[method]
    drop = loss * (1 / (1 + math.exp(-(ratio - cliff) / 0.05))) if ratio else 0.0
    left = round(params * (1 - sparsity))
    return {
        "model": model, "method": method, "target_ratio": ratio, "sparsity": sparsity,
        "method_options": "{}", "variant_key": stable_hash([model, method, ratio]),
        "base_model_key": stable_hash([model]),
        "params_reported": left if structured else params, "params_nonzero": left,
        "params_actual": left if structured else params,
        "macs": round(macs * (1 - sparsity)) if structured else macs,
        "macs_effective": round(macs * (1 - sparsity)),
        "model_bytes": 4 * (left if structured else params),
        "accuracy_top1": float(np.clip(top1 - drop + rng.normal(0, 0.002), 0, 1)),
        "dataset": "cifar10", "input_size": 32, "num_classes": 10, "schedule": "one_shot",
        "schedule_steps": 1, "finetune_epochs": 1, "seed": 0,
    }


def _layers(variant: dict[str, Any], run_id: str) -> dict[str, Any]:
    params = MODELS[variant["model"]][0]
    ratio, structured = variant["target_ratio"], variant["method"] == "structured"
    layers = []
    for i, (name, kind, share) in enumerate(LAYER_SHARES):
        size = max(1, round(params * share))
        # global magnitude pruning takes most from the big linear layers, least from the first conv
        sparsity = ratio if structured or variant["method"] != "l1_unstructured" else min(
            0.99, ratio * (0.4 + 1.4 * share / 0.6))
        sparsity = 0.0 if ratio == 0 or i == len(LAYER_SHARES) - 1 and not structured else sparsity
        layers.append({"layer": name, "kind": kind, "params": size, "nonzero": round(size * (1 - sparsity)),
                       "sparsity": sparsity})
    return {"run_id": run_id, "variant_key": variant["variant_key"], "model": variant["model"],
            "method": variant["method"], "target_ratio": ratio, "layers": layers}


def _measure(variant: dict[str, Any], platform: Platform, backend: str, batch: int, host_speed: float,
             rng: np.random.Generator) -> dict[str, Any]:
    """The outcome of one trial that did not run out of memory."""
    _, _, _, ms_per_sample, _, _ = MODELS[variant["model"]]
    work = (1 - variant["sparsity"]) if variant["method"] == "structured" else 1.0
    # fixed launch cost plus work that grows with the batch; onnxruntime a little faster
    p50 = platform.speed * host_speed * (0.15 + ms_per_sample * batch * (0.1 + 0.9 * work))
    p50 *= 0.85 if backend == "onnxruntime" else 1.0
    cv = float(rng.lognormal(math.log(0.045 if platform.vm else 0.02), 0.6))
    return {"latency_p50_ms": p50, "latency_mean_ms": p50 * (1 + cv / 3), "latency_p90_ms": p50 * (1 + cv),
            "latency_p99_ms": p50 * (1 + 2.5 * cv), "latency_min_ms": p50 * (1 - cv),
            "latency_std_ms": p50 * cv, "latency_cv": cv, "noisy": cv > 0.10, "n_samples": 50,
            "throughput_sps": batch / (p50 / 1000)}


def _trial(variant: dict[str, Any], platform: Platform, backend: str, batch: int, host_speed: float,
           after_oom: bool, rng: np.random.Generator) -> dict[str, Any]:
    _, _, _, _, act_mb, weight_mb = MODELS[variant["model"]]
    row: dict[str, Any] = {"backend": backend, "batch_size": batch, "is_oom": False, "status": "ok"}
    if after_oom:
        return {**row, "status": "skipped", "error": "after_oom: a smaller batch ran out of memory"}
    keep = (1 - variant["sparsity"]) if variant["method"] == "structured" else 1.0
    need_mb = weight_mb * keep + act_mb * batch * (0.3 + 0.7 * keep) * (4 if platform.gpu is None else 1)
    need_mb += 0 if platform.gpu else RUNTIME_MB[backend]
    capacity_mb = platform.mem_gb * 1024
    if need_mb * rng.uniform(0.9, 1.1) > capacity_mb * 0.9:
        return {**row, "status": "oom", "is_oom": True, "error": "CUDA out of memory. Tried to allocate"
                if platform.gpu else "MemoryError: DefaultCPUAllocator: can't allocate memory"}
    draw = rng.random()
    if draw < 0.002:
        return {**row, "status": "timeout", "error": "no result within 600 s"}
    if draw < 0.003:
        return {**row, "status": "crash", "error": "worker killed by signal 11 (SIGSEGV)"}
    if draw < 0.004:
        return {**row, "status": "error", "error": "RuntimeError: onnxruntime session failed"}
    peak = need_mb * rng.uniform(0.95, 1.05)
    return {**row, **_measure(variant, platform, backend, batch, host_speed, rng),
            "peak_gpu_mem_mb": peak if platform.gpu else None,
            "peak_rss_mb": RUNTIME_MB[backend] + (0 if platform.gpu else peak)}


def _probe_errors(platform: Platform) -> str | None:
    errors = {}
    if platform.vm:
        errors["perf"] = "hardware events <not supported> (a VM)"
    if platform.arch == "aarch64" and not platform.gpu:
        errors["perf"] = "perf is not installed"
    if platform.gpu is None:
        errors["nvml"] = "NVML: NVML Shared Library Not Found"
        errors["gpuprofile"] = "no CUDA device"
    return json.dumps(errors, sort_keys=True) if errors else None


def _machine(host: str, platform: Platform) -> dict[str, Any]:
    gpus = [{"index": 0, "name": platform.gpu, "memory_mb": platform.gpu_mem_gb * 1024}] if platform.gpu else []
    return {"host": host, "device_class": platform.device_class, "arch": platform.arch,
            "cpu_model": platform.cpu_model, "cores_physical": platform.cores, "cores_logical": platform.cores,
            "mem_total_gb": platform.ram_gb, "device_mem_gb": platform.mem_gb, "gpus": gpus,
            "os": "Linux 6.1.0", "python": "3.11.7", "virtualized": platform.vm}


def host_rows(host: str, platform: Platform, n_trials: int, *, seed: int = 0, run_id: str = "synthetic",
              agent_version: str = "0.1.0", models: Sequence[str] = tuple(MODELS),
              methods: Sequence[str] = tuple(METHODS)) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One host's first ``n_trials`` rows of the grid and its layers.jsonl records."""
    rng = np.random.default_rng(int(stable_hash([host, seed], 8), 16))
    host_speed = float(rng.uniform(0.95, 1.05))
    rows: list[dict[str, Any]] = []
    layers: dict[str, dict[str, Any]] = {}
    oom_at: dict[tuple[str, str], bool] = {}
    for i, (model, method, ratio, backend, batch) in enumerate(_grid(models, methods)):
        if i >= n_trials:
            break
        variant = _variant(model, method, ratio)
        layers.setdefault(variant["variant_key"], _layers(variant, run_id))
        setting = (variant["variant_key"], backend)
        trial = _trial(variant, platform, backend, batch, host_speed, oom_at.get(setting, False), rng)
        oom_at[setting] = oom_at.get(setting, False) or trial["is_oom"]
        rows.append(make_row({
            **variant, **trial, "run_id": run_id, "host": host, "device_class": platform.device_class,
            "trial_key": stable_hash([host, seed, i]), "started_at": "2026-11-21T08:00:00+00:00",
            "agent_version": agent_version, "sweep": "fleet", "device": "cuda:0" if platform.gpu else "cpu",
            "threads": platform.cores, "device_mem_gb": platform.mem_gb, "probe_errors": _probe_errors(platform),
        }))
    return rows, list(layers.values())


def _samples(rows: Sequence[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """samples.jsonl: ``n`` raw latencies an ok trial, log-normal around its p50 with its CV."""
    found = []
    for row in rows:
        if row["status"] == "ok" and n:
            rng = np.random.default_rng(int(row["trial_key"][:8], 16))
            values = row["latency_p50_ms"] * np.exp(rng.normal(0.0, row["latency_cv"], n))
            found.append({"trial_key": row["trial_key"], "samples_ms": [round(float(v), 5) for v in values]})
    return found


# hosts a fleet.json names that left no host folder: (name, outcome, reason)
NO_FOLDER_HOSTS = (
    ("edge-gw-17", "unreachable", "ssh: connect to host 10.0.4.17 port 22: Connection timed out"),
    ("lab-pi-03", "auth-failed", "Permission denied (publickey,password)"),
)


def _fleet_entry(name: str, outcome: str, reason: str, done: int, total: int, not_ok: int, restarts: int = 0,
                 reconnects: int = 0) -> dict[str, Any]:
    return {"name": name, "outcome": outcome, "reason": reason, "trials_done": done, "trials_total": total,
            "not_ok": not_ok, "restarts": restarts, "reconnects": reconnects}


def _host_end(index: int, hosts: int, trials: int) -> tuple[int, str, str, int, int]:
    """With a fleet.json: how host ``index`` ended (trials done, outcome, reason, restarts, reconnects)."""
    if index == hosts - 1 and hosts > 1:
        return trials // 2, "partial", "connection lost; no reconnect within 300 s", 0, 3
    if index == hosts - 2 and hosts > 3:
        return trials // 4, "agent-error", ("the agent died 3 times; last log: RuntimeError: CUDA error: an "
                                            "illegal memory access was encountered"), 2, 0
    return trials, "ok", "", 0, int(index % 3 == 1)


def write_fleet(root: str | Path, hosts: int = 50, trials_per_host: int = 1000, *, seed: int = 0,
                models: Sequence[str] = tuple(MODELS), methods: Sequence[str] = tuple(METHODS),
                fleet_file: bool = False, samples: int = 20) -> Path:
    """A fleet folder of ``hosts`` host folders, spread over :data:`PLATFORMS`; returns ``root``.

    ``fleet_file``: also write ``fleet.json`` with a few hosts that did not end ok (module doc);
    their folders hold only the rows they finished. ``samples``: raw latencies an ok trial in
    samples.jsonl (0: none, as an agent from before that file)."""
    root = Path(root)
    entries = []
    planned = min(trials_per_host, len(models) * len(methods) * len(RATIOS) * len(BACKENDS) * len(BATCH_SIZES))
    for index in range(hosts):
        platform = PLATFORMS[index % len(PLATFORMS)]
        host = f"{'-'.join(platform.device_class.split('-')[1:3])}-{index // len(PLATFORMS) + 1:02d}"
        folder = ResultsFolder(root / host)
        folder.root.mkdir(parents=True, exist_ok=True)
        version = "0.0.9" if index % 7 == 6 else "0.1.0"  # a fleet is rarely upgraded all at once
        done, outcome, reason, restarts, reconnects = (_host_end(index, hosts, planned) if fleet_file
                                                       else (planned, "ok", "", 0, 0))
        rows, layers = host_rows(host, platform, done, seed=seed, run_id=f"run-{host}",
                                 agent_version=version, models=models, methods=methods)
        entries.append(_fleet_entry(host, outcome, reason, len(rows), planned,
                                    sum(r["status"] != "ok" for r in rows), restarts, reconnects))
        folder.write_records(ResultsFolder.RESULTS, rows)
        folder.write_records(ResultsFolder.LAYERS, layers)
        folder.write_records(ResultsFolder.SAMPLES, _samples(rows, samples))
        folder.write_json(ResultsFolder.MACHINE, _machine(host, platform), indent=1)
        folder.write_json(ResultsFolder.RUN, {"run_id": f"run-{host}", "sweep": "fleet"}, indent=None)
    if fleet_file:
        entries += [_fleet_entry(name, outcome, reason, 0, planned, 0) for name, outcome, reason in
                    NO_FOLDER_HOSTS]
        fleet = {"run_name": "fleet", "sweep": "sweeps/fleet.yml", "inventory": "hosts.yml",
                 "started_at": "2026-11-21T08:00:00Z", "wall_s": 5025.4, "hosts": entries}
        ResultsFolder(root).write_json(ResultsFolder.FLEET, fleet)
    return root


def synthetic_analysis(device_classes: Sequence[str], n_rows: int, source: str = "synthetic") -> Any:
    """An analysis.json's content as ``collector analyze`` shapes it, with made-up numbers: the
    report's causal section without running DoWhy (which takes minutes on a fleet)."""
    from collector.analysis.graph import DEFAULT_GRAPH_PATH
    from collector.analysis.values import Analysis, ArrowStrength, Effect, Recommendation, Refutation, Verdict

    edges = tuple(f"{a} -> {b}" for a, b in re.findall(r"^\s*(\w+)\s*->\s*(\w+)\s*;", DEFAULT_GRAPH_PATH.read_text(),
                                                      re.MULTILINE))

    def effect(question: str, outcome: str, estimate: float, group: dict[str, str], spread: float) -> Effect:
        refutations = (
            Refutation("random_common_cause", estimate * 1.001, 0.92, "unchanged", 0.001, "pass",
                       "moved 0.1% of the effect"),
            Refutation("data_subset", estimate * 0.98, 0.84, "unchanged", 0.02, "pass", "moved 2.0% of the effect"),
            Refutation("placebo_treatment", 0.01 * spread, 0.9, "zero", 0.01, "pass", "moved 1.0% of the effect"),
            Refutation("bootstrap", estimate * 1.01, 0.88, "unchanged", 0.01, "pass", "moved 1.0% of the effect"),
            Refutation("unobserved_common_cause", estimate * 0.8, None, "survives", 0.2,
                       "warn" if spread > abs(estimate) else "pass", "a hidden confounder explaining 5% ..."))
        label = "fragile" if spread > abs(estimate) else "robust"
        return Effect(question, "target_ratio", outcome, group, True, "", f"d/d[target_ratio] E[{outcome}]",
                      ("batch_size", "model"), "backdoor.linear_regression", estimate, estimate - spread,
                      estimate + spread, estimate * 1.2, n_rows, {}, refutations,
                      Verdict(label, ("5 of 5 refuters pass",)))

    effects = [effect("ratio_on_accuracy", "accuracy_top1", -0.31, {}, 0.04)]
    effects += [effect("ratio_on_latency", "latency_p50_ms", -3.0 - i, {"backend": backend, "device_class": device},
                       1.5 + 0.5 * i) for i, device in enumerate(device_classes) for backend in BACKENDS]
    effects.append(effect("ratio_on_oom", "is_oom", -0.02, {}, 0.01))
    arrows = tuple(ArrowStrength(target, parent, strength, share) for target, parents in (
        ("latency_p50_ms", (("batch_size", 9.0, 0.6), ("device_class", 4.0, 0.27), ("macs", 1.5, 0.1),
                            ("target_ratio", 0.45, 0.03))),
        ("is_oom", (("batch_size", 0.2, 0.7), ("device_mem_gb", 0.07, 0.25), ("params_actual", 0.015, 0.05))))
        for parent, strength, share in parents)
    recommendations = tuple(Recommendation(device, model, "structured", 0.3, 1, 0.004, 1.0, 900.0, 0.0,
                                           "ratio 0.5 (structured): accuracy drop 0.054 > 0.01")
                            for device in device_classes for model in ("resnet18", "vgg16_bn"))
    return Analysis(source=source, n_rows=n_rows, created_at="2026-11-21T09:00:00+00:00", edgeprune_version="0.1.0",
                    graph_source="default_graph.dot", graph_edges=edges, settings={}, notes=("synthetic analysis",),
                    effects=tuple(effects), arrow_strengths=arrows, recommendations=recommendations)
