"""Shared test helpers: algorithms, tolerances, layouts, canonical padding for the references."""

import contextlib

import numpy as np
import pytest

import npconv
from npconv.testing import directional_derivatives, torch_twin
from npconv.engine import planning

# Every algorithm, and both backward passes of im2col (which it picks by shape).
ALGORITHMS = ("im2col/input-columns", "im2col/gradient-columns", "direct", "fft")
DTYPES = (np.float32, np.float64)

# Relative to the largest magnitude of the expected array.
TOLERANCE = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-12}


@contextlib.contextmanager
def using(algorithm):
    """``npconv.conv_algorithm(algorithm)``; ``im2col/...`` also forces im2col's backward pass."""
    name, _, columns = algorithm.partition("/")
    with contextlib.ExitStack() as stack:
        stack.enter_context(npconv.conv_algorithm(name))
        if columns:
            stack.enter_context(planning.im2col_columns(columns.split("-")[0]))
        yield


def assert_close(actual, expected, dtype, what=""):
    """Shape, dtype, then values within the dtype's tolerance, scaled by the expected magnitude."""
    dtype = np.dtype(dtype)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == dtype, f"{what}: dtype {actual.dtype} != {dtype}"
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    tol = TOLERANCE[dtype] * scale * 10
    np.testing.assert_allclose(actual, expected, rtol=TOLERANCE[dtype], atol=tol, err_msg=what)


def noncontiguous(array):
    """A copy of ``array`` as a view with non-unit strides in its last axis and a reversed first one."""
    holder = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), array.dtype)
    view = holder[..., ::2][::-1]
    view[...] = array
    assert not view.flags.c_contiguous and np.array_equal(view, array, equal_nan=True)
    return view


def pad_pairs(padding, kernel, dilation):
    """Per-dimension (lo, hi) from any padding form, following torch's documented rules."""
    ndim = len(kernel)
    if padding == "valid":
        return ((0, 0),) * ndim
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    if isinstance(padding, int):
        return ((padding, padding),) * ndim
    return tuple(p if isinstance(p, tuple) else (p, p) for p in padding)


def as_tuple(value, ndim):
    return tuple(value) if isinstance(value, tuple) else (value,) * ndim


def functions(prefix, ndim):
    """``npconv.<prefix>{ndim}d`` and its backward."""
    name = f"{prefix}{ndim}d"
    return getattr(npconv, name), getattr(npconv, f"{name}_backward")


def torch_or_skip():
    """PyTorch, the parity oracle, or skip the calling test saying why."""
    return pytest.importorskip(
        "torch", reason="PyTorch is not installed; parity tests need it (pip install torch==2.13.0)")


def check_directional_derivatives(forward, backward, arrays, rng, h=1e-6, rtol=1e-7):
    """``forward(*arrays) -> y``; ``backward(u, *arrays) -> one gradient per array``."""
    for index, (numeric, analytic) in enumerate(directional_derivatives(forward, backward, arrays,
                                                                        rng, h)):
        assert np.isclose(numeric, analytic, rtol=rtol, atol=1e-8), (index, numeric, analytic)


def check_convolution_gradients(name, x, w, b, arguments, algorithm, rng):
    """Finite differences of ``npconv.<name>`` against ``<name>_backward``, in input, weight and bias."""
    forward, backward = getattr(npconv, name), getattr(npconv, f"{name}_backward")
    with using(algorithm):
        check_directional_derivatives(lambda x, w, b: forward(x, w, b, **arguments),
                                      lambda u, x, w, b: backward(u, x, w, b, **arguments),
                                      [x, w, b], rng)


def interpolate_torch_differs(mode, spatial, arguments, out_shape):
    """``(forward, backward)``: whether torch's CPU kernel, forward or backward, disagrees with
    the rest of torch there (``interpolate``'s notes); npconv's backward is its forward's adjoint."""
    scaled = arguments.get("scale_factor") and not arguments.get("recompute_scale_factor")
    if mode == "nearest" and len(spatial) != 2 and scaled:
        return any(m in (n, 2 * n) for n, m in zip(spatial, out_shape)), False
    if mode == "bicubic" and not arguments.get("antialias") and scaled:
        return False, any(m == n for n, m in zip(spatial, out_shape))
    if arguments.get("antialias"):
        return (spatial[-1] == 1 or out_shape[-1] == 1,
                bool(scaled) and any(m == n for n, m in zip(spatial, out_shape)))
    return False, False


def check_module_against_torch(torch, module, reference, x, rng):
    """A module's forward, input gradient and parameter gradients (in order) against the same
    torch module's, in float64."""
    tx = torch.tensor(x, requires_grad=True)
    ty = reference(tx)
    y = module(x)
    assert_close(y, ty.detach().numpy(), np.float64, "forward")
    gy = rng.standard_normal(y.shape)
    ty.backward(torch.tensor(gy))
    assert_close(module.backward(gy), tx.grad.numpy(), np.float64, "grad_input")
    ours, theirs = list(module.parameters()), list(reference.parameters())
    assert len(ours) == len(theirs)
    for parameter, tensor in zip(ours, theirs):
        assert_close(parameter.grad, tensor.grad.numpy(), np.float64, "parameter gradient")


def to_torch(module, torch):
    """The same model in torch (float64), with npconv's weights and its module names."""
    return torch_twin(module, torch, torch.float64)
