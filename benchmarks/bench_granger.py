"""P5 and S3: what causal pruning costs, and what it buys against magnitude pruning.

P5  time: causal pruning (``iterations x prune_epochs`` epochs of SGD that feed the streaming
    lasso every step, then the masks and the rewinds) over the same number of epochs of
    plain SGD: the same hand-written loop without the recording, and torch.optim.SGD.
    Interleaved rounds, medians. Goal <= 2.0.
    memory: peak RSS of the pruning phase minus RSS just before it, in model sizes, for
    causal pruning and for the same SGD without it (each in a fresh process, on a wide MLP
    whose weights dominate the memory). Goal <= 4.
S3  causal against global magnitude pruning (l1_unstructured) at matched sparsity, LeNet-5
    on digits, three seeds: causal with stop: zero at two L1 coefficients (magnitude matched
    to the sparsity it reached) and with stop: ratio at two ratios. Both fine-tuned alike.

    .venv/bin/python benchmarks/bench_granger.py p5 [--rounds 3] [--threads 1]
    .venv/bin/python benchmarks/bench_granger.py s3 [--seeds 0 1 2] [--finetune-epochs 3]
        [--causal iterations=4 prune_epochs=2]

Not a test: speed goals live here, the figures in docs/GRANGER_PRUNING.md.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import statistics
import subprocess
import sys
import time
from typing import Any

import psutil
import torch
import yaml
from rich.console import Console
from rich.table import Table
from torch import nn

from agent.granger.sgd import SGDSettings, loader, train_recorded
from agent.granger.validate.problem import Problem, ProblemSpec, causal_and_magnitude, causal_options, make_problem
from agent.data import load_dataset
from agent.fingerprint import machine_info
from agent.memory import peak_rss_mb, reset_peak_rss
from agent.models import classifier_head, prunable_layers
from agent.pruning import METHODS, PruneContext
from shared.sweep import DatasetSpec

CPU = torch.device("cpu")
BATCH = 16
# option overrides of each P5 case; the baseline SGD uses the case's momentum
P5_CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "consecutive": {"loss_change": "consecutive"},
    "momentum 0.9": {"momentum": 0.9},
    "2 passes (store)": {"lasso_passes": 2},
}
MEMORY_KINDS = ("sgd", "causal", "sgd-momentum", "causal-momentum")
S3_ZERO = (0.05, 0.5, 2.0)  # L1 coefficients for stop: zero
S3_RATIO = (0.9, 0.95, 0.98)


# --- P5 time ---

def causal_seconds(problem: Problem, options: dict[str, Any]) -> float:
    """One causal pruning of a copy of the base model (no post-training, no fine-tuning)."""
    model = copy.deepcopy(problem.base)
    method = METHODS.get("causal")(model, prunable_layers(model), classifier_head(model),
                                   problem.data.train[0][0][None], 1, 0.5, 0, causal_options(options),
                                   context=PruneContext(problem.data.train, CPU, BATCH, 0.02, 0))
    started = time.perf_counter()
    method.step(0.5)
    return time.perf_counter() - started


def loop_seconds(problem: Problem, epochs: int, momentum: float) -> float:
    """The same SGD loop as causal pruning's, with nothing recorded."""
    model = copy.deepcopy(problem.base)
    started = time.perf_counter()
    train_recorded(model, [], problem.data.train, epochs, SGDSettings(1e-3, momentum, BATCH), 0, CPU, None)
    return time.perf_counter() - started


def torch_sgd_seconds(problem: Problem, epochs: int, momentum: float) -> float:
    """Textbook training with torch.optim.SGD: the reference a user would compare with."""
    model = copy.deepcopy(problem.base).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=momentum)
    loss_fn = nn.CrossEntropyLoss()
    started = time.perf_counter()
    for epoch in range(epochs):
        for inputs, labels in loader(problem.data.train, BATCH, epoch):
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(inputs), labels).backward()
            optimizer.step()
    return time.perf_counter() - started


def p5_time(problem: Problem, rounds: int) -> Table:
    table = Table(title=f"P5 time: LeNet-5, digits ({len(problem.data.train)} images), batch {BATCH}, "
                        f"{torch.get_num_threads()} thread(s), medians of {rounds} interleaved rounds")
    for name in ("case", "epochs", "causal s", "loop s", "torch s", "/ loop", "/ torch"):
        table.add_column(name, justify="left" if name == "case" else "right")
    for name, overrides in P5_CASES.items():
        options = causal_options(overrides)
        epochs = options["iterations"] * options["prune_epochs"]
        runs: dict[str, list[float]] = {"causal": [], "loop": [], "torch": []}
        for _ in range(rounds):
            runs["causal"].append(causal_seconds(problem, overrides))
            runs["loop"].append(loop_seconds(problem, epochs, options["momentum"]))
            runs["torch"].append(torch_sgd_seconds(problem, epochs, options["momentum"]))
        causal, loop, reference = (statistics.median(runs[k]) for k in ("causal", "loop", "torch"))
        table.add_row(name, str(epochs), f"{causal:.2f}", f"{loop:.2f}", f"{reference:.2f}",
                      f"{causal / loop:.2f}", f"{causal / reference:.2f}")
    return table


# --- P5 memory (each kind in a fresh process) ---

def wide_mlp() -> nn.Module:
    """21 M parameters (84 MB) in two prunable layers: the weights dominate the memory."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(1024, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
                         nn.Linear(4096, 10))


def memory_worker(kind: str) -> dict[str, float]:
    """Peak RSS of one epoch of ``kind`` over the RSS just before, in MB and model sizes."""
    data = load_dataset(DatasetSpec("digits", train_samples=256), 32, 0).train
    model = wide_mlp()
    model_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    momentum = 0.9 if kind.endswith("momentum") else 0.0
    method = METHODS.get("causal")(model, prunable_layers(model), classifier_head(model), data[0][0][None],
                                   1, 0.5, 0, causal_options({"iterations": 1, "momentum": momentum}),
                                   context=PruneContext(data, CPU, BATCH, 0.02, 0))

    def run() -> None:
        if kind.startswith("causal"):
            method.step(0.5)
        else:
            train_recorded(model, [], data, 1, SGDSettings(1e-3, momentum, BATCH), 0, CPU, None)

    before_mb = psutil.Process().memory_info().rss / 2**20
    if not reset_peak_rss():
        raise SystemExit("this kernel does not let the peak RSS be reset: no P5 memory figure")
    run()
    extra_mb = peak_rss_mb() - before_mb
    return {"model_mb": model_mb, "extra_mb": extra_mb, "extra_models": extra_mb / model_mb}


def p5_memory(threads: int) -> Table:
    table = Table(title="P5 memory: wide MLP (21 M parameters), one epoch, peak RSS over RSS before")
    for name in ("kind", "model MB", "extra peak MB", "extra / model size"):
        table.add_column(name, justify="left" if name == "kind" else "right")
    results = {}
    for kind in MEMORY_KINDS:
        done = subprocess.run([sys.executable, __file__, "memory-worker", kind, "--threads", str(threads)],
                              check=True, capture_output=True, text=True)
        results[kind] = json.loads(done.stdout.splitlines()[-1])
        r = results[kind]
        table.add_row(kind, f"{r['model_mb']:.0f}", f"{r['extra_mb']:.0f}", f"{r['extra_models']:.2f}")
    for variant in ("", "-momentum"):
        added = results[f"causal{variant}"]["extra_models"] - results[f"sgd{variant}"]["extra_models"]
        table.add_row(f"causal{variant} - sgd{variant}", "", "", f"{added:.2f}")
    return table


# --- S3 ---

def s3_rows(seed: int, finetune_epochs: int, overrides: dict[str, Any]) -> list[dict[str, Any]]:
    problem = make_problem(ProblemSpec(seed=seed, finetune_epochs=finetune_epochs,
                                       causal_options=causal_options(overrides)), CPU)
    rows = []
    for stop, settings in (("zero", S3_ZERO), ("ratio", S3_RATIO)):
        spec = dataclasses.replace(problem.spec, causal_options=causal_options({**overrides, "stop": stop}))
        variant = dataclasses.replace(problem, spec=spec)
        for setting in settings:
            causal, magnitude = causal_and_magnitude(variant, setting, seed)
            rows.append({"seed": seed, "stop": stop, "setting": setting, "base": problem.base_accuracy,
                         "sparsity": causal.sparsity, "causal": causal.accuracy, "magnitude": magnitude.accuracy})
    return rows


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.fmean(values):.2f} ± {100 * sd:.2f}"


def s3_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """One line a setting, means ± standard deviations over the seeds (in %)."""
    lines = ["| causal | pruned % | causal acc % | magnitude acc % | causal - magnitude (pts) | base acc % |",
             "|---|---|---|---|---|---|"]
    for stop, settings in (("zero", S3_ZERO), ("ratio", S3_RATIO)):
        for setting in settings:
            same = [r for r in rows if r["stop"] == stop and r["setting"] == setting]
            label = f"stop: zero, l1_coeff {setting:g}" if stop == "zero" else f"stop: ratio {setting:g}"
            diffs = [r["causal"] - r["magnitude"] for r in same]
            lines.append(f"| {label} | {mean_sd([r['sparsity'] for r in same])} | "
                         f"{mean_sd([r['causal'] for r in same])} | {mean_sd([r['magnitude'] for r in same])} | "
                         f"{mean_sd(diffs)} | {mean_sd([r['base'] for r in same])} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("p5", "s3", "memory-worker"))
    parser.add_argument("kind", nargs="?", choices=MEMORY_KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds for P5 time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="S3 seeds")
    parser.add_argument("--finetune-epochs", type=int, default=3, help="S3 fine-tuning epochs, both methods")
    parser.add_argument("--causal", nargs="*", default=[], metavar="KEY=VALUE",
                        help="S3: causal options other than the defaults, e.g. iterations=4 prune_epochs=2")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.what == "memory-worker":
        print(json.dumps(memory_worker(args.kind)))
        return
    console = Console()
    info = machine_info()
    console.print(f"machine: {info['cpu_model']}, {info['cores_logical']} cores, torch {torch.__version__}, "
                  f"{args.threads} thread(s), load average {psutil.getloadavg()[0]:.1f}")
    if args.what == "p5":
        problem = make_problem(ProblemSpec(causal_options=causal_options({})), CPU)
        console.print(p5_time(problem, args.rounds))
        console.print(p5_memory(args.threads))
        console.print("goals: time ratio <= 2.0, memory <= 4 model sizes")
        return
    overrides = {key: yaml.safe_load(value) for key, _, value in (pair.partition("=") for pair in args.causal)}
    console.print(f"causal options: {causal_options(overrides)}, fine-tuning {args.finetune_epochs} epochs",
                  markup=False, highlight=False, soft_wrap=True)
    rows = [row for seed in args.seeds for row in s3_rows(seed, args.finetune_epochs, overrides)]
    for row in rows:
        console.print(json.dumps(row), markup=False, highlight=False, soft_wrap=True)
    console.print("\n".join(s3_markdown(rows)), markup=False, highlight=False, soft_wrap=True)


if __name__ == "__main__":
    main()
