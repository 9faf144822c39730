"""``npconv bench --dask``: a volume on disk convolved and differentiated on 1 and 2 Dask workers.

The volume, ``(1, 1, D, 512, 512)`` float32 (one MiB per slice), is written to
a ``.npy`` file in a temporary folder; its chunks are ``(1, 1, 16, 256, 256)``
(4 MiB).  On a ``distributed.LocalCluster`` of worker processes with one
thread each, and a workspace of 4 MiB (so that the default volume, 512 MiB,
is more than 100 times the workspace), three passes are timed:

* forward: ``conv3d`` with a 3x3x3 kernel and ``padding=1``, saved to a
  second ``.npy`` file chunk by chunk (:func:`npconv.dask.save_npy`);
* weight gradient: ``conv3d_weight`` of the volume and that result (a tree sum);
* input gradient: ``conv3d_input`` of that result, saved to a third file.

For each it prints seconds, MiB of volume per second, and the most memory
that NumPy and Python held at once in a worker during the pass
(``tracemalloc``, arrays included); for each cluster, every worker's peak
resident memory (``ru_maxrss``, the interpreter and its libraries included).
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
import tracemalloc

import numpy as np

import npconv

SLICE_SHAPE = (512, 512)
CHUNKS = (1, 1, 16, 256, 256)
WORKSPACE = 4 << 20


def _peak_rss_mib():
    """This process's peak resident memory in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _start_tracing():
    tracemalloc.start()


def _traced_peak_mib():
    """The most memory traced at once since the last call (then starts a new period)."""
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.reset_peak()
    return peak


def _warm_up():
    import npconv.dask  # noqa: F401  (the worker imports what the tasks use before it is measured)

    x = np.ones((1, 1, 8, 8, 8), np.float32)
    npconv.conv3d_weight(x, (1, 1, 3, 3, 3), npconv.conv3d(x, np.ones((1, 1, 3, 3, 3),
                                                                      np.float32), padding=1),
                         padding=1)
    return _peak_rss_mib()


def run_volume(volume_mib, worker_counts=(1, 2), report=print):
    """Time the three passes on a volume of ``volume_mib`` MiB for each worker count; returns rows."""
    import dask
    import distributed

    from npconv.dask import load_npy, save_npy

    depth = max(CHUNKS[2], volume_mib // CHUNKS[2] * CHUNKS[2])
    shape = (1, 1, depth) + SLICE_SHAPE
    volume_bytes = int(np.prod(shape)) * 4
    rows = []
    with tempfile.TemporaryDirectory(prefix="npconv-volume-") as folder:
        path = os.path.join(folder, "volume.npy")
        source = np.lib.format.open_memmap(path, "w+", np.float32, shape)
        rng = np.random.default_rng(0)
        for start in range(0, depth, CHUNKS[2]):  # written a slab at a time
            source[:, :, start:start + CHUNKS[2]] = rng.standard_normal(
                (1, 1, min(CHUNKS[2], depth - start)) + SLICE_SHAPE, np.float32)
        del source
        weight = np.full((1, 1, 3, 3, 3), 1 / 27, np.float32)
        report(f"npconv bench --dask: a {volume_bytes >> 20} MiB float32 volume {shape} on disk, "
               f"chunks {CHUNKS} ({int(np.prod(CHUNKS)) * 4 >> 20} MiB), workspace "
               f"{WORKSPACE >> 20} MiB, worker processes of 1 thread")
        report(f"{'workers':>7} {'pass':<16} {'seconds':>8} {'MiB/s':>8} {'peak MiB':>9}")
        for workers in worker_counts:
            with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                          host="127.0.0.1", dashboard_address=None) as cluster, \
                    distributed.Client(cluster) as client, dask.config.set(scheduler=client), \
                    npconv.workspace(WORKSPACE):
                client.run(_warm_up)
                client.run(_start_tracing)
                volume = load_npy(path, CHUNKS)
                passes = [
                    ("forward", lambda: save_npy(os.path.join(folder, "y.npy"),
                                                 npconv.conv3d(volume, weight, padding=1))),
                    ("weight gradient", lambda: npconv.conv3d_weight(
                        volume, weight.shape, load_npy(os.path.join(folder, "y.npy"), CHUNKS),
                        padding=1).compute()),
                    ("input gradient", lambda: save_npy(os.path.join(folder, "gx.npy"),
                                                        npconv.conv3d_input(
                                                            shape, weight,
                                                            load_npy(os.path.join(folder, "y.npy"),
                                                                     CHUNKS), padding=1))),
                ]
                client.run(_traced_peak_mib)
                for name, run in passes:
                    start = time.perf_counter()
                    run()
                    seconds = time.perf_counter() - start
                    rate = volume_bytes / 2**20 / seconds
                    peak = max(client.run(_traced_peak_mib).values())
                    report(f"{workers:>7} {name:<16} {seconds:>8.2f} {rate:>8.1f} {peak:>9.1f}")
                    rows.append(dict(workers=workers, name=name, seconds=seconds,
                                     mib_per_s=rate, volume_mib=volume_bytes >> 20,
                                     peak_traced_mib=peak))
                rss = client.run(_peak_rss_mib)
                report(f"{'':>7} peak resident memory of each worker (MiB): "
                       + ", ".join(f"{value:.0f}" for _, value in sorted(rss.items())))
                rows.append(dict(workers=workers, name="peak_rss_mib",
                                 values=sorted(rss.values())))
    return rows
