"""The profile pass under an external tool: a fresh child process, run and read back.

The worker's profile pass (agent/worker.py) calls :func:`profile_with` when
:func:`~agent.probes.gpuprofile.choose_profiler` picks nvprof, nsys or ncu. The tool
starts ``python -m agent.profile_target`` (the same artifact, backend, device and input
shape as the timed pass) in a process group of its own, with what is left of the trial's
time limit; a tool that hangs is killed with its whole group and named in the reason. A
tool that fails, writes nothing or writes what cannot be read gives null columns and the
reason (the row's ``probe_errors``), never a failed trial.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.backends.base import ModelOnDevice
from agent.probes.base import ProbeResult, format_reasons
from agent.probes.gpuprofile import GPUPROFILE_COLUMNS, TOP_KERNELS, Choice, summarize_aggregates
from agent.probes.gpuprofile_parse import ProfileParseError
from agent.probes.gpuprofilers import EXTERNAL_PROFILERS, ProfilerOptions, run_in_group

TARGET_MODULE = "agent.profile_target"


@dataclass(frozen=True)
class ProfileTarget(ModelOnDevice):
    """What the child loads and runs: the timed pass's model, device and batch."""

    input_shape: tuple[int, ...]
    calls: int


def target_argv(spec_path: Path) -> list[str]:
    return [sys.executable, "-m", TARGET_MODULE, str(spec_path)]


def profile_with(choice: Choice, target: ProfileTarget, work_dir: Path, timeout_s: float,
                 options: ProfilerOptions = ProfilerOptions(), top: int = TOP_KERNELS) -> ProbeResult:
    """The gpuprofile columns of ``target`` as ``choice.name`` measures them, or nulls and why."""
    tool = EXTERNAL_PROFILERS.get(choice.name)()
    side: dict[str, Any] = {"choice": asdict(choice), "profiler": choice.name}
    failed = lambda why: ProbeResult(dict.fromkeys(GPUPROFILE_COLUMNS), f"{tool.title}: {why}", side)  # noqa: E731
    if timeout_s < 1:
        return failed("no time left in the trial's limit for the profile pass")
    deadline = time.monotonic() + timeout_s
    with tempfile.TemporaryDirectory(prefix="gpuprofile-", dir=work_dir) as tmp:
        spec = Path(tmp) / "target.json"
        spec.write_text(json.dumps({**asdict(target), "artifact_meta": dict(target.artifact_meta),
                                    "backend_options": dict(target.backend_options)}))
        stem = Path(tmp) / "profile"
        prefix = tool.argv(stem, options)
        side["argv"] = prefix
        why = run_in_group([*prefix, *target_argv(spec)], timeout_s, Path(tmp) / "profiler.log")
        if why:
            said = tool.said(stem)
            return failed(f"{why} ({said})" if said else why)
        try:
            collected = tool.collect(stem, deadline - time.monotonic())
        except (ProfileParseError, OSError, ValueError) as exc:
            return failed(str(exc))
    if not any(a.kind == "kernel" for a in collected.aggregates):
        return failed("captured no kernel in the marked range (cudaProfilerStart/Stop)")
    columns, table = summarize_aggregates(collected.aggregates, top)
    columns.update(dict.fromkeys(collected.missing))
    return ProbeResult({**columns, "gpu_profiler": choice.name}, format_reasons(collected.missing),
                       {**side, **table, **collected.side, "options": asdict(options)})
