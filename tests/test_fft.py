"""The FFT algorithm's transform lengths and its choice by ``auto``."""

import numpy as np

import npconv
from npconv import _fft
from npconv._fft import good_size


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


def test_auto_takes_the_fft_for_a_large_kernel_on_one_channel_and_matches_the_windows(monkeypatch):
    calls = []
    for name in ("forward", "backward"):
        original = getattr(_fft, name)
        monkeypatch.setattr(_fft, name, lambda *args, original=original, name=name:
                            calls.append(name) or original(*args))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 1, 96, 80))
    w = rng.standard_normal((1, 1, 15, 15))
    gy = rng.standard_normal((4, 1, 82, 66))
    with npconv.conv_algorithm("direct"):
        expected = npconv.conv2d(x, w), npconv.conv2d_backward(gy, x, w)
    assert calls == []
    got = npconv.conv2d(x, w), npconv.conv2d_backward(gy, x, w)
    assert calls == ["forward", "backward"]
    np.testing.assert_allclose(got[0], expected[0], rtol=0, atol=1e-12)
    for g, e in zip(got[1], expected[1]):
        if e is not None:
            np.testing.assert_allclose(g, e, rtol=0, atol=1e-11)
