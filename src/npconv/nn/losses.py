"""Losses: ``loss = criterion(input, target)``, then ``criterion.backward()`` gives d loss / d input."""

from __future__ import annotations

import numpy as np

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(name, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}(): `reduction` must be one of {REDUCTIONS}, got {reduction!r}")


def _check_forward_done(loss, attribute):
    if not hasattr(loss, attribute):
        raise RuntimeError(f"{type(loss).__name__}.backward() needs a forward call first")


def log_softmax(logits, axis=1):
    """``logits - logsumexp(logits)`` along ``axis``, shifted by the maximum so nothing overflows."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


class CrossEntropyLoss:
    """Cross entropy of logits ``(N, C)`` or ``(N, C, *d)`` and class indices ``(N,)`` or ``(N, *d)``.

    As ``torch.nn.CrossEntropyLoss`` with class-index targets: per element
    ``-weight[t] * log_softmax(x)[t]``; ``reduction='mean'`` divides by the sum
    of the weights of the counted targets, ``ignore_index`` targets count for nothing.
    """

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        _check_reduction("CrossEntropyLoss", reduction)
        self.weight = None if weight is None else np.asarray(weight)
        self.ignore_index, self.reduction = ignore_index, reduction

    def __call__(self, input, target):
        return self.forward(input, target)

    def forward(self, input, target):
        logits = np.asarray(input)
        target = np.asarray(target)
        if logits.ndim < 2 or target.shape != logits.shape[:1] + logits.shape[2:]:
            raise ValueError(f"CrossEntropyLoss(): `target` must have shape "
                             f"{logits.shape[:1] + logits.shape[2:]} for input of shape "
                             f"{logits.shape}, got {target.shape}")
        if target.dtype.kind not in "iu":
            raise TypeError(f"CrossEntropyLoss(): `target` must hold integer class indices, "
                            f"got dtype {target.dtype}")
        classes = logits.shape[1]
        counted = target != self.ignore_index
        safe = np.where(counted, target, 0)
        if ((safe < 0) | (safe >= classes)).any():
            raise ValueError(f"CrossEntropyLoss(): `target` must lie in [0, {classes}) "
                             f"(or be ignore_index), got {safe[(safe < 0) | (safe >= classes)][0]}")
        weights = np.ones(classes, logits.dtype) if self.weight is None else self.weight.astype(logits.dtype)
        sample_weight = weights[safe] * counted
        log_probs = log_softmax(logits, axis=1)
        picked = np.take_along_axis(log_probs, safe[:, None], axis=1)[:, 0]
        losses = -picked * sample_weight
        self._cache = (log_probs, safe, sample_weight, logits.shape)
        if self.reduction == "none":
            self._scale = np.ones_like(losses)
            return losses
        if self.reduction == "sum":
            self._scale = np.ones((), logits.dtype)
            return losses.sum()
        with np.errstate(divide="ignore", invalid="ignore"):  # no target counts: NaN, as torch
            self._scale = np.asarray(1 / sample_weight.sum(), logits.dtype)
            return (losses.sum() * self._scale).astype(logits.dtype)

    def backward(self, grad_output=1.0):
        """d loss / d input; ``grad_output`` is the loss's own gradient (shaped as the loss).

        Targets that count for nothing (``ignore_index``, zero class weight)
        get zero gradients, also when no target counts (where the mean loss is NaN, as torch's).
        """
        _check_forward_done(self, "_cache")
        log_probs, safe, sample_weight, shape = self._cache
        with np.errstate(invalid="ignore"):
            scale = np.asarray(grad_output, log_probs.dtype) * self._scale * sample_weight
        scale = np.where(sample_weight == 0, 0, scale)
        grad = np.exp(log_probs)  # softmax, minus 1 at each target class
        target = safe[:, None]
        np.put_along_axis(grad, target, np.take_along_axis(grad, target, axis=1) - 1, axis=1)
        grad *= np.expand_dims(scale, 1)
        return grad.astype(log_probs.dtype, copy=False)


class MSELoss:
    """Mean squared error, as ``torch.nn.MSELoss``."""

    def __init__(self, reduction="mean"):
        _check_reduction("MSELoss", reduction)
        self.reduction = reduction

    def __call__(self, input, target):
        return self.forward(input, target)

    def forward(self, input, target):
        input, target = np.asarray(input), np.asarray(target)
        if input.shape != target.shape:
            raise ValueError(f"MSELoss(): `target` must have the shape of `input` {input.shape}, "
                             f"got {target.shape}")
        self._difference = input - target
        squared = self._difference * self._difference
        if self.reduction == "none":
            return squared
        total = squared.sum()
        return total if self.reduction == "sum" else total / squared.size

    def backward(self, grad_output=1.0):
        _check_forward_done(self, "_difference")
        grad = 2 * self._difference * np.asarray(grad_output, self._difference.dtype)
        return grad / self._difference.size if self.reduction == "mean" else grad
