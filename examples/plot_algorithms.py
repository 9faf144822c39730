"""
Choosing an algorithm
=====================

npconv has four ways to run a convolution: ``im2col`` (column copies and one matrix
product), ``direct`` (a product per kernel offset, no columns), ``fft`` (spectra, for large
kernels) and ``depthwise``; ``auto`` picks by shape, dtype and workspace.  Forward+backward
times of a few layers, on the machine that built this page (small sizes, so that the page
builds quickly: ``npconv bench --algorithms`` times real layers).
"""

import time

import matplotlib.pyplot as plt
import numpy as np

import npconv

rng = np.random.default_rng(0)
layers = {
    "3x3, 32 channels": ((8, 32, 32, 32), (32, 32, 3, 3)),
    "1x1, 64 channels": ((8, 64, 32, 32), (64, 64, 1, 1)),
    "15x15 mean filter": ((8, 1, 96, 96), (1, 1, 15, 15)),
}
algorithms = ("im2col", "direct", "fft", "auto")
times = {}
for name, (x_shape, w_shape) in layers.items():
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    gy = np.ones_like(npconv.conv2d(x, w))
    for algorithm in algorithms:
        with npconv.conv_algorithm(algorithm):
            best = np.inf
            for _ in range(3):
                start = time.perf_counter()
                npconv.conv2d_backward(gy, x, w)
                npconv.conv2d(x, w)
                best = min(best, time.perf_counter() - start)
        times[name, algorithm] = best * 1e3

figure, axis = plt.subplots(figsize=(8, 3.8))
width = 0.2
for index, algorithm in enumerate(algorithms):
    axis.bar(np.arange(len(layers)) + index * width,
             [times[name, algorithm] for name in layers], width, label=algorithm)
axis.set_xticks(np.arange(len(layers)) + 1.5 * width, list(layers))
axis.set_ylabel("forward+backward, ms")
axis.legend()
figure.tight_layout()
