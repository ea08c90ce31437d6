#!/usr/bin/env bash
# Build the sdist and wheel with `python -m build`, install the wheel into a fresh venv (dependencies from
# the package index) and run an exact simulation from outside the source tree, so nothing is imported
# from the checkout. Usage: bash scripts/check_wheel.sh [OUTDIR] (default: a temporary directory).
set -euo pipefail
source "$(dirname "$0")/env.sh" ""
OUT="${1:-$(mktemp -d)}"
"$PYTHON" -m pip install -q build
"$PYTHON" -m build --outdir "$OUT/dist" "$ROOT"
"$PYTHON" -m venv "$OUT/venv"
"$OUT/venv/bin/python" -m pip install -q "$OUT"/dist/*.whl
cd "$OUT" && "$OUT/venv/bin/python" -c '
import numpy as np
import brian2_sparseprop
from brian2_sparseprop import EventNetwork
assert "site-packages" in brian2_sparseprop.__file__, brian2_sparseprop.__file__
net = EventNetwork(2, tau=0.01, drive=1.5)
net.record_spikes()
net.run(0.1)
period = 0.01 * np.log(3.0)  # closed form: from v = 0 to threshold 1 under drive 1.5
assert np.allclose(net.spike_times[::2], period * np.arange(1, 10), rtol=1e-14), net.spike_times
print("wheel installed from", brian2_sparseprop.__file__, "ran exactly:", len(net.spike_times), "spikes")
'
