"""Parsing perf stat's CSV output, deciding whether perf can run, and failing softly."""
from __future__ import annotations

from pathlib import Path

import pytest

from agent.probes.perf import (
    PERF_COLUMNS,
    PerfAttachProbe,
    PerfSupport,
    check_perf,
    column_name,
    parse_perf_csv,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"
HARDWARE = ("perf_instructions", "perf_cycles", "perf_cache_references", "perf_cache_misses",
            "perf_branches", "perf_branch_misses")


def test_column_names_carry_the_unit() -> None:
    assert column_name("cache-misses") == "perf_cache_misses"
    assert column_name("task-clock") == "perf_task_clock_ms"
    assert len(PERF_COLUMNS) == 10 and "perf_cpu_migrations" in PERF_COLUMNS


def test_recorded_hardware_events_of_a_bare_metal_xeon() -> None:
    values, reasons = parse_perf_csv((FIXTURES / "perf_stat_xeon6140_hw.csv").read_text())
    assert reasons == {}
    assert values == {
        "perf_instructions": 4112873305, "perf_cycles": 2896382191,
        "perf_cache_references": 48211937, "perf_cache_misses": 12093472,
        "perf_branches": 311220484, "perf_branch_misses": 2403911,
        "perf_task_clock_ms": 1248.37, "perf_context_switches": 212,
        "perf_cpu_migrations": 9, "perf_page_faults": 1532,
    }


def test_hybrid_pmus_are_summed_and_not_counted_or_not_supported_are_null_with_a_reason() -> None:
    values, reasons = parse_perf_csv((FIXTURES / "perf_stat_hybrid_multiplexed.csv").read_text())
    assert values["perf_instructions"] == 1904331220  # cpu_core counted, cpu_atom <not counted>
    assert values["perf_branches"] == 160234115 + 1213440  # both PMUs counted: summed
    assert values["perf_cache_misses"] is None
    assert reasons == {"perf_cache_misses": "not supported (no such hardware counter on this CPU or VM)"}
    assert values["perf_task_clock_ms"] == pytest.approx(401.86)


def test_the_output_of_this_vm_captured_once_hardware_null_software_counted() -> None:
    values, reasons = parse_perf_csv((FIXTURES / "perf_stat_vm_software_only.csv").read_text())
    assert set(reasons) == set(HARDWARE)
    assert all("not supported" in reasons[c] and values[c] is None for c in HARDWARE)
    assert values["perf_task_clock_ms"] == pytest.approx(298.62)
    assert values["perf_context_switches"] == 11 and values["perf_page_faults"] == 0


def test_not_counted_absent_events_units_and_interval_lines() -> None:
    text = "\n".join([
        "<not counted>,,instructions,0,0.00,,",
        "1.5,sec,task-clock,1500000000,100.00,1.0,CPUs utilized",
        "     1.000123,3,,context-switches,100,100.00,3.0,/sec",   # -I: a timestamp first
        "     2.000456,4,,context-switches,100,100.00,4.0,/sec",   # intervals are summed
        "garbage",
    ])
    values, reasons = parse_perf_csv(text, ["instructions", "task-clock", "context-switches", "page-faults"])
    assert values == {"perf_instructions": None, "perf_task_clock_ms": 1500.0,
                      "perf_context_switches": 7.0, "perf_page_faults": None}
    assert reasons["perf_instructions"].startswith("not counted")
    assert reasons["perf_page_faults"] == "absent from perf output"
    values, _ = parse_perf_csv("250000,usec,task-clock,1,100.00,,\n1,,instructions:u,1,100.00,,",
                               ["task-clock", "instructions"])
    assert values == {"perf_task_clock_ms": 250.0, "perf_instructions": 1.0}


def test_perf_missing_or_forbidden_by_paranoid_level(tmp_path: Path) -> None:
    assert check_perf(which=lambda _: None).reason == "perf is not installed (no perf on PATH)"
    paranoid = tmp_path / "perf_event_paranoid"
    paranoid.write_text("3\n")
    denied = check_perf(which=lambda _: "/usr/bin/perf", paranoid_file=paranoid, euid=1000,
                        smoke_test=False)
    assert not denied.ok and "perf_event_paranoid=3" in denied.reason
    assert check_perf(which=lambda _: "/usr/bin/perf", paranoid_file=paranoid, euid=0,
                      smoke_test=False).ok  # root may count anyway
    paranoid.write_text("2\n")
    assert check_perf(which=lambda _: "/usr/bin/perf", paranoid_file=paranoid, euid=1000,
                      smoke_test=False).ok


def test_a_broken_perf_binary_fails_the_smoke_test(tmp_path: Path) -> None:
    fake = tmp_path / "perf"
    fake.write_text("#!/bin/sh\necho 'WARNING: perf not found for kernel 9.9' >&2\nexit 2\n")
    fake.chmod(0o755)
    support = check_perf(which=lambda _: str(fake), euid=0)
    assert not support.ok and "exit 2" in support.reason and "perf not found for kernel" in support.reason


def test_the_attaching_probe_without_perf_gives_every_column_null() -> None:
    probe = PerfAttachProbe(support=PerfSupport(None, "perf is not installed (no perf on PATH)"))
    probe.start()
    result = probe.stop()
    assert result.columns == dict.fromkeys(PERF_COLUMNS)
    assert result.error == "perf is not installed (no perf on PATH)"
