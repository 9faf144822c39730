"""Size helpers beyond torch: TF-style ``'same'`` padding for any stride, and which sizes map where.

A convolution maps an input of ``n`` cells (per dimension) to
``out = floor((n + lo + hi - d*(k-1) - 1) / s) + 1`` cells
(:func:`npconv.ops.arguments.output_size`), so ``s`` input sizes share each
output size, and a transposed convolution, which maps ``out`` back, needs
``output_padding`` to say which of them it means.
"""

from __future__ import annotations

from .arguments import (_as_int, make_window, transposed_output_size, to_tuple,
                        window_arguments)


def _sizes(op, value, name, minimum=1):
    """An int or a tuple of ints, at least ``minimum`` each, as a tuple (the dimensions)."""
    if isinstance(value, (tuple, list)):
        if not value:
            raise ValueError(f"{op}(): `{name}` must have at least one entry, got {value!r}")
        return to_tuple(tuple(value), len(value), op, name, minimum=minimum)
    return to_tuple(_as_int(value, op, name), 1, op, name, minimum=minimum)


def same_padding(input_size, kernel_size, stride=1, dilation=1):
    """Per-side padding that gives ``ceil(input_size / stride)`` outputs: TensorFlow's ``'SAME'``.

    Parameters
    ----------
    input_size : int or tuple of ints
        Spatial size of the input; its length sets the number of dimensions.
    kernel_size, stride, dilation : int or tuple of ints

    Returns
    -------
    tuple of (lo, hi) pairs
        Per dimension, the total ``max((ceil(n/s) - 1)*s + d*(k-1) + 1 - n, 0)``
        split with the odd cell on the high side (as TensorFlow and torch's
        ``padding='same'``).  Pass it as ``padding`` to any npconv operator;
        with stride 1 it equals ``padding='same'``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.same_padding((7, 8), 3, stride=2)
    ((1, 1), (0, 1))
    >>> x = np.ones((1, 1, 7, 8))
    >>> npconv.conv2d(x, np.ones((1, 1, 3, 3)), stride=2, padding=((1, 1), (0, 1))).shape
    (1, 1, 4, 4)
    """
    op = "same_padding"
    sizes = _sizes(op, input_size, "input_size")
    kernel, stride, _, dilation = window_arguments(op, len(sizes), kernel_size, stride, 0,
                                                   dilation)
    pairs = []
    for n, k, s, d in zip(sizes, kernel, stride, dilation):
        total = max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
        pairs.append((total // 2, total - total // 2))
    return tuple(pairs)


def conv_output_size(input_size, kernel_size, stride=1, padding=0, dilation=1):
    """The spatial output size of a convolution, as ``conv1d/2d/3d`` computes it.

    Parameters
    ----------
    input_size : int or tuple of ints
        Spatial size of the input; its length sets the number of dimensions.
    kernel_size, stride, padding, dilation
        As the convolutions take them (``padding`` also ``'same'``, ``'valid'``
        or per-side pairs).

    Returns
    -------
    tuple of ints
        ``floor((n + lo + hi - dilation*(kernel - 1) - 1) / stride) + 1`` per dimension.

    Examples
    --------
    >>> import npconv
    >>> npconv.conv_output_size((32, 31), 3, stride=2, padding=1)
    (16, 16)
    """
    op = "conv_output_size"
    sizes = _sizes(op, input_size, "input_size")
    kernel, stride, pads, dilation = window_arguments(op, len(sizes), kernel_size, stride,
                                                      padding, dilation)
    return make_window(op, sizes, kernel, stride, pads, dilation).out_shape


def conv_input_size_range(output_size, kernel_size, stride=1, padding=0, dilation=1):
    """The input sizes that a convolution maps to ``output_size``: ``((smallest, largest), ...)``.

    Parameters
    ----------
    output_size : int or tuple of ints
        Spatial size of the output; its length sets the number of dimensions.
    kernel_size, stride, padding, dilation
        As the convolutions take them.

    Returns
    -------
    tuple of (smallest, largest) pairs, inclusive
        ``smallest = (out - 1)*stride - lo - hi + dilation*(kernel - 1) + 1``
        (at least 1) and ``largest = smallest + stride - 1``: the ``stride``
        sizes the floor in the output-size formula cannot tell apart.  A
        transposed convolution with the same arguments gives ``smallest +
        output_padding`` (:func:`conv_transpose_output_padding`).

    Examples
    --------
    >>> import npconv
    >>> npconv.conv_input_size_range((16, 16), 3, stride=2, padding=1)
    ((31, 32), (31, 32))
    """
    op = "conv_input_size_range"
    sizes = _sizes(op, output_size, "output_size")
    kernel, stride, pads, dilation = window_arguments(op, len(sizes), kernel_size, stride,
                                                      padding, dilation)
    ranges = []
    for out, k, s, d, (lo, hi) in zip(sizes, kernel, stride, dilation, pads):
        smallest = transposed_output_size(out, k, s, d, lo, hi)
        largest = smallest + s - 1
        if largest < 1:
            raise ValueError(f"{op}(): no input size gives {out} outputs with kernel_size={k}, "
                             f"stride={s}, padding=({lo}, {hi}), dilation={d}: the padding "
                             f"alone holds more windows")
        ranges.append((max(1, smallest), largest))
    return tuple(ranges)


def conv_transpose_output_padding(input_size, output_size, kernel_size, stride=1, padding=0,
                                  dilation=1):
    """The ``output_padding`` with which ``conv_transpose*d`` maps ``input_size`` to ``output_size``.

    Parameters
    ----------
    input_size, output_size : int or tuple of ints
        Spatial sizes of the transposed convolution's input and wanted output
        (for the backward pass of a strided convolution: its output and input
        sizes).
    kernel_size, stride, padding, dilation
        As the transposed convolutions take them.

    Returns
    -------
    tuple of ints
        ``output_size - ((input_size - 1)*stride - lo - hi + dilation*(kernel - 1) + 1)``,
        each at least 0 and below ``max(stride, dilation)``, as torch requires.

    Examples
    --------
    >>> import npconv
    >>> npconv.conv_transpose_output_padding((16, 16), (32, 31), 3, stride=2, padding=1)
    (1, 0)
    """
    op = "conv_transpose_output_padding"
    sizes = _sizes(op, input_size, "input_size")
    wanted = _sizes(op, output_size, "output_size")
    if len(wanted) != len(sizes):
        raise ValueError(f"{op}(): `output_size` must have as many entries as `input_size` "
                         f"({len(sizes)}), got {len(wanted)}")
    kernel, stride, pads, dilation = window_arguments(op, len(sizes), kernel_size, stride,
                                                      padding, dilation, strings=False)
    extra = []
    for dim, (n, out, k, s, d, (lo, hi)) in enumerate(zip(sizes, wanted, kernel, stride,
                                                           dilation, pads)):
        base = transposed_output_size(n, k, s, d, lo, hi)
        reach = max(s, d)
        if not base <= out < base + reach:
            raise ValueError(f"{op}(): dimension {dim}: {n} inputs give {base} to "
                             f"{base + reach - 1} outputs (output_padding 0 to {reach - 1}), "
                             f"not {out}")
        extra.append(out - base)
    return tuple(extra)


for _function in (same_padding, conv_output_size, conv_input_size_range,
                  conv_transpose_output_padding):
    _function.__module__ = "npconv"
