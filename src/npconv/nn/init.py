"""Parameter initialisation with torch's distributions, drawn from a ``numpy.random.Generator``.

Layers take ``rng=``; without one they draw from this module's generator,
which :func:`manual_seed` resets, so a seed fixes every initial weight.
"""

from __future__ import annotations

import math

import numpy as np

_generator = np.random.default_rng(0)


__all__ = ["manual_seed", "calculate_gain", "uniform_", "normal_", "constant_", "ones_", "zeros_",
           "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
           "kaiming_normal_", "trunc_normal_", "orthogonal_"]


def manual_seed(seed):
    """Reset the default generator used by layers created without ``rng=``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> _ = nn.manual_seed(0)
    >>> a = nn.Linear(3, 2).weight.data
    >>> _ = nn.manual_seed(0)
    >>> bool(np.array_equal(a, nn.Linear(3, 2).weight.data))
    True
    """
    global _generator
    _generator = np.random.default_rng(seed)


def default_rng(rng=None):
    """``rng``, or the module's generator when it is None."""
    return _generator if rng is None else rng


def uniform(shape, bound, rng, dtype):
    """``U(-bound, bound)`` samples of ``shape``, drawn in float64 and cast to ``dtype``."""
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def fan_in(weight_shape):
    """torch's fan-in of a weight ``(out, in, *kernel)``: ``in * prod(kernel)``."""
    return weight_shape[1] * math.prod(weight_shape[2:])


def kaiming_uniform(shape, rng, dtype, a=math.sqrt(5)):
    """torch's ``kaiming_uniform_(w, a)`` with leaky-ReLU gain: bound ``gain * sqrt(3 / fan_in)``.

    With torch's default ``a = sqrt(5)`` for Linear and Conv the bound is ``1 / sqrt(fan_in)``.
    """
    gain = math.sqrt(2.0 / (1 + a * a))
    return uniform(shape, gain * math.sqrt(3.0 / fan_in(shape)), rng, dtype)


def bias_uniform(length, weight_shape, rng, dtype):
    """torch's default bias: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
    return uniform((length,), 1 / math.sqrt(fan_in(weight_shape)), rng, dtype)


# --- torch's in-place initialisers ---------------------------------------------------------
#
# Each fills a Parameter's data (or an ndarray) in place from a NumPy Generator
# (``generator=``, else this module's) with torch's distribution and returns it.

def _array(tensor):
    array = tensor.data if hasattr(tensor, "grad") else tensor
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        raise TypeError(f"init: expected a Parameter or a float ndarray, got {type(tensor).__name__}")
    return array


def _fill(tensor, values):
    _array(tensor)[...] = values
    return tensor


def calculate_gain(nonlinearity, param=None):
    """torch's recommended gain for ``nonlinearity``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> nn.init.calculate_gain('relu'), nn.init.calculate_gain('leaky_relu', 0.2)
    (1.4142135623730951, 1.3867504905630728)
    """
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain(): negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain(): unsupported nonlinearity {nonlinearity!r}")


def _fans(array):
    if array.ndim < 2:
        raise ValueError("init: fan in and fan out need an array of at least 2 dimensions")
    field = math.prod(array.shape[2:])
    return array.shape[1] * field, array.shape[0] * field


def _fan(array, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: `mode` must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in_, fan_out = _fans(array)
    return fan_in_ if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """``U(a, b)``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> rng = np.random.default_rng(0)
    >>> w = nn.init.uniform_(np.empty((2, 3)), -1.0, 1.0, generator=rng)
    >>> w.shape, bool(np.isfinite(w).all())
    ((2, 3), True)
    """
    array = _array(tensor)
    return _fill(tensor, default_rng(generator).uniform(a, b, array.shape))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """``N(mean, std^2)``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> rng = np.random.default_rng(0)
    >>> w = nn.init.normal_(np.empty((2, 3)), 0.0, 0.1, generator=rng)
    >>> w.shape, bool(np.isfinite(w).all())
    ((2, 3), True)
    """
    array = _array(tensor)
    return _fill(tensor, default_rng(generator).normal(mean, std, array.shape))


def constant_(tensor, val):
    """Fill ``tensor`` (an array or a :class:`Parameter`) with ``val``, in place; returns it.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> nn.init.constant_(np.empty(3), 0.5)
    array([0.5, 0.5, 0.5])
    """
    return _fill(tensor, val)


def ones_(tensor):
    """Fill ``tensor`` with ones, in place; returns it.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> nn.init.ones_(np.empty(2))
    array([1., 1.])
    """
    return _fill(tensor, 1)


def zeros_(tensor):
    """Fill ``tensor`` with zeros, in place; returns it.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Linear(3, 2)
    >>> _ = nn.init.zeros_(layer.bias)
    >>> layer.bias.data
    array([0., 0.], dtype=float32)
    """
    return _fill(tensor, 0)


def eye_(tensor):
    """The identity matrix (2-D only).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> nn.init.eye_(np.empty((2, 3)))
    array([[1., 0., 0.],
           [0., 1., 0.]])
    """
    array = _array(tensor)
    if array.ndim != 2:
        raise ValueError("eye_(): only 2-D arrays are supported")
    return _fill(tensor, np.eye(*array.shape))


def dirac_(tensor, groups=1):
    """The Dirac delta of a 3-, 4- or 5-D convolution weight: the identity convolution.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> w = nn.init.dirac_(np.empty((2, 2, 3, 3)))
    >>> w[0, 0], w[0, 1].sum()
    (array([[0., 0., 0.],
           [0., 1., 0.],
           [0., 0., 0.]]), np.float64(0.0))
    """
    array = _array(tensor)
    if array.ndim not in (3, 4, 5) or array.shape[0] % groups:
        raise ValueError("dirac_(): a 3-, 4- or 5-D array whose first dimension groups divides")
    values = np.zeros(array.shape)
    per_group = array.shape[0] // groups
    centre = tuple(size // 2 for size in array.shape[2:])
    for g in range(groups):
        for d in range(min(per_group, array.shape[1])):
            values[(g * per_group + d, d) + centre] = 1
    return _fill(tensor, values)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """``U(-a, a)``, ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> rng = np.random.default_rng(0)
    >>> w = nn.init.xavier_uniform_(np.empty((4, 3, 3, 3)), generator=rng)
    >>> w.shape, bool(np.isfinite(w).all())
    ((4, 3, 3, 3), True)
    """
    fan_in_, fan_out = _fans(_array(tensor))
    bound = gain * math.sqrt(6.0 / float(fan_in_ + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """``N(0, std^2)``, ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> rng = np.random.default_rng(0)
    >>> w = nn.init.xavier_normal_(np.empty((4, 3, 3, 3)), generator=rng)
    >>> w.shape, bool(np.isfinite(w).all())
    ((4, 3, 3, 3), True)
    """
    fan_in_, fan_out = _fans(_array(tensor))
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in_ + fan_out)), generator)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """``U(-bound, bound)``, ``bound = gain * sqrt(3 / fan)`` (He et al.).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> rng = np.random.default_rng(0)
    >>> w = nn.init.kaiming_uniform_(np.empty((4, 3, 3, 3)), generator=rng)
    >>> w.shape, bool(np.isfinite(w).all())
    ((4, 3, 3, 3), True)
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(_array(tensor), mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """``N(0, std^2)``, ``std = gain / sqrt(fan)`` (He et al.).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> rng = np.random.default_rng(0)
    >>> w = nn.init.kaiming_normal_(np.empty((4, 3, 3, 3)), mode='fan_out', nonlinearity='relu', generator=rng)
    >>> w.shape, bool(np.isfinite(w).all())
    ((4, 3, 3, 3), True)
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(_array(tensor), mode))
    return normal_(tensor, 0.0, std, generator)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """``N(mean, std^2)`` restricted to ``[a, b]``: out-of-range draws are drawn again.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> rng = np.random.default_rng(0)
    >>> w = nn.init.trunc_normal_(np.empty((2, 3)), generator=rng)
    >>> w.shape, bool(np.isfinite(w).all())
    ((2, 3), True)
    """
    array = _array(tensor)
    rng = default_rng(generator)
    values = rng.normal(mean, std, array.shape)
    outside = (values < a) | (values > b)
    while outside.any():
        values[outside] = rng.normal(mean, std, int(outside.sum()))
        outside = (values < a) | (values > b)
    return _fill(tensor, values)


def orthogonal_(tensor, gain=1, generator=None):
    """A (semi-)orthogonal matrix from the QR factorisation of a Gaussian one, as torch's.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> rng = np.random.default_rng(0)
    >>> w = nn.init.orthogonal_(np.empty((3, 3)), generator=rng)
    >>> bool(np.allclose(w @ w.T, np.eye(3)))
    True
    """
    array = _array(tensor)
    if array.ndim < 2:
        raise ValueError("orthogonal_(): only arrays of 2 or more dimensions are supported")
    rows, columns = array.shape[0], array.size // array.shape[0]
    flat = default_rng(generator).normal(0.0, 1.0, (rows, columns))
    if rows < columns:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < columns:
        q = q.T
    return _fill(tensor, gain * q.reshape(array.shape))
