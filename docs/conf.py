"""Sphinx configuration: the API reference from the numpydoc docstrings, the Markdown pages of docs/, and
the examples of examples/ executed into a gallery (sphinx-gallery, each in its quick mode).

Build: ``bash scripts/docs.sh`` (HTML in docs/_build/html; warnings are errors)."""

import sys
from importlib.metadata import version as _version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the gallery hooks, docs/_gallery.py

project = "brian2_sparseprop"
author = "The brian2_sparseprop developers"
copyright = "2026, " + author
release = _version("brian2_sparseprop")

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "README.md"]
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
myst_heading_anchors = 3
html_theme = "alabaster"
# no network access while building: intersphinx inventories are not fetched
intersphinx_mapping = {}
suppress_warnings = ["myst.header"]

# The gallery: every example runs once per build, in its quick mode, its output in docs/_build (the
# hooks are named by string, so that Sphinx can cache the configuration).
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"\.py$",  # run every example, not only plot_*.py
    "reset_argv": "_gallery.quick_argv",
    "image_scrapers": ("_gallery.saved_figures",),
    "reset_modules": ("matplotlib", "_gallery.reset_brian2"),
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_signature": False,
    "write_computation_times": False,  # its page loads scripts from the network
    "plot_gallery": "True",
}
