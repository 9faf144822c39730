"""``npconv bench --train``: whole training steps of the model zoo's LeNet-5 and ResNet-8, npconv against torch.

A step is what a user's loop runs: forward, cross-entropy loss, backward,
an SGD step with momentum.  The same model with the same weights runs in
torch (float32, the same thread count), on the same batch; npconv's and
torch's steps alternate in blocks, and the figure is images per second
(batch over the median step time), with the median and range of the
per-round ratios.
"""

from __future__ import annotations

import numpy as np

import npconv
from npconv import nn
from npconv.testing import torch_twin

from .bench import interleaved_times

#: (name, model builder, input shape of a batch)
MODELS = (
    ("LeNet-5", lambda rng: nn.models.lenet5(rng=rng), (64, 1, 28, 28)),
    ("ResNet-8", lambda rng: nn.models.resnet8(rng=rng), (32, 3, 32, 32)),
)


def _npconv_step(model, x, labels):
    criterion = nn.CrossEntropyLoss()
    optimizer = nn.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()

    def step():
        criterion(model(x), labels)
        optimizer.zero_grad()
        model.backward(criterion.backward(), input_gradient=False)
        optimizer.step()
    return step


def _torch_step(model, x, labels, torch):
    twin = torch_twin(model, torch, torch.float32)
    twin.train()
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9)
    tx, tlabels = torch.from_numpy(x), torch.from_numpy(labels)

    def step():
        loss = criterion(twin(tx), tlabels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return step


def run_training(repeat=5, torch=None, report=print):
    """Images per second of training steps of each model, npconv and (when given) torch."""
    threads = npconv.get_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    report(f"{'model':<10} {'batch':>12} {'npconv img/s':>13} {'torch img/s':>12} "
           f"{'npconv/torch':>13} {'range':>11}")
    rows = []
    for name, build, shape in MODELS:
        rng = np.random.default_rng(0)
        model = build(rng)
        x = rng.standard_normal(shape).astype(np.float32)
        labels = rng.integers(0, 10, shape[0])
        functions = [_npconv_step(model, x, labels)]
        if torch is not None:
            functions.append(_torch_step(model, x, labels, torch))
        times = interleaved_times(functions, repeat)
        row = dict(model=name, batch_shape=shape,
                   images_per_s=shape[0] / float(np.median(times[0])))
        line = f"{name:<10} {str(shape):>12} {row['images_per_s']:>13.0f}"
        if torch is not None:
            ratios = np.divide(times[1], times[0])  # speed: npconv's images/s over torch's
            row.update(torch_images_per_s=shape[0] / float(np.median(times[1])),
                       speed_ratio=float(np.median(ratios)),
                       speed_ratio_range=(float(ratios.min()), float(ratios.max())))
            line += (f" {row['torch_images_per_s']:>12.0f} {row['speed_ratio']:>12.2f}x "
                     f"{ratios.min():.2f}-{ratios.max():.2f}")
        report(line)
        rows.append(row)
    return rows
