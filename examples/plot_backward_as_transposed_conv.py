"""
conv2d backward with stride and padding is a transposed convolution
===================================================================

The input gradient of ``y = conv2d(x, w, stride=s, padding=p)`` spreads every output
gradient back over the window it came from.  Written as a convolution: put ``s - 1`` zeros
between the cells of ``grad_output`` (dilate), pad it by ``k - 1 - p`` on each side, and
convolve with the kernel flipped in both axes.  That is ``conv_transpose2d``, and it is what
``conv2d_input`` returns.
"""

import matplotlib.pyplot as plt
import numpy as np

import npconv

rng = np.random.default_rng(0)
s, p, k, n = 2, 1, 3, 7
x = rng.standard_normal((1, 1, n, n))
w = rng.standard_normal((1, 1, k, k))
y = npconv.conv2d(x, w, stride=s, padding=p)
gy = rng.standard_normal(y.shape)

dilated = np.zeros((1, 1, (y.shape[2] - 1) * s + 1, (y.shape[3] - 1) * s + 1))
dilated[:, :, ::s, ::s] = gy
pad = k - 1 - p
extra = n - ((y.shape[2] - 1) * s + 1 + 2 * pad - k + 1)   # cells the floor dropped
padded = np.pad(dilated, ((0, 0), (0, 0), (pad, pad + extra), (pad, pad + extra)))
by_hand = npconv.conv2d(padded, w[:, :, ::-1, ::-1])

grad_x = npconv.conv2d_input(x.shape, w, gy, stride=s, padding=p)
np.testing.assert_allclose(by_hand, grad_x, atol=1e-12)
np.testing.assert_allclose(npconv.conv_transpose2d(gy, w, stride=s, padding=p,
                                                   output_padding=extra), grad_x, atol=1e-12)

figure, axes = plt.subplots(1, 4, figsize=(12, 3.2))
for axis, (title, image) in zip(axes, [("grad_output", gy[0, 0]),
                                       (f"dilated by {s}, padded by {pad}", padded[0, 0]),
                                       ("kernel, flipped", w[0, 0, ::-1, ::-1]),
                                       ("= conv2d_input", grad_x[0, 0])]):
    axis.imshow(image, cmap="coolwarm")
    axis.set_title(title)
    axis.set_xticks([])
    axis.set_yticks([])
figure.tight_layout()
