"""``agent validate``: the causal-pruning paper's three validations, causal against magnitude.

Each subcommand trains a base model (LeNet-5 on the built-in digits by default, seeded),
prunes copies of it with ``causal`` and with global magnitude pruning (``l1_unstructured``)
at matched sparsity, fine-tunes each alike, and appends its results as JSON lines to
OUT/validation.jsonl before printing them as tables.
"""
from __future__ import annotations

import argparse
import functools
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from rich.console import Console
from rich.table import Table

from shared import catalog
from shared.errors import UserError
from shared.resultlog import append_jsonl
from shared.resultsdir import utc_now
from shared.sweep import DatasetSpec
from shared.version import MIN_PYTHON_FULL

MIN_PYTHON = MIN_PYTHON_FULL  # torch, DoWhy or pandas: not the light agent

if TYPE_CHECKING:  # torch is imported only when a validation runs: `agent --help` stays fast
    from agent.granger.validate.problem import Problem

DEFAULT_OUT = Path("results") / "validate"
ROWS_FILE = "validation.jsonl"
PHASE_SHIFT_RATIOS = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99)
OVERLAP_RATIOS = (0.5, 0.9, 0.95)

DESCRIPTION = """\
Validate causal (Granger) pruning as the paper does, against global magnitude pruning at
matched sparsity. Each validation trains a base model (seeded), prunes copies of it,
fine-tunes each pruned copy alike, appends one JSON line a result to OUT/validation.jsonl
and prints tables. The defaults (LeNet-5 on the built-in digits) take about a minute on
two CPU cores.

Settings: by default causal pruning runs with stop: ratio and each setting is a pruning
ratio; with --l1-coeffs each setting is an L1 coefficient for stop: zero (the paper's rule:
prune where gamma is 0) and magnitude pruning is matched to the sparsity causal reached.
"""


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("validate", help="phase shift, Hessian and mask-overlap checks of causal pruning",
                                 description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = parser.add_subparsers(dest="validation", metavar="VALIDATION", required=True)
    common = _common_options()
    phase = kinds.add_parser(
        "phase-shift", parents=[common], help="accuracy against percent pruned, and the sharpness of the drop",
        description="Accuracy against percent pruned for causal and magnitude pruning, and the sharpness "
                    "of the transition: the steepest accuracy loss (accuracy points per percentage point "
                    "pruned) between neighbouring points. A method that finds exactly the weights that can "
                    "go keeps its accuracy, then drops at once.")
    _settings_options(phase, PHASE_SHIFT_RATIOS)
    phase.add_argument("--repeats", type=int, default=1, metavar="N",
                       help="prunings a setting, seeds SEED, SEED+1, ... (the paper: 6; default 1)")
    phase.set_defaults(execute=execute_phase_shift)

    hessian = kinds.add_parser(
        "hessian", parents=[common], help="top Hessian eigenvalues: is the pruned minimum flatter?",
        description="The top-k eigenvalues of the loss Hessian at the base model and at its causal and "
                    "magnitude prunings (Lanczos on Hessian-vector products; pruned weights stay at zero "
                    "and are no directions of their own). Smaller is flatter.")
    hessian.add_argument("--ratio", type=float, default=0.9, help="pruning ratio (default 0.9)")
    hessian.add_argument("--l1-coeff", type=float, default=None, metavar="A",
                         help="instead of --ratio: causal stop: zero with this L1 coefficient")
    hessian.add_argument("--top-k", type=int, default=5, metavar="K", help="eigenvalues (default 5)")
    hessian.add_argument("--lanczos-iterations", type=int, default=30, metavar="N",
                         help="Lanczos iterations, at least K (default 30)")
    hessian.add_argument("--samples", type=int, default=512, metavar="N",
                         help="training samples the loss is averaged over (default 512)")
    hessian.set_defaults(execute=execute_hessian)

    overlap = kinds.add_parser(
        "mask-overlap", parents=[common], help="the 2x2 intersection matrix of causal and magnitude masks",
        description="For each setting, the shares of the prunable weights that both methods prune, that "
                    "only causal or only magnitude pruning prunes, and that neither prunes (the paper's "
                    "figure 1b), with both accuracies.")
    _settings_options(overlap, OVERLAP_RATIOS)
    overlap.set_defaults(execute=execute_mask_overlap)


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help=f"output folder; results are appended to DIR/{ROWS_FILE} (default {DEFAULT_OUT})")
    common.add_argument("--model", default="lenet5", help=f"one of {', '.join(catalog.MODELS)} (default lenet5)")
    common.add_argument("--dataset", default="digits", help="a data set name as in a sweep file (default digits)")
    common.add_argument("--root", default=None, help="folder of a file-based data set (read locally)")
    common.add_argument("--train-samples", type=int, default=None, metavar="N",
                        help="cap on the training split (deterministic subset; default all)")
    common.add_argument("--eval-samples", type=int, default=None, metavar="N",
                        help="cap on the evaluation split (default all)")
    common.add_argument("--seed", type=int, default=0, help="data split, base model and pruning seed (default 0)")
    common.add_argument("--train-epochs", type=int, default=6, metavar="N", help="base model epochs (default 6)")
    common.add_argument("--finetune-epochs", type=int, default=1, metavar="N",
                        help="fine-tuning epochs after pruning, the same for both methods (default 1)")
    common.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="(default auto)")
    common.add_argument("--threads", type=int, default=1, metavar="N",
                        help="CPU threads for torch (default 1: the small default problem gains nothing "
                             "from more and loses much on a busy machine; raise it for big models)")
    common.add_argument("--causal", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the causal method as in a sweep file, e.g. --causal iterations=3 "
                             "--causal momentum=0.9 (repeatable)")
    return common


def _settings_options(parser: argparse.ArgumentParser, ratios: Sequence[float]) -> None:
    parser.add_argument("--ratios", type=float, nargs="+", default=list(ratios), metavar="R",
                        help=f"pruning ratios (default {' '.join(map(str, ratios))})")
    parser.add_argument("--l1-coeffs", type=float, nargs="+", default=None, metavar="A",
                        help="instead of --ratios: L1 coefficients for causal stop: zero, one point each")


# --- checking the arguments (every mistake one UserError naming the flag) ---

def parse_causal_options(pairs: Sequence[str], zero_stop: bool) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (values read as YAML) as checked causal options."""
    from agent.granger.validate.problem import causal_options

    given: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"expected KEY=VALUE, got {pair!r}", field="--causal")
        given[key.strip()] = yaml.safe_load(value)
    if zero_stop:
        if given.get("stop", "zero") != "zero":
            raise UserError("L1 coefficients are settings of stop: zero", field="--causal stop")
        given["stop"] = "zero"
    elif given.get("stop") == "zero":
        raise UserError("stop: zero takes L1 coefficients as settings; give --l1-coeffs", field="--causal stop")
    return causal_options(given)


def check_settings(values: Sequence[float], flag: str, ratios: bool) -> list[float]:
    for value in values:
        if (ratios and not 0.0 < value < 1.0) or (not ratios and value < 0):
            raise UserError(f"{value!r} is outside {'(0, 1)' if ratios else '[0, inf)'}", field=flag)
    return list(values)


def check_positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        if getattr(args, name) < 1:
            raise UserError(f"must be at least 1, got {getattr(args, name)}", field=f"--{name.replace('_', '-')}")


def check_out(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise UserError(f"{str(out)!r} is a file, not a folder", field="--out")
    return out


def problem_for(args: argparse.Namespace, zero_stop: bool) -> Problem:
    """Check the common arguments, then train the base model (the slow part)."""
    from agent.granger.validate.problem import ProblemSpec, make_problem, resolve_device
    from agent.models import MODELS

    check_out(args.out)
    check_positive(args, "train_epochs")
    if args.finetune_epochs < 0:
        raise UserError(f"must be at least 0, got {args.finetune_epochs}", field="--finetune-epochs")
    MODELS.get(args.model, field="--model")
    if args.dataset not in catalog.DATASETS:
        raise UserError(f"unknown dataset {args.dataset!r}", field="--dataset", valid=catalog.DATASETS)
    for name in ("train_samples", "eval_samples"):
        if getattr(args, name) is not None:
            check_positive(args, name)
    dataset = DatasetSpec(args.dataset, root=args.root, train_samples=args.train_samples,
                          eval_samples=args.eval_samples)
    spec = ProblemSpec(model=args.model, dataset=dataset, seed=args.seed,
                       train_epochs=args.train_epochs, finetune_epochs=args.finetune_epochs,
                       causal_options=parse_causal_options(args.causal, zero_stop))
    return make_problem(spec, resolve_device(args.device))


def settings_for(args: argparse.Namespace) -> list[float]:
    if args.l1_coeffs is not None:
        return check_settings(args.l1_coeffs, "--l1-coeffs", ratios=False)
    return check_settings(args.ratios, "--ratios", ratios=True)


# --- the subcommands ---

Execute = "Callable[[argparse.Namespace], int]"  # a string: collections.abc generics need 3.9 at run time


def with_threads(execute: Execute) -> Execute:
    """Run ``execute`` with ``--threads`` torch threads, then restore the count (tests call
    the subcommands in-process)."""
    @functools.wraps(execute)
    def wrapper(args: argparse.Namespace) -> int:
        import torch

        check_positive(args, "threads")
        before = torch.get_num_threads()
        torch.set_num_threads(args.threads)
        try:
            return execute(args)
        finally:
            torch.set_num_threads(before)

    return wrapper


@with_threads
def execute_phase_shift(args: argparse.Namespace) -> int:
    from agent.granger.validate.phase_shift import run_phase_shift
    from agent.granger.validate.report import phase_shift_tables

    settings = settings_for(args)
    check_positive(args, "repeats")
    if len(settings) < 2:
        flag = "--l1-coeffs" if args.l1_coeffs else "--ratios"
        raise UserError("a curve needs at least two settings", field=flag)
    problem = problem_for(args, args.l1_coeffs is not None)
    result = run_phase_shift(problem, settings, args.repeats)
    return finish(args, "phase-shift", problem, result.rows(), phase_shift_tables(result))


@with_threads
def execute_hessian(args: argparse.Namespace) -> int:
    from agent.granger.validate.hessian import run_hessian
    from agent.granger.validate.report import hessian_table

    zero_stop = args.l1_coeff is not None
    setting = check_settings([args.l1_coeff if zero_stop else args.ratio],
                             "--l1-coeff" if zero_stop else "--ratio", ratios=not zero_stop)[0]
    check_positive(args, "top_k", "samples")
    if args.lanczos_iterations < args.top_k:
        raise UserError(f"must be at least --top-k ({args.top_k}), got {args.lanczos_iterations}",
                        field="--lanczos-iterations")
    problem = problem_for(args, zero_stop)
    result = run_hessian(problem, setting, args.top_k, args.lanczos_iterations, args.samples)
    return finish(args, "hessian", problem, result.rows(), [hessian_table(result)])


@with_threads
def execute_mask_overlap(args: argparse.Namespace) -> int:
    from agent.granger.validate.mask_overlap import run_mask_overlap
    from agent.granger.validate.report import mask_overlap_table

    settings = settings_for(args)
    problem = problem_for(args, args.l1_coeffs is not None)
    result = run_mask_overlap(problem, settings)
    return finish(args, "mask-overlap", problem, result.rows(), [mask_overlap_table(result)])


def finish(args: argparse.Namespace, validation: str, problem: Problem, rows: list[dict[str, Any]],
           tables: Sequence[Table]) -> int:
    """Append the rows (each with what produced it) to OUT/validation.jsonl, print the tables."""
    path = check_out(args.out) / ROWS_FILE
    context = {"validation": validation, "created_at": utc_now(), "host": socket.gethostname(),
               **problem.spec.describe(), "base_accuracy": problem.base_accuracy}
    for row in rows:
        append_jsonl(path, {**context, **row})
    console = Console(highlight=False)
    for table in tables:
        console.print(table)
    console.print(f"{len(rows)} rows appended to {path}")
    return 0
