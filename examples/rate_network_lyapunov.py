"""Lyapunov spectrum of a rate network
===================================

Lyapunov spectrum of a chaotic rate network, and of the random tanh map against mean-field theory.

    python examples/rate_network_lyapunov.py [--quick] [--out DIR]

Prints the spectrum summary (largest exponents, Kaplan-Yorke dimension, entropy rate, sum rule, the
zero exponent of the autonomous flow, a two-trajectory check) and saves the spectrum and its
convergence to DIR/rate_network_lyapunov.png (DIR: the current directory unless ``--out`` says).
The full run takes a few minutes; ``--quick`` measures 10 times fewer steps (seconds).
"""

import argparse
import time
from pathlib import Path

import numpy as np
import quantities as pq

from brian2_sparseprop.rate.lyapunov import (
    RNN,
    RateNetwork,
    largest_exponent_two_trajectories,
    lyapunov_spectrum,
    meanfield_largest_exponent,
    random_coupling,
)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=next(iter(__doc__.split("\n\n")[1:]), __doc__),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="10 times fewer steps: a check that it runs")
    parser.add_argument("--out", type=Path, default=Path("."), help="directory of the figure")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    N, g, tau, dt = 100, 3.0, 10 * pq.ms, 0.5 * pq.ms
    net = RateNetwork(random_coupling(N, g, rng=0), tau=tau, dt=dt)
    t0 = time.perf_counter()
    res = lyapunov_spectrum(
        net, 10_000 // scale, reorth_interval=2, n_transient=2000 // scale, n_transient_ons=2000 // scale, rng=1
    )
    print(
        f"rate network N = {N}, g = {g}, tau = {tau}, dt = {dt}: "
        f"{res.params['duration']} measured in {time.perf_counter() - t0:.1f} s"
    )
    lam = res.exponents.rescale(1 / pq.s)
    print("largest exponents:", np.round(lam.magnitude[:5], 3), lam.dimensionality)
    print("error estimates:  ", np.round(res.stderr.rescale(1 / pq.s).magnitude[:5], 3))
    zero = np.argmin(np.abs(lam.magnitude))
    print(
        f"exponent closest to zero: lambda_{zero + 1} = {lam[zero]:.4f} (+- {res.stderr[zero].rescale(1 / pq.s):.4f})"
    )
    print(f"sum of exponents {lam.sum():.3f}; -N / tau = {(-N / tau).rescale(1 / pq.s):.3f}")
    print(
        f"Kaplan-Yorke dimension {res.kaplan_yorke_dimension:.2f}, "
        f"entropy rate {res.entropy_rate.rescale(1 / pq.s):.2f} (nats)"
    )
    two = largest_exponent_two_trajectories(net, 10_000 // scale, n_transient=4000 // scale, rng=1)
    print(f"two-trajectory estimate of lambda_1: {two.exponents[0]:.3f} (+- {two.stderr[0]:.3f})")

    print("\nrandom tanh map x_t = J tanh(x_{t-1}), g = 3: lambda_1 against mean-field theory")
    mf = float(meanfield_largest_exponent(3.0).magnitude)
    for n in (100, 400) if args.quick else (100, 400, 1600):
        r = lyapunov_spectrum(
            RNN(random_coupling(n, 3.0, rng=n)),
            3000 // scale,
            k=1,
            n_transient=300 // scale,
            n_transient_ons=100,
            rng=0,
        )
        print(
            f"  N = {n:5d}: lambda_1 = {float(r.exponents[0]):.4f} +- {float(r.stderr[0]):.4f} "
            f"per step; mean field {mf:.4f}"
        )

    args.out.mkdir(parents=True, exist_ok=True)
    output = args.out / "rate_network_lyapunov.png"
    res.plot().savefig(output, dpi=120)
    print(f"\nfigure: {output}")


if __name__ == "__main__":
    main()
