"""The ``direct`` algorithm: one small matrix product per kernel offset, no column buffer.

For each kernel offset, the output cells whose input cell is real form a
contiguous range (:attr:`~npconv.window.geometry.Window.offsets`); the
offset's weights multiply exactly those cells, per group, and the result is
added into the output (forward) or the input gradient (backward), and the
products of output gradient and input cells into the weight gradient.

The plan's pieces (batch chunks, or bands of output rows of one sample
where a sample does not fit the workspace alone,
:meth:`~npconv.window.geometry.Window.band`) keep the temporaries inside the
workspace.  A ``padded`` plan multiplies the padding cells as real zeros
(torch's arithmetic for infinities and NaNs, :mod:`npconv.engine.planning`).
"""

from __future__ import annotations

import numpy as np

from .im2col import inner_products

_ALL2 = (slice(None), slice(None))

def sample_bytes(window, channels, out_channels, itemsize, backward, padded):
    """Bytes of one sample's temporaries in a forward or ``backward`` pass of a (``padded``) plan."""
    cells = ((2 * channels if backward else channels) + out_channels) * window.out_volume
    if padded:
        cells += channels * window.zero_padded().in_volume
    return cells * itemsize


def _piece(window, band, inputs, outputs):
    """The window of a piece, and the parts of input-shaped and output-shaped arrays it covers.

    ``inputs`` and ``outputs`` are arrays (N, C, *spatial) already cut to
    the piece's samples, or None.
    """
    if band is None:
        return window, inputs, outputs
    dim, rows = band
    in_slice, piece = window.band(dim, rows)

    def along(array, sl):
        return None if array is None else array[_ALL2 + (slice(None),) * dim + (sl,)]
    return (piece, [along(a, in_slice) for a in inputs], [along(a, rows) for a in outputs])


def _offset_matrix(weight, offset, groups):
    """``weight[:, :, *offset]`` as (G, K/G, C/G)."""
    w_j = weight[_ALL2 + offset]
    return w_j.reshape(groups, -1, w_j.shape[1])


def _apply(matrix, block, groups):
    """Per-group product ``matrix @ block``.

    ``matrix`` is (G, M, R); ``block`` (n, G*R, *spatial), any strides.
    Returns (n, G*M, *spatial).  With R == 1 it is a broadcast product on the
    strided block (no copy); otherwise a matrix product on a contiguous copy.
    """
    n, spatial = block.shape[0], block.shape[2:]
    g, m, r = matrix.shape
    if r == 1:
        lifted = block.reshape((n, g, 1) + spatial)
        result = matrix.reshape((g, m) + (1,) * len(spatial)) * lifted
    else:
        flat = np.ascontiguousarray(block).reshape(n, g, r, -1)
        result = np.matmul(matrix, flat)
    return result.reshape((n, g * m) + spatial)


def forward(x, weight, window, groups, plan):
    """``y`` by one small product per kernel offset, over ``plan.pieces``."""
    y = np.zeros((x.shape[0], weight.shape[0]) + window.out_shape, x.dtype)
    for chunk, band in plan.pieces:
        piece, (x_piece,), (y_piece,) = _piece(window, band, [x[chunk]], [y[chunk]])
        if plan.padded:
            x_piece, piece = pad_zeros(x_piece, piece), piece.zero_padded()
        for offset, in_sl, out_sl in piece.offsets:
            w_j = _offset_matrix(weight, offset, groups)
            y_piece[_ALL2 + out_sl] += _apply(w_j, x_piece[_ALL2 + in_sl], groups)
    return y


def backward(grad_output, weight, window, groups, x, grad_input, grad_weight, plan):
    """Add both gradients by one small product per kernel offset, over ``plan.pieces``.

    A ``padded`` plan (for the weight gradient only) multiplies padding
    cells of ``x`` too, as torch.
    """
    for chunk, band in plan.pieces:
        piece, (x_piece, gi_piece), (gy_piece,) = _piece(
            window, band, [None if x is None else x[chunk],
                           None if grad_input is None else grad_input[chunk]],
            [grad_output[chunk]])
        if plan.padded:
            x_piece, piece = pad_zeros(x_piece, piece), piece.zero_padded()
        for offset, in_sl, out_sl in piece.offsets:
            _backward_offset(gy_piece, weight, groups, offset, in_sl, out_sl, x_piece, gi_piece,
                             grad_weight)


def _backward_offset(grad_output, weight, groups, offset, in_sl, out_sl, x, grad_input,
                     grad_weight):
    """One kernel offset's share of both gradients (its temporaries die on return)."""
    n, out_channels = grad_output.shape[:2]
    gy_block = np.ascontiguousarray(grad_output[_ALL2 + out_sl])
    if grad_weight is not None:
        x_block = np.ascontiguousarray(x[_ALL2 + in_sl]).reshape(n, groups, -1,
                                                                 gy_block[0, 0].size)
        gy_flat = gy_block.reshape(n, groups, out_channels // groups, -1)
        # (n, G, K/G, L) @ (n, G, L, C/G), summed over the batch: (G, K/G, C/G)
        update = inner_products(gy_flat, x_block).sum(axis=0)
        grad_weight[_ALL2 + offset] += update.reshape(out_channels, -1)
    if grad_input is not None:
        w_j_t = _offset_matrix(weight, offset, groups).transpose(0, 2, 1)
        grad_input[_ALL2 + in_sl] += _apply(w_j_t, gy_block, groups)


def pad_zeros(x, window):
    """``x`` (n, C, *in_shape) with its padding cells as explicit zeros."""
    return np.pad(x, ((0, 0), (0, 0)) + tuple(window.padding))

