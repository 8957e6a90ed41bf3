"""Probes around a trial's timed region: perf, NVML, kernel-level GPU profile, system,
tegrastats (Jetson) and RAPL energy.

The registry (:data:`PROBES`, in :mod:`agent.probes.base`) names every probe and imports
its module on first use; none imports torch or needs a GPU to import. See
:mod:`agent.probes.base` for the interface.
"""
from agent.probes.base import (
    PROBES,
    Probe,
    ProbeOutcome,
    ProbeResult,
    ProbeSet,
    make_probe,
    merge_results,
    probe_errors_json,
    region_probes,
)

__all__ = ["PROBES", "Probe", "ProbeOutcome", "ProbeResult", "ProbeSet", "make_probe",
           "merge_results", "probe_errors_json", "region_probes"]
