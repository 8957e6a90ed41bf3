"""The real-sshd test hosts behave like devices: host keys, commands, SFTP, outages, restarts."""
from __future__ import annotations

import time
from pathlib import Path

import paramiko
import psutil
import pytest

from tests.sshhosts import (REMOTE_PYTHON, REPO_ROOT, KeyPair, SshdFactory, connect,
                            write_known_hosts)


def run(client: paramiko.SSHClient, command: str, timeout: float = 5.0) -> tuple[int, str]:
    _, stdout, _ = client.exec_command(command, timeout=timeout)
    out = stdout.read().decode()
    return stdout.channel.recv_exit_status(), out


def test_loopback_command_and_sftp(sshd_loopback: SshdFactory, ssh_client_key: KeyPair,
                                   tmp_path: Path) -> None:
    host = sshd_loopback()
    assert host.address.startswith("127.") and host.port != 22
    assert host.known_hosts_line().startswith(f"[{host.address}]:{host.port} ssh-ed25519 AAAA")
    known = write_known_hosts(tmp_path / "known_hosts", [host])
    client = connect(host, ssh_client_key, known)
    try:
        assert run(client, "echo ok") == (0, "ok\n")
        # Sessions share this machine's filesystem: the project's interpreter runs remotely.
        code, out = run(client, f"cd {REPO_ROOT} && {REMOTE_PYTHON} -c 'import shared; print(1)'")
        assert (code, out) == (0, "1\n")

        src = tmp_path / "up.bin"
        src.write_bytes(bytes(range(256)) * 64)
        with client.open_sftp() as sftp:
            sftp.put(str(src), str(tmp_path / "remote.bin"))
            sftp.get(str(tmp_path / "remote.bin"), str(tmp_path / "down.bin"))
        assert (tmp_path / "down.bin").read_bytes() == src.read_bytes()
    finally:
        client.close()


def test_unknown_host_key_is_refused(sshd_loopback: SshdFactory, ssh_client_key: KeyPair,
                                     tmp_path: Path) -> None:
    host = sshd_loopback()
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        connect(host, ssh_client_key, empty)
    # Another host's key under this host's name is refused too.
    other = sshd_loopback()
    empty.write_text(other.known_hosts_line().replace(
        f"[{other.address}]:{other.port}", f"[{host.address}]:{host.port}") + "\n")
    with pytest.raises(paramiko.BadHostKeyException):
        connect(host, ssh_client_key, empty)


def test_stop_kills_sessions_and_restart_keeps_host_key(sshd_loopback: SshdFactory,
                                                        ssh_client_key: KeyPair,
                                                        tmp_path: Path) -> None:
    host = sshd_loopback()
    known = write_known_hosts(tmp_path / "known_hosts", [host])
    client = connect(host, ssh_client_key, known)
    try:
        _, stdout, _ = client.exec_command("echo $$; exec sleep 60", timeout=5)
        remote_pid = int(stdout.readline())
        key_before = client.get_transport().get_remote_server_key()
        assert psutil.pid_exists(remote_pid)

        host.stop()
        assert host.pid is None
        # The session's command died with sshd, not just the listener.
        gone = not psutil.pid_exists(remote_pid) or \
            psutil.Process(remote_pid).status() == psutil.STATUS_ZOMBIE
        assert gone
        with pytest.raises(paramiko.ssh_exception.NoValidConnectionsError):
            connect(host, ssh_client_key, known, timeout=2)
    finally:
        client.close()

    address, port = host.address, host.port
    host.restart()
    assert (host.address, host.port) == (address, port)
    client = connect(host, ssh_client_key, known)   # the old known_hosts line still matches
    try:
        assert client.get_transport().get_remote_server_key() == key_before
        assert run(client, "echo ok") == (0, "ok\n")
    finally:
        client.close()


def test_netns_host_cut_and_restore(sshd_netns: SshdFactory, ssh_client_key: KeyPair,
                                    tmp_path: Path) -> None:
    host = sshd_netns()
    assert host.address.startswith("10.213.") and host.port == 22
    assert host.known_hosts_line().startswith(f"{host.address} ssh-ed25519 AAAA")
    known = write_known_hosts(tmp_path / "known_hosts", [host])
    client = connect(host, ssh_client_key, known)
    try:
        assert run(client, "echo ok") == (0, "ok\n")
        host.cut_network()
        started = time.monotonic()
        # No RST, no FIN: the request just goes unanswered until the client's timeout.
        with pytest.raises(paramiko.SSHException, match="Timeout opening channel"):
            run(client, "echo ok", timeout=1.0)
        assert time.monotonic() - started < 3
        with pytest.raises(TimeoutError):   # socket.timeout: the SYN goes unanswered
            connect(host, ssh_client_key, known, timeout=1.0)
    finally:
        client.close()

    host.restore_network()
    client = connect(host, ssh_client_key, known)
    try:
        assert run(client, "echo ok") == (0, "ok\n")
    finally:
        client.close()


def test_netns_host_restart(sshd_netns: SshdFactory, ssh_client_key: KeyPair,
                            tmp_path: Path) -> None:
    host = sshd_netns()
    known = write_known_hosts(tmp_path / "known_hosts", [host])
    host.stop()
    # The namespace's kernel still answers: a refused connection, unlike a cut network.
    with pytest.raises(paramiko.ssh_exception.NoValidConnectionsError):
        connect(host, ssh_client_key, known, timeout=2)
    host.restart()
    client = connect(host, ssh_client_key, known)
    try:
        assert run(client, "echo ok") == (0, "ok\n")
    finally:
        client.close()
