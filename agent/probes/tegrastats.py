"""A tegrastats sampler (NVIDIA Jetson): GPU load and clock, CPU loads and clocks, EMC,
RAM and swap, temperatures and every power rail during the region, summarised into
``tegra_*`` columns plus a time series; energy integrated over the region.

NVML does not cover a Jetson's integrated GPU; tegrastats does. The probe is active
wherever a ``tegrastats`` executable is on PATH, for CPU and GPU trials alike. It starts
``tegrastats --interval MS`` at ``start()`` and reads its lines on a thread, each stamped
with the time it arrived; ``stop()`` ends the process. Lines are parsed by
:mod:`agent.probes.tegraparse`; a line it does not know is kept raw in the side data with
the reason, and counted in the probe's error.

Board power is the input rail where the board has one (``VDD_IN``, ``POM_5V_IN``); AGX
boards have none, so their power is the sum of every rail (named so in
``tegra_power_source``). Energy holds the first sample's power back to the region's
start and the last one's to its end and integrates trapezoidally between, so a region
with one sample gets power x duration; none: null with the reason.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, ClassVar

from agent.probes.base import Probe, ProbeJob, ProbeResult, ProbeUnavailable, format_reasons
from agent.probes.tegraparse import TegraSample, UnknownLine, parse_line

DEFAULT_INTERVAL_S = 0.1
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")  # the board's total input, where it has one
# a fixed 100 C on Nano, TX1/TX2 and Xavier lines (tests/fixtures/tegrastats): not a reading
PLACEHOLDER_SENSORS = frozenset({"PMIC"})
TEGRA_COLUMNS: tuple[str, ...] = (
    "tegra_gpu_load_mean_pct", "tegra_gpu_load_max_pct", "tegra_gpu_freq_mean_mhz",
    "tegra_cpu_load_mean_pct", "tegra_cpu_freq_mean_mhz", "tegra_emc_load_mean_pct",
    "tegra_emc_freq_mean_mhz", "tegra_ram_used_max_mb", "tegra_swap_used_max_mb",
    "tegra_temp_max_c", "tegra_temps_max_c", "tegra_rails_mean_mw", "tegra_power_mean_w",
    "tegra_power_source", "tegra_energy_j", "tegra_sample_count",
)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _present(samples: Sequence[TegraSample], name: str) -> list[float]:
    return [v for s in samples if (v := getattr(s, name)) is not None]


def board_power_mw(sample: TegraSample) -> tuple[float, str] | None:
    """The board's power in one sample (mW) and where it came from, or None (no rails)."""
    for rail in INPUT_RAILS:
        if rail in sample.rails_mw:
            return sample.rails_mw[rail][0], rail
    if sample.rails_mw:
        return sum(cur for cur, _ in sample.rails_mw.values()), "sum:" + "+".join(sample.rails_mw)
    return None


def integrate_energy_j(points: Sequence[tuple[float, float]], end_s: float) -> float | None:
    """Energy of (t_s, watts) points over [0, end_s], J: the first and last value held to
    the region's edges, trapezoids between. None without a point."""
    if not points:
        return None
    pts = sorted(points)
    energy = pts[0][1] * max(pts[0][0], 0.0) + pts[-1][1] * max(end_s - pts[-1][0], 0.0)
    for (t0, p0), (t1, p1) in zip(pts, pts[1:]):
        energy += (t1 - t0) * (p0 + p1) / 2
    return energy


def _cpu_columns(samples: Sequence[TegraSample]) -> tuple[float | None, float | None]:
    """Mean load of the online cores and mean clock, over all samples."""
    loads = [v for s in samples for v in s.cpu_load_pct if v is not None]
    freqs = [v for s in samples for v in s.cpu_freq_mhz if v is not None]
    return _mean(loads), _mean(freqs)


def _temps_max(samples: Sequence[TegraSample]) -> dict[str, float]:
    temps: dict[str, float] = {}
    for s in samples:
        for name, value in s.temps_c.items():
            temps[name] = max(value, temps.get(name, value))
    return temps


def _rails_mean(samples: Sequence[TegraSample]) -> dict[str, float]:
    sums: dict[str, list[float]] = {}
    for s in samples:
        for rail, (current, _) in s.rails_mw.items():
            sums.setdefault(rail, []).append(current)
    return {rail: sum(v) / len(v) for rail, v in sums.items()}


def summarize_tegra(samples: Sequence[TegraSample], end_s: float) -> tuple[dict[str, Any], dict[str, str]]:
    """The ``tegra_*`` columns of the region's samples, and why any is null."""
    cpu_load, cpu_freq = _cpu_columns(samples)
    gpu = _present(samples, "gpu_load_pct")
    temps = _temps_max(samples)
    real_temps = [v for k, v in temps.items() if k not in PLACEHOLDER_SENSORS and v > -40]
    rails = _rails_mean(samples)
    power = [(s.t_s, p[0] / 1000) for s in samples if (p := board_power_mw(s)) is not None]
    sources = sorted({p[1] for s in samples if (p := board_power_mw(s)) is not None})
    columns: dict[str, Any] = {
        "tegra_gpu_load_mean_pct": _mean(gpu), "tegra_gpu_load_max_pct": max(gpu, default=None),
        "tegra_gpu_freq_mean_mhz": _mean(_present(samples, "gpu_freq_mhz")),
        "tegra_cpu_load_mean_pct": cpu_load, "tegra_cpu_freq_mean_mhz": cpu_freq,
        "tegra_emc_load_mean_pct": _mean(_present(samples, "emc_load_pct")),
        "tegra_emc_freq_mean_mhz": _mean(_present(samples, "emc_freq_mhz")),
        "tegra_ram_used_max_mb": max(_present(samples, "ram_used_mb"), default=None),
        "tegra_swap_used_max_mb": max(_present(samples, "swap_used_mb"), default=None),
        "tegra_temp_max_c": max(real_temps, default=None),
        "tegra_temps_max_c": json.dumps(temps, sort_keys=True) if temps else None,
        "tegra_rails_mean_mw": json.dumps(rails, sort_keys=True) if rails else None,
        "tegra_power_mean_w": _mean([w for _, w in power]),
        "tegra_power_source": ",".join(sources) or None,
        "tegra_energy_j": integrate_energy_j(power, end_s),
        "tegra_sample_count": len(samples),
    }
    why = "no tegrastats line in the region" if not samples else "no tegrastats line had this field"
    reasons = {c: why for c, v in columns.items() if v is None}
    if samples and columns["tegra_energy_j"] is None:
        for c in ("tegra_power_mean_w", "tegra_power_source", "tegra_energy_j", "tegra_rails_mean_mw"):
            reasons[c] = "tegrastats printed no power rail (on some boards only root sees them)"
    return columns, reasons


class TegrastatsProbe(Probe):
    """Runs ``tegrastats --interval`` for the region and parses each line as it comes."""

    name: ClassVar[str] = "tegrastats"
    columns: ClassVar[tuple[str, ...]] = TEGRA_COLUMNS

    @classmethod
    def for_job(cls, job: ProbeJob) -> TegrastatsProbe:
        # runs everywhere: where there is no tegrastats it says so, as a Jetson-less row should
        return cls(interval_s=job.telemetry.tegrastats_interval_s)

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S, binary: str | None = None) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.binary = binary
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._lines: list[TegraSample | UnknownLine] = []
        self._t0 = 0.0

    def _start(self) -> None:
        binary = self.binary or shutil.which("tegrastats")
        if binary is None:
            raise ProbeUnavailable("no tegrastats on PATH (not a Jetson)")
        self._lines = []
        self._t0 = time.perf_counter()
        self._proc = subprocess.Popen(
            [binary, "--interval", str(max(1, round(self.interval_s * 1000)))],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, errors="replace")  # in the worker's process group: killed with it
        self._reader = threading.Thread(target=self._read, name="edgeprune-tegrastats", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout  # held here: _cleanup clears self._proc
        for line in stdout:
            if line.strip():
                self._lines.append(parse_line(line, time.perf_counter() - self._t0))

    def _stop(self) -> ProbeResult:
        end_s = time.perf_counter() - self._t0
        exit_code = self._proc.poll() if self._proc is not None else None
        self._cleanup()
        lines = [item for item in self._lines if item.t_s <= end_s]
        samples = [item for item in lines if isinstance(item, TegraSample)]
        unknown = [item for item in lines if isinstance(item, UnknownLine)]
        columns, reasons = summarize_tegra(samples, end_s)
        notes = [format_reasons(reasons)]
        if exit_code is not None:
            notes.append(f"tegrastats exited with code {exit_code} during the region")
        if unknown:
            notes.append(f"{len(unknown)} tegrastats line(s) not understood, kept raw in telemetry")
        partial = sum(1 for s in samples if s.unparsed)
        if partial:
            notes.append(f"{partial} line(s) had fragments not understood, kept in telemetry")
        side = {"interval_s": self.interval_s, "samples": [asdict(s) for s in samples],
                "unknown_lines": [asdict(u) for u in unknown]}
        return ProbeResult(columns, "; ".join(n for n in notes if n) or None, side=side)

    def _cleanup(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(2)  # EOF once the process is gone
            self._reader = None
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
