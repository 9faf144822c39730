"""The ``direct`` algorithm: one small matrix product per kernel offset, no column buffer.

For each kernel offset, the output cells whose input cell is real form a
contiguous range (:attr:`~npconv.window.geometry.Window.offsets`); the
offset's weights multiply exactly those cells, per group, and the result is
added into the output (forward) or the input gradient (backward), and the
products of output gradient and input cells into the weight gradient.

Batch chunks keep the temporaries inside the workspace; a sample that does
not fit alone is cut into bands of output rows
(:meth:`~npconv.window.geometry.Window.band`).  With ``padded``, the padding
cells are real zeros that are multiplied (torch's arithmetic for infinities
and NaNs, :mod:`npconv.engine.planning`).
"""

from __future__ import annotations

import numpy as np

from ..window.blocks import batch_chunks
from .im2col import inner_products

_ALL2 = (slice(None), slice(None))

def _pieces(window, n_batch, per_sample, workspace):
    """``(batch slice, band)`` pieces of a direct pass whose temporaries fit the workspace.

    ``per_sample`` is the bytes of one whole sample's temporaries.  Samples go
    together while they fit; a sample that does not fit alone is cut into
    bands of output rows along its longest output dimension (``band`` is
    ``(dim, rows)``, or None for whole samples).
    """
    if per_sample <= workspace:
        return [(chunk, None) for chunk in batch_chunks(n_batch, per_sample, workspace)]
    dim = max(range(window.ndim), key=lambda d: window.out_shape[d])
    rows = window.out_shape[dim]
    per_band = max(1, rows * workspace // per_sample)
    return [(slice(n, n + 1), (dim, slice(r, min(rows, r + per_band))))
            for n in range(n_batch) for r in range(0, rows, per_band)]


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


def forward(x, weight, window, groups, workspace, padded=False):
    """``y`` by one small product per kernel offset; ``padded`` multiplies padding cells too (as torch)."""
    n_batch, channels = x.shape[:2]
    out_channels = weight.shape[0]
    y = np.zeros((n_batch, out_channels) + window.out_shape, x.dtype)
    per_sample = (channels + out_channels) * window.out_volume * x.dtype.itemsize
    if padded:
        per_sample += channels * window.zero_padded().in_volume * x.dtype.itemsize
    for chunk, band in _pieces(window, n_batch, per_sample, workspace):
        piece, (x_piece,), (y_piece,) = _piece(window, band, [x[chunk]], [y[chunk]])
        if padded:
            x_piece, piece = pad_zeros(x_piece, piece), piece.zero_padded()
        for offset, in_sl, out_sl in piece.offsets:
            w_j = _offset_matrix(weight, offset, groups)
            y_piece[_ALL2 + out_sl] += _apply(w_j, x_piece[_ALL2 + in_sl], groups)
    return y


def backward(grad_output, weight, window, groups, channels, x, grad_input, grad_weight,
             workspace, padded=False):
    """Add both gradients by one small product per kernel offset.

    ``padded`` (for the weight gradient only) multiplies padding cells of
    ``x`` too, as torch.
    """
    n_batch, out_channels = grad_output.shape[:2]
    itemsize = grad_output.dtype.itemsize
    per_sample = (2 * channels + out_channels) * window.out_volume * itemsize
    if padded:
        per_sample += channels * window.zero_padded().in_volume * itemsize
    for chunk, band in _pieces(window, n_batch, per_sample, workspace):
        piece, (x_piece, gi_piece), (gy_piece,) = _piece(
            window, band, [None if x is None else x[chunk],
                           None if grad_input is None else grad_input[chunk]],
            [grad_output[chunk]])
        if padded:
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

