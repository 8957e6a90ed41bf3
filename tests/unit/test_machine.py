"""Device class names and the machine summary."""
from __future__ import annotations

import pytest

from agent.fingerprint import machine_info
from agent.machine import cpu_slug, device_class, gpu_slug


@pytest.mark.parametrize(("model", "slug"), [
    ("Intel(R) Xeon(R) Gold 6140 CPU @ 2.30GHz", "xeon-6140"),
    ("AMD Ryzen 7 5800X 8-Core Processor", "ryzen-5800x"),
    ("Intel(R) Core(TM) i7-9750H CPU @ 2.60GHz", "i7-9750h"),
    ("AMD EPYC 7B13 64-Core Processor", "epyc-7b13"),
    ("Cortex-A72", "cortex-a72"),
    ("AMD EPYC", "amd-epyc"),
])
def test_cpu_slug(model: str, slug: str) -> None:
    assert cpu_slug(model) == slug


def test_device_class_matches_the_documented_example() -> None:
    assert device_class("x86_64", "Intel(R) Xeon(R) Gold 6140 CPU @ 2.30GHz", ["Tesla P40"]) == "x86_64-xeon-6140-p40"
    assert device_class("aarch64", "Cortex-A57", []) == "aarch64-cortex-a57-cpu"
    assert gpu_slug("NVIDIA GeForce RTX 3060") == "rtx-3060"


def test_machine_info_describes_this_machine() -> None:
    info = machine_info()
    assert info["cores_logical"] >= 1 and info["mem_total_gb"] > 0
    assert info["device_class"].startswith(info["arch"].lower())
    if not info["gpus"]:  # no GPU: the reason is kept, not an exception
        assert info["gpu_probe_error"]
