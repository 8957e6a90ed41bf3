"""Hostile and malformed input files, given to the real command lines.

Each case writes one bad file (a sweep, an inventory, an SSH config, an analysis config) and
runs ``agent run``, ``collector run`` or ``collector analyze`` on it in a child process whose address space is capped (RLIMIT_AS) at
512 MiB: the answer must be exit status 2 and one line on stderr naming the file and the
field, and nothing may be written anywhere (output folder, working folder, home). The
child's wall-clock timeout is only a guard against a hang, not a speed assertion.

The cases are the reliability issue's findings (a traceback, a hang, 3 GB of memory or a
4 MB message before) and their neighbours; ``HANDLED`` counts them for the catalogue.
"""
from __future__ import annotations

import os
import random
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from shared.errors import MAX_MESSAGE_CHARS

MEMORY_CAP_BYTES = 512 << 20  # the CLI fails a bad file in < 150 MiB; the alias bomb took 3.1 GB
HANG_GUARD_S = 120
GOOD_SWEEP = {"name": "hostile", "dataset": {"name": "synthetic", "samples": 8}, "models": ["lenet5"],
              "methods": ["l1_unstructured"], "ratios": [0.0], "batch_sizes": [1]}
GOOD = yaml.safe_dump(GOOD_SWEEP, sort_keys=False)
LOCAL_INVENTORY = "hosts:\n  - {name: here, transport: local}\n"
SSH_INVENTORY = "hosts:\n  - {name: pi, address: pi}\n"
# 9 x 9 ... aliases: a few hundred bytes that expand to 9^9 = 387 million values
BILLION_LAUGHS = "".join([
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n',
    *(f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi")),
])


def sweep(**change: object) -> str:
    return yaml.safe_dump({**GOOD_SWEEP, **change}, sort_keys=False)


# the same, as the items of one flow list: inside a key the file may have
LAUGHS = ["&a [0,0,0,0,0,0,0,0,0]", *(f"&{n} [{','.join([f'*{p}'] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi"))]


def bomb_in(key: str) -> str:
    """The billion laughs inside a key the sweep reads, so that it is expanded if anything is."""
    return GOOD.replace(f"{key}:\n- 0.0\n", f"{key}: [{', '.join(LAUGHS)}]\n")


def elf_head() -> bytes:
    return Path(sys.executable).resolve().read_bytes()[:65536]  # a real binary


@dataclass(frozen=True)
class Case:
    content: str | bytes | Callable[[Path], str | bytes | None]  # a callable gets the path to make
    field: str    # what the line must say after the file name: the field or place
    message: str  # and the problem


SWEEPS = {
    "latin-1 sweep": Case(GOOD.replace("hostile", "caf\xe9").encode("latin-1"), "line 1, byte offset 9",
                          "not UTF-8 text (byte 0xe9)"),
    "random bytes": Case(b"name: x\n" + random.Random(0).randbytes(4096), "line ", "not UTF-8 text"),
    "a binary (ELF)": Case(lambda _: elf_head(), "byte offset", "not UTF-8 text"),
    "UTF-16 with BOM": Case(GOOD.encode("utf-16"), "line 1, byte offset 0", "not UTF-8 text (byte 0xff)"),
    "nested 20,000 deep": Case("[" * 20000 + "]" * 20000, "line 1, column", "nest"),
    "block-nested 200 deep": Case("".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "x: 1\n",
                                  "line ", "nested more than 100 levels deep"),
    "billion laughs (467 bytes)": Case(BILLION_LAUGHS, "line ", "alias bomb"),
    "billion laughs in ratios": Case(bomb_in("ratios"), "line ", "alias bomb"),
    "alias inside itself": Case(GOOD.replace("ratios:\n- 0.0\n", "ratios: &r [0.5, *r]\n"), "line ",
                                "an alias refers to the value it is part of"),
    "ratio .nan": Case(GOOD.replace("- 0.0", "- .nan"), "ratios[0]", "expected a finite number, got nan"),
    "ratio .inf": Case(GOOD.replace("- 0.0", "- .inf"), "ratios[0]", "expected a finite number, got inf"),
    "trial_timeout_s .inf": Case(GOOD + "trial_timeout_s: .inf\n", "trial_timeout_s", "finite"),
    "timing.max_time_s -.inf": Case(GOOD + "timing: {max_time_s: -.inf}\n", "timing.max_time_s", "finite"),
    "batch size 10^11": Case(sweep(batch_sizes=[10**11]), "batch_sizes[0]", "100000000000 is larger than 2147483647"),
    "integer of 5,000 digits": Case(GOOD + "seed: 1" + "0" * 5000 + "\n", "line ", "4300 digits"),
    "name given twice": Case(GOOD + "name: other\n", f"line {GOOD.count(chr(10)) + 1}, column 1",
                             "key 'name' given twice"),
    "name ../../x": Case(sweep(name="../../x"), "name", "not a plain name"),
    "name absolute path": Case(sweep(name="/tmp/elsewhere"), "name", "not a plain name"),
    "name [/] (rich markup)": Case(sweep(name="[/]"), "name", "not a plain name"),
    "ratios 0 and 0.0": Case(sweep(ratios=[0, 0.0]), "ratios[1]", "0.0 is ratios[0] again"),
    "method by name and as a mapping": Case(
        sweep(methods=["l1_unstructured", {"name": "l1_unstructured"}]), "methods[1]", "is methods[0] again"),
    "method options in another order": Case(
        sweep(methods=[{"name": "l1_unstructured", "scope": "global", "n": 1},
                       {"n": 1, "scope": "global", "name": "l1_unstructured"}]), "methods[1]", "again"),
    "16 MB sweep": Case(lambda _: b"name: x\n" + b"# padding\n" * ((16 << 20) // 10) + b"bogus: 1\n",
                        "", "sweep file over the 1 MiB limit"),
    "!!python/object tag": Case(GOOD + "seed: !!python/object/apply:os.system ['touch pwned']\n",
                                "line ", "could not determine a constructor"),
    "NUL byte": Case(GOOD + "seed: 1\x00\n", f"line {GOOD.count(chr(10)) + 1}, column 8",
                     "control characters are not allowed"),
    "dataset root with NUL": Case(sweep(dataset={"name": "cifar10", "root": "a\0b"}), "dataset.root",
                                  "expected a path"),
    "dataset root of 100 KB": Case(sweep(dataset={"name": "cifar10", "root": "d" * 100_000}), "dataset.root",
                                   "expected a path"),
    "a model name of 1 MB": Case(sweep(models=["x" * 900_000]), "models[0]", "unknown model 'xxx"),
    "undefined alias": Case(GOOD.replace("- 0.0", "- *nothing"), "line ", "undefined alias"),
    "a directory": Case(lambda path: path.mkdir(), "", "cannot read sweep file: Is a directory"),
}

INVENTORIES = {
    "latin-1 inventory": Case("hosts:\n  - {name: caf\xe9, transport: local}\n".encode("latin-1"),
                              "line 2, byte offset 21", "not UTF-8 text (byte 0xe9)"),
    "random bytes": Case(random.Random(1).randbytes(4096), "byte offset", "not UTF-8 text"),
    "billion laughs": Case(f"defaults:\n  tags: [{', '.join(LAUGHS)}]\n" + LOCAL_INVENTORY, "line ",
                           "alias bomb"),
    "nested 20,000 deep": Case("hosts: " + "[" * 20000 + "]" * 20000, "line 1, column", "nest"),
    "host field given twice": Case("hosts:\n  - {name: a, transport: local, name: b}\n", "line 2",
                                   "key 'name' given twice"),
    "host named fleet.duckdb": Case("hosts:\n  - {name: fleet.duckdb, transport: local}\n",
                                    "hosts[0] (fleet.duckdb): name", "a file the collector writes"),
    "host named fleet.json": Case("hosts:\n  - {name: fleet.json, transport: local}\n",
                                  "hosts[0] (fleet.json): name", "a file the collector writes"),
    "host named Results.Parquet": Case("hosts:\n  - {name: Results.Parquet, transport: local}\n",
                                       "hosts[0] (Results.Parquet): name", "a file the collector writes"),
    "hosts Pi and pi": Case("hosts:\n  - {name: Pi, transport: local}\n  - {name: pi, transport: local}\n",
                            "hosts[1] (pi): name", "would share one results folder"),
    "relative workdir": Case("hosts:\n  - {name: a, transport: local, workdir: edgeprune}\n",
                             "hosts[0] (a): workdir", "must be an absolute path or start with ~/"),
    "relative venv": Case("defaults: {venv: venvs/edge}\n" + LOCAL_INVENTORY, "defaults: venv",
                          "must be an absolute path or start with ~/"),
    "Ansible range of 10^8 hosts": Case("all:\n  hosts:\n    pi-[1:100000000]:\n", "all.hosts",
                                        "more than 100,000 hosts"),
    "Ansible range with step 0": Case("all:\n  hosts:\n    pi-[1:9:0]:\n", "all.hosts", "cannot expand host range"),
    "Ansible group cycle": Case("all:\n  children:\n    a: {children: {b: {children: {a: {hosts: {x: }}}}}}\n",
                                "group a", "is its own descendant (a -> b -> a)"),
    "port .nan": Case("hosts:\n  - {name: a, address: a, port: .nan}\n", "hosts[0] (a): port",
                      "expected an integer in 1..65535, got nan"),
    "16 MB inventory": Case(lambda _: LOCAL_INVENTORY.encode() + b"#" * (16 << 20), "",
                            "inventory file over the 1 MiB limit"),
    "!!python/object tag": Case("hosts: !!python/object/apply:os.system ['touch pwned']\n", "line 1",
                                "could not determine a constructor"),
    "a binary (ELF)": Case(lambda _: elf_head(), "byte offset", "not UTF-8 text"),
}

ANALYSIS_CONFIGS = {
    "latin-1 config": Case("thresholds: {high_pruning_ratio: 0.3}  # caf\xe9\n".encode("latin-1"),
                           "line 1, byte offset 44", "not UTF-8 text"),
    "billion laughs": Case(BILLION_LAUGHS, "line ", "alias bomb"),
    "threshold .nan": Case("thresholds: {high_pruning_ratio: .nan}\n", "thresholds.high_pruning_ratio",
                           "wants float, got nan"),
    "section given twice": Case("budgets: {}\nbudgets: {}\n", "line 2, column 1", "key 'budgets' given twice"),
    "a question without its fields": Case("questions: [{}]\n", "questions[0].name", "missing (required)"),
    "16 MB config": Case(lambda _: b"#" * (16 << 20), "", "analysis config over the 1 MiB limit"),
}


def _include_fanout(me: Path) -> str:
    """Each file includes itself three times: 3^16 reads without a bound."""
    return f"Include {me} {me} {me}\nHost pi\n  HostName 10.0.0.1\n"


SSH_CONFIGS = {
    "ProxyCommand": Case("Host pi\n  HostName 10.0.0.1\n  ProxyCommand nc -X connect -x proxy:3128 %h %p\n",
                         "Host pi", "ProxyCommand is not supported"),
    "ProxyCommand from Host *": Case("Host pi\n  HostName 10.0.0.1\nHost *\n  ProxyCommand ssh -W %h:%p gw\n",
                                     "Host pi", "ProxyCommand is not supported"),
    "Include fan-out loop": Case(_include_fanout, "", "(a loop?)"),
    "16 MB config": Case(lambda _: b"Host pi\n" + b"#" * (16 << 20), "", "SSH config over the 1 MiB limit"),
    "Port 99999": Case("Host pi\n  Port 99999\n", "Host pi", "Port '99999' is not a port number"),
    "unparsable line": Case("Host pi\n  HostName\n", "", "cannot parse SSH config"),
    # found by fuzzing paramiko's SSHConfig: a ValueError, a KeyError, a RuntimeError before
    "an unclosed quote in Match": Case('Match host "pi\n  HostName 10.0.0.1\n', "",
                                       "cannot parse SSH config: No closing quotation"),
    "CanonicalizeHostname alone": Case("Host pi\n  CanonicalizeHostname yes\n", "Host pi",
                                       "cannot apply SSH config: KeyError: 'canonicaldomains'"),
    "Include ~nosuchuser/": Case("Include ~nosuchuser-edgeprune/cfg\nHost pi\n  HostName 10.0.0.1\n",
                                 "", "Include '~nosuchuser-edgeprune/cfg': Could not determine home directory"),
}


def collector_command() -> list[str]:
    """The installed console script, as users run it (the module where it is not installed)."""
    script = Path(sys.executable).parent / "collector"
    return [str(script)] if script.exists() else [sys.executable, "-m", "collector.cli"]


def _cap_memory(limit: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


MATPLOTLIB_CACHE = "matplotlib-cache"  # its font list, made on first import by dowhy: not ours


def snapshot(root: Path) -> set[tuple[str, int]]:
    return {(str(p.relative_to(root)), p.stat().st_size if p.is_file() else -1) for p in root.rglob("*")
            if not p.relative_to(root).parts[0] == MATPLOTLIB_CACHE}


class Sandbox:
    """A private HOME and working folder; every run must leave the whole tree as it found it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home, self.cwd, self.inputs = root / "home", root / "cwd", root / "in"
        for folder in (self.home, self.cwd, self.inputs):
            folder.mkdir()
        self.out = root / "out"

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.inputs / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    def bad_file(self, case: Case) -> Path:
        path = self.inputs / "input"
        content = case.content(path) if callable(case.content) else case.content
        return path if content is None else self.write("input", content)

    def run(self, argv: list[str], memory_cap_bytes: int = MEMORY_CAP_BYTES,
            extra_env: dict[str, str] | None = None) -> tuple[int, list[str]]:
        before = snapshot(self.root)
        env = {**os.environ, "HOME": str(self.home), "EDGEPRUNE_CACHE": str(self.home / "cache"),
               "MPLCONFIGDIR": str(self.root / MATPLOTLIB_CACHE), "COLUMNS": "200", **(extra_env or {})}
        done = subprocess.run(argv, cwd=self.cwd, env=env, capture_output=True, text=True,
                              timeout=HANG_GUARD_S, preexec_fn=_cap_memory(memory_cap_bytes))
        assert snapshot(self.root) == before, "a refused input wrote something"
        return done.returncode, done.stderr.strip().splitlines()


def assert_one_line(rc: int, lines: list[str], prog: str, path: Path, case: Case) -> None:
    assert rc == 2, lines[-5:]
    assert len(lines) == 1, lines[-5:]
    line = lines[0]
    assert len(line) <= MAX_MESSAGE_CHARS + 40
    assert line.startswith(f"{prog}: error: {path}: "), line
    assert case.field in line and case.message in line, line


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


@pytest.mark.parametrize("case", SWEEPS.values(), ids=SWEEPS.keys())
def test_a_bad_sweep_file_is_one_line_for_the_agent(box: Sandbox, case: Case) -> None:
    path = box.bad_file(case)
    rc, lines = box.run([sys.executable, "-m", "agent.cli", "run", "--sweep", str(path), "--out", str(box.out)])
    assert_one_line(rc, lines, "agent", path, case)


@pytest.mark.parametrize("case", SWEEPS.values(), ids=SWEEPS.keys())
def test_a_bad_sweep_file_is_one_line_for_the_collector(box: Sandbox, case: Case) -> None:
    path = box.bad_file(case)
    hosts = box.write("hosts.yml", LOCAL_INVENTORY)
    rc, lines = box.run([*collector_command(), "run", "--no-deploy", "--hosts", str(hosts), "--sweep", str(path),
                         "--out", str(box.out)])
    assert_one_line(rc, lines, "collector", path, case)


@pytest.mark.parametrize("case", INVENTORIES.values(), ids=INVENTORIES.keys())
def test_a_bad_inventory_is_one_line(box: Sandbox, case: Case) -> None:
    path = box.bad_file(case)
    good = box.write("sweep.yml", GOOD)
    rc, lines = box.run([*collector_command(), "run", "--no-deploy", "--hosts", str(path), "--sweep", str(good),
                         "--out", str(box.out)])
    assert_one_line(rc, lines, "collector", path, case)


# configs ssh -G reads without complaint: the reference accepts them, so the collector does too
OPENSSH_READS = [SSH_CONFIGS[name] for name in SSH_CONFIGS
                 if name.startswith(("16 MB", "CanonicalizeHostname", "Include ~nosuchuser"))]


@pytest.mark.parametrize("reader", ["paramiko", "ssh -G"])
@pytest.mark.parametrize("case", SSH_CONFIGS.values(), ids=SSH_CONFIGS.keys())
def test_a_bad_ssh_config_is_one_line(box: Sandbox, case: Case, reader: str) -> None:
    """Both readers of an ssh config: paramiko's (the fallback, with its own messages checked)
    and OpenSSH's own ``ssh -G`` where ssh is installed (its wording is OpenSSH's)."""
    if reader == "ssh -G" and not shutil.which("ssh"):
        pytest.skip("no OpenSSH client (ssh) on this machine")
    if reader == "ssh -G" and case in OPENSSH_READS:
        pytest.skip("OpenSSH itself reads this config (ssh -G accepts it); only paramiko's fallback refuses it")
    path = box.bad_file(case)
    hosts = box.write("hosts.yml", SSH_INVENTORY)
    good = box.write("sweep.yml", GOOD)
    rc, lines = box.run([*collector_command(), "run", "--no-deploy", "--hosts", str(hosts), "--ssh-config", str(path),
                         "--sweep", str(good), "--out", str(box.out)],
                        extra_env={"EDGEPRUNE_SSH_CONFIG": "paramiko" if reader == "paramiko" else "openssh"})
    if reader == "paramiko":
        assert_one_line(rc, lines, "collector", path, case)
    else:
        assert rc == 2 and len(lines) == 1 and lines[0].startswith("collector: error: "), lines[-5:]


GRAPHS = {
    "latin-1 graph": Case("digraph { target_ratio -> top1; }  // caf\xe9\n".encode("latin-1"),
                          "line 1, byte offset 41", "not UTF-8 text"),
    "1 MiB graph": Case(lambda _: b"digraph {\n" + b"  a -> b;\n" * 100_000 + b"}\n", "",
                        "graph file over the 64 KiB limit"),
}


# results.jsonl of a host (any host may send anything) given to `collector report`
RESULTS = {
    "random bytes": Case(random.Random(2).randbytes(4096) + b"\n", "", "not a results file"),
    "a line nested 100,000 deep": Case("[" * 100_000 + "\n", "", "line 1: nested too deep"),
    "a line that is a number": Case("5\n", "", "line 1: expected a JSON object"),
    "a line that is a list": Case("[1, 2]\n", "", "line 1: expected a JSON object"),
    "an unknown schema version": Case('{"schema_version": 99}\n', "", "row has schema_version 99"),
}


def results_folder(box: Sandbox) -> Path:
    """A results folder with real rows, as an old edgeprune wrote them."""
    results = box.inputs / "results"
    results.mkdir()
    fixture = Path(__file__).parents[1] / "fixtures" / "results_v1.jsonl"
    (results / "results.jsonl").write_bytes(fixture.read_bytes())
    return results


@pytest.mark.parametrize("case", ANALYSIS_CONFIGS.values(), ids=ANALYSIS_CONFIGS.keys())
def test_a_bad_analysis_config_is_one_line(box: Sandbox, case: Case) -> None:
    path = box.bad_file(case)
    rc, lines = box.run([*collector_command(), "analyze", "--results", str(results_folder(box)), "--config", str(path),
                         "--out", str(box.out / "analysis.json")])
    assert_one_line(rc, lines, "collector", path, case)


@pytest.mark.parametrize("case", GRAPHS.values(), ids=GRAPHS.keys())
def test_a_bad_graph_file_is_one_line(box: Sandbox, case: Case) -> None:
    path = box.bad_file(case)  # read after DoWhy is imported: that takes more than 512 MiB itself
    rc, lines = box.run([*collector_command(), "analyze", "--results", str(results_folder(box)), "--graph", str(path),
                         "--out", str(box.out / "analysis.json")], memory_cap_bytes=2 << 30)
    assert_one_line(rc, lines, "collector", path, case)


@pytest.mark.parametrize("case", RESULTS.values(), ids=RESULTS.keys())
def test_a_bad_results_file_is_one_line(box: Sandbox, case: Case) -> None:
    folder = box.inputs / "results"
    folder.mkdir()
    path = folder / "results.jsonl"
    path.write_bytes(case.content.encode() if isinstance(case.content, str) else case.content)  # type: ignore[union-attr]
    rc, lines = box.run([*collector_command(), "report", "--results", str(folder), "--out", str(box.out / "r.html")],
                        memory_cap_bytes=2 << 30)  # pandas and matplotlib are imported first
    assert_one_line(rc, lines, "collector", path, case)


def test_a_run_name_that_is_rich_markup_is_printed_as_it_is(box: Sandbox) -> None:
    # "[/]" closes no tag: rich raised MarkupError from the table's title
    hosts = box.write("hosts.yml", LOCAL_INVENTORY)
    done = subprocess.run([*collector_command(), "status", "--hosts", str(hosts), "--name", "[/]"], cwd=box.cwd,
                          env={**os.environ, "HOME": str(box.home), "COLUMNS": "200"}, capture_output=True,
                          text=True, timeout=HANG_GUARD_S, preexec_fn=_cap_memory(MEMORY_CAP_BYTES))
    assert done.returncode == 0 and not done.stderr, done.stderr[-2000:]
    assert "run '[/]'" in done.stdout and "here" in done.stdout


# A command whose optional packages are absent: the module is hidden from the real CLI
# (sys.modules[name] = None makes its import fail as a missing package does).
HIDDEN = """import sys
for name in sys.argv[1].split(','):
    sys.modules[name] = None
from collector.cli import main
sys.exit(main(sys.argv[2:]))
"""
MISSING = {
    "collector run without paramiko": ("paramiko", "run", SSH_INVENTORY, "collector run", "collector"),
    "collector run without duckdb": ("duckdb", "run", LOCAL_INVENTORY, "collector run", "collector"),
    "collector run without pandas": ("pandas", "run", LOCAL_INVENTORY, "collector run", "collector"),
    "collector analyze without dowhy": ("dowhy", "analyze", None, "collector analyze", "analysis"),
    "collector analyze without pandas": ("pandas", "analyze", None, "collector analyze", "analysis"),
    "collector report without matplotlib": ("matplotlib", "report", None, "the report", "analysis"),
}


@pytest.mark.parametrize(("module", "command", "inventory", "what", "extra"), MISSING.values(), ids=MISSING.keys())
def test_a_missing_optional_package_names_its_extra(box: Sandbox, module: str, command: str,
                                                    inventory: str | None, what: str, extra: str) -> None:
    if inventory is not None:
        args = ["--no-deploy", "--hosts", str(box.write("hosts.yml", inventory)),
                "--sweep", str(box.write("sweep.yml", GOOD)), "--out", str(box.out)]
    else:
        args = ["--results", str(results_folder(box)), "--out", str(box.out / "x")]
    rc, lines = box.run([sys.executable, "-c", HIDDEN, module, command, *args])
    assert rc == 2 and len(lines) == 1, lines[-5:]
    assert lines[0] == (f"collector: error: {what} needs module {module!r}, which is not installed here "
                        f"(pip install 'edgeprune[{extra}]' brings it)")


HANDLED = (len(SWEEPS) * 2 + len(INVENTORIES) + len(SSH_CONFIGS) + len(ANALYSIS_CONFIGS) + len(GRAPHS)
           + len(RESULTS) + len(MISSING))
