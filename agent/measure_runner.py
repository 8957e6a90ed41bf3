"""Measure a sweep's variants from an artifact store: the part of ``agent run`` that needs no torch.

Every finished trial is appended to results.jsonl and synced at once; a rerun into the same
folder skips the trial keys already there. Each variant's trials measure its artifact (the
same files on every device), one worker a backend and device. A variant with no artifact
becomes ``skipped`` rows saying so (``missing_artifact: ...``), and those trials are tried
again by the next run into the same folder, whose row then supersedes the skipped one.
:class:`agent.runner.SweepRunner` builds what is missing instead.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agent import stages
from agent.affinity import check_cpus, usable_cpus
from agent.artifacts import Artifact, ArtifactError, ArtifactStore
from agent.backends import BACKENDS, Backend
from agent.disturbance import judge
from agent.emulate import Emulation, machine_turn
from agent.fingerprint import machine_info
from agent.layertime import record_of
from agent.probes.perf import perf_support
from agent.repeats import SAMPLES_BY_PROCESS
from agent.stages import overhead_record
from agent.worker import TrialSpec, WorkerJob, WorkerPool
from shared.errors import MissingDependency
from shared.comparison import seed_comparisons, write_comparisons_csv
from shared.plan import Trial, Variant, trials, variants
from shared.profile import DeviceProfile
from shared.resultsdir import ResultsFolder, load_samples, utc_now
from shared.schema import COLUMN_NAMES, Status, TrialEnd
from shared.stages import StageTimes
from shared.sweep import Sweep
from shared.version import __version__

MISSING_ARTIFACT = "missing_artifact"  # the reason's prefix: these skipped trials are retried


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
    build_wall_s: float = 0.0  # finding and checking artifacts, building the missing ones
    measure_wall_s: float = 0.0  # handing variants to workers until their last row
    timed_s: float = 0.0  # inside the timed regions (the repetitions themselves)
    warmup_s: float = 0.0
    accuracy_s: float = 0.0  # the accuracy passes (the device's own accuracy on eval.npz)
    stages: StageTimes = field(default_factory=StageTimes)  # where measure_wall_s went (agent/stages.py)

    def overhead(self) -> dict[str, object]:
        """run.json's ``overhead``: measuring wall time against the timed regions, by stage."""
        return overhead_record(self.stages.seconds, self.measure_wall_s, self.timed_s)
    disturbed: int = 0  # rows this run recorded as disturbed (first measurements and re-measurements)
    remeasured: int = 0  # rows this run recorded re-measuring a disturbed one
    planned_again: int = 0  # disturbed trials queued for re-measurement at the end of the run
    still_disturbed: int = 0  # trials whose last row is disturbed when the run ends

    def disturbed_line(self) -> str | None:
        """One line on disturbed trials for the run's summary; None when there were none."""
        if not (self.disturbed or self.still_disturbed):
            return None
        return (f"disturbed: {self.disturbed} measurements this run ({self.remeasured} of them "
                f"re-measurements); {self.still_disturbed} trials still disturbed at the end "
                f"(their disturbed_reason says why)")


class NoArtifact(Exception):
    """Why a variant has nothing to measure; each of its pending trials becomes a row."""

    def __init__(self, end: TrialEnd) -> None:
        super().__init__(end.reason)
        self.end = end


def load_backends(sweep: Sweep) -> dict[str, Backend | MissingDependency]:
    """The sweep's backends, configured and checked against this host; a backend whose
    runtime is not installed is kept as its MissingDependency (its trials become skipped rows)."""
    backends: dict[str, Backend | MissingDependency] = {}
    for name in sweep.backends:
        try:
            backend = BACKENDS.get(name)(sweep.backend_options(name))
        except MissingDependency as missing:
            backends[name] = missing
            continue
        backend.check_host(sweep.source)
        backends[name] = backend
    return backends


class MeasureRunner:
    """Measures every trial of a sweep from ``store``; never builds, never imports torch."""

    def __init__(self, sweep: Sweep, out_dir: Path, store: ArtifactStore,
                 progress: Progress | None = None, mem_limit_bytes: int | None = None,
                 profile: DeviceProfile | None = None) -> None:
        self.emulation = Emulation.of(profile) if profile is not None else None
        if profile is not None and profile.thread_count is not None:
            sweep = dataclasses.replace(sweep, threads=profile.thread_count)
        if profile is not None and profile.memory_bytes is not None:  # the smaller cap wins
            mem_limit_bytes = min(mem_limit_bytes or profile.memory_bytes, profile.memory_bytes)
        self.sweep = sweep
        self.out = ResultsFolder(Path(out_dir))
        self.store = store
        self.progress = progress or QuietProgress()
        self.mem_limit_bytes = mem_limit_bytes
        self.backends = load_backends(sweep)
        self._layers_written: set[str] = set()
        self.machine = machine_info()
        if self.emulation is not None:  # every row and machine.json say emulated, and from what
            self.machine["emulation"] = {"profile": self.emulation.profile.to_mapping(),
                                         "real_device_class": self.machine["device_class"]}
            self.machine["device_class"] = self.emulation.device_class(self.machine["device_class"])
        check_cpus(sweep.cpus, "cpus", sweep.source)  # a core this machine lacks: before anything slow
        self._machine_cpus = len(usable_cpus())
        self._attempts: dict[str, dict[str, Any]] = {}  # trial key -> attempt, retry_of of its next row
        # checked once here rather than by every worker (perf's smoke test takes ~40 ms)
        self._perf = perf_support() if sweep.telemetry.perf else None
        self._run_id = ""  # the run's id, once run() has opened the folder

    # ------------------------------------------------------------ what a subclass may change

    def _obtain(self, variant: Variant) -> Artifact:
        """The artifact to measure, or NoArtifact with the rows' status and reason."""
        try:
            artifact = self.store.find(variant.key)
        except ArtifactError as exc:
            raise NoArtifact(TrialEnd(Status.ERROR, f"artifact refused: {exc}")) from None
        if artifact is None:
            raise NoArtifact(TrialEnd(Status.SKIPPED, f"{MISSING_ARTIFACT}: no artifact of this variant "
                                      f"(variant_key {variant.key}) in {str(self.store.root)!r}; build it with "
                                      f"`agent build --sweep {self.sweep.source} --out {self.store.root}`"))
        return artifact

    def _method_options(self, variant: Variant) -> dict[str, Any]:
        """The method's options for rows without an artifact (an artifact records its own)."""
        return dict(variant.method_options)

    # ------------------------------------------------------------ the run

    def run(self) -> RunSummary:
        run_id = self.out.open(self.sweep.name, self.machine)
        self._layers_written = self._variants_with_layers()
        self._run_id = run_id
        latest = self._latest_rows()
        done = {key for key, row in latest.items() if not _retry(row) and not self._redo(row)}
        plan = self._plan()
        total = sum(len(ts) for _, ts in plan)
        summary = RunSummary(self.out.root, run_id, total, sum(t.key in done for _, ts in plan for t in ts))
        self.progress.start(total, summary.already_done)
        preload = [type(b).__module__ for b in self.backends.values() if isinstance(b, Backend)]
        pool = WorkerPool(self.out.work, self.sweep.trial_timeout_s, self.mem_limit_bytes, preload,
                          cpu=self.emulation.cpu if self.emulation else None)
        if self.sweep.strategy.adaptive:
            self._attempts = {key: _next_attempt(row) for key, row in latest.items()}
            self._run_adaptive(summary, pool, run_id, plan, latest, done)
        else:
            self._measure(summary, pool, run_id, plan, latest, lambda key: key not in done)
        for _ in range(self.sweep.timing.retry_disturbed):  # bounded: each round re-measures once
            latest = self._latest_rows()
            again = {key for key, row in latest.items() if row["run_id"] == run_id and self._redo(row)}
            if not again:
                break
            summary.planned_again += len(again)  # the progress shows them as more work, not as done
            self.progress.start(total + summary.planned_again, summary.already_done + sum(summary.statuses.values()))
            self.progress.stage(f"re-measuring {len(again)} disturbed trials")
            self._measure(summary, pool, run_id, plan, latest, again.__contains__)
        summary.accuracy_s = pool.accuracy_s
        summary.stages.merge(pool.stages.seconds)
        summary.stages.merge({stages.WARMUP: summary.warmup_s, stages.TIMED: summary.timed_s})
        if summary.timed_s > 0:  # a run that measured something: keep where its time went
            self.out.record_run(overhead=summary.overhead())
        latest_rows = list(self._latest_rows().values())
        summary.still_disturbed = sum(bool(r["disturbed"]) for r in latest_rows)
        self.out.write_csv(latest_rows)
        comparisons = seed_comparisons(latest_rows, load_samples(self.out.root))
        if comparisons:
            write_comparisons_csv(comparisons, self.out.path(ResultsFolder.SEED_COMPARISON))
        return summary

    def _run_adaptive(self, summary: RunSummary, pool: WorkerPool, run_id: str,
                      plan: list[tuple[Variant, list[Trial]]], latest: dict[str, dict[str, Any]],
                      done: set[str]) -> None:
        """Let the planner choose which trials to run (collector/analysis/adaptive.py): the rows
        already here (a resume) are its first evidence; each choice is appended to
        strategy.jsonl with its round and reason."""
        from agent.adaptive import run_adaptive
        run_adaptive(self, summary, pool, run_id, plan, latest, done)

    def _variants_with_layers(self) -> set[str]:
        """The variants layers.jsonl already holds (a torn or damaged line holds none)."""
        return {record["variant_key"] for record in self.out.records(ResultsFolder.LAYERS)
                if isinstance(record.get("variant_key"), str)}

    def _measure(self, summary: RunSummary, pool: WorkerPool, run_id: str,
                 plan: list[tuple[Variant, list[Trial]]], latest: dict[str, dict[str, Any]],
                 wanted: Callable[[str], bool]) -> None:
        """Measure the trials ``wanted`` picks, each row numbered after the trial's last one."""
        self._attempts = {key: _next_attempt(row) for key, row in latest.items()}
        for variant, variant_trials in plan:
            pending = [t for t in variant_trials if wanted(t.key)]
            if pending:
                self._run_variant(summary, pool, self._context(run_id, variant), variant, pending)

    def _redo(self, row: dict[str, Any]) -> bool:
        """A disturbed row with re-measurements left (timing.retry_disturbed) is measured again."""
        return bool(row["disturbed"]) and (row["attempt"] or 1) <= self.sweep.timing.retry_disturbed

    def _run_variant(self, summary: RunSummary, pool: WorkerPool, context: dict[str, Any],
                     variant: Variant, pending: list[Trial]) -> list[dict[str, Any]]:
        """Build (if need be) and measure a variant's pending trials in this machine's turn (one
        agent of a machine at a time, agent/emulate.py); their rows, as written."""
        waiting = functools.partial(self.progress.stage, f"{variant.label}: waiting for this machine's turn "
                                                         "(another agent is measuring)")
        with machine_turn(waiting):
            return self._build_and_measure(summary, pool, context, variant, pending)

    def _build_and_measure(self, summary: RunSummary, pool: WorkerPool, context: dict[str, Any],
                           variant: Variant, pending: list[Trial]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        started = time.perf_counter()
        try:
            artifact = self._obtain(variant)
        except NoArtifact as reason:
            for trial in pending:
                rows.append(self._record(summary, {**context, **self._trial_columns(trial), **reason.end.columns()}))
            return rows
        finally:
            summary.build_wall_s += time.perf_counter() - started
        if variant.key not in self._layers_written:  # a resumed variant has its record from before
            self.out.append(ResultsFolder.LAYERS, {
                "run_id": context["run_id"], "variant_key": variant.key, "model": variant.model,
                "method": variant.method, "target_ratio": variant.target_ratio, "layers": artifact.meta["layers"],
                "artifact_sha256": artifact.sha256})
            self._layers_written.add(variant.key)
        context = {**context, **_artifact_columns(artifact)}
        started = time.perf_counter()
        for columns in self._measure_variant(pool, variant, artifact, pending, summary.stages):
            with summary.stages.stage(stages.ROWS):
                row = self._record(summary, {**context, **columns})
            rows.append(row)
            summary.timed_s += row["timed_s"] or 0.0
            summary.warmup_s += row["warmup_s"] or 0.0
        summary.measure_wall_s += time.perf_counter() - started
        return rows

    def _measure_variant(self, pool: WorkerPool, variant: Variant, artifact: Artifact,
                         pending: list[Trial], times: StageTimes) -> Iterator[dict[str, Any]]:
        """Rows of every pending trial: one worker a backend and device, batches ascending."""
        for (backend_name, device), group in _by_backend_and_device(pending).items():
            backend = self.backends[backend_name]
            resolved = backend.resolve_devices((device,))[device] if isinstance(backend, Backend) else None
            if resolved is None:
                reason = (str(backend) if isinstance(backend, MissingDependency)
                          else f"device {device!r} is not available on this host (backend {backend_name!r})")
                for trial in group:
                    yield {**self._trial_columns(trial), **TrialEnd(Status.SKIPPED, reason).columns()}
                continue
            self.progress.stage(f"{variant.label}: {backend_name} {resolved}")
            by_key = {t.key: t for t in group}
            job = WorkerJob(
                artifact_dir=str(artifact.path), artifact_meta=dict(artifact.meta), backend=backend_name,
                backend_options=self.sweep.backend_options(backend_name), device=resolved,
                threads=self.sweep.threads, timing=self.sweep.timing,
                trials=tuple(TrialSpec(t.key, t.batch_size, artifact.input_shape(t.batch_size)) for t in group),
                stop_after_oom=not self.sweep.continue_after_oom, telemetry=self.sweep.telemetry,
                perf=self._perf, mem_limit_bytes=None, cgroup=None, stderr_path="",
                cpus=self.sweep.cpus, machine_cpus=self._machine_cpus)
            job = dataclasses.replace(job, device_accuracy=pool.device_accuracy(job))
            for outcome in pool.measure(job):
                with times.stage(stages.ROWS):  # samples and telemetry lines
                    columns = self._outcome_columns(by_key[outcome.key], resolved, outcome.columns)
                yield columns

    def _outcome_columns(self, trial: Trial, device: str, columns: dict[str, Any]) -> dict[str, Any]:
        for process, samples in enumerate(columns.pop(SAMPLES_BY_PROCESS, None) or ()):
            self.out.append(ResultsFolder.SAMPLES,
                            {"trial_key": trial.key, "process": process, "samples_ms": samples})
        side = columns.pop("telemetry_side", None)
        if side:  # time series of the samplers, per-kernel GPU table
            self.out.append(ResultsFolder.TELEMETRY, {"trial_key": trial.key, **side})
        layer_time = columns.pop("layer_time", None)
        if layer_time is not None:  # telemetry.layer_time: the per-layer profile of this trial
            record = record_of(layer_time, self._run_id, trial.key, trial.variant, trial.backend, device,
                               trial.batch_size)
            self.out.append(ResultsFolder.LAYER_TIME, record.to_json())
        limit_mb = self.mem_limit_bytes / 2**20 if self.mem_limit_bytes else None
        if columns.get("status") == Status.OK.value:
            quota = self.emulation.cpu.cpu_quota if self.emulation else None
            columns.update(judge(columns, self.sweep.timing.disturbance, self._machine_cpus, quota).columns())
        capacity_gb = self.machine["device_mem_gb"] if device.startswith("cuda") else self.machine["mem_total_gb"]
        return {
            **self._trial_columns(trial), "device": device, **columns, "mem_limit_mb": limit_mb,
            "device_mem_gb": min(capacity_gb, limit_mb / 1024) if limit_mb else capacity_gb,
        }

    def _plan(self) -> list[tuple[Variant, list[Trial]]]:
        """Trials on concrete devices ('auto' resolved by each backend), so 'auto' and 'cpu'
        never run twice; a device a backend cannot use here keeps its requested name and its
        trials become skipped rows."""
        devices = {name: self._devices(name) for name in self.sweep.backends}
        return [(v, trials(self.sweep, v, devices)) for v in variants(self.sweep)]

    def _devices(self, backend_name: str) -> tuple[str, ...]:
        backend = self.backends[backend_name]
        if not isinstance(backend, Backend):  # not installed: name its trials as a backend that is
            backend = next((b for b in self.backends.values() if isinstance(b, Backend)), None)
            if backend is None:
                return self.sweep.devices
        resolved = backend.resolve_devices(self.sweep.devices)
        return tuple(dict.fromkeys(resolved[d] or d for d in self.sweep.devices))

    def _latest_rows(self) -> dict[str, dict[str, Any]]:
        """The last row of every trial key (a retried trial's row supersedes the earlier one)."""
        return {row["trial_key"]: row for row in self.out.results.rows()}

    def _context(self, run_id: str, variant: Variant) -> dict[str, Any]:
        return {
            "run_id": run_id, "host": self.machine["host"], "device_class": self.machine["device_class"],
            "variant_key": variant.key, "agent_version": __version__, "sweep": self.sweep.name,
            "model": variant.model, "dataset": variant.dataset, "input_size": variant.input_size,
            "method": variant.method, "method_options": json.dumps(self._method_options(variant), sort_keys=True),
            "schedule": variant.schedule, "schedule_steps": variant.schedule_steps,
            "finetune_epochs": variant.finetune_epochs, "seed": variant.seed,
            "target_ratio": variant.target_ratio, "base_model_key": variant.base_model_key,
            "emulated": self.emulation is not None,
            "emulation_profile": self.emulation.profile.to_json() if self.emulation else None,
        }

    @staticmethod
    def _trial_columns(trial: Trial) -> dict[str, Any]:
        return {"trial_key": trial.key, "started_at": utc_now(), "backend": trial.backend,
                "device": trial.device, "batch_size": trial.batch_size, "threads": trial.threads}

    def _record(self, summary: RunSummary, values: dict[str, Any]) -> dict[str, Any]:
        row = self.out.results.append({**values, **self._attempts.get(values["trial_key"], {"attempt": 1})})
        summary.statuses[row["status"]] += 1
        summary.disturbed += bool(row["disturbed"])
        summary.remeasured += row["retry_of"] is not None
        self.progress.row(row)
        return row


def _retry(row: dict[str, Any]) -> bool:
    """A trial skipped for want of an artifact is tried again (the artifact may exist now)."""
    return row["status"] == Status.SKIPPED.value and (row["error"] or "").startswith(MISSING_ARTIFACT)


def _next_attempt(row: dict[str, Any]) -> dict[str, Any]:
    """The ``attempt`` and ``retry_of`` of the next row of a trial whose last row is ``row``:
    a re-measurement of a disturbed row says so; a row replacing one that measured nothing (a
    skipped trial, an artifact found only now) is still the first measurement."""
    if row["disturbed"]:
        return {"attempt": (row["attempt"] or 1) + 1, "retry_of": row["started_at"]}
    return {"attempt": row["attempt"] or 1}


def _artifact_columns(artifact: Artifact) -> dict[str, Any]:
    """The variant's columns as the build recorded them (the same on every device)."""
    known = set(COLUMN_NAMES)
    return {**{k: v for k, v in artifact.meta["columns"].items() if k in known},
            "method_options": json.dumps(artifact.meta["method_options"], sort_keys=True),
            "artifact_sha256": artifact.sha256}


def _by_backend_and_device(trials: list[Trial]) -> dict[tuple[str, str], list[Trial]]:
    groups: dict[tuple[str, str], list[Trial]] = {}
    for trial in trials:
        groups.setdefault((trial.backend, trial.device), []).append(trial)
    return groups
