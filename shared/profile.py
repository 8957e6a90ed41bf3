"""Device profiles: one machine constrained into an emulated, smaller device.

A profile names what the device would have: how many cores (a cpuset), what share of
those cores' time (a CPU quota: 0.5 is half of each), how much memory (the agent's
``--mem-limit`` machinery) and how many intra-op threads. The inventory's ``profile:``
field and ``agent run --profile`` read the same values, a shipped preset's name or a
mapping (JSON on the command line)::

    profile: board
    profile: {cpus: 1, cpu_quota: 0.5, memory: 1GiB, threads: 1}

Rows measured under a profile say so (``emulated``, ``emulation_profile``) and their
device class names the emulated shape and the real machine, ``emu-1c50-600m@x86_64-...``,
so they are never mistaken for a real board's. Applying a profile is the agent's
(agent/emulate.py); this module only reads, checks and names one, and imports nothing
heavy (the light agent and the collector read it too).
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import UserError, shown, unknown_name
from shared.sizes import parse_size

KEYS = ("name", "cpus", "cpu_quota", "memory", "threads")
MIN_QUOTA = 0.01  # below a hundredth of a core the cgroup's 1 ms minimum quota is all it would get


class ProfileError(UserError):
    """A profile that cannot be read or does not fit the machine: one line naming the field."""


@dataclass(frozen=True)
class DeviceProfile:
    """An emulated device. None means "as the machine is": every core, no quota, no cap."""

    name: str | None = None       # the preset's name, or the inventory's label
    cpus: int | None = None       # cores it may use
    cpu_quota: float | None = None  # share of those cores' time, in (0, 1]
    memory_bytes: int | None = None
    threads: int | None = None    # intra-op threads; None: the sweep's, else one a core

    def shape(self, cores: int | None = None) -> str:
        """``emu-1c50-600m``: cores, quota in percent, memory; ``cores`` stands for an
        unset ``cpus`` (every core of the machine), 'all' where it is not known."""
        count = self.cpus if self.cpus is not None else (cores if cores is not None else "all")
        quota = round((self.cpu_quota if self.cpu_quota is not None else 1.0) * 100)
        memory = f"-{format_bytes(self.memory_bytes)}" if self.memory_bytes is not None else ""
        return f"emu-{count}c{quota}{memory}"

    @property
    def thread_count(self) -> int | None:
        """The threads a worker should use: the profile's, else one a core it may use."""
        return self.threads if self.threads is not None else self.cpus

    def to_mapping(self) -> dict[str, Any]:
        values = {"name": self.name, "cpus": self.cpus, "cpu_quota": self.cpu_quota,
                  "memory": self.memory_bytes, "threads": self.threads}
        return {k: v for k, v in values.items() if v is not None}

    def to_json(self) -> str:
        """Compact JSON that :func:`parse_profile` reads back (``agent run --profile``)."""
        return json.dumps(self.to_mapping(), sort_keys=True, separators=(",", ":"))

    def describe(self, cores: int | None = None) -> str:
        """``board (emu-1c50-600m)``, as ``collector hosts`` shows it."""
        return f"{self.name} ({self.shape(cores)})" if self.name else self.shape(cores)


PRESETS: dict[str, DeviceProfile] = {
    # every core, no quota, no cap: the machine itself, but its rows still say "emulated"
    "server": DeviceProfile("server"),
    "laptop": DeviceProfile("laptop", cpus=1, memory_bytes=2 * 2**30, threads=1),
    # 600 MiB: ResNet18 on 32x32 inputs peaks at ~641 MB at batch 128 (OOM), batch 32 fits
    "board": DeviceProfile("board", cpus=1, cpu_quota=0.5, memory_bytes=600 * 2**20, threads=1),
}


def format_bytes(size: int) -> str:
    """600 MiB -> '600m', 2 GiB -> '2g', 1.5 GiB -> '1536m' (whole units only: a class is stable)."""
    if size % 2**30 == 0:
        return f"{size // 2**30}g"
    if size % 2**20 == 0:
        return f"{size // 2**20}m"
    return f"{max(1, round(size / 2**20))}m"


def parse_profile(value: Any, source: str | None = None, field: str = "profile") -> DeviceProfile:
    """A preset's name, JSON text of a mapping, or a mapping -> DeviceProfile; ProfileError
    (naming ``source`` and ``field``) for anything else."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ProfileError(f"cannot read JSON {shown(value)}: {exc}", source=source, field=field) from None
    if isinstance(value, str):
        if value.strip() not in PRESETS:
            raise _with_class(unknown_name("profile", value, PRESETS, source=source, field=field))
        return PRESETS[value.strip()]
    if not isinstance(value, Mapping):
        raise ProfileError(f"expected a preset name ({', '.join(PRESETS)}) or a mapping of "
                           f"{', '.join(KEYS)}, got {shown(value)}", source=source, field=field)
    return _from_mapping(value, source, field)


def _with_class(error: UserError) -> ProfileError:
    return ProfileError(str(error))


def _from_mapping(data: Mapping[str, Any], source: str | None, field: str) -> DeviceProfile:
    for key in data:
        if key not in KEYS:
            raise _with_class(unknown_name("profile key", key, KEYS, source=source, field=field))

    def fail(key: str, message: str) -> ProfileError:
        return ProfileError(message, source=source, field=f"{field}: {key}")

    name = data.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip() or "\n" in name):
        raise fail("name", f"expected a one-line name, got {shown(name)}")
    quota = data.get("cpu_quota")
    if quota is not None:
        if isinstance(quota, bool) or not isinstance(quota, (int, float)) or not MIN_QUOTA <= quota <= 1:
            raise fail("cpu_quota", f"expected a share of the cores' time in {MIN_QUOTA}..1 "
                                    f"(0.5: half), got {shown(quota)}")
        quota = float(quota)
    return DeviceProfile(name=name, cpus=_count(data.get("cpus"), fail, "cpus"), cpu_quota=quota,
                         memory_bytes=_memory(data.get("memory"), fail),
                         threads=_count(data.get("threads"), fail, "threads"))


def _count(value: Any, fail: Any, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise fail(key, f"expected a positive integer, got {shown(value)}")
    return value


def _memory(value: Any, fail: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value  # bytes
    if not isinstance(value, str):
        raise fail("memory", f"cannot read memory size {shown(value)} (e.g. 1GiB, 600MiB)")
    try:
        return parse_size(value, field="")
    except UserError as exc:
        raise fail("memory", str(exc)) from None


# ---------------------------------------------------------------- does it fit this machine?

def usable_cores() -> tuple[int, ...]:
    """The cores this process may run on (its affinity), in order."""
    try:
        return tuple(sorted(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return tuple(range(os.cpu_count() or 1))


def memory_total_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def misfit(profile: DeviceProfile, cores: int, memory_bytes: int | None) -> tuple[str, str] | None:
    """(field, why) where the profile asks for more than a machine with ``cores`` cores and
    ``memory_bytes`` of memory has; None where it fits."""
    if profile.cpus is not None and profile.cpus > cores:
        return "cpus", f"asks for {profile.cpus} cores; this machine lets the agent use {cores}"
    if profile.memory_bytes is not None and memory_bytes is not None and profile.memory_bytes > memory_bytes:
        return "memory", (f"asks for {profile.memory_bytes / 2**30:.1f} GiB of memory; this machine has "
                          f"{memory_bytes / 2**30:.1f} GiB")
    return None


def misfit_here(profile: DeviceProfile, source: str | None = None, field: str = "profile") -> None:
    """ProfileError where the profile does not fit this machine, before anything runs."""
    found = misfit(profile, len(usable_cores()), memory_total_bytes())
    if found is not None:
        key, why = found
        raise ProfileError(why, source=source, field=f"{field}: {key}")
