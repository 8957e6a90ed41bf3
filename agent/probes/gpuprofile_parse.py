"""Readers of the external GPU profilers' outputs: nvprof, Nsight Systems, Nsight Compute.

Each reader turns one tool's text into :class:`KernelAgg` rows (one a kernel name or a
memory operation, with its count, total and longest duration in microseconds), which
:func:`agent.probes.gpuprofile.summarize_aggregates` turns into the row's columns and the
per-kernel table. The formats, as the fixtures in tests/fixtures/gpuprofilers show:

- nvprof ``--csv``: a header row, then a units row (``,%,s,,us,us,ms,``: each column its
  own unit), then data; ``--print-gpu-summary`` rows carry ``Type`` ("GPU activities",
  "API calls"), ``--print-gpu-trace`` rows are one activity each (``Start``, ``Duration``).
- nsys stats: one table a report, as CSV (``--format csv``) or aligned columns under a
  dashed rule (the default); the column names changed between releases (``Time(%)`` and
  ``Average`` in 2021, ``Time (%)``, ``Avg (ns)``, ``Med (ns)`` later; memory operations
  counted under ``Operations`` or ``Count``), so columns are found by what they mean.
- ncu ``--csv --page raw``: one row a kernel launch, a units row under the header, every
  metric a column; ``--print-summary per-kernel``: one row a kernel and metric.

A reader never raises on odd input it can skip; :class:`ProfileParseError` says what it
could not find at all (the caller puts that in ``probe_errors``).
"""
from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

TO_US = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3,
         "s": 1e6, "second": 1e6}
NCU_DURATION = "gpu__time_duration.sum"
NCU_THROUGHPUT = ("sm__throughput.avg.pct_of_peak_sustained_elapsed",
                  "gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed")


class ProfileParseError(ValueError):
    """The profiler's output lacks what is needed (the message names what)."""


@dataclass(frozen=True)
class KernelAgg:
    kind: str  # kernel | memcpy
    name: str
    count: int
    total_us: float
    max_us: float | None


def kind_of(name: str) -> str:
    """nvprof and nsys name memory operations ``[CUDA memcpy HtoD]``, ``[CUDA memset]``."""
    return "memcpy" if name.startswith("[CUDA mem") else "kernel"


def number(text: str) -> float:
    """A number as the tools print it: ``5,088``, ``4,960.00``, ``0.103325``."""
    return float(text.strip().replace(",", ""))


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(line for line in text.splitlines() if line.strip()))


def _table_after(rows: Sequence[list[str]], is_header: Callable[[list[str]], bool]) -> tuple[list[str], list[list[str]]]:
    for i, row in enumerate(rows):
        if is_header(row):
            return row, [r for r in rows[i + 1:] if not r[0].startswith("==")]
    raise ProfileParseError("no table header found")


def _is_units(row: Sequence[str]) -> bool:
    """nvprof and ncu put a row of units (``ms``, ``us``, ``%``, empty) under the header."""
    return not any(_numeric(cell) for cell in row)


def _numeric(cell: str) -> bool:
    try:
        number(cell)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------------- nvprof

def parse_nvprof(text: str) -> list[KernelAgg]:
    """nvprof ``--csv`` with ``--print-gpu-summary`` or ``--print-gpu-trace``."""
    header, rows = _table_after(_rows(text), lambda r: "Name" in r and ("Time(%)" in r or "Duration" in r))
    units = rows.pop(0) if rows and _is_units(rows[0]) else [""] * len(header)
    col = {name: i for i, name in enumerate(header)}
    if "Duration" in col:
        return _nvprof_trace(rows, col, units)
    aggs = []
    for row in rows:
        if len(row) != len(header) or ("Type" in col and row[col["Type"]] != "GPU activities"):
            continue  # API calls, or a truncated line
        name = row[col["Name"]]
        aggs.append(KernelAgg(kind_of(name), name, int(number(row[col["Calls"]])),
                              number(row[col["Time"]]) * _unit(units, col["Time"]),
                              number(row[col["Max"]]) * _unit(units, col["Max"])))
    return aggs


def _nvprof_trace(rows: Iterable[list[str]], col: dict[str, int], units: Sequence[str]) -> list[KernelAgg]:
    scale = _unit(units, col["Duration"])
    return [KernelAgg(kind_of(row[col["Name"]]), row[col["Name"]], 1, number(row[col["Duration"]]) * scale,
                      number(row[col["Duration"]]) * scale)
            for row in rows if len(row) > col["Name"] and row[col["Duration"]].strip()]


def _unit(units: Sequence[str], index: int, default: str = "us") -> float:
    unit = units[index].strip() if index < len(units) else ""
    try:
        return TO_US[unit or default]
    except KeyError:
        raise ProfileParseError(f"unknown time unit {unit!r}") from None


# ------------------------------------------------------------------------- nsys stats

REPORT_KINDS = {"cuda_gpu_kern_sum": "kernel", "gpukernsum": "kernel",
                "cuda_gpu_mem_time_sum": "memcpy", "gpumemtimesum": "memcpy",
                "cuda_api_sum": "api", "cudaapisum": "api"}


def nsys_table(text: str) -> list[dict[str, str]]:
    """The rows of one ``nsys stats`` report, CSV or aligned columns, as name -> cell."""
    lines = [line for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "Total Time" not in line:
            continue
        if i + 1 < len(lines) and set(lines[i + 1].strip()) <= {"-", " "}:
            return _columns(line, lines[i + 2:], lines[i + 1])
        header, rows = _table_after(_rows("\n".join(lines[i:])), lambda r: True)
        return [dict(zip(header, row)) for row in rows if len(row) == len(header)]
    raise ProfileParseError("no 'Total Time' column in the nsys stats report")


def _columns(header: str, lines: Sequence[str], rule: str) -> list[dict[str, str]]:
    spans = [m.span() for m in re.finditer(r"-+", rule)]
    spans[-1] = (spans[-1][0], None)  # the last column (a name) may be wider than its rule
    names = [header[a:b].strip() for a, b in spans]
    rows = []
    for line in lines:
        if line.startswith(("[", "**", "Generat", "Processing")) or line.strip().startswith("--"):
            break  # the next report's banner
        rows.append({n: line[a:b].strip() for n, (a, b) in zip(names, spans)})
    return rows


def _key(row: dict[str, str], *prefixes: str) -> str | None:
    for name in row:
        flat = name.lower().replace(" ", "")
        if flat.startswith(prefixes):
            return name
    return None


def _nsys_scale(column: str) -> float:
    """``Total Time (ns)``, ``Max (us)``; 2021's ``Maximum`` and ``Average`` were in ns."""
    unit = re.search(r"\((\w+)\)", column)
    return TO_US.get(unit.group(1) if unit else "ns", 1e-3)


def nsys_aggregates(rows: list[dict[str, str]], kind: str) -> list[KernelAgg]:
    """Kernels (``cuda_gpu_kern_sum``) or memory operations (``cuda_gpu_mem_time_sum``)."""
    if not rows:
        return []
    total = _key(rows[0], "totaltime")
    count = _key(rows[0], "instances", "count", "operations", "numcalls", "calls")
    longest = _key(rows[0], "max")
    name = _key(rows[0], "name", "operation")
    if not (total and count and name):
        raise ProfileParseError(f"nsys {kind} report lacks a total, count or name column: {list(rows[0])}")
    aggs = []
    for row in rows:
        peak = number(row[longest]) * _nsys_scale(longest) if longest and row[longest] else None
        aggs.append(KernelAgg(kind if kind == "kernel" else "memcpy", row[name], int(number(row[count])),
                              number(row[total]) * _nsys_scale(total), peak))
    return aggs


# ------------------------------------------------------------------------- ncu

def parse_ncu(text: str) -> tuple[list[KernelAgg], dict[str, dict[str, float]]]:
    """Kernels from ``ncu --csv`` (raw page or per-kernel summary), and the mean of each
    throughput metric per kernel name."""
    rows = _rows(text)
    try:
        header, data = _table_after(rows, lambda r: "Kernel Name" in r and "Invocations" in r)
        return _ncu_summary(header, data)
    except ProfileParseError:
        pass
    header, data = _table_after(rows, lambda r: "Kernel Name" in r and "ID" in r)
    if NCU_DURATION not in header:
        raise ProfileParseError(f"ncu output has no {NCU_DURATION} column (was --page raw used?)")
    units = data.pop(0) if data and not data[0][0].strip() else [""] * len(header)
    col = {name: i for i, name in enumerate(header)}
    per_name: dict[str, list[float]] = {}
    metrics: dict[str, dict[str, list[float]]] = {}
    for row in data:
        if len(row) != len(header):
            continue
        name = row[col["Kernel Name"]]
        per_name.setdefault(name, []).append(number(row[col[NCU_DURATION]]) * _unit(units, col[NCU_DURATION], "ns"))
        for metric in NCU_THROUGHPUT:
            if metric in col and _numeric(row[col[metric]]):
                metrics.setdefault(name, {}).setdefault(metric, []).append(number(row[col[metric]]))
    aggs = [KernelAgg("kernel", n, len(d), sum(d), max(d)) for n, d in per_name.items()]
    return aggs, {n: {m: sum(v) / len(v) for m, v in ms.items()} for n, ms in metrics.items()}


def _ncu_summary(header: list[str], data: list[list[str]]) -> tuple[list[KernelAgg], dict[str, dict[str, float]]]:
    col = {name: i for i, name in enumerate(header)}
    aggs, metrics = [], {}
    for row in data:
        if len(row) != len(header):
            continue
        name, metric = row[col["Kernel Name"]], row[col["Metric Name"]]
        if metric == NCU_DURATION:
            scale = TO_US.get(row[col["Metric Unit"]].strip(), None)
            if scale is None:
                raise ProfileParseError(f"unknown ncu time unit {row[col['Metric Unit']]!r}")
            calls = int(number(row[col["Invocations"]]))
            aggs.append(KernelAgg("kernel", name, calls, number(row[col["Average"]]) * scale * calls,
                                  number(row[col["Maximum"]]) * scale))
        elif metric in NCU_THROUGHPUT:
            metrics.setdefault(name, {})[metric] = number(row[col["Average"]])
    if not aggs:
        raise ProfileParseError(f"ncu summary has no {NCU_DURATION} rows")
    return aggs, metrics
