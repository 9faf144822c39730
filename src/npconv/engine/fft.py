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

Accuracy.  The transforms always run in float64, also for float32 data.
Every output mixes all the inputs of its plane, so its rounding error is not
relative to its own window but to the whole plane: at most ``E = C * eps64 *
log2(prod(L)) * sum ||a|| * ||b||`` (the 2-norms of the two planes of each
product that is summed; :data:`ERROR_FACTOR` is ``C``).  A window algorithm's
error is relative to each output's own window.  So :func:`forward` and
:func:`backward` take a plan's ``fft_tolerance``: with one, every cell at least ``E /
tolerance`` in magnitude has an error below ``tolerance`` relative to itself;
the few smaller cells (border cells of an input gradient, near-cancellations)
are computed again from their own products (:mod:`npconv.engine.cells`), and where
there are too many of them (a dark region beside a bright one) the call gives
up and returns None.  :mod:`npconv.engine.planning` passes half of float32's unit
roundoff when ``auto`` picks the transform for float32 data, and then falls
back to a window algorithm.  A non-finite value spreads over its plane; the
engine computes such a result again exactly.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from . import cells

#: ``C`` in the error bound ``C * eps64 * log2(prod(L)) * sum ||a|| ||b||`` of a
#: transform-based product (module notes).  The largest ratio of measured error
#: to ``eps64 * log2(prod(L)) * sum ||a|| ||b||`` over constant, single-spike,
#: normal, uniform and graded inputs, 1-D to 3-D, planes of 8 to 300 cells a
#: side, was 0.46 (uniform [0, 1) data, a 15x15 kernel on a 16x16 plane);
#: ``tests/test_fft.py`` keeps checking it.  4 leaves a margin of 8.
ERROR_FACTOR = 4.0


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


class _Transform:
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
        self.positions = np.ix_(*[window.starts(dim) % length
                                  for dim, length in enumerate(lengths)])
        # Where kernel offset j sits: j*d.
        self.taps = np.ix_(*[np.arange(k) * d for k, d in zip(window.kernel, window.dilation)])
        self.frequencies = math.prod(lengths[:-1]) * (lengths[-1] // 2 + 1)

    def spectrum(self, array):
        """``rfftn`` of ``array`` (..., *spatial) in float64, zero-extended to the FFT lengths: (..., F)."""
        return np.fft.rfftn(array.astype(np.float64, copy=False), s=self.lengths,
                            axes=self.axes).reshape(array.shape[:-self.window.ndim]
                                                    + (self.frequencies,))

    def signal(self, spectrum):
        """The inverse of :meth:`spectrum`, in float64: (..., *lengths)."""
        shaped = spectrum.reshape(spectrum.shape[:-1] + self.lengths[:-1]
                                  + (self.lengths[-1] // 2 + 1,))
        return np.fft.irfftn(shaped, s=self.lengths, axes=self.axes)

    @property
    def error_scale(self):
        """``ERROR_FACTOR * eps64 * log2(prod(L))``: the error bound per unit of ``sum ||a|| ||b||``."""
        return ERROR_FACTOR * np.finfo(np.float64).eps * math.log2(max(2, math.prod(self.lengths)))

    def weight_spectrum(self, weight):
        """Spectrum of the dilated kernel ``weight`` (K, C/G, *kernel): (K, C/G, F)."""
        dilated = np.zeros(weight.shape[:2] + self.lengths)
        dilated[(slice(None), slice(None)) + self.taps] = weight
        return self.spectrum(dilated)

    def upsampled(self, grad_output):
        """``grad_output`` (n, K, *out_shape) placed at ``o*s - lo`` in float64 zeros of the FFT lengths."""
        placed = np.zeros(grad_output.shape[:2] + self.lengths)
        placed[(slice(None), slice(None)) + self.positions] = grad_output
        return placed

    def bytes_per_sample(self, channels, out_channels):
        """Bound on one sample's temporaries (float64, whatever the data's dtype).

        Per plane of input or output: its float64 copy, its signal and the
        upsampled gradient (``3 * prod(L)`` reals), its spectrum with the
        transform's intermediate and two relaid copies for the products
        (``4 * F`` complex values, ``8 * F`` reals).
        """
        cells = (channels + out_channels) * (8 * self.frequencies + 3 * math.prod(self.lengths))
        return cells * 8

    def weight_bytes(self, weight_shape):
        """Bound on the kernel's temporaries (float64), kept for the whole call.

        Per ``(k, c)`` pair: the dilated kernel and its correlation
        (``2 * prod(L)`` reals); its spectrum, relaid copy, the weight
        gradient's spectrum and one chunk's share of it (``4 * F`` complex).
        """
        cells = math.prod(weight_shape[:2]) * (8 * self.frequencies + 2 * math.prod(self.lengths))
        return cells * 8


@functools.lru_cache(maxsize=256)
def _transform(window):
    return _Transform(window)


def cost(window, channels, weight_shape):
    """Estimated nanoseconds per sample, for the choice of algorithm.

    Transforms of the input and output planes (a cost per cell and ``log2``
    of the plane) and the complex products over channels (a cost per
    multiply-add).  The two constants were fitted on the benchmark's mean
    filters; ``npconv bench --algorithms`` shows whether ``auto`` still takes
    the fastest algorithm on a machine.
    """
    transform = _transform(window)
    cells = math.prod(transform.lengths)
    transforms = 0.9 * (channels + weight_shape[0]) * cells * math.log2(max(2, cells))
    return transforms + 0.08 * weight_shape[0] * weight_shape[1] * transform.frequencies


def fits(window, channels, weight_shape, budget):
    """Whether the kernel spectrum and one sample's temporaries fit in ``budget`` bytes."""
    transform = _transform(window)
    return (transform.weight_bytes(weight_shape)
            + transform.bytes_per_sample(channels, weight_shape[0])) <= budget


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


def chunk_bytes(window, channels, weight_shape, budget):
    """``(bytes per sample, bytes per chunk)``: chunks share what the kernel's temporaries leave."""
    transform = _transform(window)
    return (transform.bytes_per_sample(channels, weight_shape[0]),
            max(1, budget - transform.weight_bytes(weight_shape)))


def _grouped(array, groups):
    """(n, C, ...) as (n, G, C/G, ...)."""
    return array.reshape((array.shape[0], groups, -1) + array.shape[2:])


def _norms(array):
    """2-norms of the planes of ``array`` (n, C, *spatial), in float64: (n, C)."""
    planes = array.reshape(array.shape[:2] + (-1,))
    return np.sqrt(np.einsum("ncl,ncl->nc", planes, planes, dtype=np.float64))


def _certify(result, bound, tolerance, exact_cells, most):
    """Make the transform's ``result`` as accurate as a window algorithm's, or return False.

    ``result`` (float64, ``(n, C, *spatial)`` or ``(K, C/G, *kernel)``) has
    an error of at most ``bound`` (one per plane).  Where ``|result| >=
    bound / tolerance`` that is below ``tolerance`` relative to the cell, and
    so to the sum of its products' magnitudes, which a window algorithm's
    rounding is relative to.  The other cells, at most ``most`` of them (else
    False), are replaced by ``exact_cells(index)``, their own products summed
    (:mod:`npconv.engine.cells`).
    """
    limits = (bound / tolerance).reshape(bound.shape + (1,) * (result.ndim - bound.ndim))
    small = np.abs(result) < limits
    count = np.count_nonzero(small)
    if count > most:
        return False
    if count:
        index = np.nonzero(small)
        result[index] = exact_cells(index)
    return True


#: The most small cells of a forward output or input gradient, and of a weight
#: gradient (each of which costs a pass over the batch), that :func:`_certify`
#: computes from their products before it gives up on the transform.
MOST_SMALL_CELLS = 4096
MOST_SMALL_WEIGHT_CELLS = 16


def forward(x, weight, window, groups, plan):
    """``y`` (N, K, *out_shape) of ``x`` (N, C, *in_shape) and ``weight`` (K, C/G, *kernel).

    With ``plan.fft_tolerance``, returns None where the transform's error
    bound is not below that relative to every output (see the module notes).
    """
    transform, tolerance = _transform(window), plan.fft_tolerance
    n_batch, channels = x.shape[:2]
    out_channels = weight.shape[0]
    w_hat = np.conj(transform.weight_spectrum(weight))
    w_hat = _relaid(w_hat.reshape((groups, out_channels // groups) + w_hat.shape[1:]))
    w_norms = _norms(weight).reshape(groups, -1, weight.shape[1])
    y = np.empty((n_batch, out_channels) + window.out_shape, x.dtype)
    for chunk in plan.pieces:
        y_hat = _contract(_grouped(transform.spectrum(x[chunk]), groups), w_hat)
        y64 = transform.signal(y_hat)[(slice(None), slice(None)) + transform.positions]
        if tolerance is not None:
            bound = np.einsum("ngc,gkc->ngk", _grouped(_norms(x[chunk]), groups), w_norms)
            if not _certify(y64, transform.error_scale * bound.reshape(y64.shape[:2]), tolerance,
                            functools.partial(cells.forward, x[chunk], weight, window,
                                              groups), MOST_SMALL_CELLS):
                return None
        y[chunk] = y64
    return y


def backward(grad_output, weight, window, groups, channels, x, plan):
    """``(grad_input, grad_weight)`` of :func:`forward`; each None where ``weight`` / ``x`` is None.

    With ``plan.fft_tolerance``, returns None where the transform's error
    bound is not below that relative to every cell of the gradients.
    """
    transform, tolerance = _transform(window), plan.fft_tolerance
    n_batch, out_channels = grad_output.shape[:2]
    dtype = grad_output.dtype
    group_in = channels // groups
    grad_input = w_hat_t = w_norms = None
    if weight is not None:  # the kernel spectrum with its channel axes swapped
        grad_input = np.empty((n_batch, channels) + window.in_shape, dtype)
        w_hat = transform.weight_spectrum(weight).reshape(groups, -1, group_in,
                                                          transform.frequencies)
        w_hat_t = _relaid(w_hat.transpose(0, 2, 1, 3))
        del w_hat
        w_norms = _norms(weight).reshape(groups, -1, group_in)
    gw_hat = gw_bound = None
    if x is not None:  # (G, F, K/G, C/G)
        gw_hat = np.zeros((groups, transform.frequencies, out_channels // groups, group_in),
                          np.complex128)
        gw_bound = np.zeros((groups, out_channels // groups, group_in))
    crop = (slice(None), slice(None)) + tuple(slice(0, size) for size in window.in_shape)
    for chunk in plan.pieces:
        gy = grad_output[chunk]
        u_hat = _grouped(transform.spectrum(transform.upsampled(gy)), groups)
        gy_norms = _grouped(_norms(gy), groups)                             # (n, G, K/G)
        if grad_input is not None:
            gx64 = transform.signal(_contract(u_hat, w_hat_t))[crop]
            if tolerance is not None:
                bound = np.einsum("ngk,gkc->ngc", gy_norms, w_norms).reshape(gx64.shape[:2])
                if not _certify(gx64, transform.error_scale * bound, tolerance,
                                functools.partial(cells.input_gradient, gy, weight, window,
                                                  groups), MOST_SMALL_CELLS):
                    return None
            grad_input[chunk] = gx64
        if gw_hat is not None:
            x_hat = _grouped(transform.spectrum(x[chunk]), groups)
            # the sum over the batch: (G, F, K/G, n) @ (G, F, n, C/G)
            gw_hat += np.matmul(np.conj(u_hat).transpose(1, 3, 2, 0), x_hat.transpose(1, 3, 0, 2))
            gw_bound += np.einsum("ngk,ngc->gkc", gy_norms, _grouped(_norms(x[chunk]), groups))
    grad_weight = None
    if gw_hat is not None:
        gw_hat = gw_hat.transpose(0, 2, 3, 1).reshape(out_channels, group_in, -1)
        gw64 = transform.signal(gw_hat)[(slice(None), slice(None)) + transform.taps]
        if tolerance is not None and not _certify(
                gw64, transform.error_scale * gw_bound.reshape(out_channels, group_in), tolerance,
                functools.partial(cells.weight_gradient, grad_output, x, window, groups),
                MOST_SMALL_WEIGHT_CELLS):
            return None
        grad_weight = gw64.astype(dtype)
    return grad_input, grad_weight
