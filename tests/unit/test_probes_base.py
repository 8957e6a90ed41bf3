"""The probe ABC, its registry, the set that runs several, and the sampler clock."""
from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace
from typing import ClassVar

import pytest

from agent.probes import PROBES, Probe, ProbeResult, ProbeSet, merge_results, region_probes
from agent.probes.base import ProbeUnavailable, Sampler, format_reasons
from agent.probes.perf import PerfSupport
from shared.errors import UserError
from shared.schema import COLUMNS
from shared.sweep import TelemetrySpec

BY_NAME = {c.name: c for c in COLUMNS}


class Recording(Probe):
    name: ClassVar[str] = "rec"
    columns: ClassVar[tuple[str, ...]] = ("sys_cpu_mean_pct", "sys_sample_count")

    def __init__(self, log: list[str], fail_start: Exception | None = None,
                 fail_stop: Exception | None = None, name: str = "rec") -> None:
        super().__init__()
        self.log, self.fail_start, self.fail_stop, self.label = log, fail_start, fail_stop, name
        self.cleaned = False

    def _start(self) -> None:
        self.log.append(f"start {self.label}")
        if self.fail_start:
            raise self.fail_start

    def _stop(self) -> ProbeResult:
        self.log.append(f"stop {self.label}")
        if self.fail_stop:
            raise self.fail_stop
        return ProbeResult({"sys_cpu_mean_pct": 50.0, "sys_sample_count": 2}, side={"t_s": [0, 1]})

    def _cleanup(self) -> None:
        self.cleaned = True


def test_registry_lists_every_probe_and_rejects_an_unknown_name() -> None:
    assert set(PROBES.names()) == {"perf", "nvml", "gpuprofile", "system", "tegrastats", "rapl"}
    with pytest.raises(UserError, match=r"unknown probe 'pref' \(valid: gpuprofile, nvml, perf, "
                                        r"rapl, system, tegrastats\)"):
        PROBES.get("pref")
    for name in PROBES:  # the name a row's probe_errors uses is the registry's
        assert PROBES.get(name).name == name


@pytest.mark.parametrize("name", ["perf", "nvml", "gpuprofile", "system", "tegrastats", "rapl"])
def test_every_probe_column_is_a_schema_column_of_a_matching_type(name: str) -> None:
    probe_class = PROBES.get(name)
    assert probe_class.columns, name
    for column in probe_class.columns:
        assert column in BY_NAME, f"{name} fills {column}, which the schema lacks"
        assert BY_NAME[column].type in (float, int, str)
        assert not BY_NAME[column].required  # a probe column may always be null


def test_a_start_failure_becomes_null_columns_and_the_reason_never_an_exception() -> None:
    probe = Recording([], fail_start=OSError("no such file"))
    probe.start()
    result = probe.stop()
    assert result.columns == {"sys_cpu_mean_pct": None, "sys_sample_count": None}
    assert result.error == "OSError: no such file"
    assert probe.cleaned


def test_a_stop_failure_is_a_result_too_and_unavailable_reads_as_plain_text() -> None:
    probe = Recording([], fail_stop=ProbeUnavailable("no GPU"))
    probe.start()
    assert probe.stop() == ProbeResult({"sys_cpu_mean_pct": None, "sys_sample_count": None}, "no GPU")
    assert probe.cleaned


def test_a_probe_set_starts_in_order_stops_in_reverse_and_merges() -> None:
    log: list[str] = []
    ok, broken = Recording(log, name="a"), Recording(log, fail_stop=ValueError("bad"), name="b")
    broken.name = "other"  # type: ignore[misc]
    probes = ProbeSet([ok, broken])
    probes.start()
    outcome = probes.stop()
    assert log == ["start a", "start b", "stop b", "stop a"]
    assert outcome.errors == {"other": "ValueError: bad"}
    assert outcome.columns == {"sys_cpu_mean_pct": 50.0, "sys_sample_count": 2}  # a null never hides a value
    assert outcome.side == {"rec": {"t_s": [0, 1]}}
    row = outcome.row_columns()
    assert json.loads(row["probe_errors"]) == {"other": "ValueError: bad"}


def test_merge_joins_two_reasons_of_one_probe_and_no_reason_is_null() -> None:
    merged = merge_results([("perf", ProbeResult({}, "worker: x")), ("perf", ProbeResult({"perf_cycles": None}, "y"))])
    assert merged.errors == {"perf": "worker: x; y"}
    assert merge_results([("system", ProbeResult({"sys_sample_count": 2}))]).row_columns()["probe_errors"] is None


def test_format_reasons_groups_columns_by_reason() -> None:
    text = format_reasons({"perf_cycles": "not supported", "perf_branches": "not supported",
                           "perf_page_faults": "absent"})
    assert text == "perf_cycles, perf_branches: not supported; perf_page_faults: absent"
    assert format_reasons({}) is None


def test_the_sampler_ticks_at_its_interval_and_survives_a_failing_sample() -> None:
    ticks: list[float] = []
    seen = threading.Event()

    def sample(t_s: float) -> None:
        ticks.append(t_s)
        if len(ticks) == 2:
            raise RuntimeError("sensor gone")
        if len(ticks) >= 4:
            seen.set()

    sampler = Sampler(sample, 0.01, "test")
    sampler.start()
    assert seen.wait(5), "the sampler stopped after a failing sample"
    sampler.stop()
    count = len(ticks)
    time.sleep(0.05)
    assert len(ticks) == count  # stopped means stopped
    assert ticks == sorted(ticks) and ticks[0] > 0
    assert sampler.error == "RuntimeError: sensor gone"
    with pytest.raises(ValueError, match="interval"):
        Sampler(sample, 0, "bad")


def _job(device: str, perf: object | None, **telemetry: object) -> SimpleNamespace:
    return SimpleNamespace(device=device, perf=perf, telemetry=TelemetrySpec(**telemetry))


def test_each_probe_says_whether_it_runs_for_a_job_and_why_not() -> None:
    running, absent = region_probes(_job("cpu", None, system_interval_s=0.25))
    assert [p.name for p in running] == ["system", "tegrastats", "rapl"]  # samplers first
    assert running[0].interval_s == 0.25  # set up from the job's telemetry
    assert absent.errors == {"nvml": "not a CUDA device", "perf": "telemetry.perf is off"}
    nulls = {*PROBES.get("nvml").columns, *PROBES.get("perf").columns}
    assert set(absent.columns) == nulls and not any(absent.columns.values())


def test_on_a_gpu_with_perf_every_region_probe_runs_perf_nearest_the_region() -> None:
    support = PerfSupport("/usr/bin/perf", None)
    running, absent = region_probes(_job("cuda:1", support, nvml_interval_s=0.02))
    assert [p.name for p in running] == ["system", "tegrastats", "nvml", "rapl", "perf"]
    assert running[2].interval_s == 0.02 and running[-1].support is support
    assert absent.errors == {} and absent.columns == {}


def test_the_kernel_profile_runs_in_a_pass_of_its_own_and_says_why_not() -> None:
    profile = PROBES.get("gpuprofile")
    assert not profile.around_timed_region
    assert profile.why_not(_job("cuda:0", None)) is None
    assert profile.why_not(_job("cpu", None)) == "not a CUDA device"
    assert profile.why_not(_job("cuda:0", None, gpu_profile=False)) == "telemetry.gpu_profile is off"
