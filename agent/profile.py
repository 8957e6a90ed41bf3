"""``agent profile``'s work: per-layer time of one variant and of its unpruned original, side
by side, on every backend of the sweep, appended to the results folder's layer_time.jsonl.

The original is the sweep's ratio-0 variant of the same base model (the same method where
the sweep has one). Artifacts come from the store; where one is missing and a builder is
given (the full install), it is built first. The profile runs in this process: it is a
breakdown of where time goes, not the latency figure (that is `agent run`'s, in isolated workers).
"""
from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.artifacts import Artifact, ArtifactStore
from agent.backends import Backend
from agent.fingerprint import machine_info
from agent.layertime import DEFAULT_PASSES, record_of
from agent.measure_runner import load_backends
from shared.errors import UserError
from shared.layertime import LayerTimes
from shared.plan import Variant, variants
from shared.resultsdir import ResultsFolder
from shared.sweep import Sweep


def find_variant(planned: Sequence[Variant], key: str, source: str) -> Variant:
    """The variant whose key is ``key`` or starts with it (a unique prefix)."""
    matches = [v for v in planned if v.key == key] or [v for v in planned if v.key.startswith(key)]
    if len(matches) == 1:
        return matches[0]
    listing = ", ".join(f"{v.key} ({v.label})" for v in planned[:8]) + (" ..." if len(planned) > 8 else "")
    what = "no variant of the sweep has" if not matches else f"{len(matches)} variants have"
    raise UserError(f"{what} key {key!r}; its variants: {listing}", source=source, field="--variant")


def original_of(planned: Sequence[Variant], variant: Variant, source: str) -> Variant:
    """The unpruned variant (ratio 0) of the same base model, of the same method where there is one."""
    unpruned = [v for v in planned if v.base_model_key == variant.base_model_key and v.target_ratio == 0]
    if not unpruned:
        raise UserError(f"the sweep has no unpruned variant (ratio 0.0) of {variant.model} to compare "
                        f"{variant.label} with: add 0.0 to ratios", source=source, field="ratios")
    return next((v for v in unpruned if v.method == variant.method), unpruned[0])


class Profiler:
    """Profiles variants of ``sweep`` from ``store`` (building what is missing with ``builder``)."""

    def __init__(self, sweep: Sweep, out_dir: Path, store: ArtifactStore, builder: Any = None,
                 passes: int = DEFAULT_PASSES, batch_size: int | None = None) -> None:
        self.sweep, self.store, self.builder, self.passes = sweep, store, builder, passes
        self.batch_size = batch_size or min(sweep.batch_sizes)
        self.out = ResultsFolder(Path(out_dir))
        self.backends = load_backends(sweep)

    def profile(self, key: str) -> tuple[list[LayerTimes], list[str]]:
        """Records of the original and the variant on every backend that could profile them,
        and one line a backend that could not (not installed, no device, no profiler)."""
        planned = list(variants(self.sweep))
        variant = find_variant(planned, key, self.sweep.source)
        original = original_of(planned, variant, self.sweep.source)
        run_id = self.out.open(self.sweep.name, machine_info())
        records, skipped = [], []
        for name, backend in self.backends.items():
            if not isinstance(backend, Backend):
                skipped.append(f"{name}: {backend}")
                continue
            device = next((d for d in backend.resolve_devices(self.sweep.devices).values() if d), None)
            if device is None:
                skipped.append(f"{name}: none of the sweep's devices is available here")
                continue
            models = [original] if original.key == variant.key else [original, variant]
            try:
                for which in models:
                    records.append(self._profile_one(run_id, which, name, backend, device))
            except NotImplementedError as exc:
                skipped.append(f"{name}: {exc}")
        for record in records:
            self.out.append(ResultsFolder.LAYER_TIME, record.to_json())
        return records, skipped

    def _artifact(self, variant: Variant) -> Artifact:
        found = self.store.find(variant.key)
        if found is not None:
            return found
        if self.builder is None:
            raise UserError(f"no artifact of {variant.label} (variant_key {variant.key}) in "
                            f"{str(self.store.root)!r}; build it with `agent build --sweep {self.sweep.source} "
                            f"--out {self.store.root}`", field="--artifacts")
        return self.builder.obtain(variant)[0]

    def _profile_one(self, run_id: str, variant: Variant, name: str, backend: Backend, device: str) -> LayerTimes:
        artifact = self._artifact(variant)
        model = backend.load(artifact, device)
        with tempfile.TemporaryDirectory(dir=self.out.work) as work:
            profile = backend.profile_layers(artifact, model, artifact.input_shape(self.batch_size), device,
                                             self.sweep.threads, self.passes, Path(work))
        return record_of(profile, run_id, None, variant, name, device, self.batch_size)
