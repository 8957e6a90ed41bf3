"""Where an inventory host really is: its ``~/.ssh/config`` entry applied, as ssh(1) would.

An inventory's ``address`` may be an alias from the user's SSH config; the config supplies
HostName, Port, User, IdentityFile and ProxyJump for it, and whatever the inventory says wins.
A ProxyCommand is refused, naming the host: the collector's paramiko connection would go
straight to HostName instead. Read with paramiko's ``SSHConfig``, which lacks ``Include``:
included files are inlined here first (most configs made by tools such as OrbStack or Colima
use it), no more than :data:`MAX_INCLUDED_FILES` files and 1 MiB in all.
"""
from __future__ import annotations

import getpass
import glob
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import paramiko

from collector.fleet.sshresolve import OpenSshConfig, ssh_command
from shared.errors import UserError
from shared.inventory import Host
from shared.inventory_fields import Jump, parse_jumps
from shared.yamlfile import MAX_FILE_BYTES, read_bounded

__all__ = ["Jump", "SshTarget", "parse_jumps", "resolve"]

DEFAULT_PORT = 22
MAX_JUMPS = 8        # a longer ProxyJump chain is a loop in the config
_MAX_INCLUDE_DEPTH = 16  # OpenSSH's READCONF_MAX_DEPTH
MAX_INCLUDED_FILES = 256


@dataclass(frozen=True)
class SshTarget:
    """Everything needed to open an SSH connection to one host.

    ``proxy_jump`` is the hop that opens the channel to this host, itself an SshTarget with
    its own ``proxy_jump`` when the chain is longer (``ssh -J a,b`` gives host <- b <- a):
    connect to the innermost first, then each one's channel carries the next connection."""

    alias: str                              # what was looked up: the inventory's address
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...]         # existing files only (ssh skips missing ones too)
    proxy_jump: SshTarget | None = None     # the last hop before this host

    def chain(self) -> tuple[SshTarget, ...]:
        """Every hop to go through, in the order of connecting (the first hop first)."""
        return (*self.proxy_jump.chain(), self.proxy_jump) if self.proxy_jump else ()


def resolve(host: Host, config_path: Path | None = None) -> SshTarget:
    """The SSH target of an inventory host, with ``config_path`` (default ``~/.ssh/config``
    where it exists) applied. Inventory values win over the config's."""
    if host.is_local or not host.address:
        raise ValueError(f"host {host.name!r} is reached without SSH (transport {host.transport})")
    config, source = _config(config_path)
    return _target(config, source, Jump(host.address, host.user, host.port), host.identity_file,
                   jump_spec=host.proxy_jump, depth=0)


def _target(config: paramiko.SSHConfig, source: str, where: Jump, identity_file: str | None, *,
            jump_spec: str | None, depth: int, after: SshTarget | None = None,
            own_route: bool = True) -> SshTarget:
    """``where`` with the config's entry for its alias applied. ``own_route``: reached by its
    own ProxyJump/ProxyCommand (the inventory's ``jump_spec`` first), else through ``after``."""
    if depth > MAX_JUMPS:
        raise UserError(f"ProxyJump chain to {where.host!r} is longer than {MAX_JUMPS} hops "
                        "(a loop in the SSH config?)", source=source)
    entry = _lookup(config, where, source)
    proxy_jump = after
    if own_route:
        # the inventory's proxy_jump wins, "none" included
        jump_spec = _none_is_unset(entry.get("proxyjump") if jump_spec is None else jump_spec)
        if jump_spec:
            proxy_jump = _through(config, source, jump_spec, depth, where.host)
        elif _none_is_unset(entry.get("proxycommand")):
            raise UserError("ProxyCommand is not supported: the collector's SSH client (paramiko) would "
                            "connect straight to HostName; use ProxyJump here, or proxy_jump: in the inventory",
                            source=source, field=f"Host {where.host}")
    return SshTarget(
        alias=where.host,
        hostname=entry.get("hostname", where.host),
        port=where.port or _config_port(entry.get("port"), where.host, source) or DEFAULT_PORT,
        user=where.user or entry.get("user") or _local_user(),
        identity_files=(identity_file,) if identity_file else _existing(entry.get("identityfile", [])),
        proxy_jump=proxy_jump,
    )


def _lookup(config: paramiko.SSHConfig | OpenSshConfig, where: Jump, source: str) -> dict:
    if isinstance(config, OpenSshConfig):  # ssh -G: Match user and %r see the inventory's user
        return config.lookup(where.host, where.user, where.port)
    # OpenSSH lowercases the host it is given and the HostName it resolves to (Match and Host
    # patterns see the lowercase name); paramiko expands neither %n, %p nor %i in IdentityFile
    entry = _paramiko_lookup(config, where.host.lower(), source)
    if "hostname" in entry:
        entry["hostname"] = entry["hostname"].lower()
    port = str(where.port or entry.get("port", DEFAULT_PORT))
    entry["identityfile"] = [re.sub(r"%([npi])", lambda m: {"n": where.host.lower(), "p": port,
                                                             "i": str(os.getuid())}[m.group(1)], path)
                             for path in entry.get("identityfile", [])]
    return entry


def _through(config: paramiko.SSHConfig, source: str, jump_spec: str, depth: int,
             alias: str) -> SshTarget | None:
    """The last hop of a ProxyJump value, linked back to the first. As ``ssh -J a,b``: a is
    reached by its own route (its config's ProxyJump included), b through a, whatever b's
    config says."""
    try:
        hops = parse_jumps(jump_spec)
    except ValueError as exc:  # the inventory's were checked when it was read: the config's
        raise UserError(f"ProxyJump: {exc}", source=source, field=f"Host {alias}") from None
    last = None
    for i, hop in enumerate(hops):
        last = _target(config, source, hop, None, jump_spec=None, depth=depth + 1 + i, after=last,
                       own_route=(i == 0))
    return last


def _none_is_unset(value: str | None) -> str | None:
    """``ProxyJump none`` / ``ProxyCommand none`` switch off a value a wider Host block set."""
    return None if value is None or value.strip().lower() == "none" else value


def _config_port(value: str | None, alias: str, source: str) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise UserError(f"Port {value!r} is not a port number (1..65535)", source=source,
                        field=f"Host {alias}")
    return int(value)


def _paramiko_lookup(config: paramiko.SSHConfig, alias: str, source: str) -> paramiko.SSHConfigDict:
    """The config's entry for ``alias``; paramiko's own failures on odd configs (an unclosed
    quote, CanonicalizeHostname without CanonicalDomains: found by fuzzing) are one line."""
    try:
        return config.lookup(alias)
    except (ValueError, LookupError, TypeError) as exc:
        raise UserError(f"cannot apply SSH config: {type(exc).__name__}: {exc}", source=source,
                        field=f"Host {alias}") from None


def _existing(paths: list[str]) -> tuple[str, ...]:
    found = []
    for text in paths:
        try:
            path = Path(text).expanduser()
            if path.is_file():
                found.append(str(path))
        except (RuntimeError, ValueError, OSError):  # ~nobody, a NUL: ssh skips what it cannot read
            continue
    return tuple(found)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no $USER and no passwd entry (some containers)
        raise UserError("cannot tell the local user name: set user: in the inventory") from None


def _config(path: Path | None) -> tuple[paramiko.SSHConfig | OpenSshConfig, str]:
    """OpenSSH's reading (ssh -G) where ssh is installed, else paramiko's parser."""
    ssh = ssh_command()
    given = path
    if path is None:
        path = Path.home() / ".ssh" / "config"
        if not path.is_file():  # no config: every address is itself (or the system config's)
            return (OpenSshConfig(ssh, None, (0, 0)) if ssh else paramiko.SSHConfig()), str(path)
    path = Path(path).expanduser()
    try:
        stat = path.stat()
    except OSError as exc:
        raise UserError(f"cannot read SSH config: {exc.strerror}", source=str(path)) from None
    if ssh:
        return OpenSshConfig(ssh, path if given is not None else None, (stat.st_mtime_ns, stat.st_size)), str(path)
    # parsed once per version of the file, not once per host of a 1,000-host fleet
    return _parse_config(str(path), stat.st_mtime_ns, stat.st_size), str(path)


@lru_cache(maxsize=8)
def _parse_config(path: str, _mtime_ns: int, _size: int) -> paramiko.SSHConfig:
    try:
        return paramiko.SSHConfig.from_text(_inline_includes(Path(path), 0, _Budget()))
    except (paramiko.ssh_exception.ConfigParseError, ValueError) as exc:  # ValueError: shlex's quotes
        raise UserError(f"cannot parse SSH config: {exc}", source=path) from None


@dataclass
class _Budget:
    """What the includes of one config may still read: ``Include *`` in ~/.ssh includes the
    config itself, and 16 levels of that is 3^16 files."""

    files: int = MAX_INCLUDED_FILES
    bytes: int = MAX_FILE_BYTES


def _inline_includes(path: Path, depth: int, budget: _Budget) -> str:
    """The file's text with each ``Include`` replaced by the files it names (globs allowed;
    relative names are under ~/.ssh, as OpenSSH reads the user's config)."""
    if depth > _MAX_INCLUDE_DEPTH:
        raise UserError(f"Include nested more than {_MAX_INCLUDE_DEPTH} deep (a loop?)", source=str(path))
    budget.files -= 1
    if budget.files < 0:
        raise UserError(f"Includes read more than {MAX_INCLUDED_FILES} files (a loop?)", source=str(path))
    data = read_bounded(path, "SSH config", budget.bytes)
    budget.bytes -= len(data)
    lines = []
    header = "Host *"  # the block this file is in: an included file's last block ends at its end
    for line in data.decode("utf-8", errors="replace").splitlines():  # ssh reads bytes
        match = re.match(r"\s*include\s*(?:=\s*)?(.+)", line, re.IGNORECASE)
        if not match:
            line = openssh_spelling(line)
            if re.match(r"\s*(host|match)\b", line, re.IGNORECASE):
                header = line.strip()
            lines.append(line)
            continue
        for pattern in match.group(1).split():
            lines.extend(_inline_includes(Path(p), depth + 1, budget) for p in _included(pattern, path))
        lines.append(header)  # as OpenSSH: what follows an Include is in the includer's block
    return "\n".join(lines) + "\n"


def _included(pattern: str, source: Path) -> list[str]:
    """The files one ``Include`` word names, sorted as OpenSSH reads them."""
    try:
        pattern = str(Path(pattern.strip('"')).expanduser())
        if not Path(pattern).is_absolute():
            pattern = str(Path.home() / ".ssh" / pattern)
        return sorted(glob.glob(pattern))
    except (RuntimeError, ValueError) as exc:  # ~nobody (no such user), a NUL byte
        raise UserError(f"Include {pattern!r}: {exc}", source=str(source)) from None


def openssh_spelling(line: str) -> str:
    """A line as paramiko must see it to read it as OpenSSH does: a ``# comment`` after the
    patterns of a ``Host`` line is no pattern, and ``Match`` criteria are case-insensitive
    (paramiko knows only ``host``, so ``Match Host x`` would match every host)."""
    head = re.match(r"(\s*)(host|match)(\s*=\s*|\s+)(.*)", line, re.IGNORECASE)
    if not head:
        return line
    indent, key, sep, rest = head.groups()
    words = rest.split()
    if "#" in rest:
        cut = next((i for i, w in enumerate(words) if w.startswith("#")), len(words))
        words = words[:cut]
    if key.lower() == "match":
        words = _match_keywords(words)
    return f"{indent}{key.lower()}{sep}{' '.join(words)}"


def _match_keywords(words: list[str]) -> list[str]:
    out, expect_keyword = [], True
    for word in words:
        if expect_keyword:
            keyword = word.lower()
            out.append(keyword)
            expect_keyword = keyword.lstrip("!") in ("all", "canonical", "final")
        else:
            out.append(word)
            expect_keyword = True
    return out
