"""What 2:4 sparse kernels buy on this GPU: a Linear layer dense against semi-structured, same dtype.

For each weight shape and batch size: one ``nn.Linear`` with a 2:4 weight (the mask of
``semi_structured_24``), timed dense in float16 and again after the torch backend's conversion
(``agent.backends.sparse24.apply_sparse_kernels``: ``to_sparse_semi_structured``), with CUDA
events around ``--reps`` forward passes after ``--warmup``, the median of ``--repeats`` such
runs. Same weights, same dtype, same input: the speed-up is the kernel's alone (an agent run's
2:4 rows run float16, its unpruned rows float32: see docs/GPU.md). Also checks that the two
outputs agree.

    .venv/bin/python benchmarks/bench_sparse24.py [--json] [--shapes 4096x4096,4096x1024,8192x8192]
                                                 [--batches 1,64,256,2048]

Needs a CUDA GPU of compute capability 8.0 or later: elsewhere it prints why and exits 3.
scripts/gpu_check.py runs it (``--json``) as part of its 2:4 check.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys

import torch
from torch import nn

from agent.backends.sparse24 import apply_sparse_kernels, device_refusal
from agent.pruning.semi_structured import two_of_four_mask

NO_KERNELS_EXIT = 3


def _ms_per_pass(model: nn.Module, x: torch.Tensor, warmup: int, reps: int, repeats: int) -> float:
    """Median over ``repeats`` of the mean time of ``reps`` passes, by CUDA events."""
    runs = []
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(reps):
                model(x)
            end.record()
            torch.cuda.synchronize()
            runs.append(start.elapsed_time(end) / reps)
    return statistics.median(runs)


def _linear(out_features: int, in_features: int) -> nn.Sequential:
    """A 2:4 Linear, and a head after it (the backend never converts a model's last Linear)."""
    layer = nn.Linear(in_features, out_features)
    with torch.no_grad():
        layer.weight.mul_(two_of_four_mask(layer.weight))
    return nn.Sequential(layer, nn.Linear(out_features, 8))


def measure(shape: tuple[int, int], batch: int, args: argparse.Namespace) -> dict[str, object]:
    torch.manual_seed(0)
    model = _linear(*shape).cuda().half().eval()
    x = torch.randn(batch, shape[1], device="cuda", dtype=torch.float16)
    dense_ms = _ms_per_pass(model[0], x, args.warmup, args.reps, args.repeats)
    with torch.inference_mode():
        want = model[0](x).float()
    plan = apply_sparse_kernels(model, {"target_ratio": 0.5}, {"dtype": "float16"}, "cuda:0")
    row: dict[str, object] = {"shape": f"{shape[0]}x{shape[1]}", "batch": batch, "dense_fp16_ms": dense_ms,
                              "sparse_kernel": plan.used, "reason": plan.reason}
    if plan.used:
        sparse_ms = _ms_per_pass(model[0], x, args.warmup, args.reps, args.repeats)
        with torch.inference_mode():
            got = model[0](x).float()
        row.update(sparse_24_ms=sparse_ms, speedup=dense_ms / sparse_ms,
                   max_abs_diff=float((got - want).abs().max()))
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default="4096x1024,4096x4096,8192x8192", help="out x in, comma-separated")
    parser.add_argument("--batches", default="1,64,256,2048")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    args = parser.parse_args(argv)
    why = "no CUDA device" if not torch.cuda.is_available() else device_refusal("cuda:0")
    if why is not None:
        print(json.dumps({"error": why}) if args.json else f"bench_sparse24: {why}")
        return NO_KERNELS_EXIT
    shapes = [tuple(int(n) for n in s.split("x")) for s in args.shapes.split(",")]
    rows = [measure(shape, int(b), args) for shape in shapes for b in args.batches.split(",")]
    device = {"gpu": torch.cuda.get_device_name(0),
              "capability": ".".join(map(str, torch.cuda.get_device_capability(0))),
              "torch": torch.__version__, "cusparselt": torch.backends.cusparselt.is_available()}
    if args.json:
        print(json.dumps({"device": device, "rows": rows}))
        return 0
    print(f"{device}")
    print(f"{'shape':>10} {'batch':>6} {'dense fp16 ms':>14} {'2:4 ms':>9} {'speed-up':>9} {'max |diff|':>11}")
    for r in rows:
        if r["sparse_kernel"]:
            print(f"{r['shape']:>10} {r['batch']:>6} {r['dense_fp16_ms']:>14.4f} {r['sparse_24_ms']:>9.4f} "
                  f"{r['speedup']:>8.2f}x {r['max_abs_diff']:>11.4f}")
        else:
            print(f"{r['shape']:>10} {r['batch']:>6} {r['dense_fp16_ms']:>14.4f}  no kernel: {r['reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
