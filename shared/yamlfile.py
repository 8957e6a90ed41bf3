"""Reading a YAML file the user gave us (a sweep, an inventory, an analysis config), safely.

The file may be anything: a binary, latin-1, 16 MB, nested 20,000 levels deep, a 467-byte
"billion laughs" of aliases. Whatever it is, the answer is one :class:`UserError` naming the
file and the place in it, reached in bounded time and memory:

- the size is checked before parsing (:data:`MAX_FILE_BYTES`), by reading at most that much;
- the bytes must be UTF-8 (the message names the offset and line of the first bad byte);
- YAML's own safe loader, refusing a key given twice (YAML would keep the last one silently);
- the parsed node graph is walked before any Python object is made: aliases may not expand
  it past :data:`MAX_NODES` nodes, nor nest it past :data:`MAX_DEPTH` levels, nor refer to
  themselves (a recursive list would make every later ``repr`` or comparison loop).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from shared.errors import UserError, shown

# The largest real inventory we know of (5,000 hosts, one line each) is ~0.5 MiB; a sweep is
# a few KiB. Parsing 1 MiB takes about a second with libyaml, 4 s without.
MAX_FILE_BYTES = 1 << 20
# A sweep is 4 levels deep, an Ansible inventory with 10 levels of nested groups ~25.
MAX_DEPTH = 100
# Nodes after aliases are expanded: a 1 MiB file without aliases has at most ~0.5 million.
MAX_NODES = 1_000_000

_Constructor = "Callable[[yaml.SafeLoader, yaml.Node], Any]"  # a string: the light agent runs on 3.8


def read_yaml_file(path: str | Path, what: str,
                   tags: Mapping[str, _Constructor] | None = None) -> Any:
    """The parsed YAML of file ``path``; ``what`` names it in messages ("sweep file").
    ``tags``: constructors for extra local tags (an inventory's ``!vault``)."""
    return load_yaml(decode_utf8(read_bounded(path, what), str(path)), str(path), tags)


def read_bounded(path: str | Path, what: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The file's bytes, read no further than the limit (``/dev/zero`` included)."""
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise UserError(f"cannot read {what}: {exc.strerror or exc}", source=str(path)) from None
    if len(data) > max_bytes:
        limit = f"{max_bytes >> 20} MiB" if max_bytes % (1 << 20) == 0 else f"{max_bytes >> 10} KiB"
        raise UserError(f"{what} over the {limit} limit: is this the right file?", source=str(path))
    return data


def decode_utf8(data: bytes, source: str) -> str:
    """UTF-8 text (a leading byte-order mark dropped); else the first bad byte, by offset."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserError(f"not UTF-8 text (byte 0x{data[exc.start]:02x}): save the file as UTF-8",
                        source=source, field=f"line {line}, byte offset {exc.start}") from None
    return text[1:] if text.startswith("\ufeff") else text  # str.removeprefix is 3.9


def load_yaml(text: str, source: str, tags: Mapping[str, _Constructor] | None = None, *,
              libyaml: bool = yaml.__with_libyaml__) -> Any:
    """Parse ``text`` with the checks above; any problem is a one-line UserError.
    ``libyaml``: the C parser (3x faster) where this PyYAML has it, else the pure-Python one."""
    loader = None
    try:
        loader = _loader_class(tuple(sorted((tags or {}).items())), libyaml)(text)
        node = loader.get_single_node()
        if node is None:
            return None
        check_node_graph(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise _marked_error(exc, source) from None
    except yaml.YAMLError as exc:  # a ReaderError (a control character) has no problem_mark
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        position = getattr(exc, "position", None)
        where = None
        if position is not None:
            line_start = text.rfind("\n", 0, position) + 1
            where = f"line {text.count(chr(10), 0, position) + 1}, column {position - line_start + 1}"
        raise UserError(f"malformed YAML: {reason}", source=source, field=where) from None
    finally:
        if loader is not None:
            loader.dispose()


def _marked_error(exc: yaml.MarkedYAMLError, source: str) -> UserError:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
    problem = exc.problem or str(exc).splitlines()[0]
    return UserError(f"malformed YAML: {problem}", source=source, field=where)


def check_node_graph(root: yaml.Node) -> None:
    """Refuse an alias bomb, a too deep document or a self-referring alias, walking the
    composed nodes (a DAG: an alias is the anchored node itself) without recursion and
    without expanding anything: each collection's expanded size and depth is computed once.
    Scalars, most of any file, are counted where they stand, never pushed."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            total, deepest = 1, 0
            for kid in _children(node):
                if type(kid) is yaml.ScalarNode:
                    total, deepest = total + 1, max(deepest, 1)
                else:
                    total, deepest = total + size[id(kid)], max(deepest, depth[id(kid)])
            size[key], depth[key] = total, deepest + 1
            if total > MAX_NODES:
                raise _node_error(node, f"aliases expand it past {MAX_NODES:,} values (an alias bomb?)")
            if deepest + 1 > MAX_DEPTH:
                raise _node_error(node, f"nested more than {MAX_DEPTH} levels deep")
            continue
        if key in size or type(node) is yaml.ScalarNode:
            continue
        if key in on_path:  # reached again below itself: an alias inside its own anchor
            raise _node_error(node, "an alias refers to the value it is part of")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if type(k) is not yaml.ScalarNode and id(k) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _node_error(node: yaml.Node | yaml.Event, problem: str) -> yaml.MarkedYAMLError:
    return yaml.composer.ComposerError(None, None, problem, node.start_mark)


class _UniqueKeys:
    """Mixed into a safe loader: a key given twice is an error, not the last value silently;
    a value that cannot be made (an integer of 5,000 digits, a 13th month) names its place."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)  # type: ignore[misc]
        except (ValueError, TypeError, AttributeError, LookupError, ArithmeticError) as exc:
            # PyYAML's own constructors fail so on odd explicit tags: "!!float ''", "!!bool x" (found by fuzzing)
            raise yaml.constructor.ConstructorError(None, None, f"cannot read this value: {str(exc).split(';')[0]}",
                                                    node.start_mark) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):  # "!!map [1]": SafeConstructor says what is wrong
            return super().construct_mapping(node, deep)  # type: ignore[misc]
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *defaults" then an explicit key is an override, not a duplicate
            key = self.construct_object(key_node, deep=True)  # type: ignore[attr-defined]
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: SafeConstructor says so itself
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"key {shown(key)} given twice",
                                                        key_node.start_mark)
        return super().construct_mapping(node, deep)  # type: ignore[misc]


class _DepthGuard:
    """PyYAML's pure-Python composer recurses once a level: stop it before Python's own
    recursion limit (libyaml's stops at 1,000 levels itself)."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _node_error(self.peek_event(), f"nested more than {MAX_DEPTH} levels deep")  # type: ignore[attr-defined]
            return super().compose_node(parent, index)  # type: ignore[misc]
        finally:
            self._depth -= 1


_PURE: type = type("SafeLoader", (_UniqueKeys, _DepthGuard, yaml.SafeLoader), {})
_BASES: dict[bool, type] = {
    False: _PURE,
    True: type("CSafeLoader", (_UniqueKeys, yaml.CSafeLoader), {}) if yaml.__with_libyaml__ else _PURE,
}
_LOADERS: dict[tuple[tuple[tuple[str, _Constructor], ...], bool], type] = {}


def _loader_class(tags: tuple[tuple[str, _Constructor], ...], libyaml: bool) -> type:
    """The loader with these extra tags, made once (add_constructor changes a class)."""
    if (tags, libyaml) not in _LOADERS:
        cls = type("Loader", (_BASES[libyaml],), {})
        for tag, constructor in tags:
            cls.add_constructor(tag, constructor)
        _LOADERS[(tags, libyaml)] = cls
    return _LOADERS[(tags, libyaml)]
