"""Reliability: forks, threads and contexts, aliasing, untouched inputs, absurd sizes, empty batches.

Every operator family is exercised through :data:`CALLS`, a list of small
forward and backward calls, so that a new operator is covered by adding it there.
"""

import multiprocessing
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import npconv
from npconv.window import blocks
from npconv.window.scratch import kept_bytes

rng = np.random.default_rng(0)
X2 = rng.standard_normal((2, 4, 9, 8))
W2 = rng.standard_normal((6, 2, 3, 2))
W4 = rng.standard_normal((6, 4, 3, 2))
B6 = rng.standard_normal(6)
X1 = rng.standard_normal((2, 4, 11))
X3 = rng.standard_normal((2, 2, 5, 6, 4))
W3 = rng.standard_normal((4, 2, 2, 3, 2))
VALUES, INDICES = npconv.max_pool2d(X2, 2, return_indices=True)
COLS = npconv.unfold(X2, (3, 2), padding=1)


def gy_like(array):
    return np.linspace(-1, 1, array.size).reshape(array.shape)


#: name -> (function, arguments); every array argument is an input that must stay untouched.
CALLS = {
    "conv2d": (lambda x, w, b: npconv.conv2d(x, w, b, stride=2, padding=1, groups=2), (X2, W2, B6)),
    "conv2d_backward": (lambda gy, x, w, b: npconv.conv2d_backward(gy, x, w, b, padding=(1, 0), groups=2),
                        (gy_like(npconv.conv2d(X2, W2, padding=(1, 0), groups=2)), X2, W2, B6)),
    "conv1d dilated": (lambda x, w: npconv.conv1d(x, w, dilation=2, padding="same"),
                       (X1, rng.standard_normal((3, 4, 3)))),
    "conv3d": (lambda x, w: npconv.conv3d(x, w, padding=1), (X3, W3)),
    "conv_transpose2d": (lambda x, w: npconv.conv_transpose2d(x, w, stride=2, output_padding=1),
                         (X2, rng.standard_normal((4, 3, 3, 3)))),
    "depthwise": (lambda x, w: npconv.conv2d(x, w, padding=1, groups=4),
                  (X2, rng.standard_normal((8, 1, 3, 3)))),
    "fft": (lambda x, w: npconv.conv2d(x, w, padding=5),
            (X2[:, :1].astype(np.float32), rng.standard_normal((1, 1, 11, 11)).astype(np.float32))),
    "max_pool2d": (lambda x: npconv.max_pool2d(x, 3, 2, 1, return_indices=True), (X2,)),
    "max_pool2d_backward": (lambda gy, x: npconv.max_pool2d_backward(gy, x, 2), (gy_like(VALUES), X2)),
    "avg_pool1d": (lambda x: npconv.avg_pool1d(x, 3, 2, 1, ceil_mode=True), (X1,)),
    "avg_pool3d_backward": (lambda gy, x: npconv.avg_pool3d_backward(gy, x, 2),
                            (gy_like(npconv.avg_pool3d(X3, 2)), X3)),
    "adaptive_avg_pool2d": (lambda x: npconv.adaptive_avg_pool2d(x, (4, 3)), (X2,)),
    "adaptive_max_pool2d_backward": (lambda gy, x: npconv.adaptive_max_pool2d_backward(gy, x, 3),
                                     (np.ones((2, 4, 3, 3)), X2)),
    "max_unpool2d": (lambda v, i: npconv.max_unpool2d(v, i, 2, output_size=(9, 8)), (VALUES, INDICES)),
    "unfold": (lambda x: npconv.unfold(x, (3, 2), padding=1), (X2,)),
    "fold": (lambda c: npconv.fold(c, (9, 8), (3, 2), padding=1), (COLS,)),
    "pad": (lambda x: npconv.pad(x, (2, 1, -1, 3), mode="reflect"), (X2,)),
    "pad_backward": (lambda gy, x: npconv.pad_backward(gy, x, (2, 1, 1, 3), mode="replicate"),
                     (gy_like(npconv.pad(X2, (2, 1, 1, 3))), X2)),
    "pixel_shuffle": (lambda x: npconv.pixel_shuffle(x, 2), (X2,)),
    "channel_shuffle_backward": (lambda gy, x: npconv.channel_shuffle_backward(gy, x, 2),
                                 (gy_like(X2), X2)),
    "lp_pool2d_backward": (lambda gy, x: npconv.lp_pool2d_backward(gy, x, 2, 3, 2, True),
                           (gy_like(npconv.lp_pool2d(X2, 2, 3, 2, True)), X2)),
    "fractional_max_pool2d": (lambda x: npconv.fractional_max_pool2d(
        x, 2, (4, 3), None, True, rng=np.random.default_rng(0)), (X2,)),
    "batch_norm_backward": (lambda gy, x, w: npconv.batch_norm_backward(gy, x, None, None, w, w,
                                                                        True),
                            (gy_like(X2), X2, rng.standard_normal(4))),
    "group_norm": (lambda x: npconv.group_norm(x, 2), (X2,)),
    "interpolate_backward": (lambda gy, x: npconv.interpolate_backward(gy, x, (5, 7), None,
                                                                       "bicubic"),
                             (np.ones((2, 4, 5, 7)), X2)),
    "gelu_backward": (lambda gy, x: npconv.gelu_backward(gy, x), (gy_like(X2), X2)),
    "softmax": (lambda x: npconv.softmax(x, 1), (X2,)),
    "conv2d circular backward": (
        lambda gy, x, w: npconv.conv2d_backward(gy, x, w, padding=1, padding_mode="circular"),
        (gy_like(npconv.conv2d(X2, W4, padding=1)), X2, W4)),
}


def run(name, arguments=None):
    function, default = CALLS[name]
    return function(*(default if arguments is None else arguments))


def as_tuple(result):
    return tuple(r for r in (result if isinstance(result, tuple) else (result,)) if r is not None)


def same(a, b, rtol=0):
    for x, y in zip(as_tuple(a), as_tuple(b)):
        assert x.dtype == y.dtype and x.shape == y.shape
        if rtol:
            np.testing.assert_allclose(x, y, rtol=rtol, atol=0)
        else:
            np.testing.assert_array_equal(x, y)


# --- processes and threads --------------------------------------------------------

def _child(queue):
    x = np.random.default_rng(1).standard_normal((16, 64, 56, 56)).astype(np.float32)
    queue.put(float(npconv.max_pool2d(x, 2).sum()))


def test_a_forked_child_can_use_the_thread_pool_after_its_parent():
    x = np.random.default_rng(1).standard_normal((16, 64, 56, 56)).astype(np.float32)
    with npconv.threads(2):
        expected = float(npconv.max_pool2d(x, 2).sum())  # the parent's pool has run
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung, "the forked child hung"
    assert child.exitcode == 0 and queue.get(timeout=5) == expected


def test_one_bounded_pool_whatever_thread_counts_are_asked_for():
    x = np.random.default_rng(2).standard_normal((8, 64, 32, 32)).astype(np.float32)
    before = threading.active_count()
    for count in range(1, 65):
        with npconv.threads(count):
            npconv.max_pool2d(x, 2)
    assert threading.active_count() - before <= blocks.MAX_WORKERS


@pytest.mark.parametrize("name", list(CALLS))
def test_results_do_not_depend_on_threads_or_other_threads_contexts(name):
    settings = [dict(threads=1, workspace=1 << 30, algorithm="auto"),
                dict(threads=4, workspace=1 << 14, algorithm="direct"),
                dict(threads=2, workspace=1 << 20, algorithm="im2col"),
                dict(threads=3, workspace=1 << 16, algorithm="fft")]

    def call(setting):
        with npconv.threads(setting["threads"]), npconv.workspace(setting["workspace"]), \
                npconv.conv_algorithm(setting["algorithm"]):
            return run(name)

    serial = [call(setting) for setting in settings]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(call, settings * 4))
    for index, result in enumerate(concurrent):
        same(result, serial[index % len(settings)])


@pytest.mark.parametrize("name", list(CALLS))
def test_a_later_call_does_not_change_an_earlier_result(name):
    first = run(name)
    kept = tuple(a.copy() for a in as_tuple(first))
    function, arguments = CALLS[name]
    function(*(a * 2 if a.dtype.kind == "f" else a for a in arguments))  # reuses any scratch
    same(first, kept)


# --- inputs are only read ----------------------------------------------------------

def read_only(array):
    view = array.copy()
    view.setflags(write=False)
    return view


def fortran(array):
    return np.asfortranarray(array)


def negative_strides(array):
    """A view with negative strides in every axis, of the same values."""
    return np.flip(np.flip(array).copy())


def broadcast(array):
    """A broadcast view (zero strides, read-only) of a one-sample copy, where the batch allows."""
    if array.ndim >= 3 and len(array) > 1 and (array == array[:1]).all():
        return np.broadcast_to(array[:1], array.shape)
    return read_only(array)


def memmap(array, tmp_path):
    path = tmp_path / f"input{np.random.default_rng().integers(1 << 30)}.npy"
    np.save(path, array)
    return np.load(path, mmap_mode="r")


@pytest.mark.parametrize("name", list(CALLS))
@pytest.mark.parametrize("layout", ["read_only", "fortran", "negative_strides", "broadcast",
                                    "memmap"])
def test_any_layout_gives_the_same_result_and_the_inputs_stay_untouched(name, layout, tmp_path):
    function, arguments = CALLS[name]
    if layout == "broadcast":  # make every batch entry alike, so a broadcast view says the same
        arguments = tuple(np.broadcast_to(a[:1], a.shape).copy() if a.ndim >= 3 and a.dtype.kind == "f"
                          and a.shape[0] == 2 and name not in ("max_unpool2d",) else a
                          for a in arguments)
    expected = function(*arguments)
    make = {"read_only": read_only, "fortran": fortran, "negative_strides": negative_strides,
            "broadcast": broadcast, "memmap": lambda a: memmap(a, tmp_path)}[layout]
    inputs = [make(a) for a in arguments]
    copies = [a.copy() for a in inputs]
    # the same values; a sum over axes may round differently in another memory order
    same(function(*inputs), expected, rtol=1e-13)
    for given, copy in zip(inputs, copies):
        np.testing.assert_array_equal(given, copy)


# --- sizes --------------------------------------------------------------------------

ABSURD = [
    (lambda: npconv.conv2d(X2, W4, padding=10**8), r"`padding`=100000000 .* needs [\d,]+ bytes"),
    (lambda: npconv.conv_transpose2d(X2, W2[:4], stride=10**9), r"`stride`=\(1000000000, 1000000000\)"),
    (lambda: npconv.adaptive_avg_pool2d(X2, 2 * 10**7), r"`output_size`=20000000 .* bytes"),
    (lambda: npconv.adaptive_max_pool2d(X2, 10**8), r"`output_size`=100000000"),
    (lambda: npconv.unfold(X2, 3, padding=10**8), r"`kernel_size`=3 and `padding`=100000000"),
    (lambda: npconv.fold(COLS, (10**9, 10**9), (3, 2)), r"`output_size`=\(1000000000, 1000000000\)"),
    (lambda: npconv.max_unpool2d(VALUES, INDICES, 10**9), r"`kernel_size`=1000000000"),
    (lambda: npconv.conv2d_input((1, 4, 10**9, 10**9), W4, np.zeros((1, 6, 1, 1)),
                                 stride=10**9), r"`input_size` .* bytes"),
]


@pytest.mark.parametrize("call,message", ABSURD)
def test_absurd_sizes_are_refused_at_once_naming_the_argument_and_the_bytes(call, message):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError, match=message):
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 5 and peak < 64 << 20


def test_a_huge_pooling_kernel_with_ceil_mode_gives_its_one_window_at_once():
    start = time.perf_counter()
    assert npconv.max_pool2d(X2, 10**9, ceil_mode=True).shape == (2, 4, 1, 1)
    assert npconv.avg_pool2d(X2, 10**9, ceil_mode=True).shape == (2, 4, 1, 1)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("name", list(CALLS))
def test_an_empty_batch_works_everywhere(name):
    function, arguments = CALLS[name]
    empty = tuple(a[:0] if a.ndim >= 3 and len(a) == 2 else a for a in arguments)  # the batch
    full = as_tuple(function(*arguments))
    for got, whole in zip(as_tuple(function(*empty)), full):
        assert got.shape == (0,) + whole.shape[1:] or got.shape == whole.shape  # weight gradients
        if got.shape == whole.shape and whole.dtype.kind == "f" and got.shape[0] != 0:
            assert not got.any()  # a weight or bias gradient over no samples


# --- memory -------------------------------------------------------------------------

def traced_peak(call):
    npconv.release_scratch()
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


ITERATOR_BUFFERS = 256 * 1024


@pytest.mark.parametrize("call", [
    lambda x: npconv.adaptive_avg_pool2d(x, (5, 9)),
    lambda x: npconv.adaptive_avg_pool2d_backward(np.ones(x.shape[:2] + (5, 9), x.dtype), x, (5, 9)),
    lambda x: npconv.adaptive_max_pool2d(x, 7, return_indices=True),
    lambda x: npconv.adaptive_max_pool2d_backward(np.ones(x.shape[:2] + (7, 7), x.dtype), x, 7),
])
def test_adaptive_pooling_stays_inside_the_workspace(call):
    x = np.random.default_rng(3).standard_normal((8, 32, 56, 56)).astype(np.float32)
    with npconv.workspace(1 << 20):
        result, peak = traced_peak(lambda: call(x))
    assert peak - sum(a.nbytes for a in as_tuple(result)) <= (1 << 20) + ITERATOR_BUFFERS


@pytest.mark.parametrize("algorithm", ["auto", "im2col", "direct", "fft"])
@pytest.mark.parametrize("case", [
    ((2, 16, 128, 128), (16, 16, 3, 3), dict(padding=1)),
    ((1, 16, 128, 128), (16, 1, 3, 3), dict(padding=1, groups=16)),
    ((1, 4, 20, 30, 40), (4, 4, 3, 3, 3), dict(stride=2, dilation=2, padding=3)),
])
@pytest.mark.parametrize("finite", [True, False])
def test_a_sample_larger_than_the_workspace_is_cut_to_fit(algorithm, case, finite):
    shape, weight_shape, arguments = case
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    w = np.random.default_rng(5).standard_normal(weight_shape).astype(np.float32)
    conv, backward = ((npconv.conv2d, npconv.conv2d_backward) if x.ndim == 4
                      else (npconv.conv3d, npconv.conv3d_backward))
    if not finite:
        x[0, 0, 0, 0] = np.nan
    expected = conv(x, w, **arguments)
    gy = np.ones_like(expected)
    expected_grads = backward(gy, x, w, **arguments)
    budget = 1 << 20
    assert x[0].nbytes >= budget / 3
    with npconv.workspace(budget), npconv.conv_algorithm(algorithm):
        y, peak = traced_peak(lambda: conv(x, w, **arguments))
        grads, peak_backward = traced_peak(lambda: backward(gy, x, w, **arguments))
    assert peak - y.nbytes <= budget + ITERATOR_BUFFERS
    assert peak_backward - grads[0].nbytes - grads[1].nbytes <= budget + ITERATOR_BUFFERS
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    for got, want in zip(grads[:2], expected_grads[:2]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_release_scratch_frees_what_every_thread_keeps():
    x = np.random.default_rng(6).standard_normal((4, 16, 32, 32)).astype(np.float32)
    w = np.random.default_rng(7).standard_normal((16, 16, 3, 3)).astype(np.float32)
    with npconv.conv_algorithm("im2col"):
        threads = [threading.Thread(target=npconv.conv2d, args=(x, w)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        npconv.conv2d(x, w)
    assert 0 < kept_bytes() <= npconv.get_workspace()
    npconv.release_scratch()
    assert kept_bytes() == 0


def test_a_strided_input_to_a_1x1_convolution_is_copied_a_chunk_at_a_time():
    x = np.random.default_rng(8).standard_normal((16, 64, 28, 28)).astype(np.float32)[..., ::-1]
    w = np.random.default_rng(9).standard_normal((32, 64, 1, 1)).astype(np.float32)
    gy = np.ones((16, 32, 28, 28), np.float32)[..., ::-1]
    expected = npconv.conv2d(np.ascontiguousarray(x), w)
    budget = 1 << 20
    assert x.nbytes > 2 * budget
    with npconv.workspace(budget), npconv.conv_algorithm("im2col"):
        y, peak = traced_peak(lambda: npconv.conv2d(x, w))
        grads, peak_backward = traced_peak(lambda: npconv.conv2d_backward(gy, x, w))
    assert peak - y.nbytes <= budget + ITERATOR_BUFFERS
    assert peak_backward - grads[0].nbytes - grads[1].nbytes <= budget + ITERATOR_BUFFERS
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-4)


def pooling_calls(rng):
    """A random pooling configuration as (forward, backward) calls of ``x``, ``gy``; 1-3 dimensions."""
    ndim = int(rng.integers(1, 4))
    kernel = tuple(int(k) for k in rng.integers(1, 4, ndim))
    stride = tuple(int(s) for s in rng.integers(1, 4, ndim))
    padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    dilation = tuple(int(d) for d in rng.integers(1, 3, ndim))
    ceil_mode = bool(rng.integers(2))
    out_size = tuple(int(o) for o in rng.integers(1, 9, ndim))
    kind = rng.choice(["max", "avg", "adaptive_max", "adaptive_avg"])
    if kind == "max":
        arguments = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
                         ceil_mode=ceil_mode)
    elif kind == "avg":
        arguments = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
                         count_include_pad=bool(rng.integers(2)),
                         divisor_override=int(rng.integers(1, 5)) if rng.integers(3) == 0 else None)
    else:
        arguments = dict(output_size=out_size)
    name = f"{kind}_pool{ndim}d"
    return ndim, name, arguments


@pytest.mark.parametrize("seed", range(40))
def test_pooling_cut_into_bands_of_rows_gives_the_same_results(seed):
    """A workspace too small for one plane cuts planes into bands of output rows: same results."""
    rng = np.random.default_rng(seed)
    ndim, name, arguments = pooling_calls(rng)
    shape = (2, 2) + tuple(int(n) for n in rng.integers(9, 20, ndim))
    x = rng.standard_normal(shape)
    forward, backward = getattr(npconv, name), getattr(npconv, f"{name}_backward")
    indices_too = "max" in name
    whole = forward(x, return_indices=True, **arguments) if indices_too else forward(x, **arguments)
    values = whole[0] if indices_too else whole
    gy = rng.standard_normal(values.shape)
    whole_grad = backward(gy, x, **arguments)
    with npconv.workspace(256), npconv.threads(1):
        banded = forward(x, return_indices=True, **arguments) if indices_too else forward(x, **arguments)
        banded_grad = backward(gy, x, **arguments)
        given = backward(gy, x, indices=whole[1], **arguments) if indices_too else banded_grad
    for got, expected in zip(as_tuple(banded) + (banded_grad, given), as_tuple(whole) + (whole_grad,) * 2):
        assert got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13, err_msg=f"{name} {arguments}")


@pytest.mark.parametrize("call", [
    lambda x, g: npconv.max_pool2d(x, 3, 2, 1, return_indices=True),
    lambda x, g: npconv.max_pool2d_backward(g, x, 3, 2, 1),
    lambda x, g: npconv.avg_pool2d(x, 3, 2, 1),
    lambda x, g: npconv.avg_pool2d_backward(g, x, 3, 2, 1),
    lambda x, g: npconv.adaptive_avg_pool2d(x, 1024),
    lambda x, g: npconv.adaptive_max_pool2d_backward(g, x, 1024),
])
def test_pooling_a_plane_larger_than_the_workspace_stays_inside_it(call):
    x = np.random.default_rng(10).standard_normal((1, 1, 2048, 2048)).astype(np.float32)  # 16 MiB
    gy = np.ones((1, 1, 1024, 1024), np.float32)
    budget = 2 << 20
    with npconv.workspace(budget):
        result, peak = traced_peak(lambda: call(x, gy))
    assert peak - sum(a.nbytes for a in as_tuple(result)) <= budget + ITERATOR_BUFFERS


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("prefix", ["conv", "conv_transpose"])
def test_convolutions_cut_into_bands_of_rows_give_the_same_results(seed, prefix):
    """A workspace far smaller than one sample: direct passes over bands of output rows (with NaNs too)."""
    rng = np.random.default_rng([seed, len(prefix)])
    for _ in range(25):
        ndim, groups = int(rng.integers(1, 4)), int(rng.integers(1, 3))
        kernel = tuple(int(v) for v in rng.integers(1, 4, ndim))
        stride = tuple(int(v) for v in rng.integers(1, 4, ndim))
        dilation = tuple(int(v) for v in rng.integers(1, 3, ndim))
        spatial = tuple(d * (k - 1) + 1 + int(rng.integers(3, 9)) for k, d in zip(kernel, dilation))
        arguments = dict(stride=stride, dilation=dilation, groups=groups)
        if prefix == "conv":
            arguments["padding"] = tuple((int(a), int(b)) for a, b in rng.integers(0, 3, (ndim, 2)))
            w = rng.standard_normal((2 * groups, 2) + kernel)
        else:
            arguments["padding"] = tuple(int(rng.integers(0, (k - 1) * d + 1)) for k, d in zip(kernel, dilation))
            w = rng.standard_normal((2 * groups, 2) + kernel)
        x = rng.standard_normal((2, 2 * groups) + spatial)
        if rng.integers(3) == 0:
            x.reshape(-1)[rng.integers(x.size)] = np.nan
        forward = getattr(npconv, f"{prefix}{ndim}d")
        backward = getattr(npconv, f"{prefix}{ndim}d_backward")
        y = forward(x, w, **arguments)
        gy = rng.standard_normal(y.shape)
        expected = (y,) + backward(gy, x, w, **arguments)[:2]
        for algorithm in ("direct", "auto"):
            with npconv.workspace(512), npconv.conv_algorithm(algorithm):
                got = (forward(x, w, **arguments),) + backward(gy, x, w, **arguments)[:2]
            for a, b in zip(got, expected):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10, equal_nan=True,
                                           err_msg=f"{prefix} {algorithm} {arguments}")


def test_max_pool_backward_with_given_indices_stays_inside_the_workspace_on_a_large_plane():
    x = np.random.default_rng(11).standard_normal((1, 1, 2048, 2048)).astype(np.float32)
    gy = np.ones((1, 1, 1024, 1024), np.float32)
    indices = npconv.max_pool2d(x, 3, 2, 1, return_indices=True)[1]
    budget = 2 << 20
    with npconv.workspace(budget):
        result, peak = traced_peak(lambda: npconv.max_pool2d_backward(gy, x, 3, 2, 1, indices=indices))
    assert peak - result.nbytes <= budget + ITERATOR_BUFFERS


def test_threads_governs_blas_inside_npconv_calls(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl is not installed "
                                                                "(the test extra brings it)")
    from npconv.engine import im2col

    def blas_counts():
        return {info["num_threads"] for info in threadpoolctl.threadpool_info()
                if info["user_api"] == "blas"}

    outside = blas_counts()
    seen = []
    forward = im2col.forward

    def spy(*args, **kwargs):
        seen.append(blas_counts())
        return forward(*args, **kwargs)

    monkeypatch.setattr(im2col, "forward", spy)
    x, w = np.ones((2, 8, 16, 16), np.float32), np.ones((8, 8, 3, 3), np.float32)
    with npconv.conv_algorithm("im2col"):
        npconv.conv2d(x, w)  # no threads(): BLAS keeps its own count
        with npconv.threads(1):
            npconv.conv2d(x, w)
    assert seen == [outside, {1}] and blas_counts() == outside
    # calls that asked for different counts at once: BLAS takes the smallest while both run
    limits = npconv.window.blocks._blas_limits
    with npconv.threads(3):
        limits.enter(3)
        limits.enter(1)
        assert blas_counts() == {1}
        limits.leave(1)
        assert blas_counts() != {1} or max(outside) == 1  # back up to the smallest still asked
        limits.leave(3)
    assert blas_counts() == outside
