"""One host's part of a fleet run: connect, deploy, push the plan, start the agent detached,
stream its progress and rows, survive drops and a dead agent, fetch what it wrote.

Rows are copied as they appear, complete lines only, appended to ``OUT/<host>/results.jsonl``
(collector/fleet/stream.py: the offset of the next read is kept with the line before it, so a
reconnect or a second collector run goes on from there, and a remote file that is not the one
read before is read again from its start; no row is fetched twice or lost). The agent itself
resumes by trial key when it has to be restarted, also after a death by a signal (SIGKILL
from the OOM killer). ``OUT/<host>/host.json`` names the inventory host whose rows the folder
holds: the merge takes a row's host from there, never from the row.
"""
from __future__ import annotations

import json
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from collector.fleet.deploy import Wheel, agent_command, check_version, deploy
from collector.fleet.hostlock import host_lock
from collector.fleet.hostplan import agent_args
from collector.fleet.remote_agent import RemoteRun, RunState
from collector.fleet.stream import RowStream, add_new_lines
from collector.fleet.transport import AuthFailed, ConnectionLost, Transport, TransportError, Unreachable
from shared.errors import NoSpace, no_space
from shared.events import parse_events
from shared.inventory import Host
from shared.resultsdir import ResultsFolder

OK, PARTIAL, UNREACHABLE, AUTH_FAILED, AGENT_ERROR = "ok", "partial", "unreachable", "auth-failed", "agent-error"
OUTCOMES = (OK, PARTIAL, UNREACHABLE, AUTH_FAILED, AGENT_ERROR)


@dataclass(frozen=True)
class RunSettings:
    """What every host's run shares (the command line of ``collector run``)."""

    run_name: str  # the folder name under <workdir>/runs on every host (then one folder a host)
    out_dir: Path  # local: OUT/<host folder>/ gets each host's files
    wheel: Wheel | None  # None where no host needs one (--no-deploy, or only this machine)
    deploy: bool = True  # False: --no-deploy, the agent must already be there
    artifacts: Path | None = None  # a prebuilt store to push, measured with `agent run --artifacts`
    pip_args: str = ""
    poll_s: float = 1.0
    reconnect_timeout_s: float = 300.0
    max_restarts: int = 2
    stop_grace_s: float = 15.0
    log_rows: bool = False  # a line a finished trial (where no live table is drawn: a log, CI)


@dataclass
class HostView:
    """What the live table shows of one host; written by its HostRun's thread only."""

    name: str
    state: str = "waiting"
    total: int | None = None
    done: int = 0
    failures: int = 0  # rows that are not ok
    last: str = ""
    outcome: str | None = None
    reason: str = ""
    restarts: int = 0
    reconnects: int = 0
    started: float = field(default_factory=time.monotonic)
    first_done: int | None = None  # rows done when this session started streaming (for the ETA)

    def eta_s(self) -> float | None:
        if self.total is None or self.first_done is None:
            return None
        new = self.done - self.first_done
        if new <= 0:
            return None
        return (self.total - self.done) * (time.monotonic() - self.started) / new


class Stopped(Exception):
    """The operator pressed Ctrl-C: stop the agent, keep what finished."""


class HostRun:
    def __init__(self, host: Host, host_files: list[tuple[str, bytes]], transport: Transport,
                 settings: RunSettings, view: HostView, stop: threading.Event | None = None,
                 log: Callable[[str], None] = lambda text: None) -> None:
        self.host = host
        self.host_files = host_files  # (name, content) written into the run folder: the sweep
        self.t = transport
        self.settings = settings
        self.view = view
        self.stop = stop or threading.Event()  # set by Ctrl-C in `collector run`
        self.log = log
        self.local = settings.out_dir / host.folder_name
        self.folder = ResultsFolder(self.local)  # the collector's copy of the host's results folder
        self.results_local = self.folder.path(ResultsFolder.RESULTS)
        self.rows = RowStream(self.local)
        self.events_offset = 0
        self.remote: RemoteRun | None = None
        # rows this folder held when the run began: their events (the agent's event file keeps
        # every earlier session's) are not news, and are not logged again
        self.rows_before = 0

    # ------------------------------------------------------------------ the whole run

    def run(self) -> str:
        view = self.view
        try:
            self._make_local()
            self.rows_before = self._rows_here()
            self._state("connecting")
            self._attach()
            self._deploy()
            state = self._remote_state()
            if state.kind == "running":
                self._state("attached")  # a second collector run: the agent is still at work
            else:
                self._push()
                self._start()
            self._stream()
        except Stopped:
            self._stop_agent()
            self._finish(PARTIAL, "stopped by the operator; completed rows kept")
        except NoSpace as exc:  # the collector's own disk: every row here is whole, a rerun resumes
            self._finish(PARTIAL if self._rows_here() else AGENT_ERROR, str(exc))
        except AuthFailed as exc:
            self._finish(AUTH_FAILED, str(exc))
        except (Unreachable, ConnectionLost) as exc:
            self._finish(UNREACHABLE if view.done == 0 and self._rows_here() == 0 else PARTIAL, str(exc))
        except TransportError as exc:
            self._finish(AGENT_ERROR, str(exc))
        except Exception as exc:  # a bug here must not take the other hosts down
            full = no_space(exc) if isinstance(exc, OSError) else None
            self._finish(AGENT_ERROR, str(full) if full else f"collector error: {type(exc).__name__}: {exc}")
        finally:
            self.t.close()
        return view.outcome or AGENT_ERROR

    def _make_local(self) -> None:
        """``OUT/<host>/`` and its ``host.json``: which inventory host these rows are from."""
        try:
            self.local.mkdir(parents=True, exist_ok=True)
            self.folder.write_host(self.host.name)
        except OSError as exc:
            raise no_space(exc, self.local) or exc from None

    def _attach(self) -> None:
        self.t.connect()
        # one folder an inventory host: two names for one machine and workdir never share a run
        self.remote = RemoteRun(self.t.path(f"{self.host.workdir.rstrip('/')}/runs/{self.settings.run_name}/"
                                            f"{self.host.folder_name}"))

    def peek(self) -> RunState:
        """`collector status`: the agent's state and its progress (into the view); writes nothing."""
        self._attach()
        state = self._remote_state()
        events, _, skipped = parse_events(self.t.read_from(self.remote.events, 0, limit=64 << 20))
        for event in events:
            self._on_event(event)
        self._warn_skipped(skipped)
        return state

    def fetch(self) -> RunState:
        """`collector fetch`: copy the rows not here yet and the side files; the agent is left alone."""
        self._attach()
        state = self._remote_state()
        self._make_local()
        self._poll_files()
        self._fetch_side_files()
        return state

    def _state(self, state: str) -> None:
        self.view.state = state
        self.log(f"{self.host.name}: {state}")

    def _finish(self, outcome: str, reason: str = "") -> None:
        if self.view.outcome is None:
            self.view.outcome, self.view.reason = outcome, reason
            self.view.state = outcome
            self.log(f"{self.host.name}: {outcome}{': ' + reason if reason else ''}")

    def _say(self, text: str) -> None:
        self.log(f"{self.host.name}: {text}")

    def _rows_here(self) -> int:
        if not self.results_local.exists():
            return 0
        with self.results_local.open("rb") as f:
            return sum(1 for line in f if line.endswith(b"\n"))

    # ------------------------------------------------------------------ steps

    def _deploy(self) -> None:
        if not self.settings.deploy:
            check_version(self.host, self.t)
            return
        self._state("deploying")
        if deploy(self.host, self.t, self.settings.wheel, self.settings.pip_args,
                  log=lambda text: self.log(f"{self.host.name}: {text}")):
            self.log(f"{self.host.name}: agent installed")

    def _push(self) -> None:
        assert self.remote is not None
        self._state("pushing plan")
        self.t.run(self.remote.prepare_command()).check("making the run folder")
        for name, content in self.host_files:
            staged = self.local / f".{name}.to-push"
            staged.write_bytes(content)
            self.t.put(staged, f"{self.remote.root}/{name}")
            staged.unlink()
        if self.settings.artifacts is not None:  # one push at a time into a machine's shared store
            with host_lock(self.t, f"{self._remote_store()}.push-lock", self.host.name, log=self._say):
                self._push_artifacts(self.settings.artifacts)

    def _push_artifacts(self, store: Path) -> None:
        """Copy each artifact folder the host lacks; a folder's name is its content hash, so
        one already there is the same. A folder appears whole (renamed from .part) or not at all."""
        q = shlex.quote
        remote_store = self._remote_store()
        listing = self.t.run(f"mkdir -p {q(remote_store)} && ls -1 {q(remote_store)}").check("listing artifacts")
        present = set(listing.stdout.split())
        wanted = sorted(p for p in store.iterdir() if p.is_dir() and (p / "meta.json").exists())
        missing = [p for p in wanted if p.name not in present]
        self._state(f"pushing {len(missing)} of {len(wanted)} artifacts")
        for folder in missing:
            part = f"{remote_store}/{folder.name}.part"
            self.t.run(f"rm -rf {q(part)} && mkdir -p {q(part)}").check("making an artifact folder")
            for path in sorted(folder.iterdir()):
                if path.is_file():
                    self.t.put(path, f"{part}/{path.name}")
            self.t.run(f"mv {q(part)} {q(f'{remote_store}/{folder.name}')}").check("storing an artifact")

    def _remote_store(self) -> str:
        return self.t.path(f"{self.host.workdir.rstrip('/')}/artifacts")

    def _builds_on_host(self) -> bool:
        # no store pushed: a full agent builds into <workdir>/artifacts, so that every inventory
        # name on one machine (emulated devices) measures the same files, built once
        return self.settings.artifacts is None and self.host.extras == "full"

    def _store_in_use(self) -> str | None:
        """The shared store the agent measures from, or None where it builds into its run folder."""
        return self._remote_store() if self.settings.artifacts is not None or self._builds_on_host() else None

    def _remote_state(self) -> RunState:
        assert self.remote is not None
        done = self.t.run(self.remote.state_command()).check("reading the agent's state")
        return RemoteRun.parse_state(done.stdout)

    def _start(self) -> None:
        assert self.remote is not None
        self._state("starting agent")
        command = self.remote.start_command(agent_command(self.host, self.t),
                                            agent_args(self.host, self._store_in_use(), self._builds_on_host()))
        self.t.run(command).check("starting the agent")

    def _stop_agent(self) -> None:
        """Tell the agent to stop, give it a moment, and fetch what it finished."""
        if self.remote is None:
            return
        self._state("stopping agent")
        try:
            self.t.run(self.remote.stop_command())
            deadline = time.monotonic() + self.settings.stop_grace_s
            while time.monotonic() < deadline and self._remote_state().kind == "running":
                time.sleep(0.5)
            if self._remote_state().kind == "running":
                self.log(f"{self.host.name}: the agent did not stop in {self.settings.stop_grace_s:g} s; killing it")
                self.t.run(self.remote.kill_command())
            self._poll_files()
            self._fetch_side_files()
        except TransportError as exc:
            self.log(f"{self.host.name}: could not stop the agent cleanly: {exc}")

    # ------------------------------------------------------------------ streaming

    def _poll_files(self) -> int:
        """New events and new complete rows since the last read; the bytes of rows read."""
        assert self.remote is not None
        data = self.t.read_from(self.remote.events, self.events_offset)
        events, used, skipped = parse_events(data)
        self.events_offset += used
        for event in events:
            self._on_event(event)
        self._warn_skipped(skipped)
        remote = self.remote.results
        polled = self.rows.poll(remote, lambda offset: self.t.read_from(remote, offset))
        if polled.restarted:
            self.log(f"{self.host.name}: {ResultsFolder.RESULTS} there is not the file read before (its run folder "
                     f"wiped or replaced): re-reading it from the start; the rows fetched before are kept")
        for line in polled.new_lines:
            try:
                ok = json.loads(line).get("status") == "ok"
            except (ValueError, AttributeError):
                ok = False  # a garbled line is kept as it came (the merge says why it cannot read it)
            self.view.failures += not ok
        return polled.read_bytes

    def _drain(self) -> None:
        """Every row the ended agent wrote (a read takes 8 MiB at most)."""
        while self._poll_files():
            pass

    def _warn_skipped(self, skipped: int) -> None:
        if skipped:
            self.log(f"{self.host.name}: skipped {skipped} unreadable line(s) of {ResultsFolder.EVENTS} (a write cut "
                     f"short: the agent killed, a power cut, a full disk); rows are not affected")

    def _on_event(self, event: dict) -> None:
        try:
            self._apply_event(event)
        except (KeyError, TypeError, ValueError):
            self._warn_skipped(1)  # valid JSON, but not an event this collector knows how to read

    def _apply_event(self, event: dict) -> None:
        view = self.view
        kind = event.get("event")
        if kind == "start":
            view.total, view.done = event["total"], event["done"]
            # the session now running starts at the rows already here; an older one's start is replayed
            view.first_done, view.started = view.done, time.monotonic()
            if self.settings.log_rows and view.done and view.done >= self.rows_before:
                rest = "nothing left to run" if view.done >= view.total else f"{view.total - view.done} to run"
                self.log(f"{self.host.name}: {view.done} of {view.total} trials already done; {rest}")
        elif kind == "row":
            view.done += 1
            view.last = f"{event['status']}: {event['label']}"
            if self.settings.log_rows and view.done > self.rows_before:
                self.log(f"{self.host.name}: [{view.done}/{view.total}] {view.last}")
        elif kind == "stage":
            view.last = event["text"]
        elif kind == "error":
            view.last = f"error: {event['message']}"

    def _stream(self) -> None:
        self._state("running")
        deadline: float | None = None  # while reconnecting: give up at this time
        backoff = 1.0
        while True:
            if self.stop.is_set():
                raise Stopped
            try:
                if deadline is not None:
                    self.t.connect()
                    self._state("running")
                    deadline, backoff = None, 1.0
                self._poll_files()
                state = self._remote_state()
            except (ConnectionLost, Unreachable) as exc:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.settings.reconnect_timeout_s
                    self.view.reconnects += 1
                    self.view.last = str(exc)
                    self._state("reconnecting")
                    self.log(f"{self.host.name}: {exc}")
                if now >= deadline:
                    raise
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if state.killed_by is not None:
                self._restart_or_finish(f"killed by {state.killed_by}")
            elif state.kind == "exit":
                self._drain()
                self._fetch_side_files()
                self._say_store_size()
                if state.code == 0 and self._complete():
                    self._finish(OK)
                elif state.code == 0:
                    self._finish(PARTIAL, "the agent ended before every trial had a row")
                else:
                    self._finish(AGENT_ERROR, f"agent exited with {state.code}: {self._log_tail()}")
                return
            elif state.kind in ("dead", "none"):
                self._restart_or_finish("gone without an exit status")
            if self.view.outcome is not None:
                return
            self.stop.wait(self.settings.poll_s)

    def _restart_or_finish(self, how: str) -> None:
        """A dead agent (``how`` it died) is restarted, up to --max-restarts times: it resumes."""
        self._drain()
        if self.view.restarts >= self.settings.max_restarts:
            self._fetch_side_files()
            self._finish(PARTIAL if self._rows_here() else AGENT_ERROR,
                         f"the agent died {self.view.restarts + 1} times (last {how}); last log: {self._log_tail()}")
            return
        self.view.restarts += 1
        self.log(f"{self.host.name}: the agent is {how}; restarting it (resumes, completed trials skipped)")
        self._start()
        self._state("running")

    def _complete(self) -> bool:
        return self.view.total is not None and self.view.done >= self.view.total

    def _fetch_side_files(self) -> None:
        """Copy the side files; a JSON-lines one (layers, telemetry) keeps the lines it had."""
        assert self.remote is not None
        for name in ResultsFolder.FETCHED_AT_END:
            if not name.endswith(".jsonl"):
                self.t.get(self.remote.file(name), self.folder.path(name))
            elif self.t.get(self.remote.file(name), staged := self.folder.path(f".{name}.fetched")):
                add_new_lines(staged, self.folder.path(name))

    def _say_store_size(self) -> None:
        """Where the variants built on the host are kept and how much disk they take (738 MB for
        the quick sweep): kept for reruns, so the operator should know they are there."""
        assert self.remote is not None
        store = self._store_in_use() or self.remote.file(ResultsFolder.ARTIFACTS)
        done = self.t.run(f"du -sk {shlex.quote(store)} 2>/dev/null")
        fields = done.stdout.split()
        if done.returncode == 0 and fields and fields[0].isdigit():
            self._say(f"artifact store {store}: {int(fields[0]) / 1024:,.0f} MiB on the host (kept for reruns; "
                      f"delete it to free the space)")

    def _log_tail(self) -> str:
        assert self.remote is not None
        data = self.t.read_from(self.remote.file(ResultsFolder.AGENT_LOG), 0)
        lines = [line for line in data.decode(errors="replace").splitlines() if line.strip()]
        return " | ".join(lines[-3:])[-400:] or "(empty log)"
