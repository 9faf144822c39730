"""Layers: thin wrappers that hold parameters, call the functional ops and cache for backward.

Constructor arguments, defaults and initial distributions are torch's; the
maths lives in the functional ops (:mod:`npconv`), not here.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import config
from ..engine import KeptColumns
from ..ops import conv, conv_transpose
from ..ops.arguments import _as_int, check_groups, to_tuple, window_arguments
from ..ops.common import bias_grad
from ..ops.conv import PADDING_MODES
from ..ops.padding import check_mode
from ..window.blocks import blas_threads
from . import init
from .module import Module, Parameter


def _check_channels(name, in_channels, out_channels, groups):
    """Positive channel counts that ``groups`` divides (the operators' own groups check)."""
    for argument, value in (("in_channels", in_channels), ("out_channels", out_channels)):
        if _as_int(value, name, argument) < 1:
            raise ValueError(f"{name}(): `{argument}` must be positive, got {value}")
    check_groups(name, groups, [("`in_channels`", in_channels), ("`out_channels`", out_channels)])


class _Convolution(Module):
    """Shared by the convolution layers: weight and bias, and a forward/backward pair of ops.

    Subclasses set ``ndim`` and ``transposed``; the weight is ``(C_out, C_in/groups, *k)``,
    or ``(C_in, C_out/groups, *k)`` when transposed, initialised as torch does.
    """

    ndim = 2
    transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, bias, options, dtype, rng):
        super().__init__()
        name = type(self).__name__
        _check_channels(name, in_channels, out_channels, options["groups"])
        # the operators' own normaliser, so that a bad argument fails here and not at forward
        kernel, _, _, _ = window_arguments(name, self.ndim, kernel_size, options["stride"],
                                           options["padding"], options["dilation"],
                                           strings=not self.transposed)
        if self.transposed:
            to_tuple(options["output_padding"], self.ndim, name, "output_padding", minimum=0)
        self.options = options
        rng = init.default_rng(rng)
        if self.transposed:
            shape = (in_channels, out_channels // options["groups"]) + kernel
        else:
            shape = (out_channels, in_channels // options["groups"]) + kernel
        self.weight = Parameter(init.kaiming_uniform(shape, rng, dtype))
        self.bias = Parameter(init.bias_uniform(out_channels, shape, rng, dtype)) if bias else None
        if self.transposed:
            self._forward = getattr(conv_transpose, f"conv_transpose{self.ndim}d")
            self._backward = getattr(conv_transpose, f"conv_transpose{self.ndim}d_backward")
            self._kept = {}
        else:  # the operators' implementations, which take the columns kept for backward
            name = f"conv{self.ndim}d"
            self._forward = functools.partial(conv._conv, name, self.ndim)
            self._backward = functools.partial(conv._conv_backward, f"{name}_backward", self.ndim)
            self._input_gradient = getattr(conv, f"{name}_input")
            self._weight_gradient = functools.partial(conv._conv_weight, f"{name}_weight",
                                                      self.ndim)
            self._kept = {"columns": KeptColumns()}

    def forward(self, x):
        self._input = x
        kept = self._kept
        if kept and not self.training:  # no backward pass expected: keep no columns
            kept["columns"].release()
            kept = {"columns": None}
        return self._forward(x, self.weight.data, _data(self.bias), **self.options, **kept)

    def backward(self, grad_output):
        x, weight = self._input, self.weight.data
        input_needed, weight_needed = self.input_gradient_needed, self.weight.requires_grad
        if self.transposed or (input_needed and weight_needed):
            grad_input, grad_weight, grad_bias = self._backward(
                grad_output, x, weight, _data(self.bias), **self.options, **self._kept)
        else:  # one gradient or none: the input's (frozen weight) or the weight's (the model's input)
            grad_input = (self._input_gradient(np.shape(x), weight, grad_output, **self.options)
                          if input_needed else None)
            grad_weight = (self._weight_gradient(x, weight.shape, grad_output, **self.options,
                                                 **self._kept) if weight_needed else None)
            gy = np.asarray(grad_output)
            grad_bias = bias_grad(gy if gy.ndim == self.ndim + 2 else gy[np.newaxis],
                                  _data(self.bias))
        _accumulate(self.weight, grad_weight)
        _accumulate(self.bias, grad_bias)
        return grad_input

    def extra_repr(self):
        first, second = self.weight.shape[:2]
        groups = self.options["groups"]
        in_channels, out_channels = (first, second * groups) if self.transposed else \
            (second * groups, first)
        return (f"{in_channels}, {out_channels}, kernel_size={self.weight.shape[2:]}, "
                f"{_options(self.options)}")


class _ConvNd(_Convolution):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", *, dtype=np.float32, rng=None):
        check_mode(type(self).__name__, padding_mode, name="padding_mode", modes=PADDING_MODES)
        options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
                       padding_mode=padding_mode)
        super().__init__(in_channels, out_channels, kernel_size, bias, options, dtype, rng)


class Conv1d(_ConvNd):
    """1-D convolution layer, as ``torch.nn.Conv1d`` (weight ``(C_out, C_in/groups, k)``).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Conv1d(3, 8, 3, padding=1)
    >>> y = layer(np.ones((2, 3, 16), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 8, 16), (2, 3, 16))
    """
    ndim = 1


class Conv2d(_ConvNd):
    """2-D convolution layer, as ``torch.nn.Conv2d`` (weight ``(C_out, C_in/groups, kh, kw)``).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    >>> y = layer(np.ones((2, 3, 16, 16), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 8, 8, 8), (2, 3, 16, 16))
    """
    ndim = 2


class Conv3d(_ConvNd):
    """3-D convolution layer, as ``torch.nn.Conv3d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Conv3d(3, 8, 3, padding=1)
    >>> y = layer(np.ones((2, 3, 8, 8, 8), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 8, 8, 8, 8), (2, 3, 8, 8, 8))
    """
    ndim = 3


class _ConvTransposeNd(_Convolution):
    """Transposed convolution layers: weight ``(C_in, C_out/groups, *kernel)``, as torch's."""

    transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros", *,
                 dtype=np.float32, rng=None):
        if padding_mode != "zeros":  # as torch
            raise ValueError(f"{type(self).__name__}(): only padding_mode='zeros' is supported, "
                             f"got {padding_mode!r}")
        options = dict(stride=stride, padding=padding, output_padding=output_padding,
                       groups=groups, dilation=dilation)
        super().__init__(in_channels, out_channels, kernel_size, bias, options, dtype, rng)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution layer, as ``torch.nn.ConvTranspose1d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ConvTranspose1d(8, 3, 4, stride=2, padding=1)
    >>> y = layer(np.ones((2, 8, 16), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 32), (2, 8, 16))
    """
    ndim = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution layer, as ``torch.nn.ConvTranspose2d`` (weight ``(C_in, C_out/groups, kh, kw)``).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ConvTranspose2d(8, 3, 4, stride=2, padding=1)
    >>> y = layer(np.ones((2, 8, 16, 16), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 32, 32), (2, 8, 16, 16))
    """
    ndim = 2


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution layer, as ``torch.nn.ConvTranspose3d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ConvTranspose3d(8, 3, 4, stride=2, padding=1)
    >>> y = layer(np.ones((2, 8, 4, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 8, 8, 8), (2, 8, 4, 4, 4))
    """
    ndim = 3


class Linear(Module):
    """``y = x @ weight.T + bias`` over the last axis, as ``torch.nn.Linear``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Linear(20, 10)
    >>> y = layer(np.ones((4, 20), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((4, 10), (4, 20))
    """

    def __init__(self, in_features, out_features, bias=True, *, dtype=np.float32, rng=None):
        super().__init__()
        for argument, value in (("in_features", in_features), ("out_features", out_features)):
            if _as_int(value, "Linear", argument) < 1:
                raise ValueError(f"Linear(): `{argument}` must be positive, got {value}")
        rng = init.default_rng(rng)
        shape = (out_features, in_features)
        self.weight = Parameter(init.kaiming_uniform(shape, rng, dtype))
        self.bias = Parameter(init.bias_uniform(out_features, shape, rng, dtype)) if bias else None

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim < 1 or x.shape[-1] != self.weight.shape[1]:
            raise ValueError(f"Linear(): `input` must have {self.weight.shape[1]} features in its "
                             f"last axis, got shape {x.shape}")
        if x.dtype.kind != "f":
            raise TypeError(f"Linear(): `input` must be a float array, got dtype {x.dtype}; "
                            f"convert it with `.astype(np.float32)`")
        self._input = x  # mixed float dtypes promote as NumPy does, as in the operators
        with blas_threads(config.get_blas_threads()):
            y = x @ self.weight.data.T
        return y if self.bias is None else y + self.bias.data

    def backward(self, grad_output):
        x = self._input.reshape(-1, self.weight.shape[1])
        gy = np.asarray(grad_output).reshape(-1, self.weight.shape[0])
        with blas_threads(config.get_blas_threads()):
            if self.weight.requires_grad:
                _accumulate(self.weight, gy.T @ x)
            grad_input = gy @ self.weight.data if self.input_gradient_needed else None
        _accumulate(self.bias, None if self.bias is None else gy.sum(axis=0))
        if grad_input is None:
            return None
        return grad_input.reshape(self._input.shape).astype(self._input.dtype, copy=False)

    def extra_repr(self):
        return (f"in_features={self.weight.shape[1]}, out_features={self.weight.shape[0]}, "
                f"bias={self.bias is not None}")


class Dropout(Module):
    """Zero each element with probability ``p`` in training and scale the rest by ``1/(1-p)``.

    ``rng`` (a NumPy Generator, keyword-only) draws the masks; by default the
    generator that :func:`npconv.nn.manual_seed` sets.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Dropout(0.5, rng=np.random.default_rng(0))
    >>> y = layer(np.ones((2, 1000)))
    >>> y.shape, set(np.unique(y)) <= {0.0, 2.0}, layer.eval()(np.ones(3))
    ((2, 1000), True, array([1., 1., 1.]))
    """

    #: the spatial dimensions a mask value spans (0: every element alone)
    channel_dims = 0

    def __init__(self, p=0.5, inplace=False, *, rng=None):
        super().__init__()
        name = type(self).__name__
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) \
                or not 0 <= p <= 1:
            raise ValueError(f"{name}(): `p` must be between 0 and 1, got {p!r}")
        if inplace:
            raise ValueError(f"{name}(): `inplace=True` is not supported: npconv never modifies "
                             f"its inputs")
        self.p, self.rng = float(p), rng

    def _mask_shape(self, x):
        if not self.channel_dims:
            return x.shape
        if x.ndim not in (self.channel_dims + 1, self.channel_dims + 2):
            raise ValueError(f"{type(self).__name__}: `input` must have {self.channel_dims + 1} "
                             f"or {self.channel_dims + 2} dimensions, got shape {x.shape}")
        return x.shape[:x.ndim - self.channel_dims] + (1,) * self.channel_dims

    def forward(self, x):
        shape = self._mask_shape(x)
        if not self.training or self.p == 0:
            self._scale = None
            return x
        keep = init.default_rng(self.rng).random(shape) >= self.p
        self._scale = keep * np.asarray(1 / (1 - self.p) if self.p < 1 else 0, x.dtype)
        return x * self._scale

    def backward(self, grad_output):
        return grad_output if self._scale is None else grad_output * self._scale

    def extra_repr(self):
        return f"p={self.p}"


class Dropout1d(Dropout):
    """Zero whole channels of ``(N, C, L)`` (or ``(C, L)``), as ``torch.nn.Dropout1d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Dropout1d(0.5, rng=np.random.default_rng(0))
    >>> y = layer(np.ones((2, 4, 8)))
    >>> y.shape, bool(np.all((y == 0).all(axis=2) | (y == 2).all(axis=2)))
    ((2, 4, 8), True)
    """
    channel_dims = 1


class Dropout2d(Dropout):
    """Zero whole channels of ``(N, C, H, W)`` (or ``(C, H, W)``), as ``torch.nn.Dropout2d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Dropout2d(0.5, rng=np.random.default_rng(0))
    >>> y = layer(np.ones((2, 4, 8, 8)))
    >>> y.shape, bool(np.all((y == 0).all(axis=(2, 3)) | (y == 2).all(axis=(2, 3))))
    ((2, 4, 8, 8), True)
    """
    channel_dims = 2


class Dropout3d(Dropout):
    """Zero whole channels of ``(N, C, D, H, W)``, as ``torch.nn.Dropout3d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Dropout3d(0.5, rng=np.random.default_rng(0))
    >>> y = layer(np.ones((2, 4, 2, 2, 2)))
    >>> y.shape, bool(np.all((y == 0).all(axis=(2, 3, 4)) | (y == 2).all(axis=(2, 3, 4))))
    ((2, 4, 2, 2, 2), True)
    """
    channel_dims = 3


def _data(parameter):
    return None if parameter is None else parameter.data


def _accumulate(parameter, gradient):
    """Add ``gradient`` to a parameter's, unless it is absent or frozen."""
    if parameter is not None and parameter.requires_grad:
        parameter.grad += gradient


def _options(options):
    return ", ".join(f"{key}={value}" for key, value in options.items())


__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Linear", "Dropout", "Dropout1d",
           "Dropout2d", "Dropout3d"]
