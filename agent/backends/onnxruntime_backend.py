"""onnxruntime inference of the artifact's model.onnx: CPU, CUDA and TensorRT execution providers.

Light on purpose (onnxruntime, numpy, NVML): this is what a board without torch measures with.
The sweep's ``onnxruntime:`` section picks providers, the graph optimisation level and the
intra-op threads; every row records what the session really used (``ort_providers``), so a
provider that could not start is visible rather than silently replaced by the CPU.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import psutil

from agent.artifacts import MODEL_ONNX, Artifact
from agent.backends.base import Backend, Prepared
from agent.fingerprint import gpus
from agent.layertime import WARMUP_PASSES, LayerProfile, parse_ort_profile, read_ort_profile, run_passes
from shared.errors import UserError

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
             "tensorrt": "TensorrtExecutionProvider"}  # catalog.ORT_PROVIDERS -> onnxruntime's name
GPU_PROVIDERS = ("tensorrt", "cuda")  # in the order onnxruntime should try them
LEVELS = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
          "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
          "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
          "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
_OOM_TEXTS = ("Failed to allocate memory", "bad_alloc", "out of memory", "CUDNN_STATUS_ALLOC_FAILED")
_SOURCE_LOCATION = re.compile(r"/onnxruntime_src/\S+:\d+ .*?\)\s")  # C++ signature noise in messages
_ERRORS_ONLY = 3  # session log severity: onnxruntime's warnings would flood the worker's stderr


@dataclass(frozen=True)
class OrtModel:
    """A loaded session and what every row of it records."""

    session: ort.InferenceSession
    input_name: str
    output_name: str
    opset: int | None


def _short(provider: str) -> str:
    return next((short for short, full in PROVIDERS.items() if full == provider), provider)


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    no_sparse_kernel = ("the onnxruntime backend has no 2:4 kernel: its CPU and CUDA providers run the weights "
                        "dense (edgeprune does not enable the TensorRT provider's trt_sparsity_enable)")

    @cached_property
    def available(self) -> tuple[str, ...]:
        """The catalog's providers this onnxruntime build has."""
        have = set(ort.get_available_providers())
        return tuple(short for short, full in PROVIDERS.items() if full in have)

    @property
    def configured(self) -> list[str] | None:
        return self.options.get("providers")

    def check_host(self, source: str) -> None:
        for i, provider in enumerate(self.configured or []):
            if provider not in self.available:
                raise UserError(f"execution provider {provider!r} is not available in onnxruntime "
                                f"{ort.__version__} on this host", source=source,
                                field=f"onnxruntime.providers[{i}]", valid=self.available)

    def _gpu_providers(self) -> list[str]:
        wanted = self.configured if self.configured is not None else ["cuda"]
        return [p for p in GPU_PROVIDERS if p in wanted and p in self.available]

    @cached_property
    def _gpu_count(self) -> int:
        # a GPU build of onnxruntime lists CUDA on a host without a GPU too
        return len(gpus()[0])

    def has_gpu(self) -> bool:
        return bool(self._gpu_providers()) and self._gpu_count > 0

    def has_cpu(self) -> bool:
        return self.configured is None or "cpu" in self.configured

    def _session_providers(self, device: str) -> list[Any]:
        if not device.startswith("cuda"):
            return [PROVIDERS["cpu"]]
        index = int(device.partition(":")[2] or 0)
        # the CPU last: onnxruntime places there what the GPU providers cannot run
        return [(PROVIDERS[p], {"device_id": index}) for p in self._gpu_providers()] + [PROVIDERS["cpu"]]

    def _session_options(self, profile_prefix: str | None = None) -> ort.SessionOptions:
        options = ort.SessionOptions()
        if profile_prefix is not None:  # onnxruntime's profiler: a JSON trace written by end_profiling()
            options.enable_profiling = True
            options.profile_file_prefix = profile_prefix
        options.graph_optimization_level = LEVELS[self.options.get("graph_optimization", "all")]
        options.intra_op_num_threads = self.options.get("threads") or 0  # 0: onnxruntime's default
        options.log_severity_level = _ERRORS_ONLY
        return options

    def load(self, artifact: Artifact, device: str, profile_prefix: str | None = None) -> OrtModel:
        if not artifact.has(MODEL_ONNX):  # the export failed, or was not asked for
            why = artifact.onnx.get("error")
            raise RuntimeError(f"the artifact has no {MODEL_ONNX}: "
                               + (f"the ONNX export failed: {why}" if artifact.onnx.get("status") == "failed" else why))
        opset = artifact.onnx.get("opset")
        try:
            session = ort.InferenceSession(str(artifact.file(MODEL_ONNX)),
                                           sess_options=self._session_options(profile_prefix),
                                           providers=self._session_providers(device))
        except Exception as exc:  # onnxruntime's own types (Fail, InvalidProtobuf, ...): keep the text
            reason = _SOURCE_LOCATION.sub("", str(exc))
            raise RuntimeError(f"onnxruntime {ort.__version__} cannot load {MODEL_ONNX} "
                               f"(opset {opset}): {reason}") from None
        wanted = self._session_providers(device)[0]
        wanted = wanted[0] if isinstance(wanted, tuple) else wanted
        if wanted not in session.get_providers():
            raise RuntimeError(f"onnxruntime could not start {wanted} on {device} "
                               f"(the session has {', '.join(session.get_providers())})")
        return OrtModel(session, session.get_inputs()[0].name, session.get_outputs()[0].name, opset)

    def prepare(self, model: OrtModel, input_shape: tuple[int, ...], device: str,
                threads: int | None) -> Prepared:
        batch = np.random.default_rng(0).standard_normal(input_shape, dtype=np.float32)
        kind, index = ("cuda", int(device.partition(":")[2] or 0)) if device.startswith("cuda") else ("cpu", 0)
        # inputs placed on the device once, as the torch backend does: a call times inference only
        binding = model.session.io_binding()
        binding.bind_ortvalue_input(model.input_name, ort.OrtValue.ortvalue_from_numpy(batch, kind, index))
        binding.bind_output(model.output_name, kind, index)

        def call() -> None:
            model.session.run_with_iobinding(binding)

        used = self.options.get("threads") or psutil.cpu_count(logical=False) or os.cpu_count() or 1
        return Prepared(call, device, int(used))

    def profile_layers(self, artifact: Artifact, model: OrtModel, input_shape: tuple[int, ...], device: str,
                       threads: int | None, passes: int, work_dir: Path) -> LayerProfile:
        """A session of its own with profiling on (the measured one stays unprofiled)."""
        profiled = self.load(artifact, device, profile_prefix=str(work_dir / "ort-layer-profile"))
        run_passes(self.prepare(profiled, input_shape, device, threads), passes)
        path = Path(profiled.session.end_profiling())
        try:
            return parse_ort_profile(read_ort_profile(path), skip_runs=WARMUP_PASSES)
        finally:
            path.unlink(missing_ok=True)

    def predict(self, model: OrtModel, inputs: np.ndarray, device: str) -> np.ndarray:
        return model.session.run([model.output_name], {model.input_name: inputs})[0]

    def row_columns(self, model: OrtModel) -> dict[str, Any]:
        return {"ort_providers": ",".join(_short(p) for p in model.session.get_providers()),
                "ort_graph_optimization": self.options.get("graph_optimization", "all"),
                "ort_intra_op_threads": self.options.get("threads"), "onnx_opset": model.opset}

    @staticmethod
    def is_oom(error: BaseException) -> bool:
        return isinstance(error, MemoryError) or any(text in str(error) for text in _OOM_TEXTS)
