"""The command line ``sparseprop-compare`` and the figure of an exact vs clock-driven comparison.

`brian2_sparseprop.device.compare.compare` does the runs and computes the metrics; this module plots a
`Comparison` (`plot_comparison`, a matplotlib Figure) and drives both from the command line (`main`).
"""

import argparse
import sys

import numpy as np
from matplotlib.figure import Figure

from ..device.compare import DifferentNetworksError, compare

__all__ = ["main", "plot_comparison"]


def plot_comparison(result, window=None):
    """Errors against dt (log-log) and a raster of exact vs clock-driven spikes.

    Parameters
    ----------
    result : brian2_sparseprop.device.compare.Comparison
        What `compare` returned.
    window : tuple of float, optional
        Time window (s) of the raster; default: the first 10 % of the run.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels; made without pyplot, so no backend is chosen or switched (save it with ``savefig``).

    Examples
    --------
    >>> from brian2 import NeuronGroup, SpikeMonitor, run, ms
    >>> from brian2_sparseprop.device.compare import compare
    >>> def model():
    ...     G = NeuronGroup(2, 'dv/dt = (I - v)/(10*ms) : 1\\nI : 1', threshold='v > 1', reset='v = 0')
    ...     G.I = [1.2, 1.5]
    ...     mon = SpikeMonitor(G)
    ...     run(30 * ms)
    ...     return mon
    >>> figure = plot_comparison(compare(model, dt=[1e-4], target='numpy'))
    >>> [ax.get_title() for ax in figure.axes]
    ['clock-driven vs exact', 'spikes']
    """
    fig = Figure(figsize=(11, 4.2), layout="tight")
    ax_err, ax_raster = fig.subplots(1, 2)
    for name in sorted({r["monitor"] for r in result.rows}):
        rows = sorted((r for r in result.rows if r["monitor"] == name), key=lambda r: r["dt"])
        dts = np.array([r["dt"] for r in rows]) * 1e3
        for key, style, label in (
            ("first_spike_error", "o-", "first spike"),
            ("spike_time_error", "s--", "all spikes"),
        ):
            errors = np.array([r[key] for r in rows]) * 1e3
            ax_err.loglog(dts, np.maximum(errors, 1e-12), style, label=f"{name}: {label}")
    dts_all = np.array(sorted({r["dt"] for r in result.rows})) * 1e3
    if len(dts_all):
        ax_err.loglog(dts_all, dts_all / 2, ":", color="grey", label="dt / 2")
    ax_err.set_xlabel("dt (ms)")
    ax_err.set_ylabel("mean |spike-time error| (ms)")
    ax_err.set_title("clock-driven vs exact")
    ax_err.legend(fontsize=7)
    name = sorted(result.exact)[0]
    times, indices, _, t_stop = result.exact[name]
    lo, hi = window if window is not None else (0.0, 0.1 * t_stop if t_stop > 0 else 1.0)
    keep = (times >= lo) & (times < hi)
    ax_raster.plot(times[keep] * 1e3, indices[keep], "|", color="black", markersize=6, label="exact")
    coarse = max(result.clock)
    c_times, c_indices = result.clock[coarse][name][:2]
    keep = (c_times >= lo) & (c_times < hi)
    ax_raster.plot(
        c_times[keep] * 1e3,
        c_indices[keep] + 0.3,
        "|",
        color="tab:red",
        markersize=6,
        label=f"clock-driven, dt = {coarse * 1e3:g} ms",
    )
    ax_raster.set_xlabel("time (ms)")
    ax_raster.set_ylabel(f"neuron ({name})")
    ax_raster.set_title("spikes")
    ax_raster.legend(fontsize=7, loc="upper right")
    return fig


def main(argv=None):
    """Command-line entry point ``sparseprop-compare``.

    Arguments after ``--`` go to the script (its ``sys.argv[1:]``). Progress (a line at the start and
    end of every run) and the script's own output, labelled with the run, go to stderr; the table and
    its notes to stdout. A clock-driven run that builds another network than the exact run stops the
    comparison with exit status 2, unless ``--allow-different-networks`` is given.

    Examples
    --------
    ``sparseprop-compare my_model.py --dt 0.1 0.01 --plot comparison.png``

    ``sparseprop-compare examples/elephant_analysis.py --dt 0.1 -- --plot /tmp/elephant.png``
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    script_args = []
    if "--" in argv:
        split = argv.index("--")
        argv, script_args = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(
        prog="sparseprop-compare",
        usage="%(prog)s [options] script [-- script arguments]",
        description="Run a Brian2 script exactly (sparseprop device) and clock-driven (runtime) at one "
        "or more dt, check that every run builds the same network, and compare the spikes of its "
        "SpikeMonitors. Each run keeps its own device and dt whatever the script sets; arguments after "
        "-- are passed to the script.",
    )
    parser.add_argument("script", help="Brian2 script")
    parser.add_argument("--dt", type=float, nargs="+", default=[0.1, 0.01], help="time steps in ms (default 0.1 0.01)")
    parser.add_argument("--seed", type=int, default=0, help="Brian2 seed for every run (default 0)")
    parser.add_argument("--target", default="auto", choices=["auto", "cython", "numpy"], help="Brian2 codegen target")
    parser.add_argument("--tolerance", type=float, default=1.0, help="divergence tolerance in ms (default 1)")
    parser.add_argument("--tau", type=float, default=10.0, help="van Rossum time constant in ms (default 10)")
    parser.add_argument("--fallback", action="store_true", help="let the exact run fall back to Brian2's runtime")
    parser.add_argument(
        "--allow-different-networks",
        action="store_true",
        help="compare runs that build different networks (reported below the table) instead of stopping",
    )
    parser.add_argument("--plot", help="save a figure to this file")
    args = parser.parse_args(argv)
    try:
        result = compare(
            args.script,
            dt=[d * 1e-3 for d in args.dt],
            seed=args.seed,
            target=args.target,
            tolerance=args.tolerance * 1e-3,
            time_constant=args.tau * 1e-3,
            fallback=args.fallback,
            args=script_args,
            same_network="report" if args.allow_different_networks else "refuse",
        )
    except DifferentNetworksError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(result.summary())
    if args.plot:
        plot_comparison(result).savefig(args.plot, dpi=120)
        print(f"figure: {args.plot}")
    return 0
