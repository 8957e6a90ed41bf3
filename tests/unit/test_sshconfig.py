"""~/.ssh/config applied to inventory hosts, with a temporary config (never the user's)."""
from __future__ import annotations

import getpass
import shutil
from pathlib import Path

import pytest

from collector.fleet.sshconfig import Jump, SshTarget, parse_jumps, resolve
from shared.errors import UserError
from shared.inventory import Host


@pytest.fixture(autouse=True, params=["openssh", "paramiko"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: ssh -G's reading where ssh is installed, and paramiko's fallback."""
    if request.param == "openssh" and shutil.which("ssh") is None:
        pytest.skip("OpenSSH's ssh is not installed: only paramiko's reading is tested")
    monkeypatch.setenv("EDGEPRUNE_SSH_CONFIG", request.param)
    return request.param


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """~ is a temporary folder: ~/.ssh/config and ~ in IdentityFile are never the user's."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(getpass, "getuser", lambda: "localme")
    return home


def config(home: Path, text: str) -> Path:
    path = home / ".ssh" / "test_config"
    path.write_text(text)
    return path


def key(home: Path, name: str) -> str:
    path = home / ".ssh" / name
    path.write_text("key")
    return str(path)


CONFIG = """
Host pi
  HostName 10.0.0.5
  Port 2200
  User pi
  IdentityFile ~/.ssh/id_pi
  IdentityFile ~/.ssh/id_absent
  ProxyJump bastion

Host bastion
  HostName bastion.example.com
  User ops
  Port 2222

Host inner
  HostName 10.1.0.1
  ProxyJump outer

Host outer
  HostName outer.example.com
  ProxyJump bastion

Host loop-a
  ProxyJump loop-b
Host loop-b
  ProxyJump loop-a

Host legacy
  HostName 10.2.0.1
  ProxyCommand nc -X connect -x proxy:3128 %h %p

Host *
  ServerAliveInterval 15
"""


def test_an_alias_takes_hostname_port_user_key_and_jump_from_the_config(private_home: Path) -> None:
    id_pi = key(private_home, "id_pi")
    target = resolve(Host(name="pi-4", address="pi"), config(private_home, CONFIG))
    assert (target.alias, target.hostname, target.port, target.user) == ("pi", "10.0.0.5", 2200, "pi")
    assert target.identity_files == (id_pi,)  # a missing IdentityFile is skipped, as ssh does
    assert target.proxy_jump == SshTarget(alias="bastion", hostname="bastion.example.com", port=2222,
                                          user="ops", identity_files=())


def test_inventory_values_win_over_the_config(private_home: Path) -> None:
    key(private_home, "id_pi")
    mine = key(private_home, "id_mine")
    host = Host(name="pi-4", address="pi", port=22, user="root", identity_file=mine, proxy_jump="jump.example.com")
    target = resolve(host, config(private_home, CONFIG))
    assert (target.hostname, target.port, target.user, target.identity_files) == ("10.0.0.5", 22, "root", (mine,))
    assert target.proxy_jump is not None and target.proxy_jump.hostname == "jump.example.com"


def test_defaults_port_22_and_the_local_user(private_home: Path) -> None:
    target = resolve(Host(name="a", address="192.168.1.9"), config(private_home, CONFIG))
    assert target == SshTarget(alias="192.168.1.9", hostname="192.168.1.9", port=22, user="localme",
                               identity_files=())


def test_without_a_config_file_every_address_is_itself(private_home: Path) -> None:
    assert not (private_home / ".ssh" / "config").exists()
    target = resolve(Host(name="a", address="pi"))
    assert (target.hostname, target.port, target.user, target.proxy_jump) == ("pi", 22, "localme", None)


def test_the_default_config_is_home_ssh_config(private_home: Path) -> None:
    (private_home / ".ssh" / "config").write_text(CONFIG)
    assert resolve(Host(name="a", address="pi")).hostname == "10.0.0.5"


def test_a_proxy_jump_with_user_and_port_resolves_the_jump_alias(private_home: Path) -> None:
    host = Host(name="a", address="10.9.9.9", proxy_jump="admin@bastion:2022")
    (jump,) = resolve(host, config(private_home, CONFIG)).chain()
    # the hop's own user and port win; its HostName comes from the config
    assert (jump.alias, jump.hostname, jump.user, jump.port) == ("bastion", "bastion.example.com", "admin", 2022)


def test_the_first_hop_brings_its_own_jumps_later_hops_do_not(private_home: Path) -> None:
    path = config(private_home, CONFIG)
    target = resolve(Host(name="a", address="inner"), path)
    assert [t.alias for t in target.chain()] == ["bastion", "outer"]
    target = resolve(Host(name="a", address="x", proxy_jump="outer,inner"), path)
    # as ssh -J outer,inner: outer through its own bastion, then inner (its ProxyJump ignored)
    assert [t.alias for t in target.chain()] == ["bastion", "outer", "inner"]
    inner = target.proxy_jump
    assert inner is not None and inner.proxy_jump is not None and inner.proxy_jump.alias == "outer"


def test_a_jump_loop_is_a_user_error(private_home: Path) -> None:
    with pytest.raises(UserError, match="ProxyJump chain to 'loop-.' is longer than 8 hops"):
        resolve(Host(name="a", address="loop-a"), config(private_home, CONFIG))


def test_proxy_jump_none_and_proxy_command(private_home: Path) -> None:
    path = config(private_home, "Host pi\n  ProxyJump none\n" + CONFIG)
    assert resolve(Host(name="a", address="pi"), path).proxy_jump is None  # the first value wins, as in ssh
    # paramiko would connect straight to HostName: refused, naming the file and the host
    with pytest.raises(UserError, match=r"test_config: Host legacy: ProxyCommand is not supported"):
        resolve(Host(name="a", address="legacy"), path)
    through = resolve(Host(name="a", address="legacy", proxy_jump="pi"), path)  # the inventory's jump wins
    assert through.hostname == "10.2.0.1" and through.proxy_jump is not None and through.proxy_jump.alias == "pi"


@pytest.mark.parametrize(("text", "jumps"), [
    ("bastion", (Jump("bastion"),)),
    ("ops@bastion:2222", (Jump("bastion", "ops", 2222),)),
    ("ssh://ops@bastion:2222,inner", (Jump("bastion", "ops", 2222), Jump("inner"))),
    ("[fe80::1]:2200", (Jump("fe80::1", None, 2200),)),
    ("me@fe80::1", (Jump("fe80::1", "me", None),)),
])
def test_parse_jumps(text: str, jumps: tuple[Jump, ...]) -> None:
    assert parse_jumps(text) == jumps


@pytest.mark.parametrize("text", ["host:0", "host:70000", "host:", "user@"])
def test_a_bad_jump_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="hop"):
        parse_jumps(text)


def test_a_bad_jump_in_the_config_names_the_file_and_host(private_home: Path, reader: str) -> None:
    message = (r"test_config: line 2: Invalid ProxyJump \"j:0\" \(read by ssh -G for pi\)" if reader == "openssh"
               else r"test_config: Host pi: ProxyJump: hop 'j:0': port 0 is outside")
    with pytest.raises(UserError, match=message):
        resolve(Host(name="a", address="pi"), config(private_home, "Host pi\n  ProxyJump j:0\n"))


def test_proxy_jump_none_in_the_inventory_wins_over_the_config(private_home: Path) -> None:
    host = Host(name="a", address="pi", proxy_jump="none")
    assert resolve(host, config(private_home, CONFIG)).proxy_jump is None


def test_config_mistakes_are_user_errors(private_home: Path, reader: str) -> None:
    path = config(private_home, "Host pi\n  Port twenty\n")
    message = (r"test_config: line 2: Bad port 'twenty' \(read by ssh -G for pi\)" if reader == "openssh"
               else r"test_config: Host pi: Port 'twenty' is not a port number")
    with pytest.raises(UserError, match=message):
        resolve(Host(name="a", address="pi"), path)
    unparsable = "line 2: no argument after keyword \"bogus\"" if reader == "openssh" else "cannot parse SSH config"
    with pytest.raises(UserError, match=unparsable):
        resolve(Host(name="a", address="pi"), config(private_home, "Host pi\n  Bogus\n"))
    with pytest.raises(UserError, match="cannot read SSH config: No such file"):
        resolve(Host(name="a", address="pi"), private_home / "absent")


def test_include_is_inlined(private_home: Path) -> None:
    (private_home / ".ssh" / "config.d").mkdir()
    (private_home / ".ssh" / "config.d" / "lab").write_text("Host labpi\n  HostName 10.3.0.1\n")
    (private_home / "abs.conf").write_text("Host abspi\n  User abs\n")
    path = config(private_home, f"Include config.d/*\nInclude {private_home / 'abs.conf'}\n")
    assert resolve(Host(name="a", address="labpi"), path).hostname == "10.3.0.1"
    assert resolve(Host(name="a", address="abspi"), path).user == "abs"


def test_a_local_host_has_no_ssh_target() -> None:
    with pytest.raises(ValueError, match="without SSH"):
        resolve(Host(name="local", transport="local"))


def test_match_in_any_spelling_applies_only_where_it_matches(private_home: Path) -> None:
    path = config(private_home, "Match Host jet*\n  User jetson\nMATCH originalhost orin*\n  Port 2300\n")
    assert resolve(Host(name="a", address="jet1"), path).user == "jetson"
    assert resolve(Host(name="a", address="pi"), path).user == "localme"  # not every host's
    assert resolve(Host(name="a", address="orin1"), path).port == 2300
    assert resolve(Host(name="a", address="pi"), path).port == 22


def test_options_after_an_include_are_the_includers(private_home: Path) -> None:
    (private_home / "lab.conf").write_text("Host labpi\n  HostName 10.3.0.1\n")
    path = config(private_home, f"Include {private_home / 'lab.conf'}\nUser fleet\n")
    assert resolve(Host(name="a", address="elsewhere"), path).user == "fleet"  # not only labpi's
    assert resolve(Host(name="a", address="labpi"), path).hostname == "10.3.0.1"


def test_a_comment_after_host_patterns_is_no_alias(private_home: Path) -> None:
    path = config(private_home, "Host pi # the lab's board\n  HostName 10.0.0.5\n")
    assert resolve(Host(name="a", address="pi"), path).hostname == "10.0.0.5"
    assert resolve(Host(name="a", address="the"), path).hostname == "the"
