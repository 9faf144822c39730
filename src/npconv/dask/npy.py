"""Volumes in ``.npy`` files, read and written chunk by chunk (any scheduler, any worker).

``dask.array.from_array`` copies a ``numpy.memmap`` into memory when the graph
is built (it copies whatever has a ``copy`` method), and a memmap handed to
``dask.array.store`` is pickled whole to a distributed worker.  These two
functions instead open the file in every task and touch only that task's
chunk, so that a volume larger than memory stays on disk; and npconv's
operators read a block's halo straight from the file too, so that no chunk
waits in memory for its neighbours' tasks.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["load_npy", "save_npy"]

#: The name of every array :func:`load_npy` makes starts so: npconv's tasks that read one of
#: them read their cells, halos included, from the file themselves.
LOAD_PREFIX = "npconv-load-npy-"


def load_npy(path, chunks="auto"):
    """A lazy Dask array of the ``.npy`` file at ``path``; each task reads its own chunk.

    Parameters
    ----------
    path : str or os.PathLike
    chunks : Dask chunks (``"auto"``, a tuple of sizes, a tuple of tuples)

    Examples
    --------
    >>> import numpy as np, npconv.dask, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "v.npy")
    >>> np.save(path, np.arange(12.0).reshape(3, 4))
    >>> npconv.dask.load_npy(path, chunks=(2, 2)).sum().compute()
    np.float64(66.0)
    """
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    path = str(path)
    header = np.load(path, mmap_mode="r")
    shape, dtype = header.shape, header.dtype
    del header
    chunks = da.core.normalize_chunks(chunks, shape, dtype=dtype)
    name = LOAD_PREFIX + tokenize(path, chunks)
    edges = [np.cumsum((0,) + c) for c in chunks]
    layer = {}
    for index in itertools.product(*(range(len(c)) for c in chunks)):
        cells = tuple(slice(int(e[i]), int(e[i + 1])) for e, i in zip(edges, index))
        layer[(name,) + index] = (read_cells, path, cells)
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[])
    return da.Array(graph, name, chunks, meta=np.empty((0,) * len(shape), dtype))


def read_cells(path, cells):
    """A copy of the cells ``cells`` (a tuple of slices) of the ``.npy`` file at ``path``."""
    return np.array(np.load(path, mmap_mode="r")[cells])


def save_npy(path, array):
    """Compute the Dask array ``array`` chunk by chunk into a new ``.npy`` file at ``path``.

    Each task opens the file and writes its own chunk; no chunk is sent back.
    """
    import dask.array as da

    path = str(path)
    np.lib.format.open_memmap(path, "w+", array.dtype, array.shape).flush()
    written = da.map_blocks(_write, array, path, chunks=tuple((1,) * len(c) for c in array.chunks),
                            dtype=np.int64, meta=np.empty((0,) * array.ndim, np.int64))
    written.sum().compute()


def _write(block, path, block_info=None):
    cells = tuple(slice(a, b) for a, b in block_info[0]["array-location"])
    target = np.load(path, mmap_mode="r+")
    target[cells] = block  # a shared mapping: the page cache holds it for every reader
    del target
    return np.ones((1,) * block.ndim, np.int64)
