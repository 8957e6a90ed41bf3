"""What `collector run` logs where no live table is drawn (a log, CI): a rerun says how many
trials were already done instead of replaying a line for each, and new rows are logged."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from collector.fleet.hostrun import HostRun, HostView, RunSettings


def host_run(tmp_path: Path, rows_before: int) -> tuple[HostRun, list[str]]:
    logged: list[str] = []
    settings = RunSettings(run_name="quick", out_dir=tmp_path, wheel=None, log_rows=True)
    run = HostRun(SimpleNamespace(name="local", folder_name="local"), [], None, settings,  # type: ignore[arg-type]
                  HostView("local"), log=logged.append)
    run.rows_before = rows_before
    return run, logged


def replay(run: HostRun, sessions: list[tuple[int, int]], total: int) -> None:
    """The agent's event file as a rerun reads it: each session's start, then its rows."""
    for done, new in sessions:
        run._on_event({"event": "start", "total": total, "done": done})
        for _ in range(new):
            run._on_event({"event": "row", "status": "ok", "label": "lenet5 l1 r=0.5 torch batch 1"})


def test_a_rerun_with_nothing_to_do_is_one_line(tmp_path: Path) -> None:
    run, logged = host_run(tmp_path, rows_before=120)
    replay(run, [(0, 60), (60, 60), (120, 0)], total=120)
    assert logged == ["local: 120 of 120 trials already done; nothing left to run"]


def test_a_resumed_run_logs_only_its_new_rows(tmp_path: Path) -> None:
    run, logged = host_run(tmp_path, rows_before=60)
    replay(run, [(0, 60), (60, 2)], total=120)
    assert logged == ["local: 60 of 120 trials already done; 60 to run",
                      "local: [61/120] ok: lenet5 l1 r=0.5 torch batch 1",
                      "local: [62/120] ok: lenet5 l1 r=0.5 torch batch 1"]
    assert run.view.first_done == 60  # the ETA counts this session's pace


def test_the_agents_eta_comes_from_this_sessions_pace(monkeypatch) -> None:
    import io

    from rich.console import Console

    from agent.commands import run as agent_run

    console = Console(file=io.StringIO(), width=200)
    bar = agent_run.progress_bar(console)
    progress = agent_run.RichProgress(bar)
    clock = iter([100.0, 160.0])
    monkeypatch.setattr(agent_run.time, "monotonic", lambda: next(clock))
    progress.start(total=120, done=60)  # a rerun: 60 on disk
    task = bar.tasks[0]
    assert str(agent_run.EtaColumn().render(task)) == "-"  # nothing new yet: no pace
    bar.update(task.id, completed=90)   # 30 trials in 60 s: 30 left take a minute
    assert str(agent_run.EtaColumn().render(bar.tasks[0])) == "0:01:00"
    assert "60 of 120 trials already done; 60 to run" in console.file.getvalue()
