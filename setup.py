"""Build the Cython engine in cython_src/ into private modules of brian2_sparseprop.

Compiler directives are set here once. ``SPARSEPROP_DEBUG=1`` at build time turns bounds checks and
wraparound back on for a debug test run.
"""

import os
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("SPARSEPROP_DEBUG", "0") == "1"

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": False,
}

extensions = [
    Extension(
        f"brian2_sparseprop.spiking.{pyx.stem}",
        [str(pyx)],
        include_dirs=[np.get_include(), "cython_src"],
        # numpy's C distributions (the engine draws exponential intervals with numpy's ziggurat)
        library_dirs=[os.path.join(os.path.dirname(np.__file__), "random", "lib")],
        libraries=["npyrandom"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"] + ([] if DEBUG else ["-DNDEBUG"]),
        extra_link_args=["-lm"],
    )
    for pyx in sorted(Path("cython_src").glob("*.pyx"))
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives, include_path=["cython_src"]))
