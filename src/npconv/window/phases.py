"""Flat phases: a layout of the input in which every kernel offset reads one contiguous range.

Along a spatial dimension with stride ``s``, dilation ``d`` and padding
``lo``, the output cell ``o`` reads at kernel offset ``j`` the padded cell
``p = o*s + j*d``.  That cell lies in the residue class ``(j*d) % s`` of the
padded input, at position ``o + (j*d) // s`` within it.  So if each residue
class ("phase") of the zero-padded input is stored as its own array, every
kernel offset reads, from one phase, a block shifted by ``(j*d) // s``: a
stride-1, dilation-1 window.

Flattening a phase's spatial grid turns that shifted block into one
contiguous range of the flat array, provided the output is computed at the
phase's full row width instead of the output's: rows of the flat output
carry ``grid[t] - out_shape[t]`` extra cells in every dimension ``t > 0``.
Those "overhang" cells read real input cells of the neighbouring row; they
are cut off (:meth:`FlatPhases.crop`) and, in gradients, enter as zeros
(:meth:`FlatPhases.spread`).

Copies and adds between this layout and column buffers are then long
contiguous runs (memcpy speed) instead of short strided rows, and a kernel
offset is a plain slice of a flat array.

Overhang cells are multiplied by zero gradients, which is exact unless an
input is infinite or NaN (``0 * inf`` is NaN): callers recompute a result
that came out non-finite with exact windows.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np


class TapGrid(NamedTuple):
    """The taps of one phase, a regular grid of kernel offsets (:attr:`FlatPhases.tap_grids`)."""

    phase: int            # index in ``residues``
    shift: int            # flat shift of the grid's first tap
    counts: tuple         # taps along each dimension
    steps: tuple          # flat shift between neighbouring taps along each dimension
    kernel_slices: tuple  # the grid's kernel offsets, a slice per dimension


class FlatPhases:
    """The flat-phase layout of one :class:`~npconv.window.geometry.Window`.

    Attributes
    ----------
    grid : tuple of int
        Spatial shape of one phase: ``out_shape[t] + (k[t]-1)*d[t] // s[t]``,
        plus one tail row in dimension 0 (the last computed row runs past the
        last output cell).
    residues : list of tuple
        The phases in use: residue classes ``(j*d) % s`` of the kernel offsets.
    taps : list of (offset, phase, shift)
        For every kernel offset that reads real cells: its kernel
        multi-index, the index of its phase in ``residues``, and the flat
        position of its first cell in that phase.
    slots : list of int
        The flat kernel index of every tap.
    positions : int
        Computed output cells per plane: ``out_shape[0] * prod(grid[1:])``.
    """

    def __init__(self, window):
        self.window = window
        grid = [o + (k - 1) * d // s for o, k, d, s in
                zip(window.out_shape, window.kernel, window.dilation, window.stride)]
        grid[0] += 1
        self.grid = tuple(grid)
        self.volume = math.prod(self.grid)
        self.positions = window.out_shape[0] * math.prod(self.grid[1:])
        steps = [math.prod(self.grid[t + 1:]) for t in range(window.ndim)]
        self.residues = []
        self.taps = []
        for offset, _, _ in window.offsets:
            residue = tuple(j * d % s
                            for j, d, s in zip(offset, window.dilation, window.stride))
            if residue not in self.residues:
                self.residues.append(residue)
            shift = sum(j * d // s * step for j, d, s, step in
                        zip(offset, window.dilation, window.stride, steps))
            self.taps.append((offset, self.residues.index(residue), shift))
        self.slots = [int(np.ravel_multi_index(offset, window.kernel))
                      for offset, _, _ in self.taps]

    @functools.cached_property
    def tap_grids(self):
        """The taps of each phase as one regular grid: a list of :class:`TapGrid`.

        Along each dimension the kernel offsets that read real cells are a
        range, and those of one residue class in it an arithmetic progression
        of step ``s / gcd(s, d)``, whose shifts step by ``d / gcd(s, d)``
        cells of the phase grid.  So a phase's taps are a grid of kernel
        offsets whose flat shifts are ``shift + sum(m[t] * steps[t])``, and
        one strided view reads all their columns (:meth:`grid_columns`).
        """
        w = self.window
        if not self.taps:
            return []
        first = [min(offset[t] for offset, _, _ in self.taps) for t in range(w.ndim)]
        last = [max(offset[t] for offset, _, _ in self.taps) for t in range(w.ndim)]
        grid_steps = [math.prod(self.grid[t + 1:]) for t in range(w.ndim)]
        grids = []
        for index, residue in enumerate(self.residues):
            shift, counts, steps, kernel_slices = 0, [], [], []
            for t, r in enumerate(residue):
                s, d = w.stride[t], w.dilation[t]
                period = s // math.gcd(s, d)
                j0 = next(j for j in range(first[t], first[t] + period) if j * d % s == r)
                shift += j0 * d // s * grid_steps[t]
                counts.append(len(range(j0, last[t] + 1, period)))
                steps.append(d // math.gcd(s, d) * grid_steps[t])
                kernel_slices.append(slice(j0, last[t] + 1, period))
            grids.append(TapGrid(index, shift, tuple(counts), tuple(steps), tuple(kernel_slices)))
        return grids

    def grid_columns(self, phases, grid):
        """The columns of one :class:`TapGrid`'s taps: a read-only view ``(C, *counts, n, positions)``.

        ``phases`` is ``(n, R, C, volume)`` with a contiguous last axis.
        Column ``(c, *m, i, q)`` is phase cell ``shift + sum(m * steps) + q``
        of sample ``i`` and channel ``c``.
        """
        start = phases[:, grid.phase, :, grid.shift:]
        item = phases.itemsize
        return np.lib.stride_tricks.as_strided(
            start, shape=(start.shape[1],) + grid.counts + (start.shape[0], self.positions),
            strides=(start.strides[1],) + tuple(step * item for step in grid.steps)
            + (start.strides[0], item), writeable=False)

    @property
    def identity(self):
        """Whether the layout is the input itself: unit kernel and stride, no padding, every cell read.

        (A transposed convolution's ``output_padding`` adds input cells that no window reads.)
        """
        w = self.window
        return (w.kernel_volume == 1 and all(s == 1 for s in w.stride)
                and all(p == (0, 0) for p in w.padding) and w.in_shape == w.out_shape)

    @functools.cached_property
    def real_cells(self):
        """Per phase, ``(input slices, phase slices)`` of its real cells, or None if it has none."""
        return [self._slices(residue) for residue in self.residues]

    def _slices(self, residue):
        """``(input slices, phase slices)`` of the real cells in one phase."""
        in_slices, grid_slices = [], []
        for t, r in enumerate(residue):
            size, s, lo = self.window.in_shape[t], self.window.stride[t], self.window.padding[t][0]
            first = max(0, -(-(lo - r) // s))              # first q with q*s + r - lo >= 0
            last = min(self.grid[t], -(-(size + lo - r) // s))  # exclusive
            if last <= first:
                return None
            start = first * s + r - lo
            in_slices.append(slice(start, start + (last - first - 1) * s + 1, s))
            grid_slices.append(slice(first, last))
        return (slice(None), slice(None)) + tuple(in_slices), tuple(grid_slices)

    def zeros(self, batch, channels, dtype):
        """A zeroed ``(n, phases, C, volume)`` buffer."""
        return np.zeros((batch, len(self.residues), channels, self.volume), dtype)

    def pack(self, x, phases):
        """Copy ``x`` (n, C, *in_shape) into the real cells of ``phases`` (n, R, C, volume)."""
        for index, slices in enumerate(self.real_cells):
            if slices is not None:
                in_sl, grid_sl = slices
                target = phases[:, index].reshape(phases.shape[:1] + phases.shape[2:3] + self.grid)
                target[(slice(None), slice(None)) + grid_sl] = x[in_sl]

    @functools.cached_property
    def unread(self):
        """Boolean mask (``in_shape``) of the input cells in no phase, or None if there are none.

        They are the cells that no kernel offset reads: past the last window,
        or in a residue class that no offset reaches (a stride larger than
        the dilated kernel).
        """
        in_phase = np.zeros(self.window.in_shape, bool)
        for residue in self.residues:
            slices = self._slices(residue)
            if slices is not None:
                in_phase[slices[0][2:]] = True
        return None if in_phase.all() else ~in_phase

    def unpack(self, phases, out):
        """The adjoint of :meth:`pack`: write the real cells of ``phases`` into ``out`` (n, C, *in_shape).

        Every cell of ``out`` is written: input cells that no kernel offset
        reads get zeros (where there are any, ``out`` is zeroed first: one
        pass, many times faster than a boolean mask).
        """
        if self.unread is not None:
            out[...] = 0
        for index, slices in enumerate(self.real_cells):
            if slices is not None:
                in_sl, grid_sl = slices
                source = phases[:, index].reshape(phases.shape[:1] + phases.shape[2:3] + self.grid)
                out[in_sl] = source[(slice(None), slice(None)) + grid_sl]

    def tap_range(self, phases, phase, shift, begun):
        """The cells of ``phases`` (n, R, C, volume) that a tap reaches, and whether it begins its phase.

        Adjoint passes add every tap's values into its range.  The first tap
        of a phase writes its range instead, so that no zeroed buffer is
        needed: the rest of that phase is zeroed here.  ``begun`` is the set
        of phases already begun; it is updated.
        """
        first = phase not in begun
        if first:
            begun.add(phase)
            phases[:, phase, :, :shift] = 0
            phases[:, phase, :, shift + self.positions:] = 0
        return phases[:, phase, :, shift:shift + self.positions], first

    def block(self, phases, offset, out_slices):
        """The cells kernel offset ``offset`` reads for the output cells ``out_slices``: a view of ``phases``.

        ``phases`` is (n, R, C, volume) as :meth:`pack` fills it; the result
        is (n, C, *out block), read from the offset's phase at ``o + (j*d) // s``.
        """
        w = self.window
        residue = tuple(j * d % s for j, d, s in zip(offset, w.dilation, w.stride))
        plane = phases[:, self.residues.index(residue)]
        grid = plane.reshape(plane.shape[:2] + self.grid)
        return grid[(slice(None), slice(None)) + tuple(
            slice(sl.start + j * d // s, sl.stop + j * d // s)
            for sl, j, d, s in zip(out_slices, offset, w.dilation, w.stride))]

    def crop(self, full):
        """The output cells of ``full`` (..., positions): a view of shape (..., *out_shape)."""
        shaped = full.reshape(full.shape[:-1] + self.window.out_shape[:1] + self.grid[1:])
        return shaped[(Ellipsis,) + tuple(slice(0, o) for o in self.window.out_shape)]

    def spread(self, values, full):
        """The adjoint of :meth:`crop`: ``values`` (..., *out_shape) into ``full``, zeros elsewhere."""
        shaped = full.reshape(full.shape[:-1] + self.window.out_shape[:1] + self.grid[1:])
        ndim = self.window.ndim
        for t in range(1, ndim):
            overhang = (slice(None),) * t + (slice(self.window.out_shape[t], None),)
            shaped[(Ellipsis,) + overhang + (slice(None),) * (ndim - 1 - t)] = 0
        self.crop(full)[...] = values
        return full


@functools.lru_cache(maxsize=256)
def flat_phases(window):
    """The :class:`FlatPhases` of ``window``, built once per window geometry."""
    return FlatPhases(window)
