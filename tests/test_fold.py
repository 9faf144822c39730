"""unfold/fold (im2col/col2im) against the loop reference, adjointness, and the round trip."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import npconv
import reference
from helpers import (DTYPES, as_tuple, assert_close, check_directional_derivatives, noncontiguous,
                     pad_pairs, torch_or_skip)

CASES = [
    # spatial, kernel, dilation, padding, stride
    ((5, 5), 3, 1, 1, 1),
    ((6, 7), (2, 3), (2, 1), (1, 0), (2, 3)),
    ((4, 4), 1, 1, 0, 2),
    ((5, 6), 2, 1, ((0, 1), (2, 0)), 3),
    ((7,), (3,), (2,), (1,), (2,)),                 # 1-D, beyond torch
    ((4, 5, 3), (2, 2, 2), 1, (1, 0, 1), (1, 2, 1)),  # 3-D, beyond torch
]


@pytest.mark.parametrize("spatial,kernel,dilation,padding,stride", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_against_reference(spatial, kernel, dilation, padding, stride, dtype):
    rng = np.random.default_rng(0)
    ndim = len(spatial)
    k, d, s = (as_tuple(v, ndim) for v in (kernel, dilation, stride))
    pads = pad_pairs(padding, k, d)
    x = rng.standard_normal((2, 3) + spatial)
    cols_ref = reference.unfold(x, k, s, d, pads)
    c = rng.standard_normal(cols_ref.shape)
    x_ref = reference.fold(c, spatial, k, s, d, pads)
    args = dict(kernel_size=kernel, dilation=dilation, padding=padding, stride=stride)
    for layout in (np.asarray, noncontiguous):
        cols = npconv.unfold(layout(x.astype(dtype)), **args)
        assert_close(cols, cols_ref, dtype, "unfold")
        folded = npconv.fold(layout(c.astype(dtype)), spatial, **args)
        assert_close(folded, x_ref, dtype, "fold")
        assert_close(npconv.unfold_backward(layout(c.astype(dtype)), x.astype(dtype), **args),
                     x_ref, dtype, "unfold_backward")
        assert_close(npconv.fold_backward(layout(x.astype(dtype)), c.astype(dtype), spatial, **args),
                     cols_ref, dtype, "fold_backward")


@pytest.mark.parametrize("spatial,kernel,dilation,padding,stride", CASES)
def test_fold_is_the_adjoint_of_unfold(spatial, kernel, dilation, padding, stride):
    """<unfold(x), c> == <x, fold(c)> for random x and c."""
    rng = np.random.default_rng(1)
    args = dict(kernel_size=kernel, dilation=dilation, padding=padding, stride=stride)
    x = rng.standard_normal((2, 3) + spatial)
    cols = npconv.unfold(x, **args)
    c = rng.standard_normal(cols.shape)
    assert np.isclose(np.vdot(cols, c), np.vdot(x, npconv.fold(c, spatial, **args)), rtol=1e-12)


def test_unfold_layout_matches_torch_documentation():
    """Rows run over (channel, kernel row, kernel column); columns over output positions in C order."""
    x = np.arange(2 * 3 * 4, dtype=np.float64).reshape(1, 2, 3, 4)
    cols = npconv.unfold(x, (2, 2))
    assert cols.shape == (1, 8, 6)
    np.testing.assert_array_equal(cols[0, :, 0], [0, 1, 4, 5, 12, 13, 16, 17])
    np.testing.assert_array_equal(cols[0, 0], [0, 1, 2, 4, 5, 6])


def test_unbatched_forms():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 5))  # 3-D with an int kernel: unbatched 2-D, as torch
    cols = npconv.unfold(x, 3)
    assert cols.shape == (18, 9)
    assert_close(cols, npconv.unfold(x[None], 3)[0], np.float64)
    back = npconv.fold(cols, 5, 3)
    assert back.shape == (2, 5, 5)
    assert_close(npconv.unfold_backward(cols, x, 3), back, np.float64)
    assert_close(npconv.fold_backward(x, cols, 5, 3), cols, np.float64)


def test_dtype_is_kept():
    x = np.ones((1, 1, 4, 4), np.float32)
    cols = npconv.unfold(x, 2)
    assert cols.dtype == np.float32
    assert npconv.fold(cols, (4, 4), 2).dtype == np.float32


# --- finite differences, parity with torch, error messages ----------------------------

@pytest.mark.parametrize("args", [dict(kernel_size=3, padding=1),
                                  dict(kernel_size=(2, 3), stride=(2, 1), dilation=(1, 2)),
                                  dict(kernel_size=(2, 2, 2), padding=((1, 0), 0, 1))])
def test_finite_differences(args):
    rng = np.random.default_rng(2)
    spatial = (6, 7, 5)[:len(args["kernel_size"]) if isinstance(args["kernel_size"], tuple) else 2]
    x = rng.standard_normal((2, 3) + spatial)
    check_directional_derivatives(lambda x: npconv.unfold(x, **args),
                                  lambda u, x: [npconv.unfold_backward(u, x, **args)], [x], rng)
    cols = npconv.unfold(x, **args)
    check_directional_derivatives(lambda c: npconv.fold(c, spatial, **args),
                                  lambda u, c: [npconv.fold_backward(u, c, spatial, **args)],
                                  [rng.standard_normal(cols.shape)], rng)


@given(kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       extra=st.tuples(st.integers(0, 4), st.integers(0, 4)),
       batch=st.integers(0, 2), channels=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_parity_with_torch(kernel, dilation, padding, stride, extra, batch, channels, seed):
    torch = torch_or_skip()
    F = torch.nn.functional
    rng = np.random.default_rng(seed)
    spatial = tuple(max(1, d * (k - 1) + 1 - 2 * p) + e
                    for k, d, p, e in zip(kernel, dilation, padding, extra))
    args = dict(kernel_size=kernel, dilation=dilation, padding=padding, stride=stride)
    x = rng.standard_normal((batch, channels) + spatial)
    tx = torch.tensor(x, requires_grad=True)
    tcols = F.unfold(tx, **args)
    gcols = rng.standard_normal(tuple(tcols.shape))
    tcols.backward(torch.torch.tensor(gcols, requires_grad=True))
    cols = npconv.unfold(x, **args)
    assert_close(cols, tcols.detach().numpy(), np.float64, "unfold")
    assert_close(npconv.unfold_backward(gcols, x, **args), tx.grad.numpy(), np.float64, "unfold_backward")

    tc = torch.tensor(gcols, requires_grad=True)
    tfolded = F.fold(tc, spatial, **args)
    gfold = rng.standard_normal(tuple(tfolded.shape))
    tfolded.backward(torch.torch.tensor(gfold, requires_grad=True))
    assert_close(npconv.fold(gcols, spatial, **args), tfolded.detach().numpy(), np.float64, "fold")
    assert_close(npconv.fold_backward(gfold, gcols, spatial, **args), tc.grad.numpy(), np.float64,
                 "fold_backward")


ERRORS = [
    (lambda: npconv.fold(np.zeros((1, 18, 10)), (5, 5), 3), ValueError,
     r"fold\(\): `input` dimension 2 \(10\) must equal the number of sliding blocks, 3 \* 3 = 9"),
    (lambda: npconv.fold(np.zeros((1, 17, 9)), (5, 5), 3), ValueError,
     r"`input` dimension 1 \(17\) must be divisible by prod\(kernel_size\) = 9"),
    (lambda: npconv.fold(np.zeros((1, 18, 9)), (5, 5, 5), (3, 3)), ValueError,
     r"`kernel_size` must be an int or a tuple of 3 ints"),
    (lambda: npconv.unfold(np.zeros((1, 1, 5, 5, 5)), 3), ValueError,
     r"unfold\(\): `input` must have 3 or 4 dimensions.*a tuple kernel_size sets another number"),
    (lambda: npconv.unfold(np.zeros((1, 1, 5, 5)), 0), ValueError, r"`kernel_size` must be positive"),
    (lambda: npconv.unfold(np.zeros((1, 1, 2, 2)), 3), ValueError, r"kernel is larger than the padded input"),
    (lambda: npconv.unfold(np.zeros((1, 1, 5, 5)), 3, padding="same"), TypeError,
     r"`padding` must be an int or a tuple of ints, got string 'same'"),
    (lambda: npconv.unfold_backward(np.zeros((1, 9, 8)), np.zeros((1, 1, 5, 5)), 3), ValueError,
     r"unfold_backward\(\): `grad_output` must have shape \(1, 9, 9\), got \(1, 9, 8\)"),
    (lambda: npconv.fold_backward(np.zeros((1, 1, 4, 5)), np.zeros((1, 9, 9)), (5, 5), 3), ValueError,
     r"fold_backward\(\): `grad_output` must have shape \(1, 1, 5, 5\), got \(1, 1, 4, 5\)"),
]


@pytest.mark.parametrize("call,exception,message", ERRORS, ids=[c[2][:60] for c in ERRORS])
def test_error_messages(call, exception, message):
    with pytest.raises(exception, match=message):
        call()
