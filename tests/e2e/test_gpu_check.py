"""scripts/gpu-check.sh on a machine without a GPU: every GPU check n/a with the reason, exit 3."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this host has a GPU: run scripts/gpu-check.sh itself")
def test_without_a_gpu_every_check_is_na_with_its_reason(tmp_path: Path) -> None:
    done = subprocess.run([str(ROOT / "scripts" / "gpu-check.sh"), "--python", sys.executable,
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [c["result"] for c in summary] == ["n/a"] * len(summary) and len(summary) >= 4
    assert "no CUDA GPU" in summary[0]["detail"]
    assert "GPU check summary:" in done.stdout


def test_help_says_how_to_run_it_offline() -> None:
    done = subprocess.run([str(ROOT / "scripts" / "gpu-check.sh"), "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "--wheels DIR" in done.stdout and "no usable CUDA GPU" in done.stdout
