"""Compare exact runs with Brian2's clock-driven runs of the same script.

`compare` runs a model (a Brian2 script file, or a function that builds, runs and returns its
SpikeMonitors) once with the 'sparseprop' device and once per time step with Brian2's runtime, and
reports for every SpikeMonitor: per-neuron spike-time errors (first spike and accumulated over the
matched spikes), the differences in rate, in the CV of the inter-spike intervals and in the Fano
factor, the van Rossum distance (Elephant), and the time at which the trajectories diverge.
``sparseprop-compare`` is the command-line entry point (`main`).
"""

import argparse
import runpy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import quantities as pq

__all__ = ["Comparison", "compare", "main"]


@dataclass
class Comparison:
    """Result of `compare`: one row per (SpikeMonitor, dt), errors relative to the exact run.

    Attributes
    ----------
    rows : list of dict
        Keys: ``monitor``, ``dt`` (s), ``first_spike_error`` (s, mean over neurons of the absolute
        error of the first spike), ``max_first_spike_error`` (s), ``spike_time_error`` (s, mean
        absolute error over all spikes matched in order, neuron by neuron), ``last_spike_error`` (s, mean
        over neurons of the error of the last matched spike: the accumulated error), ``count_difference`` (mean
        absolute difference of spike counts per neuron), ``rate_exact``, ``rate_clock`` (Hz),
        ``cv_exact``, ``cv_clock``, ``fano_exact``, ``fano_clock``, ``van_rossum`` (mean over neurons of
        the van Rossum distance between the exact and the clock-driven train, dimensionless),
        ``divergence_time`` (s, the first exact spike whose clock-driven partner is missing or more
        than ``tolerance`` away; ``inf`` if none).
    exact : dict
        Per monitor: (times (s), indices, n_neurons, t_stop (s)) of the exact run.
    clock : dict
        Per dt (s): the same for the clock-driven run.
    tolerance : float
        Divergence tolerance (s).
    """

    rows: list
    exact: dict
    clock: dict
    tolerance: float
    duration: float = field(default=0.0)

    def summary(self):
        """The rows as a plain-text table."""
        header = (
            f"{'monitor':<16} {'dt (ms)':>8} {'first (ms)':>11} {'all (ms)':>10} {'last (ms)':>10} {'d count':>8} "
            f"{'rate ex/clk (Hz)':>18} {'CV ex/clk':>13} {'Fano ex/clk':>13} {'vR':>7} {'diverge (ms)':>13}"
        )
        lines = [header, "-" * len(header)]
        for r in self.rows:
            lines.append(
                f"{r['monitor']:<16} {r['dt'] * 1e3:>8.4g} {r['first_spike_error'] * 1e3:>11.4g} "
                f"{r['spike_time_error'] * 1e3:>10.4g} {r['last_spike_error'] * 1e3:>10.4g} "
                f"{r['count_difference']:>8.3g} "
                f"{r['rate_exact']:>8.3f}/{r['rate_clock']:<9.3f} {r['cv_exact']:>6.3f}/{r['cv_clock']:<6.3f} "
                f"{r['fano_exact']:>6.3f}/{r['fano_clock']:<6.3f} {r['van_rossum']:>7.3g} "
                f"{r['divergence_time'] * 1e3:>13.4g}"
            )
        return "\n".join(lines)

    def plot(self, filename, window=None):
        """Save a figure: errors against dt (log-log) and a raster of exact vs clock-driven spikes.

        Parameters
        ----------
        filename : str or Path
            Where to save the figure (any format matplotlib knows).
        window : tuple of float, optional
            Time window (s) of the raster; default: the first 10 % of the run.

        Returns
        -------
        Path
            The file written.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (ax_err, ax_raster) = plt.subplots(1, 2, figsize=(11, 4.2))
        for name in sorted({r["monitor"] for r in self.rows}):
            rows = sorted((r for r in self.rows if r["monitor"] == name), key=lambda r: r["dt"])
            dts = np.array([r["dt"] for r in rows]) * 1e3
            for key, style, label in (
                ("first_spike_error", "o-", "first spike"),
                ("spike_time_error", "s--", "all spikes"),
            ):
                errors = np.array([r[key] for r in rows]) * 1e3
                ax_err.loglog(dts, np.maximum(errors, 1e-12), style, label=f"{name}: {label}")
        dts_all = np.array(sorted({r["dt"] for r in self.rows})) * 1e3
        if len(dts_all):
            ax_err.loglog(dts_all, dts_all / 2, ":", color="grey", label="dt / 2")
        ax_err.set_xlabel("dt (ms)")
        ax_err.set_ylabel("mean |spike-time error| (ms)")
        ax_err.set_title("clock-driven vs exact")
        ax_err.legend(fontsize=7)
        name = sorted(self.exact)[0]
        times, indices, _, t_stop = self.exact[name]
        lo, hi = window if window is not None else (0.0, 0.1 * t_stop if t_stop > 0 else 1.0)
        keep = (times >= lo) & (times < hi)
        ax_raster.plot(times[keep] * 1e3, indices[keep], "|", color="black", markersize=6, label="exact")
        coarse = max(self.clock)
        c_times, c_indices = self.clock[coarse][name][:2]
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
        fig.tight_layout()
        path = Path(filename)
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path


def _spike_monitors(result):
    from brian2 import SpikeMonitor

    if isinstance(result, SpikeMonitor):
        return {"spikes": result}
    if isinstance(result, dict):
        return {str(k): v for k, v in result.items() if isinstance(v, SpikeMonitor)}
    if isinstance(result, (list, tuple)):
        return {f"spikes[{k}]": m for k, m in enumerate(result) if isinstance(m, SpikeMonitor)}
    raise TypeError(f"the model must return a SpikeMonitor, a list or a dict of them, found: {type(result).__name__}")


def _run(model, device, dt, seed, target, fallback):
    """Run the model once; returns {monitor: (times, indices, n, t_stop)}."""
    import brian2
    from brian2.devices.device import reset_device

    import brian2_sparseprop  # noqa: F401  (registers the device)

    old_target, old_dt = brian2.prefs.codegen.target, brian2.defaultclock.dt
    kwargs = {"fallback": True} if device == "sparseprop" and fallback else {}
    brian2.set_device(device, **kwargs)
    try:
        brian2.prefs.codegen.target = target
        brian2.start_scope()
        brian2.defaultclock.dt = dt * brian2.second
        brian2.seed(seed)
        if callable(model):
            monitors = _spike_monitors(model())
        else:
            namespace = runpy.run_path(str(model), run_name="__main__")
            monitors = {k: v for k, v in namespace.items() if isinstance(v, brian2.SpikeMonitor)}
        if not monitors:
            raise ValueError(f"the model recorded no spikes: no SpikeMonitor found in {model}")
        for name, mon in monitors.items():
            if not mon.record:
                raise ValueError(f"SpikeMonitor '{name}' was created with record=False: nothing to compare")
        return {
            name: (
                np.array(mon.t_[:], dtype=float),
                np.array(mon.i[:], dtype=np.int64),
                len(mon.source),
                float(mon.clock.t_[:].item()),
            )
            for name, mon in monitors.items()
        }
    finally:
        brian2.prefs.codegen.target = old_target
        brian2.defaultclock.dt = old_dt
        reset_device()


def _trains(times, indices, n):
    order = np.lexsort((times, indices))
    bounds = np.searchsorted(indices[order], np.arange(n + 1))
    return [times[order][bounds[k] : bounds[k + 1]] for k in range(n)]


def _cv(trains):
    from elephant.statistics import cv, isi

    values = [cv(isi(t)) for t in trains if len(t) >= 3]
    return float(np.mean(values)) if values else float("nan")


def _fano(trains, t_stop):
    import neo
    from elephant.statistics import fanofactor

    if sum(len(t) for t in trains) == 0:
        return float("nan")
    spiketrains = [neo.SpikeTrain(t * pq.s, t_stop=t_stop * pq.s) for t in trains]
    return float(fanofactor(spiketrains))


def _van_rossum(exact, clock, t_stop, time_constant):
    import neo
    from elephant.spike_train_dissimilarity import van_rossum_distance

    distances = []
    for a, b in zip(exact, clock):
        if np.array_equal(a, b):
            distances.append(0.0)
            continue
        # in ms: Elephant's distance loses precision with spike times as small numbers of seconds
        pair = [neo.SpikeTrain(x * 1e3 * pq.ms, t_stop=t_stop * 1e3 * pq.ms) for x in (a, b)]
        distances.append(van_rossum_distance(pair, time_constant=time_constant * 1e3 * pq.ms)[0, 1])
    return float(np.mean(distances)) if distances else float("nan")


def _row(name, dt, exact, clock, tolerance, time_constant):
    times, indices, n, t_stop = exact
    c_times, c_indices, _, c_stop = clock
    t_stop = max(t_stop, c_stop, float(np.max(times, initial=0)), float(np.max(c_times, initial=0)))
    ex_trains, ck_trains = _trains(times, indices, n), _trains(c_times, c_indices, n)
    first_errors, last_errors, all_errors, count_diff, divergence = [], [], [], [], np.inf
    for a, b in zip(ex_trains, ck_trains):
        m = min(len(a), len(b))
        if m:
            first_errors.append(abs(a[0] - b[0]))
            last_errors.append(abs(a[m - 1] - b[m - 1]))
            errors = np.abs(a[:m] - b[:m])
            all_errors.append(errors)
            bad = np.flatnonzero(errors > tolerance)
            if len(bad):
                divergence = min(divergence, min(a[bad[0]], b[bad[0]]))
        count_diff.append(abs(len(a) - len(b)))
        if len(a) != len(b):
            longer = a if len(a) > len(b) else b
            divergence = min(divergence, longer[m])
    all_errors = np.concatenate(all_errors) if all_errors else np.zeros(0)
    duration = t_stop if t_stop > 0 else 1.0
    return {
        "monitor": name,
        "dt": dt,
        "first_spike_error": float(np.mean(first_errors)) if first_errors else float("nan"),
        "max_first_spike_error": float(np.max(first_errors)) if first_errors else float("nan"),
        "spike_time_error": float(np.mean(all_errors)) if len(all_errors) else float("nan"),
        "last_spike_error": float(np.mean(last_errors)) if last_errors else float("nan"),
        "count_difference": float(np.mean(count_diff)) if count_diff else 0.0,
        "rate_exact": len(times) / (n * duration) if n else float("nan"),
        "rate_clock": len(c_times) / (n * duration) if n else float("nan"),
        "cv_exact": _cv(ex_trains),
        "cv_clock": _cv(ck_trains),
        "fano_exact": _fano(ex_trains, t_stop),
        "fano_clock": _fano(ck_trains, t_stop),
        "van_rossum": _van_rossum(ex_trains, ck_trains, t_stop, time_constant),
        "divergence_time": float(divergence),
    }


def compare(model, dt=(1e-4, 1e-5), seed=0, target="auto", tolerance=1e-3, time_constant=0.01, fallback=False):
    """Run a model exactly and clock-driven at each ``dt``; compare the spikes of every SpikeMonitor.

    Parameters
    ----------
    model : str, Path or callable
        A Brian2 script (run as ``__main__``; its module-level SpikeMonitors are compared), or a
        function without arguments that builds and runs a network and returns a SpikeMonitor, a list
        or a dict of them. The script must not set ``defaultclock.dt`` itself.
    dt : float or sequence of float, s
        Time steps of the clock-driven runs (each > 0).
    seed : int
        Passed to Brian2's ``seed()`` before every run.
    target : str
        Brian2 code generation target of the clock-driven runs ('auto', 'cython' or 'numpy').
    tolerance : float, s
        Two spike times further apart than this count as diverged (> 0).
    time_constant : float, s
        Time constant of the van Rossum distance (> 0).
    fallback : bool
        Allow the 'exact' run to fall back to Brian2's runtime for unsupported networks.

    Returns
    -------
    Comparison
        Rows of metrics per monitor and dt, with the spike data of all runs.

    Raises
    ------
    TypeError
        If ``model`` is neither a path nor a callable.
    ValueError
        For non-positive ``dt``, ``tolerance`` or ``time_constant``, or a model without SpikeMonitors.
    NotImplementedError
        If the exact device refuses the model (and ``fallback`` is False).

    Examples
    --------
    >>> from brian2 import NeuronGroup, SpikeMonitor, run, ms
    >>> def model():
    ...     G = NeuronGroup(3, 'dv/dt = (I - v)/(10*ms) : 1\\nI : 1', threshold='v > 1', reset='v = 0')
    ...     G.I = [1.2, 1.5, 2.0]
    ...     mon = SpikeMonitor(G)
    ...     run(50 * ms)
    ...     return mon
    >>> result = compare(model, dt=[1e-4, 1e-5], target='numpy')
    >>> errors = [row['first_spike_error'] for row in result.rows]
    >>> 5 < errors[0] / errors[1] < 20   # the clock-driven error falls about linearly with dt
    True
    """
    if not callable(model) and not isinstance(model, (str, Path)):
        raise TypeError(f"model must be a script path or a callable, found: {type(model).__name__}")
    if not callable(model) and not Path(model).is_file():
        raise ValueError(f"model script not found: {model}")
    dts = [float(d) for d in np.atleast_1d(dt)]
    for d in dts:
        if not (np.isfinite(d) and d > 0):
            raise ValueError(f"dt must be > 0, found: {d}")
    if not tolerance > 0:
        raise ValueError(f"tolerance must be > 0, found: {tolerance}")
    if not time_constant > 0:
        raise ValueError(f"time_constant must be > 0, found: {time_constant}")
    exact = _run(model, "sparseprop", min(dts), seed, target, fallback)
    clock = {d: _run(model, "runtime", d, seed, target, False) for d in dts}
    rows = [_row(name, d, exact[name], clock[d][name], tolerance, time_constant) for d in dts for name in sorted(exact)]
    duration = max(v[3] for v in exact.values())
    return Comparison(rows=rows, exact=exact, clock=clock, tolerance=tolerance, duration=duration)


def main(argv=None):
    """Command-line entry point ``sparseprop-compare``.

    Examples
    --------
    ``sparseprop-compare my_model.py --dt 0.1 0.01 --plot comparison.png``
    """
    parser = argparse.ArgumentParser(
        prog="sparseprop-compare",
        description="Run a Brian2 script exactly (sparseprop device) and clock-driven (runtime) at one "
        "or more dt, and compare the spikes of its SpikeMonitors.",
    )
    parser.add_argument("script", help="Brian2 script; must not set defaultclock.dt itself")
    parser.add_argument("--dt", type=float, nargs="+", default=[0.1, 0.01], help="time steps in ms (default 0.1 0.01)")
    parser.add_argument("--seed", type=int, default=0, help="Brian2 seed for every run (default 0)")
    parser.add_argument("--target", default="auto", choices=["auto", "cython", "numpy"], help="Brian2 codegen target")
    parser.add_argument("--tolerance", type=float, default=1.0, help="divergence tolerance in ms (default 1)")
    parser.add_argument("--tau", type=float, default=10.0, help="van Rossum time constant in ms (default 10)")
    parser.add_argument("--fallback", action="store_true", help="let the exact run fall back to Brian2's runtime")
    parser.add_argument("--plot", help="save a figure to this file")
    args = parser.parse_args(argv)
    result = compare(
        args.script,
        dt=[d * 1e-3 for d in args.dt],
        seed=args.seed,
        target=args.target,
        tolerance=args.tolerance * 1e-3,
        time_constant=args.tau * 1e-3,
        fallback=args.fallback,
    )
    print(result.summary())
    if args.plot:
        print(f"figure: {result.plot(args.plot)}")
    return 0
