"""The agent's wheel that `collector deploy` and `collector run` upload: built by a real `pip
wheel` from a copy of the checkout, in a temporary folder that is gone when the deploy is done
(or failed), and never writing the checkout (its build/ may be someone's own)."""
from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

import pytest

from collector.fleet import deploy
from shared.errors import UserError


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of this checkout's packaged sources, with a build/ of someone's own in it; the test
    never writes the real checkout."""
    copy = tmp_path / "checkout"
    copy.mkdir()
    for name in deploy.BUILD_FILES:
        shutil.copy2(deploy.PROJECT_ROOT / name, copy / name)
    for package in deploy.SOURCE_PACKAGES:
        shutil.copytree(deploy.PROJECT_ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "build" / "lib" / "agent").mkdir(parents=True)
    (copy / "build" / "lib" / "agent" / "deleted_since.py").write_text("# a module the sources no longer have\n")
    monkeypatch.setattr(deploy, "PROJECT_ROOT", copy)
    return copy


@pytest.fixture
def temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))  # pip's own temporary folders too
    return folder


def test_the_wheel_is_built_aside_and_its_folder_removed(checkout: Path, temp: Path) -> None:
    before = sorted(p.relative_to(checkout) for p in checkout.rglob("*"))
    with deploy.built_wheel() as wheel:
        names = zipfile.ZipFile(wheel.path).namelist()
        assert wheel.path.is_file() and wheel.path.is_relative_to(temp)
    assert "shared/version.py" in names and "collector/analysis/default_graph.dot" in names
    assert "agent/deleted_since.py" not in names  # an old build/ never ships
    assert list(temp.iterdir()) == []
    assert sorted(p.relative_to(checkout) for p in checkout.rglob("*")) == before  # build/ kept, nothing added


def test_a_failed_build_leaves_nothing_behind(checkout: Path, temp: Path) -> None:
    (checkout / "pyproject.toml").write_text("[project\n")
    with pytest.raises(UserError, match="building the agent's wheel failed"):
        with deploy.built_wheel():
            pass
    assert list(temp.iterdir()) == [] and (checkout / "build" / "lib" / "agent" / "deleted_since.py").is_file()
