# Sourced by the quick-start scripts: find a Python >= 3.12 (Brian2 2.10+ needs it), make a venv, install
# the package with the given extras. Usage: source scripts/env.sh "test,jax"
# SPARSEPROP_PYTHON=3.12 (or 3.13, ...) asks for that Python version and its own venv, .venv-3.12; unset, the
# newest Python >= 3.12 found goes into .venv. Sets ROOT, VENV and PYTHON.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WANTED="${SPARSEPROP_PYTHON:-}"
if [ -n "$WANTED" ] && { [[ ! "$WANTED" =~ ^3\.[0-9]+$ ]] || [ "${WANTED#3.}" -lt 12 ]; }; then
    echo "SPARSEPROP_PYTHON must be a Python version >= 3.12 such as 3.12 or 3.13, found: '$WANTED'" >&2
    exit 2
fi

# succeeds if the interpreter runs and is the wanted version (any >= 3.12 when none is wanted); a pyenv
# shim such as python3.12 fails here unless PYENV_VERSION selects it, so the pyenv versions are tried too
suitable() {
    if [ -n "$WANTED" ]; then
        "$1" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$WANTED'.split('.'))))" >/dev/null 2>&1
    else
        "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1
    fi
}

find_python() {
    local versions=(3.13 3.12) candidates=()
    if [ -n "$WANTED" ]; then versions=("$WANTED"); fi
    for v in "${versions[@]}"; do candidates+=("python$v"); done
    if command -v pyenv >/dev/null 2>&1; then
        for v in "${versions[@]}"; do candidates+=("$(pyenv root)"/versions/"$v".*/bin/python3); done
    fi
    candidates+=(python3)
    for py in "${candidates[@]}"; do
        if suitable "$py"; then
            echo "$py"; return 0
        fi
    done
    echo "no Python ${WANTED:->= 3.12} found (Brian2 2.10+ needs >= 3.12); install one or put it on PATH" >&2
    return 1
}

VENV="$ROOT/.venv${WANTED:+-$WANTED}"
if [ ! -x "$VENV/bin/python" ]; then
    PY="$(find_python)"
    echo "creating $(basename "$VENV") with $PY ($("$PY" --version))"
    "$PY" -m venv "$VENV"
fi
PYTHON="$VENV/bin/python"
"$PYTHON" -m pip install -q --upgrade pip
if [ -n "${1:-}" ]; then "$PYTHON" -m pip install -q ".[$1]"; else "$PYTHON" -m pip install -q .; fi
