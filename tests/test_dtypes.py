"""Mixed float32/float64 arguments promote as NumPy does (a deliberate difference from torch).

A forward pass computes in the common dtype (float64 if any argument is);
each gradient comes back in the dtype of the argument it is the gradient of.
"""

import itertools

import numpy as np
import pytest

import npconv

f32, f64 = np.float32, np.float64
MIXES = [m for m in itertools.product((f32, f64), repeat=3) if len(set(m)) > 1]


def arrays(dtypes, transposed=False):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 7, 6)).astype(dtypes[0])
    w = rng.standard_normal((4, 3, 3, 2) if transposed else (6, 2, 3, 2)).astype(dtypes[1])
    b = rng.standard_normal(6).astype(dtypes[2])
    return x, w, b


@pytest.mark.parametrize("dtypes", MIXES, ids=lambda m: "-".join(np.dtype(t).name for t in m))
@pytest.mark.parametrize("prefix", ["conv", "conv_transpose"])
def test_mixed_dtypes_compute_in_float64_and_give_each_gradient_its_arguments_dtype(dtypes, prefix):
    x, w, b = arrays(dtypes, transposed=prefix == "conv_transpose")
    forward = getattr(npconv, f"{prefix}2d")
    backward = getattr(npconv, f"{prefix}2d_backward")
    arguments = dict(stride=2, padding=1, groups=2)
    y = forward(x, w, b, **arguments)
    assert y.dtype == f64
    np.testing.assert_array_equal(y, forward(x.astype(f64), w.astype(f64), b.astype(f64),
                                             **arguments))
    for gy_dtype in (f32, f64):
        gy = np.random.default_rng(1).standard_normal(y.shape).astype(gy_dtype)
        grads = backward(gy, x, w, b, **arguments)
        expected = backward(gy.astype(f64), x.astype(f64), w.astype(f64), b.astype(f64),
                            **arguments)
        for got, want, argument in zip(grads, expected, (x, w, b)):
            assert got.dtype == argument.dtype
            np.testing.assert_allclose(got, want.astype(argument.dtype), rtol=1e-6, atol=1e-6)


def test_cs231n_style_float64_data_with_float32_weights():
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8))          # float64 images
    w = (0.01 * np.random.default_rng(1).standard_normal((4, 3, 3, 3))).astype(f32)
    assert npconv.conv2d(x, w, padding=1).dtype == f64


POOL_BACKWARDS = [
    lambda gy, x: npconv.max_pool2d_backward(gy, x, 2),
    lambda gy, x: npconv.avg_pool2d_backward(gy, x, 2),
    lambda gy, x: npconv.adaptive_avg_pool2d_backward(gy, x, 3),
    lambda gy, x: npconv.adaptive_max_pool2d_backward(gy, x, 3),
]


@pytest.mark.parametrize("backward", POOL_BACKWARDS)
def test_a_float64_output_gradient_gives_a_float32_inputs_gradient_in_float32(backward):
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(f32)
    gy = np.random.default_rng(1).standard_normal((2, 3, 3, 3))
    got = backward(gy, x)
    assert got.dtype == f32
    np.testing.assert_allclose(got, backward(gy, x.astype(f64)), rtol=1e-6, atol=1e-6)


def test_fold_unfold_and_unpool_gradients_keep_their_inputs_dtype():
    x = np.ones((1, 2, 6, 6), f32)
    cols = npconv.unfold(x, 2)
    assert npconv.unfold_backward(cols.astype(f64), x, 2).dtype == f32
    assert npconv.fold_backward(x.astype(f64), cols, (6, 6), 2).dtype == f32
    values, indices = npconv.max_pool2d(x, 2, return_indices=True)
    assert npconv.max_unpool2d_backward(np.ones((1, 2, 6, 6)), values, indices, 2).dtype == f32
