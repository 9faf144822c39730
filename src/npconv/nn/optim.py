"""Optimisers with torch's update rules and state: ``SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad``.

Each takes parameters (``module.parameters()``) or parameter groups (dicts
with ``'params'`` and their own hyper-parameters, as torch), updates
``p.data`` in place from ``p.grad`` on :meth:`Optimizer.step`, and keeps
per-parameter state that :meth:`Optimizer.state_dict` and
:meth:`Optimizer.load_state_dict` save and restore in torch's layout (so a
training run resumes exactly).  A frozen parameter (``requires_grad=False``)
is left alone.
"""

from __future__ import annotations

import copy
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
    """Parameter groups, per-parameter state, and their state dict, as ``torch.optim.Optimizer``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> optimizer = nn.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
    >>> [group['lr'] for group in optimizer.param_groups], sorted(optimizer.state_dict())
    ([0.1], ['param_groups', 'state'])
    """

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = {}
        self.param_groups = []
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}(): got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group: its ``'params'`` and any hyper-parameters (the rest from the defaults)."""
        name = type(self).__name__
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(f"{name}: a parameter group must be a dict with 'params', got "
                            f"{param_group!r}")
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if hasattr(params, "grad") else list(params)
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check(group)
        taken = {id(p) for other in self.param_groups for p in other["params"]}
        if any(id(p) in taken for p in group["params"]):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def _check(self, group):
        """Validate a group's hyper-parameters (subclasses check their own)."""
        group["lr"] = check_hyperparameter(type(self).__name__, "lr", group["lr"])

    def zero_grad(self, set_to_none=True):
        """Zero every gradient (npconv's gradients are arrays that layers add into)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad[...] = 0

    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.requires_grad:
                    self._update(p, group, self.state.setdefault(p, {}))

    def _update(self, p, group, state):
        raise NotImplementedError

    # --- state, in torch's layout --------------------------------------------------------

    def state_dict(self):
        """``{'state': {index: {name: value}}, 'param_groups': [{..., 'params': [index]}]}``.

        Parameters are numbered across the groups in order, as torch numbers
        them; arrays are copies.
        """
        index, groups = {}, []
        for group in self.param_groups:
            numbered = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                numbered.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"},
                           "params": numbered})
        state = {index[id(p)]: copy.deepcopy(values) for p, values in self.state.items()
                 if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state saved by :meth:`state_dict` (groups must match)."""
        name = type(self).__name__
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups) or any(
                len(s["params"]) != len(g["params"]) for s, g in zip(saved, self.param_groups)):
            raise ValueError(f"{name}.load_state_dict(): the saved parameter groups do not match "
                             f"this optimiser's (their number or sizes differ)")
        by_index = {}
        for saved_group, group in zip(saved, self.param_groups):
            for index, p in zip(saved_group["params"], group["params"]):
                by_index[index] = p
        state = {}
        for index, values in state_dict["state"].items():
            p = by_index[int(index)]
            state[p] = {key: (np.array(value, dtype=p.data.dtype, copy=True)
                              if isinstance(value, np.ndarray) and value.shape == p.shape
                              else copy.deepcopy(value))
                        for key, value in values.items()}
        for saved_group, group in zip(saved, self.param_groups):
            group.update({k: v for k, v in saved_group.items() if k != "params"})
        self.state = state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            lines += [f"    {key}: {value}" for key, value in sorted(group.items())
                      if key != "params"]
        return "\n".join(lines + [")"])


class SGD(Optimizer):
    """``p -= lr * g`` with optional weight decay, (Nesterov) momentum and dampening, as torch.

    ``g = grad + weight_decay * p``; with momentum ``buf = momentum * buf + (1 - dampening) * g``
    (``buf = g`` on the first step) and ``g = buf``, or ``g + momentum * buf`` with Nesterov.
    ``maximize`` ascends.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Linear(2, 1)
    >>> _ = nn.init.ones_(layer.weight)
    >>> optimizer = nn.SGD(layer.parameters(), lr=0.1)
    >>> y = layer(np.ones((1, 2), np.float32))
    >>> _ = layer.backward(np.ones_like(y))
    >>> optimizer.step()
    >>> layer.weight.data
    array([[0.9, 0.9]], dtype=float32)
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _check(self, group):
        super()._check(group)
        for key in ("momentum", "dampening", "weight_decay"):
            group[key] = check_hyperparameter("SGD", key, group[key])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD(): Nesterov momentum needs momentum > 0 and zero dampening")

    def _update(self, p, group, state):
        g = -p.grad if group["maximize"] else p.grad
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        if group["momentum"]:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, copy=True)
            else:
                buf *= group["momentum"]
                buf += (1 - group["dampening"]) * g
            g = g + group["momentum"] * buf if group["nesterov"] else buf
        p.data -= group["lr"] * g


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (L2 ``weight_decay`` added to the gradient; ``amsgrad``).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Linear(2, 1)
    >>> _ = nn.init.ones_(layer.weight)
    >>> optimizer = nn.Adam(layer.parameters(), lr=0.1)
    >>> y = layer(np.ones((1, 2), np.float32))
    >>> _ = layer.backward(np.ones_like(y))
    >>> optimizer.step()
    >>> layer.weight.data
    array([[0.90000004, 0.90000004]], dtype=float32)
    """

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _check(self, group):
        super()._check(group)
        name = type(self).__name__
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}(): `betas` must be a pair of numbers, got {betas!r}")
        group["betas"] = tuple(check_hyperparameter(name, f"betas[{i}]", beta, 0.0, 1.0,
                                                    high_open=True)
                               for i, beta in enumerate(betas))
        group["eps"] = check_hyperparameter(name, "eps", group["eps"])
        group["weight_decay"] = check_hyperparameter(name, "weight_decay", group["weight_decay"])

    def _update(self, p, group, state):
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(p.data), exp_avg_sq=np.zeros_like(p.data))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        lr, weight_decay = group["lr"], group["weight_decay"]
        g = -p.grad if group["maximize"] else p.grad
        if weight_decay and self.decoupled:
            p.data *= 1 - lr * weight_decay
        elif weight_decay:
            g = g + weight_decay * p.data
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (g - m)
        v *= beta2
        v += (1 - beta2) * g * g
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        step = state["step"]
        denom = np.sqrt(v) / math.sqrt(1 - beta2 ** step) + group["eps"]
        p.data -= (lr / (1 - beta1 ** step)) * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (``p *= 1 - lr * weight_decay`` first), as ``torch.optim.AdamW``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Linear(2, 1)
    >>> _ = nn.init.ones_(layer.weight)
    >>> optimizer = nn.AdamW(layer.parameters(), lr=0.1)
    >>> y = layer(np.ones((1, 2), np.float32))
    >>> _ = layer.backward(np.ones_like(y))
    >>> optimizer.step()
    >>> layer.weight.data
    array([[0.89900005, 0.89900005]], dtype=float32)
    """

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``: ``p -= lr * g / (sqrt(mean g^2) + eps)``.

    ``centered`` subtracts the squared running mean of ``g``; ``momentum``
    accumulates the steps.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Linear(2, 1)
    >>> _ = nn.init.ones_(layer.weight)
    >>> optimizer = nn.RMSprop(layer.parameters(), lr=0.01)
    >>> y = layer(np.ones((1, 2), np.float32))
    >>> _ = layer.backward(np.ones_like(y))
    >>> optimizer.step()
    >>> layer.weight.data
    array([[0.90000004, 0.90000004]], dtype=float32)
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _check(self, group):
        super()._check(group)
        for key in ("alpha", "eps", "weight_decay", "momentum"):
            group[key] = check_hyperparameter("RMSprop", key, group[key])

    def _update(self, p, group, state):
        if not state:
            state.update(step=0, square_avg=np.zeros_like(p.data))
            if group["momentum"] > 0:
                state["momentum_buffer"] = np.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p.data)
        state["step"] += 1
        alpha = group["alpha"]
        g = -p.grad if group["maximize"] else p.grad
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * g * g
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg += (1 - alpha) * (g - grad_avg)
            avg = np.sqrt(square_avg - grad_avg * grad_avg) + group["eps"]
        else:
            avg = np.sqrt(square_avg) + group["eps"]
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += g / avg
            p.data -= group["lr"] * buf
        else:
            p.data -= group["lr"] * (g / avg)


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``: ``p -= lr_t * g / (sqrt(sum g^2) + eps)``,
    ``lr_t = lr / (1 + (t - 1) * lr_decay)``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> layer = nn.Linear(2, 1)
    >>> _ = nn.init.ones_(layer.weight)
    >>> optimizer = nn.Adagrad(layer.parameters(), lr=0.1)
    >>> y = layer(np.ones((1, 2), np.float32))
    >>> _ = layer.backward(np.ones_like(y))
    >>> optimizer.step()
    >>> layer.weight.data
    array([[0.9, 0.9]], dtype=float32)
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, *, maximize=False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))

    def _check(self, group):
        super()._check(group)
        for key in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            group[key] = check_hyperparameter("Adagrad", key, group[key])

    def _update(self, p, group, state):
        if not state:
            state.update(step=0, sum=np.full_like(p.data, group["initial_accumulator_value"]))
        state["step"] += 1
        g = -p.grad if group["maximize"] else p.grad
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        rate = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += g * g
        p.data -= rate * (g / (np.sqrt(state["sum"]) + group["eps"]))


__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]
