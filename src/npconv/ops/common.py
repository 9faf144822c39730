"""What several operators share: array checks, batching, bias, docstring helpers and the index scatter.

No operator module imports another; what two of them need lives here (or
in :mod:`npconv.ops.arguments`, which turns user arguments into canonical
values and windows).
"""

from __future__ import annotations

import functools
import itertools
import math
import sys

import numpy as np

from .. import config
from ..window.blocks import batch_chunks
from .arguments import as_float_array, batched_float_array, check_ndim, promoted


SPATIAL_NAMES = {1: "L", 2: "H, W", 3: "D, H, W"}


def is_dask(value):
    """Whether ``value`` is a Dask collection (asked of its type: dask is not imported)."""
    return callable(getattr(type(value), "__dask_graph__", None))


def dask_aware(function):
    """Decorator: a call with a Dask array argument goes to :mod:`npconv.dask`'s function of that name.

    Only once dask is imported can an argument be one, so the check costs a
    dictionary lookup otherwise, and the core needs NumPy alone.
    """
    name = function.__name__

    @functools.wraps(function)
    def call(*args, **kwargs):
        if "dask" in sys.modules and any(map(is_dask, itertools.chain(args, kwargs.values()))):
            from .. import dask as on_dask
            return getattr(on_dask, name)(*args, **kwargs)
        return function(*args, **kwargs)
    return call


def batched_input(op, ndim, input):
    """``(x, unbatched)``: the convolution input as a batched float array."""
    return batched_float_array(op, input, (ndim + 1, ndim + 2), "input",
                               f"(C, {SPATIAL_NAMES[ndim]}) unbatched or "
                               f"(N, C, {SPATIAL_NAMES[ndim]})")


def input_arrays(op, ndim, input, weight, bias):
    """Validate and convert the array arguments of a (transposed) convolution.

    Returns ``(x, w, b, unbatched)`` with ``x`` always batched, all three of
    their common dtype (float64 if any is float64, as NumPy promotes); the
    bias length is checked by :func:`check_bias`.
    """
    x, unbatched = batched_input(op, ndim, input)
    w = as_float_array(weight, op, "weight")
    b = None if bias is None else as_float_array(bias, op, "bias")
    check_ndim(w, (ndim + 2,), op, "weight", "(out_channels, in_channels/groups, *kernel_size)")
    if 0 in w.shape:
        raise ValueError(f"{op}(): `weight` must have no zero-size dimension, got shape {w.shape}")
    return promoted(x, w, b) + (unbatched,)


def gradients_as(arguments, gradients):
    """Each gradient in the dtype of its argument (as autograd gives them); None stays None."""
    return tuple(None if g is None else g.astype(np.asarray(a).dtype, copy=False)
                 for a, g in zip(arguments, gradients))


def check_bias(op, bias, length):
    """``bias`` must be a 1-D array of ``length`` entries."""
    if bias is not None and bias.shape != (length,):
        raise ValueError(f"{op}(): `bias` must have shape ({length},), got {bias.shape}")


def check_grad_output(op, grad_output, expected_shape, unbatched, reference):
    """Convert ``grad_output`` and check its shape; returns it batched, in its common dtype with ``reference``."""
    gy = as_float_array(grad_output, op, "grad_output")
    shown = expected_shape[1:] if unbatched else expected_shape
    if gy.shape != shown:
        raise ValueError(f"{op}(): `grad_output` must have shape {shown}, got {gy.shape}")
    gy = gy.astype(np.result_type(gy, reference), copy=False)
    return gy[np.newaxis] if unbatched else gy


def add_bias(y, bias):
    """``y + bias`` broadcast over the channel axis, in place."""
    if bias is not None:
        y += bias.reshape((-1,) + (1,) * (y.ndim - 2))
    return y


def bias_grad(grad_output, bias):
    """Sum of ``grad_output`` over every axis but the channel axis, or None without bias."""
    if bias is None:
        return None
    return grad_output.sum(axis=(0,) + tuple(range(2, grad_output.ndim)))


def unbatch(array, unbatched):
    return array[0] if unbatched else array


_EXAMPLES = {
    1: ("8", "3", "(2, 4, 8)"),
    2: ("8, 8", "3, 3", "(2, 4, 8, 8)"),
    3: ("8, 8, 8", "3, 3, 3", "(2, 4, 8, 8, 8)"),
}


def doc_fields(ndim, name, **extra):
    """Names substituted into the docstring templates for one dimensionality."""
    letters = SPATIAL_NAMES[ndim].split(", ")
    example_in, example_k, example_out = _EXAMPLES[ndim]
    return dict(
        ndim=ndim, name=name, spatial=SPATIAL_NAMES[ndim],
        out_spatial=", ".join(f"{c}_out" for c in letters),
        kernel=", ".join(f"k{c}" for c in letters),
        example_in=example_in, example_k=example_k, example_out=example_out,
        cells=8 ** ndim, example_pool_padded=str((2, 3) + (5,) * ndim),
        example_adaptive=str((2, 3) + (3,) * ndim), **extra,
    )


def documented(template, ndim, **extra):
    """Decorator: the docstring of a public function, ``template`` filled in for ``ndim`` dimensions.

    The fields are :func:`doc_fields` of the function's own name and
    ``extra``; the function shows as ``npconv.<name>``, where it is exported.
    """
    def decorate(function):
        function.__doc__ = template.format(**doc_fields(ndim, function.__name__, **extra))
        function.__module__ = "npconv"
        return function
    return decorate


def pool_input(op, ndim, input, allow_no_channels=False):
    """``(x, unbatched)``: a float array of ``ndim + 1`` or ``ndim + 2`` dimensions, batched.

    As torch, only the batch may be empty (adaptive average pooling also
    allows zero channels, ``allow_no_channels``).
    """
    x, unbatched = batched_float_array(op, input, (ndim + 1, ndim + 2), "input",
                                       "(C, *spatial) unbatched or (N, C, *spatial)")
    if 0 in x.shape[2:] or (x.shape[1] == 0 and not allow_no_channels):
        kind = "spatial" if allow_no_channels else "non-batch"
        raise ValueError(f"{op}(): `input` must have a non-zero size in every {kind} "
                         f"dimension, got shape {np.shape(input)}")
    return x, unbatched


def check_indices(op, indices, expected_shape, unbatched):
    """``indices`` as an integer array of the pooled output's shape; returns it batched."""
    array = np.asarray(indices)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}(): `indices` must be an integer array, got dtype {array.dtype}")
    shown = expected_shape[1:] if unbatched else expected_shape
    if array.shape != shown:
        raise ValueError(f"{op}(): `indices` must have shape {shown}, got {array.shape}")
    return array[np.newaxis] if unbatched else array


def check_index_range(op, indices, spatial, exempt=None, exempt_name=""):
    """Every index must name a cell of a plane of shape ``spatial``.

    ``exempt``, a function called only when some index is out of range,
    gives values (broadcastable to ``indices``) also allowed where they
    stand, described in the message as ``exempt_name``.  Returns whether
    every index lies in the plane (none is an exempt one outside it), which
    :func:`scatter_to_planes` then need not check again.
    """
    plane = math.prod(spatial)
    if not indices.size or (indices.min() >= 0 and indices.max() < plane):
        return True
    outside = (indices < 0) | (indices >= plane)
    if exempt is not None:
        outside &= indices != exempt()
    if outside.any():
        also = f" (or be {exempt_name})" if exempt is not None else ""
        raise ValueError(
            f"{op}(): `indices` must lie in [0, {plane}) for a plane of shape {tuple(spatial)}"
            f"{also}, got {indices[outside].flat[0]}"
        )
    return False


def scatter_to_planes(grad_output, indices, grad_input, accumulate=False, inside=None):
    """Write into ``grad_input`` (N, C, *spatial) each output gradient added at the cell its index names.

    As torch's backward: an index is a flat position in its ``(n, c)``
    plane, and gradients that name the same cell add up.  An index outside
    the plane (a window of padding cells only) is dropped.  ``grad_input``
    is C-contiguous (the blocks of :func:`npconv.ops.pool.by_blocks` are); with ``accumulate``
    the gradients add to what it holds, else it is zeroed first.  ``inside``:
    True where every index is known to lie in its plane (checked by
    :func:`check_index_range`, or so by construction); by default the
    indices are checked here, a pass over them.

    One ``np.add.at`` over flat indices: NumPy's indexed-add fast path (1.25+)
    beats matching every index against each kernel offset and adding by
    strided slices, and ``np.bincount`` (docs/guides/performance.md gives the measurements).
    """
    plane = math.prod(grad_input.shape[2:])
    planes = grad_input.reshape(-1, plane)  # a view of the C-contiguous block
    if not accumulate:
        planes[...] = 0
    flat = indices.reshape(len(planes), math.prod(indices.shape[2:]))
    values = grad_output.reshape(flat.shape)
    if inside is None:
        inside = not flat.size or (flat.min() >= 0 and flat.max() < plane)
    if not inside:
        kept = (flat >= 0) & (flat < plane)
        rows = np.broadcast_to(np.arange(len(planes))[:, None], flat.shape)
        np.add.at(planes, (rows[kept], flat[kept].astype(np.intp)), values[kept])
    else:
        # indices into all planes in one pass (not a cast copy, then a sum)
        flat = np.add(flat, np.arange(0, planes.size, plane, dtype=np.intp)[:, None],
                      dtype=np.intp)
        np.add.at(planes.reshape(-1), flat.reshape(-1), values.reshape(-1))


def sample_chunks(n_batch, sample_bytes, reserved=0):
    """Batch chunks whose temporaries (``sample_bytes`` per sample) take at most a third of
    the workspace (at least one sample), and a workspace scope with the rest, less
    ``reserved`` bytes kept for the whole call, for the operators the chunk's computation
    calls (``with scope: ...``)."""
    budget = config.get_workspace()
    chunks = batch_chunks(n_batch, sample_bytes, max(1, budget // 3))
    largest = max((chunk.stop - chunk.start for chunk in chunks), default=0)
    return chunks, config.workspace(max(1, budget - largest * sample_bytes - reserved))


def by_samples(compute, n_batch, sample_bytes, shape, dtype):
    """``compute(chunk)`` (the result's rows for a batch slice) over :func:`sample_chunks`,
    assembled into a new array of ``shape`` and ``dtype``."""
    out = np.empty(shape, dtype)
    chunks, rest = sample_chunks(n_batch, sample_bytes)
    with rest:
        for chunk in chunks:
            out[chunk] = compute(chunk)
    return out
