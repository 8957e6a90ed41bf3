"""An SSH config read by OpenSSH itself: ``ssh -G HOST`` prints the options ssh would use for
HOST (HostName, Port, User, IdentityFile, ProxyJump, ProxyCommand) without connecting, with
every rule of OpenSSH applied: first value wins, ``Include`` (relative to ~/.ssh), ``Match``
in any spelling, ``%h`` in HostName, ``Host`` lines with comments, the system-wide config.

Where ssh is installed this is what collector/fleet/sshconfig.py looks hosts up in; paramiko's
parser is the fallback (``EDGEPRUNE_SSH_CONFIG=paramiko`` forces it). ``ssh -G`` prints
IdentityFile unexpanded and ssh's default key list where none is configured: tokens are
expanded here, and the default list stands for "none configured" (paramiko's default-key
search then applies, as with the fallback).
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
from functools import lru_cache
from pathlib import Path

from shared.errors import UserError

ENV_SWITCH = "EDGEPRUNE_SSH_CONFIG"  # "paramiko": paramiko's parser even where ssh is installed
TIMEOUT_S = 20.0                     # Match exec runs commands: bounded
KEYS = ("hostname", "port", "user", "identityfile", "proxyjump", "proxycommand")
# what ssh -G lists where no IdentityFile is configured (OpenSSH 8 and 9)
DEFAULT_IDENTITIES = {f"~/.ssh/{name}" for name in ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519",
                                                    "id_ed25519_sk", "id_xmss", "id_dsa")}


def ssh_command() -> str | None:
    """The ssh to ask, or None (not installed, or switched off)."""
    if os.environ.get(ENV_SWITCH, "").strip().lower() == "paramiko":
        return None
    return shutil.which("ssh")


class OpenSshConfig:
    """``lookup(alias)`` as paramiko's SSHConfig has it, answered by ``ssh -G``."""

    def __init__(self, ssh: str, path: Path | None, stamp: tuple[int, int]) -> None:
        self.ssh, self.path, self.stamp = ssh, path, stamp

    def lookup(self, alias: str, user: str | None = None, port: int | None = None) -> dict[str, object]:
        return dict(_ssh_g(self.ssh, str(self.path) if self.path else None, self.stamp, alias, user, port))


def config_arguments(path: Path | None) -> list[str]:
    """``-F FILE`` where a file is given or ~ is not the passwd home (ssh reads the latter)."""
    if path is not None:
        return ["-F", str(path)]
    default = Path.home() / ".ssh" / "config"
    if str(Path.home()) == _passwd_home():
        return []  # ssh's own default: ~/.ssh/config and the system-wide config
    return ["-F", str(default) if default.is_file() else os.devnull]


@lru_cache(maxsize=4096)
def _ssh_g(ssh: str, path: str | None, _stamp: tuple[int, int], alias: str, user: str | None,
           port: int | None) -> tuple[tuple[str, object], ...]:
    argv = [ssh, *config_arguments(Path(path) if path else None), "-G"]
    argv += ["-l", user] if user else []
    argv += ["-p", str(port)] if port else []
    try:
        done = subprocess.run([*argv, "--", alias], capture_output=True, text=True, timeout=TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"ssh -G {alias} failed: {exc}", source=path) from None
    if done.returncode != 0:
        raise _error(done.stderr, alias, path, done.returncode)
    return tuple(_entry(done.stdout, alias, user).items())


def _error(stderr: str, alias: str, path: str | None, code: int) -> UserError:
    """OpenSSH's complaint as one line naming the file (the included one, where it is there)
    and the line: ``FILE line 2: Bad port 'twenty'.``"""
    why = next((line.strip() for line in stderr.splitlines() if line.strip()), f"exit {code}")[:300]
    found = re.match(r"(?:.*?: )?(/\S+) line (\d+): (.*)", why)
    if found:
        return UserError(f"{found.group(3).rstrip('.')} (read by ssh -G for {alias})",
                         source=found.group(1), field=f"line {found.group(2)}")
    return UserError(f"ssh -G {alias}: {why}", source=path)


def _entry(text: str, alias: str, user: str | None) -> dict[str, object]:
    options: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key in KEYS:
            options.setdefault(key, []).append(value.strip())
    entry: dict[str, object] = {k: v[0] for k, v in options.items() if k != "identityfile" and v}
    if user is None and entry.get("user") == _passwd_user():
        del entry["user"]  # "not configured": sshconfig falls back to the local user itself
    for key in ("proxyjump", "proxycommand"):
        if str(entry.get(key, "")).lower() == "none":
            entry.pop(key)
    tokens = _tokens(alias, str(entry.get("hostname", alias)), str(entry.get("port", 22)),
                     user or str(entry.get("user") or _passwd_user()))
    files = options.get("identityfile", [])
    if files and not set(files) <= DEFAULT_IDENTITIES:
        entry["identityfile"] = [str(Path(_expand(f, tokens)).expanduser()) for f in files]
    if "proxycommand" in entry:  # as paramiko gives it: %h, %p, %r expanded
        entry["proxycommand"] = _expand(str(entry["proxycommand"]), tokens)
    return entry


def _tokens(alias: str, hostname: str, port: str, remote_user: str) -> dict[str, str]:
    """The percent tokens OpenSSH expands in IdentityFile (ssh_config(5), TOKENS)."""
    home = str(Path.home())
    return {"%": "%", "d": home, "h": hostname, "n": alias, "p": port, "r": remote_user,
            "u": _passwd_user(), "i": str(os.getuid()), "l": socket.gethostname().split(".")[0],
            "L": socket.gethostname().split(".")[0]}


def _expand(value: str, tokens: dict[str, str]) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "%" and i + 1 < len(value) and value[i + 1] in tokens:
            out.append(tokens[value[i + 1]])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _passwd_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return ""


def _passwd_home() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return ""
