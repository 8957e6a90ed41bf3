"""Cap a worker's memory, to emulate a smaller device on a bigger machine.

In order of preference: a memory cgroup of its own (cgroup v2 ``memory.max`` or v1
``memory.limit_in_bytes``, created under the agent's own group, which root may do), else
``RLIMIT_AS`` (a last resort: it counts virtual memory, and a CUDA build of torch maps a
lot of it). The cgroup also tells, after a SIGKILL, whether the kernel's OOM killer did it
(``oom_kill`` in v2 ``memory.events`` or v1 ``memory.oom_control``) and the group's peak.

Workers are forked from a server that has imported torch: those pages are shared and stay
charged to the server. So that the cap still means "a device with SIZE memory", the
worker's own limit is SIZE minus the RSS it already has when it starts (the runtime).
"""
from __future__ import annotations

import os
import re
import resource
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")  # module-level so a test can point both at a fake tree


@dataclass(frozen=True)
class TrialGroup:
    """A memory cgroup for one worker, made by the parent, joined by the worker."""

    path: Path
    version: int  # 1 or 2

    @property
    def _limit_file(self) -> Path:
        return self.path / ("memory.max" if self.version == 2 else "memory.limit_in_bytes")

    def join_and_limit(self, limit_bytes: int) -> None:
        """Run in the worker: set the cap, then move this process into the group."""
        self._limit_file.write_text(str(limit_bytes))
        swap = self.path / ("memory.swap.max" if self.version == 2 else "memory.memsw.limit_in_bytes")
        if swap.exists():  # no escape into swap: the cap must end in an OOM, not in thrashing
            swap.write_text("0" if self.version == 2 else str(limit_bytes))
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def oom_kills(self) -> int | None:
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            match = re.search(r"^oom_kill (\d+)$", (self.path / name).read_text(), re.MULTILINE)
        except OSError:
            return None
        return int(match.group(1)) if match else None

    def peak_mb(self) -> float | None:
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        try:
            return int((self.path / name).read_text()) / 2**20
        except (OSError, ValueError):
            return None

    def remove(self) -> None:
        try:
            self.path.rmdir()  # only once the worker is gone
        except OSError:
            pass


def own_cgroup(controller: str) -> tuple[Path, int] | None:
    """This process's cgroup folder for ``controller`` (memory, cpu) and the cgroup version,
    or None: a v1 hierarchy of that controller first, else the v2 unified one."""
    try:
        lines = PROC_CGROUP.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            mount = CGROUP_ROOT / controller
            if not mount.exists():  # mounted under the joined name, e.g. cpu,cpuacct
                mount = CGROUP_ROOT / controllers
            return mount / path.lstrip("/"), 1
    for line in lines:
        if line.startswith("0::"):
            return CGROUP_ROOT / line[3:].lstrip("/"), 2
    return None


def make_group(controller: str, name: str) -> tuple[Path, int] | tuple[None, str]:
    """A fresh child group ``name`` under our own for ``controller``: (folder, version), or
    (None, why not). On v2 every controller's group for ``name`` is the same folder."""
    found = own_cgroup(controller)
    if found is None:
        return None, f"no {controller} cgroup in /proc/self/cgroup"
    parent, version = found
    if version == 2:
        try:
            enabled = (parent / "cgroup.subtree_control").read_text(errors="replace").split()
        except OSError as exc:
            return None, f"cannot read {parent / 'cgroup.subtree_control'}: {exc.strerror or exc}"
        if controller not in enabled:
            return None, f"cgroup v2 {controller} controller not enabled for children of {parent}"
    path = parent / name
    try:
        path.mkdir(exist_ok=True)
    except OSError as exc:
        return None, f"cannot create {path}: {exc.strerror or exc}"
    return path, version


def make_trial_group(name: str) -> tuple[TrialGroup | None, str | None]:
    """A fresh child group under our own, or None and why not (then RLIMIT_AS is used)."""
    path, version = make_group("memory", name)
    if path is None:
        return None, str(version)
    return TrialGroup(path, int(version)), None


def current_rss_bytes() -> int:
    match = re.search(r"VmRSS:\s+(\d+)\s+kB", Path("/proc/self/status").read_text())
    return int(match.group(1)) * 1024 if match else 0


def limit_address_space(allowance_bytes: int) -> None:
    """The fallback: what is mapped now plus the allowance."""
    match = re.search(r"VmSize:\s+(\d+)\s+kB", Path("/proc/self/status").read_text())
    mapped = int(match.group(1)) * 1024 if match else 0
    resource.setrlimit(resource.RLIMIT_AS, (mapped + allowance_bytes, mapped + allowance_bytes))
