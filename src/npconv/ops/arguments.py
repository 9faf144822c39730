"""Argument handling shared by every operator.

Every public function passes its arguments through here first and gets back
canonical values: integer tuples with one entry per spatial dimension, padding
as per-dimension ``(lo, hi)`` pairs, and a validated float array.  No operator
parses its arguments itself, and the output-size formulas live only in
:func:`output_size` and its adjoint :func:`transposed_output_size`.

Error messages name the operator and the argument, and say what was expected
and what was got.
"""

from __future__ import annotations

import functools
import math
import operator
import os

import numpy as np

from ..window.geometry import Window

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _as_int(value, op, name):
    """``value`` as a Python int, refusing bools, floats and other objects."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}(): `{name}` must be an int, got bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(
            f"{op}(): `{name}` must be an int, got {type(value).__name__} {value!r}"
        ) from None


def to_tuple(value, ndim, op, name, minimum=1):
    """Expand an int or a sequence of ints to a tuple of ``ndim`` ints >= ``minimum``.

    >>> to_tuple(2, 3, "conv3d", "stride")
    (2, 2, 2)
    """
    if isinstance(value, (tuple, list)):
        if len(value) != ndim:
            raise ValueError(
                f"{op}(): `{name}` must be an int or a tuple of {ndim} ints, "
                f"got {len(value)} values {tuple(value)!r}"
            )
        values = tuple(_as_int(v, op, name) for v in value)
    else:
        values = (_as_int(value, op, name),) * ndim
    if any(v < minimum for v in values):
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{op}(): `{name}` must be {bound}, got {_show(value)}")
    return values


def normalize_padding(padding, ndim, op, *, kernel=None, stride=None, dilation=None,
                      strings=True):
    """Canonical padding: a tuple of ``(lo, hi)`` pairs, one per spatial dimension.

    Accepted forms:

    * an int ``p``: ``p`` on both sides of every dimension;
    * a tuple of ``ndim`` ints: symmetric padding per dimension;
    * a tuple of ``ndim`` ``(lo, hi)`` pairs: per-side padding (beyond torch);
    * ``'valid'``: no padding;
    * ``'same'``: the output keeps the input size; needs stride 1.  The total
      ``dilation * (kernel - 1)`` is split with the odd pixel on the high side,
      as torch does.

    ``strings=False`` refuses the string forms (transposed convolutions).
    """
    if isinstance(padding, str):
        if not strings:
            raise TypeError(
                f"{op}(): `padding` must be an int or a tuple of ints, got string {padding!r}"
            )
        if padding == "valid":
            return ((0, 0),) * ndim
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(
                    f"{op}(): padding='same' needs stride 1 in every dimension, got stride={stride}"
                )
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ValueError(
            f"{op}(): `padding` must be 'valid', 'same', an int or a tuple, got {padding!r}"
        )
    if isinstance(padding, (tuple, list)):
        if len(padding) != ndim:
            raise ValueError(
                f"{op}(): `padding` must be an int, a tuple of {ndim} ints or of {ndim} "
                f"(lo, hi) pairs, got {len(padding)} values {_show(padding)}"
            )
        pairs = []
        for entry in padding:
            if isinstance(entry, (tuple, list)):
                if len(entry) != 2:
                    raise ValueError(
                        f"{op}(): each per-side `padding` entry must be a (lo, hi) pair, "
                        f"got {_show(entry)}"
                    )
                pairs.append((_as_int(entry[0], op, "padding"), _as_int(entry[1], op, "padding")))
            else:
                p = _as_int(entry, op, "padding")
                pairs.append((p, p))
        pairs = tuple(pairs)
    else:
        p = _as_int(padding, op, "padding")
        pairs = ((p, p),) * ndim
    if any(v < 0 for pair in pairs for v in pair):
        raise ValueError(f"{op}(): `padding` must be non-negative, got {_show(padding)}")
    return pairs


def window_arguments(op, ndim, kernel_size, stride=1, padding=0, dilation=1, *,
                     stride_default_kernel=False, strings=True):
    """The one way from user arguments to a window's canonical values: ``(kernel, stride, padding, dilation)``.

    ``kernel``, ``stride`` and ``dilation`` become tuples of ``ndim`` positive
    ints, ``padding`` a tuple of ``(lo, hi)`` pairs (:func:`normalize_padding`;
    ``strings=False`` refuses ``'same'`` and ``'valid'``).  With
    ``stride_default_kernel`` (pooling, unpooling), ``stride=None`` means the
    kernel size, as torch.

    >>> window_arguments("max_pool2d", 2, 3, None, 1, stride_default_kernel=True, strings=False)
    ((3, 3), (3, 3), ((1, 1), (1, 1)), (1, 1))
    """
    kernel = to_tuple(kernel_size, ndim, op, "kernel_size")
    if stride is None and stride_default_kernel:
        stride = kernel
    else:
        stride = to_tuple(stride, ndim, op, "stride")
    dilation = to_tuple(dilation, ndim, op, "dilation")
    pads = normalize_padding(padding, ndim, op, kernel=kernel, stride=stride, dilation=dilation,
                             strings=strings)
    return kernel, stride, pads, dilation


def output_size(size, kernel, stride, dilation, pad_lo, pad_hi, ceil_mode=False):
    """Number of window positions along one dimension.

    ``floor((size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) / stride) + 1``

    With ``ceil_mode`` the division rounds up, but (as in torch) a last window
    that would start beyond the input and the low padding is dropped.  So, as
    in torch, a kernel up to ``stride - 1`` cells larger than the padded input
    still gives one window with ``ceil_mode``.  At most 0 means no window.
    """
    span = size + pad_lo + pad_hi - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return max(0, span // stride + 1)
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + pad_lo:
        out -= 1
    return max(0, out)


def transposed_output_size(size, kernel, stride, dilation, pad_lo, pad_hi, output_padding=0):
    """Length along one dimension of a transposed convolution's (or an unpooling's) output.

    ``(size - 1) * stride - pad_lo - pad_hi + dilation * (kernel - 1) + output_padding + 1``:
    the smallest input of which a convolution with these arguments has
    ``size`` windows, plus ``output_padding``.  It may be 0 or negative.
    """
    return (size - 1) * stride - pad_lo - pad_hi + dilation * (kernel - 1) + output_padding + 1


def make_window(op, in_shape, kernel, stride, padding, dilation, ceil_mode=False):
    """The :class:`Window` of a sliding kernel over ``in_shape``; refuses an empty output.

    ``padding`` is already canonical (``(lo, hi)`` pairs).
    """
    out_shape = tuple(
        output_size(n, k, s, d, lo, hi, ceil_mode)
        for n, k, s, d, (lo, hi) in zip(in_shape, kernel, stride, dilation, padding)
    )
    if any(o < 1 for o in out_shape):
        padded = tuple(n + lo + hi for n, (lo, hi) in zip(in_shape, padding))
        span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        raise ValueError(
            f"{op}(): the kernel is larger than the padded input: padded input size "
            f"{padded}, dilated kernel size {span} (kernel_size={kernel}, dilation={dilation})"
        )
    return _window(tuple(in_shape), out_shape, tuple(kernel), tuple(stride), tuple(dilation),
                   tuple(padding))


@functools.lru_cache(maxsize=256)
def _window(in_shape, out_shape, kernel, stride, dilation, padding):
    """One :class:`Window` per geometry, so that what a window works out once (its offsets, its
    slices) serves every call with the same geometry."""
    return Window(in_shape, out_shape, kernel, stride, dilation, padding)


def _memory_bytes():
    """This machine's physical memory in bytes (2**48 where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 2**48


MEMORY_BYTES = _memory_bytes()


def check_array_size(op, shape, dtype, arguments):
    """Refuse, before anything is allocated, an array of ``shape`` larger than this machine's memory.

    ``arguments`` names the arguments that set the size, for the message.
    """
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if nbytes > MEMORY_BYTES:
        raise ValueError(
            f"{op}(): {arguments} would make an array of shape {tuple(shape)} that needs "
            f"{nbytes:,} bytes, more than this machine's memory ({MEMORY_BYTES:,} bytes)"
        )


def as_float_array(x, op, name):
    """``x`` as a float32 or float64 ndarray of native byte order; anything else is a TypeError.

    Never copies an ndarray (inputs are only ever read).  The message of a
    refusal says how to convert.  A Dask array is refused (converting it
    would compute all of it here): the operators that take them send them to
    :mod:`npconv.dask` before this.
    """
    if callable(getattr(type(x), "__dask_graph__", None)):
        raise TypeError(
            f"{op}(): `{name}` is a Dask array, and {op} does not take Dask arrays (npconv.dask "
            f"lists those that do); pass `{name}.compute()` if it fits in memory"
        )
    try:
        array = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{op}(): `{name}` must be a numeric array: {exc}") from None
    if array.dtype in FLOAT_DTYPES:
        return array
    if array.dtype.kind == "f" and array.dtype.newbyteorder("=") in FLOAT_DTYPES:
        native = array.dtype.newbyteorder("=")
        raise TypeError(
            f"{op}(): `{name}` must be in the machine's byte order, got a "
            f"{'big' if array.dtype.byteorder == '>' else 'little'}-endian {native} array "
            f"(dtype {array.dtype.str!r}); convert it with `.astype(np.{native})`"
        )
    if array.dtype.kind in "biuf":
        raise TypeError(
            f"{op}(): `{name}` must be a float32 or float64 array, got dtype {array.dtype}; "
            f"convert it with `.astype(np.float32)` or `.astype(np.float64)`"
        )
    raise TypeError(
        f"{op}(): `{name}` must be a float32 or float64 array, got dtype {array.dtype}"
    )


def promoted(*arrays):
    """``arrays`` cast to their common float dtype (NumPy's promotion: float64 if any is); None stays None."""
    dtype = np.result_type(*(a for a in arrays if a is not None))
    return tuple(None if a is None else a.astype(dtype, copy=False) for a in arrays)


def check_ndim(array, ndims, op, name, meaning):
    """Refuse an array whose number of dimensions is not in ``ndims``."""
    if array.ndim not in ndims:
        expected = " or ".join(str(n) for n in ndims)
        raise ValueError(
            f"{op}(): `{name}` must have {expected} dimensions, {meaning}; "
            f"got {array.ndim} with shape {array.shape}"
        )


def batched_float_array(op, array, ndims, name, meaning):
    """``(array, unbatched)``: a float array of ``ndims[0]`` (unbatched) or ``ndims[1]`` dimensions.

    The unbatched form gets a leading batch axis of 1 (a view).
    """
    array = as_float_array(array, op, name)
    check_ndim(array, ndims, op, name, meaning)
    unbatched = array.ndim == ndims[0]
    return (array[np.newaxis] if unbatched else array), unbatched


def check_groups(op, groups, channel_counts):
    """``groups`` as a positive int that divides every count of ``channel_counts``.

    ``channel_counts`` holds ``(description, count)`` pairs, for example
    ``("`weight.shape[0]` (output channels)", 6)``.  The one groups check of
    the convolutions, the transposed convolutions and their layers.
    """
    groups = _as_int(groups, op, "groups")
    if groups < 1:
        raise ValueError(f"{op}(): `groups` must be positive, got {groups}")
    for description, count in channel_counts:
        if count % groups:
            raise ValueError(f"{op}(): {description} ({count}) must be divisible by groups "
                             f"({groups})")
    return groups


def _show(value):
    return repr(tuple(value)) if isinstance(value, list) else repr(value)
