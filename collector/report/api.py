"""``write_report(results_dir)``: the whole of a report, from a results folder to report.html,
report.md and report-tables/*.csv."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from collector.report import export, svg
from collector.report.data import ReportData, load_report_data
from collector.report.findings import findings
from collector.report.model import Budgets, Report, Section
from collector.report.sections import (accuracy, causal, energy, latency, layertime, memory, overview, parameters,
                                       quality, recommend, strategy)
from shared.errors import UserError
from shared.resultsdir import ResultsFolder
from shared.version import __version__

# in reading order: who ran what, what pruning did, what it costs, what it causes, what to use, how sure.
# A section's build may return None (energy, layer time, an adaptive sweep's: where there is
# nothing of the kind): it is left out.
SECTIONS = (overview, strategy, accuracy, latency, layertime, parameters, memory, energy, causal, recommend, quality)


def _headline(data: ReportData, sections: tuple[Section, ...]) -> tuple[str, ...]:
    """What was run, then the findings (report.md and the page open with these)."""
    rows = data.rows
    hosts, classes = rows["host"].nunique(), rows["device_class"].nunique()
    models = ", ".join(sorted(rows["model"].dropna().unique()))
    methods = ", ".join(sorted(rows["method"].dropna().unique()))
    analysis = f"from {data.analysis_path.name}." if data.analysis else "none (see the causal section)."
    return (f"{len(rows)} trials on {hosts} host(s) ({classes} device class(es)). Models: {models}. "
            f"Methods: {methods}. Causal analysis: {analysis}", *findings(data, sections))


def build_report(data: ReportData, budgets: Budgets | None = None) -> Report:
    budgets = budgets or Budgets()
    sections: list[Section] = []
    with svg.style():
        for module in SECTIONS:
            section = module.build(data, budgets)
            if section is not None:
                sections.append(section)
    fleet = data.rows["host"].nunique() > 1
    return Report(title="edgeprune fleet report" if fleet else "edgeprune report", source=str(data.source),
                  created_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), version=__version__,
                  headline=_headline(data, tuple(sections)), sections=tuple(sections))


def _check_batch_size(data: ReportData, budgets: Budgets) -> None:
    """A batch size no trial ran at has nothing to judge latency by: say which ones there are."""
    measured = sorted(int(b) for b in data.rows["batch_size"].dropna().unique())
    if budgets.batch_size is not None and budgets.batch_size not in measured:
        raise UserError(f"no trial was measured at batch size {budgets.batch_size}", field="--batch-size",
                        valid=measured)


def write_report(results_dir: str | Path, out: str | Path | None = None, *, analysis: str | Path | None = None,
                 **budgets: Any) -> Path:
    """:func:`write_report_and_headline`'s file only."""
    return write_report_and_headline(results_dir, out, analysis=analysis, **budgets)[0]


def write_report_and_headline(results_dir: str | Path, out: str | Path | None = None, *,
                              analysis: str | Path | None = None, **budgets: Any) -> tuple[Path, tuple[str, ...]]:
    """Write the report of ``results_dir`` (one device's folder or a fleet's) and return the HTML
    file: ``out`` (default ``results_dir/report.html``), with ``report.md`` and
    ``report-tables/`` beside it. ``budgets``: :class:`Budgets` fields (``max_accuracy_drop``,
    ``max_latency_ms``, ``batch_size``); None means the default."""
    names = {f.name for f in dataclasses.fields(Budgets)}
    unknown = set(budgets) - names
    if unknown:
        raise TypeError(f"unknown budgets: {', '.join(sorted(unknown))} (valid: {', '.join(sorted(names))})")
    chosen = Budgets(**{k: v for k, v in budgets.items() if v is not None})
    data = load_report_data(results_dir, analysis)
    _check_batch_size(data, chosen)
    target = Path(out) if out else Path(results_dir) / ResultsFolder.REPORT
    report = build_report(data, chosen)
    return export.write(report, target), report.headline
