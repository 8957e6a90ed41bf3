"""Results folders as they arrive from the field, damaged or odd, against the report and the
analysis's reader: a valid results file always gives a report (and never says "nan"); a damaged
one is one line naming the file, or, in a fleet, that host left out with its reason; text from
the rows is never markup in report.md.

The base fleet is tests/synthetic/fleet_folder.py's (two hosts, one of them stopped half way, with
fleet.json); each case rewrites its rows and nothing else, so every row stays valid for the
schema: only nullable columns are nulled, statuses are any of the schema's.
"""
from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from collector.analysis.config import Thresholds
from collector.analysis.frame import build_frame, read_rows
from collector.report.api import write_report
from shared.errors import UserError
from shared.schema import COLUMNS, STATUSES
from tests.synthetic.fleet_folder import write_fleet

Rows = list[dict[str, Any]]
NULLABLE = tuple(c.name for c in COLUMNS if not c.required)
# the nullable columns the report's code names: each one nulled in every row is a case of its own
_REPORT_SOURCE = "".join(p.read_text() for p in (Path(__file__).parents[2] / "collector" / "report").rglob("*.py"))
REPORT_COLUMNS = tuple(c for c in NULLABLE if f'"{c}"' in _REPORT_SOURCE)
NAN = re.compile(r"\bnan\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fleet(tmp_path_factory.mktemp("fleet"), hosts=2, trials_per_host=120, models=("lenet5",),
                       methods=("l1_unstructured", "ln_structured_mask", "structured"), fleet_file=True)


def copy_with(base: Path, dest: Path, change: Callable[[Rows], Rows]) -> Path:
    shutil.copytree(base, dest)
    for path in dest.glob("*/results.jsonl"):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps(r) + "\n" for r in change(rows)))
    return dest


def null(columns: tuple[str, ...], share: float = 1.0, seed: int = 0) -> Callable[[Rows], Rows]:
    def change(rows: Rows) -> Rows:
        rng = np.random.default_rng(seed)
        return [{**r, **dict.fromkeys(columns)} if rng.random() < share else r for r in rows]
    return change


def statuses(pick: Callable[[dict[str, Any], np.random.Generator], str | None],
             seed: int = 0) -> Callable[[Rows], Rows]:
    def change(rows: Rows) -> Rows:
        rng = np.random.default_rng(seed)
        return [{**r, "status": pick(r, rng) or r["status"]} for r in rows]
    return change


def random_case(seed: int) -> Callable[[Rows], Rows]:
    """Some nullable columns nulled in some rows, some rows' status changed."""
    rng = np.random.default_rng(seed)
    columns = tuple(rng.choice(NULLABLE, size=int(rng.integers(1, 12)), replace=False))
    share = float(rng.choice([1.0, 0.5, 0.1]))
    changed = float(rng.choice([0.0, 0.3, 0.9]))
    nulled, restatus = null(columns, share, seed), statuses(
        lambda r, g: str(g.choice(STATUSES)) if g.random() < changed else None, seed)
    return lambda rows: restatus(nulled(rows))


CASES: dict[str, Callable[[Rows], Rows]] = {
    **{f"null-{c}": null((c,)) for c in REPORT_COLUMNS},
    "null-every-nullable-column": null(NULLABLE),
    **{f"all-{s}": statuses(lambda r, g, s=s: s) for s in STATUSES},
    "no-unpruned-row-ok": statuses(lambda r, g: "error" if r["target_ratio"] == 0 else None),
    "one-row": lambda rows: rows[:1],
    **{f"random-{seed}": random_case(seed) for seed in range(6)},
}


def report_text(page: Path) -> str:
    return page.read_text(encoding="utf-8") + page.with_suffix(".md").read_text(encoding="utf-8")


@pytest.mark.parametrize("case", list(CASES))
def test_a_valid_results_folder_always_gives_a_report_without_nan(base: Path, tmp_path: Path, case: str) -> None:
    folder = copy_with(base, tmp_path / "results", CASES[case])
    page = write_report(folder)
    text = report_text(page)
    assert not NAN.search(text), NAN.search(text) and text[NAN.search(text).start() - 120:][:200]
    rows, source, left_out = read_rows(folder)  # the analysis's reader and frame take it too
    assert build_frame(rows, Thresholds(), source, left_out).n_rows == len(rows) and left_out == ()


def test_a_missing_number_in_a_sentence_is_not_recorded(base: Path, tmp_path: Path) -> None:
    page = write_report(copy_with(base, tmp_path / "results", null(("latency_cv", "sparsity"))))
    summary = page.with_suffix(".md").read_text()
    assert "median latency CV not recorded." in summary
    assert re.search(r"keeps top-1 within 1 point\(s\) up to ratio 0\.\d \(sparsity not recorded\)\.", summary), summary


# ---- lines that are not rows ----------------------------------------------------------------

NOT_ROWS = ["[1,2,3]", "42", '"a row"', "null", "true", "{not json", '{"schema_version": 2, "host": [1]}',
            '{"schema_version": true}', '{"schema_version": 2, "latency_p50_ms": Infinity}']


def one_device(base: Path, folder: Path, bad_line: str) -> Path:
    host = next(p for p in sorted(base.iterdir()) if p.is_dir())
    shutil.copytree(host, folder)
    good = (folder / "results.jsonl").read_text().splitlines()[0]
    (folder / "results.jsonl").write_text(f"{good}\n{bad_line}\n")
    return folder


@pytest.mark.parametrize("line", NOT_ROWS)
def test_a_line_that_is_not_a_row_is_one_line_naming_the_file(base: Path, tmp_path: Path, line: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from agent.cli import main as agent_main
    from collector.cli import main as collector_main

    folder = one_device(base, tmp_path / "device", line)
    for main, command in ((collector_main, "report"), (agent_main, "report"), (collector_main, "analyze")):
        assert main([command, "--results", str(folder)]) == 2, command
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "results.jsonl: not a results file of this edgeprune: line 2: " in err, err
    with pytest.raises(UserError, match=r"results.jsonl: not a results file of this edgeprune: "):
        read_rows(folder)


def test_one_damaged_host_of_a_fleet_is_left_out_with_its_reason(base: Path, tmp_path: Path) -> None:
    folder = tmp_path / "fleet"
    shutil.copytree(base, folder)
    hosts = sorted(p for p in folder.iterdir() if p.is_dir())
    with (hosts[0] / "results.jsonl").open("a") as f:
        f.write("[1,2,3]\n")
    rows, _, left_out = read_rows(folder)
    assert {r["host"] for r in rows} == {hosts[1].name}
    assert left_out == (f"host folder {hosts[0].name!r} left out: {hosts[0] / 'results.jsonl'}: not a results "
                        "file of this edgeprune: line 61: expected a JSON object (a row), got list",)
    summary = write_report(folder).with_suffix(".md").read_text()
    assert "1 host folder(s) left out of this report, their results unreadable" in summary
    assert f"'{hosts[0].name}' left out" in summary and "line 61" in summary
    (hosts[1] / "results.jsonl").write_text("42\n")
    with pytest.raises(UserError, match=r"no host's results could be read \(2 host folders; the first: "):
        read_rows(folder)


def test_damaged_side_files_leave_the_report_whole(base: Path, tmp_path: Path) -> None:
    folder = tmp_path / "fleet"
    shutil.copytree(base, folder)
    host = sorted(p for p in folder.iterdir() if p.is_dir())[0]
    with (host / "layers.jsonl").open("a") as f:
        f.write('[1]\n{not json\n{"layers": 5}\n{"layers": [1, "x"]}\n')
    (host / "machine.json").write_text(json.dumps({"host": [1], "device_mem_gb": "lots", "gpus": 5,
                                                   "cores_logical": {}}))
    assert write_report(folder).is_file()


# ---- text from the rows in report.md --------------------------------------------------------

HOSTILE = "<script>alert(1)</script> | *bold* [link](https://example.com/x) `code` _em_"


def test_text_from_the_rows_is_never_markup_in_report_md(base: Path, tmp_path: Path) -> None:
    def hostile(rows: Rows) -> Rows:
        return [{**r, "model": "lenet5<img src=x onerror=alert(2)>",
                 "error": f"RuntimeError: {HOSTILE}" if r["status"] != "ok" else None,
                 "status": "error" if i % 7 == 0 else r["status"]} for i, r in enumerate(rows)]

    folder = copy_with(base, tmp_path / "fleet", hostile)
    fleet = json.loads((folder / "fleet.json").read_text())
    fleet["hosts"].append({"name": "<script>alert(3)</script>", "outcome": "unreachable", "reason": HOSTILE})
    (folder / "fleet.json").write_text(json.dumps(fleet))
    page = write_report(folder)
    summary, html = page.with_suffix(".md").read_text(), page.read_text()
    assert "<script" not in html and "<img" not in html  # the page escaped it already
    assert "<script" not in summary and "<img" not in summary and HOSTILE not in summary
    escaped = r"&lt;script&gt;alert(1)&lt;/script&gt; \| \*bold\* \[link\](https://example.com/x) \`code\` \_em\_"
    failures = [line for line in summary.splitlines() if line.startswith("| ") and "RuntimeError" in line]
    assert failures and all(escaped in line for line in failures), summary
    header = next(line for line in summary.splitlines() if line.startswith("| status"))
    for line in failures:  # the row's '|' is escaped: the table keeps its columns
        assert len(re.findall(r"(?<!\\)\|", line)) == len(re.findall(r"(?<!\\)\|", header)), line
    assert "&lt;script&gt;alert(3)&lt;/script&gt; (unreachable)" in summary  # the note naming the host
    assert "lenet5&lt;img src=x onerror=alert(2)&gt;" in summary  # the headline's models
