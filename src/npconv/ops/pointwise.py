"""Elementwise kernels over blocks of cells, on the thread pool, inside the workspace.

An activation makes a few temporaries the size of its operands.  Applied to
blocks of about :data:`BLOCK_CELLS` cells, those temporaries stay in the CPU
cache and far inside the workspace, and the blocks run on npconv's threads.
"""

from __future__ import annotations

import numpy as np

from .. import config
from ..window.blocks import even_step, run_blocks

#: Cells per block: a few temporaries of this many cells stay near the cache, and a block is
#: long enough that NumPy's loops, not Python, take the time (256K cells was the fastest of
#: 32K to 1M on the activations of a 32x64x56x56 array).
BLOCK_CELLS = 1 << 18

#: Cells per block of a streaming kernel: one pass or two over memory and no float64
#: temporaries (``relu`` and its derivative).  Up to this many cells one call on the caller's
#: thread is faster than blocks on the pool, whose hand-offs and extra copy cost more than
#: the pass (1.5-2x on 0.3-0.5M cells, measured on AMD EPYC; the performance guide has the
#: figures); above it, blocks of this size on the pool are faster than one call.
STREAM_BLOCK_CELLS = 1 << 20


def apply(kernel, arrays, dtype, temporaries=8, block_cells=BLOCK_CELLS):
    """``kernel(*blocks) -> block`` over same-shape ``arrays``, into a new array of ``dtype``.

    C-contiguous operands are cut into flat blocks of about ``block_cells``
    cells; others into blocks of their leading axis (a block is then at least
    one sub-array).  A block's ``temporaries`` float64 copies fit a thread's
    share of the workspace.
    """
    shape = arrays[0].shape
    resources = config.resources()
    if arrays[0].size <= min(block_cells, resources.workspace // (8 * temporaries)):
        result = np.asarray(kernel(*arrays))  # one block: the kernel's own result, no copy
        if any(np.may_share_memory(result, a) for a in arrays):
            return np.array(result, dtype=dtype)
        return result.astype(dtype, copy=False)
    out = np.empty(shape, dtype)
    if all(a.flags.c_contiguous for a in arrays):
        operands, target = [a.reshape(-1) for a in arrays], out.reshape(-1)
    else:
        operands, target = arrays, out
    per_row = max(1, target[0].size if target.ndim > 1 else 1)
    cells = min(block_cells, resources.workspace // (8 * temporaries * resources.threads))
    step = even_step(len(target), cells // per_row)
    blocks = [slice(start, start + step) for start in range(0, len(target), step)]

    def run(block):
        target[block] = kernel(*(a[block] for a in operands))

    run_blocks(run, blocks, resources.threads)
    return out
