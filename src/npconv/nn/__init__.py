"""Layers, losses and optimisers over npconv's functional operators.

>>> import numpy as np
>>> from npconv import nn
>>> rng = np.random.default_rng(0)
>>> model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
...                       nn.Flatten(), nn.Linear(4 * 4 * 4, 10, rng=rng))
>>> criterion, optimizer = nn.CrossEntropyLoss(), nn.SGD(model.parameters(), lr=0.1)
>>> x = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
>>> loss = criterion(model(x), np.array([3, 7]))
>>> grad_x = model.backward(criterion.backward())
>>> optimizer.step()
>>> loss.dtype, grad_x.shape, model[0].weight.grad.shape
(dtype('float32'), (2, 1, 8, 8), (4, 1, 3, 3))
"""

from .init import manual_seed
from .activations import (CELU, ELU, GELU, SELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU,
                          LogSoftmax, Mish, PReLU, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softplus,
                          Tanh)
from .layers import (Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d,
                     Dropout, Dropout1d, Dropout2d, Dropout3d, Linear)
from .normalization import (BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm, InstanceNorm1d,
                            InstanceNorm2d, InstanceNorm3d, LayerNorm, LocalResponseNorm)
from .shape import (ChannelShuffle, CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d,
                    ConstantPad2d, ConstantPad3d, Flatten, Fold, PixelShuffle, PixelUnshuffle,
                    ReflectionPad1d, ReflectionPad2d, ReflectionPad3d, ReplicationPad1d,
                    ReplicationPad2d, ReplicationPad3d, Unflatten, Unfold, Upsample,
                    UpsamplingBilinear2d, UpsamplingNearest2d, ZeroPad1d, ZeroPad2d, ZeroPad3d)
from .pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d, AdaptiveMaxPool1d,
                      AdaptiveMaxPool2d, AdaptiveMaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d,
                      FractionalMaxPool2d, FractionalMaxPool3d, LPPool1d, LPPool2d, LPPool3d,
                      MaxPool1d, MaxPool2d, MaxPool3d, MaxUnpool1d, MaxUnpool2d, MaxUnpool3d)
from .losses import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss,
                     MSELoss, NLLLoss, SmoothL1Loss, log_softmax)
from .containers import Identity, ModuleDict, ModuleList, Parallel, Residual, Sequential
from .module import Module, Parameter
from . import init, lr_scheduler, models
from .optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "Identity",
           "Residual", "Parallel", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
           "ConvTranspose2d", "ConvTranspose3d",
           "Linear", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "LPPool1d", "LPPool2d", "LPPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
           "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
           "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "FractionalMaxPool2d",
           "FractionalMaxPool3d", "ReLU", "ReLU6", "LeakyReLU", "PReLU",
           "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Hardswish", "Hardsigmoid", "Hardtanh",
           "Softplus", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Flatten", "Unflatten", "Fold",
           "Unfold", "PixelShuffle", "PixelUnshuffle", "ChannelShuffle", "Upsample",
           "UpsamplingNearest2d", "UpsamplingBilinear2d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
           "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ReflectionPad1d",
           "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
           "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d", "Dropout",
           "Dropout1d", "Dropout2d", "Dropout3d",
           "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d",
           "InstanceNorm3d", "GroupNorm", "LayerNorm", "LocalResponseNorm", "CrossEntropyLoss", "NLLLoss",
           "BCELoss", "BCEWithLogitsLoss", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss",
           "KLDivLoss", "log_softmax", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler", "init", "models",
           "Optimizer", "manual_seed"]
