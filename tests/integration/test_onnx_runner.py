"""Artifacts measured by torch and onnxruntime: the same file everywhere, bad files as rows."""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
import pytest

from agent.artifacts import MODEL_ONNX, PAYLOAD, Artifact, ArtifactStore, artifact_id
from agent.measure_runner import MeasureRunner
from agent.packaging import EXPORT_SKIPPED
from agent.runner import ArtifactBuilder
from shared.errors import UserError
from shared.plan import variants
from shared.sweep import Sweep, parse_sweep
from tests.conftest import TINY_SWEEP

SWEEP = {**TINY_SWEEP, "methods": [{"name": "structured", "importance": "l1"}], "ratios": [0.0, 0.5],
         "backends": ["torch", "onnxruntime"]}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, private_cache: Path) -> tuple[Sweep, dict[float, Artifact]]:
    """The sweep's two variants, built once into a store: ratio -> artifact."""
    root = tmp_path_factory.mktemp("store")
    sweep = parse_sweep(SWEEP, str(root / "s.yml"))
    builder = ArtifactBuilder(sweep, ArtifactStore(root), private_cache)
    artifacts = {}
    for variant in variants(sweep):
        artifact, fresh = builder.obtain(variant)
        assert fresh and builder.obtain(variant) == (artifact, False)  # the second time it is reused
        artifacts[variant.target_ratio] = artifact
    return sweep, artifacts


def measure(sweep: Sweep, store: Path, out: Path) -> list[dict[str, Any]]:
    runner = MeasureRunner(sweep, out, ArtifactStore.existing(store))
    runner.run()
    return list(runner.out.results.rows())


def copy_into(store: Path, artifact: Artifact, change: Callable[[Path, dict], None] | None = None) -> Artifact:
    """A copy of ``artifact`` in ``store``, rewritten by ``change(folder, meta)`` and hashed anew
    (what a buggy exporter or an old build could have written)."""
    def fill(folder: Path) -> dict:
        for name in PAYLOAD:
            if artifact.has(name):
                shutil.copy(artifact.file(name), folder / name)
        meta = {k: v for k, v in json.loads(json.dumps(artifact.meta)).items() if k != "files"}
        if change:
            change(folder, meta)
        return meta
    return ArtifactStore(store).write(fill)


def by(rows: list[dict], ratio: float, backend: str) -> list[dict]:
    return [r for r in rows if r["target_ratio"] == ratio and r["backend"] == backend]


def test_every_backend_measures_the_same_artifact(built, tmp_path: Path) -> None:
    sweep, artifacts = built
    rows = measure(sweep, artifacts[0.0].path.parent, tmp_path / "out")
    assert len(rows) == 8 and {r["status"] for r in rows} == {"ok"}
    for row in rows:
        artifact = artifacts[row["target_ratio"]]
        assert row["artifact_sha256"] == artifact.sha256 and row["base_model_key"] == artifact.meta["base_model_key"]
        assert row["accuracy_top1"] == artifact.meta["columns"]["accuracy_top1"]
        # the eval split (120 images) is shipped whole, so the device's figure is comparable
        assert row["eval_samples_device"] == 120
        assert row["accuracy_top1_device"] == pytest.approx(artifact.meta["eval"]["accuracy_top1"], abs=1 / 120)
    ort_row = by(rows, 0.5, "onnxruntime")[0]
    assert ort_row["ort_providers"] == "cpu" and ort_row["ort_graph_optimization"] == "all"
    assert ort_row["onnx_opset"] == 18 and by(rows, 0.5, "torch")[0]["ort_providers"] is None
    comparison = (tmp_path / "out" / "seed_comparison.csv").read_text().splitlines()
    assert len(comparison) == 1 + 4  # a structured variant x two backends x two batch sizes


@pytest.mark.parametrize(("change", "reason"), [
    (lambda folder, meta: (folder / MODEL_ONNX).write_bytes((folder / MODEL_ONNX).read_bytes()[:200]),
     "cannot load model.onnx (opset 18): [ONNXRuntimeError] : 7 : INVALID_PROTOBUF"),
    (lambda folder, meta: _set_opset(folder / MODEL_ONNX, 99), "Opset 99 is under development"),
    (lambda folder, meta: ((folder / MODEL_ONNX).unlink(),
                           meta.update(onnx={**meta["onnx"], "status": "failed", "error": "TorchExportError: x"})),
     "the artifact has no model.onnx: the ONNX export failed: TorchExportError: x"),
    (lambda folder, meta: ((folder / MODEL_ONNX).unlink(),
                           meta.update(onnx={**meta["onnx"], "status": "skipped", "error": EXPORT_SKIPPED})),
     f"the artifact has no model.onnx: {EXPORT_SKIPPED}"),
], ids=["truncated", "unsupported-opset", "export-failed", "export-skipped"])
def test_a_bad_onnx_file_is_error_rows_and_the_sweep_goes_on(built, tmp_path: Path, change, reason: str) -> None:
    sweep, artifacts = built
    store = tmp_path / "store"
    copy_into(store, artifacts[0.0])
    copy_into(store, artifacts[0.5], change)
    rows = measure(sweep, store, tmp_path / "out")
    bad = by(rows, 0.5, "onnxruntime")
    assert [r["status"] for r in bad] == ["error", "error"] and all(reason in r["error"] for r in bad), bad[0]["error"]
    assert {r["status"] for r in rows if r not in bad} == {"ok"}  # torch still measures it; ratio 0 untouched


def _set_opset(path: Path, version: int) -> None:
    proto = onnx.load(str(path))
    proto.opset_import[0].version = version
    onnx.save(proto, str(path))


def test_a_file_changed_after_the_build_is_refused(built, tmp_path: Path) -> None:
    sweep, artifacts = built
    store = tmp_path / "store"
    copy_into(store, artifacts[0.0])
    changed = copy_into(store, artifacts[0.5])
    with changed.file(MODEL_ONNX).open("ab") as f:
        f.write(b"\0")
    rows = measure(sweep, store, tmp_path / "out")
    refused = [r for r in rows if r["target_ratio"] == 0.5]
    assert {r["status"] for r in refused} == {"error"} and len(refused) == 4
    assert "artifact refused: artifact " in refused[0]["error"] and "model.onnx has sha256" in refused[0]["error"]
    assert {r["status"] for r in rows if r["target_ratio"] == 0.0} == {"ok"}


def forge_copy(store: Path, artifact: Artifact, change: Callable[[dict], None]) -> Path:
    """A copy of ``artifact`` whose meta.json ``change`` rewrote, named by its new hash (anyone can
    write such a folder: the hash is no signature)."""
    meta = json.loads(json.dumps(artifact.meta))
    change(meta)
    folder = store / artifact_id(meta)
    shutil.copytree(artifact.path, folder)
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


@pytest.mark.parametrize(("change", "status", "reason"), [
    (lambda meta: meta.update(files=list(meta["files"])), "error", "field 'files' is not a dict"),
    (lambda meta: meta["files"].update({"../../../../etc/hostname": "0" * 64}), "error",
     "names file '../../../../etc/hostname', which is not a plain file name"),
    (lambda meta: meta.pop("variant_key"), "skipped", "missing_artifact: no artifact of this variant"),
], ids=["files-a-list", "path-out-of-the-store", "no-variant-key"])
def test_a_bad_meta_json_is_that_variants_rows_and_the_run_goes_on(built, tmp_path: Path, change, status: str,
                                                                   reason: str) -> None:
    sweep, artifacts = built
    store = tmp_path / "store"
    copy_into(store, artifacts[0.0])
    forge_copy(store, artifacts[0.5], change)
    rows = measure(sweep, store, tmp_path / "out")
    bad = [r for r in rows if r["target_ratio"] == 0.5]
    assert len(bad) == 4 and {r["status"] for r in bad} == {status} and reason in bad[0]["error"], bad[0]["error"]
    assert {r["status"] for r in rows if r["target_ratio"] == 0.0} == {"ok"} and len(rows) == 8


def test_a_missing_variant_is_skipped_then_measured_once_it_is_there(built, tmp_path: Path) -> None:
    sweep, artifacts = built
    store, out = tmp_path / "store", tmp_path / "out"
    copy_into(store, artifacts[0.0])
    first = measure(sweep, store, out)
    missing = [r for r in first if r["target_ratio"] == 0.5]
    assert {r["status"] for r in missing} == {"skipped"} and len(missing) == 4
    assert missing[0]["error"].startswith("missing_artifact: no artifact of this variant")
    assert "agent build --sweep" in missing[0]["error"]
    copy_into(store, artifacts[0.5])
    second = measure(sweep, store, out)
    assert len(second) == 12  # the 4 retried trials' rows supersede their skipped rows
    latest = {r["trial_key"]: r for r in second}
    assert len(latest) == 8 and {r["status"] for r in latest.values()} == {"ok"}
    assert (out / "results.csv").read_text().count("\n") == 1 + 8  # the CSV has the latest rows only
    assert len(measure(sweep, store, out)) == 12  # nothing left to do


def test_a_provider_this_host_lacks_stops_the_run_before_anything_is_measured(built, tmp_path: Path) -> None:
    sweep, artifacts = built
    sweep = parse_sweep({**SWEEP, "onnxruntime": {"providers": ["tensorrt"]}}, "s.yml")
    with pytest.raises(UserError, match=r"s.yml: onnxruntime.providers\[0\]: execution provider 'tensorrt' is "
                                        r"not available in onnxruntime .* \(valid: cpu"):
        measure(sweep, artifacts[0.0].path.parent, tmp_path / "out")


def test_a_method_listed_twice_builds_each_variant_with_its_own_options(tmp_path: Path, private_cache: Path) -> None:
    sweep = parse_sweep({**SWEEP, "methods": [{"name": "structured"}, {"name": "structured", "round_to": 8}]}, "s.yml")
    builder = ArtifactBuilder(sweep, ArtifactStore(tmp_path), private_cache)
    options = {json.dumps(v.method_options): builder.method(v).options["round_to"] for v in variants(sweep)}
    assert options == {"{}": None, '{"round_to": 8}': 8}
