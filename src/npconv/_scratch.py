"""Scratch memory that outlives one call: the engines' large temporaries, reused.

A fresh buffer of tens of MiB costs a page fault on the first touch of every
4 KiB page, a third of the time of filling it (measured: filling 75 MiB
took 10 ms in a reused buffer, 14 ms in a fresh one).  The engines therefore
carve their column and phase buffers from one buffer per thread that is
kept between calls, as long as it fits the workspace budget.  It is
released with :func:`npconv.release_scratch`; what is kept never exceeds
the workspace budget in force (a call under a smaller budget drops a larger
buffer).
"""

from __future__ import annotations

import math
import threading

import numpy as np

from . import config

_ALIGN = 64
_local = threading.local()


def scratch(shapes, dtype):
    """Uninitialised arrays of the given shapes and ``dtype``, carved from this thread's scratch buffer."""
    dtype = np.dtype(dtype)
    sizes = [-(-math.prod(shape) * dtype.itemsize // _ALIGN) * _ALIGN for shape in shapes]
    total = sum(sizes)
    budget = config.get_workspace()
    buffer = getattr(_local, "buffer", None)
    if buffer is None or buffer.nbytes < total + _ALIGN or buffer.nbytes > budget:
        _local.buffer = None  # let the old buffer go before the new one exists
        buffer = np.empty(total + _ALIGN, np.uint8)
        if buffer.nbytes <= budget:
            _local.buffer = buffer
    start = -buffer.ctypes.data % _ALIGN
    arrays = []
    for shape, size in zip(shapes, sizes):
        count = math.prod(shape)
        arrays.append(buffer[start:start + count * dtype.itemsize].view(dtype).reshape(shape))
        start += size
    return arrays


def release_scratch():
    """Free the scratch memory this thread keeps between calls (it is reallocated when needed)."""
    _local.buffer = None


def kept_bytes():
    """Bytes of scratch memory this thread keeps between calls."""
    buffer = getattr(_local, "buffer", None)
    return 0 if buffer is None else buffer.nbytes
