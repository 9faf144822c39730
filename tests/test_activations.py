"""Activations and softmax: the loop reference, finite differences, torch parity (NaN, infinities,
kinks), and the errors."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import npconv
import reference
from helpers import DTYPES, check_directional_derivatives, noncontiguous, torch_or_skip

NAMES = sorted(reference.ACTIVATIONS)
# kinks and branch points of the activations, and ordinary values
GRID = np.array([-40.0, -8.0, -3.5, -3.0, -2.0, -1.0, -0.3, 0.0, 0.2, 0.5, 1.0, 3.0, 4.0, 6.0,
                 7.5, 25.0])


def close(got, expected, dtype, scale, what):
    """Within a few units of the dtype's roundoff, relative to the value or to ``scale``."""
    eps = np.finfo(dtype).eps
    with np.errstate(invalid="ignore"):
        error = np.abs(got.astype(np.float64) - expected)
    bound = 16 * eps * np.fmax(np.abs(expected), scale)
    both_nan = np.isnan(got) & np.isnan(expected)
    same_inf = np.isinf(expected) & (got == expected)
    ok = both_nan | same_inf | (error <= bound)
    assert ok.all(), f"{what}: {got[~ok][:5]} != {expected[~ok][:5]} at {np.flatnonzero(~ok)[:5]}"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_against_reference(name, dtype):
    kwargs = reference.ACTIVATIONS[name][0]
    rng = np.random.default_rng(0)
    x = np.concatenate([GRID, rng.standard_normal(48) * 3]).reshape(4, 16).astype(dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    y_ref, gx_ref = reference.activation(name, x, gy, **kwargs)
    forward, backward = getattr(npconv, name), getattr(npconv, f"{name}_backward")
    for layout in (np.asarray, noncontiguous):
        before = layout(x).copy()
        y = forward(layout(x), **kwargs)
        gx = backward(layout(gy), layout(x), **kwargs)
        assert y.dtype == gx.dtype == dtype and y.shape == gx.shape == x.shape
        scale = np.fmax(1.0, np.abs(x.astype(np.float64)))
        close(y, y_ref, dtype, scale, f"{name} forward")
        close(gx, gx_ref, dtype, scale * np.abs(gy), f"{name} backward")
        np.testing.assert_array_equal(layout(x), before)


@pytest.mark.parametrize("name", NAMES + ["gelu-tanh"])
def test_finite_differences(name):
    rng = np.random.default_rng(1)
    base, _, variant = name.partition("-")
    kwargs = dict(reference.ACTIVATIONS[base][0], **({"approximate": "tanh"} if variant else {}))
    x = rng.standard_normal((3, 5)) * 2
    x[np.abs(x) < 0.05] += 0.3                     # keep away from the kinks at 0, -3, 3, 6 ...
    for kink in (-3.0, 3.0, 6.0, -2.0, 0.5, 5.0):
        x[np.abs(x - kink) < 0.05] += 0.2
    check_directional_derivatives(lambda x: getattr(npconv, base)(x, **kwargs),
                                  lambda u, x: (getattr(npconv, f"{base}_backward")(u, x, **kwargs),),
                                  [x], rng)


def test_large_inputs_run_in_blocks_and_match_small_ones():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 3, 50, 50)).astype(np.float32)   # several blocks, on the pool
    gy = rng.standard_normal(x.shape).astype(np.float32)
    for name in ("gelu", "mish", "hardswish"):
        forward, backward = getattr(npconv, name), getattr(npconv, f"{name}_backward")
        whole, grads = forward(x), backward(gy, x)
        np.testing.assert_array_equal(whole[5, 1], forward(x[5, 1]))
        np.testing.assert_array_equal(grads[-1], backward(gy[-1], x[-1]))
        np.testing.assert_array_equal(forward(x[:, :, ::2]), whole[:, :, ::2])  # strided blocks


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_keeps_negative_zero_and_passes_any_gradient(dtype):
    """relu(-0.) is -0. and relu(-x) is +0., as torch, on NumPy's vectorised and scalar loops
    (every length to 70, contiguous, strided and offset); the derivative passes ``inf`` and
    NaN gradients bit for bit where ``x > 0`` or NaN and gives +0. elsewhere."""
    for length in range(1, 71):
        zeros = np.full(2 * length + 1, -0.0, dtype)
        for x in (zeros[:length], zeros[::2][:length], zeros[1:length + 1]):
            assert np.signbit(npconv.relu(x)).all()
            assert not np.signbit(npconv.relu(x - 1)).any() and not npconv.relu(x - 1).any()
    x = np.array([-2.0, -0.0, 0.0, 1e-30, 3.0, np.nan, np.inf, -np.inf] * 5, dtype)
    g = np.array([np.inf, -np.inf, np.nan, -np.inf, np.nan, np.inf, -0.0, 5.0] * 5, dtype)
    expected = np.where(x <= 0, dtype(0), g)  # np.where: +0. where blocked, else g's bits
    got = npconv.relu_backward(g, x)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.view(f"i{got.itemsize}"),
                                  expected.view(f"i{got.itemsize}"))
    for value, gradient in ((-0.0, 0.0), (-2.0, 0.0), (3.0, 5.0), (np.nan, 5.0)):  # 0-d arrays
        zero_d = np.array(value, dtype)
        assert npconv.relu(zero_d).shape == () and npconv.relu_backward(np.array(5.0, dtype),
                                                                         zero_d) == gradient
    assert np.signbit(npconv.relu(np.array(-0.0, dtype)))
    assert npconv.relu_backward(np.ones((0, 3), dtype), np.ones((0, 3), dtype)).shape == (0, 3)


def test_relu_streams_large_arrays_in_blocks_on_the_pool():
    from npconv.ops import pointwise
    rng = np.random.default_rng(3)
    cells = 3 * (2 * pointwise.STREAM_BLOCK_CELLS // 3 + 1001)  # three blocks
    x, g = rng.standard_normal((2, cells)).astype(np.float32)
    x[::7] = -0.0
    y, gx = npconv.relu(x), npconv.relu_backward(g, x)
    np.testing.assert_array_equal(y.view(np.int32), np.where(x < 0, 0, x).view(np.int32))
    np.testing.assert_array_equal(gx.view(np.int32), np.where(x <= 0, 0, g).view(np.int32))
    strided = x.reshape(3, -1)[:, ::3]  # blocks of rows, not flat
    np.testing.assert_array_equal(npconv.relu(strided), y.reshape(3, -1)[:, ::3])


def test_erf_to_float64_accuracy():
    from npconv.ops.activations import erf
    x = np.concatenate([np.linspace(-7, 7, 20001), [0.0, -0.0, np.inf, -np.inf, 1e-300, 30.0]])
    expected = np.array([math.erf(v) for v in x])
    ulps = np.abs(erf(x) - expected) / np.spacing(np.maximum(np.abs(expected), 1e-300))
    assert ulps.max() <= 16, (ulps.max(), x[ulps.argmax()])
    assert np.isnan(erf(np.array([np.nan]))[0])


# --- torch parity: random arrays with the special values in torch's vectorised positions ----
# (torch's CPU kernels run blocks of 32 float32 or 16 float64 cells vectorised and the rest
# scalar, and the two disagree on some NaN gradients: npconv follows the vectorised kernel)

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 3.0, -3.0, 6.0, 0.5, -2.0, 10.0, 25.0, -25.0]

TORCH_CASES = [(name, reference.ACTIVATIONS[name][0]) for name in NAMES] + [
    ("gelu", {"approximate": "tanh"}), ("leaky_relu", {}), ("elu", {}), ("celu", {}),
    ("hardtanh", {}), ("softplus", {})]


def torch_function(torch, name):
    return getattr(torch, name) if name in ("sigmoid", "tanh") else getattr(torch.nn.functional, name)


@settings(max_examples=40, deadline=None)
@given(case=st.sampled_from(TORCH_CASES), dtype=st.sampled_from(DTYPES),
       size=st.integers(32, 300), scale=st.sampled_from([0.1, 3.0, 30.0]), seed=st.integers(0, 2**16))
def test_parity_with_torch(case, dtype, size, scale, seed):
    torch = torch_or_skip()
    name, kwargs = case
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(size) * scale).astype(dtype)
    x[:len(SPECIAL)] = SPECIAL[:size]
    if name == "gelu" and dtype == np.float32:
        x[np.isposinf(x)] = 1.0   # torch's float32 gelu gives NaN at +inf, npconv +inf (documented)
    gy = rng.standard_normal(size).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch_function(torch, name)(tx, **kwargs)
    ty.backward(torch.tensor(gy))
    y = getattr(npconv, name)(x, **kwargs)
    gx = getattr(npconv, f"{name}_backward")(gy, x, **kwargs)
    # torch computes float32 in float32: its own rounding is the tolerance
    magnitude = np.fmax(1.0, np.abs(x.astype(np.float64)))
    close(y, ty.detach().numpy().astype(np.float64), dtype, 64 * magnitude, f"{name} forward")
    # torch's float64 gradients of celu and hardsigmoid use single-precision constants (1/alpha,
    # 1/6): npconv's are exact, and agree to float32's roundoff
    backward_dtype = np.float32 if name in ("celu", "hardsigmoid") else dtype
    close(gx, tx.grad.numpy().astype(np.float64), backward_dtype, 64 * magnitude * np.abs(gy),
          f"{name} backward")
    zeros = (y == 0) & (ty.detach().numpy() == 0)
    np.testing.assert_array_equal(np.signbit(y[zeros]), np.signbit(ty.detach().numpy()[zeros]))


# --- softmax and log_softmax --------------------------------------------------------

@pytest.mark.parametrize("shape,dim", [((4, 7), 1), ((3, 4, 5), 0), ((2, 3, 4, 5), -1), ((6,), 0),
                                       ((2, 3, 4), -2)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_against_reference(shape, dim, dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    expected = reference.softmax(x, dim)
    expected_grad = reference.softmax_backward(gy, x, dim)
    tolerance = 8 * np.finfo(dtype).eps
    y = npconv.softmax(x, dim)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, expected, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(npconv.log_softmax(x, dim), np.log(expected), rtol=tolerance,
                               atol=tolerance * np.abs(np.log(expected)).max())
    np.testing.assert_allclose(npconv.softmax_backward(gy, x, dim), expected_grad,
                               atol=tolerance * 4)
    # log_softmax's gradient: g - softmax * sum(g)
    np.testing.assert_allclose(npconv.log_softmax_backward(gy, x, dim),
                               gy - expected * gy.sum(axis=dim, keepdims=True), atol=tolerance * 16)
    check = np.random.default_rng(4)
    for function in ("softmax", "log_softmax"):
        check_directional_derivatives(
            lambda x: getattr(npconv, function)(x, dim),
            lambda u, x: (getattr(npconv, f"{function}_backward")(u, x, dim),),
            [x.astype(np.float64)], check)


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), data=st.data(),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_softmax_parity_with_torch(shape, data, dtype, seed):
    torch = torch_or_skip()
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    if data.draw(st.booleans()):
        x.flat[rng.integers(x.size)] = data.draw(st.sampled_from([np.inf, -np.inf, np.nan]))
    gy = rng.standard_normal(shape).astype(dtype)
    tolerance = 16 * np.finfo(dtype).eps
    for name in ("softmax", "log_softmax"):
        tx = torch.tensor(x, requires_grad=True)
        ty = getattr(torch.nn.functional, name)(tx, dim)
        ty.backward(torch.tensor(gy))
        y = getattr(npconv, name)(x, dim)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=tolerance, atol=tolerance)
        np.testing.assert_allclose(getattr(npconv, f"{name}_backward")(gy, x, dim),
                                   tx.grad.numpy(), rtol=tolerance * 4, atol=tolerance * 4)


def test_softmax_dtype_and_implicit_dim_as_torch():
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    assert npconv.softmax(x, 1, dtype=np.float64).dtype == np.float64
    with pytest.warns(UserWarning, match=r"softmax\(\): implicit dimension choice \(dim=1\)"):
        y = npconv.softmax(x)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    with pytest.warns(UserWarning, match=r"dim=0"):
        npconv.log_softmax(x[0])


X = np.zeros((2, 3))

ERRORS = [
    (lambda: npconv.relu(X, inplace=True), ValueError,
     r"relu\(\): `inplace=True` is not supported: npconv never modifies its inputs"),
    (lambda: npconv.relu(X.astype(int)), TypeError, r"relu\(\): `input` must be a float32 or float64"),
    (lambda: npconv.gelu(X, approximate="fast"), ValueError,
     r"gelu\(\): `approximate` must be 'none' or 'tanh', got 'fast'"),
    (lambda: npconv.leaky_relu(X, negative_slope="0.1"), TypeError,
     r"leaky_relu\(\): `negative_slope` must be a real number, got '0.1'"),
    (lambda: npconv.celu(X, alpha=0.0), ValueError, r"celu\(\): `alpha` must not be 0"),
    (lambda: npconv.hardtanh(X, 1.0, -1.0), ValueError,
     r"hardtanh\(\): `min_val` must be at most `max_val`, got 1.0 > -1.0"),
    (lambda: npconv.softplus(X, beta=0), ValueError, r"softplus\(\): `beta` must not be 0"),
    (lambda: npconv.softmax(X, 2), ValueError,
     r"softmax\(\): `dim` must lie in \[-2, 1\] for an input of 2 dimensions, got 2"),
    (lambda: npconv.softmax(X, 1, dtype=np.int32), TypeError,
     r"softmax\(\): `dtype` must be float32 or float64"),
    (lambda: npconv.log_softmax(X, 1.0), TypeError, r"log_softmax\(\): `dim` must be an int"),
    (lambda: npconv.relu_backward(np.zeros((3, 2)), X), ValueError,
     r"relu_backward\(\): `grad_output` must have shape \(2, 3\), got \(3, 2\)"),
    (lambda: npconv.softmax_backward(np.zeros(3), X, 1), ValueError,
     r"softmax_backward\(\): `grad_output` must have shape \(2, 3\), got \(3,\)"),
]


@pytest.mark.parametrize("call,exception,message", ERRORS, ids=[c[2][:60] for c in ERRORS])
def test_error_messages(call, exception, message):
    with pytest.raises(exception, match=message):
        call()


# --- prelu: a slope per channel, and its gradient ---------------------------------------

@pytest.mark.parametrize("shape,slopes", [((3, 4, 5), 4), ((3, 4, 5, 2), 1), ((7,), 1), ((2, 3), 3)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_prelu_against_reference_and_torch(shape, slopes, dtype):
    rng = np.random.default_rng(9)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[0] = 0.0
    w = rng.random(slopes).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    channel = (lambda i: i[1] if len(shape) > 1 and slopes > 1 else 0)
    expected = np.empty(shape)
    expected_grad = np.empty(shape)
    expected_w = np.zeros(slopes)
    for i in np.ndindex(shape):
        v, slope = float(x[i]), float(w[channel(i)])
        expected[i] = v if v > 0 else slope * v
        expected_grad[i] = gy[i] if v > 0 else gy[i] * slope
        if v <= 0:
            expected_w[channel(i)] += gy[i] * v
    y = npconv.prelu(x, w)
    gx, gw = npconv.prelu_backward(gy, x, w)
    assert y.dtype == gx.dtype == gw.dtype == dtype
    tolerance = 16 * np.finfo(dtype).eps
    np.testing.assert_allclose(y, expected, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(gx, expected_grad, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(gw, expected_w, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.prelu(tx, tw)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(gw, tw.grad.numpy(), rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_prelu_finite_differences_and_errors():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 4))
    x[np.abs(x) < 0.05] += 0.2
    check_directional_derivatives(npconv.prelu, lambda u, x, w: npconv.prelu_backward(u, x, w),
                                  [x, rng.random(3)], rng)
    with pytest.raises(ValueError, match=r"prelu\(\): `weight` must hold 1 or 3 values"):
        npconv.prelu(x, np.ones(2))
