"""Padding modes, shared by ``pad`` and the convolutions' ``padding_mode``: block copies and their adjoint.

Along a padded dimension of size ``n`` with pads ``(lo, hi)``, output cell
``i`` reads input cell ``m(i - lo)``::

    constant   m(j) = j for 0 <= j < n, else the fill value   (negative pads crop)
    reflect    m(j) = -j below 0, 2*(n-1) - j above n-1     (each pad < n)
    replicate  m(j) = min(max(j, 0), n-1)
    circular   the input cropped by the negative pads (size n'), wrapped: j mod n'
               (each pad <= n')

Along each dimension the output is at most three runs of input cells in
arithmetic progression (the middle, the low border, the high border), so the
output is at most ``3**d`` blocks, each one strided copy of the input
(:func:`copy_blocks`).  The backward pass is the adjoint: each block added onto
the cells it read, a replicated run summed along its dimension first.
"""

from __future__ import annotations

import itertools
import numbers
from typing import NamedTuple

import numpy as np

from .arguments import _as_int, check_array_size

MODES = ("constant", "reflect", "replicate", "circular")


class _Run(NamedTuple):
    """``length`` output cells from ``out_start`` read input cells ``in_start + t*step``."""

    out_start: int
    length: int
    in_start: int
    step: int  # 1, -1 (reflected) or 0 (one cell replicated)

    def out_slice(self):
        return slice(self.out_start, self.out_start + self.length)

    def in_slice(self):
        if self.step == 0:
            return slice(self.in_start, self.in_start + 1)
        if self.step == 1:
            return slice(self.in_start, self.in_start + self.length)
        stop = self.in_start - self.length
        return slice(self.in_start, None if stop < 0 else stop, -1)


def pad_pairs(op, ndim, pad, name="pad"):
    """torch's flat ``pad`` sequence as ``(lo, hi)`` pairs for each of ``ndim`` dimensions."""
    if isinstance(pad, (str, bytes)) or not isinstance(pad, (tuple, list)):
        raise TypeError(f"{op}(): `{name}` must be a tuple of ints, got {pad!r}")
    values = [_as_int(value, op, name) for value in pad]
    if len(values) % 2:
        raise ValueError(f"{op}(): `{name}` must have an even length (a low and a high pad per "
                         f"dimension, last dimension first), got {len(values)} values")
    if len(values) > 2 * ndim:
        raise ValueError(f"{op}(): `{name}` can pad at most the {ndim} dimensions of the input "
                         f"({2 * ndim} values), got {len(values)} values")
    pairs = [(0, 0)] * ndim
    for index in range(len(values) // 2):
        pairs[ndim - 1 - index] = (values[2 * index], values[2 * index + 1])
    return tuple(pairs)


def check_mode(op, mode, value=None, name="mode", modes=MODES):
    """``mode`` must be one of ``modes``; a fill ``value`` goes with ``'constant'`` only."""
    if not isinstance(mode, str) or mode not in modes:
        choices = ", ".join(repr(m) for m in modes)
        raise ValueError(f"{op}(): `{name}` must be one of {choices}, got {mode!r}")
    if value is not None:
        if mode != "constant":
            raise ValueError(f"{op}(): `value` fills mode='constant' only, got value={value!r} "
                             f"with mode={mode!r}")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError(f"{op}(): `value` must be a real number, got {value!r}")


def _runs(op, mode, size, lo, hi, dim, name):
    """The runs of one dimension (see :class:`_Run`); checks the pads against the mode."""
    def refuse(why):
        raise ValueError(f"{op}(): `{name}` ({lo}, {hi}) on dimension {dim} of size {size}: "
                         f"{why}")
    if lo == hi == 0:  # not padded: any size, any mode
        return [_Run(0, size, 0, 1)] if size else []
    if size + lo + hi < 0:
        refuse(f"the padded size {size + lo + hi} is negative")
    low, high = max(lo, 0), max(hi, 0)
    if mode in ("constant", "circular"):
        kept = size + min(lo, 0) + min(hi, 0)  # the cells left by the crops
        if kept < 0:
            refuse(f"crops {-min(lo, 0) - min(hi, 0)} cells")
        if mode == "circular" and max(low, high) > kept:
            refuse(f"circular padding wraps around more than once (it may add at most {kept} "
                   f"cells on a side, the size after the crops)")
        first = max(-lo, 0)
        runs = [_Run(low, kept, first, 1)]
        if mode == "circular":
            runs += [_Run(0, low, first + kept - low, 1), _Run(low + kept, high, first, 1)]
        return [run for run in runs if run.length]
    if mode == "reflect" and max(lo, hi) >= size:
        refuse("reflect padding must be smaller than the size")
    if size == 0 and size + lo + hi:
        refuse("there is no cell to replicate")
    # output cell i reads j = i - lo: the cells j < 0, 0 <= j < n and j >= n of [-lo, n + hi)
    start, stop = -lo, size + hi
    below, inside = (start, min(0, stop)), (max(0, start), min(size, stop))
    above = (max(size, start), stop)
    if mode == "reflect":   # j < 0 reads -j, j > n-1 reads 2(n-1) - j
        runs = [_Run(0, below[1] - below[0], -below[0], -1),
                _Run(above[0] + lo, above[1] - above[0], 2 * (size - 1) - above[0], -1)]
    else:
        runs = [_Run(0, below[1] - below[0], 0, 0),
                _Run(above[0] + lo, above[1] - above[0], size - 1, 0)]
    runs.insert(0, _Run(inside[0] + lo, inside[1] - inside[0], inside[0], 1))
    return [run for run in runs if run.length > 0]


def copy_blocks(op, shape, pairs, mode, name):
    """The output shape and its blocks, each a run per dimension (the first block: the kept cells)."""
    per_dim = [_runs(op, mode, size, lo, hi, dim, name)
               for dim, (size, (lo, hi)) in enumerate(zip(shape, pairs))]
    out_shape = tuple(size + lo + hi for size, (lo, hi) in zip(shape, pairs))
    return out_shape, list(itertools.product(*per_dim))


def padded_shape(op, shape, pairs, mode, name="pad"):
    """The shape of :func:`padded`'s result; refuses pads that ``mode`` cannot take."""
    return copy_blocks(op, shape, pairs, mode, name)[0]


def block_slices(block):
    """A block's output slices and input slices."""
    return tuple(run.out_slice() for run in block), tuple(run.in_slice() for run in block)


def padded(op, x, pairs, mode="constant", value=None, name="pad"):
    """``x`` padded by ``pairs`` (one ``(lo, hi)`` per dimension of ``x``) in ``mode``.

    For operators that pad (a convolution's ``padding_mode``): the checks
    and messages of :func:`pad`, naming ``name``.
    """
    out_shape, blocks = copy_blocks(op, x.shape, pairs, mode, name)
    check_array_size(op, out_shape, x.dtype, f"`{name}`")
    out = np.empty(out_shape, x.dtype)
    if mode == "constant":  # the fill: the slabs outside the kept cells, dimension by dimension
        for dim, (size, (lo, hi)) in enumerate(zip(x.shape, pairs)):
            kept = max(size + min(lo, 0) + min(hi, 0), 0)
            before = (slice(None),) * dim
            out[before + (slice(0, max(lo, 0)),)] = 0 if value is None else value
            out[before + (slice(max(lo, 0) + kept, None),)] = 0 if value is None else value
    for block in blocks:
        out_slices, in_slices = block_slices(block)
        out[out_slices] = x[in_slices]
    return out


def padded_adjoint(op, grad_output, in_shape, pairs, mode="constant", name="pad", out=None):
    """The adjoint of :func:`padded`: ``grad_output`` folded back onto an array of ``in_shape``.

    Written into ``out`` (of ``in_shape``) when given.
    """
    out_shape, blocks = copy_blocks(op, in_shape, pairs, mode, name)
    if grad_output.shape != out_shape:
        raise ValueError(f"{op}(): `grad_output` must have shape {out_shape}, "
                         f"got {grad_output.shape}")
    if blocks and all(run.step == 1 and run.in_start == 0 and run.length == size
                      for run, size in zip(blocks[0], in_shape)):
        # nothing cropped: the kept cells are the whole input, once; the borders add to them
        grad_input = np.empty(in_shape, grad_output.dtype) if out is None else out
        grad_input[...] = grad_output[block_slices(blocks[0])[0]]
        blocks = blocks[1:]
    elif out is None:
        grad_input = np.zeros(in_shape, grad_output.dtype)
    else:
        grad_input = out
        grad_input[...] = 0
    for block in blocks:
        out_slices, in_slices = block_slices(block)
        part = grad_output[out_slices]
        replicated = tuple(axis for axis, run in enumerate(block) if run.step == 0)
        if replicated:
            part = part.sum(axis=replicated, keepdims=True)
        grad_input[in_slices] += part
    return grad_input
