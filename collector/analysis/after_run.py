"""The causal analysis at the end of a run (``collector run``, ``agent run``), before the report:
the product's question answered by its main command, not two commands later.

Bounded on the quick sweep: the refuters run :data:`AFTER_RUN_SIMULATIONS` simulations (the
``analyze`` command's default is 100); ``collector analyze`` reruns it in full. Nothing heavy
is imported until it runs, and a missing analysis package is one line, never a failed run.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

# refuter and bootstrap simulations: a fifth of the analyze command's default keeps the
# quick sweep's analysis to seconds; the verdicts' p-values are coarser (steps of 1/50)
AFTER_RUN_SIMULATIONS = 50
NEEDED = ("dowhy", "pandas", "sklearn")


def missing_packages() -> list[str]:
    """The analysis packages not installed here (find_spec imports nothing)."""
    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


def analyse_after_run(results_dir: Path, enabled: bool = True) -> str:
    """Write ``results_dir/analysis.json``; one line saying where it went, or why there is none.

    A run's rows are on disk already: no failure here fails the run."""
    if not enabled:
        return "analysis: skipped (--no-analysis); `collector analyze --results DIR` makes one"
    missing = missing_packages()
    if missing:
        return (f"analysis: skipped ({', '.join(missing)} not installed: pip install 'edgeprune[analysis]'; "
                f"or copy the folder and run `collector analyze --results DIR` where it is)")
    from collector.analysis.api import analyze
    from collector.analysis.config import AnalysisConfig
    from collector.analysis.output import dump_analysis
    from shared.errors import UserError

    config = AnalysisConfig().replace("refuters", simulations=AFTER_RUN_SIMULATIONS,
                                      bootstrap_simulations=AFTER_RUN_SIMULATIONS)
    try:
        analysis = analyze(results_dir, config=config)
        path = dump_analysis(analysis, results_dir)
    except UserError as exc:  # too few values to compare (one ratio swept): the report says so too
        return f"analysis: none ({exc})"
    except Exception as exc:  # noqa: BLE001 - a DoWhy failure must not hide the run's rows
        return f"warning: no analysis ({type(exc).__name__}: {exc}); `collector analyze --results " \
               f"{results_dir}` tries again"
    seconds = sum(analysis.timings_s.values())
    return f"analysis: {path} ({len(analysis.effects)} effects, {seconds:.0f} s)"
