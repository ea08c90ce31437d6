"""Sphinx configuration: the API reference from the numpydoc docstrings, the Markdown pages of docs/.

Build: ``bash scripts/docs.sh`` (HTML in docs/_build/html; warnings are errors)."""

from importlib.metadata import version as _version

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
