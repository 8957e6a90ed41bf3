"""The append-only results file: synced rows, resume, torn last line."""
from __future__ import annotations

import csv
from pathlib import Path

from shared.resultlog import ResultLog
from tests.unit.test_schema import MINIMAL


def test_append_read_and_csv(tmp_path: Path) -> None:
    log = ResultLog(tmp_path / "results.jsonl")
    for key in ("a", "b"):
        log.append({**MINIMAL, "trial_key": key})
    assert log.completed_keys() == {"a", "b"}
    assert log.write_csv(tmp_path / "results.csv") == 2
    with (tmp_path / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["trial_key"] for r in rows] == ["a", "b"] and rows[0]["batch_size"] == "8"


def test_a_torn_last_line_is_ignored_then_cut_off(tmp_path: Path) -> None:
    log = ResultLog(tmp_path / "results.jsonl")
    log.append({**MINIMAL, "trial_key": "a"})
    with log.path.open("a") as f:
        f.write('{"schema_version": 1, "run_id": "r", "trial')  # the process died here
    assert log.completed_keys() == {"a"}
    log.append({**MINIMAL, "trial_key": "b"})
    assert [r["trial_key"] for r in log.rows()] == ["a", "b"]
    assert log.path.read_text().count("\n") == 2


def test_cut_torn_tail_keeps_every_whole_line(tmp_path: Path) -> None:
    from shared.resultlog import cut_torn_tail

    path = tmp_path / "side.jsonl"
    cut_torn_tail(path)  # no file: nothing to do
    long_line = b"x" * 200_000 + b"\n"  # longer than a read block
    for content, kept in [(b"", b""), (b"a\n", b"a\n"), (b"a\nb", b"a\n"), (b"torn", b""),
                          (long_line + b"y" * 70_000, long_line), (b"z" * 70_000, b"")]:
        path.write_bytes(content)
        cut_torn_tail(path)
        assert path.read_bytes() == kept
