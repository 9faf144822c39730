"""Layers built with the same positional arguments as torch's give torch's outputs and gradients."""

import numpy as np
import pytest

from npconv import nn

RNG = np.random.default_rng

# (layer name, positional arguments, keyword arguments, input shape)
CASES = [
    ("MaxPool1d", (3, 2, 1), {}, (2, 3, 9)),
    ("MaxPool2d", (2, 2, 0, 1, True), {}, (2, 3, 6, 7)),         # return_indices, torch's place
    ("MaxPool2d", (3, 2, 1, 1, False, True), {}, (2, 3, 8, 7)),   # ceil_mode
    ("MaxPool3d", (2,), {"stride": 1, "dilation": 2}, (1, 2, 5, 5, 5)),
    ("AvgPool1d", (3, 2, 1, True, False), {}, (2, 3, 8)),
    ("AvgPool2d", (3, 2, 1, False, True, 5), {}, (2, 3, 7, 6)),
    ("AvgPool3d", (2, 1), {}, (1, 2, 4, 3, 5)),
    ("LPPool1d", (2, 3, 2), {}, (2, 3, 9)),
    ("LPPool2d", (3, 2, 1, True), {}, (2, 3, 7, 6)),
    ("LPPool3d", (1.5, 2), {}, (1, 2, 4, 4, 5)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 9)),
    ("AdaptiveAvgPool2d", ((3, None),), {}, (2, 3, 7, 5)),
    ("AdaptiveAvgPool3d", (2,), {}, (1, 2, 5, 4, 3)),
    ("AdaptiveMaxPool1d", (4, True), {}, (2, 3, 9)),
    ("AdaptiveMaxPool2d", ((3, 2),), {}, (2, 3, 7, 5)),
    ("AdaptiveMaxPool3d", (2,), {}, (1, 2, 5, 4, 3)),
]


def positive_when_lp(name, x):
    return np.abs(x) + 0.1 if name.startswith("LP") else x


@pytest.mark.parametrize("name,args,kwargs,shape", CASES, ids=[f"{c[0]}{c[1]}" for c in CASES])
def test_pooling_layers_match_torch(name, args, kwargs, shape):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    layer = getattr(nn, name)(*args, **kwargs)
    reference = getattr(torch.nn, name)(*args, **kwargs)
    x = positive_when_lp(name, RNG(0).standard_normal(shape))
    tx = torch.tensor(x, requires_grad=True)
    expected = reference(tx)
    got = layer(x)
    if isinstance(expected, tuple):
        assert isinstance(got, tuple)
        np.testing.assert_array_equal(got[1], expected[1].numpy())
        got, expected = got[0], expected[0]
    np.testing.assert_allclose(got, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    gy = RNG(1).standard_normal(got.shape)
    expected.backward(torch.tensor(gy))
    np.testing.assert_allclose(layer.backward(gy), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_unpooling_and_fractional_layers_match_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    x = RNG(2).standard_normal((2, 3, 6, 8))
    pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
    values, indices = pool(x)
    y = unpool(values, indices, output_size=(7, 8))
    expected = torch.nn.MaxUnpool2d(2)(torch.tensor(values), torch.tensor(indices),
                                      output_size=(7, 8))
    np.testing.assert_array_equal(y, expected.numpy())
    gy = RNG(3).standard_normal(y.shape)
    np.testing.assert_array_equal(unpool.backward(gy),
                                  np.take_along_axis(gy.reshape(2, 3, -1),
                                                     indices.reshape(2, 3, -1), 2).reshape(values.shape))
    samples = RNG(4).random((2, 3, 2))
    fractional = nn.FractionalMaxPool2d(2, (4, 5), return_indices=True, _random_samples=samples)
    reference = torch.nn.FractionalMaxPool2d(2, (4, 5), return_indices=True,
                                             _random_samples=torch.tensor(samples))
    tx = torch.tensor(x, requires_grad=True)
    (tv, ti), (v, i) = reference(tx), fractional(x)
    np.testing.assert_array_equal(i, ti.numpy())
    np.testing.assert_array_equal(v, tv.detach().numpy())
    tv.backward(torch.tensor(np.ones(v.shape)))
    np.testing.assert_array_equal(fractional.backward(np.ones(v.shape)), tx.grad.numpy())


def test_pooling_layers_refuse_bad_arguments_when_built():
    with pytest.raises(ValueError, match=r"MaxPool3d\(\): `kernel_size` must be an int or a tuple of 3"):
        nn.MaxPool3d((2, 2))
    with pytest.raises(ValueError, match=r"AvgPool1d\(\): `stride` must be positive"):
        nn.AvgPool1d(2, 0)
    with pytest.raises(ValueError, match=r"FractionalMaxPool2d\(\): give exactly one of"):
        nn.FractionalMaxPool2d(2)
