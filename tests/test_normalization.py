"""batch, instance, layer, group and local response norm: the loop reference, finite differences
(input, weight, bias), torch parity, the running statistics and the errors."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import npconv
import reference
from helpers import DTYPES, assert_close, check_directional_derivatives, torch_or_skip

RNG = np.random.default_rng


def affine(shape):
    rng = RNG(7)
    return rng.standard_normal(shape), rng.standard_normal(shape)


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 6), (2, 4, 3, 5)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_against_reference(shape, dtype):
    x = (RNG(0).standard_normal(shape) * 2 + 1).astype(dtype)
    channels = shape[1]
    w, b = affine(channels)
    eps = 1e-3
    per_channel = (lambda i: w[i[1]], lambda i: b[i[1]])
    cases = [
        (npconv.batch_norm(x, None, None, w.astype(dtype), b.astype(dtype), True, 0.1, eps),
         reference.normalise_groups(x, lambda i: i[1], *per_channel, eps), "batch_norm"),
        (npconv.batch_norm(x, np.arange(channels, dtype=dtype), np.full(channels, 2, dtype),
                           w.astype(dtype), b.astype(dtype), False, 0.1, eps),
         reference.normalise_groups(x, lambda i: i[1], *per_channel, eps,
                                    stats=lambda c: (c, 2.0)), "batch_norm (running)"),
        (npconv.layer_norm(x, shape[-1], affine(shape[-1])[0].astype(dtype),
                           affine(shape[-1])[1].astype(dtype), eps),
         reference.normalise_groups(x, lambda i: i[:-1], lambda i: affine(shape[-1])[0][i[-1]],
                                    lambda i: affine(shape[-1])[1][i[-1]], eps), "layer_norm"),
    ]
    if len(shape) > 2:
        cases += [
            (npconv.instance_norm(x, weight=w.astype(dtype), bias=b.astype(dtype), eps=eps),
             reference.normalise_groups(x, lambda i: i[:2], *per_channel, eps), "instance_norm"),
            (npconv.group_norm(x, 1, w.astype(dtype), b.astype(dtype), eps),
             reference.normalise_groups(x, lambda i: i[0], *per_channel, eps), "group_norm"),
            (npconv.local_response_norm(x, 3, 0.1, 0.75, 2.0),
             reference.local_response_norm(x, 3, 0.1, 0.75, 2.0), "local_response_norm"),
        ]
        if channels % 2 == 0:
            cases.append((npconv.group_norm(x, 2, w.astype(dtype), b.astype(dtype), eps),
                          reference.normalise_groups(x, lambda i: (i[0], i[1] // (channels // 2)),
                                                     *per_channel, eps), "group_norm 2"))
    for got, expected, what in cases:
        assert_close(got, expected, dtype, what)


def check_gradients(forward, backward, x, w, b):
    rng = RNG(3)
    arrays = [a for a in (x, w, b) if a is not None]
    check_directional_derivatives(forward, lambda u, *a: [g for g in backward(u, *a)
                                                          if g is not None], arrays, rng)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_finite_differences(training):
    x = RNG(1).standard_normal((4, 3, 5))
    w, b = affine(3)
    rm, rv = np.array([0.1, -0.2, 0.3]), np.array([1.5, 0.5, 2.0])
    check_gradients(lambda x, w, b: npconv.batch_norm(x, rm.copy(), rv.copy(), w, b, training),
                    lambda u, x, w, b: npconv.batch_norm_backward(u, x, rm, rv, w, b, training),
                    x, w, b)


@pytest.mark.parametrize("use_input_stats", [True, False])
def test_instance_norm_finite_differences(use_input_stats):
    x = RNG(1).standard_normal((2, 3, 4, 3))
    w, b = affine(3)
    rm, rv = np.array([0.1, -0.2, 0.3]), np.array([1.5, 0.5, 2.0])
    check_gradients(
        lambda x, w, b: npconv.instance_norm(x, rm.copy(), rv.copy(), w, b, use_input_stats),
        lambda u, x, w, b: npconv.instance_norm_backward(u, x, rm, rv, w, b, use_input_stats),
        x, w, b)


def test_layer_group_and_local_response_norm_finite_differences():
    x = RNG(2).standard_normal((2, 4, 3, 5))
    w, b = affine((3, 5))
    check_gradients(lambda x, w, b: npconv.layer_norm(x, (3, 5), w, b),
                    lambda u, x, w, b: npconv.layer_norm_backward(u, x, (3, 5), w, b), x, w, b)
    w, b = affine(4)
    check_gradients(lambda x, w, b: npconv.group_norm(x, 2, w, b),
                    lambda u, x, w, b: npconv.group_norm_backward(u, x, 2, w, b), x, w, b)
    check_gradients(lambda x: npconv.local_response_norm(x, 3, 0.5, 0.75, 1.5),
                    lambda u, x: (npconv.local_response_norm_backward(u, x, 3, 0.5, 0.75, 1.5),),
                    x, None, None)


def test_running_statistics_are_updated_in_place_as_torch():
    x = np.array([[1.0, 10.0], [3.0, 20.0], [5.0, 30.0]])
    mean, var = np.zeros(2), np.ones(2)
    npconv.batch_norm(x, mean, var, training=True, momentum=0.5)
    np.testing.assert_allclose(mean, [1.5, 10.0])             # 0.5 * batch mean
    np.testing.assert_allclose(var, [0.5 + 0.5 * 4, 0.5 + 0.5 * 100])  # unbiased variances 4, 100
    before = mean.copy(), var.copy()
    npconv.batch_norm_backward(np.ones_like(x), x, mean, var, training=True)
    np.testing.assert_array_equal(mean, before[0])           # the backward pass only reads them
    npconv.batch_norm(x, mean, var, training=False)
    np.testing.assert_array_equal(var, before[1])            # nor does evaluation


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=3, max_size=5), dtype=st.sampled_from(DTYPES),
       training=st.booleans(), affine_parameters=st.booleans(), seed=st.integers(0, 2**16))
def test_parity_with_torch(shape, dtype, training, affine_parameters, seed):
    torch = torch_or_skip()
    F = torch.nn.functional
    shape = tuple(shape)
    shape = shape[:1] + (2 * shape[1],) + shape[2:]
    rng = RNG(seed)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    channels = shape[1]
    w = rng.standard_normal(channels).astype(dtype) if affine_parameters else None
    b = rng.standard_normal(channels).astype(dtype) if affine_parameters else None
    tolerance = 2e-5 if dtype == np.float32 else 1e-11
    cells = x.size // channels

    def compare(ours, theirs, arrays, tensors):
        np.testing.assert_allclose(ours[0], theirs[0].detach().numpy(), rtol=tolerance,
                                   atol=tolerance)
        theirs[0].backward(torch.tensor(gy))
        for got, tensor in zip(ours[1], tensors):
            if tensor is not None:
                np.testing.assert_allclose(got, tensor.grad.numpy(), rtol=tolerance,
                                           atol=tolerance * max(1, np.abs(gy).sum() ** 0.5))
    def tensors():
        return [None if a is None else torch.tensor(a, requires_grad=True) for a in (x, w, b)]

    if not training or cells > 1:
        rm, rv = rng.standard_normal(channels).astype(dtype), rng.uniform(0.5, 2, channels).astype(dtype)
        trm, trv = torch.tensor(rm), torch.tensor(rv)
        t = tensors()
        ty = F.batch_norm(t[0], trm, trv, t[1], t[2], training, 0.2, 1e-4)
        y = npconv.batch_norm(x, rm, rv, w, b, training, 0.2, 1e-4)
        compare((y, npconv.batch_norm_backward(gy, x, rm, rv, w, b, training, 0.2, 1e-4)), (ty,),
                None, t)
        np.testing.assert_allclose(rm, trm.numpy(), rtol=tolerance, atol=tolerance)
        np.testing.assert_allclose(rv, trv.numpy(), rtol=tolerance, atol=tolerance)
    if np.prod(shape[2:]) > 1:
        t = tensors()
        ty = F.instance_norm(t[0], None, None, t[1], t[2], True, 0.1, 1e-4)
        compare((npconv.instance_norm(x, None, None, w, b, True, 0.1, 1e-4),
                 npconv.instance_norm_backward(gy, x, None, None, w, b, True, 0.1, 1e-4)),
                (ty,), None, t)
    if x[0].size // 2 > 1:  # torch (and npconv) refuse a group of one value
        t = tensors()
        ty = F.group_norm(t[0], 2, t[1], t[2], 1e-4)
        compare((npconv.group_norm(x, 2, w, b, 1e-4),
                 npconv.group_norm_backward(gy, x, 2, w, b, 1e-4)), (ty,), None, t)
    t = [torch.tensor(x, requires_grad=True)]
    ty = F.local_response_norm(t[0], 3, 0.05, 0.75, 1.5)
    compare((npconv.local_response_norm(x, 3, 0.05, 0.75, 1.5),
             [npconv.local_response_norm_backward(gy, x, 3, 0.05, 0.75, 1.5)]), (ty,), None, t)
    normalized = shape[-2:]
    lw = None if w is None else rng.standard_normal(normalized).astype(dtype)
    lb = None if b is None else rng.standard_normal(normalized).astype(dtype)
    t = [torch.tensor(x, requires_grad=True)] + [None if a is None else torch.tensor(a, requires_grad=True)
                                                 for a in (lw, lb)]
    ty = F.layer_norm(t[0], normalized, t[1], t[2], 1e-4)
    compare((npconv.layer_norm(x, normalized, lw, lb, 1e-4),
             npconv.layer_norm_backward(gy, x, normalized, lw, lb, 1e-4)), (ty,), None, t)


X = np.ones((2, 4, 3))

ERRORS = [
    (lambda: npconv.batch_norm(np.ones((1, 3)), None, None, training=True), ValueError,
     r"batch_norm\(\): expected more than 1 value per channel when training, got input shape \(1, 3\)"),
    (lambda: npconv.batch_norm(X, None, None), ValueError,
     r"batch_norm\(\): `running_mean` and `running_var` are needed when not training"),
    (lambda: npconv.batch_norm(X, np.zeros(3), np.ones(4), training=True), ValueError,
     r"`running_mean` must have shape \(4,\), got \(3,\)"),
    (lambda: npconv.batch_norm(X, [0.0] * 4, np.ones(4), training=True), TypeError,
     r"`running_mean` must be a float ndarray \(it is updated in place in training\), got list"),
    (lambda: npconv.batch_norm(X, np.zeros(4), np.ones(4), training="yes"), TypeError,
     r"`training` must be a bool, got 'yes'"),
    (lambda: npconv.instance_norm(np.ones((2, 3, 1))), ValueError,
     r"instance_norm\(\): expected more than 1 spatial element"),
    (lambda: npconv.instance_norm(np.ones((2, 3))), ValueError,
     r"instance_norm\(\): `input` must have at least 3 dimensions"),
    (lambda: npconv.layer_norm(X, (4,)), ValueError,
     r"layer_norm\(\): `normalized_shape` \(4,\) must be the last dimensions of `input`, got input "
     r"shape \(2, 4, 3\)"),
    (lambda: npconv.layer_norm(X, 3, weight=np.ones(4)), ValueError,
     r"`weight` must have shape \(3,\), got \(4,\)"),
    (lambda: npconv.group_norm(X, 3), ValueError,
     r"group_norm\(\): `num_groups` must be positive and divide the 4 channels of `input`, got 3"),
    (lambda: npconv.local_response_norm(X, 0), ValueError, r"`size` must be positive, got 0"),
    (lambda: npconv.group_norm(np.ones((2, 2, 1)), 2), ValueError,
     r"group_norm\(\): expected more than 1 value per group"),
    (lambda: npconv.group_norm_backward(np.ones((2, 4)), X, 2), ValueError,
     r"group_norm_backward\(\): `grad_output` must have shape \(2, 4, 3\), got \(2, 4\)"),
]


@pytest.mark.parametrize("call,exception,message", ERRORS, ids=[c[2][:60] for c in ERRORS])
def test_error_messages(call, exception, message):
    with pytest.raises(exception, match=message):
        call()


def test_batch_norm_gradients_keep_their_digits_far_from_zero():
    """Data far from zero (mean 1e4, deviations of 1): the float32 weight gradient sums centred
    products, which do not cancel (``sum(gy * x) - mean * sum(gy)`` lost three digits here),
    and the mean is summed in float64. The reference is the textbook formula in float64 on the
    same float32 values."""
    rng = RNG(1)
    x = (1e4 + rng.standard_normal((8, 3, 16, 16))).astype(np.float32)
    gy = rng.standard_normal(x.shape).astype(np.float32)
    xd, gd, axes = x.astype(np.float64), gy.astype(np.float64), (0, 2, 3)
    mean, var = xd.mean(axes, keepdims=True), xd.var(axes, keepdims=True)
    inverse = 1 / np.sqrt(var + 1e-5)
    x_hat = (xd - mean) * inverse
    expected_gw = (gd * x_hat).sum(axes)
    expected_gx = inverse * (gd - gd.mean(axes, keepdims=True)
                             - x_hat * (gd * x_hat).mean(axes, keepdims=True))
    gx, gw, _ = npconv.batch_norm_backward(gy, x, None, None, np.ones(3, np.float32),
                                           np.zeros(3, np.float32), training=True)
    assert np.abs(gw - expected_gw).max() <= 1e-6 * np.abs(expected_gw).max()
    # the input gradient's own error is float32 roundoff of x (1e4) times the scale
    assert np.abs(gx - expected_gx).max() <= 1e-4 * np.abs(expected_gx).max()


def test_the_batch_norm_layer_keeps_its_statistics_for_the_backward_pass(monkeypatch):
    """The layer's backward pass reuses the forward's mean and variance (one pass over the batch
    for them, not two) and gives the functional backward's gradients."""
    from npconv import nn
    from npconv.ops import normalization

    calls = []
    pooled = normalization._pooled_statistics
    monkeypatch.setattr(normalization, "_pooled_statistics",
                        lambda *args: calls.append(1) or pooled(*args))
    x = RNG(0).standard_normal((4, 3, 5, 5))
    gy = RNG(1).standard_normal(x.shape)
    layer = nn.BatchNorm2d(3, dtype=np.float64)
    layer(x)
    grad_input = layer.backward(gy)
    assert len(calls) == 1
    expected = npconv.batch_norm_backward(gy, x, None, None, np.ones(3), np.zeros(3), True)
    np.testing.assert_array_equal(grad_input, expected[0])
    np.testing.assert_array_equal(layer.weight.grad, expected[1])
    assert len(calls) == 2
