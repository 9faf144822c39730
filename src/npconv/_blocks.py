"""Run a per-plane kernel over blocks of ``(sample, channel)`` planes, on several threads.

Pooling treats every ``(n, c)`` plane alone.  Walking the planes in blocks of
about :data:`BLOCK_BYTES` keeps a block's input, output and temporaries in
the CPU cache across the passes over kernel offsets, and lets the blocks run
on a thread pool: NumPy releases the GIL inside its loops.
"""

from __future__ import annotations

import concurrent.futures
import threading

from . import config

BLOCK_BYTES = 4 << 20

_executors = {}
_executors_lock = threading.Lock()


def plane_blocks(batch, channels, plane_bytes):
    """``(samples, channels)`` slice pairs covering ``batch x channels`` planes, :data:`BLOCK_BYTES` each."""
    per_block = max(1, BLOCK_BYTES // max(1, plane_bytes))
    if per_block >= channels:
        samples = per_block // max(1, channels)
        return [(slice(n, n + samples), slice(None)) for n in range(0, batch, samples)]
    return [(slice(n, n + 1), slice(c, c + per_block))
            for n in range(batch) for c in range(0, channels, per_block)]


def channel_blocks(channels, channel_bytes):
    """Slices of ``range(channels)`` of about :data:`BLOCK_BYTES` each (at least one channel)."""
    per_block = max(1, BLOCK_BYTES // max(1, channel_bytes))
    return [slice(c, min(channels, c + per_block)) for c in range(0, channels, per_block)]


def _executor(workers):
    with _executors_lock:
        if workers not in _executors:
            _executors[workers] = concurrent.futures.ThreadPoolExecutor(workers, "npconv")
        return _executors[workers]


def run_blocks(kernel, blocks):
    """``[kernel(block) for block in blocks]``, run on :func:`~npconv.config.get_threads` threads.

    The kernel runs in pool threads, which do not see the caller's context
    variables: it must not read :mod:`npconv.config`.
    """
    workers = min(config.get_threads(), len(blocks))
    if workers <= 1:
        return [kernel(block) for block in blocks]
    return list(_executor(workers).map(kernel, blocks))
