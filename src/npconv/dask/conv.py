"""Convolutions and transposed convolutions on Dask arrays, forward and backward.

Three block computations serve all of them (the transposed convolution is
the convolution's adjoint, as in :mod:`npconv.ops.conv_transpose`):

* :func:`windows_forward`: a block of outputs from the input cells it reads
  (``engine.forward``);
* :func:`windows_adjoint`: a chunk of the input gradient from the outputs
  whose windows touch it (``engine.backward``'s input gradient);
* :func:`weight_gradient`: each block's weight gradient, then their sum as a
  tree reduction (``dask.array.sum(split_every=...)``).

The bias gradient is Dask's own tree sum of ``grad_output``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import engine
from ..ops.arguments import promoted
from ..ops.common import add_bias, check_bias
from ..ops.conv import conv_window, input_size_argument, weight_size_argument
from ..ops.conv_transpose import _transpose_window
from ..ops.padding import block_slices, copy_blocks
from . import chunks as ch
from .arrays import (lazy_input, one_chunk_along, result_dtype, same_batch_chunks,
                     small)

_WEIGHT = "(out_channels, in_channels/groups, *kernel_size)"
_NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


# --- the three block computations ------------------------------------------------------

def _forward_block(task, block, x, weight, bias=None):
    x, weight, bias = promoted(x, weight, bias)
    shape = (x.shape[0], weight.shape[0]) + tuple(q - p for p, q in block.outputs)
    if block.empty or not x.shape[0]:
        return add_bias(np.zeros(shape, x.dtype), bias)
    in_slices, local = ch.part(task.window, block.outputs)
    return add_bias(engine.forward(ch.fit(x, in_slices), weight, local, task.options["groups"]),
                    bias)


def reading(window, outputs):
    """Per spatial axis of an ``(N, C, ...)`` array, the cells that each block's ``outputs`` read."""
    return {2 + d: [ch.read_cells(window, d, o) for o in outputs[d]] for d in range(window.ndim)}


def at(outputs):
    """Per spatial axis of an ``(N, C, ...)`` array of outputs, each block's ``outputs``."""
    return {2 + d: ranges for d, ranges in enumerate(outputs)}


def windows_forward(window, x, outputs, weight, bias, groups):
    """The convolution's output blocks ``outputs`` (per dimension, a ``(p, q)`` per chunk of ``x``)."""
    chunks = (x.chunks[0], (weight.shape[0],)) + tuple(
        tuple(q - p for p, q in outputs[d]) for d in range(window.ndim))
    return ch.blockwise(ch.Task(_forward_block, window, outputs, groups=groups), chunks,
                        [(x, reading(window, outputs))],
                        [weight] + ([] if bias is None else [bias]), result_dtype(x, weight, bias))


def _adjoint_block(task, block, gy, weight):
    gy, weight = promoted(gy, weight)
    groups = task.options["groups"]
    lead = (gy.shape[0], weight.shape[1] * groups)
    if block.empty or not gy.shape[0]:
        return np.zeros(lead + tuple(b - a for a, b in block.region), gy.dtype)
    in_slices, local = ch.part(task.window, block.outputs)
    gx, _ = engine.backward(gy, local, groups, weight.shape, weight=weight)
    return ch.crop_into(gx, in_slices, block.region, lead, gy.dtype)


def windows_adjoint(window, gy, in_chunks, weight, groups):
    """The input gradient in chunks ``in_chunks`` (per dimension), from the outputs ``gy``."""
    regions, outputs = touching(window, in_chunks)
    chunks = (gy.chunks[0], (weight.shape[1] * groups,)) + tuple(in_chunks)
    return ch.blockwise(ch.Task(_adjoint_block, window, outputs, regions, groups=groups), chunks,
                        [(gy, at(outputs))], [weight], result_dtype(gy, weight))


def touching(window, in_chunks):
    """``(regions, outputs)``: per dimension, each input chunk's cells and the outputs touching them."""
    regions = [ch.ranges(in_chunks[d]) for d in range(window.ndim)]
    outputs = [[ch.touching_outputs(window, d, a, b) for a, b in regions[d]]
               for d in range(window.ndim)]
    return regions, outputs


def _weight_block(task, block, x, gy):
    gy, x = promoted(gy, x)
    shape = task.options["weight_shape"]
    flat = (1, math.prod(shape)) + (1,) * task.window.ndim
    if block.empty or not x.shape[0]:
        return np.zeros(flat, x.dtype)
    in_slices, local = ch.part(task.window, block.outputs)
    _, gw = engine.backward(gy, local, task.options["groups"], shape, x=ch.fit(x, in_slices))
    return gw.reshape(flat)


def weight_gradient(window, x, gy, outputs, weight_shape, groups):
    """The weight gradient: one per block of ``x`` (owning ``outputs``), summed as a tree."""
    ndim = window.ndim
    chunks = ((1,) * len(x.chunks[0]), (math.prod(weight_shape),)) + tuple(
        (1,) * len(outputs[d]) for d in range(ndim))
    task = ch.Task(_weight_block, window, outputs, groups=groups, weight_shape=tuple(weight_shape))
    partial = ch.blockwise(task, chunks, [(x, reading(window, outputs)),
                                          (same_batch_chunks(gy, x), at(outputs))],
                           [], result_dtype(x, gy))
    total = partial.sum(axis=(0,) + tuple(range(2, ndim + 2)), split_every=ch.SPLIT_EVERY)
    return total.reshape(tuple(weight_shape))


def bias_gradient(gy, bias):
    """``grad_output`` summed over every axis but the channels (a tree sum), or None."""
    if bias is None:
        return None
    return gy.sum(axis=(0,) + tuple(range(2, gy.ndim)), split_every=ch.SPLIT_EVERY).astype(
        bias.dtype)


def owned(window, x):
    """Per spatial dimension, the outputs each chunk of ``x`` owns."""
    return [ch.owned_outputs(window, d, x.chunks[2 + d]) for d in range(window.ndim)]


def given(array, ndim):
    """Per spatial dimension, the ``(start, stop)`` of each chunk of ``array`` (outputs it holds)."""
    return [ch.ranges(array.chunks[2 + d]) for d in range(ndim)]


# --- arguments -------------------------------------------------------------------------------

def _arguments(op, ndim, input, weight, bias, stride, padding, dilation, groups, padding_mode,
               input_name="input"):
    x, unbatched = lazy_input(op, ndim, input, input_name)
    w = small(op, "weight", weight, (ndim + 2,), _WEIGHT)
    if 0 in w.shape:
        raise ValueError(f"{op}(): `weight` must have no zero-size dimension, got shape {w.shape}")
    b = None if bias is None else small(op, "bias", bias, (1,), "(out_channels,)")
    check_bias(op, b, w.shape[0])
    window, groups, mode_pads = conv_window(op, ndim, x.shape, w.shape, stride, padding,
                                            dilation, groups, padding_mode)
    one_chunk_along(op, input_name, x, 1, "the channels")
    return x, w, b, unbatched, window, groups, mode_pads


def _padded(x, mode_pads, padding_mode):
    """``x`` padded in ``padding_mode``, lazily; the padding joins the first and last chunks."""
    import dask.array as da

    def grown(sizes, lo, hi):
        sizes = list(sizes)
        sizes[0] += lo
        sizes[-1] += hi
        return tuple(sizes)

    padded = da.pad(x, mode_pads, mode=_NUMPY_MODES[padding_mode])
    return padded.rechunk({axis: grown(x.chunks[axis], lo, hi)
                           for axis, (lo, hi) in enumerate(mode_pads) if lo or hi})


def _padded_adjoint(op, grad, in_shape, mode_pads, padding_mode):
    """The adjoint of :func:`_padded`, lazily: each border block of ``grad`` added onto the cells it
    copies (the blocks of :mod:`npconv.ops.padding`; a replicated run summed first)."""
    import dask.array as da

    def forward(cells):  # a reflected run's cells, as a slice with step 1
        return cells if cells.step != -1 else slice(
            0 if cells.stop is None else cells.stop + 1, cells.start + 1)

    _, blocks = copy_blocks(op, in_shape, mode_pads, padding_mode, "padding")
    result = grad[block_slices(blocks[0])[0]]  # the input's own cells, padded by none
    for block in blocks[1:]:
        out_slices, in_slices = block_slices(block)
        part = grad[out_slices]
        for axis, run in enumerate(block):
            if run.step == 0:
                part = part.sum(axis=axis, keepdims=True)
            elif run.step == -1:
                part = da.flip(part, axis)
        target = tuple(forward(cells) for cells in in_slices)
        result[target] = result[target] + part
    return result


def _grad_output(op, grad_output, expected, unbatched, like, cut_channels=False):
    """``grad_output`` checked and batched, in ``like``'s batch chunks (and channel chunks:
    one, unless ``cut_channels``)."""
    ndim = len(expected) - 2
    gy, gy_unbatched = lazy_input(op, ndim, grad_output, "grad_output", like=like)
    shown = expected[1:] if unbatched else expected
    got = gy.shape[1:] if gy_unbatched else gy.shape
    if gy_unbatched != unbatched or tuple(got) != tuple(shown):
        raise ValueError(f"{op}(): `grad_output` must have shape {shown}, got "
                         f"{tuple(grad_output.shape)}")
    if not cut_channels:
        one_chunk_along(op, "grad_output", gy, 1, "the channels")
    return same_batch_chunks(gy, like)


def _unbatch(array, unbatched):
    return array[0] if unbatched else array


# --- the operators ---------------------------------------------------------------------------

def conv(op, ndim, input, weight, bias, stride, padding, dilation, groups, padding_mode):
    x, w, b, unbatched, window, groups, mode_pads = _arguments(
        op, ndim, input, weight, bias, stride, padding, dilation, groups, padding_mode)
    outputs = owned(window, x)  # the chunks of x, before padding, own the outputs
    if mode_pads is not None:
        x = _padded(x, mode_pads, padding_mode)
    return _unbatch(windows_forward(window, x, outputs, w, b, groups), unbatched)


def conv_backward(op, ndim, grad_output, input, weight, bias, stride, padding, dilation, groups,
                  padding_mode):
    x, w, b, unbatched, window, groups, mode_pads = _arguments(
        op, ndim, input, weight, bias, stride, padding, dilation, groups, padding_mode)
    gy = _grad_output(op, grad_output, (x.shape[0], w.shape[0]) + window.out_shape, unbatched, x)
    outputs = owned(window, x)
    if mode_pads is None:
        gx = windows_adjoint(window, gy, x.chunks[2:], w, groups)
        gw = weight_gradient(window, x, gy, outputs, w.shape, groups)
    else:
        padded = _padded(x, mode_pads, padding_mode)
        gx = _padded_adjoint(op, windows_adjoint(window, gy, padded.chunks[2:], w, groups),
                             x.shape, mode_pads, padding_mode)
        gw = weight_gradient(window, padded, gy, outputs, w.shape, groups)
    return (_unbatch(gx.astype(x.dtype, copy=False), unbatched),
            gw.astype(w.dtype, copy=False), bias_gradient(gy, b))


def conv_input(op, ndim, input_size, weight, grad_output, stride, padding, dilation, groups,
               padding_mode):
    shape, unbatched = input_size_argument(op, ndim, input_size)
    w = small(op, "weight", weight, (ndim + 2,), _WEIGHT)
    window, groups, mode_pads = conv_window(op, ndim, shape, w.shape, stride, padding, dilation,
                                            groups, padding_mode, input_name="input_size")
    gy, gy_unbatched = lazy_input(op, ndim, grad_output, "grad_output")
    expected = (shape[0], w.shape[0]) + window.out_shape
    if gy_unbatched != unbatched or gy.shape != expected:
        shown = expected[1:] if unbatched else expected
        raise ValueError(f"{op}(): `grad_output` must have shape {shown}, got "
                         f"{tuple(grad_output.shape)}")
    one_chunk_along(op, "grad_output", gy, 1, "the channels")
    # the gradient's chunks: those of an input whose chunks own grad_output's
    in_chunks = [ch.input_chunks(window, d, gy.chunks[2 + d]) for d in range(ndim)]
    gx = windows_adjoint(window, gy, in_chunks, w, groups)
    if mode_pads is not None:
        gx = _padded_adjoint(op, gx, shape, mode_pads, padding_mode)
    return _unbatch(gx, unbatched)


def conv_weight(op, ndim, input, weight_size, grad_output, stride, padding, dilation, groups,
                padding_mode):
    x, unbatched = lazy_input(op, ndim, input)
    shape = weight_size_argument(op, ndim, weight_size)
    window, groups, mode_pads = conv_window(op, ndim, x.shape, shape, stride, padding, dilation,
                                            groups, padding_mode)
    one_chunk_along(op, "input", x, 1, "the channels")
    gy = _grad_output(op, grad_output, (x.shape[0], shape[0]) + window.out_shape, unbatched, x)
    outputs = owned(window, x)
    if mode_pads is not None:
        x = _padded(x, mode_pads, padding_mode)
    return weight_gradient(window, x, gy, outputs, shape, groups)


def _transpose_arguments(op, ndim, input, weight, bias, stride, padding, output_padding, groups,
                         dilation):
    x, unbatched = lazy_input(op, ndim, input)
    w = small(op, "weight", weight, (ndim + 2,), "(in_channels, out_channels/groups, *kernel_size)")
    if 0 in w.shape:
        raise ValueError(f"{op}(): `weight` must have no zero-size dimension, got shape {w.shape}")
    b = None if bias is None else small(op, "bias", bias, (1,), "(out_channels,)")
    window, groups = _transpose_window(op, ndim, x.shape, w.shape, stride, padding,
                                       output_padding, groups, dilation)
    check_bias(op, b, w.shape[1] * groups)
    one_chunk_along(op, "input", x, 1, "the channels")
    return x, w, b, unbatched, window, groups


def conv_transpose(op, ndim, input, weight, bias, stride, padding, output_padding, groups,
                   dilation):
    x, w, b, unbatched, window, groups = _transpose_arguments(
        op, ndim, input, weight, bias, stride, padding, output_padding, groups, dilation)
    out_chunks = [ch.input_chunks(window, d, x.chunks[2 + d]) for d in range(ndim)]
    y = windows_adjoint(window, x, out_chunks, w, groups)
    if b is not None:
        y = y + b.astype(y.dtype).reshape((-1,) + (1,) * ndim)
    return _unbatch(y, unbatched)


def conv_transpose_backward(op, ndim, grad_output, input, weight, bias, stride, padding,
                            output_padding, groups, dilation):
    x, w, b, unbatched, window, groups = _transpose_arguments(
        op, ndim, input, weight, bias, stride, padding, output_padding, groups, dilation)
    gy = _grad_output(op, grad_output, (x.shape[0], w.shape[1] * groups) + window.in_shape,
                      unbatched, x)
    outputs = given(x, ndim)
    grad_input = windows_forward(window, gy, outputs, w, None, groups)
    grad_weight = weight_gradient(window, gy, x, outputs, w.shape, groups)
    return (_unbatch(grad_input.astype(x.dtype, copy=False), unbatched),
            grad_weight.astype(w.dtype, copy=False), bias_gradient(gy, b))
