"""What the collector offers a real sshd (password authentication on, as on many boards): a key's
passphrase only ever decrypts the key here; a password is offered only when the inventory names
one with ``password_env``. sshd logs every password attempt (``Failed password for ...``), so its
log tells what was offered."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from collector.fleet.transport.base import AuthFailed
from collector.fleet.transport.ssh import SshOptions, SshTransport, fingerprint
from shared.inventory import Host
from tests.sshhosts import KeyPair, SshdHost, _current_user, write_known_hosts

SECRET = "correct-horse-battery-staple-7f3a"
ENV = "EDGEPRUNE_TEST_SSH_SECRET"


def encrypted_key(folder: Path, passphrase: str) -> KeyPair:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "id_encrypted"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "encrypted", "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return KeyPair(path, path.with_name(path.name + ".pub").read_text().strip())


def transport(tmp_path: Path, sshd: SshdHost, key: KeyPair, **secret_env: str) -> SshTransport:
    host = Host(name="h", address=sshd.address, port=sshd.port, user=_current_user(),
                identity_file=str(key.private_path), **secret_env)
    known = write_known_hosts(tmp_path / "known_hosts", [sshd])
    return SshTransport(host, SshOptions(known_hosts=known, connect_timeout_s=5, log=lambda _: None))


def key_fingerprint(key: KeyPair) -> str:
    import paramiko

    return fingerprint(paramiko.Ed25519Key.from_private_key_file(str(key.private_path), password=SECRET))


@pytest.fixture
def password_host(sshd_loopback) -> SshdHost:
    return sshd_loopback(password_authentication=True)


def test_a_passphrase_is_never_offered_as_a_password(tmp_path: Path, password_host: SshdHost,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    key = encrypted_key(tmp_path / "keys", SECRET)  # not authorized on the host
    monkeypatch.setenv(ENV, SECRET)
    with pytest.raises(AuthFailed):
        transport(tmp_path, password_host, key, passphrase_env=ENV).connect()
    log = password_host.log_path.read_text()
    assert f"Failed publickey for {_current_user()}" in log and key_fingerprint(key) in log, log  # decrypted, offered
    assert "Failed password" not in log and "Accepted password" not in log, log
    assert SECRET not in log


def test_a_password_named_by_password_env_is_offered(tmp_path: Path, password_host: SshdHost,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: sshd does log a password attempt."""
    key = encrypted_key(tmp_path / "keys", SECRET)
    monkeypatch.setenv(ENV, SECRET)
    with pytest.raises(AuthFailed):
        transport(tmp_path, password_host, key, password_env=ENV).connect()
    assert f"Failed password for {_current_user()}" in password_host.log_path.read_text()


def test_an_encrypted_key_decrypted_with_its_passphrase_logs_in(tmp_path: Path, sshd_loopback,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    key = encrypted_key(tmp_path / "keys", SECRET)
    sshd = sshd_loopback(authorized_keys=[key.public_line], password_authentication=True)
    monkeypatch.setenv(ENV, SECRET)
    link = transport(tmp_path, sshd, key, passphrase_env=ENV)
    try:
        assert link.run("echo hello").stdout.strip() == "hello"
    finally:
        link.close()
    assert "Accepted publickey" in sshd.log_path.read_text()
