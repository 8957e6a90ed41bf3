"""A whole report: the HTML page is self-contained and has every section, the Markdown summary
and the CSVs sit beside it, the CLI and `agent run`'s hook, and plots that stay readable as
the fleet grows (they draw aggregates, not one mark a trial)."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from agent.seam import after_run
from collector.analysis.output import dump_analysis
from collector.cli import main as collector_main
from collector.report import write_report
from collector.report.api import build_report
from collector.report.data import load_report_data
from tests.synthetic.fleet_folder import PLATFORMS, synthetic_analysis, write_fleet

SECTION_IDS = ("overview", "accuracy", "latency", "parameters", "memory", "causal", "recommendations", "quality")
MODELS, METHODS = ("lenet5", "vgg16_bn"), ("l1_unstructured", "ln_structured_mask", "structured")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_fleet(tmp_path_factory.mktemp("fleet"), hosts=6, trials_per_host=240, models=MODELS,
                         methods=METHODS)
    dump_analysis(synthetic_analysis([p.device_class for p in PLATFORMS[:6]], 1440), folder)
    return folder


@pytest.fixture(scope="module")
def page(fleet: Path) -> Path:
    return write_report(fleet)


def test_the_page_the_summary_and_the_tables_are_written_side_by_side(page: Path) -> None:
    assert page.name == "report.html"
    assert page.with_suffix(".md").is_file()
    tables = {p.stem for p in (page.parent / "report-tables").glob("*.csv")}
    assert {"hosts", "accuracy", "latency_by_batch", "seed_comparison", "parameters", "layer_sparsity",
            "oom_by_platform", "memory_utilisation", "causal_effects", "causal_refuters", "causal_arrow_strengths",
            "recommended_ratio", "largest_batch", "noise_by_host", "missing_probes", "failures"} <= tables
    assert not list(page.parent.glob("**/*.tmp"))


def test_every_section_is_on_the_page_in_reading_order(page: Path) -> None:
    html = page.read_text()
    found = re.findall(r'<section id="([a-z]+)"', html)
    assert tuple(found) == SECTION_IDS
    for section in SECTION_IDS:
        assert f'href="#{section}"' in html


def test_the_page_is_self_contained(page: Path) -> None:
    html = page.read_text()
    assert "<script" not in html.lower() and "<link" not in html.lower() and "@import" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched; xmlns names are not fetches
    assert not re.search(r"url\((?!#)", html)
    links = re.findall(r'href="([^"#][^"]*)"', html)  # colour bars are inline images: data: URIs
    assert links and all(link.startswith(("report-tables/", "data:image/png;base64,")) for link in links)


def test_svg_ids_are_unique_across_the_page(page: Path) -> None:
    html = page.read_text()
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    for ref in set(re.findall(r"url\(#([^)]+)\)", html)):
        assert ref in ids


def test_figures_keep_their_text_as_text(page: Path) -> None:
    html = page.read_text()
    assert html.count("<svg") >= 10
    assert "<text" in html and "glyph" not in html  # svg.fonttype none: no path per character


def test_the_csvs_hold_the_whole_tables(fleet: Path, page: Path) -> None:
    hosts = pd.read_csv(page.parent / "report-tables" / "hosts.csv")
    assert len(hosts) == 6 and hosts["trials"].sum() == 1440
    assert set(hosts.columns) >= {"host", "device_class", "cpu_model", "gpu", "agent_versions", "ok", "oom", "skipped"}
    per_host = pd.read_csv(page.parent / "report-tables" / "seed_comparison_hosts.csv")
    assert per_host["host"].nunique() == 6


def test_the_markdown_summary_has_the_headline_and_the_key_tables(page: Path) -> None:
    text = page.with_suffix(".md").read_text()
    assert text.startswith("# edgeprune fleet report")
    assert "1440 trials on 6 host(s)" in text
    for title in ("## Recommendations per device", "**Recommended variant per device class and model**",
                  "**Causal effects**", "## Measurement quality"):
        assert title in text


def test_without_an_analysis_the_causal_section_says_how_to_make_one(fleet: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(fleet, tmp_path / "plain", ignore=shutil.ignore_patterns("analysis.json", "report*"))
    html = write_report(folder).read_text()
    causal = html[html.index('<section id="causal"'):html.index('<section id="recommendations"')]
    assert "No causal analysis here" in causal and "collector analyze --results" in causal
    assert "<svg" not in causal


def test_an_unknown_budget_is_a_programming_error(fleet: Path, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="unknown budgets: max_watts"):
        write_report(fleet, tmp_path / "x.html", max_watts=5)


def _figure_bytes(folder: Path) -> int:
    report = build_report(load_report_data(folder))
    return sum(len(f.svg) for s in report.sections for f in s.figures)


def test_figures_do_not_grow_with_the_number_of_trials(tmp_path: Path) -> None:
    """Twice the hosts of the same device classes: the same figures, not twice the marks."""
    small = write_fleet(tmp_path / "small", hosts=8, trials_per_host=60, models=MODELS[:1], methods=METHODS)
    large = write_fleet(tmp_path / "large", hosts=24, trials_per_host=60, models=MODELS[:1], methods=METHODS)
    assert _figure_bytes(large) < 1.15 * _figure_bytes(small)


def test_the_collector_command_writes_it_with_the_budgets_given(fleet: Path, page: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fleet-report.html"
    assert collector_main(["report", "--results", str(fleet), "--out", str(out), "--max-accuracy-drop", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert f"report: {out}" in printed and "fleet-report-tables" in printed
    assert out.is_file() and (tmp_path / "fleet-report.md").is_file()
    default = pd.read_csv(page.parent / "report-tables" / "recommended_ratio.csv")
    loose = pd.read_csv(tmp_path / "fleet-report-tables" / "recommended_ratio.csv")
    assert loose["target_ratio"].mean() > default["target_ratio"].mean()


@pytest.mark.parametrize(("argv", "message"), [
    (["--max-accuracy-drop", "2"], "--max-accuracy-drop: must be a share of top-1 in 0..1"),
    (["--batch-size", "0"], "--batch-size: must be a batch size of 1 or more"),
    (["--batch-size", "7"], "--batch-size: no trial was measured at batch size 7 (valid: 1, 8, 32, 128)"),
    (["--max-memory-mb", "-1"], "--max-memory-mb: must be a positive number of MiB"),
])
def test_a_bad_budget_is_one_line_and_exit_2(fleet: Path, argv: list[str], message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert collector_main(["report", "--results", str(fleet), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_missing_folder_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert collector_main(["report", "--results", str(tmp_path / "nope")]) == 2
    assert "no such results folder" in capsys.readouterr().err


def test_agent_run_gets_a_line_either_way(fleet: Path, tmp_path: Path) -> None:
    one = shutil.copytree(sorted(p for p in fleet.iterdir() if p.is_dir() and p.name != "report-tables")[0],
                          tmp_path / "one")
    skipped, report, findings, *found = after_run(one, analysis=False)
    assert skipped.startswith("analysis: skipped (--no-analysis)") and report == f"report: {one / 'report.html'}"
    assert findings.startswith("findings") and found and all(line.startswith("  - ") for line in found)
    lines = after_run(tmp_path / "empty", analysis=False)  # a report that fails never fails the run
    assert lines[-1].startswith("warning: no report (UserError:") and "agent report --results" in lines[-1]


def test_fleet_json_hosts_reach_the_page_the_summary_and_the_csv_escaped(tmp_path: Path) -> None:
    """Hosts that left no row are on the page; a host name may hold anything and is only ever text."""
    folder = write_fleet(tmp_path / "fleet", hosts=4, trials_per_host=40, models=MODELS[:1], methods=METHODS[:2],
                         fleet_file=True)
    evil, shell = "<script>alert(1)</script>", "x; rm -rf ~"
    first = sorted(p for p in folder.iterdir() if p.is_dir())[0]
    lines = [json.loads(line) for line in (first / "results.jsonl").read_text().splitlines()]
    (first / "results.jsonl").write_text("".join(json.dumps({**r, "host": evil}) + "\n" for r in lines))
    fleet = json.loads((folder / "fleet.json").read_text())
    fleet["hosts"][0]["name"] = evil
    fleet["hosts"].append({**fleet["hosts"][-1], "name": shell})  # a third host that never answered
    (folder / "fleet.json").write_text(json.dumps(fleet))
    page = write_report(folder)
    text = page.read_text()
    assert "<script" not in text.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    overview = text[text.index('<section id="overview"'):text.index('<section id="accuracy"')]
    assert "7 host(s) asked: 2 ok, 1 partial, 1 agent-error, 1 unreachable, 2 auth-failed." in overview
    assert "x; rm -rf ~" in overview and "edge-gw-17" in overview and "Collector outcome per host" in overview
    csv = pd.read_csv(page.parent / "report-tables" / "collector_hosts.csv", keep_default_na=False)
    assert set(csv["host"]) >= {evil, shell, "edge-gw-17", "lab-pi-03"} and len(csv) == 7
    summary = page.with_suffix(".md").read_text()
    assert "7 host(s) asked:" in summary and "lab-pi-03 (auth-failed)" in summary
