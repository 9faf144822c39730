"""Operators that treat each ``(n, c)`` plane alone, on Dask arrays cut along the batch and channels.

Adaptive pooling (whose windows are not one stride apart), power-average
pooling and unpooling run npconv's NumPy function on every block of whole
planes.  The NumPy function first runs on an empty batch, which checks the
arguments (with its messages) and gives the result's shape and dtype
without computing anything.
"""

from __future__ import annotations

import numpy as np

from . import chunks as ch
from .arrays import is_dask, meta


class PlaneTask:
    """``function(*blocks, **keywords)`` under the caller's settings; the ``pick``-th result if it gives several."""

    def __init__(self, function, keywords, pick=None):
        self.function = function
        self.keywords = keywords
        self.pick = pick
        self.settings = ch.Settings.current()

    def __call__(self, *blocks):
        with self.settings.applied():
            result = self.function(*blocks, **self.keywords)
        return result if self.pick is None else result[self.pick]


def _probe(array):
    """An empty batch of ``array``'s planes: no memory, no work."""
    return np.broadcast_to(np.zeros((), array.dtype), (0,) + tuple(array.shape[1:]))


def planewise(op, ndim, function, planar, keywords, outputs=1):
    """``function(**planar, **keywords)`` block by block over whole planes; lazy results.

    ``planar`` maps argument names to the ``(N, C, *spatial)`` arrays (or
    unbatched ``(C, *spatial)``) that are cut into the same batch and
    channel chunks, the first one's (a NumPy array among them gets them); a
    Dask array cut along a spatial dimension is refused with the way to
    rechunk it.  ``outputs`` is how many arrays ``function`` returns.
    """
    import dask.array as da

    names = list(planar)
    arrays = {name: value if is_dask(value) else da.from_array(np.asarray(value),
                                                                chunks=np.shape(value))
              for name, value in planar.items()}
    unbatched = arrays[names[0]].ndim == ndim + 1
    batched = {name: array[np.newaxis] if unbatched and array.ndim == ndim + 1 else array
               for name, array in arrays.items()}
    probes = {name: _probe(array) for name, array in batched.items()}
    results = function(**probes, **keywords)
    results = (results,) if outputs == 1 else tuple(results)
    lead = batched[names[0]]
    for name, array in batched.items():
        for axis in range(2, array.ndim):
            if len(array.chunks[axis]) > 1:
                raise ValueError(
                    f"{op}(): on Dask arrays `{name}` may be chunked along the batch and the "
                    f"channels only (each plane is pooled whole), got chunks {array.chunks[axis]} "
                    f"along dimension {axis - (1 if unbatched else 0)}; rechunk it with "
                    f"`{name}.rechunk({{{axis - (1 if unbatched else 0)}: -1}})`")
        if array.chunks[:2] != lead.chunks[:2]:
            batched[name] = array.rechunk({0: lead.chunks[0], 1: lead.chunks[1]})
    lazy_results = []
    for pick, result in enumerate(results):
        chunks = lead.chunks[:2] + tuple((n,) for n in result.shape[2:])
        task = PlaneTask(_call_with(function, names), keywords,
                         None if outputs == 1 else pick)
        array = da.map_blocks(task, *(batched[name] for name in names), chunks=chunks,
                              dtype=result.dtype, meta=meta(result.ndim, result.dtype))
        lazy_results.append(array[0] if unbatched else array)
    return lazy_results[0] if outputs == 1 else tuple(lazy_results)


class _call_with:
    """``function`` called with its planar arguments by name, from positional blocks."""

    def __init__(self, function, names):
        self.function = function
        self.names = names

    def __call__(self, *blocks, **keywords):
        return self.function(**dict(zip(self.names, blocks)), **keywords)
