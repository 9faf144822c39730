"""The ``fft`` algorithm: convolution by the convolution theorem, with ``numpy.fft``.

With every spatial size extended to a length ``L`` (zeros beyond the input),
the forward pass is a circular cross-correlation sampled at the window
positions::

    y[n, k, o] = sum_c sum_m  x[n, c, (o*s - lo + m) mod L] * w_d[k, c, m]
    Y[n, k]    = sum_c  X[n, c] * conj(W_d[k, c])           (spectra, per frequency)

where ``w_d`` is the kernel with its dilation holes filled in (zeros).  ``L``
is at least ``in + lo`` and ``extent - lo`` (``extent = (out-1)*s + (k-1)*d +
1``, the span the windows read), so no window wraps onto a real cell: circular
and zero-padded correlation agree; and at least ``(k-1)*d + 1`` and
``(out-1)*s + 1``, so that the dilated kernel and the output positions fit.  The adjoints are the same products with the
output gradient ``g`` placed at ``o*s - lo`` (``u``, the gradient "upsampled"
by the stride)::

    grad_x      = irfft( sum_k U[n, k] * W_d[k, c] )         on [0, in)
    grad_w[k, c] = irfft( sum_n X[n, c] * conj(U[n, k]) )    at m = j*d

The sums over channels (or, for the weight gradient, over the batch) are
complex matrix products per frequency.  The cost hardly depends on the kernel
size, so the algorithm wins for large kernels on few channels, where the
window algorithms make ``prod(kernel)`` passes.

Rounding differs from the window algorithms: every output mixes all inputs of
its plane, so the error is about ``eps * log(L)`` times the plane's largest
products rather than its own.  An infinite or NaN input would spread to the
whole plane; :mod:`npconv._engine` sends such inputs to an exact algorithm.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ._blocks import batch_chunks


def good_size(n):
    """The smallest ``m >= n`` whose prime factors are 2, 3, 5 and 7 (fast FFT lengths)."""
    best = 1 << max(0, (n - 1).bit_length())
    power7 = 1
    while power7 < best:
        power5 = power7
        while power5 < best:
            power3 = power5
            while power3 < best:
                size = power3
                while size < n:
                    size *= 2
                best = min(best, size)
                power3 *= 3
            power5 *= 5
        power7 *= 7
    return best


class _Plan:
    """FFT lengths, axes and sample positions of one window."""

    def __init__(self, window):
        self.window = window
        lengths = []
        for size, out, k, s, d, (lo, _) in zip(window.in_shape, window.out_shape, window.kernel,
                                                window.stride, window.dilation, window.padding):
            extent = (out - 1) * s + (k - 1) * d + 1
            lengths.append(good_size(max(size + lo, extent - lo, (out - 1) * s + 1,
                                         (k - 1) * d + 1)))
        self.lengths = tuple(lengths)
        self.axes = tuple(range(-window.ndim, 0))
        # Where output cell o sits in the circular correlation, per dimension.
        self.positions = np.ix_(*[(np.arange(out) * s - lo) % length for out, s, (lo, _), length
                                  in zip(window.out_shape, window.stride, window.padding,
                                         lengths)])
        # Where kernel offset j sits: j*d.
        self.taps = np.ix_(*[np.arange(k) * d for k, d in zip(window.kernel, window.dilation)])
        self.frequencies = math.prod(lengths[:-1]) * (lengths[-1] // 2 + 1)

    def spectrum(self, array):
        """``rfftn`` of ``array`` (..., *spatial), zero-extended to the FFT lengths: (..., F)."""
        return np.fft.rfftn(array, s=self.lengths, axes=self.axes).reshape(
            array.shape[:-self.window.ndim] + (self.frequencies,))

    def signal(self, spectrum, dtype):
        """The inverse of :meth:`spectrum`, as ``dtype``: (..., *lengths)."""
        shaped = spectrum.reshape(spectrum.shape[:-1] + self.lengths[:-1]
                                  + (self.lengths[-1] // 2 + 1,))
        return np.fft.irfftn(shaped, s=self.lengths, axes=self.axes).astype(dtype, copy=False)

    def weight_spectrum(self, weight):
        """Spectrum of the dilated kernel ``weight`` (K, C/G, *kernel): (K, C/G, F)."""
        dilated = np.zeros(weight.shape[:2] + self.lengths, weight.dtype)
        dilated[(slice(None), slice(None)) + self.taps] = weight
        return self.spectrum(dilated)

    def upsampled(self, grad_output):
        """``grad_output`` (n, K, *out_shape) placed at ``o*s - lo`` in zeros of the FFT lengths."""
        placed = np.zeros(grad_output.shape[:2] + self.lengths, grad_output.dtype)
        placed[(slice(None), slice(None)) + self.positions] = grad_output
        return placed

    def bytes_per_sample(self, channels, out_channels, dtype):
        """Bound on one sample's temporaries.

        Per plane of input or output: its signal and the upsampled gradient
        (``2 * prod(L)`` reals), its spectrum with the transform's
        intermediate and two relaid copies for the products (``4 * F``
        complex values, ``8 * F`` reals).
        """
        cells = (channels + out_channels) * (8 * self.frequencies + 2 * math.prod(self.lengths))
        return cells * np.dtype(dtype).itemsize

    def weight_bytes(self, weight_shape, dtype):
        """Bound on the kernel's temporaries, kept for the whole call.

        Per ``(k, c)`` pair: the dilated kernel and its correlation
        (``2 * prod(L)`` reals); its spectrum, relaid copy, the weight
        gradient's spectrum and one chunk's share of it (``4 * F`` complex).
        """
        cells = math.prod(weight_shape[:2]) * (8 * self.frequencies + 2 * math.prod(self.lengths))
        return cells * np.dtype(dtype).itemsize


@functools.lru_cache(maxsize=256)
def _plan(window):
    return _Plan(window)


def cost(window, channels, weight_shape):
    """Estimated nanoseconds per sample, for the choice of algorithm.

    Transforms of the input and output planes, about 0.9 ns per cell and
    ``log2`` of the plane (measured on mean filters from 5x5 to 15x15), and
    the complex products over channels, about 0.08 ns per multiply-add.
    """
    plan = _plan(window)
    cells = math.prod(plan.lengths)
    transforms = 0.9 * (channels + weight_shape[0]) * cells * math.log2(max(2, cells))
    return transforms + 0.08 * weight_shape[0] * weight_shape[1] * plan.frequencies


def fits(window, channels, weight_shape, dtype, budget):
    """Whether the kernel spectrum and one sample's temporaries fit in ``budget`` bytes."""
    plan = _plan(window)
    return (plan.weight_bytes(weight_shape, dtype)
            + plan.bytes_per_sample(channels, weight_shape[0], dtype)) <= budget


def _relaid(spectrum):
    """A ``(G, Q, P, F)`` kernel spectrum laid out for :func:`_contract`."""
    if spectrum.shape[2] == 1:
        return np.ascontiguousarray(spectrum[:, :, 0])                # (G, Q, F)
    return np.ascontiguousarray(spectrum.transpose(0, 3, 2, 1))      # (G, F, P, Q)


def _contract(a, b):
    """``out[n, g, q, f] = sum_p a[n, g, p, f] * b[g, q, p, f]``: a matrix product per frequency.

    ``a`` is (n, G, P, F); ``b`` is :func:`_relaid`.  Returns (n, G*Q, F).
    """
    n = a.shape[0]
    if b.ndim == 3:  # P == 1, nothing to sum: a broadcast product
        return (a * b).reshape(n, -1, a.shape[-1])
    # (G, F, n, P) @ (G, F, P, Q) -> (G, F, n, Q)
    product = np.matmul(a.transpose(1, 3, 0, 2), b)
    return product.transpose(2, 0, 3, 1).reshape(n, -1, a.shape[-1])


def _chunks(plan, n_batch, channels, weight_shape, dtype, budget):
    spare = budget - plan.weight_bytes(weight_shape, dtype)
    per_sample = plan.bytes_per_sample(channels, weight_shape[0], dtype)
    return batch_chunks(n_batch, per_sample, max(1, spare))


def _grouped(spectrum, groups):
    """(n, C, F) as (n, G, C/G, F)."""
    return spectrum.reshape(spectrum.shape[0], groups, -1, spectrum.shape[-1])


def forward(x, weight, window, groups, budget):
    """``y`` (N, K, *out_shape) of ``x`` (N, C, *in_shape) and ``weight`` (K, C/G, *kernel)."""
    plan = _plan(window)
    n_batch, channels = x.shape[:2]
    out_channels = weight.shape[0]
    w_hat = np.conj(plan.weight_spectrum(weight))
    w_hat = _relaid(w_hat.reshape((groups, out_channels // groups) + w_hat.shape[1:]))
    y = np.empty((n_batch, out_channels) + window.out_shape, x.dtype)
    for chunk in _chunks(plan, n_batch, channels, weight.shape, x.dtype, budget):
        _forward_chunk(plan, groups, x[chunk], w_hat, y[chunk])
    return y


def _forward_chunk(plan, groups, x, w_hat, y):
    """One batch chunk of the forward pass; its temporaries die on return."""
    y_hat = _contract(_grouped(plan.spectrum(x), groups), w_hat)
    y[...] = plan.signal(y_hat, y.dtype)[(slice(None), slice(None)) + plan.positions]


def backward(grad_output, weight, window, groups, channels, x, grad_input, grad_weight, budget):
    """Add the gradients into ``grad_input`` (needs ``weight``) and/or ``grad_weight`` (needs ``x``)."""
    plan = _plan(window)
    n_batch, out_channels = grad_output.shape[:2]
    dtype = grad_output.dtype
    group_in = channels // groups
    w_hat_t = None
    if grad_input is not None:  # the kernel spectrum with its channel axes swapped
        w_hat = plan.weight_spectrum(weight).reshape(groups, -1, group_in, plan.frequencies)
        w_hat_t = _relaid(w_hat.transpose(0, 2, 1, 3))
        del w_hat
    gw_hat = None
    if grad_weight is not None:  # (G, F, K/G, C/G)
        gw_hat = np.zeros((groups, plan.frequencies, out_channels // groups, group_in),
                          np.result_type(dtype, np.complex64))
    for chunk in _chunks(plan, n_batch, channels, (out_channels, group_in), dtype, budget):
        _backward_chunk(plan, groups, grad_output[chunk], w_hat_t,
                        None if x is None else x[chunk],
                        None if grad_input is None else grad_input[chunk], gw_hat)
    if grad_weight is not None:
        gw_hat = gw_hat.transpose(0, 2, 3, 1).reshape(out_channels, group_in, -1)
        correlation = plan.signal(gw_hat, dtype)
        grad_weight += correlation[(slice(None), slice(None)) + plan.taps]


def _backward_chunk(plan, groups, grad_output, w_hat_t, x, grad_input, gw_hat):
    """One batch chunk's share of the gradients; its temporaries die on return."""
    u_hat = _grouped(plan.spectrum(plan.upsampled(grad_output)), groups)
    if grad_input is not None:
        crop = (slice(None), slice(None)) + tuple(slice(0, size) for size in grad_input.shape[2:])
        grad_input += plan.signal(_contract(u_hat, w_hat_t), grad_input.dtype)[crop]
    if gw_hat is not None:
        x_hat = _grouped(plan.spectrum(x), groups)
        # the sum over the batch: (G, F, K/G, n) @ (G, F, n, C/G)
        gw_hat += np.matmul(np.conj(u_hat).transpose(1, 3, 2, 0), x_hat.transpose(1, 3, 0, 2))
