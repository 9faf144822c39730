"""
The gradient of a mean filter, without the windowed array
=========================================================

A loss of a filtered image, ``L = sum(conv2d(x, w) ** 2) / 2``, has the gradient
``conv2d_input(x.shape, w, conv2d(x, w))``.  The usual NumPy way builds the array of every
window (``sliding_window_view``), ``kernel**2`` times the image; npconv computes the same
numbers inside its workspace.
"""

import tracemalloc

import matplotlib.pyplot as plt
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import npconv

rng = np.random.default_rng(0)
x = rng.standard_normal((16, 1, 96, 96))
k = 9
w = np.full((1, 1, k, k), 1 / k**2)


def windowed_gradient(x):
    """The textbook way: every window copied out, then multiplied back."""
    padded = np.pad(x, ((0, 0), (0, 0), (k // 2, k // 2), (k // 2, k // 2)))
    windows = sliding_window_view(padded, (k, k), axis=(2, 3))  # a view...
    y = np.einsum("ncijkl,kl->ncij", windows, w[0, 0])          # ...read through
    grad = np.zeros_like(padded)
    for i in range(k):                                          # adjoint: shift-and-add
        for j in range(k):
            grad[:, :, i:i + x.shape[2], j:j + x.shape[3]] += y * w[0, 0, i, j]
    return grad[:, :, k // 2:-(k // 2), k // 2:-(k // 2)]


def npconv_gradient(x):
    y = npconv.conv2d(x, w, padding="same")
    return npconv.conv2d_input(x.shape, w, y, padding="same")


peaks = {}
for name, function in (("sliding windows + einsum", windowed_gradient), ("npconv", npconv_gradient)):
    tracemalloc.start()
    result = function(x)
    peaks[name] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    peaks[name + " result"] = result
np.testing.assert_allclose(peaks["npconv result"], peaks["sliding windows + einsum result"],
                           atol=1e-12)
print({name: f"{value:.1f} MiB" for name, value in peaks.items() if "result" not in name})

figure, axes = plt.subplots(1, 3, figsize=(10, 3.4))
axes[0].imshow(x[0, 0], cmap="gray")
axes[0].set_title("image")
axes[1].imshow(peaks["npconv result"][0, 0], cmap="gray")
axes[1].set_title("dL/dx (npconv)")
names = ["sliding windows + einsum", "npconv"]
axes[2].bar(names, [peaks[n] for n in names], color=["tab:gray", "tab:blue"])
axes[2].set_ylabel("peak extra memory, MiB")
axes[2].tick_params(axis="x", labelrotation=15)
for axis in axes[:2]:
    axis.axis("off")
figure.tight_layout()
