"""Max and average pooling, N-d, forward and backward, on the shared window engine.

Max pooling walks the kernel offsets of a :class:`~npconv.window.geometry.Window`
(one vectorised pass over the whole batch per offset) exactly as convolution
does; its backward pass sends each gradient to the flat index of its
window's winner, as torch does.  Average pooling sums a box, which is
separable: one 1-D window sum per spatial dimension (``sum(kernel)``
strided slice-adds instead of ``prod(kernel)``), and its backward pass is
the adjoint, 1-D spreads in reverse order, so overlapping windows
accumulate with no ``np.add.at``.

Max pooling follows torch's scan: within a window the cells are visited in
row-major kernel order and a cell wins when it is greater than the current
maximum or is NaN.  So the first of several equal maxima wins, a NaN always
beats a number, and the last NaN of a window wins; a window whose real cells
are all ``-inf`` reports its first real cell.  Padding cells never win (they
are ``-inf`` in torch's terms).  A window of padding cells only (dilation can
make one) gives ``-inf`` and, as torch, the index of its first dilated cell at
or after 0, which lies past the input.  The backward pass adds its gradient
at that flat index where it falls inside the plane, as torch does, and drops
it past the plane (where torch writes into the next channel's plane).
"""

from __future__ import annotations

import math

import numpy as np

from .. import config
from ..window.blocks import plane_bands, plane_blocks, quiet, run_blocks
from ..window.geometry import Window
from ..window.phases import flat_phases
from .arguments import make_window, window_arguments
from .common import (by_samples, check_grad_output, check_index_range, check_indices, dask_aware,
                     documented, pool_input, scatter_to_planes, unbatch)

_ALL2 = (slice(None), slice(None))


# --- arguments ------------------------------------------------------------------

def pool_window(op, ndim, spatial, kernel_size, stride, padding, dilation, ceil_mode):
    """The window of a pooling op; ``stride=None`` means ``kernel_size``, as torch."""
    kernel, stride, pads, dilation = window_arguments(op, ndim, kernel_size, stride, padding,
                                                      dilation, stride_default_kernel=True,
                                                      strings=False)
    if any(max(pair) > k // 2 for pair, k in zip(pads, kernel)):
        raise ValueError(
            f"{op}(): `padding` must be at most half of kernel_size on every side, "
            f"got padding={padding!r} with kernel_size={kernel}"
        )
    return make_window(op, tuple(spatial), kernel, stride, pads, dilation, ceil_mode)


# --- max pooling ------------------------------------------------------------------

def _plane_strides(window):
    """Flat-index step of each spatial dimension of the input plane."""
    return plane_strides(window.in_shape)


def plane_strides(spatial):
    """Flat-index step of each dimension of a plane of shape ``spatial`` (row-major)."""
    return [math.prod(spatial[dim + 1:]) for dim in range(len(spatial))]


def _column(values, dim, ndim):
    """``values`` shaped to broadcast along spatial dimension ``dim`` of ``ndim``."""
    return np.reshape(values, (-1,) + (1,) * (ndim - dim - 1))


def _flat_index(window, cell_of_start, strides):
    """Per output cell, the flat index of ``cell_of_start(start, dim)``, summed over dimensions.

    ``start`` holds the offset-0 cell of every window position along ``dim``
    (negative in the low padding); ``strides`` are the plane's flat-index steps.
    """
    index = np.zeros((1,) * window.ndim, np.int64)
    for dim, plane_stride in enumerate(strides):
        start = window.starts(dim)
        index = index + _column(cell_of_start(start, dim) * plane_stride, dim, window.ndim)
    return index


def _window_starts(window, strides):
    """Flat index of each window's offset-0 cell (possibly in the padding), per output cell."""
    return _flat_index(window, lambda start, dim: start, strides)


def _offset_steps(window, strides):
    """Flat-index step from a window's offset-0 cell to each kernel offset in ``window.offsets``."""
    return [sum(j * d * s for j, d, s in zip(offset, window.dilation, strides))
            for offset, _, _ in window.offsets]


def _first_cells(window, strides=None):
    """Flat index of each window's first cell at or after 0 on its dilated grid, per output cell.

    This is where torch's scan starts: the window's first real cell when it
    has one (a window of padding cells only keeps it, even past the input's end).
    """
    def first(start, dim):
        dilation = window.dilation[dim]
        return np.where(start < 0, start + (-start + dilation - 1) // dilation * dilation, start)
    return _flat_index(window, first, strides or _plane_strides(window))


def _in_place(x):
    """The reader of :func:`cell_reader` that reads ``x`` itself, through strided views."""
    return lambda offset, in_sl, out_sl: x[_ALL2 + in_sl]


def cell_reader(x, window):
    """The reader of the forward pass with indices, which reads every offset twice: a function
    from a kernel offset ``(offset, in_slices, out_slices)`` to the cells of ``x`` it reads.

    Overlapping windows with a stride above 1 read their cells from the flat
    phases of ``x`` (:mod:`npconv.window.phases`, the layout im2col and
    depthwise use): each offset reads a block of one phase, contiguous along
    the last dimension, and the copy pays for itself because the offsets read
    each cell several times.  Windows that do not overlap read ``x`` in place:
    strided reads were faster than the copy even for the two passes
    (2x2/2: 17.9 against 21.4 ms on 32x64x56x56).  A single pass reads in
    place (:func:`max_pool_values`).
    """
    if all(s == 1 for s in window.stride) or window.disjoint:
        return _in_place(x)
    flat = flat_phases(window)
    phases = np.empty((x.shape[0], len(flat.residues), x.shape[1], flat.volume), x.dtype)
    flat.pack(x, phases)  # only real cells are ever read: the rest stays uninitialised
    return lambda offset, in_sl, out_sl: flat.block(phases, offset, out_sl)


def max_pool_values(x, window, values, read=None):
    """Write each window's maximum into ``values`` (NaN when it holds one; padding is ``-inf``).

    ``read``: a :func:`cell_reader`, by default reading ``x`` in place.  For
    this one pass over the offsets, strided reads cost less than the copy
    into flat phases: 0.74-0.94 of the time on overlapping 1-D, 2-D and 3-D
    windows of stride 2 (docs/guides/performance.md).
    """
    read = read or _in_place(x)
    values[...] = -np.inf
    for offset, in_sl, out_sl in window.offsets:
        current = values[_ALL2 + out_sl]
        np.maximum(current, read(offset, in_sl, out_sl), out=current)
    if (values == 0).any() and _has_negative_zero(x):
        # -0 == 0, so torch keeps the first zero of a window: walk back to it.
        for offset, in_sl, out_sl in reversed(window.offsets):
            current = values[_ALL2 + out_sl]
            cells = read(offset, in_sl, out_sl)
            np.copyto(current, cells, where=(cells == 0) & (current == 0))


def _has_negative_zero(x):
    """Whether ``x`` holds a ``-0.0`` (which ``np.maximum`` does not order as torch's scan does).

    One pass: ``-0.0`` is the float whose bits are the integer type's minimum.
    """
    bits = np.dtype(f"i{x.dtype.itemsize}")
    return bool((x.view(bits) == np.iinfo(bits).min).any())


def max_pool_forward(x, window, values, indices, strides=None):
    """Write each window's maximum and its flat index in the input plane into ``values``, ``indices``.

    The index is torch's: the first cell (row-major kernel order) equal to
    the maximum; in a window holding NaN, its last NaN; in a window of
    padding cells only, :func:`_first_cells`.  Winners are found as kernel
    offset numbers, a small integer per output cell updated by arithmetic
    (masked copies are several times slower), walking the offsets in
    reverse so that the first match is written last; then turned into flat
    indices with the plane's row-major ``strides`` (by default those of
    ``window.in_shape``; a part of a larger plane passes the plane's, and
    its caller adds the part's origin).
    """
    strides = strides or _plane_strides(window)
    read = cell_reader(x, window)
    max_pool_values(x, window, values, read)
    unclaimed = np.iinfo(np.min_scalar_type(len(window.offsets))).max
    winner = np.full(values.shape, unclaimed, np.min_scalar_type(len(window.offsets)))
    offsets = list(enumerate(window.offsets))
    for number, (offset, in_sl, out_sl) in reversed(offsets):
        _assign_where(winner[_ALL2 + out_sl], number,
                      read(offset, in_sl, out_sl) == values[_ALL2 + out_sl])
    if np.isnan(values).any():  # the last NaN wins: later offsets overwrite
        for number, (offset, in_sl, out_sl) in offsets:
            _assign_where(winner[_ALL2 + out_sl], number, np.isnan(read(offset, in_sl, out_sl)))
    steps = np.asarray(_offset_steps(window, strides) + [0], np.int64)  # [0]: for `unclaimed`
    np.take(steps, winner, out=indices, mode="clip")
    indices += _window_starts(window, strides)
    lost = winner == unclaimed  # padding-only windows
    if lost.any():
        np.copyto(indices, np.broadcast_to(_first_cells(window, strides), indices.shape),
                  where=lost)


def _assign_where(target, value, mask):
    """``target[mask] = value`` for an unsigned integer ``target``, by modular arithmetic.

    ``mask``'s bytes are read as 0/1 integers of ``target``'s kind when it is
    one byte wide: a product with a boolean array casts it, at twice the time.
    """
    change = np.subtract(target.dtype.type(value), target)
    change *= mask.view(target.dtype) if target.itemsize == 1 else mask
    target += change


#: Temporaries of a pooling pass, in multiples of the input it works on (max pooling with
#: indices and its recomputing backward pass measured 1.6 and 2.6 times a 16 MiB plane).
TEMPORARIES = 3


def by_blocks(kernel, arrays, window, banded):
    """Run ``kernel(*blocks)`` over plane blocks of ``arrays`` (all shaped ``(N, C, ...)``).

    A plane whose temporaries alone exceed its share of the workspace goes
    instead, plane by plane, to ``banded(n, c, rows)`` for bands of output
    rows (slices along the first spatial dimension) that fit; the bands of
    a plane run in order, in the calling thread.
    """
    batch, channels = arrays[0].shape[:2]
    plane_bytes = window.in_volume * arrays[0].itemsize
    resources = config.resources()
    bands = plane_bands(batch, channels, window.out_shape[0], plane_bytes * TEMPORARIES, resources)
    if bands is not None:
        for n, c, rows in bands:
            banded(n, c, rows)
        return
    run_blocks(lambda block: kernel(*(array[block] for array in arrays)),
               plane_blocks(batch, channels, plane_bytes, resources, TEMPORARIES),
               resources.threads)


def _plane_band(window, n, c, rows):
    """``(in_rows, band window, plane index, out index)`` of the band ``rows`` of plane ``(n, c)``."""
    in_rows, band = window.band(0, rows)
    plane = (slice(n, n + 1), slice(c, c + 1))
    return in_rows, band, plane + (in_rows,), plane + (rows,)


def _band_indices(strides, in_rows, indices):
    """Band-relative flat indices made plane-relative: the band starts ``in_rows.start`` rows in."""
    indices += in_rows.start * strides[0]


def _max_pool(op, ndim, input, kernel_size, stride, padding, dilation, ceil_mode,
              return_indices):
    x, unbatched = pool_input(op, ndim, input)
    window = pool_window(op, ndim, x.shape[2:], kernel_size, stride, padding, dilation,
                         ceil_mode)
    pooled = max_pool_over(x, window, return_indices)
    return tuple(unbatch(a, unbatched) for a in pooled) if return_indices else unbatch(pooled,
                                                                                      unbatched)


@quiet
def max_pool_over(x, window, return_indices=False, strides=None):
    """Max pooling of a batched ``x`` over ``window``: the values, and their indices if asked.

    The indices are flat in a plane of row-major ``strides``: by default
    ``window.in_shape``'s; :mod:`npconv.dask`, pooling a part of a larger
    plane, passes the plane's and adds the part's origin.
    """
    strides = strides or _plane_strides(window)
    values = np.empty(x.shape[:2] + window.out_shape, x.dtype)
    indices = np.empty(values.shape, np.int64) if return_indices else None

    def banded(n, c, rows):
        in_rows, band, inside, outside = _plane_band(window, n, c, rows)
        if indices is None:
            max_pool_values(x[inside], band, values[outside])
        else:
            max_pool_forward(x[inside], band, values[outside], indices[outside], strides)
            _band_indices(strides, in_rows, indices[outside])

    if indices is None:
        by_blocks(lambda x, values: max_pool_values(x, window, values), (x, values), window,
                  banded)
        return values
    by_blocks(lambda x, values, indices: max_pool_forward(x, window, values, indices, strides),
              (x, values, indices), window, banded)
    return values, indices


def _max_pool_backward(op, ndim, grad_output, input, kernel_size, stride, padding, dilation,
                       ceil_mode, indices):
    x, unbatched = pool_input(op, ndim, input)
    window = pool_window(op, ndim, x.shape[2:], kernel_size, stride, padding, dilation,
                         ceil_mode)
    out_shape = x.shape[:2] + window.out_shape
    gy = check_grad_output(op, grad_output, out_shape, unbatched, x)
    inside = None
    if indices is not None:
        indices = check_indices(op, indices, out_shape, unbatched)
        inside = check_index_range(op, indices, window.in_shape, lambda: _first_cells(window),
                                   "max_pool's index of a window of padding only")
    return unbatch(max_pool_backward_over(gy, x, window, indices, inside), unbatched)


@quiet
def max_pool_backward_over(gy, x, window, indices=None, inside=None):
    """The gradient of :func:`max_pool_over` with respect to ``x``, given ``gy``.

    ``indices`` (flat in the plane, checked) are the winners; without them
    the winners are found again from ``x``.  ``inside``: whether every index
    is known to lie in the plane (:func:`~npconv.ops.common.scatter_to_planes`).
    """
    grad_input = np.empty(x.shape, x.dtype)

    def banded(n, c, rows):
        in_rows, band, inside, outside = _plane_band(window, n, c, rows)
        plane = (slice(n, n + 1), slice(c, c + 1))
        if rows.start == 0:
            grad_input[plane] = 0
        if indices is None:
            band_indices = np.empty(gy[outside].shape, np.int64)
            max_pool_forward(x[inside], band, np.empty(gy[outside].shape, x.dtype), band_indices,
                             _plane_strides(window))
            _band_indices(_plane_strides(window), in_rows, band_indices)
        else:
            band_indices = indices[outside]
        scatter_to_planes(gy[outside], band_indices, grad_input[plane], accumulate=True,
                          inside=None if indices is None else inside)

    if indices is not None:
        by_blocks(lambda gy, indices, grad_input: scatter_to_planes(gy, indices, grad_input,
                                                                    inside=inside),
                  (gy, indices, grad_input), window, banded)
        return grad_input

    def recompute_and_scatter(x, gy, grad_input):
        values = np.empty(gy.shape, x.dtype)
        indices = np.empty(gy.shape, np.int64)
        max_pool_forward(x, window, values, indices)
        scatter_to_planes(gy, indices, grad_input)

    by_blocks(recompute_and_scatter, (x, gy, grad_input), window, banded)
    return grad_input


# --- average pooling --------------------------------------------------------------

def _divisor(window, count_include_pad, divisor_override, outputs=None):
    """What each window's sum is divided by, broadcastable to ``out_shape``.

    ``outputs`` (a slice per dimension) restricts it to those window
    positions: broadcastable to their shape.

    torch's rule per dimension: a window spans ``[o*s - lo, o*s - lo + k)``
    clipped to the padded input ``[-lo, n + hi)``; with ``count_include_pad``
    that many cells count, otherwise only those inside ``[0, n)``.  The
    count of a window is the product over dimensions.  A dimension where
    every window counts the same contributes a scalar (a scalar divides
    faster than a broadcast array).
    """
    if divisor_override is not None:
        return divisor_override
    divisor = 1
    for dim in range(window.ndim):
        n, k, hi = window.in_shape[dim], window.kernel[dim], window.padding[dim][1]
        start = window.starts(dim)[outputs[dim] if outputs else slice(None)]
        end = np.minimum(start + k, n + hi)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n)
        counts = end - start
        if not counts.size:  # no window here: nothing to divide
            continue
        if (counts == counts[0]).all():
            divisor = divisor * int(counts[0])
        else:
            divisor = divisor * counts.reshape((-1,) + (1,) * (window.ndim - dim - 1))
    return divisor


def _axis_windows(window):
    """``(dim, 1-D window)`` for each spatial dimension that the box is not the identity along."""
    axes = []
    for dim in range(window.ndim):
        if (window.kernel[dim], window.stride[dim], window.padding[dim]) == (1, 1, (0, 0)):
            continue
        one = slice(dim, dim + 1)
        axes.append((dim, Window(window.in_shape[one], window.out_shape[one], window.kernel[one],
                                 window.stride[one], (1,), window.padding[one])))
    return axes


def _along(dim, sl):
    """Index of an ``(N, C, ...)`` array that applies ``sl`` to spatial dimension ``dim``."""
    return _ALL2 + (slice(None),) * dim + (sl,)


def _pieces(axis):
    """``(in_slice, out_slice)`` of each offset of a 1-D window, the longest first."""
    pieces = [(in_sl, out_sl) for _, (in_sl,), (out_sl,) in axis.offsets]
    return sorted(pieces, key=lambda piece: piece[1].start - piece[1].stop)


def _sum_along(source, dim, axis, target):
    """``target[o] = sum_j source[o * stride + j - pad_lo]`` along spatial dimension ``dim``.

    The longest offset is written, not added, and where two cover every
    output they are added in one call.  For every pooling window (padding
    at most half the kernel, and ``ceil_mode``'s last window starting inside
    the input or the low padding) the longest offset reaches the last
    output, so only outputs before its first are zeroed first.  The tests
    check this on every small 1-D window.
    """
    (in_first, out_first), *rest = _pieces(axis)
    target[_along(dim, slice(0, out_first.start))] = 0
    if rest and rest[0][1] == out_first:
        (in_second, _), *rest = rest
        np.add(source[_along(dim, in_first)], source[_along(dim, in_second)],
               out=target[_along(dim, out_first)])
    else:
        target[_along(dim, out_first)] = source[_along(dim, in_first)]
    for in_sl, out_sl in rest:
        target[_along(dim, out_sl)] += source[_along(dim, in_sl)]


def _spread_along(source, dim, axis, target):
    """The adjoint of :func:`_sum_along`: ``target[o * stride + j - pad_lo] += source[o]``, from zero.

    Each offset writes cells of one residue class modulo the stride.  The
    longest offset of a class is written, not added.  For every pooling
    window it starts at the class's first cell, so only the class's cells
    past its end are zeroed first, with the classes no offset writes.  The
    tests check this on every small 1-D window.
    """
    stride, size = axis.stride[0], axis.in_shape[0]
    unwritten = set(range(stride))
    for in_sl, out_sl in _pieces(axis):
        residue = in_sl.start % stride
        if residue in unwritten:
            unwritten.discard(residue)
            target[_along(dim, slice(in_sl.stop - 1 + stride, size, stride))] = 0
            target[_along(dim, in_sl)] = source[_along(dim, out_sl)]
        else:
            target[_along(dim, in_sl)] += source[_along(dim, out_sl)]
    for residue in unwritten:
        target[_along(dim, slice(residue, size, stride))] = 0


def box_sum(x, window, total):
    """Write the sum of every window of ``x`` into ``total``, one spatial dimension at a time.

    A box is the product of its 1-D windows, so its sum is a 1-D window sum
    along each dimension in turn: ``sum(kernel)`` passes over the data
    instead of ``prod(kernel)``, on arrays that shrink as dimensions are
    reduced.  The last dimension, whose strided reads are the slowest, is
    reduced last, on the smallest array.
    """
    axes = _axis_windows(window)
    if not axes:
        total[...] = x
    source = x
    for number, (dim, axis) in enumerate(axes):
        last = number == len(axes) - 1
        shape = source.shape[:2 + dim] + axis.out_shape + source.shape[3 + dim:]
        target = total if last else np.empty(shape, x.dtype)
        _sum_along(source, dim, axis, target)
        source = target
    return total


def box_spread(share, window, grad_input):
    """Write into ``grad_input`` the sum of ``share`` over the windows each cell lies in.

    The adjoint of :func:`box_sum`: 1-D spreads along the dimensions in
    reverse order.
    """
    axes = _axis_windows(window)
    if not axes:
        grad_input[...] = share
    source = share
    for number, (dim, axis) in enumerate(reversed(axes)):
        last = number == len(axes) - 1
        shape = source.shape[:2 + dim] + axis.in_shape + source.shape[3 + dim:]
        target = grad_input if last else np.empty(shape, share.dtype)
        _spread_along(source, dim, axis, target)
        source = target
    return grad_input


def _avg_arguments(op, ndim, input, kernel_size, stride, padding, ceil_mode, divisor_override):
    x, unbatched = pool_input(op, ndim, input)
    window = pool_window(op, ndim, x.shape[2:], kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override, (int, np.integer)):
            raise TypeError(f"{op}(): `divisor_override` must be an int, got {divisor_override!r}")
        if divisor_override == 0:
            raise ValueError(f"{op}(): `divisor_override` must not be zero")
    return x, unbatched, window


def _avg_pool(op, ndim, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    x, unbatched, window = _avg_arguments(op, ndim, input, kernel_size, stride, padding,
                                          ceil_mode, divisor_override)
    return unbatch(avg_pool_over(x, window, _divisor(window, count_include_pad, divisor_override)),
                   unbatched)


@quiet
def avg_pool_over(x, window, divisor):
    """Average pooling of a batched ``x`` over ``window``: window sums over ``divisor`` (:func:`_divisor`)."""
    divisor = np.asarray(divisor, x.dtype)

    def average(x, total, band=window, rows=slice(None)):
        box_sum(x, band, total)
        total /= _divisor_rows(divisor, window, rows)

    def banded(n, c, rows):
        _, band, inside, outside = _plane_band(window, n, c, rows)
        average(x[inside], total[outside], band, rows)

    total = np.empty(x.shape[:2] + window.out_shape, x.dtype)
    by_blocks(average, (x, total), window, banded)
    return total


def _avg_pool_backward(op, ndim, grad_output, input, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override):
    x, unbatched, window = _avg_arguments(op, ndim, input, kernel_size, stride, padding,
                                          ceil_mode, divisor_override)
    gy = check_grad_output(op, grad_output, x.shape[:2] + window.out_shape, unbatched, x)
    divisor = _divisor(window, count_include_pad, divisor_override)
    return unbatch(avg_pool_backward_over(gy, window, divisor, x.dtype), unbatched)


@quiet
def avg_pool_backward_over(gy, window, divisor, dtype):
    """The gradient of :func:`avg_pool_over` with respect to its input, given ``gy``."""
    divisor = np.asarray(divisor, dtype)

    def spread(gy, grad_input):
        box_spread(gy / divisor, window, grad_input)

    def banded(n, c, rows):
        in_rows, band, inside, outside = _plane_band(window, n, c, rows)
        if rows.start == 0:
            grad_input[n, c] = 0
        part = np.empty((1, 1) + band.in_shape, dtype)  # bands overlap: add, do not write
        box_spread(gy[outside] / _divisor_rows(divisor, window, rows), band, part)
        grad_input[inside] += part

    grad_input = np.empty(gy.shape[:2] + window.in_shape, dtype)
    by_blocks(spread, (gy, grad_input), window, banded)
    return grad_input


def _divisor_rows(divisor, window, rows):
    """The part of ``divisor`` (broadcastable to ``out_shape``) for the output rows ``rows``."""
    if divisor.ndim == window.ndim and divisor.shape[0] == window.out_shape[0]:
        return divisor[rows]
    return divisor


# --- power-average (LP) pooling: torch's composition of average pooling ------------

def _lp_arguments(op, ndim, input, norm_type, kernel_size):
    if isinstance(norm_type, (bool, np.bool_)) or not isinstance(
            norm_type, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}(): `norm_type` must be a real number, got {norm_type!r}")
    kernel, _, _, _ = window_arguments(op, ndim, kernel_size)
    x, unbatched = pool_input(op, ndim, input)
    return x, unbatched, float(norm_type), math.prod(kernel)


def _lp_scaled(average, cells):
    """torch's ``sign(a) * relu(|a|) * prod(kernel)``: the window's sum of powers, as torch scales it."""
    return np.sign(average) * np.maximum(np.abs(average), 0) * cells


#: Temporaries of LP pooling per sample, in input-sized arrays: the powers and the average
#: (forward); the powers, the average and four gradients of its size, two of the input's (backward).
_LP_FORWARD_COPIES, _LP_BACKWARD_COPIES = 2, 7


@quiet
def _lp_pool(op, ndim, input, norm_type, kernel_size, stride, ceil_mode):
    x, unbatched, p, cells = _lp_arguments(op, ndim, input, norm_type, kernel_size)
    shape = _lp_shape(op, ndim, x, kernel_size, stride, ceil_mode)

    def pooled(chunk):
        average = _avg_pool(op, ndim, np.power(x[chunk], p), kernel_size, stride, 0, ceil_mode,
                            True, None)
        return np.power(_lp_scaled(average, cells), 1 / p)

    y = by_samples(pooled, x.shape[0], _LP_FORWARD_COPIES * x[:1].nbytes, shape, x.dtype)
    return unbatch(y, unbatched)


def _lp_shape(op, ndim, x, kernel_size, stride, ceil_mode):
    window = pool_window(op, ndim, x.shape[2:], kernel_size, stride, 0, 1, ceil_mode)
    return x.shape[:2] + window.out_shape


@quiet
def _lp_pool_backward(op, ndim, grad_output, input, norm_type, kernel_size, stride, ceil_mode):
    x, unbatched, p, cells = _lp_arguments(op, ndim, input, norm_type, kernel_size)
    gy = check_grad_output(op, grad_output, _lp_shape(op, ndim, x, kernel_size, stride, ceil_mode),
                           unbatched, x).astype(x.dtype, copy=False)
    if p == 0:  # torch's pow has no gradient for an exponent of 0
        return unbatch(np.zeros_like(x), unbatched)

    def gradient(chunk):
        # torch's chain: the power 1/p, the scaling (no gradient where the average is 0), the
        # average's adjoint, the power p
        powered = np.power(x[chunk], p)
        average = _avg_pool(op, ndim, powered, kernel_size, stride, 0, ceil_mode, True, None)
        grad_scaled = (gy[chunk] * (1 / p) * np.power(_lp_scaled(average, cells), 1 / p - 1)
                       * cells)
        sign = np.sign(average)
        grad_average = np.where(np.abs(average) <= 0, x.dtype.type(0), grad_scaled * sign * sign)
        grad_powered = _avg_pool_backward(op, ndim, grad_average, powered, kernel_size, stride,
                                          0, ceil_mode, True, None)
        return grad_powered * (p * np.power(x[chunk], p - 1))

    grad_input = by_samples(gradient, x.shape[0], _LP_BACKWARD_COPIES * x[:1].nbytes, x.shape,
                            x.dtype)
    return unbatch(grad_input, unbatched)


_LP_DOC = """{ndim}-D power-average pooling, as ``torch.nn.functional.{name}``.

Parameters
----------
input : ndarray, shape (N, C, {spatial}) or unbatched (C, {spatial})
norm_type : float
    ``p``.
kernel_size : int or tuple of {ndim} ints
stride : int or tuple of {ndim} ints, optional
    Defaults to ``kernel_size``.
ceil_mode : bool

Returns
-------
ndarray, shape (N, C, {out_spatial})
    ``(sum over the window of x**p) ** (1/p)``, computed as torch does:
    ``(prod(kernel) * avg_pool(x**p)) ** (1/p)``, so a window that
    ``ceil_mode`` cuts short is scaled up to a whole kernel's cells, and a
    negative sum under a fractional ``1/p`` is NaN.

Examples
--------
>>> import numpy as np, npconv
>>> npconv.{name}(np.full((1, 1, {example_in}), 2.), 2, 2).ravel()[:2]
array([{example_lp}])
"""

_LP_BACKWARD_DOC = """Backward pass of :func:`{fwd}`: the gradient with respect to ``input``.

Parameters
----------
grad_output : ndarray, shape (N, C, {out_spatial})
input, norm_type, kernel_size, stride, ceil_mode
    As given to :func:`{fwd}`.

Returns
-------
ndarray, shape of ``input``
    torch's chain rule through its composition (no gradient through a
    window whose sum is 0, none at all for ``norm_type=0``).

Examples
--------
>>> import numpy as np, npconv
>>> x = np.arange(2 * 3 * {cells}, dtype=np.float32).reshape(2, 3, {example_in})
>>> y = npconv.{fwd}(x, 2.0, 2)
>>> npconv.{name}(np.ones_like(y), x, 2.0, 2).shape
(2, 3, {example_in})
"""


# --- public functions, one per dimensionality ---------------------------------------

_MAX_DOC = """{ndim}-D max pooling, as ``torch.nn.functional.{name}``.

Parameters
----------
input : ndarray, shape (N, C, {spatial}) or unbatched (C, {spatial})
kernel_size : int or tuple of {ndim} ints
stride : int or tuple of {ndim} ints, optional
    Defaults to ``kernel_size``.
padding : int, tuple of {ndim} ints or of {ndim} (lo, hi) pairs
    Implicit ``-inf`` padding, at most ``kernel_size // 2`` on each side.
dilation : int or tuple of {ndim} ints
ceil_mode : bool
    Round the output size up; the last window must still start inside the
    input or the low padding.
return_indices : bool
    Also return, for each output cell, the flat index of its maximum within
    the input's spatial plane (``{name}_backward`` and ``max_unpool{ndim}d`` take it).

Returns
-------
values : ndarray, shape (N, C, {out_spatial})
indices : ndarray of int64, same shape (with ``return_indices``)

Notes
-----
Per dimension, ``out = floor_or_ceil((in + 2*pad - dilation*(kernel-1) - 1) / stride) + 1``.
Ties go to the first maximal cell in row-major kernel order; NaN beats any
number, and among NaNs the last wins, as torch.

Examples
--------
>>> import numpy as np, npconv
>>> npconv.{name}(np.zeros((2, 3, {example_in})), 2).shape
{example_pool}
"""

_MAX_BACKWARD_DOC = """Backward pass of :func:`{fwd}`: the gradient with respect to ``input``.

Parameters
----------
grad_output : ndarray, shape (N, C, {out_spatial})
input, kernel_size, stride, padding, dilation, ceil_mode
    As given to :func:`{fwd}`.
indices : ndarray, optional
    The indices from ``{fwd}(..., return_indices=True)``; without them the
    maxima are found again.

Returns
-------
ndarray, shape of ``input``
    Each output gradient is added to the cell its index names in its plane
    (the cell that won its window); cells named several times receive the
    sum.

Examples
--------
>>> import numpy as np, npconv
>>> x = np.arange(2 * 3 * {cells}, dtype=np.float32).reshape(2, 3, {example_in})
>>> y = npconv.{fwd}(x, 2)
>>> npconv.{name}(np.ones_like(y), x, 2).shape
(2, 3, {example_in})
"""

_AVG_DOC = """{ndim}-D average pooling, as ``torch.nn.functional.{name}``.

Parameters
----------
input : ndarray, shape (N, C, {spatial}) or unbatched (C, {spatial})
kernel_size : int or tuple of {ndim} ints
stride : int or tuple of {ndim} ints, optional
    Defaults to ``kernel_size``.
padding : int, tuple of {ndim} ints or of {ndim} (lo, hi) pairs
    Implicit zero padding, at most ``kernel_size // 2`` on each side.
ceil_mode : bool
count_include_pad : bool
    Count padding cells in the divisor (cells past the padded input, which
    ``ceil_mode`` can reach, never count).
divisor_override : int, optional
    Divide every sum by this instead (torch offers it for 2-D and 3-D; here 1-D too).

Returns
-------
ndarray, shape (N, C, {out_spatial})

Notes
-----
Per dimension, ``out = floor_or_ceil((in + 2*pad - kernel) / stride) + 1``.
An input smaller than the kernel is accepted when the padding makes room, in
every dimensionality (torch's avg_pool3d alone refuses it).

Examples
--------
>>> import numpy as np, npconv
>>> npconv.{name}(np.ones((2, 3, {example_in}), np.float32), 2, padding=1).shape
{example_pool_padded}
"""

_AVG_BACKWARD_DOC = """Backward pass of :func:`{fwd}`: the gradient with respect to ``input``.

Parameters
----------
grad_output : ndarray, shape (N, C, {out_spatial})
input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    As given to :func:`{fwd}`.

Returns
-------
ndarray, shape of ``input``
    Each window spreads its gradient over its real cells, divided as in the forward pass.

Examples
--------
>>> import numpy as np, npconv
>>> x = np.arange(2 * 3 * {cells}, dtype=np.float32).reshape(2, 3, {example_in})
>>> y = npconv.{fwd}(x, 2)
>>> npconv.{name}(np.ones_like(y), x, 2).shape
(2, 3, {example_in})
"""

_POOL_EXAMPLES = {1: "(2, 3, 4)", 2: "(2, 3, 4, 4)", 3: "(2, 3, 4, 4, 4)"}


@dask_aware
@documented(_MAX_DOC, 1, example_pool=_POOL_EXAMPLES[1])
def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


@dask_aware
@documented(_MAX_BACKWARD_DOC, 1, fwd="max_pool1d")
def max_pool1d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1,
                        ceil_mode=False, indices=None):
    return _max_pool_backward("max_pool1d_backward", 1, grad_output, input, kernel_size, stride,
                              padding, dilation, ceil_mode, indices)


@dask_aware
@documented(_AVG_DOC, 1)
def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


@dask_aware
@documented(_AVG_BACKWARD_DOC, 1, fwd="avg_pool1d")
def avg_pool1d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    return _avg_pool_backward("avg_pool1d_backward", 1, grad_output, input, kernel_size, stride,
                              padding, ceil_mode, count_include_pad, divisor_override)


@dask_aware
@documented(_MAX_DOC, 2, example_pool=_POOL_EXAMPLES[2])
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


@dask_aware
@documented(_MAX_BACKWARD_DOC, 2, fwd="max_pool2d")
def max_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1,
                        ceil_mode=False, indices=None):
    return _max_pool_backward("max_pool2d_backward", 2, grad_output, input, kernel_size, stride,
                              padding, dilation, ceil_mode, indices)


@dask_aware
@documented(_AVG_DOC, 2)
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


@dask_aware
@documented(_AVG_BACKWARD_DOC, 2, fwd="avg_pool2d")
def avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    return _avg_pool_backward("avg_pool2d_backward", 2, grad_output, input, kernel_size, stride,
                              padding, ceil_mode, count_include_pad, divisor_override)


@dask_aware
@documented(_MAX_DOC, 3, example_pool=_POOL_EXAMPLES[3])
def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


@dask_aware
@documented(_MAX_BACKWARD_DOC, 3, fwd="max_pool3d")
def max_pool3d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1,
                        ceil_mode=False, indices=None):
    return _max_pool_backward("max_pool3d_backward", 3, grad_output, input, kernel_size, stride,
                              padding, dilation, ceil_mode, indices)


@dask_aware
@documented(_AVG_DOC, 3)
def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


@dask_aware
@documented(_AVG_BACKWARD_DOC, 3, fwd="avg_pool3d")
def avg_pool3d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    return _avg_pool_backward("avg_pool3d_backward", 3, grad_output, input, kernel_size, stride,
                              padding, ceil_mode, count_include_pad, divisor_override)


@dask_aware
@documented(_LP_DOC, 1, example_lp="2.82842712, 2.82842712")
def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)


@dask_aware
@documented(_LP_BACKWARD_DOC, 1, fwd="lp_pool1d")
def lp_pool1d_backward(grad_output, input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool_backward("lp_pool1d_backward", 1, grad_output, input, norm_type,
                             kernel_size, stride, ceil_mode)


@dask_aware
@documented(_LP_DOC, 2, example_lp="4., 4.")
def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


@dask_aware
@documented(_LP_BACKWARD_DOC, 2, fwd="lp_pool2d")
def lp_pool2d_backward(grad_output, input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool_backward("lp_pool2d_backward", 2, grad_output, input, norm_type,
                             kernel_size, stride, ceil_mode)


@dask_aware
@documented(_LP_DOC, 3, example_lp="5.65685425, 5.65685425")
def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool("lp_pool3d", 3, input, norm_type, kernel_size, stride, ceil_mode)


@dask_aware
@documented(_LP_BACKWARD_DOC, 3, fwd="lp_pool3d")
def lp_pool3d_backward(grad_output, input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool_backward("lp_pool3d_backward", 3, grad_output, input, norm_type,
                             kernel_size, stride, ceil_mode)
