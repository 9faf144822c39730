"""The embedded digits, and the IDX and CIFAR-10 readers on small files written here."""

import gzip
import pickle

import numpy as np
import pytest

from npconv import data


def write_idx(path, array, compress=False):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as file:
        file.write(header + array.tobytes())


def write_mnist(folder, compress=False, train=6, test=4):
    rng = np.random.default_rng(0)
    suffix = ".gz" if compress else ""
    arrays = {}
    for split, count in (("train", train), ("t10k", test)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, count, dtype=np.uint8)
        write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", images, compress)
        write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", labels, compress)
        arrays[split] = (images, labels)
    return arrays


def test_embedded_digits():
    digits = data.load_digits()
    assert digits.x_train.shape == (1438, 1, 8, 8) and digits.x_test.shape == (359, 1, 8, 8)
    assert digits.x_train.dtype == np.uint8 and digits.y_train.dtype == np.int64
    assert digits.x_train.max() == 16 and digits.max_value == 16
    assert set(np.bincount(digits.y_test)) <= {35, 36, 37}  # stratified 20%


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_reader(tmp_path, compress):
    written = write_mnist(tmp_path, compress)
    dataset = data.load("fashion-mnist", tmp_path)
    np.testing.assert_array_equal(dataset.x_train[:, 0], written["train"][0])
    np.testing.assert_array_equal(dataset.y_test, written["t10k"][1])
    assert dataset.x_test.shape == (4, 1, 28, 28) and dataset.classes[9] == "Ankle boot"


def test_idx_reader_keeps_type_and_shape(tmp_path):
    array = np.arange(24, dtype=">i4").reshape(2, 3, 4)
    write_idx(tmp_path / "a.idx", array)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a.idx"), array)


def test_cifar_reader(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8),
                 b"labels": list(rng.integers(0, 10, 3))}
        with open(folder / name, "wb") as file:
            pickle.dump(batch, file)
        batches[name] = batch
    dataset = data.load("cifar10", tmp_path)
    assert dataset.x_train.shape == (15, 3, 32, 32) and dataset.x_test.shape == (3, 3, 32, 32)
    np.testing.assert_array_equal(dataset.x_test.reshape(3, -1), batches["test_batch"][b"data"])
    assert dataset.classes[0] == "airplane"


def test_errors(tmp_path):
    with pytest.raises(data.DataError, match="no such folder"):
        data.load("mnist", tmp_path / "missing")
    with pytest.raises(data.DataError, match="no file train-images-idx3-ubyte"):
        data.load("mnist", tmp_path)
    with pytest.raises(data.DataError, match="needs a data folder"):
        data.load("cifar10")
    with pytest.raises(data.DataError, match="unknown dataset 'svhn'"):
        data.load("svhn", tmp_path)
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(data.DataError, match=r"expected 4720 bytes for shape \(6, 28, 28\), found 4715"):
        data.load("mnist", tmp_path)
    path.write_bytes(b"garbage!")
    with pytest.raises(data.DataError, match="not an IDX file"):
        data.read_idx(path)
    (tmp_path / "data_batch_1").write_bytes(b"not a pickle")
    with pytest.raises(data.DataError, match="not a CIFAR-10 python batch"):
        data.load("cifar10", tmp_path)
