"""``pad`` and ``pad_backward``, as ``torch.nn.functional.pad`` (the modes: :mod:`.padding`).

Beyond torch: the non-constant modes pad any dimensions of an input of any
rank (torch: the last 1-3 dimensions of a 2-D to 5-D input).
"""

from __future__ import annotations

import numpy as np

from .arguments import as_float_array
from .padding import check_mode, pad_pairs, padded, padded_adjoint


def pad(input, pad, mode="constant", value=None):
    """Pad an array, as ``torch.nn.functional.pad``.

    Parameters
    ----------
    input : ndarray
        float32 or float64, any rank; never modified.
    pad : tuple of ints
        ``(lo, hi)`` pairs from the last dimension backwards: ``(left, right)``
        pads the last dimension, ``(left, right, top, bottom)`` the last two,
        and so on, at most one pair per dimension.  Negative pads crop.
    mode : {'constant', 'reflect', 'replicate', 'circular'}
    value : float, optional
        The fill of ``'constant'`` (default 0); no other mode takes one.

    Returns
    -------
    ndarray
        Same dtype as ``input``; each padded dimension has ``n + lo + hi`` cells.

    Notes
    -----
    Along a padded dimension of size ``n`` with pads ``(lo, hi)``, output
    cell ``i`` (of ``n + lo + hi``) reads input cell ``m(i - lo)``:

    * ``'constant'``: ``m(j) = j`` inside the input, ``value`` outside.
    * ``'reflect'``: mirrored about the first and last cells (``-j``,
      ``2*(n-1) - j``); each pad must be smaller than ``n``.
    * ``'replicate'``: the nearest edge cell.
    * ``'circular'``: the input without its cropped cells (``n'`` of them),
      repeated; each pad at most ``n'``.

    Beyond torch: every mode pads any dimensions of an input of any rank
    (torch: the last 1-3 dimensions of a 2-D to 5-D input in the
    non-constant modes), and an empty result is returned where torch's
    reflect and replicate modes raise.  The backward pass is
    :func:`pad_backward`.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> x = np.array([[1., 2., 3.]])
    >>> npconv.pad(x, (2, 1), mode="reflect")
    array([[3., 2., 1., 2., 3., 2.]])
    >>> npconv.pad(x, (1, -1), value=9.)
    array([[9., 1., 2.]])
    """
    x = as_float_array(input, "pad", "input")
    check_mode("pad", mode, value)
    return padded("pad", x, pad_pairs("pad", x.ndim, pad), mode, value)


def pad_backward(grad_output, input, pad, mode="constant", value=None):
    """Backward pass of :func:`pad`: the gradient with respect to ``input``.

    Parameters
    ----------
    grad_output : ndarray, shape of ``pad(input, pad, mode, value)``
    input, pad, mode, value
        As given to :func:`pad` (``input`` for its shape and dtype).

    Returns
    -------
    ndarray, shape of ``input``
        The sum of the output gradient over the output cells that read each
        input cell; zero on cropped cells.

    Examples
    --------
    >>> import numpy as np, npconv
    >>> npconv.pad_backward(np.ones((1, 6)), np.zeros((1, 3)), (2, 1), mode="replicate")
    array([[3., 1., 2.]])
    """
    x = as_float_array(input, "pad_backward", "input")
    check_mode("pad_backward", mode, value)
    gy = as_float_array(grad_output, "pad_backward", "grad_output")
    pairs = pad_pairs("pad_backward", x.ndim, pad)
    gy = gy.astype(np.result_type(gy, x), copy=False)
    return padded_adjoint("pad_backward", gy, x.shape, pairs, mode).astype(x.dtype, copy=False)


pad.__module__ = pad_backward.__module__ = "npconv"
