"""Apply a device profile (shared/profile.py) to the measuring workers, and take turns on one machine.

**CPU.** :class:`CpuCap` pins a worker to the profile's cores (``sched_setaffinity``) and
limits it to its share of their time with the CPU controller: cgroup v2 ``cpu.max`` in the
very group the memory cap (agent/memlimit.py) made for the worker, or v1
``cpu.cfs_quota_us`` in a group of the cpu hierarchy. The period is 10 ms (a 50% quota
then stalls a worker 5 ms at a time, not 50 ms as with the kernel's 100 ms default, so a
timed forward pass of a few ms sees the throttling as a board's slowness, not as rare
huge outliers); the quota is at least the kernel's 1 ms. Memory goes through the existing
``--mem-limit`` machinery. A constraint the host cannot apply (no cgroup write access, a
controller not enabled) is not fatal: each row says which one is missing and why
(``emulation_missing``) and the run goes on.

**Turns.** Emulated devices on one machine share its cores, caches and memory bandwidth:
two measuring at once would disturb each other's timings. :func:`machine_turn` is an
exclusive ``flock`` on one file of the machine's cache folder (``~/.cache/edgeprune/
measure.lock``), held by the agent around each variant's build and measurement, so the
agents of one machine measure one at a time; the kernel drops the lock with a dead agent.

Light: no torch, Python 3.8 (the light agent applies profiles too).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from agent import memlimit
from agent.affinity import pin
from agent.cache import default_cache_dir
from shared.profile import DeviceProfile, usable_cores

PERIOD_US = 10_000
MIN_QUOTA_US = 1_000
LOCK_FILE = "measure.lock"


@dataclass(frozen=True)
class CpuGroup:
    """A cgroup that holds a worker's CPU quota; the worker joins it itself."""

    path: Path
    version: int  # 1 or 2; on v2 the same folder as the worker's memory group, if it has one

    def join(self) -> None:
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        with contextlib.suppress(OSError):  # gone already (v2: with the memory group), or still busy
            self.path.rmdir()


def quota_us(cpu_quota: float, cores: int) -> int:
    """The quota a period for ``cpu_quota`` of each of ``cores`` cores."""
    return max(MIN_QUOTA_US, round(cpu_quota * cores * PERIOD_US))


@dataclass(frozen=True)
class CpuCap:
    """The CPU side of a profile: which cores a worker may run on, and what share of them."""

    cores: tuple[int, ...] | None = None  # None: wherever the agent may run
    cpu_quota: float | None = None  # share of those cores' time; None: no quota

    @classmethod
    def of(cls, profile: DeviceProfile) -> CpuCap:
        """The last ``cpus`` cores this process may use (core 0 takes most interrupts)."""
        cores = usable_cores()
        chosen = cores[-profile.cpus:] if profile.cpus is not None else None
        return cls(chosen, profile.cpu_quota)

    @property
    def active(self) -> bool:
        return self.cores is not None or self.cpu_quota is not None

    def make_group(self, name: str) -> tuple[CpuGroup | None, dict[str, str]]:
        """The parent's part, before the worker starts: a group with the quota set, or None
        and, under ``cpu_quota``, why not."""
        if self.cpu_quota is None:
            return None, {}
        path, version = memlimit.make_group("cpu", name)
        if path is None:
            return None, {"cpu_quota": str(version)}
        version = int(version)
        quota = quota_us(self.cpu_quota, len(self.cores) if self.cores else len(usable_cores()))
        try:
            if version == 2:
                (path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            else:
                (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (path / "cpu.cfs_quota_us").write_text(str(quota))
        except OSError as exc:
            CpuGroup(path, version).remove()
            return None, {"cpu_quota": f"cannot set the quota in {path}: {exc.strerror or exc}"}
        return CpuGroup(path, version), {}

    def apply_in_worker(self, group: CpuGroup | None) -> dict[str, str]:
        """The worker's part, before it loads anything: pin, join; what failed, and why."""
        missing: dict[str, str] = {}
        if self.cores is not None:
            try:
                pin(self.cores)
            except (OSError, AttributeError) as exc:
                missing["cpus"] = f"cannot pin to cores {list(self.cores)}: {exc}"
        if group is not None:
            try:
                group.join()
            except OSError as exc:
                missing["cpu_quota"] = f"cannot join {group.path}: {exc.strerror or exc}"
        return missing


@dataclass(frozen=True)
class Emulation:
    """A profile as the runner applies it: the CPU cap, the columns every row carries."""

    profile: DeviceProfile
    cpu: CpuCap = field(default_factory=CpuCap)

    @classmethod
    def of(cls, profile: DeviceProfile) -> Emulation:
        return cls(profile, CpuCap.of(profile))

    def shape(self) -> str:
        return self.profile.shape(len(usable_cores()))

    def device_class(self, real: str) -> str:
        """``emu-1c50-600m@x86_64-epyc-7b13-cpu``: emulated, and from what."""
        return f"{self.shape()}@{real}"

    def columns(self, missing: dict[str, str] | None) -> dict[str, object]:
        return {"emulated": True, "emulation_profile": self.profile.to_json(),
                "emulation_missing": json.dumps(missing, sort_keys=True) if missing else None}


@contextlib.contextmanager
def machine_turn(waiting: Callable[[], None] = lambda: None,
                 cache_dir: Path | None = None) -> Iterator[None]:
    """This machine's measuring turn: an exclusive flock, waited for (``waiting`` is called
    once where another agent holds it)."""
    folder = cache_dir if cache_dir is not None else default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting()
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
