"""Causal analysis of result rows with DoWhy: effects, refutations, verdicts, and dowhy.gcm.

``analyze(results_dir, graph=None, config=None) -> Analysis`` is the whole of it (api.py);
``load_analysis(path)`` reads an analysis.json back. The names are imported on first use, so
that importing a submodule (the CLI's options) does not import DoWhy.
"""
from __future__ import annotations

from shared.lazy import lazy_exports

_EXPORTS = {
    "analyze": "collector.analysis.api",
    "AnalysisConfig": "collector.analysis.config",
    "load_config": "collector.analysis.config",
    "load_graph": "collector.analysis.graph",
    "load_analysis": "collector.analysis.output",
    "dump_analysis": "collector.analysis.output",
    "Analysis": "collector.analysis.values",
    "Effect": "collector.analysis.values",
    "Refutation": "collector.analysis.values",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
