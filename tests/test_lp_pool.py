"""lp_pool1d/2d/3d: the loop reference, finite differences, torch parity and the errors."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import npconv
import reference
from helpers import DTYPES, as_tuple, assert_close, check_directional_derivatives, torch_or_skip

CASES = [
    # spatial, p, kernel, stride, ceil_mode
    ((9,), 2.0, 3, None, False),
    ((10,), 3, 3, 2, True),                   # a window cut short, scaled as torch
    ((6, 7), 2, (2, 3), (2, 2), False),
    ((7, 7), 1.5, 3, 2, True),
    ((4, 5, 6), 2, 2, (1, 2, 3), True),
]


@pytest.mark.parametrize("spatial,p,kernel,stride,ceil_mode", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_against_reference(spatial, p, kernel, stride, ceil_mode, dtype):
    ndim = len(spatial)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 2.0, (2, 3) + spatial)
    k = as_tuple(kernel, ndim)
    s = k if stride is None else as_tuple(stride, ndim)
    expected, links = reference.lp_pool(x, p, k, s, ceil_mode)
    gy = rng.standard_normal(expected.shape)
    expected_grad = np.zeros_like(x)
    for out, terms in links.items():
        for cell, derivative in terms:
            expected_grad[out[:2] + cell] += gy[out] * derivative
    forward = getattr(npconv, f"lp_pool{ndim}d")
    backward = getattr(npconv, f"lp_pool{ndim}d_backward")
    arguments = dict(stride=stride, ceil_mode=ceil_mode)
    assert_close(forward(x.astype(dtype), p, kernel, **arguments), expected, dtype, "forward")
    assert_close(backward(gy.astype(dtype), x.astype(dtype), p, kernel, **arguments),
                 expected_grad, dtype, "backward")
    # unbatched in, unbatched out
    assert forward(x[0].astype(dtype), p, kernel, **arguments).shape == expected.shape[1:]


def test_finite_differences():
    rng = np.random.default_rng(1)
    x = rng.uniform(0.2, 2.0, (2, 2, 7, 6))
    for p in (1, 2, 3.5):
        check_directional_derivatives(
            lambda x: npconv.lp_pool2d(x, p, 3, 2, ceil_mode=True),
            lambda u, x: (npconv.lp_pool2d_backward(u, x, p, 3, 2, ceil_mode=True),), [x], rng)


@settings(max_examples=60, deadline=None)
@given(ndim=st.integers(1, 3), p=st.sampled_from([1, 2, 3, 1.5, 4.0]), data=st.data(),
       dtype=st.sampled_from(DTYPES), ceil_mode=st.booleans(), positive=st.booleans(),
       seed=st.integers(0, 2**16))
def test_parity_with_torch(ndim, p, data, dtype, ceil_mode, positive, seed):
    torch = torch_or_skip()
    kernel = tuple(data.draw(st.integers(1, 3)) for _ in range(ndim))
    stride = tuple(data.draw(st.integers(1, 3)) for _ in range(ndim))
    spatial = tuple(k + data.draw(st.integers(0, 4)) for k in kernel)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.1, 2.0, (2, 2) + spatial) if positive else rng.standard_normal((2, 2) + spatial)
    x = x.astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    ty = getattr(torch.nn.functional, f"lp_pool{ndim}d")(
        tx, p, kernel if ndim > 1 else kernel[0], stride if ndim > 1 else stride[0], ceil_mode)
    gy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(gy))
    y = getattr(npconv, f"lp_pool{ndim}d")(x, p, kernel, stride, ceil_mode)
    gx = getattr(npconv, f"lp_pool{ndim}d_backward")(gy, x, p, kernel, stride, ceil_mode)
    tolerance = 1e-5 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=tolerance, atol=tolerance,
                               equal_nan=True)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=tolerance, atol=tolerance,
                               equal_nan=True)


ERRORS = [
    (lambda: npconv.lp_pool2d(np.ones((1, 1, 4, 4)), "2", 2), TypeError,
     r"lp_pool2d\(\): `norm_type` must be a real number, got '2'"),
    (lambda: npconv.lp_pool2d(np.ones((1, 1, 4, 4)), 2, 0), ValueError,
     r"lp_pool2d\(\): `kernel_size` must be positive, got 0"),
    (lambda: npconv.lp_pool1d(np.ones((1, 1, 2)), 2, 3), ValueError,
     r"the kernel is larger than the padded input"),
    (lambda: npconv.lp_pool3d(np.ones((1, 4, 4)), 2, 2), ValueError,
     r"lp_pool3d\(\): `input` must have 4 or 5 dimensions"),
    (lambda: npconv.lp_pool1d_backward(np.ones((1, 1, 3)), np.ones((1, 1, 4)), 2, 2), ValueError,
     r"lp_pool1d_backward\(\): `grad_output` must have shape \(1, 1, 2\), got \(1, 1, 3\)"),
]


@pytest.mark.parametrize("call,exception,message", ERRORS, ids=[c[2][:60] for c in ERRORS])
def test_error_messages(call, exception, message):
    with pytest.raises(exception, match=message):
        call()
