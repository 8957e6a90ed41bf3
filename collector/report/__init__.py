"""The report: one self-contained HTML page (inline SVG figures, no script), a Markdown summary
and every table as CSV, from a results folder of one device or of a fleet.

``write_report(results_dir, out=None, **budgets) -> Path`` is the whole of it (api.py). The
names are imported on first use, so that importing the CLI's options does not import
pandas and matplotlib.
"""
from __future__ import annotations

from shared.lazy import lazy_exports

_EXPORTS = {
    "write_report": "collector.report.api",
    "build_report": "collector.report.api",
    "load_report_data": "collector.report.data",
    "Budgets": "collector.report.model",
    "Report": "collector.report.model",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
