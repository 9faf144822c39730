"""Activations and their backward passes, as ``torch.nn.functional``, with torch's NaN behaviour.

Every forward pass and every derivative is written as torch writes it (the
same branches, the same comparisons), so that a NaN, an infinity or a kink
gives torch's value: the derivative of ``relu`` at 0 is 0, that of
``leaky_relu`` is ``negative_slope``; a NaN input passes the output gradient
through ``relu`` and gives 0 through ``hardsigmoid``.  Where torch's
vectorised and scalar CPU kernels disagree on a NaN input (the gradients of
``hardtanh``, ``relu6``, the ELU family and ``hardswish``), npconv follows the
vectorised kernel, which computes nearly every cell of a tensor.  One
deliberate difference: ``gelu`` of ``+inf`` is ``+inf`` in both dtypes
(torch's float32 kernel gives NaN, its float64 kernel ``+inf``).

The elementwise work runs in blocks on the thread pool (:mod:`.pointwise`).

``<name>_backward(grad_output, input, ...)`` takes the forward arguments and
returns the gradient with respect to ``input``.  npconv never modifies its
inputs: ``inplace=True`` is refused.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import config
from ..window.blocks import quiet
from .arguments import FLOAT_DTYPES, _as_int, as_float_array
from .common import check_grad_output
from .pointwise import BLOCK_CELLS, STREAM_BLOCK_CELLS, apply

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_SQRT1_2 = math.sqrt(0.5)
_GELU_PDF = 2 / math.sqrt(math.pi) * _SQRT1_2 * 0.5    # 1 / sqrt(2 pi)
_GELU_TANH_BETA = math.sqrt(2) * 2 / math.sqrt(math.pi) * 0.5   # sqrt(2 / pi)
_GELU_TANH_KAPPA = 0.044715


# --- argument handling -----------------------------------------------------------

def _input(op, input, inplace=False):
    if inplace is not False:
        if inplace is True:
            raise ValueError(f"{op}(): `inplace=True` is not supported: npconv never modifies "
                             f"its inputs; use the returned array")
        raise TypeError(f"{op}(): `inplace` must be False, got {inplace!r}")
    return as_float_array(input, op, "input")


def _real(op, value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.floating,
                                                                     np.integer)):
        raise TypeError(f"{op}(): `{name}` must be a real number, got {value!r}")
    return float(value)


def _gradient(op, grad_output, x):
    """``grad_output`` checked against ``x``: its shape, in their common dtype."""
    return check_grad_output(op, grad_output, x.shape, False, x)


def _backward(op, grad_output, input, derivative, temporaries=8, block_cells=BLOCK_CELLS):
    """``grad_output * derivative`` cell by cell, in the dtype of ``input``."""
    x = as_float_array(input, op, "input")
    gy = _gradient(op, grad_output, x)
    dtype = x.dtype
    if gy.dtype != x.dtype:
        x = x.astype(gy.dtype)
    return apply(derivative, [gy, x], gy.dtype, temporaries, block_cells).astype(dtype,
                                                                              copy=False)


#: float64 temporaries per cell of the erf-based gelu (the series' terms and sums, the
#: continued fraction, the masks and the products).
_GELU_TEMPORARIES = 16


# --- rectifiers and clamps ---------------------------------------------------------

@quiet
def relu(input, inplace=False):
    """``max(input, 0)``, as ``torch.nn.functional.relu`` (NaN stays NaN).

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.relu(np.array([-1., 0., 2., np.nan]))
    array([ 0.,  0.,  2., nan])
    """
    x = _input("relu", input, inplace)
    return apply(_relu, [x], x.dtype, block_cells=STREAM_BLOCK_CELLS)


def _relu(x):
    """One pass.  NaN stays NaN, and ``-0.`` stays ``-0.``, as torch's: where its operands
    are equal, NumPy's ``maximum`` returns the second, which
    ``test_relu_keeps_negative_zero_and_passes_any_gradient`` checks on every loop,
    vectorised and scalar."""
    return np.maximum(0, x)


@quiet
def relu_backward(grad_output, input):
    """Gradient of :func:`relu`: ``grad_output`` where the output is not ``<= 0`` (0 at 0, passed at NaN).

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.relu_backward(np.ones(3), np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 1.])
    """
    return _backward("relu_backward", grad_output, input, _relu_derivative,
                     block_cells=STREAM_BLOCK_CELLS)


def _relu_derivative(g, x):
    """``x <= 0 ? 0 : g`` (``+0.``, as torch), exact for any ``g`` (infinities, NaN).

    The bits of ``g`` under a mask of all ones or all zeros, an integer of the
    float's width: several times faster than ``np.where``, and faster than a
    product with the mask, which would also need a pass to catch ``inf * 0``.
    """
    bits = np.dtype(f"i{g.itemsize}")
    mask = np.asarray(np.less_equal(x, 0)).view(np.uint8).astype(bits)  # 1 where blocked
    mask -= 1                                                # 0 where blocked, else all ones
    return np.bitwise_and(g.view(bits), mask, out=mask).view(g.dtype)


def _hardtanh(x, low, high):
    # torch's clamp: NaN stays NaN
    return np.where(x < low, x.dtype.type(low), np.where(x > high, x.dtype.type(high), x))


def _hardtanh_derivative(low, high):
    return lambda g, x: np.where((x > low) & (x < high), g, 0)  # 0 at NaN


@quiet
def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """``input`` clamped to ``[min_val, max_val]``, as ``torch.nn.functional.hardtanh``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.hardtanh(np.array([-2., 0.5, 3.]))
    array([-1. ,  0.5,  1. ])
    """
    x = _input("hardtanh", input, inplace)
    low, high = _clamp_bounds("hardtanh", min_val, max_val)
    return apply(lambda x: _hardtanh(x, low, high), [x], x.dtype)


def _clamp_bounds(op, min_val, max_val):
    low, high = _real(op, min_val, "min_val"), _real(op, max_val, "max_val")
    if low > high:
        raise ValueError(f"{op}(): `min_val` must be at most `max_val`, got {low} > {high}")
    return low, high


@quiet
def hardtanh_backward(grad_output, input, min_val=-1.0, max_val=1.0):
    """Gradient of :func:`hardtanh`: ``grad_output`` strictly inside ``(min_val, max_val)``, else 0.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.hardtanh_backward(np.ones(3), np.array([-2.0, 0.5, 2.0]))
    array([0., 1., 0.])
    """
    low, high = _clamp_bounds("hardtanh_backward", min_val, max_val)
    return _backward("hardtanh_backward", grad_output, input, _hardtanh_derivative(low, high))


@quiet
def relu6(input, inplace=False):
    """``min(max(input, 0), 6)``, as ``torch.nn.functional.relu6``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.relu6(np.array([-1., 3., 8.]))
    array([0., 3., 6.])
    """
    x = _input("relu6", input, inplace)
    return apply(lambda x: _hardtanh(x, 0.0, 6.0), [x], x.dtype)


@quiet
def relu6_backward(grad_output, input):
    """Gradient of :func:`relu6`: ``grad_output`` strictly inside ``(0, 6)``, else 0.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.relu6_backward(np.ones(3), np.array([-1.0, 3.0, 7.0]))
    array([0., 1., 0.])
    """
    return _backward("relu6_backward", grad_output, input, _hardtanh_derivative(0.0, 6.0))


@quiet
def leaky_relu(input, negative_slope=0.01, inplace=False):
    """``input`` where positive, else ``negative_slope * input``, as ``torch.nn.functional.leaky_relu``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.leaky_relu(np.array([-2., 3.]), 0.1)
    array([-0.2,  3. ])
    """
    x = _input("leaky_relu", input, inplace)
    slope = _real("leaky_relu", negative_slope, "negative_slope")
    return apply(lambda x: np.where(x > 0, x, x * slope), [x], x.dtype)


@quiet
def leaky_relu_backward(grad_output, input, negative_slope=0.01):
    """Gradient of :func:`leaky_relu`: ``grad_output`` where ``input > 0``, else times ``negative_slope``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.leaky_relu_backward(np.ones(2), np.array([-1.0, 2.0]), 0.25)
    array([0.25, 1.  ])
    """
    slope = _real("leaky_relu_backward", negative_slope, "negative_slope")
    return _backward("leaky_relu_backward", grad_output, input,
                     lambda g, x: np.where(x > 0, g, g * slope))


def _prelu_weight(op, x, weight):
    """``weight`` (one value, or one per channel: dimension 1 of ``x``) shaped to broadcast."""
    w = as_float_array(weight, op, "weight")
    channels = x.shape[1] if x.ndim >= 2 else 1
    if w.ndim != 1 or w.size not in (1, channels):
        raise ValueError(f"{op}(): `weight` must hold 1 or {channels} values (one per channel), "
                         f"got shape {w.shape}")
    if w.size == 1 or x.ndim < 2:
        return w, w.reshape(())
    return w, w.reshape((1, -1) + (1,) * (x.ndim - 2))


@quiet
def prelu(input, weight):
    """``input`` where positive, else ``weight * input`` (one slope or one per channel), as
    ``torch.nn.functional.prelu``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.prelu(np.array([[-2., 3.], [-1., -4.]]), np.array([0.5, 0.25]))
    array([[-1. ,  3. ],
           [-0.5, -1. ]])
    """
    x = as_float_array(input, "prelu", "input")
    _, w = _prelu_weight("prelu", x, weight)
    return np.where(x > 0, x, w * x).astype(np.result_type(x, w), copy=False)


@quiet
def prelu_backward(grad_output, input, weight):
    """Gradients of :func:`prelu`: ``(grad_input, grad_weight)``.

    ``grad_input`` is ``grad_output`` where ``input > 0``, else times the
    slope; ``grad_weight`` sums ``grad_output * input`` over the cells where
    ``input <= 0`` (per channel, or in all).

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.prelu_backward(np.ones((1, 2, 2)), np.array([[[-1.0, 2.0], [-3.0, 4.0]]]),
    ...                       np.array([0.25, 0.5]))
    (array([[[0.25, 1.  ],
            [0.5 , 1.  ]]]), array([-1., -3.]))
    """
    x = as_float_array(input, "prelu_backward", "input")
    flat, w = _prelu_weight("prelu_backward", x, weight)
    gy = _gradient("prelu_backward", grad_output, x)
    positive = x > 0
    grad_input = np.where(positive, gy, gy * w)
    contribution = np.where(positive, 0, gy * x)
    if flat.size == 1 or x.ndim < 2:
        grad_weight = contribution.sum().reshape(flat.shape)
    else:
        grad_weight = contribution.sum(axis=(0,) + tuple(range(2, x.ndim)))
    return (grad_input.astype(x.dtype, copy=False), grad_weight.astype(flat.dtype, copy=False))


# --- exponential units -----------------------------------------------------------

def _exponential_unit(negative, positive, input_scale):
    """torch's ELU family: ``x > 0 ? x * positive : negative * expm1(x * input_scale)``."""
    return lambda x: np.where(x > 0, x * positive, negative * np.expm1(x * input_scale))


def _exponential_unit_derivative(negative, positive, input_scale):
    return lambda g, x: np.where(x > 0, g * positive,
                                 g * (input_scale * negative) * np.exp(x * input_scale))


@quiet
def elu(input, alpha=1.0, inplace=False):
    """``input`` where positive, else ``alpha * (exp(input) - 1)``, as ``torch.nn.functional.elu``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.elu(np.array([-1., 2.]))
    array([-0.63212056,  2.        ])
    """
    x = _input("elu", input, inplace)
    alpha = _real("elu", alpha, "alpha")
    return apply(_exponential_unit(alpha, 1.0, 1.0), [x], x.dtype)


@quiet
def elu_backward(grad_output, input, alpha=1.0):
    """Gradient of :func:`elu`.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.elu_backward(np.ones(2), np.array([0.0, 1.0]), alpha=0.5)
    array([0.5, 1. ])
    """
    alpha = _real("elu_backward", alpha, "alpha")
    return _backward("elu_backward", grad_output, input,
                     _exponential_unit_derivative(alpha, 1.0, 1.0))


@quiet
def selu(input, inplace=False):
    """``scale * elu(input, alpha)`` with torch's constants, as ``torch.nn.functional.selu``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.selu(np.array([-1., 1.]))
    array([-1.11133074,  1.05070099])
    """
    x = _input("selu", input, inplace)
    return apply(_exponential_unit(SELU_ALPHA * SELU_SCALE, SELU_SCALE, 1.0), [x], x.dtype)


@quiet
def selu_backward(grad_output, input):
    """Gradient of :func:`selu`.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.selu_backward(np.ones(1), np.ones(1))
    array([1.05070099])
    """
    return _backward("selu_backward", grad_output, input,
                     _exponential_unit_derivative(SELU_ALPHA * SELU_SCALE, SELU_SCALE, 1.0))


def _celu_alpha(op, alpha):
    alpha = _real(op, alpha, "alpha")
    if alpha == 0:
        raise ValueError(f"{op}(): `alpha` must not be 0 (CELU divides by it)")
    return alpha


@quiet
def celu(input, alpha=1.0, inplace=False):
    """``max(0, input) + min(0, alpha * (exp(input / alpha) - 1))``, as ``torch.nn.functional.celu``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.celu(np.array([-1., 2.]), alpha=2.)
    array([-0.78693868,  2.        ])
    """
    x = _input("celu", input, inplace)
    alpha = _celu_alpha("celu", alpha)
    return apply(_exponential_unit(alpha, 1.0, 1.0 / alpha), [x], x.dtype)


@quiet
def celu_backward(grad_output, input, alpha=1.0):
    """Gradient of :func:`celu`.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.celu_backward(np.ones(2), np.array([0.0, 1.0]))
    array([1., 1.])
    """
    alpha = _celu_alpha("celu_backward", alpha)
    return _backward("celu_backward", grad_output, input,
                     _exponential_unit_derivative(alpha, 1.0, 1.0 / alpha))


# --- smooth gates ------------------------------------------------------------------

def erf(x):
    """The error function of a float64 array, within 16 units in the last place.

    ``|x| < 2``: ``erf(x) = 2/sqrt(pi) exp(-x^2) sum_n (2x^2)^n x / (2n+1)!!``
    (positive terms: no cancellation; 42 of them reach float64's roundoff);
    beyond, ``1 - erfc(|x|)`` with the continued fraction
    ``erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))``,
    of which 50 levels are exact there (``tests/test_activations.py`` measures
    both against :func:`math.erf`).
    """
    x = np.asarray(x, np.float64)
    magnitude = np.abs(x)
    inner = magnitude < 2.0
    result = np.empty_like(x)
    if inner.any():
        z = x[inner]
        twice_square = 2 * z * z
        term, total = z.copy(), z.copy()
        for n in range(1, 42):
            term *= twice_square / (2 * n + 1)
            total += term
        result[inner] = (2 / math.sqrt(math.pi)) * np.exp(-0.5 * twice_square) * total
    outer = ~inner
    if outer.any():
        z = magnitude[outer]
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            fraction = z.copy()
            for k in range(50, 0, -1):
                fraction = z + (k / 2) / fraction
            tail = np.exp(-z * z) / math.sqrt(math.pi) / fraction
        result[outer] = np.copysign(1.0 - tail, x[outer])
    return result


def _gelu(approximate):
    if approximate == "tanh":
        def forward(x):
            inner = _GELU_TANH_BETA * (x + _GELU_TANH_KAPPA * x * x * x)
            return 0.5 * x * (1 + np.tanh(inner))
        return forward
    return lambda x: (x * 0.5 * (1 + erf(x.astype(np.float64) * _SQRT1_2))).astype(x.dtype)


def _gelu_derivative(approximate):
    if approximate == "tanh":
        def derivative(g, x):
            square = x * x
            tanh_inner = np.tanh(_GELU_TANH_BETA * (x + _GELU_TANH_KAPPA * square * x))
            left_derivative = 0.5 * (1 + tanh_inner)
            right_derivative = (0.5 * x * (1 - tanh_inner * tanh_inner) * _GELU_TANH_BETA
                                * (1 + 3 * _GELU_TANH_KAPPA * square))
            return g * (left_derivative + right_derivative)
        return derivative

    def derivative(g, x):
        x64 = x.astype(np.float64)
        cdf = 0.5 * (1 + erf(x64 * _SQRT1_2))
        pdf = np.exp(-0.5 * x64 * x64) * _GELU_PDF
        return (g * (cdf + x64 * pdf)).astype(g.dtype)
    return derivative


def _approximate(op, approximate):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"{op}(): `approximate` must be 'none' or 'tanh', got {approximate!r}")
    return approximate


@quiet
def gelu(input, approximate="none"):
    """``input * Phi(input)``, as ``torch.nn.functional.gelu``.

    ``approximate='none'``: ``Phi`` is the standard normal distribution,
    ``0.5 * (1 + erf(x / sqrt(2)))`` (erf computed to float64 accuracy, also
    for float32 data); ``'tanh'``: ``0.5 * (1 + tanh(sqrt(2/pi) * (x +
    0.044715 x^3)))``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.gelu(np.array([-1., 0., 1.]))
    array([-0.15865525,  0.        ,  0.84134475])
    """
    x = _input("gelu", input)
    return apply(_gelu(_approximate("gelu", approximate)), [x], x.dtype, _GELU_TEMPORARIES)


@quiet
def gelu_backward(grad_output, input, approximate="none"):
    """Gradient of :func:`gelu`: ``Phi(x) + x * phi(x)`` (or the derivative of the tanh form).

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.gelu_backward(np.ones(1), np.zeros(1))
    array([0.5])
    """
    return _backward("gelu_backward", grad_output, input,
                     _gelu_derivative(_approximate("gelu_backward", approximate)),
                     _GELU_TEMPORARIES)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


@quiet
def sigmoid(input):
    """``1 / (1 + exp(-input))``, as ``torch.sigmoid``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.sigmoid(np.array([0., np.inf, -np.inf]))
    array([0.5, 1. , 0. ])
    """
    x = _input("sigmoid", input)
    return apply(_sigmoid, [x], x.dtype)


@quiet
def sigmoid_backward(grad_output, input):
    """Gradient of :func:`sigmoid`: ``grad_output * (1 - s) * s``, ``s = sigmoid(input)``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.sigmoid_backward(np.ones(1), np.zeros(1))
    array([0.25])
    """
    def derivative(g, x):
        s = _sigmoid(x)
        return g * (1 - s) * s
    return _backward("sigmoid_backward", grad_output, input, derivative)


@quiet
def tanh(input):
    """``tanh(input)``, as ``torch.tanh``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.tanh(np.array([0., np.inf]))
    array([0., 1.])
    """
    x = _input("tanh", input)
    return apply(np.tanh, [x], x.dtype)


@quiet
def tanh_backward(grad_output, input):
    """Gradient of :func:`tanh`: ``grad_output * (1 - tanh(input)**2)``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.tanh_backward(np.ones(1), np.zeros(1))
    array([1.])
    """
    def derivative(g, x):
        t = np.tanh(x)
        return g * (1 - t * t)
    return _backward("tanh_backward", grad_output, input, derivative)


@quiet
def silu(input, inplace=False):
    """``input * sigmoid(input)`` (swish), as ``torch.nn.functional.silu``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.silu(np.array([-1., 0., 1.]))
    array([-0.26894142,  0.        ,  0.73105858])
    """
    x = _input("silu", input, inplace)
    return apply(lambda x: x / (1 + np.exp(-x)), [x], x.dtype)


@quiet
def silu_backward(grad_output, input):
    """Gradient of :func:`silu`: ``s * (1 + x * (1 - s))``, ``s = sigmoid(x)``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.silu_backward(np.ones(1), np.zeros(1))
    array([0.5])
    """
    def derivative(g, x):
        s = _sigmoid(x)
        return g * s * (1 + x * (1 - s))
    return _backward("silu_backward", grad_output, input, derivative)


@quiet
def mish(input, inplace=False):
    """``input * tanh(softplus(input))``, as ``torch.nn.functional.mish``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.mish(np.array([-1., 0., 1.]))
    array([-0.30340146,  0.        ,  0.86509839])
    """
    x = _input("mish", input, inplace)
    return apply(lambda x: x * np.tanh(np.log1p(np.exp(x))), [x], x.dtype)


@quiet
def mish_backward(grad_output, input):
    """Gradient of :func:`mish`: ``t + x * sigmoid(x) * (1 - t**2)``, ``t = tanh(softplus(x))``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.mish_backward(np.ones(1), np.zeros(1))
    array([0.6])
    """
    def derivative(g, x):
        t = np.tanh(np.log1p(np.exp(x)))
        return g * (t + x * _sigmoid(x) * (1 - t * t))
    return _backward("mish_backward", grad_output, input, derivative)


@quiet
def hardsigmoid(input, inplace=False):
    """``min(max(input + 3, 0), 6) / 6``, as ``torch.nn.functional.hardsigmoid``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.hardsigmoid(np.array([-4., 0., 4.]))
    array([0. , 0.5, 1. ])
    """
    x = _input("hardsigmoid", input, inplace)
    return apply(lambda x: _hardtanh(x + 3, 0.0, 6.0) / 6, [x], x.dtype)


@quiet
def hardsigmoid_backward(grad_output, input):
    """Gradient of :func:`hardsigmoid`: ``grad_output / 6`` strictly inside ``(-3, 3)``, else 0.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.hardsigmoid_backward(np.ones(3), np.array([-4.0, 0.0, 4.0]))
    array([0.        , 0.16666667, 0.        ])
    """
    return _backward("hardsigmoid_backward", grad_output, input,
                     lambda g, x: np.where((x > -3) & (x < 3), g / 6, 0))


@quiet
def hardswish(input, inplace=False):
    """``input * min(max(input + 3, 0), 6) / 6``, as ``torch.nn.functional.hardswish``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.hardswish(np.array([-4., 1., 4.]))
    array([-0.        ,  0.66666667,  4.        ])
    """
    x = _input("hardswish", input, inplace)
    return apply(lambda x: x * _hardtanh(x + 3, 0.0, 6.0) / 6, [x], x.dtype)


@quiet
def hardswish_backward(grad_output, input):
    """Gradient of :func:`hardswish`: 0 up to -3, ``x/3 + 1/2`` below 3, else 1 (torch's branches).

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.hardswish_backward(np.ones(3), np.array([-4.0, 0.0, 4.0]))
    array([0. , 0.5, 1. ])
    """
    def derivative(g, x):
        middle = np.where(x >= 3, g, g * (x / 3 + 0.5))
        return np.where(x <= -3, 0, middle)
    return _backward("hardswish_backward", grad_output, input, derivative)


def _softplus_arguments(op, beta, threshold):
    beta, threshold = _real(op, beta, "beta"), _real(op, threshold, "threshold")
    if beta == 0:
        raise ValueError(f"{op}(): `beta` must not be 0 (softplus divides by it)")
    return beta, threshold


@quiet
def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta * input)) / beta``, linear where ``beta * input > threshold``, as torch.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.softplus(np.array([0., 30.]))
    array([ 0.69314718, 30.        ])
    """
    x = _input("softplus", input)
    beta, threshold = _softplus_arguments("softplus", beta, threshold)
    return apply(lambda x: np.where(x * beta > threshold, x, np.log1p(np.exp(x * beta)) / beta),
                 [x], x.dtype)


@quiet
def softplus_backward(grad_output, input, beta=1.0, threshold=20.0):
    """Gradient of :func:`softplus`: ``z / (z + 1)``, ``z = exp(beta * x)``, or 1 past the threshold.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.softplus_backward(np.ones(1), np.zeros(1))
    array([0.5])
    """
    beta, threshold = _softplus_arguments("softplus_backward", beta, threshold)

    def derivative(g, x):
        z = np.exp(x * beta)
        return np.where(x * beta > threshold, g, g * z / (z + 1))
    return _backward("softplus_backward", grad_output, input, derivative)


# --- softmax -----------------------------------------------------------------------

def _softmax_arguments(op, input, dim, dtype):
    x = as_float_array(input, op, "input")
    if dtype is not None:
        try:
            target = np.dtype(dtype)
        except TypeError:
            target = None
        if target not in FLOAT_DTYPES:
            raise TypeError(f"{op}(): `dtype` must be float32 or float64, got {dtype!r}")
        x = x.astype(target, copy=False)
    if dim is None:  # torch's legacy choice, with its warning
        dim = 0 if x.ndim in (0, 1, 3) else 1
        warnings.warn(f"{op}(): implicit dimension choice (dim={dim}) is deprecated, as in "
                      f"torch; pass `dim`", UserWarning, stacklevel=3)
    dim = _as_int(dim, op, "dim")
    ndim = max(x.ndim, 1)
    if not -ndim <= dim < ndim:
        raise ValueError(f"{op}(): `dim` must lie in [{-ndim}, {ndim - 1}] for an input of "
                         f"{x.ndim} dimensions, got {dim}")
    return x, dim % ndim if x.ndim else None


def _in_blocks(compute, x, dim, *arrays):
    """``compute(x, *arrays)`` over blocks of an axis other than ``dim``, so that the softmax's
    temporaries (a few times a block of :data:`~npconv.ops.pointwise.BLOCK_CELLS`) stay small."""
    if x.ndim < 2 or x.size <= BLOCK_CELLS:
        return compute(x, *arrays)
    axis = 0 if dim != 0 else 1
    out = np.empty(x.shape, np.result_type(x, *arrays))
    # about four temporaries of a block's size
    cells = min(BLOCK_CELLS, config.get_workspace() // (4 * x.itemsize))
    rows = max(1, cells // (x.size // x.shape[axis]))
    for start in range(0, x.shape[axis], rows):
        at = (slice(None),) * axis + (slice(start, start + rows),)
        out[at] = compute(x[at], *(a[at] for a in arrays))
    return out


def _softmax(x, dim):
    shifted = np.exp(x - np.max(x, axis=dim, keepdims=True))
    return shifted / np.sum(shifted, axis=dim, keepdims=True)


def _log_softmax(x, dim):
    shifted = x - np.max(x, axis=dim, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=dim, keepdims=True))


@quiet
def softmax(input, dim=None, *, dtype=None):
    """``exp(x) / sum(exp(x))`` along ``dim``, as ``torch.nn.functional.softmax``.

    Parameters
    ----------
    input : ndarray
    dim : int
        The axis that sums to one.  ``None`` takes torch's deprecated implicit
        choice (0 for 0-, 1- and 3-D inputs, else 1) with a warning.
    dtype : float32 or float64, optional
        Cast ``input`` to it first.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.softmax(np.array([[0., np.log(3.)]]), dim=1)
    array([[0.25, 0.75]])
    """
    x, dim = _softmax_arguments("softmax", input, dim, dtype)
    return _in_blocks(lambda x: _softmax(x, dim), x, dim) if x.ndim else np.ones_like(x)


@quiet
def softmax_backward(grad_output, input, dim=None, *, dtype=None):
    """Gradient of :func:`softmax`: ``y * (g - sum(g * y, dim))``, ``y = softmax(input, dim)``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.softmax_backward(np.array([[1.0, 0.0]]), np.zeros((1, 2)), dim=1)
    array([[ 0.25, -0.25]])
    """
    x, dim = _softmax_arguments("softmax_backward", input, dim, dtype)
    gy = _gradient("softmax_backward", grad_output, x).astype(x.dtype, copy=False)
    if not x.ndim:
        return np.zeros_like(x)
    def gradient(x, gy):
        y = _softmax(x, dim)
        return y * (gy - np.sum(gy * y, axis=dim, keepdims=True))
    return _in_blocks(gradient, x, dim, gy)


@quiet
def log_softmax(input, dim=None, *, dtype=None):
    """``x - log(sum(exp(x)))`` along ``dim``, as ``torch.nn.functional.log_softmax``.

    Parameters
    ----------
    input : ndarray
    dim : int
        As :func:`softmax`.
    dtype : float32 or float64, optional
        Cast ``input`` to it first.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> np.exp(npconv.log_softmax(np.array([[0., np.log(3.)]]), dim=1))
    array([[0.25, 0.75]])
    """
    x, dim = _softmax_arguments("log_softmax", input, dim, dtype)
    return _in_blocks(lambda x: _log_softmax(x, dim), x, dim) if x.ndim else np.zeros_like(x)


@quiet
def log_softmax_backward(grad_output, input, dim=None, *, dtype=None):
    """Gradient of :func:`log_softmax`: ``g - exp(y) * sum(g, dim)``, ``y = log_softmax(input, dim)``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.log_softmax_backward(np.array([[1.0, 0.0]]), np.zeros((1, 2)), dim=1)
    array([[ 0.5, -0.5]])
    """
    x, dim = _softmax_arguments("log_softmax_backward", input, dim, dtype)
    gy = _gradient("log_softmax_backward", grad_output, x).astype(x.dtype, copy=False)
    if not x.ndim:
        return np.zeros_like(x)
    return _in_blocks(lambda x, gy: gy - np.exp(_log_softmax(x, dim))
                      * np.sum(gy, axis=dim, keepdims=True), x, dim, gy)


PUBLIC = ("relu", "relu6", "leaky_relu", "prelu", "elu", "selu", "celu", "gelu", "silu", "mish",
          "hardswish", "hardsigmoid", "hardtanh", "softplus", "sigmoid", "tanh", "softmax",
          "log_softmax")

for _name in PUBLIC:
    for _function in (globals()[_name], globals()[f"{_name}_backward"]):
        _function.__module__ = "npconv"
