"""Planning a convolution: which algorithm runs, and torch's arithmetic for infinities and NaNs.

Everything else (conv1d/2d/3d, the transposed convolutions and their
gradients, ``torch.nn.grad``-style helpers) is expressed with two primitives:

``forward(x, weight, window, groups)``
    ``y[n, k, o] = sum_{c in group(k), j} weight[k, c, j] * x[n, c, o*s + j*d - lo]``

``backward(grad_output, window, groups, weight_shape, weight=..., x=...)``
    the adjoint of ``forward`` with respect to ``x`` (the input gradient, which
    is also the transposed convolution; needs ``weight``) and/or to ``weight``
    (needs ``x``).

Shapes: ``x`` is ``(N, C, *in_shape)``, ``weight`` ``(K, C/groups, *kernel)``,
``y`` ``(N, K, *out_shape)``; ``window`` is a :class:`~npconv.window.geometry.Window`.

Three algorithms compute each primitive.  The window algorithms read the
input in the flat-phase layout of :mod:`npconv.window.phases` (every kernel offset
reads one contiguous range), except the per-offset products of ``direct``:

``im2col`` (:mod:`npconv.engine.im2col`)
    copy every window into a column buffer (one contiguous copy per kernel
    offset and plane, on the thread pool), then one matrix product per group
    and batch chunk.  The backward pass builds its columns from the input
    (and adds the input gradient back by slice-adds) or from the output
    gradient (no slice-adds), whichever is smaller.  A 1x1 convolution with
    unit stride and no padding multiplies the input itself.
``direct`` (:mod:`npconv.engine.direct`)
    no column buffer: one small matrix product per kernel offset on exactly
    the cells it reads; with one input channel per group, ``depthwise``
    (:mod:`npconv.engine.depthwise`) instead: an elementwise multiply-add per
    kernel offset on flat phases.
``fft`` (:mod:`npconv.engine.fft`)
    products of spectra (``numpy.fft``), for large kernels on few channels.

Each pass is planned before it computes (:func:`make_plan`, a :class:`Plan`
made once per shapes and settings, and kept): the algorithm (``auto`` picks
by shape, dtype and workspace, :func:`_choose`), im2col's backward variant,
the workspace and threads in force, the transform's accuracy check, and the
pieces the pass runs in: batch chunks whose temporaries fit the workspace
(:func:`npconv.get_workspace`; im2col's near
:data:`npconv.engine.im2col.CHUNK_BYTES`), from each algorithm's byte model
(:func:`_pieces`).
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools

import numpy as np

from .. import config
from ..window.blocks import batch_bands, batch_chunks, blas_threads, plane_blocks, quiet
from ..window.phases import flat_phases
from . import depthwise, direct, fft, im2col

@dataclasses.dataclass(frozen=True)
class Shapes:
    """What a pass computes: its direction and the shapes and dtype of its operands."""

    backward: bool
    n_batch: int
    in_channels: int
    weight_shape: tuple
    window: object
    dtype: np.dtype


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one pass decides before it computes, from the settings in force when it starts.

    Attributes
    ----------
    algorithm : str
        ``'im2col'``, ``'fft'``, ``'depthwise'`` (``direct`` with one input
        channel per group, elementwise on flat phases) or ``'direct'``.
    gradient_columns : bool
        Whether im2col's backward pass builds its columns from the output
        gradient (else from the input).
    workspace : int
        The budget in bytes.
    threads : int
        npconv's own threads.
    blas_threads : int or None
        BLAS's threads inside the pass (:func:`npconv.threads`), or None for BLAS's own setting.
    fft_tolerance : float or None
        The error the transform may make relative to each cell (``auto``), or
        None (a forced ``fft``: no check).
    shapes : Shapes
        The pass planned.
    padded : bool
        ``direct`` only: padding cells are real zeros that are multiplied
        (torch's arithmetic for infinities and NaNs).
    pieces : tuple
        The units the pass runs in, each inside the workspace: batch slices
        (``im2col``, ``fft``); ``(batch slice, band)`` pairs, ``band`` None or
        ``(dim, rows)`` of one sample that does not fit alone (``direct``);
        ``(samples, channels)`` blocks of planes on the thread pool
        (``depthwise``).
    """

    algorithm: str
    gradient_columns: bool
    workspace: int
    threads: int
    fft_tolerance: float | None
    shapes: Shapes
    padded: bool = False
    blas_threads: int | None = None
    pieces: tuple = dataclasses.field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "pieces", _pieces(self))

    @property
    def resources(self):
        """The workspace and threads, as the algorithms take them."""
        return config.Resources(self.workspace, self.threads)

    def switched(self, algorithm, padded=False):
        """This plan with another algorithm (an fft that gave up, torch's exact arithmetic)."""
        return dataclasses.replace(self, algorithm=algorithm, padded=padded)


def _pieces(plan):
    """The pieces of ``plan`` (see :class:`Plan`), from its algorithm's byte model."""
    shapes, workspace = plan.shapes, plan.workspace
    window, channels, n_batch = shapes.window, shapes.in_channels, shapes.n_batch
    out_channels = shapes.weight_shape[0]
    if plan.algorithm == "im2col":
        per_sample, target = im2col.chunk_bytes(window, channels, out_channels, shapes.dtype,
                                                shapes.backward, plan.gradient_columns)
        return tuple(batch_chunks(n_batch, per_sample, workspace, target))
    if plan.algorithm == "fft":
        per_sample, target = fft.chunk_bytes(window, channels, shapes.weight_shape, workspace)
        return tuple(batch_chunks(n_batch, per_sample, workspace, target))
    itemsize = np.dtype(shapes.dtype).itemsize
    if plan.algorithm == "depthwise":
        return tuple(plane_blocks(n_batch, channels,
                                  depthwise.plane_bytes(window, out_channels, channels, itemsize),
                                  plan.resources))
    per_sample = direct.sample_bytes(window, channels, out_channels, itemsize, shapes.backward,
                                     plan.padded)
    return tuple(batch_bands(window.out_shape, n_batch, per_sample, workspace))


_columns = contextvars.ContextVar("npconv_im2col_columns", default=None)


def im2col_columns(kind):
    """Force im2col's backward variant inside the block: ``'input'`` or ``'gradient'`` columns.

    For tests and measurements; by default the plan takes the cheaper one.
    """
    if kind not in ("input", "gradient"):
        raise ValueError(f"im2col_columns(): `kind` must be 'input' or 'gradient', got {kind!r}")
    return config.scoped(_columns, kind)


def make_plan(shapes, algorithm=None, gradient_columns=None):
    """The :class:`Plan` of a pass with these :class:`Shapes`, under the settings in force.

    The only place the engine reads the settings (:mod:`npconv.config`).
    ``algorithm`` and ``gradient_columns`` override the settings (for tests
    and measurements); a forced algorithm that does not fit the workspace
    still gives way, as under :func:`npconv.conv_algorithm`.

    A plan is made once per shapes and settings (:data:`PLANS_KEPT` are
    kept): the passes of a layer in a training loop plan once, where
    planning cost a call a tenth of a millisecond to several on small inputs.
    The engine's size constants (such as :data:`npconv.engine.im2col.CHUNK_BYTES`)
    enter a plan when it is made: one changed afterwards reaches the shapes
    planned after ``_plan.cache_clear()``.
    """
    return _plan(shapes, algorithm or config.get_algorithm(), gradient_columns, _columns.get(),
                 config.get_workspace(), config.get_threads(), config.get_blas_threads())


#: How many plans :func:`make_plan` keeps, the least recently used dropped first.
PLANS_KEPT = 256


@functools.lru_cache(maxsize=PLANS_KEPT)
def _plan(shapes, requested, gradient_columns, forced_columns, budget, threads, blas_threads):
    """:func:`make_plan`'s plan, from the settings it read (``forced_columns``: what
    :func:`im2col_columns` forces, or None)."""
    in_channels, weight_shape, window = shapes.in_channels, shapes.weight_shape, shapes.window
    flat = flat_phases(window)
    if gradient_columns is None:
        if forced_columns is None:
            gradient_columns = im2col.gradient_columns_preferred(flat, in_channels,
                                                                 weight_shape[0])
        else:
            gradient_columns = forced_columns == "gradient"
    gradient_columns = gradient_columns and bool(flat.taps)
    # auto lets the transform err by half a float32 unit roundoff relative to each cell (it
    # gives float64 data to the window algorithms); a forced fft is not checked
    tolerance = 2.0 ** -25 if requested == "auto" else None
    chosen = _choose(requested, in_channels, weight_shape, window, shapes.dtype, budget, threads)
    return Plan(chosen, gradient_columns, budget, threads, tolerance, shapes,
                blas_threads=blas_threads)


@quiet
def forward(x, weight, window, groups, plan=None, columns=None):
    """Convolution of ``x`` (N, C, *in_shape) with ``weight``; returns (N, K, *out_shape).

    ``columns``: a :class:`~npconv.engine.im2col.KeptColumns` in which im2col
    keeps its columns for the backward pass (a layer's).

    Non-finite values follow torch (see :func:`_exact_forward`).  The window
    algorithms already do for an infinite or NaN input: only a non-finite
    weight (an infinite tap over padding) and a transform (which spreads a
    non-finite input over its plane) take the exact path.
    """
    plan = plan or make_plan(Shapes(False, x.shape[0], x.shape[1], weight.shape, window,
                                    x.dtype))
    if columns is not None:
        columns.forget()
    with blas_threads(plan.blas_threads):
        return _forward(x, weight, window, groups, plan, columns)


def _forward(x, weight, window, groups, plan, columns=None):
    if not all_finite(weight):
        return _exact_forward(x, weight, window, groups, plan)
    if plan.algorithm == "fft":
        y = fft.forward(x, weight, window, groups, plan)
        if y is not None:
            return y if all_finite(y) else _exact_forward(x, weight, window, groups, plan)
        plan = _given_up(plan)
    if plan.algorithm == "im2col":
        return im2col.forward(x, weight, window, groups, plan, columns)
    if plan.algorithm == "depthwise":
        return depthwise.forward(x, weight, window, plan)
    return direct.forward(x, weight, window, groups, plan)


@quiet
def backward(grad_output, window, groups, weight_shape, *, weight=None, x=None, plan=None,
             columns=None):
    """Gradients of :func:`forward` given ``grad_output`` (N, K, *out_shape).

    Parameters
    ----------
    weight_shape : tuple
        ``(K, C/groups, *kernel)``.
    weight : ndarray or None
        Pass it to get the input gradient.
    x : ndarray or None
        The forward input; pass it to get the weight gradient.
    plan : Plan or None
        A plan of this backward pass; by default :func:`make_plan` makes one.
    columns : KeptColumns or None
        What the forward pass of ``x`` kept (:func:`forward`), if anything.

    Returns
    -------
    grad_input : ndarray (N, C, *in_shape), or None without ``weight``
    grad_weight : ndarray of ``weight_shape``, or None without ``x``

    Notes
    -----
    Non-finite values follow torch (see :func:`_exact_backward`).  A
    non-finite weight takes the exact path at once, and so does the weight
    gradient of a non-finite output gradient (torch multiplies it by padding
    cells, which the window algorithms skip).  Otherwise an algorithm can
    only differ from torch by producing a NaN that torch does not (the flat
    phases' overhang cells multiply zeros by the input, a transform spreads
    over a plane), so a gradient that comes out non-finite is computed again
    exactly: a check of the small weight gradient, and of the input gradient
    after a transform only.
    """
    plan = plan or make_plan(Shapes(True, grad_output.shape[0], weight_shape[1] * groups,
                                    weight_shape, window, grad_output.dtype))
    with blas_threads(plan.blas_threads):
        return _backward(grad_output, window, groups, weight_shape, weight, x, plan, columns)


def _backward(grad_output, window, groups, weight_shape, weight, x, plan, columns=None):
    n_batch = grad_output.shape[0]
    dtype = grad_output.dtype
    in_channels = weight_shape[1] * groups
    if weight is not None and not all_finite(weight):
        return _exact_backward(grad_output, window, groups, weight_shape, weight, x, plan)
    if x is not None and not all_finite(grad_output):
        # torch multiplies a non-finite output gradient by padding cells too
        grad_input = None if weight is None else backward(grad_output, window, groups,
                                                           weight_shape, weight=weight,
                                                           plan=plan)[0]
        return grad_input, _exact_backward(grad_output, window, groups, weight_shape, None, x,
                                           plan)[1]
    grad_input = grad_weight = None
    if plan.algorithm == "fft":
        gradients = fft.backward(grad_output, weight, window, groups, in_channels, x, plan)
        if gradients is not None:
            grad_input, grad_weight = gradients
            if grad_input is not None and not all_finite(grad_input):
                grad_input = _exact_backward(grad_output, window, groups, weight_shape, weight,
                                             None, plan)[0]
        else:
            plan = _given_up(plan)
    if plan.algorithm in ("im2col", "depthwise"):
        # The flat-phase algorithms write every cell of the input gradient.
        # (Zeroing a fresh array costs as much as a pass over it.)
        grad_weight = None if x is None else np.zeros(weight_shape, dtype)
        if weight is not None:
            grad_input = np.empty((n_batch, in_channels) + window.in_shape, dtype)
        if plan.algorithm == "im2col":
            im2col.backward(grad_output, weight, window, groups, in_channels, x, grad_input,
                            grad_weight, plan, columns)
        else:
            depthwise.backward(grad_output, window, weight, x, grad_input, grad_weight, plan)
    elif plan.algorithm == "direct":
        grad_weight = None if x is None else np.zeros(weight_shape, dtype)
        if weight is not None:
            grad_input = np.zeros((n_batch, in_channels) + window.in_shape, dtype)
        direct.backward(grad_output, weight, window, groups, x, grad_input, grad_weight, plan)
    if grad_weight is not None and not all_finite(grad_weight):
        grad_weight = _exact_backward(grad_output, window, groups, weight_shape, None, x, plan)[1]
    return grad_input, grad_weight


def _given_up(plan):
    """The plan of the window algorithm that takes over from a transform that gave up."""
    shapes = plan.shapes
    return plan.switched(_window_algorithm(shapes.in_channels, shapes.weight_shape,
                                           shapes.window, shapes.dtype, plan.workspace,
                                           plan.threads))


def all_finite(array):
    """Whether ``array`` holds finite numbers only, without an array-sized temporary.

    A finite sum has no infinite or NaN term; only a sum that overflowed or
    holds one is checked again, cell by cell, in blocks of at most
    :data:`FINITE_BLOCK` cells.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        if np.isfinite(np.sum(array)):
            return True
    return _finite_in_blocks(array)


FINITE_BLOCK = 1 << 18


def _finite_in_blocks(array):
    if array.size <= FINITE_BLOCK or array.ndim == 1:
        return bool(np.isfinite(array).all())
    if len(array) == 1:
        return _finite_in_blocks(array[0])
    rows = max(1, FINITE_BLOCK * len(array) // array.size)
    return all(_finite_in_blocks(array[start:start + rows])
               for start in range(0, len(array), rows))


# --- non-finite values: torch's arithmetic, exactly ------------------------------

def _exact_forward(x, weight, window, groups, plan):
    """The forward pass where an input or weight is infinite or NaN.

    As in torch, padding cells are zeros that are multiplied like any other
    cell (an infinite weight tap over padding gives NaN), while the cells no
    window reads are not: ``direct`` over zero-padded copies of its pieces.
    """
    return direct.forward(x, weight, window, groups, plan.switched("direct", padded=True))


def _exact_backward(grad_output, window, groups, weight_shape, weight, x, plan):
    """Both gradients where an input, weight or output gradient is infinite or NaN.

    The input gradient sums ``weight * grad_output`` over the window
    positions that read each real cell; the weight gradient multiplies the
    zero-padded input (padding cells included, as in torch) by the output
    gradient.  Neither computes a cell that no window reads.
    """
    n_batch = grad_output.shape[0]
    in_channels = weight_shape[1] * groups
    grad_input = grad_weight = None
    if weight is not None:
        grad_input = np.zeros((n_batch, in_channels) + window.in_shape, grad_output.dtype)
        direct.backward(grad_output, weight, window, groups, None, grad_input, None,
                        plan.switched("direct"))
    if x is not None:
        grad_weight = _exact_weight_gradient(grad_output, window, groups, weight_shape, x, plan)
    return grad_input, grad_weight


def _exact_weight_gradient(grad_output, window, groups, weight_shape, x, plan):
    """The weight gradient of :func:`_exact_backward`."""
    grad_weight = np.zeros(weight_shape, grad_output.dtype)
    direct.backward(grad_output, None, window, groups, x, None, grad_weight,
                    plan.switched("direct", padded=True))
    return grad_weight


def _choose(requested, in_channels, weight_shape, window, dtype, budget, threads):
    """Pick the algorithm: the caller's choice, else by shape, dtype and workspace.

    Returns ``'im2col'``, ``'fft'``, ``'depthwise'`` (``direct`` with one
    input channel per group: elementwise on flat phases) or ``'direct'``.
    ``auto`` considers ``fft`` for float32 data only (see :func:`make_plan`).
    A forced ``im2col`` or ``fft`` whose temporaries for one sample do not
    fit the workspace takes ``direct``, the leanest.
    """
    if requested == "auto":  # the im2col byte model runs once, in _window_algorithm
        chosen = _window_algorithm(in_channels, weight_shape, window, dtype, budget, threads)
        if (dtype == np.float32 and window.kernel_volume > 1
                and fft.cost(window, in_channels, weight_shape)
                < _window_cost(chosen, in_channels, weight_shape, window)
                and fft.fits(window, in_channels, weight_shape, budget)):
            return "fft"
        return chosen
    chosen = requested
    if chosen == "fft" and not fft.fits(window, in_channels, weight_shape, budget):
        chosen = "direct"
    if chosen == "im2col" and im2col.sample_bytes(window, in_channels, weight_shape[0],
                                                   dtype) > budget:
        chosen = "direct"
    return _elementwise_if_fits(chosen, in_channels, weight_shape, window, dtype, budget, threads)


def _elementwise_if_fits(algorithm, in_channels, weight_shape, window, dtype, budget, threads):
    """``'depthwise'`` for a ``direct`` pass with one input channel per group whose planes fit."""
    if algorithm == "direct" and weight_shape[1] == 1 and depthwise.fits(
            window, weight_shape[0], in_channels, dtype, budget, threads):
        return "depthwise"
    return algorithm


def _window_algorithm(in_channels, weight_shape, window, dtype, budget, threads):
    """``im2col`` or ``direct``/``depthwise``: the faster that fits the workspace."""
    # Depthwise (one input channel per group, several groups): an elementwise
    # multiply-add per kernel offset beats copying columns for a matrix
    # product that has nothing to contract.  A single filter (one channel in
    # and out) is faster on im2col, whose backward needs no slice-adds there.
    elementwise = weight_shape[1] == 1 and in_channels > 1
    if elementwise or im2col.sample_bytes(window, in_channels, weight_shape[0], dtype) > budget:
        return _elementwise_if_fits("direct", in_channels, weight_shape, window, dtype, budget,
                                    threads)
    return "im2col"


def _window_cost(algorithm, in_channels, weight_shape, window):
    """Estimated nanoseconds per sample of a window algorithm (for the choice of ``fft``).

    Both move every window cell once (a column copy, or an elementwise
    multiply-add), at a cost per cell; im2col adds its matrix product at a
    rate per multiply-add.  The constants were fitted on the benchmark's
    mean filters and depthwise layer, like :func:`npconv.engine.fft.cost`'s.
    """
    out_channels, group_channels = weight_shape[:2]
    cells = flat_phases(window).positions * window.kernel_volume
    if algorithm == "im2col":
        flops = 2 * out_channels * group_channels * window.kernel_volume * window.out_volume
        return 0.45 * in_channels * cells + 0.005 * flops
    return 0.45 * out_channels * cells


# --- direct: one small product per kernel offset, no column buffer -----------

