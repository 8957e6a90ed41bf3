"""Data sets: splits, caps and local files, each read from tiny real-format files in tmp_path."""
from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset

from agent.data import DATASETS, load_dataset
from shared import catalog
from shared.errors import UserError
from shared.sweep import DatasetSpec


def stacked(dataset: Dataset) -> tuple[torch.Tensor, list[int]]:
    """All images as one tensor and all labels as a list, checking each item's types."""
    images, labels = [], []
    for index in range(len(dataset)):  # type: ignore[arg-type]
        image, label = dataset[index]
        assert isinstance(label, int) and image.dtype == torch.float32
        images.append(image)
        labels.append(label)
    return torch.stack(images), labels


def test_registry_covers_the_catalog() -> None:
    assert sorted(DATASETS.names()) == sorted(catalog.DATASETS)


# --- digits (the default) ---

def test_digits_stratified_split_and_shapes() -> None:
    bundle = load_dataset(DatasetSpec(), 32, seed=0)
    assert (len(bundle.train), len(bundle.test)) == (1437, 360)
    assert (bundle.num_classes, bundle.in_channels, bundle.has_labels) == (10, 1, True)
    train, train_labels = stacked(bundle.train)
    _, test_labels = stacked(bundle.test)
    assert train.shape == (1437, 1, 32, 32)
    assert abs(train.mean().item()) < 1e-4 and abs(train.std().item() - 1) < 1e-3
    assert sorted(set(test_labels)) == list(range(10))
    assert min(test_labels.count(c) for c in range(10)) >= 35  # stratified: ~36 per class


def test_digits_split_depends_only_on_the_seed() -> None:
    first, again, other = (load_dataset(DatasetSpec(), 32, seed=s).test for s in (0, 0, 1))
    assert torch.equal(stacked(first)[0], stacked(again)[0])
    assert stacked(first)[1] == stacked(again)[1]
    assert not torch.equal(stacked(first)[0], stacked(other)[0])


def test_digits_resize_to_input_size() -> None:
    image, _ = load_dataset(DatasetSpec(eval_samples=1), 64, seed=0).test[0]
    assert image.shape == (1, 64, 64)


def test_sample_caps_are_deterministic_subsets() -> None:
    spec = DatasetSpec(eval_samples=50, train_samples=100)
    first, again = load_dataset(spec, 32, seed=0), load_dataset(spec, 32, seed=0)
    other = load_dataset(spec, 32, seed=3)
    assert (len(first.train), len(first.test)) == (100, 50)
    assert torch.equal(stacked(first.test)[0], stacked(again.test)[0])
    assert torch.equal(stacked(first.train)[0], stacked(again.train)[0])
    assert not torch.equal(stacked(first.test)[0], stacked(other.test)[0])


def test_cap_above_the_split_size_keeps_everything() -> None:
    assert len(load_dataset(DatasetSpec(eval_samples=10_000), 32, seed=0).test) == 360


# --- synthetic ---

def test_synthetic_is_seeded_random_without_labels() -> None:
    spec = DatasetSpec(name="synthetic", samples=12, num_classes=4, eval_samples=5)
    bundle = load_dataset(spec, 32, seed=0)
    assert bundle.has_labels is False
    assert (bundle.num_classes, bundle.in_channels) == (4, 3)
    assert (len(bundle.train), len(bundle.test)) == (12, 5)
    images, labels = stacked(bundle.test)
    assert images.shape == (5, 3, 32, 32) and set(labels) <= set(range(4))
    assert torch.equal(images, stacked(load_dataset(spec, 32, seed=0).test)[0])
    assert not torch.equal(images, stacked(load_dataset(spec, 32, seed=1).test)[0])


# --- MNIST from idx files ---

def write_idx(path: Path, array: np.ndarray) -> None:
    """The big-endian idx format: magic (0, 0, 0x08 = uint8, ndim), one uint32 per dim, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, folder: str, train: int, test: int) -> None:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", train), ("t10k", test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (count, 28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(count) % 10)


@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_family_reads_idx_files(tmp_path: Path, name: str, folder: str) -> None:
    write_mnist(tmp_path, folder, train=6, test=4)
    bundle = load_dataset(DatasetSpec(name=name, root=str(tmp_path)), 32, seed=0)
    assert (len(bundle.train), len(bundle.test)) == (6, 4)
    assert (bundle.num_classes, bundle.in_channels, bundle.has_labels) == (10, 1, True)
    images, labels = stacked(bundle.test)
    assert images.shape == (4, 1, 32, 32) and labels == [0, 1, 2, 3]


# --- CIFAR-10 from pickled batches ---

def write_cifar(root: Path, per_batch: int) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 "labels": [i % 10 for i in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(batch))
    meta = {"label_names": [f"class{i}" for i in range(10)]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))


def test_cifar10_reads_pickled_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # torchvision checks each file against the real data set's md5, which tiny files cannot
    # match: skip only that check, so the loader's own wiring is what is tested
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity",
                        lambda path, md5=None: os.path.isfile(path))
    write_cifar(tmp_path, per_batch=2)
    bundle = load_dataset(DatasetSpec(name="cifar10", root=str(tmp_path)), 32, seed=0)
    assert (len(bundle.train), len(bundle.test)) == (10, 2)
    assert (bundle.num_classes, bundle.in_channels) == (10, 3)
    images, labels = stacked(bundle.test)
    assert images.shape == (2, 3, 32, 32) and labels == [0, 1]


def test_cifar10_files_that_fail_the_checksum_are_a_user_error(tmp_path: Path) -> None:
    write_cifar(tmp_path, per_batch=2)
    with pytest.raises(UserError, match=r"dataset\.root: no cifar10 files under"):
        load_dataset(DatasetSpec(name="cifar10", root=str(tmp_path)), 32, seed=0)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_empty_root_is_a_user_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(UserError, match=rf"sweep\.yml: dataset\.root: no {name} files under"):
        load_dataset(DatasetSpec(name=name, root=str(tmp_path)), 32, seed=0, source="sweep.yml")


# --- imagefolder from PNGs ---

def write_pngs(folder: Path, classes: dict[str, int]) -> None:
    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (folder / name).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)  # not square
            Image.fromarray(pixels).save(folder / name / f"{i}.png")


def test_imagefolder_reads_train_and_val(tmp_path: Path) -> None:
    write_pngs(tmp_path / "train", {"cat": 3, "dog": 2})
    write_pngs(tmp_path / "val", {"cat": 1, "dog": 1})
    bundle = load_dataset(DatasetSpec(name="imagefolder", root=str(tmp_path)), 32, seed=0)
    assert (len(bundle.train), len(bundle.test)) == (5, 2)
    assert (bundle.num_classes, bundle.in_channels, bundle.has_labels) == (2, 3, True)
    images, labels = stacked(bundle.test)
    assert images.shape == (2, 3, 32, 32) and labels == [0, 1]  # classes sorted: cat, dog


def test_imagefolder_without_splits_is_split_by_seed(tmp_path: Path) -> None:
    write_pngs(tmp_path, {"a": 5, "b": 5})
    spec = DatasetSpec(name="imagefolder", root=str(tmp_path))
    first, again = load_dataset(spec, 32, seed=0), load_dataset(spec, 32, seed=0)
    assert (len(first.train), len(first.test)) == (8, 2)
    assert first.test.indices == again.test.indices  # type: ignore[attr-defined]
    assert sorted(stacked(first.test)[1]) == [0, 1]  # stratified


def test_imagefolder_mismatched_classes_is_a_user_error(tmp_path: Path) -> None:
    write_pngs(tmp_path / "train", {"cat": 1, "dog": 1})
    write_pngs(tmp_path / "test", {"cat": 1, "eel": 1})
    with pytest.raises(UserError, match="different class folders"):
        load_dataset(DatasetSpec(name="imagefolder", root=str(tmp_path)), 32, seed=0)


def test_imagefolder_empty_root_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"dataset\.root: no images"):
        load_dataset(DatasetSpec(name="imagefolder", root=str(tmp_path)), 32, seed=0)


# --- mistakes ---

@pytest.mark.parametrize("name", catalog.FILE_DATASETS)
def test_missing_root_is_a_user_error(tmp_path: Path, name: str) -> None:
    spec = DatasetSpec(name=name, root=str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match=r"dataset\.root: folder .* does not exist"):
        load_dataset(spec, 32, seed=0)


def test_file_dataset_without_root_is_a_user_error() -> None:
    with pytest.raises(UserError, match=r"dataset\.root: .*needs root"):
        load_dataset(DatasetSpec(name="mnist"), 32, seed=0)


def test_unknown_dataset_lists_the_valid_names() -> None:
    with pytest.raises(UserError) as caught:
        load_dataset(DatasetSpec(name="imagenet"), 32, seed=0, source="sweep.yml")
    assert str(caught.value).startswith("sweep.yml: dataset.name: unknown dataset 'imagenet'")
    assert all(name in str(caught.value) for name in catalog.DATASETS)
