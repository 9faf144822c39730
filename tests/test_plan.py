"""Each pass is planned once: the algorithm, im2col's backward variant, the workspace, the fft
check, and the pieces (batch chunks, bands, plane blocks) it runs in."""

import dataclasses

import numpy as np
import pytest

import npconv
from npconv.engine import planning
from npconv.ops.arguments import make_window


def window(spatial, kernel, padding=0, stride=1):
    ndim = len(spatial)
    return make_window("test", spatial, kernel, (stride,) * ndim, ((padding, padding),) * ndim,
                       (1,) * ndim)


def shapes(channels, weight_shape, spatial, dtype=np.float32, n_batch=2, backward=False,
           padding=1, stride=1):
    return planning.Shapes(backward, n_batch, channels, weight_shape,
                           window(spatial, weight_shape[2:], padding, stride), np.dtype(dtype))


@pytest.mark.parametrize("channels,weight_shape,shape,dtype,expected", [
    (64, (64, 64, 3, 3), (32, 32), np.float32, "im2col"),
    (1, (1, 1, 15, 15), (128, 128), np.float32, "fft"),       # a large kernel on one channel
    (1, (1, 1, 15, 15), (128, 128), np.float64, "im2col"),    # auto keeps float64 off the transform
    (128, (128, 1, 3, 3), (56, 56), np.float32, "depthwise"),
])
def test_auto_plans(channels, weight_shape, shape, dtype, expected):
    plan = planning.make_plan(shapes(channels, weight_shape, shape, dtype))
    assert plan.algorithm == expected
    assert plan.workspace == npconv.get_workspace()
    assert (plan.fft_tolerance is not None) == (npconv.get_algorithm() == "auto")


def test_a_sample_larger_than_the_workspace_plans_direct_in_bands():
    with npconv.workspace(1 << 16):
        plan = planning.make_plan(shapes(64, (64, 64, 3, 3), (32, 32), n_batch=3))
    assert plan.algorithm == "direct" and plan.workspace == 1 << 16
    # a sample's temporaries are (64 + 64) * 32 * 32 * 4 = 512 KiB: 8 bands of 4 rows each
    assert len(plan.pieces) == 3 * 8
    assert plan.pieces[0] == (slice(0, 1), (0, slice(0, 4)))
    assert plan.pieces[-1] == (slice(2, 3), (0, slice(28, 32)))


def test_batch_chunks_are_planned_with_the_pass():
    layer = shapes(16, (16, 16, 3, 3), (32, 32), n_batch=64)
    with npconv.workspace(1 << 20):
        plan = planning.make_plan(layer, algorithm="im2col", gradient_columns=False)
    # input columns and their phases take about 0.75 MiB per sample: one sample per chunk
    assert plan.pieces == tuple(slice(n, n + 1) for n in range(64))
    with npconv.workspace(1 << 30):
        forward = planning.make_plan(layer, algorithm="im2col")
        backward = planning.make_plan(dataclasses.replace(layer, backward=True),
                                      algorithm="im2col", gradient_columns=True)
    # input columns: chunks of at most 4 MiB (CHUNK_BYTES), 5 samples; the gradient-columns
    # backward pass plans its own buffers, (16 * (2 + 9) + 16 + 2 * 16) * 34 * 34 * 4 bytes
    # (about 1 MiB) per sample, in chunks of at most 24 MiB
    assert forward.pieces == tuple(slice(n, min(64, n + 5)) for n in range(0, 64, 5))
    assert backward.pieces == (slice(0, 22), slice(22, 44), slice(44, 64))


def test_depthwise_and_fft_plans_carry_their_pieces():
    with npconv.workspace(1 << 22):
        depthwise = planning.make_plan(shapes(8, (8, 1, 3, 3), (64, 64), n_batch=4))
        transform = planning.make_plan(shapes(1, (1, 1, 15, 15), (128, 128), n_batch=16,
                                              padding=7), algorithm="fft")
    assert depthwise.algorithm == "depthwise"
    covered = {(n, c) for samples, chans in depthwise.pieces
               for n in range(4)[samples] for c in range(8)[chans]}
    assert covered == {(n, c) for n in range(4) for c in range(8)}
    assert transform.algorithm == "fft" and transform.fft_tolerance is None
    assert len(transform.pieces) > 1 and transform.pieces[-1].stop == 16


def test_forced_settings_reach_the_plan():
    layer = shapes(4, (4, 4, 3, 3), (16, 16))
    with npconv.conv_algorithm("fft"):
        plan = planning.make_plan(layer)
    assert plan.algorithm == "fft" and plan.fft_tolerance is None  # a forced fft is not checked
    for kind in ("input", "gradient"):
        with planning.im2col_columns(kind):
            assert planning.make_plan(layer).gradient_columns == (kind == "gradient")
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
            for backward in (False, True):
                plan = planning.make_plan(planning.Shapes(backward, 2, 3, w.shape, geometry,
                                                          x.dtype), algorithm, columns)
                assert plan.algorithm == algorithm and plan.gradient_columns == columns
                if not backward:
                    np.testing.assert_allclose(planning.forward(x, w, geometry, 1, plan=plan),
                                               expected, rtol=1e-10, atol=1e-10)
                    continue
                grads = planning.backward(gy, geometry, 1, w.shape, weight=w, x=x, plan=plan)
                for got, want in zip(grads, expected_grads[:2]):
                    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_plans_are_kept_per_shapes_and_settings():
    """A plan is made once per shapes and settings; any setting that changes gives its own plan,
    the plan that a fresh planning would make."""
    layer = shapes(16, (16, 16, 3, 3), (32, 32), n_batch=64)
    first = planning.make_plan(layer)
    assert planning.make_plan(dataclasses.replace(layer)) is first  # equal shapes, same plan
    settings = [
        lambda: npconv.workspace(1 << 20),
        lambda: npconv.threads(1),
        lambda: npconv.conv_algorithm("direct"),
        lambda: planning.im2col_columns("input"),
        lambda: planning.im2col_columns("gradient"),
    ]
    for setting in settings:
        with setting():
            plan = planning.make_plan(layer)
            fresh = planning._plan.__wrapped__(
                layer, npconv.get_algorithm(), None, planning._columns.get(),
                npconv.get_workspace(), npconv.get_threads(), npconv.config.get_blas_threads())
        assert plan == fresh and plan is not first
    assert planning.make_plan(layer) is first
    assert planning.make_plan(dataclasses.replace(layer, n_batch=3)).pieces != first.pieces


def test_equal_geometries_share_one_window():
    """Operators build one Window per geometry, so that what it works out (its offsets) is kept
    between calls; a different geometry gets its own."""
    first = window((9, 8), (3, 3), 1)
    assert window((9, 8), (3, 3), 1) is first
    assert first.offsets is window((9, 8), (3, 3), 1).offsets
    second = window((9, 8), (3, 3), 1, stride=2)
    assert second is not first
    assert second.stride == (2, 2) and second.out_shape == (5, 4)  # its own geometry
