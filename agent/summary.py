"""Tables and lines that describe results for a person (the CLI prints them)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from shared.events import trial_label


def status_line(row: dict[str, Any]) -> str:
    """One line for a finished trial: its p50 when ok, else its status and the reason."""
    what = trial_label(row)
    if row["status"] == "ok":
        again = f" (attempt {row['attempt']})" if (row.get("attempt") or 1) > 1 else ""
        disturbed = f"; disturbed: {row['disturbed_reason']}" if row.get("disturbed") else ""
        return f"ok       {what}: {_p50(row)}{again}{disturbed}"[:400]
    reason = (row.get("error") or "").splitlines()[-1:] or [""]
    return f"{row['status'].upper():8} {what}: {reason[0][:160]}"


def _p50(row: dict[str, Any]) -> str:
    """The median with its 95% interval, or why too few samples back one."""
    if row.get("latency_p50_ms") is None:
        return f"no p50 ({row.get('latency_p50_reason') or 'not measured'})"
    low, high = row.get("latency_p50_ci_low_ms"), row.get("latency_p50_ci_high_ms")
    interval = "" if low is None or high is None else f" [{low:.3f}, {high:.3f}]"
    return f"p50 {row['latency_p50_ms']:.3f} ms{interval}"


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def summary_table(rows: Sequence[dict[str, Any]]) -> Table:
    """One line a variant (and backend and device, where there are several): achieved
    sparsity, sizes, accuracy and p50 latency per batch size; a retried trial's last row wins."""
    batches = sorted({r["batch_size"] for r in rows})
    several = len({(r["backend"], r["device"]) for r in rows}) > 1
    table = Table(title="variants (p50 latency in ms per batch size)")
    for name in ("model", "method", *(("on",) if several else ()), "ratio", "sparsity", "params", "MACs", "acc"):
        table.add_column(name, justify="left" if name in ("model", "method", "on") else "right")
    for batch in batches:
        table.add_column(f"b{batch}", justify="right")
    variants: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        variants.setdefault((row["variant_key"], row["backend"], row["device"]), []).append(row)
    for group in variants.values():
        first = group[0]
        where = (f"{first['backend']} {first['device']}",) if several else ()
        by_batch = {r["batch_size"]: r for r in group}
        cells = []
        for batch in batches:
            r = by_batch.get(batch)
            cells.append("" if r is None else _fmt(r["latency_p50_ms"], ".2f") if r["status"] == "ok"
                         else r["status"])
        table.add_row(
            first["model"], first["method"], *where, f"{first['target_ratio']:g}", _fmt(first["sparsity"], ".2f"),
            _fmt(first["params_actual"], ",d"), _fmt(first["macs"], ".3g"),
            _fmt(first["accuracy_top1"], ".3f"), *cells,
        )
    return table
