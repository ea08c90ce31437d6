"""Timings for docs/balanced.md: a 20-point lambda_1(I1) theory curve, one N = 5000 network point, and the
online training of an N = 500 student against a plain simulation of the same network.

Run on demand: python benchmarks/balanced_timing.py. Reports wall-clock times and the float32/float64 ratio
of the network point measured in the same run (the machine may be shared; read ratios, not absolutes).
"""

import time

import numpy as np

from brian2_sparseprop.rate.balanced import BalancedRateNetwork
from brian2_sparseprop.rate.chaos_suppression import network_point, theory_point
from brian2_sparseprop.rate.learning import train_student


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
    print(
        f"N=5000 network, 120 tau at dt=0.05 tau (2400 steps): float32 {times[True]:.1f} s, "
        f"float64 {times[False]:.1f} s, ratio {times[False] / times[True]:.2f}"
    )
    # learning: 100 tau of training (no early stop) plus 2 x 50 tau free run, against the teacher's plain
    # simulation over the same 250 tau (transient included) in the same run
    t0 = time.perf_counter()
    BalancedRateNetwork(500, seed=0).run(200.0, t_transient=50.0, n_record=0)
    t_plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    train_student(20.0, "common", N=500, seed=0, t_train_max=100.0, error_threshold=1e-12, check_every=100)
    t_train = time.perf_counter() - t0
    print(
        f"N=500 student, 100 tau of RLS training + 100 tau free run: {t_train:.1f} s; plain simulation of "
        f"250 tau: {t_plain:.1f} s; ratio {t_train / t_plain:.1f}"
    )


if __name__ == "__main__":
    main()
