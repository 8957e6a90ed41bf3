"""Real trials: percentiles null where too few samples back them, the median's interval around
the median, processes pooled with each kept in samples.jsonl, and the seed comparison's verdicts."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from agent.artifacts import ArtifactStore
from agent.measure_runner import MeasureRunner
from agent.runner import ArtifactBuilder
from shared.plan import variants
from shared.resultsdir import ResultsFolder, load_samples
from shared.stats import FASTER, NO_DIFFERENCE, SLOWER
from shared.sweep import parse_sweep
from tests.conftest import TINY_SWEEP

SWEEP = {**TINY_SWEEP, "methods": [{"name": "structured", "importance": "l1"}], "ratios": [0.0, 0.5],
         "batch_sizes": [1]}
# p50 from 6 samples (the fewest an order-statistic 95% interval can use), p90 from 20 (LeNet-5
# takes 0.2 ms a call, 200 ms on a machine busy enough: the rules are checked, not the speed);
# p99 can never be backed here
TIMING = {"warmup_s": 0.01, "min_reps": 6, "min_time_s": 0.01, "max_time_s": 2.0, "percentiles": [50, 90],
          "min_samples_p50": 6, "min_samples_p90": 20, "min_samples_p99": 1_000_000}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, private_cache: Path) -> Path:
    root = tmp_path_factory.mktemp("store")
    sweep = parse_sweep(SWEEP, str(root / "s.yml"))
    builder = ArtifactBuilder(sweep, ArtifactStore(root), private_cache, export=False)
    for variant in variants(sweep):
        builder.obtain(variant)
    return root


def measure(store: Path, out: Path, timing: dict[str, Any]) -> list[dict[str, Any]]:
    # retry_disturbed 0: the rows are counted, and a shared machine disturbs trials
    sweep = parse_sweep({**SWEEP, "timing": {"retry_disturbed": 0, **timing}}, str(out.parent / "s.yml"))
    runner = MeasureRunner(sweep, out, ArtifactStore.existing(store))
    runner.run()
    return list(runner.out.results.rows())


def test_a_percentile_is_null_where_too_few_samples_back_it(store: Path, tmp_path: Path) -> None:
    rows = measure(store, tmp_path / "out", TIMING)
    assert len(rows) == 2 and {r["status"] for r in rows} == {"ok"}
    for row in rows:
        n = row["n_samples"]
        assert (row["latency_p90_ms"] is not None) == (n >= 20)
        assert row["latency_p90_reason"] == (None if n >= 20 else
                                             f"{n} samples, p90 needs 20: max_time_s (2 s) ran out first")
        assert row["latency_p99_ms"] is None
        assert row["latency_p99_reason"] == (f"{row['n_samples']} samples, p99 needs 1000000: not in "
                                             "timing.percentiles (50, 90), so timing did not go on for it")
        assert row["latency_p50_ci_low_ms"] <= row["latency_p50_ms"] <= row["latency_p50_ci_high_ms"]
        assert row["latency_p50_ci_low_ms"] < row["latency_p50_ci_high_ms"] and row["process_count"] == 1
    wanted = {**TIMING, "max_time_s": 0.05, "min_samples_p90": 1_000_000}  # asked for, but no time for it
    for row in measure(store, tmp_path / "short", wanted):
        assert row["latency_p90_ms"] is None
        assert (row["latency_p50_ms"] is None) == (row["n_samples"] < 10)  # a busy machine may not give 10
        assert row["latency_p90_reason"].endswith("p90 needs 1000000: max_time_s (0.05 s) ran out first")


def test_each_process_is_kept_and_the_row_pools_them(store: Path, tmp_path: Path) -> None:
    rows = measure(store, tmp_path / "out", {**TIMING, "processes": 2})
    lines = [json.loads(line) for line in (tmp_path / "out" / ResultsFolder.SAMPLES).read_text().splitlines()]
    samples = load_samples(tmp_path / "out")
    for row in rows:
        assert row["process_count"] == 2
        assert sorted(line["process"] for line in lines if line["trial_key"] == row["trial_key"]) == [0, 1]
        groups = samples.of(row)
        assert len(groups) == 2 and row["n_samples"] == sum(map(len, groups))
        assert row["latency_p50_process_min_ms"] <= row["latency_p50_ms"] <= row["latency_p50_process_max_ms"]
        assert row["latency_p50_process_cv"] >= 0.0
    with (tmp_path / "out" / ResultsFolder.SEED_COMPARISON).open() as f:
        (compared,) = list(csv.DictReader(f))
    assert compared["pruned verdict"] in (FASTER, SLOWER, NO_DIFFERENCE)  # measured: the samples were there
    assert compared["interval basis"] == "processes"
    assert float(compared["pruned 95% low"]) <= float(compared["pruned speed-up"]) <= float(compared["pruned 95% high"])
