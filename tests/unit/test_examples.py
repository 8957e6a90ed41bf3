"""Every sweep the project shows a user must load: the README's and those in deploy/."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from shared.sweep import load_sweep, parse_sweep

ROOT = Path(__file__).parents[2]


def test_the_readme_sweep_example_is_valid() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert blocks, "the README shows a sweep file"
    for block in blocks:
        parse_sweep(yaml.safe_load(block), "README.md")


@pytest.mark.parametrize("path", sorted((ROOT / "deploy").glob("sweep.*.yml")), ids=lambda p: p.name)
def test_every_deploy_sweep_is_valid(path: Path) -> None:
    load_sweep(path)


def test_the_readme_commands_exist() -> None:
    text = (ROOT / "README.md").read_text()
    for script in re.findall(r"^\./(scripts/\S+\.sh)", text, re.MULTILINE):
        assert (ROOT / script).is_file(), script
    assert "./scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
