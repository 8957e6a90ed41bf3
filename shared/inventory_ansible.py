"""Ansible's YAML inventory, as users already keep it, read into host fields.

``all:`` with ``hosts:`` (name -> vars or null), ``children:`` groups nested to any depth and
``vars:`` at any level. As in Ansible, outer group vars weigh least, deeper groups more (ties
by group name), host vars most; a host written in several groups is one host with all their
vars and all their names as tags. Ansible's own keys (``ansible_host``, ``ansible_port``,
``ansible_user``, ``ansible_ssh_private_key_file``, ``ansible_python_interpreter``,
``ansible_connection``) and ``edgeprune_<field>`` vars are read; every other var belongs to
someone else's playbooks and is ignored.
"""
from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.ansible_vars import VarsFolders
from shared.errors import shown, unknown_name
from shared.inventory_fields import FIELD_KEYS, FieldReader, Vaulted, check_name, password_error

ANSIBLE_PASSWORD_KEYS = ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password",
                         "ansible_become_pass", "ansible_become_password",
                         "edgeprune_password", "edgeprune_passphrase")
_GROUP_KEYS = ("hosts", "children", "vars")
MAX_RANGE_HOSTS = 100_000  # hosts one range pattern may name
_UNTAGGED_GROUPS = ("all", "ungrouped")  # every host is in them: no information as tags
ANSIBLE_KEYS = {
    "ansible_host": "address", "ansible_ssh_host": "address",
    "ansible_port": "port", "ansible_ssh_port": "port",
    "ansible_user": "user", "ansible_ssh_user": "user",
    "ansible_ssh_private_key_file": "identity_file", "ansible_private_key_file": "identity_file",
    "ansible_python_interpreter": "python",
    "ansible_connection": "transport",
}
# Host entries at most, ranges expanded (Ansible sets no bound): a typo of a digit in
# pi-[1:1000] must not make 10^8 hosts, nor a group written once and aliased 1,000 times.
MAX_HOSTS = 100_000
_CONNECTIONS = {"ssh": "ssh", "paramiko": "ssh", "smart": "ssh", "local": "local"}
_VarsList = list[tuple[Mapping[str, Any], str]]  # vars mappings, each with where it was written


@dataclass
class _Budget:
    hosts_left: int = MAX_HOSTS


@dataclass
class _Group:
    vars: _VarsList
    hosts: dict[str, _VarsList]  # host -> its vars as written in this group
    parents: set[str]


def is_ansible(data: Mapping[str, Any]) -> bool:
    """Ansible's top level is groups (usually just all:), each a mapping of hosts/children/vars;
    ours has a hosts: list. Anything else is read as ours, so that its errors name our keys."""
    if "all" in data:
        return True
    if isinstance(data.get("hosts"), list) or "defaults" in data:
        return False
    return all(isinstance(v, Mapping) and v and set(v) <= set(_GROUP_KEYS) for v in data.values())


def parse_ansible(r: FieldReader, data: Mapping[str, Any],
                  vars_folders: VarsFolders | None = None) -> list[tuple[str, dict[str, Any], str]]:
    """Each host as (name, checked field values, where for messages), in the file's order;
    ``vars_folders``: the group_vars/ and host_vars/ beside the inventory."""
    groups: dict[str, _Group] = {"all": _Group([], {}, set())}
    budget = _Budget()
    for name, value in data.items():
        # a top-level group other than all: is all's child, so that all's vars weigh least
        _walk_group(r, str(name), value, str(name), None if str(name) == "all" else "all", groups,
                    budget)
    depths: dict[str, int] = {}
    host_groups: dict[str, list[str]] = {}
    for gname, group in groups.items():
        for host in group.hosts:
            host_groups.setdefault(host, []).append(gname)
    hosts = []
    for hname, direct in host_groups.items():
        member = _with_ancestors(direct, groups)
        # Ansible's precedence: outer groups first, then deeper ones, then by ansible_group_priority
        # and name (sorted first too: a cycle is reported from the same group whatever the hash seed); group_vars/ files over every group var written in the inventory; host vars
        # last, host_vars/ over the inventory's
        order = sorted(sorted(member), key=lambda g: (_depth(r, g, groups, depths, ()), _priority(groups[g]), g))
        layers = [layer for g in order for layer in groups[g].vars]
        layers += [layer for g in order for layer in vars_folders.group(g)] if vars_folders else []
        layers += [layer for g in direct for layer in groups[g].hosts[hname]]
        layers += vars_folders.host(hname) if vars_folders else []
        values = _ansible_fields(r, hname, layers)
        tags = [g for g in sorted(member) if g not in _UNTAGGED_GROUPS]
        values["tags"] = tuple(dict.fromkeys([*tags, *values.get("tags", ())]))
        if values.get("transport", "ssh") == "ssh" and "address" not in values:
            values["address"] = r.ssh_word(hname, f"{hname}: ansible_host")  # Ansible's default
        hosts.append((hname, values, hname))
    return hosts


def _priority(group: _Group) -> int:
    value = 1  # Ansible's default ansible_group_priority
    for mapping, _ in group.vars:
        found = mapping.get("ansible_group_priority")
        if isinstance(found, int) and not isinstance(found, bool):
            value = found
    return value


def _walk_group(r: FieldReader, name: str, value: Any, where: str, parent: str | None,
                groups: dict[str, _Group], budget: _Budget) -> None:
    """Record a group (a group may be written in several places: the parts are merged)."""
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise r.fail(where, f"expected a group (hosts:, children:, vars:), got {type(value).__name__}")
    for key in value:
        if key not in _GROUP_KEYS:
            raise unknown_name("group key", key, _GROUP_KEYS, source=r.source, field=where)
    group = groups.setdefault(name, _Group([], {}, set()))
    if parent is not None:
        group.parents.add(parent)
    if value.get("vars") is not None:
        group.vars.append((_mapping(r, value["vars"], f"{where}.vars"), f"{where}.vars"))
    for pattern, hvars in _mapping(r, value.get("hosts"), f"{where}.hosts").items():
        for hname, port in _expand_host_pattern(r, str(pattern), f"{where}.hosts", budget):
            layer = dict(_mapping(r, hvars, f"{where}.hosts.{pattern}"))
            if port is not None:
                layer = {"ansible_port": port, **layer}
            group.hosts.setdefault(hname, []).append((layer, f"{where}.hosts.{hname}"))
    for child, cvalue in _mapping(r, value.get("children"), f"{where}.children").items():
        _walk_group(r, str(child), cvalue, f"{where}.children.{child}", name, groups, budget)


def _mapping(r: FieldReader, value: Any, where: str) -> Mapping[Any, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {value: None}  # Ansible's YAML plugin: "hosts: somehost" is one host, without vars
    if not isinstance(value, Mapping):
        raise r.fail(where, f"expected a mapping, got {type(value).__name__}")
    return value


def _expand_host_pattern(r: FieldReader, pattern: str, where: str,
                         budget: _Budget) -> list[tuple[str, int | None]]:
    """Ansible's host patterns: ``pi-[01:10]``, ``node-[a:c]`` (with an optional ``:step``) and
    ``name:port``; each name is checked."""
    port = None
    match = re.fullmatch(r"([^:\[\]]+|.*\])\s*:\s*(\d+)", pattern)
    if match:  # host:port (IPv6 addresses have several colons and no range: left alone)
        pattern, port = match.group(1), int(match.group(2))
    return [(check_name(r, name, where), port) for name in _expand_ranges(r, pattern, where, budget)]


def _expand_ranges(r: FieldReader, pattern: str, where: str, budget: _Budget) -> list[str]:
    """Every name of a pattern, its ranges counted before any is expanded: ``pi-[1:99999999]``
    is one line of YAML and would be 10^8 hosts."""
    pieces: list[Sequence[str]] = []
    last = 0
    for match in re.finditer(r"\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::(\d+))?\]", pattern):
        pieces += [[pattern[last:match.start()]], _range_values(r, pattern, match, where)]
        last = match.end()
    pieces.append([pattern[last:]])
    budget.hosts_left -= math.prod(len(p) for p in pieces)
    if budget.hosts_left < 0:
        raise r.fail(where, f"host range {shown(pattern)} names more than {MAX_RANGE_HOSTS:,} hosts "
                            f"(the inventory may hold at most {MAX_HOSTS:,})")
    return ["".join(parts) for parts in itertools.product(*pieces)]


def _range_values(r: FieldReader, pattern: str, match: re.Match[str], where: str) -> Sequence[str]:
    """The values of one ``[start:end:step]``, lazily: a range object until it is counted."""
    start, end, step = match.group(1), match.group(2), match.group(3) or "1"
    if max(len(start), len(end), len(step)) > 9 or int(step) < 1:
        raise r.fail(where, f"cannot expand host range {shown(pattern)} (at most 9 digits, a step of 1 or more)")
    if start.isdigit() and end.isdigit():
        width = len(start) if start.startswith("0") else 0
        numbers = range(int(start), int(end) + 1, int(step))
        if len(numbers) > MAX_RANGE_HOSTS:  # bounded: "pi-[1:999999999]" is a typo, not a fleet
            raise r.fail(where, f"host range {shown(pattern)} names {len(numbers):,} hosts: more than {MAX_RANGE_HOSTS:,} hosts")
        values: Sequence[str] = _Formatted(numbers, lambda i: str(i).zfill(width))
    elif len(start) == len(end) == 1 and start.isalpha() and end.isalpha():
        values = [chr(c) for c in range(ord(start), ord(end) + 1, int(step))]
    else:
        raise r.fail(where, f"cannot expand host range {shown(pattern)} (e.g. pi-[01:10], node-[a:f])")
    if not values:
        raise r.fail(where, f"host range {shown(pattern)} is empty")
    return values


class _Formatted(Sequence[str]):
    """A range of numbers as strings, with its length known before anything is made."""

    def __init__(self, numbers: range, fmt: Callable[[int], str]) -> None:
        self.numbers, self.fmt = numbers, fmt

    def __len__(self) -> int:
        return len(self.numbers)

    def __getitem__(self, i: Any) -> Any:
        return self.fmt(self.numbers[i])


def _with_ancestors(direct: list[str], groups: dict[str, _Group]) -> set[str]:
    seen: set[str] = set()
    todo = list(direct)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(groups[name].parents)
    return seen


def _depth(r: FieldReader, name: str, groups: dict[str, _Group], memo: dict[str, int],
           path: tuple[str, ...]) -> int:
    """The longest path from a top-level group (as Ansible orders group vars)."""
    if name in path:
        raise r.fail(f"group {name}", f"is its own descendant ({' -> '.join([*path, name])})")
    if name not in memo:
        parents = groups[name].parents
        memo[name] = max((_depth(r, p, groups, memo, (*path, name)) + 1 for p in sorted(parents)), default=0)
    return memo[name]


def _ansible_fields(r: FieldReader, host: str, layers: _VarsList) -> dict[str, Any]:
    """Ansible's own keys and ``edgeprune_<field>`` vars, as host fields, the last layer
    winning; within one mapping an edgeprune_ var wins over its Ansible twin. Only the value
    that wins is checked: a Jinja template overridden by a later layer is no error. Any other
    var belongs to someone else and is not looked at (a template there is Ansible's business)."""
    chosen: dict[str, tuple[str, Any, str]] = {}  # field -> (ansible_ key or None, value, where)
    for mapping, where in layers:
        ansible: dict[str, tuple[str, Any, str]] = {}
        ours: dict[str, tuple[str, Any, str]] = {}
        for key, value in mapping.items():
            key = str(key)
            at = f"{host} ({where}): {key}"
            if key in ANSIBLE_PASSWORD_KEYS:
                # a vaulted value or a template ("{{ vault_pass }}") keeps the password out of the
                # file, as Ansible's guide says to; edgeprune never uses it: only plain text is refused
                if value is not None and not _kept_elsewhere(value):
                    raise password_error(r, at)
            elif key in ANSIBLE_KEYS and value is not None:
                ansible[ANSIBLE_KEYS[key]] = (key, value, at)
            elif key.startswith("edgeprune_"):
                field = key[len("edgeprune_"):]
                if field not in FIELD_KEYS:
                    raise unknown_name("key", key, [f"edgeprune_{k}" for k in FIELD_KEYS],
                                       source=r.source, field=f"{host} ({where})")
                if value is not None:
                    ours[field] = ("", value, at)
        chosen.update({**ansible, **ours})
    return {field: _read_field(r, field, key, value, at) for field, (key, value, at) in chosen.items()}


def _kept_elsewhere(value: Any) -> bool:
    return isinstance(value, Vaulted) or (isinstance(value, Mapping) and "__ansible_vault" in value) or \
        (isinstance(value, str) and ("{{" in value or "{%" in value))


def _read_field(r: FieldReader, field: str, key: str, value: Any, at: str) -> Any:
    if field == "transport" and key:
        return _connection(r, value, at)
    if field == "python" and key and isinstance(value, str) and value.startswith("auto"):
        return "python3"  # auto, auto_silent, auto_legacy: discover; ours is python3
    return r.read(field, value, at)


def _connection(r: FieldReader, value: Any, where: str) -> str:
    if not isinstance(value, str) or value not in _CONNECTIONS:
        raise unknown_name("ansible_connection", value, _CONNECTIONS, source=r.source, field=where)
    return _CONNECTIONS[value]
