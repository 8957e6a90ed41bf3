"""The report as one self-contained HTML page: inline CSS and SVG, no script, no font, nothing
fetched, so that it opens offline, from an e-mail or an archive, exactly as it was made."""
from __future__ import annotations

from html import escape

import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from collector.report import cells
from collector.report.model import Block, Figure, Note, Report, Section, Table

CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #1d1d1f;
       margin: 0; background: #f6f6f7; }
header, main > section { max-width: 1240px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 20px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 0 0 6px; padding-top: 8px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
.meta { color: #666; margin: 0 0 10px; font-size: 13px; }
nav ol { display: flex; flex-wrap: wrap; gap: 6px 16px; list-style: none; padding: 0; margin: 10px 0 0; }
nav a { color: #0b57d0; text-decoration: none; }
main > section { background: #fff; border: 1px solid #e3e3e6; border-radius: 8px; margin: 18px auto;
                 padding: 14px 24px 18px; max-width: 1192px; }
.intro { color: #444; margin: 0 0 8px; }
ul.summary { background: #f0f5ff; border-left: 4px solid #0b57d0; margin: 8px 0 12px; padding: 8px 12px 8px 28px; }
ul.headline { margin: 8px 0; padding-left: 20px; }
figure { margin: 12px 0 18px; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption, .caption { color: #555; font-size: 13px; margin-top: 4px; }
.note { padding: 8px 12px; border-radius: 6px; background: #f3f3f3; margin: 8px 0; }
.note.warn { background: #fff4e5; border-left: 4px solid #f29900; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0; }
th, td { padding: 3px 6px; border-bottom: 1px solid #e6e6e6; text-align: left; vertical-align: top; }
td.num, td:first-child { white-space: nowrap; }  /* numbers and the row name stay whole; text wraps, so a wide table fits 1400 px */
td.long { white-space: normal; min-width: 12em; }
th { background: #fafafa; position: sticky; top: 0; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:hover td { background: #f7fbff; }
details { margin: 4px 0 12px; }
summary { cursor: pointer; color: #0b57d0; font-size: 14px; }
code { background: #f1f1f1; padding: 0 3px; border-radius: 3px; }
footer { max-width: 1192px; margin: 0 auto 30px; padding: 0 24px; color: #666; font-size: 13px; }
"""


def _text(text: str) -> str:
    """Escaped, with `code` spans kept: the notes name commands to run."""
    parts = escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


LONG_TEXT = 30  # characters: a column with longer cells wraps, the others stay on one line


def _kind(column: pd.Series, texts: list[str]) -> str:
    """The cells' class: numbers align right, long text wraps."""
    if is_numeric_dtype(column) and not is_bool_dtype(column):
        return "num"
    return "long" if any(len(t) > LONG_TEXT for t in texts) else ""


def table_html(table: Table, tables_dir: str) -> str:
    link = f'<a href="{escape(tables_dir)}/{escape(table.name)}.csv">{escape(table.name)}.csv</a>'
    total = len(table.frame)
    if table.max_rows == 0:  # too long to read on a page: only the CSV
        return f'<p class="caption">{_text(table.title)}: {total} rows in {link}.</p>'
    body = cells.rows(table, table.max_rows)
    shown = table.display
    kinds = [_kind(shown.iloc[:, i], [row[i] for row in body]) for i in range(shown.shape[1])]
    # the CSV's own names, with a line break allowed after each underscore
    head = "".join(f"<th>{escape(str(c)).replace('_', '_<wbr>')}</th>" for c in shown.columns)
    lines = ["".join(f'<td class="{kinds[i]}">{escape(v)}</td>' if kinds[i] else f"<td>{escape(v)}</td>"
                     for i, v in enumerate(row)) for row in body]
    count = f"{len(body)} of {total} rows shown; all" if total > len(body) else "as CSV:"
    caption = f"{_text(table.caption)} " if table.caption else ""
    content = (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>'
               + "".join(f"<tr>{line}</tr>" for line in lines)
               + f'</tbody></table></div><p class="caption">{caption}({count} {link})</p>')
    if table.collapsed:  # <details> opens without a script
        return f"<details><summary>{_text(table.title)} ({total} rows)</summary>{content}</details>"
    return f"<h3>{_text(table.title)}</h3>{content}"


def block_html(block: Block, tables_dir: str) -> str:
    if isinstance(block, Figure):
        return f"<figure>{block.svg}<figcaption>{_text(block.caption)}</figcaption></figure>"
    if isinstance(block, Table):
        return table_html(block, tables_dir)
    if isinstance(block, Note):
        return f'<p class="note {escape(block.kind)}">{_text(block.text)}</p>'
    raise TypeError(f"not a report block: {block!r}")


def section_html(section: Section, tables_dir: str) -> str:
    summary = ("<ul class=\"summary\">" + "".join(f"<li>{_text(s)}</li>" for s in section.summary) + "</ul>"
               if section.summary else "")
    blocks = "".join(block_html(b, tables_dir) for b in section.blocks)
    return (f'<section id="{escape(section.id)}"><h2>{escape(section.title)}</h2>'
            f'<p class="intro">{_text(section.intro)}</p>{summary}{blocks}</section>')


def render(report: Report) -> str:
    nav = "".join(f'<li><a href="#{escape(s.id)}">{escape(s.title)}</a></li>' for s in report.sections)
    headline = "".join(f"<li>{_text(h)}</li>" for h in report.headline)
    sections = "\n".join(section_html(s, report.tables_dir) for s in report.sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(report.title)}</title><style>{CSS}</style></head>\n<body>"
        f'<header><h1>{escape(report.title)}</h1><p class="meta">{escape(report.source)} · made '
        f"{escape(report.created_at)} by edgeprune {escape(report.version)}</p>"
        f'<ul class="headline">{headline}</ul><nav><ol>{nav}</ol></nav></header>\n'
        f"<main>{sections}</main>\n"
        f'<footer>Every table, whole, as CSV in <a href="{escape(report.tables_dir)}/">'
        f"{escape(report.tables_dir)}/</a>; a Markdown summary beside this file. How to read each section: "
        f"docs/REPORT.md.</footer></body></html>\n")
