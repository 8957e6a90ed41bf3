"""Shared fixtures: a private base-model cache and a tiny real sweep."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

TINY_SWEEP = {
    "name": "tiny", "seed": 0,
    "dataset": {"name": "digits", "train_samples": 512, "eval_samples": 120},
    "models": ["lenet5"],
    "methods": [{"name": "l1_unstructured", "scope": "global"}, {"name": "structured", "importance": "l1"}],
    "ratios": [0.0, 0.5], "schedule": {"kind": "one_shot", "finetune_epochs": 1},
    "batch_sizes": [1, 4], "backends": ["torch"],
    "train": {"epochs": 4, "lr": 0.05, "batch_size": 32},
    # a median from the 3 repetitions: tests check the flow, not the figures (and a loaded machine
    # may give no more in 0.5 s); p90 and p99 are null in these rows. retry_disturbed 0: a shared
    # test machine disturbs most trials, and re-measuring them would change the row counts tests
    # check (tests/integration/test_conditions.py tests re-measuring)
    "timing": {"warmup_s": 0.01, "min_reps": 3, "min_time_s": 0.01, "max_time_s": 0.5,
               "percentiles": [50], "min_samples_p50": 3, "retry_disturbed": 0},
}


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tests never read or write the user's base-model cache."""
    path = Path(os.environ.get("EDGEPRUNE_CACHE") or tmp_path_factory.mktemp("cache"))
    os.environ["EDGEPRUNE_CACHE"] = str(path)
    return path


@pytest.fixture
def tiny_sweep(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yml"
    path.write_text(yaml.safe_dump(TINY_SWEEP))
    return path
