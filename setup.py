"""Build the Cython engine in cython_src/ into private modules of brian2_sparseprop.spiking.

Compiler directives are set here once. ``SPARSEPROP_DEBUG=1`` at build time turns bounds checks and
wraparound back on for a debug test run.

Every module is compiled under its full name (``brian2_sparseprop.spiking._engine``), and the modules
cimport each other relatively (``from ._heap cimport Heap``), so a cimported extension type or C function
is looked up at run time in the installed package. Cython finds a module's ``.pxd`` by that full name, so
the build puts a link ``build/cython_include/brian2_sparseprop/spiking -> cython_src`` on its include path.
"""

import os
import sysconfig
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("SPARSEPROP_DEBUG", "0") == "1"

# GCC's inliner gives up on the event loop's kick (one function inlined into several hot callers) once the
# models' kernels have used its default budget; these limits keep the hot path inlined (callgrind, S1 at
# N = 1e4: Engine.loop 421.8 M instructions with the defaults, 399.9 M with these). Other compilers: defaults.
INLINE_LIMITS = ["--param=max-inline-insns-single=4000", "--param=inline-unit-growth=300"]
CC = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "").split()
GCC = bool(CC) and "gcc" in os.path.basename(CC[0])

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": False,
}

ROOT = Path(__file__).resolve().parent
PACKAGE_VIEW = ROOT / "build" / "cython_include" / "brian2_sparseprop" / "spiking"
if not PACKAGE_VIEW.is_symlink():
    PACKAGE_VIEW.parent.mkdir(parents=True, exist_ok=True)
    PACKAGE_VIEW.symlink_to(os.path.relpath(ROOT / "cython_src", PACKAGE_VIEW.parent), target_is_directory=True)

extensions = [
    Extension(
        f"brian2_sparseprop.spiking.{pyx.stem}",
        [str(pyx)],
        include_dirs=[np.get_include(), "cython_src"],
        # numpy's C distributions (the engine draws exponential intervals with numpy's ziggurat)
        library_dirs=[os.path.join(os.path.dirname(np.__file__), "random", "lib")],
        libraries=["npyrandom"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=["-O3"] + (INLINE_LIMITS if GCC else []) + ([] if DEBUG else ["-DNDEBUG"]),
        extra_link_args=["-lm"],
    )
    for pyx in sorted(Path("cython_src").glob("*.pyx"))
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives, include_path=[str(PACKAGE_VIEW.parent.parent)]))
