"""Memory sizes and the cgroup files the worker cap reads."""
from __future__ import annotations

from pathlib import Path

import pytest

from agent.memlimit import TrialGroup
from shared.sizes import parse_size
from shared.errors import UserError


@pytest.mark.parametrize(("text", "size"), [
    ("2GiB", 2 * 2**30), ("512MiB", 512 * 2**20), ("1.5G", int(1.5 * 2**30)), ("4GB", 4 * 10**9),
    ("300000000", 300_000_000), (" 64 mib ", 64 * 2**20),
])
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "2XB", "-1GiB", "0", "GiB"])
def test_bad_sizes_name_the_flag(text: str) -> None:
    with pytest.raises(UserError, match="--mem-limit: cannot read memory size"):
        parse_size(text)


def test_v1_and_v2_files_are_read(tmp_path: Path) -> None:
    v1 = TrialGroup(tmp_path / "v1", 1)
    v1.path.mkdir()
    (v1.path / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    (v1.path / "memory.max_usage_in_bytes").write_text(str(300 * 2**20))
    assert v1.oom_kills() == 1 and v1.peak_mb() == 300
    v2 = TrialGroup(tmp_path / "v2", 2)
    v2.path.mkdir()
    (v2.path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
    assert v2.oom_kills() == 0 and v2.peak_mb() is None
    assert TrialGroup(tmp_path / "gone", 1).oom_kills() is None
