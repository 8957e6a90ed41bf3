"""The validations' results as rich tables (the CLI prints them)."""
from __future__ import annotations

from rich.table import Table

from agent.granger.validate.hessian import HessianResult
from agent.granger.validate.mask_overlap import MaskOverlapResult
from agent.granger.validate.phase_shift import PhaseShiftResult, mean_curve
from agent.granger.validate.problem import MAGNITUDE

LABELS = {MAGNITUDE.name: "magnitude"}  # method name -> what a table calls it


def label(method: str) -> str:
    return LABELS.get(method, method)


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _columns(table: Table, *names: str) -> Table:
    for i, name in enumerate(names):
        table.add_column(name, justify="left" if i == 0 else "right")
    return table


def phase_shift_tables(result: PhaseShiftResult) -> list[Table]:
    """The mean curve of each method side by side, then each method's transition."""
    curves = {t.method: mean_curve([p for p in result.points if p.method == t.method])
              for t in result.transitions}
    table = Table(title=f"phase shift: accuracy against percent pruned (base {_pct(result.base_accuracy)})")
    for method in curves:
        table.add_column(f"{label(method)} pruned", justify="right")
        table.add_column(f"{label(method)} acc", justify="right")
    for row in zip(*curves.values()):
        table.add_row(*(cell for sparsity, accuracy in row for cell in (_pct(sparsity), _pct(accuracy))))
    sharpness = _columns(Table(title="sharpness: steepest drop of the mean curve"),
                         "method", "acc pts / pruned pt", "from", "to", "total drop", "share")
    for t in result.transitions:
        sharpness.add_row(label(t.method), f"{t.sharpness:.2f}", _pct(t.steepest_from), _pct(t.steepest_to),
                          _pct(t.total_drop), f"{t.drop_share:.2f}")
    return [table, sharpness]


def hessian_table(result: HessianResult) -> Table:
    count = max(len(s.eigenvalues) for s in result.spectra)
    table = _columns(Table(title=f"top Hessian eigenvalues ({result.samples} samples, pruned weights at 0)"),
                     "model", "pruned", "acc", *(f"l{i + 1}" for i in range(count)))
    for s in result.spectra:
        table.add_row(label(s.model), _pct(s.sparsity), _pct(s.accuracy), *(f"{v:.4g}" for v in s.eigenvalues))
    return table


def mask_overlap_table(result: MaskOverlapResult) -> Table:
    """One line a setting; both methods prune the same share (matched), shown once."""
    table = _columns(Table(title="mask overlap, shares of the prunable weights"),
                     "setting", "pruned", "both", "causal only", "magn. only", "neither", "causal acc",
                     "magn. acc")
    for c in result.comparisons:
        o = c.overlap
        table.add_row(f"{c.setting:g}", _pct(c.causal_sparsity), _pct(o.both), _pct(o.first_only),
                      _pct(o.second_only), _pct(o.neither), _pct(c.causal_accuracy), _pct(c.magnitude_accuracy))
    return table
