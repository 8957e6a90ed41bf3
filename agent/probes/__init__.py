"""Probes around a trial's timed region: perf, NVML, kernel-level GPU profile, system,
tegrastats (Jetson) and RAPL energy.

The registry (:data:`PROBES`, in :mod:`agent.probes.base`) names every probe; importing this
package imports them all, so that a worker's forkserver has them before it forks (none imports
torch or needs a GPU to import). See :mod:`agent.probes.base` for the interface.
"""
from agent.probes.base import (
    PROBES,
    Probe,
    ProbeOutcome,
    ProbeResult,
    ProbeSet,
    merge_results,
    probe_errors_json,
    region_probes,
)

__all__ = ["PROBES", "Probe", "ProbeOutcome", "ProbeResult", "ProbeSet", "merge_results",
           "probe_errors_json", "region_probes"]

for _name in PROBES:
    PROBES.get(_name)
