"""Scratch memory that outlives one call: the engines' large temporaries, reused.

A fresh buffer of tens of MiB costs a page fault on the first touch of every
4 KiB page, a third of the time of filling it.  The engines therefore carve
their column and phase buffers from one buffer per thread that is kept
between calls.

What is kept is bounded: all the buffers kept by all threads together never
exceed the workspace budget in force when a buffer is taken (a call under a
smaller budget drops its thread's larger buffer, and a thread whose buffer
would not fit beside the others' uses a fresh one that is not kept).  The
buffers of threads that have ended are dropped.  :func:`release_scratch`
frees every thread's buffer; a thread still using its buffer keeps it alive
until its call returns.  A forked child starts with none.
"""

from __future__ import annotations

import math
import os
import threading

import numpy as np


_ALIGN = 64
_kept = {}  # thread ident -> buffer
_lock = threading.Lock()


def scratch(shapes, dtype, workspace):
    """Uninitialised arrays of the given shapes and ``dtype``, carved from this thread's scratch buffer.

    ``workspace`` is the budget in force: what all threads keep stays within it.
    """
    dtype = np.dtype(dtype)
    sizes = [-(-math.prod(shape) * dtype.itemsize // _ALIGN) * _ALIGN for shape in shapes]
    total = sum(sizes)
    me = threading.get_ident()
    with _lock:
        buffer = _kept.get(me)
        if buffer is None or buffer.nbytes < total + _ALIGN or _kept_total() > workspace:
            _kept.pop(me, None)  # let the old buffer go before the new one exists
            _drop_ended_threads()
            buffer = np.empty(total + _ALIGN, np.uint8)
            if _kept_total() + buffer.nbytes <= workspace:
                _kept[me] = buffer
    start = -buffer.ctypes.data % _ALIGN
    arrays = []
    for shape, size in zip(shapes, sizes):
        count = math.prod(shape)
        arrays.append(buffer[start:start + count * dtype.itemsize].view(dtype).reshape(shape))
        start += size
    return arrays


def _kept_total():
    return sum(buffer.nbytes for buffer in _kept.values())


def _drop_ended_threads():
    alive = {thread.ident for thread in threading.enumerate()}
    for ident in [ident for ident in _kept if ident not in alive]:
        del _kept[ident]


def release_scratch():
    """Free the scratch memory that npconv keeps between calls, in every thread.

    It is allocated again when needed.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> _ = npconv.conv2d(np.ones((8, 16, 32, 32)), np.ones((16, 16, 3, 3)))
    >>> npconv.release_scratch()
    """
    with _lock:
        _kept.clear()


def kept_bytes():
    """Bytes of scratch memory kept between calls, all threads together."""
    with _lock:
        return _kept_total()


def _forget_in_child():
    global _lock
    _lock = threading.Lock()
    _kept.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
