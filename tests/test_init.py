"""nn.init: torch's in-place initialisers on a NumPy Generator (torch's gains, fans and bounds)."""

import math

import numpy as np
import pytest

import npconv
from npconv import nn


def parameter(shape):
    return nn.Parameter(np.zeros(shape, np.float32))


@pytest.mark.parametrize("name,arguments,shape", [
    ("kaiming_uniform_", dict(a=0.1, mode="fan_in", nonlinearity="leaky_relu"), (64, 32, 3, 3)),
    ("kaiming_normal_", dict(mode="fan_out", nonlinearity="relu"), (64, 32, 3, 3)),
    ("xavier_uniform_", dict(gain=2.0), (100, 60)),
    ("xavier_normal_", dict(gain=0.5), (80, 40, 5)),
])
def test_spreads_follow_torch(name, arguments, shape):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    ours = parameter(shape)
    assert getattr(nn.init, name)(ours, generator=np.random.default_rng(0), **arguments) is ours
    theirs = torch.empty(shape)
    getattr(torch.nn.init, name)(theirs, generator=torch.Generator().manual_seed(0), **arguments)
    # different generators, one distribution: the same spread and, for uniforms, the same bound
    assert np.isclose(ours.data.std(), theirs.std().item(), rtol=0.03)
    if "uniform" in name:
        bound = theirs.abs().max().item()
        assert np.abs(ours.data).max() <= bound * 1.001 and np.abs(ours.data).max() > 0.99 * bound


def test_gains_match_torch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; parity needs it")
    for name, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                        ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)]:
        assert nn.init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)


def test_deterministic_shapes_and_constants():
    w = parameter((4, 4, 3, 3))
    nn.init.dirac_(w)
    x = np.random.default_rng(1).standard_normal((2, 4, 5, 5)).astype(np.float32)
    np.testing.assert_array_equal(npconv.conv2d(x, w.data, padding=1), x)
    q = nn.init.orthogonal_(parameter((3, 7)), generator=np.random.default_rng(2)).data
    np.testing.assert_allclose(q @ q.T, np.eye(3), atol=1e-6)
    np.testing.assert_array_equal(nn.init.eye_(parameter((2, 3))).data, np.eye(2, 3))
    assert (nn.init.constant_(parameter(3), 0.5).data == 0.5).all()
    assert (nn.init.ones_(parameter(3)).data == 1).all() and not nn.init.zeros_(parameter(3)).data.any()
    t = nn.init.trunc_normal_(np.zeros(10000), std=2.0, a=-1.0, b=1.5,
                              generator=np.random.default_rng(3))
    assert t.min() >= -1.0 and t.max() <= 1.5
    u = nn.init.uniform_(np.zeros(1000), -2, 3, generator=np.random.default_rng(4))
    assert u.min() >= -2 and u.max() < 3
    n = nn.init.normal_(np.zeros(20000), 1.0, 0.5, generator=np.random.default_rng(5))
    assert abs(n.mean() - 1.0) < 0.02 and abs(n.std() - 0.5) < 0.02


def test_init_errors():
    with pytest.raises(ValueError, match=r"fan in and fan out need an array of at least 2"):
        nn.init.xavier_uniform_(np.zeros(3))
    with pytest.raises(ValueError, match=r"`mode` must be 'fan_in' or 'fan_out'"):
        nn.init.kaiming_normal_(np.zeros((2, 2)), mode="fan")
    with pytest.raises(ValueError, match=r"unsupported nonlinearity 'swish'"):
        nn.init.calculate_gain("swish")
    with pytest.raises(TypeError, match=r"expected a Parameter or a float ndarray"):
        nn.init.zeros_([0.0, 1.0])
    assert math.isclose(nn.init.calculate_gain("tanh"), 5 / 3)
