"""Max and average pooling, N-d, forward and backward, on the shared window engine.

Both reductions walk the kernel offsets of a :class:`~npconv._window.Window`
(one vectorised pass over the whole batch per offset) exactly as convolution
does; their backward passes add the output gradient back by the same strided
slices, so overlapping windows accumulate with no ``np.add.at``.

Max pooling follows torch's scan: within a window the cells are visited in
row-major kernel order and a cell wins when it is greater than the current
maximum or is NaN.  So the first of several equal maxima wins, a NaN always
beats a number, and the last NaN of a window wins; a window whose real cells
are all ``-inf`` reports its first real cell.  Padding cells never win (they
are ``-inf`` in torch's terms).  A window of padding cells only (dilation can
make one) gives ``-inf`` and, as torch, the index of its first dilated cell at
or after 0, which lies past the input; its gradient is dropped (torch's
backward writes it into the next channel's plane).
"""

from __future__ import annotations

import numpy as np

from ._args import batched_float_array, make_window, normalize_padding, to_tuple
from .conv import check_grad_output, doc_fields, finish, unbatch

_ALL2 = (slice(None), slice(None))


# --- arguments ------------------------------------------------------------------

def pool_window(op, ndim, spatial, kernel_size, stride, padding, dilation, ceil_mode):
    """The window of a pooling op; ``stride=None`` means ``kernel_size``, as torch."""
    kernel = to_tuple(kernel_size, ndim, op, "kernel_size")
    stride = kernel if stride is None else to_tuple(stride, ndim, op, "stride")
    dilation = to_tuple(dilation, ndim, op, "dilation")
    pads = normalize_padding(padding, ndim, op, strings=False)
    if any(max(pair) > k // 2 for pair, k in zip(pads, kernel)):
        raise ValueError(
            f"{op}(): `padding` must be at most half of kernel_size on every side, "
            f"got padding={padding!r} with kernel_size={kernel}"
        )
    return make_window(op, tuple(spatial), kernel, stride, pads, dilation, ceil_mode)


def pool_input(op, ndim, input):
    """``(x, unbatched)``: a float array of ``ndim + 1`` or ``ndim + 2`` dimensions, batched."""
    return batched_float_array(op, input, (ndim + 1, ndim + 2), "input",
                    "(C, *spatial) unbatched or (N, C, *spatial)")


def check_indices(op, indices, expected_shape, unbatched):
    """``indices`` as an integer array of the pooled output's shape; returns it batched."""
    array = np.asarray(indices)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}(): `indices` must be an integer array, got dtype {array.dtype}")
    shown = expected_shape[1:] if unbatched else expected_shape
    if array.shape != shown:
        raise ValueError(f"{op}(): `indices` must have shape {shown}, got {array.shape}")
    return array[np.newaxis] if unbatched else array


# --- max pooling ------------------------------------------------------------------

def _flat_cells(window, in_sl):
    """Flat index into the input plane of the cells ``in_sl`` selects, shaped like them."""
    index = np.zeros((1,) * window.ndim, np.int64)
    for dim, sl in enumerate(in_sl):
        plane_stride = int(np.prod(window.in_shape[dim + 1:], dtype=np.int64))
        cells = np.arange(sl.start, sl.stop, sl.step, dtype=np.int64) * plane_stride
        index = index + cells.reshape((-1,) + (1,) * (window.ndim - dim - 1))
    return index


def _first_cells(window):
    """Flat index of each window's first cell at or after 0 on its dilated grid, per output cell.

    This is where torch's scan starts: the window's first real cell when it
    has one (a window of padding cells only keeps it, even past the input's end).
    """
    index = np.zeros((1,) * window.ndim, np.int64)
    for dim in range(window.ndim):
        start = np.arange(window.out_shape[dim]) * window.stride[dim] - window.padding[dim][0]
        dilation = window.dilation[dim]
        first = np.where(start < 0, start + (-start + dilation - 1) // dilation * dilation, start)
        plane_stride = int(np.prod(window.in_shape[dim + 1:], dtype=np.int64))
        index = index + (first * plane_stride).reshape((-1,) + (1,) * (window.ndim - dim - 1))
    return index


def max_pool_forward(x, window):
    """``(values, indices)``: each window's maximum and its flat index in the input plane.

    Starting from ``-inf`` at each window's first real cell, a cell takes over
    when it is greater than the maximum so far or is NaN (torch's scan).
    """
    shape = x.shape[:2] + window.out_shape
    values = np.full(shape, -np.inf, x.dtype)
    indices = np.empty(shape, np.int64)
    indices[...] = _first_cells(window)
    for _, in_sl, out_sl in window.offsets:
        candidate = x[_ALL2 + in_sl]
        current = values[_ALL2 + out_sl]
        wins = (candidate > current) | np.isnan(candidate)
        np.copyto(current, candidate, where=wins)
        np.copyto(indices[_ALL2 + out_sl], _flat_cells(window, in_sl), where=wins)
    return values, indices


def max_pool_scatter(grad_output, indices, window, dtype):
    """Send each output gradient to the input cell its index names (adds where windows overlap)."""
    grad_input = np.zeros(grad_output.shape[:2] + window.in_shape, dtype)
    for _, in_sl, out_sl in window.offsets:
        chosen = indices[_ALL2 + out_sl] == _flat_cells(window, in_sl)
        grad_input[_ALL2 + in_sl] += np.where(chosen, grad_output[_ALL2 + out_sl], 0)
    return grad_input


def _max_pool(op, ndim, input, kernel_size, stride, padding, dilation, ceil_mode,
              return_indices):
    x, unbatched = pool_input(op, ndim, input)
    window = pool_window(op, ndim, x.shape[2:], kernel_size, stride, padding, dilation,
                         ceil_mode)
    values, indices = max_pool_forward(x, window)
    if return_indices:
        return unbatch(values, unbatched), unbatch(indices, unbatched)
    return unbatch(values, unbatched)


def _max_pool_backward(op, ndim, grad_output, input, kernel_size, stride, padding, dilation,
                       ceil_mode, indices):
    x, unbatched = pool_input(op, ndim, input)
    window = pool_window(op, ndim, x.shape[2:], kernel_size, stride, padding, dilation,
                         ceil_mode)
    out_shape = x.shape[:2] + window.out_shape
    gy = check_grad_output(op, grad_output, out_shape, unbatched, x)
    if indices is None:
        _, indices = max_pool_forward(x, window)
    else:
        indices = check_indices(op, indices, out_shape, unbatched)
    return unbatch(max_pool_scatter(gy, indices, window, x.dtype), unbatched)


# --- average pooling --------------------------------------------------------------

def _divisor(window, count_include_pad, divisor_override):
    """What each window's sum is divided by, broadcastable to ``out_shape``.

    torch's rule per dimension: a window spans ``[o*s - lo, o*s - lo + k)``
    clipped to the padded input ``[-lo, n + hi)``; with ``count_include_pad``
    that many cells count, otherwise only those inside ``[0, n)``.  The
    count of a window is the product over dimensions.
    """
    if divisor_override is not None:
        return divisor_override
    divisor = np.ones((1,) * window.ndim)
    for dim in range(window.ndim):
        n, k, s = window.in_shape[dim], window.kernel[dim], window.stride[dim]
        lo, hi = window.padding[dim]
        start = np.arange(window.out_shape[dim]) * s - lo
        end = np.minimum(start + k, n + hi)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n)
        divisor = divisor * (end - start).reshape((-1,) + (1,) * (window.ndim - dim - 1))
    return divisor


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
    total = np.zeros(x.shape[:2] + window.out_shape, x.dtype)
    for _, in_sl, out_sl in window.offsets:
        total[_ALL2 + out_sl] += x[_ALL2 + in_sl]
    total /= np.asarray(_divisor(window, count_include_pad, divisor_override), x.dtype)
    return unbatch(total, unbatched)


def _avg_pool_backward(op, ndim, grad_output, input, kernel_size, stride, padding, ceil_mode,
                       count_include_pad, divisor_override):
    x, unbatched, window = _avg_arguments(op, ndim, input, kernel_size, stride, padding,
                                          ceil_mode, divisor_override)
    gy = check_grad_output(op, grad_output, x.shape[:2] + window.out_shape, unbatched, x)
    share = gy / np.asarray(_divisor(window, count_include_pad, divisor_override), x.dtype)
    grad_input = np.zeros(x.shape, x.dtype)
    for _, in_sl, out_sl in window.offsets:
        grad_input[_ALL2 + in_sl] += share[_ALL2 + out_sl]
    return unbatch(grad_input, unbatched)


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
    Each output gradient is added to the cell that won its window; cells won
    by several overlapping windows receive the sum.
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
"""

_POOL_EXAMPLES = {1: "(2, 3, 4)", 2: "(2, 3, 4, 4)", 3: "(2, 3, 4, 4, 4)"}


def _functions(ndim):
    max_name, avg_name = f"max_pool{ndim}d", f"avg_pool{ndim}d"

    def max_pool(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                 return_indices=False):
        return _max_pool(max_name, ndim, input, kernel_size, stride, padding, dilation,
                         ceil_mode, return_indices)

    def max_pool_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1,
                          ceil_mode=False, indices=None):
        return _max_pool_backward(f"{max_name}_backward", ndim, grad_output, input, kernel_size,
                                  stride, padding, dilation, ceil_mode, indices)

    def avg_pool(input, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        return _avg_pool(avg_name, ndim, input, kernel_size, stride, padding, ceil_mode,
                         count_include_pad, divisor_override)

    def avg_pool_backward(grad_output, input, kernel_size, stride=None, padding=0,
                          ceil_mode=False, count_include_pad=True, divisor_override=None):
        return _avg_pool_backward(f"{avg_name}_backward", ndim, grad_output, input, kernel_size,
                                  stride, padding, ceil_mode, count_include_pad,
                                  divisor_override)

    example = {"example_pool": _POOL_EXAMPLES[ndim]}
    max_fields = doc_fields(ndim, max_name, fwd=max_name, **example)
    avg_fields = doc_fields(ndim, avg_name, fwd=avg_name, **example)
    return (finish(max_pool, max_name, _MAX_DOC.format(**max_fields)),
            finish(max_pool_backward, f"{max_name}_backward", _MAX_BACKWARD_DOC.format(**max_fields)),
            finish(avg_pool, avg_name, _AVG_DOC.format(**avg_fields)),
            finish(avg_pool_backward, f"{avg_name}_backward", _AVG_BACKWARD_DOC.format(**avg_fields)))


max_pool1d, max_pool1d_backward, avg_pool1d, avg_pool1d_backward = _functions(1)
max_pool2d, max_pool2d_backward, avg_pool2d, avg_pool2d_backward = _functions(2)
max_pool3d, max_pool3d_backward, avg_pool3d, avg_pool3d_backward = _functions(3)
