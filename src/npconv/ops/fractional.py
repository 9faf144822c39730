"""Fractional max pooling (Graham, 2014), as ``torch.nn.functional.fractional_max_pool2d/3d``.

Each ``(n, c)`` plane has one random sample ``u`` in ``[0, 1)`` per spatial
dimension; along a dimension of ``n`` cells pooled to ``out`` windows of
``k`` cells, window ``i`` starts at::

    alpha = (n - k) / (out - 1)
    start[i] = int((i + u) * alpha) - int(u * alpha)     for i < out - 1
    start[out - 1] = n - k

computed in the input's dtype, as torch does (so float32 data gives float32
starts).  A window's maximum follows max pooling's rules: the first of equal
maxima wins, a NaN beats any number, the last NaN wins.  The samples are
``_random_samples`` (torch's name), ``(N, C, d)`` ordered as the spatial
dimensions except that 2-D takes (width, height), as torch; or they are drawn
from ``rng`` (a NumPy Generator, beyond torch).  The backward pass adds each
gradient at its maximum's flat index.
"""

from __future__ import annotations

import math

import numpy as np

from .arguments import as_float_array, check_array_size, to_tuple
from .common import (check_grad_output, check_index_range, check_indices, documented, pool_input,
                     sample_chunks, scatter_to_planes, unbatch)


def _output_shape(op, ndim, spatial, kernel, output_size, output_ratio):
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op}(): give either `output_size` or `output_ratio`")
    if output_size is not None:
        if output_ratio is not None:
            raise ValueError(f"{op}(): give `output_size` or `output_ratio`, not both")
        shape = to_tuple(output_size, ndim, op, "output_size")
    else:
        ratios = output_ratio if isinstance(output_ratio, (tuple, list)) else (output_ratio,) * ndim
        if len(ratios) != ndim or any(isinstance(r, (bool, np.bool_)) or not isinstance(
                r, (int, float, np.integer, np.floating)) or not 0 < r < 1 for r in ratios):
            raise ValueError(f"{op}(): `output_ratio` must be a number or a tuple of {ndim} "
                             f"numbers in (0, 1), got {output_ratio!r}")
        shape = tuple(int(n * r) for n, r in zip(spatial, ratios))
        if min(shape) < 1:
            raise ValueError(f"{op}(): `output_ratio`={output_ratio!r} leaves no window on an "
                             f"input of size {tuple(spatial)}")
    for dim, (n, out, k) in enumerate(zip(spatial, shape, kernel)):
        if out + k - 1 > n:
            raise ValueError(f"{op}(): dimension {dim}: {out} windows of {k} cells need at "
                             f"least {out + k - 1} input cells, got {n}")
    return shape


def _samples(op, ndim, batch, channels, dtype, random_samples, rng):
    """``(N, C, d)`` samples in the spatial order, in ``dtype``."""
    if random_samples is None:
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"{op}(): `rng` must be a numpy.random.Generator, got {rng!r}")
        generator = np.random.default_rng() if rng is None else rng
        samples = generator.random((batch, channels, ndim), dtype=dtype)
    else:
        samples = as_float_array(random_samples, op, "_random_samples").astype(dtype, copy=False)
        if samples.shape != (batch, channels, ndim):
            raise ValueError(f"{op}(): `_random_samples` must have shape "
                             f"{(batch, channels, ndim)}, got {samples.shape}")
        if samples.size and not ((samples >= 0) & (samples < 1)).all():
            raise ValueError(f"{op}(): `_random_samples` must lie in [0, 1)")
    # torch's 2-D kernel takes (width, height); 3-D takes (depth, height, width)
    return samples[..., ::-1] if ndim == 2 else samples


def _starts(samples, size, out, k):
    """Window starts ``(N, C, out)`` along one dimension, in the samples' dtype arithmetic."""
    dtype = samples.dtype.type
    starts = np.empty(samples.shape + (out,), np.int64)
    if out > 1:
        alpha = dtype(size - k) / dtype(out - 1)
        steps = np.arange(out - 1, dtype=samples.dtype)
        scaled = ((steps + samples[..., np.newaxis]) * alpha).astype(np.int64)
        starts[..., :-1] = scaled - (samples * alpha).astype(np.int64)[..., np.newaxis]
    starts[..., -1] = size - k
    return starts


def _maxima(x, kernel, shape, samples):
    """Values and flat indices of every window's maximum: (N, C, *shape) each."""
    batch, channels, spatial = x.shape[0], x.shape[1], x.shape[2:]
    ndim = len(spatial)
    strides = [math.prod(spatial[d + 1:]) for d in range(ndim)]
    first = np.zeros((batch, channels) + shape, np.int64)   # flat index of each window's start
    for d, (size, out, k) in enumerate(zip(spatial, shape, kernel)):
        starts = _starts(samples[..., d], size, out, k)
        first += (starts * strides[d]).reshape((batch, channels) + (1,) * d + (out,)
                                               + (1,) * (ndim - d - 1))
    planes = x.reshape(batch, channels, math.prod(spatial))
    flat_first = first.reshape(batch, channels, math.prod(shape))
    best = np.full(flat_first.shape, -np.inf, x.dtype)
    where = flat_first.copy()
    for offset in np.ndindex(*kernel):   # the kernel's cells in row-major order
        index = flat_first + sum(o * s for o, s in zip(offset, strides))
        values = np.take_along_axis(planes, index, axis=2)
        wins = (values > best) | np.isnan(values)
        np.copyto(best, values, where=wins)
        np.copyto(where, index, where=wins)
    return best.reshape((batch, channels) + shape), where.reshape((batch, channels) + shape)


#: Output-sized temporaries of :func:`_maxima`, in 8-byte cells: window starts, the best
#: values and their indices, one offset's indices, values and winners.
_TEMPORARIES = 6


def _maxima_by_samples(x, kernel, shape, samples):
    """:func:`_maxima` over batch chunks whose temporaries fit the workspace."""
    values = np.empty(x.shape[:2] + shape, x.dtype)
    indices = np.empty(values.shape, np.int64)
    chunks, _ = sample_chunks(x.shape[0], _TEMPORARIES * 8 * math.prod(values.shape[1:]))
    for chunk in chunks:
        values[chunk], indices[chunk] = _maxima(x[chunk], kernel, shape, samples[chunk])
    return values, indices


def _arguments(op, ndim, input, kernel_size, output_size, output_ratio):
    x, unbatched = pool_input(op, ndim, input)
    kernel = to_tuple(kernel_size, ndim, op, "kernel_size")
    shape = _output_shape(op, ndim, x.shape[2:], kernel, output_size, output_ratio)
    check_array_size(op, x.shape[:2] + shape + (8,), np.float32, "`output_size`")
    return x, unbatched, kernel, shape


def _fractional_max_pool(op, ndim, input, kernel_size, output_size, output_ratio,
                         return_indices, random_samples, rng):
    x, unbatched, kernel, shape = _arguments(op, ndim, input, kernel_size, output_size,
                                             output_ratio)
    samples = _samples(op, ndim, x.shape[0], x.shape[1], x.dtype, random_samples, rng)
    values, indices = _maxima_by_samples(x, kernel, shape, samples)
    if return_indices:
        return unbatch(values, unbatched), unbatch(indices, unbatched)
    return unbatch(values, unbatched)


def _fractional_max_pool_backward(op, ndim, grad_output, input, kernel_size, output_size,
                                  output_ratio, indices, random_samples):
    x, unbatched, kernel, shape = _arguments(op, ndim, input, kernel_size, output_size,
                                             output_ratio)
    gy = check_grad_output(op, grad_output, x.shape[:2] + shape, unbatched, x)
    if indices is None:
        if random_samples is None:
            raise ValueError(f"{op}(): give the `indices` of the forward pass or its "
                             f"`_random_samples` (the windows were drawn at random)")
        samples = _samples(op, ndim, x.shape[0], x.shape[1], x.dtype, random_samples, None)
        index = _maxima_by_samples(x, kernel, shape, samples)[1]
    else:
        index = check_indices(op, indices, x.shape[:2] + shape, unbatched)
        check_index_range(op, index, x.shape[2:])
    grad_input = np.empty(x.shape, gy.dtype)
    scatter_to_planes(gy, index, grad_input, inside=True)  # checked, or found in the plane
    return unbatch(grad_input.astype(x.dtype, copy=False), unbatched)


_DOC = """{ndim}-D fractional max pooling, as ``torch.nn.functional.{name}``.

Parameters
----------
input : ndarray, shape (N, C, {spatial}) or unbatched (C, {spatial})
kernel_size : int or tuple of {ndim} ints
output_size : int or tuple of {ndim} ints, optional
output_ratio : float or tuple of {ndim} floats in (0, 1), optional
    The output is ``int(input_size * output_ratio)``.  Give this or ``output_size``.
return_indices : bool
    Also return each maximum's flat index in its plane.
_random_samples : ndarray, shape (N, C, {ndim}), optional
    torch's per-plane samples in ``[0, 1)``, {order}; pass torch's to get
    its windows exactly.
rng : numpy.random.Generator, optional, keyword-only
    Draws the samples when ``_random_samples`` is not given (beyond torch).

Returns
-------
values : ndarray, shape (N, C, {out_spatial})
indices : ndarray of int64, same shape (with ``return_indices``)

Notes
-----
Window ``i`` of a dimension starts at ``int((i + u) * alpha) - int(u * alpha)``
with ``alpha = (n - k) / (out - 1)`` in the input's dtype; the last one at
``n - k``.

Examples
--------
>>> import numpy as np, npconv
>>> x = np.random.default_rng(0).standard_normal((2, 3, {example_in}))
>>> npconv.{name}(x, 2, output_ratio=0.5, rng=np.random.default_rng(1)).shape
{example}
"""

_BACKWARD_DOC = """Backward pass of :func:`{fwd}`: the gradient with respect to ``input``.

Parameters
----------
grad_output : ndarray, shape (N, C, {out_spatial})
input, kernel_size, output_size, output_ratio
    As given to :func:`{fwd}`.
indices : ndarray, optional
    From ``{fwd}(..., return_indices=True)``.
_random_samples : ndarray, optional
    The forward pass's samples, to find the maxima again without ``indices``.

Returns
-------
ndarray, shape of ``input``
    Each output gradient added at its maximum's cell.

Examples
--------
>>> import numpy as np, npconv
>>> x = np.arange(2 * 3 * {cells}, dtype=np.float32).reshape(2, 3, {example_in})
>>> y, indices = npconv.{fwd}(x, 2, output_size=3, return_indices=True,
...                          rng=np.random.default_rng(0))
>>> npconv.{name}(np.ones_like(y), x, 2, output_size=3, indices=indices).shape
(2, 3, {example_in})
"""


@documented(_DOC, 2, order="(width, height) as torch's", example="(2, 3, 4, 4)")
def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None, *, rng=None):
    return _fractional_max_pool("fractional_max_pool2d", 2, input, kernel_size, output_size,
                                output_ratio, return_indices, _random_samples, rng)


@documented(_BACKWARD_DOC, 2, fwd="fractional_max_pool2d")
def fractional_max_pool2d_backward(grad_output, input, kernel_size, output_size=None,
                                   output_ratio=None, indices=None, _random_samples=None):
    return _fractional_max_pool_backward("fractional_max_pool2d_backward", 2, grad_output, input,
                                         kernel_size, output_size, output_ratio, indices,
                                         _random_samples)


@documented(_DOC, 3, order="(depth, height, width)", example="(2, 3, 4, 4, 4)")
def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None, *, rng=None):
    return _fractional_max_pool("fractional_max_pool3d", 3, input, kernel_size, output_size,
                                output_ratio, return_indices, _random_samples, rng)


@documented(_BACKWARD_DOC, 3, fwd="fractional_max_pool3d")
def fractional_max_pool3d_backward(grad_output, input, kernel_size, output_size=None,
                                   output_ratio=None, indices=None, _random_samples=None):
    return _fractional_max_pool_backward("fractional_max_pool3d_backward", 3, grad_output, input,
                                         kernel_size, output_size, output_ratio, indices,
                                         _random_samples)
