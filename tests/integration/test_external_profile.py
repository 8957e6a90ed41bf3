"""The profile pass under an external profiler, end to end as far as a CPU goes.

The profilers are the stand-in of tests/fake_profiler.py (it runs the real profile target,
then writes a real captured output of the tool); the target is the real
``python -m agent.profile_target`` on a real artifact, on the CPU.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent import worker
from agent.artifacts import Artifact, ArtifactStore
from agent.probes.external_profile import ProfileTarget, profile_with, target_argv
from agent.probes.gpuprofile import GPUPROFILE_COLUMNS, choose_profiler
from agent.probes.gpuprofilers import ProfilerOptions
from agent.runner import ArtifactBuilder
from shared.plan import variants
from agent.worker import TrialSpec, WorkerJob
from shared.sweep import TelemetrySpec, TimingSpec, parse_sweep
from tests.conftest import TINY_SWEEP
from tests.fake_profiler import install

SWEEP = {**TINY_SWEEP, "methods": [{"name": "l1_unstructured", "scope": "global"}], "ratios": [0.0]}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory, private_cache: Path) -> Artifact:
    root = tmp_path_factory.mktemp("store")
    sweep = parse_sweep(SWEEP, str(root / "s.yml"))
    (variant,) = variants(sweep)
    return ArtifactBuilder(sweep, ArtifactStore(root), private_cache).obtain(variant)[0]


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201 - installs stand-ins
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def put(tool: str, mode: str = "ok") -> None:
        install(bin_dir, tool)
        monkeypatch.setenv("FAKE_PROFILER_MODE", mode)
    return put


def target(artifact: Artifact) -> ProfileTarget:
    return ProfileTarget(str(artifact.path), dict(artifact.meta), "torch", {}, "cpu", 1, (2, 1, 32, 32), 3)


def run(tool: str, artifact: Artifact, tmp_path: Path, timeout_s: float = 120.0):  # noqa: ANN201
    choice = choose_profiler((9, 0), wanted=tool)
    assert choice.name == tool, choice.reason  # the stand-in on PATH is what the chooser finds
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return profile_with(choice, target(artifact), work, timeout_s, ProfilerOptions(ncu_launch_count=20))


def test_the_target_runs_the_artifact_on_its_own(artifact: Artifact, tmp_path: Path) -> None:
    spec = tmp_path / "t.json"
    spec.write_text(json.dumps({**target(artifact).__dict__, "artifact_meta": dict(artifact.meta)}))
    done = subprocess.run(target_argv(spec), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    bad = subprocess.run([sys.executable, "-m", "agent.profile_target"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert bad.returncode == 2 and "usage" in bad.stderr


def test_ncu_columns_come_from_its_file(artifact: Artifact, tmp_path: Path, on_path) -> None:
    on_path("ncu")
    result = run("ncu", artifact, tmp_path)
    assert result.columns["gpu_profiler"] == "ncu"
    assert result.columns["gpu_kernel_count"] == 15  # 5 kernels x 3 passes in the H200 capture
    assert result.columns["gpu_kernel_time_ms"] == pytest.approx(0.065344)
    assert result.columns["gpu_memcpy_time_ms"] is None and "kernels only" in result.error
    assert result.side["distinct_kernels"] == 5 and result.side["ncu_metrics"]
    assert "--clock-control" in result.side["argv"] and result.side["options"]["ncu_launch_count"] == 20
    assert not list((tmp_path / "work").iterdir())  # the pass leaves nothing behind


def test_nvprof_columns_come_from_its_file(artifact: Artifact, tmp_path: Path, on_path) -> None:
    on_path("nvprof")
    result = profile_with(choose_profiler((6, 1)), target(artifact), tmp_path, 120.0)
    assert result.error is None, result.error
    assert result.columns["gpu_profiler"] == "nvprof"
    assert result.columns["gpu_memcpy_count"] == 14476 + 268 + 13738 + 2
    assert result.columns["gpu_kernel_count"] == 13672 + 268 * 6 + 536 + 14


@pytest.mark.parametrize("mode", ["ok", "old-nsys"])
def test_nsys_stats_reports_are_read_whatever_their_names(artifact: Artifact, tmp_path: Path, on_path,
                                                          mode: str) -> None:
    on_path("nsys", mode)
    result = run("nsys", artifact, tmp_path)
    assert result.error is None, result.error
    assert result.columns == {"gpu_kernel_time_ms": pytest.approx(1.830493), "gpu_kernel_count": 1010,
                              "gpu_memcpy_time_ms": pytest.approx(0.004641), "gpu_memcpy_count": 3,
                              "gpu_profiler": "nsys"}
    assert result.side["cuda_api"][0]["name"] == "cudaFree"


def test_a_hanging_profiler_is_killed_with_its_group_and_named(artifact: Artifact, tmp_path: Path, on_path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pidfile = tmp_path / "sleeper.pid"
    monkeypatch.setenv("FAKE_PROFILER_PIDFILE", str(pidfile))
    on_path("ncu", "hang")
    result = run("ncu", artifact, tmp_path, timeout_s=10.0)
    assert result.columns == dict.fromkeys(GPUPROFILE_COLUMNS)
    assert result.error.startswith("Nsight Compute: killed after 10 s")
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):  # the grandchild went with the group
        for _ in range(50):
            os.kill(pid, 0)
            subprocess.run(["sleep", "0.1"], check=True)


@pytest.mark.parametrize(("mode", "says"), [("fail", "exited with code 3: ==ERROR== ncu: the stand-in was told to fail "
                                                       "(==ERROR== ncu (stand-in): told to fail)"),
                                             ("garbage", "no table header found")])
def test_a_failing_profiler_is_a_reason_not_a_failed_trial(artifact: Artifact, tmp_path: Path, on_path,
                                                           mode: str, says: str) -> None:
    on_path("ncu", mode)
    result = run("ncu", artifact, tmp_path)
    assert result.columns == dict.fromkeys(GPUPROFILE_COLUMNS)
    assert says in result.error


def test_no_time_left_means_no_profile(artifact: Artifact, tmp_path: Path, on_path) -> None:
    on_path("ncu")
    result = run("ncu", artifact, tmp_path, timeout_s=0.5)
    assert result.error == "Nsight Compute: no time left in the trial's limit for the profile pass"


def worker_job(tmp_path: Path, artifact: Artifact, limit_s: float, cap: int | None = None) -> WorkerJob:
    return WorkerJob(str(artifact.path), dict(artifact.meta), "torch", {}, "cuda:0", 1,
                     TimingSpec(), (), True, TelemetrySpec(gpu_profiler="ncu"), None, cap, None,
                     str(tmp_path / "w.stderr"), trial_timeout_s=limit_s)


@pytest.mark.parametrize(("spent_s", "says"), [
    (27.5, "Nsight Compute: no time left in the trial's limit"),  # 30 s limit, 3 s kept back
    (0.0, "Nsight Compute: killed after 27 s"),  # the hung tool gets what is left, no more
])
def test_the_worker_keeps_the_profile_pass_within_the_trials_limit(
        artifact: Artifact, tmp_path: Path, on_path, monkeypatch: pytest.MonkeyPatch, spent_s: float,
        says: str) -> None:
    """The worker's own pass (a CUDA job on a machine without one: the capability is the
    only thing stood in for); the parent kills the worker at the limit, so the profile
    must end first, and its failure is the gpuprofile reason, not the trial's."""
    monkeypatch.setattr(worker, "device_capability", lambda index: (9, 0))
    monkeypatch.setenv("FAKE_PROFILER_PIDFILE", str(tmp_path / "pid"))
    on_path("ncu", "hang")
    trial = TrialSpec("k", 2, (2, 1, 32, 32))
    outcome = worker._gpu_profile(worker_job(tmp_path, artifact, 30.0), None, None, trial,
                                  time.monotonic() - spent_s)
    assert outcome.columns == dict.fromkeys(GPUPROFILE_COLUMNS)
    assert outcome.errors["gpuprofile"].startswith(says)


@pytest.fixture
def capability() -> tuple[int, int]:
    """Before the artifact fixture, so that a machine without a GPU skips without building."""
    torch = pytest.importorskip("torch", reason="torch is not installed")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    return torch.cuda.get_device_capability(0)


@pytest.mark.gpu
@pytest.mark.parametrize("tool", ["ncu", "nsys", "nvprof"])
def test_a_real_profiler_profiles_the_real_target_on_the_gpu(capability: tuple[int, int], artifact: Artifact,
                                                             tmp_path: Path, tool: str) -> None:
    """The real thing, where the machine has it: the tool starts the target on the GPU and
    its own output is parsed (no stand-in on PATH here)."""
    choice = choose_profiler(capability, wanted=tool)
    if choice.name != tool:
        pytest.skip(choice.reason)
    cuda_target = ProfileTarget(str(artifact.path), dict(artifact.meta), "torch", {}, "cuda:0", None,
                                (8, 1, 32, 32), 3)
    result = profile_with(choice, cuda_target, tmp_path, 300.0, ProfilerOptions(ncu_launch_count=100))
    assert result.columns["gpu_profiler"] == tool, result.error
    assert result.columns["gpu_kernel_count"] >= 3 and result.columns["gpu_kernel_time_ms"] > 0, result.error
    assert result.side["kernels"] and result.side["kernels"][0]["count"] >= 1


def test_under_a_memory_cap_no_external_profiler_is_chosen(artifact: Artifact, tmp_path: Path, on_path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A profiler's child would share the trial's cgroup or rlimit (an OOM kill could take the
    trial): the in-process profiler is used instead."""
    monkeypatch.setattr(worker, "device_capability", lambda index: (9, 0))
    on_path("ncu")
    assert worker._profile_choice(worker_job(tmp_path, artifact, 600.0)).name == "ncu"
    capped = worker._profile_choice(worker_job(tmp_path, artifact, 600.0, cap=2**30))
    assert capped.name == "torch_profiler" and "under a memory cap" in capped.reason
