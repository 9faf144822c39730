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
    """``max(x, 0)``, as ``torch.nn.ReLU``."""

    function = "relu"

    def __init__(self, inplace=False):
        super().__init__(inplace=inplace)


class ReLU6(_Activation):
    """``min(max(x, 0), 6)``, as ``torch.nn.ReLU6``."""

    function = "relu6"

    def __init__(self, inplace=False):
        super().__init__(inplace=inplace)


class LeakyReLU(_Activation):
    """``x`` where positive, else ``negative_slope * x``, as ``torch.nn.LeakyReLU``."""

    function = "leaky_relu"

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__(negative_slope=negative_slope, inplace=inplace)


class PReLU(Module):
    """``x`` where positive, else ``weight * x`` with a learnt slope (one, or one per channel),
    as ``torch.nn.PReLU``."""

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
    """As ``torch.nn.ELU``."""

    function = "elu"

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(alpha=alpha, inplace=inplace)


class SELU(_Activation):
    """As ``torch.nn.SELU``."""

    function = "selu"

    def __init__(self, inplace=False):
        super().__init__(inplace=inplace)


class CELU(_Activation):
    """As ``torch.nn.CELU``."""

    function = "celu"

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(alpha=alpha, inplace=inplace)


class GELU(_Activation):
    """As ``torch.nn.GELU`` (``approximate='none'`` or ``'tanh'``)."""

    function = "gelu"

    def __init__(self, approximate="none"):
        super().__init__(approximate=approximate)


class SiLU(_Activation):
    """``x * sigmoid(x)``, as ``torch.nn.SiLU``."""

    function = "silu"

    def __init__(self, inplace=False):
        super().__init__(inplace=inplace)


class Mish(_Activation):
    """As ``torch.nn.Mish``."""

    function = "mish"

    def __init__(self, inplace=False):
        super().__init__(inplace=inplace)


class Hardswish(_Activation):
    """As ``torch.nn.Hardswish``."""

    function = "hardswish"

    def __init__(self, inplace=False):
        super().__init__(inplace=inplace)


class Hardsigmoid(_Activation):
    """As ``torch.nn.Hardsigmoid``."""

    function = "hardsigmoid"

    def __init__(self, inplace=False):
        super().__init__(inplace=inplace)


class Hardtanh(_Activation):
    """As ``torch.nn.Hardtanh``."""

    function = "hardtanh"

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__(min_val=min_val, max_val=max_val, inplace=inplace)


class Softplus(_Activation):
    """As ``torch.nn.Softplus``."""

    function = "softplus"

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__(beta=beta, threshold=threshold)


class Sigmoid(_Activation):
    """As ``torch.nn.Sigmoid``."""

    function = "sigmoid"

    def __init__(self):
        super().__init__()


class Tanh(_Activation):
    """As ``torch.nn.Tanh``."""

    function = "tanh"

    def __init__(self):
        super().__init__()


class Softmax(_Activation):
    """As ``torch.nn.Softmax`` (``dim=None`` takes torch's implicit choice, with its warning)."""

    function = "softmax"
    checked_when_built = False  # the axis depends on the input

    def __init__(self, dim=None):
        super().__init__(dim=dim)


class LogSoftmax(_Activation):
    """As ``torch.nn.LogSoftmax``."""

    function = "log_softmax"
    checked_when_built = False

    def __init__(self, dim=None):
        super().__init__(dim=dim)


__all__ = ["ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish",
           "Hardswish", "Hardsigmoid", "Hardtanh", "Softplus", "Sigmoid", "Tanh", "Softmax",
           "LogSoftmax"]
