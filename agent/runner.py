"""``agent run``: build every variant of a sweep and measure it at every batch size.

Every finished trial is appended to results.jsonl and synced at once; a rerun into
the same folder skips the trial keys already there. A failure while building or
measuring becomes a row with its status and reason, and the sweep goes on.
"""
from __future__ import annotations

import json
import traceback
from collections import Counter
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
from agent.measure import measure_model
from agent.memory import peak_rss_mb
from agent.outdir import OutputFolder, utc_now
from agent.pruning import check_method_options
from shared.errors import UserError
from shared.plan import Trial, Variant, trials, variants
from shared.resultlog import append_jsonl
from shared.schema import Status
from shared.sweep import MethodSpec, Sweep
from shared.version import __version__

ERROR_TAIL_CHARS = 2000


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


def error_text(exc: BaseException) -> str:
    """The tail of what went wrong, for the ``error`` column."""
    text = "".join(traceback.format_exception_only(exc)).strip()
    return text[-ERROR_TAIL_CHARS:]


class SweepRunner:
    def __init__(self, sweep: Sweep, out_dir: Path, cache_dir: Path,
                 progress: Progress | None = None) -> None:
        self.sweep = sweep
        self.out = OutputFolder(out_dir)
        self.cache_dir = cache_dir
        self.progress = progress or QuietProgress()
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

    def run(self) -> RunSummary:
        run_id = self.out.open(self.sweep.name, self.machine)
        log = self.out.results
        done = log.completed_keys()
        plan = self._plan()
        total = sum(len(ts) for _, ts in plan)
        summary = RunSummary(self.out.root, run_id, total, sum(t.key in done for _, ts in plan for t in ts))
        self.progress.start(total, summary.already_done)
        data: DataBundle | None = None
        base: tuple[str, nn.Module, int] | None = None  # (model, module, nonzero params) of the current base
        for variant, variant_trials in plan:
            pending = [t for t in variant_trials if t.key not in done]
            if not pending:
                continue
            context = self._context(run_id, variant)
            try:
                self.progress.stage(f"{variant.label}: building")
                data = data or load_dataset(self.sweep.dataset, variant.input_size, self.sweep.seed,
                                            self.sweep.source)
                if base is None or base[0] != variant.model:
                    self.progress.stage(f"{variant.model}: preparing the base model")
                    module, _ = base_model(variant, self.sweep, data, self.build_device, self.cache_dir)
                    base = (variant.model, module, sum(int(p.count_nonzero()) for p in module.parameters()))
                built = build_variant(variant, self.methods[variant.method], base[1], base[2], data,
                                      self.build_device)
            except UserError:
                raise  # the user's input is wrong (e.g. a weights file that does not fit): stop
            except Exception as exc:  # a variant that cannot be built is data, not the end
                for trial in pending:
                    self._record(summary, {**context, **self._trial_columns(trial),
                                           "status": Status.ERROR.value, "is_oom": False,
                                           "error": f"build failed: {error_text(exc)}"})
                continue
            append_jsonl(self.out.layers, {"run_id": run_id, "variant_key": variant.key,
                                           "model": variant.model, "method": variant.method,
                                           "target_ratio": variant.target_ratio, "layers": built.layers})
            for trial in pending:
                self.progress.stage(f"{variant.label}: {trial.backend} {trial.device} batch {trial.batch_size}")
                columns = self._measure(trial, built, data)
                self._record(summary, {**context, **built.columns, **columns})
        self.out.results.write_csv(self.out.results_csv)
        return summary

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

    def _measure(self, trial: Trial, built: BuiltVariant, data: DataBundle) -> dict[str, Any]:
        columns = self._trial_columns(trial)
        backend = self.backends[trial.backend]
        device = backend.resolve_devices((trial.device,))[trial.device]
        if device is None:
            return {**columns, "status": Status.SKIPPED.value, "is_oom": False,
                    "error": f"device {trial.device!r} is not available on this host"}
        columns["device"] = device
        try:
            result = measure_model(backend, built.model, input_shape(data, trial.variant, trial.batch_size),
                                   device, trial.threads, self.sweep.timing)
        except Exception as exc:  # OOM and any other failure of one trial is a row
            oom = backend.is_oom(exc)
            return {**columns, "status": (Status.OOM if oom else Status.ERROR).value, "is_oom": oom,
                    "error": error_text(exc), "peak_rss_mb": peak_rss_mb()}
        append_jsonl(self.out.samples, {"trial_key": trial.key, "samples_ms": list(result.stats.samples_ms)})
        return {
            **columns, **result.stats.columns(trial.batch_size, self.sweep.timing.noisy_cv),
            "threads": result.threads, "status": Status.OK.value, "is_oom": False,
            "peak_rss_mb": result.peak_rss_mb, "peak_gpu_mem_mb": result.peak_gpu_mem_mb,
        }

    def _record(self, summary: RunSummary, values: dict[str, Any]) -> None:
        row = self.out.results.append(values)
        summary.statuses[row["status"]] += 1
        self.progress.row(row)
