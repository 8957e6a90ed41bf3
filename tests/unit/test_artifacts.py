"""The artifact store without torch: the hash, verification, lookup, reuse, bad folders."""
from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from agent.artifacts import (EVAL_SET, FORMAT, META, MODEL_ONNX, MODEL_PT, ArtifactError, ArtifactStore,
                             artifact_id, canonical_json, load_artifact)
from shared.errors import UserError


def fill_with(variant_key: str, created_at: str = "2026-01-01T00:00:00+00:00", onnx: bytes = b"onnx"):
    def fill(folder: Path) -> dict[str, Any]:
        (folder / MODEL_PT).write_bytes(b"state dict")
        (folder / MODEL_ONNX).write_bytes(onnx)
        (folder / EVAL_SET).write_bytes(b"eval")
        return {"format": FORMAT, "variant_key": variant_key, "created_at": created_at,
                "model_spec": {"name": "lenet5", "num_classes": 10, "in_channels": 1, "input_size": 32},
                "onnx": {"status": "ok"}, "columns": {}, "layers": [], "method_options": {}}
    return fill


def test_the_name_is_the_sha256_of_canonical_meta_which_hashes_every_file(tmp_path: Path) -> None:
    artifact = ArtifactStore(tmp_path).write(fill_with("v1"))
    meta = json.loads((artifact.path / META).read_text())
    assert artifact.sha256 == hashlib.sha256(canonical_json(meta)).hexdigest() == artifact_id(meta)
    assert meta["files"] == {name: hashlib.sha256((artifact.path / name).read_bytes()).hexdigest()
                             for name in (MODEL_PT, MODEL_ONNX, EVAL_SET)}
    assert artifact.input_shape(8) == (8, 1, 32, 32) and artifact.has(MODEL_ONNX)
    # reformatting meta.json changes no value, so the artifact still verifies
    (artifact.path / META).write_text(json.dumps(meta, indent=4))
    assert load_artifact(artifact.path).meta == artifact.meta


@pytest.mark.parametrize(("tamper", "message"), [
    (lambda p: (p / MODEL_ONNX).write_bytes(b"onn"), "model.onnx has sha256 .* the file was changed or truncated"),
    (lambda p: (p / EVAL_SET).unlink(), "eval.npz is missing"),
    (lambda p: (p / META).write_text((p / META).read_text().replace('"lenet5"', '"resnet18"')),
     "meta.json hashes to .* not to its folder name"),
    (lambda p: (p / META).write_text("{"), "unreadable meta.json"),
])
def test_a_changed_artifact_is_refused(tmp_path: Path, tamper, message: str) -> None:
    store = ArtifactStore(tmp_path)
    artifact = store.write(fill_with("v1"))
    tamper(artifact.path)
    with pytest.raises(ArtifactError, match=message):
        load_artifact(artifact.path)
    if "unreadable" not in message:
        with pytest.raises(ArtifactError):
            ArtifactStore(tmp_path).find("v1")


def test_lookup_by_variant_key_takes_the_newest_build(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    old = store.write(fill_with("v1", "2026-01-01T00:00:00+00:00"))
    new = store.write(fill_with("v1", "2026-02-01T00:00:00+00:00"))
    other = store.write(fill_with("v2"))
    assert store.find("v1") == new != old and store.find("v2") == other
    assert store.find("v3") is None
    assert ArtifactStore(tmp_path).index()["v1"][1][1] == old.sha256  # a fresh scan sees both


def test_writing_the_same_content_again_keeps_one_folder(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    first, again = store.write(fill_with("v1")), store.write(fill_with("v1"))
    assert first.path == again.path and len(list(tmp_path.iterdir())) == 1


def test_a_failed_fill_leaves_nothing_and_dead_staging_is_cleared(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)

    def broken(folder: Path) -> dict[str, Any]:
        (folder / MODEL_PT).write_bytes(b"half")
        raise RuntimeError("export crashed")

    with pytest.raises(RuntimeError, match="export crashed"):
        store.write(broken)
    assert list(tmp_path.iterdir()) == []
    dead = tmp_path / f".staging-{socket.gethostname()}-999999999-abcd"  # a killed build's leftovers
    dead.mkdir()
    alive = tmp_path / f".staging-{socket.gethostname()}-{os.getpid()}-abcd"
    alive.mkdir()
    store.write(fill_with("v1"))
    assert not dead.exists() and alive.exists()


def test_a_folder_without_meta_json_is_a_clear_user_error(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    store.write(fill_with("v1"))
    (tmp_path / "leftover").mkdir()
    with pytest.raises(UserError, match=r"leftover' has no meta.json: not an artifact folder"):
        ArtifactStore.existing(tmp_path)


def test_the_store_given_to_measure_must_exist_and_be_a_store(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--artifacts: no artifact store at"):
        ArtifactStore.existing(tmp_path / "nope")
    artifact = ArtifactStore(tmp_path).write(fill_with("v1"))
    with pytest.raises(UserError, match="is one artifact; pass the store that holds it"):
        ArtifactStore.existing(artifact.path)
    assert ArtifactStore.existing(tmp_path).find("v1") == artifact


def forge(store: Path, meta: dict[str, Any], files: dict[str, bytes] | None = None) -> Path:
    """An artifact folder named by its meta.json's hash, as anyone can write one (the hash is no
    signature): what a buggy or hostile build could leave in a store."""
    folder = store / artifact_id(meta)
    folder.mkdir(parents=True)
    for name, content in (files or {}).items():
        (folder / name).write_bytes(content)
    (folder / META).write_text(json.dumps(meta))
    return folder


def good_meta(tmp_path: Path, variant_key: str = "v1") -> dict[str, Any]:
    built = ArtifactStore(tmp_path / "built").write(fill_with(variant_key))
    return json.loads((built.path / META).read_text())


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m.update(files=list(m["files"])), "field 'files' is not a dict"),
    (lambda m: m.update(layers={}), "field 'layers' is not a list"),
    (lambda m: m.pop("columns"), "field 'columns' is not a dict"),
    (lambda m: m.update(model_spec={**m["model_spec"], "input_size": "32"}), "'model_spec.input_size' is not a"),
    (lambda m: m.update(files={**m["files"], "model.pt": 7}), "records no sha256 for model.pt"),
], ids=["files-a-list", "layers-a-dict", "no-columns", "input-size-text", "digest-not-text"])
def test_a_meta_json_of_the_wrong_shape_is_refused_not_a_crash(tmp_path: Path, change, message: str) -> None:
    meta = good_meta(tmp_path)
    change(meta)
    store = tmp_path / "store"
    forge(store, meta, {MODEL_PT: b"state dict", MODEL_ONNX: b"onnx", EVAL_SET: b"eval"})
    with pytest.raises(ArtifactError, match=message):
        ArtifactStore.existing(store).find("v1")  # indexed under its variant: that variant's rows are error


def test_a_meta_json_without_variant_key_belongs_to_no_variant(tmp_path: Path) -> None:
    meta = good_meta(tmp_path)
    del meta["variant_key"]
    store = tmp_path / "store"
    forge(store, meta)
    kept = ArtifactStore(store).write(fill_with("v2"))
    assert ArtifactStore.existing(store).index() == {"v2": [(kept.meta["created_at"], kept.sha256)]}


@pytest.mark.parametrize("name", ["../../../../etc/hostname", "/etc/hostname", "sub/model.pt", ".hidden", "..",
                                  "..\\secret", "model.pt\0"])
def test_a_file_name_outside_the_artifact_folder_is_never_read(tmp_path: Path, name: str) -> None:
    """A name that reaches out of the folder is refused before anything is opened: with the right
    sha256 of the outside file in meta.json, a reader that followed it would accept the artifact."""
    outside = tmp_path / "secret"
    outside.write_bytes(b"not the store's")
    meta = good_meta(tmp_path)
    meta["files"] = {**meta["files"], name: hashlib.sha256(outside.read_bytes()).hexdigest()}
    folder = forge(tmp_path / "store", meta, {MODEL_PT: b"state dict", MODEL_ONNX: b"onnx", EVAL_SET: b"eval"})
    with pytest.raises(ArtifactError, match="not a plain file name in the artifact's folder"):
        load_artifact(folder)


def test_a_link_out_of_the_artifact_folder_is_never_read(tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.write_bytes(b"state dict")  # the very bytes meta.json records for model.pt
    meta = good_meta(tmp_path)
    folder = forge(tmp_path / "store", meta, {MODEL_ONNX: b"onnx", EVAL_SET: b"eval"})
    (folder / MODEL_PT).symlink_to(outside)
    with pytest.raises(ArtifactError, match="model.pt is a link out of the artifact's folder"):
        load_artifact(folder)
