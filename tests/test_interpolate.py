"""interpolate and its aliases: the per-dimension reference matrices, the adjoint, finite
differences, torch parity and the errors."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import npconv
import reference
from helpers import (check_directional_derivatives, interpolate_torch_differs, noncontiguous,
                     torch_or_skip)

CASES = [
    # spatial, mode, arguments
    ((5,), "nearest", dict(size=8)),
    ((5,), "nearest", dict(scale_factor=1.7)),
    ((6, 5), "nearest-exact", dict(size=(4, 9))),
    ((4, 7, 3), "nearest", dict(scale_factor=(2.0, 0.5, 1.0))),
    ((7,), "linear", dict(size=12)),
    ((7,), "linear", dict(size=3, align_corners=True)),
    ((5, 6), "bilinear", dict(scale_factor=(1.5, 0.6))),
    ((5, 6), "bilinear", dict(size=(3, 3), antialias=True)),
    ((5, 6), "bicubic", dict(size=(9, 4))),
    ((5, 6), "bicubic", dict(size=(9, 4), align_corners=True)),
    ((7, 8), "bicubic", dict(size=(3, 12), antialias=True)),
    ((3, 4, 5), "trilinear", dict(size=(5, 4, 2))),
    ((7, 5), "area", dict(size=(3, 4))),
    ((5, 4, 3), "area", dict(scale_factor=0.5)),
]


def matrices(spatial, mode, arguments):
    size, factor = arguments.get("size"), arguments.get("scale_factor")
    ndim = len(spatial)
    sizes = (size if isinstance(size, tuple) else (size,) * ndim) if size is not None else \
        tuple(math.floor(n * f) for n, f in zip(spatial, factor if isinstance(factor, tuple)
                                                else (factor,) * ndim))
    factors = (None,) * ndim if factor is None else \
        (factor if isinstance(factor, tuple) else (factor,) * ndim)
    return [reference.interpolation_matrix(mode, n, m, arguments.get("align_corners", False), f,
                                           arguments.get("antialias", False))
            for n, m, f in zip(spatial, sizes, factors)]


@pytest.mark.parametrize("spatial,mode,arguments", CASES)
def test_against_reference(spatial, mode, arguments):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3) + spatial)
    expected = reference.interpolate(x, matrices(spatial, mode, arguments))
    gy = rng.standard_normal(expected.shape)
    expected_grad = reference.interpolate(gy, [m.T for m in matrices(spatial, mode, arguments)])
    for layout in (np.asarray, noncontiguous):
        before = layout(x).copy()
        y = npconv.interpolate(layout(x), mode=mode, **arguments)
        np.testing.assert_allclose(y, expected, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(npconv.interpolate_backward(layout(gy), x, mode=mode, **arguments),
                                   expected_grad, rtol=1e-13, atol=1e-13)
        np.testing.assert_array_equal(layout(x), before)
    y32 = npconv.interpolate(x.astype(np.float32), mode=mode, **arguments)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("spatial,mode,arguments", CASES[::2])
def test_finite_differences(spatial, mode, arguments):
    rng = np.random.default_rng(1)
    check_directional_derivatives(
        lambda x: npconv.interpolate(x, mode=mode, **arguments),
        lambda u, x: (npconv.interpolate_backward(u, x, mode=mode, **arguments),),
        [rng.standard_normal((2, 2) + spatial)], rng)


def test_large_inputs_run_in_blocks():
    x = np.random.default_rng(2).standard_normal((8, 16, 40, 40)).astype(np.float32)
    with npconv.workspace(1 << 20):
        small = npconv.interpolate(x, scale_factor=1.5, mode="bicubic")
        grad = npconv.interpolate_backward(small, x, scale_factor=1.5, mode="bicubic")
    np.testing.assert_array_equal(small, npconv.interpolate(x, scale_factor=1.5, mode="bicubic"))
    np.testing.assert_allclose(grad, npconv.interpolate_backward(small, x, scale_factor=1.5,
                                                                 mode="bicubic"), rtol=1e-6)


def test_aliases_as_torch():
    x = np.arange(6.0).reshape(1, 1, 2, 3)
    np.testing.assert_array_equal(npconv.upsample(x, scale_factor=2),
                                  npconv.interpolate(x, scale_factor=2))
    np.testing.assert_array_equal(npconv.upsample_nearest(x, size=(3, 4)),
                                  npconv.interpolate(x, size=(3, 4), mode="nearest"))
    np.testing.assert_array_equal(npconv.upsample_bilinear(x, scale_factor=2),
                                  npconv.interpolate(x, scale_factor=2, mode="bilinear",
                                                     align_corners=True))


MODE_DIMS = {"linear": [1], "bilinear": [2], "bicubic": [2], "trilinear": [3],
             "nearest": [1, 2, 3], "nearest-exact": [1, 2, 3], "area": [1, 2, 3]}


@st.composite
def configs(draw):
    mode = draw(st.sampled_from(sorted(MODE_DIMS)))
    ndim = draw(st.sampled_from(MODE_DIMS[mode]))
    spatial = tuple(draw(st.integers(1, 9)) for _ in range(ndim))
    arguments = {}
    if draw(st.booleans()):
        arguments["size"] = tuple(draw(st.integers(1, 14)) for _ in range(ndim))
    else:
        factors = tuple(draw(st.sampled_from([0.5, 0.7, 1.0, 1.3, 2.0, 2.5, 1 / 3]))
                        for _ in range(ndim))
        if any(math.floor(n * f) < 1 for n, f in zip(spatial, factors)):
            factors = tuple(max(f, 1.0) for f in factors)
        arguments["scale_factor"] = factors
        if draw(st.booleans()):
            arguments["recompute_scale_factor"] = True
    if mode in ("linear", "bilinear", "bicubic", "trilinear"):
        arguments["align_corners"] = draw(st.sampled_from([None, False, True]))
        if mode in ("bilinear", "bicubic") and not arguments["align_corners"]:
            arguments["antialias"] = draw(st.booleans())
    return mode, spatial, arguments


@settings(max_examples=150, deadline=None)
@given(config=configs(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_parity_with_torch(config, dtype, seed):
    torch = torch_or_skip()
    mode, spatial, arguments = config
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 2) + spatial).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ty = torch.nn.functional.interpolate(tx, mode=mode, **arguments)
    y = npconv.interpolate(x, mode=mode, **arguments)
    assert y.shape == tuple(ty.shape) and y.dtype == dtype
    gy = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.tensor(gy))
    tolerance = 2e-5 if dtype == np.float32 else 1e-12
    forward_differs, backward_differs = interpolate_torch_differs(mode, spatial, arguments, y.shape[2:])
    if not forward_differs:
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=tolerance, atol=tolerance)
    if not backward_differs:
        np.testing.assert_allclose(npconv.interpolate_backward(gy, x, mode=mode, **arguments),
                                   tx.grad.numpy(), rtol=tolerance, atol=tolerance * 4)


def test_the_adjoint_holds_where_torch_disagrees_with_itself():
    """<interpolate(x), g> == <x, interpolate_backward(g)> in the configurations torch gets wrong."""
    rng = np.random.default_rng(3)
    for spatial, mode, arguments in [((2, 5, 4), "nearest", dict(scale_factor=(1.3, 0.7, 1.3))),
                                     ((3, 3), "bicubic", dict(scale_factor=1.3)),
                                     ((8, 4), "bilinear", dict(size=(7, 1), antialias=True)),
                                     ((7, 1), "bicubic", dict(size=(14, 1), antialias=True))]:
        x = rng.standard_normal((1, 2) + spatial)
        y = npconv.interpolate(x, mode=mode, **arguments)
        g = rng.standard_normal(y.shape)
        assert np.isclose(np.vdot(y, g),
                          np.vdot(x, npconv.interpolate_backward(g, x, mode=mode, **arguments)))
        expected = reference.interpolate(x, matrices(spatial, mode, arguments))
        np.testing.assert_allclose(y, expected, rtol=1e-13, atol=1e-13)


X = np.zeros((1, 2, 4, 4))

ERRORS = [
    (lambda: npconv.interpolate(X), ValueError,
     r"interpolate\(\): give exactly one of `size` and `scale_factor`"),
    (lambda: npconv.interpolate(X, 2, 2), ValueError, r"give exactly one of `size` and `scale_factor`"),
    (lambda: npconv.interpolate(X, 8, mode="cubic"), ValueError, r"`mode` must be one of 'nearest'"),
    (lambda: npconv.interpolate(X, 8, mode="linear"), ValueError,
     r"mode='linear' needs a 3-D input \(1 spatial dimensions\), got 4-D"),
    (lambda: npconv.interpolate(X, 8, align_corners=True), ValueError,
     r"`align_corners` applies to the interpolating modes"),
    (lambda: npconv.interpolate(X, 8, mode="nearest", antialias=True), ValueError,
     r"`antialias` applies to the modes 'linear', 'bilinear', 'bicubic' and 'trilinear' only"),
    (lambda: npconv.interpolate(X, (8, 8, 8)), ValueError, r"`size` must be an int or a tuple of 2 ints"),
    (lambda: npconv.interpolate(X, scale_factor=-1.0), ValueError,
     r"`scale_factor` must be positive and finite, got -1.0"),
    (lambda: npconv.interpolate(X, scale_factor=0.1), ValueError,
     r"input and output sizes must be positive, got input \(4, 4\) and output \(0, 0\)"),
    (lambda: npconv.interpolate(X, 8, recompute_scale_factor=True), ValueError,
     r"`recompute_scale_factor` is not meaningful with an explicit `size`"),
    (lambda: npconv.interpolate(X[0, 0], 8), ValueError, r"`input` must have 3, 4 or 5 dimensions"),
    (lambda: npconv.interpolate_backward(np.zeros((1, 2, 8, 7)), X, 8), ValueError,
     r"interpolate_backward\(\): `grad_output` must have shape \(1, 2, 8, 8\), got \(1, 2, 8, 7\)"),
]


@pytest.mark.parametrize("call,exception,message", ERRORS, ids=[c[2][:60] for c in ERRORS])
def test_error_messages(call, exception, message):
    with pytest.raises(exception, match=message):
        call()
