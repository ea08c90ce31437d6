"""Timings for docs/balanced.md: a 20-point lambda_1(I1) theory curve and one N = 5000 network point.

Run on demand: python benchmarks/balanced_timing.py. Reports wall-clock times and the float32/float64 ratio
of the network point measured in the same run (the machine may be shared; read ratios, not absolutes).
"""
import time

import numpy as np

from brian2_sparseprop.chaos_suppression import network_point, theory_point


def main():
    t0 = time.perf_counter()
    for I1 in np.linspace(0.0, 60.0, 20):
        theory_point(2.0, float(I1), 0.2, "common", 5000)
    t_common = time.perf_counter() - t0
    t0 = time.perf_counter()
    for I1 in np.linspace(0.0, 6.0, 20):
        theory_point(2.0, float(I1), 0.2, "independent", 5000)
    t_indep = time.perf_counter() - t0
    print(f"20-point theory curve, common input: {t_common:.1f} s; independent input (16 phases): {t_indep:.1f} s")
    times = {}
    for float32 in (True, False):
        t0 = time.perf_counter()
        network_point(2.0, 0.0, 0.2, "common", 5000, 0, duration=100.0, t_transient=20.0, float32=float32)
        times[float32] = time.perf_counter() - t0
    print(f"N=5000 network, 120 tau at dt=0.05 tau (2400 steps): float32 {times[True]:.1f} s, "
          f"float64 {times[False]:.1f} s, ratio {times[False] / times[True]:.2f}")


if __name__ == "__main__":
    main()
