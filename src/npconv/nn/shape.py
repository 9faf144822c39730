"""Layers that move cells: flattening, folding, shuffles, resampling and padding, with torch's
constructors, over the functional operators."""

from __future__ import annotations

import math

import numpy as np

from ..ops import fold, interpolate, pad, shuffle
from .module import Module


class _Wrapped(Module):
    """A functional operator and its backward pass, called with the layer's options."""

    function, backward_function = None, None

    def __init__(self, **options):
        super().__init__()
        self.options = options

    def forward(self, x):
        self._input = x
        return type(self).function(x, **self.options)

    def backward(self, grad_output):
        return type(self).backward_function(grad_output, self._input, **self.options)

    def extra_repr(self):
        return ", ".join(f"{key}={value!r}" for key, value in self.options.items())


class Flatten(Module):
    """Merge dimensions ``start_dim..end_dim`` into one, as ``torch.nn.Flatten``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Flatten()
    >>> y = layer(np.ones((2, 3, 4, 5), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 60), (2, 3, 4, 5))
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        self._shape = x.shape
        start = self.start_dim % x.ndim
        end = self.end_dim % x.ndim
        return x.reshape(x.shape[:start] + (math.prod(x.shape[start:end + 1]),)
                         + x.shape[end + 1:])

    def backward(self, grad_output):
        return grad_output.reshape(self._shape)


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size``, as ``torch.nn.Unflatten``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Unflatten(1, (3, 4))
    >>> y = layer(np.ones((2, 12), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 4), (2, 12))
    """

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        self._shape = x.shape
        dim = self.dim % x.ndim
        sizes = self.unflattened_size
        if -1 not in sizes and math.prod(sizes) != x.shape[dim]:
            raise ValueError(f"Unflatten: `unflattened_size` {sizes} must have {x.shape[dim]} "
                             f"cells, the size of dimension {self.dim}")
        return x.reshape(x.shape[:dim] + sizes + x.shape[dim + 1:])

    def backward(self, grad_output):
        return grad_output.reshape(self._shape)


class Fold(_Wrapped):
    """As ``torch.nn.Fold``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Fold((4, 4), 2)
    >>> y = layer(np.ones((2, 12, 9), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 4, 4), (2, 12, 9))
    """
    function, backward_function = fold.fold, fold.fold_backward

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__(output_size=output_size, kernel_size=kernel_size, dilation=dilation,
                         padding=padding, stride=stride)


class Unfold(_Wrapped):
    """As ``torch.nn.Unfold``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Unfold(2)
    >>> y = layer(np.ones((2, 3, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 12, 9), (2, 3, 4, 4))
    """
    function, backward_function = fold.unfold, fold.unfold_backward

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__(kernel_size=kernel_size, dilation=dilation, padding=padding,
                         stride=stride)


class PixelShuffle(_Wrapped):
    """As ``torch.nn.PixelShuffle``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.PixelShuffle(2)
    >>> y = layer(np.ones((2, 12, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 8, 8), (2, 12, 4, 4))
    """
    function, backward_function = shuffle.pixel_shuffle, shuffle.pixel_shuffle_backward

    def __init__(self, upscale_factor):
        super().__init__(upscale_factor=upscale_factor)


class PixelUnshuffle(_Wrapped):
    """As ``torch.nn.PixelUnshuffle``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.PixelUnshuffle(2)
    >>> y = layer(np.ones((2, 3, 8, 8), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 12, 4, 4), (2, 3, 8, 8))
    """
    function, backward_function = shuffle.pixel_unshuffle, shuffle.pixel_unshuffle_backward

    def __init__(self, downscale_factor):
        super().__init__(downscale_factor=downscale_factor)


class ChannelShuffle(_Wrapped):
    """As ``torch.nn.ChannelShuffle``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ChannelShuffle(2)
    >>> y = layer(np.ones((2, 6, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 6, 4, 4), (2, 6, 4, 4))
    """
    function, backward_function = shuffle.channel_shuffle, shuffle.channel_shuffle_backward

    def __init__(self, groups):
        super().__init__(groups=groups)


class Upsample(_Wrapped):
    """As ``torch.nn.Upsample``: :func:`npconv.interpolate` with the layer's options.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Upsample(scale_factor=2, mode='bilinear')
    >>> y = layer(np.ones((2, 3, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 8, 8), (2, 3, 4, 4))
    """
    function = interpolate.interpolate
    backward_function = interpolate.interpolate_backward

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__(size=size, scale_factor=scale_factor, mode=mode,
                         align_corners=align_corners,
                         recompute_scale_factor=recompute_scale_factor)


class UpsamplingNearest2d(Upsample):
    """As ``torch.nn.UpsamplingNearest2d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.UpsamplingNearest2d(scale_factor=2)
    >>> y = layer(np.ones((2, 3, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 8, 8), (2, 3, 4, 4))
    """

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, "nearest")


class UpsamplingBilinear2d(Upsample):
    """As ``torch.nn.UpsamplingBilinear2d`` (``align_corners=True``).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.UpsamplingBilinear2d(size=(6, 5))
    >>> y = layer(np.ones((2, 3, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 6, 5), (2, 3, 4, 4))
    """

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, "bilinear", True)


# --- padding layers ---------------------------------------------------------------------

class _Pad(_Wrapped):
    """``pad`` with ``mode`` over the last ``ndim`` dimensions; an int pads every side."""

    function, backward_function = pad.pad, pad.pad_backward
    ndim, mode = 1, "constant"

    def __init__(self, padding, value=None):
        if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
            padding = (int(padding),) * (2 * self.ndim)
        if not isinstance(padding, (tuple, list)) or len(padding) != 2 * self.ndim:
            raise ValueError(f"{type(self).__name__}(): `padding` must be an int or a tuple of "
                             f"{2 * self.ndim} ints, got {padding!r}")
        options = dict(pad=tuple(padding), mode=self.mode)
        if value is not None:
            options["value"] = value
        super().__init__(**options)

    def forward(self, x):
        if np.ndim(x) not in (self.ndim + 1, self.ndim + 2):
            raise ValueError(f"{type(self).__name__}: `input` must have {self.ndim + 1} or "
                             f"{self.ndim + 2} dimensions, got shape {np.shape(x)}")
        return super().forward(x)


class _ModePad(_Pad):
    """A padding layer whose constructor takes the padding only."""

    def __init__(self, padding):
        super().__init__(padding)


class ZeroPad1d(_ModePad):
    """As ``torch.nn.ZeroPad1d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ZeroPad1d((1, 2))
    >>> y = layer(np.ones((2, 3, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 7), (2, 3, 4))
    """
    ndim = 1


class ZeroPad2d(_ModePad):
    """As ``torch.nn.ZeroPad2d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ZeroPad2d((1, 2, 0, 1))
    >>> y = layer(np.ones((2, 3, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 5, 7), (2, 3, 4, 4))
    """
    ndim = 2


class ZeroPad3d(_ModePad):
    """As ``torch.nn.ZeroPad3d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ZeroPad3d(1)
    >>> y = layer(np.ones((2, 3, 4, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 6, 6, 6), (2, 3, 4, 4, 4))
    """
    ndim = 3


class _ConstantPad(_Pad):
    """A padding layer with a fill value, which torch's constructors require."""

    def __init__(self, padding, value):
        super().__init__(padding, float(value))


class ConstantPad1d(_ConstantPad):
    """As ``torch.nn.ConstantPad1d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ConstantPad1d(2, 3.5)
    >>> y = layer(np.ones((2, 3, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 8), (2, 3, 4))
    """
    ndim = 1


class ConstantPad2d(_ConstantPad):
    """As ``torch.nn.ConstantPad2d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ConstantPad2d((1, 1, 2, 0), 3.5)
    >>> y = layer(np.ones((2, 3, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 6, 6), (2, 3, 4, 4))
    """
    ndim = 2


class ConstantPad3d(_ConstantPad):
    """As ``torch.nn.ConstantPad3d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ConstantPad3d(1, 3.5)
    >>> y = layer(np.ones((2, 3, 4, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 6, 6, 6), (2, 3, 4, 4, 4))
    """
    ndim = 3


class ReflectionPad1d(_ModePad):
    """As ``torch.nn.ReflectionPad1d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ReflectionPad1d(2)
    >>> y = layer(np.ones((2, 3, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 8), (2, 3, 4))
    """
    ndim, mode = 1, "reflect"


class ReflectionPad2d(_ModePad):
    """As ``torch.nn.ReflectionPad2d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ReflectionPad2d((1, 2, 3, 0))
    >>> y = layer(np.ones((2, 3, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 7, 7), (2, 3, 4, 4))
    """
    ndim, mode = 2, "reflect"


class ReflectionPad3d(_ModePad):
    """As ``torch.nn.ReflectionPad3d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ReflectionPad3d(1)
    >>> y = layer(np.ones((2, 3, 4, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 6, 6, 6), (2, 3, 4, 4, 4))
    """
    ndim, mode = 3, "reflect"


class ReplicationPad1d(_ModePad):
    """As ``torch.nn.ReplicationPad1d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ReplicationPad1d(2)
    >>> y = layer(np.ones((2, 3, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 8), (2, 3, 4))
    """
    ndim, mode = 1, "replicate"


class ReplicationPad2d(_ModePad):
    """As ``torch.nn.ReplicationPad2d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ReplicationPad2d((1, 2, 3, 0))
    >>> y = layer(np.ones((2, 3, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 7, 7), (2, 3, 4, 4))
    """
    ndim, mode = 2, "replicate"


class ReplicationPad3d(_ModePad):
    """As ``torch.nn.ReplicationPad3d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ReplicationPad3d(1)
    >>> y = layer(np.ones((2, 3, 4, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 6, 6, 6), (2, 3, 4, 4, 4))
    """
    ndim, mode = 3, "replicate"


class CircularPad1d(_ModePad):
    """As ``torch.nn.CircularPad1d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.CircularPad1d(2)
    >>> y = layer(np.ones((2, 3, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 8), (2, 3, 4))
    """
    ndim, mode = 1, "circular"


class CircularPad2d(_ModePad):
    """As ``torch.nn.CircularPad2d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.CircularPad2d((1, 2, 3, 0))
    >>> y = layer(np.ones((2, 3, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 7, 7), (2, 3, 4, 4))
    """
    ndim, mode = 2, "circular"


class CircularPad3d(_ModePad):
    """As ``torch.nn.CircularPad3d``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.CircularPad3d(1)
    >>> y = layer(np.ones((2, 3, 4, 4, 4), np.float32))
    >>> y.shape, layer.backward(np.ones_like(y)).shape
    ((2, 3, 6, 6, 6), (2, 3, 4, 4, 4))
    """
    ndim, mode = 3, "circular"


__all__ = ["Flatten", "Unflatten", "Fold", "Unfold", "PixelShuffle", "PixelUnshuffle",
           "ChannelShuffle", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
           "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d",
           "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
           "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d",
           "CircularPad2d", "CircularPad3d"]
