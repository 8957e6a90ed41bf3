"""The report's Markdown summary: the headline, each section's findings and its key tables,
short enough to paste into an issue or a chat; the figures stay in the HTML page.

Text from the results (an error message, a host, model or method name) is shown as itself:
HTML characters become entities, so a row's ``<script>`` is text wherever the summary is
rendered, and Markdown's own characters are escaped, so a ``|`` cannot break a table nor a
``[link](...)`` or ``*`` format anything. Only the report's own code spans (commands to run)
stay code."""
from __future__ import annotations

import re

from collector.report import cells
from collector.report.model import Report, Table

# the tables worth reading in a summary, and how many of their rows
KEY_TABLES = {"collector_not_ok": 20, "recommended_grid": 30, "largest_batch_grid": 30, "seed_speedup": 20,
              "oom_incidents": 20, "causal_effects": 20, "missing_probes": 10, "failures": 10}

_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
# Markdown's active characters; '_' only at a word's edge (inside a word, as in latency_p50_ms, it
# formats nothing, and escaping it there would clutter the raw text)
_ACTIVE = re.compile(r"[\\`*\[\]|<>&~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# what a code span of the report's own may hold (a command, a path); anything else is escaped text
_CODE_SAFE = re.compile(r"[\w ./:=,+@%'\"()#-]*")


def escape(text: str) -> str:
    """``text`` as itself on one line: no HTML, no Markdown formatting."""
    text = _ACTIVE.sub(lambda m: _ENTITIES.get(m.group(), "\\" + m.group()), re.sub(r"\s+", " ", text))
    return "\\" + text if text[:1] in ("#", "+", "-", "=") else text  # no heading or list of its own


def sentence(text: str) -> str:
    """A summary line or note: escaped, its code spans kept where they are plain commands."""
    parts = re.sub(r"\s+", " ", text).split("`")
    if len(parts) % 2 == 0 or not all(_CODE_SAFE.fullmatch(p) for p in parts[1::2]):
        return escape(text)  # a lone backtick, or a span holding more than a command: all text
    return "`".join(p if i % 2 else escape(p) for i, p in enumerate(parts))


def table_markdown(table: Table, tables_dir: str, limit: int) -> list[str]:
    body = cells.rows(table, limit)
    columns = table.display.columns
    lines = [f"**{escape(table.title)}**", "", "| " + " | ".join(escape(str(c)) for c in columns) + " |",
             "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(escape(v) for v in row) + " |" for row in body]
    more = f"{len(body)} of {len(table.frame)} rows; all" if len(table.frame) > len(body) else "As CSV:"
    return [*lines, "", sentence(f"{more} `{tables_dir}/{table.name}.csv`"), ""]


def render(report: Report, html_name: str) -> str:
    lines = [f"# {escape(report.title)}", "",
             sentence(f"{report.source}, made {report.created_at} by edgeprune {report.version}. "
                      f"Figures: `{html_name}`; every table as CSV: `{report.tables_dir}/`."), ""]
    lines += [f"- {sentence(h)}" for h in report.headline]
    for section in report.sections:
        lines += ["", f"## {escape(section.title)}", ""]
        lines += [f"- {sentence(s)}" for s in section.summary] or [sentence(section.intro)]
        lines.append("")
        for table in section.tables:
            if table.name in KEY_TABLES and len(table.frame):
                lines += table_markdown(table, report.tables_dir, KEY_TABLES[table.name])
        notes = [b.text for b in section.blocks if getattr(b, "kind", "") == "warn"]
        lines += [f"> {sentence(n)}" for n in notes]
    return "\n".join(lines).rstrip() + "\n"
