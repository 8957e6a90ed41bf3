"""Fixtures for the fault tests: real OpenSSH hosts (tests/sshhosts.py) and a prebuilt store."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.fleet import build_store
from tests.sshhosts import ssh_client_key, sshd_loopback, sshd_netns  # noqa: F401


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("artifacts"))
