"""The collector's copy of one device's ``results.jsonl``: ``OUT/<host>/results.jsonl``, and
where in the remote file the next read starts.

The remote file is read from a byte offset, whole lines only. An offset is only worth
something for the file it was taken in: a wiped run folder, a re-imaged or swapped board, or
another run read into the same host folder puts a different file at the same path. So the
offset is kept with the last line read before it (its length and sha256, in
``OUT/<host>/.stream.json``), and every read starts that many bytes earlier and checks that
line is still there. When it is not, the remote file is read again from the start.

Nothing already here is ever rewritten: a line is appended only if no line here has the same
bytes (a row is never written twice by an agent: it carries its run id, trial key and start
time), so a file read again adds its new rows and none twice. A line this copy began but never
finished (the collector killed, the disk full) is cut off before anything is appended.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shared.errors import no_space
from shared.events import complete_lines
from shared.resultlog import cut_torn_tail
from shared.resultsdir import ResultsFolder


def _digest(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


@dataclass
class Position:
    """Where the next read of ``remote`` starts, and the line just before it."""

    remote: str = ""
    offset: int = 0
    last_len: int = 0
    last_sha256: str = ""


@dataclass(frozen=True)
class Polled:
    new_lines: list[bytes]  # appended here by this poll
    read_bytes: int  # of the remote file, whole lines (0: nothing new there)
    restarted: bool  # the remote file was not the one read before: read again from the start


class RowStream:
    def __init__(self, folder: Path) -> None:
        copy = ResultsFolder(folder)
        self.path = copy.path(ResultsFolder.RESULTS)
        self.state_path = copy.path(ResultsFolder.STREAM_STATE)
        self._held: set[str] | None = None  # sha256 of every line here; read on first use

    def _load(self) -> tuple[set[str], Position]:
        if self._held is None:
            self._held = _held_lines(self.path)[0]
        try:
            position = Position(**json.loads(self.state_path.read_text()))
        except (OSError, ValueError, TypeError):
            position = Position()  # none yet, or an older collector's copy: read from the start
        return self._held, position

    def poll(self, remote: str, read: Callable[[int], bytes]) -> Polled:
        """Append the remote file's complete lines not here yet; ``read(offset)`` reads it."""
        held, position = self._load()
        restarted = False
        if position.offset and position.remote == remote:
            start = position.offset - position.last_len
            data = read(start)
            if _digest(data[:position.last_len]) == position.last_sha256:
                data = data[position.last_len:]
            else:
                restarted, position, data = True, Position(remote), read(0)
        elif position.offset:
            restarted, position, data = True, Position(remote), read(0)
        else:
            position, data = Position(remote), read(0)
        lines, used = complete_lines(data)
        if not used:
            if restarted:
                self._save(position)  # read from 0 from now on, and say so once
            return Polled([], 0, restarted)
        new = [line + b"\n" for line in lines if _digest(line + b"\n") not in held]
        self._append(new)
        held.update(_digest(line) for line in new)
        last_start = data.rfind(b"\n", 0, used - 1) + 1
        last = data[last_start:used]
        self._save(Position(remote, position.offset + used, len(last), _digest(last)))
        return Polled(new, used, restarted)

    def _append(self, lines: list[bytes]) -> None:
        _append_lines(self.path, lines)

    def _save(self, position: Position) -> None:
        tmp = self.state_path.with_name(self.state_path.name + ".part")
        try:
            tmp.write_text(json.dumps(position.__dict__) + "\n")
        except OSError as exc:  # the rows are safe; the next poll reads again from the last offset kept
            raise no_space(exc, self.state_path) or exc from None
        tmp.replace(self.state_path)


def _held_lines(path: Path) -> tuple[set[str], list[bytes]]:
    cut_torn_tail(path)
    data = path.read_bytes() if path.exists() else b""
    lines = [line + b"\n" for line in data.splitlines() if line.strip()]
    return {_digest(line) for line in lines}, lines


def _append_lines(path: Path, lines: list[bytes]) -> None:
    """Append whole lines, synced; on a failure (a full disk) take back what was half written."""
    if not lines:
        return
    size = path.stat().st_size if path.exists() else 0
    try:
        with path.open("ab") as f:
            f.write(b"".join(lines))
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        with path.open("rb+") as f:
            f.truncate(size)
        raise no_space(exc, path) or exc from None


def add_new_lines(fetched: Path, target: Path) -> int:
    """Append to ``target`` the whole lines of ``fetched`` (a side file copied whole: layers,
    telemetry) that it lacks, and remove ``fetched``: the lines of a remote file since wiped
    or replaced are kept beside the new one's, none twice. Returns the lines added."""
    held, _ = _held_lines(target)
    _, lines = _held_lines(fetched)
    new = [line for line in lines if _digest(line) not in held]
    _append_lines(target, new)
    fetched.unlink()
    return len(new)
