"""Synthetic fleet results with known causal effects: for tests, the P7 benchmark and trying things.

The fleet ran heavier pruning at larger batch sizes (the ratio a trial got depends on its
batch size), and a larger batch is slower, so the naive slope of latency on the ratio is
biased upwards; only an analysis that adjusts for batch size finds the truth. Every
mechanism is additive in the ratio, so the average effect is one number
(:data:`TRUE_LATENCY_MS_PER_RATIO`), which a linear adjustment recovers exactly.

Rows are complete schema rows (``shared.schema.make_row``). An out-of-memory trial has
``status: oom`` and no latency or peak memory, as the agent writes it.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.plan import stable_hash
from shared.resultsdir import ResultsFolder
from shared.schema import make_row

TRUE_LATENCY_MS_PER_RATIO = -8.0    # d latency_p50_ms / d target_ratio, everywhere
LATENCY_MS_PER_SAMPLE = 0.25        # what one more sample in the batch costs
PEAK_MB_PER_SAMPLE = 6.0
RATIOS = tuple(round(0.1 * i, 1) for i in range(10))
BATCH_SIZES = (1, 8, 32, 128)
METHODS = ("l1_unstructured", "structured")
BACKENDS = ("torch", "onnxruntime")


@dataclass(frozen=True)
class SyntheticDevice:
    device_class: str
    mem_gb: float
    latency_offset_ms: float


DEVICES = (
    SyntheticDevice("x86_64-xeon-6140-p40", 24.0, 0.0),
    SyntheticDevice("x86_64-ryzen-3700x-rtx3060", 12.0, 3.0),
    SyntheticDevice("x86_64-i7-9750h-gtx1650", 4.0, 8.0),
)
# model -> (base latency ms, base accuracy, base params, base MACs, base peak MiB)
MODELS = {
    "lenet5": (9.0, 0.97, 61_706, 436_250, 700.0),
    "resnet18": (20.0, 0.93, 11_173_962, 556_651_520, 1400.0),
}


def _ratio_for(batch_size: int, rng: np.random.Generator) -> float:
    """The confounded design: larger batches were pruned harder."""
    mean = 0.2 + 0.17 * BATCH_SIZES.index(batch_size)
    return float(min(max(round(rng.normal(mean, 0.2), 1), 0.0), 0.9))


def _variant(model: str, method: str, ratio: float, host: str, rng: np.random.Generator) -> dict[str, Any]:
    _, accuracy, params, macs, _ = MODELS[model]
    structured = method == "structured"
    # a per-layer channel ratio r removes about 1 - (1 - r)^2 of a conv net's weights
    sparsity = 1 - (1 - ratio) ** 2 if structured else ratio
    drop = (0.4 if structured else 0.1) * ratio ** 2
    return {
        "model": model, "method": method, "target_ratio": ratio, "sparsity": sparsity,
        "params_reported": params, "params_nonzero": round(params * (1 - sparsity)),
        "params_actual": round(params * (1 - sparsity)) if structured else params,
        "macs": round(macs * (1 - sparsity)) if structured else macs,
        "accuracy_top1": float(np.clip(accuracy - drop + rng.normal(0, 0.003), 0, 1)),
        "variant_key": stable_hash([model, method, ratio, host]),
    }


def _p_oom(batch_size: int, model: str, ratio: float, device: SyntheticDevice) -> float:
    size = 2.0 if model == "resnet18" else 0.5
    score = -7.0 + 0.05 * batch_size * size - 0.25 * device.mem_gb - 1.0 * ratio
    return 1 / (1 + math.exp(-score))


def _trial(variant: dict[str, Any], device: SyntheticDevice, backend: str, batch_size: int,
           rng: np.random.Generator) -> dict[str, Any]:
    model = variant["model"]
    base_ms, _, _, _, base_mb = MODELS[model]
    oom = rng.random() < _p_oom(batch_size, model, variant["target_ratio"], device)
    row: dict[str, Any] = {"backend": backend, "batch_size": batch_size, "is_oom": bool(oom),
                           "status": "oom" if oom else "ok"}
    if oom:
        return {**row, "error": "CUDA out of memory (synthetic)"}
    latency = (base_ms + device.latency_offset_ms + (1.0 if backend == "torch" else 0.0)
               + LATENCY_MS_PER_SAMPLE * batch_size
               + TRUE_LATENCY_MS_PER_RATIO * variant["target_ratio"] + rng.normal(0, 0.5))
    freed = 300.0 * variant["target_ratio"] if variant["method"] == "structured" else 0.0
    peak = base_mb + PEAK_MB_PER_SAMPLE * batch_size - freed + rng.normal(0, 20)
    return {**row, "latency_p50_ms": max(latency, 0.05), "peak_rss_mb": peak,
            "peak_gpu_mem_mb": peak / 2}


def _hosts() -> Iterator[tuple[str, SyntheticDevice]]:
    for device in DEVICES:
        for i in (1, 2):
            yield f"{device.device_class.split('-')[1]}-{i}", device


def synthetic_rows(n_rows: int, seed: int = 0, *, device_mem: bool = True) -> list[dict[str, Any]]:
    """``n_rows`` schema rows from a six-host, three-device fleet with the known effects above.

    ``device_mem=False`` leaves ``device_mem_gb`` null, as an agent from before that column does.
    """
    rng = np.random.default_rng(seed)
    hosts = list(_hosts())
    variants: dict[tuple[str, str, str, float], dict[str, Any]] = {}
    rows = []
    for i in range(n_rows):
        host, device = hosts[i % len(hosts)]
        model = str(rng.choice(list(MODELS)))
        method = str(rng.choice(METHODS))
        batch_size = int(rng.choice(BATCH_SIZES))
        ratio = _ratio_for(batch_size, rng)
        key = (host, model, method, ratio)
        if key not in variants:
            variants[key] = _variant(model, method, ratio, host, rng)
        trial = _trial(variants[key], device, str(rng.choice(BACKENDS)), batch_size, rng)
        rows.append(make_row({
            **variants[key], **trial, "run_id": "synthetic", "host": host,
            "device_class": device.device_class, "device_mem_gb": device.mem_gb if device_mem else None,
            "trial_key": stable_hash([i, seed]), "started_at": "2026-01-01T00:00:00+00:00",
            "agent_version": "synthetic", "sweep": "synthetic", "dataset": "synthetic", "input_size": 32,
            "schedule": "one_shot", "device": "cuda:0", "threads": 2,
        }))
    return rows


SAMPLES_A_TRIAL = 40
SAMPLE_CV = 0.05  # each synthetic trial's repetitions spread this much around its p50


def synthetic_samples(rows: list[dict[str, Any]], seed: int = 0) -> list[dict[str, Any]]:
    """samples.jsonl lines for the ``ok`` rows: repetitions around each row's p50 (log-normal, so
    their median is the p50), as the agent writes them: one list a trial and process."""
    rng = np.random.default_rng(seed)
    return [{"trial_key": row["trial_key"], "process": 0,
             "samples_ms": [round(v, 6) for v in row["latency_p50_ms"] * rng.lognormal(0.0, SAMPLE_CV, SAMPLES_A_TRIAL)]}
            for row in rows if row["status"] == "ok" and row.get("latency_p50_ms")]


def write_results(out_dir: str | Path, rows: list[dict[str, Any]], samples: bool = True) -> Path:
    """``out_dir/results.jsonl`` holding ``rows`` (one write: a synthetic file needs no fsync a row),
    and with ``samples`` their raw samples beside them (samples.jsonl: every measured speed-up
    is computed from them)."""
    folder = ResultsFolder(Path(out_dir))
    folder.root.mkdir(parents=True, exist_ok=True)
    path = folder.write_records(ResultsFolder.RESULTS, rows)
    if samples:
        folder.write_records(ResultsFolder.SAMPLES, synthetic_samples(rows))
    return path
