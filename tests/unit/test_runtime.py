"""A runtime that cannot run the host's GPU is found at deploy time, not trial by trial."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from agent import runtime
from agent.runtime import arch_supports, runtime_support
from collector.fleet.deploy import check_python, check_runtime
from collector.fleet.transport import TransportError
from collector.fleet.transport.local import LocalTransport
from shared.inventory import Host

CU130 = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]  # torch 2.14.1+cu130's list, as installed here


@pytest.mark.parametrize(("arch_list", "cc", "runs"), [
    (CU130, (6, 1), False),                 # a P40 under a CUDA 13 torch: the reason for this check
    (CU130, (9, 0), True),                  # an H200 (seen: docs/GPU.md)
    (CU130, (8, 7), True),                  # Jetson Orin: sm_80/sm_86 cubins run on 8.7
    (["sm_50", "sm_60", "sm_70"], (6, 1), True),  # a cu118 build on the P40
    (["sm_80", "compute_80"], (9, 0), True),  # PTX compiled for a newer GPU
    (["sm_90"], (8, 6), False),
    ([], (7, 5), False),                    # a CPU-only build
])
def test_which_builds_run_which_gpus(arch_list: list[str], cc: tuple[int, int], runs: bool) -> None:
    assert arch_supports(arch_list, cc) is runs


def test_this_torch_on_a_p40_is_a_problem_that_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    p40 = {"index": 0, "name": "Tesla P40", "memory_mb": 24576.0, "compute_capability": "6.1"}
    monkeypatch.setattr(runtime, "gpus", lambda: ([p40], None))  # the NVML answer of a P40 host
    support = runtime_support()
    if not support["torch"]["installed"] or arch_supports(support["torch"]["arch_list"], (6, 1)):
        pytest.skip("this torch build runs a P40")
    (problem,) = support["problems"]
    assert "cannot run GPU 0 Tesla P40 (compute capability 6.1)" in problem and "runtime:" in problem
    assert any("no CUDA provider" in w for w in support["warnings"]) or \
        "CUDAExecutionProvider" in support["onnxruntime"].get("providers", [])


def test_without_a_gpu_there_is_nothing_to_refuse() -> None:
    support = runtime_support()
    assert support["problems"] == [] and (support["gpus"] or support["gpus_unread"])


def fake_agent(venv: Path, support: dict) -> None:
    """Stands in for a deployed agent's `agent info --runtime` on a GPU host this machine is not."""
    (venv / "bin").mkdir(parents=True)
    script = venv / "bin" / "agent"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(support)}\nEOF\n"
                      f"exit {1 if support['problems'] else 0}\n")
    script.chmod(0o755)


def test_the_deploy_refuses_a_host_whose_torch_cannot_run_its_gpu_in_one_line(tmp_path: Path) -> None:
    host = Host(name="p40", transport="local", venv=str(tmp_path / "venv"))
    fake_agent(tmp_path / "venv", {"problems": ["torch 2.14.1+cu130 cannot run GPU 0 Tesla P40"],
                                   "warnings": ["onnxruntime has no CUDA provider"]})
    logged: list[str] = []
    with pytest.raises(TransportError, match=r"^torch 2.14.1\+cu130 cannot run GPU 0 Tesla P40$"):
        check_runtime(host, LocalTransport(host), logged.append)
    assert logged == ["onnxruntime has no CUDA provider"]


def test_the_deploy_accepts_a_host_whose_runtimes_fit(tmp_path: Path) -> None:
    host = Host(name="ok", transport="local", venv=str(tmp_path / "venv"))
    fake_agent(tmp_path / "venv", {"problems": [], "warnings": []})
    check_runtime(host, LocalTransport(host))


def test_a_python_too_old_for_the_full_agent_is_refused_before_anything_is_uploaded(tmp_path: Path) -> None:
    old = tmp_path / "python3.8"  # a stand-in interpreter that reports 3.8, as JetPack 5's does
    old.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'print(\"3.8\")'\n")
    old.chmod(0o755)
    for extras, refused in (("full", True), ("agent", False)):
        host = Host(name="jetson", transport="local", python=str(old), extras=extras, venv=str(tmp_path / "none"))
        if refused:
            with pytest.raises(TransportError, match=r"Python 3.8 there is too old for edgeprune\[full\], which "
                                                     r"needs 3.11: .*extras: agent \(the light agent runs on 3.8\)"):
                check_python(host, LocalTransport(host), host.venv)
        else:
            check_python(host, LocalTransport(host), host.venv)
    assert not os.path.exists(tmp_path / "none")
