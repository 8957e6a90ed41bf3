"""What the operator sees while a fleet runs: a rich live table (one line a host), or one
log line an event where the output is not a terminal; and the outcome table at the end."""
from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from collector.fleet.hostrun import OK, HostView

STYLE = {OK: "green", "partial": "yellow", "unreachable": "red", "auth-failed": "red", "agent-error": "red"}


def plain(text: str, style: str = "") -> Text:
    """Host names, states and reasons are data: never read as rich markup (a host may be named "[x]")."""
    return Text(text, style=style)


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def progress_table(views: Sequence[HostView], max_rows: int = 40) -> Table:
    """Busy hosts first; past ``max_rows`` the rest are summarised in one line (a fleet of
    hundreds still fits a terminal)."""
    table = Table(title="fleet run", expand=False)
    widths = {"host": (12, 24), "state": (12, 30), "trials": (9, None), "not ok": (6, None), "eta": (8, None),
              "last": (10, None)}
    for name, (least, most) in widths.items():
        table.add_column(name, justify="right" if name in ("trials", "not ok", "eta") else "left",
                         no_wrap=True, overflow="ellipsis",
                         min_width=least, max_width=most)
    ordered = sorted(views, key=lambda v: (v.outcome is not None, v.state == "waiting", v.name))
    for view in ordered[:max_rows]:
        trials = f"{view.done}/{view.total}" if view.total is not None else "-"
        table.add_row(plain(view.name), plain(view.state, STYLE.get(view.outcome or "", "")), trials,
                      str(view.failures), _eta(view.eta_s()), plain(view.last))
    if len(ordered) > max_rows:
        rest = ordered[max_rows:]
        finished = sum(v.outcome is not None for v in rest)
        table.add_row(f"+{len(rest)} more", f"{finished} finished", "", "", "", "")
    return table


def outcome_table(views: Sequence[HostView]) -> Table:
    table = Table(title="hosts")
    for name in ("host", "outcome", "trials", "not ok", "restarts", "reconnects", "reason"):
        table.add_column(name, justify="right" if name in ("trials", "not ok", "restarts", "reconnects") else "left",
                         no_wrap=name == "reason", overflow="ellipsis")
    for view in sorted(views, key=lambda v: v.name):
        outcome = view.outcome or "partial"
        trials = f"{view.done}/{view.total}" if view.total is not None else "-"
        table.add_row(plain(view.name), plain(outcome, STYLE.get(outcome, "")), trials, str(view.failures),
                      str(view.restarts), str(view.reconnects), plain(one_line(view.reason)))
    return table


def one_line(text: str, limit: int = 120) -> str:
    """A reason as one table line: its first line, cut at ``limit`` characters (pip's whole
    output would fill the screen); fleet.json and the log keep the full text."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if len(first) > limit:
        return first[:limit - 1].rstrip() + "…"
    return first if len(lines) <= 1 else f"{first} (+{len(lines) - 1} lines in fleet.json)"
