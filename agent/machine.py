"""This machine's name: its CPU's, and the stable ``device_class`` string (this module owns
it: :func:`device_class_of` is the one place a fingerprint becomes a class).

Pure naming: it reads /proc/cpuinfo and nothing else. What is read about the machine (the
GPUs through NVML, memory, caches ...) is :mod:`agent.fingerprint`'s, which builds on this.
"""
from __future__ import annotations

import platform
import re
from pathlib import Path
from typing import Any

from agent.armcpu import arm_cores, board_slug

CPUINFO = Path("/proc/cpuinfo")


def read_cpuinfo(path: Path = CPUINFO) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def cpu_model(text: str | None = None) -> str:
    """The CPU's name from /proc/cpuinfo: x86 'model name'; on ARM the core types from the
    implementer and part numbers (``Cortex-A76``, ``Cortex-A78AE``; big.LITTLE: both), since
    its 'model name' ('ARMv7 Processor rev 3 (v7l)'), 'Hardware' ('BCM2835' on every Pi) and
    'Model' (the board) do not name the CPU."""
    text = read_cpuinfo() if text is None else text
    cores = arm_cores(text)
    if cores:
        return " + ".join(cores)
    for key in ("model name", "Hardware", "Model", "cpu model"):
        match = re.search(rf"^{key}\s*:\s*(.+)$", text, re.MULTILINE)
        if match:
            return match.group(1).strip()
    return platform.processor() or "unknown"


_CPU_PATTERNS = (  # (regex on the model name, slug template): most specific first
    (r"xeon.*?(\w*\d{4}\w*)", "xeon-{0}"),
    (r"ryzen\s*\d\s+(?:pro\s+)?(\w*\d{4}\w*)", "ryzen-{0}"),
    (r"epyc\s+(\w*\d\w*)", "epyc-{0}"),
    (r"core\(tm\)\s+(i\d-\w+)", "{0}"),
    (r"(cortex-\w+)", "{0}"),
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def cpu_slug(model: str) -> str:
    """A short stable name for a CPU: 'xeon-6140', 'ryzen-5800x', 'i7-9750h'."""
    low = model.lower()
    for pattern, template in _CPU_PATTERNS:
        match = re.search(pattern, low)
        if match:
            return _slug(template.format(*match.groups()))
    cleaned = re.sub(r"\(r\)|\(tm\)|cpu|processor|@.*$|\d+-core", " ", low)
    return _slug(cleaned)[:32] or "cpu"


def gpu_slug(name: str) -> str:
    """'Tesla P40' -> 'p40', 'NVIDIA GeForce RTX 3060' -> 'rtx-3060'."""
    low = re.sub(r"nvidia|geforce|tesla|quadro|laptop gpu", " ", name.lower())
    return _slug(low) or "gpu"


def device_class(arch: str, cpu: str, gpu_names: list[str], board: str | None = None) -> str:
    """Stable hardware class, e.g. ``x86_64-xeon-6140-p40``, ``x86_64-i7-9750h-cpu`` or, with a
    device-tree board, ``aarch64-rpi5-cortex-a76-cpu``."""
    gpu = gpu_slug(gpu_names[0]) if gpu_names else "cpu"
    cpu_part = "-".join(cpu_slug(c) for c in cpu.split(" + "))
    board_part = f"{board}-" if board else ""
    return f"{re.sub(r'[^a-z0-9_]+', '-', arch.lower())}-{board_part}{cpu_part}-{gpu}"


def device_class_of(md: dict[str, Any], cpuinfo: str | None = None) -> str:
    """The class of a fingerprint (keys arch, cpu_model, gpus, board_model): ARM boards are
    named by their device-tree model, where the CPU is known by its part numbers; x86 and
    others by CPU and GPU only (a DMI board name would split one CPU model into many)."""
    text = read_cpuinfo() if cpuinfo is None else cpuinfo
    arm = bool(arm_cores(text))
    # a Raspberry Pi kernel repeats the device-tree model as cpuinfo's "Model"
    listed = re.search(r"^Model\s*:\s*(.+)$", text, re.MULTILINE)
    board = board_slug(md.get("board_model") or (listed.group(1) if listed else None)) if arm else None
    return device_class(md.get("arch") or platform.machine(), md.get("cpu_model") or cpu_model(text),
                        [g["name"] for g in md.get("gpus") or []], board)

