"""Pooling layers, 1-D to 3-D, with torch's constructor signatures, over the functional operators.

A positional call means what it means in torch: ``MaxPool2d(2, 2, 0, 1, True)``
returns indices.  A layer built with ``return_indices=True`` returns
``(values, indices)`` from ``forward`` and takes the gradient of the values
in ``backward``.
"""

from __future__ import annotations

from ..ops import adaptive, fractional, pool, unpool
from ..ops.arguments import window_arguments
from .module import Module


def _functions(family, ndim):
    """The functional operator ``<family><ndim>d`` and its backward pass."""
    module = {"max_pool": pool, "avg_pool": pool, "lp_pool": pool,
              "adaptive_avg_pool": adaptive, "adaptive_max_pool": adaptive,
              "max_unpool": unpool, "fractional_max_pool": fractional}[family]
    name = f"{family}{ndim}d"
    return getattr(module, name), getattr(module, f"{name}_backward")


class _Pool(Module):
    """Calls ``<family><ndim>d(x, **options)`` and its backward pass with the same options."""

    family, ndim = "", 2

    def __init__(self, **options):
        super().__init__()
        self.options = options
        self._forward, self._backward = _functions(self.family, self.ndim)

    def forward(self, x):
        self._input = x
        return self._forward(x, **self.options)

    def backward(self, grad_output):
        return self._backward(grad_output, self._input, **self.options)

    def extra_repr(self):
        return ", ".join(f"{key}={value!r}" for key, value in self.options.items())


class _IndexedPool(_Pool):
    """A pool whose backward pass reuses the forward's indices; ``return_indices`` returns them."""

    def __init__(self, return_indices, forward_options=None, **options):
        super().__init__(**options)
        self.return_indices = bool(return_indices)
        self.forward_options = forward_options or {}

    def forward(self, x):
        self._input = x
        values, self._indices = self._forward(x, return_indices=True, **self.forward_options,
                                              **self.options)
        return (values, self._indices) if self.return_indices else values

    def backward(self, grad_output):
        return self._backward(grad_output, self._input, indices=self._indices, **self.options)


class _MaxPool(_IndexedPool):
    family = "max_pool"

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        window_arguments(type(self).__name__, self.ndim, kernel_size, stride, padding, dilation,
                         stride_default_kernel=True, strings=False)
        super().__init__(return_indices, kernel_size=kernel_size, stride=stride,
                         padding=padding, dilation=dilation, ceil_mode=ceil_mode)

    def forward(self, x):
        if self.training or self.return_indices:
            return super().forward(x)
        # eval mode: no backward pass expected, so the values alone, in 0.40-0.44 of the time
        # (a backward pass all the same finds the winners again from the input)
        self._input, self._indices = x, None
        return self._forward(x, **self.options)


class MaxPool1d(_MaxPool):
    """As ``torch.nn.MaxPool1d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.MaxPool1d(2)
    >>> y = layer(np.ones((2, 3, 16), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 8), (2, 3, 16))
    """
    ndim = 1


class MaxPool2d(_MaxPool):
    """As ``torch.nn.MaxPool2d``; the backward pass reuses the forward's indices.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.MaxPool2d(3, 2, 1)
    >>> y = layer(np.ones((2, 3, 16, 16), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 8, 8), (2, 3, 16, 16))
    """
    ndim = 2


class MaxPool3d(_MaxPool):
    """As ``torch.nn.MaxPool3d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.MaxPool3d(2)
    >>> y = layer(np.ones((2, 3, 8, 8, 8), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 4, 4, 4), (2, 3, 8, 8, 8))
    """
    ndim = 3


class _AvgPool(_Pool):
    family = "avg_pool"

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        window_arguments(type(self).__name__, self.ndim, kernel_size, stride, padding,
                         stride_default_kernel=True, strings=False)
        super().__init__(kernel_size=kernel_size, stride=stride, padding=padding,
                         ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                         divisor_override=divisor_override)


class AvgPool1d(_AvgPool):
    """As ``torch.nn.AvgPool1d`` (whose constructor has no ``divisor_override``; here it may).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.AvgPool1d(2)
    >>> y = layer(np.ones((2, 3, 16), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 8), (2, 3, 16))
    """
    ndim = 1


class AvgPool2d(_AvgPool):
    """As ``torch.nn.AvgPool2d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.AvgPool2d(3, 2, 1)
    >>> y = layer(np.ones((2, 3, 16, 16), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 8, 8), (2, 3, 16, 16))
    """
    ndim = 2


class AvgPool3d(_AvgPool):
    """As ``torch.nn.AvgPool3d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.AvgPool3d(2)
    >>> y = layer(np.ones((2, 3, 8, 8, 8), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 4, 4, 4), (2, 3, 8, 8, 8))
    """
    ndim = 3


class _LPPool(_Pool):
    family = "lp_pool"

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        window_arguments(type(self).__name__, self.ndim, kernel_size, stride,
                         stride_default_kernel=True, strings=False)
        super().__init__(norm_type=norm_type, kernel_size=kernel_size, stride=stride,
                         ceil_mode=ceil_mode)


class LPPool1d(_LPPool):
    """As ``torch.nn.LPPool1d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.LPPool1d(2.0, 2)
    >>> y = layer(np.ones((2, 3, 16), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 8), (2, 3, 16))
    """
    ndim = 1


class LPPool2d(_LPPool):
    """As ``torch.nn.LPPool2d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.LPPool2d(2.0, 2)
    >>> y = layer(np.ones((2, 3, 16, 16), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 8, 8), (2, 3, 16, 16))
    """
    ndim = 2


class LPPool3d(_LPPool):
    """As ``torch.nn.LPPool3d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.LPPool3d(2.0, 2)
    >>> y = layer(np.ones((2, 3, 8, 8, 8), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 4, 4, 4), (2, 3, 8, 8, 8))
    """
    ndim = 3


class _AdaptiveAvgPool(_Pool):
    family = "adaptive_avg_pool"

    def __init__(self, output_size):
        super().__init__(output_size=output_size)


class AdaptiveAvgPool1d(_AdaptiveAvgPool):
    """As ``torch.nn.AdaptiveAvgPool1d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.AdaptiveAvgPool1d(5)
    >>> y = layer(np.ones((2, 3, 16), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 5), (2, 3, 16))
    """
    ndim = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPool):
    """As ``torch.nn.AdaptiveAvgPool2d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.AdaptiveAvgPool2d((5, 7))
    >>> y = layer(np.ones((2, 3, 16, 16), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 5, 7), (2, 3, 16, 16))
    """
    ndim = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPool):
    """As ``torch.nn.AdaptiveAvgPool3d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.AdaptiveAvgPool3d(1)
    >>> y = layer(np.ones((2, 3, 8, 8, 8), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 1, 1, 1), (2, 3, 8, 8, 8))
    """
    ndim = 3


class _AdaptiveMaxPool(_IndexedPool):
    family = "adaptive_max_pool"

    def __init__(self, output_size, return_indices=False):
        super().__init__(return_indices, output_size=output_size)


class AdaptiveMaxPool1d(_AdaptiveMaxPool):
    """As ``torch.nn.AdaptiveMaxPool1d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.AdaptiveMaxPool1d(5)
    >>> y = layer(np.ones((2, 3, 16), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 5), (2, 3, 16))
    """
    ndim = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPool):
    """As ``torch.nn.AdaptiveMaxPool2d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.AdaptiveMaxPool2d((5, 7))
    >>> y = layer(np.ones((2, 3, 16, 16), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 5, 7), (2, 3, 16, 16))
    """
    ndim = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPool):
    """As ``torch.nn.AdaptiveMaxPool3d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.AdaptiveMaxPool3d(1)
    >>> y = layer(np.ones((2, 3, 8, 8, 8), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 1, 1, 1), (2, 3, 8, 8, 8))
    """
    ndim = 3


class _MaxUnpool(_Pool):
    family = "max_unpool"

    def __init__(self, kernel_size, stride=None, padding=0):
        window_arguments(type(self).__name__, self.ndim, kernel_size, stride, padding,
                         stride_default_kernel=True, strings=False)
        super().__init__(kernel_size=kernel_size, stride=stride, padding=padding)

    def forward(self, x, indices, output_size=None):
        self._input, self._indices, self._output_size = x, indices, output_size
        return self._forward(x, indices, output_size=output_size, **self.options)

    def backward(self, grad_output):
        return self._backward(grad_output, self._input, self._indices,
                              output_size=self._output_size, **self.options)


class MaxUnpool1d(_MaxUnpool):
    """As ``torch.nn.MaxUnpool1d``: ``forward(input, indices, output_size=None)``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> values, indices = nn.MaxPool1d(2, return_indices=True)(np.arange(8.0).reshape(1, 1, 8))
    >>> layer = nn.MaxUnpool1d(2)
    >>> layer(values, indices)
    array([[[0., 1., 0., 3., 0., 5., 0., 7.]]])
    """
    ndim = 1


class MaxUnpool2d(_MaxUnpool):
    """As ``torch.nn.MaxUnpool2d``: ``forward(input, indices, output_size=None)``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> values, indices = nn.MaxPool2d(2, return_indices=True)(np.ones((1, 1, 4, 4)))
    >>> layer = nn.MaxUnpool2d(2)
    >>> layer(values, indices).shape
    (1, 1, 4, 4)
    """
    ndim = 2


class MaxUnpool3d(_MaxUnpool):
    """As ``torch.nn.MaxUnpool3d``: ``forward(input, indices, output_size=None)``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> values, indices = nn.MaxPool3d(2, return_indices=True)(np.ones((1, 1, 4, 4, 4)))
    >>> layer = nn.MaxUnpool3d(2)
    >>> layer(values, indices).shape
    (1, 1, 4, 4, 4)
    """
    ndim = 3


class _FractionalMaxPool(_IndexedPool):
    family = "fractional_max_pool"

    def __init__(self, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                 _random_samples=None, *, rng=None):
        if (output_size is None) == (output_ratio is None):
            raise ValueError(f"{type(self).__name__}(): give exactly one of `output_size` and "
                             f"`output_ratio`")
        super().__init__(return_indices, dict(_random_samples=_random_samples, rng=rng),
                         kernel_size=kernel_size, output_size=output_size,
                         output_ratio=output_ratio)


class FractionalMaxPool2d(_FractionalMaxPool):
    """As ``torch.nn.FractionalMaxPool2d``; ``rng`` (a NumPy Generator) draws the windows.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.FractionalMaxPool2d(2, output_size=5, rng=np.random.default_rng(0))
    >>> y = layer(np.ones((2, 3, 16, 16), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 5, 5), (2, 3, 16, 16))
    """
    ndim = 2


class FractionalMaxPool3d(_FractionalMaxPool):
    """As ``torch.nn.FractionalMaxPool3d``; ``rng`` (a NumPy Generator) draws the windows.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.FractionalMaxPool3d(2, output_ratio=0.5, rng=np.random.default_rng(0))
    >>> y = layer(np.ones((2, 3, 8, 8, 8), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 4, 4, 4), (2, 3, 8, 8, 8))
    """
    ndim = 3


__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "LPPool1d", "LPPool2d", "LPPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
           "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
           "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "FractionalMaxPool2d",
           "FractionalMaxPool3d"]
