"""edgeprune's own reader of Ansible inventories (Ansible not installed or switched off):
INI, group_vars/ and host_vars/, the scalar hosts: form, templates, files that are neither.
tests/integration/test_ansible_inventory.py compares it with real ansible-inventory."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from shared.errors import UserError
from shared.inventory import load_inventory
from shared.inventory_ini import IniError, parse_ini


@pytest.fixture(autouse=True)
def own_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEPRUNE_ANSIBLE", "never")


def load(tmp_path: Path, text: str, name: str = "hosts") -> dict:
    path = tmp_path / name
    path.write_text(text)
    return {h.name: h for h in load_inventory(path, check_files=False)}


def error(tmp_path: Path, text: str, name: str = "hosts") -> str:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UserError) as info:
        load_inventory(path, check_files=False)
    assert "\n" not in str(info.value)
    return str(info.value).replace(f"{tmp_path}{os.sep}", "")


def test_an_ini_inventory_with_groups_children_vars_ports_and_ranges(tmp_path: Path) -> None:
    hosts = load(tmp_path, "mail.example.com\n\n[edge]\npi-[01:05:2] ansible_user=pi\n"
                           "jetson:2222 ansible_host=10.0.0.9\n\n[lab:children]\nedge\n\n"
                           "[lab:vars]\nansible_user=lab\nedgeprune_extras=agent\n")
    assert list(hosts) == ["mail.example.com", "pi-01", "pi-03", "pi-05", "jetson"]
    assert hosts["pi-03"].user == "pi" and hosts["pi-03"].extras == "agent"
    assert hosts["jetson"].address == "10.0.0.9" and hosts["jetson"].port == 2222
    assert hosts["jetson"].user == "lab" and hosts["jetson"].tags == ("edge", "lab")
    assert hosts["mail.example.com"].tags == ()


def test_ini_values_are_python_literals_inline_and_vars_keep_the_whole_line(tmp_path: Path) -> None:
    data = parse_ini("[g]\nh ansible_port=2222 name='a b' # comment\n[g:vars]\nx=/srv/a # kept\n")
    assert data["all"]["children"]["g"]["hosts"]["h"] == {"ansible_port": 2222, "name": "a b"}
    assert data["all"]["children"]["g"]["vars"] == {"x": "/srv/a # kept"}


@pytest.mark.parametrize(("text", "message"), [
    ("[g:nonsense]\nh\n", "line 1: section [g:nonsense] has unknown type"),
    ("[a:children]\nb\n", "line 2: [a:children] names 'b', a group declared nowhere"),
    ("[a:vars]\nx=1\n", "line 1: [a:vars] is for a group declared nowhere"),
    ("[g]\nh 'unclosed\n", "line 2: cannot split host line"),
    ("[g]\nh novalue\n", "line 2: expected key=value after the host name"),
    ("[g:vars]\nnovalue\n", "expected key=value in [g:vars]"),
])
def test_ini_mistakes_name_the_line(text: str, message: str) -> None:
    with pytest.raises(IniError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_ini(text)


def test_a_file_neither_yaml_nor_ini_says_both_were_tried(tmp_path: Path) -> None:
    message = error(tmp_path, "all:\n  hosts: [a\n  b: {\n", name="inv.yml")
    assert message.startswith("inv.yml: line") and "malformed YAML" in message
    assert "and not INI either: line 1: host 'all:' ends in ':'" in message


def test_group_vars_and_host_vars_files_and_folders_with_ansible_precedence(tmp_path: Path) -> None:
    (tmp_path / "group_vars" / "edge").mkdir(parents=True)
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text("ansible_user: everyone\nansible_port: 2000\n")
    (tmp_path / "group_vars" / "edge" / "a.yml").write_text("ansible_port: 2100\n")
    (tmp_path / "group_vars" / "edge" / "b").write_text("ansible_port: 2200\n")  # sorted: b after a
    (tmp_path / "group_vars" / "edge" / ".hidden.yml").write_text("ansible_port: 9\n")
    (tmp_path / "host_vars" / "pi-2.yaml").write_text("ansible_host: 192.0.2.2\n")
    hosts = load(tmp_path, "[edge]\npi-1 ansible_port=2300\npi-2\n[edge:vars]\nansible_user=inventory\n")
    # group_vars/all.yml weighs more than [edge:vars] in the inventory, as in Ansible
    assert hosts["pi-1"].user == "everyone" and hosts["pi-1"].port == 2300
    assert hosts["pi-2"].port == 2200 and hosts["pi-2"].address == "192.0.2.2"


def test_a_broken_vars_file_names_itself(tmp_path: Path) -> None:
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text("- a list\n")
    assert error(tmp_path, "[g]\nh\n").endswith("group_vars/all.yml: expected a mapping of variables, got list")


def test_a_scalar_hosts_entry_is_one_host(tmp_path: Path) -> None:
    hosts = load(tmp_path, "all:\n  children:\n    solo:\n      hosts: somehost\n", name="inv.yml")
    assert list(hosts) == ["somehost"] and hosts["somehost"].tags == ("solo",)


def test_a_template_in_a_var_edgeprune_does_not_use_is_ignored(tmp_path: Path) -> None:
    hosts = load(tmp_path, "[g]\nh ansible_host=10.0.0.1 motd='{{ banner }}'\n[g:vars]\nntp={{ ntp_server }}\n")
    assert hosts["h"].address == "10.0.0.1"


def test_a_template_overridden_by_a_later_layer_is_no_error(tmp_path: Path) -> None:
    hosts = load(tmp_path, "[g]\nh ansible_port=2222\n[g:vars]\nansible_port={{ port }}\n")
    assert hosts["h"].port == 2222


def test_a_template_in_a_var_edgeprune_uses_names_host_and_var_and_ansible(tmp_path: Path) -> None:
    message = error(tmp_path, "[g]\nh\n[g:vars]\nansible_host={{ inventory_hostname }}.lan\n")
    assert message.startswith("hosts: h (all.children.g.vars): ansible_host:")
    assert "Jinja template" in message and "install Ansible" in message


def test_the_readme_ini_example_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"```ini\n(.*?)```", readme, re.DOTALL)
    assert blocks, "the README shows an INI inventory"
    hosts = load(tmp_path, blocks[0])
    assert list(hosts) == ["orin-01", "orin-02", "orin-03", "orin-04", "nano-01", "pi-a.lab", "pi-b.lab", "pi-c.lab"]
    assert hosts["nano-01"].port == 2222 and hosts["pi-b.lab"].extras == "agent"
    assert hosts["orin-02"].workdir == "/srv/edgeprune" and hosts["orin-02"].tags == ("jetsons", "lab")


def test_a_vaulted_or_templated_password_is_not_a_password_in_the_file(tmp_path: Path) -> None:
    hosts = load(tmp_path, "[g]\nh ansible_host=10.0.0.1\n[g:vars]\nansible_become_password={{ vault_become }}\n")
    assert hosts["h"].address == "10.0.0.1"
    vaulted = "all:\n  hosts:\n    h:\n      ansible_password: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        6131\n"
    assert list(load(tmp_path, vaulted, name="inv.yml")) == ["h"]
    assert "an inventory holds no password" in error(tmp_path, "[g]\nh ansible_password=hunter2\n")


@pytest.mark.parametrize(("text", "message"), [
    ("[g]\npi-[1:999999999]\n", "host range 'pi-[1:999999999]' names 999,999,999 hosts: more than 100,000 hosts"),
    ("[g]\nr[1:1000]-[1:1000]\n", "names more than 100,000 hosts"),
])
def test_a_huge_range_is_refused_fast(tmp_path: Path, text: str, message: str) -> None:
    assert message in error(tmp_path, text)


def test_a_mistake_deep_in_an_ini_file_is_told_as_an_ini_mistake(tmp_path: Path) -> None:
    message = error(tmp_path, "# lab\n[g]\nh1\n[g:nonsense]\nh2\n")
    assert message.startswith("hosts: line 4: section [g:nonsense] has unknown type 'nonsense'")
    assert "(read as INI; as YAML: " in message


HOSTILE = [
    ("[g]\nh ansible_port=99999\n", "h (all.children.g.hosts.h): ansible_port: expected an integer in 1..65535"),
    ("[g]\nh ansible_port=abc\n", "ansible_port: expected an integer in 1..65535, got 'abc'"),
    ("[g]\n-oProxyCommand=x\n", "'-oProxyCommand=x' is not a valid SSH host or user name"),
    ("[g]\nh ansible_host='a;b'\n", "ansible_host: 'a;b' is not a valid SSH host or user name"),
    ("[g]\nh ansible_connection=winrm\n", "unknown ansible_connection 'winrm'"),
    ("[g]\nh edgeprune_bogus=1\n", "unknown key 'edgeprune_bogus'"),
    ("[g]\nh:\n", "line 2: host 'h:' ends in ':'"),
    ("[g]\nweb[1:0]\n", "host range 'web[1:0]' is empty"),
    ("[g]\nweb[a:1]\n", "cannot expand host range 'web[a:1]'"),
    ("[g]\n../../etc\n", "host name '../../etc' may not contain '/'"),
    ("\x00\x01\x02", "may not contain '/' or control characters"),
    ("[g]\nh ansible_python_interpreter=\n", "ansible_python_interpreter: expected a non-empty one-line string"),
    ("[g:vars]\nansible_user=x\n", "[g:vars] is for a group declared nowhere"),
    ("[g]\nh x=" + "[" * 5000 + "\n", None),  # not a literal: a string, in a var nobody reads: accepted
    ("[g]\n" + "h" * 20000 + "\n", "longer than 16384 characters"),
    ("[g]\nh 'unclosed\n", "cannot split host line"),
]


@pytest.mark.parametrize(("text", "message"), HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_ini_is_one_line_exit_2(tmp_path: Path, text: str, message: str | None,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from collector.cli import main

    path = tmp_path / "hosts"
    path.write_text(text)
    code = main(["hosts", "--hosts", str(path), "--json"])
    err = capsys.readouterr().err
    if message is None:
        assert code == 0 and err == ""
        return
    assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err
