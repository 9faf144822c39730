"""Each call is planned once: the algorithm, im2col's backward variant, the workspace, the fft check."""

import numpy as np
import pytest

import npconv
from npconv.engine import planning
from npconv.ops.arguments import make_window


def window(spatial, kernel, padding=0):
    ndim = len(spatial)
    return make_window("test", spatial, kernel, (1,) * ndim, ((padding, padding),) * ndim,
                       (1,) * ndim)


@pytest.mark.parametrize("channels,weight_shape,shape,dtype,expected", [
    (64, (64, 64, 3, 3), (32, 32), np.float32, "im2col"),
    (1, (1, 1, 15, 15), (128, 128), np.float32, "fft"),       # a large kernel on one channel
    (1, (1, 1, 15, 15), (128, 128), np.float64, "im2col"),    # auto keeps float64 off the transform
    (128, (128, 1, 3, 3), (56, 56), np.float32, "depthwise"),
])
def test_auto_plans(channels, weight_shape, shape, dtype, expected):
    plan = planning.make_plan(channels, weight_shape, window(shape, weight_shape[2:], 1),
                              np.dtype(dtype))
    assert plan.algorithm == expected
    assert plan.workspace == npconv.get_workspace()
    assert (plan.fft_tolerance is not None) == (npconv.get_algorithm() == "auto")


def test_a_sample_larger_than_the_workspace_plans_direct():
    with npconv.workspace(1 << 16):
        plan = planning.make_plan(64, (64, 64, 3, 3), window((32, 32), (3, 3), 1),
                                  np.dtype(np.float32))
    assert plan.algorithm == "direct" and plan.workspace == 1 << 16


def test_forced_settings_reach_the_plan():
    w = window((16, 16), (3, 3), 1)
    with npconv.conv_algorithm("fft"):
        plan = planning.make_plan(4, (4, 4, 3, 3), w, np.dtype(np.float32))
    assert plan.algorithm == "fft" and plan.fft_tolerance is None  # a forced fft is not checked
    for kind in ("input", "gradient"):
        with planning.im2col_columns(kind):
            assert planning.make_plan(4, (4, 4, 3, 3), w, np.dtype(np.float32)).gradient_columns \
                == (kind == "gradient")
    with pytest.raises(ValueError, match="`kind` must be 'input' or 'gradient'"):
        with planning.im2col_columns("both"):
            pass


def test_a_given_plan_is_followed():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 9))
    w = rng.standard_normal((4, 3, 3, 3))
    geometry = window((9, 9), (3, 3), 1)
    expected = npconv.conv2d(x, w, padding=1)
    gy = rng.standard_normal(expected.shape)
    expected_grads = npconv.conv2d_backward(gy, x, w, padding=1)
    for algorithm in ("im2col", "direct", "fft"):
        for columns in (False, True):
            plan = planning.Plan(algorithm, columns, 1 << 30, 2, None)
            np.testing.assert_allclose(planning.forward(x, w, geometry, 1, plan=plan), expected,
                                       rtol=1e-10, atol=1e-10)
            grads = planning.backward(gy, geometry, 1, w.shape, weight=w, x=x, plan=plan)
            for got, want in zip(grads, expected_grads[:2]):
                np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
