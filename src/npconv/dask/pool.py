"""Max and average pooling on Dask arrays, forward and backward; unfold and fold by batch chunks.

Pooling treats each ``(n, c)`` plane alone, so batch and channel chunks need
no halo; spatial chunks get the halos of :mod:`npconv.dask.chunks`, as the
convolutions.  A block pools its part of the plane with npconv's own
window-level functions (``max_pool_over``, ``avg_pool_over`` and their
backward passes); max-pool indices are computed with the whole plane's
strides, so they are the indices of the whole plane, as torch's.
"""

from __future__ import annotations

import numpy as np

from ..ops.fold import _fold, _fold_arguments, _unfold, _unfold_arguments
from ..ops.common import check_index_range
from ..ops.pool import (_avg_arguments, _divisor, _first_cells, avg_pool_backward_over,
                        avg_pool_over, max_pool_backward_over, max_pool_over, plane_strides,
                        pool_window)
from . import chunks as ch
from .arrays import is_dask, lazy, lazy_input, meta, same_batch_chunks
from .conv import _grad_output, _unbatch, at, owned, reading, touching


def _pool_input(op, ndim, input):
    x, unbatched = lazy_input(op, ndim, input)
    if 0 in x.shape[2:] or x.shape[1] == 0:
        raise ValueError(f"{op}(): `input` must have a non-zero size in every non-batch "
                         f"dimension, got shape {tuple(input.shape)}")
    return x, unbatched


def _forward(compute, window, x, dtype, **options):
    """Blocks of pooled outputs, each from the input cells its windows read."""
    outputs = owned(window, x)
    chunks = x.chunks[:2] + tuple(tuple(q - p for p, q in o) for o in outputs)
    return ch.blockwise(ch.Task(compute, window, outputs, **options), chunks,
                        [(x, reading(window, outputs))], [], dtype)


def _adjoint(compute, window, x, sources, dtype, **options):
    """Blocks of the input gradient, chunked as ``x``, each from the outputs whose windows touch it.

    ``sources`` are ``(kind, array)`` pairs of the arrays the block reads:
    ``"gy"`` and ``"indices"`` at the touching outputs, ``"x"`` at the cells
    those windows read.  The task's options get the result's ``dtype``.
    """
    regions, outputs = touching(window, x.chunks[2:])
    arrays = []
    for kind, array in sources:
        array = same_batch_chunks(array, x)
        if array.chunks[1] != x.chunks[1]:
            array = array.rechunk({1: x.chunks[1]})
        arrays.append((array, at(outputs) if kind in ("gy", "indices")
                       else reading(window, outputs)))
    return ch.blockwise(ch.Task(compute, window, outputs, regions, dtype=dtype, **options),
                        x.chunks, arrays, [], dtype)


def _block_origin(in_slices, strides):
    return sum(s.start * stride for s, stride in zip(in_slices, strides))


# --- max pooling ------------------------------------------------------------------------

def _max_block(task, block, x):
    shape = x.shape[:2] + tuple(q - p for p, q in block.outputs)
    if block.empty:
        return np.empty(shape, np.int64 if task.options["indices"] else x.dtype)
    in_slices, local = ch.part(task.window, block.outputs)
    x = ch.fit(x, in_slices)
    if not task.options["indices"]:
        return max_pool_over(x, local)
    strides = plane_strides(task.window.in_shape)
    _, indices = max_pool_over(x, local, True, strides)
    indices += _block_origin(in_slices, strides)
    return indices


def max_pool(op, ndim, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x, unbatched = _pool_input(op, ndim, input)
    window = pool_window(op, ndim, x.shape[2:], kernel_size, stride, padding, dilation, ceil_mode)
    values = _unbatch(_forward(_max_block, window, x, x.dtype, indices=False), unbatched)
    if not return_indices:
        return values
    indices = _forward(_max_block, window, x, np.dtype(np.int64), indices=True)
    return values, _unbatch(indices, unbatched)


def _local_indices(indices, window, in_slices, local):
    """Whole-plane flat indices as flat indices in the block's cells ``in_slices`` (-1 outside)."""
    inside = (indices >= 0) & (indices < window.in_volume)
    cells = np.unravel_index(np.where(inside, indices, 0), window.in_shape)
    local_flat = np.zeros(indices.shape, np.int64)
    for cell, in_slice, size, stride in zip(cells, in_slices, local.in_shape,
                                            plane_strides(local.in_shape)):
        position = cell - in_slice.start
        inside &= (position >= 0) & (position < size)
        local_flat += position * stride
    return np.where(inside, local_flat, -1)


def _max_backward_block(task, block, gy, x):
    dtype, lead = task.options["dtype"], gy.shape[:2]
    if block.empty:
        return np.zeros(lead + tuple(b - a for a, b in block.region), dtype)
    in_slices, local = ch.part(task.window, block.outputs)
    grad = max_pool_backward_over(gy.astype(dtype, copy=False),
                                  ch.fit(x, in_slices).astype(dtype, copy=False), local)
    return ch.crop_into(grad, in_slices, block.region, lead, dtype)


def _max_backward_indices_block(task, block, gy, indices):
    dtype, lead = task.options["dtype"], gy.shape[:2]
    if block.empty:
        return np.zeros(lead + tuple(b - a for a, b in block.region), dtype)
    in_slices, local = ch.part(task.window, block.outputs)
    window, strides = task.window, plane_strides(task.window.in_shape)
    if indices.size and (indices.min() < 0 or indices.max() >= window.in_volume):
        check_index_range(task.options["op"], indices, window.in_shape,
                          lambda: _first_cells(local, strides) + _block_origin(in_slices, strides),
                          "max_pool's index of a window of padding only")
    only_shape = np.broadcast_to(np.zeros((), dtype), lead + local.in_shape)
    grad = max_pool_backward_over(gy.astype(dtype, copy=False), only_shape, local,
                                  _local_indices(indices, window, in_slices, local))
    return ch.crop_into(grad, in_slices, block.region, lead, dtype)


def max_pool_backward(op, ndim, grad_output, input, kernel_size, stride, padding, dilation,
                      ceil_mode, indices):
    x, unbatched = _pool_input(op, ndim, input)
    window = pool_window(op, ndim, x.shape[2:], kernel_size, stride, padding, dilation, ceil_mode)
    gy = _pool_grad_output(op, grad_output, x.shape[:2] + window.out_shape, unbatched, x)
    if any(len(c) > 1 for c in x.chunks[2:]) and ch.padding_only_windows(window):
        raise ValueError(
            f"{op}(): with this dilation and padding some window holds padding cells only, and "
            f"torch sends its gradient to a cell that may lie in another chunk; give `input` "
            f"one chunk along each spatial dimension (kernel_size={window.kernel}, "
            f"dilation={window.dilation}, padding={window.padding})")
    dtype = np.result_type(gy, x)
    if indices is None:
        grad = _adjoint(_max_backward_block, window, x, [("gy", gy), ("x", x)], dtype)
        return _unbatch(grad.astype(x.dtype, copy=False), unbatched)
    expected = x.shape[:2] + window.out_shape
    ind = indices if is_dask(indices) else _numpy_indices(indices)
    if unbatched and ind.ndim == ndim + 1:
        ind = ind[np.newaxis]
    if ind.dtype.kind not in "iu":
        raise TypeError(f"{op}(): `indices` must be an integer array, got dtype {ind.dtype}")
    if ind.shape != expected:
        raise ValueError(f"{op}(): `indices` must have shape "
                         f"{expected[1:] if unbatched else expected}, got {indices.shape}")
    grad = _adjoint(_max_backward_indices_block, window, x, [("gy", gy), ("indices", ind)],
                    dtype, op=op)
    return _unbatch(grad.astype(x.dtype, copy=False), unbatched)


def _numpy_indices(indices):
    import dask.array as da

    array = np.asarray(indices)
    return da.from_array(array, chunks=array.shape)


def _pool_grad_output(op, grad_output, expected, unbatched, x):
    gy = _grad_output(op, grad_output, expected, unbatched, x, cut_channels=True)
    if gy.chunks[1] != x.chunks[1]:
        gy = gy.rechunk({1: x.chunks[1]})
    return gy


# --- average pooling ------------------------------------------------------------------------

def _avg_block(task, block, x):
    shape = x.shape[:2] + tuple(q - p for p, q in block.outputs)
    if block.empty:
        return np.empty(shape, x.dtype)
    in_slices, local = ch.part(task.window, block.outputs)
    divisor = _divisor(task.window, *task.options["divisor"], outputs=block.out_slices())
    return avg_pool_over(ch.fit(x, in_slices), local, divisor)


def avg_pool(op, ndim, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
             divisor_override):
    x, unbatched = _pool_input(op, ndim, input)
    _, _, window = _avg_arguments(op, ndim, _shape_probe(x), kernel_size, stride, padding,
                                  ceil_mode, divisor_override)
    return _unbatch(_forward(_avg_block, window, x, x.dtype,
                             divisor=(count_include_pad, divisor_override)), unbatched)


def _avg_backward_block(task, block, gy):
    lead = gy.shape[:2]
    if block.empty:
        return np.zeros(lead + tuple(b - a for a, b in block.region), gy.dtype)
    in_slices, local = ch.part(task.window, block.outputs)
    divisor = _divisor(task.window, *task.options["divisor"], outputs=block.out_slices())
    grad = avg_pool_backward_over(gy, local, divisor, gy.dtype)
    return ch.crop_into(grad, in_slices, block.region, lead, gy.dtype)


def avg_pool_backward(op, ndim, grad_output, input, kernel_size, stride, padding, ceil_mode,
                      count_include_pad, divisor_override):
    x, unbatched = _pool_input(op, ndim, input)
    _, _, window = _avg_arguments(op, ndim, _shape_probe(x), kernel_size, stride, padding,
                                  ceil_mode, divisor_override)
    gy = _pool_grad_output(op, grad_output, x.shape[:2] + window.out_shape, unbatched, x)
    dtype = np.result_type(gy, x)
    grad = _adjoint(_avg_backward_block, window, x, [("gy", gy.astype(dtype, copy=False))], dtype,
                    divisor=(count_include_pad, divisor_override))
    return _unbatch(grad.astype(x.dtype, copy=False), unbatched)


def _shape_probe(x):
    """A NumPy array of ``x``'s spatial shape and dtype that takes no memory (for the checks)."""
    return np.broadcast_to(np.zeros((), x.dtype), (1, 1) + x.shape[2:])


# --- unfold and fold: batch chunks ------------------------------------------------------------

def _one_spatial_chunk(op, name, array, axes):
    for axis in axes:
        if len(array.chunks[axis]) > 1:
            raise ValueError(
                f"{op}(): on Dask arrays `{name}` may be chunked along the batch only (columns "
                f"flatten the channels and spatial dimensions), got chunks {array.chunks[axis]} "
                f"along dimension {axis}; rechunk it with `{name}.rechunk({{{axis}: -1}})`")


def _probe(array):
    """A NumPy array of ``array``'s shape and dtype that takes no memory (for npconv's checks)."""
    return np.broadcast_to(np.zeros((), array.dtype), array.shape)


def _by_batch(function, array, window, shape, dtype):
    """``function(block, window)`` on every batch chunk of the batched ``array``."""
    import dask.array as da

    chunks = (array.chunks[0],) + tuple((n,) for n in shape[1:])
    extra = len(shape) - array.ndim
    return da.map_blocks(ch.PerBatch(function, window), array, chunks=chunks, dtype=dtype,
                         meta=meta(len(shape), dtype),
                         drop_axis=tuple(range(len(shape), array.ndim)) if extra < 0 else None,
                         new_axis=tuple(range(array.ndim, len(shape))) if extra > 0 else None)


def _lazy_any(op, array):
    return lazy(op, "input", array, tuple(range(2, 8)), "(N, C, ...)")


def unfold(op, input, kernel_size, dilation, padding, stride, grad_of=None):
    x = _lazy_any(op, input)
    _, unbatched, window = _unfold_arguments(op, _probe(x), kernel_size, dilation, padding, stride)
    x = x[np.newaxis] if unbatched else x
    _one_spatial_chunk(op, "input", x, range(1, x.ndim))
    shape = (x.shape[0], x.shape[1] * window.kernel_volume, window.out_volume)
    return _unbatch(_by_batch(_unfold, x, window, shape, x.dtype), unbatched)


def fold(op, input, output_size, kernel_size, dilation, padding, stride):
    cols = _lazy_any(op, input)
    _, unbatched, window = _fold_arguments(op, _probe(cols), output_size, kernel_size, dilation,
                                           padding, stride)
    cols = cols[np.newaxis] if unbatched else cols
    _one_spatial_chunk(op, "input", cols, (1, 2))
    shape = (cols.shape[0], cols.shape[1] // window.kernel_volume) + window.in_shape
    return _unbatch(_by_batch(_fold, cols, window, shape, cols.dtype), unbatched)


def unfold_backward(op, grad_output, input, kernel_size, dilation, padding, stride):
    x = _lazy_any(op, input)
    _, unbatched, window = _unfold_arguments(op, _probe(x), kernel_size, dilation, padding, stride)
    x = x[np.newaxis] if unbatched else x
    expected = (x.shape[0], x.shape[1] * window.kernel_volume, window.out_volume)
    gy = _lazy_any(op, grad_output)
    _check_shape(op, gy, expected, unbatched)
    gy = gy[np.newaxis] if unbatched else gy
    _one_spatial_chunk(op, "grad_output", gy, (1, 2))
    return _unbatch(_by_batch(_fold, gy, window, x.shape, x.dtype), unbatched)


def fold_backward(op, grad_output, input, output_size, kernel_size, dilation, padding, stride):
    cols = _lazy_any(op, input)
    _, unbatched, window = _fold_arguments(op, _probe(cols), output_size, kernel_size, dilation,
                                           padding, stride)
    cols = cols[np.newaxis] if unbatched else cols
    expected = (cols.shape[0], cols.shape[1] // window.kernel_volume) + window.in_shape
    gy = _lazy_any(op, grad_output)
    _check_shape(op, gy, expected, unbatched)
    gy = gy[np.newaxis] if unbatched else gy
    _one_spatial_chunk(op, "grad_output", gy, range(1, gy.ndim))
    return _unbatch(_by_batch(_unfold, gy, window, cols.shape, cols.dtype), unbatched)


def _check_shape(op, array, expected, unbatched):
    shown = expected[1:] if unbatched else expected
    if tuple(array.shape) != tuple(shown):
        raise ValueError(f"{op}(): `grad_output` must have shape {shown}, got {array.shape}")
