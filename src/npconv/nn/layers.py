"""Layers: thin wrappers that hold parameters, call the functional ops and cache for backward.

Constructor arguments, defaults and initial distributions are torch's; the
maths lives in the functional ops (:mod:`npconv`), not here.
"""

from __future__ import annotations

import numpy as np

from ..ops import conv, conv_transpose
from ..ops.arguments import _as_int, check_groups, to_tuple, window_arguments
from ..ops.conv import PADDING_MODES
from ..ops.padding import check_mode
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
        module, prefix = (conv_transpose, "conv_transpose") if self.transposed else (conv, "conv")
        self._forward = getattr(module, f"{prefix}{self.ndim}d")
        self._backward = getattr(module, f"{prefix}{self.ndim}d_backward")

    def forward(self, x):
        self._input = x
        return self._forward(x, self.weight.data, _data(self.bias), **self.options)

    def backward(self, grad_output):
        grad_input, grad_weight, grad_bias = self._backward(
            grad_output, self._input, self.weight.data, _data(self.bias), **self.options)
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
    """1-D convolution layer, as ``torch.nn.Conv1d`` (weight ``(C_out, C_in/groups, k)``)."""
    ndim = 1


class Conv2d(_ConvNd):
    """2-D convolution layer, as ``torch.nn.Conv2d`` (weight ``(C_out, C_in/groups, kh, kw)``)."""
    ndim = 2


class Conv3d(_ConvNd):
    """3-D convolution layer, as ``torch.nn.Conv3d``."""
    ndim = 3


class ConvTranspose2d(_Convolution):
    """2-D transposed convolution layer, as ``torch.nn.ConvTranspose2d`` (weight ``(C_in, C_out/groups, kh, kw)``)."""

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


class Linear(Module):
    """``y = x @ weight.T + bias`` over the last axis, as ``torch.nn.Linear``."""

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
        y = x @ self.weight.data.T
        return y if self.bias is None else y + self.bias.data

    def backward(self, grad_output):
        x = self._input.reshape(-1, self.weight.shape[1])
        gy = np.asarray(grad_output).reshape(-1, self.weight.shape[0])
        _accumulate(self.weight, gy.T @ x)
        _accumulate(self.bias, None if self.bias is None else gy.sum(axis=0))
        return (gy @ self.weight.data).reshape(self._input.shape).astype(self._input.dtype,
                                                                          copy=False)

    def extra_repr(self):
        return (f"in_features={self.weight.shape[1]}, out_features={self.weight.shape[0]}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Merge dimensions ``start_dim..end_dim`` into one, as ``torch.nn.Flatten``."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        self._shape = x.shape
        start = self.start_dim % x.ndim
        end = self.end_dim % x.ndim
        return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1:])

    def backward(self, grad_output):
        return grad_output.reshape(self._shape)


class Dropout(Module):
    """Zero each element with probability ``p`` in training and scale the rest by ``1/(1-p)``."""

    def __init__(self, p=0.5, *, rng=None):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout(): `p` must be between 0 and 1, got {p}")
        self.p, self.rng = p, rng

    def forward(self, x):
        if not self.training or self.p == 0:
            self._scale = None
            return x
        keep = init.default_rng(self.rng).random(x.shape) >= self.p
        self._scale = keep * np.asarray(1 / (1 - self.p) if self.p < 1 else 0, x.dtype)
        return x * self._scale

    def backward(self, grad_output):
        return grad_output if self._scale is None else grad_output * self._scale

    def extra_repr(self):
        return f"p={self.p}"


class BatchNorm2d(Module):
    """Batch normalisation over ``(N, H, W)`` per channel, as ``torch.nn.BatchNorm2d``.

    Training normalises with the batch's biased variance and updates the running
    statistics with its unbiased variance; evaluation uses the running statistics.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, *, dtype=np.float32):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.track_running_stats = track_running_stats
        self.weight = Parameter(np.ones(num_features, dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype)) if affine else None
        tracked = track_running_stats
        self.register_buffer("running_mean", np.zeros(num_features, dtype) if tracked else None)
        self.register_buffer("running_var", np.ones(num_features, dtype) if tracked else None)
        self.register_buffer("num_batches_tracked", np.zeros((), np.int64) if tracked else None)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm2d(): `input` must have shape (N, {self.num_features}, H, W), "
                             f"got {x.shape}")
        axes = (0, 2, 3)
        if self.training and x.size // max(1, x.shape[1]) <= 1:
            raise ValueError(f"BatchNorm2d(): training needs more than one value per channel, "
                             f"got input of shape {x.shape}")
        self._batch_stats = self.training or not self.track_running_stats
        if self._batch_stats:
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)
            if self.training and self.track_running_stats:
                self._update_running(mean, var, x.size // x.shape[1])
        else:
            mean, var = self.running_mean, self.running_var
        self._inv_std = 1 / np.sqrt(var + self.eps)
        self._normalized = (x - mean[:, None, None]) * self._inv_std[:, None, None]
        if self.weight is None:
            return self._normalized
        return self._normalized * self.weight.data[:, None, None] + self.bias.data[:, None, None]

    def _update_running(self, mean, var, count):
        self.num_batches_tracked = self.num_batches_tracked + 1
        momentum = 1 / self.num_batches_tracked if self.momentum is None else self.momentum
        unbiased = var * (count / max(count - 1, 1))
        self.running_mean = ((1 - momentum) * self.running_mean + momentum * mean).astype(
            self.running_mean.dtype)
        self.running_var = ((1 - momentum) * self.running_var + momentum * unbiased).astype(
            self.running_var.dtype)

    def backward(self, grad_output):
        axes = (0, 2, 3)
        xhat = self._normalized
        if self.weight is not None:
            _accumulate(self.weight, (grad_output * xhat).sum(axis=axes))
            _accumulate(self.bias, grad_output.sum(axis=axes))
            grad_xhat = grad_output * self.weight.data[:, None, None]
        else:
            grad_xhat = grad_output
        inv_std = self._inv_std[:, None, None]
        if not self._batch_stats:
            return grad_xhat * inv_std
        mean_grad = grad_xhat.mean(axis=axes, keepdims=True)
        mean_grad_xhat = (grad_xhat * xhat).mean(axis=axes, keepdims=True)
        return (grad_xhat - mean_grad - xhat * mean_grad_xhat) * inv_std

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


def _data(parameter):
    return None if parameter is None else parameter.data


def _accumulate(parameter, gradient):
    """Add ``gradient`` to a parameter's, unless it is absent or frozen."""
    if parameter is not None and parameter.requires_grad:
        parameter.grad += gradient


def _options(options):
    return ", ".join(f"{key}={value}" for key, value in options.items())


__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d", "Linear", "Flatten", "Dropout",
           "BatchNorm2d"]
