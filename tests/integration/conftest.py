"""Fixtures for integration tests."""
from __future__ import annotations

# Real OpenSSH hosts: `ssh_client_key`, `sshd_loopback`, `sshd_netns` (see tests/sshhosts.py).
from tests.sshhosts import ssh_client_key, sshd_loopback, sshd_netns  # noqa: F401
