"""Optimisers with torch's update rules: ``SGD``, ``Adam``, ``AdamW``.

Each takes the parameters (``module.parameters()``), updates ``p.data`` in
place from ``p.grad`` on :meth:`step`, and keeps its state per parameter; a
frozen parameter (``requires_grad=False``) is left alone.
"""

from __future__ import annotations

import math

import numpy as np


def check_hyperparameter(optimizer, name, value, low=0.0, high=None, high_open=False):
    """``value`` as a finite float in ``[low, high]`` (``[low, high)`` with ``high_open``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{optimizer}(): `{name}` must be a number, got {value!r}")
    value = float(value)
    inside = math.isfinite(value) and value >= low and (
        high is None or (value < high if high_open else value <= high))
    if not inside:
        bound = f">= {low}" if high is None else f"in [{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{optimizer}(): `{name}` must be a finite number {bound}, got {value!r}")
    return value


class Optimizer:
    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}(): got an empty parameter list")
        self.lr = check_hyperparameter(type(self).__name__, "lr", lr)

    def zero_grad(self):
        for p in self.params:
            p.grad[...] = 0


class SGD(Optimizer):
    """``p -= lr * g`` with optional weight decay, (Nesterov) momentum and dampening, as torch.

    ``g = grad + weight_decay * p``; with momentum ``buf = momentum * buf + (1 - dampening) * g``
    (``buf = g`` on the first step) and ``g = buf``, or ``g + momentum * buf`` with Nesterov.
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        super().__init__(params, lr)
        momentum = check_hyperparameter("SGD", "momentum", momentum)
        dampening = check_hyperparameter("SGD", "dampening", dampening)
        weight_decay = check_hyperparameter("SGD", "weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD(): Nesterov momentum needs momentum > 0 and zero dampening")
        self.momentum, self.dampening = momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov
        self.buffers = [None] * len(self.params)

    def step(self):
        for index, p in enumerate(self.params):
            if not p.requires_grad:  # frozen: no update, no momentum
                continue
            g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
            if self.momentum:
                buf = self.buffers[index]
                if buf is None:
                    buf = self.buffers[index] = g.copy()
                else:
                    buf *= self.momentum
                    buf += (1 - self.dampening) * g
                g = g + self.momentum * buf if self.nesterov else buf
            p.data -= self.lr * g


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (L2 ``weight_decay`` added to the gradient; ``amsgrad``)."""

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False):
        super().__init__(params, lr)
        name = type(self).__name__
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}(): `betas` must be a pair of numbers, got {betas!r}")
        betas = tuple(check_hyperparameter(name, f"betas[{i}]", beta, 0.0, 1.0, high_open=True)
                      for i, beta in enumerate(betas))
        eps = check_hyperparameter(name, "eps", eps)
        weight_decay = check_hyperparameter(name, "weight_decay", weight_decay)
        self.betas, self.eps, self.weight_decay, self.amsgrad = betas, eps, weight_decay, amsgrad
        self.steps = 0
        self.exp_avg = [np.zeros_like(p.data) for p in self.params]
        self.exp_avg_sq = [np.zeros_like(p.data) for p in self.params]
        self.max_exp_avg_sq = [np.zeros_like(p.data) for p in self.params] if amsgrad else None

    def step(self):
        self.steps += 1
        beta1, beta2 = self.betas
        bias_correction1 = 1 - beta1 ** self.steps
        bias_correction2_sqrt = (1 - beta2 ** self.steps) ** 0.5
        for index, p in enumerate(self.params):
            if not p.requires_grad:  # frozen: no update, no moments
                continue
            g = p.grad
            if self.weight_decay and self.decoupled:
                p.data *= 1 - self.lr * self.weight_decay
            elif self.weight_decay:
                g = g + self.weight_decay * p.data
            m, v = self.exp_avg[index], self.exp_avg_sq[index]
            m += (1 - beta1) * (g - m)
            v *= beta2
            v += (1 - beta2) * g * g
            if self.amsgrad:
                np.maximum(self.max_exp_avg_sq[index], v, out=self.max_exp_avg_sq[index])
                v = self.max_exp_avg_sq[index]
            denom = np.sqrt(v) / bias_correction2_sqrt + self.eps
            p.data -= (self.lr / bias_correction1) * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (``p *= 1 - lr * weight_decay`` first), as ``torch.optim.AdamW``."""

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
