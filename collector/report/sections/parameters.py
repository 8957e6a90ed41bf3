"""Parameters PyTorch reports vs parameters really left (the structured-pruning paper's figure
2), and per-layer sparsity (its table I, from layers.jsonl)."""
from __future__ import annotations

import pandas as pd
from matplotlib.lines import Line2D

from collector.report import plots, svg
from collector.report.cells import said
from collector.report.data import ReportData
from collector.report.model import Block, Budgets, Figure, Note, Section, Table


def parameters_table(data: ReportData) -> pd.DataFrame:
    variants = data.variants.dropna(subset=["params_reported"])
    table = variants.groupby(["model", "method", "target_ratio"]).agg(
        params_reported=("params_reported", "median"), params_nonzero=("params_nonzero", "median"),
        params_actual=("params_actual", "median")).reset_index()
    base = table[table["target_ratio"] == 0].groupby("model")["params_reported"].max()
    table["params_base"] = table["model"].map(base)
    table["overcount"] = table["params_reported"] / table["params_nonzero"]
    return table


def _figure(table: pd.DataFrame) -> Figure:
    models = sorted(table["model"].unique())
    styles = plots.series_styles(table["method"].unique())
    fig, axes = plots.facets(len(models))
    for ax, model in zip(axes, models):
        part = table[table["model"] == model]
        for method, line in part.groupby("method"):
            line = line.sort_values("target_ratio")
            base = line["params_base"].astype(float)
            ax.plot(line["target_ratio"], 100 * line["params_reported"] / base, ls="--", lw=1.2, **styles[method])
            ax.plot(line["target_ratio"], 100 * line["params_nonzero"] / base, lw=1.5, **styles[method])
        ax.set_title(model)
        ax.set_xlabel("pruning ratio asked for")
        ax.set_ylabel("parameters, % of unpruned")
        ax.set_ylim(0, 105)
        plots.ratio_ticks(ax)
    plots.series_legend(fig, styles, extra=((Line2D([], [], color="#333333", ls="--"), "reported by parameters()"),
                                            (Line2D([], [], color="#333333"), "really left (nonzero)")))
    return Figure("parameters", svg.to_svg(fig, "parameters"),
                  "Dashed: the count PyTorch reports (numel of parameters()); solid: the parameters left nonzero. "
                  "Mask-only pruning zeroes weights but keeps them, so PyTorch still reports the full model: "
                  "the dashed line stays at 100%. Only real removal (structured) makes the two agree. Methods whose "
                  "counts coincide show as concentric rings.")


def reference_ratio(layers: pd.DataFrame) -> float | None:
    """The pruned ratio closest to 0.5: one column a method is as wide as table I can be."""
    ratios = sorted(r for r in layers["target_ratio"].dropna().unique() if r > 0)
    return min(ratios, key=lambda r: (abs(r - 0.5), r)) if ratios else None


def with_removed(layers: pd.DataFrame) -> pd.DataFrame:
    """Each layer's share of weights gone, zeroed or removed, against the same layer unpruned:
    a structured variant's layer is smaller and dense, its own sparsity 0."""
    unpruned = layers.groupby(["model", "layer"])["params"].max().rename("params_unpruned")
    layers = layers.join(unpruned, on=["model", "layer"])
    layers["removed"] = 1 - layers["nonzero"].astype(float) / layers["params_unpruned"].astype(float)
    return layers


def layers_table(layers: pd.DataFrame, ratio: float) -> pd.DataFrame:
    """Table I: one row a layer, one column a method: the share of its weights gone at one ratio."""
    layers = with_removed(layers)
    at = layers[layers["target_ratio"] == ratio]
    order = layers.drop_duplicates(["model", "layer"])[["model", "layer", "kind", "params_unpruned"]]
    grid = at.pivot_table(index=["model", "layer"], columns="method", values="removed", aggfunc="median")
    grid.columns.name = None
    return order.join(grid, on=["model", "layer"]).reset_index(drop=True)


def _layer_blocks(data: ReportData) -> list[Block]:
    layers = data.layers
    ratio = reference_ratio(layers) if not layers.empty else None
    if ratio is None:
        return [Note(f"No per-layer sparsity: {data.source} has no layers.jsonl with pruned variants.")]
    table = layers_table(layers, ratio)
    methods = [c for c in table.columns if c not in ("model", "layer", "kind", "params_unpruned")]
    return [Table("layer_sparsity", f"Per-layer sparsity at ratio {ratio:g}", table,
                  "Share of each layer's weights that are zero or removed (structured), against the layer "
                  "unpruned, per method; every ratio is in layer_sparsity_all.csv. Global methods take unevenly "
                  "from layers; a layer pruned close to 100% is where accuracy goes.", max_rows=80,
                  formats=dict.fromkeys(methods, ".1%")),
            Table("layer_sparsity_all", "Per-layer sparsity, every variant", with_removed(layers), max_rows=0)]


def build(data: ReportData, budgets: Budgets) -> Section:
    title, intro = "Parameters", "What PyTorch reports about a pruned model, what is really left, and where."
    table = parameters_table(data)
    blocks: list[Block] = []
    if table.empty:
        blocks.append(Note("No parameter counts in the rows.", "warn"))
    else:
        blocks += [_figure(table), Table("parameters", "Parameter counts", table,
                                         "overcount = reported / nonzero: how far parameters() overstates the "
                                         "model that is really left.", formats={"overcount": ".2f"},
                                         collapsed=True)]
    blocks += _layer_blocks(data)
    summary = ()
    if not table.empty:
        worst = table.sort_values("overcount").iloc[-1]
        summary = (f"parameters() overstates {worst['model']} pruned with {worst['method']} at ratio "
                   f"{worst['target_ratio']:g} by {said(worst['overcount'], '.1f', unit='x')} (mask-only pruning "
                   "keeps the zeros).",)
    return Section("parameters", title, intro, tuple(blocks), summary)
