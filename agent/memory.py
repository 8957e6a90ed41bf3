"""Peak resident memory of this process over a region, without a sampling thread.

Linux keeps the peak (VmHWM) in /proc/self/status; writing 5 to /proc/self/clear_refs
resets it to the current RSS (Linux >= 4.0). Where that is not possible the figure
falls back to the process's lifetime peak (getrusage), which can only overstate.
"""
from __future__ import annotations

import re
import resource
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def reset_peak_rss() -> bool:
    """Start a fresh peak; False where the kernel does not allow it."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak RSS in MiB since the last successful reset (or since the process began)."""
    try:
        match = re.search(r"VmHWM:\s+(\d+)\s+kB", _STATUS.read_text())
    except OSError:
        match = None
    if match:
        return int(match.group(1)) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
