"""The disturbance rule on recorded sampler streams: which figure was over which limit, and why
a trial without evidence gets no verdict; and the wait for a quiet machine."""
from __future__ import annotations

import dataclasses

import pytest

from agent.disturbance import judge, wait_until_quiet
from agent.probes.system import CoreTimes, SystemSample, summarize_system
from shared.errors import UserError
from shared.sweep import DisturbanceSpec, parse_sweep
from tests.conftest import TINY_SWEEP

SPEC = DisturbanceSpec()


def stream(other_busy_s: float, own_s: float, steal_s: float = 0.0, psi_us: float = 0.0,
           freq: tuple[float, float] = (2000.0, 2000.0), load: float = 0.5) -> list[SystemSample]:
    """Two samples one second apart of a 2-core machine whose worker runs on core 1: core 1
    busy with the worker's ``own_s`` and other processes' ``other_busy_s``."""
    def at(t: float, f: float) -> SystemSample:
        busy = t * (own_s + other_busy_s + steal_s)
        return SystemSample(t_s=t, cores=(CoreTimes(10 + 0.1 * t, 100 + t, 0.0),
                                          CoreTimes(20 + busy, 100 + t, t * steal_s)),
                            cpu_freq_mhz=f, load_1m=load, psi={"cpu_some": {"avg10": 0.0, "total": t * psi_us}},
                            swap_in_mb=0.0, swap_out_mb=0.0, own_cpu_s=5 + t * own_s)
    return [at(0.0, freq[0]), at(1.0, freq[1])]


def columns(samples: list[SystemSample], timed_s: float = 1.0) -> dict:
    return {**summarize_system(samples, cpus=(1,)), "timed_s": timed_s}


def test_a_core_shared_with_a_busy_loop_is_disturbed_and_the_reason_says_by_what() -> None:
    recorded = columns(stream(other_busy_s=0.48, own_s=0.5))
    assert recorded["sys_other_cpu_pct"] == pytest.approx(48.0)
    verdict = judge(recorded, SPEC, n_cpus=2)
    assert verdict.disturbed is True
    assert verdict.reason == ("other processes used 48% of the worker's cores "
                              "(limit 20, timing.disturbance.other_cpu_pct)")


def test_the_same_core_to_itself_is_not_disturbed() -> None:
    recorded = columns(stream(other_busy_s=0.01, own_s=0.98))
    assert judge(recorded, SPEC, n_cpus=2).columns() == {"disturbed": False, "disturbed_reason": None}


@pytest.mark.parametrize(("samples", "words"), [
    (stream(0.0, 0.9, steal_s=0.08), "the hypervisor stole 4%"),  # of both cores' time
    (stream(0.0, 0.9, psi_us=600_000), "tasks waited for a CPU (PSI cpu some) 60% of the region"),
    (stream(0.0, 0.9, freq=(3000.0, 2400.0)), "the CPU clock fell by 20%"),
    (stream(0.0, 0.9, load=5.0), "1-minute load 2.5 a core"),
])
def test_each_check_names_its_figure_and_limit(samples: list[SystemSample], words: str) -> None:
    spec = dataclasses.replace(SPEC, steal_pct=3.0)
    verdict = judge(columns(samples), spec, n_cpus=2)
    assert verdict.disturbed is True and verdict.reason is not None and verdict.reason.startswith(words)


def test_a_limit_set_to_null_is_not_checked() -> None:
    recorded = columns(stream(other_busy_s=0.48, own_s=0.5))
    assert judge(recorded, dataclasses.replace(SPEC, other_cpu_pct=None), n_cpus=2).disturbed is False


def test_no_figure_at_all_is_no_verdict_with_the_reason() -> None:
    verdict = judge({"timed_s": 1.0}, SPEC, n_cpus=2)
    assert verdict.disturbed is None and verdict.reason is not None and verdict.reason.startswith("no evidence")


def test_every_limit_is_configurable_in_the_sweep() -> None:
    sweep = parse_sweep({**TINY_SWEEP, "timing": {"disturbance": {"other_cpu_pct": 50, "steal_pct": None},
                                                  "retry_disturbed": 2, "quiet_wait_s": 5}})
    assert sweep.timing.disturbance.other_cpu_pct == 50.0 and sweep.timing.disturbance.steal_pct is None
    assert sweep.timing.retry_disturbed == 2 and sweep.timing.quiet_wait_s == 5.0


class Machine:
    """Samples of a core that is busy with others for the first ``busy_looks`` looks."""

    def __init__(self, busy_looks: int) -> None:
        self.busy_looks, self.now, self.taken = busy_looks, 0.0, 0

    def read(self, t_s: float) -> SystemSample:
        look = self.taken // 2
        self.taken += 1
        other = 0.9 if look < self.busy_looks else 0.0
        return stream(other, 0.0)[self.taken % 2 == 0]  # first, then second sample of a pair

    def sleep(self, s: float) -> None:
        self.now += s


def test_waiting_for_quiet_ends_when_the_machine_is_quiet() -> None:
    machine = Machine(busy_looks=3)
    wait = wait_until_quiet(10.0, SPEC, 2, cpus=(1,), read=machine.read, sleep=machine.sleep,
                            clock=lambda: machine.now)
    assert wait.result == "quiet" and wait.seconds == pytest.approx(2.0)


def test_waiting_for_quiet_is_bounded_and_says_what_was_busy() -> None:
    machine = Machine(busy_looks=100)
    wait = wait_until_quiet(1.5, SPEC, 2, cpus=(1,), read=machine.read, sleep=machine.sleep,
                            clock=lambda: machine.now)
    assert wait.seconds == pytest.approx(1.5)
    assert wait.result.startswith("not quiet after 1.5 s: other processes used 90%")


@pytest.mark.parametrize(("timing", "message"), [
    ({"disturbance": {"other_cpu": 5}}, r"timing.disturbance: unknown key 'other_cpu' \(valid: .*other_cpu_pct"),
    ({"disturbance": {"steal_pct": -1}}, r"timing.disturbance.steal_pct: -1 is outside \[0, inf\)"),
    ({"retry_disturbed": 11}, r"timing.retry_disturbed: 11 is outside \[0, 10\]"),
    ({"cooldown_temp_c": "hot"}, r"timing.cooldown_temp_c: expected a number"),
    ({"sustained_s": 900}, r"timing: a trial may take 905.2 s .*not less than trial_timeout_s 600"),
])
def test_a_wrong_limit_is_one_line_naming_the_field(timing: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_sweep({**TINY_SWEEP, "timing": timing}, "s.yml")


def test_a_clock_that_rises_as_the_core_wakes_is_no_drop() -> None:
    rising = columns(stream(0.0, 0.9, freq=(800.0, 3000.0)))
    assert rising["sys_cpu_freq_drop_pct"] == 0.0 and judge(rising, SPEC, n_cpus=2).disturbed is False


def test_a_region_too_short_for_the_cpu_figures_is_not_judged() -> None:
    # 10 ms ticks: an idle machine read 20-60% "other processes" over 0.01 s regions
    verdict = judge({"timed_s": 0.01, "sys_other_cpu_pct": 60.0, "sys_psi_cpu_some_total_us": 7000}, DisturbanceSpec(), 2)
    assert verdict.disturbed is None and verdict.reason.startswith("not judged: a timed region of 0.01 s is too short")
    assert judge({"timed_s": 0.3, "sys_other_cpu_pct": 60.0}, DisturbanceSpec(), 2).disturbed is True


def test_under_a_cpu_quota_the_throttled_share_is_not_disturbance() -> None:
    # the board (half a core): measured 20-25% others and ~50% PSI on every trial of a quiet run
    board = {"timed_s": 0.5, "sys_other_cpu_pct": 24.4, "sys_psi_cpu_some_total_us": 0.507 * 0.5e6}
    assert judge(board, DisturbanceSpec(), 2).disturbed is True
    assert judge(board, DisturbanceSpec(), 2, cpu_quota=0.5).disturbed is False
    # a busy loop on the board's core still shows: others over 20 + 50%
    loaded = {**board, "sys_other_cpu_pct": 75.0}
    verdict = judge(loaded, DisturbanceSpec(), 2, cpu_quota=0.5)
    assert verdict.disturbed is True and "limit 70" in verdict.reason
