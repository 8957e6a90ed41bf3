"""What every fleet command (run, deploy, status, fetch) shares: the inventory and SSH
options, one transport a host, and running a function on every host with a bound."""
from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from rich.console import Console

from collector.fleet.transport import TRANSPORTS, Transport
from shared.errors import UserError, no_space
from shared.inventory import Host, Inventory, load_inventory

T = TypeVar("T")
DEFAULT_PARALLEL = 16


def add_fleet_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hosts", type=Path, metavar="INVENTORY", required=True,
                        help="inventory: the project's own YAML (see deploy/inventory.example.yml) or an "
                             "Ansible inventory, INI or YAML, with group_vars/ and host_vars/ beside it "
                             "(`collector hosts` shows what the collector makes of it)")
    parser.add_argument("--limit", metavar="NAMES",
                        help="only these hosts: comma-separated host names or group/tag names")
    parser.add_argument("--parallel", type=int, default=DEFAULT_PARALLEL, metavar="N",
                        help=f"at most N hosts at once (default {DEFAULT_PARALLEL})")
    ssh = parser.add_argument_group("SSH")
    ssh.add_argument("--known-hosts", type=Path, metavar="FILE",
                     help="a project known_hosts file, read beside ~/.ssh/known_hosts; keys accepted "
                          "with --accept-new-host-keys are recorded here (default: ~/.ssh/known_hosts)")
    ssh.add_argument("--accept-new-host-keys", action="store_true",
                     help="trust a host key seen for the first time and record it (trust on first "
                          "use); without it an unknown key is refused. A changed key is always refused")
    ssh.add_argument("--ssh-config", type=Path, metavar="FILE",
                     help="OpenSSH client config for host aliases (default: ~/.ssh/config)")
    ssh.add_argument("--connect-timeout", type=float, default=10.0, metavar="SECONDS",
                     help="give up connecting to a host after this long (default 10)")
    ssh.add_argument("--io-timeout", type=float, default=30.0, metavar="SECONDS",
                     help="a command or file read on a connected host that takes longer means the "
                          "link is down: reconnect (default 30)")


def selected_hosts(args: argparse.Namespace) -> Inventory:
    if args.parallel < 1:
        raise UserError("must be at least 1", field="--parallel")
    for name in ("connect_timeout", "io_timeout"):
        if getattr(args, name) <= 0:
            raise UserError("must be a positive number of seconds", field=f"--{name.replace('_', '-')}")
    inventory = load_inventory(args.hosts)
    limit = [part.strip() for part in args.limit.split(",") if part.strip()] if args.limit else None
    selected = inventory.select(limit)
    if any(not host.is_local for host in selected):
        from collector.fleet.sshconfig import resolve  # paramiko: only when a host needs SSH

        for host in selected:  # a broken ~/.ssh/config entry is a one-line error now, not mid-run
            if not host.is_local:
                resolve(host, args.ssh_config)
    return selected


def transport_factory(args: argparse.Namespace, hosts: Inventory,
                      log: Callable[[str], None]) -> Callable[[Host], Transport]:
    """A new, unconnected transport for a host (one a thread: paramiko clients are not shared)."""
    options = None
    if any(not host.is_local for host in hosts):  # paramiko is imported only when a host needs SSH
        from collector.fleet.transport.ssh import SshOptions
        options = SshOptions(known_hosts=args.known_hosts, accept_new_host_keys=args.accept_new_host_keys,
                             ssh_config=args.ssh_config, connect_timeout_s=args.connect_timeout,
                             io_timeout_s=args.io_timeout, log=log)

    def make(host: Host) -> Transport:
        cls = TRANSPORTS.get(host.transport)
        return cls(host) if host.is_local else cls(host, options)

    return make


def on_every_host(hosts: Sequence[Host], work: Callable[[Host], T], parallel: int) -> list[T]:
    """``work`` on every host, at most ``parallel`` at once; results in the hosts' order."""
    with ThreadPoolExecutor(max_workers=min(parallel, max(1, len(hosts))), thread_name_prefix="host") as pool:
        return list(pool.map(work, hosts))


def claim_out(out: Path) -> None:
    """Make ``--out`` and hold it for this collector: a second one on the same folder would
    interleave rows into the same host files and fight over fleet.duckdb; it gets one line
    naming this one's pid and machine."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        from shared.outlock import lock_folder

        lock_folder(out, "collector", ".collector.lock")
    except OSError as exc:
        full = no_space(exc, out)
        if full is not None:
            raise full from None
        raise UserError(f"cannot use {str(out)!r}: {exc.strerror or exc}", field="--out") from None


def console_log(console: Console) -> Callable[[str], None]:
    def log(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)
    return log
