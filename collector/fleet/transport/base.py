"""The Transport ABC: run a command, copy a file, read a file from an offset, on one host.

Everything above it (deploy, the run of a sweep, fetching) is written once against this
interface; ``ssh`` (paramiko) reaches a remote device, ``local`` is this machine without SSH.
Remote paths are absolute (a leading ``~/`` is expanded once with :meth:`Transport.home`),
because SFTP does not expand ``~`` and a quoted ``~`` is not expanded by the shell either.
"""
from __future__ import annotations

import shlex
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from shared.inventory import Host
from shared.registry import Registry


class TransportError(Exception):
    """A host could not be reached or used; the message says why, for the outcome table."""


class Unreachable(TransportError):
    """No connection: refused, timed out, no route, name not known."""


class AuthFailed(TransportError):
    """Connected, but a key was refused: the host's (unknown or changed) or ours."""


class ConnectionLost(TransportError):
    """An established connection dropped; reconnecting may help."""


@dataclass(frozen=True)
class Completed:
    command: str
    returncode: int
    stdout: str
    stderr: str

    def check(self, what: str) -> Completed:
        if self.returncode != 0:
            detail = (self.stderr.strip() or self.stdout.strip()).splitlines()[-3:]
            raise TransportError(f"{what} failed (exit {self.returncode}): {' | '.join(detail)}")
        return self


class Transport(ABC):
    """One host's connection. Connect lazily; every method may raise TransportError."""

    io_timeout_s: float = 30.0  # a command or read taking longer means the link is down

    def __init__(self, host: Host) -> None:
        self.host = host
        self._home: str | None = None

    @abstractmethod
    def connect(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def run(self, command: str, timeout: float | None = None) -> Completed:
        """Run ``command`` with the remote user's POSIX shell; arguments must be quoted by the
        caller. ``timeout`` defaults to :attr:`io_timeout_s`."""

    @abstractmethod
    def put(self, local: Path, remote: str) -> None:
        """Copy a local file to an absolute remote path (its folder must exist)."""

    @abstractmethod
    def read_from(self, remote: str, offset: int, limit: int = 8 << 20) -> bytes:
        """Up to ``limit`` bytes of a remote file from ``offset``; b"" where it does not exist."""

    def home(self) -> str:
        if self._home is None:
            self._home = self.run('printf %s "$HOME"').check("reading $HOME").stdout
        return self._home

    def path(self, path: str) -> str:
        """An absolute remote path: ``~`` and ``~/...`` are expanded to the remote home."""
        if path == "~" or path.startswith("~/"):
            return self.home() + path[1:]
        return path

    def get(self, remote: str, local: Path) -> bool:
        """Copy a whole remote file (read in pieces); False where it does not exist."""
        local.parent.mkdir(parents=True, exist_ok=True)
        offset, chunks = 0, []
        while chunk := self.read_from(remote, offset):
            chunks.append(chunk)
            offset += len(chunk)
        if not chunks and not self.exists(remote):
            return False
        tmp = local.with_name(local.name + ".part")
        tmp.write_bytes(b"".join(chunks))
        tmp.replace(local)
        return True

    def exists(self, remote: str) -> bool:
        return self.run(f"test -e {shlex.quote(remote)}").returncode == 0

    def __enter__(self) -> Transport:
        self.connect()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


TRANSPORTS: Registry[type[Transport]] = Registry("transport", ("ssh", "local"))
TRANSPORTS.register_lazy("ssh", "collector.fleet.transport.ssh:SshTransport")
TRANSPORTS.register_lazy("local", "collector.fleet.transport.local:LocalTransport")
