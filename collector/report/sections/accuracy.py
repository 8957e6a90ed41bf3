"""Accuracy against sparsity, per method and model: the causal-pruning paper's phase-shift view
(accuracy holds, then falls off a cliff; a better method moves the cliff to the right)."""
from __future__ import annotations

import pandas as pd

from collector.report import plots, svg
from collector.report.cells import said
from collector.report.data import ReportData, at_chance, chance_note
from collector.report.model import Budgets, Figure, Note, Section, Table


def accuracy_table(data: ReportData) -> pd.DataFrame:
    """One row a (model, method, ratio): accuracy over its hosts (one value a host: accuracy is
    measured once a variant), and the drop against the unpruned model."""
    variants = data.variants.dropna(subset=["accuracy_top1"])
    table = variants.groupby(["model", "method", "target_ratio"]).agg(
        sparsity=("sparsity", "median"), accuracy_top1=("accuracy_top1", "median"),
        accuracy_min=("accuracy_top1", "min"), accuracy_max=("accuracy_top1", "max"),
        accuracy_drop=("accuracy_drop", "median"), hosts=("host", "nunique")).reset_index()
    table["accuracy_drop"] = table["accuracy_drop"].round(6) + 0.0  # no "-0.0000" for the unpruned model
    return table


def by_ratio(table: pd.DataFrame) -> pd.DataFrame:
    """Top-1 a (model, method), one column a ratio: the figure's numbers at a glance."""
    grid = table.pivot_table(index=["model", "method"], columns="target_ratio", values="accuracy_top1")
    grid.columns = [f"top1_at_{r:g}" for r in grid.columns]
    return grid.reset_index()


def _figure(table: pd.DataFrame, budgets: Budgets, chance: dict[str, float]) -> Figure:
    models = sorted(table["model"].unique())
    styles = plots.series_styles(table["method"].unique())
    fig, axes = plots.facets(len(models), sharey=False)
    for ax, model in zip(axes, models):
        part = table[table["model"] == model]
        for method, line in part.groupby("method"):
            line = line.sort_values("sparsity")
            x = line["sparsity"].fillna(line["target_ratio"])
            ax.plot(x, line["accuracy_top1"] * 100, **styles[method])
            if (line["accuracy_max"] > line["accuracy_min"]).any():  # hosts disagree: show how far
                ax.fill_between(x, line["accuracy_min"] * 100, line["accuracy_max"] * 100,
                                color=styles[method]["color"], alpha=0.15, linewidth=0)
        unpruned = part.loc[part["target_ratio"] == 0, "accuracy_top1"].median()
        if pd.notna(unpruned):
            ax.axhline((unpruned - budgets.max_accuracy_drop) * 100, color="#555555", ls=":", lw=1)
        if model in chance:  # the whole scale, with chance marked: no zoom into noise around it
            ax.axhline(chance[model] * 100, color="#d62728", ls="--", lw=1)
            ax.set_ylim(0, 100)
            ax.set_title(f"{model} (base model at chance level)", color="#d62728")
        else:
            ax.set_title(model)
        ax.set_xlabel("sparsity achieved")
        ax.set_ylabel("top-1 accuracy, %")
        ax.set_xlim(-0.03, 1.0)
        plots.ratio_ticks(ax)
    plots.series_legend(fig, styles, title="method")
    return Figure("accuracy", svg.to_svg(fig, "accuracy"),
                  "Top-1 accuracy of each variant against the share of the base model's parameters it removed "
                  "(median over hosts; the band spans hosts where they differ). The dotted line is the budget: "
                  f"the unpruned accuracy minus {budgets.max_accuracy_drop * 100:g} point(s). A phase shift is "
                  "the ratio where a curve leaves its plateau; further right is better."
                  + (" Red dashed: chance level (1 / classes), for a base model that never learned." if chance else ""))


def _cliffs(table: pd.DataFrame, budgets: Budgets, chance: dict[str, float]) -> tuple[str, ...]:
    """Per model, the method that keeps accuracy within the budget up to the highest sparsity
    (none for a model whose base is at chance level: its accuracy moves only by noise)."""
    lines = [f"{model}: no accuracy finding; its base model is at chance level (a guess scores {p * 100:.0f}% top-1)."
             for model, p in sorted(chance.items())]
    within = table[(table["accuracy_drop"] <= budgets.max_accuracy_drop) & (table["target_ratio"] > 0)
                   & ~table["model"].isin(list(chance))]
    for model, part in within.groupby("model"):
        best = part.sort_values(["sparsity", "target_ratio"]).iloc[-1]
        reach = (f"{said(best['sparsity'], '.0f', 100, '%')} sparsity" if pd.notna(best["sparsity"])
                 else f"ratio {best['target_ratio']:g} (sparsity not recorded)")
        lines.append(f"{model}: {best['method']} keeps top-1 within {budgets.max_accuracy_drop * 100:g} point(s) "
                     f"up to {reach}.")
    return tuple(lines)


def build(data: ReportData, budgets: Budgets) -> Section:
    title = "Accuracy vs sparsity"
    intro = "How much of each model can be pruned before accuracy falls, per pruning method."
    table = accuracy_table(data)
    if table.empty:
        return Section("accuracy", title, intro, (Note("No trial recorded an accuracy.", "warn"),))
    grid = by_ratio(table)
    shown = Table("accuracy", "Top-1 accuracy by pruning ratio", grid, "Median over hosts.",
                  formats={c: ".1%" for c in grid.columns if c.startswith("top1_at_")})
    variants = Table("accuracy_variants", "Accuracy per variant", table,
                     "Median over hosts; accuracy_drop is against the same model unpruned on the same host.",
                     formats={"sparsity": ".3f", "accuracy_top1": ".4f", "accuracy_min": ".4f",
                              "accuracy_max": ".4f", "accuracy_drop": "+.4f"}, collapsed=True)
    flagged = at_chance(data.rows)
    chance = dict(zip(flagged["model"], flagged["chance_top1"]))
    notes = (Note(chance_note(flagged), "warn"),) if chance else ()
    return Section("accuracy", title, intro, (*notes, _figure(table, budgets, chance), shown, variants),
                   _cliffs(table, budgets, chance))
