"""Energy per inference: one ``energy_j`` a row, from the best sensor the device has.

The probes measure energy their own way (``tegra_energy_j``: a Jetson's board input from
tegrastats; ``gpu_energy_j``: NVML's counter of a discrete GPU; ``rapl_*_j``: the x86
package and DRAM). This module picks one, in this order, and names it in
``energy_source``:

1. tegrastats: the whole board (CPU, GPU, memory), so it covers CPU and GPU trials;
2. NVML, for a trial on a CUDA device (the GPU board only, not the host CPU);
3. RAPL package (+ DRAM where the CPU has that domain), for a trial on the CPU.

Every sensor measures the whole device over the timed region, idle power and other
processes included: the energy of the region, divided by the samples it processed.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ENERGY_COLUMNS: tuple[str, ...] = ("energy_j", "energy_per_sample_mj", "energy_source")


def _pick(columns: Mapping[str, Any], device: str) -> tuple[float, str] | None:
    if columns.get("tegra_energy_j") is not None:
        return columns["tegra_energy_j"], f"tegrastats:{columns.get('tegra_power_source') or 'rails'}"
    if device.startswith("cuda") and columns.get("gpu_energy_j") is not None:
        return columns["gpu_energy_j"], "nvml:gpu"
    if not device.startswith("cuda") and columns.get("rapl_package_j") is not None:
        dram = columns.get("rapl_dram_j")
        if dram is not None:
            return columns["rapl_package_j"] + dram, "rapl:package+dram"
        return columns["rapl_package_j"], "rapl:package"
    return None


def energy_columns(columns: Mapping[str, Any], device: str, n_samples: int | None,
                   batch_size: int) -> tuple[dict[str, Any], str | None]:
    """``energy_j``, ``energy_per_sample_mj`` and ``energy_source`` of a row's probe columns,
    and why they are null (None when measured)."""
    picked = _pick(columns, device)
    if picked is None:
        wanted = "tegrastats or NVML" if device.startswith("cuda") else "tegrastats or RAPL"
        return dict.fromkeys(ENERGY_COLUMNS), f"no energy sensor measured this trial ({wanted}; see their reasons)"
    energy, source = picked
    per_sample = energy * 1000 / (n_samples * batch_size) if n_samples else None
    return {"energy_j": energy, "energy_per_sample_mj": per_sample, "energy_source": source}, None
