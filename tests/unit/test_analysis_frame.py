"""Rows -> frame: every row kept (OOM included), derived and seed columns, missing outcomes counted."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from collector.analysis.config import Thresholds
from collector.analysis.frame import build_frame, groups, question_rows, read_rows, unit_rows
from shared.errors import UserError
from tests.synthetic.known_effects import synthetic_rows, write_results

ROWS = synthetic_rows(600, seed=1)


@pytest.fixture(scope="module")
def frame():
    return build_frame(ROWS, Thresholds(), "synthetic")


def test_every_row_stays_in_oom_rows_included(frame) -> None:
    data = frame.data
    assert len(data) == 600
    oom = data[data["is_oom"] == 1]
    assert len(oom) > 0 and (oom["status"] == "oom").all()
    assert oom["latency_p50_ms"].isna().all()
    assert frame.notes[0] == f"600 rows: {int((data['status'] == 'ok').sum())} ok, {len(oom)} oom"


def test_columns_are_typed_for_a_regression(frame) -> None:
    data = frame.data
    assert isinstance(data["device_class"].dtype, pd.CategoricalDtype)
    assert data["is_oom"].dtype == float and set(data["is_oom"].unique()) == {0.0, 1.0}
    assert data["batch_size"].dtype == float


def test_peak_memory_is_the_gpus_on_a_gpu(frame) -> None:
    ok = frame.data[frame.data["status"] == "ok"]
    assert (ok["peak_mem_mb"] == ok["peak_gpu_mem_mb"]).all()  # the synthetic fleet runs on cuda:0


def test_the_seed_binary_columns_follow_their_thresholds(frame) -> None:
    data = frame.data
    assert ((data["High_Pruning"] == 1) == (data["target_ratio"] > 0.3)).all()
    drop = data["accuracy_drop"]
    known = drop.notna()
    assert ((data.loc[known, "High_Accuracy_Loss"] == 1) == (drop[known] > 0.02)).all()
    assert (data.loc[data["is_oom"] == 1, "High_Memory_Consumption"] == 1).all()
    strict = build_frame(ROWS, Thresholds(high_pruning_ratio=0.6, min_accuracy=0.95), "synthetic").data
    assert ((strict["High_Pruning"] == 1) == (strict["target_ratio"] > 0.6)).all()
    assert ((strict["High_Accuracy_Loss"] == 1) == (strict["accuracy_top1"] < 0.95)).all()


def test_accuracy_drop_is_against_the_unpruned_model_on_the_same_host(frame) -> None:
    data = frame.data
    row = data[(data["target_ratio"] > 0) & data["accuracy_drop"].notna()].iloc[0]
    base = data[(data["host"] == row["host"]) & (data["model"] == row["model"]) & (data["target_ratio"] == 0)]
    assert math.isclose(row["accuracy_drop"], base["accuracy_top1"].mean() - row["accuracy_top1"])


def test_high_memory_needs_a_capacity_and_says_so_without_one() -> None:
    frame = build_frame(synthetic_rows(200, device_mem=False), Thresholds(), "synthetic")
    ok = frame.data[frame.data["status"] == "ok"]
    assert ok["High_Memory_Consumption"].isna().all()
    assert any("set thresholds.high_memory_mb" in note for note in frame.notes)
    with_mb = build_frame(synthetic_rows(200, device_mem=False), Thresholds(high_memory_mb=500.0), "s").data
    assert with_mb["High_Memory_Consumption"].notna().all()


def test_a_row_missing_an_outcome_is_left_out_of_that_outcome_only_and_counted(frame) -> None:
    rows, left_out = question_rows(frame.data, ["target_ratio", "latency_p50_ms"])
    n_oom = int((frame.data["status"] == "oom").sum())
    assert left_out == {"latency_p50_ms missing (oom)": n_oom}
    assert len(rows) == 600 - n_oom
    rows, left_out = question_rows(frame.data, ["target_ratio", "is_oom"])
    assert len(rows) == 600 and left_out == {}


def test_accuracy_is_counted_once_a_variant_and_host(frame) -> None:
    variants = unit_rows(frame.data, "variant")
    assert len(variants) == len(frame.data.drop_duplicates(["host", "variant_key"])) < len(frame.data)


def test_groups_split_by_the_per_columns(frame) -> None:
    parts = groups(frame.data, ["backend", "device_class"])
    assert len(parts) == 6 and all(set(g) == {"backend", "device_class"} for g, _ in parts)
    assert sum(len(p) for _, p in parts) == 600
    assert groups(frame.data, []) == [({}, frame.data)]


def test_reading_a_results_folder(tmp_path: Path) -> None:
    write_results(tmp_path, ROWS[:5])
    rows, source, left_out = read_rows(tmp_path)
    assert len(rows) == 5 and source == str(tmp_path) and left_out == ()


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "no such results folder"),
    (lambda d: d.mkdir(), "no results.jsonl here"),
    (lambda d: (d.mkdir(), (d / "results.jsonl").write_text("")), "no result rows yet"),
    (lambda d: (d.mkdir(), (d / "results.jsonl").write_text('{"schema_version": 99}\n')), "not a results file"),
])
def test_an_empty_or_missing_results_folder_is_a_clear_message(tmp_path: Path, setup, message: str) -> None:
    folder = tmp_path / "results"
    setup(folder)
    with pytest.raises(UserError, match=message) as err:
        read_rows(folder)
    assert "\n" not in str(err.value)
