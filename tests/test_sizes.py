"""same_padding, conv_output_size, conv_input_size_range, conv_transpose_output_padding:
against counted windows, the convolutions themselves and torch."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import npconv
import reference
from helpers import torch_or_skip


@settings(max_examples=200, deadline=None)
@given(kernel=st.integers(1, 5), stride=st.integers(1, 4), dilation=st.integers(1, 3),
       lo=st.integers(0, 4), hi=st.integers(0, 4), out=st.integers(1, 12))
def test_sizes_against_counted_windows(kernel, stride, dilation, lo, hi, out):
    counts = {n: reference.window_positions(n, kernel, stride, dilation, lo, hi)
              for n in range(1, 80)}
    inputs = [n for n, count in counts.items() if count == out]
    arguments = dict(kernel_size=kernel, stride=stride, padding=((lo, hi),), dilation=dilation)
    if not inputs:
        with pytest.raises(ValueError, match="no input size gives"):
            npconv.conv_input_size_range(out, **arguments)
        return
    assert npconv.conv_input_size_range(out, **arguments) == ((min(inputs), max(inputs)),)
    for n in inputs:
        assert npconv.conv_output_size(n, **arguments) == (out,)
        # the transposed convolution maps `out` back to each of them
        padding = npconv.conv_transpose_output_padding(out, n, kernel, stride, ((lo, hi),),
                                                       dilation)
        y = npconv.conv_transpose1d(np.ones((1, 1, out)), np.ones((1, 1, kernel)), stride=stride,
                                    padding=((lo, hi),), output_padding=padding,
                                    dilation=dilation)
        assert y.shape[-1] == n


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 40), kernel=st.integers(1, 6), stride=st.integers(1, 4),
       dilation=st.integers(1, 3))
def test_same_padding_is_the_least_padding_for_ceil_outputs(size, kernel, stride, dilation):
    (lo, hi), = npconv.same_padding(size, kernel, stride, dilation)
    wanted = -(-size // stride)
    assert reference.window_positions(size, kernel, stride, dilation, lo, hi) == wanted
    assert 0 <= hi - lo <= 1       # the odd cell on the high side
    if lo + hi:                    # and no smaller total gives as many outputs
        total = lo + hi - 1
        assert reference.window_positions(size, kernel, stride, dilation, total // 2,
                                          total - total // 2) < wanted


def test_same_padding_equals_same_at_stride_one_and_feeds_the_convolutions():
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 10))
    w = np.random.default_rng(1).standard_normal((4, 3, 4, 3))
    pairs = npconv.same_padding(x.shape[2:], w.shape[2:], dilation=(1, 2))
    np.testing.assert_array_equal(npconv.conv2d(x, w, padding=pairs, dilation=(1, 2)),
                                  npconv.conv2d(x, w, padding="same", dilation=(1, 2)))
    strided = npconv.conv2d(x, w, stride=(2, 3), padding=npconv.same_padding((9, 10), (4, 3), (2, 3)))
    assert strided.shape[2:] == (5, 4)


def test_against_torch():
    torch = torch_or_skip()
    F = torch.nn.functional
    rng = np.random.default_rng(2)
    for size, kernel, stride, padding, dilation in [((17, 12), (3, 2), (2, 3), (1, 0), (1, 2)),
                                                    ((5, 30), (5, 4), (1, 4), (2, 1), (1, 1))]:
        x = torch.tensor(rng.standard_normal((1, 1) + size))
        w = torch.tensor(rng.standard_normal((1, 1) + kernel))
        y = F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation)
        assert npconv.conv_output_size(size, kernel, stride, padding, dilation) == y.shape[2:]
        output_padding = npconv.conv_transpose_output_padding(y.shape[2:], size, kernel, stride,
                                                              padding, dilation)
        back = F.conv_transpose2d(y, w, stride=stride, padding=padding,
                                  output_padding=output_padding, dilation=dilation)
        assert back.shape[2:] == size


ERRORS = [
    (lambda: npconv.same_padding(0, 3), ValueError, r"same_padding\(\): `input_size` must be positive"),
    (lambda: npconv.same_padding((5, 5), (3, 3, 3)), ValueError,
     r"`kernel_size` must be an int or a tuple of 2 ints"),
    (lambda: npconv.conv_output_size(2, 5), ValueError, r"the kernel is larger than the padded input"),
    (lambda: npconv.conv_output_size((), 3), ValueError, r"`input_size` must have at least one entry"),
    (lambda: npconv.conv_input_size_range(1, 1, padding=3), ValueError,
     r"no input size gives 1 outputs with kernel_size=1, stride=1, padding=\(3, 3\)"),
    (lambda: npconv.conv_transpose_output_padding(4, 12, 3, stride=2), ValueError,
     r"dimension 0: 4 inputs give 9 to 10 outputs \(output_padding 0 to 1\), not 12"),
    (lambda: npconv.conv_transpose_output_padding((4, 4), 9, 3), ValueError,
     r"`output_size` must have as many entries as `input_size` \(2\), got 1"),
    (lambda: npconv.conv_transpose_output_padding(4, 6, 3, padding="same"), TypeError,
     r"`padding` must be an int or a tuple of ints, got string 'same'"),
]


@pytest.mark.parametrize("call,exception,message", ERRORS, ids=[c[2][:60] for c in ERRORS])
def test_error_messages(call, exception, message):
    with pytest.raises(exception, match=message):
        call()
