"""Telemetry columns of the result row: trial isolation, memory caps, probes, fingerprint.

Every probe column is null where the device cannot measure it; the reason is in
``probe_errors`` (a JSON object probe -> reason).
"""
from __future__ import annotations

from shared.columns import Column, _c

TELEMETRY_COLUMNS: tuple[Column, ...] = (
    _c("device_mem_gb", float, "memory capacity of the device the trial ran on: GPU memory, else RAM, GiB"),
    _c("mem_limit_mb", float, "memory cap of the trial's worker (--mem-limit), MiB; null: no cap"),
    _c("mem_cap_method", str, "how the cap was enforced: cgroup-v1, cgroup-v2 or rlimit-as"),
    _c("probe_errors", str, "JSON object: probe -> why its columns are null"),
)
