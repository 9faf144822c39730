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

For each it prints seconds, MiB of volume per second, and two peaks of a
worker's memory during the pass (the largest over the workers): what NumPy
and Python held at once (``tracemalloc``, arrays included), and the resident
memory of the whole process (sampled every 5 ms; the interpreter, its
libraries and the mapped file pages a task touches included), beside the
resident memory it started the pass with.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import tracemalloc

import numpy as np

import npconv

SLICE_SHAPE = (512, 512)
CHUNKS = (1, 1, 16, 256, 256)
WORKSPACE = 4 << 20


_sampling = {}


def _start_measuring():
    """Start a pass: trace allocations, and sample this process's resident memory every 5 ms."""
    import psutil

    process, stop, peak = psutil.Process(), threading.Event(), [0]
    start = process.memory_info().rss

    def sample():
        while not stop.wait(0.005):
            peak[0] = max(peak[0], process.memory_info().rss)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    _sampling.update(stop=stop, thread=thread, peak=peak, start=start)
    tracemalloc.start()
    tracemalloc.reset_peak()


def _stop_measuring():
    """End a pass: ``(traced peak, resident peak, resident at the start)`` in MiB."""
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    _sampling["stop"].set()
    _sampling["thread"].join()
    return (traced / 2**20, max(_sampling["peak"][0], _sampling["start"]) / 2**20,
            _sampling["start"] / 2**20)


def _warm_up():
    """What a worker imports and sets up once, before it is measured."""
    from npconv.dask import npy

    x = np.ones((1, 1, 8, 8, 8), np.float32)
    with npconv.threads(1):
        npconv.conv3d_weight(x, (1, 1, 3, 3, 3), npconv.conv3d(x, np.ones((1, 1, 3, 3, 3),
                                                                          np.float32), padding=1),
                             padding=1)
    return npy.__name__


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
        report(f"{'workers':>7} {'pass':<16} {'seconds':>8} {'MiB/s':>8} {'traced MiB':>11} "
               f"{'resident MiB (at start)':>24}")
        for workers in worker_counts:
            with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                          host="127.0.0.1", dashboard_address=":0") as cluster, \
                    distributed.Client(cluster) as client, dask.config.set(scheduler=client), \
                    npconv.workspace(WORKSPACE):
                client.run(_warm_up)
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
                for name, run in passes:
                    client.run(_start_measuring)
                    start = time.perf_counter()
                    run()
                    seconds = time.perf_counter() - start
                    traced, resident, at_start = (max(values) for values in zip(
                        *client.run(_stop_measuring).values()))
                    rate = volume_bytes / 2**20 / seconds
                    report(f"{workers:>7} {name:<16} {seconds:>8.2f} {rate:>8.1f} {traced:>11.1f} "
                           f"{resident:>15.0f} ({at_start:.0f})")
                    rows.append(dict(workers=workers, name=name, seconds=seconds,
                                     mib_per_s=rate, volume_mib=volume_bytes >> 20,
                                     peak_traced_mib=traced, peak_resident_mib=resident,
                                     resident_at_start_mib=at_start))
    return rows
