"""Data sets a sweep may name: built-in digits, local torchvision files, or synthetic tensors.

Nothing is ever downloaded. Every item is ``(float tensor C x H x W, normalised; int label)``
with H = W = the sweep's input size. Splits and sample caps depend only on the seed, so the
same sweep evaluates the same images on every device of the fleet.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import Dataset, Subset, TensorDataset
from torchvision import datasets as tvd
from torchvision import transforms as T

from shared import catalog
from shared.errors import UserError
from shared.registry import Registry
from shared.sweep import DatasetSpec

TEST_FRACTION = 0.2  # for data sets that ship without a split of their own
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DataBundle:
    """The two splits of one data set and what a model needs to know about them."""

    train: Dataset
    test: Dataset
    num_classes: int
    in_channels: int
    has_labels: bool  # False: labels are random, accuracy means nothing


class DatasetSource(ABC):
    """Turns a DatasetSpec into a DataBundle; one subclass per catalog name."""

    @abstractmethod
    def load(self, spec: DatasetSpec, input_size: int, seed: int, source: str) -> DataBundle:
        """Both splits, uncapped (load_dataset applies the sample caps)."""


DATASETS: Registry[type[DatasetSource]] = Registry("dataset", catalog.DATASETS)


def load_dataset(spec: DatasetSpec, input_size: int, seed: int, source: str = "<sweep>") -> DataBundle:
    """Load ``spec`` at ``input_size`` px, split and capped deterministically by ``seed``.

    Mistakes (unknown name, missing files) raise UserError naming ``source`` and the field.
    """
    loader = DATASETS.get(spec.name, source=source, field="dataset.name")()
    bundle = loader.load(spec, input_size, seed, source)
    return DataBundle(
        train=cap(bundle.train, spec.train_samples, seed),
        test=cap(bundle.test, spec.eval_samples, seed),
        num_classes=bundle.num_classes,
        in_channels=bundle.in_channels,
        has_labels=bundle.has_labels,
    )


def cap(dataset: Dataset, limit: int | None, seed: int) -> Dataset:
    """At most ``limit`` items: the first ``limit`` of a seeded permutation (same on every machine)."""
    size = len(dataset)  # type: ignore[arg-type]
    if limit is None or limit >= size:
        return dataset
    order = torch.randperm(size, generator=torch.Generator().manual_seed(seed))
    return Subset(dataset, order[:limit].tolist())


class LabelledTensors(TensorDataset):
    """A TensorDataset of (images, labels) whose items carry a plain ``int`` label."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        super().__init__(images, labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:  # type: ignore[override]
        images, labels = self.tensors
        return images[index], int(labels[index])


def _split_indices(labels: np.ndarray, seed: int) -> tuple[list[int], list[int]]:
    """A seeded 80/20 split, stratified when every class has enough members to allow it."""
    indices = np.arange(len(labels))
    try:
        train, test = train_test_split(indices, test_size=TEST_FRACTION, random_state=seed,
                                       stratify=labels)
    except ValueError:  # a class with a single image cannot be stratified
        train, test = train_test_split(indices, test_size=TEST_FRACTION, random_state=seed)
    return sorted(int(i) for i in train), sorted(int(i) for i in test)


@DATASETS.register("digits")
class Digits(DatasetSource):
    """scikit-learn's 1,797 8x8 handwritten digits: ships with the package, the default."""

    def load(self, spec: DatasetSpec, input_size: int, seed: int, source: str) -> DataBundle:
        digits = load_digits()
        images = torch.from_numpy(digits.images).float().unsqueeze(1) / 16.0  # values are 0..16
        labels = torch.from_numpy(digits.target).long()
        # resized once here, not per item: this is the hot path of every default run
        images = F.interpolate(images, size=(input_size, input_size), mode="bilinear",
                               align_corners=False)
        train_idx, test_idx = _split_indices(digits.target, seed)
        train_images = images[train_idx]
        # statistics of the train split only, so nothing about the test images leaks in
        mean, std = train_images.mean(), train_images.std()
        return DataBundle(
            train=LabelledTensors((train_images - mean) / std, labels[train_idx]),
            test=LabelledTensors((images[test_idx] - mean) / std, labels[test_idx]),
            num_classes=10, in_channels=1, has_labels=True,
        )


def _need_root(spec: DatasetSpec, source: str) -> Path:
    if not spec.root:
        raise UserError(f"dataset {spec.name!r} reads local files and needs root:",
                        source=source, field="dataset.root")
    root = Path(spec.root).expanduser()
    if not root.is_dir():
        raise UserError(f"folder {str(root)!r} does not exist", source=source, field="dataset.root")
    return root


def _missing_files(spec: DatasetSpec, root: Path, source: str) -> UserError:
    return UserError(f"no {spec.name} files under {root} (nothing is downloaded; place the dataset there)",
                     source=source, field="dataset.root")


class _TorchvisionSource(DatasetSource):
    """A torchvision data set read from ``root`` with ``download=False``."""

    factory: Any  # the torchvision class
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def load(self, spec: DatasetSpec, input_size: int, seed: int, source: str) -> DataBundle:
        root = _need_root(spec, source)
        transform = T.Compose([T.Resize(input_size), T.ToTensor(), T.Normalize(self.mean, self.std)])
        try:
            train = self.factory(root=str(root), train=True, transform=transform, download=False)
            test = self.factory(root=str(root), train=False, transform=transform, download=False)
        except RuntimeError as error:  # torchvision's "Dataset not found or corrupted"
            raise _missing_files(spec, root, source) from error
        return DataBundle(train=train, test=test, num_classes=len(train.classes),
                          in_channels=self.channels, has_labels=True)


@DATASETS.register("mnist")
class Mnist(_TorchvisionSource):
    """``root/MNIST/raw/*-ubyte``."""

    factory = tvd.MNIST
    channels = 1
    mean, std = (0.1307,), (0.3081,)


@DATASETS.register("fashion_mnist")
class FashionMnist(_TorchvisionSource):
    """``root/FashionMNIST/raw/*-ubyte``."""

    factory = tvd.FashionMNIST
    channels = 1
    mean, std = (0.2860,), (0.3530,)


@DATASETS.register("cifar10")
class Cifar10(_TorchvisionSource):
    """``root/cifar-10-batches-py`` (torchvision checks each file's md5)."""

    factory = tvd.CIFAR10
    channels = 3
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


@DATASETS.register("imagefolder")
class ImageFolderSource(DatasetSource):
    """``root/train`` + ``root/val`` (or ``root/test``) class folders, as ImageNet and TinyImageNet.

    With only ``train/``, or no split folders at all, a seeded 80/20 split of what there is.
    """

    def load(self, spec: DatasetSpec, input_size: int, seed: int, source: str) -> DataBundle:
        root = _need_root(spec, source)
        transform = T.Compose([T.Resize(input_size), T.CenterCrop(input_size), T.ToTensor(),
                               T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
        train_dir = root / "train"
        test_dir = next((d for d in (root / "val", root / "test") if d.is_dir()), None)
        if test_dir is not None and not train_dir.is_dir():
            raise UserError(f"{str(root)!r} has {test_dir.name}/ but no train/", source=source,
                            field="dataset.root")
        whole = self._folder(train_dir if train_dir.is_dir() else root, transform, spec, source)
        if test_dir is None:
            train_idx, test_idx = _split_indices(np.asarray(whole.targets), seed)
            train, test = Subset(whole, train_idx), Subset(whole, test_idx)
        else:
            train, test = whole, self._folder(test_dir, transform, spec, source)
            if test.classes != whole.classes:
                raise UserError(f"{test_dir} and {train_dir} hold different class folders",
                                source=source, field="dataset.root")
        return DataBundle(train=train, test=test, num_classes=len(whole.classes),
                          in_channels=3, has_labels=True)

    @staticmethod
    def _folder(path: Path, transform: T.Compose, spec: DatasetSpec, source: str) -> tvd.ImageFolder:
        # ImageFolder sorts class folders and files itself: the order is the same on every machine
        try:
            return tvd.ImageFolder(str(path), transform=transform)
        except FileNotFoundError as error:  # no class folders, or no images in them
            raise UserError(f"no images in class folders under {str(path)!r} ({error})",
                            source=source, field="dataset.root") from error


@DATASETS.register("synthetic")
class Synthetic(DatasetSource):
    """Seeded random images and labels: for timing only, accuracy is meaningless."""

    def load(self, spec: DatasetSpec, input_size: int, seed: int, source: str) -> DataBundle:
        def draw(count: int, stream: int) -> LabelledTensors:
            # one generator per split, so capping one split leaves the other's images alone
            generator = torch.Generator().manual_seed(seed * 2 + stream)
            images = torch.randn(count, 3, input_size, input_size, generator=generator)
            labels = torch.randint(0, spec.num_classes, (count,), generator=generator)
            return LabelledTensors(images, labels)

        # draw no more than the caps keep: at 224 px, 512 images are 300 MB per split
        train = draw(min(spec.samples, spec.train_samples or spec.samples), 0)
        test = draw(min(spec.samples, spec.eval_samples or spec.samples), 1)
        return DataBundle(train=train, test=test, num_classes=spec.num_classes, in_channels=3,
                          has_labels=False)
