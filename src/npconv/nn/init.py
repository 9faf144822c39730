"""Parameter initialisation with torch's distributions, drawn from a ``numpy.random.Generator``.

Layers take ``rng=``; without one they draw from this module's generator,
which :func:`manual_seed` resets, so a seed fixes every initial weight.
"""

from __future__ import annotations

import math

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed):
    """Reset the default generator used by layers created without ``rng=``."""
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
