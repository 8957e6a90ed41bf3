"""The hardware fingerprint: what ``agent info --json`` prints and every results folder keeps.

One collector an area (as pyperf's ``_collect_metadata``): each adds its keys to ``md``
and, where it cannot read something, sets the keys to None and says why under
``md["probe_errors"][key]``; none raises. No torch import: versions come from package
metadata, the GPU from NVML. Fast: sysfs and /proc reads, NVML, at most two quick
commands (``dmidecode`` as root, ``nvpmodel`` on a Jetson), each with a timeout.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
import typing
from typing import Any, Dict, List

import psutil

from agent.machine import cpu_model, device_class_of

SYS_CPU = Path("/sys/devices/system/cpu")
DMI_DIR = Path("/sys/class/dmi/id")
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
OS_RELEASE = Path("/etc/os-release")
COMMAND_TIMEOUT_S = 3.0
SOFTWARE = ("torch", "torchvision", "torch-pruning", "onnxruntime", "onnxruntime-gpu", "onnx",
            "numpy", "nvidia-ml-py", "psutil", "edgeprune")
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile",
              "neon", "asimd", "asimddp", "sve", "sve2")

# Every key of the fingerprint: its type and meaning, the unit in the name (as pyperf's METADATA)
FINGERPRINT_KEYS: dict[str, tuple[type, str]] = {
    "host": (str, "host name"),
    "os": (str, "system and kernel release, e.g. 'Linux 6.1.0'"),
    "kernel": (str, "kernel release"),
    "os_release": (str, "distribution, from /etc/os-release PRETTY_NAME"),
    "libc": (str, "C library and version"),
    "arch": (str, "machine architecture, e.g. x86_64, aarch64"),
    "cpu_model": (str, "CPU marketing name; on ARM the core types from implementer/part numbers"),
    "cpu_vendor": (str, "CPU vendor id (x86) or implementer (ARM)"),
    "cpu_family": (str, "CPU family (x86) or architecture version (ARM)"),
    "cpu_model_number": (str, "CPU model number (x86) or part (ARM)"),
    "cpu_stepping": (str, "CPU stepping (x86) or revision (ARM)"),
    "cores_physical": (int, "physical cores"),
    "cores_logical": (int, "hardware threads"),
    "cpus_usable": (int, "CPUs this process may run on (affinity)"),
    "threads_per_core": (int, "hardware threads a core"),
    "cpu_simd": (list, "vector extensions present, of a fixed list"),
    "virtualized": (bool, "the CPU reports a hypervisor"),
    "cache_l1d_kb": (float, "L1 data cache of one core, KiB"),
    "cache_l1i_kb": (float, "L1 instruction cache of one core, KiB"),
    "cache_l2_kb": (float, "L2 cache of one instance, KiB"),
    "cache_l3_kb": (float, "L3 cache of one instance, KiB"),
    "cpu_freq_cur_mhz": (float, "current frequency of cpu0, MHz"),
    "cpu_freq_min_mhz": (float, "lowest frequency, MHz"),
    "cpu_freq_max_mhz": (float, "highest frequency, MHz"),
    "cpu_governor": (str, "cpufreq scaling governor"),
    "cpu_freq_driver": (str, "cpufreq driver"),
    "mem_total_gb": (float, "RAM, GiB"),
    "swap_total_gb": (float, "swap, GiB"),
    "mem_dimms": (list, "installed memory modules (dmidecode): size, type, speed, maker, part, slot"),
    "board_vendor": (str, "DMI board vendor"),
    "board_name": (str, "DMI board name"),
    "system_vendor": (str, "DMI system vendor"),
    "system_product": (str, "DMI product name"),
    "bios_version": (str, "DMI BIOS version"),
    "board": (str, "the board: device-tree model on ARM, else DMI vendor and name"),
    "board_model": (str, "device-tree board model (/proc/device-tree/model); names ARM device classes"),
    "gpus": (list, "NVML GPUs: index, name, memory_mb, compute_capability, uuid, clocks, power limit"),
    "gpu_probe_error": (str, "why no GPU could be read (null when NVML answered)"),
    "gpu_driver": (str, "NVIDIA driver version"),
    "cuda_driver_version": (str, "highest CUDA version the driver supports"),
    "jetson_power_mode": (str, "nvpmodel power mode name"),
    "jetson_power_mode_id": (int, "nvpmodel power mode number"),
    "jetson_clocks": (dict, "current Jetson GPU and EMC clocks, MHz"),
    "python": (str, "Python version"),
    "python_implementation": (str, "CPython, PyPy ..."),
    "versions": (dict, "package -> installed version (null: not installed)"),
    "torch_cuda": (str, "CUDA version torch was built with (null: CPU build or no torch)"),
    "device_class": (str, "stable hardware class, e.g. x86_64-xeon-6140-p40"),
    "device_mem_gb": (float, "memory of the device trials run on: GPU 0, else RAM, GiB"),
    "probe_errors": (dict, "key -> why its value is null"),
}

# typing's generics: the light agent runs on Python 3.8, where dict[...] fails at run time
Metadata = Dict[str, Any]
Runner = typing.Callable[[List[str]], str]  # runs a command, returns stdout; raises on failure


def run_command(argv: list[str]) -> str:
    """stdout of ``argv``; OSError / CalledProcessError / TimeoutExpired on failure."""
    return subprocess.run(argv, capture_output=True, text=True, check=True,
                          timeout=COMMAND_TIMEOUT_S).stdout


def _unknown(md: Metadata, keys: Iterable[str], reason: str) -> None:
    for key in keys:
        md[key] = None
        md["probe_errors"][key] = reason


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip().strip("\x00").strip()
    except OSError:
        return None


# ------------------------------------------------------------------------- CPU

def _cpuinfo_field(text: str, *keys: str) -> str | None:
    for key in keys:
        match = re.search(rf"^{key}\s*:\s*(.*)$", text, re.MULTILINE)
        if match:
            return match.group(1).strip()
    return None


def collect_cpu(md: Metadata) -> None:
    text = _read(Path("/proc/cpuinfo")) or ""
    flags = set((_cpuinfo_field(text, "flags", "Features") or "").split())
    md["arch"] = platform.machine()
    md["cpu_model"] = cpu_model()
    md["cpu_vendor"] = _cpuinfo_field(text, "vendor_id", "CPU implementer")
    md["cpu_family"] = _cpuinfo_field(text, "cpu family", "CPU architecture")
    md["cpu_model_number"] = _cpuinfo_field(text, "model", "CPU part")
    md["cpu_stepping"] = _cpuinfo_field(text, "stepping", "CPU revision")
    md["cores_physical"] = psutil.cpu_count(logical=False)
    md["cores_logical"] = psutil.cpu_count(logical=True)
    md["cpus_usable"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    physical, logical = md["cores_physical"], md["cores_logical"]
    md["threads_per_core"] = logical // physical if physical and logical else None
    md["cpu_simd"] = [f for f in SIMD_FLAGS if f in flags]
    md["virtualized"] = "hypervisor" in flags if flags else None


def _size_kb(text: str) -> float | None:
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMG]?)i?B?\s*", text, re.IGNORECASE)
    if not match:
        return None
    return float(match.group(1)) * {"": 1 / 1024, "K": 1, "M": 1024, "G": 1024**2}[match.group(2).upper()]


def read_caches(cpu_dir: Path) -> dict[str, float]:
    """Per-instance cache sizes of one CPU's sysfs ``cache/index*``: {"l1d": 32.0, "l2": 1024.0} KiB."""
    sizes: dict[str, float] = {}
    for index in sorted(cpu_dir.glob("cache/index*")):
        level, kind, size = (_read(index / n) for n in ("level", "type", "size"))
        if not (level and kind and size) or _size_kb(size) is None:
            continue
        suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
        sizes[f"l{level}{suffix}"] = _size_kb(size)  # type: ignore[assignment]
    return sizes


def parse_lscpu_caches(text: str) -> dict[str, float]:
    """``lscpu -B --caches=NAME,ONE-SIZE`` lines (``L1d 32768``) -> {"l1d": 32.0} KiB."""
    sizes = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0][:1] in "Ll":
            sizes[parts[0].lower()] = int(parts[1]) / 1024
    return sizes


def collect_caches(md: Metadata, cpu_dir: Path = SYS_CPU / "cpu0",
                   run: Runner = run_command) -> None:
    keys = {"l1d": "cache_l1d_kb", "l1i": "cache_l1i_kb", "l2": "cache_l2_kb", "l3": "cache_l3_kb"}
    sizes = read_caches(cpu_dir)
    where = f"{cpu_dir}/cache"
    if not sizes:
        try:
            sizes = parse_lscpu_caches(run(["lscpu", "-B", "--caches=NAME,ONE-SIZE"]))
            where = "lscpu"
        except (OSError, subprocess.SubprocessError) as exc:
            where = f"{cpu_dir}/cache nor lscpu ({exc})"
    for level, key in keys.items():
        md[key] = sizes.get(level)
        if md[key] is None:
            md["probe_errors"][key] = f"no {level.upper()} cache size in {where}"


def collect_cpufreq(md: Metadata, cpu_dir: Path = SYS_CPU / "cpu0") -> None:
    freq_dir = cpu_dir / "cpufreq"
    khz = {n: _read(freq_dir / n) for n in ("cpuinfo_min_freq", "cpuinfo_max_freq", "scaling_cur_freq")}
    current = psutil.cpu_freq() if hasattr(psutil, "cpu_freq") else None
    md["cpu_freq_cur_mhz"] = int(khz["scaling_cur_freq"]) / 1000 if khz["scaling_cur_freq"] \
        else (current.current if current and current.current else None)
    if md["cpu_freq_cur_mhz"] is None:
        md["probe_errors"]["cpu_freq_cur_mhz"] = "neither cpufreq nor /proc/cpuinfo gives a frequency"
    if not freq_dir.is_dir():
        _unknown(md, ("cpu_freq_min_mhz", "cpu_freq_max_mhz", "cpu_governor", "cpu_freq_driver"),
                 f"no {freq_dir} (no cpufreq driver: a VM, or frequency fixed by firmware)")
        return
    md["cpu_freq_min_mhz"] = int(khz["cpuinfo_min_freq"]) / 1000 if khz["cpuinfo_min_freq"] else None
    md["cpu_freq_max_mhz"] = int(khz["cpuinfo_max_freq"]) / 1000 if khz["cpuinfo_max_freq"] else None
    md["cpu_governor"] = _read(freq_dir / "scaling_governor")
    md["cpu_freq_driver"] = _read(freq_dir / "scaling_driver")
    for key in ("cpu_freq_min_mhz", "cpu_freq_max_mhz", "cpu_governor", "cpu_freq_driver"):
        if md[key] is None:
            md["probe_errors"][key] = f"unreadable in {freq_dir}"


# ------------------------------------------------------------------------- memory, board

def collect_memory(md: Metadata) -> None:
    md["mem_total_gb"] = round(psutil.virtual_memory().total / 2**30, 2)
    md["swap_total_gb"] = round(psutil.swap_memory().total / 2**30, 2)


def parse_dmidecode_memory(text: str) -> list[dict[str, str]]:
    """The installed modules of ``dmidecode -t memory``: size, type, speed, maker, part, slot."""
    fields = {"Size": "size", "Type": "type", "Speed": "speed", "Configured Memory Speed":
              "configured_speed", "Manufacturer": "manufacturer", "Part Number": "part",
              "Locator": "slot", "Form Factor": "form_factor"}
    dimms = []
    for block in re.split(r"\n\s*\n", text):
        if "Memory Device" not in block:
            continue
        values = dict(re.findall(r"^\s+([^:\n]+):\s*(.*?)\s*$", block, re.MULTILINE))
        if not values.get("Size") or values["Size"].startswith("No Module"):
            continue
        dimms.append({name: values[key] for key, name in fields.items() if key in values})
    return dimms


def collect_dimms(md: Metadata, run: Runner = run_command,
                  which: Callable[[str], str | None] = shutil.which) -> None:
    if which("dmidecode") is None:
        return _unknown(md, ["mem_dimms"], "dmidecode is not installed")
    if os.geteuid() != 0:
        return _unknown(md, ["mem_dimms"], "dmidecode needs root")
    try:
        dimms = parse_dmidecode_memory(run(["dmidecode", "-t", "memory"]))
    except (OSError, subprocess.SubprocessError) as exc:
        return _unknown(md, ["mem_dimms"], f"dmidecode failed: {exc}")
    md["mem_dimms"] = dimms
    if not dimms:
        md["probe_errors"]["mem_dimms"] = "dmidecode listed no memory device (a VM?)"


def collect_board(md: Metadata, dmi_dir: Path = DMI_DIR,
                  device_tree_model: Path = DEVICE_TREE_MODEL) -> None:
    names = {"board_vendor": "board_vendor", "board_name": "board_name",
             "system_vendor": "sys_vendor", "system_product": "product_name",
             "bios_version": "bios_version"}
    for key, name in names.items():
        md[key] = _read(dmi_dir / name) or None
    model = _read(device_tree_model) or None
    md["board_model"] = model
    if model is None:
        md["probe_errors"]["board_model"] = f"no {device_tree_model} (not a device-tree board)"
    md["board"] = model or " ".join(v for v in (md["board_vendor"], md["board_name"]) if v) or \
        " ".join(v for v in (md["system_vendor"], md["system_product"]) if v) or None
    if md["board"] is None:
        md["probe_errors"]["board"] = f"neither {dmi_dir} nor {device_tree_model} is readable"
    if not dmi_dir.is_dir():
        for key in names:
            md["probe_errors"][key] = f"no {dmi_dir} (no DMI: ARM board or a VM without it)"


# ------------------------------------------------------------------------- GPU, Jetson

def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _gpu(nvml: Any, index: int) -> dict[str, Any]:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    gpu: dict[str, Any] = {"index": index, "name": _text(nvml.nvmlDeviceGetName(handle)),
                           "memory_mb": nvml.nvmlDeviceGetMemoryInfo(handle).total / 2**20}
    optional = {
        "compute_capability": lambda: "{}.{}".format(*nvml.nvmlDeviceGetCudaComputeCapability(handle)),
        "uuid": lambda: _text(nvml.nvmlDeviceGetUUID(handle)),
        "pci_bus_id": lambda: _text(nvml.nvmlDeviceGetPciInfo(handle).busId),
        "power_limit_w": lambda: nvml.nvmlDeviceGetPowerManagementLimit(handle) / 1000,
        "sm_clock_max_mhz": lambda: nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_SM),
        "mem_clock_max_mhz": lambda: nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_MEM),
    }
    for key, read in optional.items():
        try:
            gpu[key] = read()
        except nvml.NVMLError:
            gpu[key] = None
    return gpu


def collect_gpu(md: Metadata) -> None:
    """GPUs, driver and CUDA driver version through NVML (nvidia-ml-py)."""
    keys = ("gpu_driver", "cuda_driver_version")
    md["gpus"] = []
    try:
        import pynvml
    except ImportError:
        md["gpu_probe_error"] = "nvidia-ml-py is not installed"
        return _unknown(md, keys, md["gpu_probe_error"])
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        md["gpu_probe_error"] = f"NVML: {exc}"
        return _unknown(md, keys, md["gpu_probe_error"])
    try:
        md["gpus"] = [_gpu(pynvml, i) for i in range(pynvml.nvmlDeviceGetCount())]
        md["gpu_driver"] = _text(pynvml.nvmlSystemGetDriverVersion())
        version = pynvml.nvmlSystemGetCudaDriverVersion()
        md["cuda_driver_version"] = f"{version // 1000}.{version % 1000 // 10}"
        md["gpu_probe_error"] = None
    except pynvml.NVMLError as exc:
        md["gpu_probe_error"] = f"NVML: {exc}"
        for key in keys:
            md.setdefault(key, None)
    finally:
        pynvml.nvmlShutdown()


def gpus() -> tuple[list[dict[str, Any]], str | None]:
    """The GPUs NVML sees (as the fingerprint's ``gpus``), and why none could be read (None
    when NVML answered): the one place that asks NVML which GPUs there are."""
    md: Metadata = {"probe_errors": {}}
    collect_gpu(md)
    return md["gpus"], md["gpu_probe_error"]


def parse_nvpmodel(text: str) -> tuple[str | None, int | None]:
    """``nvpmodel -q`` -> (mode name, mode id), e.g. ("MAXN", 0)."""
    name = re.search(r"NV Power Mode:\s*(\S.*?)\s*$", text, re.MULTILINE)
    number = re.search(r"^\s*(\d+)\s*$", text, re.MULTILINE)
    return (name.group(1) if name else None, int(number.group(1)) if number else None)


def _jetson_clocks() -> dict[str, float]:
    """Current GPU (devfreq) and memory (EMC) clocks where sysfs or debugfs shows them, MHz."""
    clocks: dict[str, float] = {}
    for pattern in ("/sys/devices/gpu.0/devfreq/*/cur_freq",
                    "/sys/devices/platform/*gpu*/devfreq/*/cur_freq",
                    "/sys/devices/platform/bus@0/*gpu*/devfreq/*/cur_freq"):
        for path in Path("/").glob(pattern.lstrip("/")):
            if (value := _read(path)) and value.isdigit():
                clocks.setdefault("gpu_mhz", int(value) / 1e6)
    for path in (Path("/sys/kernel/debug/bpmp/debug/clk/emc/rate"), Path("/sys/kernel/debug/clk/emc/clk_rate")):
        if (value := _read(path)) and value.isdigit():
            clocks.setdefault("emc_mhz", int(value) / 1e6)
    return clocks


def collect_jetson(md: Metadata, run: Runner = run_command,
                   which: Callable[[str], str | None] = shutil.which) -> None:
    keys = ("jetson_power_mode", "jetson_power_mode_id", "jetson_clocks")
    if which("nvpmodel") is None:
        return _unknown(md, keys, "not a Jetson (no nvpmodel)")
    try:
        md["jetson_power_mode"], md["jetson_power_mode_id"] = parse_nvpmodel(run(["nvpmodel", "-q"]))
    except (OSError, subprocess.SubprocessError) as exc:
        _unknown(md, keys[:2], f"nvpmodel -q failed: {exc}")
    md["jetson_clocks"] = _jetson_clocks() or None
    if md["jetson_clocks"] is None:
        md["probe_errors"]["jetson_clocks"] = "no GPU devfreq or EMC clock readable"


# ------------------------------------------------------------------------- OS, software, class

def collect_os(md: Metadata) -> None:
    md["host"] = socket.gethostname()
    md["os"] = f"{platform.system()} {platform.release()}"
    md["kernel"] = platform.release()
    release = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', _read(OS_RELEASE) or "", re.MULTILINE))
    md["os_release"] = release.get("PRETTY_NAME")
    if md["os_release"] is None:
        md["probe_errors"]["os_release"] = f"no PRETTY_NAME in {OS_RELEASE}"
    libc = platform.libc_ver()
    md["libc"] = " ".join(libc) if libc[0] else None


def _torch_cuda() -> str | None:
    """torch's CUDA build, read from torch/version.py without importing torch."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    text = _read(Path(next(iter(spec.submodule_search_locations))) / "version.py") or ""
    match = re.search(r"^cuda\s*(?::\s*[^=]+)?=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    return match.group(1) if match else None


def package_versions(packages: Iterable[str]) -> dict[str, str | None]:
    """Installed version of each package (None where it is not installed), without importing it."""
    found: dict[str, str | None] = {}
    for package in packages:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def collect_software(md: Metadata) -> None:
    md["python"] = platform.python_version()
    md["python_implementation"] = platform.python_implementation()
    versions = package_versions(SOFTWARE)
    md["versions"] = versions
    md["torch_cuda"] = _torch_cuda() if versions["torch"] else None


def collect_device(md: Metadata) -> None:
    """The stable ``device_class`` and the capacity of the device trials run on."""
    gpus = md.get("gpus") or []
    md["device_class"] = device_class_of(md)
    ram_gb = md.get("mem_total_gb") or psutil.virtual_memory().total / 2**30
    md["device_mem_gb"] = round(gpus[0]["memory_mb"] / 1024 if gpus else ram_gb, 2)


COLLECTORS: tuple[Callable[[Metadata], None], ...] = (
    collect_os, collect_cpu, collect_caches, collect_cpufreq, collect_memory, collect_dimms,
    collect_board, collect_gpu, collect_jetson, collect_software, collect_device,
)


def collect_fingerprint(collectors: Iterable[Callable[[Metadata], None]] = COLLECTORS) -> Metadata:
    """Every area's keys and ``probe_errors`` (key -> why it is null); never raises."""
    md: Metadata = {"probe_errors": {}}
    for collect in collectors:
        try:
            collect(md)
        except Exception as exc:  # noqa: BLE001 - one unreadable area must not hide the rest
            area = collect.__name__[len("collect_"):]
            md["probe_errors"][area] = f"{type(exc).__name__}: {exc}"
    errors = md.pop("probe_errors")
    md["probe_errors"] = errors  # last, for a readable dump
    return md


def machine_info() -> Metadata:
    """What ``agent info --json`` prints and every result row's host fields come from: the
    fingerprint, whose ``probe_errors`` says why a key is null, with the keys every row and
    results folder rely on filled in even where their collector failed."""
    info = collect_fingerprint()
    info.setdefault("host", socket.gethostname())
    info.setdefault("arch", platform.machine())
    info.setdefault("cpu_model", cpu_model())
    info.setdefault("gpus", [])
    info.setdefault("gpu_probe_error", None)
    info.setdefault("mem_total_gb", round(psutil.virtual_memory().total / 2**30, 2))
    if "device_class" not in info or "device_mem_gb" not in info:
        collect_device(info)  # again, now on the filled-in keys: one place computes the class
    return info
