"""The vocabulary of a host in an inventory: its fields, and one checker for each value.

Both inventory formats (shared/inventory.py, shared/inventory_ansible.py) read values
through :class:`FieldReader`, so a port or an identity file means the same in either and
every mistake is one :class:`UserError` naming the file, the host and the field.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared import catalog
from shared.errors import UserError, shown, unknown_name
from shared.profile import parse_profile
from shared.sizes import parse_size

TRANSPORTS = ("ssh", "local")
EXTRAS = ("full", "agent")
# What a host may set besides its name, in Host's order (tests check the two agree);
# the own format's defaults: and Ansible's edgeprune_<field> vars use the same names.
FIELD_KEYS = ("transport", "address", "port", "user", "identity_file", "password_env", "passphrase_env",
              "proxy_jump", "python", "workdir", "venv", "extras", "runtime", "backends", "devices", "batch_sizes",
              "mem_limit", "profile", "tags")
# Keys that would hold a password in the file itself; each is refused with a pointer to
# password_env, a key or ssh-agent (an inventory gets committed, copied and mailed around).
OWN_PASSWORD_KEYS = ("password", "passphrase")
# What OpenSSH's valid_hostname()/valid_ruser() refuse: an address or user goes into ssh
# config lookups (``Match exec`` expands %h into a shell command) and ``user@host`` strings.
_SSH_UNSAFE = re.compile(r"""[\s'`"$\\;&<>|(){}\x00-\x1f\x7f]""")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Jump:
    """One hop of a ProxyJump value, ``[ssh://][user@]host[:port]``, as written."""

    host: str
    user: str | None = None
    port: int | None = None


def parse_jumps(text: str) -> tuple[Jump, ...]:
    """``"user@jump:2222,bastion"`` -> its hops, first first; ValueError says what is wrong."""
    return tuple(_parse_jump(hop.strip()) for hop in text.split(",") if hop.strip())


def _parse_jump(text: str) -> Jump:
    user, _, rest = text.removeprefix("ssh://").rpartition("@")
    match = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?|([^:\[\]]+)(?::(\d+))?", rest)
    if match:
        name, port = match.group(1) or match.group(3), match.group(2) or match.group(4)
    elif rest.count(":") > 1:  # a bare IPv6 address: no port can be told apart
        name, port = rest, None
    else:
        raise ValueError(f"cannot read hop {shown(text)} (expected [user@]host[:port])")
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError(f"hop {shown(text)}: port {port} is outside 1..65535")
    return Jump(host=name, user=user or None, port=int(port) if port else None)


class Vaulted:
    """An ``!vault`` value: ansible-vault ciphertext, which edgeprune cannot decrypt."""


# Ansible's local tags, read by the inventory's YAML loader (shared.yamlfile)
ANSIBLE_TAGS = {
    "!vault": lambda loader, node: Vaulted(),
    "!unsafe": lambda loader, node: loader.construct_scalar(node),
}


class FieldReader:
    """Checks one host field's value; ``where`` is the field's path for the message."""

    def __init__(self, source: str, check_files: bool) -> None:
        self.source, self.check_files = source, check_files
        self.readers: dict[str, Callable[[Any, str], Any]] = {
            "transport": lambda v, w: self.choice(v, w, TRANSPORTS, "transport"),
            "address": self.ssh_word, "user": self.ssh_word,
            "port": self.port, "identity_file": self.identity_file,
            "password_env": self.env_name, "passphrase_env": self.env_name, "proxy_jump": self.proxy_jump,
            "python": self.text, "workdir": self.remote_folder, "venv": self.remote_folder,
            "extras": lambda v, w: self.choice(v, w, EXTRAS, "extras"),
            "runtime": lambda v, w: tuple(self.text(x, f"{w}[{i}]") for i, x in enumerate(self.items(v, w))),
            "backends": lambda v, w: tuple(self.choice(x, f"{w}[{i}]", catalog.BACKENDS, "backend")
                                           for i, x in enumerate(self.items(v, w))),
            "devices": lambda v, w: tuple(self.choice(x, f"{w}[{i}]", catalog.DEVICES, "device")
                                          for i, x in enumerate(self.items(v, w))),
            "batch_sizes": lambda v, w: tuple(self.positive_int(x, f"{w}[{i}]")
                                              for i, x in enumerate(self.items(v, w))),
            "mem_limit": self.mem_limit,
            "profile": lambda v, w: parse_profile(v, source=self.source, field=w),
            "tags": lambda v, w: tuple(self.text(x, f"{w}[{i}]") for i, x in enumerate(self.items(v, w))),
        }

    def fail(self, where: str, message: str) -> UserError:
        return UserError(message, source=self.source, field=where)

    def read(self, key: str, value: Any, where: str) -> Any:
        if isinstance(value, Vaulted):
            raise self.fail(where, "is encrypted with ansible-vault, which edgeprune cannot decrypt")
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            raise self.fail(where, f"{shown(value)} is a Jinja template, which edgeprune does not "
                                   "evaluate: give the value itself, or install Ansible (ansible-core), "
                                   "whose ansible-inventory the collector then lets resolve it")
        return self.readers[key](value, where)

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip() or "\x00" in value or "\n" in value:
            raise self.fail(where, f"expected a non-empty one-line string, got {shown(value)}")
        return value

    def remote_folder(self, value: Any, where: str) -> str:
        """A folder on the host: a relative one would be relative to wherever the login shell
        starts (the remote home, or the collector's own folder for a local host)."""
        text = self.text(value, where)
        if not (text.startswith("/") or text == "~" or text.startswith("~/")):
            raise self.fail(where, f"{shown(text)} must be an absolute path or start with ~/ "
                                   "(the user's home there)")
        return text

    def ssh_word(self, value: Any, where: str) -> str:
        text = self.text(value, where)
        if text.startswith("-") or _SSH_UNSAFE.search(text):
            raise self.fail(where, f"{shown(text)} is not a valid SSH host or user name "
                                   "(no spaces, quotes, shell characters or leading '-')")
        return text

    def choice(self, value: Any, where: str, valid: Sequence[str], kind: str) -> str:
        if not isinstance(value, str) or value not in valid:
            raise unknown_name(kind, value, valid, source=self.source, field=where)
        return value

    def items(self, value: Any, where: str) -> list[Any]:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            value = [value]  # a single value stands for a one-item list, as in sweep files
        if not isinstance(value, list) or not value:
            raise self.fail(where, "expected a non-empty list")
        if len({repr(v) for v in value}) != len(value):
            raise self.fail(where, "lists the same entry twice")
        return value

    def positive_int(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(where, f"expected a positive integer, got {shown(value)}")
        return value

    def port(self, value: Any, where: str) -> int:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)  # Ansible's INI-converted inventories quote ports
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            raise self.fail(where, f"expected an integer in 1..65535, got {shown(value)}")
        return value

    def env_name(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
            raise self.fail(where, "expected the name of an environment variable (e.g. PI_PASSWORD), "
                                   "not a password")
        return value

    def proxy_jump(self, value: Any, where: str) -> str:
        """Checked now, so that a typo is one line at load time, not a failure mid-fleet."""
        text = self.text(value, where)
        if text.strip().lower() == "none":
            return text  # as in ssh: no jump, whatever ~/.ssh/config says
        try:
            hops = parse_jumps(text)
        except ValueError as exc:
            raise self.fail(where, str(exc)) from None
        for hop in hops:
            self.ssh_word(hop.host, where)
            if hop.user is not None:
                self.ssh_word(hop.user, where)
        return text

    def mem_limit(self, value: Any, where: str) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return str(value)  # bytes
        if not isinstance(value, str):
            raise self.fail(where, f"cannot read memory size {shown(value)} (e.g. 2GiB, 512MiB, 4GB)")
        try:
            parse_size(value, field="")
        except UserError as exc:
            raise self.fail(where, str(exc)) from None
        return value.strip()

    def identity_file(self, value: Any, where: str) -> str:
        """A local key file, relative to the inventory's folder; it must be readable now,
        not when the 40th host connects."""
        path = Path(self.text(value, where)).expanduser()
        if not path.is_absolute():
            path = Path(self.source).resolve().parent / path
        if self.check_files:
            if not path.is_file():
                raise self.fail(where, f"identity file {str(path)!r} does not exist")
            try:
                with path.open("rb"):
                    pass
            except OSError as exc:
                raise self.fail(where, f"identity file {str(path)!r} cannot be read: {exc.strerror}") from None
        return str(path)


def check_name(r: FieldReader, value: Any, where: str) -> str:
    """Names become folder names (results/<host>/) and go into remote commands, quoted. So a
    path separator, NUL or a leading dot is refused; shell characters are allowed and harmless."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise r.fail(where, f"expected a non-empty host name, got {shown(value)}")
    if "/" in value or value.startswith(".") or re.search(r"[\x00-\x1f\x7f]", value):
        raise r.fail(where, f"host name {shown(value)} may not contain '/' or control characters "
                            "nor start with '.'")
    return value


def password_error(r: FieldReader, where: str) -> UserError:
    return r.fail(where, "an inventory holds no password: name an environment variable with "
                         "password_env, or passphrase_env for a key's passphrase (edgeprune_password_env, "
                         "edgeprune_passphrase_env in Ansible inventories), or use a key or ssh-agent")
