"""Ansible's INI inventory (its default format), read into the shape of its YAML inventory.

What Ansible's ``ini`` inventory plugin documents: lines before any section are ungrouped
hosts; ``[group]`` lists hosts (``name key=value ...``, shell-quoted, ``#`` comments allowed,
``name:port``, ranges ``web[01:50:2]``, ``db-[a:f]``); ``[group:children]`` lists child
groups; ``[group:vars]`` holds one ``key=value`` a line, the whole rest of the line being the
value (a trailing ``# ...`` included, as Ansible keeps it). Values go through Python's
``ast.literal_eval`` as in Ansible (``2222`` is an int, ``'2222'`` a string), else stay text.

The result is what :func:`shared.inventory_ansible.parse_ansible` reads, so host patterns,
precedence and field checks have one owner. Ansible itself is never imported (GPL): this is
an independent reading of its documented format.
"""
from __future__ import annotations

import ast
import re
import shlex
import warnings
from typing import Any

MAX_LINE_CHARS = 16_384  # literal_eval on a huge nested literal is slow and deep: refused
_SECTION = re.compile(r"\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?")
_GROUP_NAME = re.compile(r"([^:\]\s]+)\s*(?:#.*)?")


class IniError(ValueError):
    """Why a text is not an INI inventory, with its line number."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


def parse_ini(text: str) -> dict[str, Any]:
    """An INI inventory as ``{"all": {"vars":..., "hosts":..., "children": {group: {...}}}}``;
    :class:`IniError` where a line is not INI."""
    groups: dict[str, dict[str, Any]] = {"all": _group(), "ungrouped": _group()}
    pending: dict[str, tuple[int, str]] = {}  # a group named before it is declared
    declared = {"all", "ungrouped"}
    name, state = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if len(line) > MAX_LINE_CHARS:
            raise IniError(number, f"longer than {MAX_LINE_CHARS} characters")
        section = _SECTION.fullmatch(line)
        if section:
            name, state = section.group(1), section.group(2) or "hosts"
            if state not in ("hosts", "children", "vars"):
                raise IniError(number, f"section [{line[1:-1]}] has unknown type {state!r} "
                                       "(hosts, children or vars)")
            groups.setdefault(name, _group())
            if state != "vars":
                declared.add(name)
            elif name not in declared:
                pending.setdefault(name, (number, f"[{name}:vars] is for a group declared nowhere"))
            continue
        if line.startswith("["):
            raise IniError(number, f"invalid section {line!r} (no spaces inside [...])")
        _entry(groups, name, state, line, number, pending)
    for group, (number, message) in pending.items():
        if group not in declared:
            raise IniError(number, message)
    return _as_yaml_shape(groups)


def _group() -> dict[str, Any]:
    return {"hosts": {}, "vars": {}, "children": {}}


def _entry(groups: dict[str, dict[str, Any]], name: str, state: str, line: str, number: int,
           pending: dict[str, tuple[int, str]]) -> None:
    group = groups[name]
    if state == "hosts":
        pattern, variables = _host_line(line, number)
        group["hosts"].setdefault(pattern, {}).update(variables)
    elif state == "vars":
        key, sep, value = line.partition("=")
        if not sep:
            raise IniError(number, f"expected key=value in [{name}:vars], got {line!r}")
        group["vars"][key.strip()] = _value(value.strip())
    else:
        child = _GROUP_NAME.fullmatch(line)
        if not child:
            raise IniError(number, f"expected a group name in [{name}:children], got {line!r}")
        group["children"][child.group(1)] = None
        groups.setdefault(child.group(1), _group())
        pending.setdefault(child.group(1), (number, f"[{name}:children] names {child.group(1)!r}, "
                                                    "a group declared nowhere"))


def _host_line(line: str, number: int) -> tuple[str, dict[str, Any]]:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:  # an unclosed quote
        raise IniError(number, f"cannot split host line {line!r}: {exc}") from None
    if not tokens:
        raise IniError(number, f"no host name in {line!r}")
    pattern = tokens[0]
    if pattern.endswith(":"):
        raise IniError(number, f"host {pattern!r} ends in ':' (a port must follow it)")
    if pattern == "---":
        raise IniError(number, "'---' starts a YAML document, not an INI host line")
    variables: dict[str, Any] = {}
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if not sep:
            raise IniError(number, f"expected key=value after the host name, got {token!r}")
        variables[key] = _value(value)
    return pattern, variables


def _value(text: str) -> Any:
    """As Ansible reads an INI value: a Python literal where it is one, else the text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    if value is Ellipsis or isinstance(value, (complex, bytes)):
        return text
    if isinstance(value, (tuple, set)):
        return list(value)
    return value


def _as_yaml_shape(groups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every group under all:, as in Ansible (a group's parents are all and its INI parents)."""
    top = groups.pop("all")
    children: dict[str, Any] = {}
    for name, group in groups.items():
        children[name] = {key: value for key, value in group.items() if value}
    return {"all": {**{key: value for key, value in top.items() if value and key != "children"},
                    "children": {**top["children"], **children}}}
