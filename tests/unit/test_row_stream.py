"""The collector's copy of a device's results.jsonl (collector/fleet/stream.py): offsets kept with
the line before them, a replaced remote file read again from its start, nothing twice."""
from __future__ import annotations

from pathlib import Path

from collector.fleet.stream import RowStream
from shared.resultsdir import ResultsFolder


def reader(path: Path):
    def read(offset: int) -> bytes:
        if not path.exists():
            return b""
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(1 << 20)
    return read


def lines(n: int, run: str, start: int = 0) -> bytes:
    return b"".join(b'{"run_id": "%s", "trial_key": "t%d"}\n' % (run.encode(), i) for i in range(start, start + n))


def test_rows_are_copied_once_and_a_partial_line_waits(tmp_path: Path) -> None:
    remote, local = tmp_path / "remote.jsonl", tmp_path / "local"
    local.mkdir()
    remote.write_bytes(lines(2, "a") + b'{"run_id": "a", "tri')
    stream = RowStream(local)
    assert len(stream.poll(str(remote), reader(remote)).new_lines) == 2
    remote.write_bytes(lines(3, "a"))  # the half line finished, nothing else
    polled = stream.poll(str(remote), reader(remote))
    assert len(polled.new_lines) == 1 and not polled.restarted
    assert RowStream(local).poll(str(remote), reader(remote)).new_lines == []  # a second collector run
    assert (local / "results.jsonl").read_bytes() == lines(3, "a")


def test_a_replaced_remote_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    remote, local = tmp_path / "remote.jsonl", tmp_path / "local"
    local.mkdir()
    remote.write_bytes(lines(6, "old"))
    RowStream(local).poll(str(remote), reader(remote))
    remote.write_bytes(lines(7, "new"))  # longer than the old one: an offset would land mid-line
    polled = RowStream(local).poll(str(remote), reader(remote))
    assert polled.restarted and len(polled.new_lines) == 7
    assert (local / "results.jsonl").read_bytes() == lines(6, "old") + lines(7, "new")
    remote.write_bytes(lines(2, "newer"))  # shorter: the same
    assert RowStream(local).poll(str(remote), reader(remote)).restarted
    remote.unlink()  # gone: said once, then quiet
    stream = RowStream(local)
    assert stream.poll(str(remote), reader(remote)).restarted
    assert stream.poll(str(remote), reader(remote)).restarted is False  # offset 0 now: nothing to check
    remote.write_bytes(lines(2, "newer"))  # back, as it was: nothing twice
    assert stream.poll(str(remote), reader(remote)).new_lines == []
    assert (local / "results.jsonl").read_bytes() == lines(6, "old") + lines(7, "new") + lines(2, "newer")


def test_an_older_copy_without_a_position_is_matched_line_by_line(tmp_path: Path) -> None:
    remote, local = tmp_path / "remote.jsonl", tmp_path / "local"
    local.mkdir()
    remote.write_bytes(lines(5, "a"))
    (local / "results.jsonl").write_bytes(lines(3, "a") + b'{"run_id": "a", "tr')  # torn by a killed collector
    polled = RowStream(local).poll(str(remote), reader(remote))
    assert [line for line in polled.new_lines] == lines(2, "a", start=3).splitlines(keepends=True)
    assert (local / "results.jsonl").read_bytes() == lines(5, "a")
    (local / ResultsFolder.STREAM_STATE).write_text("{garbled")  # a lost position is a re-read, never a fragment
    assert RowStream(local).poll(str(remote), reader(remote)).new_lines == []
    assert (local / "results.jsonl").read_bytes() == lines(5, "a")


def test_a_side_file_fetched_again_keeps_its_lines_and_adds_the_new_ones(tmp_path: Path) -> None:
    from collector.fleet.stream import add_new_lines

    target, fetched = tmp_path / "telemetry.jsonl", tmp_path / ".telemetry.jsonl.fetched"
    fetched.write_bytes(lines(3, "old"))
    assert add_new_lines(fetched, target) == 3 and not fetched.exists()
    fetched.write_bytes(lines(4, "old"))  # the same file, grown
    assert add_new_lines(fetched, target) == 1
    fetched.write_bytes(lines(2, "new") + b'{"torn')  # another run's file replaced it
    assert add_new_lines(fetched, target) == 2
    assert target.read_bytes() == lines(4, "old") + lines(2, "new")
