"""The npconv command end to end: train, predict, check, bench, and its errors."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from npconv import data
from npconv.cli.bench import product_time
from npconv.cli import main, training
from test_data import write_mnist


def test_train_save_and_predict(tmp_path, capsys):
    model = tmp_path / "model.npz"
    assert main(["train", "--dataset", "digits", "--epochs", "2", "--seed", "3", "--save",
                 str(model)]) == 0
    first = capsys.readouterr().out
    assert "epoch 2/2" in first and "img/s" in first and "test accuracy" in first
    accuracy = float(first.split("test accuracy ")[1].split()[0])
    assert accuracy > 0.85
    # The same seed gives the same numbers.
    assert main(["train", "--dataset", "digits", "--epochs", "2", "--seed", "3"]) == 0
    second = capsys.readouterr().out
    assert [line.split(" img/s")[0].rsplit(" ", 1)[0] for line in first.splitlines()[1:3]] == \
           [line.split(" img/s")[0].rsplit(" ", 1)[0] for line in second.splitlines()[1:3]]
    assert main(["predict", "--model", str(model)]) == 0
    out = capsys.readouterr().out
    assert f"accuracy {accuracy:.4f}" in out and "confusion matrix" in out
    digits = data.load_digits()
    np.save(tmp_path / "images.npy", digits.x_test[:5, 0])
    np.save(tmp_path / "labels.npy", digits.y_test[:5])
    assert main(["predict", "--model", str(model), "--images", str(tmp_path / "images.npy")]) == 0
    assert capsys.readouterr().out.startswith("predictions: ")
    assert main(["predict", "--model", str(model), "--images", str(tmp_path / "images.npy"),
                 "--labels", str(tmp_path / "labels.npy")]) == 0
    assert "on " + str(tmp_path / "images.npy") in capsys.readouterr().out


def test_train_on_an_idx_folder(tmp_path, capsys):
    write_mnist(tmp_path, compress=True, train=40, test=10)
    assert main(["train", "--dataset", "mnist", "--data", str(tmp_path), "--epochs", "1",
                 "--batch-size", "16"]) == 0
    assert "40 train / 10 test images of 1x28x28" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["train", "--dataset", "mnist", "--data", "/no/such/folder"], "no such folder"),
    (["train", "--dataset", "cifar10"], "needs a data folder"),
    (["train", "--data", "."], "--data needs --dataset"),
    (["predict", "--model", "/no/model.npz"], "no such model file"),
])
def test_user_errors_exit_2_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_corrupt_or_mismatched_model(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    assert main(["predict", "--model", str(bad)]) == 2
    assert "not a model file" in capsys.readouterr().err
    model = tmp_path / "model.npz"
    assert main(["train", "--dataset", "digits", "--epochs", "1", "--save", str(model)]) == 0
    capsys.readouterr()
    np.save(tmp_path / "big.npy", np.zeros((2, 1, 28, 28), np.uint8))
    assert main(["predict", "--model", str(model), "--images", str(tmp_path / "big.npy")]) == 2
    assert "the model expects images of shape (1, 8, 8), got (1, 28, 28)" in capsys.readouterr().err
    arrays = dict(np.load(model))
    arrays["0.weight"] = arrays["0.weight"][:8]
    np.savez(tmp_path / "cut.npz", **arrays)
    assert main(["predict", "--model", str(tmp_path / "cut.npz")]) == 2
    assert "`0.weight` must have shape (16, 1, 3, 3), got (8, 1, 3, 3)" in capsys.readouterr().err


def test_bad_arguments_exit_2():
    run = subprocess.run([sys.executable, "-m", "npconv", "train", "--epochs", "0"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "must be a positive integer" in run.stderr


def test_bench_dask_without_dask_says_what_to_install(tmp_path):
    (tmp_path / "dask").mkdir()
    (tmp_path / "dask" / "__init__.py").write_text("raise ModuleNotFoundError('no dask here')\n")
    run = subprocess.run([sys.executable, "-m", "npconv", "bench", "--dask"], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert run.returncode == 2 and run.stderr.strip() == (
        "npconv: error: --dask needs dask and distributed: pip install 'npconv[dask]'")


def test_check_passes(capsys):
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "0 failed" in out and "finite differences" in out


def test_bench_runs_a_case(tmp_path, capsys):
    assert main(["bench", "--only", "max pool 2x2", "--repeat", "1", "--no-torch",
                 "--json", str(tmp_path / "bench.json")]) == 0
    out = capsys.readouterr().out
    assert "max pool 2x2/2" in out and (tmp_path / "bench.json").stat().st_size > 0


def test_bench_times_the_products_of_a_convolution(tmp_path, capsys):
    report = tmp_path / "bench.json"
    assert main(["bench", "--only", "LeNet", "--repeat", "1", "--no-torch", "--no-textbook",
                 "--json", str(report)]) == 0
    (record,) = json.loads(report.read_text())
    assert record["products_s"] > 0 and "products_ratio_to_torch" not in record


def test_product_time_counts_matrix_products_only():
    a = np.ones((32, 32), np.float32)
    real = np.matmul

    def products_and_a_pause():
        np.matmul(a, a)
        time.sleep(0.05)
    assert 0 < product_time(products_and_a_pause, 2) < 0.05
    assert product_time(lambda: time.sleep(0.001), 2) == 0.0
    assert np.matmul is real

    calls = []

    def fails_when_timed():
        calls.append(np.matmul(a, a))
        if len(calls) > 1:
            raise RuntimeError("second call")
    with pytest.raises(RuntimeError, match="second call"):
        product_time(fails_when_timed, 1)
    assert np.matmul is real


def test_plot_needs_matplotlib(tmp_path, capsys, monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    assert main(["train", "--dataset", "digits", "--epochs", "1", "--plot",
                 str(tmp_path / "c.png")]) == 2
    assert "--plot needs matplotlib: pip install 'npconv[plot]'" in capsys.readouterr().err


# --- hostile input: one line on stderr, exit code 2, never a traceback ---------------------

@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.npz"
    assert main(["train", "--dataset", "digits", "--epochs", "1", "--save", str(path)]) == 0
    return path


def one_line_error(argv, capsys):
    """Run the command; its stderr must be one line, its exit code 2."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_truncated_empty_and_bit_flipped_model_files(saved_model, tmp_path, capsys):
    content = saved_model.read_bytes()
    variants = {"empty": b"", "truncated": content[: len(content) // 2]}
    rng = np.random.default_rng(0)
    for index in range(12):
        flipped = bytearray(content)
        for where in rng.integers(0, len(content), 3):
            flipped[where] ^= 1 << int(rng.integers(8))
        variants[f"flipped{index}"] = bytes(flipped)
    for name, payload in variants.items():
        path = tmp_path / f"{name}.npz"
        path.write_bytes(payload)
        code = main(["predict", "--model", str(path)])
        err = capsys.readouterr().err
        assert code in (0, 2) and "Traceback" not in err, (name, err)  # a flip may miss every check
        assert code == 0 or len(err.strip().splitlines()) == 1, (name, err)
        if name in ("empty", "truncated"):
            assert code == 2 and "not a model file" in err


@pytest.mark.parametrize("key,value,message", [
    ("meta:shape", "100000,100000,100000", "bad metadata: image shape"),
    ("meta:shape", "0,0,0", "bad metadata: image shape"),
    ("meta:shape", "1,8", "missing or bad metadata"),
    ("meta:classes", "", "bad metadata"),
    ("meta:normalize", "[1, 2]", "bad metadata"),
    ("meta:normalize", '{"max_value": 0, "mean": [0], "std": [1]}', "positive max_value"),
    ("0.weight", np.zeros((16, 1, 3, 3), np.complex64), "must hold real numbers"),
    ("0.weight", np.full((16, 1, 3, 3), "a"), "must hold real numbers"),
])
def test_crafted_model_files(saved_model, tmp_path, capsys, key, value, message):
    arrays = dict(np.load(saved_model))
    arrays[key] = np.asarray(value)
    np.savez(tmp_path / "crafted.npz", **arrays)
    assert message in one_line_error(["predict", "--model", str(tmp_path / "crafted.npz")], capsys)


@pytest.mark.parametrize("argv,message", [
    (["train", "--seed", "-1"], "--seed: must be an integer >= 0, got -1"),
    (["train", "--lr", "inf"], "--lr: must be a finite positive number, got inf"),
    (["train", "--lr", "nan"], "--lr: must be a finite positive number, got nan"),
    (["train", "--epochs", "x"], "--epochs: must be a positive integer, got 'x'"),
    (["bench", "--repeat", "0"], "--repeat: must be a positive integer, got 0"),
    (["train", "--save", "/no/such/folder/model.npz"], "--save /no/such/folder/model.npz: no such folder"),
    (["train", "--save", "."], "is a folder, not a file"),
    (["bench", "--only", "LeNet", "--json", "/no/such/folder/b.json"], "--json /no/such/folder/b.json"),
])
def test_bad_options_are_refused_before_any_work(argv, message, capsys):
    start = time.perf_counter()
    assert message in one_line_error(argv, capsys)
    assert time.perf_counter() - start < 5  # before training or timing anything


@pytest.mark.parametrize("images,message", [
    (np.zeros((2, 8, 8), np.complex64), "images must hold real numbers, got dtype complex64"),
    (np.full((2, 8, 8), "a"), "images must hold real numbers"),
    (np.full((2, 8, 8), np.nan), "images must be finite"),
])
def test_images_that_are_not_real_pixels(saved_model, tmp_path, capsys, images, message):
    np.save(tmp_path / "images.npy", images)
    argv = ["predict", "--model", str(saved_model), "--images", str(tmp_path / "images.npy")]
    assert message in one_line_error(argv, capsys)


def test_labels_out_of_range(saved_model, tmp_path, capsys):
    np.save(tmp_path / "images.npy", np.zeros((2, 8, 8)))
    np.save(tmp_path / "labels.npy", np.array([0, 11]))
    argv = ["predict", "--model", str(saved_model), "--images", str(tmp_path / "images.npy"),
            "--labels", str(tmp_path / "labels.npy")]
    assert "labels must be 2 integers in [0, 10)" in one_line_error(argv, capsys)


@pytest.mark.parametrize("change,message", [
    (lambda arrays: arrays["train"][1].__setitem__(0, 12), "train label 12 is not a class index in [0, 10)"),
    (lambda arrays: arrays.update(train=(arrays["train"][0][:0], arrays["train"][1][:0])),
     "the train split has no images"),
])
def test_data_sets_with_bad_labels_or_no_images(tmp_path, capsys, change, message):
    from test_data import write_idx
    arrays = write_mnist(tmp_path, train=6, test=4)
    change(arrays)
    for split, (images, labels) in arrays.items():
        write_idx(tmp_path / f"{split}-images-idx3-ubyte", images, False)
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte", labels, False)
    argv = ["train", "--dataset", "mnist", "--data", str(tmp_path), "--epochs", "1"]
    assert message in one_line_error(argv, capsys)


def test_predict_reads_images_scaled_to_unit_range_and_says_so(saved_model, tmp_path, capsys):
    digits = data.load_digits()
    raw = digits.x_test[:40, 0]
    np.save(tmp_path / "raw.npy", raw)
    np.save(tmp_path / "unit.npy", raw / 16.0)
    assert main(["predict", "--model", str(saved_model), "--images", str(tmp_path / "raw.npy")]) == 0
    from_raw = capsys.readouterr().out
    assert main(["predict", "--model", str(saved_model), "--images", str(tmp_path / "unit.npy")]) == 0
    from_unit = capsys.readouterr().out
    assert "--scale auto: no pixel" in from_unit and "multiplied by 16" in from_unit
    assert from_unit.splitlines()[-1] == from_raw.splitlines()[-1]  # the same predictions
    assert main(["predict", "--model", str(saved_model), "--images", str(tmp_path / "unit.npy"),
                 "--scale", "raw"]) == 0
    assert "--scale auto" not in capsys.readouterr().out


def test_bench_reports_the_blas_threads_it_runs_with(capsys):
    from npconv.cli.bench import blas_threads
    found = blas_threads()
    assert main(["bench", "--only", "LeNet", "--repeat", "1", "--no-torch", "--no-textbook"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    if found is None:
        assert "BLAS threads unknown" in header
    else:
        assert f"{found[1]} BLAS threads ({found[0]})" in header and found[1] >= 1


def test_the_default_trains_lenet_on_the_embedded_mnist_subset(capsys):
    assert main(["train", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "mnist5k, 4000 train / 1000 test images of 1x28x28" in out and "model lenet" in out
    assert float(out.split("test accuracy ")[1].split()[0]) > 0.85


class _Stop(Exception):
    pass


@pytest.mark.parametrize("schedule", ["onecycle", "constant"])
def test_a_run_resumes_from_its_checkpoint_to_the_same_numbers(tmp_path, schedule):
    arguments = ["--dataset", "digits", "--epochs", "3", "--seed", "5", "--schedule", schedule]
    whole = tmp_path / "whole.npz"
    assert main(["train", *arguments, "--save", str(whole)]) == 0
    checkpoint = tmp_path / "run.npz"
    dataset = data.load_digits()

    def stop_after_two(line):
        if line.startswith("epoch 2/3"):
            raise _Stop
    with pytest.raises(_Stop):
        training.train(dataset, 3, 32, 4e-3, 5, report=stop_after_two, schedule=schedule,
                       checkpoint=str(checkpoint))
    resumed = tmp_path / "resumed.npz"
    assert main(["train", *arguments, "--resume", str(checkpoint), "--save", str(resumed)]) == 0
    first, second = np.load(whole), np.load(resumed)
    for key in first.files:
        if not key.startswith("meta:"):
            np.testing.assert_array_equal(first[key], second[key], err_msg=key)


def test_resuming_another_run_is_refused(tmp_path, capsys):
    checkpoint = tmp_path / "run.npz"
    assert main(["train", "--dataset", "digits", "--epochs", "1", "--checkpoint",
                 str(checkpoint)]) == 0
    message = one_line_error(["train", "--dataset", "digits", "--epochs", "2", "--lr", "0.01",
                              "--resume", str(checkpoint)], capsys)
    assert "the checkpoint is of another run: epochs 1 there, 2 here, lr 0.004 there, 0.01 here" \
        in message  # a one-cycle schedule is planned for its epochs
    message = one_line_error(["train", "--dataset", "digits", "--epochs", "1", "--resume",
                              str(tmp_path / "none.npz")], capsys)
    assert "no such checkpoint" in message
    assert "too small" in one_line_error(["train", "--dataset", "digits", "--model", "lenet",
                                          "--epochs", "1"], capsys)
