"""Checks and conversions of the array arguments of npconv's operators on Dask arrays.

The checks are npconv's own (same messages), run on shapes and dtypes when
the graph is built; nothing is computed.
"""

from __future__ import annotations

import math

import numpy as np

from ..ops.arguments import as_float_array, check_ndim
from ..ops.common import SPATIAL_NAMES, is_dask

__all__ = ["is_dask", "lazy", "lazy_input", "small", "one_chunk_along", "same_batch_chunks",
           "meta", "result_dtype"]


def _checked(op, name, array, ndims, meaning):
    """Dtype and dimension checks of a Dask array, with the messages of NumPy inputs."""
    as_float_array(np.empty((0,), array.dtype), op, name)
    check_ndim(array, ndims, op, name, meaning)
    if any(math.isnan(size) for size in array.shape):
        raise ValueError(f"{op}(): `{name}` must have known chunk sizes, got shape {array.shape}; "
                         f"call `{name}.compute_chunk_sizes()` first")
    return array


def lazy(op, name, array, ndims, meaning, like=None):
    """``array`` as a Dask array, checked; a NumPy array gets one chunk, or ``like``'s batch chunks."""
    import dask.array as da

    if is_dask(array):
        return _checked(op, name, array, ndims, meaning)
    array = as_float_array(array, op, name)
    check_ndim(array, ndims, op, name, meaning)
    chunks = array.shape if like is None else (like.chunks[0],) + array.shape[1:]
    return da.from_array(array, chunks=chunks)


def lazy_input(op, ndim, input, name="input", like=None):
    """``(x, unbatched)``: a checked Dask array with a batch axis (a new one of 1 when unbatched)."""
    meaning = (f"(C, {SPATIAL_NAMES[ndim]}) unbatched or (N, C, {SPATIAL_NAMES[ndim]})")
    x = lazy(op, name, input, (ndim + 1, ndim + 2), meaning, like)
    unbatched = x.ndim == ndim + 1
    return (x[np.newaxis] if unbatched else x), unbatched


def small(op, name, array, ndims, meaning):
    """A weight or bias: one chunk, a Dask array (a NumPy one is put in the graph once)."""
    import dask.array as da

    if is_dask(array):
        return _checked(op, name, array, ndims, meaning).rechunk(-1)
    array = as_float_array(array, op, name)
    check_ndim(array, ndims, op, name, meaning)
    return da.from_array(array, chunks=array.shape)


def one_chunk_along(op, name, array, axis, what):
    """Refuse an array cut along ``axis`` (channels: every output reads all of a group's channels)."""
    if len(array.chunks[axis]) > 1:
        raise ValueError(
            f"{op}(): `{name}` must have one chunk along {what} (dimension {axis}), got chunks "
            f"{array.chunks[axis]}; rechunk it with `{name}.rechunk({{{axis}: -1}})`"
        )


def same_batch_chunks(array, like):
    """``array`` with ``like``'s chunks along the batch axis (both are per-sample, so this moves no halo)."""
    if array.chunks[0] != like.chunks[0]:
        array = array.rechunk({0: like.chunks[0]})
    return array


def meta(ndim, dtype):
    """An empty NumPy array that tells Dask the block type, dimensions and dtype."""
    return np.empty((0,) * ndim, dtype)


def result_dtype(*arrays):
    """NumPy's promotion of the float arrays (None ignored), as npconv's NumPy functions."""
    return np.result_type(*(a.dtype for a in arrays if a is not None))
