"""Cost of exact gradients on S1 (shared/DESIGN.md): forward alone, forward with the tape, backward pass.

One process, one network per size, the three measured one after another on identical copies of the run
(CPU time per network spike, and ratios against the forward run measured in the same process). The
loss is L = sum of all spike times plus the sum of final states; its gradient is taken by the shared
weight and drive (S1 has one of each: scalar gradients) and by the initial states.

Usage:
    python benchmarks/gradients.py                  # N = 1e4 and 1e5
    python benchmarks/gradients.py --sizes 10000 --duration 0.5
"""

import argparse
import time

import numpy as np

from brian2_sparseprop.spiking.standard import sparse_inhibitory_lif

DURATION = {10_000: 1.0, 100_000: 0.3}  # simulated seconds per size (S1: about 3.3 Hz)


def measure(n, duration, repeats):
    best = {"forward": np.inf, "forward+tape": np.inf, "backward": np.inf}
    for _ in range(repeats):
        for tape in (False, True):
            net = sparse_inhibitory_lif(n)
            net.run(0.0, record_tape=tape)  # builds the engine (and starts the tape at t = 0)
            t0 = time.process_time()
            net.run(duration, record_tape=tape)
            cpu = time.process_time() - t0
            best["forward+tape" if tape else "forward"] = min(best["forward+tape" if tape else "forward"], cpu)
        spikes = net.spike_times.size
        dL = np.ones(spikes)
        t0 = time.process_time()
        g = net.gradient(dL, np.ones(n))
        best["backward"] = min(best["backward"], time.process_time() - t0)
    return spikes, best, g


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=sorted(DURATION))
    ap.add_argument("--duration", type=float, default=None, help="simulated seconds (default: per size)")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many runs of each")
    args = ap.parse_args()
    for n in args.sizes:
        if n >= 1_000_000:
            raise SystemExit("sizes >= 1e6 are not run by this benchmark (memory and time on shared machines)")
    print(
        f"{'N':>8} {'spikes':>8} {'fwd us/sp':>10} {'tape us/sp':>10} {'bwd us/sp':>10} {'tape/fwd':>9} {'bwd/fwd':>8}"
    )
    for n in args.sizes:
        duration = args.duration or DURATION.get(n, 0.3)
        spikes, best, g = measure(n, duration, args.repeats)
        us = {k: 1e6 * v / spikes for k, v in best.items()}
        print(
            f"{n:>8} {spikes:>8} {us['forward']:>10.3f} {us['forward+tape']:>10.3f} {us['backward']:>10.3f} "
            f"{best['forward+tape'] / best['forward']:>9.3f} {best['backward'] / best['forward']:>8.3f}"
            f"   (pulse-triggered {g.n_pulse_triggered}, coincident {g.n_coincident})"
        )
    print(
        "tape memory: 1 byte per spike beside the spike record (8 + 4 bytes per spike); "
        "12 bytes per external input event (S1 has none)"
    )


if __name__ == "__main__":
    main()
