"""Pixel and channel shuffles, as ``torch.nn.functional``: permutations, forward and backward.

``pixel_shuffle`` moves channels into space and ``pixel_unshuffle`` back::

    pixel_shuffle(x, r)[..., c, h*r + i, w*r + j] = x[..., c*r*r + i*r + j, h, w]

``channel_shuffle`` interleaves the channels of ``groups`` groups::

    channel_shuffle(x, g)[:, k*g + i] = x[:, i*(C/g) + k]

Each is one reshape, transpose and copy.  The backward pass of a permutation
is its inverse: ``pixel_unshuffle``, ``pixel_shuffle`` and ``channel_shuffle``
with ``C/g`` groups.
"""

from __future__ import annotations

from .arguments import _as_int, as_float_array
from .common import check_grad_output


def _factor(op, value, name):
    factor = _as_int(value, op, name)
    if factor < 1:
        raise ValueError(f"{op}(): `{name}` must be positive, got {factor}")
    return factor


def _at_least_3d(op, input):
    x = as_float_array(input, op, "input")
    if x.ndim < 3:
        raise ValueError(f"{op}(): `input` must have at least 3 dimensions, (*, C, H, W) or "
                         f"(N, C, *spatial); got {x.ndim} with shape {x.shape}")
    return x


def _shuffled(x, r):
    """``x`` (*, C*r*r, H, W) as (*, C, H*r, W*r)."""
    *lead, channels, height, width = x.shape
    split = x.reshape(tuple(lead) + (channels // (r * r), r, r, height, width))
    k = len(lead)
    moved = split.transpose(tuple(range(k)) + (k, k + 3, k + 1, k + 4, k + 2))
    return moved.reshape(tuple(lead) + (channels // (r * r), height * r, width * r))


def _unshuffled(x, r):
    """``x`` (*, C, H*r, W*r) as (*, C*r*r, H, W)."""
    *lead, channels, height, width = x.shape
    split = x.reshape(tuple(lead) + (channels, height // r, r, width // r, r))
    k = len(lead)
    moved = split.transpose(tuple(range(k)) + (k, k + 2, k + 4, k + 1, k + 3))
    return moved.reshape(tuple(lead) + (channels * r * r, height // r, width // r))


def _channels_interleaved(x, groups):
    """``x`` (N, C, *) with channel ``i*(C/g) + k`` moved to ``k*g + i``."""
    n, channels = x.shape[:2]
    split = x.reshape((n, groups, channels // groups) + x.shape[2:])
    return split.swapaxes(1, 2).reshape(x.shape)


def _shuffle_input(op, input, upscale_factor):
    x = _at_least_3d(op, input)
    r = _factor(op, upscale_factor, "upscale_factor")
    if x.shape[-3] % (r * r):
        raise ValueError(f"{op}(): `input` must have a channel count (dimension -3) divisible by "
                         f"upscale_factor**2 = {r * r}, got {x.shape[-3]}")
    return x, r


def _unshuffle_input(op, input, downscale_factor):
    x = _at_least_3d(op, input)
    r = _factor(op, downscale_factor, "downscale_factor")
    for axis, name in ((-2, "height"), (-1, "width")):
        if x.shape[axis] % r:
            raise ValueError(f"{op}(): `input` must have a {name} (dimension {axis}) divisible "
                             f"by downscale_factor = {r}, got {x.shape[axis]}")
    return x, r


def _channel_input(op, input, groups):
    x = _at_least_3d(op, input)
    g = _factor(op, groups, "groups")
    if x.shape[1] % g:
        raise ValueError(f"{op}(): `input` must have a channel count (dimension 1) divisible by "
                         f"groups = {g}, got {x.shape[1]}")
    return x, g


def _gradient(op, grad_output, shape, x):
    return check_grad_output(op, grad_output, shape, False, x).astype(x.dtype, copy=False)


def pixel_shuffle(input, upscale_factor):
    """Rearrange ``(*, C*r*r, H, W)`` into ``(*, C, H*r, W*r)``, as ``torch.nn.functional.pixel_shuffle``.

    Parameters
    ----------
    input : ndarray, shape ``(*, C * r**2, H, W)``
        float32 or float64, at least 3 dimensions.
    upscale_factor : int
        ``r``, positive.

    Returns
    -------
    ndarray, shape ``(*, C, H * r, W * r)``
        ``out[..., c, h*r + i, w*r + j] = input[..., c*r*r + i*r + j, h, w]``.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.pixel_shuffle(np.arange(4.).reshape(1, 4, 1, 1), 2)[0, 0]
    array([[0., 1.],
           [2., 3.]])
    """
    x, r = _shuffle_input("pixel_shuffle", input, upscale_factor)
    return _shuffled(x, r)


def pixel_shuffle_backward(grad_output, input, upscale_factor):
    """Backward pass of :func:`pixel_shuffle`: ``pixel_unshuffle(grad_output, upscale_factor)``.

    Parameters
    ----------
    grad_output : ndarray, shape ``(*, C, H * r, W * r)``
    input, upscale_factor
        As given to :func:`pixel_shuffle`.

    Returns
    -------
    ndarray, shape of ``input``

    Examples
    --------
    >>> import numpy as np, npconv
    >>> x = np.arange(8.0).reshape(1, 4, 1, 2)
    >>> y = npconv.pixel_shuffle(x, 2)
    >>> bool(np.array_equal(npconv.pixel_shuffle_backward(y, x, 2), x))  # a permutation's adjoint
    True
    """
    x, r = _shuffle_input("pixel_shuffle_backward", input, upscale_factor)
    *lead, channels, height, width = x.shape
    shape = tuple(lead) + (channels // (r * r), height * r, width * r)
    return _unshuffled(_gradient("pixel_shuffle_backward", grad_output, shape, x), r)


def pixel_unshuffle(input, downscale_factor):
    """Rearrange ``(*, C, H*r, W*r)`` into ``(*, C*r*r, H, W)``, as ``torch.nn.functional.pixel_unshuffle``.

    Parameters
    ----------
    input : ndarray, shape ``(*, C, H * r, W * r)``
        float32 or float64, at least 3 dimensions.
    downscale_factor : int
        ``r``, positive; it divides the height and the width.

    Returns
    -------
    ndarray, shape ``(*, C * r**2, H, W)``
        The inverse of :func:`pixel_shuffle`.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.pixel_unshuffle(np.arange(4.).reshape(1, 1, 2, 2), 2).ravel()
    array([0., 1., 2., 3.])
    """
    x, r = _unshuffle_input("pixel_unshuffle", input, downscale_factor)
    return _unshuffled(x, r)


def pixel_unshuffle_backward(grad_output, input, downscale_factor):
    """Backward pass of :func:`pixel_unshuffle`: ``pixel_shuffle(grad_output, downscale_factor)``.

    Parameters
    ----------
    grad_output : ndarray, shape ``(*, C * r**2, H, W)``
    input, downscale_factor
        As given to :func:`pixel_unshuffle`.

    Returns
    -------
    ndarray, shape of ``input``

    Examples
    --------
    >>> import numpy as np, npconv
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> y = npconv.pixel_unshuffle(x, 2)
    >>> bool(np.array_equal(npconv.pixel_unshuffle_backward(y, x, 2), x))
    True
    """
    x, r = _unshuffle_input("pixel_unshuffle_backward", input, downscale_factor)
    *lead, channels, height, width = x.shape
    shape = tuple(lead) + (channels * r * r, height // r, width // r)
    return _shuffled(_gradient("pixel_unshuffle_backward", grad_output, shape, x), r)


def channel_shuffle(input, groups):
    """Interleave the channels of ``groups`` groups, as ``torch.nn.functional.channel_shuffle``.

    Parameters
    ----------
    input : ndarray, shape ``(N, C, *spatial)``
        float32 or float64, at least 3 dimensions.
    groups : int
        Positive; it divides ``C``.

    Returns
    -------
    ndarray, shape of ``input``
        ``out[:, k*groups + i] = input[:, i*(C/groups) + k]`` (ShuffleNet's shuffle).

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.channel_shuffle(np.arange(6.).reshape(1, 6, 1), 2).ravel()
    array([0., 3., 1., 4., 2., 5.])
    """
    x, g = _channel_input("channel_shuffle", input, groups)
    return _channels_interleaved(x, g)


def channel_shuffle_backward(grad_output, input, groups):
    """Backward pass of :func:`channel_shuffle`: the shuffle with ``C / groups`` groups.

    Parameters
    ----------
    grad_output : ndarray, shape of ``input``
    input, groups
        As given to :func:`channel_shuffle`.

    Returns
    -------
    ndarray, shape of ``input``

    Examples
    --------
    >>> import numpy as np, npconv
    >>> x = np.arange(6.0).reshape(1, 6, 1, 1)
    >>> y = npconv.channel_shuffle(x, 2)
    >>> y[0, :, 0, 0], npconv.channel_shuffle_backward(y, x, 2)[0, :, 0, 0]
    (array([0., 3., 1., 4., 2., 5.]), array([0., 1., 2., 3., 4., 5.]))
    """
    x, g = _channel_input("channel_shuffle_backward", input, groups)
    gy = _gradient("channel_shuffle_backward", grad_output, x.shape, x)
    return _channels_interleaved(gy, x.shape[1] // g if x.shape[1] else 1)


for _function in (pixel_shuffle, pixel_shuffle_backward, pixel_unshuffle, pixel_unshuffle_backward,
                  channel_shuffle, channel_shuffle_backward):
    _function.__module__ = "npconv"
