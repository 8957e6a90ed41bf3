"""The hardware fingerprint: one collector an area, each failure a null and a reason."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.cli import main
from agent.commands.info import format_info
from agent.fingerprint import (
    FINGERPRINT_KEYS,
    collect_board,
    collect_caches,
    collect_cpufreq,
    collect_device,
    collect_dimms,
    collect_fingerprint,
    collect_gpu,
    collect_jetson,
    collect_os,
    machine_info,
    parse_dmidecode_memory,
    parse_lscpu_caches,
    parse_nvpmodel,
    read_caches,
)

# HAND-WRITTEN from dmidecode 3.x's layout: one empty slot and one installed module
DMIDECODE = """# dmidecode 3.4
Getting SMBIOS data from sysfs.
SMBIOS 3.2.0 present.

Handle 0x0040, DMI type 17, 84 bytes
Memory Device
\tTotal Width: Unknown
\tSize: No Module Installed
\tLocator: DIMM_A0

Handle 0x0041, DMI type 17, 84 bytes
Memory Device
\tTotal Width: 72 bits
\tSize: 32 GB
\tForm Factor: DIMM
\tLocator: DIMM_A1
\tType: DDR4
\tSpeed: 2666 MT/s
\tManufacturer: Samsung
\tPart Number: M393A4K40CB2-CTD
\tConfigured Memory Speed: 2666 MT/s
"""


def fresh() -> dict:
    return {"probe_errors": {}}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cache_sizes_from_sysfs(tmp_path: Path) -> None:
    for index, (level, kind, size) in enumerate([(1, "Data", "48K"), (1, "Instruction", "32K"),
                                                  (2, "Unified", "2048K"), (3, "Unified", "30M")]):
        for name, value in (("level", level), ("type", kind), ("size", size)):
            write(tmp_path / f"cache/index{index}/{name}", f"{value}\n")
    assert read_caches(tmp_path) == {"l1d": 48, "l1i": 32, "l2": 2048, "l3": 30 * 1024}
    md = fresh()
    collect_caches(md, cpu_dir=tmp_path)
    assert md["cache_l3_kb"] == 30720 and md["probe_errors"] == {}


def test_cache_sizes_fall_back_to_lscpu_and_say_what_is_missing(tmp_path: Path) -> None:
    assert parse_lscpu_caches("NAME ONE-SIZE\nL1d 32768\nL1i 32768\nL2 1048576\n") == \
        {"l1d": 32, "l1i": 32, "l2": 1024}
    md = fresh()
    collect_caches(md, cpu_dir=tmp_path, run=lambda argv: "NAME ONE-SIZE\nL1d 65536\nL2 524288\n")
    assert md["cache_l1d_kb"] == 64 and md["cache_l2_kb"] == 512 and md["cache_l3_kb"] is None
    assert md["probe_errors"]["cache_l3_kb"] == "no L3 cache size in lscpu"


def test_cpufreq_with_and_without_a_driver(tmp_path: Path) -> None:
    for name, value in (("cpuinfo_min_freq", "800000"), ("cpuinfo_max_freq", "3700000"),
                        ("scaling_cur_freq", "2300000"), ("scaling_governor", "performance"),
                        ("scaling_driver", "intel_pstate")):
        write(tmp_path / "cpufreq" / name, value)
    md = fresh()
    collect_cpufreq(md, cpu_dir=tmp_path)
    assert (md["cpu_freq_min_mhz"], md["cpu_freq_max_mhz"], md["cpu_freq_cur_mhz"]) == (800, 3700, 2300)
    assert md["cpu_governor"] == "performance" and md["probe_errors"] == {}
    md = fresh()
    collect_cpufreq(md, cpu_dir=tmp_path / "nothing")
    assert md["cpu_governor"] is None and "no cpufreq driver" in md["probe_errors"]["cpu_governor"]


def test_dimms_from_dmidecode_and_every_way_it_can_be_missing() -> None:
    assert parse_dmidecode_memory(DMIDECODE) == [{
        "size": "32 GB", "type": "DDR4", "speed": "2666 MT/s", "configured_speed": "2666 MT/s",
        "manufacturer": "Samsung", "part": "M393A4K40CB2-CTD", "slot": "DIMM_A1", "form_factor": "DIMM"}]
    md = fresh()
    collect_dimms(md, which=lambda _: None)
    assert md["mem_dimms"] is None and md["probe_errors"]["mem_dimms"] == "dmidecode is not installed"

    def refuse(argv: list[str]) -> str:
        raise subprocess.CalledProcessError(1, argv, stderr="/dev/mem: Permission denied")

    md = fresh()
    collect_dimms(md, run=refuse, which=lambda _: "/usr/sbin/dmidecode")
    assert md["mem_dimms"] is None and md["probe_errors"]["mem_dimms"].startswith(
        ("dmidecode failed", "dmidecode needs root"))


def test_board_from_dmi_or_the_device_tree(tmp_path: Path) -> None:
    write(tmp_path / "dmi/board_vendor", "Supermicro\n")
    write(tmp_path / "dmi/board_name", "X11DPi-N\n")
    md = fresh()
    collect_board(md, dmi_dir=tmp_path / "dmi", device_tree_model=tmp_path / "none")
    assert md["board"] == "Supermicro X11DPi-N" and "board" not in md["probe_errors"]
    write(tmp_path / "model", "NVIDIA Jetson Xavier NX Developer Kit\x00")
    md = fresh()
    collect_board(md, dmi_dir=tmp_path / "no-dmi", device_tree_model=tmp_path / "model")
    assert md["board"] == "NVIDIA Jetson Xavier NX Developer Kit"
    assert "no DMI" in md["probe_errors"]["board_vendor"]


def test_jetson_power_mode() -> None:
    assert parse_nvpmodel("NV Fan Mode:quiet\nNV Power Mode: MODE_15W_6CORE\n2\n") == ("MODE_15W_6CORE", 2)
    md = fresh()
    collect_jetson(md, run=lambda argv: "NV Power Mode: MAXN\n0\n", which=lambda _: "/usr/sbin/nvpmodel")
    assert md["jetson_power_mode"] == "MAXN" and md["jetson_power_mode_id"] == 0
    md = fresh()
    collect_jetson(md, which=lambda _: None)
    assert md["jetson_power_mode"] is None and md["probe_errors"]["jetson_power_mode"] == "not a Jetson (no nvpmodel)"


def test_a_collector_that_raises_is_recorded_not_raised() -> None:
    def collect_broken(md: dict) -> None:
        raise PermissionError("denied")

    md = collect_fingerprint([collect_os, collect_broken])
    assert md["probe_errors"]["broken"] == "PermissionError: denied"
    assert md["host"] and list(md)[-1] == "probe_errors"


def test_this_machine_every_null_has_a_reason() -> None:
    info = machine_info()
    for key in ("host", "device_class", "arch", "cpu_model", "cores_logical", "mem_total_gb",
                "device_mem_gb", "gpus", "os", "kernel", "python", "versions"):
        assert info[key] not in (None, ""), key
    assert info["device_class"].startswith(info["arch"].lower())
    for key, value in info.items():
        assert value is not None or key in info["probe_errors"], f"{key} is null with no reason"
    if not info["gpus"]:
        assert info["device_mem_gb"] == info["mem_total_gb"] and info["gpu_probe_error"]
    assert info["versions"]["edgeprune"]
    json.dumps(info)  # plain JSON throughout
    for key, value in info.items():  # every key is declared, with its type
        kind, _ = FINGERPRINT_KEYS[key]
        assert value is None or isinstance(value, kind), (key, value)


def test_agent_info_json_prints_the_fingerprint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["device_class"] == machine_info()["device_class"]
    assert "probe_errors" in printed and "cache_l1d_kb" in printed


def test_the_table_shows_why_a_value_is_missing() -> None:
    lines = dict(format_info({"a": 1, "b": None, "c": [1], "probe_errors": {"b": "no sensor"}}))
    assert lines == {"a": "1", "b": "- (no sensor)", "c": "[1]"}


def test_a_gpu_seen_through_nvml_names_the_device_class(monkeypatch: pytest.MonkeyPatch) -> None:
    class NVMLError(Exception):
        pass

    def unsupported(*args: object) -> None:
        raise NVMLError("Not Supported")

    fake = SimpleNamespace(
        NVMLError=NVMLError, NVML_CLOCK_SM=1, NVML_CLOCK_MEM=2,
        nvmlInit=lambda: None, nvmlShutdown=lambda: None, nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: i, nvmlDeviceGetName=lambda h: b"Tesla P40",
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(total=24 * 2**30),
        nvmlDeviceGetCudaComputeCapability=lambda h: (6, 1), nvmlDeviceGetUUID=lambda h: "GPU-1",
        nvmlDeviceGetPciInfo=lambda h: SimpleNamespace(busId=b"00000000:3B:00.0"),
        nvmlDeviceGetPowerManagementLimit=lambda h: 250_000,
        nvmlDeviceGetMaxClockInfo=unsupported,
        nvmlSystemGetDriverVersion=lambda: "535.104.05", nvmlSystemGetCudaDriverVersion=lambda: 12020,
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    md = fresh()
    md.update(arch="x86_64", cpu_model="Intel(R) Xeon(R) Gold 6140 CPU @ 2.30GHz", mem_total_gb=256.0)
    collect_gpu(md)
    collect_device(md)
    assert md["gpus"] == [{"index": 0, "name": "Tesla P40", "memory_mb": 24576.0, "compute_capability": "6.1",
                           "uuid": "GPU-1", "pci_bus_id": "00000000:3B:00.0", "power_limit_w": 250.0,
                           "sm_clock_max_mhz": None, "mem_clock_max_mhz": None}]
    assert (md["gpu_driver"], md["cuda_driver_version"], md["gpu_probe_error"]) == ("535.104.05", "12.2", None)
    assert md["device_class"] == "x86_64-xeon-6140-p40" and md["device_mem_gb"] == 24.0
