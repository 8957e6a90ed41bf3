"""Energy per inference in real agent runs: this VM has no RAPL (the row says why), and a
stand-in ``tegrastats`` on PATH (NOT NVIDIA's binary: it replays a real Orin NX capture,
tests/fixtures/tegrastats/orin_nx_jp5.txt, one line an interval) makes the worker's
tegrastats probe and the energy columns fill as they would on a Jetson."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from agent.probes.rapl import POWERCAP_DIR
from tests.e2e.test_faults import run_agent

CAPTURE = Path(__file__).parents[1] / "fixtures" / "tegrastats" / "orin_nx_jp5.txt"
STAND_IN = f"""#!{sys.executable}
# stand-in for NVIDIA's tegrastats: replays {CAPTURE}
import sys, time
interval_s = float(sys.argv[sys.argv.index("--interval") + 1]) / 1000
line = open({str(CAPTURE)!r}).read().strip()
while True:
    time.sleep(interval_s)
    print(line, flush=True)
"""
SWEEP = {"batch_sizes": [2], "telemetry": {"perf": False, "gpu_profile": False, "tegrastats_interval_s": 0.02},
         "timing": {"warmup_s": 0, "min_reps": 5, "min_time_s": 0.3, "max_time_s": 1.0, "retry_disturbed": 0}}


@pytest.mark.skipif(POWERCAP_DIR.is_dir(), reason="this machine has powercap; the test is of a row without it")
def test_a_machine_without_any_energy_sensor_says_why_in_the_row(tmp_path: Path) -> None:
    (row,) = run_agent(tmp_path, SWEEP, env={"PATH": os.defpath})
    assert row["status"] == "ok"
    assert row["energy_j"] is None and row["energy_per_sample_mj"] is None and row["energy_source"] is None
    errors = json.loads(row["probe_errors"])
    assert errors["rapl"].startswith(f"no {POWERCAP_DIR}")
    assert errors["tegrastats"] == "no tegrastats on PATH (not a Jetson)"
    assert errors["energy"].startswith("no energy sensor measured this trial")


def test_a_jetson_row_has_board_energy_per_sample(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "tegrastats").write_text(STAND_IN)
    (bindir / "tegrastats").chmod(0o755)
    (row,) = run_agent(tmp_path, SWEEP, env={"PATH": f"{bindir}:{os.defpath}"})
    assert row["status"] == "ok" and row["tegra_sample_count"] >= 2
    assert row["energy_source"] == "tegrastats:VDD_IN" and row["tegra_power_mean_w"] == pytest.approx(5.299)
    # 5.299 W over the timed region, spread over n_samples batches of 2
    assert row["energy_j"] == pytest.approx(5.299 * row["timed_s"], rel=0.2)
    assert row["energy_per_sample_mj"] == pytest.approx(row["energy_j"] * 1000 / (row["n_samples"] * 2))
    assert "energy" not in json.loads(row["probe_errors"] or "{}")
