"""P1 and P2: is the agent's latency figure right, and is it repeatable?

P1  agent p50 / torch.utils.benchmark.Timer p50, same model, batch, threads and grad
    mode, measured side by side in one process, interleaved over several rounds so that
    drift of a shared machine hits both alike. Goal <= 1.03.
P2  coefficient of variation of the agent's p50 over 5 separate agent processes
    (cold start each: a new process, a new model, a new warm-up). Goal <= 2%.

    .venv/bin/python benchmarks/bench_latency.py            # prints a table
    .venv/bin/python benchmarks/bench_latency.py --rounds 3

Not a test: speed goals live here, the figures in docs/PERFORMANCE.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from dataclasses import dataclass

import torch
from rich.console import Console
from rich.table import Table
from torch.utils import benchmark as tbench

from agent.backends import BACKENDS
from agent.fingerprint import machine_info
from agent.measure import measure_model
from agent.models import build_model
from shared.sweep import TimingSpec

CASES = (("lenet5", 1), ("lenet5", 32), ("resnet18", 1), ("resnet18", 8))
TIMING = TimingSpec(warmup_s=0.2, min_reps=30, min_time_s=1.0, max_time_s=10.0, percentiles=(50,))  # P1, P2: medians


@dataclass
class Case:
    model_name: str
    batch: int

    def model(self) -> torch.nn.Module:
        torch.manual_seed(0)
        return build_model(self.model_name, 10, 1, 32).eval()

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.batch, 1, 32, 32)


def agent_p50(case: Case, model: torch.nn.Module, threads: int | None = None) -> float:
    result = measure_model(BACKENDS.get("torch")(), model, case.shape, "cpu", threads, TIMING)
    return result.stats.columns(case.batch, TIMING)["latency_p50_ms"]


def timer_p50(case: Case, model: torch.nn.Module) -> float:
    x = torch.randn(case.shape)
    timer = tbench.Timer("model(x)", globals={"model": model, "x": x},
                         num_threads=torch.get_num_threads())  # Timer defaults to 1 thread
    with torch.inference_mode():
        model(x)
        return timer.blocked_autorange(min_run_time=TIMING.min_time_s).median * 1000


def p1(case: Case, rounds: int) -> tuple[float, float, float]:
    model = case.model()
    agent, timer = [], []
    for _ in range(rounds):
        agent.append(agent_p50(case, model))
        timer.append(timer_p50(case, model))
    a, t = statistics.median(agent), statistics.median(timer)
    return a, t, a / t


def p2(case: Case, runs: int, threads: int | None) -> tuple[list[float], float]:
    code = ("import json,sys; sys.path.insert(0,'benchmarks'); from bench_latency import *; "
            f"c=Case({case.model_name!r},{case.batch}); print(json.dumps(agent_p50(c, c.model(), {threads})))")
    p50s = [json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                      text=True).stdout) for _ in range(runs)]
    return p50s, statistics.stdev(p50s) / statistics.mean(p50s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds for P1")
    parser.add_argument("--runs", type=int, default=5, help="agent processes for P2")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op threads for both timers (default: torch's, all cores)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine_info()
    console = Console()
    console.print(f"machine: {info['cpu_model']}, {info['cores_logical']} cores, {info['mem_total_gb']} GB, "
                  f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    table = Table(title="P1 agent vs torch.utils.benchmark, P2 run-to-run CV")
    for col in ("model", "batch", "agent p50 ms", "Timer p50 ms", "P1 ratio", "P2 p50s ms", "P2 CV"):
        table.add_column(col, justify="right")
    for name, batch in CASES:
        case = Case(name, batch)
        a, t, ratio = p1(case, args.rounds)
        p50s, cv = p2(case, args.runs, args.threads)
        table.add_row(name, str(batch), f"{a:.3f}", f"{t:.3f}", f"{ratio:.3f}",
                      " ".join(f"{v:.2f}" for v in p50s), f"{cv:.2%}")
    console.print(table)
    console.print("goals: P1 ratio <= 1.03, P2 CV <= 2%")


if __name__ == "__main__":
    main()
