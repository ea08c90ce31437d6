"""Cost per spike of the one-dimensional nonlinear models against LIF, in one process, alternating.

`s1_s2.py` runs every configuration in its own process, one after another: on a shared machine the load
drifts between them by tens of percent, which is as large as the differences in question here (the goal of
issue 13: EIF and theta at most 2x LIF per spike). This script builds S1 (LIF), S1-EIF (S1's connectivity
and weights with EIF neurons, `s1_s2.s1_eif`: one weight, whose pulse response the EIF table holds, so a kick
is one table evaluation), S2 (theta), and S1 and S1-EIF with the same per-synapse weights spread by +-10 %
(read per kick from an array; for EIF two table evaluations per kick) once, then runs short chunks of each in
turn for several rounds, so that all see the same load; reported are the median CPU time per network spike of
each and the median over rounds of its ratio to that of LIF with the same weights in the same round.

Usage::

    python benchmarks/model_ratio.py                       # N = 1e5, 10 rounds of 0.05 s
    python benchmarks/model_ratio.py --n 1000000 --rounds 6
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="network size (default 1e5)")
    parser.add_argument("--chunk", type=float, default=0.05, help="simulated seconds per timed run")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds (default 10)")
    args = parser.parse_args()
    if args.n < 1000 or args.chunk <= 0 or args.rounds < 1:
        parser.error(f"need n >= 1000, chunk > 0, rounds >= 1, found {args.n}, {args.chunk}, {args.rounds}")

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from s1_s2 import s1_eif

    from brian2_sparseprop.spiking.standard import balanced_theta, sparse_inhibitory_lif

    lif_spread = sparse_inhibitory_lif(args.n)
    eif_spread = s1_eif(args.n, spread=0.1)
    lif_spread.set_params(weights=eif_spread._weights)  # the same per-synapse weights (read per kick by both)
    nets = {
        "S1 (LIF)": sparse_inhibitory_lif(args.n),
        "S1-EIF": s1_eif(args.n),
        "S2 (theta)": balanced_theta(args.n),
        "S1 (LIF), weights +-10 %": lif_spread,
        "S1-EIF, weights +-10 %": eif_spread,
    }
    baseline = {name: "S1 (LIF), weights +-10 %" if "+-" in name else "S1 (LIF)" for name in nets}
    for net in nets.values():
        net.record_spikes(np.zeros(0, np.int32))  # count spikes, record none: the loop itself
        net.run(0.05)  # builds the engine; the transient of the initial state; page faults
    cost = {name: [] for name in nets}
    for _ in range(args.rounds):
        for name, net in nets.items():
            s0 = net.n_spikes
            t0 = time.process_time()
            net.run(args.chunk)
            cost[name].append((time.process_time() - t0) / max(net.n_spikes - s0, 1) * 1e6)
    print(f"N = {args.n}, {args.rounds} rounds of {args.chunk} s, CPU us per network spike")
    print("| network | median us / spike | min | median ratio to LIF with the same weights (same round) |")
    print("|---|---|---|---|")
    for name, c in cost.items():
        c = np.array(c)
        print(f"| {name} | {np.median(c):.2f} | {c.min():.2f} | {np.median(c / np.array(cost[baseline[name]])):.2f} |")


if __name__ == "__main__":
    main()
