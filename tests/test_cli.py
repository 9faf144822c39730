"""The npconv command end to end: train, predict, check, bench, and its errors."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from npconv import data
from npconv.bench import product_time
from npconv.cli import main
from test_data import write_mnist


def test_train_save_and_predict(tmp_path, capsys):
    model = tmp_path / "model.npz"
    assert main(["train", "--epochs", "2", "--seed", "3", "--save", str(model)]) == 0
    first = capsys.readouterr().out
    assert "epoch 2/2" in first and "img/s" in first and "test accuracy" in first
    accuracy = float(first.split("test accuracy ")[1].split()[0])
    assert accuracy > 0.85
    # The same seed gives the same numbers.
    assert main(["train", "--epochs", "2", "--seed", "3"]) == 0
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
    assert main(["train", "--epochs", "1", "--save", str(model)]) == 0
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
    assert main(["train", "--epochs", "1", "--plot", str(tmp_path / "c.png")]) == 2
    assert "--plot needs matplotlib: pip install 'npconv[plot]'" in capsys.readouterr().err
