"""conv1d/2d/3d forward and backward against the loop reference, over the argument cross product."""

import itertools

import numpy as np
import pytest

import npconv
import reference
from hypothesis import given, settings, strategies as st

from helpers import (ALGORITHMS, DTYPES, as_tuple, assert_close, check_convolution_gradients,
                     functions, noncontiguous, pad_pairs, torch_or_skip, using)
from strategies import conv_configs, torch_pad


def run_case(ndim, spatial, channels, out_channels, groups, kernel, stride, padding, dilation,
             batch=2, bias=True, seed=0):
    """Every algorithm, dtype and memory layout against one reference computation."""
    rng = np.random.default_rng(seed)
    kernel, stride, dilation = (as_tuple(v, ndim) for v in (kernel, stride, dilation))
    x = rng.standard_normal((batch, channels) + spatial)
    w = rng.standard_normal((out_channels, channels // groups) + kernel)
    b = rng.standard_normal(out_channels) if bias else None
    pads = pad_pairs(padding, kernel, dilation)
    y_ref = reference.conv(x, w, b, stride, pads, dilation, groups)
    gy = rng.standard_normal(y_ref.shape)
    gx_ref, gw_ref, gb_ref = reference.conv_backward(gy, x, w, stride, pads, dilation, groups)
    conv, conv_backward = functions("conv", ndim)
    args = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    for algorithm, dtype, layout in itertools.product(ALGORITHMS, DTYPES, (np.asarray, noncontiguous)):
        xs, ws, gys = (layout(a.astype(dtype)) for a in (x, w, gy))
        bs = None if b is None else b.astype(dtype)
        what = f"{algorithm} {np.dtype(dtype)} {layout.__name__}"
        with using(algorithm):
            assert_close(conv(xs, ws, bs, **args), y_ref, dtype, f"forward {what}")
            gx, gw, gb = conv_backward(gys, xs, ws, bs, **args)
        assert_close(gx, gx_ref, dtype, f"grad_input {what}")
        assert_close(gw, gw_ref, dtype, f"grad_weight {what}")
        if bias:
            assert_close(gb, gb_ref, dtype, f"grad_bias {what}")
        else:
            assert gb is None


KERNELS_2D = [(1, 1), (2, 3), (3, 3)]
STRIDES_2D = [1, 2, (3, 1)]
PADDINGS_2D = [0, 1, ((1, 2), (0, 3)), "same", "valid"]
DILATIONS_2D = [1, (2, 1)]
GROUPINGS = [(4, 4, 1), (4, 6, 2), (4, 4, 4), (4, 8, 4)]  # (C_in, C_out, groups): dense, grouped, depthwise, depthwise x2

GRID_2D = [
    case for case in itertools.product(KERNELS_2D, STRIDES_2D, PADDINGS_2D, DILATIONS_2D, GROUPINGS)
    if not (case[2] == "same" and case[1] != 1)
]


@pytest.mark.parametrize("kernel,stride,padding,dilation,grouping", GRID_2D)
def test_conv2d_grid(kernel, stride, padding, dilation, grouping):
    channels, out_channels, groups = grouping
    run_case(2, (7, 6), channels, out_channels, groups, kernel, stride, padding, dilation)


CASES_1D = [
    # kernel, stride, padding, dilation, (C_in, C_out, groups)
    (1, 1, 0, 1, (3, 5, 1)),
    (4, 1, "same", 1, (2, 3, 1)),     # even kernel: the odd padding cell goes high
    (4, 1, "same", 3, (2, 2, 2)),
    (3, 2, ((0, 2),), 3, (4, 2, 2)),
    (2, 5, 0, 1, (3, 3, 3)),          # stride > kernel: some inputs get no gradient
    (5, 1, 2, 1, (1, 1, 1)),
    (11, 1, 0, 1, (2, 2, 1)),         # kernel == input
    (3, 3, ((4, 0),), 2, (2, 4, 1)),
]


@pytest.mark.parametrize("kernel,stride,padding,dilation,grouping", CASES_1D)
def test_conv1d_cases(kernel, stride, padding, dilation, grouping):
    channels, out_channels, groups = grouping
    run_case(1, (11,), channels, out_channels, groups, kernel, stride, padding, dilation)


CASES_3D = [
    ((1, 1, 1), 1, 0, 1, (3, 2, 1)),
    ((2, 3, 2), (1, 2, 1), 1, 1, (2, 4, 2)),
    ((3, 3, 3), 1, "same", (1, 2, 1), (2, 2, 2)),
    ((2, 2, 2), 2, ((1, 0), (0, 1), (2, 2)), 1, (2, 2, 1)),
]


@pytest.mark.parametrize("kernel,stride,padding,dilation,grouping", CASES_3D)
def test_conv3d_cases(kernel, stride, padding, dilation, grouping):
    channels, out_channels, groups = grouping
    run_case(3, (5, 6, 4), channels, out_channels, groups, kernel, stride, padding, dilation)


def test_without_bias():
    run_case(2, (5, 5), 2, 3, 1, 3, 1, 1, 1, bias=False)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_unbatched_input_gives_unbatched_output(algorithm):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 5))
    w = rng.standard_normal((2, 3, 3, 2))
    with using(algorithm):
        y = npconv.conv2d(x, w, stride=2, padding=1)
        assert_close(y, npconv.conv2d(x[None], w, stride=2, padding=1)[0], np.float64)
        gy = rng.standard_normal(y.shape)
        gx, gw, _ = npconv.conv2d_backward(gy, x, w, stride=2, padding=1)
    gx_ref, gw_ref, _ = reference.conv_backward(gy[None], x[None], w, (2, 2), ((1, 1),) * 2,
                                                (1, 1), 1)
    assert_close(gx, gx_ref[0], np.float64)
    assert_close(gw, gw_ref, np.float64)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("kernel, padding", [(3, 1), (1, 0)])
@pytest.mark.parametrize("channels, size", [(3, 6), (16, 24)])  # (16, 24): im2col's rows of columns
def test_zero_size_batch(algorithm, kernel, padding, channels, size):
    x = np.zeros((0, channels, size, size), np.float32)
    w = np.ones((4, channels, kernel, kernel), np.float32)
    b = np.ones(4, np.float32)
    with using(algorithm):
        y = npconv.conv2d(x, w, b, padding=padding)
        gx, gw, gb = npconv.conv2d_backward(y, x, w, b, padding=padding)
    assert y.shape == (0, 4, size, size) and y.dtype == np.float32
    assert gx.shape == x.shape and gw.shape == w.shape
    assert not gw.any() and not gb.any()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_inputs_are_never_modified(algorithm):
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in ((2, 4, 7, 7), (4, 2, 3, 3), (4,))]
    copies = [a.copy() for a in arrays]
    x, w, b = arrays
    with using(algorithm):
        y = npconv.conv2d(x, w, b, stride=2, padding=1, groups=2)
        gy = np.ones_like(y)
        npconv.conv2d_backward(gy, x, w, b, stride=2, padding=1, groups=2)
        npconv.conv2d_input(x.shape, w, gy, stride=2, padding=1, groups=2)
        npconv.conv2d_weight(x, w.shape, gy, stride=2, padding=1, groups=2)
    for a, copy in zip(arrays, copies):
        np.testing.assert_array_equal(a, copy)
    assert np.all(gy == 1)


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_input_and_weight_gradient_helpers(ndim, algorithm):
    """conv*_input/conv*_weight (torch.nn.grad's) give the reference gradients."""
    rng = np.random.default_rng(3)
    spatial = (7, 6, 5)[:ndim]
    kernel, stride, dilation = (3,) * ndim, (2,) * ndim, (1,) * ndim
    pads = ((1, 1),) * ndim
    x = rng.standard_normal((2, 4) + spatial)
    w = rng.standard_normal((6, 2) + kernel)
    y_shape = reference.conv(x, w, None, stride, pads, dilation, 2).shape
    gy = rng.standard_normal(y_shape)
    gx_ref, gw_ref, _ = reference.conv_backward(gy, x, w, stride, pads, dilation, 2)
    name = f"conv{ndim}d"
    with using(algorithm):
        gx = getattr(npconv, f"{name}_input")(x.shape, w, gy, stride=2, padding=1, groups=2)
        gw = getattr(npconv, f"{name}_weight")(x, w.shape, gy, stride=2, padding=1, groups=2)
    assert_close(gx, gx_ref, np.float64)
    assert_close(gw, gw_ref, np.float64)


def test_input_size_resolves_the_floor():
    """Inputs of 7 and 8 give the same stride-2 output; input_size says which gradient is meant."""
    rng = np.random.default_rng(4)
    w = rng.standard_normal((1, 1, 3))
    gy = rng.standard_normal((1, 1, 3))
    for size in (7, 8):
        gx = npconv.conv1d_input((1, 1, size), w, gy, stride=2)
        x = np.zeros((1, 1, size))
        gx_ref, _, _ = reference.conv_backward(gy, x, w, (2,), ((0, 0),), (1,), 1)
        assert_close(gx, gx_ref, np.float64)
    assert gx[0, 0, -1] == 0.0  # the last cell of the 8-input is read by no window


def test_bias_is_added_per_channel():
    x = np.zeros((1, 2, 4, 4))
    w = np.zeros((3, 2, 3, 3))
    y = npconv.conv2d(x, w, np.array([1.0, -2.0, 0.5]), padding=1)
    np.testing.assert_array_equal(y[0, :, 2, 1], [1.0, -2.0, 0.5])


def test_one_by_one_convolution_is_a_matrix_product():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 5, 4, 6)).astype(np.float32)
    w = rng.standard_normal((7, 5, 1, 1)).astype(np.float32)
    expected = np.einsum("kc,nchw->nkhw", w[:, :, 0, 0].astype(np.float64), x.astype(np.float64))
    assert_close(npconv.conv2d(x, w), expected, np.float32)


def test_same_padding_keeps_the_size_and_puts_the_odd_cell_high():
    x = np.arange(6.0).reshape(1, 1, 6)
    w = np.zeros((1, 1, 4))
    w[0, 0, 0] = 1.0  # picks the first cell of each window
    y = npconv.conv1d(x, w, padding="same")
    np.testing.assert_array_equal(y[0, 0], [0.0, 0.0, 1.0, 2.0, 3.0, 4.0])  # one cell low, two high


def assert_same_nonfinite(actual, expected, dtype, what):
    """Infinities and NaNs where the reference has them; finite entries within tolerance."""
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=f"NaN {what}")
    np.testing.assert_array_equal(np.isposinf(actual), np.isposinf(expected), err_msg=f"+inf {what}")
    np.testing.assert_array_equal(np.isneginf(actual), np.isneginf(expected), err_msg=f"-inf {what}")
    finite = np.isfinite(expected)
    assert_close(actual[finite], expected[finite], dtype, what)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("channels, out_channels, groups", [(2, 3, 1), (2, 2, 2), (1, 1, 1)])
@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1)])
def test_infinite_input_or_weight_spoils_only_the_gradients_it_enters(
        algorithm, channels, out_channels, groups, stride, padding):
    # npconv's fast paths compute the output at the full width of a padded
    # row and multiply the extra cells by zero gradients; an infinite cell
    # there must not turn gradients that never read it into NaN.
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, channels, 5, 6))
    w = rng.standard_normal((out_channels, channels // groups, 2, 2))
    x[0, 0, 1, 5] = np.inf
    x[1, -1, 3, 5] = -np.inf
    w_inf = w.copy()
    w_inf[0, 0, 0, 0] = np.inf
    pads = ((padding, padding),) * 2
    args = dict(stride=stride, padding=padding, groups=groups)
    gy = rng.standard_normal(reference.conv(x, w, None, (stride,) * 2, pads, (1, 1), groups).shape)
    for x_case, w_case in ((x, w), (np.nan_to_num(x, posinf=0, neginf=0), w_inf)):
        with np.errstate(invalid="ignore"):
            gx_ref, gw_ref, _ = reference.conv_backward(gy, x_case, w_case, (stride,) * 2, pads,
                                                        (1, 1), groups)
        with using(algorithm), np.errstate(invalid="ignore"):
            gx, gw, _ = npconv.conv2d_backward(gy.astype(np.float32), x_case.astype(np.float32),
                                               w_case.astype(np.float32), **args)
        assert_same_nonfinite(gx, gx_ref, np.float32, f"grad_input {algorithm}")
        assert_same_nonfinite(gw, gw_ref, np.float32, f"grad_weight {algorithm}")


@pytest.mark.parametrize("block_bytes", [None, 1])
@pytest.mark.parametrize("ndim, spatial, channels, out_channels, groups, kernel, stride, padding, "
                         "dilation", [
    (2, (16, 7), 8, 8, 1, 3, 1, 1, 1),
    (2, (17, 7), 16, 24, 1, (2, 3), 1, ((1, 2), (0, 3)), (2, 1)),
    (2, (14, 8), 24, 5, 1, 3, 1, 2, 1),
    (2, (21, 6), 32, 12, 2, 3, 1, "same", (1, 2)),
    (2, (24, 6), 24, 16, 2, 3, 1, 1, 2),
    (2, (21, 5), 12, 16, 1, (4, 2), 1, (3, 0), (1, 2)),
    (3, (12, 4, 3), 8, 8, 1, 3, 1, 1, 1),
    (3, (12, 5, 7), 16, 8, 2, (2, 3, 2), 1, ((1, 0), 1, (0, 2)), (1, 2, 1)),
])
def test_row_products_forward(ndim, spatial, channels, out_channels, groups, kernel, stride,
                              padding, dilation, block_bytes, monkeypatch):
    """With 8-32 input channels per group im2col's forward pass multiplies rows of columns
    (``_forward_rows``): every geometry against the reference, in the default blocks and in
    blocks of one cell, and the path is taken."""
    from npconv.engine import im2col

    if block_bytes is not None:
        monkeypatch.setattr(im2col, "COLUMN_BLOCK_BYTES", block_bytes)
        monkeypatch.setattr(im2col, "MIN_BLOCK_CELLS", 1)
    taken = []
    rows = im2col._forward_rows
    monkeypatch.setattr(im2col, "_forward_rows", lambda *a: taken.append(1) or rows(*a))
    run_case(ndim, spatial, channels, out_channels, groups, kernel, stride, padding, dilation,
             batch=3)
    assert taken


@pytest.mark.parametrize("block_bytes", [1, 700, 5000])
@pytest.mark.parametrize("ndim, spatial, channels, out_channels, groups, kernel, stride, padding, "
                         "dilation", [
    (2, (9, 7), 4, 4, 1, 3, 1, 1, 1),
    (2, (9, 7), 6, 4, 2, (2, 3), 2, ((1, 2), (0, 3)), (2, 1)),
    (2, (8, 8), 3, 2, 1, 3, (3, 1), 2, 1),
    (1, (23,), 5, 3, 1, 5, 2, 3, 2),
    (3, (5, 6, 4), 2, 2, 1, 3, 1, 1, 1),
    (2, (9, 8), 4, 3, 1, 5, 1, 2, 1),               # five rows of taps: merged
    (3, (6, 5, 7), 2, 3, 1, 3, (1, 2, 1), 1, 1),    # phases with six rows and with three
])
def test_gradient_column_blocks(ndim, spatial, channels, out_channels, groups, kernel, stride,
                                padding, dilation, block_bytes, monkeypatch):
    """The gradient-columns backward pass builds its columns (a phase's taps, or one row of
    them that the others are slices of) in blocks of cells that start anywhere in a sample (one
    cell, a few, more than a sample): every geometry against the reference, through the blocks."""
    from npconv.engine import im2col

    monkeypatch.setattr(im2col, "COLUMN_BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(im2col, "MIN_BLOCK_CELLS", 1)
    blocks = []
    gather = im2col._GradientColumns.gather
    monkeypatch.setattr(im2col._GradientColumns, "gather", lambda self, *a: blocks.append(
        (self.block, self.flat.volume, a[1])) or gather(self, *a))
    run_case(ndim, spatial, channels, out_channels, groups, kernel, stride, padding, dilation,
             batch=3)
    assert blocks and all(block < 3 * volume for block, volume, _ in blocks)
    assert block_bytes > 1 or {block for block, _, _ in blocks} == {1}
    # rows merged (a nonzero extent) where a phase has more than three rows of taps
    assert any(extent for *_, extent in blocks) == (ndim == 3 or (ndim == 2 and kernel == 5))


def test_column_blocks_have_a_floor(monkeypatch):
    """However wide the columns, a block holds MIN_BLOCK_CELLS cells (or all there are): blocks of
    a few cells would be mostly call overhead (both passes that build columns in blocks)."""
    from npconv.engine import im2col

    monkeypatch.setattr(im2col, "COLUMN_BLOCK_BYTES", 1)
    seen = {}
    for name in ("gather", "spread"):
        method = getattr(im2col._GradientColumns, name)
        monkeypatch.setattr(im2col._GradientColumns, name, lambda self, *a, _m=method: seen.update(
            gradient=self.block) or _m(self, *a))
    matmul = np.matmul

    def product(a, b, out=None):  # the rows pass multiplies blocks of ``block`` cells
        seen.setdefault("rows", set()).add(b.shape[-1])
        return matmul(a, b, out=out)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 16, 24, 24)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    with npconv.conv_algorithm("im2col"):
        y = npconv.conv2d(x, w, padding=1)
        npconv.conv2d_backward(y, x, w, padding=1)
    monkeypatch.setattr(im2col.np, "matmul", product)
    with npconv.conv_algorithm("im2col"):
        assert np.array_equal(npconv.conv2d(x, w, padding=1), y)
    assert seen["gradient"] == im2col.MIN_BLOCK_CELLS
    assert max(seen["rows"]) == im2col.MIN_BLOCK_CELLS


@pytest.mark.parametrize("size, kernel, stride, dilation, padding", [
    (9, 2, 3, 1, (0, 0)),   # a residue class no offset reaches
    (10, 3, 2, 1, (1, 0)),  # input past the last window
    (7, 2, 4, 3, (2, 1)),
    (8, 3, 1, 2, (0, 0)),   # every cell read
])
def test_flat_unpack_writes_every_input_cell(size, kernel, stride, dilation, padding):
    """The flat-phase backward passes allocate the input gradient uninitialised: unpack must fill it."""
    from npconv.ops.arguments import make_window
    from npconv.window.phases import flat_phases

    window = make_window("conv2d", (size, size), (kernel,) * 2, (stride,) * 2, (padding,) * 2,
                         (dilation,) * 2)
    flat = flat_phases(window)
    read = np.zeros((size, size), bool)
    out = np.arange(window.out_shape[0])
    for j, i in itertools.product(range(kernel), range(kernel)):
        rows = out * stride + j * dilation - padding[0]
        cols = out * stride + i * dilation - padding[0]
        rows, cols = rows[(rows >= 0) & (rows < size)], cols[(cols >= 0) & (cols < size)]
        read[np.ix_(rows, cols)] = True
    unread = np.zeros_like(read) if flat.unread is None else flat.unread
    assert not (read & unread).any(), "a cell that some window reads is marked unread"
    phases = np.ones((1, len(flat.residues), 1, flat.volume))
    gradient = np.full((1, 1, size, size), np.nan)
    flat.unpack(phases, gradient)
    assert not np.isnan(gradient).any(), "unpack left cells unwritten"
    np.testing.assert_array_equal(gradient[0, 0] == 0, unread)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3).flatmap(lambda ndim: st.tuples(
    *(st.tuples(st.integers(1, 12), st.integers(1, 5), st.integers(1, 4), st.integers(1, 3),
                st.integers(0, 3), st.integers(0, 3)) for _ in range(ndim)))))
def test_tap_grids_are_the_taps(dims):
    """Each phase's taps, read as one strided grid, are exactly the kernel offsets and flat shifts
    of the taps (im2col gathers a phase's columns with one copy from that grid)."""
    from npconv.ops.arguments import make_window
    from npconv.window.phases import flat_phases

    size, kernel, stride, dilation, lo, hi = zip(*dims)
    try:
        window = make_window("conv", size, kernel, stride, tuple(zip(lo, hi)), dilation)
    except ValueError:
        return  # no output cells
    flat = flat_phases(window)
    listed = {}
    for grid in flat.tap_grids:
        for m in itertools.product(*(range(count) for count in grid.counts)):
            offset = tuple(sl.start + i * sl.step for sl, i in zip(grid.kernel_slices, m))
            assert offset not in listed
            listed[offset] = (grid.phase, grid.shift + sum(i * s for i, s in zip(m, grid.steps)))
    assert listed == {offset: (phase, shift) for offset, phase, shift in flat.taps}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("x_shape, w_shape, padding", [
    ((3, 1, 40, 41), (2, 1, 3, 3), 0),    # flat im2col columns of 3 x 1558 cells: 4 pieces and 2 left
    ((2, 3, 37, 61), (4, 3, 1, 1), 0),    # 1x1: per-sample products over 2257 cells: 1 left
    ((1, 2, 40, 52), (3, 2, 5, 5), 2),
])
def test_weight_gradient_of_few_channels_over_long_planes(algorithm, x_shape, w_shape, padding):
    """Small weight gradients over more than 2 x PIECE_LENGTH cells are summed from pieces."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    gy = rng.standard_normal(reference.conv(x, w, None, (1, 1), pad_pairs(padding, w_shape[2:], (1, 1)),
                                            (1, 1), 1).shape)
    gx_ref, gw_ref, _ = reference.conv_backward(gy, x, w, (1, 1), pad_pairs(padding, w_shape[2:], (1, 1)),
                                                (1, 1), 1)
    for dtype in DTYPES:
        with using(algorithm):
            gx, gw, _ = npconv.conv2d_backward(gy.astype(dtype), x.astype(dtype), w.astype(dtype),
                                               padding=padding)
        assert_close(gw, gw_ref, dtype, f"grad_weight {algorithm} {np.dtype(dtype)}")
        assert_close(gx, gx_ref, dtype, f"grad_input {algorithm} {np.dtype(dtype)}")


# --- finite differences, parity with torch, error messages ----------------------------

CONV_CASES = [
    (1, (9,), dict(stride=2, padding=((2, 1),), dilation=2, groups=1)),
    (2, (7, 8), dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2)),
    (2, (6, 6), dict(padding="same", groups=4)),
    (3, (5, 4, 6), dict(stride=(1, 2, 2), padding=(1, 0, 1), groups=2)),
]


@pytest.mark.parametrize("ndim,spatial,args", CONV_CASES)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_finite_differences(ndim, spatial, args, algorithm):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4) + spatial)
    w = rng.standard_normal((4, 4 // args["groups"]) + (3,) * ndim)
    check_convolution_gradients(f"conv{ndim}d", x, w, rng.standard_normal(4), args, algorithm, rng)


def operands(cfg, rng, torch):
    """A configuration's arrays, the same as torch tensors that track gradients, and its arguments."""
    dtype = cfg["dtype"]
    x = rng.standard_normal((cfg["batch"], cfg["c_in"]) + cfg["spatial"]).astype(dtype)
    w = rng.standard_normal((cfg["c_out"], cfg["c_in"] // cfg["groups"]) + cfg["kernel"]).astype(dtype)
    b = rng.standard_normal(cfg["c_out"]).astype(dtype) if cfg["bias"] else None
    tensors = tuple(None if a is None else torch.tensor(a, requires_grad=True) for a in (x, w, b))
    return (x, w, b), tensors, dict(stride=cfg["stride"], dilation=cfg["dilation"],
                                    groups=cfg["groups"])


@given(conv_configs(), st.integers(0, 2**32 - 1))
def test_parity_with_torch(cfg, seed):
    torch = torch_or_skip()
    F = torch.nn.functional
    rng = np.random.default_rng(seed)
    ndim, dtype = cfg["ndim"], cfg["dtype"]
    (x, w, b), (tx, tw, tb), args = operands(cfg, rng, torch)
    torch_conv = getattr(F, f"conv{ndim}d")
    if isinstance(cfg["padding"], str):
        ty = torch_conv(tx, tw, tb, padding=cfg["padding"], **args)
    else:
        ty = torch_conv(F.pad(tx, torch_pad(cfg["pairs"])), tw, tb, **args)
    gy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.torch.tensor(gy, requires_grad=True))

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


# --- padding_mode: the input padded in that mode, then convolved without padding --------

PADDING_MODES = ("reflect", "replicate", "circular")


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize("ndim,spatial,args", CONV_CASES)
def test_padding_modes_against_reference(mode, ndim, spatial, args):
    rng = np.random.default_rng(2)
    groups = args["groups"]
    x = rng.standard_normal((2, 4) + spatial)
    w = rng.standard_normal((4, 4 // groups) + (3,) * ndim)
    b = rng.standard_normal(4)
    stride, dilation = (as_tuple(args.get(k, 1), ndim) for k in ("stride", "dilation"))
    pairs = ((0, 0), (0, 0)) + pad_pairs(args["padding"], (3,) * ndim, dilation)
    x_padded = reference.pad(x, pairs, mode)
    unpadded = ((0, 0),) * ndim
    y_ref = reference.conv(x_padded, w, b, stride, unpadded, dilation, groups)
    gy = rng.standard_normal(y_ref.shape)
    gxp, gw_ref, gb_ref = reference.conv_backward(gy, x_padded, w, stride, unpadded, dilation,
                                                  groups)
    gx_ref = reference.pad_backward(gxp, x.shape, pairs, mode)
    conv, conv_backward = functions("conv", ndim)
    kwargs = dict(args, padding_mode=mode)
    for algorithm in ALGORITHMS:
        with using(algorithm):
            assert_close(conv(x, w, b, **kwargs), y_ref, np.float64, f"{algorithm} forward")
            for got, want, what in zip(conv_backward(gy, x, w, b, **kwargs),
                                       (gx_ref, gw_ref, gb_ref), ("input", "weight", "bias")):
                assert_close(got, want, np.float64, f"{algorithm} grad_{what}")
            name = f"conv{ndim}d"
            assert_close(getattr(npconv, f"{name}_input")(x.shape, w, gy, **kwargs), gx_ref,
                         np.float64, "conv_input")
            assert_close(getattr(npconv, f"{name}_weight")(x, w.shape, gy, **kwargs), gw_ref,
                         np.float64, "conv_weight")


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_padding_mode_finite_differences(mode):
    rng = np.random.default_rng(3)
    args = dict(stride=(2, 1), padding=((2, 1), (1, 2)), dilation=(1, 2), groups=2,
                padding_mode=mode)
    check_convolution_gradients("conv2d", rng.standard_normal((2, 4, 6, 7)),
                                rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4), args,
                                "auto", rng)


def test_padding_mode_in_batch_chunks_inside_a_small_workspace():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((9, 3, 12, 12))
    w = rng.standard_normal((5, 3, 3, 3))
    gy = rng.standard_normal((9, 5, 12, 12))
    whole = [npconv.conv2d(x, w, padding=1, padding_mode="circular"),
             npconv.conv2d_backward(gy, x, w, padding=1, padding_mode="circular")]
    with npconv.workspace(3 * 3 * 14 * 14 * 8):  # the copies of about one sample at a time
        chunked = [npconv.conv2d(x, w, padding=1, padding_mode="circular"),
                   npconv.conv2d_backward(gy, x, w, padding=1, padding_mode="circular")]
    np.testing.assert_allclose(chunked[0], whole[0], rtol=1e-12, atol=1e-12)
    for got, want in zip(chunked[1][:2], whole[1][:2]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@given(conv_configs(), st.sampled_from(PADDING_MODES), st.integers(0, 2**32 - 1))
def test_padding_mode_parity_with_torch(cfg, mode, seed):
    """torch's modules pad in ``padding_mode`` with ``F.pad`` and convolve without padding."""
    torch = torch_or_skip()
    F = torch.nn.functional
    ndim, dtype = cfg["ndim"], cfg["dtype"]
    pairs = cfg["pairs"] or pad_pairs("same", cfg["kernel"], cfg["dilation"])
    if mode == "reflect" and any(max(p) >= n for p, n in zip(pairs, cfg["spatial"])):
        pairs = tuple((min(lo, n - 1), min(hi, n - 1)) for (lo, hi), n in zip(pairs, cfg["spatial"]))
    elif mode == "circular" and any(max(p) > n for p, n in zip(pairs, cfg["spatial"])):
        pairs = tuple((min(lo, n), min(hi, n)) for (lo, hi), n in zip(pairs, cfg["spatial"]))
    padding = cfg["padding"] if pairs == cfg["pairs"] or cfg["pairs"] is None else pairs
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(cfg["spatial"], pairs))
    if any(s < d * (k - 1) + 1 for s, k, d in zip(padded, cfg["kernel"], cfg["dilation"])):
        return  # the kernel is larger than the padded input
    rng = np.random.default_rng(seed)
    (x, w, b), (tx, tw, tb), args = operands(cfg, rng, torch)
    ty = getattr(F, f"conv{ndim}d")(F.pad(tx, torch_pad(pairs), mode=mode), tw, tb, **args)
    gy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(gy))

    name = f"conv{ndim}d"
    with using(cfg["algorithm"]):
        y = getattr(npconv, name)(x, w, b, padding=padding, padding_mode=mode, **args)
        gx, gw, gb = getattr(npconv, f"{name}_backward")(gy, x, w, b, padding=padding,
                                                         padding_mode=mode, **args)
    assert_close(y, ty.detach().numpy(), dtype, "forward")
    if x.size:
        assert_close(gx, tx.grad.numpy(), dtype, "grad_input")
    assert_close(gw, tw.grad.numpy(), dtype, "grad_weight")
    if b is not None:
        assert_close(gb, tb.grad.numpy(), dtype, "grad_bias")


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_padding_mode_matches_torch_modules(mode):
    """torch.nn.Conv2d(padding_mode=...), including 'same' (the odd cell on the high side)."""
    torch = torch_or_skip()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 7, 6))
    for padding, kernel, dilation in ((1, 3, 1), ((2, 1), (3, 2), 2), ("same", (4, 3), (1, 2))):
        layer = torch.nn.Conv2d(3, 4, kernel, padding=padding, dilation=dilation,
                                padding_mode=mode).double()
        w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
        expected = layer(torch.tensor(x)).detach().numpy()
        got = npconv.conv2d(x, w, b, padding=padding, dilation=dilation, padding_mode=mode)
        assert_close(got, expected, np.float64, f"{mode} {padding}")


X = np.zeros((1, 4, 5, 5), np.float32)
W = np.zeros((6, 2, 3, 3), np.float32)  # groups=2


def conv(**kwargs):
    return lambda: npconv.conv2d(X, W, **{"groups": 2, **kwargs})


ERRORS = [
    # (call, exception, message pattern)
    (lambda: npconv.conv2d(X, np.zeros((6, 3, 3, 3), np.float32)), ValueError,
     r"conv2d\(\): `input` must have 3 channels \(weight.shape\[1\]=3 x groups=1\), got 4"),
    (lambda: npconv.conv2d(X, np.zeros((5, 2, 3, 3), np.float32), groups=2), ValueError,
     r"conv2d\(\): `weight.shape\[0\]` \(output channels\) \(5\) must be divisible by groups \(2\)"),
    (conv(groups=0), ValueError, r"`groups` must be positive, got 0"),
    (conv(groups=3), ValueError, r"`input` must have 6 channels \(weight.shape\[1\]=2 x groups=3\), got 4"),
    (lambda: npconv.conv2d(X, np.zeros((6, 4, 7, 3), np.float32)), ValueError,
     r"kernel is larger than the padded input: padded input size \(5, 5\), dilated kernel size \(7, 3\)"),
    (conv(dilation=3), ValueError, r"padded input size \(5, 5\), dilated kernel size \(7, 7\)"),
    (conv(stride=0), ValueError, r"conv2d\(\): `stride` must be positive, got 0"),
    (conv(dilation=(1, -1)), ValueError, r"`dilation` must be positive, got \(1, -1\)"),
    (conv(padding=-1), ValueError, r"`padding` must be non-negative, got -1"),
    (conv(padding=((0, -1), (0, 0))), ValueError, r"`padding` must be non-negative"),
    (conv(padding="full"), ValueError, r"`padding` must be 'valid', 'same', an int or a tuple, got 'full'"),
    (conv(padding="same", stride=2), ValueError,
     r"padding='same' needs stride 1 in every dimension, got stride=\(2, 2\)"),
    (conv(stride=(1, 2, 3)), ValueError,
     r"`stride` must be an int or a tuple of 2 ints, got 3 values \(1, 2, 3\)"),
    (conv(dilation=[1]), ValueError, r"`dilation` must be an int or a tuple of 2 ints, got 1 values"),
    (conv(padding=(1, 2, 3)), ValueError, r"`padding` must be an int, a tuple of 2 ints or of 2 \(lo, hi\) pairs"),
    (conv(padding=((1, 2, 3), (1, 1))), ValueError, r"each per-side `padding` entry must be a \(lo, hi\) pair"),
    (conv(stride=1.5), TypeError, r"`stride` must be an int, got float 1.5"),
    (conv(stride=True), TypeError, r"`stride` must be an int, got bool True"),
    (lambda: npconv.conv2d(X[0, 0], W, groups=2), ValueError,
     r"`input` must have 3 or 4 dimensions, \(C, H, W\) unbatched or \(N, C, H, W\); got 2 with shape \(5, 5\)"),
    (lambda: npconv.conv1d(X, W, groups=2), ValueError, r"conv1d\(\): `input` must have 2 or 3 dimensions"),
    (lambda: npconv.conv2d(X, W[0], groups=2), ValueError, r"`weight` must have 4 dimensions"),
    (lambda: npconv.conv2d(X, np.zeros((0, 4, 3, 3), np.float32)), ValueError,
     r"`weight` must have no zero-size dimension"),
    (conv(bias=np.zeros(5, np.float32)), ValueError, r"`bias` must have shape \(6,\), got \(5,\)"),
    (conv(bias=np.zeros((6, 1), np.float32)), ValueError, r"`bias` must have shape \(6,\), got \(6, 1\)"),
    (lambda: npconv.conv2d_backward(np.zeros((1, 6, 4, 4), np.float32), X, W, groups=2), ValueError,
     r"conv2d_backward\(\): `grad_output` must have shape \(1, 6, 3, 3\), got \(1, 6, 4, 4\)"),
    (lambda: npconv.conv2d([["a"]], W), TypeError, r"`input` must be a float32 or float64 array, got dtype <U1"),
    (lambda: npconv.conv2d(np.zeros((1, 4, 5, 5), int), W), TypeError,
     r"got dtype int64; convert it with `.astype\(np.float32\)` or `.astype\(np.float64\)`"),
    (lambda: npconv.conv2d(np.zeros((1, 4, 5, 5), bool), W), TypeError, r"got dtype bool; convert it"),
    (lambda: npconv.conv2d(X.astype(">f4"), W), TypeError,
     r"`input` must be in the machine's byte order, got a big-endian float32 array \(dtype '>f4'\); "
     r"convert it with `.astype\(np.float32\)`"),
    (lambda: npconv.max_pool2d(X.astype(">f8"), 2), TypeError, r"big-endian float64 array"),
    (lambda: npconv.conv2d(X, W.astype(np.float16)), TypeError, r"`weight` must be a float32 or float64 array"),
    (lambda: npconv.conv2d_input((1, 3, 5, 5), W, np.zeros((1, 6, 3, 3), np.float32), groups=2), ValueError,
     r"conv2d_input\(\): `input_size` must have 4 channels"),
    (lambda: npconv.conv2d_input("1455", W, np.zeros((1, 6, 3, 3), np.float32)), TypeError,
     r"`input_size` must be a tuple of ints"),
    (lambda: npconv.conv2d_input((1, 4, 5), W, np.zeros((1, 6, 3, 3), np.float32)), ValueError,
     r"`input_size` must have 2 channels"),
    (lambda: npconv.conv2d_weight(X, (6, 2, 3), np.zeros((1, 6, 3, 3), np.float32), groups=2), ValueError,
     r"`weight_size` must have 4 entries, got \(6, 2, 3\)"),
    (conv(padding=1, padding_mode="zero"), ValueError,
     r"conv2d\(\): `padding_mode` must be one of 'zeros', 'reflect', 'replicate', 'circular', "
     r"got 'zero'"),
    (conv(padding=5, padding_mode="reflect"), ValueError,
     r"conv2d\(\): `padding` \(5, 5\) on dimension 2 of size 5: reflect padding must be smaller "
     r"than the size"),
    (conv(padding=((0, 6), (0, 0)), padding_mode="circular"), ValueError,
     r"`padding` \(0, 6\) on dimension 2 of size 5: circular padding wraps around more than once"),
    (lambda: npconv.conv2d_backward(np.zeros((1, 6, 5, 5), np.float32), X, W, padding=1,
                                    groups=2, padding_mode=None), ValueError,
     r"conv2d_backward\(\): `padding_mode` must be one of"),
]


@pytest.mark.parametrize("call,exception,message", ERRORS, ids=[c[2][:60] for c in ERRORS])
def test_error_messages(call, exception, message):
    with pytest.raises(exception, match=message):
        call()
