#!/usr/bin/env bash
# Build the documentation site (Sphinx: API reference from the numpydoc docstrings, the Markdown pages of
# docs/) into docs/_build/html, warnings as errors, without network access. -P: the installed package is
# documented, not the uncompiled source tree. Extra arguments go to Sphinx.
source "$(dirname "$0")/env.sh" "docs"
rm -rf "$ROOT/docs/generated"
exec "$PYTHON" -P -m sphinx -b html -W --keep-going -q "$ROOT/docs" "$ROOT/docs/_build/html" "$@"
