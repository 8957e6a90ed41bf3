"""The RAPL reader on a powercap tree built in tmp_path with the kernel's file names
(Documentation/power/powercap/powercap.rst: zones ``intel-rapl:<pkg>[:<sub>]`` with
``name``, ``energy_uj``, ``max_energy_range_uj``; the class folder links every zone)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.probes.base import ProbeUnavailable
from agent.probes.rapl import RaplProbe, delta_uj, find_zones

MAX_UJ = 262143328850  # a real package max_energy_range_uj (2^38 uJ minus a little)


def _zone(devices: Path, classdir: Path, rel: str, name: str, energy_uj: int) -> Path:
    path = devices / rel
    path.mkdir(parents=True)
    (path / "name").write_text(f"{name}\n")
    (path / "energy_uj").write_text(f"{energy_uj}\n")
    (path / "max_energy_range_uj").write_text(f"{MAX_UJ}\n")
    (classdir / path.name).symlink_to(path)
    return path


@pytest.fixture
def powercap(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    devices, classdir = tmp_path / "devices" / "intel-rapl", tmp_path / "class"
    classdir.mkdir(parents=True)
    zones = {
        "pkg0": _zone(devices, classdir, "intel-rapl:0", "package-0", 1_000_000),
        "core0": _zone(devices, classdir, "intel-rapl:0/intel-rapl:0:0", "core", 500_000),
        "dram0": _zone(devices, classdir, "intel-rapl:0/intel-rapl:0:1", "dram", 100_000),
        "pkg1": _zone(devices, classdir, "intel-rapl:1", "package-1", MAX_UJ - 1_000_000),  # about to wrap
    }
    mmio = devices.parent / "intel-rapl-mmio" / "intel-rapl-mmio:0"  # the package again, via MMIO
    mmio.mkdir(parents=True)
    (mmio / "name").write_text("package-0\n")
    (classdir / "intel-rapl-mmio:0").symlink_to(mmio)
    return classdir, zones


def _add(path: Path, joules: float) -> None:
    value = int((path / "energy_uj").read_text()) + int(joules * 1e6)
    (path / "energy_uj").write_text(f"{value % MAX_UJ}\n")


def test_package_core_and_dram_joules_over_the_region_summed_over_packages(powercap) -> None:
    root, zones = powercap
    probe = RaplProbe(root)
    probe.start()
    _add(zones["pkg0"], 3.0)
    _add(zones["core0"], 2.0)
    _add(zones["dram0"], 0.5)
    _add(zones["pkg1"], 4.0)  # wraps past max_energy_range_uj
    result = probe.stop()
    assert result.columns["rapl_package_j"] == pytest.approx(7.0)
    assert result.columns["rapl_core_j"] == pytest.approx(2.0)
    assert result.columns["rapl_dram_j"] == pytest.approx(0.5)
    assert result.error is None


def test_the_mmio_zone_is_not_counted_and_nested_zones_are_found(powercap) -> None:
    root, _ = powercap
    domains = sorted(z.domain for z in find_zones(root))
    assert domains == ["core", "dram", "package", "package"]


def test_a_wrapped_counter_is_corrected_once() -> None:
    assert delta_uj(MAX_UJ - 10, 5, MAX_UJ) == 15
    assert delta_uj(100, 250, MAX_UJ) == 150


def test_a_cpu_without_a_dram_domain_says_so(powercap) -> None:
    root, zones = powercap
    os.unlink(root / "intel-rapl:0:1")
    probe = RaplProbe(root)
    probe.start()
    result = probe.stop()
    assert result.columns["rapl_dram_j"] is None and result.columns["rapl_package_j"] == 0.0
    assert "rapl_dram_j: no such RAPL domain here (zones: core, package)" in result.error


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file: the permission check needs a non-root user")
def test_an_energy_counter_only_root_may_read_is_a_reason(powercap) -> None:
    root, zones = powercap
    (zones["pkg0"] / "energy_uj").chmod(0o000)
    probe = RaplProbe(root)
    probe.start()
    result = probe.stop()
    assert all(v is None for v in result.columns.values())
    assert "readable by root only" in result.error


def test_an_unreadable_counter_as_non_root_is_a_reason(powercap, monkeypatch: pytest.MonkeyPatch) -> None:
    """As root (CI) the file mode does not stop a read: the kernel's answer, EACCES, is raised
    by the read itself here (a unit test of the reason, not of the kernel)."""
    root, _ = powercap
    real = Path.read_text

    def read_text(self: Path, *args, **kwargs) -> str:
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    probe = RaplProbe(root)
    probe.start()
    result = probe.stop()
    assert all(v is None for v in result.columns.values())
    assert "energy_uj is readable by root only" in result.error


def test_no_powercap_folder_is_a_reason(tmp_path: Path) -> None:
    with pytest.raises(ProbeUnavailable, match="no powercap"):
        find_zones(tmp_path / "absent")
    probe = RaplProbe(tmp_path / "absent")
    probe.start()
    assert "no powercap" in probe.stop().error
