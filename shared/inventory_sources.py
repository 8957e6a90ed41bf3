"""Which reader reads an inventory file that is not the project's own YAML format.

- Ansible installed (``ansible-inventory`` on PATH, ``EDGEPRUNE_ANSIBLE`` not ``never``):
  Ansible reads it, whatever its format, vars folders and templates included
  (shared/ansible_cli.py).
- Otherwise edgeprune's own reader: YAML (Ansible's YAML inventory) where the text is a YAML
  mapping, else INI (shared/inventory_ini.py); ``group_vars/`` and ``host_vars/`` beside it
  (shared/ansible_vars.py). A text that is neither says both were tried.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.ansible_cli import ansible_inventory_command, ansible_list, as_yaml_shape, render_templates
from shared.ansible_vars import VarsFolders
from shared.errors import UserError
from shared.inventory_ansible import ANSIBLE_KEYS
from shared.inventory_ini import IniError, parse_ini


@dataclass(frozen=True)
class AnsibleSource:
    """An Ansible inventory in the shape of its YAML form."""

    data: dict[str, Any]
    vars_folders: VarsFolders | None  # None where Ansible applied them already


def read_ansible(path: Path, text: str, yaml_data: Any, yaml_problem: str | None,
                 yaml_where: str | None) -> AnsibleSource:
    """``yaml_data``: the text read as YAML (None with ``yaml_problem`` where it is not YAML)."""
    command = ansible_inventory_command()
    if command:  # Ansible decides, for any format (a script, a plugin's YAML): its errors say which it tried
        try:
            listing = ansible_list(command, path)
        except UserError as exc:
            own = _own_reading(text, yaml_data, yaml_problem)
            if yaml_problem and isinstance(own, IniError) and own.line <= _first_line(text):
                # meant as YAML (not INI from its first line): the YAML mistake, with its line, first
                raise UserError(f"malformed YAML: {yaml_problem} (Ansible: {exc})", source=str(path),
                                field=yaml_where) from None
            raise
        data = as_yaml_shape(listing)
        render_templates(command, path, data, tuple(ANSIBLE_KEYS))
        return AnsibleSource(data, None)
    own = _own_reading(text, yaml_data, yaml_problem)
    if isinstance(own, IniError):
        if own.line > _first_line(text):  # INI up to that line: an INI file with a mistake
            yaml_said = yaml_problem or "not an inventory mapping"
            raise UserError(f"{str(own).split(': ', 1)[1]} (read as INI; as YAML: {yaml_said})",
                            source=str(path), field=f"line {own.line}")
        if yaml_problem is None:
            raise UserError(f"expected a mapping with hosts: (or Ansible's all:), got "
                            f"{type(yaml_data).__name__} (and not INI either: {own})", source=str(path))
        raise UserError(f"malformed YAML: {yaml_problem} (and not INI either: {own})",
                        source=str(path), field=yaml_where)
    return AnsibleSource(own, VarsFolders(path))


def _own_reading(text: str, yaml_data: Any, yaml_problem: str | None) -> dict[str, Any] | IniError:
    if yaml_problem is None and isinstance(yaml_data, Mapping):
        return dict(yaml_data)
    try:
        return parse_ini(text)
    except IniError as exc:
        return exc


def _first_line(text: str) -> int:
    """The number of the first line that is neither blank nor a comment."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and line.strip()[0] not in "#;":
            return number
    return 0
