#!/usr/bin/env bash
# Set up a venv, install the package with test extras, run the default test suite. Extra arguments go to
# pytest (e.g. `-m slow` for the long tests). SPARSEPROP_PYTHON=3.12 runs it on that Python in .venv-3.12
# (see scripts/env.sh); unset, on the newest Python >= 3.12 found, in .venv.
source "$(dirname "$0")/env.sh" "test,jax,nest"
"$PYTHON" -c 'import platform, sys
from importlib.metadata import version
names = ("brian2", "numpy", "scipy", "sympy", "pyparsing", "neo", "elephant", "quantities", "matplotlib", "jax")
names += ("nest-simulator",) if sys.version_info[:2] == (3, 12) else ()
print(f"Python {platform.python_version()}", *(f"{n} {version(n)}" for n in names), sep=", ")'
# one worker process per core (pytest-xdist); arguments after these win, e.g. `-n 0` for one process
cd "$ROOT/tests" && exec "$PYTHON" -m pytest -c "$ROOT/pyproject.toml" --rootdir "$ROOT" -n auto --dist worksteal "$@"
