"""onnxruntime's profile as the agent reads it, on a profile onnxruntime really wrote
(tests/fixtures/ort_profiles/README.md says where it comes from), and the record format."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agent.layertime import LayerProfile, parse_ort_profile
from shared.layertime import ORIGINAL, LayerTimes, OpTime, op_kind, read_records

FIXTURE = Path(__file__).parents[1] / "fixtures" / "ort_profiles" / "silero_vad_cpu_ort1.12.1_excerpt.txt"


def published_events() -> list[dict]:
    """The excerpt as onnxruntime wrote it: the author's `cat -n` numbers and the trailing
    commas removed, the lines wrapped in the JSON array the profiler writes."""
    lines = [re.sub(r"^\s*\d+ ", "", line).rstrip().rstrip(",") for line in FIXTURE.read_text().splitlines()]
    return json.loads("[" + ",".join(lines) + "]")


def test_kernel_times_of_a_real_profile() -> None:
    profile = parse_ort_profile(published_events())
    assert profile.profiler == "onnxruntime" and profile.passes == 1  # an excerpt: no run events
    by_node = {op.layer: op for op in profile.ops}
    prefix = "If_0_then_branch__Inline_0__/stft/"
    assert list(by_node) == [prefix + n for n in ("padding/Pad", "Unsqueeze", "Conv", "Slice_3", "Pow_1",
                                                  "Slice_1", "Pow", "Add", "Sqrt")]  # first-run order
    conv = by_node[prefix + "Conv"]
    assert (conv.op_type, conv.time_ms, conv.calls, conv.kind) == ("Conv", 0.054, 1.0, "conv")
    # the fence events (dur 0) are not ops; 85 µs of kernels in all
    assert sum(op.time_ms for op in profile.ops) == pytest.approx(0.085)


def test_warm_up_runs_are_left_out_by_their_windows() -> None:
    """Run events as onnxruntime writes them around a run's kernels (``model_run``)."""
    kernel = next(e for e in published_events() if e["name"].endswith("/Conv_kernel_time"))
    events = []
    for run, dur in enumerate((900, 50, 70)):  # a slow first (warm-up) run, then two
        start = run * 1000
        events.append({"cat": "Session", "name": "model_run", "ts": start, "dur": 500})
        events.append({**kernel, "ts": start + 10, "dur": dur})
    profile = parse_ort_profile(events, skip_runs=1)
    (conv,) = profile.ops
    assert profile.passes == 2 and conv.time_ms == pytest.approx(0.060) and conv.calls == 1.0


def test_kinds_are_shared_by_both_profilers() -> None:
    assert op_kind("Conv2d") == op_kind("Conv") == "conv"
    assert op_kind("Linear") == op_kind("Gemm") == "linear"
    assert op_kind("BatchNorm2d") == op_kind("BatchNormalization") == "norm"
    assert op_kind("SomethingNew") == "other"


def test_a_record_round_trips_and_bad_lines_are_skipped() -> None:
    record = LayerTimes(run_id="r", trial_key=None, variant_key="v", base_model_key="b", role=ORIGINAL,
                        model="lenet5", method="structured", target_ratio=0.0, backend="torch", device="cpu",
                        batch_size=1, profiler="torch.profiler", passes=20,
                        ops=(OpTime("features.0", "Conv2d", 0.5, 1.0), OpTime("classifier.1", "Linear", 0.25, 1.0)))
    line = json.loads(json.dumps(record.to_json()))
    assert line["total_ms"] == 0.75 and line["ops"][0]["kind"] == "conv"
    assert read_records([line, {"version": 99}, {"version": 1, "ops": "nope"}]) == [record]
    assert record.by_kind() == {"conv": 0.5, "linear": 0.25}
    assert isinstance(parse_ort_profile([]), LayerProfile)
