"""The report at fleet scale: 50 hosts x 1,000 trials -> report.html, how long it takes to make,
how big it is, and how long a browser takes to open it.

The fleet is synthetic (tests/synthetic/fleet_folder.py, rows made with shared.schema.make_row):
one folder a host as `collector run` writes it, 8 device classes, 5 models x 5 methods x
5 ratios x 4 batch sizes x 2 backends a host, OOM and skipped rows on the small devices.

    .venv/bin/python benchmarks/bench_report.py                    # 50 x 1,000, 3 runs
    .venv/bin/python benchmarks/bench_report.py --hosts 8 --trials 200 --runs 1 --keep /tmp/fleet

With a synthetic analysis.json (made-up effects, 2 a device class; the causal section's figures
and tables as a real one gives them; `--no-analysis` leaves it out). Generation: each run is a
fresh process (imports included), timed from outside, with the stages timed inside it.
Browser: headless Chromium, timed from outside: `--dump-dom` returns after the page's load
event; `--screenshot` of a 1400 px wide window also lays out and paints it (900 px tall: the
first screen; 20,000 px: the whole page); each minus the same command on an empty page
(Chromium's own start-up). Not a test: the figures go in docs/PERFORMANCE.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from collector.analysis.output import dump_analysis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the synthetic data is under tests/
from tests.synthetic.fleet_folder import PLATFORMS, synthetic_analysis, write_fleet  # noqa: E402

GOAL_LOAD_S = 2.0   # "opens in a second or two"
STAGES = """
import json, sys, time
from pathlib import Path
start = time.perf_counter()
from collector.report import export
from collector.report.api import build_report
from collector.report.data import load_report_data
imported = time.perf_counter()
data = load_report_data(sys.argv[1])
loaded = time.perf_counter()
report = build_report(data)
built = time.perf_counter()
export.write(report, Path(sys.argv[1]) / "report.html")
written = time.perf_counter()
print(json.dumps({"import": imported - start, "read rows": loaded - imported, "sections": built - loaded,
                  "write": written - built, "rows": len(data.rows)}))
"""
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def generate(folder: Path) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", STAGES, str(folder)], check=True, capture_output=True, text=True)
    return time.perf_counter() - start, json.loads(done.stdout)


def browser_s(chromium: str, page: Path, *action: str) -> float:
    """Wall seconds of one headless Chromium command on ``page``, with a fresh profile."""
    with tempfile.TemporaryDirectory() as profile:
        start = time.perf_counter()
        subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *action, page.as_uri()],
                       check=True, capture_output=True, timeout=120)
        return time.perf_counter() - start


def browser(chromium: str, page: Path, rounds: int) -> dict[str, float]:
    """Median seconds beyond Chromium's own start-up, to load (dump the DOM) and to paint."""
    blank = page.with_name("blank.html")
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    actions = {"load": ("--dump-dom",),  # returns after the load event
               "first screen": ("--window-size=1400,900", f"--screenshot={page.with_name('shot-top.png')}"),
               "whole page": ("--window-size=1400,20000", f"--screenshot={page.with_name('shot-all.png')}")}
    times: dict[str, list[float]] = {f"{who} {what}": [] for what in actions for who in ("blank", "report")}
    for _ in range(rounds):  # interleaved, so that a busy moment hits both
        for what, action in actions.items():
            times[f"blank {what}"].append(browser_s(chromium, blank, *action))
            times[f"report {what}"].append(browser_s(chromium, page, *action))
    medians = {k: statistics.median(v) for k, v in times.items()}
    for what in actions:
        medians[what] = medians[f"report {what}"] - medians[f"blank {what}"]
    return medians


def sizes(folder: Path) -> dict[str, float]:
    page = (folder / "report.html").read_text(encoding="utf-8")
    tables = folder / "report-tables"
    svgs = page.split("<svg")[1:]
    return {"html_kb": len(page.encode()) / 1024, "figures": len(svgs),
            "largest_svg_kb": max((len(s.encode()) for s in svgs), default=0) / 1024,
            "tables_kb": sum(p.stat().st_size for p in tables.glob("*.csv")) / 1024,
            "csv_files": len(list(tables.glob("*.csv"))), "results_mb": sum(
                p.stat().st_size for p in folder.glob("*/results.jsonl")) / 2**20}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--trials", type=int, default=1000, help="trials a host (at most 1,000)")
    parser.add_argument("--runs", type=int, default=3, help="report generations, each a fresh process")
    parser.add_argument("--rounds", type=int, default=5, help="browser loads of each page")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="write the fleet here and keep it")
    parser.add_argument("--no-analysis", action="store_true",
                        help="no analysis.json (by default a synthetic one: the causal section's figures too)")
    args = parser.parse_args()
    console = Console(highlight=False)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        start = time.perf_counter()
        write_fleet(folder, hosts=args.hosts, trials_per_host=args.trials)
        if not args.no_analysis:
            classes = [p.device_class for p in PLATFORMS[:args.hosts]]
            dump_analysis(synthetic_analysis(classes, args.hosts * args.trials), folder)
        console.print(f"fleet: {folder} ({args.hosts} hosts x {args.trials} trials) in "
                      f"{time.perf_counter() - start:.1f} s; load average {os.getloadavg()[0]:.2f}")
        runs = [generate(folder) for _ in range(args.runs)]
        table = Table(title=f"report of {runs[0][1]['rows']} rows, {args.runs} fresh processes")
        for header in ("run", "wall s", "import", "read rows", "sections", "write"):
            table.add_column(header, justify="right")
        for i, (wall, stages) in enumerate(runs, 1):
            table.add_row(str(i), f"{wall:.1f}", *(f"{stages[k]:.1f}" for k in ("import", "read rows", "sections",
                                                                               "write")))
        console.print(table)
        console.print("sizes: " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                                            for k, v in sizes(folder).items()))
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            console.print("browser: skipped (chromium not installed)")
            return 0
        timing = browser(chromium, folder / "report.html", args.rounds)
        console.print("browser (median s): " + ", ".join(f"{k} {v:.2f}" for k, v in timing.items()))
        verdict = "met" if max(timing["load"], timing["first screen"]) <= GOAL_LOAD_S else "MISSED"
        console.print(f"beyond Chromium's start-up: loaded in {timing['load']:.2f} s, first screen painted in "
                      f"{timing['first screen']:.2f} s, the whole page in {timing['whole page']:.2f} s: goal <= "
                      f"{GOAL_LOAD_S:g} s {verdict}; load average {os.getloadavg()[0]:.2f}")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
