"""The artifact store: every built variant as files, content-addressed, measured everywhere.

A variant is built once (where torch is) and the same files are measured on every device,
so "pruned at ratio r" is the same treatment everywhere. Layout::

    <store>/<sha256>/model.onnx   the model, dynamic batch axis (absent if the export failed)
                     model.pt     Torch-Pruning's state dict (pruned shapes reload)
                     eval.npz     a small labelled evaluation set (inputs, labels)
                     meta.json    variant identity, model spec, accuracy, counts, per-layer
                                  sparsity, export outcome, and the sha256 of every file above

**The hash.** ``<sha256>`` is the SHA-256 of meta.json's canonical JSON (its parsed value
dumped with sorted keys, no whitespace, ASCII only). meta.json holds the SHA-256 of every
other file, so the folder name covers every byte of the artifact; reformatting meta.json
changes nothing, changing any value or file does. :func:`load_artifact` recomputes all of it
and refuses a mismatch (:class:`ArtifactError`). The hash is no signature (anyone can write a
meta.json that hashes to its folder), so meta.json's shape is checked too: every field the
measuring side reads, and every name in ``files`` confined to the artifact's own folder (a plain
file name, no symbolic link): nothing outside the store is ever read, hashed or loaded.

**Lookup.** There is no index file: the store is scanned (each ``*/meta.json``, small) and
artifacts are found by ``variant_key``. Merging two stores is copying their folders; where
one variant was built twice, the newest build (``created_at``) is used.

Nothing here imports torch: a light agent reads stores, it never writes them
(agent/packaging.py builds the files).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import UserError

FORMAT = 1  # of meta.json; bump on a change and keep reading the old one
META = "meta.json"
MODEL_ONNX = "model.onnx"
MODEL_PT = "model.pt"
EVAL_SET = "eval.npz"
PAYLOAD = (MODEL_PT, MODEL_ONNX, EVAL_SET)
_STAGING = ".staging-"
_CHUNK = 1 << 20
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")  # what a build writes; no separator, no leading '.'
# meta.json's fields that this process reads (files, the runner's rows, the worker's job), and their type
_META_FIELDS: dict[str, type] = {"files": dict, "layers": list, "columns": dict, "method_options": dict,
                                 "model_spec": dict, "onnx": dict}


class ArtifactError(Exception):
    """An artifact that fails its checks (changed, truncated, unreadable): never measured."""


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode()


def artifact_id(meta: Mapping[str, Any]) -> str:
    """The artifact's name: SHA-256 of its meta.json's canonical JSON (see the module doc)."""
    return hashlib.sha256(canonical_json(meta)).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Artifact:
    """One verified artifact folder and its meta.json."""

    path: Path
    meta: Mapping[str, Any]

    @property
    def sha256(self) -> str:
        return self.path.name

    @property
    def variant_key(self) -> str:
        return str(self.meta["variant_key"])

    def has(self, name: str) -> bool:
        return name in self.meta["files"]

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def onnx(self) -> Mapping[str, Any]:
        """The export's outcome: status ok|failed, error, opset, max_abs_diff, export_s."""
        return self.meta["onnx"]

    @property
    def model_spec(self) -> Mapping[str, Any]:
        """name, num_classes, in_channels, input_size: what rebuilds the architecture."""
        return self.meta["model_spec"]

    @property
    def variant(self) -> Mapping[str, Any]:
        """The variant's identity as planned (model, method, target_ratio, ...)."""
        return self.meta.get("variant") or {}

    def input_shape(self, batch_size: int) -> tuple[int, int, int, int]:
        spec = self.model_spec
        return (batch_size, spec["in_channels"], spec["input_size"], spec["input_size"])


def _read_meta(path: Path) -> dict[str, Any]:
    meta_file = path / META
    if not meta_file.is_file():
        raise UserError(f"{str(path)!r} has no {META}: not an artifact folder (a folder of an "
                        f"artifact store holds {', '.join(PAYLOAD)} and {META}; remove it or "
                        f"rebuild with `agent build`)")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"artifact {path.name}: unreadable {META}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ArtifactError(f"artifact {path.name}: {META} is not format {FORMAT} (found {str(found)[:40]!r})")
    if not isinstance(meta.get("variant_key"), str) or not meta["variant_key"]:
        raise ArtifactError(f"artifact {path.name}: {META} has no variant_key: it belongs to no variant")
    return meta


def _check_meta(path: Path, meta: Mapping[str, Any]) -> None:
    """meta.json's shape: what the runner and the worker read is there, with its type."""
    for key, kind in _META_FIELDS.items():
        if not isinstance(meta.get(key), kind):
            raise ArtifactError(f"artifact {path.name}: {META} field {key!r} is not a {kind.__name__} "
                                f"(found {type(meta.get(key)).__name__}); rebuild it with `agent build`")
    for key in ("in_channels", "input_size"):
        value = meta["model_spec"].get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ArtifactError(f"artifact {path.name}: {META} field 'model_spec.{key}' is not a positive integer")
    for name, digest in meta["files"].items():
        _confined(path, name)
        if not isinstance(digest, str):
            raise ArtifactError(f"artifact {path.name}: {META} records no sha256 for {name}")


def _confined(path: Path, name: Any) -> Path:
    """``path / name`` when ``name`` is a plain file of the artifact's folder; an ArtifactError for
    anything that could reach outside it (a separator, '..', an absolute path, a symbolic link)."""
    if not (isinstance(name, str) and _PLAIN_NAME.fullmatch(name) and name != META):
        raise ArtifactError(f"artifact {path.name}: {META} names file {str(name)[:80]!r}, which is not a plain "
                            f"file name in the artifact's folder: refused")
    file = path / name
    if file.is_symlink() or (file.exists() and file.resolve().parent != path.resolve()):
        raise ArtifactError(f"artifact {path.name}: {name} is a link out of the artifact's folder: refused")
    return file


def load_artifact(path: Path) -> Artifact:
    """Read and verify an artifact folder: its name, then every file, against meta.json."""
    meta = _read_meta(path)
    try:
        expected = artifact_id(meta)
    except ValueError as exc:  # NaN or Infinity in it: not what a build writes
        raise ArtifactError(f"artifact {path.name}: {META} is not canonical JSON: {exc}") from None
    if path.name != expected:
        raise ArtifactError(f"artifact {path.name}: {META} hashes to {expected}, not to its folder "
                            f"name: it was changed after it was built; rebuild it with `agent build`")
    _check_meta(path, meta)
    for name, digest in meta["files"].items():
        file = _confined(path, name)
        if not file.is_file():
            raise ArtifactError(f"artifact {path.name}: {name} is missing; rebuild it with `agent build`")
        actual = file_sha256(file)
        if actual != digest:
            raise ArtifactError(f"artifact {path.name}: {name} has sha256 {actual}, {META} records "
                                f"{digest}: the file was changed or truncated; rebuild it with `agent build`")
    return Artifact(path, meta)


class ArtifactStore:
    """A folder of artifacts, found by variant key; see the module doc for layout and hash."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._index: dict[str, list[tuple[str, str]]] | None = None  # variant -> (created_at, sha)

    @classmethod
    def existing(cls, root: Path, option: str = "--artifacts") -> ArtifactStore:
        """A store that must already be there (measuring only): a typo is a UserError."""
        root = Path(root)
        if not root.is_dir():
            raise UserError(f"no artifact store at {str(root)!r} (build one with `agent build --out DIR`)",
                            field=option)
        if (root / META).is_file():
            raise UserError(f"{str(root)!r} is one artifact; pass the store that holds it "
                            f"({str(root.parent)!r})", field=option)
        store = cls(root)
        store.index()  # a folder without meta.json is refused now, before anything is measured
        return store

    def index(self) -> dict[str, list[tuple[str, str]]]:
        """variant key -> [(created_at, sha256)], newest first; reads meta.json files only."""
        if self._index is None:
            index: dict[str, list[tuple[str, str]]] = {}
            for folder in sorted(self.root.iterdir()) if self.root.is_dir() else []:
                if not folder.is_dir() or folder.name.startswith("."):
                    continue
                try:
                    meta = _read_meta(folder)
                except ArtifactError:
                    continue  # unreadable: never picked; a rebuild replaces it
                created_at = meta.get("created_at")  # only orders builds: a damaged one sorts first
                index.setdefault(meta["variant_key"], []).append((str(created_at or ""), folder.name))
            self._index = {k: sorted(v, reverse=True) for k, v in index.items()}
        return self._index

    def find(self, variant_key: str) -> Artifact | None:
        """The newest artifact of a variant, verified (ArtifactError if it fails), or None.
        A miss reads the store again: another agent sharing it may have just built it."""
        builds = self.index().get(variant_key)
        if not builds:
            self._index = None
            builds = self.index().get(variant_key)
        if not builds:
            return None
        return load_artifact(self.root / builds[0][1])

    def write(self, fill: Callable[[Path], dict[str, Any]]) -> Artifact:
        """Build an artifact in a staging folder and move it into place under its hash.

        ``fill(folder)`` writes the payload files and returns meta.json's content without
        ``files``, which is added here; a reader never sees a half-written artifact.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self._remove_dead_staging()
        staging = self.root / f"{_STAGING}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            meta = fill(staging)
            meta["files"] = {name: file_sha256(staging / name) for name in PAYLOAD
                             if (staging / name).is_file()}
            (staging / META).write_text(json.dumps(meta, indent=1, sort_keys=True, allow_nan=False) + "\n")
            target = self.root / artifact_id(meta)
            if target.exists():  # the same content again, or a damaged copy of it
                shutil.rmtree(target)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._index = None
        return load_artifact(target)

    def _remove_dead_staging(self) -> None:
        """Staging folders of this host's processes that died (a killed build) are garbage."""
        prefix = f"{_STAGING}{socket.gethostname()}-"
        for folder in self.root.glob(f"{prefix}*"):
            pid = folder.name[len(prefix):].partition("-")[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
