"""One sweep's run folder on a host, and the shell commands that start, watch and stop its
agent there. The agent runs detached (``setsid nohup``): a dropped SSH connection, or a
collector that exits, does not stop it; its pid and exit status are files the collector
reads on its next visit. Every path and argument is quoted with ``shlex.quote``. The
control files (agent.pid, agent.child, agent.exit) are this module's; every other name in the
output folder is ResultsFolder's, which also says what is fetched when the run ends.

    <workdir>/runs/<run>/<host>/sweep.yml        the plan for this host (<host>: its folder name)
    <workdir>/runs/<run>/<host>/out/             the agent's output folder (shared.resultsdir.ResultsFolder)
    <workdir>/runs/<run>/<host>/out/events.jsonl progress events (shared/events.py)
    <workdir>/runs/<run>/<host>/out/agent.pid    the detached session's leader, which waits for the agent
    <workdir>/runs/<run>/<host>/out/agent.child  the agent's own pid
    <workdir>/runs/<run>/<host>/out/agent.exit   the agent's exit status, written when it ends
    <workdir>/runs/<run>/<host>/out/agent.log    its stdout and stderr
    <workdir>/artifacts/<sha256>/         artifacts pushed (--artifacts) or built there, shared by every run
"""
from __future__ import annotations

import shlex
import signal
from collections.abc import Sequence
from dataclasses import dataclass

from shared.cli import EXIT_INTERRUPTED
from shared.resultsdir import ResultsFolder

q = shlex.quote


@dataclass(frozen=True)
class RunState:
    """What the host says about its agent: none (never started), running, dead (gone
    without an exit status: killed, or the machine rebooted), or exited with ``code``."""

    kind: str
    code: int | None = None

    @property
    def killed_by(self) -> str | None:
        """The signal the agent died of (its wrapper's shell records 128 + N), or None. The
        agent's own exits are 0, 1, 2 and 130 (it turns SIGINT and SIGTERM into a clean stop),
        so any other code above 128 is a death it did not choose: SIGKILL from the OOM killer,
        a segfault in a native library."""
        if self.kind != "exit" or self.code is None or self.code <= 128 or self.code == EXIT_INTERRUPTED:
            return None
        try:
            return signal.Signals(self.code - 128).name
        except ValueError:
            return f"signal {self.code - 128}"


@dataclass(frozen=True)
class RemoteRun:
    root: str  # absolute: <workdir>/runs/<run folder name>

    @property
    def sweep(self) -> str:
        return f"{self.root}/sweep.yml"

    @property
    def out(self) -> str:
        return f"{self.root}/out"

    def file(self, name: str) -> str:
        return f"{self.out}/{name}"

    @property
    def results(self) -> str:
        return self.file(ResultsFolder.RESULTS)

    @property
    def events(self) -> str:
        return self.file(ResultsFolder.EVENTS)

    def prepare_command(self) -> str:
        return f"mkdir -p {q(self.out)}"

    def start_command(self, agent: str, args: Sequence[str]) -> str:
        """Start ``agent run ARGS`` detached; ``agent`` is already quoted."""
        # the session leader (agent.pid) waits for the agent (agent.child) and records its
        # status; a stop signals the agent alone, so that the leader lives to write it
        inner = (f"echo $$ > agent.pid; {agent} run {' '.join(q(a) for a in args)} & "
                 f"echo $! > agent.child; wait $!; echo $? > agent.exit.part && mv agent.exit.part agent.exit")
        # waits (5 s at most) for the pid file, so that the next look at the state sees it
        return (f"cd {q(self.out)} && rm -f agent.exit agent.pid agent.child && "
                f"{{ setsid nohup sh -c {q(inner)} >> {ResultsFolder.AGENT_LOG} 2>&1 < /dev/null & }} && "
                f"for i in $(seq 50); do [ -s agent.pid ] && break; sleep 0.1; done; test -s agent.pid")

    def state_command(self) -> str:
        # the exit file is checked again after a failed kill -0: the agent may have ended
        # between the two checks, and its status file is written before its leader exits
        return (f"cd {q(self.out)} 2>/dev/null || {{ echo none; exit 0; }}; "
                f"if [ -f agent.exit ]; then echo exit $(cat agent.exit); "
                f"elif [ -f agent.pid ] && kill -0 \"$(cat agent.pid)\" 2>/dev/null; then echo running; "
                f"elif [ -f agent.exit ]; then echo exit $(cat agent.exit); "
                f"elif [ -f agent.pid ]; then echo dead; else echo none; fi")

    @staticmethod
    def parse_state(text: str) -> RunState:
        words = text.split()
        if len(words) == 2 and words[0] == "exit" and words[1].lstrip("-").isdigit():
            return RunState("exit", int(words[1]))
        if words and words[0] in ("running", "dead", "none"):
            return RunState(words[0])
        return RunState("dead")  # an unreadable answer: treat as gone, a restart resumes

    def stop_command(self) -> str:
        """SIGTERM to the agent (it stops its workers, keeps every finished row, and exits)."""
        return (f"cd {q(self.out)} 2>/dev/null && [ -f agent.child ] && "
                f"kill -TERM \"$(cat agent.child)\" 2>/dev/null; true")

    def kill_command(self) -> str:
        """SIGKILL to the whole session: for an agent that ignored the stop."""
        return (f"cd {q(self.out)} 2>/dev/null && [ -f agent.pid ] && "
                f"kill -KILL -\"$(cat agent.pid)\" 2>/dev/null; true")  # no `--`: dash refuses it
