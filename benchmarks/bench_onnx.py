"""P6 and P8: what structured pruning buys on onnxruntime, and what the light agent costs.

P6  For the structured variants of the small-input (32x32) ResNet18 and VGG16 on onnxruntime,
    CPU, batch 32: realised speed-up over MAC reduction, per variant. Goal >= 0.9. Printed for
    every other model asked for too (fixed overheads make it lower on small nets), beside the
    seed comparison (original, mask-only ``ln_structured_mask`` and really pruned latency, the
    structured-pruning paper's figures 6 and 7), and, for unstructured variants, what dense
    runtimes give them: no speed-up, only a smaller compressed file.
    Variants are built by the agent itself into an artifact store and measured by its workers;
    base models are untrained (``--train-epochs 0``): latency and MACs do not depend on weights.
P8  The light agent's own footprint: peak RSS of ``agent info --json`` in a venv with only
    ``edgeprune[agent]`` (made by scripts/light-venv.sh), the full install beside it, and
    the light ``agent run --artifacts`` process. Goal <= 100 MB.

    .venv/bin/python benchmarks/bench_onnx.py p6 [--models resnet18 vgg16 lenet5 ...] [--store DIR]
    .venv/bin/python benchmarks/bench_onnx.py p6 --results DIR     # tables of an existing results folder
    .venv/bin/python benchmarks/bench_onnx.py p8 [--light-venv DIR]

Not a test: speed goals live here, the figures in docs/PERFORMANCE.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

import psutil
import yaml
from rich.console import Console
from rich.table import Table

from agent.fingerprint import machine_info
from shared.comparison import COMPARISON_HEADER, format_comparison, seed_comparisons
from shared.resultsdir import ResultsFolder, SampleIndex, load_samples
from shared.sweep import parse_sweep

ROOT = Path(__file__).parents[1]
P6_MODELS = ("resnet18", "vgg16")
P6_GOAL = 0.9
P8_GOAL_MB = 100.0
UNSTRUCTURED = "l1_unstructured"
LIGHT = "light (agent extra)"


def p6_sweep(models: list[str], ratios: list[float], train_epochs: int, threads: int | None) -> dict[str, Any]:
    return {
        "name": "bench-onnx", "seed": 0, "dataset": {"name": "digits", "train_samples": 512},
        "input_size": "small", "models": models,
        "methods": [{"name": "structured", "importance": "l1"},
                    {"name": "structured", "importance": "l1", "round_to": 8},
                    "ln_structured_mask", {"name": UNSTRUCTURED, "scope": "global"}],
        "ratios": [0.0, *ratios], "schedule": {"kind": "one_shot", "finetune_epochs": 0},
        "batch_sizes": [32], "backends": ["onnxruntime"], "devices": ["cpu"], "threads": threads,
        "train": {"epochs": train_epochs}, "telemetry": {"perf": False},
        "timing": {"warmup_s": 0.5, "min_reps": 10, "min_time_s": 2.0, "max_time_s": 10.0},
    }


def run_p6(args: argparse.Namespace, console: Console) -> Path:
    from agent.cache import default_cache_dir  # torch: only when building
    from agent.runner import SweepRunner

    out = Path(args.out or tempfile.mkdtemp(prefix="bench-onnx-"))
    sweep = parse_sweep(p6_sweep(args.models, args.ratios, args.train_epochs, args.threads), "bench_onnx.py")
    console.print(f"building into {args.store or out / 'artifacts'}, results in {out}")
    SweepRunner(sweep, out, default_cache_dir(), store_dir=args.store).run()
    return out


def p6_table(rows: list[dict[str, Any]], samples: SampleIndex | None = None) -> Table:
    table = Table(title=f"P6 realised speed-up / MAC reduction (goal >= {P6_GOAL} for "
                        f"{' and '.join(P6_MODELS)}) and the seed comparison")
    for name in COMPARISON_HEADER:
        table.add_column(name, justify="left" if name in ("model", "options", "backend", "device") else "right")
    for c in seed_comparisons(rows, samples):
        cells = list(format_comparison(c))
        cells[2] = _short_options(c.method_options)
        if c.model in P6_MODELS and c.realised is not None:
            cells[-1] = f"[{'green' if c.realised >= P6_GOAL else 'red'}]{cells[-1]}"
        table.add_row(*cells)
    return table


def _short_options(options: str) -> str:
    """Only what differs from the structured method's defaults, e.g. ``round_to=8``."""
    defaults = {"importance": "l1", "global_pruning": False, "round_to": None}
    given = json.loads(options)
    return " ".join(f"{k}={v}" for k, v in sorted(given.items()) if defaults.get(k, v) != v or k not in defaults) or "-"


def _onnx_deflated_mb(store: Path | None, sha: str | None) -> float | None:
    if store is None or sha is None or not (store / sha / "model.onnx").is_file():
        return None
    return len(zlib.compress((store / sha / "model.onnx").read_bytes(), 6)) / 2**20


def unstructured_table(rows: list[dict[str, Any]], store: Path | None) -> Table:
    """Unstructured variants on a dense runtime: latency as the original, files smaller once compressed."""
    table = Table(title="unstructured (l1, global): dense runtimes skip no zero")
    for name in ("model", "ratio", "sparsity", "p50 ms", "original p50 ms", "speed-up",
                 "state dict zip MB", "gain", "model.onnx deflated MB", "gain"):
        table.add_column(name, justify="left" if name == "model" else "right")
    ok = [r for r in rows if r["status"] == "ok"]
    originals = {(r["model"], r["batch_size"]): r for r in ok if r["target_ratio"] == 0.0}
    for r in ok:
        base = originals.get((r["model"], r["batch_size"]))
        if r["method"] != UNSTRUCTURED or r["target_ratio"] == 0.0 or base is None:
            continue
        onnx_mb, base_onnx_mb = (_onnx_deflated_mb(store, x["artifact_sha256"]) for x in (r, base))
        table.add_row(r["model"], f"{r['target_ratio']:g}", f"{r['sparsity']:.2f}", f"{r['latency_p50_ms']:.2f}",
                      f"{base['latency_p50_ms']:.2f}", f"{base['latency_p50_ms'] / r['latency_p50_ms']:.2f}",
                      f"{r['model_bytes_compressed'] / 2**20:.2f}",
                      f"{base['model_bytes_compressed'] / r['model_bytes_compressed']:.2f}x",
                      "-" if onnx_mb is None else f"{onnx_mb:.2f}",
                      "-" if not (onnx_mb and base_onnx_mb) else f"{base_onnx_mb / onnx_mb:.2f}x")
    return table


def peak_rss_mb(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Peak RSS of a command (its largest process), from the kernel's accounting at exit."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd="/")
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {process.returncode}")
    return usage.ru_maxrss / 1024  # KiB on Linux


def p8(args: argparse.Namespace, console: Console) -> Table:
    venv = Path(args.light_venv or tempfile.mkdtemp(prefix="light-venv-"))
    if not (venv / "bin" / "agent").exists():
        console.print(f"making the light venv at {venv} (scripts/light-venv.sh)")
        subprocess.run([str(ROOT / "scripts" / "light-venv.sh"), str(venv)], check=True)
    light, full = str(venv / "bin" / "agent"), str(Path(sys.executable).parent / "agent")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    table = Table(title=f"P8 peak RSS, MB (median of {args.runs}; goal <= {P8_GOAL_MB:g} for the light install)")
    for name in ("command", "install", "median", "max"):
        table.add_column(name, justify="left" if name in ("command", "install") else "right")
    cases = [("agent info --json", LIGHT, [light, "info", "--json"]),
             ("agent info --json", "full", [full, "info", "--json"]),
             ("python -c 'import torch, torchvision'", "full", [sys.executable, "-c", "import torch, torchvision"])]
    if args.artifacts and args.sweep:
        out = tempfile.mkdtemp(prefix="light-run-")
        cases.append(("agent run --artifacts (agent process)", LIGHT,
                      [light, "run", "--artifacts", str(args.artifacts), "--sweep", str(args.sweep), "--out", out]))
    for command, install, argv in cases:
        figures = [peak_rss_mb(argv, env) for _ in range(args.runs if "run" not in command else 1)]
        table.add_row(command, install, f"{statistics.median(figures):.1f}", f"{max(figures):.1f}")
    if args.artifacts and args.sweep:  # the workers' own figure, from the rows they wrote
        workers = [r["peak_rss_mb"] for r in ResultsFolder(Path(out)).results.rows() if r["peak_rss_mb"]]
        table.add_row("its workers (peak_rss_mb column)", LIGHT, f"{statistics.median(workers):.1f}",
                      f"{max(workers):.1f}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("p6", "p8"))
    parser.add_argument("--models", nargs="+", default=list(P6_MODELS), help="P6 models (default: resnet18 vgg16)")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.3, 0.5, 0.7], help="P6 ratios besides 0")
    parser.add_argument("--train-epochs", type=int, default=0, help="P6 base model training (default 0)")
    parser.add_argument("--threads", type=int, default=None, help="P6 intra-op threads (default: onnxruntime's)")
    parser.add_argument("--store", type=Path, help="P6 artifact store (reused where it has a variant)")
    parser.add_argument("--out", type=Path, help="P6 results folder (default: a fresh temporary one)")
    parser.add_argument("--results", type=Path, help="P6: print the tables of this results folder, run nothing")
    parser.add_argument("--light-venv", type=Path, help="P8: the light venv (default: make one, ~15 s)")
    parser.add_argument("--runs", type=int, default=5, help="P8 repetitions")
    parser.add_argument("--artifacts", type=Path, help="P8: also measure `agent run --artifacts` on this store")
    parser.add_argument("--sweep", type=Path, help="P8: ... with this sweep")
    args = parser.parse_args()
    console = Console(width=200)
    info = machine_info()
    console.print(f"machine: {info['cpu_model']}, {info['cores_logical']} cores, {info['mem_total_gb']} GB; "
                  f"load average {psutil.getloadavg()[0]:.1f} at start")
    if args.what == "p8":
        console.print(p8(args, console))
        return
    out = args.results or run_p6(args, console)
    rows = list({r["trial_key"]: r for r in ResultsFolder(out).results.rows()}.values())
    built = ResultsFolder(out).path(ResultsFolder.ARTIFACTS)
    store = args.store or (built if built.is_dir() else None)
    console.print(p6_table(rows, load_samples(out)))
    console.print(unstructured_table(rows, store))
    sweep = p6_sweep(args.models, args.ratios, args.train_epochs, args.threads)
    console.print(f"load average at the end: {psutil.getloadavg()[0]:.1f}; sweep: "
                  f"{yaml.safe_dump(sweep, default_flow_style=True, width=1000)}",
                  markup=False, highlight=False, soft_wrap=True)


if __name__ == "__main__":
    main()
