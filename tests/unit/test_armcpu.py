"""ARM device classes from real /proc/cpuinfo and device-tree captures (tests/fixtures/cpuinfo,
cited there): distinct, stable classes for Pi 3, 4 and 5, 32- and 64-bit."""
from __future__ import annotations

from pathlib import Path

import pytest

from agent.armcpu import arm_cores, board_slug, core_name
from agent.machine import cpu_model, device_class, device_class_of

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cpuinfo"


def _capture(name: str) -> tuple[str, str | None]:
    model = FIXTURES / f"{name}.model"
    return (FIXTURES / f"{name}.cpuinfo").read_text(), model.read_text() if model.exists() else None


@pytest.mark.parametrize("name, arch, cores, expected", [
    ("rpi3bplus_aarch64", "aarch64", ["Cortex-A53"], "aarch64-rpi3-plus-cortex-a53-cpu"),
    ("rpi3bplus_armv7l", "armv7l", ["Cortex-A53"], "armv7l-rpi3-plus-cortex-a53-cpu"),
    ("rpi4b_aarch64", "aarch64", ["Cortex-A72"], "aarch64-rpi4-cortex-a72-cpu"),
    ("rpi5b_aarch64", "aarch64", ["Cortex-A76"], "aarch64-rpi5-cortex-a76-cpu"),
])
def test_each_real_board_gets_its_own_class(name: str, arch: str, cores: list[str], expected: str) -> None:
    text, model = _capture(name)
    assert arm_cores(text) == cores and cpu_model(text) == cores[0]
    md = {"arch": arch, "cpu_model": cpu_model(text), "gpus": [], "board_model": model}
    assert device_class_of(md, cpuinfo=text) == expected


def test_the_old_rules_made_these_collide_or_say_nothing() -> None:
    """What the classes were before (cpuinfo's Model/Hardware/model name as the CPU)."""
    classes = {device_class_of({"arch": "aarch64", "cpu_model": cpu_model(_capture(n)[0]), "gpus": [],
                                "board_model": _capture(n)[1]}, cpuinfo=_capture(n)[0])
               for n in ("rpi3bplus_aarch64", "rpi4b_aarch64", "rpi5b_aarch64")}
    assert len(classes) == 3
    assert not any("bcm2835" in c or "armv7-processor" in c for c in classes)


def test_the_device_tree_model_wins_over_cpuinfo_and_the_revision_is_dropped() -> None:
    text, _ = _capture("rpi4b_aarch64")
    md = {"arch": "aarch64", "cpu_model": "Cortex-A72", "gpus": [], "board_model": "Raspberry Pi 4 Model B Rev 1.5"}
    assert device_class_of(md, cpuinfo=text) == "aarch64-rpi4-cortex-a72-cpu"


def test_x86_classes_are_unchanged() -> None:
    x86 = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6140 CPU @ 2.30GHz\n"
    md = {"arch": "x86_64", "cpu_model": cpu_model(x86), "gpus": [{"name": "Tesla P40"}], "board_model": None}
    assert device_class_of(md, cpuinfo=x86) == "x86_64-xeon-6140-p40"


def test_jetson_logic_by_part_number_and_model_string() -> None:
    """No citable Jetson capture yet (see the fixtures README): the decoding rules only.
    0xd07 / 0xd42 are util-linux's Cortex-A57 / Cortex-A78AE; 0x4e:0x004 NVIDIA's Carmel."""
    assert (core_name(0x41, 0xd07), core_name(0x41, 0xd42), core_name(0x4e, 0x004)) == (
        "Cortex-A57", "Cortex-A78AE", "Carmel")
    assert board_slug("NVIDIA Jetson Nano Developer Kit") == "jetson-nano"
    assert board_slug("NVIDIA Jetson AGX Orin Developer Kit") == "jetson-agx-orin"
    assert device_class("aarch64", "Cortex-A78AE", [], "jetson-agx-orin") == "aarch64-jetson-agx-orin-cortex-a78ae-cpu"


def test_big_little_names_both_core_types_most_numerous_first() -> None:
    block = "processor\t: {i}\nCPU implementer\t: 0x41\nCPU part\t: {part}\n"
    text = "\n".join(block.format(i=i, part="0xd05" if i < 4 else "0xd0b") for i in range(6))
    assert arm_cores(text) == ["Cortex-A55", "Cortex-A76"]
    assert device_class("aarch64", " + ".join(arm_cores(text)), []) == "aarch64-cortex-a55-cortex-a76-cpu"


def test_an_unknown_part_is_named_by_its_numbers() -> None:
    assert core_name(0x41, 0xd99) == "arm-0x41-0xd99" and core_name(0x99, 0x1) == "arm-0x99-0x1"


@pytest.mark.parametrize("model, slug", [
    ("Raspberry Pi 3 Model B Rev 1.2", "rpi3"), ("Raspberry Pi 3 Model B Plus Rev 1.3", "rpi3-plus"),
    ("Raspberry Pi 3 Model A Plus Rev 1.0", "rpi3a-plus"), ("Raspberry Pi 5 Model B Rev 1.0", "rpi5"),
    ("Raspberry Pi Compute Module 4 Rev 1.0", "rpi-cm4"), ("Raspberry Pi Zero 2 W Rev 1.0", "rpi-zero-2-w"),
    ("Raspberry Pi 4 Model B Rev 1.1\x00", "rpi4"), (None, None), ("", None),
])
def test_board_slugs(model: str | None, slug: str | None) -> None:
    assert board_slug(model) == slug
