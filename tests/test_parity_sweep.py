"""A seeded random sweep against PyTorch over every operator family: 27,000 configurations a run.

Each family draws its configurations from a fixed seed (so a CI run is
repeatable), small enough that a configuration takes about a millisecond,
over the whole argument space: 1-3 spatial dimensions, kernel, stride,
dilation, every padding form, groups, ceil_mode, count_include_pad,
divisor_override, unbatched inputs, both dtypes and every algorithm.  Each
configuration compares the forward values and every gradient with torch's.
"""

import numpy as np
import pytest

import npconv
from helpers import ALGORITHMS, interpolate_torch_differs, using

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed; the parity sweep needs it (pip install torch==2.13.0)")
F = torch.nn.functional
torch.set_num_threads(1)

CHUNKS = 10  # each family's quota runs as this many tests, so that a failure points near its seed


def close(actual, expected, dtype, what):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == dtype, f"{what}: dtype {actual.dtype}"
    scale = max(1.0, float(np.abs(expected[np.isfinite(expected)]).max(initial=0)))
    tolerance = (2e-5 if dtype == np.float32 else 1e-11) * scale
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tolerance, err_msg=what)


def draw_sizes(rng, ndim, kernel, dilation, padding_total, low=1):
    return tuple(max(low, d * (k - 1) + 1 - p) + int(rng.integers(0, 4))
                 for k, d, p in zip(kernel, dilation, padding_total))


def draw_padding(rng, ndim, allow_strings, limit):
    """``(npconv padding, torch padding or None, (lo, hi) pairs or None)``; None: npconv only."""
    kind = rng.choice(["int", "tuple", "pairs", "same", "valid"] if allow_strings
                      else ["int", "tuple", "pairs"])
    if kind == "int":
        p = int(rng.integers(0, limit + 1))
        return p, p, ((p, p),) * ndim
    if kind == "tuple":
        p = tuple(int(v) for v in rng.integers(0, limit + 1, ndim))
        return p, p, tuple((v, v) for v in p)
    if kind == "pairs":
        pairs = tuple((int(a), int(b)) for a, b in rng.integers(0, limit + 1, (ndim, 2)))
        return pairs, None, pairs
    return str(kind), str(kind), None


def torch_pad(pairs):
    return [v for pair in reversed(pairs) for v in pair]


def tensor(array):
    return torch.tensor(array, requires_grad=True)


def sweep(family, chunk, count, run_one):
    rng = np.random.default_rng([sum(map(ord, family)), chunk])
    for index in range(count):
        run_one(rng, f"{family} chunk {chunk} #{index}")


# --- families ------------------------------------------------------------------------

def conv_case(rng, what):
    ndim = int(rng.integers(1, 4))
    groups = int(rng.integers(1, 4))
    kernel = tuple(int(k) for k in rng.integers(1, 4, ndim))
    dilation = tuple(int(d) for d in rng.integers(1, 3, ndim))
    strings = bool(rng.integers(2))
    stride = (1,) * ndim if strings else tuple(int(s) for s in rng.integers(1, 4, ndim))
    padding, torch_padding, pairs = draw_padding(rng, ndim, strings, 2)
    totals = [0] * ndim if pairs is None else [lo + hi for lo, hi in pairs]
    spatial = draw_sizes(rng, ndim, kernel, dilation, totals)
    batch = int(rng.integers(0, 3))
    c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    dtype = np.float64 if rng.integers(4) else np.float32
    algorithm = rng.choice(("auto",) + ALGORITHMS)
    unbatched = batch == 1 and bool(rng.integers(2))
    x = rng.standard_normal(((c_in,) if unbatched else (batch, c_in)) + spatial).astype(dtype)
    w = rng.standard_normal((c_out, c_in // groups) + kernel).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype) if rng.integers(2) else None
    xt, wt = tensor(x), tensor(w)
    bt = None if b is None else tensor(b)
    if torch_padding is None:
        xt_padded = F.pad(xt, torch_pad(pairs))
        yt = getattr(F, f"conv{ndim}d")(xt_padded, wt, bt, stride, 0, dilation, groups)
    else:
        yt = getattr(F, f"conv{ndim}d")(xt, wt, bt, stride, torch_padding, dilation, groups)
    arguments = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    compare_convolution(rng, f"conv{ndim}d", arguments, algorithm, (x, w, b), (xt, wt, bt), yt,
                        what)


def compare_convolution(rng, name, arguments, algorithm, arrays, tensors, yt, what):
    """npconv's ``name`` and its backward against torch's output ``yt`` and gradients."""
    x, w, b = arrays
    gy = rng.standard_normal(tuple(yt.shape)).astype(x.dtype)
    yt.backward(torch.tensor(gy))
    with using(algorithm):
        y = getattr(npconv, name)(x, w, b, **arguments)
        grads = getattr(npconv, f"{name}_backward")(gy, x, w, b, **arguments)
    what = f"{what}: {algorithm} {arguments} x{x.shape} w{w.shape}"
    close(y, yt, x.dtype, f"forward {what}")
    for label, got, tensor_ in zip(("input", "weight", "bias"), grads, tensors):
        if tensor_ is not None:
            close(got, tensor_.grad, x.dtype, f"grad_{label} {what}")


def conv_transpose_case(rng, what):
    ndim = int(rng.integers(1, 4))
    groups = int(rng.integers(1, 3))
    kernel = tuple(int(k) for k in rng.integers(1, 4, ndim))
    stride = tuple(int(s) for s in rng.integers(1, 4, ndim))
    dilation = tuple(int(d) for d in rng.integers(1, 3, ndim))
    output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
    padding = tuple(int(rng.integers(0, (k - 1) * d // 2 + 1)) for k, d in zip(kernel, dilation))
    spatial = tuple(int(n) for n in rng.integers(1, 5, ndim))
    c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    dtype = np.float64 if rng.integers(4) else np.float32
    algorithm = rng.choice(("auto",) + ALGORITHMS)
    x = rng.standard_normal((int(rng.integers(0, 3)), c_in) + spatial).astype(dtype)
    w = rng.standard_normal((c_in, c_out // groups) + kernel).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    arguments = dict(stride=stride, padding=padding, output_padding=output_padding,
                     groups=groups, dilation=dilation)
    xt, wt, bt = tensor(x), tensor(w), tensor(b)
    try:
        yt = getattr(F, f"conv_transpose{ndim}d")(xt, wt, bt, **arguments)
    except RuntimeError:  # a non-positive output size: npconv refuses it too
        with pytest.raises(ValueError):
            getattr(npconv, f"conv_transpose{ndim}d")(x, w, b, **arguments)
        return
    compare_convolution(rng, f"conv_transpose{ndim}d", arguments, algorithm, (x, w, b),
                        (xt, wt, bt), yt, what)


def pool_arguments(rng, ndim, with_dilation):
    kernel = tuple(int(k) for k in rng.integers(1, 5, ndim))
    stride = None if rng.integers(3) == 0 else tuple(int(s) for s in rng.integers(1, 4, ndim))
    padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    dilation = tuple(int(d) for d in rng.integers(1, 3, ndim)) if with_dilation else (1,) * ndim
    return kernel, stride, padding, dilation, bool(rng.integers(2))


def pool_input(rng, ndim, kernel, padding, dilation, dtype):
    spatial = draw_sizes(rng, ndim, kernel, dilation, [2 * p for p in padding])
    batch = int(rng.integers(0, 3))
    x = rng.standard_normal((batch, int(rng.integers(1, 4))) + spatial).astype(dtype)
    return x[0] if batch == 1 and rng.integers(2) else x


def max_pool_case(rng, what):
    ndim = int(rng.integers(1, 4))
    dtype = np.float64 if rng.integers(4) else np.float32
    kernel, stride, padding, dilation, ceil_mode = pool_arguments(rng, ndim, True)
    x = pool_input(rng, ndim, kernel, padding, dilation, dtype)
    arguments = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
                     ceil_mode=ceil_mode)
    xt = tensor(x)
    try:
        yt, it = getattr(F, f"max_pool{ndim}d")(xt, return_indices=True, **arguments)
    except RuntimeError:  # torch: an output size below 1
        with pytest.raises(ValueError):
            getattr(npconv, f"max_pool{ndim}d")(x, **arguments)
        return
    y, indices = getattr(npconv, f"max_pool{ndim}d")(x, return_indices=True, **arguments)
    what = f"{what}: {arguments} x{x.shape}"
    close(y, yt, dtype, f"forward {what}")
    np.testing.assert_array_equal(indices, it.numpy(), err_msg=f"indices {what}")
    if np.isfinite(y).all():  # windows of padding only send gradients past the plane in torch
        gy = rng.standard_normal(y.shape).astype(dtype)
        yt.backward(torch.tensor(gy))
        close(getattr(npconv, f"max_pool{ndim}d_backward")(gy, x, **arguments), xt.grad, dtype,
              f"backward {what}")


def avg_pool_case(rng, what):
    ndim = int(rng.integers(1, 4))
    dtype = np.float64 if rng.integers(4) else np.float32
    kernel, stride, padding, _, ceil_mode = pool_arguments(rng, ndim, False)
    x = pool_input(rng, ndim, kernel, padding, (1,) * ndim, dtype)
    arguments = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
                     count_include_pad=bool(rng.integers(2)))
    if ndim > 1 and rng.integers(3) == 0:
        arguments["divisor_override"] = int(rng.integers(1, 6))
    xt = tensor(x)
    try:
        yt = getattr(F, f"avg_pool{ndim}d")(xt, **arguments)
    except RuntimeError:  # torch: an output size below 1 (npconv's 3-D may accept it: documented)
        return
    gy = rng.standard_normal(tuple(yt.shape)).astype(dtype)
    yt.backward(torch.tensor(gy))
    what = f"{what}: {arguments} x{x.shape}"
    close(getattr(npconv, f"avg_pool{ndim}d")(x, **arguments), yt, dtype, f"forward {what}")
    close(getattr(npconv, f"avg_pool{ndim}d_backward")(gy, x, **arguments), xt.grad, dtype,
          f"backward {what}")


def adaptive_case(rng, what):
    ndim = int(rng.integers(1, 4))
    dtype = np.float64 if rng.integers(4) else np.float32
    spatial = tuple(int(n) for n in rng.integers(1, 9, ndim))
    x = rng.standard_normal((int(rng.integers(0, 3)), int(rng.integers(1, 4))) + spatial)
    x = x.astype(dtype)
    output_size = tuple(None if ndim > 1 and rng.integers(5) == 0 else int(rng.integers(1, 10))
                        for _ in range(ndim))  # torch's 1-D pools take no None
    kind = rng.choice(["avg", "max"])
    xt = tensor(x)
    name = f"adaptive_{kind}_pool{ndim}d"
    if kind == "max":
        yt, it = getattr(F, name)(xt, output_size, return_indices=True)
        y, indices = getattr(npconv, name)(x, output_size, return_indices=True)
        np.testing.assert_array_equal(indices, it.numpy(), err_msg=f"indices {what}")
    else:
        yt = getattr(F, name)(xt, output_size)
        y = getattr(npconv, name)(x, output_size)
    what = f"{what}: {name} {output_size} x{x.shape}"
    close(y, yt, dtype, f"forward {what}")
    gy = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.tensor(gy))
    close(getattr(npconv, f"{name}_backward")(gy, x, output_size), xt.grad, dtype,
          f"backward {what}")


def unpool_case(rng, what):
    ndim = int(rng.integers(1, 4))
    kernel = tuple(int(k) for k in rng.integers(1, 4, ndim))
    stride = tuple(int(s) for s in rng.integers(1, 4, ndim))
    padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    spatial = draw_sizes(rng, ndim, kernel, (1,) * ndim, [2 * p for p in padding])
    x = rng.standard_normal((int(rng.integers(0, 3)), 2) + spatial)
    arguments = dict(kernel_size=kernel, stride=stride, padding=padding)
    values, indices = getattr(F, f"max_pool{ndim}d")(torch.tensor(x), return_indices=True,
                                                     **arguments)
    vt = values.detach().clone().requires_grad_()
    yt = getattr(F, f"max_unpool{ndim}d")(vt, indices, **arguments, output_size=x.shape[2:])
    gy = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(gy))
    v, i = values.numpy(), indices.numpy()
    what = f"{what}: {arguments} x{x.shape}"
    close(getattr(npconv, f"max_unpool{ndim}d")(v, i, **arguments, output_size=x.shape[2:]), yt,
          np.float64, f"forward {what}")
    close(getattr(npconv, f"max_unpool{ndim}d_backward")(gy, v, i, **arguments,
                                                          output_size=x.shape[2:]),
          vt.grad, np.float64, f"backward {what}")


def fold_case(rng, what):
    kernel = tuple(int(k) for k in rng.integers(1, 4, 2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, 2))
    stride = tuple(int(s) for s in rng.integers(1, 4, 2))
    padding = tuple(int(p) for p in rng.integers(0, 3, 2))
    spatial = draw_sizes(rng, 2, kernel, dilation, [2 * p for p in padding])
    x = rng.standard_normal((int(rng.integers(0, 3)), int(rng.integers(1, 4))) + spatial)
    arguments = dict(kernel_size=kernel, dilation=dilation, padding=padding, stride=stride)
    xt = tensor(x)
    cols_t = F.unfold(xt, **arguments)
    gy = rng.standard_normal(tuple(cols_t.shape))
    cols_t.backward(torch.tensor(gy))
    what = f"{what}: {arguments} x{x.shape}"
    cols = npconv.unfold(x, **arguments)
    close(cols, cols_t, np.float64, f"unfold {what}")
    close(npconv.unfold_backward(gy, x, **arguments), xt.grad, np.float64, f"unfold grad {what}")
    ct = tensor(gy)
    folded = F.fold(ct, spatial, **arguments)
    g = rng.standard_normal(tuple(folded.shape))
    folded.backward(torch.tensor(g))
    close(npconv.fold(gy, spatial, **arguments), folded, np.float64, f"fold {what}")
    close(npconv.fold_backward(g, gy, spatial, **arguments), ct.grad, np.float64,
          f"fold grad {what}")


def padding_mode_case(rng, what):
    """Convolutions with a padding mode: torch's modules pad with ``F.pad`` and convolve."""
    ndim = int(rng.integers(1, 4))
    mode = str(rng.choice(["reflect", "replicate", "circular"]))
    kernel = tuple(int(k) for k in rng.integers(1, 4, ndim))
    spatial = tuple(int(n) for n in rng.integers(2, 7, ndim))
    limit = [n - 1 if mode == "reflect" else n for n in spatial]
    pairs = tuple((int(rng.integers(0, min(2, m) + 1)), int(rng.integers(0, min(2, m) + 1)))
                  for m in limit)
    dtype = np.float64 if rng.integers(4) else np.float32
    x = rng.standard_normal((int(rng.integers(1, 3)), 2) + spatial).astype(dtype)
    w = rng.standard_normal((3, 2) + kernel).astype(dtype)
    if any(n + lo + hi < k for n, (lo, hi), k in zip(spatial, pairs, kernel)):
        return
    xt, wt = tensor(x), tensor(w)
    yt = getattr(F, f"conv{ndim}d")(F.pad(xt, torch_pad(pairs), mode=mode), wt)
    compare_convolution(rng, f"conv{ndim}d", dict(padding=pairs, padding_mode=mode), "auto",
                        (x, w, None), (xt, wt, None), yt, what)


def pad_case(rng, what):
    mode = str(rng.choice(["constant", "reflect", "replicate", "circular"]))
    padded_dims = int(rng.integers(1, 4))
    shape = tuple(int(n) for n in rng.integers(1, 6, padded_dims + int(rng.integers(1, 3))))
    pad = []
    for size in reversed(shape[-padded_dims:]):
        top = size - 1 if mode == "reflect" else size
        pad += [int(rng.integers(-min(size, 2) if mode != "circular" else 0, top + 1)),
                int(rng.integers(0, top + 1))]
    dtype = np.float64 if rng.integers(2) else np.float32
    x = rng.standard_normal(shape).astype(dtype)
    xt = tensor(x)
    try:
        yt = F.pad(xt, pad, mode=mode)
    except (RuntimeError, NotImplementedError):
        return
    if yt.numel() == 0:
        return
    gy = rng.standard_normal(tuple(yt.shape)).astype(dtype)
    yt.backward(torch.tensor(gy))
    close(npconv.pad(x, pad, mode), yt, dtype, f"pad {what} {mode} {pad} {shape}")
    close(npconv.pad_backward(gy, x, pad, mode), xt.grad, dtype, f"pad grad {what}")


INTERPOLATE_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


def interpolate_case(rng, what):
    mode = str(rng.choice(["nearest", "nearest-exact", "linear", "bilinear", "bicubic",
                           "trilinear", "area"]))
    ndim = INTERPOLATE_DIMS.get(mode, int(rng.integers(1, 4)))
    spatial = tuple(int(n) for n in rng.integers(1, 9, ndim))
    arguments = {}
    if rng.integers(2):
        arguments["size"] = tuple(int(n) for n in rng.integers(1, 12, ndim))
    else:
        arguments["scale_factor"] = tuple(float(f) for f in rng.choice([0.5, 0.75, 1.0, 1.3, 2.0,
                                                                        3.0], ndim))
        if any(int(n * f) < 1 for n, f in zip(spatial, arguments["scale_factor"])):
            return
    if mode in INTERPOLATE_DIMS:
        arguments["align_corners"] = bool(rng.integers(2))
        if mode in ("bilinear", "bicubic") and not arguments["align_corners"]:
            arguments["antialias"] = bool(rng.integers(2))
    dtype = np.float64 if rng.integers(2) else np.float32
    x = rng.standard_normal((2, 2) + spatial).astype(dtype)
    xt = tensor(x)
    yt = F.interpolate(xt, mode=mode, **arguments)
    gy = rng.standard_normal(tuple(yt.shape)).astype(dtype)
    yt.backward(torch.tensor(gy))
    forward_differs, backward_differs = interpolate_torch_differs(mode, spatial, arguments,
                                                                  tuple(yt.shape[2:]))
    what = f"interpolate {what} {mode} {arguments} {spatial}"
    if not forward_differs:
        close(npconv.interpolate(x, mode=mode, **arguments), yt, dtype, what)
    if not backward_differs:
        close(npconv.interpolate_backward(gy, x, mode=mode, **arguments), xt.grad, dtype,
              f"grad {what}")


def normalization_case(rng, what):
    shape = (int(rng.integers(2, 4)), 2 * int(rng.integers(1, 3))) + tuple(
        int(n) for n in rng.integers(2, 5, int(rng.integers(1, 3))))
    # float64: a set of two or three cells can have a tiny deviation, which float32 divides by
    # with an error of its own (tests/test_normalization.py compares float32 on larger sets)
    dtype = np.float64
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    c = shape[1]
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    kind = str(rng.choice(["batch", "instance", "group", "layer", "local"]))
    xt, wt, bt = tensor(x), tensor(w), tensor(b)
    if kind == "batch":
        training = bool(rng.integers(2))
        mean, var = rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2, c).astype(dtype)
        yt = F.batch_norm(xt, torch.tensor(mean), torch.tensor(var), wt, bt, training, 0.1, 1e-5)
        ours = npconv.batch_norm(x, mean.copy(), var.copy(), w, b, training)
        grads = npconv.batch_norm_backward(gy, x, mean, var, w, b, training)
    elif kind == "instance":
        yt = F.instance_norm(xt, None, None, wt, bt)
        ours, grads = npconv.instance_norm(x, None, None, w, b), \
            npconv.instance_norm_backward(gy, x, None, None, w, b)
    elif kind == "group":
        yt = F.group_norm(xt, 2, wt, bt)
        ours, grads = npconv.group_norm(x, 2, w, b), npconv.group_norm_backward(gy, x, 2, w, b)
    elif kind == "layer":
        wt = bt = None
        yt = F.layer_norm(xt, shape[-1:])
        ours = npconv.layer_norm(x, shape[-1])
        grads = npconv.layer_norm_backward(gy, x, shape[-1])
    else:
        wt = bt = None
        yt = F.local_response_norm(xt, 3, 1e-2, 0.75, 2.0)
        ours = npconv.local_response_norm(x, 3, 1e-2, 0.75, 2.0)
        grads = (npconv.local_response_norm_backward(gy, x, 3, 1e-2, 0.75, 2.0), None, None)
    yt.backward(torch.tensor(gy))
    what = f"{kind}_norm {what} {shape}"
    close(ours, yt, dtype, what)
    for got, tensor_, label in zip(grads, (xt, wt, bt), ("input", "weight", "bias")):
        if tensor_ is not None:
            close(got, tensor_.grad, dtype, f"grad_{label} {what}")


def lp_pool_case(rng, what):
    ndim = int(rng.integers(1, 4))
    p = float(rng.choice([1.0, 2.0, 3.0, 1.5]))
    kernel = tuple(int(k) for k in rng.integers(1, 4, ndim))
    stride = tuple(int(s) for s in rng.integers(1, 4, ndim))
    ceil_mode = bool(rng.integers(2))
    spatial = tuple(k + int(rng.integers(0, 4)) for k in kernel)
    dtype = np.float64 if rng.integers(2) else np.float32
    x = rng.uniform(0.1, 2.0, (2, 2) + spatial).astype(dtype)
    xt = tensor(x)
    yt = getattr(F, f"lp_pool{ndim}d")(xt, p, kernel if ndim > 1 else kernel[0],
                                       stride if ndim > 1 else stride[0], ceil_mode)
    gy = rng.standard_normal(tuple(yt.shape)).astype(dtype)
    yt.backward(torch.tensor(gy))
    arguments = (p, kernel, stride, ceil_mode)
    close(getattr(npconv, f"lp_pool{ndim}d")(x, *arguments), yt, dtype, f"lp {what} {arguments}")
    close(getattr(npconv, f"lp_pool{ndim}d_backward")(gy, x, *arguments), xt.grad, dtype,
          f"lp grad {what} {arguments}")


ACTIVATIONS = [("relu", {}), ("relu6", {}), ("leaky_relu", {"negative_slope": 0.1}),
               ("elu", {"alpha": 0.5}), ("selu", {}), ("gelu", {}),
               ("gelu", {"approximate": "tanh"}), ("silu", {}), ("mish", {}), ("hardswish", {}),
               ("hardtanh", {"min_val": -0.5, "max_val": 2.0}), ("softplus", {"beta": 2.0}),
               ("sigmoid", {}), ("tanh", {}), ("softmax", {"dim": -1}),
               ("log_softmax", {"dim": 0})]


def activation_case(rng, what):
    name, arguments = ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))]
    dtype = np.float64 if rng.integers(2) else np.float32
    x = (rng.standard_normal(tuple(int(n) for n in rng.integers(1, 6, 3))) * 4).astype(dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    xt = tensor(x)
    function = getattr(torch, name) if name in ("sigmoid", "tanh") else getattr(F, name)
    yt = function(xt, **arguments)
    yt.backward(torch.tensor(gy))
    close(getattr(npconv, name)(x, **arguments), yt, dtype, f"{name} {what}")
    close(getattr(npconv, f"{name}_backward")(gy, x, **arguments), xt.grad, dtype,
          f"{name} grad {what}")


#: family -> (case, configurations per run)
FAMILIES = {
    "conv": (conv_case, 5000),
    "conv_transpose": (conv_transpose_case, 3000),
    "max_pool": (max_pool_case, 3500),
    "avg_pool": (avg_pool_case, 3500),
    "adaptive": (adaptive_case, 2500),
    "max_unpool": (unpool_case, 1500),
    "unfold_fold": (fold_case, 1500),
    "padding_mode": (padding_mode_case, 1000),
    "pad": (pad_case, 1500),
    "interpolate": (interpolate_case, 1500),
    "normalization": (normalization_case, 1000),
    "lp_pool": (lp_pool_case, 800),
    "activations": (activation_case, 1000),
}
assert sum(count for _, count in FAMILIES.values()) >= 20000


@pytest.mark.parametrize("chunk", range(CHUNKS))
@pytest.mark.parametrize("family", list(FAMILIES))
def test_random_configurations_match_torch(family, chunk):
    case, count = FAMILIES[family]
    sweep(family, chunk, count // CHUNKS, case)
