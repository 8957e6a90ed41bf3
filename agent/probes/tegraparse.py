"""Parse one line of NVIDIA's ``tegrastats`` (Jetson), JetPack 3 to 6 formats.

A line is a run of tokens whose set and spelling change with the board and the release
(real lines in tests/fixtures/tegrastats/, each cited there):

- ``RAM 4722/7844MB (lfb 1x512kB)``, ``SWAP 149/1024MB (cached 7MB)``, ``IRAM 0/252kB(lfb 252kB)``
- CPU: ``CPU [55%@2035,14%@2034,off]`` (JetPack 4+) or ``cpu [17%,13%]@408`` (L4T 28)
- GPU: ``GR3D_FREQ 45%@1300``, ``GR3D_FREQ 63%@[621]`` (per-GPC clocks), ``GR3D_FREQ 0%``,
  ``GR3D 3%@76`` (L4T 28); memory: ``EMC_FREQ 2%@1866``, ``EMC_FREQ 7%``, ``EMC 1%@408``
- temperatures: ``BCPU@-45C``, ``cpu@62.843C``, ``tj@50.875C/50.875C`` (JetPack 6.2 adds a max)
- power rails, current/average (JetPack 6.2: /max too), in mW with or without the unit:
  ``POM_5V_IN 2440/2440``, ``VDD_IN 5012mW/5012mW``, ``VDD_CPU_GPU_CV 598mW/598``
- engines: ``APE 150``, ``NVENC 716``, ``NVDEC off``, ``MTS fg 0% bg 0%``; a leading
  ``MM-DD-YYYY HH:MM:SS`` timestamp.

Whatever no pattern claims is kept in ``unparsed`` (never dropped silently); a line with
nothing known in it is :class:`UnknownLine`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_UNIT_MB = {"k": 1 / 1024, "M": 1.0, "G": 1024.0}
_NUM = r"-?\d+(?:\.\d+)?"


@dataclass(frozen=True)
class TegraSample:
    """One tegrastats line; ``t_s`` is when the probe read it, seconds since start."""

    t_s: float
    ram_used_mb: float | None = None
    ram_total_mb: float | None = None
    swap_used_mb: float | None = None
    swap_total_mb: float | None = None
    cpu_load_pct: tuple[float | None, ...] = ()  # one a core; None: the core is off
    cpu_freq_mhz: tuple[float | None, ...] = ()
    gpu_load_pct: float | None = None
    gpu_freq_mhz: float | None = None
    emc_load_pct: float | None = None
    emc_freq_mhz: float | None = None
    temps_c: dict[str, float] = field(default_factory=dict)
    rails_mw: dict[str, tuple[float, float]] = field(default_factory=dict)  # rail -> (current, average)
    unparsed: str = ""  # what no pattern claimed, space-joined


@dataclass(frozen=True)
class UnknownLine:
    """A line with no token this parser knows: kept raw, with the reason."""

    t_s: float
    raw: str
    reason: str


def _mb(value: str, unit: str) -> float:
    return float(value) * _UNIT_MB[unit]


def _cpu_new(body: str) -> tuple[tuple[float | None, ...], tuple[float | None, ...]]:
    """``55%@2035,off,3%`` -> loads and frequencies (None where off or not given)."""
    loads: list[float | None] = []
    freqs: list[float | None] = []
    for entry in body.split(","):
        match = re.fullmatch(r"\s*(\d+)%(?:@(\d+))?\s*", entry)
        loads.append(float(match.group(1)) if match else None)
        freqs.append(float(match.group(2)) if match and match.group(2) else None)
    return tuple(loads), tuple(freqs)


def _freq(text: str | None) -> float | None:
    """``1300`` or ``[611,0]`` (one clock a GPC; a 0 is a gated GPC) -> the highest, MHz."""
    if not text:
        return None
    values = [float(v) for v in re.findall(r"\d+", text)]
    return max(values) if values else None


# (name, pattern); applied in order, each match removed from the line before the next
_TOKENS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((n, re.compile(p)) for n, p in (
    ("timestamp", r"^\s*\d\d-\d\d-\d{4} \d\d:\d\d:\d\d"),
    ("ram", r"\bRAM (\d+)/(\d+)([kMG])B(?: ?\(lfb [^)]*\))*"),
    ("swap", r"\bSWAP (\d+)/(\d+)([kMG])B(?: ?\(cached \d+[kMG]B\))?"),
    ("iram", r"\bIRAM \d+/\d+kB ?\(lfb \d+kB\)"),
    ("cpu_old", r"\bcpu \[([^\]]*)\]@(\d+)"),
    ("cpu", r"\bCPU \[([^\]]*)\]"),
    ("gpu", r"\bGR3D(?:_FREQ)? (\d+)%(?:@(\[[\d,]*\]|\d+))?"),
    ("emc", r"\bEMC(?:_FREQ)? (?:(\d+)%)?(?:@(\d+))?(?=\s|$)"),
    ("mts", r"\bMTS fg \d+% bg \d+%"),
    ("temp", rf"\b([A-Za-z][\w-]*)@({_NUM})C(?:/{_NUM}C)*"),
    ("rail", r"\b([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?:/\d+(?:mW)?)?(?=\s|$)"),
    ("engine", r"\b([A-Z][A-Z0-9_]*) +(?:off|\d+%@\d+|\d+%|@\d+|\d+)(?=\s|$)"),
))


def parse_line(line: str, t_s: float = 0.0) -> TegraSample | UnknownLine:
    """One tegrastats line as a sample, or UnknownLine when nothing in it is known."""
    rest = line.strip()
    values: dict[str, object] = {"temps_c": {}, "rails_mw": {}}
    known = 0
    for name, pattern in _TOKENS:
        for match in list(pattern.finditer(rest)):
            _take(name, match, values)
            known += 1
        rest = pattern.sub(" ", rest)
    if not known or (values.get("ram_used_mb") is None and not values["rails_mw"]
                     and values.get("gpu_load_pct") is None and not values.get("cpu_load_pct")):
        return UnknownLine(t_s, line.rstrip("\n"), "no RAM, CPU, GR3D or power-rail field "
                                                    "this parser knows")
    return TegraSample(t_s=t_s, unparsed=" ".join(rest.split()), **values)  # type: ignore[arg-type]


def _take(name: str, match: re.Match[str], values: dict[str, object]) -> None:
    g = match.groups()
    if name == "ram":
        values["ram_used_mb"], values["ram_total_mb"] = _mb(g[0], g[2]), _mb(g[1], g[2])
    elif name == "swap":
        values["swap_used_mb"], values["swap_total_mb"] = _mb(g[0], g[2]), _mb(g[1], g[2])
    elif name == "cpu":
        values["cpu_load_pct"], values["cpu_freq_mhz"] = _cpu_new(g[0])
    elif name == "cpu_old":  # one clock for all cores
        loads, _ = _cpu_new(g[0])
        values["cpu_load_pct"] = loads
        values["cpu_freq_mhz"] = tuple(None if v is None else float(g[1]) for v in loads)
    elif name == "gpu":
        values["gpu_load_pct"], values["gpu_freq_mhz"] = float(g[0]), _freq(g[1])
    elif name == "emc":
        values["emc_load_pct"] = float(g[0]) if g[0] else None
        values["emc_freq_mhz"] = float(g[1]) if g[1] else None
    elif name == "temp":
        values["temps_c"][g[0]] = float(g[1])  # type: ignore[index]
    elif name == "rail":
        values["rails_mw"][g[0]] = (float(g[1]), float(g[2]))  # type: ignore[index]
