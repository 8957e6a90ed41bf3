"""Device profiles: reading (presets, mappings, JSON), the shape in the device class, fitting the
machine, the inventory field in every format, and the CPU quota's cgroup files (a fake tree)."""
from __future__ import annotations

from pathlib import Path

import pytest

from agent import emulate, memlimit
from agent.emulate import CpuCap, Emulation, quota_us
from collector.fleet.hostplan import agent_args
from shared.inventory import parse_inventory
from shared.profile import PRESETS, DeviceProfile, ProfileError, misfit, parse_profile


def test_presets_are_what_the_main_job_promises() -> None:
    assert set(PRESETS) == {"server", "laptop", "board"}
    assert PRESETS["server"].shape(16) == "emu-16c100"
    assert PRESETS["laptop"].shape(16) == "emu-1c100-2g"
    assert PRESETS["board"].shape(16) == "emu-1c50-600m"
    assert PRESETS["board"].thread_count == 1 and PRESETS["server"].thread_count is None


@pytest.mark.parametrize("value", ["board", " board ", {"name": "board", "cpus": 1, "cpu_quota": 0.5,
                                                          "memory": "600MiB", "threads": 1},
                                   '{"name": "board", "cpus": 1, "cpu_quota": 0.5, "memory": 629145600, "threads": 1}'])
def test_a_preset_a_mapping_and_json_read_alike(value: object) -> None:
    assert parse_profile(value) == PRESETS["board"]


def test_json_round_trips() -> None:
    custom = parse_profile({"cpus": 2, "cpu_quota": 0.25, "memory": "1.5GiB"})
    assert parse_profile(custom.to_json()) == custom
    assert custom.shape() == "emu-2c25-1536m" and custom.describe() == "emu-2c25-1536m"
    assert PRESETS["board"].describe(4) == "board (emu-1c50-600m)"
    assert DeviceProfile().shape() == "emu-allc100"  # cores not known: a remote host


@pytest.mark.parametrize(("value", "field", "words"), [
    ("boards", "profile", "unknown profile 'boards' (valid: board, laptop, server)"),
    ({"cpu": 1}, "profile", "unknown profile key 'cpu'"),
    ({"cpus": 0}, "profile: cpus", "positive integer"),
    ({"cpus": True}, "profile: cpus", "positive integer"),
    ({"cpu_quota": 1.5}, "profile: cpu_quota", "0.01..1"),
    ({"cpu_quota": "half"}, "profile: cpu_quota", "0.01..1"),
    ({"memory": "1 XiB"}, "profile: memory", "cannot read memory size"),
    ({"memory": -5}, "profile: memory", "cannot read memory size"),
    ({"threads": 2.5}, "profile: threads", "positive integer"),
    ("{not json", "profile", "cannot read JSON"),
    (3, "profile", "expected a preset name"),
])
def test_a_bad_profile_is_one_line_naming_the_field(value: object, field: str, words: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile(value, source="inv.yml", field="profile")
    message = str(caught.value)
    assert message.startswith(f"inv.yml: {field}: ") and words in message and "\n" not in message


def test_misfit_names_cores_then_memory() -> None:
    assert misfit(PRESETS["board"], cores=2, memory_bytes=8 * 2**30) is None
    assert misfit(PRESETS["server"], cores=1, memory_bytes=None) is None
    field, why = misfit(parse_profile({"cpus": 4}), cores=2, memory_bytes=2**30) or ("", "")
    assert field == "cpus" and "4 cores" in why and "2" in why
    field, why = misfit(parse_profile({"memory": "8GiB"}), cores=2, memory_bytes=2**30) or ("", "")
    assert field == "memory" and "8.0 GiB" in why


def test_the_inventory_reads_a_profile_in_each_format_and_the_agent_gets_it() -> None:
    own = parse_inventory({"hosts": [{"name": "b", "transport": "local", "profile": "board"},
                                     {"name": "c", "transport": "local", "profile": {"cpus": 1}}]},
                          "inv.yml")
    ansible = parse_inventory({"all": {"hosts": {"b": {"ansible_connection": "local",
                                                       "edgeprune_profile": '{"cpus": 1, "cpu_quota": 0.5}'}}}},
                              "hosts.yml")
    assert own.get("b").profile == PRESETS["board"] and own.get("c").profile == DeviceProfile(cpus=1)
    assert ansible.get("b").profile == DeviceProfile(cpus=1, cpu_quota=0.5) and ansible.get("b").emulated
    args = agent_args(own.get("b"), "/w/artifacts", build_missing=True)
    assert args[args.index("--profile") + 1] == PRESETS["board"].to_json()
    assert args[-3:] == ["--artifacts", "/w/artifacts", "--build-missing"]
    with pytest.raises(ProfileError, match=r"^inv.yml: hosts\[0\] \(b\): profile: unknown profile 'tiny'"):
        parse_inventory({"hosts": [{"name": "b", "transport": "local", "profile": "tiny"}]}, "inv.yml")


def test_the_device_class_says_emulated_and_from_what() -> None:
    emulation = Emulation.of(PRESETS["board"])
    assert emulation.device_class("x86_64-xeon-6140-p40") == "emu-1c50-600m@x86_64-xeon-6140-p40"
    columns = emulation.columns({"cpu_quota": "no cgroup"})
    assert columns["emulated"] is True and columns["emulation_missing"] == '{"cpu_quota": "no cgroup"}'
    assert emulation.columns(None)["emulation_missing"] is None


def test_the_quota_has_a_floor_of_one_millisecond() -> None:
    assert quota_us(0.5, 1) == 5_000 and quota_us(0.5, 2) == 10_000 and quota_us(0.01, 1) == 1_000


def _fake_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, proc: str) -> Path:
    root = tmp_path / "cgroup"
    root.mkdir()
    (tmp_path / "proc").write_text(proc)
    monkeypatch.setattr(memlimit, "CGROUP_ROOT", root)
    monkeypatch.setattr(memlimit, "PROC_CGROUP", tmp_path / "proc")
    return root


def test_v2_puts_cpu_max_in_the_workers_memory_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _fake_tree(tmp_path, monkeypatch, "0::/agent\n")
    (root / "agent").mkdir()
    (root / "agent" / "cgroup.subtree_control").write_text("cpu memory pids\n")
    memory, _ = memlimit.make_trial_group("w1")
    group, missing = CpuCap((1,), 0.5).make_group("w1")
    assert missing == {} and memory is not None and group is not None
    assert group.path == memory.path == root / "agent" / "w1" and group.version == 2
    assert (group.path / "cpu.max").read_text() == f"5000 {emulate.PERIOD_US}"


def test_v2_without_the_cpu_controller_says_so_and_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _fake_tree(tmp_path, monkeypatch, "0::/agent\n")
    (root / "agent").mkdir()
    (root / "agent" / "cgroup.subtree_control").write_text("memory\n")
    group, missing = CpuCap((0,), 0.5).make_group("w1")
    assert group is None and "cpu controller not enabled" in missing["cpu_quota"]


def test_v1_writes_period_and_quota_in_the_cpu_hierarchy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _fake_tree(tmp_path, monkeypatch, "4:memory:/m\n1:cpu,cpuacct:/c\n0::/\n")
    (root / "cpu,cpuacct" / "c").mkdir(parents=True)
    group, missing = CpuCap(None, 0.25).make_group("w1")
    assert missing == {} and group is not None and group.version == 1
    assert group.path == root / "cpu,cpuacct" / "c" / "w1"
    assert (group.path / "cpu.cfs_period_us").read_text() == "10000"
    assert int((group.path / "cpu.cfs_quota_us").read_text()) == quota_us(0.25, len(emulate.usable_cores()))


def test_no_write_access_is_a_reason_not_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tree(tmp_path, monkeypatch, "1:cpu:/gone/deeper\n")  # the parent folder does not exist
    group, missing = CpuCap(None, 0.5).make_group("w1")
    assert group is None and missing["cpu_quota"].startswith("cannot create")
    assert CpuCap(None, None).make_group("w1") == (None, {})  # no quota asked: nothing missing
