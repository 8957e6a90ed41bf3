"""One writer a results folder: an agent's ``--out`` and a collector's ``--out`` are each
locked by the process writing them, so that two writers never interleave rows, race on the
same ``.part`` files, or fight over one DuckDB store. The lock is ``flock`` on a file in the
folder: the kernel drops it when its process ends, however it ends (a stale lock cannot be)."""
from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from shared.errors import UserError

_HELD: dict[Path, int] = {}  # lock file -> its fd, held until this process ends


def lock_folder(root: Path, owner: str, lock_name: str = ".lock") -> None:
    """Hold ``root/lock_name`` for this process, or fail with one line naming the holder
    (``owner`` says what kind of process holds it: "agent", "collector")."""
    path = (root / lock_name).resolve()
    if path in _HELD:
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "pid ?"
        os.close(fd)
        raise UserError(f"another {owner} ({holder}) is writing to output folder {str(root)!r}; "
                        f"wait for it or choose another --out", field="--out") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
    _HELD[path] = fd
