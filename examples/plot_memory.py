"""
Memory: the windowed array against npconv's workspace
=====================================================

The windowed approach materialises a ``batch x channels x out_h x out_w x kh x kw`` array;
npconv cuts its work into pieces that fit its workspace (256 MiB by default, set with
``npconv.workspace``).  Measured with ``tracemalloc`` for a 5x5 convolution's forward and
backward pass over growing batches, under a 16 MiB workspace.
"""

import tracemalloc

import matplotlib.pyplot as plt
import numpy as np

import npconv

rng = np.random.default_rng(0)
w = rng.standard_normal((8, 4, 5, 5)).astype(np.float32)
batches = [2, 8, 32, 64]
windowed, ours = [], []
for n in batches:
    x = rng.standard_normal((n, 4, 64, 64)).astype(np.float32)
    windowed.append(n * 4 * 60 * 60 * 25 * 4 / 2**20)  # the windows of a valid 5x5 convolution
    with npconv.workspace(16 * 2**20):
        npconv.release_scratch()
        tracemalloc.start()
        y = npconv.conv2d(x, w)
        npconv.conv2d_backward(np.ones_like(y), x, w)
        ours.append((tracemalloc.get_traced_memory()[1] - 2 * x.nbytes - y.nbytes) / 2**20)
        tracemalloc.stop()

figure, axis = plt.subplots(figsize=(6, 3.8))
axis.plot(batches, windowed, "o-", label="the windowed array alone")
axis.plot(batches, ours, "o-", label="npconv forward+backward, beyond inputs and results")
axis.axhline(16, color="gray", linestyle=":", label="workspace (16 MiB)")
axis.set(xlabel="batch", ylabel="MiB", xscale="log", yscale="log")
axis.set_xticks(batches, [str(n) for n in batches])
axis.minorticks_off()
axis.legend()
figure.tight_layout()
