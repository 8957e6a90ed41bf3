"""The one exception type for user mistakes: the CLI turns it into one line and exit code 2."""
from __future__ import annotations

import errno
import importlib.util
import reprlib
from collections.abc import Iterable

# A message is one line of at most this many characters, whatever the input held: a value
# echoed back may be a megabyte of YAML, and a line of --limit names may list 5,000 hosts.
MAX_MESSAGE_CHARS = 2000
_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 80
_SHOWN.maxlist = _SHOWN.maxtuple = _SHOWN.maxdict = _SHOWN.maxset = 6
_SHOWN.maxlevel = 3


def shown(value: object) -> str:
    """``repr(value)`` for a message: bounded in length and in the work it takes (the value
    may be a list of a million items), so that a message never echoes a whole file."""
    return _SHOWN.repr(value)


class UserError(Exception):
    """A mistake in the user's input: a file, a field, a value, and what would be valid.

    ``str(error)`` is the whole message the user sees, e.g.
    ``sweep.yml: models[1]: unknown model 'resnet19' (valid: alexnet, lenet5, ...)``.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        field: str | None = None,
        valid: Iterable[object] | None = None,
    ) -> None:
        self.source = source
        self.field = field
        self.valid = tuple(valid) if valid is not None else None
        parts = [p for p in (source, field) if p]
        text = message
        if self.valid is not None:
            text += f" (valid: {', '.join(str(v) for v in self.valid)})"
        super().__init__(one_line(": ".join([*parts, text])))


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` with line breaks escaped (a message is one line), cut at ``limit`` characters."""
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    if len(text) <= limit:
        return text
    tail = f"... ({len(text):,} chars)"
    return text[:limit - len(tail)] + tail


def unknown_name(kind: str, name: object, valid: Iterable[str], **where: str | None) -> UserError:
    """The standard error for a name that is not in a registry."""
    return UserError(f"unknown {kind} {shown(name)}", valid=sorted(valid), **where)


# The extra of pyproject.toml that brings each optional module (a top-level import name);
# tests/unit/test_yamlfile.py checks the table against pyproject.toml.
EXTRA_OF_MODULE = {
    "onnxruntime": "agent",
    "torch": "full", "torchvision": "full", "torch_pruning": "full", "sklearn": "full", "onnx": "full",
    "onnxscript": "full",
    "dowhy": "analysis", "networkx": "analysis", "pydot": "analysis", "threadpoolctl": "analysis",
    "matplotlib": "analysis",
    "pandas": "analysis",
    "paramiko": "collector", "duckdb": "collector",
}
DEFAULT_EXTRA = "full"


def optional_module(error: ImportError) -> str | None:
    """The extra that brings the module ``error`` could not import; None where that module is
    none of our optional dependencies (then the ImportError is a bug, not a missing extra)."""
    top = (error.name or "").partition(".")[0]
    return EXTRA_OF_MODULE.get(top)


def needs_module(what: str, error: ImportError, extra: str | None = None) -> UserError:
    """The one message for a missing optional package: what needs it, and the extra to install
    (``extra``: where the command's own extra brings it too, e.g. pandas)."""
    extra = extra or optional_module(error) or DEFAULT_EXTRA
    missing = f"module {error.name.partition('.')[0]!r}" if error.name else str(error)
    return UserError(f"{what} needs {missing}, which is not installed here "
                     f"(pip install 'edgeprune[{extra}]' brings it)")


def require_modules(what: str, *modules: str, extra: str | None = None) -> None:
    """Say now, before any work, that a module ``what`` will need is missing (the collector's
    merge at the end of a fleet run needs duckdb: not after hours of measuring)."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise needs_module(what, ModuleNotFoundError(f"No module named {module!r}", name=module), extra)


class MissingDependency(UserError):
    """A registered implementation whose packages are not installed here, e.g. the torch
    backend on a light agent: names the package and the extra that brings it."""

    def __init__(self, kind: str, name: str, error: ImportError) -> None:
        self.kind, self.name = kind, name
        self.module = error.name
        super().__init__(str(needs_module(f"{kind} {name!r}", error)))


class NoSpace(UserError):
    """A full disk (or quota) while writing ``path``: one line, and the same command resumes
    once there is room (every writer takes back what it had half written)."""

    def __init__(self, path: object) -> None:
        self.path = path
        super().__init__(f"no space left on {path}; free some space and run the same command again")


def no_space(exc: OSError, path: object = None) -> NoSpace | None:
    """The NoSpace error an OSError stands for, or None when it is another error."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NoSpace(exc.filename or path or "?")
    return None
