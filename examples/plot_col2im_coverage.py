"""
Why ``col2im(im2col(x)) != x``
==============================

``fold`` (col2im) is the adjoint of ``unfold`` (im2col), which is what backpropagation needs,
not its inverse: a pixel that ``m`` windows cover is copied into ``m`` columns, and ``fold``
adds all ``m`` back.  ``fold(unfold(ones))`` is the coverage count; dividing by it gives ``x``
back wherever some window covers it.
"""

import matplotlib.pyplot as plt
import numpy as np

import npconv

x = np.arange(1.0, 65.0).reshape(1, 1, 8, 8)
cases = [dict(kernel_size=3, padding=1), dict(kernel_size=3, stride=2),
         dict(kernel_size=2, stride=2)]
figure, axes = plt.subplots(1, len(cases), figsize=(11, 3.6))
for axis, options in zip(axes, cases):
    coverage = npconv.fold(npconv.unfold(np.ones_like(x), **options), (8, 8), **options)[0, 0]
    back = npconv.fold(npconv.unfold(x, **options), (8, 8), **options)[0, 0]
    covered = coverage > 0
    np.testing.assert_allclose(back[covered] / coverage[covered], x[0, 0][covered])
    image = axis.imshow(coverage, cmap="viridis", vmin=0, vmax=9)
    for (i, j), count in np.ndenumerate(coverage):
        axis.text(j, i, int(count), ha="center", va="center", color="white", fontsize=8)
    axis.set_title(", ".join(f"{k}={v}" for k, v in options.items()))
    axis.set_xticks([])
    axis.set_yticks([])
figure.colorbar(image, ax=axes, label="windows covering the pixel")
