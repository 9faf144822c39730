"""Normalisation, as ``torch.nn.functional``: batch, instance, layer, group and local response norm.

Each normalises ``x`` over a set of cells with its mean and biased variance::

    y = (x - mean) / sqrt(var + eps) * weight + bias

over the batch and spatial cells of a channel (``batch_norm``), the spatial
cells of one sample's channel (``instance_norm``), the trailing
``normalized_shape`` cells of a sample (``layer_norm``) or a group's channels
and cells (``group_norm``); ``batch_norm`` and ``instance_norm`` can instead
use running statistics.  The backward pass of the batch-statistics form is::

    x_hat = (x - mean) / sigma,  h = grad_output * weight
    grad_x = (h - mean(h) - x_hat * mean(h * x_hat)) / sigma

with means over the same cells; ``grad_weight`` and ``grad_bias`` sum
``grad_output * x_hat`` and ``grad_output`` over everything but the channel
(or ``normalized_shape``) axes.  Statistics are accumulated in float64 and
results returned in the input's dtype.  The work runs in blocks of samples
whose float64 temporaries (a few copies of the block) fit the workspace, or
one sample where one does not (``batch_norm`` sums its per-channel
statistics over the blocks in extra passes).

``batch_norm`` and ``instance_norm`` in training update ``running_mean`` and
``running_var`` in place, as torch, with the unbiased variance: the one
documented exception to "npconv never modifies its inputs".
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import config
from ..window.blocks import quiet, run_blocks
from .arguments import _as_int, as_float_array
from .common import check_grad_output, gradients_as

#: float64 temporaries per cell of a block (centred values, normalised values, products).
_TEMPORARIES = 4


# --- arguments -----------------------------------------------------------------------

def _real(op, value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}(): `{name}` must be a real number, got {value!r}")
    return float(value)


def _parameter(op, array, name, shape):
    """An optional float array of exactly ``shape``."""
    if array is None:
        return None
    value = as_float_array(array, op, name)
    if value.shape != tuple(shape):
        raise ValueError(f"{op}(): `{name}` must have shape {tuple(shape)}, got {value.shape}")
    return value


def _running(op, array, name, channels, updated):
    """A running statistic of (C,); one that is ``updated`` in place must be a writeable ndarray."""
    if array is None:
        return None
    if updated:
        if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
            raise TypeError(f"{op}(): `{name}` must be a float ndarray (it is updated in place "
                            f"in training), got {type(array).__name__}")
        if not array.flags.writeable:
            raise ValueError(f"{op}(): `{name}` must be writeable (it is updated in place in "
                             f"training)")
    return _parameter(op, array, name, (channels,))


def _channels_first(op, input, minimum=2):
    x = as_float_array(input, op, "input")
    if x.ndim < minimum:
        raise ValueError(f"{op}(): `input` must have at least {minimum} dimensions, "
                         f"(N, C, *spatial); got {x.ndim} with shape {x.shape}")
    return x


def _dtype(x, weight, bias):
    """The result's dtype: NumPy's promotion of the input and the affine parameters."""
    return np.result_type(*(a for a in (x, weight, bias) if a is not None))


def _broadcast(parameter, ndim, axis=1):
    """A per-channel ``(C,)`` array shaped to broadcast along ``axis`` of an ``ndim`` array."""
    if parameter is None:
        return None
    return parameter.reshape((1,) * axis + (-1,) + (1,) * (ndim - axis - 1))


# --- the kernels --------------------------------------------------------------------

def _blocks(length, cells_per_unit, temporaries=None):
    """Slices of ``range(length)`` whose float64 temporaries (``temporaries`` copies of a block,
    :data:`_TEMPORARIES` by default) fit a thread's share of the workspace."""
    resources = config.resources()
    if not cells_per_unit:  # nothing to normalise
        return [], resources
    budget = resources.workspace // max(1, resources.threads)
    per_block = max(1, budget // ((temporaries or _TEMPORARIES) * 8 * cells_per_unit))
    return [slice(start, start + per_block) for start in range(0, length, per_block)], resources


def _statistics(x, axes):
    """``(x - mean, mean, var)`` over ``axes`` in float64 (the variance is biased)."""
    mean = np.mean(x, axis=axes, keepdims=True, dtype=np.float64)
    centred = x - mean
    return centred, mean, np.mean(np.square(centred), axis=axes, keepdims=True)


def _affine(values, weight, bias):
    if weight is not None:
        values = values * weight
    if bias is not None:
        values = values + bias
    return values


def _gradient_of_normalised(h, x_hat, inverse, axes):
    """``(h - mean(h) - x_hat * mean(h * x_hat)) * inverse``: the input gradient through the statistics."""
    return (h - np.mean(h, axis=axes, keepdims=True)
            - x_hat * np.mean(h * x_hat, axis=axes, keepdims=True)) * inverse


def _run(kernel, blocks, resources):
    return run_blocks(kernel, blocks, resources.threads)


# --- batch and instance norm: per-channel affine, statistics per channel or per plane -----
#
# Both run in blocks of samples.  Instance norm's statistics are each plane's own; batch
# norm's pool the whole batch per channel, so they are summed over the blocks first (the
# mean, then the squared deviations from it), and its backward pass sums its two means over
# the blocks before it computes the input gradient.

def _per_channel(values, ndim):
    """A ``(C,)`` float64 array shaped to broadcast along the channel axis."""
    return _broadcast(np.asarray(values, np.float64), ndim)


def _channel_sums(compute, x, blocks, resources, rows=1):
    """``sum over blocks of compute(block)``: ``rows`` per-channel sums, ``(rows, C)``."""
    return sum(_run(compute, blocks, resources), np.zeros((rows, x.shape[1])))


def _row_sums(values, dtype=None):
    """Per sample and channel, the sum over the spatial cells: ``(n, C)``, in ``dtype``
    (by default ``values``' own).

    NumPy sums a contiguous row pairwise, so the error grows with the
    logarithm of the row's length, not the length.
    """
    return np.sum(values.reshape(values.shape[0], values.shape[1], -1), axis=2, dtype=dtype)


def _pooled_sums(compute, x, blocks, resources, rows=1):
    """Per-channel sums ``(rows, C)``, in float64, of the row sums ``(rows, n, C)`` that ``compute(block)`` gives.

    The rows of all blocks are summed at once, so the result does not depend
    on the blocks (nor, so, on the workspace or the threads).
    """
    parts = _run(compute, blocks, resources)
    if not parts:
        return np.zeros((rows, x.shape[1]))
    return np.concatenate(parts, axis=1).sum(axis=1, dtype=np.float64)


def _pooled_statistics(x, blocks, resources):
    """Per channel, the mean and biased variance over the batch and the spatial cells.

    Two passes of row sums per sample and channel (:func:`_row_sums`), the
    rows summed in float64: the mean, summed in float64 (a mean far from
    zero would lose digits in the data's dtype, and every normalised cell
    with them), then the squared deviations from it, computed and summed in
    ``x``'s dtype from the mean rounded to it (small numbers, whose sum is
    accurate relative to the variance).
    """
    count = max(1, x.size // max(1, x.shape[1]))
    mean = _pooled_sums(lambda block: _row_sums(x[block], np.float64)[np.newaxis],
                        x, blocks, resources)[0] / count
    centre = _per_channel(mean, x.ndim).astype(x.dtype)

    def squares(block):
        deviations = np.subtract(x[block], centre)
        np.square(deviations, out=deviations)
        return _row_sums(deviations)[np.newaxis]

    return mean, _pooled_sums(squares, x, blocks, resources)[0] / count


def _channelwise(x, arrays, mode, eps, dtype):
    """The normalised ``x``, and per channel the mean of its sets' means and variances.

    ``mode`` ``'plane'``: each plane's own statistics (instance norm);
    ``'batch'`` pools the batch per channel, ``'running'`` reads the running
    ones (:func:`_per_channel_affine`).
    """
    if mode != "plane":
        return _per_channel_affine(x, arrays, mode, eps, dtype)
    spatial = tuple(range(2, x.ndim))
    y = np.empty(x.shape, dtype)
    blocks, resources = _blocks(x.shape[0], math.prod(x.shape[1:]))
    weight, bias = (None if arrays[k] is None else _per_channel(arrays[k], x.ndim)
                    for k in ("weight", "bias"))

    def normalise(block):
        centred, mean, var = _statistics(x[block], spatial)
        y[block] = _affine(centred / np.sqrt(var + eps), weight, bias)
        return np.stack([mean.reshape(-1, x.shape[1]).sum(axis=0),
                         var.reshape(-1, x.shape[1]).sum(axis=0)])

    sums = _channel_sums(normalise, x, blocks, resources, rows=2)
    return y, sums[0] / max(1, x.shape[0]), sums[1] / max(1, x.shape[0])


def _channelwise_backward(gy, x, arrays, mode, eps, statistics=None):
    """``(grad_input, grad_weight, grad_bias)`` of :func:`_channelwise` (per-channel gradients).

    ``statistics``: the batch's ``(mean, var)`` that the forward pass found, if kept.
    """
    if mode != "plane":
        return _per_channel_affine_backward(gy, x, arrays, mode, eps, statistics)
    spatial = tuple(range(2, x.ndim))
    reduce = (0,) + spatial
    grad_input = np.empty(x.shape, gy.dtype)
    blocks, resources = _blocks(x.shape[0], math.prod(x.shape[1:]))
    weight = None if arrays["weight"] is None else _per_channel(arrays["weight"], x.ndim)

    def differentiate(block):
        centred, _, var = _statistics(x[block], spatial)
        inverse = 1 / np.sqrt(var + eps)
        x_hat, g = centred * inverse, gy[block]
        h = g if weight is None else g * weight
        grad_input[block] = _gradient_of_normalised(h, x_hat, inverse, spatial)
        return np.sum(g * x_hat, axis=reduce)[np.newaxis]

    grad_weight = _channel_sums(differentiate, x, blocks, resources)[0]
    return grad_input, grad_weight, gy.sum(axis=reduce, dtype=np.float64)


# Statistics per channel (batch norm, and instance norm with running statistics): the pass is
# ``y = x * scale + shift`` with one scale and shift per channel, worked out in float64, and
# its backward ``grad_input = A * grad_output + B * x + C``, from two per-channel sums; each
# is a few passes in the data's dtype.

def _scale_and_shift(mean, var, weight, bias, eps):
    """Per channel (float64): ``weight / sqrt(var + eps)`` and ``bias - mean * scale``."""
    scale = 1 / np.sqrt(np.asarray(var, np.float64) + eps)
    if weight is not None:
        scale = scale * weight
    shift = -np.asarray(mean, np.float64) * scale
    return scale, shift if bias is None else shift + bias


def _per_channel_affine(x, arrays, mode, eps, dtype):
    blocks, resources = _blocks(x.shape[0], math.prod(x.shape[1:]), temporaries=1)
    if mode == "batch":
        mean, var = _pooled_statistics(x, blocks, resources)
    else:
        mean, var = arrays["running_mean"], arrays["running_var"]
    scale, shift = _scale_and_shift(mean, var, arrays["weight"], arrays["bias"], eps)
    scale, shift = (_per_channel(v, x.ndim).astype(dtype) for v in (scale, shift))
    y = np.empty(x.shape, dtype)

    def normalise(block):
        np.multiply(x[block], scale, out=y[block])
        np.add(y[block], shift, out=y[block])

    _run(normalise, blocks, resources)
    return y, np.asarray(mean, np.float64).ravel(), np.asarray(var, np.float64).ravel()


def _per_channel_affine_backward(gy, x, arrays, mode, eps, statistics=None):
    count = max(1, x.size // max(1, x.shape[1]))
    blocks, resources = _blocks(x.shape[0], math.prod(x.shape[1:]), temporaries=1)
    if mode == "batch":
        mean, var = statistics or _pooled_statistics(x, blocks, resources)
    else:
        mean, var = (np.asarray(arrays[k], np.float64) for k in ("running_mean", "running_var"))
    centre = _per_channel(mean, x.ndim).astype(x.dtype)

    def sums(block):  # sum(grad_output) and sum(grad_output * (x - centre)), per row
        g = gy[block]
        products = np.subtract(x[block], centre, dtype=g.dtype)
        np.multiply(products, g, out=products)
        return np.stack([_row_sums(g), _row_sums(products)])

    total, dot = _pooled_sums(sums, x, blocks, resources, rows=2)
    # sum(grad_output * (x - mean)): centred products do not cancel as sum(gy * x) would
    dot -= (np.ravel(mean) - centre.ravel().astype(np.float64)) * total
    inverse = 1 / np.sqrt(var + eps)
    weight = np.ones_like(inverse) if arrays["weight"] is None else arrays["weight"]
    grad_weight = inverse * dot  # sum(grad_output * x_hat)
    a = weight * inverse
    if mode == "batch":  # through the statistics: mean(h) and mean(h * x_hat), h = gy * weight
        b = -weight * inverse ** 3 * dot / count
        c = -a * total / count - b * mean
    else:
        b = c = np.zeros_like(a)
    dtype = gy.dtype
    a, b, c = (_per_channel(v, x.ndim).astype(dtype) for v in (a, b, c))
    grad_input = np.empty(x.shape, dtype)

    def differentiate(block):
        out = grad_input[block]
        np.multiply(gy[block], a, out=out)
        if mode == "batch":
            out += np.multiply(x[block], b, dtype=dtype)
            out += c

    _run(differentiate, blocks, resources)
    return grad_input, grad_weight, total


def _gradients(arguments, arrays, gradients):
    """The gradients in their arguments' dtypes; None for an absent weight or bias."""
    grad_input, grad_weight, grad_bias = gradients
    return gradients_as(arguments, (grad_input,
                                    None if arrays["weight"] is None else grad_weight,
                                    None if arrays["bias"] is None else grad_bias))


# --- batch norm -------------------------------------------------------------------------

def _batch_arguments(op, input, running_mean, running_var, weight, bias, training, momentum,
                     eps, updates):
    x = _channels_first(op, input)
    channels = x.shape[1]
    arrays = dict(
        running_mean=_running(op, running_mean, "running_mean", channels, updates and training),
        running_var=_running(op, running_var, "running_var", channels, updates and training),
        weight=_parameter(op, weight, "weight", (channels,)),
        bias=_parameter(op, bias, "bias", (channels,)))
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"{op}(): `training` must be a bool, got {training!r}")
    momentum, eps = _real(op, momentum, "momentum"), _real(op, eps, "eps")
    if training and x.size // max(1, channels) == 1:
        raise ValueError(f"{op}(): expected more than 1 value per channel when training, got "
                         f"input shape {x.shape}")
    if not training and (arrays["running_mean"] is None or arrays["running_var"] is None):
        raise ValueError(f"{op}(): `running_mean` and `running_var` are needed when not "
                         f"training")
    return x, arrays, momentum, eps


def _update(running, momentum, value):
    """``running = (1 - momentum) * running + momentum * value``, in place (torch's running statistics)."""
    if running is not None:
        running *= 1 - momentum
        running += (momentum * value).astype(running.dtype)


@quiet
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-05):
    """Batch normalisation, as ``torch.nn.functional.batch_norm``.

    Parameters
    ----------
    input : ndarray, shape ``(N, C, *)``
    running_mean, running_var : ndarray, shape (C,), or None in training
        Used when not ``training``; in training updated in place, as torch:
        ``running = (1 - momentum) * running + momentum * batch`` with the
        batch's unbiased variance.
    weight, bias : ndarray, shape (C,), optional
    training : bool
        Normalise with the batch's statistics (over ``N`` and the spatial
        cells of each channel) instead of the running ones.
    momentum, eps : float

    Returns
    -------
    ndarray, shape of ``input``

    Examples
    --------
    >>> import numpy as np, npconv
    >>> x = np.array([[1.], [3.]])
    >>> mean, var = np.zeros(1), np.ones(1)
    >>> npconv.batch_norm(x, mean, var, training=True, eps=0.).ravel()
    array([-1.,  1.])
    >>> mean, var
    (array([0.2]), array([1.1]))
    """
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum,
                       eps)[0]


@quiet
def _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps):
    """:func:`batch_norm`, and the ``(mean, var)`` it normalised with in training (else None).

    For the layer: its backward pass hands them back (:func:`_batch_norm_backward`)
    instead of finding them again, as torch's layer keeps its ``save_mean``.
    """
    op = "batch_norm"
    x, arrays, momentum, eps = _batch_arguments(op, input, running_mean, running_var, weight,
                                                bias, training, momentum, eps, updates=True)
    y, mean, var = _channelwise(x, arrays, "batch" if training else "running", eps,
                                _dtype(x, arrays["weight"], arrays["bias"]))
    cells = x.size // max(1, x.shape[1])
    if training and cells:
        _update(arrays["running_mean"], momentum, mean)
        _update(arrays["running_var"], momentum, var * (cells / max(1, cells - 1)))
    return y, ((mean, var) if training else None)


@quiet
def batch_norm_backward(grad_output, input, running_mean, running_var, weight=None, bias=None,
                        training=False, momentum=0.1, eps=1e-05):
    """Backward pass of :func:`batch_norm`: ``(grad_input, grad_weight, grad_bias)``.

    Parameters
    ----------
    grad_output : ndarray, shape of ``input``
    input, running_mean, running_var, weight, bias, training, momentum, eps
        As given to :func:`batch_norm` (the running statistics are read, never updated).

    Returns
    -------
    grad_input : ndarray, shape of ``input``
    grad_weight, grad_bias : ndarray, shape (C,), or None where ``weight`` / ``bias`` is None

    Examples
    --------
    >>> import numpy as np, npconv
    >>> x = np.random.default_rng(0).standard_normal((4, 3, 5, 5))
    >>> gx, gw, gb = npconv.batch_norm_backward(np.ones_like(x), x, None, None, np.ones(3),
    ...                                         np.zeros(3), training=True)
    >>> bool(np.allclose(gx, 0)), gb                 # a constant gradient is removed with the mean
    (True, array([100., 100., 100.]))
    """
    return _batch_norm_backward(grad_output, input, running_mean, running_var, weight, bias,
                                training, momentum, eps)


@quiet
def _batch_norm_backward(grad_output, input, running_mean, running_var, weight, bias, training,
                         momentum, eps, statistics=None):
    """:func:`batch_norm_backward`, given the ``statistics`` that :func:`_batch_norm` returned."""
    op = "batch_norm_backward"
    x, arrays, _, eps = _batch_arguments(op, input, running_mean, running_var, weight, bias,
                                         training, momentum, eps, updates=False)
    gy = check_grad_output(op, grad_output, x.shape, False, x)
    return _gradients((input, weight, bias), arrays,
                      _channelwise_backward(gy, x, arrays, "batch" if training else "running",
                                            eps, statistics))


# --- instance norm ----------------------------------------------------------------------

def _instance_arguments(op, input, running_mean, running_var, weight, bias, use_input_stats,
                        momentum, eps, updates):
    x = _channels_first(op, input, minimum=3)
    channels = x.shape[1]
    if not isinstance(use_input_stats, (bool, np.bool_)):
        raise TypeError(f"{op}(): `use_input_stats` must be a bool, got {use_input_stats!r}")
    updated = updates and use_input_stats
    arrays = dict(
        running_mean=_running(op, running_mean, "running_mean", channels, updated),
        running_var=_running(op, running_var, "running_var", channels, updated),
        weight=_parameter(op, weight, "weight", (channels,)),
        bias=_parameter(op, bias, "bias", (channels,)))
    if use_input_stats and math.prod(x.shape[2:]) == 1:
        raise ValueError(f"{op}(): expected more than 1 spatial element when using the input's "
                         f"statistics, got input shape {x.shape}")
    if not use_input_stats and (arrays["running_mean"] is None or arrays["running_var"] is None):
        raise ValueError(f"{op}(): `running_mean` and `running_var` are needed when not using "
                         f"the input's statistics")
    return x, arrays, _real(op, momentum, "momentum"), _real(op, eps, "eps")


@quiet
def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-05):
    """Instance normalisation, as ``torch.nn.functional.instance_norm``.

    Parameters
    ----------
    input : ndarray, shape ``(N, C, *spatial)``
    running_mean, running_var : ndarray, shape (C,), optional
        With ``use_input_stats``, updated in place (if given) with the
        batch-average of the instances' means and unbiased variances, as
        torch; otherwise used to normalise.
    weight, bias : ndarray, shape (C,), optional
    use_input_stats : bool
        Normalise each ``(n, c)`` plane by its own statistics.
    momentum, eps : float

    Returns
    -------
    ndarray, shape of ``input``

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.instance_norm(np.array([[[1., 3.]]]), eps=0.)
    array([[[-1.,  1.]]])
    """
    op = "instance_norm"
    x, arrays, momentum, eps = _instance_arguments(op, input, running_mean, running_var, weight,
                                                   bias, use_input_stats, momentum, eps,
                                                   updates=True)
    y, mean, var = _channelwise(x, arrays, "plane" if use_input_stats else "running", eps,
                                _dtype(x, arrays["weight"], arrays["bias"]))
    cells = math.prod(x.shape[2:])
    if use_input_stats and x.shape[0]:
        _update(arrays["running_mean"], momentum, mean)
        _update(arrays["running_var"], momentum, var * (cells / max(1, cells - 1)))
    return y


@quiet
def instance_norm_backward(grad_output, input, running_mean=None, running_var=None, weight=None,
                           bias=None, use_input_stats=True, momentum=0.1, eps=1e-05):
    """Backward pass of :func:`instance_norm`: ``(grad_input, grad_weight, grad_bias)``.

    Parameters
    ----------
    grad_output : ndarray, shape of ``input``
    input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps
        As given to :func:`instance_norm` (the running statistics are read, never updated).

    Returns
    -------
    grad_input : ndarray, shape of ``input``
    grad_weight, grad_bias : ndarray, shape (C,), or None where ``weight`` / ``bias`` is None

    Examples
    --------
    >>> import numpy as np, npconv
    >>> x = np.random.default_rng(0).standard_normal((2, 3, 5, 5))
    >>> gx, gw, gb = npconv.instance_norm_backward(np.ones_like(x), x)
    >>> bool(np.allclose(gx, 0)), gw is None
    (True, True)
    """
    op = "instance_norm_backward"
    x, arrays, _, eps = _instance_arguments(op, input, running_mean, running_var, weight, bias,
                                            use_input_stats, momentum, eps, updates=False)
    gy = check_grad_output(op, grad_output, x.shape, False, x)
    return _gradients((input, weight, bias), arrays,
                      _channelwise_backward(gy, x, arrays,
                                            "plane" if use_input_stats else "running", eps))


# --- layer norm ----------------------------------------------------------------------------

def _layer_arguments(op, input, normalized_shape, weight, bias, eps):
    x = as_float_array(input, op, "input")
    shape = normalized_shape if isinstance(normalized_shape, (tuple, list)) \
        else (normalized_shape,)
    shape = tuple(_as_int(n, op, "normalized_shape") for n in shape)
    if not shape or len(shape) > x.ndim or x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(f"{op}(): `normalized_shape` {shape} must be the last dimensions of "
                         f"`input`, got input shape {x.shape}")
    return (x, shape, _parameter(op, weight, "weight", shape), _parameter(op, bias, "bias", shape),
            _real(op, eps, "eps"))


@quiet
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05):
    """Layer normalisation, as ``torch.nn.functional.layer_norm``.

    Parameters
    ----------
    input : ndarray, shape ``(*, *normalized_shape)``
    normalized_shape : int or tuple of ints
        The trailing dimensions normalised together.
    weight, bias : ndarray, shape ``normalized_shape``, optional
    eps : float

    Returns
    -------
    ndarray, shape of ``input``

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.layer_norm(np.array([[1., 3.], [0., 4.]]), 2, eps=0.)
    array([[-1.,  1.],
           [-1.,  1.]])
    """
    op = "layer_norm"
    x, shape, weight, bias, eps = _layer_arguments(op, input, normalized_shape, weight, bias, eps)
    rows = x.reshape((math.prod(x.shape[:x.ndim - len(shape)]),) + shape)
    axes = tuple(range(1, rows.ndim))
    y = np.empty(rows.shape, _dtype(x, weight, bias))
    blocks, resources = _blocks(len(rows), math.prod(shape))

    def normalise(block):
        centred, _, var = _statistics(rows[block], axes)
        y[block] = _affine(centred / np.sqrt(var + eps), weight, bias)

    _run(normalise, blocks, resources)
    return y.reshape(x.shape)


@quiet
def layer_norm_backward(grad_output, input, normalized_shape, weight=None, bias=None, eps=1e-05):
    """Backward pass of :func:`layer_norm`: ``(grad_input, grad_weight, grad_bias)``.

    Parameters
    ----------
    grad_output : ndarray, shape of ``input``
    input, normalized_shape, weight, bias, eps
        As given to :func:`layer_norm`.

    Returns
    -------
    grad_input : ndarray, shape of ``input``
    grad_weight, grad_bias : ndarray, shape ``normalized_shape``, or None where not given

    Examples
    --------
    >>> import numpy as np, npconv
    >>> x = np.random.default_rng(0).standard_normal((2, 3, 4))
    >>> gx, gw, gb = npconv.layer_norm_backward(np.ones_like(x), x, (3, 4), np.ones((3, 4)),
    ...                                         np.zeros((3, 4)))
    >>> bool(np.allclose(gx, 0)), gw.shape, gb[0, 0]
    (True, (3, 4), np.float64(2.0))
    """
    op = "layer_norm_backward"
    x, shape, weight_array, bias_array, eps = _layer_arguments(op, input, normalized_shape,
                                                               weight, bias, eps)
    gy = check_grad_output(op, grad_output, x.shape, False, x)
    rows = x.reshape((math.prod(x.shape[:x.ndim - len(shape)]),) + shape)
    g_rows = gy.reshape(rows.shape)
    axes = tuple(range(1, rows.ndim))
    grad_input = np.empty(rows.shape, gy.dtype)
    blocks, resources = _blocks(len(rows), math.prod(shape))

    def differentiate(block):
        g = g_rows[block]
        centred, _, var = _statistics(rows[block], axes)
        inverse = 1 / np.sqrt(var + eps)
        x_hat = centred * inverse
        h = g if weight_array is None else g * weight_array
        grad_input[block] = _gradient_of_normalised(h, x_hat, inverse, axes)
        return np.sum(g * x_hat, axis=0)

    grad_weight = sum(_run(differentiate, blocks, resources), np.zeros(shape))
    grad_bias = g_rows.sum(axis=0, dtype=np.float64)
    return _gradients((input, weight, bias), dict(weight=weight_array, bias=bias_array),
                      (grad_input.reshape(x.shape), grad_weight, grad_bias))


# --- group norm ------------------------------------------------------------------------------

def _group_arguments(op, input, num_groups, weight, bias, eps):
    x = _channels_first(op, input)
    groups = _as_int(num_groups, op, "num_groups")
    if groups < 1 or x.shape[1] % groups:
        raise ValueError(f"{op}(): `num_groups` must be positive and divide the {x.shape[1]} "
                         f"channels of `input`, got {groups}")
    channels = x.shape[1]
    if x.shape[0] and math.prod(x.shape[1:]) // groups == 1:  # as torch
        raise ValueError(f"{op}(): expected more than 1 value per group, got input shape "
                         f"{x.shape} with num_groups={groups}")
    return (x, groups, _parameter(op, weight, "weight", (channels,)),
            _parameter(op, bias, "bias", (channels,)), _real(op, eps, "eps"))


@quiet
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-05):
    """Group normalisation, as ``torch.nn.functional.group_norm``.

    Parameters
    ----------
    input : ndarray, shape ``(N, C, *)``
    num_groups : int
        Divides ``C``; each sample's groups of ``C / num_groups`` channels
        are normalised over their channels and cells.
    weight, bias : ndarray, shape (C,), optional
    eps : float

    Returns
    -------
    ndarray, shape of ``input``

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.group_norm(np.array([[[1.], [3.], [5.], [9.]]]), 2, eps=0.).ravel()
    array([-1.,  1., -1.,  1.])
    """
    op = "group_norm"
    x, groups, weight, bias, eps = _group_arguments(op, input, num_groups, weight, bias, eps)
    ndim = x.ndim
    grouped = x.reshape((x.shape[0], groups, math.prod(x.shape[1:]) // groups))
    y = np.empty(x.shape, _dtype(x, weight, bias))
    blocks, resources = _blocks(x.shape[0], math.prod(x.shape[1:]))
    weight, bias = _broadcast(weight, ndim), _broadcast(bias, ndim)

    def normalise(block):
        centred, _, var = _statistics(grouped[block], (2,))
        normalised = (centred / np.sqrt(var + eps)).reshape(x[block].shape)
        y[block] = _affine(normalised, weight, bias)

    _run(normalise, blocks, resources)
    return y


@quiet
def group_norm_backward(grad_output, input, num_groups, weight=None, bias=None, eps=1e-05):
    """Backward pass of :func:`group_norm`: ``(grad_input, grad_weight, grad_bias)``.

    Parameters
    ----------
    grad_output : ndarray, shape of ``input``
    input, num_groups, weight, bias, eps
        As given to :func:`group_norm`.

    Returns
    -------
    grad_input : ndarray, shape of ``input``
    grad_weight, grad_bias : ndarray, shape (C,), or None where not given

    Examples
    --------
    >>> import numpy as np, npconv
    >>> x = np.random.default_rng(0).standard_normal((2, 4, 3, 3))
    >>> gx, gw, gb = npconv.group_norm_backward(np.ones_like(x), x, 2, np.ones(4), np.zeros(4))
    >>> bool(np.allclose(gx, 0)), gb
    (True, array([18., 18., 18., 18.]))
    """
    op = "group_norm_backward"
    x, groups, weight_array, bias_array, eps = _group_arguments(op, input, num_groups, weight,
                                                                bias, eps)
    gy = check_grad_output(op, grad_output, x.shape, False, x)
    ndim = x.ndim
    grouped = x.reshape((x.shape[0], groups, math.prod(x.shape[1:]) // groups))
    grad_input = np.empty(x.shape, gy.dtype)
    blocks, resources = _blocks(x.shape[0], math.prod(x.shape[1:]))
    channel_weight = _broadcast(weight_array, ndim)
    reduce = (0,) + tuple(range(2, ndim))

    def differentiate(block):
        g = gy[block]
        centred, _, var = _statistics(grouped[block], (2,))
        inverse = 1 / np.sqrt(var + eps)
        x_hat = centred * inverse
        h = g if channel_weight is None else g * channel_weight
        h = h.reshape(x_hat.shape)
        grad_input[block] = _gradient_of_normalised(h, x_hat, inverse, (2,)).reshape(g.shape)
        return np.sum(g * x_hat.reshape(g.shape), axis=reduce)

    grad_weight = sum(_run(differentiate, blocks, resources), np.zeros(x.shape[1]))
    grad_bias = gy.sum(axis=reduce, dtype=np.float64)
    return _gradients((input, weight, bias), dict(weight=weight_array, bias=bias_array),
                      (grad_input, grad_weight, grad_bias))


# --- local response norm -------------------------------------------------------------------

def _lrn_arguments(op, input, size, alpha, beta, k):
    x = _channels_first(op, input, minimum=3)
    size = _as_int(size, op, "size")
    if size < 1:
        raise ValueError(f"{op}(): `size` must be positive, got {size}")
    return x, size, _real(op, alpha, "alpha"), _real(op, beta, "beta"), _real(op, k, "k")


def _channel_window_sum(values, size, reverse=False):
    """Per channel ``c``: the sum over channels ``c - size//2 .. c + (size-1)//2`` (zeros
    beyond), or with ``reverse`` over the channels whose window holds ``c``."""
    before, after = (size // 2, (size - 1) // 2)
    if reverse:
        before, after = after, before
    total = np.zeros_like(values)
    channels = values.shape[1]
    for shift in range(-before, after + 1):
        lo, hi = max(0, -shift), min(channels, channels - shift)
        if lo < hi:
            total[:, lo:hi] += values[:, lo + shift:hi + shift]
    return total


@quiet
def local_response_norm(input, size, alpha=0.0001, beta=0.75, k=1.0):
    """Local response normalisation across channels, as ``torch.nn.functional.local_response_norm``.

    ``y[n, c] = x[n, c] / (k + alpha / size * sum_{c'} x[n, c']**2) ** beta``
    over the ``size`` channels ``c - size//2 .. c + (size-1)//2`` (missing
    ones count as zeros; the divisor is always ``size``, as torch).

    Parameters
    ----------
    input : ndarray, shape ``(N, C, *)``, at least 3 dimensions
    size : int
    alpha, beta, k : float

    Returns
    -------
    ndarray, shape of ``input``

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.local_response_norm(np.full((1, 2, 1), 2.), 2, alpha=1., beta=1., k=1.).ravel()
    array([0.66666667, 0.4       ])
    """
    op = "local_response_norm"
    x, size, alpha, beta, k = _lrn_arguments(op, input, size, alpha, beta, k)
    y = np.empty(x.shape, x.dtype)
    blocks, resources = _blocks(x.shape[0], math.prod(x.shape[1:]))

    def normalise(block):
        part = x[block].astype(np.float64)
        divisor = np.power(_channel_window_sum(part * part, size) * (alpha / size) + k, beta)
        y[block] = part / divisor

    _run(normalise, blocks, resources)
    return y


@quiet
def local_response_norm_backward(grad_output, input, size, alpha=0.0001, beta=0.75, k=1.0):
    """Backward pass of :func:`local_response_norm`: the gradient with respect to ``input``.

    ``grad_x[c] = g[c] / D[c]**beta - 2 alpha beta / size * x[c] *
    sum_{c': c in window(c')} g[c'] x[c'] / D[c']**(beta + 1)``.

    Parameters
    ----------
    grad_output : ndarray, shape of ``input``
    input, size, alpha, beta, k
        As given to :func:`local_response_norm`.

    Returns
    -------
    ndarray, shape of ``input``

    Examples
    --------
    >>> import numpy as np, npconv
    >>> x = np.ones((1, 4, 2, 2))
    >>> npconv.local_response_norm_backward(np.ones_like(x), x, 3).shape
    (1, 4, 2, 2)
    """
    op = "local_response_norm_backward"
    x, size, alpha, beta, k = _lrn_arguments(op, input, size, alpha, beta, k)
    gy = check_grad_output(op, grad_output, x.shape, False, x)
    grad_input = np.empty(x.shape, gy.dtype)
    blocks, resources = _blocks(x.shape[0], math.prod(x.shape[1:]), temporaries=8)

    def differentiate(block):
        part, g = x[block].astype(np.float64), gy[block]
        base = _channel_window_sum(part * part, size) * (alpha / size) + k
        scaled = np.power(base, -beta)
        spread = _channel_window_sum(g * part * scaled / base, size, reverse=True)
        grad_input[block] = g * scaled - (2 * alpha * beta / size) * part * spread

    _run(differentiate, blocks, resources)
    return grad_input.astype(x.dtype, copy=False)


_PUBLIC = (batch_norm, batch_norm_backward, instance_norm, instance_norm_backward, layer_norm,
           layer_norm_backward, group_norm, group_norm_backward, local_response_norm,
           local_response_norm_backward)
for _function in _PUBLIC:
    _function.__module__ = "npconv"
