"""``agent run``: build every variant of a sweep and measure it at every batch size.

Every finished trial is appended to results.jsonl and synced at once; a rerun into
the same folder skips the trial keys already there. A failure while building or
measuring becomes a row with its status and reason, and the sweep goes on.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from agent.backends import BACKENDS, Backend
from agent.basemodel import base_model
from agent.build import BuiltVariant, build_variant, input_shape
from agent.data import DataBundle, load_dataset
from agent.machine import machine_info
from agent.modelio import ModelSpec, save_model
from agent.outdir import OutputFolder, utc_now
from agent.probes.perf import perf_support
from agent.pruning import check_method_options
from agent.worker import TrialSpec, WorkerJob, WorkerPool, error_text
from shared.errors import UserError
from shared.plan import Trial, Variant, trials, variants
from shared.resultlog import append_jsonl
from shared.schema import Status
from shared.sweep import MethodSpec, Sweep
from shared.version import __version__

class Progress(Protocol):
    """What the runner tells whoever watches (the CLI draws a rich progress bar)."""

    def start(self, total: int, done: int) -> None: ...
    def stage(self, text: str) -> None: ...
    def row(self, row: dict[str, Any]) -> None: ...


class QuietProgress:
    def start(self, total: int, done: int) -> None: ...
    def stage(self, text: str) -> None: ...
    def row(self, row: dict[str, Any]) -> None: ...


@dataclass
class RunSummary:
    out_dir: Path
    run_id: str
    total: int
    already_done: int
    statuses: Counter[str] = field(default_factory=Counter)
    build_wall_s: float = 0.0  # pruning, fine-tuning, counting, evaluating
    measure_wall_s: float = 0.0  # handing variants to workers until their last row
    timed_s: float = 0.0  # inside the timed regions (the repetitions themselves)
    warmup_s: float = 0.0


class SweepRunner:
    def __init__(self, sweep: Sweep, out_dir: Path, cache_dir: Path,
                 progress: Progress | None = None, mem_limit_bytes: int | None = None) -> None:
        self.sweep = sweep
        self.out = OutputFolder(out_dir)
        self.cache_dir = cache_dir
        self.progress = progress or QuietProgress()
        self.mem_limit_bytes = mem_limit_bytes
        # Check every method's options before anything slow starts.
        self.methods: dict[str, MethodSpec] = {
            spec.name: MethodSpec(spec.name, check_method_options(spec, sweep.source, f"methods[{i}]"))
            for i, spec in enumerate(sweep.methods)
        }
        self.backends: dict[str, Backend] = {name: BACKENDS.get(name)() for name in sweep.backends}
        self.machine = machine_info()
        # Variants are built (pruned, fine-tuned, evaluated) on the GPU where one is wanted.
        wants_gpu = any(d in ("auto", "cuda") for d in sweep.devices)
        self.build_device = torch.device("cuda:0" if wants_gpu and torch.cuda.is_available() else "cpu")
        # checked once here rather than by every worker (perf's smoke test takes ~40 ms)
        self._perf = perf_support() if sweep.telemetry.perf else None
        self._data: DataBundle | None = None
        self._base: tuple[str, nn.Module, int] | None = None  # model name, module, nonzero params

    def run(self) -> RunSummary:
        run_id = self.out.open(self.sweep.name, self.machine)
        done = self.out.results.completed_keys()
        plan = self._plan()
        total = sum(len(ts) for _, ts in plan)
        summary = RunSummary(self.out.root, run_id, total, sum(t.key in done for _, ts in plan for t in ts))
        self.progress.start(total, summary.already_done)
        pool = WorkerPool(self.out.work, self.sweep.trial_timeout_s, self.mem_limit_bytes)
        for variant, variant_trials in plan:
            pending = [t for t in variant_trials if t.key not in done]
            if not pending:
                continue
            context = self._context(run_id, variant)
            started = time.perf_counter()
            try:
                self.progress.stage(f"{variant.label}: building")
                built = self._build(variant)
            except UserError:
                raise  # the user's input is wrong (e.g. a weights file that does not fit): stop
            except Exception as exc:  # a variant that cannot be built is data, not the end
                for trial in pending:
                    self._record(summary, {**context, **self._trial_columns(trial),
                                           "status": Status.ERROR.value, "is_oom": False,
                                           "error": f"build failed: {error_text(exc)}"})
                continue
            finally:
                summary.build_wall_s += time.perf_counter() - started
            append_jsonl(self.out.layers, {"run_id": run_id, "variant_key": variant.key,
                                           "model": variant.model, "method": variant.method,
                                           "target_ratio": variant.target_ratio, "layers": built.layers})
            started = time.perf_counter()
            for columns in self._measure_variant(pool, variant, built, pending):
                row = self._record(summary, {**context, **built.columns, **columns})
                summary.timed_s += row["timed_s"] or 0.0
                summary.warmup_s += row["warmup_s"] or 0.0
            summary.measure_wall_s += time.perf_counter() - started
        self.out.results.write_csv(self.out.results_csv)
        return summary

    def _build(self, variant: Variant) -> BuiltVariant:
        """Prune and fine-tune in this process; the base model and data are kept while hot."""
        if self._data is None:
            self._data = load_dataset(self.sweep.dataset, variant.input_size, self.sweep.seed,
                                      self.sweep.source)
        if self._base is None or self._base[0] != variant.model:
            self.progress.stage(f"{variant.model}: preparing the base model")
            module, _ = base_model(variant, self.sweep, self._data, self.build_device, self.cache_dir)
            self._base = (variant.model, module, sum(int(p.count_nonzero()) for p in module.parameters()))
        return build_variant(variant, self.methods[variant.method], self._base[1], self._base[2],
                             self._data, self.build_device)

    def _measure_variant(self, pool: WorkerPool, variant: Variant, built: BuiltVariant,
                         pending: list[Trial]) -> Iterator[dict[str, Any]]:
        """Rows of every pending trial: one worker a backend and device, batches ascending."""
        data = self._data
        assert data is not None
        model_path = self.out.work / f"{variant.key}.pt"
        save_model(built.model, model_path)
        spec = ModelSpec(variant.model, data.num_classes, data.in_channels, variant.input_size)
        try:
            for (backend_name, device), group in _by_backend_and_device(pending).items():
                by_key = {t.key: t for t in group}
                resolved = self.backends[backend_name].resolve_devices((device,))[device]
                if resolved is None:
                    for trial in group:
                        yield {**self._trial_columns(trial), "status": Status.SKIPPED.value, "is_oom": False,
                               "error": f"device {device!r} is not available on this host"}
                    continue
                self.progress.stage(f"{variant.label}: {backend_name} {resolved}")
                job = WorkerJob(
                    model_path=str(model_path), model=spec, backend=backend_name, device=resolved,
                    threads=self.sweep.threads, timing=self.sweep.timing,
                    trials=tuple(TrialSpec(t.key, t.batch_size, input_shape(data, variant, t.batch_size))
                                 for t in group),
                    stop_after_oom=not self.sweep.continue_after_oom, telemetry=self.sweep.telemetry,
                    perf=self._perf, mem_limit_bytes=None, cgroup=None, stderr_path="")
                for outcome in pool.measure(job):
                    yield self._outcome_columns(by_key[outcome.key], resolved, outcome.columns)
        finally:
            model_path.unlink(missing_ok=True)

    def _outcome_columns(self, trial: Trial, device: str, columns: dict[str, Any]) -> dict[str, Any]:
        samples = columns.pop("samples_ms", None)
        if samples is not None:
            append_jsonl(self.out.samples, {"trial_key": trial.key, "samples_ms": samples})
        side = columns.pop("telemetry_side", None)
        if side:  # time series of the samplers, per-kernel GPU table
            append_jsonl(self.out.telemetry, {"trial_key": trial.key, **side})
        limit_mb = self.mem_limit_bytes / 2**20 if self.mem_limit_bytes else None
        capacity_gb = self.machine["device_mem_gb"] if device.startswith("cuda") else self.machine["mem_total_gb"]
        return {
            **self._trial_columns(trial), "device": device, **columns, "mem_limit_mb": limit_mb,
            "device_mem_gb": min(capacity_gb, limit_mb / 1024) if limit_mb else capacity_gb,
        }

    def _plan(self) -> list[tuple[Variant, list[Trial]]]:
        """Trials on concrete devices ('auto' resolved), so 'auto' and 'cpu' never run twice;
        a device this host lacks keeps its requested name and its trials become skipped rows."""
        resolved = self.backends[self.sweep.backends[0]].resolve_devices(self.sweep.devices)
        devices = tuple(dict.fromkeys(resolved[d] or d for d in self.sweep.devices))
        return [(v, trials(self.sweep, v, devices)) for v in variants(self.sweep)]

    def _context(self, run_id: str, variant: Variant) -> dict[str, Any]:
        return {
            "run_id": run_id, "host": self.machine["host"], "device_class": self.machine["device_class"],
            "variant_key": variant.key, "agent_version": __version__, "sweep": self.sweep.name,
            "model": variant.model, "dataset": variant.dataset, "input_size": variant.input_size,
            "method": variant.method, "method_options": json.dumps(self.methods[variant.method].options, sort_keys=True),
            "schedule": variant.schedule, "schedule_steps": variant.schedule_steps,
            "finetune_epochs": variant.finetune_epochs, "seed": variant.seed,
            "target_ratio": variant.target_ratio,
        }

    @staticmethod
    def _trial_columns(trial: Trial) -> dict[str, Any]:
        return {"trial_key": trial.key, "started_at": utc_now(), "backend": trial.backend,
                "device": trial.device, "batch_size": trial.batch_size, "threads": trial.threads}

    def _record(self, summary: RunSummary, values: dict[str, Any]) -> dict[str, Any]:
        row = self.out.results.append(values)
        summary.statuses[row["status"]] += 1
        self.progress.row(row)
        return row


def _by_backend_and_device(trials: list[Trial]) -> dict[tuple[str, str], list[Trial]]:
    groups: dict[tuple[str, str], list[Trial]] = {}
    for trial in trials:
        groups.setdefault((trial.backend, trial.device), []).append(trial)
    return groups
