"""Data sets: the embedded MNIST subset and 8x8 digits, and readers for IDX files and CIFAR-10.

Nothing is downloaded: the readers take a local folder.  Every loader
returns a :class:`Dataset` of uint8 images ``(N, C, H, W)`` and int64 labels;
bad or missing files raise :class:`DataError` with the path and the reason.
"""

from __future__ import annotations

import gzip
import importlib.resources
import pathlib
import pickle
from typing import NamedTuple

import numpy as np

DATASETS = ("mnist5k", "digits", "mnist", "fashion-mnist", "cifar10")
EMBEDDED = ("mnist5k", "digits")


class DataError(ValueError):
    """A data folder or file that is missing, truncated or of the wrong format."""


class Dataset(NamedTuple):
    """Images ``(N, C, H, W)`` uint8 and labels ``(N,)`` int64 of a train and a test split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple
    max_value: int  # the largest possible pixel value (16 for digits, 255 otherwise)


def _embedded(name, max_value):
    with importlib.resources.files(__package__).joinpath(name).open("rb") as file:
        with np.load(file) as archive:
            arrays = {key: archive[key] for key in archive.files}
    return Dataset(arrays["x_train"][:, None], arrays["y_train"].astype(np.int64),
                   arrays["x_test"][:, None], arrays["y_test"].astype(np.int64),
                   tuple(str(d) for d in range(10)), max_value)


def load_digits():
    """The UCI 8x8 digits shipped with npconv (CC BY 4.0; 1438 train, 359 test images, values 0..16)."""
    return _embedded("digits.npz", 16)


def load_mnist5k():
    """5,000 MNIST digits shipped with npconv (CC BY-SA 3.0; 500 of each digit, 28x28, 0..255):
    4,000 to train on, 1,000 held out (100 of each)."""
    return _embedded("mnist5k.npz", 255)


# --- IDX (MNIST, Fashion-MNIST) -----------------------------------------------------

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _open(path):
    path = pathlib.Path(path)
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path):
    """Read one IDX file (optionally gzipped) into an array of its stored shape and type."""
    try:
        with _open(path) as file:
            data = file.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(f"{path}: expected {expected} bytes for shape {shape}, found {len(data)}")
    return np.frombuffer(data, dtype, offset=header).reshape(shape)


def _find(folder, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: no file {stem}[.gz]")


MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")


def load_mnist(folder, classes=MNIST_CLASSES):
    """MNIST or Fashion-MNIST from the four IDX files in ``folder`` (gzipped or not)."""
    folder = _folder(folder)
    arrays = []
    for split in ("train", "t10k"):
        images = read_idx(_find(folder, f"{split}-images-idx3-ubyte"))
        labels = read_idx(_find(folder, f"{split}-labels-idx1-ubyte"))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{folder}: {split} images {images.shape} and labels {labels.shape} "
                            f"do not pair up")
        arrays += [images[:, None], labels.astype(np.int64)]
    return Dataset(*arrays, classes, 255)


# --- CIFAR-10 python batches ----------------------------------------------------------

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")


def _cifar_batch(path):
    try:
        with open(path, "rb") as file:
            batch = pickle.load(file, encoding="bytes")
        data = np.asarray(batch[b"data"], np.uint8)
        labels = np.asarray(batch[b"labels"], np.int64)
    except FileNotFoundError:
        raise DataError(f"{path}: missing") from None
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: not a CIFAR-10 python batch ({type(exc).__name__}: {exc})") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise DataError(f"{path}: expected data (N, 3072) with N labels, got {data.shape} "
                        f"and {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(folder):
    """CIFAR-10 from ``data_batch_1..5`` and ``test_batch`` (the folder or its ``cifar-10-batches-py``)."""
    folder = _folder(folder)
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    train = [_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = _cifar_batch(folder / "test_batch")
    return Dataset(np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]),
                   x_test, y_test, CIFAR10_CLASSES, 255)


def _folder(folder):
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    return folder


def load(dataset="digits", folder=None):
    """Load one of :data:`DATASETS`; all but ``digits`` need ``folder``."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if dataset == "digits":
        return load_digits()
    if dataset == "mnist5k":
        return load_mnist5k()
    if folder is None:
        raise DataError(f"the {dataset} dataset needs a data folder (--data DIR)")
    if dataset == "cifar10":
        return checked(load_cifar10(folder), folder)
    return checked(load_mnist(folder, FASHION_CLASSES if dataset == "fashion-mnist"
                              else MNIST_CLASSES), folder)


def checked(dataset, source):
    """``dataset``, refused (DataError) with an empty split or a label outside the classes."""
    for split, images, labels in (("train", dataset.x_train, dataset.y_train),
                                  ("test", dataset.x_test, dataset.y_test)):
        if len(images) == 0:
            raise DataError(f"{source}: the {split} split has no images")
        outside = (labels < 0) | (labels >= len(dataset.classes))
        if outside.any():
            raise DataError(f"{source}: {split} label {labels[outside][0]} is not a class "
                            f"index in [0, {len(dataset.classes)})")
    return dataset
