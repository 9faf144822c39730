"""``unfold``/``fold`` (``im2col``/``col2im``) and their backward passes.

``unfold`` copies every sliding window into a column; ``fold`` adds columns
back onto the cells they came from.  ``fold`` is the exact adjoint of
``unfold`` (``<unfold(x), c> == <x, fold(c)>``), not its inverse: a cell that
``m`` windows cover comes back ``m`` times.  For a 3x3 image, kernel 3,
padding 1, stride 1, every window covers the centre::

    >>> import numpy as np, npconv
    >>> x = np.arange(1., 10.).reshape(1, 1, 3, 3)
    >>> cols = npconv.unfold(x, 3, padding=1)
    >>> npconv.fold(cols, (3, 3), 3, padding=1)[0, 0]
    array([[ 4., 12., 12.],
           [24., 45., 36.],
           [28., 48., 36.]])

Corners are covered by 4 windows, edges by 6, the centre by 9.  Dividing by
``fold(unfold(ones))`` (the coverage count) recovers ``x`` where it is non-zero.

Beyond torch (4-D only), both work in any number of spatial dimensions: the
count comes from ``kernel_size`` (``fold``: ``output_size``) when it is a
tuple, and is 2 for an int, as in torch.
"""

from __future__ import annotations

import numpy as np

from ..window.blocks import quiet
from ..window.geometry import gather, scatter_add
from .arguments import (batched_float_array, check_array_size, make_window, to_tuple,
                        window_arguments)
from .common import check_grad_output, dask_aware, unbatch


def _spatial_ndim(*candidates):
    """Number of spatial dimensions: the length of the first tuple argument, else 2."""
    for value in candidates:
        if isinstance(value, (tuple, list)):
            return len(value)
    return 2


def _window(op, ndim, spatial_shape, kernel_size, dilation, padding, stride):
    kernel, stride, pads, dilation = window_arguments(op, ndim, kernel_size, stride, padding,
                                                      dilation, strings=False)
    return make_window(op, tuple(spatial_shape), kernel, stride, pads, dilation)


def _unfold_arguments(op, input, kernel_size, dilation, padding, stride):
    """``(x, unbatched, window)`` for :func:`unfold` and its backward; ``x`` batched."""
    ndim = _spatial_ndim(kernel_size)
    x, unbatched = batched_float_array(op, input, (ndim + 1, ndim + 2), "input",
                            f"(C, *spatial) unbatched or (N, C, *spatial) with {ndim} spatial "
                            f"dimensions (a tuple kernel_size sets another number)")
    window = _window(op, ndim, x.shape[2:], kernel_size, dilation, padding, stride)
    check_array_size(op, (x.shape[0], x.shape[1] * window.kernel_volume, window.out_volume),
                     x.dtype, f"`kernel_size`={kernel_size!r} and `padding`={padding!r}")
    return x, unbatched, window


def _fold_arguments(op, input, output_size, kernel_size, dilation, padding, stride):
    """``(cols, unbatched, window)`` for :func:`fold` and its backward; ``cols`` batched."""
    ndim = _spatial_ndim(output_size, kernel_size)
    cols, unbatched = batched_float_array(op, input, (2, 3), "input",
                               "(C * prod(kernel_size), L) unbatched or (N, C * prod(kernel_size), L)")
    size = to_tuple(output_size, ndim, op, "output_size")
    window = _window(op, ndim, size, kernel_size, dilation, padding, stride)
    check_array_size(op, (cols.shape[0], max(1, cols.shape[1] // window.kernel_volume)) + size,
                     cols.dtype, f"`output_size`={output_size!r}")
    _check_columns(op, cols, window, "input")
    return cols, unbatched, window


@quiet
def _unfold(x, window):
    n, c = x.shape[:2]
    cols = np.empty((n, c) + window.kernel + window.out_shape, x.dtype)
    gather(x, window, cols)
    return cols.reshape(n, c * window.kernel_volume, window.out_volume)


@quiet
def _fold(cols, window):
    n = cols.shape[0]
    c = cols.shape[1] // window.kernel_volume
    out = np.zeros((n, c) + window.in_shape, cols.dtype)
    return scatter_add(cols.reshape((n, c) + window.kernel + window.out_shape), window, out)


def _check_columns(op, cols, window, name):
    volume, blocks = window.kernel_volume, window.out_volume
    if cols.shape[1] % volume:
        raise ValueError(
            f"{op}(): `{name}` dimension 1 ({cols.shape[1]}) must be divisible by "
            f"prod(kernel_size) = {volume} (kernel_size={window.kernel})"
        )
    if cols.shape[2] != blocks:
        raise ValueError(
            f"{op}(): `{name}` dimension 2 ({cols.shape[2]}) must equal the number of sliding "
            f"blocks, {' * '.join(map(str, window.out_shape))} = {blocks} (output_size="
            f"{window.in_shape}, kernel_size={window.kernel}, dilation={window.dilation}, "
            f"padding={window.padding}, stride={window.stride})"
        )


@dask_aware
def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding windows into columns, as ``torch.nn.functional.unfold``.

    Parameters
    ----------
    input : ndarray, shape ``(N, C, *spatial)`` or unbatched ``(C, *spatial)``
        float32 or float64.  ``len(spatial)`` is ``len(kernel_size)``, or 2
        for an int ``kernel_size``.
    kernel_size, dilation, stride : int or tuple of ints, positive
    padding : int, tuple of ints or tuple of (lo, hi) pairs
        Implicit zero padding; per-side pairs go beyond torch.

    Returns
    -------
    ndarray, shape ``(N, C * prod(kernel_size), L)``
        ``out[n, c * prod(k) + j, l] = input[n, c, o_l * stride + j * dilation - pad_lo]``
        with ``j`` and ``o_l`` unravelled in C order, and zero in the padding;
        ``L = prod(out_size)`` with, per dimension,
        ``out_size = floor((size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) / stride) + 1``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.unfold(np.zeros((2, 3, 5, 5)), 3).shape
    (2, 27, 9)
    """
    x, unbatched, window = _unfold_arguments("unfold", input, kernel_size, dilation, padding,
                                             stride)
    return unbatch(_unfold(x, window), unbatched)


@dask_aware
def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Add columns back into an array, as ``torch.nn.functional.fold``: the adjoint of :func:`unfold`.

    Parameters
    ----------
    input : ndarray, shape ``(N, C * prod(kernel_size), L)`` or unbatched ``(C * prod(kernel_size), L)``
    output_size : int or tuple of ints
        Spatial size of the result.
    kernel_size, dilation, padding, stride
        As for :func:`unfold`.

    Returns
    -------
    ndarray, shape ``(N, C, *output_size)``
        ``out[n, c, i] = sum of input[n, c * prod(k) + j, l]`` over every
        ``(j, l)`` with ``o_l * stride + j * dilation - pad_lo == i``.

    Notes
    -----
    ``fold(unfold(x))`` is ``x`` times the number of windows covering each
    cell (see the module documentation for a worked example).  The adds are
    one strided slice-add per kernel offset, never ``np.add.at``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> cols = np.ones((2, 3 * 4, 9))              # 3 channels, 2x2 windows, 3x3 positions
    >>> npconv.fold(cols, (4, 4), 2)[0, 0]          # how many windows cover each cell
    array([[1., 2., 2., 1.],
           [2., 4., 4., 2.],
           [2., 4., 4., 2.],
           [1., 2., 2., 1.]])
    """
    cols, unbatched, window = _fold_arguments("fold", input, output_size, kernel_size, dilation,
                                              padding, stride)
    return unbatch(_fold(cols, window), unbatched)


@dask_aware
def unfold_backward(grad_output, input, kernel_size, dilation=1, padding=0, stride=1):
    """Gradient of :func:`unfold` with respect to ``input``: :func:`fold` of ``grad_output``.

    Parameters
    ----------
    grad_output : ndarray, shape of ``unfold(input, ...)``
    input, kernel_size, dilation, padding, stride
        As given to :func:`unfold`.

    Returns
    -------
    ndarray, shape of ``input``

    Examples
    --------
    >>> import numpy as np, npconv
    >>> x = np.ones((2, 3, 4, 4))
    >>> cols = npconv.unfold(x, 2)
    >>> npconv.unfold_backward(np.ones_like(cols), x, 2).shape
    (2, 3, 4, 4)
    """
    op = "unfold_backward"
    x, unbatched, window = _unfold_arguments(op, input, kernel_size, dilation, padding, stride)
    expected = (x.shape[0], x.shape[1] * window.kernel_volume, window.out_volume)
    gy = check_grad_output(op, grad_output, expected, unbatched, x)
    return unbatch(_fold(gy, window).astype(x.dtype, copy=False), unbatched)


@dask_aware
def fold_backward(grad_output, input, output_size, kernel_size, dilation=1, padding=0,
                  stride=1):
    """Gradient of :func:`fold` with respect to ``input``: :func:`unfold` of ``grad_output``.

    Parameters
    ----------
    grad_output : ndarray, shape ``(N, C, *output_size)``
    input, output_size, kernel_size, dilation, padding, stride
        As given to :func:`fold`.

    Returns
    -------
    ndarray, shape of ``input``

    Examples
    --------
    >>> import numpy as np, npconv
    >>> cols = np.ones((2, 12, 9))
    >>> y = npconv.fold(cols, (4, 4), 2)
    >>> npconv.fold_backward(np.ones_like(y), cols, (4, 4), 2).shape
    (2, 12, 9)
    """
    op = "fold_backward"
    cols, unbatched, window = _fold_arguments(op, input, output_size, kernel_size, dilation,
                                              padding, stride)
    expected = (cols.shape[0], cols.shape[1] // window.kernel_volume) + window.in_shape
    gy = check_grad_output(op, grad_output, expected, unbatched, cols)
    return unbatch(_unfold(gy, window).astype(cols.dtype, copy=False), unbatched)


#: Alias of :func:`unfold`.
im2col = unfold
#: Alias of :func:`fold`.
col2im = fold
