"""The documentation builds, with warnings as errors, a page for every public name and the gallery's figures."""

import inspect
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import npconv
from npconv import nn
from npconv.nn import init, lr_scheduler, models

ROOT = pathlib.Path(__file__).resolve().parents[1]


def public_names():
    """Every public name, as the page Sphinx writes for it (``module.name``)."""
    names = [f"npconv.{n}" for n in npconv.__all__]
    names += [f"npconv.nn.{n}" for n in nn.__all__ if not inspect.ismodule(getattr(nn, n))]
    names += [f"npconv.nn.lr_scheduler.{n}" for n in lr_scheduler.__all__]
    names += [f"npconv.nn.init.{n}" for n in init.__all__]
    names += [f"npconv.nn.models.{n}" for n in models.__all__ if callable(getattr(models, n))]
    dask_ops = pytest.importorskip("npconv.dask", reason="dask is not installed")
    names += [f"npconv.dask.{n}" for n in dask_ops.__all__ if n != "SPLIT_EVERY"]
    return names


def test_the_documentation_builds_with_every_page_and_figure(tmp_path):
    pytest.importorskip("sphinx", reason="sphinx is not installed (pip install '.[docs]')")
    for module in ("numpydoc", "pydata_sphinx_theme", "sphinx_gallery", "myst_parser",
                   "matplotlib", "dask"):
        pytest.importorskip(module, reason=f"{module} is not installed (pip install '.[docs]')")
    for folder in ("docs", "examples"):
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("_build", "auto_examples", "generated"))
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html",
                          str(tmp_path / "docs"), str(tmp_path / "html")],
                         capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    assert run.returncode == 0, run.stderr[-3000:]
    pages = {p.stem for p in (tmp_path / "html" / "api" / "generated").glob("*.html")}
    missing = [name for name in public_names() if name not in pages]
    assert not missing, missing
    for forward in ("conv2d", "max_pool3d", "gelu", "batch_norm"):  # each names its backward pass
        page = (tmp_path / "html" / "api" / "generated" / f"npconv.{forward}.html").read_text()
        assert f'href="npconv.{forward}_backward.html' in page
    examples = sorted(p.stem for p in (ROOT / "examples").glob("plot_*.py"))
    figures = {p.name for p in (tmp_path / "html" / "_images").glob("sphx_glr_plot_*_001.png")}
    assert len(examples) >= 8 and all(f"sphx_glr_{e}_001.png" in figures for e in examples)
