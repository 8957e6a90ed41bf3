"""The one exception type for user mistakes: the CLI turns it into one line and exit code 2."""
from __future__ import annotations

import errno
from collections.abc import Iterable


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
        super().__init__(": ".join([*parts, text]))


def unknown_name(kind: str, name: object, valid: Iterable[str], **where: str | None) -> UserError:
    """The standard error for a name that is not in a registry."""
    return UserError(f"unknown {kind} {name!r}", valid=sorted(valid), **where)


class MissingDependency(UserError):
    """A registered implementation whose packages are not installed here, e.g. the torch
    backend on a light agent: names the package and the extra that brings it."""

    EXTRA_HINT = "pip install 'edgeprune[full]'"

    def __init__(self, kind: str, name: str, error: ImportError) -> None:
        self.kind, self.name = kind, name
        self.module = error.name
        missing = f"module {error.name!r}" if error.name else str(error)
        super().__init__(f"{kind} {name!r} needs {missing}, which is not installed here "
                         f"({self.EXTRA_HINT} brings it)")


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
