"""Transposed convolution: ``conv_transpose1d/2d/3d`` and their backward passes.

A transposed convolution is the adjoint of a convolution: its forward pass is
the input gradient of the convolution that maps its output shape back to its
input shape, with the same weight.  So it is written once, in terms of the
engine's two primitives:

* forward  = ``engine.backward`` (input gradient of that convolution);
* backward = ``engine.forward`` for the input gradient, and the convolution's
  weight gradient with the roles of input and output swapped.

``output_padding`` only adds cells on the high side of the output, which no
window of the underlying convolution reaches past its last position.
"""

from __future__ import annotations

import numpy as np

from .. import engine
from ..window.geometry import Window
from .arguments import (check_array_size, check_groups, make_window, promoted, to_tuple,
                        transposed_output_size, window_arguments)
from .common import (add_bias, bias_grad, check_bias, check_grad_output, dask_aware, documented,
                     gradients_as, input_arrays, unbatch)


def _transpose_window(op, ndim, x_shape, w_shape, stride, padding, output_padding, groups,
                      dilation):
    """The window of the convolution whose input gradient this transposed convolution is.

    Its ``in_shape`` is the transposed convolution's output size and its
    ``out_shape`` the transposed convolution's input size.
    """
    in_channels = w_shape[0]
    groups = check_groups(op, groups, [("`weight.shape[0]` (input channels)", in_channels)])
    if x_shape[1] != in_channels:
        raise ValueError(
            f"{op}(): `input` must have {in_channels} channels (weight.shape[0]), "
            f"got {x_shape[1]}"
        )
    kernel, stride, pads, dilation = window_arguments(op, ndim, tuple(w_shape[2:]), stride,
                                                      padding, dilation, strings=False)
    extra = to_tuple(output_padding, ndim, op, "output_padding", minimum=0)
    if any(e >= max(s, d) for e, s, d in zip(extra, stride, dilation)):
        raise ValueError(
            f"{op}(): `output_padding` must be smaller than either stride or dilation in "
            f"every dimension, got output_padding={extra}, stride={stride}, dilation={dilation}"
        )
    in_shape = tuple(x_shape[2:])
    out_shape = tuple(
        transposed_output_size(n, k, s, d, lo, hi, e)
        for n, k, s, d, (lo, hi), e in zip(in_shape, kernel, stride, dilation, pads, extra)
    )
    if any(o < 1 for o in out_shape):
        raise ValueError(
            f"{op}(): the output size {out_shape} is not positive: (in - 1) * stride - "
            f"pad_lo - pad_hi + dilation * (kernel - 1) + output_padding + 1 with input "
            f"size {in_shape}, kernel_size={kernel}, stride={stride}, padding={pads}, "
            f"dilation={dilation}, output_padding={extra}"
        )
    check_array_size(op, (x_shape[0], w_shape[1] * groups) + out_shape, np.float32,
                     f"`stride`={stride} and `dilation`={dilation} (with a kernel of {kernel})")
    # The convolution over the output has at least in_shape positions
    # (exactly, unless output_padding >= stride); only the first in_shape of
    # them are the adjoint's.
    window = make_window(op, out_shape, kernel, stride, pads, dilation)
    return Window(window.in_shape, in_shape, window.kernel, window.stride, window.dilation,
                  window.padding), groups


def _conv_transpose(op, ndim, input, weight, bias, stride, padding, output_padding, groups,
                    dilation):
    x, w, b, unbatched = input_arrays(op, ndim, input, weight, bias)
    window, groups = _transpose_window(op, ndim, x.shape, w.shape, stride, padding,
                                       output_padding, groups, dilation)
    check_bias(op, b, w.shape[1] * groups)
    y, _ = engine.backward(x, window, groups, w.shape, weight=w)
    return unbatch(add_bias(y, b), unbatched)


def _conv_transpose_backward(op, ndim, grad_output, input, weight, bias, stride, padding,
                             output_padding, groups, dilation):
    x, w, b, unbatched = input_arrays(op, ndim, input, weight, bias)
    window, groups = _transpose_window(op, ndim, x.shape, w.shape, stride, padding,
                                       output_padding, groups, dilation)
    check_bias(op, b, w.shape[1] * groups)
    gy = check_grad_output(op, grad_output,
                           (x.shape[0], w.shape[1] * groups) + window.in_shape, unbatched, x)
    x, w, b = promoted(x, w, b) if gy.dtype != x.dtype else (x, w, b)
    # both gradients read the windows of grad_output: the weight gradient reuses the columns the
    # input gradient built, where they fit the workspace (im2col's KeptColumns)
    columns = engine.KeptColumns()
    grad_input = engine.forward(gy, w, window, groups, columns=columns)
    _, grad_weight = engine.backward(x, window, groups, w.shape, x=gy, columns=columns)
    columns.release()
    return gradients_as((input, weight, bias),
                        (unbatch(grad_input, unbatched), grad_weight, bias_grad(gy, b)))


_DOC = """{ndim}-D transposed convolution, as ``torch.nn.functional.{name}``.

The adjoint of :func:`{conv}` with the same weight: ``{name}(y, w)`` is the
gradient of ``<{conv}(x, w), y>`` with respect to ``x``.

Parameters
----------
input : ndarray, shape (N, C_in, {spatial}) or unbatched (C_in, {spatial})
weight : ndarray, shape (C_in, C_out / groups, {kernel})
bias : ndarray, shape (C_out,), optional
stride, dilation : int or tuple of {ndim} ints, positive
padding : int, tuple of {ndim} ints or tuple of {ndim} (lo, hi) pairs
    The padding of the convolution this is the adjoint of: ``pad_lo`` and
    ``pad_hi`` cells are cropped from the two sides of the full output.
    Per-side pairs go beyond torch; strings are refused, as in torch.
output_padding : int or tuple of {ndim} ints
    Extra cells on the high side; each must be smaller than stride or dilation.
groups : int

Returns
-------
ndarray, shape (N, C_out, {out_spatial})

Notes
-----
Per dimension::

    out_size = (in_size - 1) * stride - pad_lo - pad_hi + dilation * (kernel - 1) + output_padding + 1

Examples
--------
>>> import numpy as np, npconv
>>> x = np.ones((2, 4, {example_in}), np.float32)
>>> w = np.ones((4, 3, {example_k}), np.float32)
>>> npconv.{name}(x, w, padding=1).shape
(2, 3, {example_in})
"""

_BACKWARD_DOC = """Backward pass of :func:`{fwd}`.

Parameters
----------
grad_output : ndarray, shape (N, C_out, {out_spatial})
input, weight, bias, stride, padding, output_padding, groups, dilation
    Exactly as given to :func:`{fwd}`.

Returns
-------
grad_input : ndarray, shape of ``input``
    The convolution of ``grad_output`` with ``weight`` (:func:`{conv}`).
grad_weight : ndarray, shape of ``weight``
grad_bias : ndarray, shape (C_out,), or None when ``bias`` is None

Examples
--------
>>> import numpy as np, npconv
>>> x = np.ones((2, 4, {example_in}), np.float32)
>>> w = np.ones((4, 3, {example_k}), np.float32)
>>> y = npconv.{fwd}(x, w, padding=1)
>>> gx, gw, gb = npconv.{name}(np.ones_like(y), x, w, padding=1)
>>> gx.shape, gw.shape, gb is None
((2, 4, {example_in}), (4, 3, {example_k}), True)
"""


@dask_aware
@documented(_DOC, 1, conv="conv1d")
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


@dask_aware
@documented(_BACKWARD_DOC, 1, fwd="conv_transpose1d", conv="conv1d")
def conv_transpose1d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                              output_padding=0, groups=1, dilation=1):
    return _conv_transpose_backward("conv_transpose1d_backward", 1, grad_output, input, weight,
                                    bias, stride, padding, output_padding, groups, dilation)


@dask_aware
@documented(_DOC, 2, conv="conv2d")
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


@dask_aware
@documented(_BACKWARD_DOC, 2, fwd="conv_transpose2d", conv="conv2d")
def conv_transpose2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                              output_padding=0, groups=1, dilation=1):
    return _conv_transpose_backward("conv_transpose2d_backward", 2, grad_output, input, weight,
                                    bias, stride, padding, output_padding, groups, dilation)


@dask_aware
@documented(_DOC, 3, conv="conv3d")
def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


@dask_aware
@documented(_BACKWARD_DOC, 3, fwd="conv_transpose3d", conv="conv3d")
def conv_transpose3d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                              output_padding=0, groups=1, dilation=1):
    return _conv_transpose_backward("conv_transpose3d_backward", 3, grad_output, input, weight,
                                    bias, stride, padding, output_padding, groups, dilation)
