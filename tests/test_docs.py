"""The examples in the docstrings, the README and the guides run and print what they show."""

import doctest
import inspect
import pathlib
import re
import subprocess
import sys

import pytest

import npconv
from npconv import config
from npconv.ops import adaptive, arguments, conv, conv_transpose, fold, pool, unpool

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: The README and the documentation's guides: their code blocks run as printed.
PAGES = [README] + sorted((ROOT / "docs" / "guides").glob("*.md"))


@pytest.mark.parametrize("module", [npconv, arguments, adaptive, config, conv, conv_transpose,
                                    fold, pool, unpool], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    failures, _ = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0


def test_public_function_examples():
    """The generated public functions live in their module's namespace under another name."""
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(
        optionflags=doctest.NORMALIZE_WHITESPACE)
    tried = 0
    for name in npconv.__all__:
        for test in finder.find(getattr(npconv, name), name, globs={}):
            runner.run(test)
            tried += len(test.examples)
    assert runner.failures == 0 and tried > 20


README_TEXT = "\n".join(page.read_text() for page in PAGES)
README_BLOCKS = re.findall(r"```python\n(.*?)```", README_TEXT, re.S)
README_EXAMPLES = re.findall(r"```python\n(.*?)```\n\nprints\n\n```\n(.*?)```", README_TEXT, re.S)


def test_readme_has_its_examples():
    assert len(README_EXAMPLES) >= 2 and len(README_BLOCKS) >= 5


@pytest.mark.parametrize("code", [b for b in README_BLOCKS if not b.startswith(">>>")],
                         ids=lambda text: text[:30])
def test_every_readme_block_runs_alone_as_printed(code):
    """Each block in a fresh interpreter, imports and all, with nothing added."""
    if "npconv.dask" in code:
        pytest.importorskip("dask.array", reason="dask is not installed (pip install 'npconv[dask]')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    shown = dict(README_EXAMPLES).get(code)
    if shown is not None:
        assert run.stdout == shown


@pytest.mark.parametrize("example", [b for b in README_BLOCKS if b.startswith(">>>")],
                         ids=lambda text: text[:30])
def test_readme_doctest_blocks_run_alone(example):
    test = doctest.DocTestParser().get_doctest(example, {}, "README", None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0 and runner.tries >= 3


def test_every_layer_loss_optimiser_schedule_initialiser_and_model_has_an_example_that_runs():
    from npconv import nn
    from npconv.nn import init, lr_scheduler, models

    objects = [(n, getattr(nn, n)) for n in nn.__all__ if not inspect.ismodule(getattr(nn, n))]
    objects += [(n, getattr(init, n)) for n in init.__all__]
    objects += [(n, getattr(lr_scheduler, n)) for n in lr_scheduler.__all__]
    objects += [(n, getattr(models, n)) for n in models.__all__ if callable(getattr(models, n))]
    without = [name for name, obj in objects if ">>>" not in (obj.__doc__ or "")]
    assert not without, without
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(
        optionflags=doctest.NORMALIZE_WHITESPACE)
    for name, obj in objects:
        for test in finder.find(obj, name, globs={}, module=False):
            runner.run(test)
    assert runner.failures == 0 and runner.tries > 300


def test_every_public_operator_has_an_example():
    assert [n for n in npconv.__all__ if ">>>" not in (getattr(npconv, n).__doc__ or "")] == []
