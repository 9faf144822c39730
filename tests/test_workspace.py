"""The workspace budget bounds every path's extra memory (tracemalloc), without changing results."""

import tracemalloc

import numpy as np
import pytest

import npconv
from npconv.window.scratch import kept_bytes
from helpers import ALGORITHMS, assert_close, using

MiB = 2**20
# NumPy's strided ufunc loops use an internal buffer of a fixed size (about 100 KB).
ITERATOR_BUFFERS = 256 * 1024


def traced_peak(call):
    """(result, peak bytes allocated during ``call`` beyond what was live before it).

    Scratch memory kept from earlier calls is released first, so that the
    peak counts the scratch this call needs.
    """
    npconv.release_scratch()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        result = call()
        return result, tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()


def nbytes(result):
    arrays = result if isinstance(result, tuple) else (result,)
    return sum(a.nbytes for a in arrays if a is not None)


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 16, 24, 24)).astype(np.float32)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    gy = rng.standard_normal((16, 32, 24, 24)).astype(np.float32)
    return x, w, gy


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("budget", [1 * MiB, 4 * MiB, 8 * MiB])
def test_peak_stays_inside_the_workspace(arrays, algorithm, budget):
    x, w, gy = arrays
    calls = {
        "forward": lambda: npconv.conv2d(x, w, padding=1),
        "backward": lambda: npconv.conv2d_backward(gy, x, w, padding=1),
        "transposed": lambda: npconv.conv_transpose2d(gy, w, padding=1),
    }
    with using(algorithm):
        unbounded = {name: call() for name, call in calls.items()}
        with npconv.workspace(budget):
            for name, call in calls.items():
                result, peak = traced_peak(call)
                assert peak <= budget + nbytes(result) + ITERATOR_BUFFERS, (name, peak)
                assert kept_bytes() <= budget
                expected = unbounded[name]
                for got, want in zip(result, expected) if name == "backward" else [(result, expected)]:
                    if want is not None:
                        assert_close(got, want.astype(np.float64), np.float32, name)


@pytest.mark.parametrize("algorithm", ("auto",) + ALGORITHMS)
@pytest.mark.parametrize("channels", [1, 6])
@pytest.mark.parametrize("budget", [MiB // 4, 2 * MiB])
def test_large_kernels_on_few_channels_stay_inside_the_workspace(algorithm, channels, budget):
    """A single 9x9 filter and a depthwise one: the elementwise and FFT paths obey the budget."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, channels, 48, 40)).astype(np.float32)
    w = rng.standard_normal((channels, 1, 9, 9)).astype(np.float32)
    gy = rng.standard_normal((8, channels, 40, 32)).astype(np.float32)
    calls = {
        "forward": lambda: npconv.conv2d(x, w, groups=channels),
        "backward": lambda: npconv.conv2d_backward(gy, x, w, groups=channels),
    }
    with using(algorithm):
        for name, call in calls.items():
            expected = call()
            with npconv.workspace(budget):
                result, peak = traced_peak(call)
            assert peak <= budget + nbytes(result) + ITERATOR_BUFFERS, (name, peak)
            for got, want in zip(result, expected) if name == "backward" else [(result, expected)]:
                if want is not None:
                    assert_close(got, want.astype(np.float64), np.float32, name)


def test_a_sample_larger_than_the_workspace_takes_the_lean_path(arrays):
    """One sample's columns need 16*9*576*4 = 330 KiB; with 64 KiB auto must not build them."""
    x, w, gy = arrays
    expected = npconv.conv2d(x, w, padding=1)
    with npconv.workspace(64 * 1024):
        y, peak = traced_peak(lambda: npconv.conv2d(x, w, padding=1))
    assert_close(y, expected.astype(np.float64), np.float32)
    assert peak < y.nbytes + 330 * 1024 + ITERATOR_BUFFERS


def test_settings_are_restored_after_the_block():
    before = npconv.get_workspace()
    with npconv.workspace(3 * MiB):
        assert npconv.get_workspace() == 3 * MiB
        with npconv.conv_algorithm("direct"):
            assert npconv.get_algorithm() == "direct"
        assert npconv.get_algorithm() == "auto"
    assert npconv.get_workspace() == before
    previous = npconv.set_workspace(5 * MiB)
    assert npconv.get_workspace() == 5 * MiB
    npconv.set_workspace(previous)


def test_scratch_kept_between_calls_never_exceeds_the_budget_in_force(arrays):
    x, w, _ = arrays
    npconv.conv2d(x, w, padding=1)
    assert 0 < kept_bytes() <= npconv.get_workspace()
    with npconv.workspace(1 * MiB):
        npconv.conv2d(x, w, padding=1)
        assert kept_bytes() <= 1 * MiB
    npconv.release_scratch()
    assert kept_bytes() == 0


ERRORS = [
    (lambda: npconv.set_workspace(0), ValueError, r"`nbytes` must be a positive int, got 0"),
    (lambda: npconv.conv_algorithm("winograd").__enter__(), ValueError, r"`name` must be one of"),
]


@pytest.mark.parametrize("call,exception,message", ERRORS, ids=[c[2][:60] for c in ERRORS])
def test_error_messages(call, exception, message):
    with pytest.raises(exception, match=message):
        call()


NEW_OPS = {
    "lp_pool2d": lambda x, gy: npconv.lp_pool2d(x, 2, 3, 2),
    "lp_pool2d_backward": lambda x, gy: npconv.lp_pool2d_backward(gy[:, :, :11, :11], x, 2, 3, 2),
    "fractional_max_pool2d": lambda x, gy: npconv.fractional_max_pool2d(
        x, 2, output_ratio=0.5, return_indices=True, rng=np.random.default_rng(0)),
    "softmax": lambda x, gy: npconv.softmax(x, 1),
    "log_softmax_backward": lambda x, gy: npconv.log_softmax_backward(gy, x, 1),
    "gelu_backward": lambda x, gy: npconv.gelu_backward(gy, x),
    "interpolate": lambda x, gy: npconv.interpolate(x, scale_factor=0.5, mode="bicubic"),
    "interpolate_backward": lambda x, gy: npconv.interpolate_backward(gy, x, size=(24, 24),
                                                                      mode="bilinear"),
    "batch_norm_backward": lambda x, gy: npconv.batch_norm_backward(gy, x, None, None, None,
                                                                    None, True),
    "group_norm": lambda x, gy: npconv.group_norm(x, 4),
    "local_response_norm_backward": lambda x, gy: npconv.local_response_norm_backward(gy, x, 5),
    "conv2d reflect backward": lambda x, gy: npconv.conv2d_backward(
        gy[:, :8], x, np.ones((8, 16, 3, 3), np.float32), padding=1, padding_mode="reflect"),
}


@pytest.mark.parametrize("name", sorted(NEW_OPS))
def test_the_newer_operators_stay_inside_the_workspace(arrays, name):
    x, _, gy = arrays
    x = np.concatenate([x] * 4)         # 64 x 16 x 24 x 24 float32: 2.25 MiB, a sample 36 KiB
    gy = np.concatenate([gy[:, :16]] * 4)
    budget = 2 * MiB                    # a float64 copy of x is 4.5 MiB
    with npconv.workspace(budget):
        result, peak = traced_peak(lambda: NEW_OPS[name](x, gy))
    # the chunk loops' own Python objects (slices, plans) come on top: a few KiB
    assert peak <= budget + nbytes(result) + ITERATOR_BUFFERS + 16 * 1024, (name, peak / MiB)


@pytest.mark.parametrize("budget", [1 * MiB, 4 * MiB])
def test_a_layer_keeps_its_columns_only_inside_the_workspace(budget):
    """A convolution layer's kept columns and the pass's own temporaries fit the workspace
    together: 8 x 75 x 20 x 24 float32 columns (1.1 MiB) are kept under 4 MiB, not under 1 MiB,
    and a training step's forward and backward stay inside the budget either way."""
    from npconv import nn

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 20, 20)).astype(np.float32)
    gy = rng.standard_normal((8, 16, 20, 20)).astype(np.float32)
    layer = nn.Conv2d(3, 16, 5, padding=2, rng=rng)
    with npconv.workspace(budget):
        layer(x)
        layer.backward(gy)  # the kept buffer exists from here on
        y, forward_peak = traced_peak(lambda: layer(x))
        grad_input, backward_peak = traced_peak(lambda: layer.backward(gy))
    kept = layer._kept["columns"]
    assert (kept._buffer is not None) == (budget == 4 * MiB)
    assert kept._buffer is None or kept._buffer.nbytes <= budget
    assert forward_peak <= budget + y.nbytes + ITERATOR_BUFFERS
    assert backward_peak <= budget + grad_input.nbytes + ITERATOR_BUFFERS
