"""Columns of the conditions a trial ran under (schema version 4): the cores it was pinned to,
whether the machine disturbed it and whether it was measured again, the wait for a quiet
machine, the cooling before it, and the sustained run after it (agent/disturbance.py,
agent/thermal.py, agent/sustained.py, agent/affinity.py)."""
from __future__ import annotations

from shared.columns import Column, _c

CONDITIONS_COLUMNS: tuple[Column, ...] = (
    _c("cpus", str, "cores the worker could run on, e.g. '2,3' (pinned with cpus:, else all this agent may use)"),
    _c("disturbed", bool, "the machine disturbed the timed region (timing.disturbance limits); null: no evidence"),
    _c("disturbed_reason", str, "which limits the region exceeded and by what, or why there is no evidence"),
    _c("attempt", int, "1: the trial's first measurement; n: its re-measurement after n - 1 disturbed ones"),
    _c("retry_of", str, "started_at of the disturbed row (same run, host, trial_key) this row re-measures"),
    _c("quiet_wait_s", float, "seconds waited for a quiet machine before the trial (timing.quiet_wait_s)"),
    _c("quiet_wait_result", str, "'quiet', or 'not quiet after N s: <what was busy>'"),
    _c("cooldown_s", float, "seconds spent cooling before the trial (timing.cooldown_s / cooldown_temp_c)"),
    _c("cooldown_reason", str, "how it cooled: slept, cooled from/to a temperature, or 'no sensor'"),
    _c("sustained_s", float, "seconds of the sustained run after the timed region (timing.sustained_s)"),
    _c("sustained_cold_p50_ms", float, "median latency in the first tenth of the sustained run, ms"),
    _c("sustained_steady_p50_ms", float, "median latency in the last third of the sustained run (steady state), ms"),
    _c("sustained_temp_max_c", float, "highest temperature read during the sustained run, degrees C"),
    _c("throttled", bool, "the CPU throttled during the sustained run; null: no clock or throttle counter readable"),
    _c("throttled_reason", str, "the evidence for throttled (throttle counter, clock fall), or 'no sensor: ...'"),
)
