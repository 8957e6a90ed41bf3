"""``agent build``: build a sweep's variants into an artifact store, measuring nothing.

The store is what a light agent measures (``agent run --artifacts DIR``): build once where
torch is, copy the folder to every device.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from agent.artifacts import MODEL_ONNX, PAYLOAD, Artifact, ArtifactStore
from agent.commands.run import needs_torch, progress_bar
from agent.worker import error_text
from shared.cli import output_console
from shared.errors import UserError
from shared.plan import Variant, variants
from shared.sweep import DEFAULT_SWEEP, load_sweep
from shared.version import MIN_PYTHON_FULL

MIN_PYTHON = MIN_PYTHON_FULL  # torch, DoWhy or pandas: not the light agent

DEFAULT_STORE = Path("artifacts")


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "build", help="build a sweep's variants into an artifact store (no measuring)",
        description="Prune, fine-tune, count and evaluate every variant of the sweep, export it to "
                    "ONNX (dynamic batch axis, checked against torch) and write it into the store: "
                    "OUT/<sha256>/ with model.onnx, model.pt, eval.npz and meta.json. A variant "
                    "already in the store is reused. Measure the store anywhere with "
                    "`agent run --artifacts OUT --sweep FILE`. Exit code 1 if a variant failed.")
    parser.add_argument("--sweep", type=Path, metavar="FILE", default=DEFAULT_SWEEP,
                        help="sweep YAML file (default: the quick sweep)")
    parser.add_argument("--out", type=Path, metavar="DIR", default=DEFAULT_STORE,
                        help=f"artifact store (default: {DEFAULT_STORE}/)")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR",
                        help="where trained base models are cached "
                             "(default: $EDGEPRUNE_CACHE or ~/.cache/edgeprune)")
    parser.set_defaults(execute=execute)


@dataclass(frozen=True)
class BuildOutcome:
    """One variant: its artifact (None if the build failed), whether it was built now, why not."""

    variant: Variant
    artifact: Artifact | None
    built: bool
    error: str | None = None


def _size_mb(artifact: Artifact) -> float:
    return sum(artifact.file(name).stat().st_size for name in PAYLOAD if artifact.has(name)) / 2**20


def artifact_table(outcomes: list[BuildOutcome]) -> Table:
    """One line a variant: the artifact, how it came about, the export, accuracy and size."""
    table = Table(title="artifacts")
    for name in ("model", "method", "ratio", "artifact", "", "onnx", "acc", "MB"):
        table.add_column(name, justify="left" if name in ("model", "method", "artifact", "", "onnx") else "right")
    for o in outcomes:
        v, a = o.variant, o.artifact
        if a is None:
            table.add_row(v.model, v.method, f"{v.target_ratio:g}", "-", "failed", (o.error or "")[:60], "", "")
            continue
        onnx = "ok" if a.has(MODEL_ONNX) else f"failed: {a.onnx.get('error') or ''}"[:60]
        accuracy = a.meta["columns"].get("accuracy_top1")
        table.add_row(v.model, v.method, f"{v.target_ratio:g}", a.sha256[:12], "built" if o.built else "reused",
                      onnx, "-" if accuracy is None else f"{accuracy:.3f}", f"{_size_mb(a):.1f}")
    return table


class _Stages:
    """The builder's progress (it reports stages only), shown as the bar's description."""

    def __init__(self, bar: Progress, task: TaskID) -> None:
        self.bar, self.task = bar, task

    def start(self, total: int, done: int) -> None: ...
    def row(self, row: dict[str, Any]) -> None: ...

    def stage(self, text: str) -> None:
        self.bar.update(self.task, description=text)


def build_all(args: argparse.Namespace, console: Console) -> list[BuildOutcome]:
    try:  # torch: seconds to import, absent on a light agent
        from agent.cache import default_cache_dir
        from agent.runner import ArtifactBuilder
    except ImportError as exc:
        raise needs_torch("`agent build`", exc) from None
    sweep = load_sweep(args.sweep)
    planned = list(variants(sweep))
    outcomes = []
    with progress_bar(console) as bar:
        task = bar.add_task("starting", total=len(planned))
        builder = ArtifactBuilder(sweep, ArtifactStore(args.out), args.cache_dir or default_cache_dir(),
                                  _Stages(bar, task))
        for variant in planned:
            try:
                artifact, built = builder.obtain(variant)
                outcomes.append(BuildOutcome(variant, artifact, built))
            except UserError:
                raise
            except Exception as exc:  # one variant that cannot be built does not stop the others
                outcomes.append(BuildOutcome(variant, None, False, error_text(exc)))
                bar.console.print(f"FAILED   {variant.label}: {error_text(exc).splitlines()[-1][:160]}",
                                  markup=False, highlight=False)
            bar.advance(task)
    return outcomes


def execute(args: argparse.Namespace) -> int:
    console = output_console()
    outcomes = build_all(args, console)
    console.print(artifact_table(outcomes))
    built = sum(o.built for o in outcomes)
    failed = sum(o.artifact is None for o in outcomes)
    no_onnx = sum(o.artifact is not None and not o.artifact.has(MODEL_ONNX) for o in outcomes)
    console.print(f"{len(outcomes)} variants in {args.out}: {built} built, "
                  f"{len(outcomes) - built - failed} reused, {failed} failed; "
                  f"{no_onnx} without ONNX (their onnxruntime trials will be error rows)")
    return 1 if failed else 0
