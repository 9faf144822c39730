"""Hypothesis strategies for the convolution parity tests (no torch needed to build them)."""

import numpy as np
from hypothesis import assume, strategies as st

from helpers import ALGORITHMS

DTYPES = [np.dtype(np.float32), np.dtype(np.float64)]


@st.composite
def padding_forms(draw, ndim, allow_strings):
    """One of npconv's padding forms, and its (lo, hi) pairs (None for 'same')."""
    kinds = ["int", "tuple", "pairs"] + (["same", "valid"] if allow_strings else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "int":
        p = draw(st.integers(0, 3))
        return p, ((p, p),) * ndim
    if kind == "tuple":
        p = tuple(draw(st.integers(0, 3)) for _ in range(ndim))
        return p, tuple((v, v) for v in p)
    if kind == "pairs":
        p = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(ndim))
        return p, p
    return kind, None if kind == "same" else ((0, 0),) * ndim


def torch_pad(pairs):
    """F.pad's argument: last dimension first."""
    return [v for lo_hi in reversed(pairs) for v in lo_hi]


@st.composite
def conv_configs(draw):
    ndim = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    same_allowed = draw(st.booleans())
    stride = (1,) * ndim if same_allowed else tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    padding, pairs = draw(padding_forms(ndim, allow_strings=same_allowed))
    lows = [0] * ndim if pairs is None else [lo + hi for lo, hi in pairs]
    spatial = tuple(max(1, d * (k - 1) + 1 - p) + draw(st.integers(0, 5))
                    for k, d, p in zip(kernel, dilation, lows))
    return dict(ndim=ndim, groups=groups, kernel=kernel, dilation=dilation, stride=stride,
                padding=padding, pairs=pairs, spatial=spatial,
                batch=draw(st.integers(0, 3)),
                c_in=groups * draw(st.integers(1, 3)), c_out=groups * draw(st.integers(1, 3)),
                bias=draw(st.booleans()), dtype=draw(st.sampled_from(DTYPES)),
                algorithm=draw(st.sampled_from(("auto",) + ALGORITHMS)))


@st.composite
def transpose_configs(draw):
    ndim = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    padding, pairs = draw(padding_forms(ndim, allow_strings=False))
    spatial = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    sizes = [(n - 1) * s - lo - hi + d * (k - 1) + e + 1
             for n, k, s, d, (lo, hi), e in zip(spatial, kernel, stride, dilation, pairs, output_padding)]
    assume(all(size >= 1 for size in sizes))
    return dict(ndim=ndim, groups=groups, kernel=kernel, dilation=dilation, stride=stride,
                output_padding=output_padding, padding=padding, pairs=pairs, spatial=spatial,
                batch=draw(st.integers(0, 3)),
                c_in=groups * draw(st.integers(1, 3)), c_out=groups * draw(st.integers(1, 3)),
                bias=draw(st.booleans()), dtype=draw(st.sampled_from(DTYPES)),
                algorithm=draw(st.sampled_from(("auto",) + ALGORITHMS)))
