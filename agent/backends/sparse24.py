"""2:4 sparse kernels for the torch backend: which Linear layers of a ``semi_structured_24``
variant get ``torch.sparse.to_sparse_semi_structured`` weights, and why the others do not.

The kernels (cuSPARSELt, or CUTLASS where this torch has no cuSPARSELt) run on CUDA devices of
compute capability 8.0 or later, in float16 or bfloat16 (the variant's ``dtype`` option), on
2-D weights whose rows and columns are multiples of the kernel's minimum tile (cuSPARSELt
16 x 16, CUTLASS 32 x 64 for those dtypes; torch's ``_DTYPE_SHAPE_CONSTRAINTS``). Where any
Linear qualifies, the whole model runs in that dtype on the device (a float16 input cannot meet
float32 layers); where none does, it stays float32 and dense, and the reason says why. Convs
keep the 2:4 pattern but run dense: torch has no 2:4 conv kernel. The classifier head is never
pruned, so it is never 2:4.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from agent.backends.base import UNPRUNED_BASE
from agent.pruning.semi_structured import is_two_of_four

MIN_CAPABILITY = (8, 0)
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}
_CUTLASS_FLOAT16_TILE = (32, 64)  # where torch's table cannot be read: the stricter backend's


@dataclass(frozen=True)
class SparsePlan:
    """What the torch backend did with a 2:4 variant on one device: the row's columns."""

    used: bool
    reason: str
    layers: int = 0  # Linear layers running 2:4 kernels
    dtype: torch.dtype = torch.float32  # what the model and its input run in

    def columns(self) -> dict[str, Any]:
        return {"sparse_kernel": self.used, "sparse_kernel_reason": self.reason,
                "sparse_kernel_layers": self.layers}


def _sparse_class() -> type:
    """The subclass ``to_sparse_semi_structured`` builds, or CUTLASS's where it could not run."""
    from torch.sparse import SparseSemiStructuredTensor, SparseSemiStructuredTensorCUTLASS

    if SparseSemiStructuredTensor._FORCE_CUTLASS or not torch.backends.cusparselt.is_available():
        return SparseSemiStructuredTensorCUTLASS
    return torch.sparse.SparseSemiStructuredTensorCUSPARSELT


def _tile(kind: type, dtype: torch.dtype) -> tuple[int, int]:
    config = getattr(kind, "_DTYPE_SHAPE_CONSTRAINTS", {}).get(dtype)
    return (config.sparse_min_rows, config.sparse_min_cols) if config is not None else _CUTLASS_FLOAT16_TILE


def why_not_eligible(module: nn.Linear, tile: tuple[int, int]) -> str | None:
    """Why this Linear cannot take a 2:4 kernel (None: it can)."""
    if not is_two_of_four(module.weight.detach()):
        return "weight not 2:4"
    rows, cols = module.weight.shape
    if rows % tile[0] or cols % tile[1]:
        return f"weight {rows}x{cols} not a multiple of {tile[0]}x{tile[1]}"
    return None


def device_refusal(device: str) -> str | None:
    """Why no 2:4 kernel can run on ``device`` at all (None: it can, capability permitting)."""
    if not device.startswith("cuda"):
        return f"the trial runs on {device}: torch's 2:4 kernels are CUDA only (the weights run dense)"
    major, minor = torch.cuda.get_device_capability(torch.device(device))
    if (major, minor) < MIN_CAPABILITY:
        return f"compute capability {major}.{minor} < 8.0: no sparse tensor cores (the weights run dense)"
    return None


def apply_sparse_kernels(model: nn.Module, variant: Mapping[str, Any], options: Mapping[str, Any],
                         device: str) -> SparsePlan:
    """Give every eligible Linear of ``model`` (a 2:4 variant) a semi-structured weight on
    ``device``, the model moved there in the variant's dtype; the plan says what was done."""
    if not variant.get("target_ratio"):
        return SparsePlan(False, UNPRUNED_BASE)
    refused = device_refusal(device)
    if refused is not None:
        return SparsePlan(False, refused)
    dtype = DTYPES[options.get("dtype", "float16")]
    kind = _sparse_class()
    tile = _tile(kind, dtype)
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    refusals: dict[str, str] = {name: why for name, m in linears if (why := why_not_eligible(m, tile)) is not None}
    eligible = [m for name, m in linears if name not in refusals]
    if not eligible:
        return SparsePlan(False, _reason(kind, 0, len(linears), refusals, None, model))
    model.to(device=torch.device(device), dtype=dtype)
    used = 0
    for name, module in linears:
        if module not in eligible:
            continue
        try:
            module.weight = nn.Parameter(_to_sparse(kind, module.weight.detach()), requires_grad=False)
            used += 1
        except RuntimeError as exc:  # the layer stays dense; the row says why
            refusals[name] = f"conversion failed: {str(exc).splitlines()[0][:120]}"
    return SparsePlan(used > 0, _reason(kind, used, len(linears), refusals, dtype, model), used, dtype)


def _to_sparse(kind: type, weight: torch.Tensor) -> torch.Tensor:
    """``to_sparse_semi_structured`` (cuSPARSELt by default); CUTLASS's directly where this torch
    has no cuSPARSELt (the function would pick cuSPARSELt all the same)."""
    if kind is torch.sparse.SparseSemiStructuredTensorCUSPARSELT:
        return torch.sparse.to_sparse_semi_structured(weight)
    return kind.from_dense(weight)


def _reason(kind: type, used: int, total: int, refusals: Mapping[str, str], dtype: torch.dtype | None,
            model: nn.Module) -> str:
    ran = "float32" if dtype is None else str(dtype).removeprefix("torch.")
    parts = [f"2:4 kernels ({kind.BACKEND}) on {used} of {total} Linear layers, the model in {ran}"
             if used else f"0 of {total} Linear layers run 2:4 kernels (the model runs dense, {ran})"]
    if refusals:
        parts.append("not eligible: " + ", ".join(f"{name} ({why})" for name, why in refusals.items()))
    if any(isinstance(m, nn.Conv2d) for m in model.modules()):
        parts.append("convs run dense (torch has no 2:4 conv kernel)")
    return "; ".join(parts)
