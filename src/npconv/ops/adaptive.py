"""Adaptive average and max pooling, N-d, forward and backward.

An adaptive pool picks its windows from the sizes alone: along a dimension of
``I`` input cells and ``O`` output cells, output cell ``o`` covers the cells
``[floor(o*I/O), ceil((o+1)*I/O))``, as torch.  Windows may differ in length
and overlap, so they are not a :class:`~npconv.window.geometry.Window`; but they are
separable: a window is a product of per-dimension ranges.

* Average pooling sums the windows a dimension at a time (one reduction over
  all dimensions when the windows tile every one of them), and divides by
  the window sizes; its backward pass is the adjoint, again a window sum per
  dimension (a gather where each input cell lies in one window).
* Max pooling reduces one dimension at a time, last dimension first, carrying
  each partial maximum's flat index.  Within a dimension it walks the window
  offsets (as many as the longest window) and a cell wins when it is greater
  than the maximum so far or is NaN.  Reducing dimension by dimension gives
  the same winner as torch's row-major scan of the whole window: the first of
  equal maxima, or the last NaN.  The backward pass adds each output gradient
  to the cell its index names.
"""

from __future__ import annotations

import math

import numpy as np

from .. import config
from ..window.blocks import plane_bands, plane_blocks, quiet, run_blocks
from .arguments import _as_int, check_array_size
from .common import (check_grad_output, check_index_range, check_indices, dask_aware, documented,
                     pool_input, scatter_to_planes, unbatch)


def adaptive_output_shape(op, ndim, spatial, output_size):
    """The output's spatial shape; ``None`` entries keep the input's size, as torch."""
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != ndim:
            raise ValueError(
                f"{op}(): `output_size` must be an int or a tuple of {ndim} ints or None, "
                f"got {len(output_size)} values {tuple(output_size)!r}"
            )
        entries = tuple(output_size)
    else:
        entries = (output_size,) * ndim
    shape = tuple(n if entry is None else _as_int(entry, op, "output_size")
                  for entry, n in zip(entries, spatial))
    if any(size < 0 for size in shape):
        raise ValueError(f"{op}(): `output_size` must be >= 0, got {output_size!r}")
    return shape


def window_bounds(in_size, out_size):
    """``(start, stop)`` arrays of the adaptive windows along one dimension."""
    cells = np.arange(out_size, dtype=np.int64)
    return cells * in_size // out_size, -((-(cells + 1) * in_size) // out_size)


def _window_sum(x, axis, start, stop):
    """Sum ``x`` along ``axis`` over the windows ``[start[o], stop[o])``, one per output cell.

    Windows of one cell are a gather (the backward pass of windows that do
    not overlap); windows of one length tiling the axis take a reshape;
    otherwise the offsets within a window are walked, one gather per offset.
    """
    lengths = stop - start
    if len(start) and (lengths == 1).all():
        return np.take(x, start, axis=axis)
    tile = _tile_length(x.shape[axis], start, stop)
    if tile:
        return x.reshape(x.shape[:axis] + (len(start), tile) + x.shape[axis + 1:]).sum(axis + 1)
    shape = x.shape[:axis] + (len(start),) + x.shape[axis + 1:]
    total = np.zeros(shape, x.dtype)
    trailing = (1,) * (x.ndim - axis - 1)
    for offset in range(int(lengths.max(initial=0))):
        cells = np.minimum(start + offset, stop - 1)
        inside = (offset < lengths).reshape((-1,) + trailing)
        total += np.where(inside, np.take(x, cells, axis=axis), 0)
    return total


def _tile_length(size, start, stop):
    """The length of windows ``[start, stop)`` that tile an axis of ``size`` cells end to end, else 0."""
    lengths = stop - start
    if len(start) and lengths[0] * len(start) == size and (lengths == lengths[0]).all() \
            and (start == np.arange(len(start)) * lengths[0]).all():
        return int(lengths[0])
    return 0


def _scaled(x, axis, factor):
    """``x`` times ``factor`` (one value per cell of ``axis``)."""
    return x * factor.astype(x.dtype).reshape((-1,) + (1,) * (x.ndim - axis - 1))


def all_bounds(in_spatial, out_shape):
    """:func:`window_bounds` of every spatial dimension."""
    return [window_bounds(n, o) for n, o in zip(in_spatial, out_shape)]


def _adaptive_avg(x, bounds):
    """Average ``x`` (batched) over the adaptive windows ``bounds`` (``(start, stop)`` per dimension).

    Windows that tile every dimension (global pooling, integer ratios) are
    one reduction over all window axes and one division, as torch's
    ``sum / count``; others go a dimension at a time.
    """
    tiles = [_tile_length(size, start, stop) for size, (start, stop) in zip(x.shape[2:], bounds)]
    if all(tiles):
        shape = x.shape[:2] + tuple(cells for (start, _), tile in zip(bounds, tiles)
                                    for cells in (len(start), tile))
        sums = x.reshape(shape).sum(axis=tuple(range(3, len(shape), 2)))
        return sums / x.dtype.type(math.prod(tiles))
    result = x
    for dim, (start, stop) in enumerate(bounds):
        result = _scaled(_window_sum(result, 2 + dim, start, stop), 2 + dim, 1 / (stop - start))
    return result


def _adaptive_avg_adjoint(grad_output, bounds, in_spatial):
    """Spread each window's gradient evenly over its cells (the transpose of :func:`_adaptive_avg`).

    Input cell ``i`` receives from the output cells whose windows hold it,
    ``o`` in ``[#(stop <= i), #(start <= i))``: again a window sum.
    """
    result = grad_output
    for dim, (in_size, (start, stop)) in enumerate(zip(in_spatial, bounds)):
        cells = np.arange(in_size)
        share = _scaled(result, 2 + dim, 1 / (stop - start))
        result = _window_sum(share, 2 + dim, np.searchsorted(stop, cells, side="right"),
                             np.searchsorted(start, cells, side="right"))
    return result


def adaptive_max_forward(x, bounds):
    """``(values, indices)``: each adaptive window's maximum and its flat index in the plane of ``x``.

    ``bounds`` are the windows' ``(start, stop)`` per spatial dimension.
    """
    spatial = x.shape[2:]
    values, indices = x, None
    plane_stride = 1
    for dim in reversed(range(len(spatial))):
        axis = 2 + dim
        start, stop = bounds[dim]
        shape = list(values.shape)
        shape[axis] = len(start)
        best = np.full(shape, -np.inf, x.dtype)
        best_index = np.empty(shape, np.int64)
        longest = int((stop - start).max(initial=0))
        for offset in range(longest):
            cells = np.minimum(start + offset, stop - 1)
            candidate = np.take(values, cells, axis=axis)
            here = cells.reshape((-1,) + (1,) * (len(spatial) - dim - 1)) * plane_stride
            index = here if indices is None else np.take(indices, cells, axis=axis) + here
            if offset == 0:
                best_index[...] = index
            wins = (candidate > best) | np.isnan(candidate)
            np.copyto(best, candidate, where=wins)
            np.copyto(best_index, index, where=wins)
        values, indices = best, best_index
        plane_stride *= spatial[dim]
    return values, indices


def _in_plane_blocks(kernel, arrays, shapes, per_cell_bytes, bounds, banded):
    """Run ``kernel(*blocks)`` over blocks of ``(sample, channel)`` planes of ``arrays`` (N, C, ...).

    ``shapes`` are the spatial shapes the planes take on the way (input,
    partial reductions, output); a block holds ``per_cell_bytes`` of
    temporaries per cell of the largest of them, inside the workspace.  A
    plane whose temporaries alone exceed its share of the workspace goes
    instead, plane by plane and in order, to ``banded(n, c, rows, in_rows,
    band_bounds)`` for bands of output rows along the first spatial
    dimension: ``in_rows`` are the input rows their windows read, and
    ``band_bounds`` the windows' ``bounds`` relative to those rows.
    """
    batch, channels = arrays[0].shape[:2]
    plane_bytes = per_cell_bytes * max(math.prod(shape) for shape in shapes)
    resources = config.resources()
    start, stop = bounds[0]
    bands = plane_bands(batch, channels, len(start), plane_bytes, resources)
    if bands is not None:
        for n, c, rows in bands:
            in_rows = slice(int(start[rows][0]), int(stop[rows][-1]))
            band = [(start[rows] - in_rows.start, stop[rows] - in_rows.start)]
            banded(n, c, rows, in_rows, band + list(bounds[1:]))
        return
    run_blocks(lambda block: kernel(*(array[block] for array in arrays)),
               plane_blocks(batch, channels, plane_bytes, resources), resources.threads)


def _plane_parts(n, c, rows, in_rows):
    """Indices of plane ``(n, c)``'s input rows ``in_rows`` and output rows ``rows``."""
    plane = (slice(n, n + 1), slice(c, c + 1))
    return plane + (in_rows,), plane + (rows,)


def _stages(in_spatial, out_spatial, order):
    """The spatial shapes of a dimension-by-dimension pass, visiting dimensions in ``order``."""
    shape, shapes = list(in_spatial), [tuple(in_spatial)]
    for dim in order:
        shape[dim] = out_spatial[dim]
        shapes.append(tuple(shape))
    return shapes


# --- public functions ---------------------------------------------------------------

@quiet
def _adaptive_avg_pool(op, ndim, input, output_size):
    x, unbatched = pool_input(op, ndim, input, allow_no_channels=True)
    out_shape = adaptive_output_shape(op, ndim, x.shape[2:], output_size)
    check_array_size(op, x.shape[:2] + out_shape, x.dtype, f"`output_size`={output_size!r}")
    y = np.empty(x.shape[:2] + out_shape, x.dtype)
    bounds = all_bounds(x.shape[2:], out_shape)

    def average(x, y):
        y[...] = _adaptive_avg(x, bounds)

    def banded(n, c, rows, in_rows, band_bounds):
        inside, outside = _plane_parts(n, c, rows, in_rows)
        y[outside] = _adaptive_avg(x[inside], band_bounds)

    _in_plane_blocks(average, [x, y], _stages(x.shape[2:], out_shape, range(ndim)),
                     4 * x.itemsize, bounds, banded)
    return unbatch(y, unbatched)


@quiet
def _adaptive_avg_pool_backward(op, ndim, grad_output, input, output_size):
    x, unbatched = pool_input(op, ndim, input, allow_no_channels=True)
    out_shape = adaptive_output_shape(op, ndim, x.shape[2:], output_size)
    check_array_size(op, x.shape[:2] + out_shape, x.dtype, f"`output_size`={output_size!r}")
    gy = check_grad_output(op, grad_output, x.shape[:2] + out_shape, unbatched, x)
    grad_input = np.empty(x.shape, x.dtype)
    bounds = all_bounds(x.shape[2:], out_shape)

    def spread(gy, grad_input):
        grad_input[...] = _adaptive_avg_adjoint(gy, bounds, x.shape[2:])

    def banded(n, c, rows, in_rows, band_bounds):
        inside, outside = _plane_parts(n, c, rows, in_rows)
        if rows.start == 0:
            grad_input[n, c] = 0
        in_spatial = (in_rows.stop - in_rows.start,) + x.shape[3:]
        grad_input[inside] += _adaptive_avg_adjoint(gy[outside], band_bounds, in_spatial)

    _in_plane_blocks(spread, [gy, grad_input], _stages(out_shape, x.shape[2:], range(ndim)),
                     4 * gy.itemsize, bounds, banded)
    return unbatch(grad_input, unbatched)


@quiet
def _adaptive_max_pool(op, ndim, input, output_size, return_indices):
    x, unbatched = pool_input(op, ndim, input)
    out_shape = adaptive_output_shape(op, ndim, x.shape[2:], output_size)
    check_array_size(op, x.shape[:2] + out_shape, x.dtype, f"`output_size`={output_size!r}")
    values = np.empty(x.shape[:2] + out_shape, x.dtype)
    indices = np.empty(values.shape, np.int64)
    bounds = all_bounds(x.shape[2:], out_shape)

    def reduce(x, values, indices):
        values[...], indices[...] = adaptive_max_forward(x, bounds)

    def banded(n, c, rows, in_rows, band_bounds):
        inside, outside = _plane_parts(n, c, rows, in_rows)
        values[outside], indices[outside] = _band_max(x[inside], band_bounds, in_rows)

    _in_plane_blocks(reduce, [x, values, indices],
                     _stages(x.shape[2:], out_shape, reversed(range(ndim))), 3 * (x.itemsize + 8),
                     bounds, banded)
    if return_indices:
        return unbatch(values, unbatched), unbatch(indices, unbatched)
    return unbatch(values, unbatched)


@quiet
def _adaptive_max_pool_backward(op, ndim, grad_output, input, output_size, indices):
    x, unbatched = pool_input(op, ndim, input)
    out_shape = adaptive_output_shape(op, ndim, x.shape[2:], output_size)
    check_array_size(op, x.shape[:2] + out_shape, x.dtype, f"`output_size`={output_size!r}")
    expected = x.shape[:2] + out_shape
    gy = check_grad_output(op, grad_output, expected, unbatched, x)
    if indices is not None:
        indices = check_indices(op, indices, expected, unbatched)
        check_index_range(op, indices, x.shape[2:])
    grad_input = np.empty(x.shape, x.dtype)
    bounds = all_bounds(x.shape[2:], out_shape)

    # indices lie in their planes: checked, or found again (adaptive windows hold no padding)
    def scatter(x, gy, grad_input, *given):
        indices = given[0] if given else adaptive_max_forward(x, bounds)[1]
        scatter_to_planes(gy, indices, grad_input, inside=True)

    def banded(n, c, rows, in_rows, band_bounds):
        inside, outside = _plane_parts(n, c, rows, in_rows)
        plane = (slice(n, n + 1), slice(c, c + 1))
        if rows.start == 0:
            grad_input[plane] = 0
        band_indices = (_band_max(x[inside], band_bounds, in_rows)[1] if indices is None
                        else indices[outside])
        scatter_to_planes(gy[outside], band_indices, grad_input[plane], accumulate=True,
                          inside=True)

    given = [] if indices is None else [indices]
    _in_plane_blocks(scatter, [x, gy, grad_input] + given,
                     _stages(x.shape[2:], out_shape, reversed(range(ndim))), 3 * (x.itemsize + 8),
                     bounds, banded)
    return unbatch(grad_input, unbatched)


def _band_max(x, band_bounds, in_rows):
    """:func:`adaptive_max_forward` of a band of rows; its indices made relative to the whole plane."""
    values, indices = adaptive_max_forward(x, band_bounds)
    indices += in_rows.start * math.prod(x.shape[3:])
    return values, indices


_AVG_DOC = """{ndim}-D adaptive average pooling, as ``torch.nn.functional.{name}``.

Parameters
----------
input : ndarray, shape (N, C, {spatial}) or unbatched (C, {spatial})
output_size : int or tuple of {ndim} ints or None
    The output's spatial size; a ``None`` entry keeps that input size.

Returns
-------
ndarray, shape (N, C, {out_spatial})

Notes
-----
Along a dimension of ``I`` cells, output cell ``o`` averages the input cells
``floor(o*I/O) <= i < ceil((o+1)*I/O)``; windows may overlap.

Examples
--------
>>> import numpy as np, npconv
>>> npconv.{name}(np.ones((2, 3, {example_in})), 1).shape
{example_global}
"""

_AVG_BACKWARD_DOC = """Backward pass of :func:`{fwd}`: the gradient with respect to ``input``.

Parameters
----------
grad_output : ndarray, shape (N, C, {out_spatial})
input, output_size
    As given to :func:`{fwd}`.

Returns
-------
ndarray, shape of ``input``
    Each window spreads its gradient evenly over its cells.

Examples
--------
>>> import numpy as np, npconv
>>> x = np.arange(2 * 3 * {cells}, dtype=np.float32).reshape(2, 3, {example_in})
>>> y = npconv.{fwd}(x, 2)
>>> npconv.{name}(np.ones_like(y), x, 2).shape
(2, 3, {example_in})
"""

_MAX_DOC = """{ndim}-D adaptive max pooling, as ``torch.nn.functional.{name}``.

Parameters
----------
input : ndarray, shape (N, C, {spatial}) or unbatched (C, {spatial})
output_size : int or tuple of {ndim} ints or None
    The output's spatial size; a ``None`` entry keeps that input size.
return_indices : bool
    Also return each maximum's flat index within the input's spatial plane.

Returns
-------
values : ndarray, shape (N, C, {out_spatial})
indices : ndarray of int64, same shape (with ``return_indices``)

Notes
-----
Windows as in ``adaptive_avg_pool{ndim}d``.  Ties go to the first maximal
cell in row-major order; NaN beats any number, and among NaNs the last wins,
as torch.

Examples
--------
>>> import numpy as np, npconv
>>> values, indices = npconv.{name}(np.ones((2, 3, {example_in})), 3, return_indices=True)
>>> values.shape, indices.dtype
({example_adaptive}, dtype('int64'))
"""

_MAX_BACKWARD_DOC = """Backward pass of :func:`{fwd}`: the gradient with respect to ``input``.

Parameters
----------
grad_output : ndarray, shape (N, C, {out_spatial})
input, output_size
    As given to :func:`{fwd}`.
indices : ndarray, optional
    The indices from ``{fwd}(..., return_indices=True)``; without them the
    maxima are found again.

Returns
-------
ndarray, shape of ``input``
    Each output gradient goes to the cell that won its window; a cell won by
    several overlapping windows receives the sum.

Examples
--------
>>> import numpy as np, npconv
>>> x = np.arange(2 * 3 * {cells}, dtype=np.float32).reshape(2, 3, {example_in})
>>> y = npconv.{fwd}(x, 2)
>>> npconv.{name}(np.ones_like(y), x, 2).shape
(2, 3, {example_in})
"""

_GLOBAL_EXAMPLES = {1: "(2, 3, 1)", 2: "(2, 3, 1, 1)", 3: "(2, 3, 1, 1, 1)"}


@dask_aware
@documented(_AVG_DOC, 1, example_global=_GLOBAL_EXAMPLES[1])
def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg_pool("adaptive_avg_pool1d", 1, input, output_size)


@dask_aware
@documented(_AVG_BACKWARD_DOC, 1, fwd="adaptive_avg_pool1d")
def adaptive_avg_pool1d_backward(grad_output, input, output_size):
    return _adaptive_avg_pool_backward("adaptive_avg_pool1d_backward", 1, grad_output, input,
                                       output_size)


@dask_aware
@documented(_MAX_DOC, 1)
def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max_pool("adaptive_max_pool1d", 1, input, output_size, return_indices)


@dask_aware
@documented(_MAX_BACKWARD_DOC, 1, fwd="adaptive_max_pool1d")
def adaptive_max_pool1d_backward(grad_output, input, output_size, indices=None):
    return _adaptive_max_pool_backward("adaptive_max_pool1d_backward", 1, grad_output, input,
                                       output_size, indices)


@dask_aware
@documented(_AVG_DOC, 2, example_global=_GLOBAL_EXAMPLES[2])
def adaptive_avg_pool2d(input, output_size):
    return _adaptive_avg_pool("adaptive_avg_pool2d", 2, input, output_size)


@dask_aware
@documented(_AVG_BACKWARD_DOC, 2, fwd="adaptive_avg_pool2d")
def adaptive_avg_pool2d_backward(grad_output, input, output_size):
    return _adaptive_avg_pool_backward("adaptive_avg_pool2d_backward", 2, grad_output, input,
                                       output_size)


@dask_aware
@documented(_MAX_DOC, 2)
def adaptive_max_pool2d(input, output_size, return_indices=False):
    return _adaptive_max_pool("adaptive_max_pool2d", 2, input, output_size, return_indices)


@dask_aware
@documented(_MAX_BACKWARD_DOC, 2, fwd="adaptive_max_pool2d")
def adaptive_max_pool2d_backward(grad_output, input, output_size, indices=None):
    return _adaptive_max_pool_backward("adaptive_max_pool2d_backward", 2, grad_output, input,
                                       output_size, indices)


@dask_aware
@documented(_AVG_DOC, 3, example_global=_GLOBAL_EXAMPLES[3])
def adaptive_avg_pool3d(input, output_size):
    return _adaptive_avg_pool("adaptive_avg_pool3d", 3, input, output_size)


@dask_aware
@documented(_AVG_BACKWARD_DOC, 3, fwd="adaptive_avg_pool3d")
def adaptive_avg_pool3d_backward(grad_output, input, output_size):
    return _adaptive_avg_pool_backward("adaptive_avg_pool3d_backward", 3, grad_output, input,
                                       output_size)


@dask_aware
@documented(_MAX_DOC, 3)
def adaptive_max_pool3d(input, output_size, return_indices=False):
    return _adaptive_max_pool("adaptive_max_pool3d", 3, input, output_size, return_indices)


@dask_aware
@documented(_MAX_BACKWARD_DOC, 3, fwd="adaptive_max_pool3d")
def adaptive_max_pool3d_backward(grad_output, input, output_size, indices=None):
    return _adaptive_max_pool_backward("adaptive_max_pool3d_backward", 3, grad_output, input,
                                       output_size, indices)
