"""The sweep one host runs: the fleet's sweep with that host's overrides from the inventory
(backends, devices, batch sizes), checked here before anything is sent."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shared.inventory import Host
from shared.resultsdir import ResultsFolder
from shared.sweep import Sweep, parse_sweep


def host_sweep(data: dict[str, Any], source: Path, host: Host) -> tuple[Sweep, bytes]:
    """The host's sweep and the YAML sent to it."""
    overrides = {"backends": host.backends, "devices": host.devices, "batch_sizes": host.batch_sizes}
    mine = {**data, **{k: list(v) for k, v in overrides.items() if v}}
    sweep = parse_sweep(mine, source=f"{source} with the inventory's overrides for host {host.name!r}")
    return sweep, yaml.safe_dump(mine, sort_keys=False).encode()


def agent_args(host: Host, artifacts: str | None, build_missing: bool = False) -> list[str]:
    """``agent run`` arguments, relative to the host's run folder. ``artifacts``: the host's
    store, pushed to (``build_missing`` False) or built into by the agent, once for every
    inventory name on that machine (``build_missing`` True)."""
    args = ["--sweep", "../sweep.yml", "--out", ".", "--events", ResultsFolder.EVENTS, "--host-name", host.name]
    if host.mem_limit:
        args += ["--mem-limit", host.mem_limit]
    if host.profile is not None:
        args += ["--profile", host.profile.to_json()]
    if artifacts:
        args += ["--artifacts", artifacts]
    if artifacts and build_missing:
        args.append("--build-missing")
    return args
