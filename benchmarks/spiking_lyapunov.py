"""Cost of exact Lyapunov spectra of spiking networks, as ratios against the plain forward run of one process.

1. S1 (shared/DESIGN.md, inhibitory LIF, K = 100): CPU time per network spike of the forward run alone and
   of `lyapunov_spectrum` with m tangent vectors over the same simulated time (which runs the network
   too), split into the network's run, the tangent updates and the QR steps; the ratio to the forward run.
2. Full spectra of S2 (the LEquipe theta network, K = 50): N = 200 with about 10^3 spikes per neuron
   after the warm-up, and larger N if asked (the time split shows where the cost goes: QR is O(N^3)).

BLAS runs on one thread (set here before numpy is imported), so that the QR steps are timed on one core.

Usage:
    python benchmarks/spiking_lyapunov.py                         # S1 at N = 1e4 and 1e5, m = 1 and 10; S2 N = 200
    python benchmarks/spiking_lyapunov.py --sizes 10000 --vectors 1 10 100 --full 200 1000
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import time

from brian2_sparseprop.spiking import lyapunov_spectrum
from brian2_sparseprop.spiking.standard import balanced_theta, sparse_inhibitory_lif

DURATION = {10_000: 3.0, 100_000: 1.0}  # simulated seconds per size (S1: about 3.3 Hz)


def s1(n, m, duration, warmup):
    net = sparse_inhibitory_lif(n)
    net.run(warmup)
    fwd = sparse_inhibitory_lif(n)  # the same network, its own copy, for the plain forward run
    fwd.run(warmup)
    t0 = time.process_time()
    fwd.run(duration)  # recording the spikes of all neurons (the default), as the tangent pass does
    forward = time.process_time() - t0
    spikes = int((fwd.spike_times >= warmup).sum())
    t0 = time.process_time()
    res = lyapunov_spectrum(net, duration, k=m, n_batches=5, seed=0)
    total = time.process_time() - t0
    return spikes, forward, total, res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=sorted(DURATION), help="S1 sizes")
    ap.add_argument("--vectors", type=int, nargs="+", default=[1, 10], help="numbers m of tangent vectors")
    ap.add_argument("--duration", type=float, default=None, help="S1 simulated seconds (default: per size)")
    ap.add_argument("--full", type=int, nargs="*", default=[200], help="S2 sizes for full spectra")
    ap.add_argument("--spikes-per-neuron", type=float, default=1000.0, help="S2: measured spikes per neuron")
    args = ap.parse_args()
    for n in args.sizes + args.full:
        if n > 100_000:
            raise SystemExit("sizes above 1e5 are not run by this benchmark (shared machines)")
    if args.sizes:
        print("S1 (LIF, K = 100): CPU us per network spike; ratio = Lyapunov run / forward run")
        print(f"{'N':>7} {'m':>4} {'spikes':>8} {'forward':>8} {'lyap':>8} {'ratio':>6}   split of the Lyapunov run")
    for n in args.sizes:
        duration = args.duration or DURATION.get(n, 0.3)
        for m in args.vectors:
            spikes, fwd, total, res = s1(n, m, duration, warmup=0.2)
            cpu = res.params["cpu_seconds"]
            us = 1e6 / spikes
            split = ", ".join(f"{k} {us * v:.2f}" for k, v in cpu.items())
            print(
                f"{n:>7} {m:>4} {spikes:>8} {us * fwd:>8.3f} {us * total:>8.3f} {total / fwd:>6.2f}   ({split})",
                flush=True,
            )
    for n in args.full:
        net = balanced_theta(n, k=50, seed=0)
        rate = 5.4  # Hz, measured for these networks
        duration = args.spikes_per_neuron / rate
        t0 = time.process_time()
        res = lyapunov_spectrum(net, duration, t_warmup=2.0, t_warmup_tangent=2.0, seed=0)
        total = time.process_time() - t0
        cpu = res.params["cpu_seconds"]
        spn = res.params["n_spikes"] / n
        split = ", ".join(f"{k} {v:.2f} s" for k, v in cpu.items())
        print(
            f"S2 N = {n}, full spectrum, {spn:.0f} spikes per neuron measured ({duration:.0f} s): {total:.2f} s CPU "
            f"({split}; {res.params['n_qr']} QR steps); lambda_1 = {res.exponents[0]:.2f} +- {res.stderr[0]:.2f}, "
            f"rate {res.params['rate']:.3f} Hz, Kaplan-Yorke dimension {res.kaplan_yorke_dimension:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
