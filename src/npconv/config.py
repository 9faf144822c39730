"""Run-time settings: the workspace budget, the convolution algorithm and the thread count.

All are context variables, so a ``with`` block changes them for the current
thread (or asyncio task) only.

>>> import npconv
>>> npconv.get_workspace() // 2**20
256
>>> with npconv.workspace(64 * 2**20):
...     npconv.get_workspace() // 2**20
64
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from typing import NamedTuple

DEFAULT_WORKSPACE = 256 * 2**20
ALGORITHMS = ("auto", "im2col", "direct", "fft")

_workspace = contextvars.ContextVar("npconv_workspace", default=DEFAULT_WORKSPACE)
_algorithm = contextvars.ContextVar("npconv_algorithm", default="auto")
_threads = contextvars.ContextVar("npconv_threads", default=None)


def default_threads():
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def get_threads():
    """How many threads npconv uses: its own loops (pooling, copies) and, once set by
    :func:`threads`, BLAS's matrix products inside npconv's calls.

    Examples
    --------
    >>> import npconv
    >>> with npconv.threads(1):
    ...     npconv.get_threads()
    1
    """
    threads = _threads.get()
    return default_threads() if threads is None else threads


def get_blas_threads():
    """The thread count BLAS gets inside npconv's calls: the one :func:`threads` set, or None
    (BLAS's own setting)."""
    return _threads.get()


@contextlib.contextmanager
def scoped(variable, value):
    """Context manager: ``variable`` (a ContextVar) holds ``value`` inside the block."""
    token = variable.set(value)
    try:
        yield value
    finally:
        variable.reset(token)


def threads(count):
    """Context manager: use ``count`` threads for npconv's work inside the block.

    Its own loops run on ``count`` threads of its pool, and BLAS, inside
    npconv's calls, on ``count`` threads too (through threadpoolctl, which
    the ``npconv[dask]`` and test extras bring; BLAS has one count for the
    whole process, so while calls that asked for different counts run at
    once, BLAS takes the smallest).  Outside such a block BLAS keeps its own
    setting.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> with npconv.threads(1):      # npconv's pool, and BLAS inside the call, on one thread
    ...     npconv.max_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"threads(): `count` must be a positive int, got {count!r}")
    return scoped(_threads, count)


class Resources(NamedTuple):
    """What one call may use: ``workspace`` bytes of temporaries and ``threads`` of npconv's pool."""

    workspace: int
    threads: int


def resources():
    """The :class:`Resources` in force, read once by an operator call and handed down."""
    return Resources(get_workspace(), get_threads())


def get_workspace():
    """The workspace budget in bytes: the most extra memory an operator may allocate.

    Operators split the batch into chunks so that their temporary buffers
    stay within it; a convolution whose single sample does not fit takes
    ``direct`` over bands of output rows instead of failing.

    Examples
    --------
    >>> import npconv
    >>> npconv.get_workspace() // 2**20
    256
    """
    return _workspace.get()


def set_workspace(nbytes):
    """Set the workspace budget in bytes for the current context; returns the previous value.

    Examples
    --------
    >>> import npconv
    >>> previous = npconv.set_workspace(64 * 2**20)
    >>> npconv.get_workspace() // 2**20, previous // 2**20
    (64, 256)
    >>> _ = npconv.set_workspace(previous)
    """
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 1:
        raise ValueError(f"set_workspace(): `nbytes` must be a positive int, got {nbytes!r}")
    previous = _workspace.get()
    _workspace.set(nbytes)
    return previous


@contextlib.contextmanager
def workspace(nbytes):
    """Context manager: use a workspace budget of ``nbytes`` bytes inside the block.

    Examples
    --------
    >>> import npconv
    >>> with npconv.workspace(2**20):
    ...     npconv.get_workspace()
    1048576
    """
    previous = set_workspace(nbytes)
    try:
        yield nbytes
    finally:
        _workspace.set(previous)


def get_algorithm():
    """The convolution algorithm in force: ``'auto'``, ``'im2col'``, ``'direct'`` or ``'fft'``.

    Examples
    --------
    >>> import npconv
    >>> npconv.get_algorithm()
    'auto'
    """
    return _algorithm.get()


def conv_algorithm(name):
    """Context manager: force a convolution algorithm inside the block.

    ``'im2col'`` copies the windows into a column buffer (one contiguous copy
    per kernel offset and plane) and does one matrix product per batch chunk;
    ``'direct'`` needs no column buffer: an elementwise multiply-add per
    kernel offset for one input channel per group, else one small product per
    kernel offset; ``'fft'`` multiplies spectra (``numpy.fft``, float64
    transforms), at a cost that hardly grows with the kernel, with an error
    bounded per plane rather than per output; ``'auto'`` (the default) picks
    by shape, dtype and workspace, and keeps a transform's result only where
    it is as accurate as a window algorithm's in float32.  An ``'im2col'`` or
    ``'fft'`` whose temporaries for one sample do not fit the workspace runs
    as ``'direct'``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> with npconv.conv_algorithm("direct"):
    ...     npconv.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)))[0, 0]
    array([[9., 9.],
           [9., 9.]])
    """
    if name not in ALGORITHMS:
        raise ValueError(f"conv_algorithm(): `name` must be one of {ALGORITHMS}, got {name!r}")
    return scoped(_algorithm, name)
