"""``agent run``: build every variant of a sweep into an artifact store, then measure it.

:class:`ArtifactBuilder` prunes, fine-tunes, counts and evaluates a variant in this process
and packages it (model.pt, model.onnx, eval.npz, meta.json); a variant already in the store
is reused, never rebuilt. :class:`SweepRunner` measures exactly as a light agent does
(:class:`agent.measure_runner.MeasureRunner`): from the artifact, so the treatment is the same
file on every path. A failure while building becomes rows, and the sweep goes on.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from agent.artifacts import Artifact, ArtifactError, ArtifactStore
from agent.basemodel import base_model
from agent.build import BuiltVariant, build_variant
from agent.data import DataBundle, load_dataset
from agent.measure_runner import MeasureRunner, NoArtifact, Progress, QuietProgress
from agent.models import build_model
from agent.packaging import package_variant
from agent.pruning import check_method_options
from agent.pruning.base import check_method_on_models
from agent.worker import error_text
from shared.errors import UserError
from shared.plan import Variant
from shared.profile import DeviceProfile
from shared.resultsdir import ResultsFolder
from shared.schema import Status, TrialEnd
from shared.sweep import MethodSpec, Sweep


class ArtifactBuilder:
    """Builds variants into ``store``; the base model and the data are kept while hot."""

    def __init__(self, sweep: Sweep, store: ArtifactStore, cache_dir: Path,
                 progress: Progress | None = None, export: bool = True) -> None:
        self.sweep = sweep
        self.store = store
        self.export = export  # ONNX too; a torch-only `agent run` skips it
        self.cache_dir = cache_dir
        self.progress = progress or QuietProgress()
        # Check every method's options before anything slow starts. Keyed by name and the
        # options as given: a sweep may list one method twice with different options.
        self._methods: dict[tuple[str, str], MethodSpec] = {
            _method_key(spec.name, spec.options): MethodSpec(
                spec.name, check_method_options(spec, sweep.source, f"methods[{i}]"))
            for i, spec in enumerate(sweep.methods)
        }
        _check_methods_on_models(sweep, list(self._methods.values()))
        # Variants are built (pruned, fine-tuned, evaluated) on the GPU where one is wanted.
        wants_gpu = any(d in ("auto", "cuda") for d in sweep.devices)
        self.build_device = torch.device("cuda:0" if wants_gpu and torch.cuda.is_available() else "cpu")
        self._data: DataBundle | None = None
        self._base: tuple[str, nn.Module, int] | None = None  # model name, module, nonzero params

    def method(self, variant: Variant) -> MethodSpec:
        """The variant's method with its checked options, defaults filled in."""
        return self._methods[_method_key(variant.method, variant.method_options)]

    def obtain(self, variant: Variant) -> tuple[Artifact, bool]:
        """The variant's artifact and whether it was built now (False: reused from the store).
        An artifact that fails its checks is built again."""
        try:
            found = self.store.find(variant.key)
        except ArtifactError as exc:
            self.progress.stage(f"{variant.label}: rebuilding ({exc})")
            found = None
        if found is not None and not (self.export and found.onnx.get("status") == "skipped"):
            return found, False
        self.progress.stage(f"{variant.label}: building")
        built = self._build(variant)
        if self.export:
            self.progress.stage(f"{variant.label}: exporting")
        assert self._data is not None
        return package_variant(self.store, variant, built, self._data, self.method(variant).options,
                               export=self.export), True

    def _build(self, variant: Variant) -> BuiltVariant:
        """Prune and fine-tune in this process."""
        if self._data is None:
            self._data = load_dataset(self.sweep.dataset, variant.input_size, self.sweep.seed,
                                      self.sweep.source)
        if self._base is None or self._base[0] != variant.model:
            self.progress.stage(f"{variant.model}: preparing the base model")
            module, _ = base_model(variant, self.sweep, self._data, self.build_device, self.cache_dir)
            self._base = (variant.model, module, sum(int(p.count_nonzero()) for p in module.parameters()))
        return build_variant(variant, self.method(variant), self._base[1], self._base[2],
                             self._data, self.build_device)


def _check_methods_on_models(sweep: Sweep, methods: list[MethodSpec]) -> None:
    """Refuse, before anything is built, a method whose options cannot prune one of the
    sweep's models (2:4 on Linear layers only, for a model whose only Linear is its head;
    bn_scale ranking for a model without BatchNorm). The models are built on the meta device:
    their layers, no weights, in milliseconds."""
    with torch.device("meta"):
        models = {name: build_model(name, 10, 3, sweep.input_pixels) for name in sweep.models}
    for i, spec in enumerate(methods):
        check_method_on_models(spec, models, sweep.source, f"methods[{i}]")


def _method_key(name: str, options: Mapping[str, Any]) -> tuple[str, str]:
    return name, json.dumps(dict(options), sort_keys=True)


class SweepRunner(MeasureRunner):
    """Builds what the store lacks (default store: ``<out>/artifacts``), then measures it."""

    def __init__(self, sweep: Sweep, out_dir: Path, cache_dir: Path, progress: Progress | None = None,
                 mem_limit_bytes: int | None = None, store_dir: Path | None = None,
                 profile: DeviceProfile | None = None) -> None:
        store = ArtifactStore(store_dir if store_dir is not None
                              else ResultsFolder(Path(out_dir)).path(ResultsFolder.ARTIFACTS))
        self.builder = ArtifactBuilder(sweep, store, cache_dir, progress,
                                       export="onnxruntime" in sweep.backends)
        super().__init__(sweep, out_dir, store, progress, mem_limit_bytes, profile)

    def _obtain(self, variant: Variant) -> Artifact:
        try:
            return self.builder.obtain(variant)[0]
        except UserError:
            raise  # the user's input is wrong (e.g. a weights file that does not fit): stop
        except Exception as exc:  # a variant that cannot be built is data, not the end
            raise NoArtifact(TrialEnd(Status.ERROR, f"build failed: {error_text(exc)}")) from exc

    def _method_options(self, variant: Variant) -> dict:
        return dict(self.builder.method(variant).options)
