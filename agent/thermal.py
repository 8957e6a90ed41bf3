"""Temperature, CPU clock and throttle counters where the machine exposes them, and the
cooling before a trial (``timing.cooldown_s``, ``timing.cooldown_temp_c``).

Each reader returns None where nothing is readable (most VMs have no thermal zone and no
cpufreq): the rows then say "no sensor" rather than a made-up figure.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from shared.sweep import TimingSpec

THERMAL_ROOT = Path("/sys/class/thermal")
CPU_ROOT = Path("/sys/devices/system/cpu")
COOL_POLL_S = 1.0
NO_TEMPERATURE = f"no sensor: no temperature readable ({THERMAL_ROOT}/thermal_zone*/temp, hwmon)"


def _read_number(path: Path) -> float | None:
    try:
        return float(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _zone_temps(root: Path) -> list[float]:
    """Thermal zones in degrees C (the kernel writes millidegrees); 0 and below are unset zones."""
    values = (_read_number(p) for p in sorted(root.glob("thermal_zone*/temp")))
    return [v / 1000 for v in values if v is not None and v > 0]


def _hwmon_temps() -> list[float]:
    try:
        sensors = getattr(psutil, "sensors_temperatures", dict)() or {}
    except (OSError, RuntimeError):
        return []
    return [t.current for entries in sensors.values() for t in entries if t.current and t.current > 0]


def read_temp_c(root: Path = THERMAL_ROOT) -> float | None:
    """The hottest readable sensor (thermal zones and hwmon), degrees C; None: no sensor."""
    return max(_zone_temps(root) + _hwmon_temps(), default=None)


def read_clock_mhz(cpus: Iterable[int], root: Path = CPU_ROOT) -> float | None:
    """Mean current clock of ``cpus`` from cpufreq (``scaling_cur_freq``, kHz); None where unreadable."""
    values = [v for c in cpus if (v := _read_number(root / f"cpu{c}" / "cpufreq" / "scaling_cur_freq"))]
    return sum(values) / len(values) / 1000 if values else None


def read_throttle_count(cpus: Iterable[int], root: Path = CPU_ROOT) -> int | None:
    """Times ``cpus`` were thermally throttled since boot (x86 ``thermal_throttle``); None where absent."""
    values = [_read_number(root / f"cpu{c}" / "thermal_throttle" / "core_throttle_count") for c in cpus]
    known = [v for v in values if v is not None]
    return int(sum(known)) if known else None


@dataclass(frozen=True)
class Cooled:
    """The ``cooldown_s`` and ``cooldown_reason`` columns."""

    seconds: float
    reason: str


def cool_down(spec: TimingSpec, read_temp: Callable[[], float | None] = read_temp_c,
              sleep: Callable[[float], None] = time.sleep,
              clock: Callable[[], float] = time.monotonic) -> Cooled | None:
    """Sleep ``cooldown_s``, or wait until the hottest sensor is below ``cooldown_temp_c``
    (at most ``cooldown_max_s``); None when the sweep asks for neither. Without a sensor a
    temperature target cannot be met: it says so, and sleeps ``cooldown_s`` if given."""
    if spec.cooldown_temp_c is None:
        if spec.cooldown_s <= 0:
            return None
        sleep(spec.cooldown_s)
        return Cooled(spec.cooldown_s, f"slept {spec.cooldown_s:g} s")
    started, target = clock(), spec.cooldown_temp_c
    first = temp = read_temp()
    if first is None:
        if spec.cooldown_s > 0:
            sleep(spec.cooldown_s)
            return Cooled(spec.cooldown_s, f"{NO_TEMPERATURE}; slept cooldown_s {spec.cooldown_s:g} s instead")
        return Cooled(0.0, f"{NO_TEMPERATURE}; not cooled to {target:g} C")
    while temp is not None and temp >= target and clock() - started < spec.cooldown_max_s:
        sleep(min(COOL_POLL_S, max(0.0, spec.cooldown_max_s - (clock() - started))))
        temp = read_temp()
    waited = clock() - started
    if temp is None:
        return Cooled(waited, f"sensor stopped answering after {waited:.1f} s (first {first:.1f} C)")
    if temp < target:
        return Cooled(waited, f"cooled from {first:.1f} to {temp:.1f} C (below {target:g} C) in {waited:.1f} s")
    return Cooled(waited, f"still {temp:.1f} C after {waited:.1f} s (cooldown_max_s; target {target:g} C)")
