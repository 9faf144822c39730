"""npconv: convolution, pooling and unfold/fold for NumPy, forward and backward.

Names, arguments, defaults and layouts follow ``torch.nn.functional``; every
operator has a backward pass named ``<op>_backward``.  The public API is this
namespace, :mod:`npconv.nn` and the settings of :mod:`npconv.config`; the
subpackages :mod:`npconv.ops`, :mod:`npconv.engine` and :mod:`npconv.window`
are the layers beneath (ARCHITECTURE.md), and :mod:`npconv.cli` the command.
"""

from .config import (conv_algorithm, get_algorithm, get_threads, get_workspace, set_workspace,
                     threads, workspace)
from .ops.conv import (conv1d, conv1d_backward, conv1d_input, conv1d_weight, conv2d,
                   conv2d_backward, conv2d_input, conv2d_weight, conv3d, conv3d_backward,
                   conv3d_input, conv3d_weight)
from .ops.conv_transpose import (conv_transpose1d, conv_transpose1d_backward, conv_transpose2d,
                             conv_transpose2d_backward, conv_transpose3d,
                             conv_transpose3d_backward)
from .ops.pool import (avg_pool1d, avg_pool1d_backward, avg_pool2d, avg_pool2d_backward, avg_pool3d,
                   avg_pool3d_backward, max_pool1d, max_pool1d_backward, max_pool2d,
                   max_pool2d_backward, max_pool3d, max_pool3d_backward, lp_pool1d,
                   lp_pool1d_backward, lp_pool2d, lp_pool2d_backward, lp_pool3d,
                   lp_pool3d_backward)
from .ops.adaptive import (adaptive_avg_pool1d, adaptive_avg_pool1d_backward, adaptive_avg_pool2d,
                       adaptive_avg_pool2d_backward, adaptive_avg_pool3d,
                       adaptive_avg_pool3d_backward, adaptive_max_pool1d,
                       adaptive_max_pool1d_backward, adaptive_max_pool2d,
                       adaptive_max_pool2d_backward, adaptive_max_pool3d,
                       adaptive_max_pool3d_backward)
from .ops.unpool import (max_unpool1d, max_unpool1d_backward, max_unpool2d, max_unpool2d_backward,
                     max_unpool3d, max_unpool3d_backward)
from .ops.fold import col2im, fold, fold_backward, im2col, unfold, unfold_backward
from .ops.fractional import (fractional_max_pool2d, fractional_max_pool2d_backward,
                             fractional_max_pool3d, fractional_max_pool3d_backward)
from .ops.normalization import (batch_norm, batch_norm_backward, group_norm, group_norm_backward,
                                instance_norm, instance_norm_backward, layer_norm,
                                layer_norm_backward, local_response_norm,
                                local_response_norm_backward)
from .ops.interpolate import (interpolate, interpolate_backward, upsample, upsample_bilinear,
                              upsample_nearest)
from .ops.pad import pad, pad_backward
from .ops.sizes import (conv_input_size_range, conv_output_size, conv_transpose_output_padding,
                        same_padding)
from .ops.activations import (relu, relu_backward, relu6, relu6_backward, leaky_relu,
                              leaky_relu_backward, prelu, prelu_backward, elu, elu_backward, selu, selu_backward, celu,
                              celu_backward, gelu, gelu_backward, silu, silu_backward, mish,
                              mish_backward, hardswish, hardswish_backward, hardsigmoid,
                              hardsigmoid_backward, hardtanh, hardtanh_backward, softplus,
                              softplus_backward, sigmoid, sigmoid_backward, tanh, tanh_backward,
                              softmax, softmax_backward, log_softmax, log_softmax_backward)
from .ops.shuffle import (channel_shuffle, channel_shuffle_backward, pixel_shuffle,
                          pixel_shuffle_backward, pixel_unshuffle, pixel_unshuffle_backward)
from .window.scratch import release_scratch

__version__ = "0.1.0"

__all__ = [
    "conv1d", "conv2d", "conv3d",
    "conv1d_backward", "conv2d_backward", "conv3d_backward",
    "conv1d_input", "conv2d_input", "conv3d_input",
    "conv1d_weight", "conv2d_weight", "conv3d_weight",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "conv_transpose1d_backward", "conv_transpose2d_backward", "conv_transpose3d_backward",
    "unfold", "fold", "im2col", "col2im", "unfold_backward", "fold_backward",
    "max_pool1d", "max_pool2d", "max_pool3d",
    "max_pool1d_backward", "max_pool2d_backward", "max_pool3d_backward",
    "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "avg_pool1d_backward", "avg_pool2d_backward", "avg_pool3d_backward",
    "lp_pool1d", "lp_pool2d", "lp_pool3d",
    "lp_pool1d_backward", "lp_pool2d_backward", "lp_pool3d_backward",
    "fractional_max_pool2d", "fractional_max_pool3d",
    "fractional_max_pool2d_backward", "fractional_max_pool3d_backward",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_avg_pool1d_backward", "adaptive_avg_pool2d_backward", "adaptive_avg_pool3d_backward",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "adaptive_max_pool1d_backward", "adaptive_max_pool2d_backward", "adaptive_max_pool3d_backward",
    "max_unpool1d", "max_unpool2d", "max_unpool3d",
    "max_unpool1d_backward", "max_unpool2d_backward", "max_unpool3d_backward",
    "pad", "pad_backward",
    "interpolate", "interpolate_backward", "upsample", "upsample_nearest", "upsample_bilinear",
    "batch_norm", "batch_norm_backward", "instance_norm", "instance_norm_backward",
    "layer_norm", "layer_norm_backward", "group_norm", "group_norm_backward",
    "local_response_norm", "local_response_norm_backward",
    "same_padding", "conv_output_size", "conv_input_size_range", "conv_transpose_output_padding",
    "pixel_shuffle", "pixel_shuffle_backward", "pixel_unshuffle", "pixel_unshuffle_backward",
    "channel_shuffle", "channel_shuffle_backward",
    "relu", "relu_backward", "relu6", "relu6_backward", "leaky_relu", "leaky_relu_backward",
    "prelu", "prelu_backward", "elu",
    "elu_backward", "selu", "selu_backward", "celu", "celu_backward", "gelu", "gelu_backward",
    "silu", "silu_backward", "mish", "mish_backward", "hardswish", "hardswish_backward",
    "hardsigmoid", "hardsigmoid_backward", "hardtanh", "hardtanh_backward", "softplus",
    "softplus_backward", "sigmoid", "sigmoid_backward", "tanh", "tanh_backward", "softmax",
    "softmax_backward", "log_softmax", "log_softmax_backward",
    "get_workspace", "set_workspace", "workspace", "get_algorithm", "conv_algorithm",
    "get_threads", "threads", "release_scratch",
]
