"""Self-checks for ``npconv check``: finite-difference gradients, and parity with PyTorch when present.

Each check returns ``(name, what, error, tolerance)``; it passes when
``error <= tolerance``.  The gradient checks compare ``<u, J v>`` by central
differences with ``<J^T u, v>`` from the backward pass, in float64, along
random directions; the parity checks run random configurations through
npconv and torch (float64) and report the largest relative difference.
"""

from __future__ import annotations

import numpy as np

import npconv

from .. import nn
from ..testing import directional_error


def _conv_case(rng):
    x, w, b = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 2, 3, 2)), rng.standard_normal(6)
    args = dict(stride=(2, 1), padding=((1, 0), (1, 1)), dilation=(1, 2), groups=2)
    return (lambda x, w, b: npconv.conv2d(x, w, b, **args),
            lambda u, x, w, b: npconv.conv2d_backward(u, x, w, b, **args), [x, w, b])


def _conv_transpose_case(rng):
    x, w = rng.standard_normal((2, 4, 4, 5)), rng.standard_normal((4, 3, 3, 3))
    args = dict(stride=2, padding=1, output_padding=1, groups=1, dilation=1)
    return (lambda x, w: npconv.conv_transpose2d(x, w, **args),
            lambda u, x, w: npconv.conv_transpose2d_backward(u, x, w, **args)[:2], [x, w])


def _distinct(rng, shape):
    return rng.permutation(int(np.prod(shape))).reshape(shape) / 10.0  # no ties


def _pool_case(kind, rng):
    x = _distinct(rng, (2, 3, 9, 8))
    args = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    forward, backward = getattr(npconv, f"{kind}_pool2d"), getattr(npconv, f"{kind}_pool2d_backward")
    return lambda x: forward(x, **args), lambda u, x: [backward(u, x, **args)], [x]


def _adaptive_case(kind, rng):
    x = _distinct(rng, (2, 3, 7, 9))
    forward = getattr(npconv, f"adaptive_{kind}_pool2d")
    backward = getattr(npconv, f"adaptive_{kind}_pool2d_backward")
    return lambda x: forward(x, (3, 4)), lambda u, x: [backward(u, x, (3, 4))], [x]


def _unfold_case(rng):
    x = rng.standard_normal((2, 3, 6, 7))
    args = dict(kernel_size=(2, 3), dilation=(2, 1), padding=1, stride=(1, 2))
    return (lambda x: npconv.unfold(x, **args),
            lambda u, x: [npconv.unfold_backward(u, x, **args)], [x])


def _layer_case(make, shape, rng):
    layer = make()
    x = rng.standard_normal(shape)

    def forward(x):
        return layer.forward(x)

    def backward(u, x):
        layer.forward(x)
        return [layer.backward(u)]
    return forward, backward, [x]


def gradient_checks(seed=0):
    rng = np.random.default_rng(seed)
    float64 = dict(dtype=np.float64, rng=rng)
    cases = {
        "conv2d (stride, pad, dilation, groups)": _conv_case(rng),
        "conv_transpose2d (output_padding)": _conv_transpose_case(rng),
        "max_pool2d 3x3/2 pad 1 ceil": _pool_case("max", rng),
        "avg_pool2d 3x3/2 pad 1 ceil": _pool_case("avg", rng),
        "adaptive_max_pool2d": _adaptive_case("max", rng),
        "adaptive_avg_pool2d": _adaptive_case("avg", rng),
        "unfold": _unfold_case(rng),
        "nn.Conv2d": _layer_case(lambda: nn.Conv2d(3, 4, 3, padding=1, **float64), (2, 3, 5, 5), rng),
        "nn.Linear": _layer_case(lambda: nn.Linear(5, 3, **float64), (4, 5), rng),
        "nn.BatchNorm2d (training)": _layer_case(lambda: nn.BatchNorm2d(3, dtype=np.float64),
                                                 (4, 3, 3, 3), rng),
        "nn.Tanh": _layer_case(nn.Tanh, (3, 4), rng),
        "nn.Sigmoid": _layer_case(nn.Sigmoid, (3, 4), rng),
    }
    return [(name, "finite differences", directional_error(*case, rng), 1e-6)
            for name, case in cases.items()]


def torch_parity_checks(torch, seed=0, trials=20):
    """Random configurations through npconv and torch in float64; the largest relative difference."""
    F = torch.nn.functional
    rng = np.random.default_rng(seed)

    def relative(ours, theirs):
        theirs = theirs.detach().numpy()
        return float(np.max(np.abs(ours - theirs), initial=0) / max(1.0, np.max(np.abs(theirs), initial=0)))

    def conv_error(name, x, w, args):
        """Largest relative difference of the output, input gradient and weight gradient."""
        tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        ty = getattr(F, name)(tx, tw, **args)
        gy = rng.standard_normal(tuple(ty.shape))
        ty.backward(torch.tensor(gy))
        gx, gw, _ = getattr(npconv, f"{name}_backward")(gy, x, w, **args)
        return max(relative(getattr(npconv, name)(x, w, **args), ty),
                   relative(gx, tx.grad), relative(gw, tw.grad))

    results = {"conv2d forward+backward": 0.0, "conv_transpose2d forward+backward": 0.0,
               "max_pool2d values+indices+gradient": 0.0, "avg_pool2d forward+backward": 0.0}
    for _ in range(trials):
        groups = int(rng.integers(1, 3))
        c_in, c_out = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
        k, s, d, p = (int(v) for v in rng.integers(1, 4, 4))
        size = (k - 1) * d + 1 + int(rng.integers(0, 6))
        x = rng.standard_normal((2, c_in, size, size + 1))
        w = rng.standard_normal((c_out, c_in // groups, k, k))
        args = dict(stride=s, padding=p - 1, dilation=d, groups=groups)
        results["conv2d forward+backward"] = max(
            results["conv2d forward+backward"], conv_error("conv2d", x, w, args))

        wt = rng.standard_normal((c_in, c_out // groups, k, k))
        targs = dict(stride=s, padding=min(p - 1, (k - 1) * d // 2),
                     output_padding=int(rng.integers(0, max(s, d))), groups=groups, dilation=d)
        results["conv_transpose2d forward+backward"] = max(
            results["conv_transpose2d forward+backward"],
            conv_error("conv_transpose2d", x, wt, targs))

        pool_args = dict(kernel_size=k, stride=s, padding=min(p - 1, k // 2),
                         ceil_mode=bool(rng.integers(2)))
        xi = np.round(x * 2)  # ties
        for kind in ("max", "avg"):
            tx = torch.tensor(xi, requires_grad=True)
            if kind == "max":
                ty, tindices = F.max_pool2d(tx, return_indices=True, **pool_args)
                values, indices = npconv.max_pool2d(xi, return_indices=True, **pool_args)
                error = relative(values, ty) + float(np.any(indices != tindices.numpy()))
            else:
                ty = F.avg_pool2d(tx, **pool_args)
                error = relative(npconv.avg_pool2d(xi, **pool_args), ty)
            gy = rng.standard_normal(tuple(ty.shape))
            ty.backward(torch.tensor(gy))
            grad = getattr(npconv, f"{kind}_pool2d_backward")(gy, xi, **pool_args)
            key = [name for name in results if name.startswith(f"{kind}_pool2d")][0]
            results[key] = max(results[key], error, relative(grad, tx.grad))
    return [(name, f"torch {torch.__version__}, {trials} random configs", error, 1e-10)
            for name, error in results.items()]
