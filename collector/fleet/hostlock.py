"""A lock held on a host, through its transport: two inventory entries on one machine (the same
user and workdir: a board listed under two names, or twice with different sweeps) must not
install into one venv at once (pip fails with OSError, half-written files).

``mkdir`` is atomic on every POSIX filesystem and needs nothing installed, unlike flock(1),
which BusyBox boards may lack and which would have to hold a shell open across several
commands. The folder holds who took it and when; a lock older than ``stale_s`` (its owner
was killed: a collector process does not outlive the longest deploy) is taken over.
"""
from __future__ import annotations

import shlex
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from collector.fleet.transport import Transport, TransportError

POLL_S = 2.0
WAIT_S = 3 * 3600.0   # the other deploy's pip runs may take 2 x 30 min on a slow board
STALE_S = 4 * 3600.0  # longer than any deploy: its owner is gone


@contextmanager
def host_lock(transport: Transport, path: str, owner: str, *, log: Callable[[str], None] = lambda text: None,
              wait_s: float = WAIT_S, stale_s: float = STALE_S, poll_s: float = POLL_S) -> Iterator[None]:
    """Hold the lock folder ``path`` (absolute, on the host) for the ``with`` block."""
    q = shlex.quote
    me = f"{owner} (collector on {socket.gethostname()})"
    take = (f"mkdir -p {q(path.rsplit('/', 1)[0] or '/')} && mkdir {q(path)} 2>/dev/null && "
            f"printf '%s\\n' {q(me)} > {q(path + '/owner')}")
    # the holder, and how old the lock is in seconds (the folder's mtime, read by the host's clock)
    who = (f"cat {q(path + '/owner')} 2>/dev/null; echo; "
           f"echo $(( $(date +%s) - $(date -r {q(path)} +%s 2>/dev/null || date +%s) ))")
    deadline = time.monotonic() + wait_s
    told = False
    while transport.run(take).returncode != 0:
        holder, age_s = _holder(transport.run(who).stdout)
        if age_s > stale_s:
            log(f"taking over a stale lock {path} ({age_s} s old, held by {holder or 'unknown'})")
            transport.run(f"rm -rf {q(path)}")
            continue
        if time.monotonic() > deadline:
            raise TransportError(f"{path} is still held by {holder or 'another deploy'} after {wait_s:g} s")
        if not told:
            log(f"waiting for {holder or 'another deploy'} to finish with this machine's {path.rsplit('/', 1)[-1]}")
            told = True
        time.sleep(poll_s)
    try:
        yield
    finally:
        try:
            transport.run(f"rm -rf {q(path)}")
        except TransportError:
            pass  # the link is down: the lock goes stale and is taken over later


def _holder(text: str) -> tuple[str, int]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    age = lines[-1] if lines else "0"
    holder = " ".join(lines[:-1])
    return holder, int(age) if age.lstrip("-").isdigit() else 0
