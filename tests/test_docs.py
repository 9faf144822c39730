"""The examples in the docstrings and the README run and print what they show."""

import doctest
import pathlib
import re
import subprocess
import sys

import pytest

import npconv
from npconv import _args, adaptive, config, conv, conv_transpose, folding, pool, unpool

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("module", [npconv, _args, adaptive, config, conv, conv_transpose,
                                    folding, pool, unpool], ids=lambda m: m.__name__)
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


README_EXAMPLES = re.findall(r"```python\n(.*?)```\n\nprints\n\n```\n(.*?)```",
                             README.read_text(), re.S)


def test_readme_has_its_examples():
    assert len(README_EXAMPLES) >= 2


@pytest.mark.parametrize("code,shown", README_EXAMPLES, ids=lambda text: text[:30])
def test_readme_example_prints_what_the_readme_shows(code, shown):
    code = "import numpy as np\nimport npconv\n" + code
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout == shown


def test_readme_fold_example():
    text = README.read_text()
    example = re.search(r"```python\n(>>> .*?)```", text, re.S).group(1)
    parser = doctest.DocTestParser()
    test = parser.get_doctest(example, {"np": __import__("numpy"), "npconv": npconv}, "README", None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0 and runner.tries == 2
