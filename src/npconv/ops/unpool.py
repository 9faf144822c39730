"""Max unpooling: the partial inverse of max pooling, forward and backward.

``max_unpool`` puts each value at the flat index (within its channel's
spatial plane) that ``max_pool(..., return_indices=True)`` reported, and
zeros everywhere else.  When several values name the same cell the last one
is kept, as torch.  The backward pass reads the gradient at those cells.
"""

from __future__ import annotations

import math

import numpy as np

from .arguments import _as_int, check_array_size, transposed_output_size, window_arguments
from .common import (check_grad_output, check_index_range, check_indices, dask_aware, documented,
                     pool_input, unbatch)


def unpool_output_shape(op, ndim, spatial, kernel_size, stride, padding, output_size):
    """The unpooled spatial shape, as torch's ``_unpool_output_size``.

    By default ``(in - 1)*stride - 2*padding + kernel`` per dimension; an
    explicit ``output_size`` (spatial, or with the two leading dimensions,
    which are ignored) must lie strictly between that minus and plus ``stride``.
    """
    kernel, stride, pads, _ = window_arguments(op, ndim, kernel_size, stride, padding,
                                               stride_default_kernel=True, strings=False)
    default = tuple(transposed_output_size(n, k, s, 1, lo, hi)
                    for n, s, (lo, hi), k in zip(spatial, stride, pads, kernel))
    if output_size is None:
        shape = default
    else:
        if not isinstance(output_size, (tuple, list)) or len(output_size) not in (ndim, ndim + 2):
            raise ValueError(
                f"{op}(): `output_size` must be a tuple of {ndim} (or {ndim + 2}) ints, "
                f"got {output_size!r}"
            )
        shape = tuple(_as_int(n, op, "output_size") for n in output_size[-ndim:])
        for dim, (size, base, s) in enumerate(zip(shape, default, stride)):
            if not base - s < size < base + s:
                raise ValueError(
                    f"{op}(): `output_size` {tuple(output_size)!r}: dimension {dim} must lie "
                    f"strictly between {base - s} and {base + s}, got {size}"
                )
    if any(n <= 0 for n in shape):
        raise ValueError(f"{op}(): the output size {shape} must be positive")
    return shape


def _arguments(op, ndim, input, indices, kernel_size, stride, padding, output_size):
    x, unbatched = pool_input(op, ndim, input)
    index = check_indices(op, indices, x.shape, unbatched)
    out_spatial = unpool_output_shape(op, ndim, x.shape[2:], kernel_size, stride, padding,
                                      output_size)
    check_array_size(op, x.shape[:2] + out_spatial, x.dtype,
                     f"`kernel_size`={kernel_size!r}, `stride`={stride!r} and "
                     f"`output_size`={output_size!r}")
    check_index_range(op, index, out_spatial)
    return x, index, unbatched, out_spatial


def _plane_rows(batch, channels):
    """Row of each (n, c) plane in an ``(N*C, plane)`` view, broadcastable to the indices."""
    return np.arange(batch * channels).reshape(batch, channels, 1)


def _max_unpool(op, ndim, input, indices, kernel_size, stride, padding, output_size):
    x, index, unbatched, out_spatial = _arguments(op, ndim, input, indices, kernel_size,
                                                  stride, padding, output_size)
    batch, channels = x.shape[:2]
    out = np.zeros((batch * channels, int(np.prod(out_spatial))), x.dtype)
    cells = math.prod(x.shape[2:])
    out[_plane_rows(batch, channels), index.reshape(batch, channels, cells)] = \
        x.reshape(batch, channels, cells)
    return unbatch(out.reshape((batch, channels) + out_spatial), unbatched)


def _max_unpool_backward(op, ndim, grad_output, input, indices, kernel_size, stride, padding,
                         output_size):
    x, index, unbatched, out_spatial = _arguments(op, ndim, input, indices, kernel_size,
                                                  stride, padding, output_size)
    batch, channels = x.shape[:2]
    gy = check_grad_output(op, grad_output, (batch, channels) + out_spatial, unbatched, x)
    planes = gy.reshape(batch * channels, math.prod(out_spatial))
    grad_input = planes[_plane_rows(batch, channels),
                        index.reshape(batch, channels, math.prod(x.shape[2:]))]
    return unbatch(grad_input.reshape(x.shape).astype(x.dtype, copy=False), unbatched)


_DOC = """{ndim}-D max unpooling, as ``torch.nn.functional.{name}``.

Parameters
----------
input : ndarray, shape (N, C, {spatial}) or unbatched (C, {spatial})
    Pooled values.
indices : integer ndarray, shape of ``input``
    Flat indices into each output plane, as ``max_pool{ndim}d(..., return_indices=True)`` gives.
kernel_size, stride, padding
    As given to the max pooling; ``stride`` defaults to ``kernel_size``.
output_size : tuple of {ndim} ints, optional
    The spatial output size (a leading ``(N, C)`` is accepted and ignored);
    by default ``(in - 1)*stride - 2*padding + kernel_size`` per dimension.

Returns
-------
ndarray, shape (N, C, {out_spatial})
    Zero except at the indexed cells; of duplicate indices the last value stays.

Examples
--------
>>> import numpy as np, npconv
>>> x = np.array([[[1., 5., 2., 0.]]])
>>> values, indices = npconv.max_pool1d(x, 2, return_indices=True)
>>> npconv.max_unpool1d(values, indices, 2)
array([[[0., 5., 2., 0.]]])
"""

_BACKWARD_DOC = """Backward pass of :func:`{fwd}`: the gradient with respect to ``input``.

Parameters
----------
grad_output : ndarray, shape (N, C, {out_spatial})
input, indices, kernel_size, stride, padding, output_size
    As given to :func:`{fwd}`.

Returns
-------
ndarray, shape of ``input``
    ``grad_output`` read at each index.

Examples
--------
>>> import numpy as np, npconv
>>> x = np.arange(2 * 3 * {cells}, dtype=np.float32).reshape(2, 3, {example_in})
>>> pooled, indices = npconv.{pool}(x, 2, return_indices=True)
>>> y = npconv.{fwd}(pooled, indices, 2)
>>> npconv.{name}(np.ones_like(y), pooled, indices, 2).shape == pooled.shape
True
"""


@dask_aware
@documented(_DOC, 1)
def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding,
                       output_size)


@dask_aware
@documented(_BACKWARD_DOC, 1, fwd="max_unpool1d", pool="max_pool1d")
def max_unpool1d_backward(grad_output, input, indices, kernel_size, stride=None, padding=0,
                          output_size=None):
    return _max_unpool_backward("max_unpool1d_backward", 1, grad_output, input, indices,
                                kernel_size, stride, padding, output_size)


@dask_aware
@documented(_DOC, 2)
def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding,
                       output_size)


@dask_aware
@documented(_BACKWARD_DOC, 2, fwd="max_unpool2d", pool="max_pool2d")
def max_unpool2d_backward(grad_output, input, indices, kernel_size, stride=None, padding=0,
                          output_size=None):
    return _max_unpool_backward("max_unpool2d_backward", 2, grad_output, input, indices,
                                kernel_size, stride, padding, output_size)


@dask_aware
@documented(_DOC, 3)
def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding,
                       output_size)


@dask_aware
@documented(_BACKWARD_DOC, 3, fwd="max_unpool3d", pool="max_pool3d")
def max_unpool3d_backward(grad_output, input, indices, kernel_size, stride=None, padding=0,
                          output_size=None):
    return _max_unpool_backward("max_unpool3d_backward", 3, grad_output, input, indices,
                                kernel_size, stride, padding, output_size)
