"""The result row: one row a trial, defined once and used by agent, collector, analysis, report.

Every column carries its unit in its name. A row is a plain ``dict`` on the wire
(one JSON object a line); :func:`make_row` builds and checks one.

Format history (bump ``SCHEMA_VERSION`` and add a step to :data:`MIGRATIONS`):
  1  first version.
  2  artifact and backend columns (shared/artifact_columns.py): artifact_sha256,
     base_model_key, onnx_opset, ort_*, accuracy_*_device, eval_samples_device; a version 1
     row gets them as null.
  3  energy and Jetson columns (shared/telemetry_columns.py): tegra_* (tegrastats), rapl_*_j,
     energy_j, energy_per_sample_mj, energy_source; a version 2 row gets them as null.
  4  device profiles (shared/telemetry_columns.py): emulated, emulation_profile,
     emulation_missing; latency quality (shared/latency_columns.py): latency_p50_reason,
     latency_p90_reason, latency_p99_reason, latency_p50_ci_low_ms, latency_p50_ci_high_ms,
     process_count, latency_p50_process_min_ms, latency_p50_process_max_ms,
     latency_p50_process_cv; trial conditions (shared/conditions_columns.py): cpus, disturbed,
     disturbed_reason, attempt, retry_of, quiet_wait_s, quiet_wait_result, cooldown_s,
     cooldown_reason, sustained_s, sustained_cold_p50_ms, sustained_steady_p50_ms,
     sustained_temp_max_c, throttled, throttled_reason; and the system sampler's
     sys_cpu_freq_drop_pct and sys_other_cpu_pct; 2:4 variants (shared/artifact_columns.py):
     sparse_kernel, sparse_kernel_reason, sparse_kernel_layers. From version 4 on a percentile is null where
     too few samples back it: a version 3 row's unbacked percentile (its p99 of 10 samples is
     their maximum) becomes null with the reason; its other new columns are null (attempt
     null reads as 1).
"""
from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.artifact_columns import ARTIFACT_COLUMNS
from shared.columns import Column, _c
from shared.conditions_columns import CONDITIONS_COLUMNS
from shared.latency_columns import DEFAULT_MIN_SAMPLES, LATENCY_QUALITY_COLUMNS, unbacked_reason
from shared.telemetry_columns import TELEMETRY_COLUMNS

SCHEMA_VERSION = 4


class Status(str, enum.Enum):
    """How a trial ended. Anything but ``ok`` carries its reason in ``error``."""

    OK = "ok"
    OOM = "oom"
    TIMEOUT = "timeout"
    CRASH = "crash"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class TrialEnd:
    """How a trial ended: the one source of a row's ``status``, ``is_oom`` and ``error``.

    ``is_oom`` follows from the status, so no row can say ``oom`` without ``is_oom`` (or the
    reverse); anything but ``ok`` carries its reason.
    """

    status: Status
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.status is not Status.OK and not self.reason:
            raise ValueError(f"a trial that ended {self.status.value!r} needs a reason")

    @classmethod
    def failure(cls, oom: bool, reason: str) -> TrialEnd:
        """An exception's ending: out of memory where the backend says so, else an error."""
        return cls(Status.OOM if oom else Status.ERROR, reason)

    @property
    def is_oom(self) -> bool:
        return self.status is Status.OOM

    def columns(self) -> dict[str, Any]:
        """The row's ``status``, ``is_oom`` and ``error``."""
        return {"status": self.status.value, "is_oom": self.is_oom, "error": self.reason}


ENDED_OK = TrialEnd(Status.OK)


COLUMNS: tuple[Column, ...] = (
    # identity
    _c("schema_version", int, "version of this schema", True),
    _c("run_id", str, "one run of one sweep into one output folder", True),
    _c("host", str, "host name the trial ran on", True),
    _c("device_class", str, "stable hardware class, e.g. x86_64-xeon-6140-p40", True),
    _c("trial_key", str, "stable hash of everything that defines the trial", True),
    _c("variant_key", str, "stable hash of the pruned variant (model, data, method, ratio, ...)", True),
    _c("started_at", str, "ISO 8601 UTC time the trial started", True),
    _c("agent_version", str, "edgeprune version that wrote the row", True),
    # variant: what was built
    _c("sweep", str, "sweep name"),
    _c("model", str, "model name from the catalog", True),
    _c("dataset", str, "dataset name from the catalog", True),
    _c("input_size", int, "input height = width in pixels", True),
    _c("num_classes", int, "classes of the dataset"),
    _c("method", str, "pruning method name", True),
    _c("method_options", str, "the method's options as canonical JSON"),
    _c("schedule", str, "one_shot or iterative", True),
    _c("schedule_steps", int, "pruning steps (1 for one_shot)"),
    _c("finetune_epochs", int, "fine-tuning epochs after each pruning step"),
    _c("seed", int, "seed of data split, training and random pruning"),
    _c("target_ratio", float, "requested pruning ratio in [0, 1)", True),
    _c("sparsity", float, "achieved: share of the base model's nonzero parameters removed"),
    _c("params_reported", int, "what parameters() numel says"),
    _c("params_nonzero", int, "parameters that are not exactly zero"),
    _c("params_actual", int, "parameters physically present after real removal"),
    _c("macs", int, "multiply-accumulates per sample, dense (Torch-Pruning's counter)"),
    _c("macs_effective", int, "MACs per sample counting only nonzero conv/linear weights"),
    _c("model_bytes", int, "size of the saved state dict in bytes"),
    _c("model_bytes_compressed", int, "size of the state dict, zip-deflated, in bytes"),
    _c("accuracy_top1", float, "top-1 accuracy on the evaluation split, 0..1"),
    _c("accuracy_top5", float, "top-5 accuracy where the dataset has more than 5 classes, 0..1"),
    _c("build_s", float, "seconds spent pruning and fine-tuning this variant"),
    # trial: how it was measured
    _c("backend", str, "inference backend", True),
    _c("device", str, "device the trial ran on, e.g. cpu or cuda:0", True),
    _c("batch_size", int, "samples a forward pass", True),
    _c("threads", int, "intra-op threads of the backend"),
    _c("status", str, "ok, oom, timeout, crash, error or skipped", True),
    _c("is_oom", bool, "the trial ran out of memory", True),
    _c("error", str, "why the trial did not end ok (tail of the message)"),
    _c("latency_p50_ms", float, "median latency of one batch, ms"),
    _c("latency_p90_ms", float, "90th percentile latency, ms"),
    _c("latency_p99_ms", float, "99th percentile latency, ms"),
    _c("latency_mean_ms", float, "mean latency, ms"),
    _c("latency_std_ms", float, "sample standard deviation of latency, ms"),
    _c("latency_min_ms", float, "fastest batch, ms"),
    _c("latency_cv", float, "coefficient of variation, std / mean"),
    _c("noisy", bool, "latency_cv above the noise threshold"),
    _c("n_samples", int, "timed repetitions"),
    _c("warmup_s", float, "seconds of warm-up before timing"),
    _c("timed_s", float, "seconds inside the timed region"),
    _c("throughput_sps", float, "samples a second: batch_size / mean latency"),
    _c("peak_rss_mb", float, "peak resident memory of the measuring process, MiB"),
    _c("peak_gpu_mem_mb", float, "peak GPU memory allocated by the backend, MiB"),
)

# telemetry (isolation, caps, perf, GPU, system sampler) is defined beside, in its own module
COLUMNS = COLUMNS + TELEMETRY_COLUMNS + ARTIFACT_COLUMNS + LATENCY_QUALITY_COLUMNS + CONDITIONS_COLUMNS
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
_BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
STATUSES: tuple[str, ...] = tuple(s.value for s in Status)


class SchemaError(ValueError):
    """A row that does not fit the schema: a bug or a foreign file, never a user typo."""


def _check_value(column: Column, value: Any) -> Any:
    if value is None:
        if column.required:
            raise SchemaError(f"column {column.name!r} may not be null")
        return None
    if column.type is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SchemaError(f"column {column.name!r} wants a number, got {_short(value)}")
        value = float(value)
        if math.isinf(value):  # Python's json reads "Infinity"; no measurement is infinite
            raise SchemaError(f"column {column.name!r} wants a finite number, got {value!r}")
        return None if math.isnan(value) else value  # NaN is not JSON; null means missing
    if column.type is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise SchemaError(f"column {column.name!r} wants an integer, got {_short(value)}")
    if column.type is not int and not isinstance(value, column.type):
        raise SchemaError(f"column {column.name!r} wants {column.type.__name__}, got {_short(value)}")
    return value


def _short(value: Any) -> str:
    """A value in a message: a hostile file's megabyte string is not repeated whole."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def make_row(values: Mapping[str, Any]) -> dict[str, Any]:
    """A complete row in column order: checks names and types, fills missing columns with null."""
    unknown = set(values) - set(_BY_NAME)
    if unknown:
        names = ", ".join(sorted(map(str, unknown)))
        raise SchemaError(f"unknown columns: {names if len(names) <= 200 else names[:197] + '...'}")
    row = {"schema_version": SCHEMA_VERSION, **values}
    if row["schema_version"] != SCHEMA_VERSION:
        raise SchemaError(f"row has schema_version {row['schema_version']}, expected {SCHEMA_VERSION}")
    row = {c.name: _check_value(c, row.get(c.name)) for c in COLUMNS}
    if row["status"] not in STATUSES:
        raise SchemaError(f"status {row['status']!r} is not one of {', '.join(STATUSES)}")
    return row


def _v1_to_v2(row: dict[str, Any]) -> dict[str, Any]:
    """Version 2 only added nullable columns: make_row fills them with null."""
    return {**row, "schema_version": 2}


def _v2_to_v3(row: dict[str, Any]) -> dict[str, Any]:
    """Version 3 only added nullable columns (energy, tegrastats, RAPL)."""
    return {**row, "schema_version": 3}


def _v3_to_v4(row: dict[str, Any]) -> dict[str, Any]:
    """Version 4 added nullable columns (device profiles, latency quality,
    trial conditions), and a percentile
    needs enough samples: a version 3 row's percentile that too few samples back (its p99 from
    10 samples is their maximum) becomes null with the reason, by the default counts; the other
    new columns are null."""
    row = {**row, "schema_version": 4}
    n = row.get("n_samples")
    if not isinstance(n, int) or isinstance(n, bool):
        return row
    for percentile, needed in DEFAULT_MIN_SAMPLES.items():
        column = f"latency_p{percentile}_ms"
        why = unbacked_reason(percentile, n, needed, "written by schema version 3, which timed no further")
        if why and row.get(column) is not None:
            row[column], row[f"latency_p{percentile}_reason"] = None, why
    return row


# version -> function turning a row of that version into one of version + 1
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4}


def upgrade_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """Bring a row written by any known older version up to this one, then check it."""
    data = dict(row)
    version = data.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version > SCHEMA_VERSION:
        raise SchemaError(
            f"row has schema_version {_short(version)}; this edgeprune reads up to {SCHEMA_VERSION}"
        )
    while version < SCHEMA_VERSION:
        if version not in MIGRATIONS:
            raise SchemaError(f"no migration from schema_version {version}")
        data = MIGRATIONS[version](data)
        version = data["schema_version"]
    return make_row(data)
