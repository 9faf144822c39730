"""Infinities and NaNs land where torch puts them, in every algorithm.

Torch multiplies padding cells like any others (an infinite weight tap over
padding gives NaN, as does an infinite output gradient over padding in the
weight gradient) and never touches the cells no window reads.
"""

import warnings

import numpy as np
import pytest

import npconv
from helpers import ALGORITHMS, using

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed; non-finite parity needs it (pip install torch==2.13.0)")
F = torch.nn.functional


def spoil(rng, array, count):
    """A copy of ``array`` with ``count`` cells set to inf, -inf or NaN, corners favoured."""
    array = array.copy()
    flat = array.reshape(-1)
    for _ in range(count):
        where = rng.choice([0, flat.size - 1, int(rng.integers(flat.size))])
        flat[where] = rng.choice([np.inf, -np.inf, np.nan])
    return array


def random_config(rng):
    ndim = int(rng.integers(1, 4))
    groups = int(rng.integers(1, 3))
    kernel = tuple(int(k) for k in rng.integers(1, 4, ndim))
    stride = tuple(int(s) for s in rng.integers(1, 4, ndim))
    dilation = tuple(int(d) for d in rng.integers(1, 3, ndim))
    padding = tuple(int(p) for p in rng.integers(0, 3, ndim))
    spatial = tuple(d * (k - 1) + 1 + int(rng.integers(0, 4)) for k, d in zip(kernel, dilation))
    c_in = groups * int(rng.integers(1, 3))
    c_out = groups * int(rng.integers(1, 3))
    return dict(ndim=ndim, groups=groups, kernel=kernel, stride=stride, dilation=dilation,
                padding=padding, spatial=spatial, c_in=c_in, c_out=c_out)


def same_values(actual, expected, what):
    assert actual.shape == expected.shape, what
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=what)
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10, equal_nan=True,
                               err_msg=what)


@pytest.mark.parametrize("algorithm", ("auto",) + ALGORITHMS)
@pytest.mark.parametrize("seed", range(16))
@pytest.mark.parametrize("prefix", ["conv", "conv_transpose"])
def test_convolution_infinities_and_nans_follow_torch(algorithm, seed, prefix):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        c = random_config(rng)
        arguments = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"],
                         groups=c["groups"])
        x = rng.standard_normal((2, c["c_in"]) + c["spatial"])
        w = rng.standard_normal((c["c_out"], c["c_in"] // c["groups"]) + c["kernel"])
        if prefix == "conv_transpose":
            w = rng.standard_normal((c["c_in"], c["c_out"] // c["groups"]) + c["kernel"])
            arguments["padding"] = tuple(min(p, (k - 1) * d) for p, k, d in
                                         zip(c["padding"], c["kernel"], c["dilation"]))
        spoiled = rng.integers(3)  # which of x, w, grad_output holds the non-finite cells
        if spoiled == 0:
            x = spoil(rng, x, 2)
        elif spoiled == 1:
            w = spoil(rng, w, 2)
        name = f"{prefix}{c['ndim']}d"
        conv, conv_backward = getattr(npconv, name), getattr(npconv, f"{name}_backward")
        xt = torch.tensor(x, requires_grad=True)
        wt = torch.tensor(w, requires_grad=True)
        yt = getattr(F, name)(xt, wt, **arguments)
        gy = rng.standard_normal(tuple(yt.shape))
        if spoiled == 2:
            gy = spoil(rng, gy, 2)
        yt.backward(torch.tensor(gy))
        with using(algorithm), warnings.catch_warnings():
            warnings.simplefilter("error")  # deliberate NaNs raise no RuntimeWarning
            y = conv(x, w, **arguments)
            gx, gw, _ = conv_backward(gy, x, w, **arguments)
        what = f"{c}, spoiled {'x w gy'.split()[spoiled]}"
        same_values(y, yt.detach().numpy(), f"forward {what}")
        same_values(gx, xt.grad.numpy(), f"grad_input {what}")
        same_values(gw, wt.grad.numpy(), f"grad_weight {what}")


@pytest.mark.parametrize("algorithm", ("auto",) + ALGORITHMS)
def test_a_nan_weight_with_one_input_channel_per_group(algorithm):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 5, 5))
    w = rng.standard_normal((2, 1, 3, 3))
    w[0, 0, 1, 1] = np.nan
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    yt = F.conv_transpose2d(xt, wt, groups=2)
    gy = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(gy))
    with using(algorithm):
        y = npconv.conv_transpose2d(x, w, groups=2)
        gx, gw, _ = npconv.conv_transpose2d_backward(gy, x, w, groups=2)
    same_values(y, yt.detach().numpy(), "forward")
    same_values(gx, xt.grad.numpy(), "grad_input")
    same_values(gw, wt.grad.numpy(), "grad_weight")


@pytest.mark.parametrize("algorithm", ("auto",) + ALGORITHMS)
def test_an_infinite_weight_tap_that_reads_only_padding_gives_nan(algorithm):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, 3, 3))
    w[0, 0, 0, 0] = np.inf  # with padding 2 and stride 3, this tap reads padding only for o = 0
    with using(algorithm):
        y = npconv.conv2d(x, w, padding=2, stride=3)
    expected = F.conv2d(torch.tensor(x), torch.tensor(w), padding=2, stride=3).numpy()
    same_values(y, expected, "forward")
    assert np.isnan(y[0, 0, 0, 0])


def test_auto_with_the_transform_keeps_a_nan_where_torch_does():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 1, 64, 64)).astype(np.float32)
    w = rng.standard_normal((1, 1, 15, 15)).astype(np.float32)
    x[0, 0, 10, 10] = np.nan
    gy = rng.standard_normal((2, 1, 64, 64)).astype(np.float32)
    gy[1, 0, 0, 0] = np.inf
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    yt = F.conv2d(xt, wt, padding=7)
    yt.backward(torch.tensor(gy))
    y = npconv.conv2d(x, w, padding=7)
    gx, gw, _ = npconv.conv2d_backward(gy, x, w, padding=7)
    for got, expected in [(y, yt.detach()), (gx, xt.grad), (gw, wt.grad)]:
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected.numpy()))
        np.testing.assert_allclose(got, expected.numpy(), rtol=1e-4, atol=1e-3, equal_nan=True)


POOLING = {
    "avg": lambda rng, ndim, k, p: dict(kernel_size=k, padding=p, ceil_mode=bool(rng.integers(2)),
                                        count_include_pad=bool(rng.integers(2))),
    "max": lambda rng, ndim, k, p: dict(kernel_size=k, padding=p, ceil_mode=bool(rng.integers(2))),
    "adaptive_avg": lambda rng, ndim, k, p: dict(output_size=tuple(int(v) for v in rng.integers(1, 6, ndim))),
    "adaptive_max": lambda rng, ndim, k, p: dict(output_size=tuple(int(v) for v in rng.integers(1, 6, ndim))),
}


@pytest.mark.parametrize("kind", list(POOLING))
@pytest.mark.parametrize("seed", range(5))
def test_pooling_infinities_and_nans_follow_torch_without_warnings(kind, seed):
    rng = np.random.default_rng([seed, len(kind)])
    for _ in range(20):
        ndim = int(rng.integers(1, 4))
        x = spoil(rng, rng.standard_normal((2, 2) + tuple(int(n) for n in rng.integers(4, 9, ndim))), 3)
        kernel = tuple(int(v) for v in rng.integers(1, 4, ndim))
        arguments = POOLING[kind](rng, ndim, kernel, tuple(int(rng.integers(0, v // 2 + 1)) for v in kernel))
        name = f"{kind}_pool{ndim}d"
        xt = torch.tensor(x, requires_grad=True)
        yt = getattr(F, name)(xt, **arguments)
        gy = spoil(rng, rng.standard_normal(tuple(yt.shape)), 1) if "avg" in kind else \
            rng.standard_normal(tuple(yt.shape))
        yt.backward(torch.tensor(gy))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y = getattr(npconv, name)(x, **arguments)
            gx = getattr(npconv, f"{name}_backward")(gy, x, **arguments)
        same_values(y, yt.detach().numpy(), f"{name} {arguments}")
        same_values(gx, xt.grad.numpy(), f"{name} backward {arguments}")


def test_unfold_and_fold_of_infinities_give_no_warnings():
    x = np.array([[[[np.inf, -np.inf], [1.0, np.nan]]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cols = npconv.unfold(x, 2, padding=1)
        folded = npconv.fold(cols, (2, 2), 2, padding=1)
    expected = F.fold(F.unfold(torch.tensor(x), 2, padding=1), (2, 2), 2, padding=1).numpy()
    same_values(folded, expected, "fold of unfold")
