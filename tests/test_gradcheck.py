"""Finite-difference checks: <u, (f(x + h v) - f(x - h v)) / 2h> == <backward(u), v> for random u, v."""

import numpy as np
import pytest

import npconv
from npconv.testing import directional_derivatives
from helpers import ALGORITHMS, using


def check_directional_derivatives(forward, backward, arrays, rng, h=1e-6, rtol=1e-7):
    """``forward(*arrays) -> y``; ``backward(u, *arrays) -> one gradient per array``."""
    for index, (numeric, analytic) in enumerate(directional_derivatives(forward, backward, arrays,
                                                                        rng, h)):
        assert np.isclose(numeric, analytic, rtol=rtol, atol=1e-8), (index, numeric, analytic)


CONV_CASES = [
    (1, (9,), dict(stride=2, padding=((2, 1),), dilation=2, groups=1)),
    (2, (7, 8), dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2)),
    (2, (6, 6), dict(padding="same", groups=4)),
    (3, (5, 4, 6), dict(stride=(1, 2, 2), padding=(1, 0, 1), groups=2)),
]


@pytest.mark.parametrize("ndim,spatial,args", CONV_CASES)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_conv(ndim, spatial, args, algorithm):
    rng = np.random.default_rng(0)
    conv = getattr(npconv, f"conv{ndim}d")
    backward = getattr(npconv, f"conv{ndim}d_backward")
    groups = args["groups"]
    x = rng.standard_normal((2, 4) + spatial)
    w = rng.standard_normal((4, 4 // groups) + (3,) * ndim)
    b = rng.standard_normal(4)
    with using(algorithm):
        check_directional_derivatives(lambda x, w, b: conv(x, w, b, **args),
                                      lambda u, x, w, b: backward(u, x, w, b, **args),
                                      [x, w, b], rng)


TRANSPOSE_CASES = [
    (1, (5,), dict(stride=3, padding=1, output_padding=2, groups=1, dilation=1)),
    (2, (4, 3), dict(stride=2, padding=((0, 1), (1, 1)), output_padding=(1, 0), groups=2, dilation=1)),
    (3, (3, 2, 3), dict(stride=1, padding=0, output_padding=(1, 0, 0), groups=1, dilation=2)),
]


@pytest.mark.parametrize("ndim,spatial,args", TRANSPOSE_CASES)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_conv_transpose(ndim, spatial, args, algorithm):
    rng = np.random.default_rng(1)
    forward = getattr(npconv, f"conv_transpose{ndim}d")
    backward = getattr(npconv, f"conv_transpose{ndim}d_backward")
    groups = args["groups"]
    x = rng.standard_normal((2, 4) + spatial)
    w = rng.standard_normal((4, 6 // groups) + (2,) * ndim)
    b = rng.standard_normal(6)
    with using(algorithm):
        check_directional_derivatives(lambda x, w, b: forward(x, w, b, **args),
                                      lambda u, x, w, b: backward(u, x, w, b, **args),
                                      [x, w, b], rng)


@pytest.mark.parametrize("args", [dict(kernel_size=3, padding=1),
                                  dict(kernel_size=(2, 3), stride=(2, 1), dilation=(1, 2)),
                                  dict(kernel_size=(2, 2, 2), padding=((1, 0), 0, 1))])
def test_unfold_and_fold(args):
    rng = np.random.default_rng(2)
    spatial = (6, 7, 5)[:len(args["kernel_size"]) if isinstance(args["kernel_size"], tuple) else 2]
    x = rng.standard_normal((2, 3) + spatial)
    check_directional_derivatives(lambda x: npconv.unfold(x, **args),
                                  lambda u, x: [npconv.unfold_backward(u, x, **args)], [x], rng)
    cols = npconv.unfold(x, **args)
    check_directional_derivatives(lambda c: npconv.fold(c, spatial, **args),
                                  lambda u, c: [npconv.fold_backward(u, c, spatial, **args)],
                                  [rng.standard_normal(cols.shape)], rng)
