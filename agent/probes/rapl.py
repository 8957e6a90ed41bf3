"""RAPL energy counters (x86, Linux powercap): package, core and DRAM energy over the region.

The kernel's powercap framework exposes each RAPL domain as a zone folder
``/sys/class/powercap/intel-rapl:<pkg>[:<sub>]`` (AMD's RAPL uses the same ``intel-rapl``
names) holding ``name`` (``package-0``, ``core``, ``uncore``, ``dram``, ``psys``),
``energy_uj`` (a cumulative counter, microjoules) and ``max_energy_range_uj`` (where
the counter wraps). The probe reads every zone at ``start()`` and ``stop()`` and takes
the delta, corrected for one wrap. Since the PLATYPUS side-channel fix (Linux, November 2020)
``energy_uj`` is readable by root only: as non-root the columns are null and say so; no
powercap folder (a VM, an ARM board) is a reason too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from agent.probes.base import Probe, ProbeResult, ProbeUnavailable, format_reasons

POWERCAP_DIR = Path("/sys/class/powercap")
RAPL_COLUMNS: tuple[str, ...] = ("rapl_package_j", "rapl_core_j", "rapl_dram_j")
# intel-rapl-mmio:* (some laptops) repeats the package domain through MMIO: not matched, so
# the package is not counted twice
_ZONE = re.compile(r"intel-rapl:\d+(?::\d+)?")


@dataclass(frozen=True)
class RaplZone:
    path: Path
    domain: str  # "package", "core", "uncore", "dram", "psys"
    max_range_uj: int


def _domain(name: str) -> str:
    """``package-0`` -> ``package``; ``core`` -> ``core``."""
    return re.sub(r"-\d+$", "", name.strip())


def find_zones(root: Path = POWERCAP_DIR) -> list[RaplZone]:
    """The RAPL zones listed in ``root``, or ProbeUnavailable with the reason."""
    if not root.is_dir():
        raise ProbeUnavailable(f"no {root} (no powercap: a VM, a non-x86 CPU or an old kernel)")
    zones = []
    # the class folder lists every zone, nested ones too, as links into /sys/devices
    for path in sorted(p for p in root.iterdir() if _ZONE.fullmatch(p.name)):
        try:
            domain = _domain((path / "name").read_text())
            max_range = int((path / "max_energy_range_uj").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        zones.append(RaplZone(path.resolve(), domain, max_range))
    if not zones:
        raise ProbeUnavailable(f"no RAPL zone (intel-rapl:*) under {root}")
    return zones


def read_energy_uj(zone: RaplZone) -> int:
    try:
        return int((zone.path / "energy_uj").read_text().split()[0])
    except PermissionError:
        raise ProbeUnavailable(f"{zone.path / 'energy_uj'} is readable by root only "
                               "(kernels since the PLATYPUS fix, Nov 2020); run the agent as root "
                               "for RAPL energy") from None


def delta_uj(start: int, end: int, max_range_uj: int) -> int:
    """Counter difference, allowing for one wrap at ``max_range_uj``."""
    return end - start if end >= start else end + max_range_uj - start


def summarize_rapl(zones: list[RaplZone], start: dict[Path, int], end: dict[Path, int]
                   ) -> tuple[dict[str, Any], dict[str, str]]:
    """Joules a domain, summed over packages; a domain no zone has is null with the reason."""
    joules: dict[str, float] = {}
    for zone in zones:
        if zone.path in start and zone.path in end:
            j = delta_uj(start[zone.path], end[zone.path], zone.max_range_uj) / 1e6
            joules[zone.domain] = joules.get(zone.domain, 0.0) + j
    columns = {f"rapl_{d}_j": joules.get(d) for d in ("package", "core", "dram")}
    have = ", ".join(sorted({z.domain for z in zones}))
    reasons = {c: f"no such RAPL domain here (zones: {have})" for c, v in columns.items() if v is None}
    return columns, reasons


class RaplProbe(Probe):
    """Reads every RAPL zone's energy counter at start and stop."""

    name: ClassVar[str] = "rapl"
    columns: ClassVar[tuple[str, ...]] = RAPL_COLUMNS

    def __init__(self, root: Path = POWERCAP_DIR) -> None:
        super().__init__()
        self.root = root
        self._zones: list[RaplZone] = []
        self._start_uj: dict[Path, int] = {}

    def _start(self) -> None:
        self._zones = find_zones(self.root)
        self._start_uj = {z.path: read_energy_uj(z) for z in self._zones}

    def _stop(self) -> ProbeResult:
        end = {z.path: read_energy_uj(z) for z in self._zones}
        columns, reasons = summarize_rapl(self._zones, self._start_uj, end)
        return ProbeResult(columns, format_reasons(reasons))
