"""The line a finished trial prints: its median with the interval, or why there is none."""
from __future__ import annotations

from agent.summary import status_line

ROW = {"status": "ok", "model": "lenet5", "method": "structured", "target_ratio": 0.5, "batch_size": 8,
       "backend": "torch", "device": "cpu", "error": None}


def test_the_median_is_printed_with_its_interval() -> None:
    line = status_line({**ROW, "latency_p50_ms": 1.5, "latency_p50_ci_low_ms": 1.4, "latency_p50_ci_high_ms": 1.6})
    assert line.endswith("p50 1.500 ms [1.400, 1.600]")


def test_a_median_too_few_samples_back_says_why() -> None:
    why = "3 samples, p50 needs 10: max_time_s (5 s) ran out first"
    assert status_line({**ROW, "latency_p50_ms": None, "latency_p50_reason": why}).endswith(f"no p50 ({why})")
