"""The README's main job in small: `collector run` on a one-host inventory with
`transport: local` (no SSH), a real tiny sweep built and measured by the real agent."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import TINY_SWEEP

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def test_collector_run_on_this_machine_builds_measures_merges_and_reports(tmp_path: Path) -> None:
    sweep = tmp_path / "tiny.yml"
    sweep.write_text(yaml.safe_dump({**TINY_SWEEP, "methods": [TINY_SWEEP["methods"][0]]}))
    inventory = tmp_path / "local.yml"
    inventory.write_text(yaml.safe_dump({"hosts": [{"name": "this-box", "transport": "local",
                                                    "workdir": str(tmp_path / "work")}]}))
    out = tmp_path / "out"
    done = subprocess.run([str(BIN / "collector"), "run", "--hosts", str(inventory), "--sweep", str(sweep),
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    text = " ".join(done.stdout.split())
    assert done.returncode == 0, done.stdout + done.stderr
    fleet = json.loads((out / "fleet.json").read_text())
    assert [(h["name"], h["outcome"], h["trials_done"]) for h in fleet["hosts"]] == [("this-box", "ok", 4)]
    rows = [json.loads(line) for line in (out / "this-box" / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"} and {r["host"] for r in rows} == {"this-box"}
    assert "merged 4 rows (4 new)" in text
    samples = (out / "this-box" / "samples.jsonl").read_text().splitlines()  # fetched: the intervals need them
    assert sorted(json.loads(line)["trial_key"] for line in samples) == sorted(r["trial_key"] for r in rows)
    assert (out / "fleet.duckdb").exists() and (out / "results.parquet").exists()
    assert (out / "report.html").stat().st_size > 10_000 and "report:" in text
    # the analysis ran before the report, the raw samples came back, the artifact store was named
    assert "analysis: " in text and "findings (details in the report):" in text
    assert (out / "this-box" / "samples.jsonl").stat().st_size > 0
    assert "this-box: artifact store" in text and "MiB on the host" in text
    # the agent's own folder on the "host" keeps everything, and the run can be resumed
    assert (tmp_path / "work" / "runs" / "tiny" / "this-box" / "out" / "agent.exit").read_text().strip() == "0"
    again = subprocess.run([str(BIN / "collector"), "run", "--hosts", str(inventory), "--sweep", str(sweep),
                            "--out", str(out), "--no-report"], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "merged 4 rows (0 new)" in " ".join(again.stdout.split())
    assert "this-box: 4 of 4 trials already done; nothing left to run" in again.stdout
    assert "] ok" not in again.stdout  # no replay of the rows already here
