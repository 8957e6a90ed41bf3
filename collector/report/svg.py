"""matplotlib figures as inline SVG strings for a self-contained page.

Text stays text (``svg.fonttype: none``): the SVG is small and the browser draws the labels
with its own sans-serif font. Every SVG gets its own id prefix, since matplotlib names
elements ``patch_1``, ``clip0`` ... in each figure afresh and a page with several inline SVGs
would otherwise resolve ``url(#...)`` to another figure's clip path.
"""
from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

STYLE: dict[str, Any] = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "figure.dpi": 72,          # 1 inch = 72 SVG points
    "path.simplify": True,
}
WIDTH_IN = 11.0                # fits a 1,400 px window with the page's margins
_ID = re.compile(r'\bid="([^"]+)"')


@contextmanager
def style() -> Iterator[None]:
    with matplotlib.rc_context(STYLE):
        yield


def figure(rows: int = 1, cols: int = 1, *, height_in: float = 3.2, width_in: float = WIDTH_IN,
           **kwargs: Any) -> tuple[Figure, Any]:
    """A figure of ``rows`` x ``cols`` panels, each ``height_in`` tall; axes as a 2-D array."""
    with style():
        fig, axes = plt.subplots(rows, cols, figsize=(width_in, height_in * rows), squeeze=False,
                                 layout="constrained", **kwargs)
    return fig, axes


def to_svg(fig: Figure, name: str) -> str:
    """The figure as one ``<svg>`` element (no XML prolog), ids prefixed with ``name``; closes it."""
    buffer = io.StringIO()
    try:
        with style(), matplotlib.rc_context({"svg.hashsalt": name}):
            fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    finally:
        plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    ids = set(_ID.findall(text))
    prefix = f"{name}-"
    text = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', text)
    # references: url(#id) in styles and attributes, href="#id" in <use>
    text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})" if m.group(1) in ids
                  else m.group(0), text)
    text = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"' if m.group(1) in ids
                  else m.group(0), text)
    return text.strip()
