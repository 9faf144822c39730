"""Slow, loop-based float64 references written from the definitions: the spec.

Nothing here comes from npconv.  Every operator is a plain loop over the
connections of a strided, dilated, padded, grouped window:

    output cell o of channel k reads, at kernel offset j, input cell
    i = o * stride + j * dilation - pad_lo of channel g * C/groups + c,
    with weight[k, c, j], where g = k // (K/groups);
    cells outside the input are zeros (padding).

Sizes are counted, not computed with a formula: a dimension has as many
window positions as there are start cells ``0, stride, 2*stride, ...`` whose
dilated window ends inside the padded input.
"""

import itertools
import math
from fractions import Fraction

import numpy as np


def window_positions(size, kernel, stride, dilation, pad_lo, pad_hi):
    """Count the windows that fit in one padded dimension."""
    span = dilation * (kernel - 1) + 1
    return len(range(0, size + pad_lo + pad_hi - span + 1, stride))


def connections(in_shape, kernel, stride, dilation, pads, out_shape):
    """Yield ``(o, j, i)``: output cell o reads input cell i at kernel offset j (real cells only)."""
    for o in itertools.product(*(range(n) for n in out_shape)):
        for j in itertools.product(*(range(k) for k in kernel)):
            i = tuple(od * s + jd * d - lo
                      for od, jd, s, d, (lo, _) in zip(o, j, stride, dilation, pads))
            if all(0 <= idx < n for idx, n in zip(i, in_shape)):
                yield o, j, i


def conv_out_shape(in_shape, kernel, stride, dilation, pads):
    return tuple(window_positions(n, k, s, d, lo, hi)
                 for n, k, s, d, (lo, hi) in zip(in_shape, kernel, stride, dilation, pads))


def _channel_pairs(in_channels, out_channels, groups):
    """Yield ``(k, c_global, c_local)`` for every (output, input) channel pair that is connected."""
    k_per_group, c_per_group = out_channels // groups, in_channels // groups
    for k in range(out_channels):
        g = k // k_per_group
        for c_local in range(c_per_group):
            yield k, g * c_per_group + c_local, c_local


def conv(x, w, b, stride, pads, dilation, groups):
    """``y[n, k, o] = b[k] + sum w[k, c, j] * x[n, c', i]`` over the connections."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    n_batch, channels = x.shape[:2]
    out_channels, kernel = w.shape[0], w.shape[2:]
    out_shape = conv_out_shape(x.shape[2:], kernel, stride, dilation, pads)
    y = np.zeros((n_batch, out_channels) + out_shape)
    links = list(connections(x.shape[2:], kernel, stride, dilation, pads, out_shape))
    for n in range(n_batch):
        for k, c, c_local in _channel_pairs(channels, out_channels, groups):
            for o, j, i in links:
                y[(n, k) + o] += w[(k, c_local) + j] * x[(n, c) + i]
    if b is not None:
        y += np.asarray(b, np.float64).reshape((-1,) + (1,) * len(kernel))
    return y


def conv_backward(gy, x, w, stride, pads, dilation, groups):
    """Gradients ``(gx, gw, gb)`` of :func:`conv`, by the chain rule on each connection."""
    gy, x, w = (np.asarray(a, np.float64) for a in (gy, x, w))
    n_batch, channels = x.shape[:2]
    out_channels, kernel = w.shape[0], w.shape[2:]
    gx, gw = np.zeros_like(x), np.zeros_like(w)
    links = list(connections(x.shape[2:], kernel, stride, dilation, pads, gy.shape[2:]))
    for n in range(n_batch):
        for k, c, c_local in _channel_pairs(channels, out_channels, groups):
            for o, j, i in links:
                gx[(n, c) + i] += w[(k, c_local) + j] * gy[(n, k) + o]
                gw[(k, c_local) + j] += x[(n, c) + i] * gy[(n, k) + o]
    return gx, gw, gy.sum(axis=(0,) + tuple(range(2, gy.ndim)))


def conv_transpose_out_shape(in_shape, kernel, stride, dilation, pads, output_padding):
    """torch's documented size: (in - 1) * s - lo - hi + d * (k - 1) + output_padding + 1."""
    return tuple((n - 1) * s - lo - hi + d * (k - 1) + e + 1
                 for n, k, s, d, (lo, hi), e in zip(in_shape, kernel, stride, dilation, pads,
                                                    output_padding))


def conv_transpose(x, w, b, stride, pads, output_padding, dilation, groups):
    """Each input cell o scatters ``x[n, k, o] * w[k, c, j]`` to output cell ``o*s + j*d - lo``."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    n_batch, in_channels = x.shape[:2]
    kernel = w.shape[2:]
    out_channels = w.shape[1] * groups
    out_shape = conv_transpose_out_shape(x.shape[2:], kernel, stride, dilation, pads,
                                         output_padding)
    y = np.zeros((n_batch, out_channels) + out_shape)
    links = list(connections(out_shape, kernel, stride, dilation, pads, x.shape[2:]))
    for n in range(n_batch):
        for k, c, c_local in _channel_pairs(out_channels, in_channels, groups):
            for o, j, i in links:
                y[(n, c) + i] += x[(n, k) + o] * w[(k, c_local) + j]
    if b is not None:
        y += np.asarray(b, np.float64).reshape((-1,) + (1,) * len(kernel))
    return y


def conv_transpose_backward(gy, x, w, stride, pads, dilation, groups):
    """Gradients ``(gx, gw, gb)`` of :func:`conv_transpose` by the chain rule on each connection."""
    gy, x, w = (np.asarray(a, np.float64) for a in (gy, x, w))
    n_batch, in_channels = x.shape[:2]
    kernel = w.shape[2:]
    out_channels = w.shape[1] * groups
    gx, gw = np.zeros_like(x), np.zeros_like(w)
    links = list(connections(gy.shape[2:], kernel, stride, dilation, pads, x.shape[2:]))
    for n in range(n_batch):
        for k, c, c_local in _channel_pairs(out_channels, in_channels, groups):
            for o, j, i in links:
                gx[(n, k) + o] += gy[(n, c) + i] * w[(k, c_local) + j]
                gw[(k, c_local) + j] += gy[(n, c) + i] * x[(n, k) + o]
    return gx, gw, gy.sum(axis=(0,) + tuple(range(2, gy.ndim)))


def unfold(x, kernel, stride, dilation, pads):
    """``cols[n, c * prod(k) + flat(j), flat(o)] = x[n, c, i]`` (zero on padding)."""
    x = np.asarray(x, np.float64)
    n_batch, channels = x.shape[:2]
    out_shape = conv_out_shape(x.shape[2:], kernel, stride, dilation, pads)
    cols = np.zeros((n_batch, channels) + tuple(kernel) + out_shape)
    for o, j, i in connections(x.shape[2:], kernel, stride, dilation, pads, out_shape):
        cols[(slice(None), slice(None)) + j + o] = x[(slice(None), slice(None)) + i]
    return cols.reshape(n_batch, channels * int(np.prod(kernel)), -1)


def fold(cols, out_size, kernel, stride, dilation, pads):
    """Sum every column entry into the cell it was read from."""
    cols = np.asarray(cols, np.float64)
    n_batch = cols.shape[0]
    channels = cols.shape[1] // int(np.prod(kernel))
    out_shape = conv_out_shape(out_size, kernel, stride, dilation, pads)
    blocks = cols.reshape((n_batch, channels) + tuple(kernel) + out_shape)
    x = np.zeros((n_batch, channels) + tuple(out_size))
    for o, j, i in connections(out_size, kernel, stride, dilation, pads, out_shape):
        x[(slice(None), slice(None)) + i] += blocks[(slice(None), slice(None)) + j + o]
    return x


def pool_out_shape(in_shape, kernel, stride, dilation, pads, ceil_mode):
    """Count window starts ``t = 0, s, 2s, ...`` in the padded input of size P.

    floor mode: the window fits, ``t + span <= P``.  ceil mode: the window
    need only start before ``P - span + s`` (the division rounds up), but a
    window starting in the high padding (``t >= in + lo``) is ignored.
    """
    shape = []
    for n, k, s, d, (lo, hi) in zip(in_shape, kernel, stride, dilation, pads):
        span, padded = d * (k - 1) + 1, n + lo + hi
        if ceil_mode:
            shape.append(len([t for t in range(0, padded - span + s, s) if t < n + lo]))
        else:
            shape.append(window_positions(n, k, s, d, lo, hi))
    return tuple(shape)


def max_pool(x, kernel, stride, dilation, pads, ceil_mode):
    """Scan each window in row-major order; a cell wins if greater than the max so far or NaN."""
    x = np.asarray(x, np.float64)
    n_batch, channels, *in_shape = x.shape
    out_shape = pool_out_shape(in_shape, kernel, stride, dilation, pads, ceil_mode)
    values = np.zeros((n_batch, channels) + out_shape)
    indices = np.zeros(values.shape, np.int64)
    for n, c in itertools.product(range(n_batch), range(channels)):
        for o in itertools.product(*(range(m) for m in out_shape)):
            best, best_index = None, None
            for j in itertools.product(*(range(k) for k in kernel)):
                i = tuple(od * s + jd * d - lo
                          for od, jd, s, d, (lo, _) in zip(o, j, stride, dilation, pads))
                if not all(0 <= idx < size for idx, size in zip(i, in_shape)):
                    continue
                value = x[(n, c) + i]
                if best is None or value > best or np.isnan(value):
                    best, best_index = value, int(np.ravel_multi_index(i, in_shape))
            values[(n, c) + o], indices[(n, c) + o] = best, best_index
    return values, indices


def max_pool_backward(gy, x_shape, indices):
    """Each output gradient goes to the cell its index names."""
    gx = np.zeros(x_shape)
    planes = gx.reshape(x_shape[0], x_shape[1], -1)
    for n, c in itertools.product(range(x_shape[0]), range(x_shape[1])):
        for g, index in zip(np.ravel(gy[n, c]), np.ravel(indices[n, c])):
            planes[n, c, index] += g
    return gx


def avg_pool_windows(in_shape, kernel, stride, pads, ceil_mode, count_include_pad, divisor_override):
    """Yield ``(o, cells, divisor)`` per output cell: the real cells it averages and its divisor."""
    out_shape = pool_out_shape(in_shape, kernel, stride, (1,) * len(kernel), pads, ceil_mode)
    for o in itertools.product(*(range(m) for m in out_shape)):
        cells, counted = [], 1
        for od, k, s, n, (lo, hi) in zip(o, kernel, stride, in_shape, pads):
            start = od * s - lo
            padded = [t for t in range(start, start + k) if -lo <= t < n + hi]
            real = [t for t in padded if 0 <= t < n]
            cells.append(real)
            counted *= len(padded) if count_include_pad else len(real)
        divisor = counted if divisor_override is None else divisor_override
        yield o, list(itertools.product(*cells)), divisor


def avg_pool(x, kernel, stride, pads, ceil_mode, count_include_pad, divisor_override):
    x = np.asarray(x, np.float64)
    windows = list(avg_pool_windows(x.shape[2:], kernel, stride, pads, ceil_mode,
                                    count_include_pad, divisor_override))
    out_shape = tuple(m + 1 for m in windows[-1][0])
    y = np.zeros(x.shape[:2] + out_shape)
    for o, cells, divisor in windows:
        y[(slice(None), slice(None)) + o] = sum(x[(slice(None), slice(None)) + i] for i in cells) / divisor
    return y


def avg_pool_backward(gy, x_shape, kernel, stride, pads, ceil_mode, count_include_pad,
                      divisor_override):
    gx = np.zeros(x_shape)
    for o, cells, divisor in avg_pool_windows(x_shape[2:], kernel, stride, pads, ceil_mode,
                                              count_include_pad, divisor_override):
        for i in cells:
            gx[(slice(None), slice(None)) + i] += gy[(slice(None), slice(None)) + o] / divisor
    return gx


def adaptive_windows(in_shape, out_shape):
    """Yield ``(o, cells)`` per output cell: ``floor(o*I/O) <= i < ceil((o+1)*I/O)`` per dimension."""
    for o in itertools.product(*(range(m) for m in out_shape)):
        ranges = [range(math.floor(Fraction(od * n, m)), math.ceil(Fraction((od + 1) * n, m)))
                  for od, n, m in zip(o, in_shape, out_shape)]
        yield o, list(itertools.product(*ranges))


def adaptive_avg_pool(x, out_shape):
    x = np.asarray(x, np.float64)
    y = np.zeros(x.shape[:2] + tuple(out_shape))
    for o, cells in adaptive_windows(x.shape[2:], out_shape):
        y[(slice(None), slice(None)) + o] = sum(x[(slice(None), slice(None)) + i]
                                                for i in cells) / len(cells)
    return y


def adaptive_avg_pool_backward(gy, x_shape):
    gx = np.zeros(x_shape)
    for o, cells in adaptive_windows(x_shape[2:], gy.shape[2:]):
        for i in cells:
            gx[(slice(None), slice(None)) + i] += gy[(slice(None), slice(None)) + o] / len(cells)
    return gx


def adaptive_max_pool(x, out_shape):
    """Row-major scan of each window; a cell wins if greater than the max so far or NaN."""
    x = np.asarray(x, np.float64)
    n_batch, channels, *in_shape = x.shape
    values = np.zeros((n_batch, channels) + tuple(out_shape))
    indices = np.zeros(values.shape, np.int64)
    for o, cells in adaptive_windows(in_shape, out_shape):
        for n, c in itertools.product(range(n_batch), range(channels)):
            best, best_index = -np.inf, int(np.ravel_multi_index(cells[0], in_shape))
            for i in cells:
                value = x[(n, c) + i]
                if value > best or np.isnan(value):
                    best, best_index = value, int(np.ravel_multi_index(i, in_shape))
            values[(n, c) + o], indices[(n, c) + o] = best, best_index
    return values, indices


def max_unpool(x, indices, out_shape):
    """Write each value at its flat index of a zero plane; a later duplicate overwrites."""
    y = np.zeros(x.shape[:2] + tuple(out_shape))
    planes = y.reshape(x.shape[0], x.shape[1], -1)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for value, index in zip(np.ravel(x[n, c]), np.ravel(indices[n, c])):
            planes[n, c, index] = value
    return y


def pad_source(i, size, lo, hi, mode):
    """The input cell that output cell ``i`` of one padded dimension reads, or None (the fill)."""
    if mode == "circular":  # the input without its cropped cells, repeated
        first, kept = max(-lo, 0), size + min(lo, 0) + min(hi, 0)
        return first + (i - max(lo, 0)) % kept
    j = i - lo
    if 0 <= j < size:
        return j
    if mode == "constant":
        return None
    if mode == "replicate":
        return 0 if j < 0 else size - 1
    return -j if j < 0 else 2 * (size - 1) - j  # reflect


def pad(x, pairs, mode, value=0.0):
    """``x`` padded by one ``(lo, hi)`` per dimension, cell by cell."""
    out_shape = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, pairs))
    out = np.empty(out_shape)
    for o in itertools.product(*(range(n) for n in out_shape)):
        source = [pad_source(i, n, lo, hi, mode) for i, n, (lo, hi) in zip(o, x.shape, pairs)]
        out[o] = value if None in source else x[tuple(source)]
    return out


def pad_backward(gy, x_shape, pairs, mode):
    """Each output gradient added onto the input cell it read."""
    gx = np.zeros(x_shape)
    for o in itertools.product(*(range(n) for n in gy.shape)):
        source = [pad_source(i, n, lo, hi, mode) for i, n, (lo, hi) in zip(o, x_shape, pairs)]
        if None not in source:
            gx[tuple(source)] += gy[o]
    return gx


def pixel_shuffle(x, r):
    """``out[..., c, h*r + i, w*r + j] = x[..., c*r*r + i*r + j, h, w]``, cell by cell."""
    *lead, channels, height, width = x.shape
    out = np.empty(tuple(lead) + (channels // (r * r), height * r, width * r))
    for index in itertools.product(*(range(n) for n in out.shape)):
        *batch, c, row, column = index
        out[index] = x[tuple(batch) + (c * r * r + (row % r) * r + column % r, row // r,
                                       column // r)]
    return out


def channel_shuffle(x, groups):
    """``out[:, k*groups + i] = x[:, i*(C/groups) + k]``."""
    out = np.empty(x.shape)
    per_group = x.shape[1] // groups
    for i in range(groups):
        for k in range(per_group):
            out[:, k * groups + i] = x[:, i * per_group + k]
    return out


# --- activations: each value and derivative from its definition, one cell at a time ---------
# At a kink the derivative is torch's choice (relu'(0) = 0, leaky_relu'(0) = slope, hardtanh'
# is 0 at both bounds, hardswish' is 0 at -3 and 1 at 3).

def _sigmoid(v):
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


def _softplus(v, beta=1.0, threshold=20.0):
    return v if v * beta > threshold else math.log1p(math.exp(v * beta)) / beta


SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

ACTIVATIONS = {
    # name: (kwargs, value(v, **kwargs), derivative(v, **kwargs))
    "relu": ({}, lambda v: max(v, 0.0), lambda v: 1.0 if v > 0 else 0.0),
    "relu6": ({}, lambda v: min(max(v, 0.0), 6.0), lambda v: 1.0 if 0 < v < 6 else 0.0),
    "leaky_relu": (dict(negative_slope=0.2), lambda v, negative_slope: v if v > 0 else negative_slope * v,
                   lambda v, negative_slope: 1.0 if v > 0 else negative_slope),
    "elu": (dict(alpha=1.5), lambda v, alpha: v if v > 0 else alpha * math.expm1(v),
            lambda v, alpha: 1.0 if v > 0 else alpha * math.exp(v)),
    "selu": ({}, lambda v: SELU_SCALE * (v if v > 0 else SELU_ALPHA * math.expm1(v)),
             lambda v: SELU_SCALE * (1.0 if v > 0 else SELU_ALPHA * math.exp(v))),
    "celu": (dict(alpha=0.7), lambda v, alpha: v if v > 0 else alpha * math.expm1(v / alpha),
             lambda v, alpha: 1.0 if v > 0 else math.exp(v / alpha)),
    "gelu": ({}, lambda v: v * 0.5 * (1 + math.erf(v / math.sqrt(2))),
             lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2)))
             + v * math.exp(-v * v / 2) / math.sqrt(2 * math.pi)),
    "silu": ({}, lambda v: v * _sigmoid(v), lambda v: _sigmoid(v) * (1 + v * (1 - _sigmoid(v)))),
    "mish": ({}, lambda v: v * math.tanh(_softplus(v, 1.0, math.inf)),
             lambda v: math.tanh(_softplus(v, 1.0, math.inf)) + v * _sigmoid(v)
             * (1 - math.tanh(_softplus(v, 1.0, math.inf)) ** 2)),
    "hardswish": ({}, lambda v: v * min(max(v + 3, 0.0), 6.0) / 6,
                  lambda v: 0.0 if v <= -3 else 1.0 if v >= 3 else v / 3 + 0.5),
    "hardsigmoid": ({}, lambda v: min(max(v + 3, 0.0), 6.0) / 6,
                    lambda v: 1 / 6 if -3 < v < 3 else 0.0),
    "hardtanh": (dict(min_val=-2.0, max_val=0.5), lambda v, min_val, max_val: min(max(v, min_val), max_val),
                 lambda v, min_val, max_val: 1.0 if min_val < v < max_val else 0.0),
    "softplus": (dict(beta=2.0, threshold=10.0), _softplus,
                 lambda v, beta, threshold: 1.0 if v * beta > threshold else _sigmoid(v * beta)),
    "sigmoid": ({}, _sigmoid, lambda v: _sigmoid(v) * (1 - _sigmoid(v))),
    "tanh": ({}, math.tanh, lambda v: 1 - math.tanh(v) ** 2),
}


def activation(name, x, gy, **kwargs):
    """``(value, grad_input)`` of an activation, cell by cell, in float64."""
    _, value, derivative = ACTIVATIONS[name]
    flat, g = np.asarray(x, np.float64).ravel(), np.asarray(gy, np.float64).ravel()
    y = np.array([value(float(v), **kwargs) for v in flat]).reshape(np.shape(x))
    gx = np.array([gv * derivative(float(v), **kwargs) for v, gv in zip(flat, g)])
    return y, gx.reshape(np.shape(x))


def softmax(x, dim):
    """``exp(x_i) / sum_j exp(x_j)`` along ``dim``, row by row, with the row's maximum taken out."""
    moved = np.moveaxis(np.asarray(x, np.float64), dim, -1)
    out = np.empty_like(moved)
    for index in np.ndindex(moved.shape[:-1]):
        row = moved[index]
        top = max(row)
        weights = [math.exp(v - top) for v in row]
        out[index] = [w / math.fsum(weights) for w in weights]
    return np.moveaxis(out, -1, dim)


def softmax_backward(gy, x, dim):
    """``dy_i/dx_j = y_i (delta_ij - y_j)``, summed with the output gradient."""
    y = np.moveaxis(softmax(x, dim), dim, -1)
    g = np.moveaxis(np.asarray(gy, np.float64), dim, -1)
    out = np.empty_like(y)
    for index in np.ndindex(y.shape[:-1]):
        row, grow = y[index], g[index]
        out[index] = [math.fsum(grow[i] * row[i] * ((i == j) - row[j]) for i in range(len(row)))
                      for j in range(len(row))]
    return np.moveaxis(out, -1, dim)


def lp_pool(x, p, kernel, stride, ceil_mode):
    """``(prod(kernel) / count * sum x**p) ** (1/p)`` per window, ``count`` its cells inside the
    input (torch scales a window that ceil_mode cuts short up to a whole kernel); and the
    derivative of each output with respect to each input cell of its window."""
    x = np.asarray(x, np.float64)
    zeros = ((0, 0),) * len(kernel)
    out_shape = pool_out_shape(x.shape[2:], kernel, stride, (1,) * len(kernel), zeros, ceil_mode)
    y = np.empty(x.shape[:2] + out_shape)
    links = {}
    for o in itertools.product(*(range(n) for n in out_shape)):
        cells = list(itertools.product(*(range(oi * s, min(oi * s + k, n))
                                         for oi, s, k, n in zip(o, stride, kernel, x.shape[2:]))))
        scale = math.prod(kernel) / len(cells)
        for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
            total = scale * sum(x[(n, c) + i] ** p for i in cells)
            y[(n, c) + o] = total ** (1 / p) if total >= 0 else math.nan
            links[(n, c) + o] = [(i, (1 / p) * total ** (1 / p - 1) * scale * p * x[(n, c) + i] ** (p - 1))
                                 for i in cells]
    return y, links


def fractional_starts(u, size, out, k, dtype):
    """torch's window starts: int((i + u) * alpha) - int(u * alpha), alpha in the data's dtype."""
    scalar = np.dtype(dtype).type
    if out == 1:
        return [size - k]
    alpha = scalar(size - k) / scalar(out - 1)
    return [int(scalar((scalar(i) + scalar(u)) * alpha)) - int(scalar(scalar(u) * alpha))
            for i in range(out - 1)] + [size - k]


def fractional_max_pool(x, kernel, out_shape, samples):
    """Per plane: starts from its samples (spatial order), then a row-major scan of each window."""
    spatial = x.shape[2:]
    values = np.empty(x.shape[:2] + tuple(out_shape), x.dtype)
    indices = np.empty(values.shape, np.int64)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        starts = [fractional_starts(samples[n, c, d], spatial[d], out_shape[d], kernel[d], x.dtype)
                  for d in range(len(spatial))]
        for o in itertools.product(*(range(m) for m in out_shape)):
            best, where = -math.inf, None
            for j in itertools.product(*(range(k) for k in kernel)):
                cell = tuple(starts[d][o[d]] + j[d] for d in range(len(spatial)))
                value = x[(n, c) + cell]
                if where is None or value > best or math.isnan(value):
                    best, where = value, cell
            values[(n, c) + o] = best
            indices[(n, c) + o] = np.ravel_multi_index(where, spatial)
    return values, indices


def normalise_groups(x, groups_of, weight_of, bias_of, eps, stats=None):
    """``(x - mean) / sqrt(var + eps) * w + b`` where ``groups_of(index)`` names the set of cells a
    cell is normalised with (``stats``: fixed ``(mean, var)`` per set instead of its own)."""
    x = np.asarray(x, np.float64)
    members = {}
    for index in np.ndindex(x.shape):
        members.setdefault(groups_of(index), []).append(index)
    y = np.empty_like(x)
    for key, cells in members.items():
        values = [x[i] for i in cells]
        if stats is None:
            mean = math.fsum(values) / len(values)
            var = math.fsum((v - mean) ** 2 for v in values) / len(values)
        else:
            mean, var = stats(key)
        for i in cells:
            y[i] = (x[i] - mean) / math.sqrt(var + eps) * weight_of(i) + bias_of(i)
    return y


def local_response_norm(x, size, alpha, beta, k):
    """``x[c] / (k + alpha/size * sum of x[c']**2 over c - size//2 .. c + (size-1)//2) ** beta``."""
    x = np.asarray(x, np.float64)
    y = np.empty_like(x)
    for index in np.ndindex(x.shape):
        n, c = index[:2]
        total = math.fsum(x[(n, j) + index[2:]] ** 2
                          for j in range(c - size // 2, c + (size - 1) // 2 + 1)
                          if 0 <= j < x.shape[1])
        y[index] = x[index] / (k + alpha / size * total) ** beta
    return y


# --- interpolation: one dense (out, in) matrix per dimension, from torch's definitions -------

def _cubic(x, a):
    x = abs(x)
    if x <= 1:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    if x < 2:
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return 0.0


def interpolation_matrix(mode, size_in, size_out, align_corners=False, factor=None,
                         antialias=False):
    """Row ``o``: the weight of each input cell in output cell ``o`` (float64 data)."""
    m = np.zeros((size_out, size_in))
    if align_corners:
        scale = (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
    else:
        scale = 1 / factor if factor else size_in / size_out
    for o in range(size_out):
        if mode in ("nearest", "nearest-exact"):
            if mode == "nearest" and size_out in (size_in, 2 * size_in):
                source = o * size_in // size_out
            else:  # torch computes this scale and product in single precision
                s32 = np.float32(1 / factor) if factor else np.float32(size_in) / np.float32(size_out)
                product = (np.float32(o) * s32 if mode == "nearest"
                           else np.float32((o + 0.5) * float(s32)))
                source = min(int(math.floor(product)), size_in - 1)
            m[o, source] = 1
        elif mode == "area":
            low, high = o * size_in // size_out, -(-(o + 1) * size_in // size_out)
            m[o, low:high] = 1 / (high - low)
        elif size_in == size_out and (antialias or mode != "bicubic"):
            m[o, o] = 1
        elif antialias:
            taps = 4 if mode == "bicubic" else 2
            support = taps / 2 * scale if scale >= 1 else taps / 2
            inverse = 1 / scale if scale >= 1 else 1.0
            centre = scale * (o + 0.5)
            low = max(int(centre - support + 0.5), 0)
            high = min(int(centre + support + 0.5), size_in)
            for j in range(low, high):
                d = (j - centre + 0.5) * inverse
                m[o, j] = _cubic(d, -0.5) if mode == "bicubic" else max(0.0, 1 - abs(d))
            if m[o].sum():
                m[o] /= m[o].sum()
        else:
            source = scale * o if align_corners else scale * (o + 0.5) - 0.5
            if mode != "bicubic":
                source = max(source, 0.0)
            first = min(math.floor(source), size_in - 1)
            t = min(max(source - first, 0.0), 1.0)
            if mode == "bicubic":
                for k, w in zip(range(-1, 3), (_cubic(t + 1, -0.75), _cubic(t, -0.75),
                                               _cubic(1 - t, -0.75), _cubic(2 - t, -0.75))):
                    m[o, min(max(first + k, 0), size_in - 1)] += w
            else:
                m[o, first] += 1 - t
                m[o, first + (first < size_in - 1)] += t
    return m


def interpolate(x, matrices):
    """Apply one matrix per spatial dimension: ``y[.., o, ..] = sum_i M[o, i] x[.., i, ..]``."""
    y = np.asarray(x, np.float64)
    for axis, m in enumerate(matrices, start=2):
        y = np.moveaxis(np.tensordot(m, np.moveaxis(y, axis, 0), axes=1), 0, axis)
    return y
