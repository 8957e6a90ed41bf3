"""An adaptive sweep on this device: the planner chooses, the measure runner measures.

The planner (collector/analysis/adaptive.py, reached through agent/seam.py) is deterministic
given the rows it sees, so a resume replays it: a trial it chooses that is already in
results.jsonl is read back, not measured again, and the run goes on from where it stopped. Each choice is appended to
strategy.jsonl (order, trial key, round, reason) once.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent import seam
from shared.errors import UserError
from shared.plan import Trial, Variant
from shared.resultsdir import ResultsFolder

if TYPE_CHECKING:
    from agent.measure_runner import MeasureRunner, RunSummary
    from agent.worker import WorkerPool


def _logged(folder: ResultsFolder) -> set[str]:
    # a torn last line of an interrupted run holds no choice: that choice is logged again
    return {record["trial_key"] for record in folder.records(ResultsFolder.STRATEGY)
            if isinstance(record.get("trial_key"), str)}


def run_adaptive(runner: MeasureRunner, summary: RunSummary, pool: WorkerPool, run_id: str,
                 plan: list[tuple[Variant, list[Trial]]], latest: dict[str, dict[str, Any]],
                 done: set[str]) -> None:
    host, device_class = runner.machine["host"], runner.machine["device_class"]
    where = {t.key: (variant, t) for variant, ts in plan for t in ts}
    design = [
        {"host": host, "trial_key": t.key, "variant_key": v.key, "batch_size": t.batch_size, "model": v.model,
         "method": v.method, "target_ratio": v.target_ratio, "device_class": device_class, "backend": t.backend}
        for v, t in where.values()]
    try:
        planner = seam.adaptive_planner(design, runner.sweep.strategy)
    except ImportError as exc:
        raise UserError(f"the adaptive strategy fits the causal model as it goes and needs the analysis "
                        f"packages ({exc}): pip install 'edgeprune[analysis]', or run the full grid",
                        source=runner.sweep.source, field="strategy") from None
    summary.total, summary.already_done = planner.budget_trials, 0  # counted as the planner reads them back
    runner.progress.start(summary.total, 0)
    logged = _logged(runner.out)

    def measure(keys: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        pending: dict[str, list[Trial]] = {}
        for _, trial_key in keys:
            if trial_key in done:
                rows.append(latest[trial_key])  # measured before an interruption: read back
                summary.already_done += 1
            else:
                pending.setdefault(where[trial_key][0].key, []).append(where[trial_key][1])
        for variant, _ in plan:  # the plan's order: a variant's batches ascending, one worker
            if variant.key in pending:
                rows += runner._run_variant(summary, pool, runner._context(run_id, variant), variant,
                                            pending[variant.key])
        return rows

    def log(choice: Any) -> None:
        if choice.key[1] not in logged:
            runner.out.append(ResultsFolder.STRATEGY, {"run_id": run_id, **choice.to_json(),
                                                       "grid_trials": len(design),
                                                       "budget": runner.sweep.strategy.budget})
            logged.add(choice.key[1])

    runner.progress.stage(f"adaptive sweep: up to {planner.budget_trials} of {len(design)} trials")
    planner.run(measure, on_choice=log)
