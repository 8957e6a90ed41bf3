"""Workers start without importing the parent's main script again (benchmark P3's largest cost)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A main script with a side effect at import: each import appends its module name to a file.
MAIN = textwrap.dedent("""
    import os, sys
    with open(sys.argv[1], "a") as f:
        f.write(__name__ + "\\n")
    if __name__ == "__main__":
        import multiprocessing
        from agent.procstart import WorkerStarter
        if sys.argv[2] == "procstart":
            starter = WorkerStarter(["agent.worker"])
            workers = [starter.process(os.getpid, ()) for _ in range(2)]
        else:  # multiprocessing as it ships: what the agent did before
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["agent.worker"])
            workers = [ctx.Process(target=os.getpid) for _ in range(2)]
        for w in workers:
            w.start()
            w.join(60)
        sys.exit(max(abs(w.exitcode) for w in workers))
""")


@pytest.mark.parametrize(("how", "imports"), [("procstart", ["__main__"]),
                                              ("plain", ["__main__", "__mp_main__", "__mp_main__"])])
def test_worker_start_runs_the_main_script_only_in_the_parent(tmp_path: Path, how: str, imports: list[str]) -> None:
    script, marker = tmp_path / "main_script.py", tmp_path / "imports.txt"
    script.write_text(MAIN)
    done = subprocess.run([sys.executable, str(script), str(marker), how], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    # plain multiprocessing imports the script again in every worker (the control: the check can fail)
    assert marker.read_text().split() == imports
