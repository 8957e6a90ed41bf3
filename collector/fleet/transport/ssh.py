"""``transport: ssh``: a remote host over paramiko, strict about host keys by default.

Host keys come from the user's ``~/.ssh/known_hosts`` and the project's own file
(``--known-hosts``). An unknown key is refused unless the operator opted in with
``--accept-new-host-keys`` (trust on first use: the key is appended to the project's file
and the collector says so); a changed key is always refused. Authentication is by key or
ssh-agent; a password or passphrase only ever comes from an environment variable that the
inventory names, and each only where it belongs: a passphrase decrypts the key here and is
never sent to a server (a host refusing the key would otherwise see it as a password attempt,
and log or keep it); a password is offered to the server only when ``password_env`` says the
secret is one. ``~/.ssh/config`` aliases (HostName, Port, User, IdentityFile, ProxyJump)
are resolved by :mod:`collector.fleet.sshconfig`.
"""
from __future__ import annotations

import base64
import hashlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko

from collector.fleet.sshconfig import SshTarget, resolve
from collector.fleet.transport.base import (AuthFailed, Completed, ConnectionLost, Transport, TransportError,
                                      Unreachable)
from shared.inventory import Host


@dataclass(frozen=True)
class SshOptions:
    """The collector-wide SSH settings (command-line options), the same for every host."""

    known_hosts: Path | None = None  # the project's known_hosts, read beside the user's
    accept_new_host_keys: bool = False
    ssh_config: Path | None = None  # default ~/.ssh/config where it exists
    connect_timeout_s: float = 10.0
    io_timeout_s: float = 30.0  # a command or read on a connected host taking longer: the link is down
    keepalive_s: int = 5  # keeps NAT and firewall state alive on an idle link
    log: Callable[[str], None] = field(default=print, compare=False)


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form, as `ssh-keygen -lf` prints it: SHA256:base64 without padding."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(hostname: str, port: int) -> str:
    return hostname if port == 22 else f"[{hostname}]:{port}"


class _UnknownKey(paramiko.MissingHostKeyPolicy):
    """Refuses an unknown key (the default), or records it (--accept-new-host-keys)."""

    def __init__(self, options: SshOptions) -> None:
        self.options = options

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        if not self.options.accept_new_host_keys:
            raise AuthFailed(f"host key of {hostname} is not known ({key.get_name()} {fingerprint(key)}); "
                             f"check it, then add it to known_hosts or rerun with --accept-new-host-keys")
        client.get_host_keys().add(hostname, key.get_name(), key)
        path = self.options.known_hosts or Path.home() / ".ssh" / "known_hosts"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        self.options.log(f"accepted new host key of {hostname}: {key.get_name()} {fingerprint(key)} "
                         f"(recorded in {path})")


class SshTransport(Transport):
    def __init__(self, host: Host, options: SshOptions | None = None) -> None:
        super().__init__(host)
        self.options = options or SshOptions()
        self.io_timeout_s = self.options.io_timeout_s
        self._clients: list[paramiko.SSHClient] = []  # the jump host's first, then the target's
        self._sftp: paramiko.SFTPClient | None = None

    # ------------------------------------------------------------------ connection

    def _client(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client.load_system_host_keys()
        if self.options.known_hosts and self.options.known_hosts.exists():
            client.load_host_keys(str(self.options.known_hosts))
        client.set_missing_host_key_policy(_UnknownKey(self.options))
        return client

    def _open(self, target: SshTarget, sock: Any = None) -> paramiko.SSHClient:
        client = self._client()
        password = os.environ.get(self.host.password_env) if self.host.password_env else None
        passphrase = os.environ.get(self.host.passphrase_env) if self.host.passphrase_env else None
        where = f"{target.user}@{known_hosts_name(target.hostname, target.port)}"
        timeout = self.options.connect_timeout_s
        try:
            client.connect(target.hostname, port=target.port, username=target.user,
                           key_filename=list(target.identity_files) or None, password=password,
                           passphrase=passphrase, sock=sock, timeout=timeout, banner_timeout=timeout,
                           auth_timeout=timeout, channel_timeout=timeout)
        except TransportError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise AuthFailed(f"host key of {where} CHANGED (now {exc.key.get_name()} {fingerprint(exc.key)}): "
                             f"refused, it may be a man-in-the-middle; if the host was reinstalled, "
                             f"remove its old line from known_hosts") from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise AuthFailed(f"authentication as {where} failed ({exc}); the key or ssh-agent "
                             f"identity is not accepted there") from None
        except (OSError, EOFError, paramiko.SSHException) as exc:  # refused, timed out, no route, no banner
            client.close()
            raise Unreachable(f"cannot connect to {where}: {str(exc) or type(exc).__name__}") from None
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(self.options.keepalive_s)
        self._clients.append(client)
        return client

    def connect(self) -> None:
        if self._clients:
            return
        try:
            target = resolve(self.host, self.options.ssh_config)
        except ValueError as exc:  # a bad ~/.ssh/config entry: this host cannot be reached as written
            raise Unreachable(str(exc)) from None
        sock = None
        try:
            # ProxyJump a,b: connect to a, tunnel to b through it, then to the target through b
            for hop, after in zip((*target.chain(), target), (*target.chain()[1:], target, None)):
                client = self._open(hop, sock)
                if after is None:
                    break
                try:
                    sock = client.get_transport().open_channel(  # type: ignore[union-attr]
                        "direct-tcpip", (after.hostname, after.port), ("127.0.0.1", 0),
                        timeout=self.options.connect_timeout_s)
                except (OSError, paramiko.SSHException) as exc:
                    raise Unreachable(f"jump host {hop.hostname} cannot reach {after.hostname}:{after.port}: "
                                      f"{str(exc) or type(exc).__name__}") from None
        except TransportError:
            self.close()
            raise

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        for client in reversed(self._clients):
            client.close()
        self._clients.clear()
        self._home = None

    @property
    def _target(self) -> paramiko.SSHClient:
        if not self._clients:
            self.connect()
        return self._clients[-1]

    def _sftp_client(self, timeout: float) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._sftp = self._target.open_sftp()
        self._sftp.get_channel().settimeout(timeout)
        return self._sftp

    # ------------------------------------------------------------------ operations

    def _lost(self, what: str, exc: BaseException) -> ConnectionLost:
        self.close()  # the next call reconnects
        return ConnectionLost(f"connection to {self.host.name} lost during {what}: {str(exc) or type(exc).__name__}")

    def run(self, command: str, timeout: float | None = None) -> Completed:
        timeout = timeout or self.io_timeout_s
        try:
            _, stdout, stderr = self._target.exec_command(command, timeout=timeout)
            out = stdout.read().decode(errors="replace")
            err = stderr.read().decode(errors="replace")
            code = stdout.channel.recv_exit_status()
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise self._lost(f"`{command[:60]}`", exc) from None
        if code == -1:  # the channel closed without an exit status: the session or server died
            raise self._lost(f"`{command[:60]}`", EOFError("no exit status")) from None
        return Completed(command, code, out, err)

    def put(self, local: Path, remote: str) -> None:
        tmp = remote + ".part"
        try:
            sftp = self._sftp_client(timeout=max(60.0, self.io_timeout_s))  # uploads may be large
            sftp.put(str(local), tmp)
            sftp.posix_rename(tmp, remote)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if isinstance(exc, FileNotFoundError):
                raise TransportError(f"cannot write {remote} on {self.host.name}: no such folder") from None
            raise self._lost(f"upload of {local.name}", exc) from None

    def read_from(self, remote: str, offset: int, limit: int = 8 << 20) -> bytes:
        try:
            sftp = self._sftp_client(timeout=self.io_timeout_s)
            with sftp.open(remote, "rb") as f:
                f.seek(offset)
                return f.read(limit)
        except FileNotFoundError:
            return b""
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if isinstance(exc, socket.timeout) or not isinstance(exc, IOError) or self._dead():
                raise self._lost(f"reading {remote}", exc) from None
            raise TransportError(f"cannot read {remote} on {self.host.name}: {exc}") from None

    def _dead(self) -> bool:
        transport = self._clients[-1].get_transport() if self._clients else None
        return transport is None or not transport.is_active()
