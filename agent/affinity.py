"""Pinning a measuring process to given CPU cores (``cpus: [2, 3]``, ``agent run --cpus 2,3``).

The one owner of CPU affinity: whoever pins a process (the trial workers; an emulated
device profile) calls :func:`pin`. The cores are checked against this machine before
anything slow starts (:func:`check_cpus`), so a core the machine lacks is one line
naming the field, not a worker failing mid-sweep.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from shared.errors import UserError
# the cores this process may run on (its affinity: a container's cpuset, taskset): one owner,
# shared with the device profiles
from shared.profile import usable_cores as usable_cpus


def format_cpus(cpus: Iterable[int]) -> str:
    """``2,3``: the row's ``cpus`` column and the CLI's spelling."""
    return ",".join(str(c) for c in sorted(cpus))


def parse_cpus(text: str, field: str = "--cpus") -> tuple[int, ...]:
    """``0,1`` or ``0-3,6`` as core numbers; anything else is a UserError naming ``field``."""
    cores: list[int] = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high if dash else low)
        except ValueError:
            raise UserError(f"expected core numbers like 0,1 or 0-3, got {text!r}", field=field) from None
        if first < 0 or last < first:
            raise UserError(f"{part.strip()!r} is not a core range", field=field)
        cores.extend(range(first, last + 1))
    return check_unique(cores, field)


def check_unique(cpus: Sequence[int], field: str, source: str | None = None) -> tuple[int, ...]:
    if not cpus:
        raise UserError("expected at least one core", source=source, field=field)
    if len(set(cpus)) != len(cpus):
        raise UserError(f"a core is named twice in {list(cpus)}", source=source, field=field)
    return tuple(cpus)


def check_cpus(cpus: Sequence[int] | None, field: str, source: str | None = None) -> tuple[int, ...] | None:
    """``cpus`` if this machine has every one of them (for this process); else a UserError."""
    if cpus is None:
        return None
    usable = usable_cpus()
    missing = sorted(set(cpus) - set(usable))
    if missing:
        raise UserError(f"this machine has no usable core {format_cpus(missing)} "
                        f"(this process may run on cores {format_cpus(usable)})", source=source, field=field)
    return tuple(cpus)


def pin(cpus: Sequence[int] | None) -> tuple[int, ...]:
    """Pin this process (and what it starts later) to ``cpus`` (None: leave it); returns the
    cores it may run on now, as the kernel reports them."""
    if cpus is not None:
        os.sched_setaffinity(0, cpus)
    return usable_cpus()
