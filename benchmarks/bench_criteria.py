"""structured's importance criteria side by side (issue 19): accuracy and latency at matched sparsity.

    .venv/bin/python benchmarks/bench_criteria.py [--model resnet18] [--ratio 0.5] [--out DIR]
    .venv/bin/python benchmarks/bench_criteria.py --artifacts OUT/artifacts --out DIR2   # measure again
    .venv/bin/python benchmarks/bench_criteria.py --results DIR      # a folder measured before

Builds one sweep on the default data (digits): the unpruned model and ``structured`` at one
channel ratio with every importance (per-layer ranking, so every criterion removes the same
number of channels from each layer: the sparsity is matched and only the choice differs),
plus global ranking, isomorphic ranking and the paper's ``coupling: union``. Each variant is
fine-tuned one epoch and measured on the torch backend at batch 1 and 32. Prints, per
variant: parameters kept, top-1, and the batch-1 and batch-32 speed-ups over the unpruned
model with their 95% intervals. Latencies are only worth comparing on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.resultsdir import load_results, load_samples
from shared.stats import speedup
from shared.sweep import parse_sweep

IMPORTANCES = ("l1", "l2", "taylor", "hessian", "lamp", "fpgm", "bn_scale", "random")
EXTRA = ({"importance": "lamp", "global_pruning": True},
         {"importance": "lamp", "global_pruning": True, "isomorphic": True},
         {"importance": "l2", "coupling": "union"})
BATCHES = (1, 32)


def sweep_data(model: str, ratio: float) -> dict[str, Any]:
    methods = [{"name": "structured", "importance": i} for i in IMPORTANCES] + \
        [{"name": "structured", **options} for options in EXTRA]
    return {
        "name": "criteria", "models": [model], "methods": methods, "ratios": [0.0, ratio],
        "batch_sizes": list(BATCHES), "backends": ["torch"],
        "schedule": {"kind": "one_shot", "finetune_epochs": 1},
        "timing": {"retry_disturbed": 0},
    }


def measure(args: argparse.Namespace, out: Path) -> None:
    sweep = parse_sweep(sweep_data(args.model, args.ratio), "bench_criteria")
    if args.artifacts:  # measure again what was built before (on a quieter machine)
        from agent.artifacts import ArtifactStore
        from agent.measure_runner import MeasureRunner
        MeasureRunner(sweep, out, ArtifactStore.existing(args.artifacts)).run()
        return
    from agent.cache import default_cache_dir  # torch: only when building
    from agent.runner import SweepRunner
    SweepRunner(sweep, out, default_cache_dir()).run()


def label(row: dict[str, Any]) -> str:
    """The importance and whatever differs from the defaults: 'lamp + global_pruning'."""
    options = json.loads(row.get("method_options") or "{}")
    extras = [k if v is True else f"{k} {v}" for k, v in sorted(options.items())
              if k != "importance" and v not in (False, None, "group")]
    return " + ".join([options.get("importance", "l1"), *extras])


def table(folder: Path) -> Table:
    rows = [r for r in load_results(folder).rows if r.get("status") == "ok"]
    samples = load_samples(folder)
    # every method has its own ratio-0 trials of the one base model: each variant is compared
    # with its own, measured next to it in time
    base = {(label(r), r["batch_size"]): r for r in rows if r["target_ratio"] == 0.0}
    out = Table(title=f"structured at channel ratio {max(r['target_ratio'] for r in rows)} "
                      f"({rows[0]['model']}, {rows[0].get('device_class', '')})")
    for name in ("importance", "params kept", "top-1", *(f"speed-up b{b}" for b in BATCHES)):
        out.add_column(name, justify="left" if name == "importance" else "right")
    variants: dict[str, dict[int, dict[str, Any]]] = {}
    for row in rows:
        if row["target_ratio"] > 0:
            variants.setdefault(label(row), {})[row["batch_size"]] = row
    for name, by_batch in sorted(variants.items()):
        any_row = next(iter(by_batch.values()))
        unpruned = next(r for (method, _), r in base.items() if method == name)
        cells = [name, f"{any_row['params_actual'] / unpruned['params_actual']:.1%}",
                 f"{any_row['accuracy_top1']:.3f}"]
        for batch in BATCHES:
            row, own_base = by_batch.get(batch), base.get((name, batch))
            cells.append("-" if row is None or own_base is None else
                         speedup(samples.of(own_base), samples.of(row)).describe())
        out.add_row(*cells)
    disturbed = sum(bool(r.get("disturbed")) for r in rows)
    out.caption = (f"unpruned top-1 {next(iter(base.values()))['accuracy_top1']:.3f}; "
                   f"{disturbed} of {len(rows)} trials disturbed by other work")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--out", type=Path, help="results folder (default: a temporary one)")
    parser.add_argument("--results", type=Path, help="print the table of a folder measured before")
    parser.add_argument("--artifacts", type=Path, help="measure the variants of this store (built by "
                                                       "an earlier run: <out>/artifacts) instead of building")
    args = parser.parse_args()
    console = Console()
    if args.results:
        console.print(table(args.results))
        return
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch) / "criteria"
        measure(args, out)
        console.print(table(out))


if __name__ == "__main__":
    main()
