"""Sphinx configuration of npconv's documentation: ``python -m sphinx -W -b html docs docs/_build/html``.

The API reference is written here from the packages' public names (one
page per name, by autosummary), so that a new public name gets its page
without anyone editing a list; ``tests/test_docs_site.py`` checks that
every one of them has a page.
"""

from __future__ import annotations

import inspect
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import npconv  # noqa: E402
import npconv.dask  # noqa: E402
from npconv import nn  # noqa: E402
from npconv.nn import init, lr_scheduler, models  # noqa: E402

project = "npconv"
author = "the npconv developers"
copyright = "2026, the npconv developers"
release = version = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
myst_heading_anchors = 3
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
autodoc_default_options = {"members": False}
html_theme = "pydata_sphinx_theme"
html_title = "npconv"
html_theme_options = {"navigation_with_keys": False, "secondary_sidebar_items": ["page-toc"]}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5"]
sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}


# --- the API reference, from the public names ---------------------------------------------

#: npconv's operator modules (where a public function is defined) and their section titles.
OPERATOR_SECTIONS = {
    "conv": "Convolution",
    "conv_transpose": "Transposed convolution",
    "fold": "Unfold and fold",
    "pool": "Max, average and power-average pooling",
    "fractional": "Fractional max pooling",
    "adaptive": "Adaptive pooling",
    "unpool": "Unpooling",
    "pad": "Padding",
    "interpolate": "Resampling",
    "shuffle": "Pixel and channel shuffles",
    "normalization": "Normalisation",
    "activations": "Activations",
    "sizes": "Sizes",
    "config": "Settings",
    "scratch": "Settings",
}


def _defining_module(obj):
    """The file stem of the module that defines ``obj`` (through any decorator's ``__wrapped__``)."""
    obj = inspect.unwrap(obj)
    try:
        return pathlib.Path(inspect.getsourcefile(obj)).stem
    except TypeError:
        return "config"


def _section(title, module, names, underline="-"):
    lines = [title, underline * len(title), "", f".. currentmodule:: {module}", "",
             ".. autosummary::", "   :toctree: generated", ""]
    lines += [f"   {name}" for name in names]
    return "\n".join(lines) + "\n\n"


def api_pages():
    """``{file name: reStructuredText}`` of the API reference, one section per module."""
    sections = {}
    for name in npconv.__all__:
        title = OPERATOR_SECTIONS[_defining_module(getattr(npconv, name))]
        sections.setdefault(title, []).append(name)
    operators = "".join(_section(title, "npconv", names) for title, names in sections.items())
    layers = {}
    for name in nn.__all__:
        if inspect.ismodule(getattr(nn, name)):  # lr_scheduler, init, models: sections below
            continue
        module = getattr(nn, name).__module__.rsplit(".", 1)[-1]
        layers.setdefault(module, []).append(name)
    layer_titles = {"containers": "Containers", "module": "Modules and parameters",
                    "layers": "Convolution and linear layers", "activations": "Activations",
                    "pooling": "Pooling", "normalization": "Normalisation",
                    "shape": "Shape, padding and resampling layers", "losses": "Losses",
                    "optim": "Optimisers", "init": "Initialisation"}
    nn_text = "".join(_section(layer_titles.get(module, module.title()), "npconv.nn", names)
                      for module, names in layers.items())
    nn_text += _section("Learning-rate schedules", "npconv.nn.lr_scheduler", lr_scheduler.__all__)
    nn_text += _section("Initialisers", "npconv.nn.init", init.__all__)
    nn_text += _section("Model zoo", "npconv.nn.models",
                        [n for n in models.__all__ if callable(getattr(models, n))])
    return {
        "operators.rst": ("Operators\n=========\n\n``import npconv``: torch.nn.functional's "
                          "operators and their backward passes.\n\n" + operators),
        "nn.rst": ("Layers, losses and optimisers\n=============================\n\n"
                   "``from npconv import nn``: torch.nn's module system over the operators.\n\n"
                   + nn_text),
        "dask.rst": ("Operators on Dask arrays\n========================\n\n"
                     ".. automodule:: npconv.dask\n   :no-members:\n\n"
                     + _section("Functions", "npconv.dask",
                                [n for n in npconv.dask.__all__ if n != "SPLIT_EVERY"])),
        "testing.rst": ("Testing helpers\n===============\n\n"
                        + _section("Gradient checks and torch twins", "npconv.testing",
                                   ["directional_derivatives", "torch_twin"])),
    }


def _write_api_pages():
    folder = HERE / "api"
    folder.mkdir(exist_ok=True)
    for file_name, text in api_pages().items():
        path = folder / file_name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


_write_api_pages()


# --- each operator's page names its backward pass, and each backward pass its forward -------

def _counterpart(name):
    """``(other name, what it is)`` for an operator with a backward pass, or for a backward pass."""
    public = set(npconv.__all__)
    if name.endswith("_backward") and name[: -len("_backward")] in public:
        return name[: -len("_backward")], "the forward pass"
    if f"{name}_backward" in public:
        return f"{name}_backward", "its backward pass"
    return None


def _see_also(app, what, name, obj, options, lines):
    module, _, short = name.rpartition(".")
    if module not in ("npconv", "npconv.dask") or _counterpart(short) is None:
        return
    other, role = _counterpart(short)
    lines += ["", f".. seealso:: :func:`{module}.{other}`, {role}."]


def setup(app):
    app.connect("autodoc-process-docstring", _see_also, priority=900)
