"""A bounded on-disk float16 copy of every recorded step, for lasso fits of several passes.

The streaming fit sees each step once, while training runs. A second pass needs the steps
again: the original code kept a full-size checkpoint file per SGD step (gigabytes for a
few epochs of a small net). This store keeps one float16 row a step, ``dtheta`` of every
pruned weight divided by that step's root mean square (so float16's range, 6e-8 to 65504,
never meets a raw ``dtheta`` of 1e-7), with the scales and the loss changes in memory:
``steps`` floats, not ``steps x parameters``. Rows are written and read with plain file
I/O, a chunk or a layer at a time, not a memory map, so the rows never count towards the
resident memory of the process.

The file lives in a fresh temporary folder that :meth:`DeltaStore.close` (or leaving the
``with`` block) deletes, also when the fit fails.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
import torch

from agent.granger.lasso import CHUNK

ROW_DTYPE = np.float16
BYTES_PER_VALUE = np.dtype(ROW_DTYPE).itemsize


class StoreFull(RuntimeError):
    """A row would take the store past its bound."""


def store_bytes(rows: int, row_values: int) -> int:
    """What ``rows`` rows of ``row_values`` values take on disk."""
    return rows * row_values * BYTES_PER_VALUE


class DeltaStore:
    """Rows of float16 values in a temporary file of at most ``max_bytes``: one row a step,
    the layers of ``shapes`` one after another.

    :meth:`append` takes one step's ``dtheta`` of every layer and keeps, per layer, the scale
    it divided by; :meth:`read` gives one layer of one row back as float32 on ``device``.
    Both go a chunk at a time: no full-size temporary.
    """

    def __init__(self, shapes: Sequence[torch.Size], max_bytes: int, device: torch.device | str = "cpu",
                 folder: str | Path | None = None, chunk: int = CHUNK) -> None:
        self.shapes = [torch.Size(shape) for shape in shapes]
        self.sizes = [shape.numel() for shape in self.shapes]
        self.offsets = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        self.row_values = sum(self.sizes)
        self.max_bytes = max_bytes
        self.device = torch.device(device)
        self.chunk = chunk
        self._folder = Path(tempfile.mkdtemp(prefix="edgeprune-causal-", dir=folder))
        self.path = self._folder / "steps.f16"
        self._file = self.path.open("w+b")
        self._scales: list[list[float]] = []

    @property
    def rows(self) -> int:
        return len(self._scales)

    @property
    def bytes_written(self) -> int:
        return store_bytes(self.rows, self.row_values)

    def append(self, directions: Sequence[torch.Tensor], factor: float = 1.0) -> None:
        """Write one step, ``dtheta = factor * direction`` of each layer; raises StoreFull
        past the bound."""
        if store_bytes(self.rows + 1, self.row_values) > self.max_bytes:
            raise StoreFull(f"the lasso store is full ({self.max_bytes} bytes, {self.rows} steps)")
        if [d.numel() for d in directions] != self.sizes:
            raise ValueError(f"a row has layers of {self.sizes} values, got {[d.numel() for d in directions]}")
        self._file.seek(self.bytes_written)
        scales = []
        for direction in directions:
            flat = direction.reshape(-1)
            rms = abs(factor) * float(torch.linalg.vector_norm(flat)) / max(1, flat.numel()) ** 0.5
            scale = rms if rms > 0 else 1.0
            for start in range(0, flat.numel(), self.chunk):
                values = flat[start:start + self.chunk].mul(factor / scale).to(torch.float16)
                self._file.write(values.cpu().numpy().tobytes())
            scales.append(scale)
        self._scales.append(scales)

    def read(self, row: int, layer: int) -> torch.Tensor:
        """Layer ``layer`` of row ``row``: float32, shaped as that layer, its scale undone."""
        self._file.seek(store_bytes(row, self.row_values) + self.offsets[layer] * BYTES_PER_VALUE)
        raw = bytearray(self.sizes[layer] * BYTES_PER_VALUE)  # writable: torch refuses read-only arrays
        self._file.readinto(raw)
        tensor = torch.from_numpy(np.frombuffer(raw, dtype=ROW_DTYPE)).to(device=self.device, dtype=torch.float32)
        return tensor.mul_(self._scales[row][layer]).reshape(self.shapes[layer])

    def close(self) -> None:
        """Delete the file and its folder (idempotent)."""
        if not self._file.closed:
            self._file.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> DeltaStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
