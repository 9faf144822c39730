"""Max and average pooling against the loop reference, finite differences and PyTorch."""

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import npconv
from npconv.ops import pool
import reference
from npconv.ops.arguments import make_window
from helpers import (DTYPES, as_tuple, assert_close, check_directional_derivatives, noncontiguous,
                     pad_pairs)

MAX_CASES = [
    # ndim, spatial, kernel, stride, padding, dilation, ceil_mode
    (2, (6, 7), 2, None, 0, 1, False),           # the common 2x2/2
    (2, (7, 7), 3, 2, 1, 1, False),              # 3x3/2 pad 1
    (2, (7, 6), 3, 1, 1, 1, False),              # 3x3/1: heavy overlap
    (2, (8, 7), (3, 2), (2, 3), (1, 1), (2, 1), True),
    (2, (5, 5), 2, 2, 1, 1, True),               # ceil_mode with padding: last window dropped
    (2, (6, 6), 4, 3, ((2, 0), (1, 2)), 1, True),  # per-side padding (beyond torch)
    (1, (9,), 3, 2, 1, 2, True),
    (1, (8,), 2, 3, 0, 1, False),                # stride > kernel
    (3, (5, 6, 4), (2, 3, 2), (2, 1, 2), (1, 1, 0), 1, True),
    (1, (2,), 3, 4, 0, 1, True),                 # ceil_mode: kernel past the input, as torch
]


def tied_input(rng, shape, with_nan=False):
    """Small integers, so that most windows hold ties; optionally a few NaNs and -inf."""
    x = rng.integers(-2, 3, size=shape).astype(np.float64)
    if with_nan:
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, 3, replace=False)] = np.nan
        flat[rng.choice(flat.size, 2, replace=False)] = -np.inf
    return x


@pytest.mark.parametrize("ndim,spatial,kernel,stride,padding,dilation,ceil_mode", MAX_CASES)
@pytest.mark.parametrize("with_nan", [False, True])
def test_max_pool_against_reference(ndim, spatial, kernel, stride, padding, dilation, ceil_mode,
                                    with_nan):
    rng = np.random.default_rng(0)
    k = as_tuple(kernel, ndim)
    s = k if stride is None else as_tuple(stride, ndim)
    d = as_tuple(dilation, ndim)
    x = tied_input(rng, (2, 3) + spatial, with_nan)
    values_ref, indices_ref = reference.max_pool(x, k, s, d, pad_pairs(padding, k, d), ceil_mode)
    gy = rng.standard_normal(values_ref.shape)
    gx_ref = reference.max_pool_backward(gy, x.shape, indices_ref)
    args = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
                ceil_mode=ceil_mode)
    forward = getattr(npconv, f"max_pool{ndim}d")
    backward = getattr(npconv, f"max_pool{ndim}d_backward")
    for dtype, layout in itertools.product(DTYPES, (np.asarray, noncontiguous)):
        xs, gys = layout(x.astype(dtype)), layout(gy.astype(dtype))
        values, indices = forward(xs, return_indices=True, **args)
        assert values.dtype == dtype and indices.dtype == np.int64
        np.testing.assert_array_equal(values, values_ref.astype(dtype))
        np.testing.assert_array_equal(indices, indices_ref)
        assert_close(backward(gys, xs, **args), gx_ref, dtype, "recomputed maxima")
        assert_close(backward(gys, xs, indices=indices, **args), gx_ref, dtype, "given indices")
        np.testing.assert_array_equal(forward(xs, **args), values)


AVG_CASES = [
    # ndim, spatial, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
    (2, (6, 7), 2, None, 0, False, True, None),
    (2, (7, 7), 3, 2, 1, False, True, None),
    (2, (7, 7), 3, 2, 1, True, False, None),
    (2, (5, 5), 2, 2, 1, True, True, None),      # ceil window past the padding: not counted
    (2, (6, 5), (3, 2), (1, 2), (1, 1), True, True, 5),
    (2, (6, 6), 3, 2, ((1, 0), (0, 1)), True, False, None),
    (1, (9,), 4, 3, 2, True, True, None),
    (1, (9,), 3, 2, 1, False, False, 2),         # divisor_override in 1-D (beyond torch)
    (3, (5, 4, 6), (2, 3, 2), (2, 1, 2), (1, 1, 0), True, False, None),
    (2, (1, 6), (2, 3), (4, 3), (0, 1), True, True, None),  # ceil_mode: kernel past the input
]


@pytest.mark.parametrize(
    "ndim,spatial,kernel,stride,padding,ceil_mode,count_include_pad,divisor_override", AVG_CASES)
def test_avg_pool_against_reference(ndim, spatial, kernel, stride, padding, ceil_mode,
                                    count_include_pad, divisor_override):
    rng = np.random.default_rng(1)
    k = as_tuple(kernel, ndim)
    s = k if stride is None else as_tuple(stride, ndim)
    pads = pad_pairs(padding, k, (1,) * ndim)
    x = rng.standard_normal((2, 3) + spatial)
    y_ref = reference.avg_pool(x, k, s, pads, ceil_mode, count_include_pad, divisor_override)
    gy = rng.standard_normal(y_ref.shape)
    gx_ref = reference.avg_pool_backward(gy, x.shape, k, s, pads, ceil_mode, count_include_pad,
                                         divisor_override)
    args = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
                count_include_pad=count_include_pad, divisor_override=divisor_override)
    for dtype, layout in itertools.product(DTYPES, (np.asarray, noncontiguous)):
        xs, gys = layout(x.astype(dtype)), layout(gy.astype(dtype))
        assert_close(getattr(npconv, f"avg_pool{ndim}d")(xs, **args), y_ref, dtype, "forward")
        assert_close(getattr(npconv, f"avg_pool{ndim}d_backward")(gys, xs, **args), gx_ref, dtype,
                     "backward")


def test_box_sum_and_its_adjoint_write_every_cell_of_every_small_1d_window():
    """The 1-D sums zero only the cells their first writes miss: dirty buffers must not leak."""
    rng = np.random.default_rng(3)
    for n, k, s, lo, hi, ceil_mode in itertools.product(range(1, 10), range(1, 5), range(1, 5),
                                                        range(3), range(3), (False, True)):
        if max(lo, hi) > k // 2:
            continue
        try:
            window = make_window("test", (n,), (k,), (s,), ((lo, hi),), (1,), ceil_mode)
        except ValueError:
            continue  # the kernel is larger than the padded input
        x = rng.standard_normal((1, 2, n))
        total = pool.box_sum(x, window, np.full((1, 2) + window.out_shape, np.nan))
        expected = reference.avg_pool(x, (k,), (s,), ((lo, hi),), ceil_mode, True, 1)
        np.testing.assert_allclose(total, expected, rtol=1e-12, atol=1e-12)
        gy = rng.standard_normal(total.shape)
        grad = pool.box_spread(gy, window, np.full(x.shape, np.nan))
        expected = reference.avg_pool_backward(gy, x.shape, (k,), (s,), ((lo, hi),), ceil_mode,
                                               True, 1)
        np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-12)


def test_ties_go_to_the_first_cell_and_nan_wins():
    x = np.array([[[[5.0, 5.0], [5.0, 1.0]]]])
    values, indices = npconv.max_pool2d(x, 2, return_indices=True)
    assert values[0, 0, 0, 0] == 5.0 and indices[0, 0, 0, 0] == 0
    np.testing.assert_array_equal(npconv.max_pool2d_backward(np.ones((1, 1, 1, 1)), x, 2)[0, 0],
                                  [[1.0, 0.0], [0.0, 0.0]])
    x = np.array([[[1.0, np.nan, 3.0, np.nan, 2.0]]])
    values, indices = npconv.max_pool1d(x, 5, return_indices=True)
    assert np.isnan(values[0, 0, 0]) and indices[0, 0, 0] == 3  # the last NaN, as torch
    x = np.full((1, 1, 2, 2), -np.inf)
    values, indices = npconv.max_pool2d(x, 2, padding=1, stride=2, return_indices=True)
    np.testing.assert_array_equal(indices[0, 0], [[0, 1], [2, 3]])  # first real cell, not padding


def test_a_window_of_padding_only_reads_nothing_and_gets_no_gradient():
    x = np.array([[[3.0]]])  # kernel 2, dilation 2, padding 1: the window is cells -1 and 1
    values, indices = npconv.max_pool1d(x, 2, stride=1, padding=1, dilation=2, return_indices=True)
    assert values[0, 0, 0] == -np.inf and indices[0, 0, 0] == 1  # torch's index, past the end
    gx = npconv.max_pool1d_backward(np.ones((1, 1, 1)), x, 2, stride=1, padding=1, dilation=2)
    assert gx[0, 0, 0] == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_given_indices_send_gradients_where_they_point_as_torch(dtype):
    """Indices are flat positions in the plane: outside their window, repeated, or not."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 6, 5)).astype(dtype)
    gy = rng.standard_normal((2, 3, 3, 2)).astype(dtype)
    indices = rng.integers(0, 30, size=gy.shape)
    indices[0, 0] = 0  # every gradient of a plane to one cell
    gx = npconv.max_pool2d_backward(gy, x, 2, indices=indices)
    assert gx.dtype == dtype
    assert_close(gx, reference.max_pool_backward(gy, x.shape, indices), dtype)
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    expected = torch.ops.aten.max_pool2d_with_indices_backward(
        torch.tensor(gy), torch.tensor(x), [2, 2], [2, 2], [0, 0], [1, 1], False,
        torch.tensor(indices))
    assert_close(gx, expected.numpy(), dtype)


def test_given_indices_past_the_plane_are_refused():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 6, 5))
    gy = rng.standard_normal((2, 3, 3, 2))
    for bad in (30, -1):
        indices = rng.integers(0, 30, size=gy.shape)
        indices[0, 1, 2, 1] = bad
        with pytest.raises(ValueError, match=rf"`indices` must lie in \[0, 30\).*got {bad}"):
            npconv.max_pool2d_backward(gy, x, 2, indices=indices)


def test_the_index_of_a_padding_only_window_past_the_plane_is_dropped():
    # kernel 2, dilation 3, padding 1 over 2 cells: the one window reads cells -1 and 2; two
    # planes, so that an index past the first plane would land in the second if not dropped
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]])
    values, indices = npconv.max_pool2d(x, 2, padding=1, dilation=3, return_indices=True)
    assert (values == -np.inf).all() and (indices == 2 * 2 + 2).all()  # cell (2, 2)
    gx = npconv.max_pool2d_backward(np.ones((1, 2, 1, 1)), x, 2, padding=1, dilation=3,
                                    indices=indices)
    assert_close(gx, np.zeros_like(x), np.float64)


def test_overlapping_windows_accumulate_gradient():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0  # the maximum of all four 2x2 windows
    gx = npconv.max_pool2d_backward(np.ones((1, 1, 2, 2)), x, 2, stride=1)
    assert gx[0, 0, 1, 1] == 4.0 and gx.sum() == 4.0


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_finite_differences_on_tie_free_inputs(ndim):
    rng = np.random.default_rng(2)
    shape = (2, 2) + (7, 6, 5)[:ndim]
    x = rng.permutation(np.prod(shape)).reshape(shape) / 7.0  # distinct values: no ties
    max_args = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    check_directional_derivatives(
        lambda x: getattr(npconv, f"max_pool{ndim}d")(x, **max_args),
        lambda u, x: [getattr(npconv, f"max_pool{ndim}d_backward")(u, x, **max_args)],
        [x], rng, h=1e-4)
    avg_args = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    check_directional_derivatives(
        lambda x: getattr(npconv, f"avg_pool{ndim}d")(x, **avg_args),
        lambda u, x: [getattr(npconv, f"avg_pool{ndim}d_backward")(u, x, **avg_args)],
        [x], rng)


def test_002_max_pool_backward_of_the_naive_implementation():
    """Seed 002: 2x2 stride-2 max pool backward; dx holds dout at each window's argmax, zero elsewhere."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    dout = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    dx = npconv.max_pool2d_backward(dout, x, 2, stride=2)
    windows = x.reshape(2, 3, 4, 2, 4, 2).transpose(0, 1, 2, 4, 3, 5).reshape(2, 3, 4, 4, 4)
    winner = windows.argmax(axis=-1)
    expected = np.zeros_like(windows)
    np.put_along_axis(expected, winner[..., None], dout[..., None], axis=-1)
    expected = expected.reshape(2, 3, 4, 4, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(x.shape)
    np.testing.assert_array_equal(dx, expected)
    assert dx.dtype == np.float32
    # The seed's assert on (H - pool) % stride is not needed: the floor drops the last row.
    dx_odd = npconv.max_pool2d_backward(dout, np.pad(x, ((0, 0), (0, 0), (0, 1), (0, 1))), 2)
    np.testing.assert_array_equal(dx_odd[:, :, :8, :8], dx)


ERRORS = [
    (lambda: npconv.max_pool2d(np.zeros((1, 1, 4, 4)), 0), ValueError, r"`kernel_size` must be positive, got 0"),
    (lambda: npconv.max_pool2d(np.zeros((1, 1, 4, 4)), 2, stride=-1), ValueError, r"`stride` must be positive"),
    (lambda: npconv.max_pool2d(np.zeros((1, 1, 4, 4)), 3, padding=2), ValueError,
     r"max_pool2d\(\): `padding` must be at most half of kernel_size on every side, got padding=2 with kernel_size=\(3, 3\)"),
    (lambda: npconv.avg_pool2d(np.zeros((1, 1, 4, 4)), 2, padding=(0, 2)), ValueError, r"at most half of kernel_size"),
    (lambda: npconv.max_pool2d(np.zeros((1, 1, 2, 2)), 3, padding=1, dilation=2), ValueError,
     r"kernel is larger than the padded input"),
    (lambda: npconv.max_pool2d(np.zeros((4, 4)), 2), ValueError, r"`input` must have 3 or 4 dimensions"),
    (lambda: npconv.max_pool1d(np.zeros((1, 1, 4, 4)), 2), ValueError, r"max_pool1d\(\): `input` must have 2 or 3 dimensions"),
    (lambda: npconv.max_pool2d(np.zeros((1, 1, 4, 4), int), 2), TypeError, r"float32 or float64"),
    (lambda: npconv.max_pool2d_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 4, 4)), 2,
                                        indices=np.zeros((1, 1, 3, 2), np.int64)), ValueError,
     r"`indices` must have shape \(1, 1, 2, 2\), got \(1, 1, 3, 2\)"),
    (lambda: npconv.max_pool2d_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 4, 4)), 2,
                                        indices=np.zeros((1, 1, 2, 2))), TypeError, r"`indices` must be an integer array"),
    (lambda: npconv.max_pool2d_backward(np.zeros((1, 1, 3, 2)), np.zeros((1, 1, 4, 4)), 2), ValueError,
     r"`grad_output` must have shape \(1, 1, 2, 2\), got \(1, 1, 3, 2\)"),
    (lambda: npconv.avg_pool2d(np.zeros((1, 1, 4, 4)), 2, divisor_override=0), ValueError, r"`divisor_override` must not be zero"),
    (lambda: npconv.max_pool2d(np.zeros((1, 1, 0, 4)), 2, padding=1), ValueError,
     r"max_pool2d\(\): `input` must have a non-zero size in every non-batch dimension, got shape \(1, 1, 0, 4\)"),
    (lambda: npconv.avg_pool1d(np.zeros((1, 0, 4)), 2), ValueError,
     r"avg_pool1d\(\): `input` must have a non-zero size in every non-batch dimension"),
    (lambda: npconv.avg_pool2d(np.zeros((1, 1, 4, 4)), 2, divisor_override=1.5), TypeError, r"`divisor_override` must be an int"),
]


@pytest.mark.parametrize("call,exception,message", ERRORS, ids=[e[2][:50] for e in ERRORS])
def test_error_message(call, exception, message):
    with pytest.raises(exception, match=message):
        call()


# --- parity with PyTorch ------------------------------------------------------------

def has_padding_only_window(spatial, kernel, stride, padding, dilation, out_shape):
    return any(
        not any(0 <= o * s - p + j * d < n for j in range(k))
        for n, k, s, p, d, m in zip(spatial, kernel, stride, padding, dilation, out_shape)
        for o in range(m)
    )


@st.composite
def pool_configs(draw, with_dilation):
    ndim = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(ndim)) if with_dilation else (1,) * ndim
    spatial = tuple(max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 6))
                    for k, d, p in zip(kernel, dilation, padding))
    return ndim, kernel, stride, padding, dilation, spatial, draw(st.booleans())


@given(pool_configs(with_dilation=True), st.booleans(), st.integers(0, 2**32 - 1))
def test_max_pool_parity_with_torch(cfg, with_nan, seed):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity tests need it")
    ndim, kernel, stride, padding, dilation, spatial, ceil_mode = cfg
    rng = np.random.default_rng(seed)
    x = tied_input(rng, (2, 2) + spatial, with_nan)
    args = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
                ceil_mode=ceil_mode)
    tx = torch.tensor(x, requires_grad=True)
    tvalues, tindices = getattr(torch.nn.functional, f"max_pool{ndim}d")(tx, return_indices=True, **args)
    values, indices = getattr(npconv, f"max_pool{ndim}d")(x, return_indices=True, **args)
    np.testing.assert_array_equal(values, tvalues.detach().numpy())
    np.testing.assert_array_equal(indices, tindices.numpy())
    # A window of padding cells only (dilation can make one) gets torch's index of a cell it
    # never read: torch's backward writes its gradient there (or past the tensor, and crashes),
    # npconv drops it.  Compare gradients only without such windows.
    if has_padding_only_window(spatial, kernel, stride, padding, dilation, values.shape[2:]):
        return
    gy = rng.standard_normal(tuple(tvalues.shape))
    tvalues.backward(torch.tensor(gy))
    gx = getattr(npconv, f"max_pool{ndim}d_backward")(gy, x, indices=indices, **args)
    assert_close(gx, tx.grad.numpy(), np.float64)


@given(pool_configs(with_dilation=False), st.booleans(), st.sampled_from([None, 1, 3, 7]),
       st.integers(0, 2**32 - 1))
def test_avg_pool_parity_with_torch(cfg, count_include_pad, divisor_override, seed):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity tests need it")
    ndim, kernel, stride, padding, _, spatial, ceil_mode = cfg
    # torch's avg_pool3d alone refuses an input smaller than the kernel even when padded.
    assume(ndim < 3 or all(n >= k for n, k in zip(spatial, kernel)))
    rng = np.random.default_rng(seed)
    dtype = np.float32 if seed % 2 else np.float64
    x = rng.standard_normal((2, 2) + spatial).astype(dtype)
    args = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
                count_include_pad=count_include_pad)
    if ndim > 1:  # torch's avg_pool1d has no divisor_override
        args["divisor_override"] = divisor_override
    tx = torch.tensor(x, requires_grad=True)
    ty = getattr(torch.nn.functional, f"avg_pool{ndim}d")(tx, **args)
    gy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(gy))
    assert_close(getattr(npconv, f"avg_pool{ndim}d")(x, **args), ty.detach().numpy().astype(np.float64), dtype)
    assert_close(getattr(npconv, f"avg_pool{ndim}d_backward")(gy, x, **args),
                 tx.grad.numpy().astype(np.float64), dtype)


@pytest.mark.parametrize("block_bytes", [64, 1000, 1 << 30])
@pytest.mark.parametrize("threads", [1, 2])
def test_blocks_and_threads_do_not_change_results(monkeypatch, block_bytes, threads):
    """Plane blocks (split over samples, or over channels within a sample) on one or two threads."""
    from npconv.window import blocks
    rng = np.random.default_rng(8)
    x = tied_input(rng, (3, 5, 9, 8), with_nan=True)
    args = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    values_ref, indices_ref = reference.max_pool(x, (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1)), True)
    gy = rng.standard_normal(values_ref.shape)
    monkeypatch.setattr(blocks, "BLOCK_BYTES", block_bytes)
    with npconv.threads(threads):
        values, indices = npconv.max_pool2d(x, return_indices=True, **args)
        gx = npconv.max_pool2d_backward(gy, x, indices=indices, **args)
        avg = npconv.avg_pool2d(x, **args)
    np.testing.assert_array_equal(values, values_ref)
    np.testing.assert_array_equal(indices, indices_ref)
    assert_close(gx, reference.max_pool_backward(gy, x.shape, indices_ref), np.float64)
    assert_close(avg, reference.avg_pool(x, (3, 3), (2, 2), ((1, 1), (1, 1)), True, True, None),
                 np.float64)


def test_threads_setting_is_checked():
    with pytest.raises(ValueError, match=r"threads\(\): `count` must be a positive int, got 0"):
        with npconv.threads(0):
            pass


@pytest.mark.parametrize("values,negative", [([-0.0, 0.0], True), ([0.0, -0.0], False),
                                             ([-1.0, -0.0, 0.0], True), ([-0.0, -0.0], True)])
@pytest.mark.parametrize("return_indices", [False, True])
def test_max_pool_keeps_the_first_zero_of_a_window_as_torch(values, negative, return_indices):
    x = np.array([[values]])
    result = npconv.max_pool1d(x, len(values), return_indices=return_indices)
    y = result[0] if return_indices else result
    assert y[0, 0, 0] == 0 and bool(np.signbit(y[0, 0, 0])) == negative
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; the sign check needs it")
    expected = torch.nn.functional.max_pool1d(torch.tensor(x), len(values))
    assert bool(torch.signbit(expected[0, 0, 0])) == negative
