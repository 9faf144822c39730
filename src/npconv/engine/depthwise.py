"""Convolutions with one input channel per group (depthwise, single-channel filters).

With ``C/groups == 1`` every output channel ``c*m + u`` (``m = K/groups``) is
the input plane ``c`` filtered by one kernel: no contraction over channels,
so no matrix product either.  Each kernel offset is one elementwise
multiply-add of a whole plane, read as a contiguous range of the input's
flat phases (:mod:`npconv.window.phases`)::

    y[n, c*m + u] = sum_j  weight[c*m + u, 0, j] * x[n, c, window cells at offset j]

The planes are processed in the plan's blocks of about
:data:`~npconv.window.blocks.BLOCK_BYTES` (which keeps a block's phases and
accumulators in cache across the kernel offsets) on the thread pool. The
backward pass is the same loop: the input gradient multiply-adds the output
gradient into the phases of the input, and the weight gradient is one dot
product per plane and offset.
"""

from __future__ import annotations

import numpy as np

from ..window.blocks import run_blocks
from ..window.phases import flat_phases


def _tap_weights(weight, channels, flat):
    """``weight`` (C*m, 1, *kernel) as (C, m, taps): the used kernel offsets only."""
    return weight.reshape(channels, weight.shape[0] // channels, -1)[:, :, flat.slots]


def plane_bytes(window, out_channels, channels, itemsize):
    """Temporaries per plane: its phases, and ``K/C + 2`` output-sized accumulators."""
    flat = flat_phases(window)
    return (len(flat.residues) * flat.volume
            + (out_channels // channels + 2) * flat.positions) * itemsize


def fits(window, out_channels, channels, dtype, budget, threads):
    """Whether ``threads`` blocks of one plane each fit in ``budget`` bytes."""
    return plane_bytes(window, out_channels, channels, np.dtype(dtype).itemsize) * threads <= budget


def _packed(flat, x):
    phases = flat.zeros(x.shape[0], x.shape[1], x.dtype)
    flat.pack(x, phases)
    return phases


def forward(x, weight, window, plan):
    """``y`` (N, C*m, *out_shape) of ``x`` (N, C, *in_shape) and ``weight`` (C*m, 1, *kernel)."""
    flat = flat_phases(window)
    n_batch, channels = x.shape[:2]
    taps = _tap_weights(weight, channels, flat)
    multiplier = taps.shape[1]
    y = np.empty((n_batch, channels * multiplier) + window.out_shape, x.dtype)
    y_planes = y.reshape((n_batch, channels, multiplier) + window.out_shape)
    positions = flat.positions

    def kernel(block):
        samples, chans = block
        phases = _packed(flat, x[samples, chans])
        total = np.zeros(phases.shape[:1] + phases.shape[2:3] + (positions,), x.dtype)
        term = np.empty_like(total)
        for u in range(multiplier):
            for t, (_, phase, shift) in enumerate(flat.taps):
                # the first offset writes the total, the others add to it
                np.multiply(phases[:, phase, :, shift:shift + positions],
                            taps[chans, u, t, np.newaxis], out=term if t else total)
                if t:
                    total += term
            y_planes[samples, chans, u] = flat.crop(total)

    run_blocks(kernel, plan.pieces, plan.threads)
    return y


def backward(grad_output, window, weight, x, grad_input, grad_weight, plan):
    """Accumulate the input gradient into ``grad_input`` and/or the weight gradient.

    ``weight`` is needed for ``grad_input``, ``x`` for ``grad_weight``; pass
    ``None`` for the gradient that is not wanted.
    """
    flat = flat_phases(window)
    n_batch, out_channels = grad_output.shape[:2]
    channels = (grad_input if grad_input is not None else x).shape[1]
    multiplier = out_channels // channels
    taps = None if weight is None else _tap_weights(weight, channels, flat)
    positions = flat.positions
    gy_planes = grad_output.reshape((n_batch, channels, multiplier) + window.out_shape)

    def kernel(block):
        samples, chans = block
        gy = gy_planes[samples, chans]
        full = np.empty(gy.shape[:3] + (positions,), grad_output.dtype)
        flat.spread(gy, full)
        partial = None
        if grad_weight is not None:
            phases = _packed(flat, x[samples, chans])
            partial = np.empty((phases.shape[2], multiplier, len(flat.taps)), grad_output.dtype)
            for u in range(multiplier):
                for t, (_, phase, shift) in enumerate(flat.taps):
                    # one dot product per plane: (n, c, 1, P) @ (n, c, P, 1)
                    dots = np.matmul(full[:, :, u, np.newaxis, :],
                                     phases[:, phase, :, shift:shift + positions, np.newaxis])
                    partial[:, u, t] = dots.sum(axis=(0, 2, 3))
        if grad_input is not None:
            phases = np.empty((full.shape[0], len(flat.residues), full.shape[1], flat.volume),
                              grad_output.dtype)
            term = np.empty(full.shape[:2] + (positions,), grad_output.dtype)
            begun = set()
            for u in range(multiplier):
                for t, (_, phase, shift) in enumerate(flat.taps):
                    target, first = flat.tap_range(phases, phase, shift, begun)
                    np.multiply(full[:, :, u], taps[chans, u, t, np.newaxis],
                                out=target if first else term)
                    if not first:
                        target += term
            flat.unpack(phases, grad_input[samples, chans])
        return chans, partial

    results = run_blocks(kernel, plan.pieces, plan.threads)
    if grad_weight is not None:
        gw_taps = grad_weight.reshape(channels, multiplier, -1)
        for chans, partial in results:
            gw_taps[chans, :, flat.slots] += partial
