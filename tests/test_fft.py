"""The FFT algorithm's transform lengths and its choice by ``auto``."""

import numpy as np
import pytest

import npconv
from npconv.ops.arguments import make_window
from npconv.engine import fft, planning
from npconv.engine.fft import good_size


def smooth(n):
    """Whether ``n`` has no prime factor above 7."""
    for p in (2, 3, 5, 7):
        while n % p == 0:
            n //= p
    return n == 1


def test_good_size_is_the_next_7_smooth_length():
    for n in range(1, 1500):
        m = good_size(n)
        assert m >= n and smooth(m), n
        assert not any(smooth(k) for k in range(n, m)), n


def spy(monkeypatch):
    """Record the calls of ``fft.forward``/``backward`` and whether each gave a result."""
    calls = []
    for name in ("forward", "backward"):
        original = getattr(fft, name)

        def wrapper(*args, original=original, name=name, **kwargs):
            result = original(*args, **kwargs)
            calls.append((name, result is not None))
            return result
        monkeypatch.setattr(fft, name, wrapper)
    return calls


def exact(x, w, gy, **kwargs):
    """Float64 window-algorithm results of the float32 data (the reference)."""
    with npconv.conv_algorithm("direct"):
        return (npconv.conv2d(x.astype(np.float64), w.astype(np.float64), **kwargs),
                npconv.conv2d_backward(gy.astype(np.float64), x.astype(np.float64),
                                       w.astype(np.float64), **kwargs))


def window_scale(x, w, gy, **kwargs):
    """Window magnitudes ``M`` of every output and gradient cell (conv of |x| with |w|, and so on)."""
    return exact(np.abs(x), np.abs(w), np.abs(gy), **kwargs)


def test_auto_takes_the_fft_for_float32_large_kernels_and_is_as_accurate_as_the_windows(monkeypatch):
    calls = spy(monkeypatch)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 1, 96, 80)).astype(np.float32)
    w = rng.standard_normal((1, 1, 15, 15)).astype(np.float32)
    gy = rng.standard_normal((4, 1, 82, 66)).astype(np.float32)
    got = npconv.conv2d(x, w), npconv.conv2d_backward(gy, x, w)
    assert calls == [("forward", True), ("backward", True)]
    (y, (gx, gw, _)), (my, (mgx, mgw, _)) = exact(x, w, gy), window_scale(x, w, gy)
    eps = np.finfo(np.float32).eps
    # within float32's rounding of each cell's own window magnitude, as a window algorithm
    for g, e, m in [(got[0], y, my), (got[1][0], gx, mgx), (got[1][1], gw, mgw)]:
        assert g.dtype == np.float32
        assert np.all(np.abs(g - e) <= eps * m)


def test_auto_keeps_float64_on_the_window_algorithms(monkeypatch):
    calls = spy(monkeypatch)
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 1, 64, 64)), rng.standard_normal((1, 1, 15, 15))
    npconv.conv2d(x, w)
    npconv.conv2d_backward(np.ones((2, 1, 50, 50)), x, w)
    assert calls == []


def high_dynamic_range(rng, shape):
    """A third of each plane about 1e4, the rest about 1e-3 (a bright edge on a dark scene)."""
    x = rng.uniform(0.5, 1.5, shape) * 1e-3
    x[..., : shape[-1] // 3] *= 1e7
    return x.astype(np.float32)


def test_auto_falls_back_to_the_windows_where_the_transform_would_be_visibly_wrong(monkeypatch):
    calls = spy(monkeypatch)
    rng = np.random.default_rng(1)
    x = high_dynamic_range(rng, (2, 1, 128, 128))
    w = np.full((1, 1, 15, 15), 1 / 225, np.float32)
    gy = high_dynamic_range(rng, (2, 1, 128, 128))
    y = npconv.conv2d(x, w, padding=7)
    gx, gw, _ = npconv.conv2d_backward(gy, x, w, padding=7)
    assert ("forward", False) in calls and ("backward", False) in calls
    ey, (egx, egw, _) = exact(x, w, gy, padding=7)
    assert y.min() > 0 and gx.min() > 0  # a mean of positive numbers
    for got, expected in [(y, ey), (gx, egx), (gw, egw)]:
        np.testing.assert_allclose(got, expected, rtol=2e-6)


def test_forced_fft_transforms_float32_data_in_float64():
    rng = np.random.default_rng(1)
    x = high_dynamic_range(rng, (1, 1, 128, 128))
    w = np.full((1, 1, 15, 15), 1 / 225, np.float32)
    with npconv.conv_algorithm("fft"):
        y = npconv.conv2d(x, w, padding=7)
    expected = exact(x, w, np.zeros_like(x), padding=7)[0]
    assert y.dtype == np.float32
    # float32 transforms were off by up to 360% here; float64 ones by about 1e-7
    np.testing.assert_allclose(y, expected, rtol=1e-6)


def transform_error_ratio(x, w, padding, stride=1, dilation=1):
    """Largest measured error of ``fft.forward`` over its bound without ``ERROR_FACTOR``."""
    window = make_window("test", x.shape[2:], w.shape[2:], (stride,) * (x.ndim - 2),
                         ((padding, padding),) * (x.ndim - 2), (dilation,) * (x.ndim - 2))
    transform = fft._transform(window)
    with npconv.workspace(2**40):
        plan = planning.make_plan(planning.Shapes(False, x.shape[0], x.shape[1], w.shape, window,
                                                  x.dtype), algorithm="fft")
    got = fft.forward(x, w, window, 1, plan)
    with npconv.conv_algorithm("direct"):
        conv = getattr(npconv, f"conv{x.ndim - 2}d")
        expected = conv(x, w, padding=padding, stride=stride, dilation=dilation)
    errors = np.abs(got - expected).max(axis=tuple(range(2, got.ndim)))
    bounds = fft._norms(x) @ fft._norms(w).T * transform.error_scale / fft.ERROR_FACTOR
    return (errors / bounds).max()


@pytest.mark.parametrize("size,kernel", [(16, 15), (64, 5), (128, 15), (300, 31)])
def test_the_transform_error_bound_holds(size, kernel):
    rng = np.random.default_rng(size)
    shape = (2, 3) + (size,) * (2 if size < 300 else 1)
    kernel_shape = (2, 3) + (kernel,) * (len(shape) - 2)
    cases = [(np.ones(shape), np.ones(kernel_shape)),
             (rng.standard_normal(shape), rng.standard_normal(kernel_shape)),
             (rng.uniform(0, 1, shape), rng.uniform(0, 1, kernel_shape)),
             (rng.standard_normal(shape) * np.logspace(-8, 8, size), rng.standard_normal(kernel_shape))]
    worst = max(transform_error_ratio(x, w, kernel // 2) for x, w in cases)
    assert worst < fft.ERROR_FACTOR / 4, worst


@pytest.mark.parametrize("seed", range(20))
def test_cells_summed_from_their_own_products_match_the_window_algorithm(seed):
    from npconv.engine import cells
    rng = np.random.default_rng(seed)
    ndim = int(rng.integers(1, 4))
    groups = int(rng.integers(1, 3))
    kernel = tuple(int(k) for k in rng.integers(1, 4, ndim))
    stride = tuple(int(s) for s in rng.integers(1, 3, ndim))
    dilation = tuple(int(d) for d in rng.integers(1, 3, ndim))
    padding = tuple((int(a), int(b)) for a, b in rng.integers(0, 3, (ndim, 2)))
    spatial = tuple(d * (k - 1) + 1 + int(rng.integers(0, 4)) for k, d in zip(kernel, dilation))
    x = rng.standard_normal((2, 2 * groups) + spatial)
    w = rng.standard_normal((3 * groups, 2) + kernel)
    conv = getattr(npconv, f"conv{ndim}d")
    arguments = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    window = make_window("test", spatial, kernel, stride, padding, dilation)
    with npconv.conv_algorithm("direct"):
        y = conv(x, w, **arguments)
        gy = rng.standard_normal(y.shape)
        gx, gw, _ = getattr(npconv, f"conv{ndim}d_backward")(gy, x, w, **arguments)
    for expected, summed in [(y, lambda i: cells.forward(x, w, window, groups, i)),
                             (gx, lambda i: cells.input_gradient(gy, w, window, groups, i)),
                             (gw, lambda i: cells.weight_gradient(gy, x, window, groups, i))]:
        index = np.nonzero(np.ones(expected.shape, bool))  # every cell
        np.testing.assert_allclose(summed(index), expected[index], rtol=1e-12, atol=1e-12)
