#!/usr/bin/env bash
# Set up .venv (Python >= 3.12), install the package with test extras, run the default test suite.
# Extra arguments go to pytest (e.g. `-m slow` for the long tests).
source "$(dirname "$0")/env.sh" "test,jax"
cd "$ROOT/tests" && exec "$PYTHON" -m pytest -c "$ROOT/pyproject.toml" --rootdir "$ROOT" "$@"
