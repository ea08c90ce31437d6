"""Sphinx-gallery hooks of the documentation build (named in ``sphinx_gallery_conf`` in conf.py).

The examples are command-line tools: the gallery runs each in its quick mode with its output directory
in the build tree (never in docs/ or examples/), and shows the PNG figures it saved there (they build
their figures without pyplot, so the default matplotlib scraper would find none).
"""

import shutil
from pathlib import Path

from sphinx_gallery.scrapers import figure_rst

#: where the examples write: one directory per example, emptied before it runs
OUTPUT = Path(__file__).resolve().parent / "_build" / "gallery_output"
#: the examples whose figures go to another option than ``--out``
FIGURE_OPTION = {"balanced_chaos_suppression": "--figures"}


def _output(src_file):
    return OUTPUT / Path(src_file).stem


def quick_argv(gallery_conf, script_vars):
    """``sys.argv[1:]`` of an example: ``--quick`` and its output directory (emptied first)."""
    name = Path(script_vars["src_file"]).stem
    out = _output(script_vars["src_file"])
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    argv = ["--quick", "--out", str(out)]
    if name in FIGURE_OPTION:
        argv += [FIGURE_OPTION[name], str(out)]
    return argv


def reset_brian2(gallery_conf, fname):
    """Brian2's preferences and device back to their defaults, so that what an example sets (a codegen
    target, ``set_device``) does not carry over to the next one run in the same process."""
    from brian2 import prefs, set_device

    prefs.reset_to_defaults()
    set_device("runtime")


def saved_figures(block, block_vars, gallery_conf):
    """Image scraper: the PNG files the example saved into its output directory, each shown once."""
    out = _output(block_vars["src_file"])
    shown = block_vars.setdefault("saved_figures_shown", set())
    paths = []
    for png in sorted(out.rglob("*.png")):
        if png not in shown:
            shown.add(png)
            target = Path(next(block_vars["image_path_iterator"]))
            shutil.copyfile(png, target)
            paths.append(str(target))
    return figure_rst(paths, gallery_conf["src_dir"])
