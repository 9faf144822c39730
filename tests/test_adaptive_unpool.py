"""Adaptive pooling and max unpooling against the loop reference, finite differences and PyTorch."""

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import npconv
import reference
from helpers import DTYPES, assert_close, check_directional_derivatives, noncontiguous
from test_pool import tied_input

ADAPTIVE_CASES = [
    # spatial, output_size, expected output shape
    ((7,), 3, (3,)),                  # overlapping windows of unequal length
    ((8,), 4, (4,)),                  # equal tiles: the reshape path
    ((3,), 5, (5,)),                  # more outputs than inputs: windows repeat cells
    ((6, 7), (4, 3), (4, 3)),
    ((5, 9), (None, 2), (5, 2)),      # None keeps the input size
    ((6, 6), 1, (1, 1)),              # global pooling
    ((4, 6, 8), (2, 3, 4), (2, 3, 4)),  # tiles in every dimension: one reduction
    ((4, 5, 3), (3, 2, 3), (3, 2, 3)),
]


def _functions(kind, ndim):
    name = f"adaptive_{kind}_pool{ndim}d"
    return getattr(npconv, name), getattr(npconv, f"{name}_backward")


@pytest.mark.parametrize("spatial,output_size,out_shape", ADAPTIVE_CASES)
def test_adaptive_avg_pool_against_reference(spatial, output_size, out_shape):
    rng = np.random.default_rng(4)
    forward, backward = _functions("avg", len(spatial))
    x = rng.standard_normal((2, 3) + spatial)
    y_ref = reference.adaptive_avg_pool(x, out_shape)
    gy = rng.standard_normal(y_ref.shape)
    gx_ref = reference.adaptive_avg_pool_backward(gy, x.shape)
    for dtype, layout in itertools.product(DTYPES, (np.asarray, noncontiguous)):
        xs, gys = layout(x.astype(dtype)), layout(gy.astype(dtype))
        assert_close(forward(xs, output_size), y_ref, dtype, "forward")
        assert_close(backward(gys, xs, output_size), gx_ref, dtype, "backward")


@pytest.mark.parametrize("spatial,output_size,out_shape", ADAPTIVE_CASES)
@pytest.mark.parametrize("with_nan", [False, True])
def test_adaptive_max_pool_against_reference(spatial, output_size, out_shape, with_nan):
    rng = np.random.default_rng(5)
    forward, backward = _functions("max", len(spatial))
    x = tied_input(rng, (2, 3) + spatial, with_nan)
    values_ref, indices_ref = reference.adaptive_max_pool(x, out_shape)
    gy = rng.standard_normal(values_ref.shape)
    gx_ref = reference.max_pool_backward(gy, x.shape, indices_ref)
    for dtype, layout in itertools.product(DTYPES, (np.asarray, noncontiguous)):
        xs, gys = layout(x.astype(dtype)), layout(gy.astype(dtype))
        values, indices = forward(xs, output_size, return_indices=True)
        assert values.dtype == dtype and indices.dtype == np.int64
        np.testing.assert_array_equal(values, values_ref.astype(dtype))
        np.testing.assert_array_equal(indices, indices_ref)
        np.testing.assert_array_equal(forward(xs, output_size), values)
        assert_close(backward(gys, xs, output_size), gx_ref, dtype, "recomputed maxima")
        assert_close(backward(gys, xs, output_size, indices=indices), gx_ref, dtype,
                     "given indices")


def test_nan_stays_in_its_window():
    x = np.arange(6.0).reshape(1, 1, 6)
    x[0, 0, 0] = np.nan
    np.testing.assert_array_equal(npconv.adaptive_avg_pool1d(x, 3)[0, 0], [np.nan, 2.5, 4.5])
    gy = np.array([[[np.nan, 1.0, 1.0]]])
    np.testing.assert_array_equal(npconv.adaptive_avg_pool1d_backward(gy, x, 3)[0, 0],
                                  [np.nan, np.nan, 0.5, 0.5, 0.5, 0.5])


def test_zero_output_size_gives_an_empty_output_and_a_zero_gradient():
    x = np.ones((2, 3, 4, 5), np.float32)
    assert npconv.adaptive_avg_pool2d(x, (0, 2)).shape == (2, 3, 0, 2)
    assert npconv.adaptive_max_pool2d(x, 0).shape == (2, 3, 0, 0)
    gx = npconv.adaptive_max_pool2d_backward(np.ones((2, 3, 0, 0), np.float32), x, 0)
    assert gx.shape == x.shape and gx.dtype == np.float32 and not gx.any()


def test_only_the_batch_may_be_empty_and_the_channels_for_adaptive_average_as_torch():
    assert npconv.max_pool2d(np.ones((0, 3, 4, 4)), 2).shape == (0, 3, 2, 2)
    assert npconv.adaptive_max_pool2d(np.ones((0, 3, 4, 4)), 2).shape == (0, 3, 2, 2)
    assert npconv.adaptive_avg_pool2d(np.ones((2, 0, 4, 4)), 2).shape == (2, 0, 2, 2)
    with pytest.raises(ValueError, match="non-batch dimension"):
        npconv.avg_pool2d(np.ones((2, 0, 4, 4)), 2)
    with pytest.raises(ValueError, match="spatial dimension"):
        npconv.adaptive_avg_pool2d(np.ones((2, 0, 0, 4)), 2)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_adaptive_finite_differences(ndim):
    rng = np.random.default_rng(6)
    shape = (2, 2) + (7, 5, 4)[:ndim]
    out = (3, 4, 3)[:ndim]
    x = rng.permutation(np.prod(shape)).reshape(shape) / 7.0  # distinct values: no ties
    for kind in ("avg", "max"):
        forward, backward = _functions(kind, ndim)
        check_directional_derivatives(lambda x: forward(x, out),
                                      lambda u, x: [backward(u, x, out)], [x], rng, h=1e-4)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_max_unpool_against_reference(ndim):
    rng = np.random.default_rng(7)
    spatial = (9, 7, 5)[:ndim]
    x = rng.standard_normal((2, 3) + spatial)
    values, indices = getattr(npconv, f"max_pool{ndim}d")(x, 3, stride=2, padding=1,
                                                          return_indices=True)
    unpool = getattr(npconv, f"max_unpool{ndim}d")
    backward = getattr(npconv, f"max_unpool{ndim}d_backward")
    args = dict(kernel_size=3, stride=2, padding=1, output_size=spatial)
    y_ref = reference.max_unpool(values, indices, spatial)
    gy = rng.standard_normal(y_ref.shape)
    gx_ref = np.take_along_axis(gy.reshape(2, 3, -1), indices.reshape(2, 3, -1), -1)
    for dtype, layout in itertools.product(DTYPES, (np.asarray, noncontiguous)):
        vs, gys = layout(values.astype(dtype)), layout(gy.astype(dtype))
        y = unpool(vs, indices, **args)
        assert y.dtype == dtype
        np.testing.assert_array_equal(y, y_ref.astype(dtype))
        np.testing.assert_array_equal(backward(gys, vs, indices, **args),
                                      gx_ref.reshape(values.shape).astype(dtype))
    # Unpooling then pooling gives back the maxima, which is what unpool is for.
    np.testing.assert_array_equal(
        getattr(npconv, f"max_pool{ndim}d")(unpool(values, indices, **args) + (x.min() - 1) *
                                            (unpool(np.ones_like(values), indices, **args) == 0),
                                            3, stride=2, padding=1),
        values)


def test_max_unpool_default_size_and_duplicates():
    values = np.array([[[1.0, 2.0, 3.0]]])
    y = npconv.max_unpool1d(values, np.array([[[0, 0, 1]]]), 2)
    np.testing.assert_array_equal(y, [[[2.0, 3.0, 0.0, 0.0, 0.0, 0.0]]])  # the last duplicate stays
    assert npconv.max_unpool2d(np.zeros((3, 2, 3)), np.zeros((3, 2, 3), np.int64), 2,
                               stride=1, padding=1).shape == (3, 1, 2)
    assert npconv.max_unpool2d(np.zeros((1, 3, 2, 3)), np.zeros((1, 3, 2, 3), np.int64), 2,
                               output_size=(1, 3, 5, 7)).shape == (1, 3, 5, 7)


ERRORS = [
    (lambda: npconv.adaptive_avg_pool2d(np.zeros((1, 1, 4, 4)), -1), ValueError,
     r"adaptive_avg_pool2d\(\): `output_size` must be >= 0, got -1"),
    (lambda: npconv.adaptive_max_pool2d(np.zeros((1, 1, 4, 4)), (2,)), ValueError,
     r"`output_size` must be an int or a tuple of 2 ints or None, got 1 values \(2,\)"),
    (lambda: npconv.adaptive_avg_pool2d(np.zeros((1, 1, 0, 4)), 2), ValueError,
     r"`input` must have a non-zero size in every spatial dimension, got shape \(1, 1, 0, 4\)"),
    (lambda: npconv.adaptive_max_pool2d(np.zeros((1, 0, 4, 4)), 2), ValueError,
     r"`input` must have a non-zero size in every non-batch dimension, got shape \(1, 0, 4, 4\)"),
    (lambda: npconv.max_unpool2d(np.zeros((0, 2, 2)), np.zeros((0, 2, 2), np.int64), 2),
     ValueError, r"`input` must have a non-zero size in every non-batch dimension"),
    (lambda: npconv.adaptive_avg_pool2d(np.zeros((1, 1, 4, 4)), 1.5), TypeError,
     r"`output_size` must be an int, got float 1.5"),
    (lambda: npconv.adaptive_max_pool1d(np.zeros((4, 4, 4, 4)), 2), ValueError,
     r"`input` must have 2 or 3 dimensions"),
    (lambda: npconv.adaptive_max_pool2d_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 4, 4)), 2,
                                                 indices=np.full((1, 1, 2, 2), 16)), ValueError,
     r"`indices` must lie in \[0, 16\) for a plane of shape \(4, 4\), got 16"),
    (lambda: npconv.max_unpool2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 1), np.int64), 2),
     ValueError, r"`indices` must have shape \(1, 1, 2, 2\), got \(1, 1, 2, 1\)"),
    (lambda: npconv.max_unpool2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2)), 2),
     TypeError, r"`indices` must be an integer array"),
    (lambda: npconv.max_unpool2d(np.zeros((1, 1, 2, 2)), np.full((1, 1, 2, 2), -1), 2),
     ValueError, r"`indices` must lie in \[0, 16\) for a plane of shape \(4, 4\), got -1"),
    (lambda: npconv.max_unpool2d(np.zeros((1, 1, 2, 3)), np.zeros((1, 1, 2, 3), np.int64), 2,
                                 output_size=(2, 4)), ValueError,
     r"max_unpool2d\(\): `output_size` \(2, 4\): dimension 0 must lie strictly between 2 and 6, got 2"),
    (lambda: npconv.max_unpool2d(np.zeros((1, 1, 2, 3)), np.zeros((1, 1, 2, 3), np.int64), 2,
                                 output_size=(4,)), ValueError,
     r"`output_size` must be a tuple of 2 \(or 4\) ints"),
    (lambda: npconv.max_unpool1d_backward(np.zeros((1, 1, 3)), np.zeros((1, 1, 2)),
                                          np.zeros((1, 1, 2), np.int64), 2), ValueError,
     r"`grad_output` must have shape \(1, 1, 4\), got \(1, 1, 3\)"),
]


@pytest.mark.parametrize("call,exception,message", ERRORS, ids=[e[2][:50] for e in ERRORS])
def test_error_message(call, exception, message):
    with pytest.raises(exception, match=message):
        call()


# --- parity with PyTorch ------------------------------------------------------------

@st.composite
def adaptive_configs(draw):
    ndim = draw(st.integers(1, 3))
    spatial = tuple(draw(st.integers(1, 9)) for _ in range(ndim))
    output = tuple(draw(st.one_of(st.integers(1, 10), st.none())) if ndim > 1
                   else draw(st.integers(1, 10)) for _ in range(ndim))
    return ndim, spatial, output


@given(adaptive_configs(), st.booleans(), st.integers(0, 2**32 - 1))
def test_adaptive_parity_with_torch(cfg, with_nan, seed):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity tests need it")
    ndim, spatial, output = cfg
    rng = np.random.default_rng(seed)
    dtype = np.float32 if seed % 2 else np.float64
    x = tied_input(rng, (2, 2) + spatial, with_nan).astype(dtype)
    torch_output = output if ndim > 1 else output[0]
    for kind in ("avg", "max"):
        forward, backward = _functions(kind, ndim)
        tx = torch.tensor(x, requires_grad=True)
        torch_forward = getattr(torch.nn.functional, f"adaptive_{kind}_pool{ndim}d")
        if kind == "max":
            ty, tindices = torch_forward(tx, torch_output, return_indices=True)
            values, indices = forward(x, output, return_indices=True)
            np.testing.assert_array_equal(values, ty.detach().numpy())
            np.testing.assert_array_equal(indices, tindices.numpy())
        else:
            ty = torch_forward(tx, torch_output)
            assert_close(forward(x, output), ty.detach().numpy().astype(np.float64), dtype)
        gy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
        (tgx,) = torch.autograd.grad(ty, tx, torch.tensor(gy))
        assert_close(backward(gy, x, output), tgx.numpy().astype(np.float64), dtype)


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.booleans(),
       st.integers(0, 2**32 - 1))
def test_max_unpool_parity_with_torch(ndim, kernel, stride, pooled_size, seed):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity tests need it")
    rng = np.random.default_rng(seed)
    padding = kernel // 2 if seed % 3 == 0 else 0
    spatial = tuple(int(v) for v in rng.integers(kernel, kernel + 6, ndim))
    x = torch.tensor(rng.standard_normal((2, 2) + spatial))
    values, indices = getattr(torch.nn.functional, f"max_pool{ndim}d")(
        x, kernel, stride, padding, return_indices=True)
    # The pooled input's size always lies in the allowed range; the default size
    # (which may be smaller) must hold every index.
    output_size = spatial if pooled_size else None
    default = [(n - 1) * stride - 2 * padding + kernel for n in values.shape[2:]]
    assume(pooled_size or int(indices.max()) < int(np.prod(default)))
    args = dict(kernel_size=kernel, stride=stride, padding=padding, output_size=output_size)
    tv = values.clone().requires_grad_(True)
    ty = getattr(torch.nn.functional, f"max_unpool{ndim}d")(tv, indices, **args)
    y = getattr(npconv, f"max_unpool{ndim}d")(values.numpy(), indices.numpy(), **args)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    gy = rng.standard_normal(tuple(ty.shape))
    (tgx,) = torch.autograd.grad(ty, tv, torch.tensor(gy))
    gx = getattr(npconv, f"max_unpool{ndim}d_backward")(gy, values.numpy(), indices.numpy(), **args)
    np.testing.assert_array_equal(gx, tgx.numpy())
