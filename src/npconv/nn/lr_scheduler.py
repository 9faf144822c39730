"""Learning-rate schedules, as ``torch.optim.lr_scheduler``, with torch's arithmetic.

A scheduler sets each parameter group's ``'lr'`` when it is built (step 0)
and on every :meth:`LRScheduler.step`, by torch's own (mostly chainable)
formulas, so that the rates agree with torch's to the last bit.
``state_dict``/``load_state_dict`` save and restore it with the optimiser.
"""

from __future__ import annotations

import math
from collections import Counter

from .optim import Optimizer


class _Schedule:
    """What every schedule offers: the last rates and a state dict of everything but the optimiser."""

    def get_last_lr(self):
        """The learning rates the last step set."""
        return list(self._last_lr)

    def state_dict(self):
        """Everything but the optimiser, as torch's."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)


class LRScheduler(_Schedule):
    """The base: ``base_lrs``, ``last_epoch`` and :meth:`step`.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> optimizer = nn.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
    >>> schedule = nn.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    >>> rates = []
    >>> for _ in range(4):
    ...     optimizer.step()
    ...     schedule.step()
    ...     rates.append(round(schedule.get_last_lr()[0], 6))
    ...
    >>> rates
    [0.1, 0.05, 0.05, 0.025]
    """

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}(): `optimizer` must be an npconv optimiser, "
                            f"got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        elif any("initial_lr" not in group for group in optimizer.param_groups):
            raise KeyError(f"{type(self).__name__}(): resuming (last_epoch={last_epoch}) needs "
                           f"'initial_lr' in every parameter group")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self.step()

    def get_lr(self):
        raise NotImplementedError

    def step(self):
        """Advance one epoch (or step) and set each group's learning rate."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> optimizer = nn.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
    >>> schedule = nn.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    >>> rates = []
    >>> for _ in range(4):
    ...     optimizer.step()
    ...     schedule.step()
    ...     rates.append(round(schedule.get_last_lr()[0], 6))
    ...
    >>> rates
    [0.1, 0.05, 0.05, 0.025]
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size, self.gamma = int(step_size), gamma
        if self.step_size < 1:
            raise ValueError(f"StepLR(): `step_size` must be positive, got {step_size!r}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]


class MultiStepLR(LRScheduler):
    """Multiply the rate by ``gamma`` at each milestone epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> optimizer = nn.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
    >>> schedule = nn.lr_scheduler.MultiStepLR(optimizer, milestones=[1, 3], gamma=0.1)
    >>> rates = []
    >>> for _ in range(4):
    ...     optimizer.step()
    ...     schedule.step()
    ...     rates.append(round(schedule.get_last_lr()[0], 6))
    ...
    >>> rates
    [0.01, 0.01, 0.001, 0.001]
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones, self.gamma = Counter(int(m) for m in milestones), gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch not in self.milestones:
            return self._lrs()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self._lrs()]


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> optimizer = nn.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
    >>> schedule = nn.lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
    >>> rates = []
    >>> for _ in range(4):
    ...     optimizer.step()
    ...     schedule.step()
    ...     rates.append(round(schedule.get_last_lr()[0], 6))
    ...
    >>> rates
    [0.05, 0.025, 0.0125, 0.00625]
    """

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]


class CosineAnnealingLR(LRScheduler):
    """Cosine from the base rate down to ``eta_min`` over ``T_max`` epochs (torch's recursion).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> optimizer = nn.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
    >>> schedule = nn.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4)
    >>> rates = []
    >>> for _ in range(4):
    ...     optimizer.step()
    ...     schedule.step()
    ...     rates.append(round(schedule.get_last_lr()[0], 6))
    ...
    >>> rates
    [0.085355, 0.05, 0.014645, 0.0]
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        epoch, period, low = self.last_epoch, self.T_max, self.eta_min
        if epoch == 0:
            return self._lrs()
        if self._step_count == 1 and epoch > 0:
            return [low + (base - low) * (1 + math.cos(epoch * math.pi / period)) / 2
                    for base in self.base_lrs]
        if (epoch - 1 - period) % (2 * period) == 0:
            return [lr + (base - low) * (1 - math.cos(math.pi / period)) / 2
                    for lr, base in zip(self._lrs(), self.base_lrs)]
        return [(1 + math.cos(math.pi * epoch / period))
                / (1 + math.cos(math.pi * (epoch - 1) / period)) * (lr - low) + low
                for lr in self._lrs()]


class LinearLR(LRScheduler):
    """Scale the rate linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` epochs.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> optimizer = nn.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
    >>> schedule = nn.lr_scheduler.LinearLR(optimizer, start_factor=0.5, total_iters=2)
    >>> rates = []
    >>> for _ in range(4):
    ...     optimizer.step()
    ...     schedule.step()
    ...     rates.append(round(schedule.get_last_lr()[0], 6))
    ...
    >>> rates
    [0.075, 0.1, 0.1, 0.1]
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 last_epoch=-1):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR(): `start_factor` must be in (0, 1] and `end_factor` in "
                             f"[0, 1], got {start_factor!r} and {end_factor!r}")
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._lrs()]
        if self.last_epoch > self.total_iters:
            return self._lrs()
        change = self.end_factor - self.start_factor
        return [lr * (1.0 + change / (self.total_iters * self.start_factor
                                      + (self.last_epoch - 1) * change))
                for lr in self._lrs()]


def _per_group(name, optimizer, value):
    values = list(value) if isinstance(value, (list, tuple)) else \
        [value] * len(optimizer.param_groups)
    if len(values) != len(optimizer.param_groups):
        raise ValueError(f"OneCycleLR(): `{name}` must have one value per parameter group "
                         f"({len(optimizer.param_groups)}), got {len(values)}")
    return values


class OneCycleLR(LRScheduler):
    """The one-cycle policy: up to ``max_lr``, then down far below the start; momentum the other way.

    As torch's: the rate starts at ``max_lr / div_factor``, reaches ``max_lr``
    after ``pct_start`` of ``total_steps`` and ends at the start over
    ``final_div_factor``; with ``cycle_momentum`` the momentum (or Adam's
    ``beta1``) moves between ``max_momentum`` and ``base_momentum`` inversely.
    ``three_phase`` comes back to the start before the final descent.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> optimizer = nn.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
    >>> schedule = nn.lr_scheduler.OneCycleLR(optimizer, max_lr=1.0, total_steps=5)
    >>> rates = []
    >>> for _ in range(4):
    ...     optimizer.step()
    ...     schedule.step()
    ...     rates.append(round(schedule.get_last_lr()[0], 6))
    ...
    >>> rates
    [0.950485, 0.611262, 0.188258, 4e-06]
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False,
                 last_epoch=-1):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR(): give `total_steps`, or `epochs` and "
                                 "`steps_per_epoch`")
            total_steps = epochs * steps_per_epoch
        if int(total_steps) < 1:
            raise ValueError(f"OneCycleLR(): the total number of steps must be positive, got "
                             f"{total_steps!r}")
        if not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR(): `pct_start` must be in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR(): `anneal_strategy` must be 'cos' or 'linear', got "
                             f"{anneal_strategy!r}")
        self.total_steps = int(total_steps)
        self.anneal_strategy = anneal_strategy
        start = float(pct_start * self.total_steps) - 1
        if three_phase:
            self._schedule_phases = [
                dict(end_step=start, start_lr="initial_lr", end_lr="max_lr",
                     start_momentum="max_momentum", end_momentum="base_momentum"),
                dict(end_step=float(2 * pct_start * self.total_steps) - 2, start_lr="max_lr",
                     end_lr="initial_lr", start_momentum="base_momentum",
                     end_momentum="max_momentum"),
                dict(end_step=self.total_steps - 1, start_lr="initial_lr", end_lr="min_lr",
                     start_momentum="max_momentum", end_momentum="max_momentum")]
        else:
            self._schedule_phases = [
                dict(end_step=start, start_lr="initial_lr", end_lr="max_lr",
                     start_momentum="max_momentum", end_momentum="base_momentum"),
                dict(end_step=self.total_steps - 1, start_lr="max_lr", end_lr="min_lr",
                     start_momentum="base_momentum", end_momentum="max_momentum")]
        if last_epoch == -1:
            for group, peak in zip(optimizer.param_groups,
                                   _per_group("max_lr", optimizer, max_lr)):
                group["initial_lr"] = peak / div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError("OneCycleLR(): the optimiser has no momentum or beta1 to cycle "
                                 "(pass cycle_momentum=False)")
            self.use_beta1 = "betas" in optimizer.defaults
            if last_epoch == -1:
                for group, high, low in zip(optimizer.param_groups,
                                            _per_group("max_momentum", optimizer, max_momentum),
                                            _per_group("base_momentum", optimizer,
                                                       base_momentum)):
                    self._set_momentum(group, high)
                    group["max_momentum"], group["base_momentum"] = high, low
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group, value):
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start, end, fraction):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)
        return (end - start) * fraction + start

    def get_lr(self):
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {step} times, past the {self.total_steps} "
                             f"total steps")
        rates = []
        for group in self.optimizer.param_groups:
            begin = 0.0
            for index, phase in enumerate(self._schedule_phases):
                end = phase["end_step"]
                if step <= end or index == len(self._schedule_phases) - 1:
                    fraction = (step - begin) / (end - begin)
                    rate = self._anneal(group[phase["start_lr"]], group[phase["end_lr"]],
                                        fraction)
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(
                            group[phase["start_momentum"]], group[phase["end_momentum"]],
                            fraction))
                    break
                begin = phase["end_step"]
            rates.append(rate)
        return rates


class ReduceLROnPlateau(_Schedule):
    """Divide the rate by ``1/factor`` when a metric stops improving for ``patience`` epochs.

    ``step(metric)`` after each epoch; ``mode`` ``'min'`` or ``'max'``,
    ``threshold_mode`` ``'rel'`` or ``'abs'``, ``cooldown`` epochs of rest
    after a reduction, ``min_lr`` a floor per group, changes below ``eps``
    ignored, as torch's.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> optimizer = nn.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
    >>> schedule = nn.lr_scheduler.ReduceLROnPlateau(optimizer, patience=1)
    >>> for loss in (1.0, 1.0, 1.0, 1.0):
    ...     schedule.step(loss)
    ...
    >>> round(optimizer.param_groups[0]['lr'], 6)
    0.01
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        if not factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau(): `factor` must be below 1.0, got {factor!r}")
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau(): `mode` must be 'min' or 'max' and "
                             f"`threshold_mode` 'rel' or 'abs', got {mode!r} and "
                             f"{threshold_mode!r}")
        self.optimizer, self.factor, self.patience = optimizer, factor, patience
        self.min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else \
            [min_lr] * len(optimizer.param_groups)
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def _better(self, value):
        if self.mode == "min":
            bar = self.best * (1 - self.threshold) if self.threshold_mode == "rel" \
                else self.best - self.threshold
            return value < bar
        bar = self.best * (self.threshold + 1) if self.threshold_mode == "rel" \
            else self.best + self.threshold
        return value > bar

    def step(self, metrics):
        value = float(metrics)
        self.last_epoch += 1
        if self._better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, floor in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, floor)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "LinearLR", "OneCycleLR", "ReduceLROnPlateau"]
