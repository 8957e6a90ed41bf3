"""P4: the collector's orchestration: one sweep on 8 hosts vs on 1 host, wall-time ratio.

    .venv/bin/python benchmarks/bench_fleet.py [--hosts 8] [--repeats 2]    (root: network namespaces)

Every host is a real OpenSSH sshd in a network namespace of its own (tests/sshhosts.py) running
this checkout's agent on prebuilt artifacts with onnxruntime (light trials: LeNet-5, batch 1
and 2, a few repetitions), so the figure is about the collector (connect, push, start, stream,
fetch, merge), not compute. All hosts share this machine's cores, so the agents' own start-up
and measuring CPU still adds up; the table says how much CPU the agents used, beside the
collector's own CPU time and peak memory per host. The 1-host and N-host runs alternate.
Goal: N-host wall / 1-host wall <= 1.2.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.fleet import (BIN, build_store, collector_env, fleet_sweep,  # noqa: E402
                                     ssh_host, write_inventory)
from tests.sshhosts import SshdHost, make_keypair, write_known_hosts  # noqa: E402


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores, every process: agents, sshd, ...)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run_collector(args: list[str], home: Path) -> tuple[float, float, float, int]:
    """Wall s, the collector's CPU s, its peak RSS MB, and its exit status."""
    started = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "collector"), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=collector_env(home))
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    console = Console()
    tmp = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    store = build_store(tmp)
    sweep = tmp / "fleet.yml"
    sweep.write_text(yaml.safe_dump({**fleet_sweep(min_time_s=0.02, batch_sizes=(1, 2)), "name": "bench"}))
    key = make_keypair(tmp / "client", "id_ed25519")
    hosts = [SshdHost(tmp / f"sshd-{i}", [key.public_line], netns=True).start() for i in range(args.hosts)]
    try:
        known = write_known_hosts(tmp / "known_hosts", hosts)
        results: dict[int, list[tuple[float, float, float]]] = {1: [], args.hosts: []}
        machine_cpu: dict[int, list[float]] = {1: [], args.hosts: []}
        for repeat in range(args.repeats):
            for n in (1, args.hosts):
                inventory = write_inventory(tmp / f"inv-{n}-{repeat}.yml", [
                    ssh_host(f"h{i}", h, key, tmp / f"work-{n}-{repeat}-{i}") for i, h in enumerate(hosts[:n])])
                busy = busy_cpu_s()
                wall, cpu, rss, code = run_collector(
                    ["run", "--hosts", str(inventory), "--sweep", str(sweep), "--artifacts", str(store),
                     "--out", str(tmp / f"out-{n}-{repeat}"), "--known-hosts", str(known), "--no-deploy",
                     "--no-report", "--poll", "0.5", "--parallel", str(n)], tmp / "home")
                if code != 0:
                    raise SystemExit(f"collector run on {n} hosts exited {code}")
                results[n].append((wall, cpu, rss))
                machine_cpu[n].append(busy_cpu_s() - busy)
                console.print(f"repeat {repeat}: {n} host(s): {wall:.1f} s wall, collector {cpu:.2f} s CPU, "
                              f"{rss:.0f} MB peak RSS; machine busy {machine_cpu[n][-1]:.1f} CPU s")
    finally:
        for host in hosts:
            host.close()
    one = statistics.median(w for w, _, _ in results[1])
    many = statistics.median(w for w, _, _ in results[args.hosts])
    table = Table(title=f"P4: one sweep on {args.hosts} namespaced hosts vs 1 (median of {args.repeats})")
    cores = os.cpu_count() or 1
    for col in ("hosts", "wall s", "collector CPU s", "collector CPU s / host", "collector peak RSS MB",
                "machine busy CPU s", f"CPU floor s (busy / {cores} cores)"):
        table.add_column(col, justify="right")
    for n in (1, args.hosts):
        wall = statistics.median(w for w, _, _ in results[n])
        cpu = statistics.median(c for _, c, _ in results[n])
        rss = max(r for _, _, r in results[n])
        busy = statistics.median(machine_cpu[n])
        table.add_row(str(n), f"{wall:.1f}", f"{cpu:.2f}", f"{cpu / n:.2f}", f"{rss:.0f}", f"{busy:.1f}",
                      f"{busy / cores:.1f}")
    console.print(f"machine: {os.cpu_count()} logical CPUs, load now {os.getloadavg()[0]:.2f}")
    console.print(table)
    console.print(f"ratio {args.hosts}-host / 1-host wall: {many / one:.2f} (goal <= 1.2)")
    floor = max(one, statistics.median(machine_cpu[args.hosts]) / cores)
    console.print(f"{args.hosts}-host wall / max(1-host wall, its CPU floor): {many / floor:.2f} "
                  f"(what orchestration adds beyond the cores every host shares here)")


if __name__ == "__main__":
    main()
