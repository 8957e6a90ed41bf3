"""``transport: local``: this machine, no SSH (the README's one-host inventory)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from collector.fleet.transport.base import Completed, Transport, TransportError


class LocalTransport(Transport):
    def connect(self) -> None:
        pass

    def close(self) -> None:
        pass

    def run(self, command: str, timeout: float | None = None) -> Completed:
        timeout = timeout or self.io_timeout_s
        # the same POSIX shell an SSH server would start, so that commands mean the same
        try:
            done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise TransportError(f"command did not finish in {timeout:g} s: {command[:80]}") from None
        return Completed(command, done.returncode, done.stdout, done.stderr)

    def put(self, local: Path, remote: str) -> None:
        tmp = Path(remote + ".part")
        shutil.copyfile(local, tmp)
        tmp.replace(remote)

    def read_from(self, remote: str, offset: int, limit: int = 8 << 20) -> bytes:
        try:
            with open(remote, "rb") as f:
                f.seek(offset)
                return f.read(limit)
        except FileNotFoundError:
            return b""
