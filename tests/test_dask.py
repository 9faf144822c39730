"""npconv on Dask arrays: lazy results equal to npconv's on the whole array, chunk by chunk.

Each family draws random configurations (every kernel, stride, dilation and
padding form, groups, 1-D to 3-D) and random chunkings (ragged, single cells,
chunks shorter than a halo) and compares forward and every gradient with
npconv's NumPy functions on the whole array, which the rest of the suite
proves against loop references and torch.  A distributed LocalCluster (two
worker processes, one thread each) runs a sample of them too.
"""

import math
import tracemalloc

import numpy as np
import pytest

import npconv

da = pytest.importorskip("dask.array", reason="dask is not installed (pip install 'npconv[dask]')")
dask = pytest.importorskip("dask")

from npconv.dask import chunks as ch  # noqa: E402  (after the skip)

RTOL = 1e-12


@pytest.fixture(autouse=True)
def threaded_scheduler():
    with dask.config.set(scheduler="threads", num_workers=2):
        yield


def random_chunks(rng, size):
    """Chunk sizes of ``size``: one chunk, ragged cuts, or cells of 1 (shorter than any halo)."""
    kind = rng.integers(4)
    if kind == 0 or size == 1:
        return (size,)
    if kind == 1:
        step = int(rng.integers(1, max(2, size // 2) + 1))
        return tuple(min(step, size - s) for s in range(0, size, step))
    cuts = np.sort(rng.choice(np.arange(1, size), size=min(size - 1, int(rng.integers(1, 4))),
                              replace=False))
    edges = np.concatenate(([0], cuts, [size]))
    return tuple(int(c) for c in np.diff(edges))


def chunked(rng, array, batch=True, channels=False):
    lead = (random_chunks(rng, array.shape[0]) if batch else (array.shape[0],),
            random_chunks(rng, array.shape[1]) if channels else (array.shape[1],))
    return da.from_array(array, chunks=lead + tuple(random_chunks(rng, n)
                                                   for n in array.shape[2:]))


def assert_equal_to_rounding(lazy, expected, what):
    assert isinstance(lazy, da.Array), f"{what}: got {type(lazy)}, not a Dask array"
    assert lazy.shape == expected.shape and lazy.dtype == expected.dtype, what
    got = lazy.compute()
    assert got.shape == expected.shape and got.dtype == expected.dtype, what
    scale = max(1.0, float(np.abs(expected).max(initial=0)))
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def conv_config(rng, ndim, transposed=False):
    """A random valid convolution: shapes and keyword arguments."""
    while True:
        groups = int(rng.choice([1, 1, 2, 3]))
        cin, cout = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
        kernel = tuple(int(k) for k in rng.integers(1, 5, ndim))
        stride = tuple(int(s) for s in rng.integers(1, 4, ndim))
        dilation = tuple(int(d) for d in rng.integers(1, 3, ndim))
        spatial = tuple(int(n) for n in rng.integers(1, 14, ndim))
        form = rng.integers(5)
        if form == 0:
            padding = int(rng.integers(0, 3))
        elif form == 1:
            padding = tuple(int(p) for p in rng.integers(0, 4, ndim))
        elif form == 2 and not transposed:
            padding = tuple((int(a), int(b)) for a, b in rng.integers(0, 4, (ndim, 2)))
        elif form == 3 and not transposed:
            stride = (1,) * ndim
            padding = str(rng.choice(["same", "valid"]))
        else:
            padding = 0
        kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        mode = str(rng.choice(["zeros"] * 3 + ["reflect", "replicate", "circular"]))
        if mode != "zeros" and not transposed:
            kwargs["padding_mode"] = mode
        shape = (int(rng.integers(1, 4)), cin) + spatial
        if transposed:
            extra = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
            kwargs["output_padding"] = extra
            weight = (cin, cout // groups) + kernel
        else:
            weight = (cout, cin // groups) + kernel
        try:
            probe = np.zeros(shape)
            fn = getattr(npconv, f"conv_transpose{ndim}d" if transposed else f"conv{ndim}d")
            fn(probe, np.zeros(weight), **kwargs)
        except ValueError:
            continue
        return shape, weight, kwargs


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_convolutions_chunk_by_chunk_equal_the_whole_array(ndim):
    rng = np.random.default_rng(100 + ndim)
    for trial in range(40 if ndim < 3 else 20):
        shape, weight_shape, kwargs = conv_config(rng, ndim)
        x, w = rng.standard_normal(shape), rng.standard_normal(weight_shape)
        b = rng.standard_normal(weight_shape[0]) if trial % 2 else None
        xd = chunked(rng, x)
        what = f"conv{ndim}d {shape} {weight_shape} {kwargs} chunks {xd.chunks}"
        conv = getattr(npconv, f"conv{ndim}d")
        y = conv(x, w, b, **kwargs)
        yd = conv(xd, w, b, **kwargs)
        assert_equal_to_rounding(yd, y, what)
        gy = rng.standard_normal(y.shape)
        gyd = chunked(rng, gy)
        grads = getattr(npconv, f"conv{ndim}d_backward")(gy, x, w, b, **kwargs)
        lazy = getattr(npconv, f"conv{ndim}d_backward")(gyd, xd, w, b, **kwargs)
        for name, got, expected in zip(("input", "weight", "bias"), lazy, grads):
            if expected is None:
                assert got is None
            else:
                assert_equal_to_rounding(got, expected, f"{what}: grad {name}")
        assert_equal_to_rounding(
            getattr(npconv, f"conv{ndim}d_input")(shape, da.from_array(w), gyd, **kwargs),
            grads[0], f"{what}: conv_input")
        assert_equal_to_rounding(
            getattr(npconv, f"conv{ndim}d_weight")(xd, weight_shape, gyd, **kwargs),
            grads[1], f"{what}: conv_weight")


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_transposed_convolutions_chunk_by_chunk_equal_the_whole_array(ndim):
    rng = np.random.default_rng(200 + ndim)
    for trial in range(30 if ndim < 3 else 15):
        shape, weight_shape, kwargs = conv_config(rng, ndim, transposed=True)
        x, w = rng.standard_normal(shape), rng.standard_normal(weight_shape)
        b = rng.standard_normal(weight_shape[1] * kwargs["groups"]) if trial % 2 else None
        xd = chunked(rng, x)
        what = f"conv_transpose{ndim}d {shape} {weight_shape} {kwargs} chunks {xd.chunks}"
        op = getattr(npconv, f"conv_transpose{ndim}d")
        y = op(x, w, b, **kwargs)
        yd = op(xd, w, b, **kwargs)
        assert_equal_to_rounding(yd, y, what)
        gy = rng.standard_normal(y.shape)
        grads = getattr(npconv, f"conv_transpose{ndim}d_backward")(gy, x, w, b, **kwargs)
        lazy = getattr(npconv, f"conv_transpose{ndim}d_backward")(chunked(rng, gy), xd, w, b,
                                                                  **kwargs)
        for name, got, expected in zip(("input", "weight", "bias"), lazy, grads):
            if expected is None:
                assert got is None
            else:
                assert_equal_to_rounding(got, expected, f"{what}: grad {name}")


def pool_config(rng, ndim, kind):
    while True:
        kernel = tuple(int(k) for k in rng.integers(1, 5, ndim))
        stride = tuple(int(s) for s in rng.integers(1, 4, ndim)) if rng.integers(3) else None
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
        spatial = tuple(int(n) for n in rng.integers(1, 13, ndim))
        kwargs = dict(kernel_size=kernel, stride=stride, padding=padding,
                      ceil_mode=bool(rng.integers(2)))
        if kind == "max":
            kwargs["dilation"] = tuple(int(d) for d in rng.integers(1, 3, ndim))
        else:
            kwargs["count_include_pad"] = bool(rng.integers(2))
            if rng.integers(4) == 0:
                kwargs["divisor_override"] = int(rng.integers(1, 5))
        shape = (int(rng.integers(1, 4)), int(rng.integers(1, 4))) + spatial
        try:
            getattr(npconv, f"{kind}_pool{ndim}d")(np.zeros(shape), **kwargs)
        except ValueError:
            continue
        return shape, kwargs


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_max_pooling_chunk_by_chunk_equals_the_whole_array(ndim):
    rng = np.random.default_rng(300 + ndim)
    for _ in range(40 if ndim < 3 else 20):
        shape, kwargs = pool_config(rng, ndim, "max")
        # ties and NaNs: torch's first maximum and last NaN must survive the cut
        x = rng.integers(0, 3, shape).astype(np.float64)
        x[rng.random(shape) < 0.05] = np.nan
        xd = chunked(rng, x, channels=True)
        what = f"max_pool{ndim}d {shape} {kwargs} chunks {xd.chunks}"
        op = getattr(npconv, f"max_pool{ndim}d")
        values, indices = op(x, return_indices=True, **kwargs)
        lazy_values, lazy_indices = op(xd, return_indices=True, **kwargs)
        np.testing.assert_array_equal(lazy_values.compute(), values, err_msg=what)
        np.testing.assert_array_equal(lazy_indices.compute(), indices, err_msg=what)
        gy = rng.standard_normal(values.shape)
        backward = getattr(npconv, f"max_pool{ndim}d_backward")
        expected = backward(gy, x, **kwargs)
        gyd = chunked(rng, gy, channels=True)
        spatially_cut = any(len(c) > 1 for c in xd.chunks[2:])
        window = npconv.ops.pool.pool_window("probe", ndim, shape[2:], kwargs["kernel_size"],
                                             kwargs["stride"], kwargs["padding"],
                                             kwargs["dilation"], kwargs["ceil_mode"])
        if spatially_cut and ch.padding_only_windows(window):
            with pytest.raises(ValueError, match="padding cells only"):
                backward(gyd, xd, **kwargs)
            continue
        assert_equal_to_rounding(backward(gyd, xd, **kwargs), expected, what)
        assert_equal_to_rounding(backward(gyd, xd, indices=chunked(rng, indices), **kwargs),
                                 expected, f"{what}, given indices")


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_average_pooling_chunk_by_chunk_equals_the_whole_array(ndim):
    rng = np.random.default_rng(400 + ndim)
    for _ in range(40 if ndim < 3 else 20):
        shape, kwargs = pool_config(rng, ndim, "avg")
        x = rng.standard_normal(shape)
        xd = chunked(rng, x, channels=True)
        what = f"avg_pool{ndim}d {shape} {kwargs} chunks {xd.chunks}"
        y = getattr(npconv, f"avg_pool{ndim}d")(x, **kwargs)
        assert_equal_to_rounding(getattr(npconv, f"avg_pool{ndim}d")(xd, **kwargs), y, what)
        gy = rng.standard_normal(y.shape)
        backward = getattr(npconv, f"avg_pool{ndim}d_backward")
        assert_equal_to_rounding(backward(chunked(rng, gy, channels=True), xd, **kwargs),
                                 backward(gy, x, **kwargs), what)


def test_unfold_and_fold_by_batch_chunks():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 3, 9, 8))
    xd = da.from_array(x, chunks=(2, 3, 9, 8))
    kwargs = dict(kernel_size=(3, 2), dilation=(1, 2), padding=1, stride=(2, 1))
    cols = npconv.unfold(x, **kwargs)
    assert_equal_to_rounding(npconv.unfold(xd, **kwargs), cols, "unfold")
    assert_equal_to_rounding(npconv.im2col(xd, **kwargs), cols, "im2col")
    colsd = da.from_array(cols, chunks=(3,) + cols.shape[1:])
    assert_equal_to_rounding(npconv.fold(colsd, (9, 8), **kwargs),
                             npconv.fold(cols, (9, 8), **kwargs), "fold")
    assert_equal_to_rounding(npconv.unfold_backward(colsd, xd, **kwargs),
                             npconv.unfold_backward(cols, x, **kwargs), "unfold_backward")
    assert_equal_to_rounding(npconv.fold_backward(xd, colsd, (9, 8), **kwargs),
                             npconv.fold_backward(x, cols, (9, 8), **kwargs), "fold_backward")
    with pytest.raises(ValueError, match=r"chunked along the batch only.*rechunk"):
        npconv.unfold(xd.rechunk({2: 4}), **kwargs)


def test_unbatched_float32_and_mixed_inputs_keep_npconv_dtypes():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 12, 10)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    xd = da.from_array(x, chunks=(3, 5, 4))
    y = npconv.conv2d(xd, w, padding=1)
    assert y.dtype == np.float32 and y.shape == (4, 12, 10)
    np.testing.assert_allclose(y.compute(), npconv.conv2d(x, w, padding=1), rtol=1e-5, atol=1e-5)
    y64 = npconv.conv2d(xd, w.astype(np.float64), padding=1)  # NumPy's promotion, as npconv
    assert y64.dtype == np.float64
    gx, gw, _ = npconv.conv2d_backward(da.ones((4, 12, 10), np.float64, chunks=4), xd, w,
                                       padding=1)
    assert gx.dtype == np.float32 and gw.dtype == np.float32  # each in its argument's dtype


def test_results_are_lazy_and_nothing_is_computed_to_build_them():
    def refuse(block):
        raise AssertionError("a block was computed while building the graph")

    x = da.map_blocks(refuse, da.zeros((2, 2, 16, 16), chunks=(1, 2, 8, 8)), dtype=np.float64)
    w = np.ones((2, 2, 3, 3))
    built = [npconv.conv2d(x, w, padding=1), npconv.conv2d_backward(x, x, w, padding=1)[1],
             npconv.conv_transpose2d(x, w, stride=2), npconv.max_pool2d(x, 2),
             npconv.avg_pool2d_backward(x[..., ::2, ::2], x, 2),
             npconv.unfold(x.rechunk({2: -1, 3: -1}), 3)]
    assert all(isinstance(b, da.Array) for b in built)


def test_settings_reach_every_task_with_one_thread(monkeypatch):
    seen = []
    forward = npconv.engine.forward

    def spy(*args, **kwargs):
        seen.append((npconv.get_workspace(), npconv.get_threads(), npconv.get_algorithm()))
        return forward(*args, **kwargs)

    monkeypatch.setattr(npconv.engine, "forward", spy)
    x = da.ones((2, 3, 20, 20), chunks=(1, 3, 10, 10))
    with npconv.workspace(3 << 20), npconv.conv_algorithm("direct"):
        y = npconv.conv2d(x, np.ones((2, 3, 3, 3)), padding=1)
    y.compute()
    assert len(seen) == 8 and set(seen) == {(3 << 20, 1, "direct")}


def test_weight_gradients_are_summed_as_a_tree():
    from dask.core import get_dependencies

    x = da.ones((16, 1, 64), chunks=(1, 1, 8))
    gw = npconv.conv1d_weight(x, (1, 1, 3), da.ones((16, 1, 62), chunks=(1, 1, 8)))
    graph = dict(gw.__dask_graph__())
    sums = [key for key in graph if str(key[0] if isinstance(key, tuple) else key).startswith("sum")]
    fan_in = [len(get_dependencies(graph, key)) for key in sums]
    assert len(sums) > 16 * 8 // ch.SPLIT_EVERY and max(fan_in) <= ch.SPLIT_EVERY, fan_in
    np.testing.assert_allclose(gw.compute(), np.full((1, 1, 3), 16 * 62.0))


def test_clear_errors_when_the_graph_is_built():
    x = da.ones((2, 4, 10, 10), chunks=(1, 2, 5, 5))
    w = np.ones((2, 4, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d\(\): `input` must have one chunk along the "
                                         r"channels.*rechunk\(\{1: -1\}\)"):
        npconv.conv2d(x, w)
    x = x.rechunk({1: -1})
    with pytest.raises(ValueError, match=r"conv2d\(\): `input` must have 6 channels"):
        npconv.conv2d(x, np.ones((2, 3, 3, 3)), groups=2)
    with pytest.raises(TypeError, match=r"conv2d\(\): `input` must be a float32 or float64"):
        npconv.conv2d(x.astype(int), w)
    with pytest.raises(ValueError, match=r"`grad_output` must have shape \(2, 2, 8, 8\)"):
        npconv.conv2d_backward(da.ones((2, 2, 9, 9)), x, w)
    pooled = da.ones((2, 4, 5, 5), chunks=(1, 4, 2, 3))
    bad = da.full(pooled.shape, 100, dtype=np.int64, chunks=2)
    with pytest.raises(ValueError, match=r"`indices` must lie in \[0, 100\).*got 100"):
        npconv.max_pool2d_backward(pooled, x, 2, indices=bad).compute()  # checked by its tasks
    with pytest.raises(TypeError, match=r"interpolate\(\): `input` is a Dask array"):
        npconv.interpolate(x, scale_factor=2)


def test_padding_modes_forward_and_backward():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 2, 11, 9))
    w = rng.standard_normal((3, 2, 3, 3))
    xd = da.from_array(x, chunks=(1, 2, (4, 4, 3), (5, 4)))
    for mode in ("reflect", "replicate", "circular"):
        y = npconv.conv2d(xd, w, padding=1, padding_mode=mode)
        assert y.chunks[2:] == ((4, 4, 3), (5, 4))  # the size kept, the chunks kept
        assert_equal_to_rounding(y, npconv.conv2d(x, w, padding=1, padding_mode=mode), mode)
        kwargs = dict(padding=((2, 0), (1, 3)), stride=(2, 1), dilation=(1, 2),
                      padding_mode=mode)
        y = npconv.conv2d(x, w, **kwargs)
        assert_equal_to_rounding(npconv.conv2d(xd, w, **kwargs), y, mode)
        gy = rng.standard_normal(y.shape)
        gyd = da.from_array(gy, chunks=(2, 3, 2, 3))
        expected = npconv.conv2d_backward(gy, x, w, **kwargs)
        for got, want, name in zip(npconv.conv2d_backward(gyd, xd, w, **kwargs), expected,
                                   ("input", "weight")):
            assert_equal_to_rounding(got, want, f"{mode} grad {name}")
        assert_equal_to_rounding(npconv.conv2d_input(x.shape, w, gyd, **kwargs), expected[0],
                                 f"{mode} conv2d_input")
        assert_equal_to_rounding(npconv.conv2d_weight(xd, w.shape, gyd, **kwargs), expected[1],
                                 f"{mode} conv2d_weight")
    for mode, pads in (("reflect", 1), ("replicate", (2, 3)), ("circular", ((3, 1), (0, 2)))):
        x1 = rng.standard_normal((1, 1, 4, 3))  # pads as large as the mode allows
        g = npconv.conv2d_backward(np.ones((1, 1) + npconv.conv2d(x1, w[:1, :1], padding=pads,
                                                                 padding_mode=mode).shape[2:]),
                                   x1, w[:1, :1], padding=pads, padding_mode=mode)
        lazy = npconv.conv2d_backward(da.ones(g[0].shape[:2] + npconv.conv2d(
            x1, w[:1, :1], padding=pads, padding_mode=mode).shape[2:], chunks=1),
            da.from_array(x1, chunks=(1, 1, 1, 2)), w[:1, :1], padding=pads, padding_mode=mode)
        assert_equal_to_rounding(lazy[0], g[0], f"{mode} {pads} small")


def test_halos_and_chunks_follow_the_stride_without_rechunking():
    x = da.zeros((1, 1, 64, 64), chunks=(1, 1, 16, 16))
    y = npconv.conv2d(x, np.zeros((1, 1, 3, 3)), stride=2, padding=1)
    assert y.chunks[2:] == ((8,) * 4, (8,) * 4)
    assert npconv.conv_transpose2d(y, np.zeros((1, 1, 4, 4)), stride=2, padding=1).chunks[2:] \
        == ((16,) * 4, (16,) * 4)
    window = npconv.ops.arguments.make_window("t", (64,), (5,), (1,), ((1, 3),), (2,))
    # a stride-1 chunk reads pad_lo cells before it and span - 1 - pad_lo after (asymmetric)
    assert [ch.read_cells(window, 0, o) for o in ch.owned_outputs(window, 0, (16,) * 4)] == \
        [(0, 23), (15, 39), (31, 55), (47, 64)]


def test_a_volume_on_disk_is_convolved_and_differentiated_in_bounded_memory(tmp_path):
    shape, chunk = (1, 1, 128, 256, 512), (1, 1, 16, 64, 64)  # 64 MiB of float32, 256 KiB chunks
    path, out = tmp_path / "volume.npy", tmp_path / "smoothed.npy"
    source = np.lib.format.open_memmap(path, "w+", np.float32, shape)
    source[...] = 1
    del source
    w = np.full((1, 1, 3, 3, 3), 1 / 27, np.float32)
    with npconv.workspace(1 << 20):
        # warm up: what a process allocates once (imports, BLAS controls, caches) is not the volume's
        head = npconv.dask.load_npy(path, chunk)[:, :, :16]
        npconv.conv3d(head, w, padding=1).sum().compute()
        npconv.conv3d_weight(head, w.shape, head, padding=1).compute()
        npconv.conv3d_input(head.shape, w, head, padding=1).sum().compute()
        tracemalloc.start()
        try:
            volume = npconv.dask.load_npy(path, chunk)
            npconv.dask.save_npy(out, npconv.conv3d(volume, w, padding=1))
            smoothed = npconv.dask.load_npy(out, chunk)
            grad_w = npconv.conv3d_weight(volume, w.shape, smoothed, padding=1).compute()
            grad_x = npconv.conv3d_input(shape, w, smoothed, padding=1)
            total = float(grad_x.sum(dtype=np.float64).compute())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    volume_bytes = math.prod(shape) * 4
    # about 8 MiB when the test runs alone, 9-11 MiB after the other tests of the suite (Dask's
    # threads and caches), whatever the volume's size
    assert peak < volume_bytes / 5, f"peak {peak / 2**20:.1f} MiB for a 64 MiB volume"
    smoothed = np.load(out)
    np.testing.assert_allclose(smoothed[0, 0, 5, 100, 100], 1, rtol=1e-6)
    np.testing.assert_allclose(smoothed[0, 0, 0, 0, 0], 8 / 27, rtol=1e-6)
    # float64 references: 16 million float32 products per weight cell, summed in one product
    # on the whole array, are off by 6.3e-5; in 256 blocks and a tree, by 4.6e-7
    expected_w = npconv.conv3d_weight(np.ones(shape), w.shape, smoothed.astype(np.float64),
                                      padding=1)
    np.testing.assert_allclose(grad_w, expected_w, rtol=2e-6)
    np.testing.assert_allclose(total, npconv.conv3d_input(shape, w.astype(np.float64), smoothed.astype(
        np.float64), padding=1).sum(), rtol=2e-6)


@pytest.fixture(scope="module")
def cluster_client():
    distributed = pytest.importorskip("distributed", reason="distributed is not installed "
                                                           "(pip install 'npconv[dask]')")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_a_local_cluster_gives_the_same_results(cluster_client):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 2, 21, 17))
    w = rng.standard_normal((3, 2, 3, 4))
    xd = da.from_array(x, chunks=(2, 2, (8, 8, 5), (9, 8)))
    kwargs = dict(stride=2, padding=((1, 2), (0, 3)), dilation=(1, 2))
    y = npconv.conv2d(x, w, **kwargs)
    gy = rng.standard_normal(y.shape)
    lazy = [npconv.conv2d(xd, w, **kwargs),
            *npconv.conv2d_backward(da.from_array(gy, chunks=(1, 3, 4, 3)), xd, w, **kwargs)[:2],
            npconv.max_pool2d(xd, 3, 2, 1, ceil_mode=True),
            npconv.avg_pool2d_backward(da.ones((4, 2, 11, 9), chunks=2), xd, 3, 2, 1)]
    expected = [y, *npconv.conv2d_backward(gy, x, w, **kwargs)[:2],
                npconv.max_pool2d(x, 3, 2, 1, ceil_mode=True),
                npconv.avg_pool2d_backward(np.ones((4, 2, 11, 9)), x, 3, 2, 1)]
    computed = cluster_client.compute(lazy, sync=True)
    for got, want in zip(computed, expected):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * np.abs(want).max())
    # what a worker keeps between tasks is counted and stays inside the caller's workspace
    from npconv.window.scratch import kept_bytes

    with npconv.workspace(1 << 20):
        cluster_client.compute(npconv.conv2d_backward(da.from_array(gy, chunks=(1, 3, 4, 3)), xd,
                                                      w, **kwargs)[1], sync=True)
    kept = cluster_client.run(kept_bytes)
    assert len(kept) == 2 and all(k <= 1 << 20 for k in kept.values()), kept


def test_docstring_examples_of_the_dask_modules():
    import doctest

    import npconv.dask.npy

    for module in (npconv.dask, npconv.dask.npy, ch):
        failures, _ = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert failures == 0, module.__name__


def test_the_volume_benchmark_prints_throughput_and_peak_memory(capsys):
    pytest.importorskip("distributed", reason="distributed is not installed "
                                              "(pip install 'npconv[dask]')")
    from npconv.cli.volume_bench import run_volume

    rows = run_volume(16, worker_counts=(1,))
    printed = capsys.readouterr().out
    assert "a 16 MiB float32 volume" in printed and "resident MiB" in printed
    passes = [row for row in rows if "seconds" in row]
    assert [row["name"] for row in passes] == ["forward", "weight gradient", "input gradient"]
    assert all(row["mib_per_s"] > 0 and 0 < row["peak_traced_mib"] < 64 for row in passes)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_whole_plane_pooling_and_unpooling_by_batch_and_channel_chunks(ndim):
    rng = np.random.default_rng(600 + ndim)
    for _ in range(6):
        spatial = tuple(int(n) for n in rng.integers(2, 9, ndim))
        x = rng.standard_normal((int(rng.integers(1, 5)), int(rng.integers(1, 5))) + spatial)
        xd = chunked(rng, x, channels=True).rechunk({a: -1 for a in range(2, x.ndim)})
        size = tuple(int(rng.integers(1, n + 2)) for n in spatial)
        ops = {"avg": getattr(npconv, f"adaptive_avg_pool{ndim}d"),
               "max": getattr(npconv, f"adaptive_max_pool{ndim}d"),
               "lp": getattr(npconv, f"lp_pool{ndim}d")}
        y = ops["avg"](x, size)
        assert_equal_to_rounding(ops["avg"](xd, size), y, "adaptive avg")
        gy = rng.standard_normal(y.shape)
        gyd = chunked(rng, gy, channels=True).rechunk({a: -1 for a in range(2, x.ndim)})
        backward = getattr(npconv, f"adaptive_avg_pool{ndim}d_backward")
        assert_equal_to_rounding(backward(gyd, xd, size), backward(gy, x, size), "avg backward")
        values, indices = ops["max"](x, size, return_indices=True)
        lazy_values, lazy_indices = ops["max"](xd, size, return_indices=True)
        np.testing.assert_array_equal(lazy_values.compute(), values)
        np.testing.assert_array_equal(lazy_indices.compute(), indices)
        backward = getattr(npconv, f"adaptive_max_pool{ndim}d_backward")
        assert_equal_to_rounding(backward(gyd, xd, size, indices=lazy_indices),
                                 backward(gy, x, size, indices=indices), "max backward")
        assert_equal_to_rounding(backward(gyd, xd, size), backward(gy, x, size), "max backward")
        kernel = tuple(int(rng.integers(1, n + 1)) for n in spatial)
        lp = ops["lp"](x, 2.0, kernel)
        assert_equal_to_rounding(ops["lp"](xd, 2.0, kernel), lp, "lp")
        backward = getattr(npconv, f"lp_pool{ndim}d_backward")
        glp = rng.standard_normal(lp.shape)
        assert_equal_to_rounding(backward(da.from_array(glp), xd, 2.0, kernel),
                                 backward(glp, x, 2.0, kernel), "lp backward")
        pooled, where = getattr(npconv, f"max_pool{ndim}d")(x, 2, return_indices=True)
        unpool = getattr(npconv, f"max_unpool{ndim}d")
        assert_equal_to_rounding(unpool(da.from_array(pooled, chunks=(1, 1) + pooled.shape[2:]),
                                        where, 2, output_size=x.shape[2:]),
                                 unpool(pooled, where, 2, output_size=x.shape[2:]), "unpool")
    with pytest.raises(ValueError, match=r"chunked along the batch and the channels only"):
        npconv.adaptive_avg_pool2d(da.ones((1, 1, 8, 8), chunks=4), 2)
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d\(\): `output_size`"):
        npconv.adaptive_avg_pool2d(da.ones((1, 1, 8, 8)), (2, 2, 2))
