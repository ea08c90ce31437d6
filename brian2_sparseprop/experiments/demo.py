"""The quick-start demo: the standard sparse inhibitory LIF network (S1), simulated exactly.

Run ``sparseprop-demo`` (or ``python -m brian2_sparseprop.experiments.demo``); it prints a summary and saves a raster
and population-rate plot.
"""

import argparse
import time
from pathlib import Path

import numpy as np

from ..spiking.standard import sparse_inhibitory_lif

__all__ = ["main"]


def main(argv=None):
    """Simulate S1 exactly and report; see ``sparseprop-demo --help``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="number of neurons (default 100000)")
    parser.add_argument("--duration", type=float, default=2.0, help="simulated time in s (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("output/demo_s1.png"), help="plot file")
    args = parser.parse_args(argv)
    if args.duration <= 0:
        parser.error(f"--duration must be > 0, found: {args.duration}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    print(f"S1: {args.n} LIF neurons, K = 100 inhibitory targets each, exact event-driven simulation")
    t0 = time.perf_counter()
    net = sparse_inhibitory_lif(args.n, seed=args.seed)
    net.record_rate(0.005)
    t1 = time.perf_counter()
    net.run(args.duration, report="text", report_period=5.0)
    t2 = time.perf_counter()
    times, idx = net.spike_times, net.spike_indices
    counts = np.bincount(idx, minlength=args.n)
    steady = times > 0.5 * args.duration
    rate = steady.sum() / (args.n * (times[-1] - 0.5 * args.duration)) if steady.any() else 0.0
    isi_cv = _mean_cv(times, idx, args.n)
    print(
        f"built in {t1 - t0:.2f} s; simulated {args.duration} s in {t2 - t1:.2f} s "
        f"({(t2 - t1) / max(times.size, 1) * 1e6:.2f} us per spike, {times.size} spikes)"
    )
    print(
        f"stationary rate {rate:.3f} Hz (literature: about 3.3-3.4 Hz), mean CV of ISIs {isi_cv:.2f}, "
        f"silent neurons {np.mean(counts == 0) * 100:.1f} %"
    )
    if times.size:
        first = idx[0]
        print(f"first spikes of neuron {first}: {np.array2string(times[idx == first][:3], precision=15)} s")

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5), sharex=True, height_ratios=[3, 1])
    show = idx < 200
    ax1.plot(times[show], idx[show], "|", ms=3, color="k")
    ax1.set_ylabel("neuron")
    ax1.set_title(f"S1, N = {args.n}: exact spike times of 200 neurons")
    ax2.step(net.rate_bins, net.rate, where="post")
    ax2.set_xlabel("time (s)")
    ax2.set_ylabel("rate (Hz)")
    fig.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=120)
    print(f"raster and population rate saved to {args.output}")


def _mean_cv(times, idx, n):
    order = np.lexsort((times, idx))
    t, i = times[order], idx[order]
    same = i[1:] == i[:-1]
    isi, who = np.diff(t)[same], i[1:][same]
    cnt = np.bincount(who, minlength=n)
    ok = cnt >= 3
    if not ok.any():
        return float("nan")
    mean = np.bincount(who, isi, n)[ok] / cnt[ok]
    var = np.bincount(who, isi**2, n)[ok] / cnt[ok] - mean**2
    return float(np.mean(np.sqrt(np.maximum(var, 0)) / mean))


if __name__ == "__main__":
    main()
