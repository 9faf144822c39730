"""Run a per-plane kernel over blocks of ``(sample, channel)`` planes, on several threads.

Pooling treats every ``(n, c)`` plane alone.  Walking the planes in blocks of
about :data:`BLOCK_BYTES` keeps a block's input, output and temporaries in
the CPU cache across the passes over kernel offsets, and lets the blocks run
on a thread pool: NumPy releases the GIL inside its loops.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import functools
import importlib.util
import itertools
import os
import threading

import numpy as np


BLOCK_BYTES = 4 << 20


def even_step(length, most):
    """The step that cuts ``range(length)`` into as few pieces of at most ``most`` as possible,
    of even sizes: 9 in pieces of at most 5 are 5 + 4, and 301 in pieces of at most 262 are
    151 + 150, not 262 + 39 (so that threads taking them finish together)."""
    most = max(1, most)
    return max(1, -(-length // -(-length // most))) if length else most


def plane_blocks(batch, channels, plane_bytes, resources, temporaries=1):
    """``(samples, channels)`` slice pairs covering ``batch x channels`` planes.

    A block holds :data:`BLOCK_BYTES` of planes, or less where the blocks
    that run at once on the thread pool, with ``temporaries`` times their
    size in temporaries, would not fit the workspace (at least one plane).
    """
    block_bytes = min(BLOCK_BYTES,
                      resources.workspace // (resources.threads * temporaries))
    per_block = max(1, block_bytes // max(1, plane_bytes))
    if per_block >= channels:
        samples = even_step(batch, per_block // max(1, channels))
        return [(slice(n, n + samples), slice(None)) for n in range(0, batch, samples)]
    return [(slice(n, n + 1), slice(c, c + per_block))
            for n in range(batch) for c in range(0, channels, per_block)]


def plane_bands(batch, channels, rows, plane_bytes, resources):
    """``(n, c, rows)`` bands of output rows of single planes, or None where whole planes fit.

    Used when one plane's temporaries (``plane_bytes``) exceed its share of
    the workspace: each band of ``rows`` (a slice of ``range(rows)``) has a
    proportional share.  Nothing can be cut from a plane of one row.
    """
    share = resources.workspace // resources.threads
    if plane_bytes <= share or rows < 2:
        return None
    per_band = max(1, rows * share // plane_bytes)
    return [(n, c, slice(first, min(rows, first + per_band)))
            for n in range(batch) for c in range(channels) for first in range(0, rows, per_band)]


def channel_blocks(channels, channel_bytes):
    """Slices of ``range(channels)`` of about :data:`BLOCK_BYTES` each (at least one channel)."""
    per_block = max(1, BLOCK_BYTES // max(1, channel_bytes))
    return [slice(c, min(channels, c + per_block)) for c in range(0, channels, per_block)]


def batch_chunks(n_batch, bytes_per_sample, workspace, target=None):
    """Slices of the batch whose temporaries fit ``workspace`` bytes, or ``target`` if smaller.

    Every chunk has at least one sample.
    """
    budget = workspace if target is None else min(target, workspace)
    # even chunks: the buffers, made for the largest chunk, are no larger than the chunks need
    per_chunk = even_step(n_batch, budget // max(1, bytes_per_sample))
    return [slice(start, min(n_batch, start + per_chunk)) for start in range(0, n_batch, per_chunk)]


def batch_bands(out_shape, n_batch, per_sample, workspace):
    """``(batch slice, band)`` pieces whose temporaries fit ``workspace`` bytes.

    ``per_sample`` is the bytes of one whole sample's temporaries.  Samples
    go together while they fit (``band`` None); a sample that does not fit
    alone is cut into bands of output rows along its longest output
    dimension (``band`` is ``(dim, rows)``, ``rows`` a slice).
    """
    if per_sample <= workspace:
        return [(chunk, None) for chunk in batch_chunks(n_batch, per_sample, workspace)]
    dim = max(range(len(out_shape)), key=lambda d: out_shape[d])
    rows = out_shape[dim]
    per_band = max(1, rows * workspace // per_sample)
    return [(slice(n, n + 1), (dim, slice(r, min(rows, r + per_band))))
            for n in range(n_batch) for r in range(0, rows, per_band)]


def quiet(function):
    """``function`` with NumPy's invalid-value and overflow warnings off.

    The infinities and NaNs the operators make are torch's, on purpose
    (``inf - inf`` in a window sum, ``0 * inf`` over padding); torch does not
    warn about them either.  Pool threads get the same settings (:func:`run_blocks`).
    """
    @functools.wraps(function)
    def quietly(*args, **kwargs):
        with np.errstate(invalid="ignore", over="ignore"):
            return function(*args, **kwargs)
    return quietly


#: The most threads npconv's pool holds; ``threads(n)`` asks for at most this many.
MAX_WORKERS = 32

_pool = None
_pool_lock = threading.Lock()


def _shared_pool():
    """The one thread pool of the process, made on first use.

    Its threads are started only as tasks need them, so the pool holds as
    many threads as the most that ever ran at once, at most :data:`MAX_WORKERS`.
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(MAX_WORKERS, "npconv")
        return _pool


def _forget_pool_in_child():
    """After ``fork``: the parent's pool threads do not exist in the child; start afresh.

    The pool object is dropped without shutting it down (its threads are
    gone, and joining them would hang), and the lock is made anew in case
    another thread held it at the moment of the fork.
    """
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


class _BlasLimits:
    """BLAS's thread count while npconv calls that asked for one run (with threadpoolctl).

    BLAS has one thread count for the whole process, so calls from several
    threads share it: while any runs, BLAS uses the smallest count they asked
    for, and its own setting again when the last ends.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.asked = collections.Counter()
        self.controller = None
        self.limiter = None
        self.limit = None

    def enter(self, threads):
        with self.lock:
            self.asked[threads] += 1
            self._apply()

    def leave(self, threads):
        with self.lock:
            self.asked[threads] -= 1
            if not self.asked[threads]:
                del self.asked[threads]
            self._apply()

    def _apply(self):
        limit = min(self.asked, default=None)
        if limit == self.limit:
            return
        if self.limiter is not None:
            self.limiter.restore_original_limits()
            self.limiter = None
        if limit is not None:
            import threadpoolctl

            if self.controller is None:  # finding the libraries takes a while: once a process
                self.controller = threadpoolctl.ThreadpoolController()
            self.limiter = self.controller.limit(limits=limit, user_api="blas")
        self.limit = limit


_blas_limits = _BlasLimits()


_THREADPOOLCTL = importlib.util.find_spec("threadpoolctl") is not None


@contextlib.contextmanager
def blas_threads(threads):
    """BLAS on at most ``threads`` threads inside the block; None leaves BLAS's own setting.

    Takes effect through threadpoolctl (the ``npconv[dask]`` and test
    extras bring it); without it, BLAS keeps its setting (the
    ``OPENBLAS_NUM_THREADS`` or ``OMP_NUM_THREADS`` environment variable).
    """
    if threads is None or not _THREADPOOLCTL:
        yield
        return
    _blas_limits.enter(threads)
    try:
        yield
    finally:
        _blas_limits.leave(threads)


def _forget_blas_limits_in_child():
    global _blas_limits
    _blas_limits = _BlasLimits()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_blas_limits_in_child)


def run_blocks(kernel, blocks, threads):
    """``[kernel(block) for block in blocks]``, run on ``threads`` threads.

    At most ``threads`` tasks of the shared pool (capped at
    :data:`MAX_WORKERS`) take the blocks in turn, the next free task the next
    block; the calling thread waits.  The kernel runs in pool threads, which
    do not see the caller's context variables: it must not read
    :mod:`npconv.config`.  They do get the caller's NumPy error settings.
    """
    workers = min(threads, len(blocks), MAX_WORKERS)
    if workers <= 1:
        return [kernel(block) for block in blocks]
    errors = np.geterr()
    results = [None] * len(blocks)
    turns = itertools.count()  # next() on a count is atomic under the GIL

    def task():
        with np.errstate(**errors):
            for index in iter(turns.__next__, None):
                if index >= len(blocks):
                    return
                results[index] = kernel(blocks[index])

    pool = _shared_pool()
    for future in [pool.submit(task) for _ in range(workers)]:
        future.result()
    return results
