"""The fleet's inventory: which hosts the collector drives, and how it reaches each one.

Two YAML formats, told apart by their shape:

- the project's own: ``hosts:``, a list of mappings, and an optional ``defaults:`` mapping
  applied to every host (see deploy/inventory.example.yml);
- Ansible's YAML inventory as users already keep it: ``all:`` / groups / ``children:`` /
  ``vars:``, with ``ansible_host``, ``ansible_port``, ... and ``edgeprune_<field>`` vars
  (see deploy/inventory.ansible.example.yml).

Every mistake is one :class:`UserError` naming the file, the host and the field. No
password is read from an inventory: ``password_env`` (a login password) and ``passphrase_env``
(a key's passphrase) name environment variables.

The agent side imports shared/ and stays light: nothing here imports paramiko (the SSH
config is read by collector/fleet/sshconfig.py).
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from shared.ansible_vars import VarsFolders
from shared.errors import UserError, shown, unknown_name
from shared.profile import DeviceProfile
from shared.inventory_ansible import is_ansible, parse_ansible
from shared.inventory_fields import (ANSIBLE_TAGS, EXTRAS, FIELD_KEYS, OWN_PASSWORD_KEYS, TRANSPORTS,
                                     FieldReader, check_name, password_error)
from shared.resultsdir import PLAIN_NAME, ResultsFolder
from shared.yamlfile import decode_utf8, load_yaml, read_bounded

__all__ = ["EXTRAS", "TRANSPORTS", "Host", "Inventory", "load_inventory", "parse_inventory", "safe_folder_name"]

DEFAULT_WORKDIR = "~/.edgeprune"


@dataclass(frozen=True)
class Host:
    """One machine of the fleet, as the inventory describes it (SSH config not applied yet)."""

    name: str                               # unique; also the host's results folder (folder_name)
    transport: str = "ssh"                  # "ssh", or "local": this machine, no SSH
    address: str | None = None              # hostname, IP or ~/.ssh/config alias; ssh only
    port: int | None = None                 # None: the SSH config's, else 22
    user: str | None = None                 # None: the SSH config's, else the local user
    identity_file: str | None = None        # local path, ~ expanded
    password_env: str | None = None         # name of an environment variable holding a login password
    passphrase_env: str | None = None       # ... holding the passphrase of an encrypted identity_file
    proxy_jump: str | None = None           # "[user@]host[:port][,...]" as ssh -J takes it
    python: str = "python3"                 # remote interpreter that creates the venv
    workdir: str = DEFAULT_WORKDIR          # remote; ~ is the remote user's home
    venv: str | None = None                 # as written; None: <workdir>/venv (venv_path), or
                                            # for a local host the collector's own environment
    extras: str = "full"                    # "full" or "agent" (the light agent, no torch)
    runtime: tuple[str, ...] = ()           # pip arguments installed after the extras: a torch
                                            # built for this GPU, onnxruntime-gpu, a Jetson wheel
    backends: tuple[str, ...] | None = None  # None: the sweep's
    devices: tuple[str, ...] | None = None
    batch_sizes: tuple[int, ...] | None = None
    mem_limit: str | None = None            # e.g. "2GiB": the agent's --mem-limit
    profile: DeviceProfile | None = None    # an emulated device (shared/profile.py): --profile
    tags: tuple[str, ...] = ()

    @property
    def is_local(self) -> bool:
        return self.transport == "local"

    @property
    def emulated(self) -> bool:
        return self.profile is not None

    @property
    def venv_given(self) -> bool:
        return self.venv is not None

    @property
    def venv_path(self) -> str:
        """The agent's venv on the host: the inventory's, else <workdir>/venv."""
        return self.venv if self.venv is not None else f"{self.workdir.rstrip('/')}/venv"

    @property
    def folder_name(self) -> str:
        return safe_folder_name(self.name)


def safe_folder_name(name: str) -> str:
    """A name safe as one path component: the name itself when it is plain, else a slug of it
    plus 8 hex digits of its sha256 (so that two odd names never share a folder)."""
    if PLAIN_NAME.fullmatch(name):
        return name
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", name).strip("-.")[:40] or "host"
    return f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


HOST_KEYS = tuple(f.name for f in fields(Host))


@dataclass(frozen=True)
class Inventory:
    """The hosts of one inventory file, in the file's order."""

    source: str
    hosts: tuple[Host, ...]

    def __iter__(self) -> Iterator[Host]:
        return iter(self.hosts)

    def __len__(self) -> int:
        return len(self.hosts)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hosts)

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(sorted({t for h in self.hosts for t in h.tags}))

    def get(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise unknown_name("host", name, self.names, source=self.source)

    def select(self, limit: Sequence[str] | None) -> Inventory:
        """The hosts named or tagged in ``limit`` (``--limit a,b``), in inventory order;
        no limit (or ``all``) is every host. An unknown name lists the valid ones."""
        if not limit:
            return self
        wanted: set[str] = set()
        for item in limit:
            # a whole item first: host names may contain commas (they are allowed any character)
            for part in [item] if self._matches(item) else [p.strip() for p in item.split(",") if p.strip()]:
                if not self._matches(part):
                    raise UserError(f"--limit: unknown host or tag {part!r}", source=self.source,
                                    valid=[*self.names, *(f"tag {t}" for t in self.tags)])
                wanted.add(part)
        if "all" in wanted and "all" not in self.names:
            return self
        return Inventory(self.source, tuple(h for h in self.hosts
                                            if h.name in wanted or wanted.intersection(h.tags)))

    def _matches(self, part: str) -> bool:
        return part == "all" or part in self.names or part in self.tags


def load_inventory(path: str | Path, *, check_files: bool = True) -> Inventory:
    """Read and check an inventory file (either format); any problem is a one-line UserError.

    ``check_files=False`` skips the check that identity files exist and are readable (for
    the examples, and for tools that only list hosts)."""
    path = Path(path)
    text = decode_utf8(read_bounded(path, "inventory file"), str(path))
    data, problem, where = None, None, None
    try:
        data = load_yaml(text, str(path), ANSIBLE_TAGS)
    except UserError as exc:  # not YAML: maybe Ansible's INI; the message without its place
        where = exc.field
        problem = str(exc).removeprefix(f"{path}: ").removeprefix(f"{where}: ").removeprefix("malformed YAML: ")
    if problem is None and (data is None or (isinstance(data, Mapping) and not is_ansible(data))):
        return parse_inventory(data, str(path), check_files=check_files)
    # Ansible's: INI (its default) or YAML, read by Ansible where it is installed
    from shared.inventory_sources import read_ansible
    source = read_ansible(path, text, data, problem, where)
    return parse_inventory(source.data, str(path), check_files=check_files, vars_folders=source.vars_folders)


def parse_inventory(data: Any, source: str = "<inventory>", *, check_files: bool = True,
                    vars_folders: VarsFolders | None = None) -> Inventory:
    """Check a parsed YAML document (either format) and return the Inventory it describes."""
    reader = FieldReader(source, check_files)
    if data is None or data == {}:
        raise UserError("empty inventory: no hosts", source=source)
    if not isinstance(data, Mapping):
        raise UserError(f"expected a mapping with hosts: (or Ansible's all:), got {type(data).__name__}",
                        source=source)
    raw = parse_ansible(reader, data, vars_folders) if is_ansible(data) else _parse_own(reader, data)
    if not raw:
        raise UserError("empty inventory: no hosts", source=source)
    _check_folders(reader, raw)
    return Inventory(source, tuple(_make_host(reader, *item) for item in raw))


def _check_folders(r: FieldReader, raw: list[tuple[str, dict[str, Any], str]]) -> None:
    """Each host gets its own results folder, OUT/<folder_name>/: names must differ (in more
    than case, as macOS folders do not) and none may be a file the collector writes there."""
    first: dict[str, tuple[str, str]] = {}
    for name, _, where in raw:
        folder = safe_folder_name(name)
        if folder.casefold() in (f.casefold() for f in ResultsFolder.FLEET_FILES):
            raise r.fail(f"{where}: name", f"host name {shown(name)} is the name of a file the collector "
                                           "writes beside the host folders; rename the host")
        other = first.get(folder.casefold())
        if other is not None:
            other_name, other_where = other
            why = (f"duplicate host name {shown(name)}" if other_name == name else
                   f"host names {shown(other_name)} and {shown(name)} would share one results folder "
                   "(folders may ignore case)")
            raise r.fail(f"{where}: name", f"{why} (also {other_where})")
        first[folder.casefold()] = (name, where)


def _make_host(r: FieldReader, name: str, values: dict[str, Any], where: str) -> Host:
    if values.get("transport", "ssh") == "ssh" and not values.get("address"):
        raise r.fail(f"{where}: address", "missing (required for transport ssh)")
    return Host(name=name, **values)


def _own_fields(r: FieldReader, data: Any, where: str, valid: Sequence[str]) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise r.fail(where, f"expected a mapping, got {type(data).__name__}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in OWN_PASSWORD_KEYS:
            raise password_error(r, f"{where}: {key}")
        if key not in FIELD_KEYS:
            raise unknown_name("key", key, valid, source=r.source, field=where)
        if value is not None:  # "port:" left empty means "not set"
            values[key] = r.read(key, value, f"{where}: {key}")
    return values


def _parse_own(r: FieldReader, data: Mapping[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """Each host as (name, checked field values, where for messages), in the file's order."""
    for key in data:
        if key not in ("hosts", "defaults"):
            raise unknown_name("top-level key", key, ("defaults", "hosts"), source=r.source)
    defaults = _own_fields(r, data.get("defaults"), "defaults", FIELD_KEYS)
    items = data.get("hosts")
    if items is None or items == []:
        raise r.fail("hosts", "empty inventory: no hosts")
    if not isinstance(items, list):
        raise r.fail("hosts", f"expected a list of hosts, got {type(items).__name__}")
    hosts = []
    for i, item in enumerate(items):
        where = f"hosts[{i}]"
        if not isinstance(item, Mapping):
            raise r.fail(where, f"expected a mapping with name: and address:, got {shown(item)}")
        if "name" not in item:
            raise r.fail(f"{where}: name", "missing (required)")
        name = check_name(r, item["name"], f"{where}: name")
        where = f"{where} ({name})"
        own = _own_fields(r, {k: v for k, v in item.items() if k != "name"}, where, HOST_KEYS)
        values = {**defaults, **own}
        if "tags" in defaults and "tags" in own:  # tags add up; other fields: the host's wins
            values["tags"] = tuple(dict.fromkeys([*defaults["tags"], *own["tags"]]))
        hosts.append((name, values, where))
    return hosts
