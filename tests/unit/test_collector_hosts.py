"""`collector hosts`: the inventory and ssh config resolved without connecting (ssh -G where ssh
is installed), missing keys flagged, two names for one machine found; and the outcome table's
one-line reasons."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from collector.cli import main
from collector.commands.hosts import list_hosts
from collector.fleet.hostrun import HostView
from collector.fleet.live import one_line, outcome_table


@pytest.fixture(autouse=True, params=["openssh", "paramiko"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    if request.param == "openssh" and shutil.which("ssh") is None:
        pytest.skip("OpenSSH's ssh is not installed: only paramiko's reading is tested")
    monkeypatch.setenv("EDGEPRUNE_SSH_CONFIG", request.param)
    monkeypatch.setenv("EDGEPRUNE_ANSIBLE", "never")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return request.param


def files(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "ssh_config"
    config.write_text("Host pi\n  HostName 10.0.0.5\n  User pi\n  Port 2200\n  ProxyJump ops@bastion:2222\n"
                      "Host bastion\n  HostName bastion.example.com\n")
    inventory = tmp_path / "hosts"
    inventory.write_text("[lab]\nboard ansible_host=pi\nboard-again ansible_host=10.0.0.5 ansible_user=pi "
                         "ansible_port=2200 edgeprune_proxy_jump=ops@bastion:2222\n"
                         "nokey ansible_host=10.0.0.6 ansible_ssh_private_key_file=/nonexistent/id_pi\n"
                         "[lab:vars]\nedgeprune_extras=agent\n")
    return inventory, config


def test_every_host_resolved_with_sources_and_same_machine(tmp_path: Path) -> None:
    inventory, config = files(tmp_path)
    rows = {row.name: row for row in list_hosts(inventory, None, config)}
    board = rows["board"]
    assert (board.hostname, board.port, board.user) == ("10.0.0.5", 2200, "pi")
    assert board.jump == ["ops@bastion.example.com:2222"] and board.groups == ["lab"]
    assert board.sources["hostname"] == board.sources["port"] == board.sources["jump"] == "ssh config"
    assert rows["board-again"].sources["port"] == "inventory"
    assert board.same_machine_as == ["board-again"] and rows["board-again"].same_machine_as == ["board"]
    assert rows["nokey"].problems == ["identity file /nonexistent/id_pi does not exist"]
    assert rows["nokey"].same_machine_as == [] and board.problems == []


def test_json_lists_every_host_and_a_missing_key_is_flagged_not_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # a table line a host, as on a wide terminal
    inventory, config = files(tmp_path)
    code = main(["hosts", "--hosts", str(inventory), "--ssh-config", str(config), "--json"])
    listing = json.loads(capsys.readouterr().out)
    assert code == 1  # a host has a problem; the others are listed all the same
    assert [h["name"] for h in listing] == ["board", "board-again", "nokey"]
    assert {k: listing[0][k] for k in ("address", "hostname", "port", "user", "groups")} == {
        "address": "pi", "hostname": "10.0.0.5", "port": 2200, "user": "pi", "groups": ["lab"]}
    assert main(["hosts", "--hosts", str(inventory), "--ssh-config", str(config), "--limit", "board"]) == 0
    table = capsys.readouterr().out
    assert "pi@10.0.0.5:2200" in table and "ops@bastion.example.com:2222" in table


def test_an_unknown_limit_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory, config = files(tmp_path)
    assert main(["hosts", "--hosts", str(inventory), "--limit", "nowhere"]) == 2
    assert "unknown host or tag 'nowhere'" in capsys.readouterr().err


def test_a_reason_is_one_line_in_the_outcome_table() -> None:
    pip = "installing edgeprune[agent] failed (exit 1): ERROR: OSError " + "x" * 300 + "\nmore\nlines"
    assert one_line(pip).endswith("…") and "\n" not in one_line(pip) and len(one_line(pip)) == 120
    assert one_line("short\nsecond") == "short (+1 lines in fleet.json)"
    view = HostView("h", outcome="agent-error", reason=pip)
    assert outcome_table([view]).columns[-1].no_wrap
