"""Real OpenSSH servers for tests: on loopback, or in a network namespace a test can cut off.

The collector drives devices over SSH with paramiko; a fake server would not show how it behaves
against the real thing (host-key checks, SFTP, sessions dying, a host dropping off the network).
Every host here is `/usr/sbin/sshd -D -e -f CONFIG` with its own config, host key, authorized
keys, pid file and log under a test directory, so several tests (and several engineers' runs on
one machine) never share state. Sessions log in as the user running the tests (root, for the
namespace flavour) on the same filesystem, so a remote command can use `REMOTE_PYTHON`.

Only loopback addresses and namespaces created here are ever targeted.

Fixtures (`ssh_client_key`, `sshd_loopback`, `sshd_netns`) are defined at the end; a conftest
makes them available to its directory with `from tests.sshhosts import ssh_client_key, ...`.
"""
from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, NamedTuple

import psutil
import pytest

if TYPE_CHECKING:
    import paramiko

SSHD = Path("/usr/sbin/sshd")
# The checkout under test and the interpreter running the tests: remote commands run on this very
# machine, so they can import the project from here without anything hardcoded.
REPO_ROOT = Path(__file__).resolve().parents[1]
REMOTE_PYTHON = Path(sys.executable)

# Namespaces, veths and subnets: one /30 per host out of 10.213.X.0/30. A lock and a record per
# host (owning test process, sshd pid, namespace) let parallel runs pick distinct subnets and let
# a later run remove what a killed run left behind (sshd is in its own session, so it outlives a
# SIGKILLed pytest), without touching anything it did not create.
NETNS_PREFIX = "ep-"
STATE_DIR = (Path("/run/edgeprune-sshhosts") if os.geteuid() == 0
             else Path(tempfile.gettempdir()) / f"edgeprune-sshhosts-{os.geteuid()}")
SUBNET_OCTET = "10.213"
# Metric of the guard route that keeps a host's /30 from ever falling through to the default route.
GUARD_METRIC = 4242

_used_loopback: set[str] = set()   # addresses handed out by this process


class KeyPair(NamedTuple):
    private_path: Path
    public_line: str


# What the `sshd_loopback` / `sshd_netns` fixtures return:
# `factory(*, authorized_keys=None, start=True, port=None, password_authentication=False) -> SshdHost`.
SshdFactory = Callable[..., "SshdHost"]


def make_keypair(dir: Path | str, name: str) -> KeyPair:
    """An unencrypted ed25519 key pair `dir/name` (+ `.pub`); unpacks as (private_path, public_line)."""
    dir = Path(dir)
    dir.mkdir(parents=True, exist_ok=True)
    path = dir / name
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)],
                       check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return KeyPair(path, path.with_name(path.name + ".pub").read_text().strip())


def sshd_missing() -> str | None:
    """Why a real sshd can't run here (a pytest skip reason), or None."""
    if not SSHD.is_file() or shutil.which("ssh-keygen") is None:
        return "openssh-server not installed"
    return None


def netns_missing() -> str | None:
    """Why namespace hosts can't run here (a pytest skip reason), or None."""
    if (reason := sshd_missing()) is not None:
        return reason
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip) for network namespaces"
    return None


def write_known_hosts(path: Path | str, hosts: Iterable[SshdHost]) -> Path:
    path = Path(path)
    path.write_text("".join(h.known_hosts_line() + "\n" for h in hosts))
    return path


def connect(host: SshdHost, key: KeyPair | Path | str, known_hosts: Path | str | None,
            *, timeout: float = 5.0, user: str | None = None) -> paramiko.SSHClient:
    """A paramiko client that trusts only `known_hosts` (RejectPolicy) and uses only `key`."""
    import paramiko

    client = paramiko.SSHClient()
    if known_hosts is not None:
        client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    key_path = key.private_path if isinstance(key, KeyPair) else key
    try:
        client.connect(host.address, port=host.port, username=user or _current_user(),
                       key_filename=str(key_path), look_for_keys=False, allow_agent=False,
                       timeout=timeout, banner_timeout=timeout, auth_timeout=timeout,
                       channel_timeout=timeout)
    except BaseException:
        client.close()
        raise
    return client


def _current_user() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def _pick_loopback() -> str:
    # 127.0.0.1 is left to everything else on the machine; a random N makes two runs at once
    # unlikely to share an address (they'd still differ by port).
    free = [n for n in range(2, 255) if f"127.0.0.{n}" not in _used_loopback]
    address = f"127.0.0.{random.choice(free)}"
    _used_loopback.add(address)
    return address


class SshdHost:
    """One sshd in `workdir`, on loopback (`netns=False`) or in its own network namespace.

    `authorized_keys`: public key lines allowed to log in. A namespace host listens on
    10.213.X.2 port 22 (a whole network stack of its own, as a device has); a loopback host on
    127.0.0.N and a free port. Use as a context manager or call `close()`: it kills sshd and every
    session, deletes the veth and the namespace.
    """

    def __init__(self, workdir: Path | str, authorized_keys: Iterable[str] | str, *,
                 netns: bool = False, address: str | None = None, port: int | None = None,
                 client_alive_interval: int = 2, password_authentication: bool = False) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        keys = [authorized_keys] if isinstance(authorized_keys, str) else list(authorized_keys)
        self.authorized_keys_path = self.workdir / "authorized_keys"
        self.authorized_keys_path.write_text("".join(k.strip() + "\n" for k in keys))
        self.host_key_path = make_keypair(self.workdir, "ssh_host_ed25519_key").private_path
        self.config_path = self.workdir / "sshd_config"
        self.home = self.workdir / "home"
        self.home.mkdir(exist_ok=True)
        self.pid_path = self.workdir / "sshd.pid"
        self.log_path = self.workdir / "sshd.log"
        self.netns: str | None = None
        self._record = STATE_DIR / f"{NETNS_PREFIX}{secrets.token_hex(3)}.json"  # replaced for netns
        self._veth_out: str | None = None
        self._veth_in: str | None = None
        self._subnet: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._closed = False
        self._client_alive_interval = client_alive_interval
        self._password_authentication = password_authentication
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        with open(STATE_DIR / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            _reap_stale()
        if netns:
            if address is not None:
                raise ValueError("a namespace host gets its address from the namespace's subnet")
            if (reason := netns_missing()) is not None:
                raise RuntimeError(reason)
            self._address = self._make_netns()
            self._port = port or 22
        else:
            if address is None:
                address = _pick_loopback()
            elif not ipaddress.ip_address(address).is_loopback:
                raise ValueError(f"loopback hosts only listen on 127.0.0.0/8, not {address}")
            self._address = address
            self._port = port or _free_port(address)
        self._write_config()

    # -- public API ---------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return self._address

    @property
    def port(self) -> int:
        return self._port

    @property
    def pid(self) -> int | None:
        """The listener's pid while running."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def known_hosts_line(self) -> str:
        key = self.host_key_path.with_name(self.host_key_path.name + ".pub").read_text().split()
        name = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{name} {key[0]} {key[1]}"

    def start(self, timeout: float = 10.0) -> SshdHost:
        if self._closed:
            raise RuntimeError("host is closed")
        if self.pid is not None:
            return self
        if os.geteuid() == 0:   # sshd as root insists on its privilege-separation dir
            Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        cmd = [str(SSHD), "-D", "-e", "-f", str(self.config_path)]
        if self.netns is not None:
            # `ip netns exec` execs sshd in place, so the Popen pid is the listener itself.
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                          start_new_session=True)
        self._save_record()
        # Ready once sshd logs that it listens (after listen(2)); read from the log rather than by
        # connecting, which would also work while the network is cut and adds no log noise.
        deadline = time.monotonic() + timeout
        needle = f"Server listening on {self.address} port {self.port}".encode()
        while True:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                if needle in f.read():
                    return self
            if self._proc.poll() is not None:
                self._proc = None
                raise RuntimeError(f"sshd exited at start:\n{self._log_tail(offset)}")
            if time.monotonic() > deadline:
                self._kill_tree()
                raise TimeoutError(f"sshd did not listen within {timeout}s:\n{self._log_tail(offset)}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Kill the listener and every session it spawned, as a crash or power cut would."""
        self._kill_tree()

    def restart(self, timeout: float = 10.0) -> SshdHost:
        """Stop then start: same host key, address and port; existing sessions die."""
        self.stop()
        return self.start(timeout)

    def cut_network(self) -> None:
        """The host drops off the network: packets to it vanish (clients time out, no RST).

        The namespace's end of the veth goes down, not the outer end: downing the outer end would
        delete the route to the /30 and send the packets out of the machine's default route.
        With the outer end merely losing carrier its route stays, and a permanent neighbour
        entry means no ARP failure either, so packets are silently dropped, as behind a router.
        """
        self._link("down")

    def restore_network(self) -> None:
        self._link("up")

    def close(self) -> None:
        """Idempotent teardown: sshd and sessions, the veth, the namespace."""
        if self._closed:
            return
        self._closed = True
        try:
            self._kill_tree()
        finally:
            if self.netns is not None:
                _remove_netns(self.netns, self._veth_out, self._subnet)
            self._record.unlink(missing_ok=True)

    def __enter__(self) -> SshdHost:
        try:
            return self.start()
        except BaseException:
            self.close()   # __exit__ won't run: the namespace must not outlive a failed start
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = f"netns {self.netns}" if self.netns else "loopback"
        return f"SshdHost({self.address}:{self.port}, {where}, pid={self.pid})"

    # -- internals ----------------------------------------------------------------------------
    def _write_config(self) -> None:
        def q(p: Path) -> str:
            return f'"{p}"'

        self.config_path.write_text("\n".join([
            f"Port {self.port}",
            f"ListenAddress {self.address}",
            f"HostKey {q(self.host_key_path)}",
            f"AuthorizedKeysFile {q(self.authorized_keys_path)}",
            f"PidFile {q(self.pid_path)}",
            "UsePAM no",
            # Test files live in world-readable temp dirs that StrictModes would reject.
            "StrictModes no",
            "PubkeyAuthentication yes",
            # on for tests that check what a client offers as a password (sshd logs each attempt)
            f"PasswordAuthentication {'yes' if self._password_authentication else 'no'}",
            "KbdInteractiveAuthentication no",
            "HostbasedAuthentication no",
            "GSSAPIAuthentication no",
            "PermitRootLogin prohibit-password",
            "Subsystem sftp internal-sftp",
            # Dead clients (a cut network) are noticed within seconds, not hours.
            f"ClientAliveInterval {self._client_alive_interval}",
            "ClientAliveCountMax 3",
            "LoginGraceTime 20",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "LogLevel VERBOSE",
            # A home of the host's own: the session's shell reads no ~/.bashrc of the machine's
            # user (this VM's runs `pyenv rehash`, which blocks on a lock that a session killed
            # by stop() can leave behind), and the agent's caches stay under the test's folder.
            f"SetEnv HOME={self.home}",
            "",
        ]))

    def _log_tail(self, offset: int = 0, n: int = 4000) -> str:
        try:
            data = self.log_path.read_bytes()[offset:]
        except OSError:
            return ""
        return data[-n:].decode(errors="replace")

    def _tree(self) -> list[psutil.Process]:
        procs: list[psutil.Process] = []
        if self._proc is not None:
            try:
                root = psutil.Process(self._proc.pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        if self.netns is not None:
            # Everything in the namespace is ours, including sessions whose listener is gone.
            out = _ip("netns", "pids", self.netns, check=False).stdout.split()
            for pid in map(int, out):
                try:
                    procs.append(psutil.Process(pid))
                except psutil.NoSuchProcess:
                    pass
        return procs

    def _kill_tree(self) -> None:
        # Sessions are children of the listener that call setsid() (so no process group to kill)
        # and set their title to "sshd: root@notty" (so the config path isn't in their command
        # line either). Freeze the whole tree first so nothing forks or reparents to init while
        # we collect it, then SIGKILL it.
        frozen: dict[int, psutil.Process] = {}
        for _ in range(50):
            new = [p for p in self._tree() if p.pid not in frozen]
            if not new:
                break
            for p in new:
                frozen[p.pid] = p
                try:
                    p.send_signal(signal.SIGSTOP)
                except psutil.NoSuchProcess:
                    pass
        for p in frozen.values():
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        if self._proc is not None:
            self._proc.wait(timeout=10)
            self._proc = None
        _wait_dead(frozen.values())
        if not self._closed:
            self._save_record()

    def _link(self, state: str) -> None:
        if self.netns is None or self._veth_in is None:
            raise RuntimeError("only a namespace host has a network to cut")
        _ip("-n", self.netns, "link", "set", self._veth_in, state)

    def _save_record(self) -> None:
        me = psutil.Process()
        record = {"owner": [me.pid, me.create_time()], "sshd": None, "netns": self.netns,
                  "veth": self._veth_out, "subnet": self._subnet}
        if self._proc is not None:
            try:
                record["sshd"] = [self._proc.pid, psutil.Process(self._proc.pid).create_time()]
            except psutil.NoSuchProcess:
                pass
        tmp = self._record.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(self._record)

    def _make_netns(self) -> str:
        with open(STATE_DIR / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            # Subnets in use here: on any interface (runs by hand, too) or as another run's guard.
            words = (_ip("-o", "-4", "addr", "show").stdout + _ip("-4", "route", "show").stdout).split()
            taken = {int(w.split(".")[2]) for w in words if w.startswith(SUBNET_OCTET + ".")}
            free = [x for x in range(1, 255) if x not in taken]
            if not free:
                raise RuntimeError(f"no free {SUBNET_OCTET}.X.0/30 subnet")
            x = random.choice(free)
            # Interface names are at most 15 characters: "ep-1a2b3c-out" is 13.
            ns = NETNS_PREFIX + secrets.token_hex(3)
            out, inner = f"{ns}-out", f"{ns}-in"
            subnet = f"{SUBNET_OCTET}.{x}.0/30"
            host = f"{SUBNET_OCTET}.{x}.2"
            self.netns, self._veth_out, self._veth_in, self._subnet = ns, out, inner, subnet
            self._record = STATE_DIR / f"{ns}.json"
            self._save_record()   # before creating anything, so a killed run is cleaned up
            try:
                # The guard first: whatever happens to the veth, this /30 is never routed out of
                # the machine (an unreachable route loses to the veth's connected route while
                # that exists, having a higher metric).
                _ip("route", "add", "unreachable", subnet, "metric", str(GUARD_METRIC))
                _ip("netns", "add", ns)
                _ip("link", "add", out, "type", "veth", "peer", "name", inner)
                _ip("link", "set", inner, "netns", ns)
                _ip("addr", "add", f"{SUBNET_OCTET}.{x}.1/30", "dev", out)
                _ip("link", "set", out, "up")
                _ip("-n", ns, "addr", "add", f"{host}/30", "dev", inner)
                _ip("-n", ns, "link", "set", inner, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
                mac = json.loads(_ip("-j", "-n", ns, "link", "show", inner).stdout)[0]["address"]
                # Permanent, so cutting the link loses no ARP entry: packets vanish silently.
                _ip("neigh", "replace", host, "lladdr", mac, "dev", out, "nud", "permanent")
            except subprocess.CalledProcessError as e:
                _remove_netns(ns, out, subnet)
                self._record.unlink(missing_ok=True)
                self.netns = self._veth_out = self._veth_in = self._subnet = None
                raise RuntimeError(f"could not create namespace {ns}: {e.stderr.strip()}") from e
        return host


def _wait_dead(procs: Iterable[psutil.Process], timeout: float = 10.0) -> None:
    # A killed session is reparented to pid 1, which may take a second to reap it; as a zombie it
    # holds no sockets or files any more, so it counts as gone (psutil.wait_procs would wait).
    deadline = time.monotonic() + timeout
    for p in procs:
        while time.monotonic() < deadline:
            try:
                if p.status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.01)


def _remove_netns(ns: str, veth_out: str | None, subnet: str | None) -> None:
    # Kill anything still inside first, or the namespace lingers until it exits.
    for pid in map(int, _ip("netns", "pids", ns, check=False).stdout.split()):
        try:
            psutil.Process(pid).kill()
        except psutil.NoSuchProcess:
            pass
    if veth_out:
        _ip("link", "del", veth_out, check=False)   # deletes the peer too
    _ip("netns", "del", ns, check=False)
    if subnet:
        _ip("route", "del", "unreachable", subnet, "metric", str(GUARD_METRIC), check=False)


def _same_process(pid_and_start: list[float] | None) -> psutil.Process | None:
    if not pid_and_start:
        return None
    try:
        p = psutil.Process(int(pid_and_start[0]))
        return p if p.create_time() == pid_and_start[1] else None   # not a reused pid
    except psutil.NoSuchProcess:
        return None


def _reap_stale() -> None:
    """Remove hosts recorded by test processes that no longer exist (killed mid-test).

    Called with the state lock held.
    """
    for record in STATE_DIR.glob(NETNS_PREFIX + "*.json"):
        try:
            info = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        if _same_process(info.get("owner")) is not None:
            continue
        if (sshd := _same_process(info.get("sshd"))) is not None:
            procs = [sshd, *sshd.children(recursive=True)]
            for p in procs:
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass
            _wait_dead(procs)
        if info.get("netns"):
            _remove_netns(info["netns"], info.get("veth"), info.get("subnet"))
        record.unlink(missing_ok=True)


# -- pytest fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def ssh_client_key(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """The tests' client key pair (private_path, public_line); authorized on every test host."""
    if (reason := sshd_missing()) is not None:
        pytest.skip(reason)
    return make_keypair(tmp_path_factory.mktemp("ssh-client"), "id_ed25519")


def _host_factory(tmp_path: Path, key: KeyPair, netns: bool) -> Iterator[SshdFactory]:
    hosts: list[SshdHost] = []

    def make(*, authorized_keys: Iterable[str] | None = None, start: bool = True,
             port: int | None = None, password_authentication: bool = False) -> SshdHost:
        kind = "netns" if netns else "lo"
        host = SshdHost(tmp_path / f"sshd-{kind}-{len(hosts)}",
                        authorized_keys if authorized_keys is not None else [key.public_line],
                        netns=netns, port=port, password_authentication=password_authentication)
        hosts.append(host)   # registered before start, so a failed start is torn down too
        return host.start() if start else host

    try:
        yield make
    finally:
        errors = []
        for host in reversed(hosts):
            try:
                host.close()
            except Exception as e:   # tear every host down even if one fails
                errors.append(e)
        if errors:
            raise errors[0]


@pytest.fixture
def sshd_loopback(tmp_path: Path, ssh_client_key: KeyPair) -> Iterator[SshdFactory]:
    """Factory `sshd_loopback(*, authorized_keys=None, start=True, port=None) -> SshdHost`:
    a started host on 127.0.0.N and a free port, authorizing `ssh_client_key` by default."""
    yield from _host_factory(tmp_path, ssh_client_key, netns=False)


@pytest.fixture
def sshd_netns(tmp_path: Path, ssh_client_key: KeyPair) -> Iterator[SshdFactory]:
    """Factory `sshd_netns(*, authorized_keys=None, start=True, port=None) -> SshdHost`: a
    started host alone in a network namespace (10.213.X.2, port 22) that `cut_network()` cuts."""
    if (reason := netns_missing()) is not None:
        pytest.skip(reason)
    yield from _host_factory(tmp_path, ssh_client_key, netns=True)
