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
    """``(samples, channels)`` slice pairs covering ``batch x channels`` planes.

    A block holds :data:`BLOCK_BYTES` of temporaries, or less where the
    blocks that run at once on the thread pool would not fit the workspace
    (at least one plane).
    """
    block_bytes = min(BLOCK_BYTES, config.get_workspace() // config.get_threads())
    per_block = max(1, block_bytes // max(1, plane_bytes))
    if per_block >= channels:
        samples = per_block // max(1, channels)
        return [(slice(n, n + samples), slice(None)) for n in range(0, batch, samples)]
    return [(slice(n, n + 1), slice(c, c + per_block))
            for n in range(batch) for c in range(0, channels, per_block)]


def channel_blocks(channels, channel_bytes):
    """Slices of ``range(channels)`` of about :data:`BLOCK_BYTES` each (at least one channel)."""
    per_block = max(1, BLOCK_BYTES // max(1, channel_bytes))
    return [slice(c, min(channels, c + per_block)) for c in range(0, channels, per_block)]


def batch_chunks(n_batch, bytes_per_sample, target=None):
    """Slices of the batch whose temporaries fit the workspace, or ``target`` if smaller.

    Every chunk has at least one sample.
    """
    budget = config.get_workspace() if target is None else min(target, config.get_workspace())
    per_chunk = max(1, budget // max(1, bytes_per_sample))
    # Even chunks: 9 samples in chunks of 5 are 5 + 4, not 5 + 4 with a padded buffer for 5.
    count = -(-n_batch // per_chunk)
    per_chunk = -(-n_batch // max(1, count))
    return [slice(start, min(n_batch, start + per_chunk))
            for start in range(0, n_batch, max(1, per_chunk))]


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
