"""``group_vars/`` and ``host_vars/`` beside an Ansible inventory, found as Ansible finds them.

For a group or host NAME, Ansible's ``host_group_vars`` plugin takes the first of
``NAME`` (a file, or a folder read recursively: files in sorted order, hidden files and
``~`` backups skipped, only no extension or .yml/.yaml/.json), ``NAME.yml``, ``NAME.yaml``,
``NAME.json``; later files win key by key. Where these weigh is decided in
shared/inventory_ansible.py: above every group var written in the inventory (``all`` first,
then the groups as ordered there), below the host's own, ``host_vars/`` above all.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from shared.errors import UserError
from shared.inventory_fields import ANSIBLE_TAGS
from shared.yamlfile import read_yaml_file

EXTENSIONS = (".yml", ".yaml", ".json")
VarsLayers = list[tuple[Mapping[str, Any], str]]  # mappings, each with where it was written


class VarsFolders:
    """The vars files of one inventory's folder, read once each."""

    def __init__(self, inventory: Path) -> None:
        self.base = inventory.resolve().parent
        self._seen: dict[tuple[str, str], VarsLayers] = {}  # a group's files, read once, not once a host

    def group(self, name: str) -> VarsLayers:
        return self._layers("group_vars", name)

    def host(self, name: str) -> VarsLayers:
        return self._layers("host_vars", name)

    def _layers(self, kind: str, name: str) -> VarsLayers:
        folder = self.base / kind
        if not folder.is_dir() or "/" in name or name.startswith("."):
            return []
        if (kind, name) not in self._seen:
            self._seen[kind, name] = [(_read(str(path)), f"{kind}/{path.relative_to(folder)}")
                                      for path in _files(folder, name)]
        return self._seen[kind, name]


def _files(folder: Path, name: str) -> list[Path]:
    for candidate in (folder / name, *(folder / f"{name}{ext}" for ext in EXTENSIONS)):
        if candidate.is_dir():
            return _folder_files(candidate)
        if candidate.is_file():
            return [candidate]
    return []


def _folder_files(folder: Path) -> list[Path]:
    found: list[Path] = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.startswith(".") or path.name.endswith("~"):
            continue
        if path.is_dir() and not path.suffix:
            found += _folder_files(path)
        elif path.is_file() and (not path.suffix or path.suffix in EXTENSIONS):
            found.append(path)
    return found


def _read(path: str) -> Mapping[str, Any]:
    data = read_yaml_file(path, "vars file", tags=ANSIBLE_TAGS)  # bounded, UTF-8, no duplicate keys
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise UserError(f"expected a mapping of variables, got {type(data).__name__}", source=path)
    return data
