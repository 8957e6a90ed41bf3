"""The inventory: both formats, every bad input as one line naming file, host and field."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.errors import UserError
from shared.inventory import Host, Inventory, load_inventory, safe_folder_name
from shared.inventory_fields import FIELD_KEYS
from shared.profile import PRESETS

ROOT = Path(__file__).parents[2]


@pytest.fixture(autouse=True)
def own_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """edgeprune's own reader, even where ansible-inventory is installed (CI's test extra)."""
    monkeypatch.setenv("EDGEPRUNE_ANSIBLE", "never")


def write(tmp_path: Path, text: str, name: str = "inv.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_text(tmp_path: Path, text: str, **kwargs: bool) -> Inventory:
    return load_inventory(write(tmp_path, text), **kwargs)


def error(tmp_path: Path, text: str) -> str:
    """The one-line message, with the temporary folder taken out."""
    with pytest.raises(UserError) as info:
        load_text(tmp_path, text)
    message = str(info.value)
    assert "\n" not in message
    return message.replace(f"{tmp_path}{os.sep}", "")


# ---- the project's own format ----------------------------------------------------------------

def test_own_format_reads_every_field_with_defaults_and_relative_key(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "id_pi").write_text("key")
    inv = load_text(tmp_path, """
defaults: {user: edge, tags: [lab], python: python3.11}
hosts:
  - {name: local, transport: local}
  - name: pi-4
    address: 10.0.0.4
    port: 2222
    identity_file: keys/id_pi
    password_env: PI_PASS
    passphrase_env: PI_KEY_PASSPHRASE
    proxy_jump: ops@bastion:2200
    workdir: /data/ep
    extras: agent
    backends: [onnxruntime]
    devices: [cpu]
    batch_sizes: [1, 8]
    mem_limit: 2GiB
    tags: [pi, arm]
""")
    local, pi = inv.hosts
    assert local == Host(name="local", transport="local", user="edge", python="python3.11", tags=("lab",))
    assert local.is_local and not local.venv_given and local.venv_path == "~/.edgeprune/venv"
    assert pi.identity_file == str(tmp_path / "keys" / "id_pi")  # relative to the inventory
    assert (pi.address, pi.port, pi.user, pi.password_env, pi.passphrase_env, pi.proxy_jump) == (
        "10.0.0.4", 2222, "edge", "PI_PASS", "PI_KEY_PASSPHRASE", "ops@bastion:2200")
    assert (pi.workdir, pi.venv, pi.venv_path, pi.extras) == ("/data/ep", None, "/data/ep/venv", "agent")
    assert (pi.backends, pi.devices, pi.batch_sizes, pi.mem_limit) == (("onnxruntime",), ("cpu",), (1, 8), "2GiB")
    assert pi.tags == ("lab", "pi", "arm")  # defaults' tags and the host's add up


def test_tilde_is_expanded_in_identity_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "id").write_text("key")
    inv = load_text(tmp_path, "hosts: [{name: a, address: h, identity_file: ~/id}]")
    assert inv.hosts[0].identity_file == str(tmp_path / "id")


def test_a_hostile_name_is_allowed_and_its_folder_is_safe(tmp_path: Path) -> None:
    inv = load_text(tmp_path, "hosts: [{name: 'x; rm -rf ~', address: h}, {name: 'x; rm -rf ~~', address: h}]")
    first, second = inv.hosts
    assert first.name == "x; rm -rf ~"
    assert first.folder_name.startswith("x-rm-rf-") and first.folder_name != second.folder_name
    for host in inv:
        assert "/" not in host.folder_name and not host.folder_name.startswith(".")
    assert Host(name="-rf", address="h").folder_name.startswith("rf-")  # never read as an option
    assert safe_folder_name("../../etc") == "etc-" + hashlib.sha256(b"../../etc").hexdigest()[:8]
    assert Host(name="pi-4.lan_2", address="h").folder_name == "pi-4.lan_2"
    assert Host(name="日本", address="h").folder_name.startswith("host-")


@pytest.mark.parametrize(("text", "message"), [
    ("hosts:\n  - {name: a, address: h}\n  - {name: b, address: h}\n  - {name: pi-4}\n",
     "inv.yml: hosts[2] (pi-4): address: missing (required for transport ssh)"),
    ("hosts: [{name: a, address: h}, {name: a, address: g}]",
     "inv.yml: hosts[1] (a): name: duplicate host name 'a' (also hosts[0] (a))"),
    ("hosts: [{name: a, adress: h}]", "inv.yml: hosts[0] (a): unknown key 'adress' (valid: address, "),
    ("hosts: [{address: h}]", "inv.yml: hosts[0]: name: missing (required)"),
    ("host: [{name: a}]", "inv.yml: unknown top-level key 'host' (valid: defaults, hosts)"),
    ("defaults: {name: a}\nhosts: [{name: b, address: h}]", "inv.yml: defaults: unknown key 'name'"),
    ("defaults: {port: x}\nhosts: [{name: b, address: h}]",
     "inv.yml: defaults: port: expected an integer in 1..65535, got 'x'"),
    ("hosts: [{name: a, address: h, port: 70000}]", "inv.yml: hosts[0] (a): port: expected an integer in 1..65535"),
    ("hosts: [{name: a, address: h, port: 0}]", "port: expected an integer in 1..65535, got 0"),
    ("hosts: [{name: a, address: h, port: true}]", "port: expected an integer in 1..65535, got True"),
    ("hosts: [{name: a, address: h, batch_sizes: [1, 0]}]",
     "inv.yml: hosts[0] (a): batch_sizes[1]: expected a positive integer, got 0"),
    ("hosts: [{name: a, address: h, batch_sizes: [x]}]", "batch_sizes[0]: expected a positive integer, got 'x'"),
    ("hosts: [{name: a, address: h, batch_sizes: [2, 2]}]", "batch_sizes: lists the same entry twice"),
    ("hosts: [{name: a, address: h, extras: mini}]",
     "inv.yml: hosts[0] (a): extras: unknown extras 'mini' (valid: agent, full)"),
    ("hosts: [{name: a, address: h, transport: telnet}]",
     "transport: unknown transport 'telnet' (valid: local, ssh)"),
    ("hosts: [{name: a, address: h, backends: [tensorflow]}]", "backends[0]: unknown backend 'tensorflow'"),
    ("hosts: [{name: a, address: h, devices: [tpu]}]", "devices[0]: unknown device 'tpu'"),
    ("hosts: [{name: a, address: h, mem_limit: lots}]", "mem_limit: cannot read memory size 'lots'"),
    ("hosts: [{name: a, address: 'h; rm -rf ~'}]", "inv.yml: hosts[0] (a): address: 'h; rm -rf ~' is not a valid"),
    ("hosts: [{name: a, address: -oProxyCommand=x}]", "address: '-oProxyCommand=x' is not a valid SSH host"),
    ("hosts: [{name: a, address: h, proxy_jump: 'ops@jump:0'}]",
     "inv.yml: hosts[0] (a): proxy_jump: hop 'ops@jump:0': port 0 is outside 1..65535"),
    ("hosts: [{name: a, address: h, proxy_jump: 'ops@jump;reboot'}]", "proxy_jump: 'jump;reboot' is not a valid"),
    ("hosts: [{name: a, address: h, password: hunter2}]",
     "inv.yml: hosts[0] (a): password: an inventory holds no password: name an environment variable "
     "with password_env"),
    ("hosts: [{name: a, address: h, password_env: 'hunter 2'}]",
     "password_env: expected the name of an environment variable (e.g. PI_PASSWORD), not a password"),
    ("hosts: [{name: a, address: h, passphrase_env: 'hunter 2'}]",
     "passphrase_env: expected the name of an environment variable"),
    ("hosts: [{name: '', address: h}]", "inv.yml: hosts[0]: name: expected a non-empty host name"),
    ("hosts: [{name: a/b, address: h}]", "inv.yml: hosts[0]: name: host name 'a/b' may not contain '/'"),
    ("hosts: [{name: .hidden, address: h}]", "name: host name '.hidden' may not contain '/' or control characters "
                                             "nor start with '.'"),
    ("hosts: [{name: \"a\\0b\", address: h}]", "may not contain '/' or control characters"),
    ("hosts: {a: {address: h}}", "inv.yml: hosts: expected a list of hosts, got dict"),
    ("hosts: [a]", "inv.yml: hosts[0]: expected a mapping with name: and address:, got 'a'"),
    ("hosts: []", "inv.yml: hosts: empty inventory: no hosts"),
    ("", "inv.yml: empty inventory: no hosts"),
    ("- a\n- b\n", "inv.yml: expected a mapping with hosts: (or Ansible's all:), got list"),
    ("hosts:\n  - {name: a, address: h\n", "inv.yml: line 3, column 1: malformed YAML:"),
    ("hosts:\n  - name: a\n    address: h\n    address: g\n",
     "inv.yml: line 4, column 5: malformed YAML: key 'address' given twice"),
], ids=lambda v: v[:40] if isinstance(v, str) else None)
def test_bad_input_is_one_line_naming_file_host_and_field(tmp_path: Path, text: str, message: str) -> None:
    assert message in error(tmp_path, text)


def test_an_identity_file_must_exist_and_be_a_readable_file(tmp_path: Path) -> None:
    assert error(tmp_path, "hosts: [{name: a, address: h, identity_file: nope}]") == (
        "inv.yml: hosts[0] (a): identity_file: identity file 'nope' does not exist")
    (tmp_path / "dir").mkdir()
    assert "does not exist" in error(tmp_path, "hosts: [{name: a, address: h, identity_file: dir}]")
    # the examples' keys are not on this machine: a caller that only lists hosts skips the check
    inv = load_text(tmp_path, "hosts: [{name: a, address: h, identity_file: nope}]", check_files=False)
    assert inv.hosts[0].identity_file == str(tmp_path / "nope")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file: an unreadable key cannot be made")
def test_an_unreadable_identity_file_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "id"
    key.write_text("key")
    key.chmod(0)
    assert error(tmp_path, "hosts: [{name: a, address: h, identity_file: id}]") == (
        "inv.yml: hosts[0] (a): identity_file: identity file 'id' cannot be read: Permission denied")


def test_an_identity_file_that_open_refuses_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the same check where the tests run as root (root opens a mode-000 file)
    key = tmp_path / "id"
    key.write_text("key")
    real_open = Path.open

    def refuse_key(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == key:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse_key)
    assert error(tmp_path, "hosts: [{name: a, address: h, identity_file: id}]").endswith(
        "identity file 'id' cannot be read: Permission denied")


def test_a_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read inventory file: No such file"):
        load_inventory(tmp_path / "absent.yml")


# ---- Ansible's YAML inventory ------------------------------------------------------------------

ANSIBLE = """
all:
  vars:
    ansible_user: ops
    ansible_python_interpreter: /usr/bin/python3
    edgeprune_extras: agent
    ntp_server: time.example.com
  hosts:
    gpu1: {ansible_host: 10.0.0.9, ansible_port: "2201", edgeprune_extras: full}
    localhost: {ansible_connection: local}
  children:
    arm:
      vars: {ansible_user: arm, edgeprune_mem_limit: 1GiB}
      children:
        pis:
          vars: {ansible_user: pi, ansible_python_interpreter: auto_silent}
          hosts:
            pi-[01:03]:
            pi-09:2200: {ansible_user: root}
          children:
            pi5s:
              vars: {ansible_user: pi5, edgeprune_batch_sizes: [1, 2]}
              hosts:
                pi-02:
    jetsons:
      hosts:
        pi-03: {edgeprune_proxy_jump: ops@bastion:2222, edgeprune_tags: [fast]}
"""


def test_ansible_inventory_maps_keys_and_applies_vars_inner_over_outer(tmp_path: Path) -> None:
    inv = load_text(tmp_path, ANSIBLE)
    assert inv.names == ("gpu1", "localhost", "pi-01", "pi-02", "pi-03", "pi-09")
    gpu1, local, pi1, pi2, pi3, pi9 = inv.hosts
    assert (gpu1.address, gpu1.port, gpu1.user, gpu1.python, gpu1.extras, gpu1.tags) == (
        "10.0.0.9", 2201, "ops", "/usr/bin/python3", "full", ())
    assert local.is_local and local.address is None
    # address defaults to the name; pis' vars beat arm's, which beat all's; auto* -> python3
    assert (pi1.address, pi1.user, pi1.python, pi1.extras, pi1.mem_limit) == (
        "pi-01", "pi", "python3", "agent", "1GiB")
    assert (pi1.tags, pi2.tags) == (("arm", "pis"), ("arm", "pi5s", "pis"))
    assert (pi2.user, pi2.batch_sizes) == ("pi5", (1, 2))  # the deepest group wins
    assert (pi9.port, pi9.user) == (2200, "root")  # host:port, and host vars beat group vars
    # one host listed in two groups: merged vars, every group's tag
    assert (pi3.user, pi3.proxy_jump, pi3.tags) == ("pi", "ops@bastion:2222", ("arm", "jetsons", "pis", "fast"))


def test_ansible_groups_without_all_and_ranges(tmp_path: Path) -> None:
    inv = load_text(tmp_path, """
boards:
  vars: {ansible_user: b}
  hosts:
    node-[a:c]-[1:2]:
    web[01:05:2].lan:
""")
    assert inv.names == ("node-a-1", "node-a-2", "node-b-1", "node-b-2", "node-c-1", "node-c-2",
                         "web01.lan", "web03.lan", "web05.lan")
    assert {h.user for h in inv} == {"b"} and {h.tags for h in inv} == {("boards",)}


@pytest.mark.parametrize(("text", "message"), [
    ("all:\n  hosts:\n    a: {ansible_password: hunter2}\n",
     "inv.yml: a (all.hosts.a): ansible_password: an inventory holds no password"),
    ("all:\n  vars: {ansible_ssh_pass: x}\n  hosts: {a: }\n",
     "inv.yml: a (all.vars): ansible_ssh_pass: an inventory"),
    ("all:\n  hosts:\n    a: {ansible_become_pass: x}\n", "ansible_become_pass: an inventory holds no password"),
    ("all:\n  children:\n    g:\n      vars: {ansible_port: 99999}\n      hosts: {a: }\n",
     "inv.yml: a (all.children.g.vars): ansible_port: expected an integer in 1..65535, got 99999"),
    ("all:\n  hosts:\n    a: {edgeprune_extra: agent}\n",
     "inv.yml: a (all.hosts.a): unknown key 'edgeprune_extra' (valid: edgeprune_address, edgeprune_backends, "),
    ("all:\n  hosts:\n    a: {ansible_connection: winrm}\n",
     "inv.yml: a (all.hosts.a): ansible_connection: unknown ansible_connection 'winrm' "
     "(valid: local, paramiko, smart, ssh)"),
    ("all:\n  hosts:\n    a: {ansible_host: '{{ inventory_hostname }}.lan'}\n",
     "ansible_host: '{{ inventory_hostname }}.lan' is a Jinja template, which edgeprune does not evaluate"),
    ("all:\n  hosts:\n    a:\n      ansible_user: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        6131\n",
     "inv.yml: a (all.hosts.a): ansible_user: is encrypted with ansible-vault"),
    ("all:\n  hosts:\n    a: {ansible_ssh_private_key_file: nokey}\n", "ansible_ssh_private_key_file: identity file"),
    ("all:\n  child:\n    g: {}\n", "inv.yml: all: unknown group key 'child' (valid: children, hosts, vars)"),
    ("all:\n  hosts: [a, b]\n", "inv.yml: all.hosts: expected a mapping, got list"),
    ("all:\n  hosts:\n    .a:\n", "inv.yml: all.hosts: host name '.a' may not contain '/'"),
    ("all:\n  hosts:\n    a:\n    a:\n", "inv.yml: line 4, column 5: malformed YAML: key 'a' given twice"),
    ("all:\n  children:\n    g:\n      children:\n        all:\n      hosts: {a: }\n", "is its own descendant"),
    ("all:\n  hosts:\n", "inv.yml: empty inventory: no hosts"),
    ("all:\n  hosts:\n    n[1:x]:\n", "inv.yml: all.hosts: cannot expand host range 'n[1:x]'"),
], ids=lambda v: v[:40] if isinstance(v, str) else None)
def test_bad_ansible_input_names_file_host_and_field(tmp_path: Path, text: str, message: str) -> None:
    assert message in error(tmp_path, text)


def test_unset_ansible_passwords_and_hostile_names_are_fine(tmp_path: Path) -> None:
    inv = load_text(tmp_path, "all:\n  hosts:\n    'x; rm -rf ~': {ansible_host: h, ansible_password: }\n")
    assert inv.hosts[0].name == "x; rm -rf ~" and inv.hosts[0].address == "h"


# ---- selecting hosts ---------------------------------------------------------------------------

def test_select_by_name_or_tag_in_inventory_order(tmp_path: Path) -> None:
    inv = load_text(tmp_path, ANSIBLE)
    assert inv.select(None) is inv and inv.select([]) is inv
    assert inv.select(["pis"]).names == ("pi-01", "pi-02", "pi-03", "pi-09")
    assert inv.select(["pi-09", "gpu1"]).names == ("gpu1", "pi-09")
    assert inv.select(["jetsons,localhost"]).names == ("localhost", "pi-03")
    assert inv.select(["all"]).names == inv.names
    assert inv.get("gpu1").address == "10.0.0.9"
    with pytest.raises(UserError, match=r"--limit: unknown host or tag 'pi-99' \(valid: gpu1, localhost, .*tag arm"):
        inv.select(["pi-99"])


def test_select_takes_a_name_with_a_comma_whole(tmp_path: Path) -> None:
    inv = load_text(tmp_path, "hosts: [{name: 'a,b', address: h}, {name: a, address: h}]")
    assert inv.select(["a,b"]).names == ("a,b",)


# ---- the examples and the module's shape -------------------------------------------------------

@pytest.mark.parametrize("path", sorted((ROOT / "deploy").glob("inventory.*.yml")), ids=lambda p: p.name)
def test_every_deploy_inventory_loads(path: Path) -> None:
    # the examples name keys that are not on this machine
    assert len(load_inventory(path, check_files=False)) >= 1


def test_the_local_inventory_is_this_machine_as_three_emulated_devices() -> None:
    inv = load_inventory(ROOT / "deploy" / "inventory.local.yml")
    assert inv.hosts == tuple(Host(name=name, transport="local", profile=PRESETS[name])
                              for name in ("server", "laptop", "board"))


def test_the_example_shows_every_field() -> None:
    data = yaml.safe_load((ROOT / "deploy" / "inventory.example.yml").read_text())
    shown = {key for host in data["hosts"] for key in host}
    assert shown == {f.name for f in fields(Host)}


def test_field_vocabulary_matches_host() -> None:
    assert FIELD_KEYS == tuple(f.name for f in fields(Host) if f.name != "name")


def test_the_inventory_does_not_import_paramiko() -> None:
    # the agent side imports shared/ and must stay light
    code = "import sys, shared.inventory; sys.exit('paramiko' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_a_host_names_the_runtime_its_gpu_needs(tmp_path: Path) -> None:
    path = tmp_path / "inv.yml"
    path.write_text("hosts:\n  - name: p40\n    address: 10.0.0.5\n    runtime: [torch==2.4.1, --index-url, "
                    "https://download.pytorch.org/whl/cu118]\n  - {name: pi, address: 10.0.0.6, extras: agent}\n")
    hosts = {h.name: h for h in load_inventory(path).hosts}
    assert hosts["p40"].runtime == ("torch==2.4.1", "--index-url", "https://download.pytorch.org/whl/cu118")
    assert hosts["pi"].runtime == ()
