"""conv_transpose1d/2d/3d against the loop reference, and as the adjoint of convolution."""

import itertools

import numpy as np
import pytest

import npconv
import reference
from hypothesis import given, strategies as st

from helpers import (ALGORITHMS, DTYPES, as_tuple, assert_close, check_convolution_gradients,
                     functions, noncontiguous, pad_pairs, torch_or_skip, using)
from strategies import transpose_configs

CASES = [
    # ndim, spatial, (C_in, C_out, groups), kernel, stride, padding, output_padding, dilation
    (1, (5,), (2, 3, 1), 3, 2, 1, 1, 1),
    (1, (4,), (4, 4, 4), 2, 3, ((0, 2),), 2, 1),
    (1, (6,), (3, 3, 1), 1, 1, 0, 0, 1),
    (2, (3, 4), (2, 3, 1), 1, 1, 0, (1, 0), (2, 1)),  # 1x1 whose output_padding adds unread cells
    (2, (4, 5), (4, 6, 2), 3, 2, 1, 1, 1),
    (2, (3, 3), (2, 2, 1), (2, 3), (3, 1), ((1, 0), (2, 1)), (2, 0), (1, 2)),
    (2, (4, 4), (2, 4, 1), 3, 1, 0, 2, 3),    # output_padding >= stride, allowed as < dilation
    (2, (5, 4), (6, 3, 3), 3, 2, 2, 0, 2),
    (2, (2, 2), (2, 2, 2), 4, 4, 0, 3, 1),    # stride == kernel: upsampling without overlap
    (3, (3, 2, 3), (2, 4, 2), (2, 2, 3), (2, 1, 2), 1, (1, 0, 0), 1),
    (3, (2, 3, 2), (3, 2, 1), 2, 1, 0, 0, (1, 2, 1)),
]


@pytest.mark.parametrize("ndim,spatial,grouping,kernel,stride,padding,output_padding,dilation", CASES)
def test_against_reference(ndim, spatial, grouping, kernel, stride, padding, output_padding,
                           dilation):
    rng = np.random.default_rng(0)
    in_channels, out_channels, groups = grouping
    kernel, stride, dilation, output_padding = (
        as_tuple(v, ndim) for v in (kernel, stride, dilation, output_padding))
    pads = pad_pairs(padding, kernel, dilation)
    x = rng.standard_normal((2, in_channels) + spatial)
    w = rng.standard_normal((in_channels, out_channels // groups) + kernel)
    b = rng.standard_normal(out_channels)
    y_ref = reference.conv_transpose(x, w, b, stride, pads, output_padding, dilation, groups)
    gy = rng.standard_normal(y_ref.shape)
    gx_ref, gw_ref, gb_ref = reference.conv_transpose_backward(gy, x, w, stride, pads, dilation,
                                                               groups)
    forward, backward = functions("conv_transpose", ndim)
    args = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups,
                dilation=dilation)
    for algorithm, dtype, layout in itertools.product(ALGORITHMS, DTYPES, (np.asarray, noncontiguous)):
        xs, ws, gys = (layout(a.astype(dtype)) for a in (x, w, gy))
        what = f"{algorithm} {np.dtype(dtype)} {layout.__name__}"
        with using(algorithm):
            assert_close(forward(xs, ws, b.astype(dtype), **args), y_ref, dtype, f"forward {what}")
            gx, gw, gb = backward(gys, xs, ws, b.astype(dtype), **args)
        assert_close(gx, gx_ref, dtype, f"grad_input {what}")
        assert_close(gw, gw_ref, dtype, f"grad_weight {what}")
        assert_close(gb, gb_ref, dtype, f"grad_bias {what}")


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_is_the_input_gradient_of_convolution(ndim):
    """conv_transpose(g, w) == conv_input(x.shape, w, g): the transposed conv is conv's adjoint."""
    rng = np.random.default_rng(1)
    spatial = (9, 8, 7)[:ndim]
    x_shape = (2, 4) + spatial
    w = rng.standard_normal((6, 2) + (3,) * ndim)
    y = npconv.__dict__[f"conv{ndim}d"](np.zeros(x_shape), w, stride=2, padding=1, groups=2)
    g = rng.standard_normal(y.shape)
    # The stride-2 forward size floors away a cell of the even sizes; output_padding restores it.
    output_padding = tuple(n - ((m - 1) * 2 - 2 + 2 + 1) for n, m in zip(spatial, y.shape[2:]))
    transposed = npconv.__dict__[f"conv_transpose{ndim}d"](g, w, stride=2, padding=1, groups=2,
                                                          output_padding=output_padding)
    gx = npconv.__dict__[f"conv{ndim}d_input"](x_shape, w, g, stride=2, padding=1, groups=2)
    assert_close(transposed, gx, np.float64)


def test_inner_product_adjointness():
    """<conv(x, w), y> == <x, conv_transpose(y, w)> for random x and y."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 10, 9))
    w = rng.standard_normal((6, 2, 3, 2))
    args = dict(stride=(2, 3), padding=((1, 2), (0, 1)), dilation=(1, 2), groups=2)
    y = rng.standard_normal(npconv.conv2d(x, w, **args).shape)
    output_padding = (0, 1)  # recovers the 9 columns lost to the floor of the forward size
    lhs = np.vdot(npconv.conv2d(x, w, **args), y)
    rhs = np.vdot(x, npconv.conv_transpose2d(y, w, output_padding=output_padding, **args))
    assert np.isclose(lhs, rhs, rtol=1e-12)


def test_unbatched():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4))
    w = rng.standard_normal((2, 3, 2, 2))
    y = npconv.conv_transpose2d(x, w, stride=2)
    assert y.shape == (3, 6, 8)
    assert_close(y, npconv.conv_transpose2d(x[None], w, stride=2)[0], np.float64)
    gx, gw, gb = npconv.conv_transpose2d_backward(np.ones_like(y), x, w, stride=2)
    assert gx.shape == x.shape and gw.shape == w.shape and gb is None


# --- finite differences, parity with torch, error messages ----------------------------

TRANSPOSE_CASES = [
    (1, (5,), dict(stride=3, padding=1, output_padding=2, groups=1, dilation=1)),
    (2, (4, 3), dict(stride=2, padding=((0, 1), (1, 1)), output_padding=(1, 0), groups=2, dilation=1)),
    (3, (3, 2, 3), dict(stride=1, padding=0, output_padding=(1, 0, 0), groups=1, dilation=2)),
]


@pytest.mark.parametrize("ndim,spatial,args", TRANSPOSE_CASES)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_finite_differences(ndim, spatial, args, algorithm):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4) + spatial)
    w = rng.standard_normal((4, 6 // args["groups"]) + (2,) * ndim)
    check_convolution_gradients(f"conv_transpose{ndim}d", x, w, rng.standard_normal(6), args,
                                algorithm, rng)


@given(transpose_configs(), st.integers(0, 2**32 - 1))
def test_parity_with_torch(cfg, seed):
    torch = torch_or_skip()
    F = torch.nn.functional
    rng = np.random.default_rng(seed)
    ndim, dtype = cfg["ndim"], cfg["dtype"]
    x = rng.standard_normal((cfg["batch"], cfg["c_in"]) + cfg["spatial"]).astype(dtype)
    w = rng.standard_normal((cfg["c_in"], cfg["c_out"] // cfg["groups"]) + cfg["kernel"]).astype(dtype)
    b = rng.standard_normal(cfg["c_out"]).astype(dtype) if cfg["bias"] else None
    args = dict(stride=cfg["stride"], dilation=cfg["dilation"], groups=cfg["groups"],
                output_padding=cfg["output_padding"])

    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    # torch takes symmetric padding only: crop (lo, hi) from the unpadded output instead.
    full = getattr(F, f"conv_transpose{ndim}d")(tx, tw, tb, **args)
    crop = tuple(slice(lo, full.shape[2 + i] - hi) for i, (lo, hi) in enumerate(cfg["pairs"]))
    ty = full[(slice(None), slice(None)) + crop]
    gy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.torch.tensor(gy, requires_grad=True))

    name = f"conv_transpose{ndim}d"
    with using(cfg["algorithm"]):
        y = getattr(npconv, name)(x, w, b, padding=cfg["padding"], **args)
        gx, gw, gb = getattr(npconv, f"{name}_backward")(gy, x, w, b, padding=cfg["padding"], **args)
    assert_close(y, ty.detach().numpy(), dtype, "forward")
    assert_close(gx, tx.grad.numpy(), dtype, "grad_input")
    assert_close(gw, tw.grad.numpy(), dtype, "grad_weight")
    if b is not None:
        assert_close(gb, tb.grad.numpy(), dtype, "grad_bias")


X = np.zeros((1, 4, 5, 5), np.float32)
WT = np.zeros((4, 2, 3, 3), np.float32)  # C_in=4, C_out=2*groups

ERRORS = [
    (lambda: npconv.conv_transpose2d(X, WT, stride=2, output_padding=2), ValueError,
     r"`output_padding` must be smaller than either stride or dilation in every dimension, "
     r"got output_padding=\(2, 2\), stride=\(2, 2\), dilation=\(1, 1\)"),
    (lambda: npconv.conv_transpose2d(X, WT, output_padding=-1), ValueError, r"`output_padding` must be >= 0"),
    (lambda: npconv.conv_transpose2d(X, np.zeros((3, 2, 3, 3), np.float32)), ValueError,
     r"conv_transpose2d\(\): `input` must have 3 channels \(weight.shape\[0\]\), got 4"),
    (lambda: npconv.conv_transpose2d(X, WT, groups=3), ValueError, r"`weight.shape\[0\]` \(input channels\) \(4\) must be divisible by groups \(3\)"),
    (lambda: npconv.conv_transpose2d(X, WT, padding="same"), TypeError,
     r"`padding` must be an int or a tuple of ints, got string 'same'"),
    (lambda: npconv.conv_transpose2d(np.zeros((1, 4, 1, 1), np.float32), WT, padding=2), ValueError,
     r"the output size \(-1, -1\) is not positive"),
    (lambda: npconv.conv_transpose2d(X, WT, np.zeros(3, np.float32)), ValueError,
     r"`bias` must have shape \(2,\), got \(3,\)"),
    (lambda: npconv.conv_transpose2d_backward(np.zeros((1, 2, 5, 5), np.float32), X, WT), ValueError,
     r"`grad_output` must have shape \(1, 2, 7, 7\), got \(1, 2, 5, 5\)"),
]


@pytest.mark.parametrize("call,exception,message", ERRORS, ids=[c[2][:60] for c in ERRORS])
def test_error_messages(call, exception, message):
    with pytest.raises(exception, match=message):
        call()


def test_the_backward_pass_builds_the_columns_of_grad_output_once(monkeypatch):
    """Both gradients of a transposed convolution read the windows of grad_output: the weight
    gradient reuses the columns the input gradient built (where they fit the workspace), with
    bitwise the same result."""
    from npconv.engine import im2col

    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 16, 7, 7)).astype(np.float32)
    w = rng.standard_normal((16, 4, 4, 4)).astype(np.float32)  # 4 channels: columns in forward
    gy = rng.standard_normal((4, 4, 14, 14)).astype(np.float32)
    args = dict(stride=2, padding=1)
    expected = npconv.conv2d(gy, w, **args), npconv.conv2d_weight(gy, w.shape, x, **args)
    gathered = []
    gather = im2col._InputColumns.gather
    monkeypatch.setattr(im2col._InputColumns, "gather",
                        lambda self, xs, cols: gathered.append(len(xs)) or gather(self, xs, cols))
    for workspace, copies in ((npconv.get_workspace(), 4), (1 << 16, 8)):
        gathered.clear()
        with npconv.workspace(workspace), npconv.conv_algorithm("im2col"):
            grad_input, grad_weight, _ = npconv.conv_transpose2d_backward(gy, x, w, **args)
        assert sum(gathered) == copies  # samples whose windows were copied
        np.testing.assert_allclose(grad_input, expected[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(grad_weight, expected[1], rtol=1e-5, atol=1e-4)
