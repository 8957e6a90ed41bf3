"""What the collector makes of each inventory host before connecting: the inventory's values
with the SSH config applied (collector/fleet/sshconfig.py), where each value came from, and which
inventory names are one machine (same address, port, user and workdir).

``collector hosts`` prints it; ``collector run`` warns with it. Nothing here connects.
"""
from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from shared.errors import UserError
from shared.inventory import Host
from shared.profile import usable_cores

INVENTORY, SSH_CONFIG, DEFAULT = "inventory", "ssh config", "default"


@dataclass
class HostRow:
    """One host as the collector will reach it; ``problems`` are what would stop it."""

    name: str
    transport: str
    address: str | None                 # as the inventory gives it (may be an ssh config alias)
    hostname: str | None                # where the connection goes, after the ssh config
    port: int | None
    user: str | None
    identity_files: list[str]
    jump: list[str]                     # [user@]host:port of each hop, the first hop first
    groups: list[str]
    workdir: str
    venv: str
    extras: str
    python: str
    overrides: dict[str, object]        # the sweep settings this host changes
    sources: dict[str, str]             # field -> inventory / ssh config / default
    problems: list[str] = field(default_factory=list)
    same_machine_as: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    def machine_key(self) -> tuple[object, ...] | None:
        if self.transport == "local":
            return ("local", self.workdir)
        if self.hostname is None:
            return None
        return (self.hostname.lower(), self.port, self.user, self.workdir, tuple(self.jump))


def describe(hosts: Sequence[Host], ssh_config: Path | None) -> list[HostRow]:
    rows = [_row(host, ssh_config) for host in hosts]
    # emulated devices (a profile) are names for one machine on purpose: never warned about
    for names in same_machine([row for row, host in zip(rows, hosts) if not host.emulated]):
        for row in rows:
            if row.name in names:
                row.same_machine_as = [n for n in names if n != row.name]
    return rows


def same_machine(rows: Sequence[HostRow]) -> list[list[str]]:
    """Groups of two or more inventory names that resolve to one machine, user and workdir
    (the same route too: 10.0.0.5 behind a bastion is not the 10.0.0.5 next to the collector)."""
    groups: dict[tuple[object, ...], list[str]] = {}
    for row in rows:
        key = row.machine_key()
        if key is not None:
            groups.setdefault(key, []).append(row.name)
    return [names for names in groups.values() if len(names) > 1]


def _row(host: Host, ssh_config: Path | None) -> HostRow:
    # a local host's profile is shaped with this machine's cores; a remote one's are not known here
    profile = host.profile.describe(len(usable_cores()) if host.is_local else None) if host.profile else None
    overrides = {k: v for k, v in (("backends", host.backends), ("devices", host.devices),
                                   ("batch_sizes", host.batch_sizes), ("mem_limit", host.mem_limit),
                                   ("profile", profile), ("runtime", host.runtime or None)) if v is not None}
    row = HostRow(name=host.name, transport=host.transport, address=host.address, hostname=None, port=None,
                  user=host.user, identity_files=[host.identity_file] if host.identity_file else [], jump=[],
                  groups=list(host.tags), workdir=host.workdir, venv=host.venv_path,
                  extras=host.extras, python=host.python, overrides=overrides, sources={})
    if host.identity_file and not Path(host.identity_file).is_file():
        row.problems.append(f"identity file {host.identity_file} does not exist")
    if host.is_local:
        row.user, row.sources = _local_user(), {"user": "local user"}
        return row
    from collector.fleet.sshconfig import resolve  # paramiko: only where a host needs SSH

    try:
        target = resolve(host, ssh_config)
    except UserError as exc:
        row.problems.append(str(exc))
        return row
    row.hostname, row.port, row.user = target.hostname, target.port, target.user
    row.identity_files = list(target.identity_files) if not host.identity_file else row.identity_files
    row.jump = [f"{hop.user}@{hop.hostname}:{hop.port}" for hop in target.chain()]
    row.sources = {
        "hostname": SSH_CONFIG if target.hostname.lower() != (host.address or "").lower() else INVENTORY,
        "port": INVENTORY if host.port else (SSH_CONFIG if target.port != 22 else DEFAULT),
        "user": INVENTORY if host.user else (SSH_CONFIG if target.user != _local_user() else "local user"),
        "identity_files": INVENTORY if host.identity_file else (SSH_CONFIG if target.identity_files
                                                                else "ssh-agent / default keys"),
        "jump": INVENTORY if host.proxy_jump else (SSH_CONFIG if row.jump else "-"),
    }
    return row


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "?"
