"""A few cells of a convolution's results, summed from their own products, in float64.

The ``fft`` algorithm's error is bounded per plane, not per cell, so a cell
much smaller than its plane may be relatively inaccurate.  Such cells are
few, and these functions compute them exactly as a window algorithm would
(the sum of the cell's own products): for the forward pass ``weight *
input`` over its window, for the input gradient ``weight * grad_output``
over the windows that read the cell, for the weight gradient ``grad_output *
input`` over the batch and the positions.  They gather, with temporaries of
``cells x (products per cell)`` values; padding cells are zeros.
"""

from __future__ import annotations

import numpy as np


def _read_cells(window, out_index):
    """Input cells read by the windows at ``out_index`` (tuple of (f,) arrays), per kernel offset.

    Returns ``(cells, valid)``: a tuple of (f, taps) index arrays, one per
    spatial dimension (clipped into the input), and the (f, taps) mask of the
    cells that are real, not padding.
    """
    taps = np.indices(window.kernel).reshape(window.ndim, -1)
    cells, valid = [], True
    for dim in range(window.ndim):
        read = (out_index[dim][:, None] * window.stride[dim]
                + taps[dim][None, :] * window.dilation[dim] - window.padding[dim][0])
        valid = valid & (read >= 0) & (read < window.in_shape[dim])
        cells.append(np.clip(read, 0, window.in_shape[dim] - 1))
    return tuple(cells), valid


def forward(x, weight, window, groups, index):
    """The forward outputs ``y[index]``; ``index`` is ``(n, k, *o)``, arrays of length f."""
    n, k = index[0], index[1]
    group_in = weight.shape[1]
    cells, valid = _read_cells(window, index[2:])                            # (f, T)
    channels = (k // (weight.shape[0] // groups))[:, None] * group_in + np.arange(group_in)
    values = x[(n[:, None, None], channels[:, :, None])
               + tuple(c[:, None, :] for c in cells)].astype(np.float64)     # (f, C/G, T)
    products = weight[k].reshape(len(k), group_in, -1) * values * valid[:, None, :]
    return products.sum(axis=(1, 2))


def input_gradient(grad_output, weight, window, groups, index):
    """The input-gradient cells ``grad_input[index]`` (``(n, c, *i)``)."""
    n, c = index[0], index[1]
    group_in = weight.shape[1]
    group_out = weight.shape[0] // groups
    taps = np.indices(window.kernel).reshape(window.ndim, -1)
    out_cells, valid = [], True
    for dim in range(window.ndim):
        offset = (index[2 + dim][:, None] + window.padding[dim][0]
                  - taps[dim][None, :] * window.dilation[dim])
        position = offset // window.stride[dim]
        valid = (valid & (offset % window.stride[dim] == 0) & (position >= 0)
                 & (position < window.out_shape[dim]))
        out_cells.append(np.clip(position, 0, window.out_shape[dim] - 1))
    filters = (c // group_in)[:, None] * group_out + np.arange(group_out)      # (f, K/G)
    values = grad_output[(n[:, None, None], filters[:, :, None])
                         + tuple(o[:, None, :] for o in out_cells)].astype(np.float64)  # (f, K/G, T)
    w = weight[filters, (c % group_in)[:, None]].reshape(values.shape)
    return (w * values * valid[:, None, :]).sum(axis=(1, 2))


def weight_gradient(grad_output, x, window, groups, index):
    """The weight-gradient cells ``grad_weight[index]`` (``(k, c, *j)``, ``c`` within its group).

    Each cell sums over the whole batch and every window position, so this
    is one pass over a plane of ``grad_output`` and of ``x`` per cell: for few cells only.
    """
    group_in = x.shape[1] // groups
    group_out = grad_output.shape[1] // groups
    out_index = tuple(o.ravel() for o in np.indices(window.out_shape))
    result = np.empty(len(index[0]))
    for cell, (k, c) in enumerate(zip(index[0], index[1])):
        channel = (k // group_out) * group_in + c
        read, valid = [], True
        for dim in range(window.ndim):
            cells = (out_index[dim] * window.stride[dim]
                     + index[2 + dim][cell] * window.dilation[dim] - window.padding[dim][0])
            valid = valid & (cells >= 0) & (cells < window.in_shape[dim])
            read.append(np.clip(cells, 0, window.in_shape[dim] - 1))
        values = x[(slice(None), channel) + tuple(read)].astype(np.float64) * valid  # (N, P)
        result[cell] = np.sum(grad_output[:, k].reshape(len(values), -1) * values)
    return result
