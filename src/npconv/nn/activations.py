"""Activation layers: thin wrappers over :mod:`npconv.ops.activations`, with torch's constructors.

Each keeps its input for the backward pass and calls the functional
operator and its ``_backward``; ``inplace=True`` is refused by the operator
(npconv never modifies an input).
"""

from __future__ import annotations

import numpy as np

from ..ops import activations
from .module import Module, Parameter

#: A cell on which the constructors try their arguments, so that a bad one fails when the
#: layer is built rather than at its first forward pass.
_PROBE = np.zeros((1, 1))


class _Activation(Module):
    """``forward`` calls ``activations.<function>(x, **arguments)``; ``backward`` its ``_backward``."""

    function = ""
    checked_when_built = True

    def __init__(self, **arguments):
        super().__init__()
        self.arguments = arguments
        if self.checked_when_built:
            getattr(activations, self.function)(_PROBE, **arguments)

    def forward(self, x):
        self._input = x
        return getattr(activations, self.function)(x, **self.arguments)

    def backward(self, grad_output):
        backward = getattr(activations, f"{self.function}_backward")
        arguments = {k: v for k, v in self.arguments.items() if k != "inplace"}
        return backward(grad_output, self._input, **arguments)

    def extra_repr(self):
        return ", ".join(f"{key}={value!r}" for key, value in self.arguments.items()
                         if key != "inplace")


class ReLU(_Activation):
    """``max(x, 0)``, as ``torch.nn.ReLU``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ReLU()
    >>> y = layer(np.array([-2.0, 0.0, 2.0]))
    >>> y, layer.backward(np.ones(3))
    (array([0., 0., 2.]), array([0., 0., 1.]))
    """

    function = "relu"

    def __init__(self, inplace=False):
        super().__init__(inplace=inplace)


class ReLU6(_Activation):
    """``min(max(x, 0), 6)``, as ``torch.nn.ReLU6``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ReLU6()
    >>> y = layer(np.array([-2.0, 0.0, 2.0]))
    >>> y, layer.backward(np.ones(3))
    (array([0., 0., 2.]), array([0., 0., 1.]))
    """

    function = "relu6"

    def __init__(self, inplace=False):
        super().__init__(inplace=inplace)


class LeakyReLU(_Activation):
    """``x`` where positive, else ``negative_slope * x``, as ``torch.nn.LeakyReLU``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.LeakyReLU(0.1)
    >>> y = layer(np.array([-2.0, 0.0, 2.0]))
    >>> y, layer.backward(np.ones(3))
    (array([-0.2,  0. ,  2. ]), array([0.1, 0.1, 1. ]))
    """

    function = "leaky_relu"

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__(negative_slope=negative_slope, inplace=inplace)


class PReLU(Module):
    """``x`` where positive, else ``weight * x`` with a learnt slope (one, or one per channel),
    as ``torch.nn.PReLU``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.PReLU()
    >>> y = layer(np.array([-2.0, 0.0, 2.0]))
    >>> y, layer.backward(np.ones(3))
    (array([-0.5,  0. ,  2. ]), array([0.25, 0.25, 1.  ]))
    """

    def __init__(self, num_parameters=1, init=0.25, *, dtype=np.float32):
        super().__init__()
        self.num_parameters = num_parameters
        self.weight = Parameter(np.full(num_parameters, init, dtype))

    def forward(self, x):
        self._input = x
        return activations.prelu(x, self.weight.data)

    def backward(self, grad_output):
        grad_input, grad_weight = activations.prelu_backward(grad_output, self._input,
                                                             self.weight.data)
        if self.weight.requires_grad:
            self.weight.grad += grad_weight
        return grad_input

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class ELU(_Activation):
    """As ``torch.nn.ELU``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.ELU()
    >>> y = layer(np.array([-2.0, 0.0, 2.0]))
    >>> y, layer.backward(np.ones(3))
    (array([-0.86466472,  0.        ,  2.        ]), array([0.13533528, 1.        , 1.        ]))
    """

    function = "elu"

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(alpha=alpha, inplace=inplace)


class SELU(_Activation):
    """As ``torch.nn.SELU``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.SELU()
    >>> y = layer(np.array([-2.0, 0.0, 2.0]))
    >>> y, layer.backward(np.ones(3))
    (array([-1.52016647,  0.        ,  2.10140197]), array([0.23793287, 1.75809934, 1.05070099]))
    """

    function = "selu"

    def __init__(self, inplace=False):
        super().__init__(inplace=inplace)


class CELU(_Activation):
    """As ``torch.nn.CELU``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.CELU()
    >>> y = layer(np.array([-2.0, 0.0, 2.0]))
    >>> y, layer.backward(np.ones(3))
    (array([-0.86466472,  0.        ,  2.        ]), array([0.13533528, 1.        , 1.        ]))
    """

    function = "celu"

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(alpha=alpha, inplace=inplace)


class GELU(_Activation):
    """As ``torch.nn.GELU`` (``approximate='none'`` or ``'tanh'``).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.GELU()
    >>> y = layer(np.array([-2.0, 0.0, 2.0]))
    >>> y, layer.backward(np.ones(3))
    (array([-0.04550026,  0.        ,  1.95449974]), array([-0.0852318,  0.5      ,  1.0852318]))
    """

    function = "gelu"

    def __init__(self, approximate="none"):
        super().__init__(approximate=approximate)


class SiLU(_Activation):
    """``x * sigmoid(x)``, as ``torch.nn.SiLU``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.SiLU()
    >>> y = layer(np.array([-2.0, 0.0, 2.0]))
    >>> y, layer.backward(np.ones(3))
    (array([-0.23840584,  0.        ,  1.76159416]), array([-0.09078425,  0.5       ,  1.09078425]))
    """

    function = "silu"

    def __init__(self, inplace=False):
        super().__init__(inplace=inplace)


class Mish(_Activation):
    """As ``torch.nn.Mish``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Mish()
    >>> y = layer(np.array([-2.0, 0.0, 2.0]))
    >>> y, layer.backward(np.ones(3))
    (array([-0.25250148,  0.        ,  1.94395896]), array([-0.10835509,  0.6       ,  1.06931793]))
    """

    function = "mish"

    def __init__(self, inplace=False):
        super().__init__(inplace=inplace)


class Hardswish(_Activation):
    """As ``torch.nn.Hardswish``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Hardswish()
    >>> y = layer(np.array([-2.0, 0.0, 2.0]))
    >>> y, layer.backward(np.ones(3))
    (array([-0.33333333,  0.        ,  1.66666667]), array([-0.16666667,  0.5       ,  1.16666667]))
    """

    function = "hardswish"

    def __init__(self, inplace=False):
        super().__init__(inplace=inplace)


class Hardsigmoid(_Activation):
    """As ``torch.nn.Hardsigmoid``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Hardsigmoid()
    >>> y = layer(np.array([-2.0, 0.0, 2.0]))
    >>> y, layer.backward(np.ones(3))
    (array([0.16666667, 0.5       , 0.83333333]), array([0.16666667, 0.16666667, 0.16666667]))
    """

    function = "hardsigmoid"

    def __init__(self, inplace=False):
        super().__init__(inplace=inplace)


class Hardtanh(_Activation):
    """As ``torch.nn.Hardtanh``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Hardtanh()
    >>> y = layer(np.array([-2.0, 0.0, 2.0]))
    >>> y, layer.backward(np.ones(3))
    (array([-1.,  0.,  1.]), array([0., 1., 0.]))
    """

    function = "hardtanh"

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__(min_val=min_val, max_val=max_val, inplace=inplace)


class Softplus(_Activation):
    """As ``torch.nn.Softplus``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Softplus()
    >>> y = layer(np.array([-2.0, 0.0, 2.0]))
    >>> y, layer.backward(np.ones(3))
    (array([0.12692801, 0.69314718, 2.12692801]), array([0.11920292, 0.5       , 0.88079708]))
    """

    function = "softplus"

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__(beta=beta, threshold=threshold)


class Sigmoid(_Activation):
    """As ``torch.nn.Sigmoid``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Sigmoid()
    >>> y = layer(np.array([-2.0, 0.0, 2.0]))
    >>> y, layer.backward(np.ones(3))
    (array([0.11920292, 0.5       , 0.88079708]), array([0.10499359, 0.25      , 0.10499359]))
    """

    function = "sigmoid"

    def __init__(self):
        super().__init__()


class Tanh(_Activation):
    """As ``torch.nn.Tanh``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Tanh()
    >>> y = layer(np.array([-2.0, 0.0, 2.0]))
    >>> y, layer.backward(np.ones(3))
    (array([-0.96402758,  0.        ,  0.96402758]), array([0.07065082, 1.        , 0.07065082]))
    """

    function = "tanh"

    def __init__(self):
        super().__init__()


class Softmax(_Activation):
    """As ``torch.nn.Softmax`` (``dim=None`` takes torch's implicit choice, with its warning).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Softmax(dim=1)
    >>> y = layer(np.array([[0.0, np.log(3.0)]]))
    >>> y, layer.backward(np.array([[1.0, 0.0]]))
    (array([[0.25, 0.75]]), array([[ 0.1875, -0.1875]]))
    """

    function = "softmax"
    checked_when_built = False  # the axis depends on the input

    def __init__(self, dim=None):
        super().__init__(dim=dim)


class LogSoftmax(_Activation):
    """As ``torch.nn.LogSoftmax``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.LogSoftmax(dim=1)
    >>> y = layer(np.zeros((1, 2)))
    >>> y, layer.backward(np.array([[1.0, 0.0]]))
    (array([[-0.69314718, -0.69314718]]), array([[ 0.5, -0.5]]))
    """

    function = "log_softmax"
    checked_when_built = False

    def __init__(self, dim=None):
        super().__init__(dim=dim)


__all__ = ["ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish",
           "Hardswish", "Hardsigmoid", "Hardtanh", "Softplus", "Sigmoid", "Tanh", "Softmax",
           "LogSoftmax"]
