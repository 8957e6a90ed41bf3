"""Drawing helpers the sections share: facets, stable colours, heatmaps, legends.

Every figure is drawn from aggregates (medians, counts, quantiles), never one mark a trial:
a fleet of 50 hosts x 1,000 trials draws as many marks as a single device.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from collector.report import svg

# tab10 without its grey (kept for "ok" and "unpruned"), then tab20's light shades
_CYCLE = [c for i, c in enumerate(mcolors.TABLEAU_COLORS.values()) if i != 7]
_CYCLE += [mcolors.to_hex(c) for c in colormaps["tab20"].colors[1::2]]
STATUS_COLORS = {"ok": "#c7c7c7", "oom": "#d62728", "timeout": "#ff7f0e", "crash": "#9467bd",
                 "error": "#8c564b", "skipped": "#1f77b4"}
MAX_LINES = 10   # more series than this in one panel and a heatmap reads better


def colors(keys: Sequence[Hashable]) -> dict[Hashable, str]:
    """A stable colour a key (sorted), the same in every figure of the report."""
    return {key: _CYCLE[i % len(_CYCLE)] for i, key in enumerate(sorted(keys, key=str))}


def facets(n: int, *, cols: int = 3, height_in: float = 3.0,
           sharey: bool = False) -> tuple[Figure, list[Axes]]:
    """``n`` panels, ``cols`` a row at most; unused panels are removed."""
    cols = max(1, min(cols, n))
    rows = max(1, math.ceil(n / cols))
    width_in = min(svg.WIDTH_IN, max(5.5, 0.4 + 3.6 * cols))
    fig, grid = svg.figure(rows, cols, height_in=height_in, width_in=width_in, sharey=sharey)
    axes = list(grid.flat)
    for ax in axes[n:]:
        ax.remove()
    return fig, axes[:n]


def legend_below(fig: Figure, handles: Sequence[Any], labels: Sequence[str], *, title: str | None = None,
                 cols: int = 6) -> None:
    """One legend for all panels, below them, in as many columns as the figure is wide enough for."""
    entry_in = 0.7 + 0.075 * max((len(label) for label in labels), default=1)  # 9 pt text, handle, gap
    fits = max(1, int(fig.get_figwidth() / entry_in))
    fig.legend(handles, labels, loc="outside lower center", ncols=max(1, min(cols, len(labels), fits)), title=title)


def heatmap(ax: Axes, values: pd.DataFrame, *, labels: pd.DataFrame | None = None, cmap: str = "Reds",
            vmin: float | None = None, vmax: float | None = None, colorbar: str | None = None,
            fig: Figure | None = None, max_annotated: int = 400) -> None:
    """``values`` as coloured cells (index down, columns across); ``labels`` written in the cells
    (where there are few enough to read). NaN cells stay blank."""
    data = values.to_numpy(dtype=float)
    masked = np.ma.masked_invalid(data)
    image = ax.imshow(masked, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks(range(values.shape[1]), [str(c) for c in values.columns])
    ax.set_yticks(range(values.shape[0]), [str(i) for i in values.index])
    ax.grid(False)
    ax.tick_params(length=0)
    if labels is not None and data.size <= max_annotated:
        norm = image.norm
        for (i, j), text in np.ndenumerate(labels.to_numpy(dtype=object)):
            if text is None or text == "":
                continue
            shade = norm(data[i, j]) if np.isfinite(data[i, j]) else 0.0
            ax.text(j, i, str(text), ha="center", va="center", fontsize=8,
                    color="white" if shade > 0.6 else "black")
    if colorbar and fig is not None:
        fig.colorbar(image, ax=ax, label=colorbar, shrink=0.8)


def ratio_ticks(ax: Axes) -> None:
    """0..1 ratios shown as percentages."""
    ax.xaxis.set_major_formatter(lambda x, _: f"{x * 100:.0f}%")


def line_handle(color: str, *, ls: str = "-", marker: str | None = "o") -> Line2D:
    """A legend entry for a series drawn elsewhere (one legend for all panels)."""
    return Line2D([], [], color=color, ls=ls, marker=marker, ms=4)


def log_y(ax: Axes) -> None:
    """A log y axis labelled in plain numbers (1, 2, 5, 10 ...), also within a single decade."""
    _plain_log(ax.yaxis, ax.set_yscale)


def log_x(ax: Axes) -> None:
    _plain_log(ax.xaxis, ax.set_xscale)


def _plain_log(axis: Any, set_scale: Any) -> None:
    set_scale("log")
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0), numticks=9))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


# one marker a series, largest first: series that coincide (every mask-only method has the same
# parameter count and the same latency) show as concentric rings instead of hiding one another
MARKERS = (("o", 12), ("o", 9), ("o", 6), ("o", 3.5), ("s", 11), ("s", 8), ("s", 5), ("s", 3))


def series_styles(keys: Sequence[Hashable]) -> dict[Hashable, dict[str, Any]]:
    """Line keyword arguments a series (a pruning method): its colour and a ring marker."""
    palette = colors(keys)
    ordered = sorted(keys, key=str)
    return {key: {"color": palette[key], "marker": MARKERS[i % len(MARKERS)][0],
                  "ms": MARKERS[i % len(MARKERS)][1], "mfc": "none", "mew": 1.8}
            for i, key in enumerate(ordered)}


def series_legend(fig: Figure, styles: dict[Hashable, dict[str, Any]], *, title: str | None = None,
                  extra: Sequence[tuple[Any, str]] = ()) -> None:
    handles = [Line2D([], [], **{**style, "ms": min(style["ms"], 8)}) for style in styles.values()]
    legend_below(fig, [*handles, *(h for h, _ in extra)], [*map(str, styles), *(label for _, label in extra)],
                 title=title)
