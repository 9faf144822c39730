"""Parity with PyTorch on randomised configurations: forward values and every gradient."""

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import npconv
from helpers import ALGORITHMS, assert_close, using

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed; parity tests need it (pip install torch==2.13.0)")
F = torch.nn.functional

DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


@st.composite
def padding_forms(draw, ndim, allow_strings):
    """One of npconv's padding forms, and its (lo, hi) pairs (None for 'same')."""
    kinds = ["int", "tuple", "pairs"] + (["same", "valid"] if allow_strings else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "int":
        p = draw(st.integers(0, 3))
        return p, ((p, p),) * ndim
    if kind == "tuple":
        p = tuple(draw(st.integers(0, 3)) for _ in range(ndim))
        return p, tuple((v, v) for v in p)
    if kind == "pairs":
        p = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(ndim))
        return p, p
    return kind, None if kind == "same" else ((0, 0),) * ndim


def torch_pad(pairs):
    """F.pad's argument: last dimension first."""
    return [v for lo_hi in reversed(pairs) for v in lo_hi]


def tensor(array, grad=True):
    return torch.tensor(array, requires_grad=grad)


@st.composite
def conv_configs(draw):
    ndim = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    same_allowed = draw(st.booleans())
    stride = (1,) * ndim if same_allowed else tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    padding, pairs = draw(padding_forms(ndim, allow_strings=same_allowed))
    lows = [0] * ndim if pairs is None else [lo + hi for lo, hi in pairs]
    spatial = tuple(max(1, d * (k - 1) + 1 - p) + draw(st.integers(0, 5))
                    for k, d, p in zip(kernel, dilation, lows))
    return dict(ndim=ndim, groups=groups, kernel=kernel, dilation=dilation, stride=stride,
                padding=padding, pairs=pairs, spatial=spatial,
                batch=draw(st.integers(0, 3)),
                c_in=groups * draw(st.integers(1, 3)), c_out=groups * draw(st.integers(1, 3)),
                bias=draw(st.booleans()), dtype=draw(st.sampled_from(list(DTYPES))),
                algorithm=draw(st.sampled_from(("auto",) + ALGORITHMS)))


@given(conv_configs(), st.integers(0, 2**32 - 1))
def test_conv(cfg, seed):
    rng = np.random.default_rng(seed)
    ndim, dtype = cfg["ndim"], cfg["dtype"]
    x = rng.standard_normal((cfg["batch"], cfg["c_in"]) + cfg["spatial"]).astype(dtype)
    w = rng.standard_normal((cfg["c_out"], cfg["c_in"] // cfg["groups"]) + cfg["kernel"]).astype(dtype)
    b = rng.standard_normal(cfg["c_out"]).astype(dtype) if cfg["bias"] else None
    args = dict(stride=cfg["stride"], dilation=cfg["dilation"], groups=cfg["groups"])

    tx, tw = tensor(x), tensor(w)
    tb = None if b is None else tensor(b)
    torch_conv = getattr(F, f"conv{ndim}d")
    if isinstance(cfg["padding"], str):
        ty = torch_conv(tx, tw, tb, padding=cfg["padding"], **args)
    else:
        ty = torch_conv(F.pad(tx, torch_pad(cfg["pairs"])), tw, tb, **args)
    gy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(gy))

    name = f"conv{ndim}d"
    with using(cfg["algorithm"]):
        y = getattr(npconv, name)(x, w, b, padding=cfg["padding"], **args)
        gx, gw, gb = getattr(npconv, f"{name}_backward")(gy, x, w, b, padding=cfg["padding"], **args)
        gx_only = getattr(npconv, f"{name}_input")(x.shape, w, gy, padding=cfg["padding"], **args)
        gw_only = getattr(npconv, f"{name}_weight")(x, w.shape, gy, padding=cfg["padding"], **args)
    assert_close(y, ty.detach().numpy(), dtype, "forward")
    assert_close(gx, tx.grad.numpy(), dtype, "grad_input")
    assert_close(gw, tw.grad.numpy(), dtype, "grad_weight")
    assert_close(gx_only, tx.grad.numpy(), dtype, "conv_input")
    assert_close(gw_only, tw.grad.numpy(), dtype, "conv_weight")
    if b is not None:
        assert_close(gb, tb.grad.numpy(), dtype, "grad_bias")


@st.composite
def transpose_configs(draw):
    ndim = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    padding, pairs = draw(padding_forms(ndim, allow_strings=False))
    spatial = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    sizes = [(n - 1) * s - lo - hi + d * (k - 1) + e + 1
             for n, k, s, d, (lo, hi), e in zip(spatial, kernel, stride, dilation, pairs, output_padding)]
    assume(all(size >= 1 for size in sizes))
    return dict(ndim=ndim, groups=groups, kernel=kernel, dilation=dilation, stride=stride,
                output_padding=output_padding, padding=padding, pairs=pairs, spatial=spatial,
                batch=draw(st.integers(0, 3)),
                c_in=groups * draw(st.integers(1, 3)), c_out=groups * draw(st.integers(1, 3)),
                bias=draw(st.booleans()), dtype=draw(st.sampled_from(list(DTYPES))),
                algorithm=draw(st.sampled_from(("auto",) + ALGORITHMS)))


@given(transpose_configs(), st.integers(0, 2**32 - 1))
def test_conv_transpose(cfg, seed):
    rng = np.random.default_rng(seed)
    ndim, dtype = cfg["ndim"], cfg["dtype"]
    x = rng.standard_normal((cfg["batch"], cfg["c_in"]) + cfg["spatial"]).astype(dtype)
    w = rng.standard_normal((cfg["c_in"], cfg["c_out"] // cfg["groups"]) + cfg["kernel"]).astype(dtype)
    b = rng.standard_normal(cfg["c_out"]).astype(dtype) if cfg["bias"] else None
    args = dict(stride=cfg["stride"], dilation=cfg["dilation"], groups=cfg["groups"],
                output_padding=cfg["output_padding"])

    tx, tw = tensor(x), tensor(w)
    tb = None if b is None else tensor(b)
    # torch takes symmetric padding only: crop (lo, hi) from the unpadded output instead.
    full = getattr(F, f"conv_transpose{ndim}d")(tx, tw, tb, **args)
    crop = tuple(slice(lo, full.shape[2 + i] - hi) for i, (lo, hi) in enumerate(cfg["pairs"]))
    ty = full[(slice(None), slice(None)) + crop]
    gy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(gy))

    name = f"conv_transpose{ndim}d"
    with using(cfg["algorithm"]):
        y = getattr(npconv, name)(x, w, b, padding=cfg["padding"], **args)
        gx, gw, gb = getattr(npconv, f"{name}_backward")(gy, x, w, b, padding=cfg["padding"], **args)
    assert_close(y, ty.detach().numpy(), dtype, "forward")
    assert_close(gx, tx.grad.numpy(), dtype, "grad_input")
    assert_close(gw, tw.grad.numpy(), dtype, "grad_weight")
    if b is not None:
        assert_close(gb, tb.grad.numpy(), dtype, "grad_bias")


@given(kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       extra=st.tuples(st.integers(0, 4), st.integers(0, 4)),
       batch=st.integers(0, 2), channels=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_unfold_and_fold(kernel, dilation, padding, stride, extra, batch, channels, seed):
    rng = np.random.default_rng(seed)
    spatial = tuple(max(1, d * (k - 1) + 1 - 2 * p) + e
                    for k, d, p, e in zip(kernel, dilation, padding, extra))
    args = dict(kernel_size=kernel, dilation=dilation, padding=padding, stride=stride)
    x = rng.standard_normal((batch, channels) + spatial)
    tx = tensor(x)
    tcols = F.unfold(tx, **args)
    gcols = rng.standard_normal(tuple(tcols.shape))
    tcols.backward(torch.tensor(gcols))
    cols = npconv.unfold(x, **args)
    assert_close(cols, tcols.detach().numpy(), np.float64, "unfold")
    assert_close(npconv.unfold_backward(gcols, x, **args), tx.grad.numpy(), np.float64, "unfold_backward")

    tc = tensor(gcols)
    tfolded = F.fold(tc, spatial, **args)
    gfold = rng.standard_normal(tuple(tfolded.shape))
    tfolded.backward(torch.tensor(gfold))
    assert_close(npconv.fold(gcols, spatial, **args), tfolded.detach().numpy(), np.float64, "fold")
    assert_close(npconv.fold_backward(gfold, gcols, spatial, **args), tc.grad.numpy(), np.float64,
                 "fold_backward")
