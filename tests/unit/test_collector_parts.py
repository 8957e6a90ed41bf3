"""The collector's own logic, each part on its own: the remote agent's shell commands (run for
real with /bin/sh in a temporary folder), event parsing, per-host sweeps, the merged store,
and the local transport."""
from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import pytest
import yaml

from collector.fleet.hostplan import agent_args, host_sweep
from collector.fleet.remote_agent import RemoteRun, RunState
from collector.fleet.store import merge
from collector.fleet.transport.local import LocalTransport
from shared.errors import UserError
from shared.events import EventWriter, complete_lines, parse_events
from shared.inventory import Host
from shared.resultsdir import load_results
from shared.schema import SCHEMA_VERSION, make_row
from shared.sweep import read_sweep_file
from tests.conftest import TINY_SWEEP

HOSTILE = "x; touch pwned; $(touch pwned2) `touch pwned3` 'q\""


def local(tmp_path: Path) -> LocalTransport:
    return LocalTransport(Host(name="here", transport="local", workdir=str(tmp_path)))


# ---------------------------------------------------------------- the remote agent's commands

def _state(t: LocalTransport, run: RemoteRun) -> RunState:
    return RemoteRun.parse_state(t.run(run.state_command()).stdout)


def _wait_exit(t: LocalTransport, run: RemoteRun) -> RunState:
    for _ in range(100):
        state = _state(t, run)
        if state.kind == "exit":
            return state
        time.sleep(0.05)
    raise AssertionError(f"still {state}")


def test_a_detached_command_runs_records_its_status_and_hostile_paths_stay_paths(tmp_path: Path,
                                                                                 monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    t = local(tmp_path)
    run = RemoteRun(str(tmp_path / HOSTILE))
    assert _state(t, run) == RunState("none")
    t.run(run.prepare_command()).check("prepare")
    # `agent` stands for the agent's executable; here a shell that echoes its arguments and fails
    fake_agent = "sh -c 'echo \"$@\"; exit 3' agent"
    t.run(run.start_command(fake_agent, ["--host-name", HOSTILE])).check("start")
    assert _wait_exit(t, run) == RunState("exit", 3)
    assert HOSTILE in Path(run.file("agent.log")).read_text()
    assert not list(tmp_path.rglob("pwned*")) and not list(Path.cwd().glob("pwned*"))


def test_a_stopped_agent_still_gets_its_status_written(tmp_path: Path) -> None:
    t = local(tmp_path)
    run = RemoteRun(str(tmp_path / "r"))
    t.run(run.prepare_command()).check("prepare")
    t.run(run.start_command("sh -c 'trap \"exit 130\" TERM; sleep 30 & wait' agent", [])).check("start")
    assert _state(t, run) == RunState("running")
    t.run(run.stop_command()).check("stop")
    assert _wait_exit(t, run) == RunState("exit", 130)


def test_an_agent_killed_with_its_session_is_dead_not_exited(tmp_path: Path) -> None:
    t = local(tmp_path)
    run = RemoteRun(str(tmp_path / "r"))
    t.run(run.prepare_command()).check("prepare")
    t.run(run.start_command("sleep 30 #", [])).check("start")
    t.run(run.kill_command()).check("kill")
    for _ in range(100):
        if _state(t, run).kind == "dead":
            break
        time.sleep(0.05)
    assert _state(t, run) == RunState("dead")


@pytest.mark.parametrize(("text", "state"), [
    ("exit 0\n", RunState("exit", 0)), ("exit -1", RunState("exit", -1)), ("running", RunState("running")),
    ("none", RunState("none")), ("dead", RunState("dead")), ("", RunState("dead")), ("exit x", RunState("dead")),
])
def test_parse_state(text: str, state: RunState) -> None:
    assert RemoteRun.parse_state(text) == state


# ---------------------------------------------------------------- events

def test_events_round_trip_and_a_partial_line_waits(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path / "events.jsonl")
    writer.start(4, 1)
    writer.stage("building")
    writer.end(4, {"ok": 3})
    data = (tmp_path / "events.jsonl").read_bytes() + b'{"event": "ro'
    events, used, skipped = parse_events(data)
    assert [e["event"] for e in events] == ["start", "stage", "end"]
    assert used == len(data) - len(b'{"event": "ro') and events[0]["total"] == 4 and skipped == 0
    assert complete_lines(b"") == ([], 0) and complete_lines(b"a\n\nb") == ([b"a"], 3)


def test_a_torn_event_line_is_skipped_and_the_next_writer_starts_a_new_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    writer = EventWriter(path)
    writer.start(4, 0)
    garbled = path.read_bytes() + b'{"event": "row", "t": 17{"event": "start"}\n[1]\n'
    events, used, skipped = parse_events(garbled)  # a torn line glued to the next, and a non-event
    assert [e["event"] for e in events] == ["start"] and skipped == 2 and used == len(garbled)
    with path.open("ab") as f:
        f.write(b'{"event": "row", "t": 17')  # a writer killed mid-write
    EventWriter(path).stage("building")  # the next writer cuts the half line first
    events, _, skipped = parse_events(path.read_bytes())
    assert [e["event"] for e in events] == ["start", "stage"] and skipped == 0


@pytest.mark.parametrize("code, killed_by", [(0, None), (1, None), (2, None), (130, None), (137, "SIGKILL"),
                                              (139, "SIGSEGV"), (134, "SIGABRT"), (255, "signal 127")])
def test_an_exit_status_above_128_is_a_death_by_signal_but_the_agents_own_stop(code: int,
                                                                                 killed_by: str | None) -> None:
    assert RunState("exit", code).killed_by == killed_by
    assert RunState("dead").killed_by is None


# ---------------------------------------------------------------- per-host sweeps

def test_host_overrides_replace_the_sweeps_lists_and_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "s.yml"
    path.write_text(yaml.safe_dump(TINY_SWEEP))
    data = read_sweep_file(path)
    sweep, text = host_sweep(data, path, Host(name="pi", address="pi", batch_sizes=(1,), backends=("onnxruntime",)))
    assert sweep.batch_sizes == (1,) and sweep.backends == ("onnxruntime",)
    assert yaml.safe_load(text)["batch_sizes"] == [1] and data["batch_sizes"] == [1, 4]
    with pytest.raises(UserError, match="host 'bad'"):
        host_sweep(data, path, Host(name="bad", address="b", backends=("tensorflow",)))


def test_agent_args_carry_the_inventorys_name_and_memory_cap() -> None:
    args = agent_args(Host(name=HOSTILE, address="a", mem_limit="2GiB"), "/store")
    assert args[args.index("--host-name") + 1] == HOSTILE
    assert args[-4:] == ["--mem-limit", "2GiB", "--artifacts", "/store"]


# ---------------------------------------------------------------- the merged store

def _row(host: str, key: str, status: str = "ok", **extra) -> dict:
    return make_row({"schema_version": SCHEMA_VERSION, "run_id": f"run-{host}", "host": host,
                     "device_class": "x86_64-test-cpu", "trial_key": key, "variant_key": "v", "started_at": "t",
                     "agent_version": "0", "model": "lenet5", "dataset": "digits", "input_size": 32,
                     "method": "l1_unstructured", "schedule": "one_shot", "target_ratio": 0.5,
                     "backend": "torch", "device": "cpu", "batch_size": 1, "status": status, "is_oom": False,
                     "seed": 0, **extra})


def _write(folder: Path, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "results.jsonl").open("a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def test_merge_is_idempotent_and_a_retried_trials_last_row_wins(tmp_path: Path) -> None:
    _write(tmp_path / "a", [_row("a", "k1", "skipped", error="missing_artifact"), _row("a", "k2")])
    _write(tmp_path / "b", [_row("b", "k1")])
    first = merge(tmp_path)
    assert (first.rows_total, first.rows_added, first.hosts) == (3, 3, 2)
    _write(tmp_path / "a", [_row("a", "k1", "ok")])  # the retry, appended by a later resume
    again = merge(tmp_path)
    assert (again.rows_total, again.rows_added) == (3, 0)
    con = duckdb.connect(str(again.store), read_only=True)
    assert con.execute("SELECT status FROM results WHERE host = 'a' AND trial_key = 'k1'").fetchall() == [("ok",)]
    assert con.execute(f"SELECT count(*) FROM read_parquet('{again.parquet}')").fetchall() == [(3,)]
    con.close()


def test_a_disturbed_row_and_its_re_measurement_are_both_kept_and_the_trial_counted_once(tmp_path: Path) -> None:
    first = _row("a", "k1", disturbed=True, disturbed_reason="other processes used 50%", attempt=1, started_at="t1")
    again = _row("a", "k1", disturbed=False, attempt=2, retry_of="t1", started_at="t2")
    _write(tmp_path / "a", [first, again, _row("a", "k2", attempt=1)])
    for _ in range(2):  # a re-merge adds nothing twice
        result = merge(tmp_path)
        assert (result.rows_total, result.earlier_rows) == (2, 1)
        con = duckdb.connect(str(result.store), read_only=True)
        assert con.execute("SELECT attempt, retry_of FROM results WHERE trial_key = 'k1'").fetchall() == [(2, "t1")]
        assert con.execute("SELECT attempt, disturbed, disturbed_reason FROM earlier_rows").fetchall() == [
            (1, True, "other processes used 50%")]
        con.close()
    assert [r["attempt"] for r in load_results(tmp_path).rows if r["trial_key"] == "k1"] == [2]


def test_merge_upgrades_old_rows_and_leaves_out_a_newer_schema_with_its_reason(tmp_path: Path) -> None:
    old = json.loads(Path("tests/fixtures/results_v1.jsonl").read_text().splitlines()[0])
    _write(tmp_path / "old", [old])
    _write(tmp_path / "future", [{**_row("future", "k"), "schema_version": SCHEMA_VERSION + 1}])
    result = merge(tmp_path)
    assert result.rows_total == 1 and result.hosts == 1
    assert "schema_version" in result.refused["future"]


def test_merge_of_a_folder_without_rows_makes_an_empty_store(tmp_path: Path) -> None:
    result = merge(tmp_path)
    assert result.rows_total == 0 and result.store.exists() and result.parquet.exists()


def test_a_half_written_store_is_set_aside_and_made_again_from_the_host_folders(tmp_path: Path) -> None:
    _write(tmp_path / "a", [_row("a", "k1"), _row("a", "k2")])
    (tmp_path / "fleet.duckdb").write_bytes(b"\0" * 4096)  # what DuckDB leaves when the disk fills
    result = merge(tmp_path)
    assert result.rows_total == 2 and "made again" in " ".join(result.warnings())
    assert (tmp_path / "fleet.duckdb.unreadable").exists() and not (tmp_path / "fleet.duckdb.part").exists()
    assert merge(tmp_path).warnings() == []


def test_a_rows_host_is_its_folders_not_the_one_it_claims(tmp_path: Path) -> None:
    _write(tmp_path / "a", [_row("a", "k1")])
    _write(tmp_path / "b", [_row("a", "k1", latency_p50_ms=999.0)])  # b's rows claim to be a's
    (tmp_path / "b" / "host.json").write_text(json.dumps({"name": "board b"}))
    result = merge(tmp_path)
    assert result.rows_total == 2 and result.mismatched == {"board b": "'a'"}
    con = duckdb.connect(str(result.store), read_only=True)
    assert con.execute("SELECT host, latency_p50_ms FROM results ORDER BY host").fetchall() == [
        ("a", None), ("board b", 999.0)]
    con.close()


# ---------------------------------------------------------------- the local transport

def test_local_transport_reads_from_an_offset_and_copies_whole_files(tmp_path: Path) -> None:
    t = local(tmp_path)
    (tmp_path / "f").write_bytes(b"0123456789")
    assert t.read_from(str(tmp_path / "f"), 4, limit=3) == b"456"
    assert t.read_from(str(tmp_path / "missing"), 0) == b""
    assert t.get(str(tmp_path / "f"), tmp_path / "copy" / "f") and (tmp_path / "copy" / "f").read_bytes() == b"0123456789"
    assert not t.get(str(tmp_path / "missing"), tmp_path / "copy" / "m")
    t.put(tmp_path / "f", str(tmp_path / "g"))
    assert (tmp_path / "g").read_bytes() == b"0123456789"
    assert t.path("~/x") == f"{Path.home()}/x"
