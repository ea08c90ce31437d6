"""The quick-start demo: the standard sparse inhibitory LIF network (S1), simulated exactly.

Run ``sparseprop-demo`` (or ``python -m brian2_sparseprop.experiments.demo``); it prints a summary and saves a raster
and population-rate plot.
"""

import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..spiking.standard import sparse_inhibitory_lif
from ._cli import parser_and_mode

__all__ = ["plot_raster_and_rate", "main"]


def plot_raster_and_rate(spike_times, spike_indices, rate_bins, rate, *, n_shown=200, title=None):
    """Raster of the neurons with the ``n_shown`` lowest indices above the population rate.

    Parameters
    ----------
    spike_times : ndarray (s)
        Spike times in s, with ``spike_indices`` the neuron of each spike.
    spike_indices : ndarray of int
    rate_bins, rate : ndarray
        Left edges of the rate bins (s) and the population rate in them (Hz), as
        :meth:`brian2_sparseprop.EventNetwork.record_rate` records them.
    n_shown : int
        Neurons 0 .. n_shown - 1 appear in the raster.
    title : str or None
        Title of the raster.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels; save it with ``fig.savefig(path)``.

    Examples
    --------
    >>> times, neurons = np.array([0.1, 0.2]), np.array([0, 300])
    >>> fig = plot_raster_and_rate(times, neurons, rate_bins=np.array([0.0, 0.1]), rate=np.array([5.0, 5.0]))
    >>> [len(line.get_xdata()) for line in fig.axes[0].get_lines()]  # neuron 300 is not shown
    [1]
    """
    fig = Figure(figsize=(8, 5), layout="tight")
    ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    show = spike_indices < n_shown
    ax1.plot(spike_times[show], spike_indices[show], "|", ms=3, color="k")
    ax1.set_ylabel("neuron")
    if title is not None:
        ax1.set_title(title)
    ax2.step(rate_bins, rate, where="post")
    ax2.set_xlabel("time (s)")
    ax2.set_ylabel("rate (Hz)")
    return fig


def main(argv=None):
    """Simulate S1 exactly and report; see ``sparseprop-demo --help``."""
    parser, quick = parser_and_mode(argv, prog="sparseprop-demo", description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000 if quick else 100_000, help="number of neurons")
    parser.add_argument("--duration", type=float, default=0.5 if quick else 2.0, help="simulated time in s")
    parser.add_argument("--seed", type=int, default=0, help="seed of the network and its initial state")
    parser.add_argument(
        "--output", type=Path, default=Path("output/demo_s1.png"), help="plot file (relative to the current directory)"
    )
    args = parser.parse_args(argv)
    if args.duration <= 0:
        parser.error(f"--duration must be > 0, found: {args.duration}")

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

    fig = plot_raster_and_rate(
        times, idx, net.rate_bins, net.rate, title=f"S1, N = {args.n}: exact spike times of 200 neurons"
    )
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
