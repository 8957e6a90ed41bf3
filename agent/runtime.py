"""Whether this install's runtimes can run this machine's GPUs: checked once, at deploy time.

A torch wheel carries kernels for a list of GPU architectures (``torch.cuda.get_arch_list()``);
the CUDA 13 builds start at sm_75, so on a P40 (6.1) every torch trial would fail one by one.
``agent info --runtime`` says so up front, with what to install instead, and the collector's
deploy refuses such a host in one line. onnxruntime's CPU package on a GPU host is a warning:
its cuda trials become skipped rows that say why, and its CPU trials are still worth having.
"""
from __future__ import annotations

import importlib.util
from typing import Any

from agent.fingerprint import gpus

TORCH_HINT = ("install a torch built for this GPU: name it in the inventory's runtime: for this host, "
              "e.g. [torch==2.4.1, --index-url, https://download.pytorch.org/whl/cu118] for compute "
              "capability 5.0-9.0, or NVIDIA's wheel on a Jetson")
ORT_HINT = "onnxruntime-gpu in the inventory's runtime: (NVIDIA's wheel on a Jetson)"


def arch_supports(arch_list: list[str], capability: tuple[int, int]) -> bool:
    """Can a build with these architectures run a GPU of this compute capability? A cubin runs
    on its own major version at the same or a higher minor; PTX is compiled for newer GPUs."""
    major, minor = capability
    for arch in arch_list:
        kind, _, digits = arch.partition("_")
        if not digits.isdigit():
            continue
        built = (int(digits[:-1]), int(digits[-1]))
        if kind == "sm" and built[0] == major and built[1] <= minor:
            return True
        if kind == "compute" and built <= (major, minor):
            return True
    return False


def _capability(text: str) -> tuple[int, int]:
    """The fingerprint's ``"6.1"`` as ``(6, 1)``."""
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def _torch_facts(devices: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    if importlib.util.find_spec("torch") is None:
        return {"installed": False}, []
    import torch  # only here: the light agent has none and never pays for it

    arch_list = list(torch.cuda.get_arch_list()) if torch.version.cuda else []
    facts = {"installed": True, "version": torch.__version__, "cuda": torch.version.cuda, "arch_list": arch_list}
    problems = []
    for gpu in devices:
        cc = _capability(gpu["compute_capability"])
        if not arch_supports(arch_list, cc):
            built = f"CUDA {torch.version.cuda}, {' '.join(arch_list) or 'no GPU kernels'}"
            problems.append(f"torch {torch.__version__} ({built}) cannot run GPU {gpu['index']} {gpu['name']} "
                            f"(compute capability {cc[0]}.{cc[1]}): {TORCH_HINT}")
    return facts, problems


def _onnxruntime_facts(devices: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    if importlib.util.find_spec("onnxruntime") is None:
        return {"installed": False}, []
    import onnxruntime as ort

    providers = list(ort.get_available_providers())
    warnings = []
    if devices and "CUDAExecutionProvider" not in providers:
        warnings.append(f"onnxruntime {ort.__version__} has no CUDA provider ({', '.join(providers)}): its cuda "
                        f"trials will be skipped rows; for the GPU install {ORT_HINT}")
    return {"installed": True, "version": ort.__version__, "providers": providers}, warnings


def runtime_support() -> dict[str, Any]:
    """The GPUs, what each runtime was built for, and the problems (refused) and warnings."""
    devices, why_none = gpus()
    devices = [g for g in devices if g.get("compute_capability")]
    torch_facts, problems = _torch_facts(devices)
    ort_facts, warnings = _onnxruntime_facts(devices)
    reason: str | None = why_none if not devices else None
    return {"gpus": devices, "gpus_unread": reason, "torch": torch_facts, "onnxruntime": ort_facts,
            "problems": problems, "warnings": warnings}
