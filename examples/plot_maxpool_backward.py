"""
Max-pool backward: ties, padding and ``ceil_mode``
==================================================

Each window sends its whole gradient to one cell: the first maximum in row-major order, as
torch.  Ties therefore go to the top-left equal cell, a window that holds a NaN sends it to
its last NaN, padding cells never win, and with ``ceil_mode`` the extra last windows (which
may hang over the edge) send theirs to the cells they do hold.
"""

import matplotlib.pyplot as plt
import numpy as np

import npconv

x = np.array([[1, 3, 3, 0, 2],
              [3, 2, 1, 1, 2],
              [0, 1, 5, 5, 0],
              [2, 2, 5, 5, 1],
              [4, 0, 1, 4, 4]], float)[None, None]
options = dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)
values, indices = npconv.max_pool2d(x, return_indices=True, **options)
grad = npconv.max_pool2d_backward(np.ones_like(values), x, indices=indices, **options)
print("pooled:\n", values[0, 0])
print("gradient:\n", grad[0, 0])

figure, axes = plt.subplots(1, 2, figsize=(8, 3.8))
axes[0].imshow(x[0, 0], cmap="Greys", alpha=0.4)
for (i, j), value in np.ndenumerate(x[0, 0]):
    axes[0].text(j, i, int(value), ha="center", va="center")
# windows start at -1, 1 and 3 (padding 1, stride 2): cells {0}, {1, 2}, {3, 4} per axis
for edge in (0.5, 2.5):
    axes[0].axhline(edge, color="tab:red")
    axes[0].axvline(edge, color="tab:red")
axes[0].set_title("input; window edges in red")
axes[1].imshow(grad[0, 0], cmap="Blues")
for (i, j), value in np.ndenumerate(grad[0, 0]):
    axes[1].text(j, i, int(value), ha="center", va="center")
axes[1].set_title("gradient of sum(max_pool2d(x))")
for axis in axes:
    axis.set_xticks([])
    axis.set_yticks([])
figure.tight_layout()
