"""Per-layer time: where a forward pass spends its time, layer by layer, for a variant and
for its unpruned original. One record format for both profilers (torch.profiler in a torch
worker, onnxruntime's own profiler in an onnxruntime one), one line a profiled model in
``layer_time.jsonl`` (the name: shared.resultsdir.ResultsFolder.LAYER_TIME).

A record is a profile of ``passes`` forward passes of one batch after a warm-up; each op's
``time_ms`` is its mean time per forward pass and ``calls`` how often it ran in one. The two
profilers name things differently (torch: module paths and classes, ``features.0`` Conv2d;
onnxruntime: graph nodes and ONNX op types, ``/features/features.0/Conv`` Conv, with
BatchNorm and ReLU often fused into the Conv), so each op also has a ``kind`` (conv, linear,
norm, activation, pool, elementwise, shape, other) that both share: the report compares
kinds, not names. A profiler's times include its own overhead; compare records of one
profiler, not a profile with the timed latency.

Format history: version 1 (this one).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

LAYER_TIME_VERSION = 1
ORIGINAL, VARIANT = "original", "variant"  # a record's role: the unpruned model (ratio 0) or a pruned one

# op type (lower case, torch module class or ONNX op type) -> kind
_KINDS = {
    "conv": ("conv1d", "conv2d", "conv3d", "conv", "convtranspose", "convtranspose2d", "fusedconv", "nhwcconv",
             "qlinearconv", "basicconv2d"),
    # attention: its q/k/v and output projections and its two products, all matrix products
    "linear": ("linear", "gemm", "matmul", "fusedgemm", "fusedmatmul", "multiheadattention"),
    "norm": ("batchnorm1d", "batchnorm2d", "batchnormalization", "layernorm", "layernormalization",
             "groupnorm", "localresponsenorm", "lrn"),
    "activation": ("relu", "relu6", "hardtanh", "clip", "sigmoid", "tanh", "gelu", "silu", "leakyrelu",
                   "hardswish", "softmax", "logsoftmax"),
    "pool": ("maxpool2d", "maxpool", "avgpool2d", "averagepool", "adaptiveavgpool2d", "globalaveragepool",
             "globalmaxpool", "adaptivemaxpool2d"),
    "elementwise": ("add", "sum", "mul", "sub", "div", "pow", "sqrt", "dropout"),
    "shape": ("flatten", "reshape", "transpose", "concat", "squeeze", "unsqueeze", "slice", "pad", "gather",
              "shape", "identity", "reorderinput", "reorderoutput"),
}
KIND_OF = {op: kind for kind, ops in _KINDS.items() for op in ops}
KINDS = (*_KINDS, "other")


def op_kind(op_type: str) -> str:
    """The kind both profilers share for a torch module class or an ONNX op type."""
    return KIND_OF.get(op_type.lower(), "other")


@dataclass(frozen=True)
class OpTime:
    """One layer (torch) or graph node (onnxruntime): mean time per forward pass."""

    layer: str
    op_type: str
    time_ms: float
    calls: float  # times it ran in one forward pass (a module used twice: 2)

    @property
    def kind(self) -> str:
        return op_kind(self.op_type)


@dataclass(frozen=True)
class LayerTimes:
    """One profiled model: which variant, how it ran, and its ops in execution order."""

    run_id: str
    trial_key: str | None  # the trial it was profiled beside (None: `agent profile`)
    variant_key: str
    base_model_key: str
    role: str  # ORIGINAL or VARIANT
    model: str
    method: str
    target_ratio: float
    backend: str
    device: str
    batch_size: int
    profiler: str  # "torch.profiler" or "onnxruntime"
    passes: int
    ops: tuple[OpTime, ...]

    @property
    def total_ms(self) -> float:
        return sum(op.time_ms for op in self.ops)

    def by_kind(self) -> dict[str, float]:
        """Milliseconds a forward pass spends in each kind of op."""
        totals: dict[str, float] = {}
        for op in self.ops:
            totals[op.kind] = totals.get(op.kind, 0.0) + op.time_ms
        return totals

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ops"] = [{**asdict(op), "kind": op.kind} for op in self.ops]
        return {"version": LAYER_TIME_VERSION, **data, "total_ms": self.total_ms}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LayerTimes:
        """A record as written by to_json; ValueError where it is not one (or is newer)."""
        if data.get("version") != LAYER_TIME_VERSION:
            raise ValueError(f"layer-time record version {data.get('version')!r} (this edgeprune reads "
                             f"{LAYER_TIME_VERSION})")
        try:
            ops = tuple(OpTime(str(o["layer"]), str(o["op_type"]), float(o["time_ms"]), float(o["calls"]))
                        for o in data["ops"])
            return cls(**{**{k: data[k] for k in _FIELDS}, "ops": ops})
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a layer-time record: {exc!r}") from None


_FIELDS = tuple(f for f in LayerTimes.__dataclass_fields__ if f != "ops")


def role_of(target_ratio: float) -> str:
    return ORIGINAL if target_ratio == 0 else VARIANT


def read_records(lines: Iterable[Mapping[str, Any]]) -> list[LayerTimes]:
    """The records among ``lines`` (JSON objects), skipping what is not one: this file only
    adds detail to the rows."""
    records = []
    for line in lines:
        try:
            records.append(LayerTimes.from_json(line))
        except ValueError:
            continue
    return records


@dataclass(frozen=True)
class KindTime:
    """One kind of op, in the original and in the pruned variant (ms a forward pass)."""

    kind: str
    original_ms: float
    variant_ms: float

    @property
    def saved_ms(self) -> float:
        return self.original_ms - self.variant_ms


def side_by_side(original: LayerTimes, variant: LayerTimes) -> list[KindTime]:
    """Time a kind of op takes in the original and in the variant, slowest first (in the original)."""
    before, after = original.by_kind(), variant.by_kind()
    kinds = sorted(set(before) | set(after), key=lambda k: (-before.get(k, 0.0), k))
    return [KindTime(k, before.get(k, 0.0), after.get(k, 0.0)) for k in kinds]
