"""pixel_shuffle, pixel_unshuffle, channel_shuffle and their backward passes."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import npconv
import reference
from helpers import DTYPES, check_directional_derivatives, noncontiguous, torch_or_skip


@pytest.mark.parametrize("shape,r", [((2, 8, 3, 2), 2), ((12, 2, 1), 2), ((2, 2, 9, 2, 3), 3),
                                     ((1, 3, 2, 2), 1), ((0, 8, 3, 2), 2)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_pixel_shuffle_against_reference(shape, r, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    expected = reference.pixel_shuffle(x.astype(np.float64), r)
    for layout in (np.asarray, noncontiguous) if x.size else (np.asarray,):
        y = npconv.pixel_shuffle(layout(x), r)
        assert y.dtype == dtype
        np.testing.assert_array_equal(y, expected.astype(dtype))
        # the inverse, and the adjoint: a permutation's backward pass is its inverse
        np.testing.assert_array_equal(npconv.pixel_unshuffle(layout(y), r), x)
        np.testing.assert_array_equal(npconv.pixel_shuffle_backward(layout(y), x, r), x)
        np.testing.assert_array_equal(npconv.pixel_unshuffle_backward(layout(x), y, r), y)


@pytest.mark.parametrize("shape,groups", [((2, 6, 3), 2), ((2, 6, 3), 3), ((1, 8, 2, 2, 2), 4),
                                          ((3, 5, 2), 1), ((2, 0, 3), 2)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_channel_shuffle_against_reference(shape, groups, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    y = npconv.channel_shuffle(x, groups)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_array_equal(y, reference.channel_shuffle(x.astype(np.float64), groups))
    np.testing.assert_array_equal(npconv.channel_shuffle_backward(y, x, groups), x)


def test_finite_differences():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 12, 3, 4))
    for forward, backward, argument in (
            (npconv.pixel_shuffle, npconv.pixel_shuffle_backward, 2),
            (npconv.pixel_unshuffle, npconv.pixel_unshuffle_backward, 1),
            (npconv.channel_shuffle, npconv.channel_shuffle_backward, 3)):
        check_directional_derivatives(lambda x: forward(x, argument),
                                      lambda u, x: (backward(u, x, argument),), [x], rng)


@settings(max_examples=100, deadline=None)
@given(lead=st.lists(st.integers(0, 3), min_size=0, max_size=2), channels=st.integers(1, 3),
       r=st.integers(1, 3), size=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       groups=st.integers(1, 3), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_parity_with_torch(lead, channels, r, size, groups, dtype, seed):
    torch = torch_or_skip()
    F = torch.nn.functional
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(tuple(lead) + (channels * r * r,) + size).astype(dtype)
    small = rng.standard_normal(tuple(lead) + (channels, size[0] * r, size[1] * r)).astype(dtype)
    cases = [(npconv.pixel_shuffle, npconv.pixel_shuffle_backward, F.pixel_shuffle, x, r),
             (npconv.pixel_unshuffle, npconv.pixel_unshuffle_backward, F.pixel_unshuffle, small, r)]
    if x.ndim >= 3:
        grouped = rng.standard_normal((2, channels * groups) + size).astype(dtype)
        cases.append((npconv.channel_shuffle, npconv.channel_shuffle_backward,
                      F.channel_shuffle, grouped, groups))
    for forward, backward, torch_forward, array, argument in cases:
        if not array.size:
            continue  # torch's pixel_unshuffle keeps an empty input's shape (reference test: ours)
        tx = torch.tensor(array, requires_grad=True)
        ty = torch_forward(tx, argument)
        y = forward(array, argument)
        np.testing.assert_array_equal(y, ty.detach().numpy())
        gy = rng.standard_normal(y.shape).astype(dtype)
        ty.backward(torch.tensor(gy))
        np.testing.assert_array_equal(backward(gy, array, argument), tx.grad.numpy())


X = np.zeros((1, 8, 2, 3))

ERRORS = [
    (lambda: npconv.pixel_shuffle(np.zeros((8, 2)), 2), ValueError,
     r"pixel_shuffle\(\): `input` must have at least 3 dimensions, \(\*, C, H, W\) or "
     r"\(N, C, \*spatial\); got 2 with shape \(8, 2\)"),
    (lambda: npconv.pixel_shuffle(X[:, :6], 2), ValueError,
     r"`input` must have a channel count \(dimension -3\) divisible by upscale_factor\*\*2 = 4, got 6"),
    (lambda: npconv.pixel_shuffle(X, 0), ValueError, r"`upscale_factor` must be positive, got 0"),
    (lambda: npconv.pixel_shuffle(X, 2.0), TypeError, r"`upscale_factor` must be an int, got float"),
    (lambda: npconv.pixel_unshuffle(X, 2), ValueError,
     r"pixel_unshuffle\(\): `input` must have a width \(dimension -1\) divisible by "
     r"downscale_factor = 2, got 3"),
    (lambda: npconv.channel_shuffle(X, 3), ValueError,
     r"channel_shuffle\(\): `input` must have a channel count \(dimension 1\) divisible by "
     r"groups = 3, got 8"),
    (lambda: npconv.channel_shuffle(X, -1), ValueError, r"`groups` must be positive, got -1"),
    (lambda: npconv.channel_shuffle(X.astype(int), 2), TypeError, r"must be a float32 or float64"),
    (lambda: npconv.pixel_shuffle_backward(np.zeros((1, 2, 4, 5)), X, 2), ValueError,
     r"pixel_shuffle_backward\(\): `grad_output` must have shape \(1, 2, 4, 6\), got \(1, 2, 4, 5\)"),
    (lambda: npconv.channel_shuffle_backward(np.zeros((1, 8, 2)), X, 2), ValueError,
     r"channel_shuffle_backward\(\): `grad_output` must have shape \(1, 8, 2, 3\)"),
]


@pytest.mark.parametrize("call,exception,message", ERRORS, ids=[c[2][:60] for c in ERRORS])
def test_error_messages(call, exception, message):
    with pytest.raises(exception, match=message):
        call()
