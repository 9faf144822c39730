"""Every caller mistake gets a ValueError/TypeError that names the argument; each message is pinned."""

import numpy as np
import pytest

import npconv

X = np.zeros((1, 4, 5, 5), np.float32)
W = np.zeros((6, 2, 3, 3), np.float32)  # groups=2
WT = np.zeros((4, 2, 3, 3), np.float32)  # transposed: C_in=4, C_out=2*groups


def conv(**kwargs):
    return lambda: npconv.conv2d(X, W, **{"groups": 2, **kwargs})


CASES = [
    # (call, exception, message pattern)
    (lambda: npconv.conv2d(X, np.zeros((6, 3, 3, 3), np.float32)), ValueError,
     r"conv2d\(\): `input` must have 3 channels \(weight.shape\[1\]=3 x groups=1\), got 4"),
    (lambda: npconv.conv2d(X, np.zeros((5, 2, 3, 3), np.float32), groups=2), ValueError,
     r"conv2d\(\): `weight.shape\[0\]` \(output channels\) \(5\) must be divisible by groups \(2\)"),
    (conv(groups=0), ValueError, r"`groups` must be positive, got 0"),
    (conv(groups=3), ValueError, r"`input` must have 6 channels \(weight.shape\[1\]=2 x groups=3\), got 4"),
    (lambda: npconv.conv2d(X, np.zeros((6, 4, 7, 3), np.float32)), ValueError,
     r"kernel is larger than the padded input: padded input size \(5, 5\), dilated kernel size \(7, 3\)"),
    (conv(dilation=3), ValueError, r"padded input size \(5, 5\), dilated kernel size \(7, 7\)"),
    (conv(stride=0), ValueError, r"conv2d\(\): `stride` must be positive, got 0"),
    (conv(dilation=(1, -1)), ValueError, r"`dilation` must be positive, got \(1, -1\)"),
    (conv(padding=-1), ValueError, r"`padding` must be non-negative, got -1"),
    (conv(padding=((0, -1), (0, 0))), ValueError, r"`padding` must be non-negative"),
    (conv(padding="full"), ValueError, r"`padding` must be 'valid', 'same', an int or a tuple, got 'full'"),
    (conv(padding="same", stride=2), ValueError,
     r"padding='same' needs stride 1 in every dimension, got stride=\(2, 2\)"),
    (conv(stride=(1, 2, 3)), ValueError,
     r"`stride` must be an int or a tuple of 2 ints, got 3 values \(1, 2, 3\)"),
    (conv(dilation=[1]), ValueError, r"`dilation` must be an int or a tuple of 2 ints, got 1 values"),
    (conv(padding=(1, 2, 3)), ValueError, r"`padding` must be an int, a tuple of 2 ints or of 2 \(lo, hi\) pairs"),
    (conv(padding=((1, 2, 3), (1, 1))), ValueError, r"each per-side `padding` entry must be a \(lo, hi\) pair"),
    (conv(stride=1.5), TypeError, r"`stride` must be an int, got float 1.5"),
    (conv(stride=True), TypeError, r"`stride` must be an int, got bool True"),
    (lambda: npconv.conv2d(X[0, 0], W, groups=2), ValueError,
     r"`input` must have 3 or 4 dimensions, \(C, H, W\) unbatched or \(N, C, H, W\); got 2 with shape \(5, 5\)"),
    (lambda: npconv.conv1d(X, W, groups=2), ValueError, r"conv1d\(\): `input` must have 2 or 3 dimensions"),
    (lambda: npconv.conv2d(X, W[0], groups=2), ValueError, r"`weight` must have 4 dimensions"),
    (lambda: npconv.conv2d(X, np.zeros((0, 4, 3, 3), np.float32)), ValueError,
     r"`weight` must have no zero-size dimension"),
    (conv(bias=np.zeros(5, np.float32)), ValueError, r"`bias` must have shape \(6,\), got \(5,\)"),
    (conv(bias=np.zeros((6, 1), np.float32)), ValueError, r"`bias` must have shape \(6,\), got \(6, 1\)"),
    (lambda: npconv.conv2d_backward(np.zeros((1, 6, 4, 4), np.float32), X, W, groups=2), ValueError,
     r"conv2d_backward\(\): `grad_output` must have shape \(1, 6, 3, 3\), got \(1, 6, 4, 4\)"),
    (lambda: npconv.conv2d([["a"]], W), TypeError, r"`input` must be a float32 or float64 array, got dtype <U1"),
    (lambda: npconv.conv2d(np.zeros((1, 4, 5, 5), int), W), TypeError,
     r"got dtype int64; convert it with `.astype\(np.float32\)` or `.astype\(np.float64\)`"),
    (lambda: npconv.conv2d(np.zeros((1, 4, 5, 5), bool), W), TypeError, r"got dtype bool; convert it"),
    (lambda: npconv.conv2d(X.astype(">f4"), W), TypeError,
     r"`input` must be in the machine's byte order, got a big-endian float32 array \(dtype '>f4'\); "
     r"convert it with `.astype\(np.float32\)`"),
    (lambda: npconv.max_pool2d(X.astype(">f8"), 2), TypeError, r"big-endian float64 array"),
    (lambda: npconv.conv2d(X, W.astype(np.float16)), TypeError, r"`weight` must be a float32 or float64 array"),
    (lambda: npconv.conv2d_input((1, 3, 5, 5), W, np.zeros((1, 6, 3, 3), np.float32), groups=2), ValueError,
     r"conv2d_input\(\): `input_size` must have 4 channels"),
    (lambda: npconv.conv2d_input("1455", W, np.zeros((1, 6, 3, 3), np.float32)), TypeError,
     r"`input_size` must be a tuple of ints"),
    (lambda: npconv.conv2d_input((1, 4, 5), W, np.zeros((1, 6, 3, 3), np.float32)), ValueError,
     r"`input_size` must have 2 channels"),
    (lambda: npconv.conv2d_weight(X, (6, 2, 3), np.zeros((1, 6, 3, 3), np.float32), groups=2), ValueError,
     r"`weight_size` must have 4 entries, got \(6, 2, 3\)"),
    # transposed convolution
    (lambda: npconv.conv_transpose2d(X, WT, stride=2, output_padding=2), ValueError,
     r"`output_padding` must be smaller than either stride or dilation in every dimension, "
     r"got output_padding=\(2, 2\), stride=\(2, 2\), dilation=\(1, 1\)"),
    (lambda: npconv.conv_transpose2d(X, WT, output_padding=-1), ValueError, r"`output_padding` must be >= 0"),
    (lambda: npconv.conv_transpose2d(X, np.zeros((3, 2, 3, 3), np.float32)), ValueError,
     r"conv_transpose2d\(\): `input` must have 3 channels \(weight.shape\[0\]\), got 4"),
    (lambda: npconv.conv_transpose2d(X, WT, groups=3), ValueError, r"`weight.shape\[0\]` \(input channels\) \(4\) must be divisible by groups \(3\)"),
    (lambda: npconv.conv_transpose2d(X, WT, padding="same"), TypeError,
     r"`padding` must be an int or a tuple of ints, got string 'same'"),
    (lambda: npconv.conv_transpose2d(np.zeros((1, 4, 1, 1), np.float32), WT, padding=2), ValueError,
     r"the output size \(-1, -1\) is not positive"),
    (lambda: npconv.conv_transpose2d(X, WT, np.zeros(3, np.float32)), ValueError,
     r"`bias` must have shape \(2,\), got \(3,\)"),
    (lambda: npconv.conv_transpose2d_backward(np.zeros((1, 2, 5, 5), np.float32), X, WT), ValueError,
     r"`grad_output` must have shape \(1, 2, 7, 7\), got \(1, 2, 5, 5\)"),
    # unfold / fold
    (lambda: npconv.fold(np.zeros((1, 18, 10)), (5, 5), 3), ValueError,
     r"fold\(\): `input` dimension 2 \(10\) must equal the number of sliding blocks, 3 \* 3 = 9"),
    (lambda: npconv.fold(np.zeros((1, 17, 9)), (5, 5), 3), ValueError,
     r"`input` dimension 1 \(17\) must be divisible by prod\(kernel_size\) = 9"),
    (lambda: npconv.fold(np.zeros((1, 18, 9)), (5, 5, 5), (3, 3)), ValueError,
     r"`kernel_size` must be an int or a tuple of 3 ints"),
    (lambda: npconv.unfold(np.zeros((1, 1, 5, 5, 5)), 3), ValueError,
     r"unfold\(\): `input` must have 3 or 4 dimensions.*a tuple kernel_size sets another number"),
    (lambda: npconv.unfold(np.zeros((1, 1, 5, 5)), 0), ValueError, r"`kernel_size` must be positive"),
    (lambda: npconv.unfold(np.zeros((1, 1, 2, 2)), 3), ValueError, r"kernel is larger than the padded input"),
    (lambda: npconv.unfold(np.zeros((1, 1, 5, 5)), 3, padding="same"), TypeError,
     r"`padding` must be an int or a tuple of ints, got string 'same'"),
    (lambda: npconv.unfold_backward(np.zeros((1, 9, 8)), np.zeros((1, 1, 5, 5)), 3), ValueError,
     r"unfold_backward\(\): `grad_output` must have shape \(1, 9, 9\), got \(1, 9, 8\)"),
    (lambda: npconv.fold_backward(np.zeros((1, 1, 4, 5)), np.zeros((1, 9, 9)), (5, 5), 3), ValueError,
     r"fold_backward\(\): `grad_output` must have shape \(1, 1, 5, 5\), got \(1, 1, 4, 5\)"),
    # settings
    (lambda: npconv.set_workspace(0), ValueError, r"`nbytes` must be a positive int, got 0"),
    (lambda: npconv.conv_algorithm("winograd").__enter__(), ValueError, r"`name` must be one of"),
]


@pytest.mark.parametrize("call,exception,message", CASES, ids=[c[2][:60] for c in CASES])
def test_error_message(call, exception, message):
    with pytest.raises(exception, match=message):
        call()
