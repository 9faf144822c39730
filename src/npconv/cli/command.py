"""The ``npconv`` command: ``train``, ``predict``, ``check`` (and ``bench``).

``main(argv)`` returns the exit code: 0 on success, 1 when a check fails,
2 for bad arguments, missing or corrupt files.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import pathlib
import sys
import time

import numpy as np

from .. import data, nn
from . import bench, training


class CommandError(Exception):
    """A user error: printed as ``npconv: error: ...``, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (and exit code 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _integer(minimum, description):
    """An argparse type: an integer >= ``minimum``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {description}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {description}, got {text}")
        return value
    return parse


positive_int = _integer(1, "a positive integer")
_seed = _integer(0, "an integer >= 0")


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite positive number, got {text}")
    return value


def writable_path(path, option):
    """Refuse, before any work, an output path that cannot be written."""
    target = pathlib.Path(path)
    folder = target.parent if str(target.parent) else pathlib.Path(".")
    if target.is_dir():
        raise CommandError(f"{option} {path}: is a folder, not a file")
    if not folder.is_dir():
        raise CommandError(f"{option} {path}: no such folder {folder}")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise CommandError(f"{option} {path}: not writable")


def _parser():
    parser = _Parser(prog="npconv", description=(
        "Pure-NumPy convolutional networks: train, predict and check."))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a CNN (default: LeNet-5 on the embedded MNIST subset)")
    _data_arguments(train)
    train.add_argument("--epochs", type=positive_int, default=15)
    train.add_argument("--batch-size", type=positive_int, default=32)
    train.add_argument("--lr", type=_positive_float, default=4e-3,
                       help="Adam learning rate (the peak of --schedule onecycle)")
    train.add_argument("--seed", type=_seed, default=0)
    train.add_argument("--model", choices=("auto",) + training.ARCHITECTURES, default="auto",
                       help="the network: a model of npconv.nn.models or the small CNN; auto "
                            "takes LeNet-5 for images of 12x12 or more, else the small CNN")
    train.add_argument("--schedule", choices=training.SCHEDULES, default="onecycle",
                       help="the learning rate: torch's one-cycle policy peaking at --lr, or constant")
    train.add_argument("--checkpoint", metavar="RUN.npz",
                       help="write the run (model, optimiser, schedule, generator) after every epoch")
    train.add_argument("--resume", metavar="RUN.npz", help="go on from a --checkpoint file")
    train.add_argument("--save", metavar="MODEL.npz", help="write the trained model here")
    train.add_argument("--plot", metavar="CURVES.png", help="plot loss and accuracy (needs matplotlib)")

    predict = commands.add_parser("predict", help="accuracy and confusion matrix of a saved model")
    predict.add_argument("--model", required=True, metavar="MODEL.npz")
    _data_arguments(predict, default_dataset=None)
    predict.add_argument("--images", metavar="IMAGES.npy",
                         help="raw images (N, H, W) or (N, C, H, W) instead of the test split")
    predict.add_argument("--labels", metavar="LABELS.npy", help="labels for --images")
    predict.add_argument("--scale", choices=("auto", "raw", "unit"), default="auto", help=(
        "pixel range of --images: 'raw' as the training data (0..255, or 0..16 for the "
        "digits), 'unit' scaled to [0, 1]; 'auto' (default) takes 'unit' when no pixel "
        "exceeds 1 and says so"))

    check = commands.add_parser("check", help="gradient checks and, with torch, a parity sweep")
    check.add_argument("--seed", type=_seed, default=0)

    bench_parser = commands.add_parser("bench", help="time npconv against PyTorch and a textbook baseline")
    bench.add_arguments(bench_parser, positive_int)
    return parser


def _data_arguments(parser, default_dataset="mnist5k"):
    parser.add_argument("--dataset", choices=data.DATASETS, default=default_dataset,
                        help="mnist5k or digits (embedded), or mnist/fashion-mnist/cifar10 "
                             "from --data")
    parser.add_argument("--data", metavar="DIR", help="folder with the dataset's files")


def _load(dataset, folder):
    if folder is not None and dataset in data.EMBEDDED:
        raise CommandError("--data needs --dataset mnist, fashion-mnist or cifar10 "
                           f"({dataset} is embedded)")
    return data.load(dataset, folder)


class _ProgressBar:
    """A one-line bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.active = stream.isatty()

    def __call__(self, done, total):
        if self.active:
            filled = 30 * done // total
            self.stream.write(f"\r  [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
            self.stream.flush()

    def clear(self):
        if self.active:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()


def _check_output_paths(**paths):
    """Refuse, before any work, output options whose paths cannot be written (``--plot`` also needs matplotlib)."""
    for option, path in paths.items():
        if path:
            if option == "plot":
                _require_matplotlib()
            writable_path(path, f"--{option}")


def _train(args):
    _check_output_paths(save=args.save, plot=args.plot, checkpoint=args.checkpoint)
    dataset = _load(args.dataset, args.data)
    channels, height, width = dataset.x_train.shape[1:]
    if args.model == "auto":
        args.model = "lenet" if min(height, width) >= 12 else "small"
    print(f"npconv train: {args.dataset}, {len(dataset.x_train)} train / {len(dataset.x_test)} test "
          f"images of {channels}x{height}x{width}, {len(dataset.classes)} classes; "
          f"model {args.model}, {args.epochs} epochs, batch {args.batch_size}, Adam lr {args.lr:g} "
          f"({args.schedule}), seed {args.seed}")
    bar = _ProgressBar()

    def report(line):
        bar.clear()
        print(line, flush=True)

    start = time.perf_counter()
    try:
        model, normalize, history = training.train(
            dataset, args.epochs, args.batch_size, args.lr, args.seed, report=report,
            progress=bar, architecture=args.model, schedule=args.schedule,
            checkpoint=args.checkpoint, resume=args.resume)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    seconds = time.perf_counter() - start
    accuracy = history[-1]["test_accuracy"]
    correct = round(accuracy * len(dataset.y_test))
    rate = args.epochs * len(dataset.x_train) / seconds
    print(f"test accuracy {accuracy:.4f} ({correct}/{len(dataset.y_test)}) after {seconds:.1f} s "
          f"({rate:,.0f} training images/s)")
    if args.save:
        model.save(args.save, dataset=args.dataset, architecture=args.model,
                   shape=f"{channels},{height},{width}",
                   classes=",".join(dataset.classes), normalize=normalize.to_json())
        print(f"model saved to {args.save}")
    if args.plot:
        _plot(history, args.plot)
        print(f"curves saved to {args.plot}")
    return 0


def _require_matplotlib():
    if importlib.util.find_spec("matplotlib") is None:
        raise CommandError("--plot needs matplotlib: pip install 'npconv[plot]' "
                           "(or pip install matplotlib)")


def _plot(history, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [record["epoch"] for record in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, [record["loss"] for record in history])
    left.set(xlabel="epoch", ylabel="training loss", yscale="log")
    right.plot(epochs, [record["train_accuracy"] for record in history], label="train")
    right.plot(epochs, [record["test_accuracy"] for record in history], label="test")
    right.set(xlabel="epoch", ylabel="accuracy")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


#: The largest image side and class count a saved model may declare.
MODEL_LIMITS = dict(side=4096, channels=64, classes=10000)


def _load_model(path):
    if not pathlib.Path(path).is_file():
        raise CommandError(f"{path}: no such model file")
    try:
        state, metadata = nn.module.read_npz(path)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    try:
        channels, height, width = (int(v) for v in metadata["shape"].split(","))
        classes = metadata["classes"].split(",")
        normalize = training.Normalizer.from_json(metadata["normalize"])
    except (KeyError, ValueError) as exc:
        raise CommandError(f"{path}: not a model saved by `npconv train` "
                           f"(missing or bad metadata: {exc})") from None
    if not (1 <= channels <= MODEL_LIMITS["channels"] and 4 <= height <= MODEL_LIMITS["side"]
            and 4 <= width <= MODEL_LIMITS["side"]):
        raise CommandError(f"{path}: bad metadata: image shape {channels}x{height}x{width} "
                           f"(channels 1..{MODEL_LIMITS['channels']}, sides "
                           f"4..{MODEL_LIMITS['side']})")
    if not 1 <= len(classes) <= MODEL_LIMITS["classes"] or "" in classes:
        raise CommandError(f"{path}: bad metadata: {len(classes)} class names {classes[:3]}...")
    if normalize.mean.shape != (channels,):
        raise CommandError(f"{path}: bad metadata: normalisation for {normalize.mean.size} "
                           f"channels, the images have {channels}")
    architecture = metadata.get("architecture", "small")
    if architecture not in training.ARCHITECTURES:
        raise CommandError(f"{path}: bad metadata: unknown architecture {architecture!r}")
    try:
        model = training.build_model(channels, height, width, len(classes),
                                     np.random.default_rng(0), architecture)
    except ValueError as exc:
        raise CommandError(f"{path}: {exc}") from None
    try:
        model.load_state_dict(state)
    except ValueError as exc:
        raise CommandError(f"{path}: {exc}") from None
    return model, normalize, (channels, height, width), classes, metadata


def _read_images(path, normalize, scale):
    """Images from a ``.npy`` file, in the training data's pixel range (see ``--scale``)."""
    images = _load_npy(path, "images")
    if images.dtype.kind not in "biuf":
        raise CommandError(f"{path}: images must hold real numbers, got dtype {images.dtype}")
    if images.ndim == 3:
        images = images[:, None]
    if images.size and not np.isfinite(images).all():
        raise CommandError(f"{path}: images must be finite, found NaN or infinity")
    brightest = float(images.max(initial=0))
    if scale == "auto":
        scale = "unit" if brightest <= 1 < normalize.max_value else "raw"
        if scale == "unit":
            print(f"--scale auto: no pixel of {path} exceeds 1 (max {brightest:g}), so the "
                  f"images are read as scaled to [0, 1] and multiplied by {normalize.max_value:g}, "
                  f"the training data's range; use --scale raw to read them as they are")
    if scale == "unit":
        images = images * normalize.max_value
    return images


def _predict(args):
    model, normalize, shape, classes, metadata = _load_model(args.model)
    if args.images:
        images = _read_images(args.images, normalize, args.scale)
        labels = None if args.labels is None else _load_npy(args.labels, "labels")
        source = args.images
    else:
        dataset = _load(args.dataset or metadata.get("dataset", "digits"), args.data)
        images, labels, source = dataset.x_test, dataset.y_test, "the test split"
    if images.ndim != 4 or images.shape[1:] != shape:
        raise CommandError(f"the model expects images of shape {shape}, "
                           f"got {images.shape[1:]} from {source}")
    predictions = training.predict(model, images, normalize)
    if labels is None:
        print("predictions:", " ".join(classes[p] for p in predictions))
        return 0
    if labels.shape != (len(images),) or labels.dtype.kind not in "iu" \
            or labels.min(initial=0) < 0 or labels.max(initial=0) >= len(classes):
        raise CommandError(f"labels must be {len(images)} integers in [0, {len(classes)}), "
                           f"got shape {labels.shape} dtype {labels.dtype}")
    accuracy = float(np.mean(predictions == labels))
    print(f"accuracy {accuracy:.4f} ({int(np.sum(predictions == labels))}/{len(labels)}) "
          f"on {source}")
    _print_confusion(training.confusion_matrix(labels, predictions, len(classes)), classes)
    return 0


def _load_npy(path, what):
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CommandError(f"{path}: no such {what} file") from None
    except (OSError, ValueError) as exc:
        raise CommandError(f"{path}: not a .npy file ({exc})") from None


def _print_confusion(matrix, classes):
    names = [name[:6] for name in classes]
    width = max(6, len(str(matrix.max(initial=0))) + 1)
    print("confusion matrix (rows: true class, columns: predicted)")
    print(" " * 7 + "".join(f"{name:>{width}}" for name in names))
    for name, row in zip(names, matrix):
        print(f"{name:>6} " + "".join(f"{count:>{width}}" for count in row))


def _check(args):
    from . import checks

    results = checks.gradient_checks(args.seed)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(1)
        results += checks.torch_parity_checks(torch, args.seed)
    width = max(len(name) for name, *_ in results)
    print(f"{'check':<{width}}  {'method':<34} {'error':>9}  result")
    failed = 0
    for name, method, error, tolerance in results:
        ok = error <= tolerance
        failed += not ok
        print(f"{name:<{width}}  {method:<34} {error:9.1e}  {'pass' if ok else 'FAIL'}")
    if torch is None:
        print("PyTorch is not installed: parity checks skipped (pip install torch==2.13.0)")
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def _bench(args):
    _check_output_paths(json=args.json, plot=args.plot)
    if args.dask:
        try:
            for name in ("dask.array", "distributed"):
                importlib.import_module(name)
        except ImportError:
            raise CommandError("--dask needs dask and distributed: pip install 'npconv[dask]'") \
                from None
    return bench.run_command(args)


def main(argv=None):
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed)
        return exc.code if isinstance(exc.code, int) else 2
    commands = {"train": _train, "predict": _predict, "check": _check, "bench": _bench}
    try:
        return commands[args.command](args)
    except (CommandError, data.DataError) as exc:
        print(f"npconv: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
