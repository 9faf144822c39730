"""fractional_max_pool2d/3d: the loop reference, finite differences, torch parity and the errors."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import npconv
import reference
from helpers import DTYPES, check_directional_derivatives, torch_or_skip


def spatial_order(samples, ndim):
    """npconv's (and the reference's) spatial order from torch's: 2-D samples are (width, height)."""
    return samples[..., ::-1] if ndim == 2 else samples


@pytest.mark.parametrize("spatial,kernel,out", [((9, 11), (2, 2), (4, 5)), ((7, 7), (3, 2), (5, 6)),
                                                ((5, 6, 7), (2, 1, 3), (3, 4, 2)),
                                                ((6, 6), (1, 1), (1, 6))])
@pytest.mark.parametrize("dtype", DTYPES)
def test_against_reference(spatial, kernel, out, dtype):
    ndim = len(spatial)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3) + spatial).astype(dtype)
    x[0, 0].flat[::7] = np.nan
    samples = rng.random((2, 3, ndim)).astype(dtype)
    expected, expected_indices = reference.fractional_max_pool(x, kernel, out,
                                                               spatial_order(samples, ndim))
    pool = getattr(npconv, f"fractional_max_pool{ndim}d")
    values, indices = pool(x, kernel, out, return_indices=True, _random_samples=samples)
    np.testing.assert_array_equal(values, expected)
    np.testing.assert_array_equal(indices, expected_indices)
    gy = rng.standard_normal(values.shape).astype(dtype)
    expected_grad = np.zeros(x.shape)
    for index in np.ndindex(values.shape):
        n, c = index[:2]
        expected_grad[(n, c) + np.unravel_index(expected_indices[index], spatial)] += gy[index]
    backward = getattr(npconv, f"fractional_max_pool{ndim}d_backward")
    for known in (dict(indices=indices), dict(_random_samples=samples)):
        np.testing.assert_allclose(backward(gy, x, kernel, out, **known), expected_grad,
                                   rtol=1e-6, atol=1e-6)


def test_output_ratio_unbatched_and_rng():
    x = np.random.default_rng(1).standard_normal((3, 10, 9))
    first = npconv.fractional_max_pool2d(x, 2, output_ratio=(0.5, 0.7), rng=np.random.default_rng(5))
    again = npconv.fractional_max_pool2d(x, 2, output_ratio=(0.5, 0.7), rng=np.random.default_rng(5))
    assert first.shape == (3, 5, 6)
    np.testing.assert_array_equal(first, again)


def test_finite_differences():
    rng = np.random.default_rng(2)
    x = rng.permutation(2 * 2 * 9 * 8).reshape(2, 2, 9, 8) / 7.0   # distinct values: no ties
    samples = rng.random((2, 2, 2))
    check_directional_derivatives(
        lambda x: npconv.fractional_max_pool2d(x, 2, (4, 5), _random_samples=samples),
        lambda u, x: (npconv.fractional_max_pool2d_backward(u, x, 2, (4, 5),
                                                            _random_samples=samples),),
        [x], rng, h=1e-7)


@settings(max_examples=60, deadline=None)
@given(ndim=st.integers(2, 3), data=st.data(), dtype=st.sampled_from(DTYPES),
       nans=st.booleans(), seed=st.integers(0, 2**16))
def test_parity_with_torch(ndim, data, dtype, nans, seed):
    torch = torch_or_skip()
    kernel = tuple(data.draw(st.integers(1, 3)) for _ in range(ndim))
    out = tuple(data.draw(st.integers(1, 6)) for _ in range(ndim))
    # torch's 3-D kernel refuses out + k - 1 == n (its 2-D kernel and npconv accept it)
    spatial = tuple(o + k - 1 + data.draw(st.integers(ndim - 2, 8)) for o, k in zip(out, kernel))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3) + spatial).astype(dtype)
    if nans:
        x[rng.random(x.shape) < 0.1] = np.nan
    samples = rng.random((2, 3, ndim)).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    ty, ti = getattr(torch.nn.functional, f"fractional_max_pool{ndim}d")(
        tx, kernel, output_size=out, return_indices=True, _random_samples=torch.tensor(samples))
    gy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(gy))
    y, indices = getattr(npconv, f"fractional_max_pool{ndim}d")(
        x, kernel, out, return_indices=True, _random_samples=samples)
    np.testing.assert_array_equal(indices, ti.numpy())
    np.testing.assert_array_equal(y, ty.detach().numpy())
    gx = getattr(npconv, f"fractional_max_pool{ndim}d_backward")(gy, x, kernel, out,
                                                                 indices=indices)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-6, atol=1e-6)


X = np.zeros((1, 2, 9, 9))

ERRORS = [
    (lambda: npconv.fractional_max_pool2d(X, 2), ValueError,
     r"fractional_max_pool2d\(\): give either `output_size` or `output_ratio`"),
    (lambda: npconv.fractional_max_pool2d(X, 2, 4, 0.5), ValueError,
     r"give `output_size` or `output_ratio`, not both"),
    (lambda: npconv.fractional_max_pool2d(X, 2, output_ratio=1.5), ValueError,
     r"`output_ratio` must be a number or a tuple of 2 numbers in \(0, 1\), got 1.5"),
    (lambda: npconv.fractional_max_pool2d(X, 5, output_size=6), ValueError,
     r"dimension 0: 6 windows of 5 cells need at least 10 input cells, got 9"),
    (lambda: npconv.fractional_max_pool2d(X, 2, 4, _random_samples=np.zeros((1, 2, 3))), ValueError,
     r"`_random_samples` must have shape \(1, 2, 2\), got \(1, 2, 3\)"),
    (lambda: npconv.fractional_max_pool2d(X, 2, 4, _random_samples=np.ones((1, 2, 2))), ValueError,
     r"`_random_samples` must lie in \[0, 1\)"),
    (lambda: npconv.fractional_max_pool2d(X, 2, 4, rng=3), TypeError,
     r"`rng` must be a numpy.random.Generator, got 3"),
    (lambda: npconv.fractional_max_pool2d_backward(np.zeros((1, 2, 4, 4)), X, 2, 4), ValueError,
     r"give the `indices` of the forward pass or its `_random_samples`"),
    (lambda: npconv.fractional_max_pool3d(X, 2, 4), ValueError,
     r"fractional_max_pool3d\(\): dimension 0: 4 windows of 2 cells need at least 5 input cells, got 2"),
]


@pytest.mark.parametrize("call,exception,message", ERRORS, ids=[c[2][:60] for c in ERRORS])
def test_error_messages(call, exception, message):
    with pytest.raises(exception, match=message):
        call()
