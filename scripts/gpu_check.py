"""What works on this CUDA machine: the product's GPU paths run for real, one check at a time.

Run through ``scripts/gpu-check.sh`` (which installs what is missing first). Each check is a
function that returns a :class:`Check`; a check that raises is a ``FAIL`` with its reason, and
the next one runs. The checks drive the product as a user would (``agent info``, ``agent
run`` on small sweeps) and read the rows it wrote; nothing here measures anything itself.

Exit status: 0 when every applicable check passed, 1 when one failed, 3 when the machine has no
usable CUDA GPU (every GPU check is then ``n/a`` with the reason), 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

NO_GPU_EXIT = 3
ROOT = Path(__file__).resolve().parents[1]
OK, FAIL, NA = "ok", "FAIL", "n/a"

# A small sweep that touches every GPU path of a trial: build on the GPU, two methods (mask and
# real removal), both backends, the NVML sampler and the separate kernel-profile pass.
SWEEP = {
    "name": "gpu-check", "seed": 0,
    "dataset": {"name": "digits", "train_samples": 512, "eval_samples": 200},
    "input_size": "small", "models": ["lenet5", "resnet18"],
    "methods": [{"name": "l1_unstructured", "scope": "global"}, {"name": "structured", "importance": "l1"}],
    "ratios": [0.0, 0.5], "schedule": {"kind": "one_shot", "finetune_epochs": 1},
    "batch_sizes": [1, 64], "backends": ["torch", "onnxruntime"], "devices": ["cuda"],
    "train": {"epochs": 2, "lr": 0.05, "batch_size": 64},
    "timing": {"warmup_s": 0.2, "min_reps": 20, "min_time_s": 0.3, "max_time_s": 2.0},
}
# A ladder whose middle rung cannot fit a GPU of any size sold today (ResNet18's first conv at
# 32x32 needs 64 x 32 x 32 x 4 bytes = 256 KiB a sample: about 128 GiB at 2**19, twice that at
# 2**20): the middle rung must be an `oom` row, the top one `skipped`, the bottom one `ok`.
OOM_LADDER = [64, 2**19, 2**20]
OOM_SWEEP = {
    **SWEEP, "name": "gpu-check-oom", "models": ["resnet18"], "methods": ["l1_unstructured"],
    "ratios": [0.0], "batch_sizes": OOM_LADDER, "backends": ["torch"],
    "telemetry": {"gpu_profile": False},
    "timing": {"warmup_s": 0.05, "min_reps": 3, "min_time_s": 0.05, "max_time_s": 1.0},
}
# The kernel profile by each external profiler on PATH (Nsight Compute is opt-in: it serialises
# kernels), on the smallest part of the sweep.
PROFILER_SWEEP = {
    **SWEEP, "name": "gpu-check-profilers", "models": ["lenet5"], "methods": ["l1_unstructured"],
    "ratios": [0.0], "batch_sizes": [8], "backends": ["torch"],
}
# 2:4 sparse kernels: AlexNet's hidden Linears (4096x1024, 4096x4096 at 32x32) fit every
# kernel's tile; ratio 0 is its dense float32 base. benchmarks/bench_sparse24.py then times one
# Linear dense against 2:4 in the same dtype.
SPARSE24_SWEEP = {
    **SWEEP, "name": "gpu-check-sparse24", "models": ["alexnet"], "methods": ["semi_structured_24"],
    "ratios": [0.0, 0.5], "batch_sizes": [1, 256], "backends": ["torch"], "telemetry": {"gpu_profile": False},
}
EXTERNAL_PROFILERS = ("nvprof", "nsys", "ncu")
NVML_COLUMNS = ("gpu_util_mean_pct", "gpu_mem_peak_mb", "gpu_power_mean_w", "gpu_energy_j")
PROFILE_COLUMNS = ("gpu_kernel_time_ms", "gpu_kernel_count", "gpu_profiler")


@dataclass
class Check:
    name: str
    result: str
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)


class CheckContext:
    """What the checks share: the output folder, the agent's argv, what was learnt so far."""

    def __init__(self, out: Path, timeout_s: float) -> None:
        self.out = out
        self.timeout_s = timeout_s
        self.agent = [sys.executable, "-m", "agent.cli"]
        self.gpu: dict[str, Any] | None = None  # set by the environment check
        self.cache: dict[str, Any] = {}  # runs that several checks read

    def agent_run(self, sweep: dict[str, Any], name: str) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
        folder = self.out / name
        folder.mkdir(parents=True, exist_ok=True)
        sweep_file = folder / "sweep.yml"
        sweep_file.write_text(yaml.safe_dump(sweep))
        env = {**os.environ, "EDGEPRUNE_CACHE": str(self.out / "cache")}
        done = run_bounded([*self.agent, "run", "--sweep", str(sweep_file), "--out", str(folder / "out")],
                           self.timeout_s, env)
        (folder / "agent.log").write_text(done.stdout + done.stderr)
        results = folder / "out" / "results.jsonl"
        rows = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
        return done, rows


def run_bounded(argv: list[str], timeout_s: float, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
    """Run argv in a process group of its own; past the limit the whole group is killed (the
    agent's workers too) and the result says so, so that the next check still runs."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\ngpu-check: killed after {timeout_s:.0f} s"
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _tail(text: str, lines: int = 6) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


# ---------------------------------------------------------------------------- the checks

def check_environment(ctx: CheckContext) -> Check:
    """The GPU, the driver, and whether this torch build can run on the GPU at all."""
    import torch

    facts: dict[str, Any] = {"torch": torch.__version__, "torch_cuda": torch.version.cuda,
                             "profilers_on_path": {t: shutil.which(t) for t in ("nvprof", "nsys", "ncu", "tegrastats")}}
    smi = shutil.which("nvidia-smi")
    if smi:
        query = subprocess.run([smi, "--query-gpu=name,driver_version,memory.total,compute_cap",
                                "--format=csv,noheader"], capture_output=True, text=True, timeout=60)
        facts["nvidia_smi"] = query.stdout.strip() or query.stderr.strip()
    if not torch.cuda.is_available():
        return Check("environment", NA, "no CUDA GPU: torch.cuda.is_available() is False", facts)
    cc = torch.cuda.get_device_capability(0)
    arch = f"sm_{cc[0]}{cc[1]}"
    archs = torch.cuda.get_arch_list()
    ctx.gpu = {"name": torch.cuda.get_device_name(0), "compute_capability": f"{cc[0]}.{cc[1]}",
               "memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)}
    facts.update(ctx.gpu, arch_list=archs)
    try:
        import onnxruntime as ort
        facts["onnxruntime"] = ort.__version__
        facts["ort_providers"] = ort.get_available_providers()
    except ImportError as exc:
        facts["onnxruntime"] = f"not importable: {exc}"
    # torch runs a GPU whose own architecture it was built for, or a newer one through PTX
    supported = arch in archs or any(a.startswith("compute_") for a in archs)
    detail = f"{ctx.gpu['name']} (cc {ctx.gpu['compute_capability']}), torch {torch.__version__}"
    return Check("environment", OK if supported else FAIL,
                 detail if supported else f"{detail} has no kernels for {arch} ({', '.join(archs)})", facts)


def check_agent_info(ctx: CheckContext) -> Check:
    done = subprocess.run([*ctx.agent, "info", "--json"], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        return Check("agent info", FAIL, _tail(done.stderr))
    info = json.loads(done.stdout)
    text = json.dumps(info)
    gpu_named = ctx.gpu is not None and ctx.gpu["name"] in text
    return Check("agent info", OK if gpu_named else FAIL,
                 f"device_class {info.get('device_class')}" + ("" if gpu_named else "; the GPU is not in the fingerprint"),
                 {"device_class": info.get("device_class"), "gpu": info.get("gpu")})


def check_runtime(ctx: CheckContext) -> Check:
    """`agent info --runtime`, what the collector's deploy asks before it accepts a host."""
    done = run_bounded([*ctx.agent, "info", "--runtime"], 300)
    support = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    facts = {k: support.get(k) for k in ("torch", "onnxruntime", "problems", "warnings")}
    if done.returncode == 0 and not support.get("problems"):
        warn = f"; warnings: {support['warnings']}" if support.get("warnings") else ""
        return Check("runtime", OK, f"torch can run this GPU{warn}", facts)
    return Check("runtime", FAIL, "; ".join(support.get("problems") or [_tail(done.stderr, 2)]), facts)


def _missing(rows: list[dict], columns: tuple[str, ...]) -> dict[str, int]:
    """How many rows lack each column (null), for the columns some row lacks."""
    missing = {c: sum(1 for r in rows if r.get(c) is None) for c in columns}
    return {c: n for c, n in missing.items() if n}


def _reasons(rows: list[dict], probe: str) -> list[str]:
    reasons = set()
    for row in rows:
        errors = row.get("probe_errors") or "{}"
        errors = json.loads(errors) if isinstance(errors, str) else errors
        if probe in errors:
            reasons.add(str(errors[probe])[:200])
    return sorted(reasons)


def _sweep_rows(ctx: CheckContext) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    """The small sweep on cuda, run once and read by the checks that follow."""
    if "sweep" not in ctx.cache:
        started = time.monotonic()
        ctx.cache["sweep"] = ctx.agent_run(SWEEP, "sweep")
        ctx.cache["sweep_wall_s"] = round(time.monotonic() - started, 1)
    return ctx.cache["sweep"]


def _statuses(rows: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


def _latencies(rows: list[dict]) -> dict[str, float | None]:
    return {f"{r['model']}/{r['method']}/{r['target_ratio']}/b{r['batch_size']}": r.get("latency_p50_ms")
            for r in rows if r["status"] == "ok"}


def check_torch(ctx: CheckContext) -> Check:
    """Every torch trial of the sweep ok, on the GPU, with its peak GPU memory."""
    done, rows = _sweep_rows(ctx)
    rows = [r for r in rows if r["backend"] == "torch"]
    facts: dict[str, Any] = {"exit": done.returncode, "statuses": _statuses(rows), "wall_s": ctx.cache["sweep_wall_s"],
                             "devices": sorted({r["device"] for r in rows}), "latency_p50_ms": _latencies(rows),
                             "peak_gpu_mem_mb": _missing(rows, ("peak_gpu_mem_mb",)),
                             "errors": sorted({str(r.get("error"))[:300] for r in rows if r["status"] != "ok"})}
    problems = []
    if not rows or facts["statuses"] != {"ok": len(rows)}:
        problems.append(f"statuses {facts['statuses']}: {facts['errors'][:2]}")
    if any(not str(r["device"]).startswith("cuda") for r in rows):
        problems.append(f"devices {facts['devices']}")
    if facts["peak_gpu_mem_mb"]:
        problems.append(f"peak_gpu_mem_mb null in {facts['peak_gpu_mem_mb']} rows")
    return Check("torch on cuda", FAIL if problems else OK,
                 "; ".join(problems) or f"{len(rows)} trials ok on {facts['devices']}", facts)


def check_onnxruntime(ctx: CheckContext) -> Check:
    """The onnxruntime trials on cuda: ok with the CUDA provider, or skipped where this
    onnxruntime build has none (the CPU package), which is n/a, not a failure."""
    done, rows = _sweep_rows(ctx)
    rows = [r for r in rows if r["backend"] == "onnxruntime"]
    facts = {"statuses": _statuses(rows), "providers_used": sorted({str(r.get("ort_providers")) for r in rows}),
             "latency_p50_ms": _latencies(rows),
             "errors": sorted({str(r.get("error"))[:300] for r in rows if r["status"] != "ok"})}
    if rows and facts["statuses"] == {"ok": len(rows)} and all("cuda" in str(r.get("ort_providers")) for r in rows):
        return Check("onnxruntime on cuda", OK, f"{len(rows)} trials ok, providers {facts['providers_used']}", facts)
    if rows and facts["statuses"] == {"skipped": len(rows)} and "CUDAExecutionProvider" not in _ort_providers():
        return Check("onnxruntime on cuda", NA, "this onnxruntime has no CUDA provider (install onnxruntime-gpu): "
                     f"{len(rows)} trials skipped, saying so", facts)
    return Check("onnxruntime on cuda", FAIL, f"statuses {facts['statuses']}: {facts['errors'][:2]}", facts)


def _ort_providers() -> list[str]:
    try:
        import onnxruntime as ort
    except ImportError:
        return []
    return list(ort.get_available_providers())


def _columns_check(name: str, rows: list[dict], columns: tuple[str, ...], probe: str,
                   facts: dict[str, Any], done: str) -> Check:
    """OK where every row has every column; else which are null, with the probe's reasons."""
    missing = _missing(rows, columns)
    facts = {**facts, "missing": missing, "reasons": _reasons(rows, probe)}
    if not rows:
        return Check(name, FAIL, "no ok rows to read", facts)
    if missing:
        return Check(name, FAIL, f"null in rows: {missing}; {facts['reasons'][:2]}", facts)
    return Check(name, OK, done, facts)


def check_nvml(ctx: CheckContext) -> Check:
    """The NVML sampler's columns in every ok GPU row."""
    rows = [r for r in _sweep_rows(ctx)[1] if r["status"] == "ok"]
    values = {c: sorted(r.get(c) for r in rows if r.get(c) is not None)[-3:] for c in NVML_COLUMNS}
    return _columns_check("NVML sampler", rows, NVML_COLUMNS, "nvml", {"values": values},
                          f"{len(rows)} rows with {', '.join(NVML_COLUMNS)}")


def check_kernel_profile(ctx: CheckContext) -> Check:
    """The separate kernel-profile pass: columns filled and the profiler that made them named."""
    rows = [r for r in _sweep_rows(ctx)[1] if r["status"] == "ok" and r["backend"] == "torch"]
    used = sorted({str(r.get("gpu_profiler")) for r in rows})
    counts = sorted({r.get("gpu_kernel_count") for r in rows if r.get("gpu_kernel_count") is not None})
    return _columns_check("kernel profile", rows, PROFILE_COLUMNS, "gpuprofile",
                          {"profilers_used": used, "kernel_counts": counts}, f"{len(rows)} rows profiled by {used}")


def check_external_profilers(ctx: CheckContext) -> Check:
    """Each external profiler on PATH asked for by name: its numbers in the row, or its reason."""
    found = [tool for tool in EXTERNAL_PROFILERS if shutil.which(tool)]
    if not found:
        return Check("external profilers", NA, f"none of {', '.join(EXTERNAL_PROFILERS)} is on PATH")
    results: dict[str, Any] = {}
    for tool in found:
        sweep = {**PROFILER_SWEEP, "name": f"gpu-check-{tool}", "telemetry": {"gpu_profiler": tool}}
        _, rows = ctx.agent_run(sweep, f"profiler-{tool}")
        row = rows[0] if rows else {}
        results[tool] = {"status": row.get("status"), "gpu_profiler": row.get("gpu_profiler"),
                         "gpu_kernel_count": row.get("gpu_kernel_count"),
                         "gpu_kernel_time_ms": row.get("gpu_kernel_time_ms"),
                         "reason": _reasons(rows, "gpuprofile")}
    worked = [t for t, r in results.items() if r["gpu_profiler"] == t and r["gpu_kernel_count"]]
    failed = {t: r["reason"] or r["status"] for t, r in results.items() if t not in worked}
    return Check("external profilers", FAIL if failed else OK,
                 f"worked: {worked or 'none'}" + (f"; failed: {failed}" if failed else ""), results)


def check_oom(ctx: CheckContext) -> Check:
    """A CUDA out-of-memory is a row (`oom`), the larger batch `skipped`, the smaller `ok`."""
    done, rows = ctx.agent_run(OOM_SWEEP, "oom")
    by_batch = {r["batch_size"]: r["status"] for r in rows}
    want = {OOM_LADDER[0]: "ok", OOM_LADDER[1]: "oom", OOM_LADDER[2]: "skipped"}
    oom_error = next((str(r.get("error"))[:200] for r in rows if r["status"] == "oom"), None)
    facts = {"exit": done.returncode, "statuses_by_batch": by_batch, "oom_error": oom_error,
             "errors": sorted({str(r.get("error"))[:300] for r in rows if r["status"] not in ("ok", "oom")})}
    if by_batch == want:
        return Check("CUDA OOM", OK, f"batch {OOM_LADDER[1]}: oom, then skipped; exit {done.returncode}", facts)
    return Check("CUDA OOM", FAIL, f"want {want}, got {by_batch}: {facts['errors'][:1]} {_tail(done.stderr, 2)}", facts)


def check_sparse24(ctx: CheckContext) -> Check:
    """A 2:4 variant's rows say the sparse kernels ran (n/a below compute capability 8.0, where
    they must say why not), and the benchmark's dense-against-2:4 speed-ups of one Linear."""
    done, rows = ctx.agent_run(SPARSE24_SWEEP, "sparse24")
    pruned = [r for r in rows if r["target_ratio"] > 0]
    facts: dict[str, Any] = {
        "exit": done.returncode, "statuses": _statuses(rows), "latency_p50_ms": _latencies(rows),
        "sparse_kernel": sorted({str(r.get("sparse_kernel")) for r in pruned}),
        "reasons": sorted({str(r.get("sparse_kernel_reason")) for r in pruned}),
        "errors": sorted({str(r.get("error"))[:300] for r in rows if r["status"] != "ok"})}
    bench = run_bounded([sys.executable, str(ROOT / "benchmarks" / "bench_sparse24.py"), "--json"], ctx.timeout_s)
    (ctx.out / "bench-sparse24.log").write_text(bench.stdout + bench.stderr)
    try:
        facts["bench"] = json.loads(bench.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        facts["bench"] = {"error": _tail(bench.stdout + bench.stderr, 3)}
    speedups = {f"{r['shape']}/b{r['batch']}": round(r["speedup"], 2)
                for r in facts["bench"].get("rows", []) if r.get("speedup") is not None}
    capability = tuple(int(n) for n in str((ctx.gpu or {}).get("compute_capability", "0.0")).split("."))
    if capability < (8, 0):
        return Check("2:4 sparse kernels", NA, f"compute capability below 8.0; the rows say {facts['reasons']}", facts)
    if not pruned or facts["statuses"] != {"ok": len(rows)} or facts["sparse_kernel"] != ["True"]:
        return Check("2:4 sparse kernels", FAIL, f"statuses {facts['statuses']}, sparse_kernel "
                     f"{facts['sparse_kernel']}: {facts['reasons'][:1]} {facts['errors'][:1]}", facts)
    if not speedups:
        return Check("2:4 sparse kernels", FAIL, f"rows ok, benchmark: {facts['bench'].get('error')}", facts)
    return Check("2:4 sparse kernels", OK, f"{facts['reasons'][0]}; Linear speed-up over dense float16: {speedups}",
                 facts)


def check_gpu_tests(ctx: CheckContext) -> Check:
    """The test suite's own GPU tests (skipped everywhere else)."""
    files = [str(ROOT / "tests" / f) for f in GPU_TEST_FILES]
    done = run_bounded([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", *files],
                       ctx.timeout_s, {**os.environ, "EDGEPRUNE_CACHE": str(ctx.out / "cache")})
    (ctx.out / "gpu-tests.log").write_text(done.stdout + done.stderr)
    last = _tail(done.stdout, 1)
    return Check("gpu tests", OK if done.returncode == 0 and "passed" in last else FAIL, last)


# name, function, needs a GPU; in the order they run
CHECKS: tuple[tuple[str, Callable[[CheckContext], Check], bool], ...] = (
    ("environment", check_environment, False),
    ("agent info", check_agent_info, True),
    ("runtime", check_runtime, True),
    ("torch on cuda", check_torch, True),
    ("onnxruntime on cuda", check_onnxruntime, True),
    ("NVML sampler", check_nvml, True),
    ("kernel profile", check_kernel_profile, True),
    ("external profilers", check_external_profilers, True),
    ("CUDA OOM", check_oom, True),
    ("2:4 sparse kernels", check_sparse24, True),
    ("gpu tests", check_gpu_tests, True),
)
GPU_TEST_FILES = ("integration/test_gpu.py", "integration/test_external_profile.py", "unit/test_probes_gpuprofile.py",
                  "unit/test_probes_nvml.py")


def run_checks(ctx: CheckContext) -> list[Check]:
    results = []
    for name, check, needs_gpu in CHECKS:
        if needs_gpu and ctx.gpu is None:
            results.append(Check(name, NA, "no usable CUDA GPU"))
            continue
        try:
            results.append(check(ctx))
        except Exception as exc:  # noqa: BLE001 - one check's failure is its row; the next one runs
            results.append(Check(name, FAIL, f"{type(exc).__name__}: {exc}"))
        print(f"{results[-1].result:>4}  {name}: {results[-1].detail}", flush=True)
    return results


def format_summary(results: list[Check]) -> list[str]:
    width = max(len(c.name) for c in results)
    return [f"{c.name:<{width}}  {c.result:<4}  {c.detail}" for c in results]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results/gpu-check"),
                        help="folder for the sweeps' results and summary.json (default: results/gpu-check)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed each agent run (default 900)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results = run_checks(CheckContext(args.out, args.timeout))
    (args.out / "summary.json").write_text(json.dumps([asdict(c) for c in results], indent=1, default=str))
    print("\n".join(["", "GPU check summary:", *format_summary(results)]))
    if results[0].result == NA:
        return NO_GPU_EXIT
    return 1 if any(c.result == FAIL for c in results) else 0


if __name__ == "__main__":
    sys.exit(main())
