"""Writing a report: the HTML page, the Markdown summary beside it and every table as CSV in
``<stem>-tables/``; each file through a temporary name and a rename, so that a reader never
sees half a report."""
from __future__ import annotations

import os
from pathlib import Path

from collector.report import html, markdown
from collector.report.model import Report
from shared.errors import UserError


def paths(out: Path) -> tuple[Path, Path, Path]:
    """The HTML file, the Markdown summary and the CSV folder for ``out`` (report.html)."""
    return out, out.with_suffix(".md"), out.with_name(f"{out.stem}-tables")


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write(report: Report, out: Path) -> Path:
    page, summary, tables = paths(out)
    try:
        tables.mkdir(parents=True, exist_ok=True)
        for table in report.tables:
            tmp = tables / f"{table.name}.csv.tmp"
            table.frame.to_csv(tmp, index=False)
            os.replace(tmp, tables / f"{table.name}.csv")
        _write(summary, markdown.render(report, page.name))
        _write(page, html.render(report))
    except OSError as exc:
        raise UserError(f"cannot write the report: {exc.strerror}", source=str(exc.filename or out)) from None
    return page
