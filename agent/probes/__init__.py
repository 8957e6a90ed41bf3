"""Probes around a trial's timed region: perf, NVML, kernel-level GPU profile, system,
tegrastats (Jetson) and RAPL energy.

Importing this package registers every probe; none imports torch or needs a GPU to
import. See :mod:`agent.probes.base` for the interface.
"""
from agent.probes import gpuprofile, nvml, perf, rapl, system, tegrastats  # noqa: F401  (register the probes)
from agent.probes.base import (
    PROBES,
    Probe,
    ProbeOutcome,
    ProbeResult,
    ProbeSet,
    make_probe,
    merge_results,
    probe_errors_json,
)

__all__ = ["PROBES", "Probe", "ProbeOutcome", "ProbeResult", "ProbeSet", "make_probe",
           "merge_results", "probe_errors_json"]
