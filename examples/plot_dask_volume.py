"""
A volume on disk, chunk by chunk (Dask)
=======================================

``pip install "npconv[dask]"``.  A ``.npy`` volume is read lazily, chunk by chunk
(``npconv.dask.load_npy``); ``npconv.conv3d`` on it returns a lazy Dask array with the same
chunks (each task reads its chunk and the halo its windows reach); ``save_npy`` computes it
into another file chunk by chunk.  Peak memory depends on the chunk, not on the volume.
"""

import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import npconv
import npconv.dask

folder = tempfile.mkdtemp()
path = os.path.join(folder, "volume.npy")
volume = np.lib.format.open_memmap(path, "w+", np.float32, (1, 1, 32, 128, 128))
grid = np.indices(volume.shape[2:]).sum(axis=0)
volume[0, 0] = (grid // 16 % 2).astype(np.float32)           # a 3-D checkerboard
volume[0, 0] += np.random.default_rng(0).normal(0, 0.5, volume.shape[2:]).astype(np.float32)
del volume

x = npconv.dask.load_npy(path, chunks=(1, 1, 16, 64, 64))
w = np.full((1, 1, 5, 5, 5), 1 / 125, np.float32)
smoothed = npconv.conv3d(x, w, padding="same")
print("chunks of the input and of the result:", x.chunks[2:], smoothed.chunks[2:])
npconv.dask.save_npy(os.path.join(folder, "smoothed.npy"), smoothed)
result = np.load(os.path.join(folder, "smoothed.npy"), mmap_mode="r")

figure, axes = plt.subplots(1, 2, figsize=(8, 4))
axes[0].imshow(np.load(path, mmap_mode="r")[0, 0, 16], cmap="gray")
axes[0].set_title("slice 16 of the volume")
axes[1].imshow(result[0, 0, 16], cmap="gray")
axes[1].set_title("smoothed, chunk by chunk")
for axis in axes:
    for edge in (64,):
        axis.axhline(edge - 0.5, color="tab:red", linewidth=0.8)
        axis.axvline(edge - 0.5, color="tab:red", linewidth=0.8)
    axis.set_xticks([])
    axis.set_yticks([])
figure.tight_layout()
