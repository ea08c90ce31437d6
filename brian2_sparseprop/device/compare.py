"""Compare exact runs with Brian2's clock-driven runs of the same script.

`compare` runs a model (a Brian2 script file, or a function that builds, runs and returns its
SpikeMonitors) once with the 'sparseprop' device and once per time step with Brian2's runtime, and
reports for every SpikeMonitor: per-neuron spike-time errors (first spike and accumulated over the
matched spikes), the differences in rate, in the CV of the inter-spike intervals and in the Fano
factor, the van Rossum distance (Elephant), and the time at which the trajectories diverge. The
command line ``sparseprop-compare`` and the figure are in `brian2_sparseprop.experiments.compare`.
"""

import runpy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import quantities as pq

__all__ = ["Comparison", "compare"]


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

    from ._brian2 import reset_device

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


class _Trains:
    """The spikes of one monitor sorted by (neuron, time): one sort, no per-neuron gathering.

    Attributes: ``times`` and ``neurons`` (sorted), ``bounds`` (n + 1: neuron k's spikes are
    ``times[bounds[k]:bounds[k + 1]]``), ``counts`` (per neuron) and ``rank`` (of each spike within its
    neuron's train).
    """

    def __init__(self, times, indices, n):
        order = np.lexsort((times, indices))
        self.times, self.neurons = times[order], indices[order]
        self.bounds = np.searchsorted(self.neurons, np.arange(n + 1))
        self.counts = np.diff(self.bounds)
        self.rank = np.arange(len(self.times)) - self.bounds[self.neurons]

    def split(self):
        """The trains as a list of arrays, one per neuron (views of ``times``)."""
        return np.split(self.times, self.bounds[1:-1])


def _cv(trains):
    """Mean over neurons with at least 3 spikes of the CV of their inter-spike intervals (std / mean, as
    Elephant's ``cv``)."""
    same = trains.neurons[1:] == trains.neurons[:-1]
    intervals, owner = np.diff(trains.times)[same], trains.neurons[1:][same]
    n_intervals = np.bincount(owner, minlength=len(trains.counts))
    used = n_intervals >= 2
    if not np.any(used):
        return float("nan")
    mean = np.bincount(owner, intervals, minlength=len(n_intervals)) / np.maximum(n_intervals, 1)
    squares = np.bincount(owner, (intervals - mean[owner]) ** 2, minlength=len(n_intervals))
    return float(np.mean(np.sqrt(squares[used] / n_intervals[used]) / mean[used]))


def _fano(trains):
    """Fano factor of the spike counts over neurons (variance / mean, as Elephant's ``fanofactor``)."""
    if not np.any(trains.counts):
        return float("nan")
    return float(trains.counts.var() / trains.counts.mean())


def _van_rossum(exact, clock, differ, t_stop, time_constant):
    """Mean over neurons of Elephant's van Rossum distance between the two trains (0 where they are equal;
    Elephant is called only for the ``differ`` neurons, once per pair)."""
    if len(differ) == 0:
        return float("nan")
    if not np.any(differ):
        return 0.0
    import neo
    from elephant.spike_train_dissimilarity import van_rossum_distance

    distances = np.zeros(len(differ))
    exact_trains, clock_trains = exact.split(), clock.split()
    for k in np.flatnonzero(differ):
        # in ms: Elephant's distance loses precision with spike times as small numbers of seconds
        pair = [neo.SpikeTrain(x[k] * 1e3 * pq.ms, t_stop=t_stop * 1e3 * pq.ms) for x in (exact_trains, clock_trains)]
        distances[k] = van_rossum_distance(pair, time_constant=time_constant * 1e3 * pq.ms)[0, 1]
    return float(np.mean(distances))


def _mean(values):
    return float(np.mean(values)) if len(values) else float("nan")


def _row(name, dt, exact, clock, tolerance, time_constant):
    times, indices, n, t_stop = exact
    c_times, c_indices, _, c_stop = clock
    t_stop = max(t_stop, c_stop, float(np.max(times, initial=0)), float(np.max(c_times, initial=0)))
    ex, ck = _Trains(times, indices, n), _Trains(c_times, c_indices, n)
    # the first m spikes of each neuron's two trains are matched in order, m the smaller count
    matched = np.minimum(ex.counts, ck.counts)
    keep_ex, keep_ck = ex.rank < matched[ex.neurons], ck.rank < matched[ck.neurons]
    a, b = ex.times[keep_ex], ck.times[keep_ck]
    owner, rank = ex.neurons[keep_ex], ex.rank[keep_ex]
    errors = np.abs(a - b)
    first_errors = errors[rank == 0]
    last_errors = errors[rank == matched[owner] - 1]
    # divergence: the earlier time of the first pair further apart than the tolerance (the trains are
    # sorted, so the minimum over all such pairs), or the first spike without a partner
    bad = errors > tolerance
    unmatched = np.r_[ex.times[ex.rank == matched[ex.neurons]], ck.times[ck.rank == matched[ck.neurons]]]
    divergence = min(np.min(np.minimum(a[bad], b[bad]), initial=np.inf), np.min(unmatched, initial=np.inf))
    differ = (ex.counts != ck.counts) | (np.bincount(owner[errors != 0], minlength=n) > 0)
    duration = t_stop if t_stop > 0 else 1.0
    return {
        "monitor": name,
        "dt": dt,
        "first_spike_error": _mean(first_errors),
        "max_first_spike_error": float(np.max(first_errors)) if len(first_errors) else float("nan"),
        "spike_time_error": _mean(errors),
        "last_spike_error": _mean(last_errors),
        "count_difference": float(np.mean(np.abs(ex.counts - ck.counts))) if n else 0.0,
        "rate_exact": len(times) / (n * duration) if n else float("nan"),
        "rate_clock": len(c_times) / (n * duration) if n else float("nan"),
        "cv_exact": _cv(ex),
        "cv_clock": _cv(ck),
        "fano_exact": _fano(ex),
        "fano_clock": _fano(ck),
        "van_rossum": _van_rossum(ex, ck, differ, t_stop, time_constant),
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
