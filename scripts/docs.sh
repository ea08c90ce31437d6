#!/usr/bin/env bash
# Build the documentation site (Sphinx: API reference from the numpydoc docstrings, the Markdown pages of
# docs/, the examples of examples/ executed into a gallery in their quick mode by sphinx-gallery, their
# output in docs/_build) into docs/_build/html, warnings as errors, without network access. -P: the
# installed package is documented, not the uncompiled source tree. Extra arguments go to Sphinx.
source "$(dirname "$0")/env.sh" "docs,jax"  # jax: the flossing modules of the API reference
rm -rf "$ROOT/docs/generated" "$ROOT/docs/auto_examples" "$ROOT/docs/sg_execution_times.rst"
# one BLAS thread: the examples' small matrix products slow down 10-20x when BLAS threads compete for
# the cores of a loaded machine (measured: the rate-network example's quick mode, 128 s against 7 s)
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
exec "$PYTHON" -P -m sphinx -b html -W --keep-going -q "$ROOT/docs" "$ROOT/docs/_build/html" "$@"
