"""npconv's operators on Dask arrays: volumes larger than memory, batches across workers.

Each function has the name, arguments and results of npconv's NumPy function
and returns a lazy Dask array (a tuple of them for the backward passes);
``npconv.conv2d`` and the others send a call with a Dask array argument here,
so code written for NumPy arrays runs on Dask arrays unchanged.  Nothing is
computed when the graph is built; arguments are checked then, with npconv's
messages.

* **Spatial chunks** get halos derived from kernel, stride, dilation and
  padding (:mod:`npconv.dask.chunks`): a chunk owns the windows that start
  in it and reads the cells after it that they reach.  Output chunks follow
  from input chunks, whatever the stride; nothing is rechunked.
* **Batch chunks** need no halo; pooling also takes channel chunks, and
  convolutions need one chunk along the channels.  Adaptive and
  power-average pooling and unpooling pool whole planes: batch and channel
  chunks only (:mod:`npconv.dask.planes`).
* **Weight gradients** are one per block, summed as a tree
  (``sum(split_every=8)``); bias gradients are Dask's tree sum.
* **Inside a task** npconv uses one thread (and BLAS one, with threadpoolctl),
  with the workspace and algorithm in force where the graph was built.

Results equal npconv's on the whole array to rounding (the blocks add their
products in another order).  Unfold and fold take batch chunks only (their columns flatten the spatial
dimensions); a max-pool gradient over spatial chunks refuses windows of
padding cells only (whose gradient torch sends to a cell of another row).

>>> import numpy as np, dask.array as da, npconv
>>> x = da.ones((2, 3, 64, 64), chunks=(1, 3, 32, 32), dtype=np.float32)
>>> y = npconv.conv2d(x, np.ones((4, 3, 3, 3), np.float32), padding=1)
>>> y.chunks[2:], float(y[0, 0, 10, 10].compute())
(((32, 32), (32, 32)), 27.0)
"""

from __future__ import annotations

import importlib

try:
    importlib.import_module("dask.array")
except ImportError as error:
    raise ImportError("npconv.dask needs Dask: pip install 'npconv[dask]'") from error

from ..ops import adaptive as _adaptive, pool as _pool_ops, unpool as _unpool
from . import conv as _conv
from . import planes as _planes
from . import pool as _pool
from .chunks import SPLIT_EVERY
from .npy import load_npy, save_npy

__all__ = [  # filled in below
]


def _documented(function):
    """The docstring of npconv's NumPy function of the same name, after a line saying this one is lazy."""
    import npconv

    numpy_function = getattr(npconv, function.__name__)
    function.__doc__ = (f"{function.__name__} on Dask arrays: lazy, chunk by chunk; as "
                        f":func:`npconv.{function.__name__}`.\n\n" + (numpy_function.__doc__ or ""))
    __all__.append(function.__name__)
    return function


@_documented
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros"):
    return _conv.conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups,
                      padding_mode)


@_documented
def conv1d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1,
                    groups=1, *, padding_mode="zeros"):
    return _conv.conv_backward("conv1d_backward", 1, grad_output, input, weight, bias, stride,
                               padding, dilation, groups, padding_mode)


@_documented
def conv1d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1,
                 *, padding_mode="zeros"):
    return _conv.conv_input("conv1d_input", 1, input_size, weight, grad_output, stride, padding,
                            dilation, groups, padding_mode)


@_documented
def conv1d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1,
                  *, padding_mode="zeros"):
    return _conv.conv_weight("conv1d_weight", 1, input, weight_size, grad_output, stride,
                             padding, dilation, groups, padding_mode)


@_documented
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    return _conv.conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding,
                                output_padding, groups, dilation)


@_documented
def conv_transpose1d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                              output_padding=0, groups=1, dilation=1):
    return _conv.conv_transpose_backward("conv_transpose1d_backward", 1, grad_output, input,
                                         weight, bias, stride, padding, output_padding, groups,
                                         dilation)


@_documented
def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _pool.max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation,
                          ceil_mode, return_indices)


@_documented
def max_pool1d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1,
                        ceil_mode=False, indices=None):
    return _pool.max_pool_backward("max_pool1d_backward", 1, grad_output, input, kernel_size,
                                   stride, padding, dilation, ceil_mode, indices)


@_documented
def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _pool.avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                          count_include_pad, divisor_override)


@_documented
def avg_pool1d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    return _pool.avg_pool_backward("avg_pool1d_backward", 1, grad_output, input, kernel_size,
                                   stride, padding, ceil_mode, count_include_pad,
                                   divisor_override)

@_documented
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros"):
    return _conv.conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups,
                      padding_mode)


@_documented
def conv2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1,
                    groups=1, *, padding_mode="zeros"):
    return _conv.conv_backward("conv2d_backward", 2, grad_output, input, weight, bias, stride,
                               padding, dilation, groups, padding_mode)


@_documented
def conv2d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1,
                 *, padding_mode="zeros"):
    return _conv.conv_input("conv2d_input", 2, input_size, weight, grad_output, stride, padding,
                            dilation, groups, padding_mode)


@_documented
def conv2d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1,
                  *, padding_mode="zeros"):
    return _conv.conv_weight("conv2d_weight", 2, input, weight_size, grad_output, stride,
                             padding, dilation, groups, padding_mode)


@_documented
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    return _conv.conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding,
                                output_padding, groups, dilation)


@_documented
def conv_transpose2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                              output_padding=0, groups=1, dilation=1):
    return _conv.conv_transpose_backward("conv_transpose2d_backward", 2, grad_output, input,
                                         weight, bias, stride, padding, output_padding, groups,
                                         dilation)


@_documented
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _pool.max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation,
                          ceil_mode, return_indices)


@_documented
def max_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1,
                        ceil_mode=False, indices=None):
    return _pool.max_pool_backward("max_pool2d_backward", 2, grad_output, input, kernel_size,
                                   stride, padding, dilation, ceil_mode, indices)


@_documented
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _pool.avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                          count_include_pad, divisor_override)


@_documented
def avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    return _pool.avg_pool_backward("avg_pool2d_backward", 2, grad_output, input, kernel_size,
                                   stride, padding, ceil_mode, count_include_pad,
                                   divisor_override)

@_documented
def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros"):
    return _conv.conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups,
                      padding_mode)


@_documented
def conv3d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1,
                    groups=1, *, padding_mode="zeros"):
    return _conv.conv_backward("conv3d_backward", 3, grad_output, input, weight, bias, stride,
                               padding, dilation, groups, padding_mode)


@_documented
def conv3d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1,
                 *, padding_mode="zeros"):
    return _conv.conv_input("conv3d_input", 3, input_size, weight, grad_output, stride, padding,
                            dilation, groups, padding_mode)


@_documented
def conv3d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1,
                  *, padding_mode="zeros"):
    return _conv.conv_weight("conv3d_weight", 3, input, weight_size, grad_output, stride,
                             padding, dilation, groups, padding_mode)


@_documented
def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    return _conv.conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding,
                                output_padding, groups, dilation)


@_documented
def conv_transpose3d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                              output_padding=0, groups=1, dilation=1):
    return _conv.conv_transpose_backward("conv_transpose3d_backward", 3, grad_output, input,
                                         weight, bias, stride, padding, output_padding, groups,
                                         dilation)


@_documented
def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _pool.max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation,
                          ceil_mode, return_indices)


@_documented
def max_pool3d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1,
                        ceil_mode=False, indices=None):
    return _pool.max_pool_backward("max_pool3d_backward", 3, grad_output, input, kernel_size,
                                   stride, padding, dilation, ceil_mode, indices)


@_documented
def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _pool.avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode,
                          count_include_pad, divisor_override)


@_documented
def avg_pool3d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    return _pool.avg_pool_backward("avg_pool3d_backward", 3, grad_output, input, kernel_size,
                                   stride, padding, ceil_mode, count_include_pad,
                                   divisor_override)


@_documented
def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    return _pool.unfold("unfold", input, kernel_size, dilation, padding, stride)


@_documented
def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    return _pool.fold("fold", input, output_size, kernel_size, dilation, padding, stride)


@_documented
def unfold_backward(grad_output, input, kernel_size, dilation=1, padding=0, stride=1):
    return _pool.unfold_backward("unfold_backward", grad_output, input, kernel_size, dilation,
                                 padding, stride)


@_documented
def fold_backward(grad_output, input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    return _pool.fold_backward("fold_backward", grad_output, input, output_size, kernel_size,
                               dilation, padding, stride)



# --- whole planes, cut along the batch and channels (npconv.dask.planes) ---------------------

@_documented
def adaptive_avg_pool1d(input, output_size):
    return _planes.planewise("adaptive_avg_pool1d", 1, _adaptive.adaptive_avg_pool1d,
                             dict(input=input), dict(output_size=output_size))


@_documented
def adaptive_avg_pool1d_backward(grad_output, input, output_size):
    return _planes.planewise("adaptive_avg_pool1d_backward", 1,
                             _adaptive.adaptive_avg_pool1d_backward,
                             dict(grad_output=grad_output, input=input),
                             dict(output_size=output_size))


@_documented
def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _planes.planewise("adaptive_max_pool1d", 1, _adaptive.adaptive_max_pool1d,
                             dict(input=input),
                             dict(output_size=output_size, return_indices=return_indices),
                             outputs=2 if return_indices else 1)


@_documented
def adaptive_max_pool1d_backward(grad_output, input, output_size, indices=None):
    planar = dict(grad_output=grad_output, input=input)
    if indices is not None:
        planar["indices"] = indices
    return _planes.planewise("adaptive_max_pool1d_backward", 1,
                             _adaptive.adaptive_max_pool1d_backward, planar,
                             dict(output_size=output_size))


@_documented
def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _planes.planewise("lp_pool1d", 1, _pool_ops.lp_pool1d, dict(input=input),
                             dict(norm_type=norm_type, kernel_size=kernel_size, stride=stride,
                                  ceil_mode=ceil_mode))


@_documented
def lp_pool1d_backward(grad_output, input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _planes.planewise("lp_pool1d_backward", 1, _pool_ops.lp_pool1d_backward,
                             dict(grad_output=grad_output, input=input),
                             dict(norm_type=norm_type, kernel_size=kernel_size, stride=stride,
                                  ceil_mode=ceil_mode))


@_documented
def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _planes.planewise("max_unpool1d", 1, _unpool.max_unpool1d,
                             dict(input=input, indices=indices),
                             dict(kernel_size=kernel_size, stride=stride, padding=padding,
                                  output_size=output_size))


@_documented
def max_unpool1d_backward(grad_output, input, indices, kernel_size, stride=None, padding=0,
                          output_size=None):
    return _planes.planewise("max_unpool1d_backward", 1, _unpool.max_unpool1d_backward,
                             dict(grad_output=grad_output, input=input, indices=indices),
                             dict(kernel_size=kernel_size, stride=stride, padding=padding,
                                  output_size=output_size))

@_documented
def adaptive_avg_pool2d(input, output_size):
    return _planes.planewise("adaptive_avg_pool2d", 2, _adaptive.adaptive_avg_pool2d,
                             dict(input=input), dict(output_size=output_size))


@_documented
def adaptive_avg_pool2d_backward(grad_output, input, output_size):
    return _planes.planewise("adaptive_avg_pool2d_backward", 2,
                             _adaptive.adaptive_avg_pool2d_backward,
                             dict(grad_output=grad_output, input=input),
                             dict(output_size=output_size))


@_documented
def adaptive_max_pool2d(input, output_size, return_indices=False):
    return _planes.planewise("adaptive_max_pool2d", 2, _adaptive.adaptive_max_pool2d,
                             dict(input=input),
                             dict(output_size=output_size, return_indices=return_indices),
                             outputs=2 if return_indices else 1)


@_documented
def adaptive_max_pool2d_backward(grad_output, input, output_size, indices=None):
    planar = dict(grad_output=grad_output, input=input)
    if indices is not None:
        planar["indices"] = indices
    return _planes.planewise("adaptive_max_pool2d_backward", 2,
                             _adaptive.adaptive_max_pool2d_backward, planar,
                             dict(output_size=output_size))


@_documented
def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _planes.planewise("lp_pool2d", 2, _pool_ops.lp_pool2d, dict(input=input),
                             dict(norm_type=norm_type, kernel_size=kernel_size, stride=stride,
                                  ceil_mode=ceil_mode))


@_documented
def lp_pool2d_backward(grad_output, input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _planes.planewise("lp_pool2d_backward", 2, _pool_ops.lp_pool2d_backward,
                             dict(grad_output=grad_output, input=input),
                             dict(norm_type=norm_type, kernel_size=kernel_size, stride=stride,
                                  ceil_mode=ceil_mode))


@_documented
def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _planes.planewise("max_unpool2d", 2, _unpool.max_unpool2d,
                             dict(input=input, indices=indices),
                             dict(kernel_size=kernel_size, stride=stride, padding=padding,
                                  output_size=output_size))


@_documented
def max_unpool2d_backward(grad_output, input, indices, kernel_size, stride=None, padding=0,
                          output_size=None):
    return _planes.planewise("max_unpool2d_backward", 2, _unpool.max_unpool2d_backward,
                             dict(grad_output=grad_output, input=input, indices=indices),
                             dict(kernel_size=kernel_size, stride=stride, padding=padding,
                                  output_size=output_size))

@_documented
def adaptive_avg_pool3d(input, output_size):
    return _planes.planewise("adaptive_avg_pool3d", 3, _adaptive.adaptive_avg_pool3d,
                             dict(input=input), dict(output_size=output_size))


@_documented
def adaptive_avg_pool3d_backward(grad_output, input, output_size):
    return _planes.planewise("adaptive_avg_pool3d_backward", 3,
                             _adaptive.adaptive_avg_pool3d_backward,
                             dict(grad_output=grad_output, input=input),
                             dict(output_size=output_size))


@_documented
def adaptive_max_pool3d(input, output_size, return_indices=False):
    return _planes.planewise("adaptive_max_pool3d", 3, _adaptive.adaptive_max_pool3d,
                             dict(input=input),
                             dict(output_size=output_size, return_indices=return_indices),
                             outputs=2 if return_indices else 1)


@_documented
def adaptive_max_pool3d_backward(grad_output, input, output_size, indices=None):
    planar = dict(grad_output=grad_output, input=input)
    if indices is not None:
        planar["indices"] = indices
    return _planes.planewise("adaptive_max_pool3d_backward", 3,
                             _adaptive.adaptive_max_pool3d_backward, planar,
                             dict(output_size=output_size))


@_documented
def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _planes.planewise("lp_pool3d", 3, _pool_ops.lp_pool3d, dict(input=input),
                             dict(norm_type=norm_type, kernel_size=kernel_size, stride=stride,
                                  ceil_mode=ceil_mode))


@_documented
def lp_pool3d_backward(grad_output, input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _planes.planewise("lp_pool3d_backward", 3, _pool_ops.lp_pool3d_backward,
                             dict(grad_output=grad_output, input=input),
                             dict(norm_type=norm_type, kernel_size=kernel_size, stride=stride,
                                  ceil_mode=ceil_mode))


@_documented
def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _planes.planewise("max_unpool3d", 3, _unpool.max_unpool3d,
                             dict(input=input, indices=indices),
                             dict(kernel_size=kernel_size, stride=stride, padding=padding,
                                  output_size=output_size))


@_documented
def max_unpool3d_backward(grad_output, input, indices, kernel_size, stride=None, padding=0,
                          output_size=None):
    return _planes.planewise("max_unpool3d_backward", 3, _unpool.max_unpool3d_backward,
                             dict(grad_output=grad_output, input=input, indices=indices),
                             dict(kernel_size=kernel_size, stride=stride, padding=padding,
                                  output_size=output_size))

#: Alias of :func:`unfold`.
im2col = unfold
#: Alias of :func:`fold`.
col2im = fold
__all__ += ["im2col", "col2im", "SPLIT_EVERY", "load_npy", "save_npy"]
