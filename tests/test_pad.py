"""pad / pad_backward: the loop reference, finite differences, torch parity and the errors."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import npconv
import reference
from helpers import DTYPES, assert_close, check_directional_derivatives, noncontiguous, torch_or_skip

MODES = ("constant", "reflect", "replicate", "circular")

CASES = [
    # shape, torch-order pad, mode
    ((2, 3, 5), (2, 1), "reflect"),
    ((2, 3, 4, 5), (1, 2, 3, 0), "reflect"),
    ((2, 3, 4, 5), (4, 2, 3, 3), "replicate"),
    ((1, 2, 3, 4, 5), (1, 2, 0, 2, 2, 1), "circular"),
    ((2, 3, 4, 5), (-1, 2, 3, -2), "constant"),
    ((2, 3, 4, 5), (-2, 3, 2, -3), "reflect"),       # a crop on one side, a pad on the other
    ((2, 3, 4, 5), (-2, 3, 4, -1), "replicate"),
    ((2, 3, 4, 5), (-2, 2, 2, -1), "circular"),      # crop first, then wrap the rest
    ((4, 5), (1, 1, 2, 2), "reflect"),               # every dimension: beyond torch
    ((3,), (2, 2), "circular"),                      # a 1-D input: beyond torch
    ((2, 3), (-3, 0), "constant"),                   # an empty result
    ((2, 1, 4), (6, 0), "replicate"),                # pads much larger than the input
]


@pytest.mark.parametrize("shape,pad,mode", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_against_reference(shape, pad, mode, dtype):
    rng = np.random.default_rng(0)
    pairs = [(0, 0)] * len(shape)
    for index in range(len(pad) // 2):
        pairs[len(shape) - 1 - index] = pad[2 * index:2 * index + 2]
    x = rng.standard_normal(shape)
    expected = reference.pad(x, pairs, mode, value=0.0)
    gy = rng.standard_normal(expected.shape)
    expected_grad = reference.pad_backward(gy, shape, pairs, mode)
    for layout in (np.asarray, noncontiguous):
        xd = layout(x.astype(dtype))
        before = xd.copy()
        assert_close(npconv.pad(xd, pad, mode=mode), expected.astype(dtype), dtype, "pad")
        gyd = layout(gy.astype(dtype)) if gy.size else gy.astype(dtype)
        assert_close(npconv.pad_backward(gyd, xd, pad, mode=mode),
                     expected_grad.astype(dtype), dtype, "pad_backward")
        np.testing.assert_array_equal(xd, before)


def test_constant_value_and_its_dtype():
    x = np.ones((1, 2), np.float32)
    y = npconv.pad(x, (1, 2), value=np.inf)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [[np.inf, 1, 1, np.inf, np.inf]])
    np.testing.assert_array_equal(npconv.pad(x, (1, 0, 1, 0), value=-2.5),
                                  [[-2.5, -2.5, -2.5], [-2.5, 1, 1]])


def test_the_backward_pass_adds_what_each_cell_fed():
    # replicate: the edge cell gets its own gradient and the whole border's
    gy = np.arange(1.0, 8.0).reshape(1, 7)
    np.testing.assert_array_equal(npconv.pad_backward(gy, np.zeros((1, 3)), (3, 1), "replicate"),
                                  [[1 + 2 + 3 + 4, 5, 6 + 7]])
    # reflect: the border cells add onto their mirror images
    np.testing.assert_array_equal(npconv.pad_backward(gy, np.zeros((1, 4)), (2, 1), "reflect"),
                                  [[3, 4 + 2, 5 + 1 + 7, 6]])


@pytest.mark.parametrize("mode", MODES)
def test_finite_differences(mode):
    rng = np.random.default_rng(1)
    pad = (2, -1, 1, 3) if mode != "reflect" else (2, -1, 1, 2)
    check_directional_derivatives(lambda x: npconv.pad(x, pad, mode),
                                  lambda u, x: (npconv.pad_backward(u, x, pad, mode),),
                                  [rng.standard_normal((2, 3, 4, 5))], rng)


@st.composite
def pad_configs(draw):
    mode = draw(st.sampled_from(MODES))
    padded_dims = draw(st.integers(1, 3))
    # torch's non-constant modes: the last 1-3 dimensions of an input with 1 or 2 more
    extra = draw(st.integers(0, 2) if mode == "constant" else st.integers(1, 2))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=padded_dims + extra,
                                max_size=padded_dims + extra)))
    pad = []
    for size in reversed(shape[-padded_dims:]):
        low = draw(st.integers(-size, size + 2))
        high = draw(st.integers(-size, size + 2))
        pad += [low, high]
    return shape, tuple(pad), mode


def _refusal(call):
    try:
        return call(), None
    except (ValueError, RuntimeError, NotImplementedError) as error:
        return None, error


@settings(max_examples=300, deadline=None)
@given(config=pad_configs(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_parity_with_torch(config, dtype, seed):
    torch = torch_or_skip()
    shape, pad, mode = config
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt, torch_error = _refusal(lambda: torch.nn.functional.pad(xt, pad, mode=mode))
    y, error = _refusal(lambda: npconv.pad(x, pad, mode=mode))
    if torch_error is not None:
        # torch's wrap-around reads overlapping memory (an error, or garbage), and its reflect
        # and replicate modes refuse empty results: npconv refuses the first, allows the second
        return
    if error is not None:
        assert mode == "circular" and "wraps around more than once" in str(error)
        return
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, yt.detach().numpy())
    if y.size == 0:
        return  # torch's gradient of an empty result is uninitialised memory
    gy = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.tensor(gy))
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(npconv.pad_backward(gy, x, pad, mode=mode), xt.grad.numpy(),
                               rtol=tolerance, atol=tolerance)


ERRORS = [
    (lambda: npconv.pad(np.zeros((2, 3)), (1, 1, 1)), ValueError,
     r"pad\(\): `pad` must have an even length \(a low and a high pad per dimension, last "
     r"dimension first\), got 3 values"),
    (lambda: npconv.pad(np.zeros((2, 3)), (1,) * 6), ValueError,
     r"`pad` can pad at most the 2 dimensions of the input \(4 values\), got 6 values"),
    (lambda: npconv.pad(np.zeros((2, 3)), 1), TypeError, r"`pad` must be a tuple of ints, got 1"),
    (lambda: npconv.pad(np.zeros((2, 3)), (1.5, 1)), TypeError, r"`pad` must be an int, got float"),
    (lambda: npconv.pad(np.zeros((2, 3)), (1, 1), mode="wrap"), ValueError,
     r"`mode` must be one of 'constant', 'reflect', 'replicate', 'circular', got 'wrap'"),
    (lambda: npconv.pad(np.zeros((2, 3)), (1, 1), mode="reflect", value=1.0), ValueError,
     r"`value` fills mode='constant' only, got value=1.0 with mode='reflect'"),
    (lambda: npconv.pad(np.zeros((2, 3)), (1, 1), value="x"), TypeError,
     r"`value` must be a real number, got 'x'"),
    (lambda: npconv.pad(np.zeros((2, 3)), (3, 0), mode="reflect"), ValueError,
     r"`pad` \(3, 0\) on dimension 1 of size 3: reflect padding must be smaller than the size"),
    (lambda: npconv.pad(np.zeros((2, 3)), (-4, 2)), ValueError,
     r"`pad` \(-4, 2\) on dimension 1 of size 3: crops 4 cells"),
    (lambda: npconv.pad(np.zeros((2, 3)), (-4, 0), mode="replicate"), ValueError,
     r"`pad` \(-4, 0\) on dimension 1 of size 3: the padded size -1 is negative"),
    (lambda: npconv.pad(np.zeros((2, 3)), (-1, 3), mode="circular"), ValueError,
     r"`pad` \(-1, 3\) on dimension 1 of size 3: circular padding wraps around more than once "
     r"\(it may add at most 2 cells on a side"),
    (lambda: npconv.pad(np.zeros((2, 0)), (1, 0), mode="replicate"), ValueError,
     r"on dimension 1 of size 0: there is no cell to replicate"),
    (lambda: npconv.pad(np.zeros((2, 3), np.int64), (1, 1)), TypeError,
     r"pad\(\): `input` must be a float32 or float64 array, got dtype int64"),
    (lambda: npconv.pad_backward(np.zeros((2, 4)), np.zeros((2, 3)), (1, 1)), ValueError,
     r"pad_backward\(\): `grad_output` must have shape \(2, 5\), got \(2, 4\)"),
]


@pytest.mark.parametrize("call,exception,message", ERRORS, ids=[c[2][:60] for c in ERRORS])
def test_error_messages(call, exception, message):
    with pytest.raises(exception, match=message):
        call()
