"""The window engine: which input cells each kernel offset reads.

A sliding window over an ``(N, C, *in_shape)`` array is described by a
:class:`Window`: kernel size, stride, dilation and per-side padding for each
spatial dimension, and the number of window positions (``out_shape``).  The
output cell ``o`` reads, at kernel offset ``j``, the input cell

    i = o * stride + j * dilation - pad_lo

which lies in the padding when it falls outside ``[0, in_size)``.  For one
kernel offset, the output cells whose input cell is real form a contiguous
range, and their input cells a strided range.  :meth:`Window.offsets` lists
those two ranges as slices for every kernel offset, so that

* :func:`gather` copies windows into a column buffer with one strided slice
  copy per kernel offset (no padded copy of the input, no fancy indexing);
* :func:`scatter_add` is its exact adjoint, one strided slice-add per kernel
  offset (no ``np.add.at``);
* convolution, pooling and unfold/fold all iterate over the same offsets.

The Python loop is over kernel offsets only (``prod(kernel)`` iterations); each
iteration moves a whole ``(N, C, ...)`` block.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Window:
    """Geometry of a sliding window over the spatial dimensions of an array.

    Attributes
    ----------
    in_shape, out_shape : tuple of int
        Spatial sizes of the unpadded input and the number of window positions.
    kernel, stride, dilation : tuple of int
        One entry per spatial dimension.
    padding : tuple of (int, int)
        ``(lo, hi)`` implicit padding per spatial dimension.
    """

    in_shape: tuple
    out_shape: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    padding: tuple

    @property
    def ndim(self):
        """Number of spatial dimensions."""
        return len(self.kernel)

    @property
    def kernel_volume(self):
        """``prod(kernel)``: the number of cells in one window."""
        return math.prod(self.kernel)

    @property
    def in_volume(self):
        """``prod(in_shape)``: the number of cells in one input plane."""
        return math.prod(self.in_shape)

    @property
    def out_volume(self):
        """``prod(out_shape)``: the number of window positions."""
        return math.prod(self.out_shape)

    def starts(self, dim):
        """The input cell each window position reads at kernel offset 0 along ``dim``: ``o*stride - pad_lo``.

        Negative where the window starts in the low padding.
        """
        return np.arange(self.out_shape[dim]) * self.stride[dim] - self.padding[dim][0]

    def zero_padded(self):
        """The same windows over the input with its padding made real cells (no implicit padding)."""
        in_shape = tuple(n + lo + hi for n, (lo, hi) in zip(self.in_shape, self.padding))
        return Window(in_shape, self.out_shape, self.kernel, self.stride, self.dilation,
                      ((0, 0),) * self.ndim)

    def band(self, dim, rows):
        """The windows of the output rows ``rows`` (a slice) along ``dim``, over the cells they read.

        Returns ``(in_slice, window)``: the input cells along ``dim`` that those
        windows read, and their :class:`Window` over ``x[..., in_slice, ...]``
        (its padding is what the band reads beyond those cells).
        """
        size, stride, dilation = self.in_shape[dim], self.stride[dim], self.dilation[dim]
        span = (self.kernel[dim] - 1) * dilation + 1
        lo = self.padding[dim][0]
        count = rows.stop - rows.start
        # (a band whose windows start past the input reads an empty range there, and only padding)
        start = max(0, rows.start * stride - lo)
        stop = max(start, min(size, (rows.stop - 1) * stride - lo + span))
        band_lo = lo - rows.start * stride + start
        band_hi = max(0, (count - 1) * stride + span - band_lo - (stop - start))

        def replaced(values, value):
            return values[:dim] + (value,) + values[dim + 1:]
        return slice(start, stop), Window(
            replaced(self.in_shape, stop - start), replaced(self.out_shape, count), self.kernel,
            self.stride, self.dilation, replaced(self.padding, (band_lo, band_hi)))

    @cached_property
    def offsets(self):
        """``(offset, in_slices, out_slices)`` for every kernel offset that reads real cells.

        ``offset`` is the kernel multi-index; ``x[..., *in_slices]`` are the
        input cells that the output cells ``y[..., *out_slices]`` read at that
        offset.  Offsets that only ever read padding are left out.
        """
        per_dim = []
        for dim in range(self.ndim):
            reading = {}
            for j in self._reading_offsets(dim):
                pair = self._dim_slices(dim, j)
                if pair is not None:
                    reading[j] = pair
            per_dim.append(reading)
        result = []
        for offset in itertools.product(*(sorted(reading) for reading in per_dim)):
            pairs = [per_dim[dim][j] for dim, j in enumerate(offset)]
            result.append((offset, tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)))
        return tuple(result)

    def _reading_offsets(self, dim):
        """The kernel offsets along ``dim`` that may read a real cell (not more than the input and
        output extents, however large the kernel)."""
        size, out = self.in_shape[dim], self.out_shape[dim]
        stride, dilation, lo = self.stride[dim], self.dilation[dim], self.padding[dim][0]
        # o*stride + j*dilation - lo in [0, size) for some o in [0, out)
        first = max(0, _ceil_div(lo - (out - 1) * stride, dilation))
        last = min(self.kernel[dim] - 1, (size - 1 + lo) // dilation)
        return range(first, last + 1)

    @property
    def disjoint(self):
        """Whether no input cell lies in two windows (each stride at least the dilated kernel)."""
        return all(s >= d * (k - 1) + 1 for s, d, k in zip(self.stride, self.dilation, self.kernel))

    @cached_property
    def reads_padding(self):
        """Whether some window position reads a padding cell at some offset."""
        if len(self.offsets) < self.kernel_volume:
            return True
        full = tuple(slice(0, n) for n in self.out_shape)
        return any(out_sl != full for _, _, out_sl in self.offsets)

    def _dim_slices(self, dim, j):
        size, out = self.in_shape[dim], self.out_shape[dim]
        stride, lo = self.stride[dim], self.padding[dim][0]
        shift = j * self.dilation[dim] - lo  # input cell read by output cell 0
        first = max(0, _ceil_div(-shift, stride))
        last = min(out, (size - 1 - shift) // stride + 1)  # exclusive
        if last <= first:
            return None
        start = first * stride + shift
        stop = start + (last - first - 1) * stride + 1
        return slice(start, stop, stride), slice(first, last)


def _ceil_div(a, b):
    return -(-a // b)


_ALL2 = (slice(None), slice(None))


def gather(x, window, out, fill=0.0):
    """Copy every window of ``x`` into ``out``.

    Parameters
    ----------
    x : ndarray, shape (N, C, *in_shape)
    window : Window
    out : ndarray, shape (N, C, *kernel, *out_shape)
        Written in place; may be any strided view (for example a transposed
        view of a GEMM-friendly buffer).
    fill : float
        Value of the padding cells (0 for convolution, -inf for max pooling).

    Notes
    -----
    ``out[n, c, *j, *o] = x[n, c, *(o * stride + j * dilation - pad_lo)]``.
    One strided slice copy per kernel offset.
    """
    if window.reads_padding:
        out[...] = fill
    for offset, in_sl, out_sl in window.offsets:
        out[_ALL2 + offset + out_sl] = x[_ALL2 + in_sl]
    return out


def scatter_add(cols, window, out):
    """Add every window in ``cols`` back onto the cells it was read from: the adjoint of :func:`gather`.

    Parameters
    ----------
    cols : ndarray, shape (N, C, *kernel, *out_shape)
    window : Window
    out : ndarray, shape (N, C, *in_shape)
        Accumulated into in place.  A cell covered by ``m`` windows receives
        the sum of ``m`` entries of ``cols``; values that fell on padding are
        dropped.

    Notes
    -----
    One strided slice-add per kernel offset: within one offset the input cells
    are distinct, so ``+=`` on a strided slice accumulates correctly.
    """
    for offset, in_sl, out_sl in window.offsets:
        out[_ALL2 + in_sl] += cols[_ALL2 + offset + out_sl]
    return out
