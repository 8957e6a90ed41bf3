"""The sweep's onnxruntime section: names checked by the sweep, availability by the backend,
and the settings part of each onnxruntime trial's key."""
from __future__ import annotations

import pytest

from agent.backends.onnxruntime_backend import OnnxRuntimeBackend
from shared.errors import UserError
from shared.plan import Trial, stable_hash, trials, variants
from shared.sweep import parse_sweep

BASE = {"name": "s", "models": ["lenet5"], "methods": ["structured"], "ratios": [0.5], "batch_sizes": [1, 8]}


@pytest.mark.parametrize(("section", "message"), [
    ({"providers": ["gpu"]}, "onnxruntime.providers[0]: unknown execution provider 'gpu' (valid: cpu, cuda, tensorrt)"),
    ({"graph_optimization": "max"}, "onnxruntime.graph_optimization: unknown graph optimization level 'max'"),
    ({"threads": 0}, "onnxruntime.threads: 0 is outside [1, inf)"),
    ({"provider": ["cpu"]}, "onnxruntime: unknown key 'provider'"),
])
def test_bad_settings_name_the_field(section: dict, message: str) -> None:
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse_sweep({**BASE, "onnxruntime": section}, "s.yml")


def test_settings_are_part_of_an_onnxruntime_trial_key_only() -> None:
    sweep = parse_sweep({**BASE, "backends": ["torch", "onnxruntime"], "threads": 2,
                         "onnxruntime": {"graph_optimization": "basic"}})
    assert sweep.backend_options("onnxruntime") == {"providers": None, "graph_optimization": "basic", "threads": 2}
    variant = next(variants(sweep))
    by_backend = {t.backend: t for t in trials(sweep, variant, {"torch": ("cpu",), "onnxruntime": ("cpu",)})
                  if t.batch_size == 1}
    # a torch trial keeps the key it had before backends had settings (old results resume)
    assert by_backend["torch"].key == stable_hash({"variant": variant.key, "backend": "torch", "device": "cpu",
                                                   "batch_size": 1, "threads": 2})
    other = Trial(variant, "onnxruntime", "cpu", 1, 2,
                  {**sweep.backend_options("onnxruntime"), "graph_optimization": "all"})
    assert other.key != by_backend["onnxruntime"].key


def test_a_provider_this_onnxruntime_lacks_is_refused_with_those_it_has() -> None:
    backend = OnnxRuntimeBackend({"providers": ["cpu", "tensorrt"]})
    if "tensorrt" in backend.available:
        pytest.skip("this onnxruntime has TensorRT")
    with pytest.raises(UserError) as caught:
        backend.check_host("s.yml")
    assert str(caught.value).startswith("s.yml: onnxruntime.providers[1]: execution provider 'tensorrt' is not "
                                        "available in onnxruntime")
    assert f"(valid: {', '.join(backend.available)})" in str(caught.value)


def test_devices_follow_the_configured_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu_only = OnnxRuntimeBackend({"providers": ["cpu"]})
    assert cpu_only.resolve_devices(("auto", "cpu", "cuda")) == {"auto": "cpu", "cpu": "cpu", "cuda": None}
    gpu = OnnxRuntimeBackend({"providers": ["tensorrt", "cuda"]})
    monkeypatch.setattr(OnnxRuntimeBackend, "available", ("cpu", "cuda", "tensorrt"))
    monkeypatch.setattr(OnnxRuntimeBackend, "_gpu_count", 2)
    assert gpu.resolve_devices(("auto", "cuda:1", "cpu")) == {"auto": "cuda:0", "cuda:1": "cuda:1", "cpu": None}
    assert gpu._session_providers("cuda:1") == [("TensorrtExecutionProvider", {"device_id": 1}),
                                                 ("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]
    monkeypatch.setattr(OnnxRuntimeBackend, "_gpu_count", 0)  # a GPU build on a host without a GPU
    assert OnnxRuntimeBackend({}).resolve_devices(("auto",)) == {"auto": "cpu"}


@pytest.mark.parametrize(("error", "oom"), [
    (MemoryError(), True),
    (RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to allocate memory for requested buffer"), True),
    (RuntimeError("CUDA failure 2: out of memory"), True),
    (RuntimeError("INVALID_ARGUMENT : Got invalid dimensions"), False),
])
def test_out_of_memory_is_recognised_by_its_text(error: BaseException, oom: bool) -> None:
    assert OnnxRuntimeBackend.is_oom(error) is oom
