"""edgeprune's reading of Ansible inventories against Ansible's own (``ansible-inventory --list``).

The corpus (tests/fixtures/ansible_inventories/, see its README) is written from Ansible's
inventory guide. Each inventory is read three ways: by real ``ansible-inventory --list`` (the
truth, mapped to host fields here by the documented meaning of each var), by edgeprune's own
reader (``EDGEPRUNE_ANSIBLE=never``) and by edgeprune's Ansible path; all three must agree.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.errors import UserError
from shared.inventory import DEFAULT_WORKDIR, load_inventory

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "ansible_inventories"
BIN = Path(sys.executable).parent
ANSIBLE_INVENTORY = shutil.which("ansible-inventory", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
needs_ansible = pytest.mark.skipif(ANSIBLE_INVENTORY is None,
                                   reason="ansible-core is not installed (pip install ansible-core; "
                                          "it is in the test extra)")
INVENTORIES = sorted([*CORPUS.glob("*.ini"), *CORPUS.glob("*.yml"), CORPUS / "vars_dirs" / "hosts",
                      CORPUS / "vars_yaml" / "inventory.yml"])
REFUSED_BY_ANSIBLE = {"southeast_undefined.ini"}
_UNTAGGED = {"all", "ungrouped"}


def ansible_truth(path: Path) -> dict[str, dict[str, Any]]:
    """Host fields as Ansible's own listing gives them, by the documented meaning of each var."""
    done = subprocess.run([ANSIBLE_INVENTORY, "-i", str(path), "--list"], capture_output=True, text=True,
                          env={**os.environ, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1"}, check=True)
    listing = json.loads(done.stdout)
    parents: dict[str, set[str]] = {}
    for group, entry in listing.items():
        for child in entry.get("children", []) if group != "_meta" else []:
            parents.setdefault(child, set()).add(group)
    truth = {}
    names = {h for g, e in listing.items() if g != "_meta" for h in e.get("hosts", [])}
    for host in names:  # a host without vars is in no hostvars entry, only in its groups
        hvars = listing["_meta"]["hostvars"].get(host, {})
        groups = {g for g, e in listing.items() if g != "_meta" and host in e.get("hosts", [])}
        todo = list(groups)
        while todo:
            for parent in parents.get(todo.pop(), ()):
                if parent not in groups:
                    groups.add(parent)
                    todo.append(parent)
        local = hvars.get("ansible_connection") == "local"
        python = hvars.get("ansible_python_interpreter", "python3")
        truth[host] = {
            "transport": "local" if local else "ssh",
            "address": hvars.get("ansible_host", None if local else host),
            "port": int(hvars["ansible_port"]) if "ansible_port" in hvars else None,
            "user": hvars.get("ansible_user"),
            "identity_file": hvars.get("ansible_ssh_private_key_file"),
            "python": "python3" if python.startswith("auto") else python,
            "workdir": hvars.get("edgeprune_workdir", DEFAULT_WORKDIR),
            "extras": hvars.get("edgeprune_extras", "full"),
            "tags": sorted((groups - _UNTAGGED) | set(hvars.get("edgeprune_tags", []))),
        }
    return truth


def edgeprune_view(path: Path) -> dict[str, dict[str, Any]]:
    return {h.name: {"transport": h.transport, "address": h.address, "port": h.port, "user": h.user,
                     "identity_file": h.identity_file, "python": h.python, "workdir": h.workdir,
                     "extras": h.extras, "tags": sorted(h.tags)}
            for h in load_inventory(path, check_files=False)}


@pytest.fixture
def own_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEPRUNE_ANSIBLE", "never")


@pytest.fixture
def ansible_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("EDGEPRUNE_ANSIBLE", raising=False)


def _compare(path: Path) -> None:
    if path.name in REFUSED_BY_ANSIBLE:
        with pytest.raises(subprocess.CalledProcessError):
            ansible_truth(path)
        with pytest.raises(UserError, match=r"northeast"):
            edgeprune_view(path)
        return
    assert edgeprune_view(path) == ansible_truth(path)


@needs_ansible
@pytest.mark.parametrize("path", INVENTORIES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_the_own_reader_resolves_as_ansible_does(path: Path, own_reader: None) -> None:
    _compare(path)  # vars_yaml/: its template is overridden by group_vars/, so no error


@needs_ansible
@pytest.mark.parametrize("path", INVENTORIES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_the_ansible_path_resolves_as_ansible_does(path: Path, ansible_path: None) -> None:
    _compare(path)


@needs_ansible
def test_a_template_edgeprune_uses_is_rendered_by_ansible(tmp_path: Path, ansible_path: None) -> None:
    inventory = tmp_path / "hosts"
    inventory.write_text("[edge]\npi-1\npi-2 ansible_port=2202\n\n[edge:vars]\n"
                         "ansible_host={{ inventory_hostname }}.lan\nunused={{ nothing_here }}\n")
    hosts = {h.name: h for h in load_inventory(inventory)}
    assert hosts["pi-1"].address == "pi-1.lan" and hosts["pi-2"].address == "pi-2.lan"
    assert hosts["pi-2"].port == 2202


@needs_ansible
def test_a_template_ansible_cannot_render_is_one_line_naming_host_and_var(tmp_path: Path,
                                                                           ansible_path: None) -> None:
    inventory = tmp_path / "hosts"
    inventory.write_text("[edge]\npi-1 ansible_host='{{ undefined_var }}.lan'\n")
    with pytest.raises(UserError) as caught:
        load_inventory(inventory)
    message = str(caught.value)
    assert "hosts: pi-1: ansible_host: Ansible could not render" in message and "\n" not in message


@needs_ansible
def test_ansible_refusing_a_file_is_one_line(tmp_path: Path, ansible_path: None) -> None:
    inventory = tmp_path / "hosts"
    inventory.write_text("[a:children]\nnowhere\n")
    with pytest.raises(UserError) as caught:
        load_inventory(inventory)
    message = str(caught.value)
    assert "ansible-inventory could not read it: " in message and "\n" not in message
    assert "as ini: Failed to parse inventory: Section [a:children] includes undefined group 'nowhere'" in message


VAULTED = "!vault |\n          $ANSIBLE_VAULT;1.1;AES256\n          6564\n"


@needs_ansible
def test_vaulted_values_through_ansible_a_password_is_ignored_a_used_var_refused(
        tmp_path: Path, ansible_path: None, monkeypatch: pytest.MonkeyPatch) -> None:
    inventory = tmp_path / "inv.yml"
    inventory.write_text(f"all:\n  hosts:\n    h:\n      ansible_host: 10.0.0.1\n"
                         f"      ansible_become_password: {VAULTED}")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "group_vars").mkdir(parents=True)
    (elsewhere / "group_vars" / "all.yml").write_text("ansible_user: from-the-working-folder\n")
    monkeypatch.chdir(elsewhere)  # Ansible reads group_vars/ in its working folder too: not here
    [host] = load_inventory(inventory)
    assert (host.address, host.user) == ("10.0.0.1", None)
    inventory.write_text(f"all:\n  hosts:\n    h:\n      ansible_user: {VAULTED}")
    with pytest.raises(UserError, match=r"inv.yml: h \(all.hosts.h\): ansible_user: is encrypted with ansible-vault"):
        load_inventory(inventory)
