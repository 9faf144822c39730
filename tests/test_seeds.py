"""The users' own cases (shared/seeds/), worked as tests."""

import tracemalloc

import numpy as np
import pytest

import npconv
import reference
from helpers import ALGORITHMS, assert_close, using


def mean_filter_derivatives(x, f, dy):
    """Seed 000: y = conv(x, f) / (p*q) on (b, m, n) images; returns (df, dx) with npconv."""
    p, q = f.shape
    weight = (f / (p * q))[None, None]
    dx, dweight, _ = npconv.conv2d_backward(dy[:, None], x[:, None], weight)
    return dweight[0, 0] / (p * q), dx[:, 0]


def test_000_mean_filter_derivative_matches_the_definition():
    rng = np.random.default_rng(0)
    x, f = rng.standard_normal((3, 12, 11)), rng.standard_normal((5, 4))
    dy = rng.standard_normal((3, 8, 8))
    df, dx = mean_filter_derivatives(x, f, dy)
    dx_ref, dw_ref, _ = reference.conv_backward(dy[:, None], x[:, None], f[None, None] / 20,
                                                (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    assert_close(dx, dx_ref[:, 0], np.float64)
    assert_close(df, dw_ref[0, 0] / 20, np.float64)


@pytest.mark.parametrize("algorithm", ("auto",) + ALGORITHMS)
def test_000_mean_filter_full_size_stays_far_under_the_windowed_array(algorithm):
    """64 images of 128x128, a 15x15 filter: the windowed array would be 1.4 GiB in float64."""
    rng = np.random.default_rng(1)
    x, f = rng.standard_normal((64, 128, 128)), rng.standard_normal((15, 15))
    dy = rng.standard_normal((64, 114, 114))
    windowed_bytes = 64 * 114 * 114 * 15 * 15 * 8
    with using(algorithm):
        npconv.release_scratch()
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            df, dx = mean_filter_derivatives(x, f, dy)
            peak = tracemalloc.get_traced_memory()[1] - baseline
        finally:
            tracemalloc.stop()
    # Peak includes the returned gradients (8 MiB); the workspace bounds the rest.
    assert peak < npconv.get_workspace() + dx.nbytes + 2**20 < windowed_bytes / 5
    if not algorithm.startswith("im2col"):
        assert peak < 64 * 2**20
    # Correct at full size: y = conv(x, f)/(pq) is bilinear, so <y, dy> == <x, dx> == <f, df>.
    y = npconv.conv2d(x[:, None], (f / 225)[None, None])[:, 0]
    inner = np.vdot(y, dy)
    assert np.isclose(np.vdot(x, dx), inner, rtol=1e-10)
    assert np.isclose(np.vdot(f, df), inner, rtol=1e-10)


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("pad", [0, 1, 2])
@pytest.mark.parametrize("size", [7, 8])
def test_001_input_gradient_is_the_dilated_padded_flipped_convolution(stride, pad, size):
    """Seed 001's recipe: dilate dout by the stride, pad it, flip the kernel, convolve.

    The high-side padding must also cover the input rows that the floor in the
    output size left out (``(size + 2*pad - k) % stride``); the seed used
    ``stride - 1``, right only when that remainder is ``stride - 1``.
    """
    rng = np.random.default_rng(stride * 10 + pad)
    k = 3
    x = rng.standard_normal((2, 3, size, size))
    w = rng.standard_normal((4, 3, k, k))
    y = npconv.conv2d(x, w, stride=stride, padding=pad)
    dout = rng.standard_normal(y.shape)
    dx, dw, _ = npconv.conv2d_backward(dout, x, w, stride=stride, padding=pad)

    dx_ref, dw_ref, _ = reference.conv_backward(dout, x, w, (stride,) * 2, ((pad, pad),) * 2,
                                                (1, 1), 1)
    assert_close(dx, dx_ref, np.float64)
    assert_close(dw, dw_ref, np.float64)

    out = y.shape[-1]
    dilated = np.zeros((2, 4, (out - 1) * stride + 1, (out - 1) * stride + 1))
    dilated[:, :, ::stride, ::stride] = dout
    lo = k - 1 - pad
    hi = lo + (size + 2 * pad - k) % stride
    flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    recipe = npconv.conv2d(dilated, flipped, padding=((lo, hi), (lo, hi)))
    assert_close(recipe, dx, np.float64)


def windowed_loop_gradients(x, filters, dA_prev, stride):
    """Seed 003's slow but correct loop, on unbatched (C, H, W) input: one window at a time."""
    n_filt, _, kh, kw = filters.shape
    dA, dF = np.zeros_like(x), np.zeros_like(filters)
    for f in range(n_filt):
        for oy in range(dA_prev.shape[1]):
            for ox in range(dA_prev.shape[2]):
                window = (slice(None), slice(oy * stride, oy * stride + kh),
                          slice(ox * stride, ox * stride + kw))
                dF[f] += dA_prev[f, oy, ox] * x[window]
                dA[window] += dA_prev[f, oy, ox] * filters[f]
    return dA, dF, dA_prev.sum(axis=(1, 2))


@pytest.mark.parametrize("stride,kernel,size", [(1, 3, 8), (2, 3, 9), (2, 2, 8), (3, 5, 12), (4, 3, 13)])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_003_unbatched_strided_gradients(stride, kernel, size, algorithm):
    rng = np.random.default_rng(stride)
    x = rng.standard_normal((3, size, size)).astype(np.float32)
    filters = rng.standard_normal((4, 3, kernel, kernel)).astype(np.float32)
    bias = np.zeros(4, np.float32)
    with using(algorithm):
        out = npconv.conv2d(x, filters, bias, stride=stride)
        dA_prev = rng.standard_normal(out.shape).astype(np.float32)
        dA, dF, dB = npconv.conv2d_backward(dA_prev, x, filters, bias, stride=stride)
    expected = windowed_loop_gradients(x.astype(np.float64), filters.astype(np.float64),
                                       dA_prev.astype(np.float64), stride)
    for actual, wanted in zip((dA, dF, dB), expected):
        assert_close(actual, wanted, np.float32)


def test_004_col2im_of_im2col_counts_the_windows():
    """Seed 004: col2im(im2col(X)) is X times the number of windows over each pixel, not X."""
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    back = npconv.col2im(npconv.im2col(x, 3, padding=1), (3, 3), 3, padding=1)
    np.testing.assert_array_equal(back[0, 0], [[4, 12, 12], [24, 45, 36], [28, 48, 36]])
    coverage = npconv.fold(npconv.unfold(np.ones_like(x), 3, padding=1), (3, 3), 3, padding=1)
    np.testing.assert_array_equal(coverage[0, 0], [[4, 6, 4], [6, 9, 6], [4, 6, 4]])
    np.testing.assert_array_equal(back / coverage, x)


def test_004_input_error_sums_every_column_entry_of_a_pixel():
    """Seed 004's second answer: on a 5x5 input, 3x3 kernel, pixel [0, 1] gets columns 0 and 1."""
    cols = np.arange(81.0).reshape(1, 9, 9)  # cols[0, j, l]: kernel offset j, window l
    image = npconv.col2im(cols, (5, 5), 3)
    assert image[0, 0, 0, 0] == cols[0, 0, 0]
    assert image[0, 0, 0, 1] == cols[0, 1, 0] + cols[0, 0, 1]
    assert image[0, 0, 0, 2] == cols[0, 2, 0] + cols[0, 1, 1] + cols[0, 0, 2]
