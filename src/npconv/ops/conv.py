"""Convolution: ``conv1d/2d/3d``, their backward passes, and ``torch.nn.grad``-style helpers.

The public functions are thin definitions per dimensionality over one
implementation each, so that ``conv1d``, ``conv2d`` and ``conv3d`` cannot
drift apart.  A ``padding_mode`` other than ``'zeros'`` (torch's modules'
argument) pads batch chunks of the input in that mode (:mod:`.padding`) and
convolves them without padding; the input gradient is the padding's adjoint
of the padded input's gradient.
"""

from __future__ import annotations

import numpy as np

from .. import engine
from .arguments import (as_float_array, check_array_size, check_groups, check_ndim, make_window,
                        promoted, to_tuple, window_arguments)
from .common import (add_bias, batched_input, bias_grad, check_bias, check_grad_output, dask_aware,
                     documented, gradients_as, input_arrays, sample_chunks, unbatch)
from .padding import check_mode, padded, padded_adjoint, padded_shape

#: ``padding_mode`` values, as torch's convolution modules.
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

# --- shared checks ------------------------------------------------------------

def conv_window(op, ndim, input_shape, weight_shape, stride, padding, dilation, groups,
                padding_mode="zeros", input_name="input"):
    """Check channels and groups of a convolution and build its window.

    ``input_shape`` is batched ``(N, C, *spatial)``; ``weight_shape`` is
    ``(K, C/groups, *kernel)``.  Returns ``(window, groups, mode_pads)``:
    ``mode_pads`` is None for zero padding, else the ``(lo, hi)`` pairs of
    every dimension of the input that ``padding_mode`` pads it by, and the
    window then reads that padded input without padding.
    """
    out_channels, group_channels = weight_shape[:2]
    groups = check_groups(op, groups, [("`weight.shape[0]` (output channels)", out_channels)])
    check_mode(op, padding_mode, name="padding_mode", modes=PADDING_MODES)
    if input_shape[1] != group_channels * groups:
        raise ValueError(
            f"{op}(): `{input_name}` must have {group_channels * groups} channels "
            f"(weight.shape[1]={group_channels} x groups={groups}), got {input_shape[1]}"
        )
    kernel, stride, pads, dilation = window_arguments(op, ndim, tuple(weight_shape[2:]), stride,
                                                      padding, dilation)
    check_array_size(op, input_shape, np.float32, f"`{input_name}`")
    spatial, mode_pads = tuple(input_shape[2:]), None
    if padding_mode != "zeros":
        mode_pads = ((0, 0), (0, 0)) + pads
        spatial = padded_shape(op, tuple(input_shape), mode_pads, padding_mode, "padding")[2:]
        pads = ((0, 0),) * ndim
    window = make_window(op, spatial, kernel, stride, pads, dilation)
    check_array_size(op, (input_shape[0], out_channels) + window.out_shape, np.float32,
                     f"`padding`={padding!r}")
    check_array_size(op, (input_shape[0], input_shape[1]) + window.zero_padded().in_shape,
                     np.float32, f"`padding`={padding!r}")
    return window, groups, mode_pads


def input_size_argument(op, ndim, input_size):
    """``(shape batched, unbatched)`` of ``conv*_input``'s ``input_size`` (N optional)."""
    shape = _shape_argument(input_size, (ndim + 1, ndim + 2), op, "input_size")
    unbatched = len(shape) == ndim + 1
    return ((1,) + shape if unbatched else shape), unbatched


def weight_size_argument(op, ndim, weight_size):
    """``conv*_weight``'s ``weight_size``: ``ndim + 2`` positive ints."""
    shape = _shape_argument(weight_size, (ndim + 2,), op, "weight_size")
    if 0 in shape:
        raise ValueError(f"{op}(): `weight_size` must have no zero entry, got {shape}")
    return shape


def _shape_argument(value, lengths, op, name):
    """A shape given as a sequence of non-negative ints (``input_size``, ``weight_size``)."""
    if not isinstance(value, (tuple, list)) or isinstance(value, str):
        raise TypeError(f"{op}(): `{name}` must be a tuple of ints, got {value!r}")
    shape = to_tuple(tuple(value), len(value), op, name, minimum=0)
    if len(shape) not in lengths:
        expected = " or ".join(str(n) for n in lengths)
        raise ValueError(f"{op}(): `{name}` must have {expected} entries, got {shape}")
    return shape


# --- implementations ------------------------------------------------------------

def _conv(op, ndim, input, weight, bias, stride, padding, dilation, groups, padding_mode,
          columns=None):
    """The convolution; ``columns`` (a layer's :class:`~npconv.engine.im2col.KeptColumns`)
    keeps im2col's columns for :func:`_conv_backward` and :func:`_conv_weight`."""
    x, w, b, unbatched = input_arrays(op, ndim, input, weight, bias)
    check_bias(op, b, w.shape[0])
    window, groups, mode_pads = conv_window(op, ndim, x.shape, w.shape, stride, padding,
                                            dilation, groups, padding_mode)
    if mode_pads is None:
        y = engine.forward(x, w, window, groups, columns=columns)
    else:
        y = np.empty((x.shape[0], w.shape[0]) + window.out_shape, x.dtype)
        sample_bytes = (x.shape[1] * window.in_volume + w.shape[0] * window.out_volume) * x.itemsize
        chunks, rest = sample_chunks(x.shape[0], sample_bytes)
        with rest:
            for chunk in chunks:
                y[chunk] = engine.forward(padded(op, x[chunk], mode_pads, padding_mode), w,
                                          window, groups)
    return unbatch(add_bias(y, b), unbatched)


def _conv_backward(op, ndim, grad_output, input, weight, bias, stride, padding, dilation,
                   groups, padding_mode, columns=None):
    x, w, b, unbatched = input_arrays(op, ndim, input, weight, bias)
    check_bias(op, b, w.shape[0])
    window, groups, mode_pads = conv_window(op, ndim, x.shape, w.shape, stride, padding,
                                            dilation, groups, padding_mode)
    gy = check_grad_output(op, grad_output, (x.shape[0], w.shape[0]) + window.out_shape,
                           unbatched, x)
    x, w, b = promoted(x, w, b) if gy.dtype != x.dtype else (x, w, b)
    if mode_pads is None:
        gx, gw = engine.backward(gy, window, groups, w.shape, weight=w, x=x, columns=columns)
    else:
        gx, gw = np.empty(x.shape, x.dtype), np.zeros(w.shape, x.dtype)
        # a chunk's weight gradient and their sum are kept beside the engine's temporaries
        chunks, rest = sample_chunks(x.shape[0], 2 * x.shape[1] * window.in_volume * x.itemsize,
                                     reserved=2 * gw.nbytes)
        with rest:
            for chunk in chunks:
                gx_padded, gw_chunk = engine.backward(
                    gy[chunk], window, groups, w.shape, weight=w,
                    x=padded(op, x[chunk], mode_pads, padding_mode))
                padded_adjoint(op, gx_padded, x[chunk].shape, mode_pads, padding_mode,
                               out=gx[chunk])
                gw += gw_chunk
    return gradients_as((input, weight, bias), (unbatch(gx, unbatched), gw, bias_grad(gy, b)))


def _conv_input(op, ndim, input_size, weight, grad_output, stride, padding, dilation, groups,
                padding_mode):
    shape, unbatched = input_size_argument(op, ndim, input_size)
    w = as_float_array(weight, op, "weight")
    check_ndim(w, (ndim + 2,), op, "weight", "(out_channels, in_channels/groups, *kernel_size)")
    window, groups, mode_pads = conv_window(op, ndim, shape, w.shape, stride, padding, dilation,
                                            groups, padding_mode, input_name="input_size")
    gy = check_grad_output(op, grad_output, (shape[0], w.shape[0]) + window.out_shape,
                           unbatched, w)
    gy, w = promoted(gy, w)
    if mode_pads is None:
        gx, _ = engine.backward(gy, window, groups, w.shape, weight=w)
    else:
        gx = np.empty(shape, gy.dtype)
        chunks, rest = sample_chunks(shape[0], shape[1] * window.in_volume * gy.itemsize)
        with rest:
            for chunk in chunks:
                gx_padded, _ = engine.backward(gy[chunk], window, groups, w.shape, weight=w)
                padded_adjoint(op, gx_padded, gx[chunk].shape, mode_pads, padding_mode,
                               out=gx[chunk])
    return unbatch(gx, unbatched)


def _conv_weight(op, ndim, input, weight_size, grad_output, stride, padding, dilation, groups,
                 padding_mode, columns=None):
    x, unbatched = batched_input(op, ndim, input)
    shape = weight_size_argument(op, ndim, weight_size)
    window, groups, mode_pads = conv_window(op, ndim, x.shape, shape, stride, padding, dilation,
                                            groups, padding_mode)
    gy = check_grad_output(op, grad_output, (x.shape[0], shape[0]) + window.out_shape,
                           unbatched, x)
    gy, x = promoted(gy, x)
    if mode_pads is None:
        return engine.backward(gy, window, groups, shape, x=x, columns=columns)[1]
    gw = np.zeros(shape, x.dtype)
    chunks, rest = sample_chunks(x.shape[0], x.shape[1] * window.in_volume * x.itemsize,
                                 reserved=gw.nbytes)
    with rest:
        for chunk in chunks:
            gw += engine.backward(gy[chunk], window, groups, shape,
                                  x=padded(op, x[chunk], mode_pads, padding_mode))[1]
    return gw


# --- public functions, one per dimensionality ---------------------------------------

_CONV_DOC = """{ndim}-D convolution (cross-correlation), as ``torch.nn.functional.{name}``.

Parameters
----------
input : ndarray, shape (N, C_in, {spatial}) or unbatched (C_in, {spatial})
    float32 or float64; never modified; any strides.
weight : ndarray, shape (C_out, C_in / groups, {kernel})
    Same dtype as ``input``.
bias : ndarray, shape (C_out,), optional
stride, dilation : int or tuple of {ndim} ints, positive
padding : int, tuple of {ndim} ints, tuple of {ndim} (lo, hi) pairs, 'valid' or 'same'
    Implicit padding.  Per-side pairs go beyond torch.  ``'same'`` keeps
    the input size (stride 1 only) and puts an odd extra pixel on the high side.
groups : int
    Splits the channels into ``groups`` independent convolutions; both
    ``C_in`` and ``C_out`` must be multiples of it (``groups=C_in`` is depthwise).
padding_mode : {{'zeros', 'reflect', 'replicate', 'circular'}}, keyword-only
    What the padding cells hold, as the ``padding_mode`` of ``torch.nn.Conv{ndim}d``
    (torch's functional form has zeros only): zeros, or the input padded by
    :func:`pad` in that mode (``'reflect'`` needs each pad smaller than the
    input, ``'circular'`` at most its size).

Returns
-------
ndarray, shape (N, C_out, {out_spatial})
    Same dtype as ``input``.

Notes
-----
``out[n, k, o] = bias[k] + sum_{{c, j}} weight[k, c, j] * input[n, g*C_in/groups + c, o*stride + j*dilation - pad_lo]``
with ``g = k // (C_out/groups)`` and zero outside the input (with
``padding_mode='zeros'``; otherwise ``input`` is :func:`pad`-ded in that mode
first and the window reads it without padding).  Per dimension::

    out_size = floor((in_size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) / stride) + 1

Raises
------
TypeError
    Non-float or mixed dtypes, non-int arguments.
ValueError
    Wrong number of dimensions, channel/group mismatch, wrong bias length,
    non-positive stride or dilation, negative padding, unknown padding string,
    'same' with stride > 1, tuples of the wrong length, a kernel larger than
    the padded input, an unknown ``padding_mode`` or a padding it cannot
    take.

Examples
--------
>>> import numpy as np, npconv
>>> x = np.ones((2, 3, {example_in}), np.float32)
>>> w = np.ones((4, 3, {example_k}), np.float32)
>>> npconv.{name}(x, w, padding=1).shape
{example_out}
"""

_CONV_BACKWARD_DOC = """Backward pass of :func:`{fwd}`: gradients of a loss with respect to its arguments.

Parameters
----------
grad_output : ndarray, shape (N, C_out, {out_spatial})
    Gradient of the loss with respect to ``{fwd}(input, weight, bias, ...)``.
input, weight, bias, stride, padding, dilation, groups, padding_mode
    Exactly as given to :func:`{fwd}`.

Returns
-------
grad_input : ndarray, shape of ``input``
grad_weight : ndarray, shape of ``weight``
grad_bias : ndarray, shape (C_out,), or None when ``bias`` is None

Notes
-----
``grad_input`` is the transposed convolution of ``grad_output`` with
``weight``; ``grad_weight[k, c, j] = sum_{{n, o}} grad_output[n, k, o] * input[n, c', o*stride + j*dilation - pad_lo]``;
``grad_bias`` sums ``grad_output`` over the batch and spatial axes.
Use :func:`{name_input}` or :func:`{name_weight}` when only one gradient is needed.

Examples
--------
>>> import numpy as np, npconv
>>> x = np.ones((2, 3, {example_in}), np.float32)
>>> w = np.ones((4, 3, {example_k}), np.float32)
>>> y = npconv.{fwd}(x, w, padding=1)
>>> gx, gw, gb = npconv.{name}(np.ones_like(y), x, w, np.zeros(4, np.float32), padding=1)
>>> gx.shape, gw.shape, gb.shape
((2, 3, {example_in}), (4, 3, {example_k}), (4,))
"""

_CONV_INPUT_DOC = """Gradient of :func:`{fwd}` with respect to its input, as ``torch.nn.grad.{name}``.

Parameters
----------
input_size : tuple of ints
    Shape of the forward input, ``(N, C_in, {spatial})`` (or unbatched).  It
    fixes the sizes that the floor in the output-size formula cannot recover.
weight : ndarray, shape (C_out, C_in / groups, {kernel})
grad_output : ndarray, shape (N, C_out, {out_spatial})
stride, padding, dilation, groups, padding_mode
    As given to :func:`{fwd}`.

Returns
-------
ndarray, shape ``input_size``

Examples
--------
>>> import numpy as np, npconv
>>> x = np.ones((2, 3, {example_in}), np.float32)
>>> w = np.ones((4, 3, {example_k}), np.float32)
>>> y = npconv.{fwd}(x, w, padding=1)
>>> npconv.{name}(x.shape, w, np.ones_like(y), padding=1).shape
(2, 3, {example_in})
"""

_CONV_WEIGHT_DOC = """Gradient of :func:`{fwd}` with respect to its weight, as ``torch.nn.grad.{name}``.

Parameters
----------
input : ndarray, shape (N, C_in, {spatial}) (or unbatched)
weight_size : tuple of ints
    Shape of the weight, ``(C_out, C_in / groups, {kernel})``.
grad_output : ndarray, shape (N, C_out, {out_spatial})
stride, padding, dilation, groups, padding_mode
    As given to :func:`{fwd}`.

Returns
-------
ndarray, shape ``weight_size``

Examples
--------
>>> import numpy as np, npconv
>>> x = np.ones((2, 3, {example_in}), np.float32)
>>> w = np.ones((4, 3, {example_k}), np.float32)
>>> y = npconv.{fwd}(x, w, padding=1)
>>> npconv.{name}(x, w.shape, np.ones_like(y), padding=1).shape
(4, 3, {example_k})
"""

# --- public functions: thin definitions over the implementations above ---------------

@dask_aware
@documented(_CONV_DOC, 1)
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros"):
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups,
                 padding_mode)


@documented(_CONV_BACKWARD_DOC, 1, fwd="conv1d", name_input="conv1d_input",
            name_weight="conv1d_weight")
@dask_aware
def conv1d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1,
                    groups=1, *, padding_mode="zeros"):
    return _conv_backward("conv1d_backward", 1, grad_output, input, weight, bias, stride, padding,
                          dilation, groups, padding_mode)


@dask_aware
@documented(_CONV_INPUT_DOC, 1, fwd="conv1d")
def conv1d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1,
                 *, padding_mode="zeros"):
    return _conv_input("conv1d_input", 1, input_size, weight, grad_output, stride, padding,
                       dilation, groups, padding_mode)


@dask_aware
@documented(_CONV_WEIGHT_DOC, 1, fwd="conv1d")
def conv1d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1,
                  *, padding_mode="zeros"):
    return _conv_weight("conv1d_weight", 1, input, weight_size, grad_output, stride, padding,
                        dilation, groups, padding_mode)


@dask_aware
@documented(_CONV_DOC, 2)
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros"):
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups,
                 padding_mode)


@documented(_CONV_BACKWARD_DOC, 2, fwd="conv2d", name_input="conv2d_input",
            name_weight="conv2d_weight")
@dask_aware
def conv2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1,
                    groups=1, *, padding_mode="zeros"):
    return _conv_backward("conv2d_backward", 2, grad_output, input, weight, bias, stride, padding,
                          dilation, groups, padding_mode)


@dask_aware
@documented(_CONV_INPUT_DOC, 2, fwd="conv2d")
def conv2d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1,
                 *, padding_mode="zeros"):
    return _conv_input("conv2d_input", 2, input_size, weight, grad_output, stride, padding,
                       dilation, groups, padding_mode)


@dask_aware
@documented(_CONV_WEIGHT_DOC, 2, fwd="conv2d")
def conv2d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1,
                  *, padding_mode="zeros"):
    return _conv_weight("conv2d_weight", 2, input, weight_size, grad_output, stride, padding,
                        dilation, groups, padding_mode)


@dask_aware
@documented(_CONV_DOC, 3)
def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros"):
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups,
                 padding_mode)


@documented(_CONV_BACKWARD_DOC, 3, fwd="conv3d", name_input="conv3d_input",
            name_weight="conv3d_weight")
@dask_aware
def conv3d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1,
                    groups=1, *, padding_mode="zeros"):
    return _conv_backward("conv3d_backward", 3, grad_output, input, weight, bias, stride, padding,
                          dilation, groups, padding_mode)


@dask_aware
@documented(_CONV_INPUT_DOC, 3, fwd="conv3d")
def conv3d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1,
                 *, padding_mode="zeros"):
    return _conv_input("conv3d_input", 3, input_size, weight, grad_output, stride, padding,
                       dilation, groups, padding_mode)


@dask_aware
@documented(_CONV_WEIGHT_DOC, 3, fwd="conv3d")
def conv3d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1,
                  *, padding_mode="zeros"):
    return _conv_weight("conv3d_weight", 3, input, weight_size, grad_output, stride, padding,
                        dilation, groups, padding_mode)
