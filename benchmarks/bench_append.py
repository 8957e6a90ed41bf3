"""The result log's per-row append cost, against how many rows the file already holds (issue 17).

    .venv/bin/python benchmarks/bench_append.py [--sizes 0 1000 5000 10000] [--rows 200] [--dir DIR]

For each size N: a results.jsonl holding N rows (written in one go: the setup, not timed) is
opened as a ResultLog, and --rows more rows are appended one at a time, each fsync'd as the
agent does; prints the median and 90th percentile of one append for each N, then the ratio of
the last size's median to the first's. The append checks the file's tail once, when the log
is opened, so the ratio should stay near 1 (it was 3 when every append re-checked the tail).
The rows are complete synthetic schema rows. fsync dominates: only compare figures from one
quiet machine and one file system (--dir picks it; the default is a temporary folder).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from shared.resultlog import ResultLog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the synthetic data is under tests/
from tests.synthetic.known_effects import synthetic_rows  # noqa: E402


def append_times_ms(folder: Path, size: int, rows: list[dict], appends: int) -> list[float]:
    """The wall time of each of ``appends`` appends to a log that held ``size`` rows when opened."""
    path = folder / f"results-{size}.jsonl"
    path.write_text("".join(json.dumps(rows[i % len(rows)], separators=(",", ":")) + "\n" for i in range(size)))
    log = ResultLog(path)
    times = []
    for i in range(appends):
        started = time.perf_counter()
        log.append({**rows[i % len(rows)], "trial_key": f"appended-{i}"})
        times.append((time.perf_counter() - started) * 1000)
    path.unlink()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 1000, 5000, 10000],
                        help="rows already in the file (default 0 1000 5000 10000)")
    parser.add_argument("--rows", type=int, default=200, help="appends timed at each size (default 200)")
    parser.add_argument("--dir", type=Path, help="where to write the logs (default: a temporary folder)")
    args = parser.parse_args()
    rows = synthetic_rows(500)
    medians = []
    table = Table(title=f"ResultLog.append, {args.rows} rows appended at each size")
    for column in ("rows in file", "median ms", "p90 ms"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        for size in args.sizes:
            times = sorted(append_times_ms(Path(folder), size, rows, args.rows))
            medians.append(statistics.median(times))
            table.add_row(f"{size:,}", f"{medians[-1]:.3f}", f"{times[int(0.9 * (len(times) - 1))]:.3f}")
    console = Console()
    console.print(table)
    console.print(f"median at {args.sizes[-1]:,} rows / median at {args.sizes[0]:,} rows: "
                  f"{medians[-1] / medians[0]:.2f}")


if __name__ == "__main__":
    main()
