"""The report in a real browser: headless Chromium loads it with no console message (the page has
no script; a missing resource would be one), every section is in the DOM it built, and it
paints into a screenshot worth looking at.

Screenshots go to $EDGEPRUNE_SCREENSHOTS when set (to look at them), else the test's tmp dir.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from collector.analysis.output import dump_analysis
from collector.report import write_report
from tests.synthetic.fleet_folder import PLATFORMS, synthetic_analysis, write_fleet

pytestmark = pytest.mark.slow

SECTION_IDS = ("overview", "accuracy", "latency", "parameters", "memory", "causal", "recommendations", "quality")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars")
WIDTH = 1400


def chromium(page: Path, profile: Path, *action: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run on ``page`` with a fresh profile, its log on stderr."""
    profile.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                           *action, page.as_uri()], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def console_messages(log: str) -> list[str]:
    """What the page said on the console (Chromium logs each message as ``INFO:CONSOLE:LINE] "..."``,
    older ones as ``CONSOLE(LINE)``), and uncaught errors; Chromium's own complaints (no D-Bus in
    a container) are not the page's."""
    return [line for line in log.splitlines() if re.search(r"CONSOLE[(:]\d", line) or "Uncaught" in line]


def test_a_console_message_would_be_seen() -> None:
    log = ('[1:1:1121/113825.78:INFO:CONSOLE:1] "hi", source: file:///tmp/bad.html (1)\n'
           "[1:1:1121/113825.79:ERROR:dbus/bus.cc:405] Failed to connect to the bus\n"
           '[1:1:1121/113825.80:INFO:CONSOLE(7)] "Uncaught ReferenceError: f is not defined"')
    assert len(console_messages(log)) == 2


def screenshots_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("EDGEPRUNE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_in_browser(page: Path, tmp_path: Path, name: str) -> Path:
    dom = chromium(page, tmp_path / "profile-dom", "--dump-dom")
    assert console_messages(dom.stderr) == []
    for section in SECTION_IDS:
        assert f'<section id="{section}">' in dom.stdout
    assert dom.stdout.count("<svg") >= 8
    shot = screenshots_dir(tmp_path) / f"{name}.png"
    painted = chromium(page, tmp_path / "profile-shot", f"--window-size={WIDTH},14000", f"--screenshot={shot}")
    assert console_messages(painted.stderr) == []
    with Image.open(shot) as image:
        assert image.size == (WIDTH, 14000)
        colours = image.convert("RGB").resize((350, 3500)).getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 200  # figures, not a blank or an error page
    return shot


@needs_chromium
def test_a_fleet_report_loads_and_paints(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path / "fleet", hosts=8, trials_per_host=400,
                        models=("lenet5", "vgg16_bn"), methods=("l1_unstructured", "ln_structured_mask", "structured"))
    dump_analysis(synthetic_analysis([p.device_class for p in PLATFORMS], 3200), fleet)
    check_in_browser(write_report(fleet), tmp_path, "fleet")


@needs_chromium
def test_agent_run_writes_a_report_that_loads(tiny_sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "agent.cli", "run", "--sweep", str(tiny_sweep), "--out", str(out)],
                         capture_output=True, text=True, timeout=900, env={**os.environ, "COLUMNS": "200"})
    assert run.returncode == 0, run.stderr
    assert f"report: {out / 'report.html'}" in run.stdout
    assert (out / "report.md").is_file() and (out / "report-tables" / "recommended_ratio.csv").is_file()
    check_in_browser(out / "report.html", tmp_path, "agent-run")
