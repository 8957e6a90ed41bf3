"""The package version, in one place (pyproject reads it from here), and the Pythons it runs on."""
from __future__ import annotations

__version__ = "0.1.0"

# The light agent (`edgeprune[agent]`: agent info, agent run --artifacts with onnxruntime) runs
# on the Pythons boards ship: JetPack 5 has 3.8, JetPack 6 3.10, Raspberry Pi OS bookworm 3.11.
# Everything else (building variants, analysis, reports, the collector) needs 3.11.
MIN_PYTHON_LIGHT = (3, 8)
MIN_PYTHON_FULL = (3, 11)
LIGHT_EXTRAS = frozenset({"", "agent"})  # the installs that need only MIN_PYTHON_LIGHT


def min_python(extras: str) -> tuple[int, int]:
    """The oldest Python an install with these extras (comma-separated, as in pip) runs on."""
    wanted = {e.strip() for e in extras.split(",")}
    return MIN_PYTHON_LIGHT if wanted <= LIGHT_EXTRAS else MIN_PYTHON_FULL
