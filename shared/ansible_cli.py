"""Ansible's own reading of an inventory, where Ansible is installed: ``ansible-inventory -i FILE
--list`` prints every host with its merged vars and every group as JSON, for any format or
plugin Ansible knows (INI, YAML, group_vars/, host_vars/, dynamic inventories).

ansible-core is GPL: it is run as an external command, never imported. ``--list`` does not
render Jinja templates; a template in a var edgeprune uses is rendered by Ansible's ``debug``
module (run on this machine, no host is contacted). ``EDGEPRUNE_ANSIBLE=never`` makes the
collector use its own reader (shared/inventory_ini.py, shared/inventory_ansible.py) even so.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.errors import UserError
from shared.inventory_fields import Vaulted

ENV_SWITCH = "EDGEPRUNE_ANSIBLE"  # "never": edgeprune's own reader even where Ansible is installed
TIMEOUT_S = 300.0
_ENV = {"ANSIBLE_INVENTORY_UNPARSED_FAILED": "1", "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "1",
        "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.minimal", "ANSIBLE_FORKS": "20",
        "ANSIBLE_RETRY_FILES_ENABLED": "0"}
_RESULT = re.compile(r"^(\S+) \| (SUCCESS|FAILED!|UNREACHABLE!) => ", re.MULTILINE)


def ansible_inventory_command() -> str | None:
    """The ``ansible-inventory`` to use, or None (not installed, or switched off)."""
    if os.environ.get(ENV_SWITCH, "").strip().lower() in ("never", "0", "no", "off"):
        return None
    return shutil.which("ansible-inventory")


def ansible_list(command: str, path: Path) -> dict[str, Any]:
    """``ansible-inventory -i PATH --list``, parsed; its error is one line naming the file."""
    listing = _json(_run([command, "-i", str(path.resolve()), "--list"], path, "ansible-inventory"), path)
    if not isinstance(listing, Mapping) or not isinstance(listing.get("_meta", {}).get("hostvars", {}), Mapping):
        raise UserError("ansible-inventory --list printed no inventory", source=str(path))
    return dict(listing)


def as_yaml_shape(listing: Mapping[str, Any]) -> dict[str, Any]:
    """The listing in the shape of a YAML inventory: every host under all: with its merged
    vars (nothing left to weigh), the groups with their hosts and children (for the tags)."""
    hostvars = listing.get("_meta", {}).get("hostvars", {})
    order: dict[str, None] = {}
    children: dict[str, Any] = {}
    _walk(listing, "all", order, children, set())
    for name in hostvars:  # hosts that only the metadata names (none, with Ansible's plugins)
        order.setdefault(name, None)
    return {"all": {"hosts": {name: {key: _vault(value) for key, value in (hostvars.get(name) or {}).items()}
                              for name in order},
                    "children": children}}


def _vault(value: Any) -> Any:
    """Ansible lists an ``!vault`` value as ``{"__ansible_vault": ciphertext}``: the same
    marker as a vaulted value read from YAML, so that it is refused (or ignored) alike."""
    return Vaulted() if isinstance(value, Mapping) and "__ansible_vault" in value else value


def _walk(listing: Mapping[str, Any], group: str, order: dict[str, None], out: dict[str, Any],
          seen: set[str]) -> None:
    """Hosts in Ansible's group order (ungrouped first, as it lists them), depth first."""
    if group in seen:
        return
    seen.add(group)
    entry = listing.get(group) or {}
    for host in entry.get("hosts", []):
        order.setdefault(str(host), None)
    for child in entry.get("children", []):
        child_entry = listing.get(child) or {}
        out[child] = {"hosts": {h: None for h in child_entry.get("hosts", [])},
                      "children": {c: None for c in child_entry.get("children", [])}}
        _walk(listing, child, order, out, seen)


def render_templates(command: str, path: Path, data: dict[str, Any], used: tuple[str, ...]) -> None:
    """Replace, in place, each template in a var of ``used`` by what Ansible renders it to."""
    hosts = data["all"]["hosts"]
    wanted: dict[str, set[str]] = {}
    for host, hvars in hosts.items():
        for key, value in hvars.items():
            if (key in used or key.startswith("edgeprune_")) and _is_template(value):
                wanted.setdefault(key, set()).add(host)
    ansible = str(Path(command).with_name("ansible"))
    if wanted and not Path(ansible).is_file():
        ansible = shutil.which("ansible") or "ansible"
    for key, names in sorted(wanted.items()):
        rendered = _debug_var(ansible, path, key)
        for host in sorted(names):
            status, result = rendered.get(host, ("missing", {}))
            if status != "SUCCESS" or key not in result:
                why = str(result.get("msg", status)).splitlines()[0][:300] if isinstance(result, Mapping) else status
                raise UserError(f"Ansible could not render the template {hosts[host][key]!r}: {why}",
                                source=str(path), field=f"{host}: {key}")
            hosts[host][key] = result[key]


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _debug_var(ansible: str, path: Path, key: str) -> dict[str, tuple[str, Any]]:
    """``ansible all -m debug -a var=KEY``: the var as every host would see it (runs here)."""
    out = _run([ansible, "all", "-i", str(path.resolve()), "-m", "debug", "-a", f"var={key}"], path, "ansible",
               allow_failure=True)
    decoder = json.JSONDecoder()
    found: dict[str, tuple[str, Any]] = {}
    for match in _RESULT.finditer(out):
        try:
            value, _ = decoder.raw_decode(out, match.end())
        except ValueError:
            value = {}
        found[match.group(1)] = (match.group(2).rstrip("!"), value)
    return found


def _run(argv: list[str], path: Path, what: str, allow_failure: bool = False) -> str:
    try:
        # run beside the inventory: Ansible also reads group_vars/ and ansible.cfg in its working
        # folder, which must not depend on where the collector was started
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=path.resolve().parent,
                              env={**os.environ, **_ENV}, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"running {what} failed: {exc}", source=str(path)) from None
    if done.returncode != 0 and not (allow_failure and _RESULT.search(done.stdout)):
        raise UserError(f"{what} could not read it: {_first_error(done.stderr or done.stdout)}",
                        source=str(path))
    return done.stdout


def _first_error(text: str) -> str:
    """What Ansible says went wrong, in one line: each plugin's reason where it tried several
    ("Completely failed to parse" alone says nothing)."""
    plugins = re.findall(r"\[WARNING\]: Failed to parse inventory with '([\w.]+)' plugin: (.*)", text)
    if plugins:
        return "; ".join(f"as {name}: {why.strip()}" for name, why in plugins)[:400]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("[ERROR]", "ERROR!"))]
    line = (errors or lines or ["(no message)"])[0]
    return re.sub(r"^(\[ERROR\]:|ERROR!)\s*", "", line)[:400]


def _json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise UserError("ansible-inventory --list printed no JSON", source=str(path)) from None
