"""Build src/npconv/data/digits.npz from the UCI optical digits as scikit-learn ships them.

Usage: python tools/make_digits_npz.py path/to/sklearn/datasets/data/digits.csv.gz

The split is fixed: of each class, a seeded random 20% goes to the test set.
"""

import gzip
import sys

import numpy as np

rows = np.loadtxt(gzip.open(sys.argv[1]), delimiter=",", dtype=np.int64)
images = rows[:, :64].reshape(-1, 8, 8).astype(np.uint8)
labels = rows[:, 64].astype(np.uint8)
rng = np.random.default_rng(20261122)
test = np.zeros(len(labels), bool)
for digit in range(10):
    members = np.flatnonzero(labels == digit)
    test[rng.permutation(members)[: round(0.2 * len(members))]] = True
np.savez_compressed("src/npconv/data/digits.npz", x_train=images[~test], y_train=labels[~test],
                    x_test=images[test], y_test=labels[test])
