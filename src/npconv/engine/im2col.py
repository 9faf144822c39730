"""The ``im2col`` algorithm: column buffers in the flat-phase layout, and matrix products.

Forward, per batch chunk: copy every window of the input into a column
buffer ``(C, *kernel, n, positions)`` (one contiguous copy per kernel offset
and plane, :mod:`npconv.window.phases`), then one matrix product per group::

    y (K/G, n*positions) = W (K/G, C/G * taps) @ columns (C/G * taps, n*positions)

The backward pass has two column buffers to choose from.

*Input columns* (the forward's columns again): the weight gradient is
``gy @ columns^T``, and the input gradient ``W^T @ gy`` in column form,
added back onto the cells the columns were read from by one slice-add per
kernel offset.  It is the lean choice when the input has few channels.

*Gradient columns*: a cell ``q`` of phase ``r`` is read, through a kernel
offset with flat shift ``t``, by output cell ``q - t``.  Copying the output
gradient shifted by every tap of phase ``r`` gives columns ``(K, taps_r,
cells)`` from which both gradients are plain products, with no slice-adds
and no second copy of the input's windows::

    grad_phase_r (C/G, cells) = W_r^T (C/G, K/G * taps_r) @ gradient columns
    grad_W_r (K/G * taps_r, C/G) += gradient columns @ phase_r^T (cells, C/G)

With a chunk's samples laid end to end, the columns of any range of cells
are a few slices of the output gradient, so they are built a cache-sized
block of cells at a time (:data:`COLUMN_BLOCK_BYTES`), and both products
read them from the cache.  Where a phase has many rows of taps along the
last kernel dimension, only one row's taps are copied (as in the forward
pass's :func:`_forward_rows`) and the other rows are slices of the same block.

It pays when the output has no more channels than the input (the columns
are ``K * volume`` against ``C * positions`` per tap).

A 1x1 convolution with unit stride and no padding needs no columns: the input
is its own column matrix.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading

import numpy as np

from ..window.blocks import channel_blocks, run_blocks
from ..window.phases import flat_phases
from ..window.scratch import scratch

#: Batch chunks of the passes with input columns aim at this many bytes of
#: temporaries: small enough that a chunk's columns are still in the CPU
#: cache when the matrix product reads them (docs/guides/performance.md has the figures).
CHUNK_BYTES = 4 << 20

#: The gradient-columns backward pass builds its columns in blocks of its own
#: (:data:`COLUMN_BLOCK_BYTES`); its batch chunks hold the output gradient and
#: the input and its gradient in phases, and aim at this many bytes.
GRADIENT_CHUNK_BYTES = 24 << 20

#: The gradient-columns backward pass builds its columns in blocks of about
#: this many bytes, which both of its products read from the CPU cache (so
#: does the forward pass with rows of columns, :func:`_forward_rows`).
COLUMN_BLOCK_BYTES = 2 << 20

#: Blocks hold at least this many cells (or all there are), however wide their columns: a
#: product over fewer is mostly call overhead.
MIN_BLOCK_CELLS = 256

#: The gradient-columns backward pass copies a phase's taps one by one while it has at most
#: this many rows of taps along the last kernel dimension (2-D 3x3 kernels: three), and merges
#: them into rows above that (5x5, 3-D), where the copies they save outweigh the shallower
#: products (docs/guides/performance.md has the figures).
MERGED_ROWS_ABOVE = 3


def _buffers(buffer_class, flat, plan, channels, out_channels, dtype):
    """``buffer_class``'s buffers for the largest of the plan's batch chunks."""
    largest = max((chunk.stop - chunk.start for chunk in plan.pieces), default=0)
    return buffer_class(flat, largest, dtype, channels, out_channels, plan.resources)


def _pointwise(array, groups):
    """``(n, C, *spatial)`` as ``(n, G, C/G, L)``."""
    n, channels = array.shape[:2]
    return array.reshape(n, groups, channels // groups, math.prod(array.shape[2:]))


#: :func:`inner_products` with a result of at most this many cells splits a
#: long inner axis into pieces of about :data:`PIECE_LENGTH`.
SMALL_RESULT_CELLS = 512
PIECE_LENGTH = 1024


def inner_products(a, b):
    """``a @ b^T`` for stacks of matrices ``a`` (..., m, L) and ``b`` (..., k, L), L long.

    OpenBLAS computes such a product faster when the larger of ``m`` and
    ``k`` gives the result's rows, so the smaller one goes second and the
    result comes back transposed: a view.

    A small result (``m * k <=`` :data:`SMALL_RESULT_CELLS`, the weight
    gradient of a layer with few input and output channels) over a long
    ``L`` is summed from products over pieces of ``L``, one batched call:
    OpenBLAS is several times slower on the single long product, while
    results of a few thousand cells gain nothing and matrix-vector products
    lose.  (Both measured on the benchmark's weight-gradient shapes; the
    docs/guides/performance.md has the figures.)
    """
    length, m, k = a.shape[-1], a.shape[-2], b.shape[-2]
    pieces = length // PIECE_LENGTH
    if m * k <= SMALL_RESULT_CELLS and min(m, k) > 1 and pieces >= 2:
        cut = pieces * (length // pieces)

        def split(matrices):  # (..., rows, cut) as (..., pieces, rows, cut/pieces): a view
            pieced = matrices[..., :cut].reshape(matrices.shape[:-1] + (pieces, -1))
            return np.swapaxes(pieced, -3, -2)
        total = _oriented_products(split(a), split(b)).sum(axis=-3)
        if cut < length:
            total += _oriented_products(a[..., cut:], b[..., cut:])
        return total
    return _oriented_products(a, b)


def _oriented_products(a, b):
    """``a @ b^T``, computed with the larger operand first (see :func:`inner_products`)."""
    if a.shape[-2] >= b.shape[-2]:
        return np.matmul(a, np.swapaxes(b, -1, -2))
    return np.swapaxes(np.matmul(b, np.swapaxes(a, -1, -2)), -1, -2)


def _spread_gradient(flat, grad_output, rows):
    """``grad_output`` (n, K, *out_shape) into ``rows`` (K, n, positions), zero in overhang cells."""
    flat.spread(np.moveaxis(grad_output, 1, 0), rows)
    return rows


# --- input columns -----------------------------------------------------------

class _InputColumns:
    """Buffers of the input-columns passes, allocated once per call for the largest chunk.

    ``phases`` holds the chunk's input (or its gradient) in the flat-phase
    layout ``(n, phases, C, volume)``; ``cols`` the columns ``(C, *kernel, n,
    positions)``; ``rows`` an output-shaped ``(K, n, positions)`` matrix.
    Reusing them keeps the peak at one set and pays first-touch page faults
    once.  Copies between ``phases`` and ``cols`` run on the thread pool, a
    block of channels per task.
    """

    def __init__(self, flat, largest, dtype, channels, out_channels, resources):
        self.threads = resources.threads
        self.flat = flat
        self.channels, self.out_channels = channels, out_channels
        kernel_volume = flat.window.kernel_volume
        self.phases, self.cols, self.rows = scratch(
            [(largest, len(flat.residues), channels, flat.volume),
             (channels * kernel_volume * largest * flat.positions,),
             (out_channels * largest * flat.positions,)], dtype, resources.workspace)
        self.dirty = True  # whether padding cells of ``phases`` may hold anything but zeros
        self._views = {}  # (chunk size, column buffer) -> :meth:`gather`'s views
        # Kernel offsets that read only padding keep zero columns.
        self.idle_slots = sorted(set(range(kernel_volume)) - set(flat.slots))
        self.channel_blocks = channel_blocks(
            channels, largest * (len(flat.residues) * flat.volume
                                 + kernel_volume * flat.positions) * dtype.itemsize)

    @staticmethod
    def bytes_per_sample(flat, channels, out_channels, dtype):
        cells = (channels * (flat.window.kernel_volume * flat.positions
                             + len(flat.residues) * flat.volume)
                 + out_channels * flat.positions)
        return cells * dtype.itemsize

    def columns(self, n):
        """The ``(C, kernel_volume, n, positions)`` column buffer for a chunk of ``n`` samples."""
        shape = (self.channels, self.flat.window.kernel_volume, n, self.flat.positions)
        return self.cols[:math.prod(shape)].reshape(shape)

    def matrix(self, n, groups):
        """``(G, K/G, n * positions)`` view of ``rows``."""
        positions = n * self.flat.positions
        return self.rows[:self.out_channels * positions].reshape(groups, -1, positions)

    def gather(self, x, cols):
        """Fill ``cols`` ``(C, kernel_volume, n, positions)`` with the windows of ``x`` (n, C, *in_shape)."""
        dirty, self.dirty = self.dirty, False
        views = self._gather_views(x.shape[0], cols)

        def copy(block):
            channels, phases, copies, idle = block
            if dirty:  # scratch memory, or gradients that scatter left in padding cells
                phases[...] = 0
            self.flat.pack(x[:, channels], phases)
            for target, source in copies:  # one strided copy per phase
                np.copyto(target, source)
            for target in idle:
                target[...] = 0

        run_blocks(copy, views, self.threads)

    def _gather_views(self, n, cols):
        """Per channel block, the views :meth:`gather` copies between for a chunk of ``n`` samples.

        Made once per chunk size and column buffer, so that a chunk's copies cost a few NumPy
        calls: a strided copy per phase (:attr:`FlatPhases.tap_grids`) in
        place of one per kernel offset.
        """
        key = (n, cols.ctypes.data)
        if key not in self._views:
            kernel = self.flat.window.kernel
            views = []
            for channels in self.channel_blocks:
                phases = self.phases[:n, :, channels]
                target = cols[channels]
                grid_target = target.reshape(target.shape[:1] + kernel + target.shape[2:])
                copies = [(grid_target[(slice(None),) + grid.kernel_slices],
                           self.flat.grid_columns(phases, grid)) for grid in self.flat.tap_grids]
                idle = [target[:, slot] for slot in self.idle_slots]
                views.append((channels, phases, copies, idle))
            self._views[key] = views
        return self._views[key]

    def scatter(self, cols, out):
        """The adjoint of :meth:`gather`: add every column onto the cell it was read from, in ``out``."""
        phases = self.phases[:out.shape[0]]
        self.dirty = True

        def add(channels):
            block = phases[:, :, channels]
            begun = set()
            for slot, (_, phase, shift) in zip(self.flat.slots, self.flat.taps):
                target, first = self.flat.tap_range(block, phase, shift, begun)
                column = cols[channels, slot].transpose(1, 0, 2)
                if first:
                    target[...] = column
                else:
                    target += column
            self.flat.unpack(block, out[:, channels])

        run_blocks(add, self.channel_blocks, self.threads)


def sample_bytes(window, channels, out_channels, dtype):
    """Bytes of temporaries per sample of the passes that im2col takes on ``window``."""
    flat = flat_phases(window)
    if flat.identity:  # the weight gradient's per-sample products
        return out_channels * channels * np.dtype(dtype).itemsize
    input_bytes = _InputColumns.bytes_per_sample(flat, channels, out_channels, dtype)
    if gradient_columns_preferred(flat, channels, out_channels):
        return max(input_bytes,
                   _GradientColumns.bytes_per_sample(flat, channels, out_channels, dtype))
    return input_bytes


def chunk_bytes(window, channels, out_channels, dtype, backward, gradient_columns):
    """``(bytes per sample, bytes per chunk)`` of a forward or ``backward`` pass.

    A pass with columns aims at chunks of :data:`CHUNK_BYTES`, or
    :data:`GRADIENT_CHUNK_BYTES` with gradient columns.  The 1x1 path
    (no columns) takes as much of the workspace as it needs: a copy of each
    operand it reshapes into matrices (the reshape copies an operand that is
    not C-contiguous) and the weight gradient's per-sample products.
    """
    flat = flat_phases(window)
    itemsize = np.dtype(dtype).itemsize
    if flat.identity:
        if not backward:
            return channels * window.in_volume * itemsize, None
        return ((channels + out_channels) * window.in_volume
                + out_channels * channels) * itemsize, None
    if backward and gradient_columns:
        return (_GradientColumns.bytes_per_sample(flat, channels, out_channels, dtype),
                GRADIENT_CHUNK_BYTES)
    return _InputColumns.bytes_per_sample(flat, channels, out_channels, dtype), CHUNK_BYTES


class KeptColumns:
    """Input columns that a layer keeps from its forward pass for its weight gradient.

    A layer whose backward pass reads input columns (:func:`gradient_columns_preferred`
    false) would copy the input's windows twice per training step: for the
    forward product and for the weight gradient.  Given one of these, the
    forward pass writes the batch's columns into it instead of scratch
    memory, where they and the pass's own temporaries fit the workspace
    together, and the backward pass reads them, if they are of the same
    input (memory and layout), window and chunks; else it copies them again.

    The buffer stays with the layer between steps (no page faults on its
    first touch each step): at most the workspace, per layer that keeps one.

    One pass at a time uses it: a pass that finds it in use by another thread
    (a layer called from two threads at once) works in scratch memory, as
    without one, so that no pass reads columns another is writing.
    """

    def __init__(self):
        self._buffer = None
        self._held = None  # (input key, window, chunks, per-chunk column arrays)
        self._in_use = threading.Lock()

    def __getstate__(self):  # a copy (copy.deepcopy, pickle) starts empty: columns are scratch
        return {}

    def __setstate__(self, state):
        self.__init__()

    @staticmethod
    def _key(x):
        interface = x.__array_interface__
        return interface["data"][0], x.shape, x.strides, x.dtype.str

    def slots(self, x, flat, plan, channels, out_channels):
        """Per chunk of ``plan``, the column array the forward pass fills, or None (not kept).

        Arrays come with the buffer taken: the pass gives it back with :meth:`hold`.
        """
        if not self._in_use.acquire(blocking=False):
            return None
        self._held = None
        arrays = self._slots(x, flat, plan, channels, out_channels)
        if arrays is None:
            self._in_use.release()
        return arrays

    def _slots(self, x, flat, plan, channels, out_channels):
        if flat.identity or not flat.taps or gradient_columns_preferred(flat, channels,
                                                                        out_channels):
            return None
        per_sample = channels * flat.window.kernel_volume * flat.positions
        largest = max((chunk.stop - chunk.start for chunk in plan.pieces), default=0)
        needed = per_sample * x.shape[0]
        temporaries = largest * _InputColumns.bytes_per_sample(flat, channels, out_channels,
                                                               x.dtype)
        if not needed or (needed * x.itemsize + temporaries) > plan.workspace:
            return None
        if self._buffer is None or self._buffer.dtype != x.dtype or self._buffer.size < needed:
            self._buffer = None  # the old one goes before the new one exists
            self._buffer = np.empty(needed, x.dtype)
        arrays, start = [], 0
        for chunk in plan.pieces:
            n = chunk.stop - chunk.start
            arrays.append(self._buffer[start:start + per_sample * n].reshape(
                channels, flat.window.kernel_volume, n, flat.positions))
            start += per_sample * n
        return arrays

    def hold(self, x, window, pieces, arrays):
        """Give the buffer back, recording that ``arrays`` hold the columns of ``x`` over
        ``window`` in ``pieces`` (None: a pass that failed, nothing held)."""
        self._held = None if arrays is None else (self._key(x), window, pieces, arrays)
        self._in_use.release()

    def columns_of(self, x, window, pieces):
        """The kept per-chunk columns of ``x`` over ``window`` in ``pieces``, or None.

        Columns come with the buffer taken: the pass gives it back with :meth:`done`.
        """
        if not self._in_use.acquire(blocking=False):
            return None
        held = self._held
        if held is None or held[:3] != (self._key(x), window, pieces):
            self._in_use.release()
            return None
        return held[3]

    def done(self):
        """Give the buffer back after reading the columns of :meth:`columns_of`."""
        self._in_use.release()

    def forget(self):
        """Hold no columns (a new forward pass begins); the buffer stays."""
        if self._in_use.acquire(blocking=False):
            self._held = None
            self._in_use.release()

    def release(self):
        """Let the buffer go too (unless a pass is using it)."""
        if self._in_use.acquire(blocking=False):
            self._buffer = self._held = None
            self._in_use.release()


def forward(x, weight, window, groups, plan, columns=None):
    """``y`` (N, K, *out_shape) of ``x`` (N, C, *in_shape) and ``weight`` (K, C/G, *kernel).

    ``columns``: a :class:`KeptColumns` to keep the columns in, for the backward pass.
    """
    n_batch, channels = x.shape[:2]
    out_channels = weight.shape[0]
    w_mat = weight.reshape(groups, out_channels // groups, -1)
    flat = flat_phases(window)
    if flat.identity:  # 1x1, unit stride, no padding: the input is its own column matrix
        y = np.empty((n_batch, out_channels) + window.out_shape, x.dtype)
        for chunk in plan.pieces:
            np.matmul(w_mat, _pointwise(x[chunk], groups), out=_pointwise(y[chunk], groups))
        return y
    y = np.empty((n_batch, out_channels) + window.out_shape, x.dtype)
    if not n_batch:
        return y
    kept = None if columns is None else columns.slots(x, flat, plan, channels, out_channels)
    if kept is None and row_products_preferred(flat, channels, groups, out_channels):
        _forward_rows(x, weight, flat, groups, y, plan)
        return y
    buffers = _buffers(_InputColumns, flat, plan, channels, out_channels, x.dtype)
    filled = None
    try:
        for index, chunk in enumerate(plan.pieces):
            n = chunk.stop - chunk.start
            cols = buffers.columns(n) if kept is None else kept[index]
            buffers.gather(x[chunk], cols)
            product = buffers.matrix(n, groups)
            np.matmul(w_mat, cols.reshape(groups, -1, product.shape[-1]), out=product)
            y[chunk] = np.moveaxis(flat.crop(product.reshape(out_channels, n, -1)), 0, 1)
        filled = kept
    finally:
        if kept is not None:
            columns.hold(x, window, plan.pieces, filled)
    return y


def row_products_preferred(flat, channels, groups, out_channels):
    """Whether the forward pass multiplies rows of columns (:func:`_forward_rows`) instead of
    building all the columns of a batch chunk.

    With 8 to 32 input channels per group, unit strides (one phase) and two
    or more dimensions, the row products are faster (docs/guides/performance.md
    has the figures).  Fewer channels keep the columns (a product over 1-6
    channels is a memory-bound pass), strides (each phase's rows hold one or
    two taps: short products), and small planes (the pass computes every
    cell of a phase, more than a quarter more than the output on an 8x8
    plane with a 3x3 kernel).  The row pass's output, ``K``
    cells per phase cell, takes at most half of the budget of the columns it
    replaces.
    """
    kernel_volume = flat.window.kernel_volume
    return (len(flat.residues) == 1 and flat.window.ndim > 1 and 8 <= channels // groups <= 32
            and 4 * flat.volume <= 5 * flat.positions
            and 2 * out_channels * flat.volume <= channels * kernel_volume * flat.positions)


@functools.lru_cache(maxsize=256)
def _tap_rows(flat):
    """Each phase's taps as rows along the last kernel dimension: ``((grid, leads), ...)``.

    ``grid`` is the phase's :class:`~npconv.window.phases.TapGrid`; a row
    holds its ``m = grid.counts[-1]`` taps along the last kernel dimension,
    flat shifts ``grid.shift + lead_shift + i * grid.steps[-1]``.  ``leads``
    lists the rows as ``(slots, lead_shift)``: ``slots`` are the flat kernel
    indices of the row's taps, so ``weight.reshape(K, C/G, -1)[..., slots]``
    is its weights ``(K, C/G, m)``.  Worked out once per layout (as
    :func:`~npconv.window.phases.flat_phases` is), in tuples.
    """
    rows = []
    kernel = flat.window.kernel
    for grid in flat.tap_grids:
        last = range(kernel[-1])[grid.kernel_slices[-1]]
        leads = []
        for lead in itertools.product(*(range(count) for count in grid.counts[:-1])):
            offset = tuple(sl.start + i * sl.step for sl, i in zip(grid.kernel_slices, lead))
            leads.append((tuple(int(np.ravel_multi_index(offset + (j,), kernel)) for j in last),
                          sum(i * step for i, step in zip(lead, grid.steps))))
        rows.append((grid, tuple(leads)))
    return tuple(rows)


def _forward_rows(x, weight, flat, groups, y, plan):
    """``y`` of a forward pass whose columns are merged along the last kernel dimension only.

    A batch chunk's phases lie end to end, ``(phases, C, n*volume)``, so that
    output cell ``q`` (of the flat axis over the chunk's samples) reads cell
    ``q + t`` of its tap's phase.  Per phase, the taps along the last kernel
    dimension (``m`` of them, shifts ``t0 + i*step``) are copied as *row
    columns* ``(G, m, C/G, cells)``, a cache-sized block of cells at a time;
    every tap row (the leading kernel dimensions, shift ``u``) is then one
    product with a slice of them::

        y[:, block] += W_row (G, K/G, m*C/G) @ row_columns[:, :, u:u + len(block)]

    A third of the copies of full columns (3x3), and products three times as
    deep as one per tap.
    """
    out_channels, group_in = weight.shape[0], weight.shape[1]
    group_out = out_channels // groups
    volume, positions, itemsize = flat.volume, flat.positions, x.dtype.itemsize
    largest = max(chunk.stop - chunk.start for chunk in plan.pieces)
    phase_rows = []  # per phase: (phase, first shift, step, m, [(lead shift, W_row)])
    w_taps = weight.reshape(out_channels, group_in, -1)
    for grid, leads in _tap_rows(flat):
        products = []
        for slots, lead_shift in leads:
            w_row = w_taps[..., slots]  # (K, C/G, m)
            w_row = w_row.reshape(groups, group_out, group_in, -1).transpose(0, 1, 3, 2)
            products.append((lead_shift, np.ascontiguousarray(w_row).reshape(groups, group_out, -1)))
        phase_rows.append((grid.phase, grid.shift, grid.steps[-1], grid.counts[-1], products))
    extent = max(max(shift for shift, _ in products) for *_, products in phase_rows)
    widest = max(count for *_, count, _ in phase_rows)
    # The phases take the place of :class:`_InputColumns`' phases; the output and the blocks
    # take that of its columns and rows.
    merged_rows = widest * x.shape[1]
    per_cell = merged_rows + out_channels
    cells = min(largest * (x.shape[1] * flat.window.kernel_volume * positions
                           + out_channels * (positions - volume)),
                max(COLUMN_BLOCK_BYTES // itemsize,
                    merged_rows * extent + MIN_BLOCK_CELLS * per_cell))
    block = max(1, min((cells - merged_rows * extent) // per_cell, largest * volume))
    phases, full, columns, term = scratch(
        [(len(flat.residues), x.shape[1], largest * volume), (out_channels, largest * volume),
         (merged_rows * (block + extent),), (out_channels, block)], x.dtype, plan.workspace)
    for chunk in plan.pieces:
        n = chunk.stop - chunk.start
        length = (n - 1) * volume + positions  # the last sample's overhang is never read
        packed = phases[:, :, :n * volume]
        packed[...] = 0
        flat.pack(x[chunk], packed.reshape(packed.shape[:2] + (n, volume)).transpose(2, 0, 1, 3))
        out = full[:, :n * volume].reshape(groups, group_out, -1)
        for start in range(0, length, block):
            stop = min(length, start + block)
            target = out[..., start:stop]
            begun = False
            for phase, shift, step, count, products in phase_rows:
                source = packed[phase]
                width = min(stop - start + extent, source.shape[-1] - start - shift
                            - (count - 1) * step)
                merged = columns[:groups * count * group_in * width].reshape(
                    groups, count, group_in, width)
                np.copyto(merged, np.lib.stride_tricks.as_strided(
                    source[:, start + shift:], shape=merged.shape,
                    strides=(group_in * source.strides[0], step * itemsize, source.strides[0],
                             itemsize), writeable=False))
                merged = merged.reshape(groups, count * group_in, width)
                for lead_shift, w_row in products:
                    piece = merged[..., lead_shift:lead_shift + stop - start]
                    if begun:
                        product = term[:, :stop - start].reshape(groups, group_out, -1)
                        np.matmul(w_row, piece, out=product)
                        target += product
                    else:
                        np.matmul(w_row, piece, out=target)
                        begun = True
        y[chunk] = np.moveaxis(flat.crop(full[:, :n * volume].reshape(
            out_channels, n, volume)[:, :, :positions]), 0, 1)


def backward(grad_output, weight, window, groups, channels, x, grad_input, grad_weight, plan,
             columns=None):
    """Add the gradients into ``grad_input`` (needs ``weight``) and/or ``grad_weight`` (needs ``x``).

    ``plan.gradient_columns`` picks the backward pass (:func:`gradient_columns_preferred`).
    ``columns``: the :class:`KeptColumns` of the forward pass, if any.
    """
    flat = flat_phases(window)
    if flat.identity:
        _backward_pointwise(grad_output, weight, groups, x, grad_input, grad_weight, plan)
    elif plan.gradient_columns:
        _backward_gradient_columns(grad_output, weight, flat, groups, channels, x, grad_input,
                                   grad_weight, plan)
    else:
        kept = None if columns is None or x is None else columns.columns_of(x, window,
                                                                             plan.pieces)
        try:
            _backward_input_columns(grad_output, weight, flat, groups, channels, x, grad_input,
                                    grad_weight, plan, kept)
        finally:
            if kept is not None:
                columns.done()


def gradient_columns_preferred(flat, channels, out_channels):
    """Whether the gradient columns are the cheaper backward pass.

    Input columns copy ``C * positions`` cells per tap twice (the gather,
    and the slice-adds that read and write); gradient columns copy
    ``K * volume`` once.
    """
    return bool(flat.taps) and out_channels * flat.volume <= 2 * channels * flat.positions


def _backward_input_columns(grad_output, weight, flat, groups, channels, x, grad_input,
                            grad_weight, plan, kept=None):
    out_channels = grad_output.shape[1]
    buffers = _buffers(_InputColumns, flat, plan, channels, out_channels, grad_output.dtype)
    if weight is not None:
        w_mat_t = weight.reshape(groups, out_channels // groups, -1).transpose(0, 2, 1)
    if grad_weight is not None:
        gw_mat = grad_weight.reshape(groups, out_channels // groups, -1)
    for index, chunk in enumerate(plan.pieces):
        n = chunk.stop - chunk.start
        gy_mat = buffers.matrix(n, groups)
        _spread_gradient(flat, grad_output[chunk], gy_mat.reshape(out_channels, n, -1))
        cols = buffers.columns(n)
        cols_mat = cols.reshape(groups, -1, gy_mat.shape[-1])
        if grad_weight is not None:
            if kept is None:
                buffers.gather(x[chunk], cols)
                gw_mat += inner_products(gy_mat, cols_mat)
            else:  # the forward's columns
                gw_mat += inner_products(gy_mat, kept[index].reshape(cols_mat.shape))
        if grad_input is not None:
            np.matmul(w_mat_t, gy_mat, out=cols_mat)
            buffers.scatter(cols, grad_input[chunk])


def _backward_pointwise(grad_output, weight, groups, x, grad_input, grad_weight, plan):
    """1x1, unit stride, no padding: both gradients are batched matrix products."""
    for chunk in plan.pieces:
        gy = _pointwise(grad_output[chunk], groups)
        if grad_input is not None:
            w_mat = weight.reshape(groups, gy.shape[2], -1)
            np.matmul(w_mat.transpose(0, 2, 1), gy, out=_pointwise(grad_input[chunk], groups))
        if grad_weight is not None:
            products = inner_products(gy, _pointwise(x[chunk], groups))
            grad_weight += products.sum(axis=0).reshape(grad_weight.shape)


# --- gradient columns ----------------------------------------------------------

class _GradientColumns:
    """Buffers of the gradient-columns backward pass, allocated once per call for the largest chunk.

    In this pass a chunk's samples lie end to end: ``rows`` holds the output
    gradient as ``(K, front + n*volume)``, each sample's ``positions`` cells
    followed by zeros up to ``volume``, after ``front`` leading zeros (the
    largest shift); ``x_phases`` and ``grad_phases`` hold the input and its
    gradient as ``(phases, C, n*volume)``.  Then a tap with flat shift ``t``
    pairs phase cell ``q`` with output gradient cell ``q - t`` of the same
    flat axis: a cell ``q - t`` that falls before its sample's start lands in
    the previous sample's zero tail (``t <= volume - positions``), or in the
    leading zeros.  ``cols`` holds a block of a phase's gradient columns
    (:meth:`gather`); ``term``, where rows of taps are merged
    (:meth:`row_groups`), one product's block of the input gradient.
    """

    def __init__(self, flat, largest, dtype, channels, out_channels, resources):
        self.threads = resources.threads
        self.flat = flat
        self.channels, self.out_channels = channels, out_channels
        self.front = max(shift for _, _, shift in flat.taps)
        self.groups = self.row_groups(flat)
        widest = max(len(shifts) for _, shifts, _, _ in self.groups)
        extent = max(extent for _, _, extent, _ in self.groups)
        merged = any(len(rows) > 1 for *_, rows in self.groups)
        length = largest * flat.volume
        self.block = max(1, min(length - self.front, max(
            MIN_BLOCK_CELLS,
            COLUMN_BLOCK_BYTES // (out_channels * widest * dtype.itemsize) - extent)))
        phases = (len(flat.residues), channels, length)
        self.rows, self.cols, self.term, self.x_phases, self.grad_phases = scratch(
            [(out_channels, self.front + length), (out_channels * widest * (self.block + extent),),
             (channels, self.block if merged else 0), phases, phases], dtype,
            resources.workspace)
        self.rows[:, :self.front] = 0
        self.phase_blocks = channel_blocks(channels, 2 * length * len(flat.residues)
                                           * dtype.itemsize)

    @staticmethod
    def row_groups(flat):
        """Per phase, its taps as ``(phase, shifts, extent, rows)``: the columns of a block are
        ``(K, len(shifts), block + extent)`` (:meth:`gather`), and each row ``(slots,
        lead_shift)`` reads the slice ``extent - lead_shift`` of them, the taps of flat kernel
        indices ``slots``.

        A phase with at most :data:`MERGED_ROWS_ABOVE` rows of taps along the
        last kernel dimension is one row of all its taps; above that, its rows
        are merged: the columns hold the taps of one row, and the others are
        slices of them (:func:`_tap_rows`).
        """
        groups = []
        for grid, rows in _tap_rows(flat):
            row_shifts = [grid.shift + i * grid.steps[-1] for i in range(grid.counts[-1])]
            if len(rows) > MERGED_ROWS_ABOVE:
                groups.append((grid.phase, row_shifts,
                               max(lead_shift for _, lead_shift in rows), rows))
            else:
                groups.append((grid.phase, [lead_shift + shift for _, lead_shift in rows
                                            for shift in row_shifts], 0,
                               [([slot for slots, _ in rows for slot in slots], 0)]))
        return groups

    @classmethod
    def bytes_per_sample(cls, flat, channels, out_channels, dtype):
        """An upper bound.  With ``front < volume`` and a block of at most ``n*volume -
        front`` cells, the output gradient's rows and a block of columns of ``widest`` taps
        take at most ``K * (1 + widest)`` cells per sample and ``volume``; merged rows reach up
        to ``front`` cells further, ``K * (2 + widest)``, and add a product's block, ``C``."""
        groups = cls.row_groups(flat)
        widest = max(len(shifts) for _, shifts, _, _ in groups)
        merged = any(len(rows) > 1 for *_, rows in groups)
        cells = (out_channels * (1 + widest + merged) + channels * merged
                 + 2 * channels * len(flat.residues)) * flat.volume
        return cells * dtype.itemsize

    def spread(self, grad_output):
        """``grad_output`` (n, K, *out_shape) into the rows: a ``(K, n*volume)`` view."""
        n, volume = grad_output.shape[0], self.flat.volume
        rows = self.rows[:, self.front:self.front + n * volume]
        shaped = rows.reshape(self.out_channels, n, volume)
        shaped[:, :, self.flat.positions:] = 0
        self.flat.spread(np.moveaxis(grad_output, 1, 0), shaped[:, :, :self.flat.positions])
        return rows

    def phases_of(self, buffer, n):
        """``buffer`` for a chunk of ``n`` samples, as ``(phases, C, n*volume)``."""
        return buffer[:, :, :n * self.flat.volume]

    def pack(self, x, x_phases):
        """``x`` (n, C, *in_shape) into ``x_phases``, with zero padding cells."""
        view = self._sample_view(x_phases, x.shape[0])

        def copy(channels):
            x_phases[:, channels] = 0
            self.flat.pack(x[:, channels], view[:, :, channels])

        run_blocks(copy, self.phase_blocks, self.threads)

    def unpack(self, grad_phases, out):
        """The real cells of ``grad_phases`` into ``out`` (n, C, *in_shape)."""
        view = self._sample_view(grad_phases, out.shape[0])
        run_blocks(lambda channels: self.flat.unpack(view[:, :, channels], out[:, channels]),
                   self.phase_blocks, self.threads)

    def _sample_view(self, phases, n):
        """``(phases, C, n*volume)`` as the flat-phase layout ``(n, phases, C, volume)``."""
        return phases.reshape(phases.shape[:2] + (n, self.flat.volume)).transpose(2, 0, 1, 3)

    def gather(self, shifts, extent, start, stop):
        """The gradient columns ``(K, len(shifts), stop - start + extent)`` of phase cells
        ``start:stop``.

        Cell ``(k, i, j)`` is output gradient cell ``start - extent - shifts[i] + j``
        (zero where there is none): with ``j = extent - u + q``, the gradient
        that phase cell ``start + q`` receives through the tap of flat shift
        ``shifts[i] + u``.  So the taps of a row with lead shift ``u`` are the
        slice ``[..., extent - u:][..., :stop - start]``.
        """
        shape = (self.out_channels, len(shifts), stop - start + extent)
        cols = self.cols[:math.prod(shape)].reshape(shape)
        base = self.front + start - extent
        for tap, shift in enumerate(shifts):
            cols[:, tap] = self.rows[:, base - shift:base - shift + shape[-1]]
        return cols


def _backward_gradient_columns(grad_output, weight, flat, groups, channels, x, grad_input,
                               grad_weight, plan):
    """Both gradients from the chunk's samples laid end to end (see :class:`_GradientColumns`).

    Per phase, a block of cells at a time, the gradient columns are built
    once, while they are in the CPU cache, and both products read them: for
    each row of taps (:meth:`_GradientColumns.row_groups`; lead shift ``u``,
    flat kernel indices ``slots``, weights ``W_u``), a slice of them::

        grad_phase[:, block] += W_u^T (C/G, K/G * taps) @ columns_u (K/G * taps, block)
        grad_W_u (K/G * taps, C/G) += columns_u @ phase[:, block]^T (block, C/G)
    """
    out_channels = grad_output.shape[1]
    buffers = _buffers(_GradientColumns, flat, plan, channels, out_channels, grad_output.dtype)
    group_out, group_in = out_channels // groups, channels // groups
    row_groups = buffers.groups
    if grad_input is not None:  # per row, (G, C/G, K/G * taps)
        w_taps = weight.reshape(groups, group_out, group_in, -1)
        w_rows = [[np.ascontiguousarray(w_taps[..., slots].transpose(0, 2, 1, 3)).reshape(
            groups, group_in, -1) for slots, _ in rows] for *_, rows in row_groups]
    if grad_weight is not None:  # per row, (G, K/G * taps, C/G)
        sums = [[np.zeros((groups, group_out * len(slots), group_in), grad_weight.dtype)
                 for slots, _ in rows] for *_, rows in row_groups]
    for chunk in plan.pieces:
        n = chunk.stop - chunk.start
        length = buffers.spread(grad_output[chunk]).shape[-1]
        if grad_weight is not None:
            x_phases = buffers.phases_of(buffers.x_phases, n)
            buffers.pack(x[chunk], x_phases)
        if grad_input is not None:
            grad_phases = buffers.phases_of(buffers.grad_phases, n)
        for number, (phase, shifts, extent, rows) in enumerate(row_groups):
            for start in range(0, length, buffers.block):
                stop = min(length, start + buffers.block)
                cols = buffers.gather(shifts, extent, start, stop).reshape(
                    groups, group_out * len(shifts), -1)
                if grad_weight is not None:
                    x_block = x_phases[phase].reshape(groups, group_in, length)[..., start:stop]
                if grad_input is not None:
                    out = grad_phases[phase].reshape(groups, group_in, length)[..., start:stop]
                    if len(rows) > 1:
                        term = buffers.term[:, :stop - start].reshape(out.shape)
                for row, (_, lead_shift) in enumerate(rows):
                    columns = cols[..., extent - lead_shift:][..., :stop - start]
                    if grad_weight is not None:
                        sums[number][row] += inner_products(columns, x_block)
                    if grad_input is not None:  # the first row writes the block, the others add
                        np.matmul(w_rows[number][row], columns, out=term if row else out)
                        if row:
                            out += term
        if grad_input is not None:
            buffers.unpack(grad_phases, grad_input[chunk])
    if grad_weight is not None:
        gw_taps = grad_weight.reshape(groups, group_out, group_in, -1)
        for (*_, rows), totals in zip(row_groups, sums):
            for (slots, _), total in zip(rows, totals):
                gw_taps[..., slots] += total.reshape(
                    groups, group_out, len(slots), group_in).transpose(0, 1, 3, 2)
