"""``analysis.json``: an :class:`Analysis` with a format version, written atomically.

The file is the Analysis's ``to_dict()`` with ``format_version`` first, so a reader finds,
for every effect, ``treatment, outcome, estimand, estimate, ci_low, ci_high, estimator,
n_rows, refutations: [{name, new_effect, p_value, ...}]`` and its verdict.

Format history (bump FORMAT_VERSION, add a step to UPGRADES, and keep a file written by the
old version in tests/fixtures/ as a test of the step):
  1  first version.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from collector.analysis.values import Analysis
from shared.errors import UserError
from shared.resultsdir import ResultsFolder

FORMAT_VERSION = 1
# version -> function turning a document of that version into one of version + 1
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def dump_analysis(analysis: Analysis, path: str | Path) -> Path:
    """Write ``path`` (a folder gets ``analysis.json`` in it) via a temporary file and a rename."""
    path = Path(path)
    if path.is_dir():
        path = path / ResultsFolder.ANALYSIS
    document = {"format_version": FORMAT_VERSION, **analysis.to_dict()}
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(document, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"cannot write the analysis: {exc.strerror}", source=str(path)) from None
    return path


def upgrade(document: dict[str, Any], source: str) -> dict[str, Any]:
    version = document.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UserError(f"analysis format_version {version!r}; this edgeprune reads up to {FORMAT_VERSION}",
                        source=source)
    while version < FORMAT_VERSION:
        document = UPGRADES[version](document)
        version = document["format_version"]
    return document


def load_analysis(path: str | Path) -> Analysis:
    """Read an analysis.json written by this or an older edgeprune."""
    path = Path(path)
    if path.is_dir():
        path = path / ResultsFolder.ANALYSIS
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror}", source=str(path)) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"not JSON: {exc}", source=str(path)) from None
    return Analysis.from_dict(upgrade(document, str(path)))
