"""Windows over chunked arrays: which outputs a chunk owns, the halo it reads, the task that runs it.

Along each spatial dimension, a windowed operator relates input cells to
output cells by the global :class:`~npconv.window.geometry.Window`: output
``o`` reads input cells ``[o*stride - pad_lo, o*stride - pad_lo + span)``
with ``span = dilation * (kernel - 1) + 1``.  Chunks map to chunks by two
rules, written once here:

* **forward** (:func:`owned_outputs`): input chunk ``[c_j, c_{j+1})`` owns the
  outputs ``o`` with ``o * stride`` in it, so that output chunks are the
  input chunks divided by the stride (and, at stride 1, equal to them where
  the padding keeps the size, as ``'same'``).  Its block reads those
  windows' cells, :func:`read_cells`: the chunk with a halo of ``pad_lo``
  cells before it and about ``span - 1 - pad_lo`` after, as
  ``map_overlap``'s depth.  Output chunks follow from input chunks,
  whatever the stride: nothing is rechunked.
* **adjoint** (:func:`touching_outputs`): input chunk ``[c_j, c_{j+1})`` of a
  gradient collects every window that reads a cell in it, a halo of about
  ``(span - 1) / stride`` outputs before the chunk's own.

:func:`blockwise` makes one task per block that gathers the block's cells
from the chunks they lie in (asymmetric halos, different for every block,
across several chunks if a halo is longer than a neighbouring chunk, ragged
chunks included), as ``dask.array.map_overlap`` shares boundaries for a
fixed depth, and runs a :class:`Task` on them: npconv's own operator over
the part of the window that the block holds (``Window.band`` in every
dimension), with one thread and the caller's settings.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass

import numpy as np

from .. import config

#: At most this many partial weight gradients are added by one task of the tree reduction.
SPLIT_EVERY = 8


# --- one dimension ---------------------------------------------------------------

def _ceil_div(a, b):
    return -(-a // b)


def bounds(chunks):
    """Chunk sizes to boundaries: ``(2, 3)`` gives ``(0, 2, 5)``."""
    return tuple(int(b) for b in np.cumsum((0,) + tuple(chunks)))


def ranges(chunks):
    """Chunk sizes to ``(start, stop)`` pairs."""
    edges = bounds(chunks)
    return list(zip(edges[:-1], edges[1:]))


def owned_outputs(window, dim, chunks):
    """``(start, stop)`` of the outputs each input chunk along ``dim`` owns (the forward rule)."""
    stride, out = window.stride[dim], window.out_shape[dim]
    edges = bounds(chunks)
    inner = [min(out, _ceil_div(edge, stride)) for edge in edges[1:-1]]
    owned = (0, *inner, out)
    return list(zip(owned[:-1], owned[1:]))


def output_chunks(window, dim, chunks):
    """Sizes of the output chunks that input chunks of sizes ``chunks`` along ``dim`` give."""
    return tuple(stop - start for start, stop in owned_outputs(window, dim, chunks))


def input_chunks(window, dim, chunks):
    """Input chunks along ``dim`` that own the output chunks ``chunks`` (where the padding allows).

    The inverse of :func:`output_chunks`, for a transposed convolution's
    output (and an input gradient) chunked as its input: chunk ``j``
    starts at ``stride`` times its first output, clipped to the input.
    """
    stride, size = window.stride[dim], window.in_shape[dim]
    edges = bounds(chunks)
    inner = [min(size, edge * stride) for edge in edges[1:-1]]
    return tuple(b - a for a, b in zip((0, *inner), (*inner, size)))


def touching_outputs(window, dim, start, stop):
    """``(p, q)``: the outputs whose windows span a cell of ``[start, stop)`` along ``dim`` (the adjoint rule)."""
    stride, lo, out = window.stride[dim], window.padding[dim][0], window.out_shape[dim]
    span = window.dilation[dim] * (window.kernel[dim] - 1) + 1
    first = max(0, (start + lo - span) // stride + 1)
    last = min(out, _ceil_div(stop + lo, stride))
    return (first, last) if start < stop and first < last else (first, first)


def read_cells(window, dim, outputs):
    """``(start, stop)``: the input cells that the windows ``outputs`` (a pair) read along ``dim``."""
    first, last = outputs
    if first >= last:
        start = min(window.in_shape[dim], max(0, first * window.stride[dim]
                                                - window.padding[dim][0]))
        return start, start
    in_slice, _ = window.band(dim, slice(first, last))
    return in_slice.start, in_slice.stop


def part(window, outputs):
    """``(in_slices, local window)``: the windows at ``outputs`` (a pair per dimension) over the cells they read."""
    in_slices, local = [], window
    for dim, (first, last) in enumerate(outputs):
        in_slice, local = local.band(dim, slice(first, last))
        in_slices.append(in_slice)
    return tuple(in_slices), local


def padding_only_windows(window):
    """Whether some window reads padding cells only (dilation larger than the input can make one)."""
    for dim in range(window.ndim):
        covered = np.zeros(window.out_shape[dim], bool)
        for _, _, out_slices in window.offsets:
            covered[out_slices[dim]] = True
        if not covered.all():
            return True
    return False


# --- halos --------------------------------------------------------------------------

def _pieces(array, axis_ranges):
    """Per axis, per block: ``(chunk index, cells in the chunk, cells in the block)`` of each piece.

    ``axis_ranges`` maps an axis to one ``(u, v)`` pair per block, in global
    coordinates (a block's chunk and its halo); an axis it leaves out keeps
    its chunks.  An empty range gets one cell, which its block does not read
    (:func:`fit`).
    """
    per_axis = []
    for axis, chunks in enumerate(array.chunks):
        edges = bounds(chunks)
        if axis not in axis_ranges:
            per_axis.append([[(j, slice(0, n), slice(0, n))] for j, n in enumerate(chunks)])
            continue
        size, blocks = array.shape[axis], []
        for u, v in axis_ranges[axis]:
            u, v = (int(u), int(v)) if u < v else (min(int(u), size - 1), min(int(u), size - 1) + 1)
            blocks.append([(j, slice(max(u, a) - a, min(v, b) - a), slice(max(u, a) - u, min(v, b) - u))
                           for j, (a, b) in enumerate(zip(edges[:-1], edges[1:])) if a < v and u < b])
        per_axis.append(blocks)
    return per_axis


def blockwise(task, out_chunks, sources, small, dtype):
    """A Dask array of ``out_chunks`` whose block ``index`` is ``task(*cells, *small, block_id=index)``.

    ``sources`` are ``(array, axis_ranges)`` pairs (see :func:`_pieces`), one
    block per output block along every axis: a block's cells are the
    array's cells in those ranges, its chunk and its halo, copied from the
    chunks they lie in (a view of a chunk where they lie in one), across as
    many chunks as a halo reaches, with a depth of its own for each block and
    side.  ``map_overlap`` makes each block with its halo a task's result of
    its own; here the copy is made inside the task that reads it, so that
    only the chunks, never a second copy of the array with its halos, wait
    in memory (a measured difference of 6 against 38 MiB, for a 32 MiB
    volume).  ``small`` are one-chunk Dask arrays (a weight, a bias) given
    to every task.
    """
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    chunks_of = {array.name: array.chunks for array, _ in sources}
    name = f"npconv-{task.compute.__name__.strip('_')}-" + tokenize(
        task.window, task.outputs, task.regions, sorted(task.options.items()),
        [(array.name, axis_ranges) for array, axis_ranges in sources],
        [array.name for array in small], out_chunks)
    pieces = [(array.name, npy_path(array), _pieces(array, axis_ranges))
              for array, axis_ranges in sources]
    small_keys = [(array.name,) + (0,) * array.ndim for array in small]
    layer = {}
    for index in itertools.product(*(range(len(c)) for c in out_chunks)):
        placements, keys = [], []
        for source, path, per_axis in pieces:
            parts = list(itertools.product(*(per_axis[axis][j] for axis, j in enumerate(index))))
            if path is not None:  # the task reads its cells from the file: no chunk waits for it
                placements.append(path)
                keys.append([_global_cells(per_axis, index, chunks_of[source])])
                continue
            placements.append([(tuple(p[1] for p in part), tuple(p[2] for p in part))
                               for part in parts])
            keys.append([(source,) + tuple(p[0] for p in part) for part in parts])
        layer[(name,) + index] = (_run_block, task, index, placements, keys, small_keys)
    graph = HighLevelGraph.from_collections(
        name, layer, dependencies=[array for array, _ in sources] + list(small))
    return da.Array(graph, name, out_chunks, meta=np.empty((0,) * len(out_chunks), dtype))


def _run_block(task, index, placements, chunk_lists, small):
    cells = [_read_cells(places, chunks[0]) if isinstance(places, str) else
             _assemble(places, chunks) for places, chunks in zip(placements, chunk_lists)]
    return task(*cells, *small, block_id=index)


def npy_path(array):
    """The file of an array made by :func:`npconv.dask.load_npy` (unsliced), else None."""
    from .npy import LOAD_PREFIX, read_cells

    if not array.name.startswith(LOAD_PREFIX):
        return None
    task = next(iter(array.dask.layers[array.name].values()))
    return task[1] if isinstance(task, tuple) and task[0] is read_cells else None


def _global_cells(per_axis, index, chunks):
    """The cells of block ``index`` in the whole array (``_pieces``' first and last pieces)."""
    cells = []
    for axis, j in enumerate(index):
        block = per_axis[axis][j]
        start = sum(chunks[axis][:block[0][0]]) + block[0][1].start
        stop = sum(chunks[axis][:block[-1][0]]) + block[-1][1].stop
        cells.append((start, stop))
    return tuple(cells)


def _read_cells(path, cells):
    from .npy import read_cells

    return read_cells(path, tuple(slice(a, b) for a, b in cells))


def _assemble(placements, chunks):
    """A block made of ``chunk[source]`` copied to ``[target]`` for each chunk; a view for one."""
    if len(chunks) == 1:
        return chunks[0][placements[0][0]]
    shape = tuple(max(t.stop for t in targets) for targets in zip(*(p[1] for p in placements)))
    out = np.empty(shape, chunks[0].dtype)
    for (source, target), chunk in zip(placements, chunks):
        out[target] = chunk[source]
    return out


def fit(array, in_slices):
    """The first cells of a block's ``array`` (N, C, ...) that the ranges ``in_slices`` hold.

    A block's range is exact unless it is empty (:func:`_pieces` gives it one cell).
    """
    return array[(slice(None), slice(None)) + tuple(slice(0, s.stop - s.start) for s in in_slices)]


# --- settings and tasks ---------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """The caller's settings, carried into every task: workspace bytes and convolution algorithm."""

    workspace: int
    algorithm: str

    @classmethod
    def current(cls):
        return cls(config.get_workspace(), config.get_algorithm())

    @contextlib.contextmanager
    def applied(self):
        """The settings, with one thread: npconv's loops and BLAS's (:func:`npconv.threads`)."""
        with config.workspace(self.workspace), config.conv_algorithm(self.algorithm), \
                config.threads(1):
            yield


class Task:
    """A block's computation: ``compute(task, block, *arrays)`` under the caller's settings.

    ``block`` is :class:`Block`: where the task's output block lies
    (``block_id``, from dask) and, per spatial dimension, the outputs it
    covers.  Instances are small (the windows and ranges, no data) and
    pickle, so that distributed workers can run them.
    """

    def __init__(self, compute, window, outputs, regions=None, **options):
        self.compute = compute
        self.window = window
        self.outputs = outputs      # per spatial dim: the (p, q) outputs of each block
        self.regions = regions      # per spatial dim: the (start, stop) input cells of each block
        self.options = options
        self.settings = Settings.current()

    def __call__(self, *arrays, block_id):
        spatial = block_id[2:2 + self.window.ndim]
        block = Block(
            tuple(self.outputs[dim][j] for dim, j in enumerate(spatial)),
            None if self.regions is None else
            tuple(self.regions[dim][j] for dim, j in enumerate(spatial)),
        )
        with self.settings.applied():
            return self.compute(self, block, *arrays)


class PerBatch:
    """``function(block, *args)`` under the caller's settings: a computation on a batch chunk, no halo."""

    def __init__(self, function, *args):
        self.function = function
        self.args = args
        self.settings = Settings.current()

    def __call__(self, block):
        with self.settings.applied():
            return self.function(block, *self.args)


@dataclass(frozen=True)
class Block:
    """Per spatial dimension, the ``(p, q)`` outputs of a block and (adjoint) its input ``(start, stop)``."""

    outputs: tuple
    region: tuple = None

    @property
    def empty(self):
        return any(p >= q for p, q in self.outputs)

    def out_slices(self):
        return tuple(slice(p, q) for p, q in self.outputs)


def crop_into(values, in_slices, region, shape_lead, dtype):
    """``values`` (over the cells ``in_slices``) placed in a zero block of ``region``.

    The cells of ``region`` that ``in_slices`` does not cover are read by no
    window of the block's outputs: their gradient is 0.
    """
    shape = shape_lead + tuple(stop - start for start, stop in region)
    if tuple((s.start, s.stop) for s in in_slices) == tuple(region):
        return values
    out = np.zeros(shape, dtype)
    target, source = [], []
    for in_slice, (start, stop) in zip(in_slices, region):
        low, high = max(start, in_slice.start), min(stop, in_slice.stop)
        if low >= high:
            return out
        target.append(slice(low - start, high - start))
        source.append(slice(low - in_slice.start, high - in_slice.start))
    out[(slice(None), slice(None)) + tuple(target)] = values[(slice(None), slice(None))
                                                              + tuple(source)]
    return out
