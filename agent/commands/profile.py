"""``agent profile``: where one variant's forward pass spends its time, layer by layer, beside
its unpruned original's (torch.profiler and onnxruntime's profiler)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from shared.errors import UserError
from shared.layertime import ORIGINAL, LayerTimes, side_by_side
from shared.resultsdir import ResultsFolder
from shared.sweep import DEFAULT_SWEEP, Sweep, load_sweep

if TYPE_CHECKING:
    from agent.artifacts import ArtifactStore
    from agent.runner import ArtifactBuilder


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "profile", help="per-layer time of one variant beside its unpruned original",
        description="Profile VARIANT (a variant_key of the sweep, or a unique prefix of one: see "
                    "results.jsonl or `agent build`) and the sweep's unpruned variant of the same base "
                    "model, on every backend of the sweep: torch.profiler (each layer a range) and "
                    "onnxruntime's own profiler (each graph node). Appends one record a model and "
                    "backend to OUT/layer_time.jsonl and prints the time by kind of op, side by side. "
                    "The report's section 'Where the time went' draws them.")
    parser.add_argument("--sweep", type=Path, metavar="FILE", default=DEFAULT_SWEEP,
                        help="sweep YAML file (default: the quick sweep)")
    parser.add_argument("--variant", required=True, metavar="KEY", help="the variant's variant_key (or a unique prefix)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="results folder (default: results/<sweep name>)")
    parser.add_argument("--artifacts", type=Path, metavar="DIR",
                        help="artifact store (default: OUT/artifacts); a missing variant is built into it "
                             "where torch is installed")
    parser.add_argument("--batch-size", type=int, metavar="N", help="batch size (default: the sweep's smallest)")
    parser.add_argument("--passes", type=int, metavar="N", default=None,
                        help="profiled forward passes, after a warm-up (default: 20)")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR",
                        help="where trained base models are cached (default: $EDGEPRUNE_CACHE or ~/.cache/edgeprune)")
    parser.set_defaults(execute=execute)


def _builder(sweep: Sweep, store: ArtifactStore, cache_dir: Path | None) -> ArtifactBuilder | None:
    """What builds a missing artifact: torch's, so only in the full install."""
    from agent.cache import default_cache_dir
    try:
        from agent.runner import ArtifactBuilder
    except ImportError:
        return None  # a light agent profiles prebuilt artifacts only
    return ArtifactBuilder(sweep, store, cache_dir or default_cache_dir(), export="onnxruntime" in sweep.backends)


def comparison_table(records: list[LayerTimes]) -> Table:
    """Per backend: ms a forward pass by kind of op, original beside variant."""
    table = Table(title="where the time went (ms a forward pass, by kind of op)")
    for name in ("backend", "kind", "original ms", "variant ms", "saved ms"):
        table.add_column(name, justify="left" if name in ("backend", "kind") else "right")
    by_backend: dict[str, dict[str, LayerTimes]] = {}
    for record in records:
        by_backend.setdefault(record.backend, {})[record.role] = record
    for backend, roles in by_backend.items():
        original = roles.get(ORIGINAL)
        variant = next((r for role, r in roles.items() if role != ORIGINAL), original)
        if original is None or variant is None:
            continue
        for row in side_by_side(original, variant):
            table.add_row(backend, row.kind, f"{row.original_ms:.3f}", f"{row.variant_ms:.3f}", f"{row.saved_ms:+.3f}")
        table.add_row(backend, "total", f"{original.total_ms:.3f}", f"{variant.total_ms:.3f}",
                      f"{original.total_ms - variant.total_ms:+.3f}", end_section=True)
    return table


def execute(args: argparse.Namespace) -> int:
    from agent.artifacts import ArtifactStore
    from agent.layertime import DEFAULT_PASSES
    from agent.profile import Profiler

    sweep = load_sweep(args.sweep)
    for field, value in (("--batch-size", args.batch_size), ("--passes", args.passes)):
        if value is not None and value < 1:
            raise UserError("must be a positive whole number", field=field)
    out = args.out or Path("results") / sweep.name
    store = ArtifactStore(args.artifacts or ResultsFolder(out).path(ResultsFolder.ARTIFACTS))
    profiler = Profiler(sweep, out, store, _builder(sweep, store, args.cache_dir),
                        args.passes or DEFAULT_PASSES, args.batch_size)
    records, skipped = profiler.profile(args.variant)
    console = Console(highlight=False)
    if records:
        first = records[-1]  # the variant (the original where it is the variant asked for)
        console.print(f"{first.model} {first.method} r={first.target_ratio:g} against its original, batch "
                      f"{first.batch_size}, {first.passes} profiled passes a model")
        console.print(comparison_table(records))
    for line in skipped:
        console.print(f"not profiled: {line}", markup=False)
    console.print(f"layer times: {profiler.out.path(ResultsFolder.LAYER_TIME)}", markup=False)
    return 0 if records else 1
