"""Training and evaluating the small CNN that ``npconv train`` and ``npconv predict`` run."""

from __future__ import annotations

import json
import math
import os
import time

import numpy as np

from .. import nn
from ..data import DataError


#: ``npconv train --model`` choices: the small CNN, and the model zoo's classifiers.
ARCHITECTURES = ("small",) + tuple(nn.models.MODELS)


def build_model(in_channels, height, width, classes, rng, architecture="small"):
    """The network ``architecture`` names, for images ``in_channels x height x width``.

    ``'small'``: conv3x3(16)-ReLU-conv3x3(32)-ReLU-maxpool2-conv3x3(64)-ReLU-maxpool2-Linear;
    the others come from :mod:`npconv.nn.models`.
    """
    if architecture == "lenet":
        return nn.models.lenet5(classes, in_channels, (height, width), rng=rng)
    if architecture != "small":
        return nn.models.MODELS[architecture](classes, in_channels, rng=rng)
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1, rng=rng), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * (height // 4) * (width // 4), classes, rng=rng),
    )


class Normalizer:
    """Pixels to ``(x / max_value - mean) / std`` with the training set's per-channel statistics."""

    def __init__(self, max_value, mean, std):
        self.max_value = float(max_value)
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)

    @classmethod
    def fit(cls, images, max_value):
        scaled = images.astype(np.float32) / max_value
        return cls(max_value, scaled.mean(axis=(0, 2, 3)), scaled.std(axis=(0, 2, 3)) + 1e-6)

    def __call__(self, images):
        scaled = images.astype(np.float32) / np.float32(self.max_value)
        return (scaled - self.mean[:, None, None]) / self.std[:, None, None]

    def to_json(self):
        return json.dumps({"max_value": self.max_value, "mean": self.mean.tolist(),
                           "std": self.std.tolist()})

    @classmethod
    def from_json(cls, text):
        """The normaliser written by :meth:`to_json`; ValueError for anything else."""
        try:
            fields = json.loads(text)
            normalizer = cls(fields["max_value"], fields["mean"], fields["std"])
        except (TypeError, KeyError, IndexError, json.JSONDecodeError) as exc:
            raise ValueError(f"normalisation {text!r}: {type(exc).__name__}: {exc}") from None
        if not (math.isfinite(normalizer.max_value) and normalizer.max_value > 0
                and normalizer.mean.ndim == 1 and normalizer.mean.shape == normalizer.std.shape
                and np.isfinite(normalizer.mean).all() and (normalizer.std > 0).all()
                and np.isfinite(normalizer.std).all()):
            raise ValueError(f"normalisation {text!r}: needs a positive max_value, and one "
                             f"finite mean and positive std per channel")
        return normalizer


def predict(model, images, normalize, batch_size=256):
    """Class predictions for raw ``images`` ``(N, C, H, W)``."""
    model.eval()
    out = [model(normalize(images[i:i + batch_size])).argmax(axis=1)
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def confusion_matrix(labels, predictions, classes):
    """``matrix[true, predicted]`` counts."""
    pairs = np.asarray(labels, np.int64) * classes + np.asarray(predictions, np.int64)
    return np.bincount(pairs, minlength=classes * classes).reshape(classes, classes)


SCHEDULES = ("onecycle", "constant")


def train(dataset, epochs, batch_size, lr, seed, report=print, progress=None,
          architecture="small", schedule="onecycle", checkpoint=None, resume=None):
    """Train a model on ``dataset`` with Adam; returns ``(model, normalize, history)``.

    ``schedule`` ``'onecycle'`` runs torch's one-cycle policy with ``lr`` as
    its peak; ``'constant'`` keeps ``lr``.  ``report(line)`` receives one line
    per epoch; ``progress(done, total)``, when given, is called after every
    batch.  The same seed gives the same numbers: the weights and the batch
    order come from one generator.  ``checkpoint`` (a path) is written after
    every epoch with the model, the optimiser, the schedule, the generator and
    the history; ``resume`` (such a file) continues from it, to the same
    numbers as a run that was never stopped.
    """
    rng = np.random.default_rng(seed)
    channels, height, width = dataset.x_train.shape[1:]
    if height < 4 or width < 4:
        raise DataError(f"images must be at least 4x4, got {height}x{width}")
    model = build_model(channels, height, width, len(dataset.classes), rng, architecture)
    normalize = Normalizer.fit(dataset.x_train, dataset.max_value)
    x_train = normalize(dataset.x_train)
    criterion, optimizer = nn.CrossEntropyLoss(), nn.Adam(model.parameters(), lr=lr)
    count = len(x_train)
    steps = -(-count // batch_size)
    scheduler = nn.lr_scheduler.OneCycleLR(optimizer, lr, epochs=epochs, steps_per_epoch=steps) \
        if schedule == "onecycle" else None
    history, first_epoch = [], 1
    run = dict(architecture=architecture, schedule=schedule, epochs=epochs, batch=batch_size,
               lr=lr, seed=seed, shape=[channels, height, width], count=count)
    if resume is not None:
        history = load_checkpoint(resume, run, model, optimizer, scheduler, rng)
        first_epoch = len(history) + 1
    start = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    for epoch in range(first_epoch, epochs + 1):
        model.train()
        order = rng.permutation(count)
        epoch_start, total_loss, correct = time.perf_counter(), 0.0, 0
        for first in range(0, count, batch_size):
            batch = order[first:first + batch_size]
            logits = model(x_train[batch])
            loss = criterion(logits, dataset.y_train[batch])
            optimizer.zero_grad()
            model.backward(criterion.backward(), input_gradient=False)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total_loss += float(loss) * len(batch)
            correct += int((logits.argmax(axis=1) == dataset.y_train[batch]).sum())
            if progress:
                progress(min(first + batch_size, count), count)
        seconds = time.perf_counter() - epoch_start
        test_accuracy = float(np.mean(predict(model, dataset.x_test, normalize) == dataset.y_test))
        record = dict(epoch=epoch, loss=total_loss / count, train_accuracy=correct / count,
                      test_accuracy=test_accuracy, images_per_second=count / seconds,
                      seconds=time.perf_counter() - start)
        history.append(record)
        if checkpoint is not None:  # before the report: a run stopped after it can resume
            save_checkpoint(checkpoint, run, model, optimizer, scheduler, rng, history)
        report(f"epoch {epoch:>{len(str(epochs))}}/{epochs}  loss {record['loss']:.4f}  "
               f"train acc {record['train_accuracy']:.4f}  test acc {test_accuracy:.4f}  "
               f"{record['images_per_second']:,.0f} img/s")
    return model, normalize, history


# --- checkpoints --------------------------------------------------------------------------

def save_checkpoint(path, run, model, optimizer, scheduler, rng, history):
    """Everything a run needs to go on: arrays in an ``.npz``, the rest as JSON beside them."""
    arrays = {f"model/{key}": value for key, value in model.state_dict().items()}
    optimizer_state = optimizer.state_dict()
    for index, values in optimizer_state["state"].items():
        for name, value in values.items():
            arrays[f"optimizer/{index}/{name}"] = np.asarray(value)
    groups = [{key: list(value) if isinstance(value, tuple) else value
               for key, value in group.items()} for group in optimizer_state["param_groups"]]
    document = dict(run=run, history=history, optimizer_groups=groups,
                    scheduler=None if scheduler is None else scheduler.state_dict(),
                    generator=rng.bit_generator.state)
    temporary = f"{path}.partial"
    with open(temporary, "wb") as file:
        np.savez(file, **arrays, **{"meta:checkpoint": np.asarray(json.dumps(document))})
    os.replace(temporary, path)  # a checkpoint is never half written


def load_checkpoint(path, run, model, optimizer, scheduler, rng):
    """Restore a :func:`save_checkpoint` file into a run of the same settings; returns its history."""
    try:
        state, metadata = nn.module.read_npz(path)
        document = json.loads(metadata["checkpoint"])
    except FileNotFoundError:
        raise ValueError(f"{path}: no such checkpoint") from None
    except (KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a checkpoint written by `npconv train` ({exc})") from None
    saved = document["run"]
    # a constant rate may go on for more epochs; a one-cycle schedule is planned for its epochs
    free = ("epochs",) if run["schedule"] == "constant" else ()
    different = {key: (saved.get(key), value) for key, value in run.items()
                 if saved.get(key) != value and key not in free}
    if different:
        raise ValueError(f"{path}: the checkpoint is of another run: "
                         + ", ".join(f"{key} {was!r} there, {now!r} here"
                                     for key, (was, now) in different.items()))
    if len(document["history"]) >= run["epochs"]:
        raise ValueError(f"{path}: the checkpoint has {len(document['history'])} epochs "
                         f"already; ask for more with --epochs")
    model.load_state_dict({key[6:]: value for key, value in state.items()
                           if key.startswith("model/")})
    optimizer_state = {}
    for key, value in state.items():
        if key.startswith("optimizer/"):
            _, index, name = key.split("/", 2)
            optimizer_state.setdefault(int(index), {})[name] = \
                value if value.ndim else value.item()
    groups = [{key: tuple(value) if key == "betas" else value for key, value in group.items()}
              for group in document["optimizer_groups"]]
    optimizer.load_state_dict({"state": optimizer_state, "param_groups": groups})
    if scheduler is not None:
        scheduler.load_state_dict(document["scheduler"])
    rng.bit_generator.state = document["generator"]
    return document["history"]
