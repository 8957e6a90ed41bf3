"""A stand-in for the nvprof, nsys and ncu binaries, for machines without a GPU.

Tests put a two-line script named after the tool on PATH (:func:`install`) that runs it. It does what the plumbing needs the real
tool to do, no more: it runs the command it is given (the profile target, which really
loads and runs the artifact) and, when that exits 0, writes a REAL captured output of the
tool (tests/fixtures/gpuprofilers, sources in the README there) where the arguments say.
It measures nothing; it proves that the child runs, that the file is found and read, and
that the columns land. ``nsys profile`` writes a placeholder .nsys-rep (nsys's own report
format is binary; only ``nsys stats`` reads it, and this stand-in's ``stats`` ignores it).

Environment: FAKE_PROFILER_MODE = ok (default) | hang (start the target, then a sleeping
grandchild, write its pid to FAKE_PROFILER_PIDFILE, and never exit) | fail (exit 3 with a
message) | garbage (write a file with no table) | old-nsys (``nsys stats`` knows only the
2021 report names, as nsys before 2023 did).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "gpuprofilers"
CAPTURE = {"nvprof": "nvprof_gpu_summary_csv_gtx.csv", "ncu": "ncu_2025.3_h200_raw_logfile.csv"}
NSYS = FIXTURES / "nsys_stats_column_a100.txt"
OLD_NAMES = {"gpukernsum": "cuda_gpu_kern_sum", "cudaapisum": "cuda_api_sum", "gpumemtimesum": "cuda_gpu_mem_time_sum"}


def install(bin_dir: Path, tool: str) -> Path:
    """A script ``bin_dir/tool`` that runs this stand-in as ``tool``."""
    script = bin_dir / tool
    script.write_text(f'#!/bin/sh\nFAKE_PROFILER_TOOL={tool} exec "{sys.executable}" "{Path(__file__)}" "$@"\n')
    script.chmod(0o755)
    return script


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def target(args: list[str]) -> list[str]:
    """The profiled command: from the first absolute path to an executable on."""
    start = next(i for i, a in enumerate(args) if os.path.isabs(a) and os.access(a, os.X_OK) and Path(a).is_file())
    return args[start:]


def nsys_section(report: str) -> str:
    """One report's table from the captured ``nsys stats`` output."""
    parts = re.split(r"^\[\d+/\d+\] Executing '(\w+)' stats report$", NSYS.read_text(), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))[report]


def nsys_stats(args: list[str], mode: str) -> int:
    prefix, names = option(args, "--output"), option(args, "--report").split(",")
    if mode == "old-nsys" and not set(names) <= set(OLD_NAMES):
        print(f"ERROR: Report '{names[0]}' could not be found.", file=sys.stderr)
        return 1
    for name in names:
        Path(f"{prefix}_{name}.csv").write_text(nsys_section(OLD_NAMES.get(name, name)))
    return 0


def main() -> int:
    tool, args, mode = os.environ["FAKE_PROFILER_TOOL"], sys.argv[1:], os.environ.get("FAKE_PROFILER_MODE", "ok")
    if tool == "nsys" and args[0] == "stats":
        return nsys_stats(args, mode)
    if mode == "fail":  # as ncu does when it cannot profile: the reason in its log file, exit non-zero
        print(f"==ERROR== {tool}: the stand-in was told to fail", file=sys.stderr)
        if "--log-file" in args:
            Path(option(args, "--log-file")).write_text(f"==ERROR== {tool} (stand-in): told to fail\n")
        return 3
    child = subprocess.Popen(target(args))
    if mode == "hang":
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        Path(os.environ["FAKE_PROFILER_PIDFILE"]).write_text(str(sleeper.pid))
        while True:
            time.sleep(60)
    if child.wait() != 0:
        return child.returncode
    if tool == "nsys":
        Path(f"{option(args, '-o')}.nsys-rep").write_bytes(b"stand-in: not a real nsys report\n")
        return 0
    out = Path(option(args, "--log-file"))
    out.write_text("==PROF== nothing to read here\n" if mode == "garbage" else (FIXTURES / CAPTURE[tool]).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
