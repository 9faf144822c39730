"""unfold/fold (im2col/col2im) against the loop reference, adjointness, and the round trip."""

import numpy as np
import pytest

import npconv
import reference
from helpers import DTYPES, as_tuple, assert_close, noncontiguous, pad_pairs

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
