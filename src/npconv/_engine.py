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

Two algorithms compute each primitive.  Both read the input in the
flat-phase layout of :mod:`npconv._flat` (every kernel offset reads one
contiguous range), except the per-offset products of ``direct``:

``im2col``
    copy every window into a column buffer ``(C, *kernel, n, positions)``
    (one contiguous copy per kernel offset and plane, on the thread pool),
    then one matrix product per group and batch chunk; the input gradient
    multiplies into the same buffer and adds it back by slice-adds.  A 1x1
    convolution with unit stride and no padding multiplies the input itself.
``direct``
    no column buffer: with one input channel per group an elementwise
    multiply-add per kernel offset (:mod:`npconv._depthwise`); otherwise one
    small matrix product per kernel offset on exactly the cells it reads.

Batch chunks keep the temporaries inside the workspace
(:func:`npconv.get_workspace`), and im2col's near :data:`CHUNK_BYTES`.
"""

from __future__ import annotations

import math

import numpy as np

from . import _depthwise, config
from ._blocks import channel_blocks, run_blocks
from ._flat import FlatPhases
from ._scratch import scratch

_ALL2 = (slice(None), slice(None))


def forward(x, weight, window, groups):
    """Convolution of ``x`` (N, C, *in_shape) with ``weight``; returns (N, K, *out_shape)."""
    algorithm = _choose(x.shape[1], weight.shape, window, x.dtype)
    if algorithm == "im2col":
        return _forward_im2col(x, weight, window, groups)
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
    grad_input = (None if weight is None
                  else np.zeros((n_batch, in_channels) + window.in_shape, dtype))
    grad_weight = None if x is None else np.zeros(weight_shape, dtype)
    algorithm = _choose(in_channels, weight_shape, window, dtype)
    if algorithm == "direct" and weight_shape[1] != 1:
        _backward_direct(grad_output, weight, window, groups, in_channels, x, grad_input,
                         grad_weight)
        return grad_input, grad_weight
    # The flat-phase algorithms compute overhang cells (see npconv._flat), where
    # a zero gradient times an infinite or NaN weight or input gives NaN.  Those
    # inputs take exact windows.
    if grad_input is not None and not np.isfinite(weight).all():
        _backward_direct(grad_output, weight, window, groups, in_channels, None, grad_input,
                         None)
        flat_input = None
    else:
        flat_input = grad_input
    if algorithm == "im2col":
        _backward_im2col(grad_output, weight, window, groups, in_channels, x, flat_input,
                         grad_weight)
    else:
        _depthwise.backward(grad_output, window, weight, x, flat_input, grad_weight)
    if grad_weight is not None and not np.isfinite(grad_weight).all():
        grad_weight[...] = 0
        _backward_direct(grad_output, None, window, groups, in_channels, x, None, grad_weight)
    return grad_input, grad_weight


def _choose(in_channels, weight_shape, window, dtype):
    """Pick the algorithm: the caller's choice, else by shape and workspace."""
    chosen = config.get_algorithm()
    if chosen != "auto":
        return chosen
    column_bytes = in_channels * window.kernel_volume * window.out_volume * dtype.itemsize
    # One input channel per group and one output channel per group (depthwise,
    # a single filter): an elementwise multiply-add per kernel offset beats
    # copying columns for a matrix product that has nothing to contract.
    elementwise = weight_shape[1] == 1 and (weight_shape[0] == 1 or in_channels > 1)
    if elementwise or column_bytes > config.get_workspace():
        return "direct"
    return "im2col"


#: Batch chunks of the im2col algorithm aim at this many bytes of temporaries:
#: small enough that a chunk's columns are still in the CPU cache when the
#: matrix product reads them, large enough for an efficient product.  Measured
#: forward+backward on the benchmark's CIFAR 3x3 layer: 87 ms with 8 MiB
#: chunks, 73 ms with 24 MiB, 88 ms with 256 MiB; on the 7x7 stem 61, 58, 73.
CHUNK_BYTES = 24 << 20


def _batch_chunks(n_batch, bytes_per_sample, target=None):
    """Slices of the batch whose temporaries fit the workspace, or ``target`` if smaller.

    Every chunk has at least one sample.
    """
    budget = config.get_workspace() if target is None else min(target, config.get_workspace())
    per_chunk = max(1, budget // max(1, bytes_per_sample))
    # Even chunks: 9 samples in chunks of 5 are 5 + 4, not 5 + 4 with a padded buffer for 5.
    count = -(-n_batch // per_chunk)
    per_chunk = -(-n_batch // max(1, count))
    return [slice(start, min(n_batch, start + per_chunk))
            for start in range(0, n_batch, max(1, per_chunk))]


# --- im2col: flat-phase columns + one matrix product per group and batch chunk --

class _Columns:
    """Buffers of the im2col algorithm, allocated once per call for the largest chunk.

    ``phases`` holds the chunk's input (or its gradient) in the flat-phase
    layout (:mod:`npconv._flat`); ``cols`` the columns ``(C, *kernel, n,
    positions)``; ``rows`` an output-shaped ``(K, n, positions)`` matrix.
    Reusing them keeps the peak at one set and pays first-touch page faults
    once.  Copies between ``phases`` and ``cols`` run on the thread pool, a
    block of channels per task.
    """

    def __init__(self, flat, chunks, dtype, channels, out_channels):
        largest = max((c.stop - c.start for c in chunks), default=0)
        self.flat = flat
        self.channels, self.out_channels = channels, out_channels
        kernel_volume = flat.window.kernel_volume
        self.phases, self.cols, self.rows = scratch(
            [(largest, len(flat.residues), channels, flat.volume),
             (channels * kernel_volume * largest * flat.positions,),
             (out_channels * largest * flat.positions,)], dtype)
        self.dirty = True  # whether padding cells of ``phases`` may hold anything but zeros
        # Kernel offsets that read only padding keep zero columns.
        self.idle_slots = sorted(set(range(kernel_volume)) - set(flat.slots))
        self.channel_blocks = channel_blocks(
            channels, largest * (len(flat.residues) * flat.volume
                                 + kernel_volume * flat.positions) * dtype.itemsize)

    def columns(self, n):
        """The ``(C, kernel_volume, n, positions)`` column buffer for a chunk of ``n`` samples."""
        shape = (self.channels, self.flat.window.kernel_volume, n, self.flat.positions)
        return self.cols[:math.prod(shape)].reshape(shape)

    def matrix(self, n, groups):
        """``(G, K/G, n * positions)`` view of ``rows``."""
        positions = n * self.flat.positions
        return self.rows[:self.out_channels * positions].reshape(groups, -1, positions)

    def gather(self, x, cols):
        """Fill ``cols`` with the windows of ``x`` (n, C, *in_shape)."""
        phases = self.phases[:x.shape[0]]
        positions = self.flat.positions

        dirty, self.dirty = self.dirty, False

        def copy(channels):
            if dirty:  # scratch memory, or gradients that scatter left in padding cells
                phases[:, :, channels] = 0
            self.flat.pack(x[:, channels], phases[:, :, channels])
            for slot, (_, phase, shift) in zip(self.flat.slots, self.flat.taps):
                block = phases[:, phase, channels, shift:shift + positions]
                cols[channels, slot] = block.transpose(1, 0, 2)
            for slot in self.idle_slots:
                cols[channels, slot] = 0

        run_blocks(copy, self.channel_blocks)

    def scatter(self, cols, out):
        """The adjoint of :meth:`gather`: add every column onto the cell it was read from, in ``out``."""
        phases = self.phases[:out.shape[0]]
        positions = self.flat.positions
        self.dirty = True

        def add(channels):
            block = phases[:, :, channels]
            block[...] = 0
            for slot, (_, phase, shift) in zip(self.flat.slots, self.flat.taps):
                block[:, phase, :, shift:shift + positions] += (
                    cols[channels, slot].transpose(1, 0, 2))
            self.flat.unpack(block, out[:, channels])

        run_blocks(add, self.channel_blocks)


def _im2col_bytes_per_sample(flat, channels, out_channels, dtype):
    columns = flat.window.kernel_volume * flat.positions
    volume = (channels * (columns + len(flat.residues) * flat.volume)
              + out_channels * flat.positions)
    return volume * dtype.itemsize


def _pointwise(array, groups):
    """``(n, C, *spatial)`` as ``(n, G, C/G, L)``."""
    n, channels = array.shape[:2]
    return array.reshape(n, groups, channels // groups, math.prod(array.shape[2:]))


def _forward_im2col(x, weight, window, groups):
    n_batch, channels = x.shape[:2]
    out_channels = weight.shape[0]
    w_mat = weight.reshape(groups, out_channels // groups, -1)
    flat = FlatPhases(window)
    if flat.identity:  # 1x1, unit stride, no padding: the input is its own column matrix
        y = np.matmul(w_mat, _pointwise(x, groups))
        return y.reshape((n_batch, out_channels) + window.out_shape)
    y = np.empty((n_batch, out_channels) + window.out_shape, x.dtype)
    per_sample = _im2col_bytes_per_sample(flat, channels, out_channels, x.dtype)
    chunks = _batch_chunks(n_batch, per_sample, CHUNK_BYTES)
    buffers = _Columns(flat, chunks, x.dtype, channels, out_channels)
    for chunk in chunks:
        n = chunk.stop - chunk.start
        cols = buffers.columns(n)
        buffers.gather(x[chunk], cols)
        product = buffers.matrix(n, groups)
        np.matmul(w_mat, cols.reshape(groups, -1, product.shape[-1]), out=product)
        y[chunk] = np.moveaxis(flat.crop(product.reshape(out_channels, n, -1)), 0, 1)
    return y


def _backward_im2col(grad_output, weight, window, groups, channels, x, grad_input, grad_weight):
    n_batch, out_channels = grad_output.shape[:2]
    flat = FlatPhases(window)
    if flat.identity:
        _backward_pointwise(grad_output, weight, groups, x, grad_input, grad_weight)
        return
    chunks = _batch_chunks(n_batch, _im2col_bytes_per_sample(flat, channels, out_channels,
                                                             grad_output.dtype), CHUNK_BYTES)
    buffers = _Columns(flat, chunks, grad_output.dtype, channels, out_channels)
    if weight is not None:
        w_mat_t = weight.reshape(groups, out_channels // groups, -1).transpose(0, 2, 1)
    if grad_weight is not None:
        gw_mat = grad_weight.reshape(groups, out_channels // groups, -1)
    for chunk in chunks:
        n = chunk.stop - chunk.start
        gy_mat = buffers.matrix(n, groups)
        flat.spread(np.moveaxis(grad_output[chunk], 1, 0), gy_mat.reshape(out_channels, n, -1))
        cols = buffers.columns(n)
        cols_mat = cols.reshape(groups, -1, gy_mat.shape[-1])
        if grad_weight is not None:
            buffers.gather(x[chunk], cols)
            gw_mat += np.matmul(gy_mat, cols_mat.transpose(0, 2, 1))
        if grad_input is not None:
            np.matmul(w_mat_t, gy_mat, out=cols_mat)
            buffers.scatter(cols, grad_input[chunk])


def _backward_pointwise(grad_output, weight, groups, x, grad_input, grad_weight):
    """1x1, unit stride, no padding: both gradients are batched matrix products."""
    gy = _pointwise(grad_output, groups)
    if grad_input is not None:
        w_mat = weight.reshape(groups, gy.shape[2], -1)
        np.matmul(w_mat.transpose(0, 2, 1), gy, out=_pointwise(grad_input, groups))
    if grad_weight is not None:
        products = np.matmul(gy, _pointwise(x, groups).transpose(0, 1, 3, 2))
        grad_weight += products.sum(axis=0).reshape(grad_weight.shape)


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
    for chunk in _batch_chunks(n_batch, per_sample):
        x_chunk, y_chunk = x[chunk], y[chunk]
        for offset, in_sl, out_sl in window.offsets:
            w_j = _offset_matrix(weight, offset, groups)
            y_chunk[_ALL2 + out_sl] += _apply(w_j, x_chunk[_ALL2 + in_sl], groups)
    return y


def _backward_direct(grad_output, weight, window, groups, channels, x, grad_input, grad_weight):
    n_batch, out_channels = grad_output.shape[:2]
    per_sample = (2 * channels + out_channels) * window.out_volume * grad_output.dtype.itemsize
    for chunk in _batch_chunks(n_batch, per_sample):
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
        update = np.matmul(gy_flat, x_block.transpose(0, 1, 3, 2)).sum(axis=0)
        grad_weight[_ALL2 + offset] += update.reshape(out_channels, -1)
    if grad_input is not None:
        w_j_t = _offset_matrix(weight, offset, groups).transpose(0, 2, 1)
        grad_input[_ALL2 + in_sl] += _apply(w_j_t, gy_block, groups)
