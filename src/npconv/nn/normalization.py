"""Normalisation layers with torch's constructors, over :mod:`npconv.ops.normalization`.

The layers keep torch's bookkeeping: ``BatchNorm*`` counts ``num_batches_tracked`` in
training and, with ``momentum=None``, averages the running statistics cumulatively
(``InstanceNorm*`` counts nothing, as torch's);
without running statistics (``track_running_stats=False``) they use the batch's in
evaluation too.  ``InstanceNorm*`` uses the running statistics only in evaluation
with ``track_running_stats=True``.
"""

from __future__ import annotations

import numpy as np

from ..ops import normalization as functional
from .module import Module, Parameter


def _accumulate(parameter, gradient):
    if parameter is not None and parameter.requires_grad and gradient is not None:
        parameter.grad += gradient


def _data(parameter):
    return None if parameter is None else parameter.data


def _check_input(layer, x, ndims, meaning):
    if np.ndim(x) not in ndims:
        expected = " or ".join(f"{n}-D" for n in ndims)
        raise ValueError(f"{type(layer).__name__}: `input` must be {expected} {meaning}, got "
                         f"shape {np.shape(x)}")


class _Norm(Module):
    """Per-channel weight and bias (ones and zeros), and running statistics when tracked."""

    def __init__(self, num_features, eps, momentum, affine, track_running_stats, dtype):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(np.ones(num_features, dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype)) if affine else None
        tracked = track_running_stats
        self.register_buffer("running_mean", np.zeros(num_features, dtype) if tracked else None)
        self.register_buffer("running_var", np.ones(num_features, dtype) if tracked else None)
        self.register_buffer("num_batches_tracked", np.zeros((), np.int64) if tracked else None)

    def _momentum(self):
        """torch's exponential average factor: ``momentum``, or ``1 / batches`` when it is None."""
        if self.training and self.track_running_stats:
            self.num_batches_tracked = self.num_batches_tracked + 1
            if self.momentum is None:
                return 1.0 / float(self.num_batches_tracked)
        return 0.0 if self.momentum is None else self.momentum

    def _gradients(self, grads):
        grad_input, grad_weight, grad_bias = grads
        _accumulate(self.weight, grad_weight)
        _accumulate(self.bias, grad_bias)
        return grad_input

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class _BatchNorm(_Norm):
    ndims, meaning = (), ""

    def __init__(self, num_features, eps=1e-05, momentum=0.1, affine=True,
                 track_running_stats=True, *, dtype=np.float32):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype)

    def forward(self, x):
        _check_input(self, x, self.ndims, self.meaning)
        momentum = self._momentum()
        batch = self.training or self.running_mean is None
        running = (self.running_mean, self.running_var) if (
            not self.training or self.track_running_stats) else (None, None)
        self._input = x
        y, statistics = functional._batch_norm(x, *running, _data(self.weight), _data(self.bias),
                                               batch, momentum, self.eps)
        self._call = (running, batch, momentum, statistics)
        return y

    def backward(self, grad_output):
        running, batch, momentum, statistics = self._call
        return self._gradients(functional._batch_norm_backward(
            grad_output, self._input, *running, _data(self.weight), _data(self.bias), batch,
            momentum, self.eps, statistics))


class BatchNorm1d(_BatchNorm):
    """As ``torch.nn.BatchNorm1d``: input ``(N, C)`` or ``(N, C, L)``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.BatchNorm1d(3)
    >>> y = layer(np.ones((8, 3, 5), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((8, 3, 5), (8, 3, 5))
    """
    ndims, meaning = (2, 3), "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """As ``torch.nn.BatchNorm2d``: input ``(N, C, H, W)``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.BatchNorm2d(3)
    >>> y = layer(np.random.default_rng(0).standard_normal((8, 3, 4, 4)).astype(np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape, layer.running_mean.shape
    ((8, 3, 4, 4), (8, 3, 4, 4), (3,))
    """
    ndims, meaning = (4,), "(N, C, H, W)"


class BatchNorm3d(_BatchNorm):
    """As ``torch.nn.BatchNorm3d``: input ``(N, C, D, H, W)``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.BatchNorm3d(3)
    >>> y = layer(np.ones((8, 3, 2, 2, 2), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((8, 3, 2, 2, 2), (8, 3, 2, 2, 2))
    """
    ndims, meaning = (5,), "(N, C, D, H, W)"


class _InstanceNorm(_Norm):
    ndims, meaning = (), ""

    def __init__(self, num_features, eps=1e-05, momentum=0.1, affine=False,
                 track_running_stats=False, *, dtype=np.float32):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype)

    def forward(self, x):
        _check_input(self, x, self.ndims, self.meaning)
        unbatched = np.ndim(x) == min(self.ndims)
        x = np.asarray(x)[np.newaxis] if unbatched else x
        momentum = 0.0 if self.momentum is None else self.momentum  # torch counts no batches here
        own = self.training or not self.track_running_stats
        self._call = (own, momentum, unbatched)
        self._input = x
        y = functional.instance_norm(x, self.running_mean, self.running_var, _data(self.weight),
                                     _data(self.bias), own, momentum, self.eps)
        return y[0] if unbatched else y

    def backward(self, grad_output):
        own, momentum, unbatched = self._call
        gy = np.asarray(grad_output)[np.newaxis] if unbatched else grad_output
        grad_input = self._gradients(functional.instance_norm_backward(
            gy, self._input, self.running_mean, self.running_var, _data(self.weight),
            _data(self.bias), own, momentum, self.eps))
        return grad_input[0] if unbatched else grad_input


class InstanceNorm1d(_InstanceNorm):
    """As ``torch.nn.InstanceNorm1d``: input ``(N, C, L)`` or ``(C, L)``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.InstanceNorm1d(3)
    >>> y = layer(np.ones((2, 3, 5), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 5), (2, 3, 5))
    """
    ndims, meaning = (2, 3), "(C, L) or (N, C, L)"


class InstanceNorm2d(_InstanceNorm):
    """As ``torch.nn.InstanceNorm2d``: input ``(N, C, H, W)`` or ``(C, H, W)``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.InstanceNorm2d(3, affine=True)
    >>> y = layer(np.ones((2, 3, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 4, 4), (2, 3, 4, 4))
    """
    ndims, meaning = (3, 4), "(C, H, W) or (N, C, H, W)"


class InstanceNorm3d(_InstanceNorm):
    """As ``torch.nn.InstanceNorm3d``: input ``(N, C, D, H, W)`` or ``(C, D, H, W)``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.InstanceNorm3d(3)
    >>> y = layer(np.ones((2, 3, 2, 2, 2), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 2, 2, 2), (2, 3, 2, 2, 2))
    """
    ndims, meaning = (4, 5), "(C, D, H, W) or (N, C, D, H, W)"


class GroupNorm(Module):
    """As ``torch.nn.GroupNorm``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.GroupNorm(2, 4)
    >>> y = layer(np.ones((2, 4, 3, 3), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 4, 3, 3), (2, 4, 3, 3))
    """

    def __init__(self, num_groups, num_channels, eps=1e-05, affine=True, *, dtype=np.float32):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm(): `num_groups` ({num_groups}) must divide "
                             f"`num_channels` ({num_channels})")
        self.num_groups, self.num_channels, self.eps, self.affine = (num_groups, num_channels,
                                                                     eps, affine)
        self.weight = Parameter(np.ones(num_channels, dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_channels, dtype)) if affine else None

    def forward(self, x):
        self._input = x
        return functional.group_norm(x, self.num_groups, _data(self.weight), _data(self.bias),
                                     self.eps)

    def backward(self, grad_output):
        grad_input, grad_weight, grad_bias = functional.group_norm_backward(
            grad_output, self._input, self.num_groups, _data(self.weight), _data(self.bias),
            self.eps)
        _accumulate(self.weight, grad_weight)
        _accumulate(self.bias, grad_bias)
        return grad_input

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class LayerNorm(Module):
    """As ``torch.nn.LayerNorm``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.LayerNorm((4, 4))
    >>> y = layer(np.ones((2, 3, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 4, 4), (2, 3, 4, 4))
    """

    def __init__(self, normalized_shape, eps=1e-05, elementwise_affine=True, bias=True, *,
                 dtype=np.float32):
        super().__init__()
        shape = tuple(normalized_shape) if isinstance(normalized_shape, (tuple, list)) \
            else (int(normalized_shape),)
        self.normalized_shape, self.eps = shape, eps
        self.elementwise_affine = elementwise_affine
        self.weight = Parameter(np.ones(shape, dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(shape, dtype)) if elementwise_affine and bias else None

    def forward(self, x):
        self._input = x
        return functional.layer_norm(x, self.normalized_shape, _data(self.weight),
                                     _data(self.bias), self.eps)

    def backward(self, grad_output):
        grad_input, grad_weight, grad_bias = functional.layer_norm_backward(
            grad_output, self._input, self.normalized_shape, _data(self.weight),
            _data(self.bias), self.eps)
        _accumulate(self.weight, grad_weight)
        _accumulate(self.bias, grad_bias)
        return grad_input

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class LocalResponseNorm(Module):
    """As ``torch.nn.LocalResponseNorm``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.LocalResponseNorm(3)
    >>> y = layer(np.ones((2, 6, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 6, 4, 4), (2, 6, 4, 4))
    """

    def __init__(self, size, alpha=0.0001, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        self._input = x
        return functional.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def backward(self, grad_output):
        return functional.local_response_norm_backward(grad_output, self._input, self.size,
                                                       self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d",
           "InstanceNorm3d", "GroupNorm", "LayerNorm", "LocalResponseNorm"]
