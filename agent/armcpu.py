"""ARM CPUs and boards by number, not by name: ``/proc/cpuinfo`` on ARM gives implementer
and part numbers (``CPU implementer : 0x41``, ``CPU part : 0xd08``), and the board is named
by the device tree (``/proc/device-tree/model``: ``Raspberry Pi 4 Model B Rev 1.1``).

The part table is util-linux's ``sys-utils/lscpu-arm.c`` (what ``lscpu`` prints as
"Model name"; itself from the kernel's ``arch/arm64/include/asm/cputype.h``), for the
implementers edge boards use: ARM, Broadcom, NVIDIA, Qualcomm, Apple. A part not in it
is named by its numbers (``arm-0x41-0xd99``): stable, and distinct from every other.
"""
from __future__ import annotations

import re

_ARM = {  # implementer 0x41
    0xb02: "ARM11 MPCore", 0xb36: "ARM1136", 0xb56: "ARM1156", 0xb76: "ARM1176",
    0xc05: "Cortex-A5", 0xc07: "Cortex-A7", 0xc08: "Cortex-A8", 0xc09: "Cortex-A9",
    0xc0d: "Cortex-A17", 0xc0f: "Cortex-A15", 0xc0e: "Cortex-A17",
    0xd01: "Cortex-A32", 0xd02: "Cortex-A34", 0xd03: "Cortex-A53", 0xd04: "Cortex-A35",
    0xd05: "Cortex-A55", 0xd06: "Cortex-A65", 0xd07: "Cortex-A57", 0xd08: "Cortex-A72",
    0xd09: "Cortex-A73", 0xd0a: "Cortex-A75", 0xd0b: "Cortex-A76", 0xd0c: "Neoverse-N1",
    0xd0d: "Cortex-A77", 0xd0e: "Cortex-A76AE", 0xd40: "Neoverse-V1", 0xd41: "Cortex-A78",
    0xd42: "Cortex-A78AE", 0xd43: "Cortex-A65AE", 0xd44: "Cortex-X1", 0xd46: "Cortex-A510",
    0xd47: "Cortex-A710", 0xd48: "Cortex-X2", 0xd49: "Neoverse-N2", 0xd4a: "Neoverse-E1",
    0xd4b: "Cortex-A78C", 0xd4c: "Cortex-X1C", 0xd4d: "Cortex-A715", 0xd4e: "Cortex-X3",
    0xd4f: "Neoverse-V2",
}
ARM_PARTS: dict[int, dict[int, str]] = {
    0x41: _ARM,
    0x42: {0x0f: "Brahma-B15", 0x100: "Brahma-B53"},  # Broadcom
    0x4e: {0x000: "Denver", 0x003: "Denver 2", 0x004: "Carmel"},  # NVIDIA (TX2, Xavier)
    0x51: {0x201: "Kryo", 0x205: "Kryo", 0x211: "Kryo", 0x800: "Falkor-V1/Kryo", 0x801: "Kryo-V2",
           0x802: "Kryo-3XX-Gold", 0x803: "Kryo-3XX-Silver", 0x804: "Kryo-4XX-Gold",
           0x805: "Kryo-4XX-Silver", 0xc00: "Falkor", 0xc01: "Saphira"},  # Qualcomm
    0x61: {0x022: "Icestorm-M1", 0x023: "Firestorm-M1", 0x032: "Blizzard-M2", 0x033: "Avalanche-M2"},  # Apple
}


def _number(text: str) -> int | None:
    try:
        return int(text.strip(), 0)
    except ValueError:
        return None


def core_name(implementer: int, part: int) -> str:
    """``(0x41, 0xd08)`` -> ``Cortex-A72``; an unknown pair -> ``arm-0x41-0xd99``."""
    return ARM_PARTS.get(implementer, {}).get(part) or f"arm-{implementer:#x}-{part:#x}"


def arm_cores(cpuinfo: str) -> list[str]:
    """The distinct core types of ``/proc/cpuinfo``, most numerous first (the big cores of a
    big.LITTLE part win a tie by order of appearance); [] where no core gives its numbers
    (x86, or a kernel that hides them)."""
    counts: dict[str, int] = {}
    for block in re.split(r"\n\s*\n", cpuinfo):
        impl = re.search(r"^CPU implementer\s*:\s*(\S+)", block, re.MULTILINE)
        part = re.search(r"^CPU part\s*:\s*(\S+)", block, re.MULTILINE)
        if impl and part and (i := _number(impl.group(1))) is not None and (p := _number(part.group(1))) is not None:
            name = core_name(i, p)
            counts[name] = counts.get(name, 0) + 1
    return sorted(counts, key=lambda name: -counts[name])


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def board_slug(model: str | None) -> str | None:
    """A short stable name for a device-tree board model, revision dropped:
    ``Raspberry Pi 4 Model B Rev 1.1`` -> ``rpi4``, ``Raspberry Pi 3 Model B Plus Rev 1.3`` ->
    ``rpi3-plus``, ``NVIDIA Jetson Nano Developer Kit`` -> ``jetson-nano``."""
    if not model or not model.strip("\x00 \n"):
        return None
    text = re.sub(r"\s+rev\s*[\w.]+\s*$", "", model.strip("\x00 \n"), flags=re.IGNORECASE)
    pi = re.match(r"raspberry pi\s+(.*)$", text, re.IGNORECASE)
    if pi:
        rest = re.sub(r"\bmodel b\b", "", pi.group(1), flags=re.IGNORECASE)  # B is the usual one
        rest = re.sub(r"\bmodel a\b", "a", rest, flags=re.IGNORECASE)
        rest = re.sub(r"\bcompute module\s*", "cm", rest, flags=re.IGNORECASE)
        rest = re.sub(r"^(\d+)\s+a\b", r"\1a", _slug(rest).replace("-", " ")).replace(" ", "-")
        return "rpi" + (rest if rest[:1].isdigit() else f"-{rest}")
    jetson = re.search(r"jetson\s+(.*?)(?:\s+developer kit)?$", text, re.IGNORECASE)
    if jetson:
        return "jetson-" + _slug(jetson.group(1))
    return _slug(re.sub(r"\s+developer kit$", "", text, flags=re.IGNORECASE))[:24] or None
