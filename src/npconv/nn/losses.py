"""Losses: ``loss = criterion(input, target)``, then ``criterion.backward()`` gives d loss / d input.

Constructors take torch's arguments in torch's order, including the
deprecated ``size_average`` and ``reduce`` (so that a positional call means
the same; they map onto ``reduction`` as torch's do).  Every loss is written
as elementwise terms and their derivatives, then reduced: ``'mean'`` divides
by the number of terms (by the sum of the counted targets' weights for
``CrossEntropyLoss`` and ``NLLLoss`` with class indices, as torch),
``'sum'`` adds them, ``'none'`` keeps them (``KLDivLoss`` also takes
``'batchmean'``: the sum over the batch size).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..ops.activations import log_softmax as _log_softmax

REDUCTIONS = ("mean", "sum", "none")


def log_softmax(logits, axis=1):
    """``logits - logsumexp(logits)`` along ``axis`` (:func:`npconv.log_softmax`).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> nn.log_softmax(np.zeros((1, 2)))
    array([[-0.69314718, -0.69314718]])
    """
    return _log_softmax(logits, axis)


def _reduction(name, size_average, reduce, reduction, allowed=REDUCTIONS):
    """torch's rule for the deprecated ``size_average``/``reduce``, then a checked ``reduction``."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
    if reduction not in allowed:
        raise ValueError(f"{name}(): `reduction` must be one of {allowed}, got {reduction!r}")
    return reduction


def _same_shape(name, input, target):
    if input.shape != target.shape:
        raise ValueError(f"{name}(): `target` must have the shape of `input` {input.shape}, "
                         f"got {target.shape}")


class _Loss:
    """Elementwise ``terms`` and their ``derivative``, reduced by ``reduction``.

    A subclass's :meth:`_terms` returns ``(terms, derivative, divisor)``: the
    per-element losses, their derivatives with respect to the input
    (shaped as the input, for a unit gradient of each term), and what
    ``'mean'`` divides by (None: the number of terms).
    """

    def __init__(self, reduction):
        self.reduction = reduction

    def __call__(self, input, target):
        return self.forward(input, target)

    def forward(self, input, target):
        input = np.asarray(input)
        if input.dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}(): `input` must be a float array, got dtype "
                            f"{input.dtype}")
        terms, derivative, divisor = self._terms(input, np.asarray(target))
        self._derivative = derivative
        if self.reduction == "none":
            self._scale = None
            return terms
        if self.reduction == "sum":
            self._scale = np.ones((), input.dtype)
            return terms.sum(dtype=input.dtype)
        if self.reduction == "batchmean":
            divisor = input.shape[0] if input.ndim else 1
        with np.errstate(divide="ignore", invalid="ignore"):  # an empty mean is NaN, as torch's
            self._scale = np.asarray(1 / (terms.size if divisor is None else divisor),
                                     input.dtype)
            return (terms.sum() * self._scale).astype(input.dtype)

    def backward(self, grad_output=1.0):
        """d loss / d input; ``grad_output`` is the loss's own gradient (shaped as the loss)."""
        if not hasattr(self, "_derivative"):
            raise RuntimeError(f"{type(self).__name__}.backward() needs a forward call first")
        derivative = self._derivative
        gradient = np.asarray(grad_output, derivative.dtype)
        if self._scale is None:
            gradient = self._spread(gradient, derivative)
        else:
            gradient = gradient * self._scale
        with np.errstate(invalid="ignore"):
            result = derivative * gradient
        if self._scale is not None and not np.isfinite(self._scale):
            # a mean over nothing (every target ignored) is NaN, its gradient zero, as torch's
            result = np.where(derivative == 0, 0, result)
        return result.astype(derivative.dtype, copy=False)

    def _spread(self, gradient, derivative):
        """A ``'none'`` gradient (shaped as the terms) broadcast onto the input's shape."""
        return gradient


# --- classification --------------------------------------------------------------------

class _ClassLoss(_Loss):
    """Shared by the losses over class indices: checks, weights and ``ignore_index``."""

    def __init__(self, name, weight, ignore_index, reduction):
        super().__init__(reduction)
        self.name = name
        self.weight = None if weight is None else np.asarray(weight)
        self.ignore_index = ignore_index

    def _indices(self, input, target):
        """``(safe indices, counted mask, per-element class weights)`` of a batched input."""
        if input.ndim < 2 or target.shape != input.shape[:1] + input.shape[2:]:
            raise ValueError(f"{self.name}(): `target` must have shape "
                             f"{input.shape[:1] + input.shape[2:]} for input of shape "
                             f"{input.shape}, got {target.shape}")
        if target.dtype.kind not in "iu":
            raise TypeError(f"{self.name}(): `target` must hold integer class indices, got "
                            f"dtype {target.dtype}")
        classes = input.shape[1]
        counted = target != self.ignore_index
        safe = np.where(counted, target, 0)
        wrong = (safe < 0) | (safe >= classes)
        if wrong.any():
            raise ValueError(f"{self.name}(): `target` must lie in [0, {classes}) (or be "
                             f"ignore_index), got {safe[wrong].flat[0]}")
        weights = self._class_weights(classes, input.dtype)
        return safe, counted, weights[safe] * counted

    def _class_weights(self, classes, dtype):
        if self.weight is None:
            return np.ones(classes, dtype)
        if self.weight.shape != (classes,):
            raise ValueError(f"{self.name}(): `weight` must have shape ({classes},), got "
                             f"{self.weight.shape}")
        return self.weight.astype(dtype)

    def _spread(self, gradient, derivative):
        """Each term's gradient onto its row of classes (axis 1; an unbatched term is 0-d)."""
        return np.expand_dims(gradient, 1) if gradient.ndim else gradient


def _batched(input, target):
    """An unbatched ``(C,)`` input and its target as a batch of one."""
    if input.ndim == 1:
        return input[np.newaxis], target[np.newaxis]
    return input, target


class NLLLoss(_ClassLoss):
    """Negative log-likelihood of log-probabilities ``(N, C, *d)`` and class indices, as torch's.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> loss = nn.NLLLoss()
    >>> value = loss(np.log(np.full((2, 4), 0.25)), np.array([0, 3]))
    >>> round(float(value), 6), loss.backward()
    (1.386294, array([[-0.5,  0. ,  0. ,  0. ],
           [ 0. ,  0. ,  0. , -0.5]]))
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean"):
        super().__init__("NLLLoss", weight, ignore_index,
                         _reduction("NLLLoss", size_average, reduce, reduction))

    def _terms(self, input, target):
        unbatched = input.ndim == 1
        input, target = _batched(input, target)
        safe, _, sample_weight = self._indices(input, target)
        picked = np.take_along_axis(input, np.expand_dims(safe, 1), axis=1)[:, 0]
        terms = -picked * sample_weight
        derivative = np.zeros_like(input)
        np.put_along_axis(derivative, np.expand_dims(safe, 1), -np.expand_dims(sample_weight, 1),
                          axis=1)
        if unbatched:
            terms, derivative = terms[0], derivative[0]
        return terms, derivative, sample_weight.sum()


class CrossEntropyLoss(_ClassLoss):
    """Cross entropy of logits ``(N, C, *d)``, as ``torch.nn.CrossEntropyLoss``.

    ``target`` holds class indices (``(N, *d)``) or class probabilities
    (shaped as ``input``).  With indices: ``-weight[t] * log_softmax(x)[t]``
    per element, ``'mean'`` divided by the summed weights of the counted
    targets, ``ignore_index`` counting for nothing.  ``label_smoothing`` ``e``
    mixes in ``e/C`` of the uniform distribution, as torch.  With
    probabilities: ``-sum_c weight[c] * p[c] * log_softmax(x)[c]``, ``'mean'``
    over the elements.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> loss = nn.CrossEntropyLoss()
    >>> value = loss(np.zeros((2, 4)), np.array([0, 3]))
    >>> round(float(value), 6), loss.backward()
    (1.386294, array([[-0.375,  0.125,  0.125,  0.125],
           [ 0.125,  0.125,  0.125, -0.375]]))
    """

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean", label_smoothing=0.0):
        super().__init__("CrossEntropyLoss", weight, ignore_index,
                         _reduction("CrossEntropyLoss", size_average, reduce, reduction))
        if isinstance(label_smoothing, bool) or not 0 <= label_smoothing <= 1:
            raise ValueError(f"CrossEntropyLoss(): `label_smoothing` must be in [0, 1], got "
                             f"{label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def _terms(self, input, target):
        unbatched = input.ndim == 1
        input, target = _batched(input, target)
        if input.ndim < 2:
            raise ValueError(f"CrossEntropyLoss(): `input` must be (C,) or (N, C, *d), got "
                             f"shape {input.shape}")
        log_probs = log_softmax(input, 1)
        classes, smoothing = input.shape[1], self.label_smoothing
        weights = self._class_weights(classes, input.dtype).reshape(
            (1, classes) + (1,) * (input.ndim - 2))
        if target.dtype.kind == "f":  # class probabilities
            _same_shape("CrossEntropyLoss", input, target)
            coefficients = weights * (target * (1 - smoothing) + smoothing / classes)
            divisor = None
        else:
            safe, counted, sample_weight = self._indices(input, target)
            coefficients = np.zeros_like(input)
            np.put_along_axis(coefficients, np.expand_dims(safe, 1),
                              np.expand_dims(sample_weight * (1 - smoothing), 1), axis=1)
            if smoothing:
                coefficients += weights * np.expand_dims(counted, 1) * (smoothing / classes)
            divisor = sample_weight.sum()
        # each term: -sum_c a_c log p_c; its derivative: p * sum_c a_c - a
        terms = -(coefficients * log_probs).sum(axis=1)
        derivative = np.exp(log_probs) * coefficients.sum(axis=1, keepdims=True) - coefficients
        if unbatched:
            terms, derivative = terms[0], derivative[0]
        return terms, derivative.astype(input.dtype, copy=False), divisor


class BCELoss(_Loss):
    """Binary cross entropy of probabilities, as ``torch.nn.BCELoss`` (logs clamped at -100).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> loss = nn.BCELoss()
    >>> value = loss(np.array([0.5, 0.5]), np.array([1.0, 0.0]))
    >>> round(float(value), 6), loss.backward()
    (0.693147, array([-1.,  1.]))
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(_reduction("BCELoss", size_average, reduce, reduction))
        self.weight = None if weight is None else np.asarray(weight)

    def _terms(self, input, target):
        _same_shape("BCELoss", input, target)
        if ((input < 0) | (input > 1)).any():
            raise ValueError("BCELoss(): `input` must hold probabilities in [0, 1]")
        with np.errstate(divide="ignore"):
            log_p, log_q = np.maximum(np.log(input), -100), np.maximum(np.log1p(-input), -100)
        weight = 1 if self.weight is None else self.weight.astype(input.dtype)
        terms = -weight * (target * log_p + (1 - target) * log_q)
        # torch's gradient: (x - t) / max(x (1 - x), 1e-12)
        derivative = weight * (input - target) / np.maximum(input * (1 - input), 1e-12)
        return terms.astype(input.dtype), np.broadcast_to(derivative, input.shape).astype(
            input.dtype), None


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross entropy in one, as ``torch.nn.BCEWithLogitsLoss`` (``pos_weight``).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> loss = nn.BCEWithLogitsLoss()
    >>> value = loss(np.zeros(2), np.array([1.0, 0.0]))
    >>> round(float(value), 6), loss.backward()
    (0.693147, array([-0.25,  0.25]))
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean",
                 pos_weight=None):
        super().__init__(_reduction("BCEWithLogitsLoss", size_average, reduce, reduction))
        self.weight = None if weight is None else np.asarray(weight)
        self.pos_weight = None if pos_weight is None else np.asarray(pos_weight)

    def _terms(self, input, target):
        _same_shape("BCEWithLogitsLoss", input, target)
        log_weight = 1 if self.pos_weight is None else (self.pos_weight - 1) * target + 1
        # (1 - t) x + w log(1 + exp(-x)), the softplus written without overflow
        softplus = np.log1p(np.exp(-np.abs(input))) + np.maximum(-input, 0)
        terms = (1 - target) * input + log_weight * softplus
        sigmoid = 1 / (1 + np.exp(-input))
        derivative = (1 - target) - log_weight * (1 - sigmoid)
        if self.weight is not None:
            terms, derivative = terms * self.weight, derivative * self.weight
        return (terms.astype(input.dtype),
                np.broadcast_to(derivative, input.shape).astype(input.dtype), None)


# --- regression ----------------------------------------------------------------------------

class _Regression(_Loss):
    """A loss of the difference ``input - target``: :meth:`_of` gives its terms and derivatives."""

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__(_reduction(type(self).__name__, size_average, reduce, reduction))

    def _terms(self, input, target):
        _same_shape(type(self).__name__, input, target)
        terms, derivative = self._of(input - target)
        return terms, derivative, None


class MSELoss(_Regression):
    """Mean squared error, as ``torch.nn.MSELoss``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> loss = nn.MSELoss()
    >>> value = loss(np.array([1.0, 3.0]), np.array([0.0, 0.0]))
    >>> float(value), loss.backward()
    (5.0, array([1., 3.]))
    """

    def _of(self, difference):
        return difference * difference, 2 * difference


class L1Loss(_Regression):
    """Mean absolute error, as ``torch.nn.L1Loss`` (gradient ``sign``, 0 at 0).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> loss = nn.L1Loss()
    >>> value = loss(np.array([1.0, -3.0]), np.array([0.0, 0.0]))
    >>> float(value), loss.backward()
    (2.0, array([ 0.5, -0.5]))
    """

    def _of(self, difference):
        return np.abs(difference), np.sign(difference)


class SmoothL1Loss(_Regression):
    """``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta``, as ``torch.nn.SmoothL1Loss``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> loss = nn.SmoothL1Loss()
    >>> value = loss(np.array([0.5, 3.0]), np.array([0.0, 0.0]))
    >>> float(value), loss.backward()
    (1.3125, array([0.25, 0.5 ]))
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        if beta < 0:
            raise ValueError(f"SmoothL1Loss(): `beta` must be >= 0, got {beta!r}")
        self.beta = float(beta)

    def _of(self, difference):
        size, beta = np.abs(difference), self.beta
        if beta == 0:  # L1, as torch
            return size, np.sign(difference)
        inside = size < beta
        return (np.where(inside, 0.5 * difference * difference / beta, size - 0.5 * beta),
                np.where(inside, difference / beta, np.sign(difference)))


class HuberLoss(_Regression):
    """``0.5 d**2`` where ``|d| <= delta``, else ``delta (|d| - 0.5 delta)``, as ``torch.nn.HuberLoss``.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> loss = nn.HuberLoss(delta=2.0)
    >>> value = loss(np.array([1.0, 4.0]), np.array([0.0, 0.0]))
    >>> float(value), loss.backward()
    (3.25, array([0.5, 1. ]))
    """

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        if not delta > 0:
            raise ValueError(f"HuberLoss(): `delta` must be positive, got {delta!r}")
        self.delta = float(delta)

    def _of(self, difference):
        size, delta = np.abs(difference), self.delta
        return (np.where(size < delta, 0.5 * difference * difference,
                         delta * (size - 0.5 * delta)), np.clip(difference, -delta, delta))


class KLDivLoss(_Loss):
    """``target * (log(target) - input)``, ``input`` log-probabilities, as ``torch.nn.KLDivLoss``.

    ``log_target`` gives the target as log-probabilities too; ``reduction``
    may be ``'batchmean'`` (the sum over the batch size, the true divergence).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> loss = nn.KLDivLoss(reduction='batchmean')
    >>> value = loss(np.log(np.full((1, 2), 0.5)), np.array([[0.25, 0.75]]))
    >>> round(float(value), 6), loss.backward()
    (0.130812, array([[-0.25, -0.75]]))
    """

    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        super().__init__(_reduction("KLDivLoss", size_average, reduce, reduction,
                                    REDUCTIONS + ("batchmean",)))
        self.log_target = bool(log_target)

    def _terms(self, input, target):
        _same_shape("KLDivLoss", input, target)
        if self.reduction == "mean":
            warnings.warn("KLDivLoss: reduction='mean' divides the total by the batch size and the "
                          "support size; 'batchmean' divides by the batch size alone, the "
                          "divergence's definition (as torch warns)", UserWarning, stacklevel=4)
        if self.log_target:
            probability = np.exp(target)
            return probability * (target - input), -probability, None
        with np.errstate(divide="ignore", invalid="ignore"):  # 0 log 0 = 0, as torch's xlogy
            entropy = np.where(target == 0, 0, target * np.log(np.where(target == 0, 1, target)))
        return entropy - target * input, -target, None


__all__ = ["CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss",
           "SmoothL1Loss", "HuberLoss", "KLDivLoss", "log_softmax"]
