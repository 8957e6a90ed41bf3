"""Measure trials in isolated worker processes (manager and workers, as pyperf does).

Workers are forked from a ``forkserver`` that has imported the sweep's backends (torch
where it measures with torch) but never run an op, without the parent's main script
(:mod:`agent.procstart`): a fork costs milliseconds instead of a fresh interpreter's
seconds. This module imports no runtime: the backend loads the model from its artifact
(torch model.pt, onnxruntime model.onnx), so a light agent's workers never import torch.
Each worker times its own stages (:mod:`agent.stages`) and sends them to the manager.

One worker measures the trials of one variant on one backend and device, batch sizes
ascending, and sends one message a trial over a pipe. The parent owns the time limit
and kills the worker's whole process group; an out-of-memory, a crash or a timeout ends
only that worker, and becomes a row:

- ``MemoryError`` / CUDA OOM / torch's CPU allocation failure, caught in the worker -> oom
- killed by SIGKILL and the worker's cgroup counted an OOM kill (or no cgroup to ask) -> oom
- killed by any other signal -> crash; over the time limit -> timeout; an exception -> error

After an OOM the larger batches of the ladder are recorded as skipped (``after_oom``)
unless the sweep asks to run them anyway.
"""
from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import json
import multiprocessing
import os
import signal
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import memlimit, stages
from agent.accuracy import EVAL_BATCH, device_accuracy, same_as_build
from agent.affinity import format_cpus, pin
from agent.artifacts import Artifact
from agent.backends import BACKENDS, Backend
from agent.backends.base import ModelOnDevice
from agent.disturbance import wait_until_quiet
from agent.emulate import CpuCap, CpuGroup
from agent.layertime import DEFAULT_PASSES
from agent.measure import measure_model
from agent.probes import ProbeOutcome, ProbeSet, merge_results, region_probes
from agent.probes.base import cuda_index
from agent.probes.energy import energy_columns
from agent.probes.external_profile import ProfileTarget, profile_with
from agent.probes.gpuprofile import Choice, GpuProfileProbe, choose_profiler, device_capability
from agent.probes.gpuprofilers import ProfilerOptions
from agent.probes.perf import PerfSupport
from agent.procstart import WorkerStarter
from agent.repeats import pool_processes
from agent.sustained import sustained_columns
from agent.worker_messages import Capped, Done, Emulated, Ended, Failed, Pinned, StageSeconds, Started, WorkerMessage
from agent.thermal import cool_down
from shared.resultsdir import utc_now
from shared.schema import ENDED_OK, Status, TrialEnd
from shared.stages import StageTimes
from shared.sweep import TelemetrySpec, TimingSpec

ERROR_TAIL_CHARS = 2000
# Test-only: make the worker fail on purpose, e.g. "crash@8" (SIGSEGV before batch 8) or
# "hang@8" (never return). Read only in the worker; the agent never sets it.
FAULT_ENV = "EDGEPRUNE_TEST_FAULT"
ACCURACY_PASS = "accuracy"  # the key of the accuracy pass's one pseudo-trial
GPU_PROFILE_CALLS = 5  # forward passes traced for the kernel-level profile
PROFILE_MARGIN_S = 5.0  # an external profiler must end this long before the trial's limit
AFTER_OOM = TrialEnd(Status.SKIPPED, "after_oom: a smaller batch ran out of memory")


@dataclass(frozen=True)
class TrialSpec:
    key: str
    batch_size: int
    input_shape: tuple[int, ...]


@dataclass(frozen=True)
class WorkerJob(ModelOnDevice):
    """Everything a worker needs; picklable, sent to the forked child. The artifact was
    verified by the parent; its meta travels along so the worker does not hash it again."""

    timing: TimingSpec
    trials: tuple[TrialSpec, ...]
    stop_after_oom: bool
    telemetry: TelemetrySpec
    perf: PerfSupport | None  # checked once by the parent; None: perf not wanted
    mem_limit_bytes: int | None
    cgroup: memlimit.TrialGroup | None
    stderr_path: str
    accuracy_only: bool = False  # the accuracy pass: evaluate eval.npz, time nothing
    device_accuracy: DeviceAccuracy | None = None  # the pass's result, for every trial's row
    trial_timeout_s: float | None = None  # the pool's limit a trial; the profile pass keeps within it
    cpu: CpuCap | None = None  # a device profile's cores and CPU quota (agent/emulate.py)
    cpu_group: CpuGroup | None = None
    cpus: tuple[int, ...] | None = None  # pin the worker to these cores (None: where the agent may run)
    machine_cpus: int = 1  # the machine's usable cores (a load average is the whole machine's)


@dataclass(frozen=True)
class DeviceAccuracy:
    """The ``accuracy_*_device`` columns, or why they are null (in ``probe_errors``)."""

    columns: Mapping[str, Any]
    errors: Mapping[str, str]


def error_text(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(exc)).strip()
    return text[-ERROR_TAIL_CHARS:]


# ---------------------------------------------------------------- the worker (child) side

def _apply_memory_cap(job: WorkerJob) -> str | None:
    """Cap this process before it loads anything; returns how (cgroup-v1/-v2, rlimit)."""
    if job.mem_limit_bytes is None:
        return None
    own = job.mem_limit_bytes - memlimit.current_rss_bytes()  # the shared runtime counts too
    if own <= 0:
        raise MemoryError(f"the runtime alone ({memlimit.current_rss_bytes() / 2**20:.0f} MiB) "
                          f"exceeds the memory limit")
    if job.cgroup is not None:
        job.cgroup.join_and_limit(own)
        return f"cgroup-v{job.cgroup.version}"
    memlimit.limit_address_space(own)
    return "rlimit-as"


def _test_fault(where: int | str) -> None:
    """``crash@2`` / ``hang@2``: at the trial of batch 2; ``crash@accuracy``: in the accuracy pass."""
    fault = os.environ.get(FAULT_ENV, "")
    kind, _, at = fault.partition("@")
    if at and at == str(where):
        if kind == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        if kind == "hang":
            while True:
                time.sleep(60)


def _combine(outcomes: list[ProbeOutcome]) -> ProbeOutcome:
    combined = ProbeOutcome({}, {}, {})
    for outcome in outcomes:
        combined.columns.update(outcome.columns)
        combined.errors.update(outcome.errors)
        combined.side.update(outcome.side)
    return combined


def _profile_choice(job: WorkerJob) -> Choice:
    """The sweep's profiler where this GPU and host allow it. Under a memory cap, never an
    external one: its child process would count against the trial's cap (cgroup or rlimit)
    and an OOM kill there could take the trial."""
    choice = choose_profiler(device_capability(cuda_index(job.device)), wanted=job.telemetry.gpu_profiler)
    if choice.external and job.mem_limit_bytes is not None:
        choice = Choice("torch_profiler", f"{choice.reason}; but under a memory cap its child process would "
                                          "count against the trial's, so torch.profiler in the worker")
    return choice


def _gpu_profile(job: WorkerJob, backend: Any, model: Any, trial: TrialSpec, started: float) -> ProbeOutcome:
    """A kernel-level profile in a pass of its own: tracing slows launches, so it must not
    touch the timed pass. An external tool profiles a child process of its own, within what
    is left of the trial's time limit (``started``: the trial's monotonic start)."""
    failed = lambda why: merge_results([("gpuprofile", GpuProfileProbe.absent(why))])  # noqa: E731
    reason = GpuProfileProbe.why_not(job)
    if reason:
        return failed(reason)
    try:
        choice = _profile_choice(job)
    except Exception as exc:  # noqa: BLE001 - no capability, no profile; the trial stands
        return failed(f"compute capability unknown: {error_text(exc)}")
    if choice.external:
        limit = job.trial_timeout_s or 600.0
        left = started + limit - min(PROFILE_MARGIN_S, limit / 10) - time.monotonic()
        target = ProfileTarget(job.artifact_dir, job.artifact_meta, job.backend, job.backend_options, job.device,
                               job.threads, trial.input_shape, GPU_PROFILE_CALLS)
        result = profile_with(choice, target, Path(job.stderr_path).parent, left,
                              ProfilerOptions(job.telemetry.ncu_launch_count))
        return merge_results([("gpuprofile", result)])
    if job.backend != "torch":  # the in-process profiler is torch's
        return failed(f"{choice.reason}; the in-process profile runs in torch workers only")
    probe = ProbeSet([GpuProfileProbe(cuda_index(job.device), choice=choice)])
    profile_timing = TimingSpec(warmup_s=0.0, min_reps=GPU_PROFILE_CALLS, min_time_s=0.0, max_time_s=1.0,
                               percentiles=())  # exactly GPU_PROFILE_CALLS passes: no percentile is reported
    sink: dict[str, ProbeOutcome] = {}
    measure_model(backend, model, trial.input_shape, job.device, job.threads, profile_timing,
                  timed_region=lambda: _probing(probe, sink))
    return sink["outcome"]


@contextlib.contextmanager
def _probing(probes: ProbeSet, sink: dict[str, ProbeOutcome]) -> Iterator[None]:
    probes.start()
    try:
        yield
    finally:
        sink["outcome"] = probes.stop()


def _layer_time(job: WorkerJob, backend: Backend, model: Any, artifact: Artifact, trial: TrialSpec,
                times: StageTimes) -> tuple[dict[str, Any], dict[str, str]]:
    """The per-layer profile (``telemetry.layer_time``) in a pass of its own after the timed
    one: a profiler slows what it watches. Its failure is a reason in probe_errors, never the trial's."""
    if not job.telemetry.layer_time:
        return {}, {}
    try:
        with times.stage(stages.LAYER_TIME):
            profile = backend.profile_layers(artifact, model, trial.input_shape, job.device, job.threads,
                                             DEFAULT_PASSES, Path(job.stderr_path).parent)
    except Exception as exc:  # noqa: BLE001 - the latency stands without its breakdown
        return {}, {"layer_time": error_text(exc)}
    return {"layer_time": profile}, {}


def _before_trial(job: WorkerJob) -> dict[str, Any]:
    """Cool down, then wait for a quiet machine, as the sweep asks: the columns saying how."""
    columns: dict[str, Any] = {}
    cooled = cool_down(job.timing)
    if cooled is not None:
        columns.update(cooldown_s=cooled.seconds, cooldown_reason=cooled.reason)
    if job.timing.quiet_wait_s > 0:
        columns.update(wait_until_quiet(job.timing.quiet_wait_s, job.timing.disturbance, job.machine_cpus).columns())
    return columns


def _measure_one(job: WorkerJob, backend: Any, model: Any, trial: TrialSpec,
                 model_outcome: ProbeOutcome, times: StageTimes, artifact: Artifact) -> dict[str, Any]:
    started_s = time.monotonic()
    conditions = _before_trial(job)
    started = {"started_at": utc_now(), **conditions}
    sink: dict[str, ProbeOutcome] = {}
    try:
        running, absent = region_probes(job)  # each probe says whether it runs for this job
        probes = ProbeSet(running, timer=lambda name: times.stage(stages.probe_stage(name)))
        result = measure_model(backend, model, trial.input_shape, job.device, job.threads, job.timing,
                               timed_region=lambda: _probing(probes, sink))
        with times.stage(stages.GPU_PROFILE):  # ~0 where no profile is taken (a CPU)
            profile = _gpu_profile(job, backend, model, trial, started_s)
        layer_time, layer_error = _layer_time(job, backend, model, artifact, trial, times)
    except Exception as exc:  # a failed trial is a row, and the worker may go on
        end = TrialEnd.failure(backend.is_oom(exc), error_text(exc))
        return {**started, **end.columns(), **backend.sparse_kernel_columns(artifact, model)}
    telemetry = _combine([absent, sink["outcome"], profile, model_outcome])
    telemetry.errors.update(layer_error)
    if result.sustained is not None:
        telemetry.columns.update(sustained_columns(result.sustained))
        telemetry.side["sustained"] = result.sustained.side()
    energy, why = energy_columns(telemetry.columns, job.device, len(result.stats.samples_ms), trial.batch_size)
    telemetry.columns.update(energy)
    if why:
        telemetry.errors["energy"] = why
    return {**started, **result.stats.columns(trial.batch_size, job.timing),
            **telemetry.row_columns(), "threads": result.threads,
            **ENDED_OK.columns(), "peak_rss_mb": result.peak_rss_mb,
            "peak_gpu_mem_mb": result.peak_gpu_mem_mb, "samples_ms": list(result.stats.samples_ms),
            "telemetry_side": telemetry.side, **layer_time}


def _model_columns(backend: Backend, model: object, artifact: Artifact, job: WorkerJob) -> ProbeOutcome:
    """What every row of this model records: the backend's settings, whether 2:4 kernels ran,
    and the device's own accuracy on eval.npz, from the accuracy pass (null, with the reason,
    where it failed)."""
    accuracy = job.device_accuracy or DeviceAccuracy({}, {"accuracy_device": "no accuracy pass"})
    return ProbeOutcome({**backend.row_columns(model), **backend.sparse_kernel_columns(artifact, model),
                         **accuracy.columns}, dict(accuracy.errors), {})


def _accuracy_pass(conn: Any, backend: Backend, model: object, artifact: Artifact, job: WorkerJob) -> None:
    (trial,) = job.trials
    conn.send(Started(trial.key))
    _test_fault(ACCURACY_PASS)
    try:
        columns = device_accuracy(backend, model, artifact, job.device, trial.batch_size)
        result = {"accuracy": DeviceAccuracy(columns, {})}
    except Exception as exc:  # the latency of a model whose evaluation fails is still worth having
        result = {"accuracy": DeviceAccuracy({}, {"accuracy_device": error_text(exc)})}
    conn.send(Done(trial.key, result))
    conn.send(Ended())


def _one_thread_a_core(job: WorkerJob, cpus: tuple[int, ...]) -> WorkerJob:
    """A pinned worker whose sweep leaves the thread count to the backend runs one thread a
    pinned core: the backend's default (one a core of the machine) would compete with itself."""
    if job.cpus is None:
        return job
    options = dict(job.backend_options)
    if "threads" in options and options["threads"] is None:
        options["threads"] = len(cpus)
    return dataclasses.replace(job, threads=job.threads or len(cpus), backend_options=options)


def worker_main(conn: Any, job: WorkerJob) -> None:
    """The child: its own process group, stderr to a file, the cap, then the trials."""
    os.setsid()  # a group of its own, so the parent can kill it and anything it started
    with open(job.stderr_path, "ab", buffering=0) as err:
        os.dup2(err.fileno(), 2)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    faulthandler.enable(sys.stderr)  # a segfault leaves its Python stack in the tail
    if job.cpu is not None:  # before anything is loaded: the load is the device's work too
        # an emulated device's cores are the device: they take the place of the sweep's cpus
        conn.send(Emulated(job.cpu.apply_in_worker(job.cpu_group)))
    try:
        # before the runtime starts its threads, so that every one inherits it
        cpus = pin(None if job.cpu is not None and job.cpu.cores is not None else job.cpus)
    except OSError as exc:  # checked by the agent; a core taken offline since is still a row
        conn.send(Failed(TrialEnd(Status.ERROR, f"before the first trial: pinning to cpus {job.cpus}: "
                                                f"{error_text(exc)}")))
        return
    conn.send(Pinned(format_cpus(cpus)))
    job = _one_thread_a_core(job, cpus)
    backend = BACKENDS.get(job.backend)(job.backend_options)
    artifact = Artifact(Path(job.artifact_dir), job.artifact_meta)
    times = StageTimes()
    try:
        conn.send(Capped(_apply_memory_cap(job)))
        with times.stage(stages.MODEL_LOAD):
            model = backend.load(artifact, job.device)
    except Exception as exc:  # no model to measure: the same ending for every trial
        conn.send(Failed(TrialEnd.failure(backend.is_oom(exc), f"before the first trial: {error_text(exc)}")))
        return
    if job.accuracy_only:
        _accuracy_pass(conn, backend, model, artifact, job)
        return
    model_outcome = _model_columns(backend, model, artifact, job)
    for trial in job.trials:
        conn.send(Started(trial.key))
        _test_fault(trial.batch_size)
        columns = _measure_one(job, backend, model, trial, model_outcome, times, artifact)
        conn.send(StageSeconds(times.seconds))
        times = StageTimes()
        conn.send(Done(trial.key, columns))
        if columns["is_oom"] and job.stop_after_oom:
            break
    conn.send(Ended())


# ---------------------------------------------------------------- the manager (parent) side

@dataclass
class Outcome:
    """One finished trial: its key and the columns the worker (or its death) produced."""

    key: str
    columns: dict[str, Any]


class WorkerPool:
    """Starts workers from one forkserver and turns each ending into rows."""

    def __init__(self, work_dir: Path, trial_timeout_s: float, mem_limit_bytes: int | None,
                 preload: Sequence[str] = (), cpu: CpuCap | None = None) -> None:
        self.work_dir = work_dir
        self.trial_timeout_s = trial_timeout_s
        self.mem_limit_bytes = mem_limit_bytes
        self.cpu = cpu if cpu is not None and cpu.active else None
        # The server imports the worker and the backends' modules (``preload``: torch only where
        # the sweep measures with torch) once; it never runs an op. agent.worker itself imports
        # no runtime, so a light agent's workers never touch torch.
        self._starter = WorkerStarter(["agent.worker", *preload])
        self._starter.start_server()  # importing torch there overlaps the agent's building
        self._started = 0
        self.accuracy_s = 0.0  # wall time of the accuracy passes, for the run's summary
        self.stages = StageTimes()  # where the workers' time went (the accuracy passes as one stage)

    def measure(self, job: WorkerJob) -> Iterator[Outcome]:
        """Every trial of ``job`` ends as one Outcome, in ladder order, whatever happens;
        measured in ``job.timing.processes`` fresh workers, one after the other, and pooled
        (agent/repeats.py). With one process each row is yielded as its trial ends."""
        if job.timing.processes == 1:
            for outcome in self._ladder(job):
                batch = next(t.batch_size for t in job.trials if t.key == outcome.key)
                yield Outcome(outcome.key, pool_processes([outcome.columns], batch, job.timing))
            return
        # the row's telemetry is the first process's: the later ones take no kernel profile
        later = dataclasses.replace(job, telemetry=dataclasses.replace(job.telemetry, gpu_profile=False))
        runs = [{o.key: o.columns for o in self._ladder(job if i == 0 else later)}
                for i in range(job.timing.processes)]
        for trial in job.trials:
            yield Outcome(trial.key, pool_processes([run[trial.key] for run in runs], trial.batch_size, job.timing))

    def _ladder(self, job: WorkerJob) -> Iterator[Outcome]:
        """One pass over the job's trials, in as many workers as it takes (a death ends one)."""
        pending = list(job.trials)
        while pending:
            finished = []
            for outcome in self._run_worker(job, tuple(pending)):
                finished.append(outcome)
                yield outcome  # the row is written now, not when the worker ends
            done = {o.key for o in finished}
            pending = [t for t in pending if t.key not in done]
            oom = any(o.columns.get("is_oom") for o in finished)
            if oom and job.stop_after_oom:
                for trial in pending:
                    yield Outcome(trial.key, AFTER_OOM.columns())
                return

    def device_accuracy(self, job: WorkerJob) -> DeviceAccuracy:
        """The device's accuracy on eval.npz (the build's, where it would be the same computation),
        in a worker of its own before the trials: batches
        of up to EVAL_BATCH (at most the job's largest batch) are fast, and if they do not fit in
        memory only this pass dies, never a trial (its reason goes to probe_errors)."""
        known = same_as_build(job.artifact_meta, job.backend, job.device)
        if known is not None:
            return DeviceAccuracy(known, {})
        largest = max(t.batch_size for t in job.trials)
        batch = min(EVAL_BATCH, largest)
        spec = TrialSpec(ACCURACY_PASS, batch, (batch, *job.trials[0].input_shape[1:]))
        started = time.perf_counter()
        # its own start, load and exit are part of the pass, not of the trials' stages
        (outcome,) = self._run_worker(dataclasses.replace(job, accuracy_only=True), (spec,), StageTimes())
        self.accuracy_s += time.perf_counter() - started
        self.stages.add(stages.ACCURACY, time.perf_counter() - started)
        if "accuracy" in outcome.columns:
            return outcome.columns["accuracy"]
        why = (outcome.columns.get("error") or "").splitlines()[:1] or ["no reason"]
        return DeviceAccuracy({}, {"accuracy_device": f"{outcome.columns.get('status')} evaluating in "
                                                      f"batches of {batch}: {why[0]}"})

    def _start_stage(self) -> str:
        """The first worker's start includes the server's imports (torch: seconds), once a run."""
        return stages.SERVER_START if self._started == 1 else stages.WORKER_START

    def _run_worker(self, job: WorkerJob, trials: tuple[TrialSpec, ...],
                    times: StageTimes | None = None) -> Iterator[Outcome]:
        times = self.stages if times is None else times
        self._started += 1
        name = f"edgeprune-{os.getpid()}-{self._started}"
        group, _why_not = memlimit.make_trial_group(name) if self.mem_limit_bytes else (None, None)
        # after the memory group: on cgroup v2 the quota goes into that same folder
        cpu_group, missing = self.cpu.make_group(name) if self.cpu else (None, {})
        stderr_path = self.work_dir / f"{name}.stderr"
        job = WorkerJob(**{**job.__dict__, "trials": trials, "cgroup": group, "trial_timeout_s": self.trial_timeout_s,
                           "mem_limit_bytes": self.mem_limit_bytes, "stderr_path": str(stderr_path),
                           "cpu": self.cpu, "cpu_group": cpu_group})
        parent_conn, child_conn = self._starter.pipe()
        process = self._starter.process(worker_main, (child_conn, job))
        spawned = time.perf_counter()
        process.start()
        child_conn.close()
        try:
            yield from _Watch(process, parent_conn, trials, self.trial_timeout_s, group,
                              stderr_path, _Clock(times, spawned, self._start_stage()),
                              missing if self.cpu else None).outcomes()
        finally:
            with times.stage(stages.WORKER_END):
                _kill_group(process)
                process.join(5)
            if group is not None:
                group.remove()
            if cpu_group is not None:
                cpu_group.remove()
            stderr_path.unlink(missing_ok=True)


def _kill_group(process: multiprocessing.process.BaseProcess) -> None:
    if process.pid is None or process.exitcode is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


@dataclass
class _Clock:
    """The stages of one worker as the manager sees them: its start ends at its first message."""

    times: StageTimes
    spawned: float
    stage: str = stages.WORKER_START
    up: bool = False

    def heard(self) -> None:
        if not self.up:
            self.up = True
            self.times.add(self.stage, time.perf_counter() - self.spawned)


class _Watch:
    """Reads one worker's messages until it ends, dies or runs out of time."""

    def __init__(self, process: Any, conn: Any, trials: tuple[TrialSpec, ...], timeout_s: float,
                 group: memlimit.TrialGroup | None, stderr_path: Path, clock: _Clock,
                 missing: dict[str, str] | None = None) -> None:
        self.process, self.conn, self.trials = process, conn, trials
        self.timeout_s, self.group, self.stderr_path = timeout_s, group, stderr_path
        self.clock = clock
        self.current: str | None = None  # the trial the worker is on
        self.cap: str | None = None
        self.missing = missing  # emulated: the profile's constraints not applied, and why
        self.cpus: str | None = None  # the cores the worker reported it may run on

    def _caps(self) -> dict[str, Any]:
        """How the worker was constrained, for every row it ends."""
        missing = json.dumps(self.missing, sort_keys=True) if self.missing else None
        return {"mem_cap_method": self.cap, "emulation_missing": missing, "cpus": self.cpus}

    def _ended(self, end: TrialEnd) -> Iterator[Outcome]:
        """``end`` for every trial it took (:meth:`_victims`), with how the worker was constrained."""
        for key in self._victims():
            yield Outcome(key, {**end.columns(), **self._caps()})

    def outcomes(self) -> Iterator[Outcome]:
        deadline = time.monotonic() + self.timeout_s  # loading the model counts too
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.conn.poll(left):  # poll is also True at EOF (a death)
                yield from self._timed_out()
                return
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                yield from self._died()
                return
            self.clock.heard()
            if isinstance(message, Started):
                self.current, deadline = message.key, time.monotonic() + self.timeout_s
            elif isinstance(message, Done):
                self.current = None
                yield Outcome(message.key, {**message.columns, **self._caps()})
            elif isinstance(message, Failed):
                yield from self._ended(message.end)
                return
            elif isinstance(message, Ended):
                return
            else:
                self._note(message)

    def _note(self, message: WorkerMessage) -> None:
        """A message that only tells the manager something for the rows to come."""
        if isinstance(message, Capped):
            self.cap = message.method
        elif isinstance(message, Emulated):
            self.missing = {**(self.missing or {}), **message.missing}
        elif isinstance(message, StageSeconds):
            self.clock.times.merge(message.seconds)
        elif isinstance(message, Pinned):
            self.cpus = message.cpus

    def _victims(self) -> list[str]:
        """The trial that was running, or, if none had started, every trial of the worker."""
        return [self.current] if self.current else [t.key for t in self.trials]

    def _timed_out(self) -> Iterator[Outcome]:
        _kill_group(self.process)
        self.process.join(5)
        reason = f"timeout: no result within {self.timeout_s:g} s; the worker was killed"
        yield from self._ended(TrialEnd(Status.TIMEOUT, self._with_tail(reason)))

    def _died(self) -> Iterator[Outcome]:
        self.process.join(5)
        status, reason = self._classify(self.process.exitcode)
        yield from self._ended(TrialEnd(status, self._with_tail(reason)))

    def _classify(self, exitcode: int | None) -> tuple[Status, str]:
        if exitcode is None or exitcode >= 0:
            return Status.ERROR, f"the worker exited with code {exitcode} before finishing"
        sig = signal.Signals(-exitcode)
        if sig is signal.SIGKILL:
            kills = self.group.oom_kills() if self.group else None
            if kills:
                return Status.OOM, f"killed by the kernel's OOM killer (cgroup oom_kill {kills})"
            if kills is None:
                return Status.OOM, "killed by SIGKILL; no cgroup to confirm, most likely the OOM killer"
            return Status.CRASH, "killed by SIGKILL, not by the OOM killer"
        return Status.CRASH, f"killed by signal {sig.name}"

    def _with_tail(self, reason: str) -> str:
        """The reason, then the end of what the worker wrote to stderr."""
        try:
            tail = self.stderr_path.read_text(errors="replace").strip()[-ERROR_TAIL_CHARS:]
        except OSError:
            tail = ""
        return f"{reason}\n{tail}" if tail else reason
