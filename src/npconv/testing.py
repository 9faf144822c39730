"""Checking a backward pass against its forward pass by finite differences.

``npconv check`` and the tests use the same check.

For a function ``y = f(x_1, ..., x_m)`` and the backward pass ``g = B(u, x)``
that should give ``g_i = J_i^T u``, the directional derivative along a
random ``v_i`` must agree both ways::

    <u, (f(.., x_i + h v_i, ..) - f(.., x_i - h v_i, ..)) / 2h>  ==  <g_i, v_i>

Central differences in float64 are exact to ``O(h^2)`` for smooth
functions; pick inputs away from kinks (ties of a maximum, zeros of ReLU).
"""

from __future__ import annotations

import numpy as np


def directional_derivatives(forward, backward, inputs, rng, h=1e-6):
    """``[(numeric, analytic), ...]``: both sides of the check above, one pair per input.

    ``forward(*inputs)`` gives ``y``; ``backward(u, *inputs)`` gives one
    gradient per input (in order).  ``u`` and the ``v_i`` are standard
    normal draws from ``rng``.
    """
    u = rng.standard_normal(np.shape(forward(*inputs)))
    gradients = backward(u, *inputs)
    pairs = []
    for index, (array, gradient) in enumerate(zip(inputs, gradients)):
        direction = rng.standard_normal(np.shape(array))
        plus, minus = list(inputs), list(inputs)
        plus[index] = array + h * direction
        minus[index] = array - h * direction
        numeric = float(np.vdot(u, forward(*plus) - forward(*minus)) / (2 * h))
        pairs.append((numeric, float(np.vdot(gradient, direction))))
    return pairs


def directional_error(forward, backward, inputs, rng, h=1e-6):
    """The largest ``|numeric - analytic| / max(1, |numeric|)`` of
    :func:`directional_derivatives`."""
    return max(abs(numeric - analytic) / max(1.0, abs(numeric))
               for numeric, analytic in directional_derivatives(forward, backward, inputs, rng, h))


def torch_twin(module, torch, dtype=None):
    """The same model in torch, with npconv's weights and its module names.

    For the parity tests (float64) and ``npconv bench --train`` (float32):
    ``dtype`` is torch's (by default that of npconv's weights).  Covers the
    layers of the model zoo: containers, convolutions, linear layers, batch
    norm, pooling, dropout, and layers whose torch class has the same name
    and no arguments.
    """
    from npconv import nn
    T = torch.nn
    if isinstance(module, nn.Sequential):
        return T.Sequential(*(torch_twin(m, torch, dtype) for m in module))
    if isinstance(module, nn.Residual):
        body, shortcut = torch_twin(module.body, torch, dtype), module.shortcut
        shortcut = None if shortcut is None else torch_twin(shortcut, torch, dtype)

        class Residual(T.Module):
            def __init__(self):
                super().__init__()
                self.body, self.shortcut = body, shortcut

            def forward(self, x):
                return self.body(x) + (x if self.shortcut is None else self.shortcut(x))
        return Residual()
    if isinstance(module, nn.Parallel):
        branches = [torch_twin(m, torch, dtype) for m in module.children()]

        class Parallel(T.Module):
            def __init__(self):
                super().__init__()
                for index, branch in enumerate(branches):  # npconv's names: "0", "1", ...
                    self.add_module(str(index), branch)

            def forward(self, x):
                outputs = [b(x) for b in self.children()]
                return torch.cat(outputs, module.dim) if module.combine == "cat" else sum(outputs)
        return Parallel()
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        weight, options = module.weight.data, getattr(module, "options", {})
        bias = module.bias is not None
        if isinstance(module, nn.Linear):
            layer = T.Linear(weight.shape[1], weight.shape[0], bias)
        elif isinstance(module, nn.Conv2d):
            layer = T.Conv2d(weight.shape[1] * options["groups"], weight.shape[0],
                             weight.shape[2:], options["stride"], options["padding"],
                             options["dilation"], options["groups"], bias)
        else:
            layer = T.ConvTranspose2d(weight.shape[0], weight.shape[1] * options["groups"],
                                      weight.shape[2:], options["stride"], options["padding"],
                                      options["output_padding"], options["groups"], bias,
                                      options["dilation"])
        layer = layer.to(dtype or getattr(torch, str(weight.dtype)))
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(weight))
            if bias:
                layer.bias.copy_(torch.tensor(module.bias.data))
        return layer
    if isinstance(module, nn.BatchNorm2d):
        return T.BatchNorm2d(module.num_features, module.eps, module.momentum).to(
            dtype or torch.get_default_dtype())
    if isinstance(module, (nn.AvgPool2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d)):
        return getattr(T, type(module).__name__)(**module.options)
    if isinstance(module, nn.Dropout):
        return T.Dropout(module.p)
    return getattr(T, type(module).__name__)()
