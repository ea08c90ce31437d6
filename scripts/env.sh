# Sourced by the quick-start scripts: find a Python >= 3.12 (Brian2 2.10+ needs it), make .venv,
# install the package with the given extras. Usage: source scripts/env.sh "test,jax"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

find_python() {
    local candidates=()
    for v in 3.13 3.12; do candidates+=("python$v"); done
    if command -v pyenv >/dev/null 2>&1; then
        candidates+=("$(pyenv root)"/versions/3.13*/bin/python3 "$(pyenv root)"/versions/3.12*/bin/python3)
    fi
    candidates+=(python3)
    for py in "${candidates[@]}"; do
        if "$py" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
            echo "$py"; return 0
        fi
    done
    echo "no Python >= 3.12 found (Brian2 2.10+ needs it); install one or put it on PATH" >&2
    return 1
}

if [ ! -x .venv/bin/python ]; then
    PY="$(find_python)"
    echo "creating .venv with $PY ($("$PY" --version))"
    "$PY" -m venv .venv
fi
PYTHON="$ROOT/.venv/bin/python"
"$PYTHON" -m pip install -q --upgrade pip
if [ -n "${1:-}" ]; then "$PYTHON" -m pip install -q ".[$1]"; else "$PYTHON" -m pip install -q .; fi
