"""The convolution engine: forward and backward of an N-d grouped convolution.

Everything else (conv1d/2d/3d, the transposed convolutions and their
gradients, ``torch.nn.grad``-style helpers) is expressed with two primitives:

``forward(x, weight, window, groups)``
    ``y[n, k, o] = sum_{c in group(k), j} weight[k, c, j] * x[n, c, o*s + j*d - lo]``

``backward(grad_output, window, groups, weight_shape, weight=..., x=...)``
    the adjoint of ``forward`` with respect to ``x`` (the input gradient, which
    is also the transposed convolution; needs ``weight``) and/or to ``weight``
    (needs ``x``).

Shapes: ``x`` is ``(N, C, *in_shape)``, ``weight`` ``(K, C/groups, *kernel)``,
``y`` ``(N, K, *out_shape)``; ``window`` is a :class:`~npconv._window.Window`.

Three algorithms compute each primitive.  The window algorithms read the
input in the flat-phase layout of :mod:`npconv._flat` (every kernel offset
reads one contiguous range), except the per-offset products of ``direct``:

``im2col`` (:mod:`npconv._im2col`)
    copy every window into a column buffer (one contiguous copy per kernel
    offset and plane, on the thread pool), then one matrix product per group
    and batch chunk.  The backward pass builds its columns from the input
    (and adds the input gradient back by slice-adds) or from the output
    gradient (no slice-adds), whichever is smaller.  A 1x1 convolution with
    unit stride and no padding multiplies the input itself.
``direct``
    no column buffer: with one input channel per group an elementwise
    multiply-add per kernel offset (:mod:`npconv._depthwise`); otherwise one
    small matrix product per kernel offset on exactly the cells it reads.
``fft`` (:mod:`npconv._fft`)
    products of spectra (``numpy.fft``), for large kernels on few channels.

``auto`` picks by shape and workspace (:func:`_choose`).  Batch chunks keep the temporaries inside the workspace
(:func:`npconv.get_workspace`), and im2col's near
:data:`npconv._im2col.CHUNK_BYTES`.
"""

from __future__ import annotations

import numpy as np

from . import _depthwise, _fft, _im2col, config
from ._blocks import batch_chunks
from ._flat import flat_phases

_ALL2 = (slice(None), slice(None))


def forward(x, weight, window, groups):
    """Convolution of ``x`` (N, C, *in_shape) with ``weight``; returns (N, K, *out_shape)."""
    if not (all_finite(x) and all_finite(weight)):
        return _exact_forward(x, weight, window, groups)
    algorithm = _choose(x.shape[1], weight.shape, window, x.dtype)
    if algorithm == "fft":
        y = _fft.forward(x, weight, window, groups, config.get_workspace(), _fft_tolerance())
        if y is not None:
            return y
        algorithm = _window_algorithm(x.shape[1], weight.shape, window, x.dtype)
    if algorithm == "im2col":
        return _im2col.forward(x, weight, window, groups)
    if weight.shape[1] == 1:
        return _depthwise.forward(x, weight, window)
    return _forward_direct(x, weight, window, groups)


def backward(grad_output, window, groups, weight_shape, *, weight=None, x=None):
    """Gradients of :func:`forward` given ``grad_output`` (N, K, *out_shape).

    Parameters
    ----------
    weight_shape : tuple
        ``(K, C/groups, *kernel)``.
    weight : ndarray or None
        Pass it to get the input gradient.
    x : ndarray or None
        The forward input; pass it to get the weight gradient.

    Returns
    -------
    grad_input : ndarray (N, C, *in_shape), or None without ``weight``
    grad_weight : ndarray of ``weight_shape``, or None without ``x``
    """
    n_batch = grad_output.shape[0]
    dtype = grad_output.dtype
    in_channels = weight_shape[1] * groups
    if not all(all_finite(array) for array in (grad_output, weight, x) if array is not None):
        return _exact_backward(grad_output, window, groups, weight_shape, weight, x)
    algorithm = _choose(in_channels, weight_shape, window, dtype)
    if algorithm == "fft":
        gradients = _fft.backward(grad_output, weight, window, groups, in_channels, x,
                                  config.get_workspace(), _fft_tolerance())
        if gradients is not None:
            return gradients
        algorithm = _window_algorithm(in_channels, weight_shape, window, dtype)
    grad_weight = None if x is None else np.zeros(weight_shape, dtype)
    grad_input = None
    if algorithm == "im2col" or weight_shape[1] == 1:
        # The flat-phase algorithms write every cell of the input gradient.
        # (Zeroing a fresh array costs as much as a pass over it.)
        if weight is not None:
            grad_input = np.empty((n_batch, in_channels) + window.in_shape, dtype)
        if algorithm == "im2col":
            _im2col.backward(grad_output, weight, window, groups, in_channels, x, grad_input,
                             grad_weight)
        else:
            _depthwise.backward(grad_output, window, weight, x, grad_input, grad_weight)
    else:
        if weight is not None:
            grad_input = np.zeros((n_batch, in_channels) + window.in_shape, dtype)
        _backward_direct(grad_output, weight, window, groups, in_channels, x, grad_input,
                         grad_weight)
    return grad_input, grad_weight


def all_finite(array):
    """Whether ``array`` holds finite numbers only, without an array-sized temporary.

    A finite sum has no infinite or NaN term; only a sum that overflowed or
    holds one is checked again, element by element, in blocks.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        if np.isfinite(np.sum(array)):
            return True
    flat = array.reshape(-1) if array.flags.c_contiguous else None
    if flat is None:
        return bool(np.isfinite(array).all())
    step = 1 << 20
    return all(np.isfinite(flat[start:start + step]).all() for start in range(0, flat.size, step))


def _fft_tolerance():
    """The error ``auto`` lets the transform make, relative to each output: half a float32 unit
    roundoff (``auto`` gives float64 data to the window algorithms), or None for a forced ``fft``."""
    return 2.0 ** -25 if config.get_algorithm() == "auto" else None


# --- non-finite values: torch's arithmetic, exactly ------------------------------

def _exact_forward(x, weight, window, groups):
    """The forward pass where an input or weight is infinite or NaN.

    As in torch, padding cells are zeros that are multiplied like any other
    cell (an infinite weight tap over padding gives NaN), while the cells no
    window reads are not.  The windows are read from a zero-padded copy of
    each batch chunk, one small product per kernel offset.
    """
    padded = window.zero_padded()
    n_batch, channels = x.shape[:2]
    y = np.empty((n_batch, weight.shape[0]) + window.out_shape, x.dtype)
    per_sample = (channels * (padded.in_volume + window.out_volume)
                  + weight.shape[0] * window.out_volume) * x.dtype.itemsize
    with np.errstate(invalid="ignore", over="ignore"):  # deliberate: torch's NaNs and infinities
        for chunk in batch_chunks(n_batch, per_sample):
            y[chunk] = _forward_direct(_pad_zeros(x[chunk], window), weight, padded, groups)
    return y


def _exact_backward(grad_output, window, groups, weight_shape, weight, x):
    """Both gradients where an input, weight or output gradient is infinite or NaN.

    The input gradient sums ``weight * grad_output`` over the window
    positions that read each real cell; the weight gradient multiplies the
    zero-padded input (padding cells included, as in torch) by the output
    gradient.  Neither computes a cell that no window reads.
    """
    n_batch = grad_output.shape[0]
    in_channels = weight_shape[1] * groups
    grad_input = grad_weight = None
    with np.errstate(invalid="ignore", over="ignore"):  # deliberate: torch's NaNs and infinities
        if weight is not None:
            grad_input = np.zeros((n_batch, in_channels) + window.in_shape, grad_output.dtype)
            _backward_direct(grad_output, weight, window, groups, in_channels, None, grad_input,
                             None)
        if x is not None:
            grad_weight = _exact_weight_gradient(grad_output, window, groups, weight_shape, x)
    return grad_input, grad_weight


def _exact_weight_gradient(grad_output, window, groups, weight_shape, x):
    """The weight gradient of :func:`_exact_backward`."""
    n_batch, out_channels = grad_output.shape[:2]
    in_channels = weight_shape[1] * groups
    dtype = grad_output.dtype
    grad_weight = np.zeros(weight_shape, dtype)
    padded = window.zero_padded()
    per_sample = (in_channels * padded.in_volume
                  + (in_channels + out_channels) * window.out_volume) * dtype.itemsize
    for chunk in batch_chunks(n_batch, per_sample):
        _backward_direct(grad_output[chunk], None, padded, groups, in_channels,
                         _pad_zeros(x[chunk], window), None, grad_weight)
    return grad_weight


def _pad_zeros(x, window):
    """``x`` (n, C, *in_shape) with its padding cells as explicit zeros."""
    return np.pad(x, ((0, 0), (0, 0)) + tuple(window.padding))


def _choose(in_channels, weight_shape, window, dtype):
    """Pick the algorithm: the caller's choice, else by shape, dtype and workspace.

    ``auto`` considers ``fft`` for float32 data only (see :func:`_fft_tolerance`).
    A forced ``im2col`` or ``fft`` whose temporaries for one sample do not
    fit the workspace takes ``direct``, the leanest.
    """
    chosen = config.get_algorithm()
    budget = config.get_workspace()
    if chosen == "auto":
        chosen = _window_algorithm(in_channels, weight_shape, window, dtype)
        if (dtype == np.float32 and window.kernel_volume > 1
                and _fft.cost(window, in_channels, weight_shape)
                < _window_cost(chosen, in_channels, weight_shape, window)
                and _fft.fits(window, in_channels, weight_shape, budget)):
            chosen = "fft"
    if chosen == "fft" and not _fft.fits(window, in_channels, weight_shape, budget):
        return "direct"
    if chosen == "im2col" and _im2col.sample_bytes(window, in_channels, weight_shape[0],
                                                   dtype) > budget:
        return "direct"
    return chosen


def _window_algorithm(in_channels, weight_shape, window, dtype):
    """``im2col`` or ``direct``: the faster of the two that fits the workspace."""
    # Depthwise (one input channel per group, several groups): an elementwise
    # multiply-add per kernel offset beats copying columns for a matrix
    # product that has nothing to contract.  A single filter (one channel in
    # and out) is faster on im2col, whose backward needs no slice-adds there.
    elementwise = weight_shape[1] == 1 and in_channels > 1
    if elementwise or _im2col.sample_bytes(window, in_channels, weight_shape[0],
                                           dtype) > config.get_workspace():
        return "direct"
    return "im2col"


def _window_cost(algorithm, in_channels, weight_shape, window):
    """Estimated nanoseconds per sample of a window algorithm (for the choice of ``fft``).

    Both move every window cell once (a column copy, or an elementwise
    multiply-add): about 0.45 ns per cell, measured on the benchmark's mean
    filters and depthwise layer.  im2col adds its matrix product at about
    200 GFLOP/s.
    """
    out_channels, group_channels = weight_shape[:2]
    cells = flat_phases(window).positions * window.kernel_volume
    if algorithm == "im2col":
        flops = 2 * out_channels * group_channels * window.kernel_volume * window.out_volume
        return 0.45 * in_channels * cells + 0.005 * flops
    return 0.45 * out_channels * cells


# --- direct: one small product per kernel offset, no column buffer -----------

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


def _forward_direct(x, weight, window, groups):
    n_batch, channels = x.shape[:2]
    out_channels = weight.shape[0]
    y = np.zeros((n_batch, out_channels) + window.out_shape, x.dtype)
    per_sample = (channels + out_channels) * window.out_volume * x.dtype.itemsize
    for chunk in batch_chunks(n_batch, per_sample):
        x_chunk, y_chunk = x[chunk], y[chunk]
        for offset, in_sl, out_sl in window.offsets:
            w_j = _offset_matrix(weight, offset, groups)
            y_chunk[_ALL2 + out_sl] += _apply(w_j, x_chunk[_ALL2 + in_sl], groups)
    return y


def _backward_direct(grad_output, weight, window, groups, channels, x, grad_input, grad_weight):
    n_batch, out_channels = grad_output.shape[:2]
    per_sample = (2 * channels + out_channels) * window.out_volume * grad_output.dtype.itemsize
    for chunk in batch_chunks(n_batch, per_sample):
        for offset, in_sl, out_sl in window.offsets:
            _backward_direct_offset(grad_output[chunk], weight, groups, offset, in_sl, out_sl,
                                    None if x is None else x[chunk],
                                    None if grad_input is None else grad_input[chunk],
                                    grad_weight)


def _backward_direct_offset(grad_output, weight, groups, offset, in_sl, out_sl, x, grad_input,
                            grad_weight):
    """One kernel offset's share of both gradients (its temporaries die on return)."""
    n, out_channels = grad_output.shape[:2]
    gy_block = np.ascontiguousarray(grad_output[_ALL2 + out_sl])
    if grad_weight is not None:
        x_block = np.ascontiguousarray(x[_ALL2 + in_sl]).reshape(n, groups, -1,
                                                                 gy_block[0, 0].size)
        gy_flat = gy_block.reshape(n, groups, out_channels // groups, -1)
        # (n, G, K/G, L) @ (n, G, L, C/G), summed over the batch: (G, K/G, C/G)
        update = _im2col.inner_products(gy_flat, x_block).sum(axis=0)
        grad_weight[_ALL2 + offset] += update.reshape(out_channels, -1)
    if grad_input is not None:
        w_j_t = _offset_matrix(weight, offset, groups).transpose(0, 2, 1)
        grad_input[_ALL2 + in_sl] += _apply(w_j_t, gy_block, groups)
