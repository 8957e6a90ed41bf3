"""collector/fleet/sshconfig.py's resolution of ssh config aliases against real ``ssh -G``, for both of
its readers: ssh -G itself (where ssh is installed) and paramiko's parser (the fallback).

The config uses what ssh_config(5) documents and what broke for users: Include (whose last
block is a Host block, followed by global options), Match in any spelling, Host lines with a
trailing comment, negated patterns, ``Key=value`` spelling, %h in HostName and IdentityFile,
ProxyJump chains.
"""
from __future__ import annotations

import getpass
import shutil
import subprocess
from pathlib import Path

import pytest

from collector.fleet.sshconfig import resolve
from shared.inventory import Host

SSH = shutil.which("ssh")
pytestmark = pytest.mark.skipif(SSH is None, reason="OpenSSH's ssh is not installed (ssh -G is the truth here)")

ALIASES = ("labpi", "lastblock", "pi-01", "pi-02", "jet1", "jetson-nano", "Orin1", "bastion", "inner", "outer",
           "alias-upper", "box.corp", "secret.corp", "eq-style", "plain", "10.9.9.9", "commented", "the")


def write_config(folder: Path) -> Path:
    (folder / "keys").mkdir()
    for name in ("pi-01.lab.example", "jet1"):
        (folder / "keys" / f"{name}.key").write_text("key")
    (folder / "lab.conf").write_text("Host labpi\n    HostName 10.3.0.1\nHost lastblock\n    Port 2444\n")
    config = folder / "config"
    config.write_text(f"""\
Include {folder}/lab.conf
User fleet

Host pi-* commented # the lab's boards
    HostName %h.lab.example
    Port 2201
    IdentityFile {folder}/keys/%h.key

Match Host jet*
    User jetson
    ProxyJump bastion
    IdentityFile {folder}/keys/%n.key

MATCH OriginalHost orin*
    Port 2300

Host bastion
    HostName bastion.example.com
    User ops
    Port 2222

Host inner
    ProxyJump outer,bastion
Host outer
    HostName outer.example
    ProxyJump bastion

Host alias-upper
    HostName Upper.Example.COM

Host *.corp !secret.corp
    User corp
Host secret.corp
    Port 2999

Host=eq-style
    HostName=eq.example
    Port=2022
""")
    return config


def ssh_g(config: Path, alias: str) -> dict[str, list[str]]:
    done = subprocess.run([SSH, "-F", str(config), "-G", alias], capture_output=True, text=True, check=True)
    options: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        options.setdefault(key, []).append(value)
    return options


def truth(config: Path, alias: str) -> dict[str, object]:
    options = ssh_g(config, alias)
    hostname = options["hostname"][0]
    files = [f.replace("%h", hostname).replace("%n", alias) for f in options.get("identityfile", [])]
    return {"hostname": hostname, "port": int(options["port"][0]), "user": options["user"][0],
            "identity_files": [f for f in files if Path(f).is_file()],
            "jump": options.get("proxyjump", [None])[0]}


def resolved(config: Path, alias: str, jump: object) -> dict[str, object]:
    """``jump``: ssh -G's ProxyJump, whose hops are the chain's last ones (the first hop may
    bring its own ProxyJump, which ssh -G of this alias does not show)."""
    target = resolve(Host(name="h", address=alias), config)
    hops = [hop.alias for hop in target.chain()][-len(str(jump).split(",")):] if jump else []
    return {"hostname": target.hostname, "port": target.port, "user": target.user,
            "identity_files": list(target.identity_files), "jump": ",".join(hops) or None}


@pytest.mark.parametrize("reader", ["openssh", "paramiko"])
def test_every_alias_resolves_as_ssh_g_does(tmp_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEPRUNE_SSH_CONFIG", reader)
    monkeypatch.setattr(getpass, "getuser", lambda: ssh_g(Path("/dev/null"), "x")["user"][0])
    config = write_config(tmp_path)
    wrong = {}
    for alias in ALIASES:
        expected = truth(config, alias)
        got = resolved(config, alias, expected["jump"])
        if got != expected:
            wrong[alias] = (got, expected)
    assert not wrong, f"{len(wrong)} of {len(ALIASES)} aliases differ from ssh -G: {wrong}"
    inner = resolve(Host(name="h", address="inner"), config)
    assert [hop.alias for hop in inner.chain()] == ["bastion", "outer", "bastion"]  # outer's own jump first
