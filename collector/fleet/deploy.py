"""Getting the agent onto a host: build the project's wheel here, upload it over SFTP, make
or update a venv there, install it with the extras that host needs, check ``agent --version``.

A host whose venv already holds this very build (same version, same source digest, same
extras, recorded in a stamp file beside the venv) is skipped. ``transport: local`` with no
``venv`` in the inventory uses the collector's own environment and deploys nothing.
"""
from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from collector.fleet.hostlock import host_lock
from collector.fleet.transport import Transport, TransportError
from shared.errors import UserError
from shared.inventory import Host
from shared.version import MIN_PYTHON_LIGHT, __version__, min_python

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # collector/fleet/deploy.py: two folders down
SOURCE_PACKAGES = ("agent", "collector", "shared")
BUILD_FILES = ("pyproject.toml", "README.md")  # besides the packages: what pyproject.toml names
STAMP = ".edgeprune-deployed"


def remote_venv(host: Host, transport: Transport) -> str:
    """The absolute venv path on the host; for a local host without one, this collector's own."""
    if host.transport == "local" and not host.venv:
        return sys.prefix
    return transport.path(host.venv_path)


def agent_command(host: Host, transport: Transport) -> str:
    return shlex.quote(f"{remote_venv(host, transport)}/bin/agent")


@cache
def source_digest() -> str:
    """What the wheel is built from: every packaged source file and pyproject.toml."""
    digest = hashlib.sha256()
    files = [PROJECT_ROOT / "pyproject.toml"]
    for package in SOURCE_PACKAGES:
        files += sorted(p for p in (PROJECT_ROOT / package).rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Wheel:
    path: Path
    digest: str  # of the sources: a rebuilt wheel of the same sources has the same digest


@contextmanager
def built_wheel() -> Iterator[Wheel]:
    """``pip wheel`` of this checkout (no dependencies: the target's pip resolves those), alive
    for the ``with`` block: built in a temporary folder that is removed however the block ends.
    A failure is a one-line UserError: it concerns every host, before any is touched."""
    if not (PROJECT_ROOT / "pyproject.toml").exists():
        raise UserError(f"cannot build the agent's wheel: {PROJECT_ROOT} is not a source checkout "
                        f"(deploy from a checkout, or use the agents installed with --no-deploy)")
    with tempfile.TemporaryDirectory(prefix="edgeprune-wheel-") as tmp:
        source, out = _copy_sources(Path(tmp) / "source"), Path(tmp) / "wheel"
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out),
                               str(source)], capture_output=True, text=True)
        wheels = sorted(out.glob(f"edgeprune-{__version__}-*.whl"))
        if done.returncode != 0 or not wheels:
            raise UserError(f"building the agent's wheel failed: "
                            f"{' | '.join(done.stderr.strip().splitlines()[-3:])}")
        yield Wheel(wheels[-1], source_digest())


def _copy_sources(dest: Path) -> Path:
    """What the wheel is built from, copied: setuptools writes build/ and *.egg-info beside the
    sources, and packs what an old build/ holds (a module deleted since would ship). Built from a
    fresh copy, the wheel holds exactly the checkout's files and the checkout is never written."""
    dest.mkdir(parents=True)
    for name in BUILD_FILES:
        if (PROJECT_ROOT / name).is_file():
            shutil.copy2(PROJECT_ROOT / name, dest / name)
    for package in SOURCE_PACKAGES:
        shutil.copytree(PROJECT_ROOT / package, dest / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    return dest


def _stamp(wheel: Wheel, host: Host) -> str:
    return " ".join([__version__, wheel.digest, host.extras, *host.runtime])


def installed_version(host: Host, transport: Transport) -> str | None:
    """What ``agent --version`` prints there (``edgeprune agent X``), None without an agent."""
    done = transport.run(f"{agent_command(host, transport)} --version", timeout=120)
    return done.stdout.strip() if done.returncode == 0 else None


def check_version(host: Host, transport: Transport) -> None:
    found = installed_version(host, transport)
    if found != f"edgeprune agent {__version__}":
        raise TransportError(f"the agent at {remote_venv(host, transport)} is {found or 'missing'}, "
                             f"this collector is {__version__}: run `collector deploy` "
                             f"(or leave out --no-deploy)")


def check_python(host: Host, transport: Transport, venv: str) -> None:
    """The venv's Python (or the one that will make it) is new enough for the host's extras."""
    q = shlex.quote
    version = 'import sys; print("%d.%d" % sys.version_info[:2])'
    done = transport.run(f"p={q(f'{venv}/bin/python')}; [ -x \"$p\" ] || p={q(host.python)}; "
                         f"\"$p\" -c {q(version)}", timeout=120).check(f"running {host.python}")
    found = tuple(int(x) for x in done.stdout.strip().split("."))
    needed = min_python(host.extras)
    if found < needed:
        lighter = "" if needed == MIN_PYTHON_LIGHT else \
            f", or extras: agent (the light agent runs on {'.'.join(map(str, MIN_PYTHON_LIGHT))})"
        raise TransportError(f"Python {done.stdout.strip()} there is too old for edgeprune[{host.extras}], which "
                             f"needs {'.'.join(map(str, needed))}: set python: to a newer interpreter{lighter}")


def check_runtime(host: Host, transport: Transport, log=lambda text: None) -> None:
    """The installed torch can run the host's GPUs (else one line saying what to install);
    onnxruntime without a GPU provider on a GPU host is logged."""
    done = transport.run(f"{agent_command(host, transport)} info --runtime", timeout=300)
    try:
        support = json.loads(done.stdout)
    except ValueError:
        done.check("checking the runtimes (agent info --runtime)")
        raise TransportError(f"agent info --runtime printed no JSON: {done.stdout[-200:]!r}") from None
    for warning in support.get("warnings", []):
        log(warning)
    if support.get("problems"):
        raise TransportError(support["problems"][0])


def deploy(host: Host, transport: Transport, wheel: Wheel | None, pip_args: str = "",
           log=lambda text: None) -> bool:
    """Install the wheel on the host; False where the same build was already there."""
    venv = remote_venv(host, transport)
    if host.transport == "local" and not host.venv:
        check_version(host, transport)
        return False
    assert wheel is not None, "a host with its own venv needs the wheel"
    # two inventory names for one machine share its venv: one installs, the other waits and
    # then finds the stamp ("up to date")
    with host_lock(transport, f"{venv}.deploy-lock", host.name, log=log):
        return _install(host, transport, wheel, venv, pip_args, log)


def _install(host: Host, transport: Transport, wheel: Wheel, venv: str, pip_args: str, log) -> bool:
    stamp = f"{venv}/{STAMP}"
    want = _stamp(wheel, host)
    if transport.read_from(stamp, 0).decode(errors="replace").strip() == want and \
            installed_version(host, transport) == f"edgeprune agent {__version__}":
        return False
    check_python(host, transport, venv)  # before uploading anything
    wheels = transport.path(f"{host.workdir.rstrip('/')}/wheels")
    transport.run(f"mkdir -p {shlex.quote(wheels)}").check("making the wheel folder")
    remote_wheel = f"{wheels}/{wheel.path.name}"
    log(f"uploading {wheel.path.name}")
    transport.put(wheel.path, remote_wheel)
    q = shlex.quote
    py = q(f"{venv}/bin/python")
    log(f"installing edgeprune[{host.extras}] into {venv}")
    # a venv without pip (python -m venv stopped at ensurepip: no python3-venv on Debian/Ubuntu)
    # is made again, which adds pip and keeps what is there
    transport.run(f"{py} -m pip --version >/dev/null 2>&1 || {q(host.python)} -m venv {q(venv)}",
                  timeout=300).check(f"making a venv with {host.python}")
    # the extras pull the dependencies; a second, forced install of the wheel alone replaces
    # an older build of the same version (pip would keep it otherwise)
    extra_args = " ".join(q(a) for a in shlex.split(pip_args))  # e.g. --index-url, --find-links
    transport.run(f"{py} -m pip install --quiet --disable-pip-version-check {extra_args} "
                  f"{q(f'{remote_wheel}[{host.extras}]')} && {py} -m pip install --quiet "
                  f"--disable-pip-version-check --force-reinstall --no-deps {q(remote_wheel)}",
                  timeout=1800).check(f"installing edgeprune[{host.extras}]")
    if host.runtime:  # after the extras, so that the host's own build replaces PyPI's default
        log(f"installing the host's runtime: {' '.join(host.runtime)}")
        transport.run(f"{py} -m pip install --quiet --disable-pip-version-check {extra_args} "
                      f"{' '.join(q(a) for a in host.runtime)}", timeout=1800).check("installing runtime:")
    check_version(host, transport)
    check_runtime(host, transport, log)
    transport.run(f"printf '%s\\n' {q(want)} > {q(stamp)}").check("recording the deployed build")
    return True
