"""The seed comparison links original, mask-only and pruned rows by base model and setting."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from shared.comparison import COMPARISON_HEADER, seed_comparisons, write_comparisons_csv
from shared.resultsdir import SampleIndex


def row(method: str, ratio: float, p50: float, macs: int, batch: int = 32, backend: str = "onnxruntime",
        base: str = "b1", status: str = "ok") -> dict:
    return {"status": status, "base_model_key": base, "method": method, "target_ratio": ratio,
            "latency_p50_ms": p50, "macs": macs, "model": "resnet18", "input_size": 32, "backend": backend,
            "device": "cpu", "batch_size": batch, "threads": None, "variant_key": f"{method}-{ratio}",
            "trial_key": f"{method}-{ratio}-{batch}-{backend}-{base}", "host": "h"}


def test_each_structured_variant_is_set_beside_its_original_and_its_mask() -> None:
    rows = [row("l1_unstructured", 0.0, 100.0, 400), row("structured", 0.0, 101.0, 400),
            row("ln_structured_mask", 0.5, 99.0, 400), row("structured", 0.5, 26.0, 100),
            row("structured", 0.7, 12.0, 40), row("structured", 0.5, 50.0, 100, backend="torch"),
            row("structured", 0.5, 1.0, 100, base="other"), row("structured", 0.3, 1.0, 1, status="oom")]
    found = {(c.backend, c.target_ratio, c.original_ms): c for c in seed_comparisons(rows)}
    assert set(found) == {("onnxruntime", 0.5, 101.0), ("onnxruntime", 0.7, 101.0), ("torch", 0.5, None),
                          ("onnxruntime", 0.5, None)}
    half = found[("onnxruntime", 0.5, 101.0)]  # structured's own ratio 0 is preferred as the original
    assert half.mask_ms == 99.0 and half.speedup_pruned == pytest.approx(101 / 26)
    assert half.mac_reduction == 4.0 and half.realised == pytest.approx(101 / 26 / 4)
    assert found[("onnxruntime", 0.7, 101.0)].mask_ms is None  # no mask variant at 0.7
    assert found[("torch", 0.5, None)].realised is None  # no original measured on torch


def test_the_table_is_written_as_csv(tmp_path: Path) -> None:
    rows = [row("structured", 0.0, 100.0, 400), row("structured", 0.5, 25.0, 100)]
    assert write_comparisons_csv(seed_comparisons(rows), tmp_path / "c.csv") == 1
    with (tmp_path / "c.csv").open() as f:
        header, line = list(csv.reader(f))
    assert header[:6] == list(COMPARISON_HEADER[:6]) and header[6] == "threads"
    assert line[-1] == "1.00" and line[-2] == "4.00"
    cells = dict(zip(header, line))
    assert cells["pruned speed-up"] == "4.00" and cells["pruned verdict"] == "not measured"  # no samples
    assert cells["pruned 95% low"] == "-" and cells["interval basis"] == "-"


def test_each_speed_up_has_an_interval_and_a_verdict_from_the_raw_samples(tmp_path: Path) -> None:
    rows = [row("structured", 0.0, 100.0, 400), row("ln_structured_mask", 0.5, 99.0, 400),
            row("structured", 0.5, 25.0, 100)]
    wobble = [0.97, 1.0, 1.03, 0.99, 1.01] * 8
    samples = SampleIndex({None: {
        rows[0]["trial_key"]: [[100.0 * w for w in wobble]],
        rows[1]["trial_key"]: [[99.0 * w for w in wobble]],  # 1% apart, within the noise
        rows[2]["trial_key"]: [[25.0 * w for w in wobble], [26.0 * w for w in wobble]]}})
    (c,) = seed_comparisons(rows, samples)
    assert c.pruned_interval.verdict == "faster" and c.pruned_interval.ci_low > 3.5
    assert c.mask_interval.verdict == "no measurable difference"
    assert c.mask_interval.ci_low <= 1.0 <= c.mask_interval.ci_high
    assert c.speedup_mask == pytest.approx(100 / 99)  # the samples' median ratio
    write_comparisons_csv([c], tmp_path / "c.csv")
    with (tmp_path / "c.csv").open() as f:
        header, line = list(csv.reader(f))
    cells = dict(zip(header, line))
    assert cells["mask verdict"] == "no measurable difference" and cells["pruned verdict"] == "faster"
    assert float(cells["pruned 95% low"]) <= float(cells["pruned speed-up"]) <= float(cells["pruned 95% high"])
    assert cells["interval basis"] == "samples"  # the original had one process: within-trial noise only
