"""The causal analysis (analysis.json from `collector analyze` / `agent analyze`): the graph, the
estimates with their intervals, the refuter table with p-values (the causal-inference paper's
table III), gcm arrow strengths and the analysis's own recommendations."""
from __future__ import annotations

import pandas as pd

from collector.analysis.values import Analysis, Effect
from collector.report import causal_graph, plots, svg
from collector.report.data import ReportData, at_chance, chance_note
from collector.report.model import Block, Budgets, Figure, Note, Section, Table

# what a change of the outcome is measured in, by its column
UNITS = {"latency_p50_ms": "ms", "peak_mem_mb": "MiB", "accuracy_top1": "top-1, 0..1", "is_oom": "P(OOM)",
         "High_Accuracy_Loss": "P(high accuracy loss)"}
# adjusted and naive within this share of each other (or of the interval) say the same
SAME_SHARE = 0.02
VERDICT_COLORS = {"robust": "#2ca02c", "fragile": "#ff7f0e", "refuted": "#d62728", "no clear effect": "#7f7f7f"}


def _group(effect: Effect) -> str:
    return ", ".join(f"{k}={v}" for k, v in effect.group.items()) or "all"


def _short_group(effect: Effect) -> str:
    return " · ".join(str(v) for v in effect.group.values()) or "all"


def unit_of(outcome: str) -> str:
    return UNITS.get(outcome, outcome.rsplit("_", 1)[-1])


def adjustment_changed(effect: Effect) -> bool | None:
    """Whether adjusting for the confounders changed the estimate materially (None: not estimated).

    On a full-factorial grid the ratio is independent of batch size, device, model and method by
    construction, so the adjusted slope equals the naive one; it differs where the design is
    uneven (OOM-skipped trials, a fleet where each device ran other ratios, observational data)."""
    if not effect.estimated or effect.estimate is None or effect.naive_estimate is None:
        return None
    scale = max(abs(effect.estimate), abs(effect.naive_estimate), 1e-12)
    if effect.ci_low is not None and effect.ci_high is not None:
        scale = max(scale, abs(effect.ci_high - effect.ci_low))
    return abs(effect.estimate - effect.naive_estimate) > SAME_SHARE * scale


def adjustment_note(analysis: Analysis) -> str:
    """Where adjustment changed the answer, or why it did not."""
    judged = [(e, adjustment_changed(e)) for e in analysis.effects]
    judged = [(e, c) for e, c in judged if c is not None]
    if not judged:
        return ""
    changed = [e for e, c in judged if c]
    if not changed:
        return (f"In all {len(judged)} estimated effects the adjusted estimate equals the naive slope: the sweep is a "
                f"full grid, so the pruning ratio is independent of batch size, device, model and method by design "
                f"and adjusting for them changes nothing. Adjustment matters where the design is uneven: "
                f"OOM-skipped trials, fleets whose devices ran different ratios, adaptive sweeps, observational data.")
    listed = "; ".join(f"{e.question} [{_short_group(e)}]: {e.estimate:.3g} adjusted vs {e.naive_estimate:.3g} naive"
                       for e in changed[:6])
    return (f"Adjustment changed the answer in {len(changed)} of {len(judged)} effects (the design is uneven there: "
            f"confounders go with the ratio): {listed}. In the others the adjusted estimate equals the naive slope.")


MOST_CLAUSES = 4  # effects named in the latency-by-method sentence


def latency_by_method(analysis: Analysis) -> str:
    """The ratio's effect on latency, one clause a method: what the per-method questions are for."""
    effects = [e for e in analysis.effects if e.outcome == "latency_p50_ms" and e.estimated and "method" in e.group]
    if not effects:
        return ""
    clauses = []
    # the largest changes, then a count: a fleet has an effect a method, backend and device class
    shown = sorted(sorted(effects, key=lambda e: -abs(e.estimate or 0.0))[:MOST_CLAUSES], key=lambda e: e.estimate or 0.0)
    for e in shown:
        rest = ", ".join(f"{v}" for k, v in e.group.items() if k != "method")
        where = f" ({rest})" if rest and len({tuple(x.group.items()) for x in effects}) > len(
            {x.group["method"] for x in effects}) else ""
        clauses.append(f"{e.group['method']}{where} {e.estimate:+.3g} ms [{e.ci_low:.3g}, {e.ci_high:.3g}], "
                       f"{e.verdict.label}")
    more = f"; {len(effects) - len(shown)} more in the causal effects table" if len(effects) > len(shown) else ""
    return ("Latency change from unpruned to fully pruned, by method (causal, adjusted; the largest): "
            + "; ".join(clauses) + more + ".")


def refutation_grid(refutations: pd.DataFrame) -> pd.DataFrame:
    """Table III: one row an effect, one column a refuter: its new effect, p-value and outcome."""
    cells = refutations.assign(cell=[
        f"{'-' if pd.isna(n) else format(n, '.3g')} (p {'-' if pd.isna(p) else format(p, '.2f')}) {o}"
        for n, p, o in zip(refutations["new_effect"], refutations["p_value"], refutations["outcome"])])
    grid = cells.pivot_table(index=["question", "group", "estimate"], columns="refuter", values="cell",
                             aggfunc="first", sort=False)
    grid.columns.name = None
    return grid.reset_index()


def effects_table(analysis: Analysis) -> pd.DataFrame:
    return pd.DataFrame([{
        "question": e.question, "effect": f"{e.treatment} -> {e.outcome}", "group": _group(e),
        "estimate": e.estimate, "ci_low": e.ci_low, "ci_high": e.ci_high, "naive_estimate": e.naive_estimate,
        "unit": unit_of(e.outcome), "adjustment": {None: "", True: "changed it", False: "no change"}[
            adjustment_changed(e)], "n_rows": e.n_rows, "estimator": e.estimator or "-", "verdict": e.verdict.label,
        "why": "; ".join(e.verdict.reasons) if e.estimated else e.reason,
    } for e in analysis.effects], columns=["question", "effect", "group", "estimate", "ci_low", "ci_high",
                                           "naive_estimate", "unit", "adjustment", "n_rows", "estimator",
                                           "verdict", "why"])


def refutations_table(analysis: Analysis) -> pd.DataFrame:
    return pd.DataFrame([{
        "question": e.question, "group": _group(e), "estimate": e.estimate, "refuter": r.name,
        "new_effect": r.new_effect, "p_value": r.p_value, "expected": r.expected, "outcome": r.outcome,
        "note": r.note,
    } for e in analysis.effects for r in e.refutations],
        columns=["question", "group", "estimate", "refuter", "new_effect", "p_value", "expected", "outcome", "note"])


def _forest(analysis: Analysis) -> Figure | None:
    """Each estimate with its interval, one panel a question (their units differ)."""
    estimated = [e for e in analysis.effects if e.estimated and e.estimate is not None]
    if not estimated:
        return None
    questions: dict[str, list[Effect]] = {}
    for effect in estimated:
        questions.setdefault(effect.question, []).append(effect)
    heights = [len(v) + 1.2 for v in questions.values()]
    fig, axes = svg.figure(len(questions), 1, height_in=0.24 * sum(heights) / len(questions) + 0.35,
                           gridspec_kw={"height_ratios": heights})
    for ax, (question, effects) in zip(axes[:, 0], questions.items()):
        for i, e in enumerate(effects):
            color = VERDICT_COLORS.get(e.verdict.label, "#333333")
            low = e.ci_low if e.ci_low is not None else e.estimate
            high = e.ci_high if e.ci_high is not None else e.estimate
            ax.plot([low, high], [i, i], color=color, lw=2)
            ax.plot([e.estimate], [i], "o", color=color, ms=5)
        ax.axvline(0, color="#555555", lw=0.8)
        ax.set_yticks(range(len(effects)), [_short_group(e) for e in effects], fontsize=8)
        ax.set_ylim(len(effects) - 0.5, -0.5)
        ax.set_title(f"{question}: {effects[0].treatment} -> {effects[0].outcome}", loc="left", fontsize=10)
        ax.set_xlabel(f"change in {effects[0].outcome} ({unit_of(effects[0].outcome)}) per +1 of "
                      f"{effects[0].treatment}", fontsize=8)
    plots.legend_below(fig, [plots.line_handle(c) for c in VERDICT_COLORS.values()], list(VERDICT_COLORS),
                       title="verdict")
    return Figure("causal-effects", svg.to_svg(fig, "causal-effects"),
                  "Each causal effect (per +1 of the treatment: from unpruned to fully pruned for the ratio) with "
                  "its 95% interval, coloured by verdict. An interval that crosses the zero line is no clear effect.")


def arrows_table(analysis: Analysis) -> pd.DataFrame:
    return pd.DataFrame([a.to_dict() for a in analysis.arrow_strengths],
                        columns=["target", "parent", "strength", "share"])


def _arrows_figure(table: pd.DataFrame) -> Figure:
    targets = sorted(table["target"].unique())
    fig, axes = plots.facets(len(targets), cols=2, height_in=0.6 + 0.3 * table.groupby("target").size().max())
    for ax, target in zip(axes, targets):
        part = table[table["target"] == target].sort_values("share")
        ax.barh(part["parent"], part["share"] * 100, color="#6baed6")
        ax.set_title(target)
        ax.set_xlabel("share of the arrow strength into it, %")
        ax.grid(axis="y", visible=False)
    return Figure("causal-arrows", svg.to_svg(fig, "causal-arrows"),
                  "dowhy.gcm arrow strength: how much each direct cause moves an outcome's distribution, as a "
                  "share of all its causes together.")


def recommendations_table(analysis: Analysis) -> pd.DataFrame:
    return pd.DataFrame([r.to_dict() for r in analysis.recommendations],
                        columns=["device_class", "model", "method", "ratio", "batch_size", "accuracy_drop",
                                 "latency_ms", "peak_mem_mb", "p_oom", "limited_by"])


def _missing(data: ReportData) -> Section:
    source = data.source
    note = Note(f"No causal analysis here ({data.analysis_problem}). To make one, run "
                f"`collector analyze --results {source}` (for one device's folder `agent analyze --results "
                f"{source}` does the same); it writes {data.analysis_path.name} into that folder, and the next "
                f"report shows the graph, the effects, the refuters and the arrow strengths here.", "warn")
    return Section("causal", "Causal analysis", "What pruning causes, with the confounders adjusted for.", (note,),
                   ("No causal analysis (run `collector analyze` first).",))


def build(data: ReportData, budgets: Budgets) -> Section:
    analysis = data.analysis
    if analysis is None:
        return _missing(data)
    simulations = analysis.settings.get("refuters", {}).get("simulations")
    runs = f"; {simulations} refuter simulations" if simulations else ""
    blocks: list[Block] = [Note(f"From {data.analysis_path.name}: {analysis.n_rows} rows of {analysis.source}, "
                                f"analysed {analysis.created_at} by edgeprune {analysis.edgeprune_version}; graph: "
                                f"{analysis.graph_source}{runs}.")]
    if analysis.n_rows != len(data.rows):
        blocks.append(Note(f"The analysis saw {analysis.n_rows} rows; the results now have {len(data.rows)}. "
                           f"Run the analysis again for figures that match.", "warn"))
    if analysis.graph_edges:
        nodes = causal_graph.parse_edges(analysis.graph_edges).nodes
        absent = [n for n in nodes if n in data.rows.columns and data.rows[n].isna().all()]
        blocks.append(causal_graph.draw(analysis.graph_edges, absent=absent))
    effects = effects_table(analysis)
    forest = _forest(analysis)
    blocks += [b for b in (forest,) if b]
    blocks += [Table("causal_effects", "Causal effects", effects,
                     "naive_estimate is the unadjusted slope: where it differs from the estimate, the confounders "
                     "mattered.", formats={"estimate": ".4g", "ci_low": ".4g", "ci_high": ".4g",
                                            "naive_estimate": ".4g"},
                     shown=("question", "group", "estimate", "ci_low", "ci_high", "unit", "naive_estimate",
                            "adjustment", "n_rows", "verdict", "why"))]
    refutations = refutations_table(analysis)
    if len(refutations):
        blocks += [Table("causal_refuters", "Refuters: new effect (p-value) and outcome", refutation_grid(refutations),
                         "Each refuter re-estimates the effect: random_common_cause, data_subset and bootstrap should "
                         "leave it unchanged, placebo_treatment should bring it to zero, unobserved_common_cause "
                         "asks whether a hidden confounder could explain it away. A refuter fails only when the "
                         "effect moved materially (more than 10% of it) and p <= 0.05 (docs/ANALYSIS.md).",
                         max_rows=60, formats={"estimate": ".4g"}),
                   Table("causal_refutations", "Refutations, with notes", refutations, max_rows=100,
                         formats={"estimate": ".4g", "new_effect": ".4g", "p_value": ".2f"}, collapsed=True)]
    arrows = arrows_table(analysis)
    if not arrows.empty:
        blocks += [_arrows_figure(arrows), Table("causal_arrow_strengths", "Arrow strengths", arrows,
                                                 formats={"share": ".1%", "strength": ".4g"})]
    recommendations = recommendations_table(analysis)
    if not recommendations.empty:  # predictions, not picks: Recommendations uses them only where nothing was measured
        blocks.append(Table("causal_predictions", "The causal model's highest ratio within the budgets (predicted)",
                            recommendations, "Predicted from the fitted model, not measured. The recommendation per "
                            "device (next section) is what was measured; it uses these only for a device class and "
                            "model with no measurement.", max_rows=100, collapsed=True))
    adjustment = adjustment_note(analysis)
    blocks += [Note(adjustment)] if adjustment else []
    chance = chance_note(at_chance(data.rows))
    if chance:  # the accuracy effects pool these models' noise around chance with the real ones
        blocks.append(Note(f"The effects on accuracy include rows of a model that never learned. {chance}", "warn"))
    blocks += [Note(n) for n in analysis.notes[:8]]
    verdicts = effects["verdict"].value_counts()
    summary = (f"{len(effects)} causal effect(s): " + ", ".join(f"{n} {v}" for v, n in verdicts.items()) + ".",)
    summary += tuple(line for line in (latency_by_method(analysis), adjustment) if line)
    return Section("causal", "Causal analysis", "What pruning causes, with the confounders adjusted for.",
                   tuple(blocks), summary)
