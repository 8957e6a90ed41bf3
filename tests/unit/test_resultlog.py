"""The append-only results file: synced rows, resume, torn last line."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from shared import resultlog
from shared.resultlog import ResultLog
from shared.schema import make_row
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
    log = ResultLog(log.path)  # the next writer opens the log, and cuts the torn line first
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


def _read_calls() -> int:
    """This process's read system calls so far (Linux: /proc/self/io)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("syscr:"):
            return int(line.split()[1])
    raise AssertionError("no syscr in /proc/self/io")


def test_a_long_log_is_checked_once_and_appending_reads_nothing(tmp_path: Path, monkeypatch) -> None:
    """The tail check runs at the first append of an opened log, never again: the append of row
    10,100 does what the append of row 1 did (no read of the file, however long it is)."""
    if not Path("/proc/self/io").is_file():
        pytest.skip("no /proc/self/io on this system: cannot count read calls")
    path = tmp_path / "results.jsonl"
    old = json.dumps(make_row({**MINIMAL, "trial_key": "old"}), separators=(",", ":")) + "\n"
    path.write_text(old * 10_000 + old[:40])  # 10,000 rows and a torn one
    checked: list[Path] = []
    real_check = resultlog.cut_torn_tail
    monkeypatch.setattr(resultlog, "cut_torn_tail", lambda p: (checked.append(p), real_check(p))[1])
    log = ResultLog(path)
    log.append({**MINIMAL, "trial_key": "first"})  # cuts the torn row, once
    assert checked == [path] and path.read_text().count("\n") == 10_001
    probe_cost = -(_read_calls() - _read_calls())  # reading the counter reads too
    before = _read_calls()
    for number in range(100):
        log.append({**MINIMAL, "trial_key": f"k{number}"})
    reads = _read_calls() - before - probe_cost
    assert checked == [path], "an append checked the tail again"
    assert reads < 10, f"100 appends made {reads} read calls"
    assert sum(1 for _ in log.rows()) == 10_101


def test_a_failed_write_sends_the_next_append_back_to_the_check(tmp_path: Path) -> None:
    """After an OSError mid-append the log checks its tail again: no torn line is ever glued to
    the next row."""
    log = ResultLog(tmp_path / "out" / "results.jsonl")
    log.append({**MINIMAL, "trial_key": "a"})
    log.path.unlink()
    log.path.parent.rmdir()
    log.path.parent.write_text("")  # the folder is now a file: the append fails
    with pytest.raises(OSError):
        log.append({**MINIMAL, "trial_key": "b"})
    log.path.parent.unlink()
    log.path.parent.mkdir()
    whole = json.dumps(make_row({**MINIMAL, "trial_key": "a"})) + "\n"
    log.path.write_text(whole + '{"torn')
    log.append({**MINIMAL, "trial_key": "c"})
    assert log.path.read_text() == whole + json.dumps(
        make_row({**MINIMAL, "trial_key": "c"}), separators=(",", ":")) + "\n"
