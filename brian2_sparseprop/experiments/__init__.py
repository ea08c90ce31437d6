"""Experiments, sweeps and command-line drivers built on the library (the console scripts)."""
