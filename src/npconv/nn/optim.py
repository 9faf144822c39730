"""Optimisers with torch's update rules: ``SGD``, ``Adam``, ``AdamW``.

Each takes the parameters (``module.parameters()``), updates ``p.data`` in
place from ``p.grad`` on :meth:`step`, and keeps its state per parameter.
"""

from __future__ import annotations

import numpy as np


class Optimizer:
    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}(): got an empty parameter list")
        if lr < 0:
            raise ValueError(f"{type(self).__name__}(): `lr` must be >= 0, got {lr}")
        self.lr = lr

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
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD(): Nesterov momentum needs momentum > 0 and zero dampening")
        self.momentum, self.dampening = momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov
        self.buffers = [None] * len(self.params)

    def step(self):
        for index, p in enumerate(self.params):
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
