"""The report's Markdown summary: the headline, each section's findings and its key tables,
short enough to paste into an issue or a chat; the figures stay in the HTML page."""
from __future__ import annotations

from collector.report import cells
from collector.report.model import Report, Table

# the tables worth reading in a summary, and how many of their rows
KEY_TABLES = {"collector_not_ok": 20, "recommended_grid": 30, "largest_batch_grid": 30, "seed_speedup": 20, "oom_incidents": 20,
              "causal_effects": 20, "missing_probes": 10, "failures": 10}


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_markdown(table: Table, tables_dir: str, limit: int) -> list[str]:
    body = cells.rows(table, limit)
    columns = table.display.columns
    lines = [f"**{table.title}**", "", "| " + " | ".join(_escape(str(c)) for c in columns) + " |",
             "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_escape(v) for v in row) + " |" for row in body]
    more = f"{len(body)} of {len(table.frame)} rows; all" if len(table.frame) > len(body) else "As CSV:"
    return [*lines, "", f"{more} `{tables_dir}/{table.name}.csv`", ""]


def render(report: Report, html_name: str) -> str:
    lines = [f"# {report.title}", "", f"{report.source}, made {report.created_at} by edgeprune {report.version}. "
             f"Figures: `{html_name}`; every table as CSV: `{report.tables_dir}/`.", ""]
    lines += [f"- {h}" for h in report.headline]
    for section in report.sections:
        lines += ["", f"## {section.title}", ""]
        lines += [f"- {s}" for s in section.summary] or [section.intro]
        lines.append("")
        for table in section.tables:
            if table.name in KEY_TABLES and len(table.frame):
                lines += table_markdown(table, report.tables_dir, KEY_TABLES[table.name])
        notes = [b.text for b in section.blocks if getattr(b, "kind", "") == "warn"]
        lines += [f"> {n}" for n in notes]
    return "\n".join(lines).rstrip() + "\n"
