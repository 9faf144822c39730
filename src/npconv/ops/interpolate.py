"""Resampling, as ``torch.nn.functional.interpolate``, forward and backward.

Every mode is separable: along each spatial dimension, output cell ``o``
is a weighted sum of a few input cells, its *taps*::

    y[..., o, ...] = sum_t weight[t, o] * x[..., index[t, o], ...]

``nearest``, ``nearest-exact``: one tap, ``floor(o * s)`` or ``floor((o + 1/2) * s)``
(``s = 1/scale_factor`` or ``in/out``, in float32 arithmetic as torch).
``linear`` (``bilinear``, ``trilinear``): two taps around the source
coordinate ``s*(o + 1/2) - 1/2`` (``s*o`` with ``align_corners``).
``bicubic``: four taps, Keys' cubic with ``a = -0.75``, indices clamped to
the edge.  ``area``: the adaptive average pooling windows
``[floor(o*in/out), ceil((o+1)*in/out))``.  ``antialias``: when
downsampling, the linear or cubic (``a = -0.5``) filter widened by the
scale and normalised, as torch.  Source coordinates and weights are computed
in the data's precision, as torch's CPU kernels do.

The dimensions are resampled one after another, each by gathering its taps
(:func:`_resample`); the backward pass applies the adjoints in reverse
order, adding each tap's share back onto its index with ``np.add.reduceat``
over runs of equal indices (the indices grow with ``o``), no ``np.add.at``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import config
from ..window.blocks import plane_blocks, quiet, run_blocks
from .arguments import _as_int, as_float_array, check_array_size
from .common import check_grad_output

MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}
_CUBIC_A = -0.75
_ANTIALIAS_CUBIC_A = -0.5


# --- arguments -----------------------------------------------------------------------

def _arguments(op, input, size, scale_factor, mode, align_corners, recompute_scale_factor,
               antialias):
    """``(x, out_shape, scales)``: scales are the factors the kernels use (None: in/out)."""
    x = as_float_array(input, op, "input")
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"{op}(): `mode` must be one of {', '.join(map(repr, MODES))}, "
                         f"got {mode!r}")
    if x.ndim not in (3, 4, 5):
        raise ValueError(f"{op}(): `input` must have 3, 4 or 5 dimensions, (N, C, *spatial) "
                         f"with 1 to 3 spatial dimensions; got {x.ndim} with shape {x.shape}")
    ndim = x.ndim - 2
    wanted = _LINEAR.get(mode, 2 if mode == "bicubic" else None)
    if wanted is not None and wanted != ndim:
        raise ValueError(f"{op}(): mode={mode!r} needs a {wanted + 2}-D input "
                         f"({wanted} spatial dimensions), got {x.ndim}-D")
    if align_corners is not None:
        if mode not in ("linear", "bilinear", "bicubic", "trilinear"):
            raise ValueError(f"{op}(): `align_corners` applies to the interpolating modes "
                             f"'linear', 'bilinear', 'bicubic' and 'trilinear' only, got "
                             f"mode={mode!r}")
        if not isinstance(align_corners, (bool, np.bool_)):
            raise TypeError(f"{op}(): `align_corners` must be a bool or None, got "
                            f"{align_corners!r}")
    if not isinstance(antialias, (bool, np.bool_)):
        raise TypeError(f"{op}(): `antialias` must be a bool, got {antialias!r}")
    if antialias and mode not in ("linear", "bilinear", "bicubic", "trilinear"):
        raise ValueError(f"{op}(): `antialias` applies to the modes 'linear', 'bilinear', "
                         f"'bicubic' and 'trilinear' only, got mode={mode!r}")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}(): give exactly one of `size` and `scale_factor`")
    spatial = x.shape[2:]
    if size is not None:
        if recompute_scale_factor:
            raise ValueError(f"{op}(): `recompute_scale_factor` is not meaningful with an "
                             f"explicit `size`")
        sizes = size if isinstance(size, (tuple, list)) else (size,) * ndim
        if len(sizes) != ndim:
            raise ValueError(f"{op}(): `size` must be an int or a tuple of {ndim} ints, got "
                             f"{size!r}")
        out_shape = tuple(_as_int(n, op, "size") for n in sizes)
        scales = (None,) * ndim
    else:
        factors = scale_factor if isinstance(scale_factor, (tuple, list)) \
            else (scale_factor,) * ndim
        if len(factors) != ndim or any(isinstance(f, (bool, np.bool_))
                                       or not isinstance(f, numbers.Real) for f in factors):
            raise ValueError(f"{op}(): `scale_factor` must be a number or a tuple of {ndim} "
                             f"numbers, got {scale_factor!r}")
        factors = tuple(float(f) for f in factors)
        if any(not f > 0 or math.isinf(f) for f in factors):
            raise ValueError(f"{op}(): `scale_factor` must be positive and finite, got "
                             f"{scale_factor!r}")
        out_shape = tuple(math.floor(n * f) for n, f in zip(spatial, factors))
        scales = (None,) * ndim if recompute_scale_factor else factors
    if any(n < 1 for n in out_shape) or any(n < 1 for n in spatial):
        raise ValueError(f"{op}(): input and output sizes must be positive, got input "
                         f"{tuple(spatial)} and output {out_shape}")
    check_array_size(op, x.shape[:2] + out_shape, x.dtype, "`size` or `scale_factor`")
    return x, out_shape, scales


# --- taps along one dimension -------------------------------------------------------------

def _scale(in_size, out_size, align_corners, factor, dtype):
    """torch's ``area_pixel_compute_scale`` in ``dtype``."""
    real = np.dtype(dtype).type
    if align_corners:
        return real(in_size - 1) / real(out_size - 1) if out_size > 1 else real(0)
    if factor is not None and factor > 0:
        return real(1.0 / factor)
    return real(in_size) / real(out_size)


def _source(scale, out_size, align_corners, dtype, cubic):
    """torch's ``area_pixel_compute_source_index`` for every output cell, in ``dtype``."""
    real = np.dtype(dtype).type
    cells = np.arange(out_size).astype(dtype)
    if align_corners:
        return scale * cells
    source = scale * (cells + real(0.5)) - real(0.5)
    return source if cubic else np.maximum(source, real(0))


def _nearest(in_size, out_size, factor, exact):
    """The one tap of ``nearest`` (``floorf(o * s)``) or ``nearest-exact`` (``floorf((o + .5) * s)``)."""
    cells = np.arange(out_size)
    if not exact and out_size == in_size:       # torch's nearest_idx: no arithmetic
        return cells[np.newaxis]
    if not exact and out_size == 2 * in_size:
        return (cells >> 1)[np.newaxis]
    scale = np.float32(1.0 / factor) if factor is not None and factor > 0 \
        else np.float32(in_size) / np.float32(out_size)
    if exact:  # (o + 0.5) * scale in double, then floorf of its float
        source = np.floor(((cells + 0.5) * np.float64(scale)).astype(np.float32))
    else:      # o * scale in float
        source = np.floor(cells.astype(np.float32) * scale)
    return np.minimum(source.astype(np.int64), in_size - 1)[np.newaxis]


def _linear(in_size, out_size, align_corners, factor, dtype):
    real = np.dtype(dtype).type
    scale = _scale(in_size, out_size, align_corners, factor, dtype)
    source = _source(scale, out_size, align_corners, dtype, cubic=False)
    first = np.minimum(np.floor(source.astype(np.float32)).astype(np.int64), in_size - 1)
    fraction = np.clip(source - first.astype(dtype), real(0), real(1))
    second = first + (first < in_size - 1)
    return np.stack([first, second]), np.stack([real(1) - fraction, fraction])


def _cubic_weights(t, a):
    """Keys' cubic convolution weights of the four taps around a fraction ``t``."""
    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):   # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    one = t.dtype.type(1)
    return np.stack([far(t + one), near(t), near(one - t), far(one - t + one)])


def _cubic(in_size, out_size, align_corners, factor, dtype):
    scale = _scale(in_size, out_size, align_corners, factor, dtype)
    source = _source(scale, out_size, align_corners, dtype, cubic=True)
    first = np.minimum(np.floor(source.astype(np.float32)).astype(np.int64), in_size - 1)
    fraction = np.clip(source - first.astype(dtype), dtype.type(0), dtype.type(1))
    index = np.clip(first[np.newaxis] + np.arange(-1, 3)[:, np.newaxis], 0, in_size - 1)
    return index, _cubic_weights(fraction, dtype.type(_CUBIC_A))


def _antialiased(in_size, out_size, align_corners, factor, dtype, cubic):
    """torch's antialiasing filter: the kernel widened by the scale when downsampling, normalised."""
    real = np.dtype(dtype).type
    scale = _scale(in_size, out_size, align_corners, factor, dtype)
    size = 4 if cubic else 2
    support = real(size * 0.5) * scale if scale >= 1 else real(size * 0.5)
    inverse = real(1) / scale if scale >= 1 else real(1)
    cells = np.arange(out_size).astype(dtype)
    centre = scale * (cells + real(0.5))
    low = np.maximum((centre - support + real(0.5)).astype(np.int64), 0)
    high = np.minimum((centre + support + real(0.5)).astype(np.int64), in_size)
    taps = int(np.max(high - low, initial=1))
    offsets = np.arange(taps)[:, np.newaxis]
    index = low[np.newaxis] + offsets
    valid = index < high[np.newaxis]
    distance = np.abs((index - centre + real(0.5)) * inverse)
    if cubic:
        a = real(_ANTIALIAS_CUBIC_A)
        near = ((a + 2) * distance - (a + 3)) * distance * distance + 1
        far = ((a * distance - 5 * a) * distance + 8 * a) * distance - 4 * a
        weight = np.where(distance < 1, near, np.where(distance < 2, far, real(0)))
    else:
        weight = np.where(distance < 1, real(1) - distance, real(0))
    weight = np.where(valid, weight, real(0))
    total = weight.sum(axis=0)
    weight = np.where(total != 0, weight / np.where(total != 0, total, real(1)), weight)
    return np.minimum(index, in_size - 1), weight.astype(dtype), valid


def _area(in_size, out_size, dtype):
    cells = np.arange(out_size, dtype=np.int64)
    low = cells * in_size // out_size
    high = -((-(cells + 1) * in_size) // out_size)
    taps = int(np.max(high - low))
    index = low[np.newaxis] + np.arange(taps)[:, np.newaxis]
    valid = index < high[np.newaxis]
    weight = np.where(valid, 1 / (high - low).astype(dtype), dtype.type(0)).astype(dtype)
    return np.minimum(index, high[np.newaxis] - 1), weight, valid


def _taps(mode, in_size, out_size, align_corners, factor, antialias, dtype):
    """``(index, weight, valid)`` of one dimension: ``(T, out)`` arrays (weight/valid may be None)."""
    dtype = np.dtype(dtype)
    if mode in ("nearest", "nearest-exact"):
        return _nearest(in_size, out_size, factor, mode == "nearest-exact"), None, None
    if mode == "area":
        return _area(in_size, out_size, dtype)
    cubic = mode == "bicubic"
    if in_size == out_size and (antialias or not cubic):
        # torch copies a dimension whose size does not change, whatever the scale, except
        # in bicubic without antialiasing
        return np.arange(out_size)[np.newaxis], None, None
    if antialias:
        return _antialiased(in_size, out_size, align_corners, factor, dtype, cubic)
    if cubic:
        return _cubic(in_size, out_size, align_corners, factor, dtype) + (None,)
    return _linear(in_size, out_size, align_corners, factor, dtype) + (None,)


# --- applying the taps ----------------------------------------------------------------------

def _along(axis, index):
    return (slice(None),) * axis + (index,)


def _shape(weights, axis, ndim):
    return weights.reshape((1,) * axis + (-1,) + (1,) * (ndim - axis - 1))


def _resample(x, axis, taps):
    """``sum_t weight[t] * x[index[t]]`` along ``axis`` (taps that are not ``valid`` add nothing)."""
    index, weight, valid = taps
    if weight is None:
        return np.take(x, index[0], axis=axis)
    total = None
    for t in range(len(index)):
        term = np.take(x, index[t], axis=axis) * _shape(weight[t], axis, x.ndim)
        if valid is not None:
            term = np.where(_shape(valid[t], axis, x.ndim), term, term.dtype.type(0))
        total = term if total is None else total + term
    return total


def _resample_adjoint(grad, axis, taps, in_size):
    """The adjoint of :func:`_resample`: each tap's share added back at its index."""
    index, weight, valid = taps
    shape = grad.shape[:axis] + (in_size,) + grad.shape[axis + 1:]
    out = np.zeros(shape, grad.dtype)
    for t in range(len(index)):
        share = grad if weight is None else grad * _shape(weight[t], axis, grad.ndim)
        if valid is not None:
            share = np.where(_shape(valid[t], axis, grad.ndim), share, share.dtype.type(0))
        starts = np.flatnonzero(np.diff(index[t], prepend=-1))  # runs of one index
        out[_along(axis, index[t][starts])] += np.add.reduceat(share, starts, axis=axis)
    return out


def _plan(x_shape, out_shape, mode, align_corners, scales, antialias, dtype):
    return [_taps(mode, n, m, bool(align_corners), f, antialias, dtype)
            for n, m, f in zip(x_shape[2:], out_shape, scales)]


def _by_planes(kernel, x, shape_out, dtype):
    """``kernel(block of x) -> block of the result``, over blocks of planes on the thread pool."""
    out = np.empty(x.shape[:2] + shape_out, dtype)
    resources = config.resources()
    plane_cells = max(math.prod(x.shape[2:]), math.prod(shape_out))
    blocks = plane_blocks(x.shape[0], x.shape[1], 8 * plane_cells, resources, temporaries=4)

    def run(block):
        samples, channels = block
        out[samples, channels] = kernel(x[samples, channels])

    run_blocks(run, blocks, resources.threads)
    return out


@quiet
def _interpolate(op, input, size, scale_factor, mode, align_corners, recompute_scale_factor,
                 antialias):
    x, out_shape, scales = _arguments(op, input, size, scale_factor, mode, align_corners,
                                      recompute_scale_factor, antialias)
    plan = _plan(x.shape, out_shape, mode, align_corners, scales, antialias, x.dtype)

    def resample(block):
        for axis, taps in enumerate(plan, start=2):
            block = _resample(block, axis, taps)
        return block

    return _by_planes(resample, x, out_shape, x.dtype)


@quiet
def _interpolate_backward(op, grad_output, input, size, scale_factor, mode, align_corners,
                          recompute_scale_factor, antialias):
    x, out_shape, scales = _arguments(op, input, size, scale_factor, mode, align_corners,
                                      recompute_scale_factor, antialias)
    gy = check_grad_output(op, grad_output, x.shape[:2] + out_shape, False, x)
    plan = _plan(x.shape, out_shape, mode, align_corners, scales, antialias, x.dtype)

    def spread(block):
        for axis in reversed(range(2, x.ndim)):
            block = _resample_adjoint(block, axis, plan[axis - 2], x.shape[axis])
        return block

    return _by_planes(spread, gy, x.shape[2:], gy.dtype).astype(x.dtype, copy=False)


# --- public functions -----------------------------------------------------------------------

def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resample ``input`` to ``size`` or by ``scale_factor``, as ``torch.nn.functional.interpolate``.

    Parameters
    ----------
    input : ndarray, shape ``(N, C, *spatial)``, 1 to 3 spatial dimensions
    size : int or tuple of ints, optional
    scale_factor : float or tuple of floats, optional
        Give this or ``size``: the output is ``floor(in * scale_factor)``, and
        the kernels use ``1 / scale_factor`` as their scale unless
        ``recompute_scale_factor`` (then ``in / out``), as torch.
    mode : {'nearest', 'nearest-exact', 'linear', 'bilinear', 'bicubic', 'trilinear', 'area'}
        ``linear``, ``bilinear``/``bicubic`` and ``trilinear`` need 1, 2 and 3
        spatial dimensions.
    align_corners : bool, optional
        For the interpolating modes: map the corner cells' centres onto each
        other (``s = (in - 1)/(out - 1)``) instead of the corners (default False).
    recompute_scale_factor : bool, optional
    antialias : bool
        When downsampling with an interpolating mode, widen the filter by
        the scale (torch: bilinear and bicubic; here linear and trilinear too).

    Returns
    -------
    ndarray, shape ``(N, C, *size)``

    Notes
    -----
    Separable: one dimension at a time, each output cell a weighted sum of
    its taps (see the module notes).  Source coordinates are computed in the
    data's dtype, as torch's CPU kernels.  ``bicubic`` may overshoot the
    input's range, as torch's.  A dimension whose size does not change is
    copied in every mode but bicubic (without antialiasing), whatever
    ``scale_factor`` says, as torch.

    Four of torch's CPU kernels disagree with the rest of torch, and npconv
    follows the rest (its backward pass is always its forward pass's
    adjoint): ``nearest`` in 1-D and 3-D applies ``scale_factor`` where the
    output keeps the input's size or doubles it, where torch's 2-D kernel
    and all its backward passes copy (``o``) or halve (``o // 2``) as its
    ``nearest_idx`` says; ``bicubic``'s backward pass copies a dimension
    whose size does not change where its forward pass applies
    ``scale_factor``, and ``antialias``'s backward pass the other way
    round; and ``antialias`` with a last dimension of one cell reads the
    wrong cells in torch.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> x = np.array([[[0., 1., 2., 3.]]])
    >>> npconv.interpolate(x, scale_factor=2, mode="linear")
    array([[[0.  , 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.  ]]])
    >>> npconv.interpolate(x, size=2, mode="area")
    array([[[0.5, 2.5]]])
    """
    return _interpolate("interpolate", input, size, scale_factor, mode, align_corners,
                        recompute_scale_factor, antialias)


def interpolate_backward(grad_output, input, size=None, scale_factor=None, mode="nearest",
                         align_corners=None, recompute_scale_factor=None, antialias=False):
    """Backward pass of :func:`interpolate`: the gradient with respect to ``input``.

    Parameters
    ----------
    grad_output : ndarray, shape ``(N, C, *size)``
    input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias
        As given to :func:`interpolate`.

    Returns
    -------
    ndarray, shape of ``input``
        Each output gradient spread over the taps it was made from, by their weights.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> x = np.ones((1, 1, 2, 2))
    >>> y = npconv.interpolate(x, scale_factor=2, mode="nearest")
    >>> npconv.interpolate_backward(np.ones_like(y), x, scale_factor=2, mode="nearest")[0, 0]
    array([[4., 4.],
           [4., 4.]])
    """
    return _interpolate_backward("interpolate_backward", grad_output, input, size, scale_factor,
                                 mode, align_corners, recompute_scale_factor, antialias)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """:func:`interpolate` under torch's deprecated name ``torch.nn.functional.upsample``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.upsample(np.ones((1, 1, 2)), scale_factor=2).shape
    (1, 1, 4)
    """
    return _interpolate("upsample", input, size, scale_factor, mode, align_corners, None, False)


def upsample_nearest(input, size=None, scale_factor=None):
    """``interpolate(..., mode='nearest')``, as ``torch.nn.functional.upsample_nearest``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.upsample_nearest(np.array([[[1., 2.]]]), scale_factor=2)
    array([[[1., 1., 2., 2.]]])
    """
    return _interpolate("upsample_nearest", input, size, scale_factor, "nearest", None, None,
                        False)


def upsample_bilinear(input, size=None, scale_factor=None):
    """``interpolate(..., mode='bilinear', align_corners=True)``, as ``torch.nn.functional.upsample_bilinear``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.upsample_bilinear(np.array([[[[0., 1.]]]]), size=(1, 3))
    array([[[[0. , 0.5, 1. ]]]])
    """
    return _interpolate("upsample_bilinear", input, size, scale_factor, "bilinear", True, None,
                        False)


for _function in (interpolate, interpolate_backward, upsample, upsample_nearest,
                  upsample_bilinear):
    _function.__module__ = "npconv"
