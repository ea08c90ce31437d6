#!/usr/bin/env bash
# Set up .venv (Python >= 3.12; see scripts/env.sh), install the package, run the demo: S1 simulated exactly,
# summary printed, raster/rate plot saved to output/demo_s1.png. Extra arguments go to the demo (see --help).
source "$(dirname "$0")/env.sh" ""
exec "$VENV/bin/sparseprop-demo" "$@"
