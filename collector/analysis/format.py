"""The analysis as the terminal shows it: ``format_*`` functions return rich renderables or lines;
only the CLI prints them."""
from __future__ import annotations

from collections.abc import Iterable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from collector.analysis.values import (FAIL, FRAGILE, NO_CLEAR_EFFECT, NOT_RUN, PASS, REFUTED, ROBUST, WARN,
                                       Analysis, Effect)

_VERDICT_STYLE = {ROBUST: "green", FRAGILE: "yellow", REFUTED: "red", NO_CLEAR_EFFECT: "cyan"}
_SHORT = {"random_common_cause": "common cause", "data_subset": "subset", "placebo_treatment": "placebo",
          "bootstrap": "bootstrap", "unobserved_common_cause": "hidden confounder"}


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _refuters_cell(effect: Effect) -> Text:
    """``5 ok``, or the ones that did not pass by name: ``4 ok; warn: hidden confounder``."""
    passed = sum(r.outcome == PASS for r in effect.refutations)
    text = Text(f"{passed} ok", style="green" if passed == len(effect.refutations) else "")
    for outcome, style in ((FAIL, "red"), (WARN, "yellow"), (NOT_RUN, "dim")):
        names = [_SHORT.get(r.name, r.name) for r in effect.refutations if r.outcome == outcome]
        if names:
            text.append(f"; {outcome}: {', '.join(names)}", style=style)
    return text


def format_effects(analysis: Analysis) -> Table:
    """One line an effect: estimate with CI, the naive slope beside it, refuters, verdict."""
    table = Table(title=f"Causal effects ({analysis.n_rows} rows of {analysis.source})", show_lines=True,
                  title_justify="left")
    for header in ("treatment -> outcome [group]", "rows", "effect per +1 [95% CI]", "naive", "refuters",
                   "verdict"):
        table.add_column(header)
    for effect in analysis.effects:
        if not effect.estimated:
            table.add_row(effect.label, str(effect.n_rows), Text(effect.reason, style="dim"), "", "", "not estimated")
            continue
        estimate = f"{_num(effect.estimate)} [{_num(effect.ci_low)}, {_num(effect.ci_high)}]"
        verdict = Text(effect.verdict.label, style=_VERDICT_STYLE.get(effect.verdict.label, ""))
        table.add_row(effect.label, str(effect.n_rows), estimate, _num(effect.naive_estimate),
                      _refuters_cell(effect), verdict)
    return table


def format_effect_detail(effect: Effect) -> list[str]:
    """Everything about one effect, a line a fact (for ``--details``)."""
    lines = [f"{effect.question}: {effect.label}"]
    if not effect.estimated:
        return lines + [f"  not estimated: {effect.reason}"]
    lines += [f"  estimand: {effect.estimand}", f"  backdoor set: {', '.join(effect.backdoor) or '(none)'}",
              f"  estimator: {effect.estimator}, {effect.n_rows} rows",
              f"  estimate: {_num(effect.estimate)} [{_num(effect.ci_low)}, {_num(effect.ci_high)}], "
              f"naive slope {_num(effect.naive_estimate)}"]
    lines += [f"  left out: {n} rows, {why}" for why, n in effect.left_out.items()]
    lines += [f"  {ref}" for ref in effect.refutations]
    lines.append(f"  verdict: {effect.verdict}")
    return lines


def format_verdict_reasons(analysis: Analysis) -> list[str]:
    """Why each effect that is not simply robust got its verdict."""
    return [f"{e.label}: {e.verdict}" for e in analysis.effects
            if e.estimated and e.verdict.label != ROBUST]


def format_arrow_strengths(analysis: Analysis) -> Table | None:
    if not analysis.arrow_strengths:
        return None
    table = Table(title="What drives each outcome (dowhy.gcm arrow strength, share of the total)",
                  title_justify="left")
    for header in ("outcome", "parent", "share", "strength"):
        table.add_column(header)
    for arrow in analysis.arrow_strengths:
        table.add_row(arrow.target, arrow.parent, f"{arrow.share:.1%}", _num(arrow.strength, 3))
    return table


def format_recommendations(analysis: Analysis) -> Table | None:
    if not analysis.recommendations:
        return None
    budgets = analysis.settings.get("budgets", {})
    limits = ", ".join(f"{k}={v}" for k, v in budgets.items() if v is not None)
    table = Table(title=f"Highest ratio within the budgets ({limits}), predicted by dowhy.gcm",
                  title_justify="left")
    for header in ("device class / model", "ratio", "predicted at that ratio", "measured vs unpruned",
                   "next ratio up"):
        table.add_column(header)
    for r in analysis.recommendations:
        predicted = (f"acc drop {_num(r.accuracy_drop, 2)}, {_num(r.latency_ms, 3)} ms, "
                     f"{_num(r.peak_mem_mb, 4)} MiB, P(OOM) {_num(r.p_oom, 2)} (batch {r.batch_size})")
        ratio = "none fits" if r.ratio is None else f"{_num(r.ratio)} {r.method}"
        measured = "-" if r.ratio is None or r.ratio == 0 else r.measured().describe()
        table.add_row(f"{r.device_class}\n{r.model}", ratio, predicted, measured, r.limited_by)
    return table


def format_what_ifs(analysis: Analysis) -> list[str]:
    lines = []
    for w in analysis.what_ifs:
        setting = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in w.setting.items())
        latency = (f"latency {_num(w.latency_ms, 3)} ms (90% of trials {_num(w.latency_low_ms, 3)}.."
                   f"{_num(w.latency_high_ms, 3)})" if w.latency_ms is not None else "latency: not modelled")
        oom = (f"P(OOM) {_num(w.p_oom, 2)} ({_num(w.p_oom_low, 2)}..{_num(w.p_oom_high, 2)})"
               if w.p_oom is not None else "P(OOM): not modelled (no OOM in these rows?)")
        lines.append(f"what if {setting}: {latency}; {oom}")
    return lines


def format_attributions(analysis: Analysis) -> list[str]:
    lines = []
    for a in analysis.attributions:
        top = ", ".join(f"{node} {value:+.3g}" for node, value in list(a.contributions.items())[:4])
        lines.append(f"trial {a.trial_key} on {a.host}: {a.target} {a.observed:.4g} (typical {a.typical:.4g}); "
                     f"anomaly score by cause: {top}")
    return lines


def _section(title: str, lines: Iterable[str]) -> RenderableType | None:
    lines = list(lines)
    return Group(Text(title, style="bold"), *(Text(f"  {line}") for line in lines)) if lines else None


def format_summary(analysis: Analysis, details: bool = False) -> list[RenderableType]:
    """The whole terminal summary, in reading order."""
    parts: list[RenderableType | None] = [format_effects(analysis)]
    if details:
        parts.append(_section("Details", [line for e in analysis.effects for line in format_effect_detail(e)]))
    parts += [_section("Why not robust", format_verdict_reasons(analysis)),
              format_arrow_strengths(analysis), format_recommendations(analysis),
              _section("What if", format_what_ifs(analysis)), _section("Why this trial", format_attributions(analysis)),
              _section("Notes", analysis.notes)]
    return [p for p in parts if p is not None]
