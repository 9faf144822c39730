"""A model zoo: LeNet-5, CIFAR ResNets, a small MobileNetV2 and a small U-Net.

Every model is built from the layers and containers alone (branches are
:class:`~npconv.nn.Residual` and :class:`~npconv.nn.Parallel`), so none needs
a hand-written backward pass.  Each takes ``dtype`` and ``rng`` (a NumPy
Generator for the initial weights, torch's distributions) and is checked
against the same torch model with the same weights in the tests.
"""

from __future__ import annotations

import numpy as np

from .activations import ReLU, ReLU6
from .containers import Identity, Parallel, Residual, Sequential
from .layers import Conv2d, ConvTranspose2d, Dropout, Linear
from .normalization import BatchNorm2d
from .pooling import AdaptiveAvgPool2d, MaxPool2d
from .shape import Flatten


def lenet5(num_classes=10, in_channels=1, image_size=(28, 28), *, dtype=np.float32, rng=None):
    """LeNet-5 (LeCun et al., 1998), with ReLU and max pooling: for 28x28 images by default.

    conv 5x5 (6, padding 2) - pool - conv 5x5 (16) - pool - 120 - 84 - classes; the first
    linear layer takes ``16 * h * w`` features, ``h = (H // 2 - 4) // 2`` (5 for 28).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> model = nn.models.lenet5()
    >>> y = model(np.ones((2, 1, 28, 28), np.float32))
    >>> y.shape, model.backward(np.ones_like(y)).shape
    ((2, 10), (2, 1, 28, 28))
    """
    height, width = (image_size, image_size) if np.isscalar(image_size) else image_size
    features = [(side // 2 - 4) // 2 for side in (height, width)]
    if min(features) < 1:
        raise ValueError(f"lenet5(): images of {height}x{width} are too small; LeNet-5 needs "
                         f"sides of at least 12 (28 in the original)")
    options = dict(dtype=dtype, rng=rng)
    return Sequential(
        Conv2d(in_channels, 6, 5, padding=2, **options), ReLU(), MaxPool2d(2),
        Conv2d(6, 16, 5, **options), ReLU(), MaxPool2d(2), Flatten(),
        Linear(16 * features[0] * features[1], 120, **options), ReLU(),
        Linear(120, 84, **options), ReLU(), Linear(84, num_classes, **options))


def _conv_bn(in_channels, out_channels, kernel, stride, options, groups=1):
    return [Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups,
                   bias=False, **options), BatchNorm2d(out_channels, dtype=options["dtype"])]


def basic_block(in_channels, out_channels, stride=1, *, dtype=np.float32, rng=None):
    """A ResNet basic block: two 3x3 convolutions with batch norm, added to a shortcut, then ReLU.

    The shortcut is the input, or a 1x1 convolution with batch norm where the
    stride or the channel count changes (He et al.'s option B).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> model = nn.models.basic_block(16, 32, stride=2)
    >>> y = model(np.ones((2, 16, 8, 8), np.float32))
    >>> y.shape, model.backward(np.ones_like(y)).shape
    ((2, 32, 4, 4), (2, 16, 8, 8))
    """
    options = dict(dtype=dtype, rng=rng)
    body = Sequential(*_conv_bn(in_channels, out_channels, 3, stride, options), ReLU(),
                      *_conv_bn(out_channels, out_channels, 3, 1, options))
    shortcut = None
    if stride != 1 or in_channels != out_channels:
        shortcut = Sequential(*_conv_bn(in_channels, out_channels, 1, stride, options))
    return Sequential(Residual(body, shortcut), ReLU())


def bottleneck_block(in_channels, width, stride=1, expansion=4, *, dtype=np.float32, rng=None):
    """A ResNet bottleneck block: 1x1 down to ``width``, 3x3 (``stride``), 1x1 up to
    ``width * expansion``, each with batch norm, added to a shortcut, then ReLU (torchvision's
    layout: the stride on the 3x3 convolution).

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> model = nn.models.bottleneck_block(16, 8, stride=2)
    >>> y = model(np.ones((2, 16, 8, 8), np.float32))
    >>> y.shape, model.backward(np.ones_like(y)).shape
    ((2, 32, 4, 4), (2, 16, 8, 8))
    """
    options = dict(dtype=dtype, rng=rng)
    out_channels = width * expansion
    body = Sequential(*_conv_bn(in_channels, width, 1, 1, options), ReLU(),
                      *_conv_bn(width, width, 3, stride, options), ReLU(),
                      *_conv_bn(width, out_channels, 1, 1, options))
    shortcut = None
    if stride != 1 or in_channels != out_channels:
        shortcut = Sequential(*_conv_bn(in_channels, out_channels, 1, stride, options))
    return Sequential(Residual(body, shortcut), ReLU())


def cifar_resnet(depth, num_classes=10, in_channels=3, *, dtype=np.float32, rng=None):
    """The CIFAR ResNets of He et al. (2016): ``depth = 6n + 2``, stages of 16, 32, 64 channels.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> model = nn.models.cifar_resnet(8)
    >>> sum(p.data.size for p in model.parameters())
    78042
    """
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"cifar_resnet(): `depth` must be 6n + 2 (8, 14, 20, 32, ...), got {depth}")
    blocks = (depth - 2) // 6
    options = dict(dtype=dtype, rng=rng)
    layers = [*_conv_bn(in_channels, 16, 3, 1, options), ReLU()]
    channels = 16
    for stage, width in enumerate((16, 32, 64)):
        for index in range(blocks):
            stride = 2 if stage and index == 0 else 1
            layers.append(basic_block(channels, width, stride, **options))
            channels = width
    layers += [AdaptiveAvgPool2d(1), Flatten(), Linear(64, num_classes, **options)]
    return Sequential(*layers)


def resnet8(num_classes=10, in_channels=3, *, dtype=np.float32, rng=None):
    """The CIFAR ResNet-8: one basic block per stage.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> model = nn.models.resnet8()
    >>> y = model(np.ones((2, 3, 32, 32), np.float32))
    >>> y.shape, model.backward(np.ones_like(y)).shape
    ((2, 10), (2, 3, 32, 32))
    """
    return cifar_resnet(8, num_classes, in_channels, dtype=dtype, rng=rng)


def resnet20(num_classes=10, in_channels=3, *, dtype=np.float32, rng=None):
    """The CIFAR ResNet-20: three basic blocks per stage.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> model = nn.models.resnet20()
    >>> sum(p.data.size for p in model.parameters())
    272474
    """
    return cifar_resnet(20, num_classes, in_channels, dtype=dtype, rng=rng)


def inverted_residual(in_channels, out_channels, stride, expansion, *, dtype=np.float32,
                      rng=None):
    """MobileNetV2's block: expand (1x1), depthwise 3x3, project (1x1); a residual where it fits.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> model = nn.models.inverted_residual(16, 16, 1, 4)
    >>> y = model(np.ones((2, 16, 8, 8), np.float32))
    >>> y.shape, model.backward(np.ones_like(y)).shape
    ((2, 16, 8, 8), (2, 16, 8, 8))
    """
    options = dict(dtype=dtype, rng=rng)
    hidden = in_channels * expansion
    layers = []
    if expansion != 1:
        layers += [*_conv_bn(in_channels, hidden, 1, 1, options), ReLU6()]
    layers += [*_conv_bn(hidden, hidden, 3, stride, options, groups=hidden), ReLU6(),
               *_conv_bn(hidden, out_channels, 1, 1, options)]
    body = Sequential(*layers)
    if stride == 1 and in_channels == out_channels:
        return Residual(body)
    return body


def mobilenet_v2_small(num_classes=10, in_channels=3, width=16, *, dtype=np.float32, rng=None):
    """A small MobileNetV2 (Sandler et al., 2018) for 32x32 images: five inverted residuals.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> model = nn.models.mobilenet_v2_small()
    >>> y = model(np.ones((2, 3, 32, 32), np.float32))
    >>> y.shape, model.backward(np.ones_like(y)).shape
    ((2, 10), (2, 3, 32, 32))
    """
    options = dict(dtype=dtype, rng=rng)
    settings = [  # (expansion, output channels, stride)
        (1, width, 1), (6, int(1.5 * width), 2), (6, int(1.5 * width), 1), (6, 2 * width, 2),
        (6, 2 * width, 1)]
    layers = [*_conv_bn(in_channels, width, 3, 1, options), ReLU6()]
    channels = width
    for expansion, out_channels, stride in settings:
        layers.append(inverted_residual(channels, out_channels, stride, expansion, **options))
        channels = out_channels
    layers += [*_conv_bn(channels, 4 * width, 1, 1, options), ReLU6(), AdaptiveAvgPool2d(1),
               Flatten(), Dropout(0.2), Linear(4 * width, num_classes, **options)]
    return Sequential(*layers)


def _double_conv(in_channels, out_channels, options):
    return Sequential(*_conv_bn(in_channels, out_channels, 3, 1, options), ReLU(),
                      *_conv_bn(out_channels, out_channels, 3, 1, options), ReLU())


def unet_level(channels, inner, inner_channels, *, dtype=np.float32, rng=None):
    """One U-Net level around ``inner``: the skip and the down-inner-up path, concatenated.

    ``Parallel(Identity, Sequential(MaxPool2d(2), inner, ConvTranspose2d(2, stride 2)))``:
    the input (``channels``) beside the upsampled inner result (``channels``), so
    ``2 * channels`` out.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> inner = nn.Identity()
    >>> model = nn.models.unet_level(4, inner, 4)
    >>> y = model(np.ones((2, 4, 8, 8), np.float32))
    >>> y.shape
    (2, 8, 8, 8)
    """
    up = ConvTranspose2d(inner_channels, channels, 2, stride=2, dtype=dtype, rng=rng)
    return Parallel(Identity(), Sequential(MaxPool2d(2), inner, up), combine="cat")


def unet_small(in_channels=1, num_classes=2, width=8, depth=2, *, dtype=np.float32, rng=None):
    """A small U-Net (Ronneberger et al., 2015): ``depth`` levels, ``width`` channels at the top.

    The input's sides must be multiples of ``2 ** depth``; the output is
    ``(N, num_classes, H, W)`` logits per pixel.

    Examples
    --------
    >>> import numpy as np
    >>> from npconv import nn
    >>> model = nn.models.unet_small()
    >>> y = model(np.ones((2, 1, 16, 16), np.float32))
    >>> y.shape, model.backward(np.ones_like(y)).shape
    ((2, 2, 16, 16), (2, 1, 16, 16))
    """
    options = dict(dtype=dtype, rng=rng)
    widths = [width * 2 ** level for level in range(depth + 1)]
    inner = _double_conv(widths[-2], widths[-1], options)  # the bottom
    for level in reversed(range(1, depth)):
        inner = Sequential(_double_conv(widths[level - 1], widths[level], options),
                           unet_level(widths[level], inner, widths[level + 1], **options),
                           _double_conv(2 * widths[level], widths[level], options))
    return Sequential(_double_conv(in_channels, widths[0], options),
                      unet_level(widths[0], inner, widths[1], **options),
                      _double_conv(2 * widths[0], widths[0], options),
                      Conv2d(widths[0], num_classes, 1, **options))


#: The classifiers by name (``npconv train --model``); each is ``f(num_classes, in_channels,
#: rng=...)`` (LeNet also takes the image size).
MODELS = {"lenet": lenet5, "resnet8": resnet8, "resnet20": resnet20,
          "mobilenet": mobilenet_v2_small}

__all__ = ["lenet5", "basic_block", "bottleneck_block", "cifar_resnet", "resnet8", "resnet20", "inverted_residual",
           "mobilenet_v2_small", "unet_level", "unet_small", "MODELS"]
