"""Compare exact runs with Brian2's clock-driven runs of the same script.

`compare` runs a model (a Brian2 script file, or a function that builds, runs and returns its
SpikeMonitors) once with the 'sparseprop' device and once per time step with Brian2's runtime, and
reports for every SpikeMonitor: per-neuron spike-time errors (first spike and accumulated over the
matched spikes), the differences in rate, in the CV of the inter-spike intervals and in the Fano
factor, the van Rossum distance (Elephant), and the time at which the trajectories diverge. The
command line ``sparseprop-compare`` and the figure are in `brian2_sparseprop.experiments.compare`.

Each run has a device of its own that the model cannot change: a ``set_device(...)`` in the script
selects the run's device again, and the run's ``dt`` replaces a ``defaultclock.dt`` that the script sets.
At the first ``run()`` of each network, every run takes a `brian2_sparseprop.device.digest.network_digest`
of it (connectivity, delays, weights, initial values, random parameters); a clock-driven run whose
network differs from the exact run's is refused before it is simulated.
"""

import contextlib
import gc
import io
import runpy
import sys
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import quantities as pq

from .._validation import check_real, real_array, si_value
from ._brian2 import RuntimeDevice, all_devices, magic_network, previous_devices, reset_device
from .device import SparsePropDevice, share_random_numbers
from .digest import network_digest

__all__ = ["Comparison", "DifferentNetworksError", "compare"]

_SAME_NETWORK = ("refuse", "report")


class DifferentNetworksError(ValueError):
    """A clock-driven run of a model builds another network than its exact run (raised by `compare`)."""


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
        than ``tolerance`` away; ``inf`` if none), ``statistics_only`` (True when the network has
        Poisson input: the runs draw different realisations of it, so only rates, CVs and Fano
        factors compare).
    exact : dict
        Per monitor: (times (s), indices, n_neurons, t_stop (s)) of the exact run.
    clock : dict
        Per dt (s): the same for the clock-driven run.
    tolerance : float
        Divergence tolerance (s).
    duration : float
        Simulated time of the exact run (s).
    digests : dict
        Per run (``'exact'``, ``'dt=0.1 ms'``, ...): the ``hexdigest`` of each network at its first
        ``run()``, in the order of the runs.
    same_network : bool
        Whether every clock-driven run built the same networks as the exact run (False only with
        ``same_network='report'``).
    notes : list of str
        What the table's reader must know: Poisson input, a ``dt`` or device the script set and the
        comparison replaced, networks that differ. Printed below the table by `summary`.
    """

    rows: list
    exact: dict
    clock: dict
    tolerance: float
    duration: float = field(default=0.0)
    digests: dict = field(default_factory=dict)
    same_network: bool = True
    notes: list = field(default_factory=list)

    def summary(self):
        """The rows as a plain-text table, with the notes below it (rows marked * compare statistics only)."""
        header = (
            f"{'monitor':<16} {'dt (ms)':>8} {'first (ms)':>11} {'all (ms)':>10} {'last (ms)':>10} {'d count':>8} "
            f"{'rate ex/clk (Hz)':>18} {'CV ex/clk':>13} {'Fano ex/clk':>13} {'vR':>7} {'diverge (ms)':>13}"
        )
        lines = [header, "-" * len(header)]
        for r in self.rows:
            name = f"{r['monitor']} *" if r.get("statistics_only") else r["monitor"]
            lines.append(
                f"{name:<16} {r['dt'] * 1e3:>8.4g} {r['first_spike_error'] * 1e3:>11.4g} "
                f"{r['spike_time_error'] * 1e3:>10.4g} {r['last_spike_error'] * 1e3:>10.4g} "
                f"{r['count_difference']:>8.3g} "
                f"{r['rate_exact']:>8.3f}/{r['rate_clock']:<9.3f} {r['cv_exact']:>6.3f}/{r['cv_clock']:<6.3f} "
                f"{r['fano_exact']:>6.3f}/{r['fano_clock']:<6.3f} {r['van_rossum']:>7.3g} "
                f"{r['divergence_time'] * 1e3:>13.4g}"
            )
        return "\n".join(lines + [f"note: {note}" for note in self.notes])


def _spike_monitors(result):
    from brian2 import SpikeMonitor

    if isinstance(result, SpikeMonitor):
        return {"spikes": result}
    if isinstance(result, dict):
        return {str(k): v for k, v in result.items() if isinstance(v, SpikeMonitor)}
    if isinstance(result, (list, tuple)):
        return {f"spikes[{k}]": m for k, m in enumerate(result) if isinstance(m, SpikeMonitor)}
    raise TypeError(f"the model must return a SpikeMonitor, a list or a dict of them, found: {type(result).__name__}")


def _dt_label(dt):
    return f"dt={dt * 1e3:g} ms"


class _Leg:
    """One run of the model: its label and dt, and what its device saw at each ``run()``.

    ``reference`` holds the exact run's digests; a clock-driven run whose network differs raises a
    `DifferentNetworksError` at that network's first ``run()`` (``refuse``) or records the differences.
    """

    def __init__(self, label, dt, model, reference=None, refuse=True):
        self.label, self.dt, self.model = label, dt, model
        self.reference, self.refuse = reference, refuse
        self.digests = []
        self.differences = []
        self.activations = 0
        self.script_dt = set()
        self.poisson = set()
        self._seen = weakref.WeakSet()

    def before_run(self, device, net):
        from brian2 import PoissonGroup, PoissonInput, second

        clock = device.defaultclock
        if not np.isclose(clock.dt_, self.dt, rtol=1e-9, atol=0):
            self.script_dt.add(str(clock.dt))
            clock.dt = self.dt * second
        self.poisson |= {type(obj).__name__ for obj in net.objects if isinstance(obj, (PoissonGroup, PoissonInput))}
        if net in self._seen:
            return
        self._seen.add(net)
        digest = network_digest(net)
        k = len(self.digests)
        self.digests.append(digest)
        if self.reference is None:
            return
        if k < len(self.reference):
            differences = self.reference[k].differences(digest)
        else:
            differences = [f"the exact run had {len(self.reference)} network(s), this run starts network {k + 1}"]
        self.differences += differences
        if differences and self.refuse:
            shown = "; ".join(differences[:6]) + (f"; and {len(differences) - 6} more" if len(differences) > 6 else "")
            raise DifferentNetworksError(
                f"the clock-driven run at {self.label[3:]} of {self.model} builds another network than the exact "
                f"run (network {k + 1}, at its first run()): {shown}. Both runs start from the same seed(), so the "
                "model draws something else in one of them (its own unseeded random numbers, a branch on the "
                "device, or random numbers drawn by an earlier run); pass same_network='report' "
                "(sparseprop-compare --allow-different-networks) to compare them all the same"
            )

    def finish(self):
        """Differences in the number of networks, found once the run is over."""
        if self.reference is not None and len(self.digests) < len(self.reference):
            self.differences.append(f"the exact run had {len(self.reference)} network(s), this run {len(self.digests)}")


class _ExactDevice(SparsePropDevice):
    """The 'sparseprop' device of one exact run: ``fallback`` fixed by the comparison, digests taken."""

    def __init__(self, leg, fallback):
        super().__init__()
        self.leg, self.leg_fallback = leg, fallback

    def activate(self, build_on_run=True, **kwargs):
        """Count activations; the arguments of a ``set_device`` in the script are ignored."""
        self.leg.activations += 1
        super().activate(build_on_run=build_on_run, fallback=self.leg_fallback)

    def network_run(self, net, duration, *args, level=0, **kwds):
        self.leg.before_run(self, net)
        super().network_run(net, duration, *args, level=level + 1, **kwds)


class _ClockDevice(RuntimeDevice):
    """Brian2's runtime device for one clock-driven run (its random numbers shared), digests taken."""

    def __init__(self, leg):
        super().__init__()
        share_random_numbers(self)
        self.leg = leg

    def activate(self, build_on_run=True, **kwargs):
        """Count activations; the arguments of a ``set_device`` in the script are ignored."""
        self.leg.activations += 1
        super().activate(build_on_run=build_on_run)

    def network_run(self, net, duration, report=None, report_period=None, namespace=None, profile=None, level=0):
        from brian2 import Network, get_local_namespace, second

        self.leg.before_run(self, net)
        if namespace is None:
            namespace = get_local_namespace(level=level + 2)
        if report_period is None:
            report_period = 10 * second
        Network.run.original_function(
            net, duration, report=report, report_period=report_period, namespace=namespace, profile=profile
        )


@contextlib.contextmanager
def _only_device(device):
    """Make ``device`` the current device and the one every ``set_device(name)`` selects, until the end."""
    import brian2

    saved = dict(all_devices)
    depth = len(previous_devices)
    all_devices.update(dict.fromkeys(saved, device))
    brian2.set_device(device)
    try:
        yield
    finally:
        all_devices.update(saved)
        del previous_devices[depth + 1 :]  # what the model's set_device() calls pushed
        reset_device()


class _Labelled(io.TextIOBase):
    """A text stream that passes each complete line to ``emit`` prefixed with ``[label]``."""

    def __init__(self, label, emit):
        super().__init__()
        self.label, self.emit, self.pending = label, emit, ""

    def writable(self):
        return True

    def write(self, text):
        lines = (self.pending + text).split("\n")
        self.pending = lines.pop()
        for line in lines:
            self.emit(f"[{self.label}] {line}")
        return len(text)

    def flush(self):
        """Complete lines are passed on at once; a partial line waits for its end (or `close`)."""

    def close(self):
        if self.pending:
            self.emit(f"[{self.label}] {self.pending}")
            self.pending = ""
        super().close()


def _collect():
    """Drop what Brian2 keeps of earlier runs, then collect: a magic ``run()`` that failed (an error in the
    model or a refusal) leaves its objects in the magic network until the next magic run, which would
    release them in the middle of a comparison and change the names of one leg's objects."""
    magic_network.objects.clear()  # filled again at each magic run
    gc.collect()


def _run(model, leg, device, seed, target, args, emit):
    """Run the model once on ``device``; returns {monitor: (times, indices, n, t_stop)}."""
    import brian2

    old_target, old_argv = brian2.prefs.codegen.target, sys.argv
    describe = "exact, sparseprop device" if leg.reference is None else f"clock-driven, Brian2 runtime, {leg.label[3:]}"
    emit(f"[{leg.label}] start ({describe})")
    started = time.perf_counter()
    output = _Labelled(leg.label, emit)
    try:
        with _only_device(device), contextlib.redirect_stdout(output):
            brian2.prefs.codegen.target = target
            brian2.start_scope()
            brian2.defaultclock.dt = leg.dt * brian2.second
            brian2.seed(seed)
            if callable(model):
                monitors = _spike_monitors(model())
            else:
                sys.argv = [str(model), *args]
                namespace = runpy.run_path(str(model), run_name="__main__")
                monitors = {k: v for k, v in namespace.items() if isinstance(v, brian2.SpikeMonitor)}
                del namespace
            if not monitors:
                raise ValueError(f"the model recorded no spikes: no SpikeMonitor found in {model}")
            for name, mon in monitors.items():
                if not mon.record:
                    raise ValueError(f"SpikeMonitor '{name}' was created with record=False: nothing to compare")
            spikes = {
                name: (
                    np.array(mon.t_[:], dtype=float),
                    np.array(mon.i[:], dtype=np.int64),
                    len(mon.source),
                    float(mon.clock.t_[:].item()),
                )
                for name, mon in monitors.items()
            }
            del monitors
    finally:
        output.close()
        brian2.prefs.codegen.target = old_target
        sys.argv = old_argv
    leg.finish()
    n_spikes = sum(len(v[0]) for v in spikes.values())
    digests = ", ".join(d.hexdigest[:12] for d in leg.digests) or "none (no run)"
    same = "" if leg.reference is None else (" (different!)" if leg.differences else " (the exact run's)")
    emit(
        f"[{leg.label}] done in {time.perf_counter() - started:.1f} s: {n_spikes} spikes in {len(spikes)} "
        f"monitor(s); network digest {digests}{same}"
    )
    return spikes


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


def compare(
    model,
    dt=(1e-4, 1e-5),
    seed=0,
    target="auto",
    tolerance=1e-3,
    time_constant=0.01,
    fallback=False,
    args=(),
    same_network="refuse",
    progress=None,
):
    """Run a model exactly and clock-driven at each ``dt``; compare the spikes of every SpikeMonitor.

    Every run has its own device, which the model cannot change: a ``set_device(...)`` in the script
    selects that run's device again (its arguments are ignored), and a ``defaultclock.dt`` that the
    script sets is replaced by the run's ``dt`` at every ``run()`` (the exact run uses the smallest
    ``dt`` for its monitors' clocks); both are listed in the result's notes. Every run starts from
    ``seed(seed)``, and at the first ``run()`` of each network the network is digested
    (`brian2_sparseprop.device.digest.network_digest`: connectivity, delays, weights, initial values
    and random parameters); the device draws ``connect(p=...)``, ``rand()`` and ``randn()`` as
    Brian2's runtime does, so the digests agree for any script whose network follows from its seed.

    Parameters
    ----------
    model : str, Path or callable
        A Brian2 script (run as ``__main__``; its module-level SpikeMonitors are compared), or a
        function without arguments that builds and runs a network and returns a SpikeMonitor, a list
        or a dict of them.
    dt : Quantity (time), float or sequence of float
        Time steps of the clock-driven runs (each > 0): a Quantity of either library (Brian2's or
        ``quantities``, a scalar or an array), a sequence of them, or plain numbers in seconds.
    seed : int
        Passed to Brian2's ``seed()`` before every run.
    target : str
        Brian2 code generation target of all runs ('auto', 'cython' or 'numpy').
    tolerance : Quantity (time) or float
        Two spike times further apart than this count as diverged (> 0; a float in seconds).
    time_constant : Quantity (time) or float
        Time constant of the van Rossum distance (> 0; a float in seconds).
    fallback : bool
        Allow the 'exact' run to fall back to Brian2's runtime for unsupported networks.
    args : sequence of str
        Command-line arguments of a script model (its ``sys.argv[1:]`` in every run).
    same_network : {'refuse', 'report'}
        What a clock-driven run whose network differs from the exact run's does: raise a `DifferentNetworksError`
        before it is simulated, or run and be reported in ``notes`` (``same_network`` False).
    progress : callable or None
        Receives a line at the start and at the end of every run (with its time, spike count and
        network digest) and every line the model prints, labelled with the run (``[exact]``,
        ``[dt=0.1 ms]``); None writes them to ``sys.stderr``.

    Returns
    -------
    Comparison
        Rows of metrics per monitor and dt, with the spike data, digests and notes of all runs.

    Raises
    ------
    TypeError
        If ``model`` is neither a path nor a callable, ``args`` are not strings, or ``dt``,
        ``tolerance`` or ``time_constant`` is a Quantity of another dimension than time.
    ValueError
        For non-positive ``dt``, ``tolerance`` or ``time_constant``, ``args`` with a callable model,
        an unknown ``same_network`` or a model without SpikeMonitors.
    DifferentNetworksError
        With ``same_network='refuse'``: a clock-driven run builds another network than the exact run
        (raised at that network's first ``run()``, before it is simulated; the message names the parts
        that differ). A subclass of ValueError.
    NotImplementedError
        If the exact device refuses the model (and ``fallback`` is False).

    Examples
    --------
    >>> from brian2 import NeuronGroup, SpikeMonitor, run, ms
    >>> def model():
    ...     G = NeuronGroup(3, 'dv/dt = (I - v)/(10*ms) : 1\\nI : 1', threshold='v > 1', reset='v = 0', name='G')
    ...     G.I = [1.2, 1.5, 2.0]
    ...     mon = SpikeMonitor(G, name='mon')
    ...     run(50 * ms)
    ...     return mon
    >>> lines = []
    >>> result = compare(model, dt=[1e-4, 1e-5], target='numpy', progress=lines.append)
    >>> errors = [row['first_spike_error'] for row in result.rows]
    >>> 5 < errors[0] / errors[1] < 20   # the clock-driven error falls about linearly with dt
    True
    >>> result.same_network, len(set(d for v in result.digests.values() for d in v))
    (True, 1)
    >>> [line.split(' (')[0] for line in lines if ' start ' in line]
    ['[exact] start', '[dt=0.1 ms] start', '[dt=0.01 ms] start']
    """
    if not callable(model) and not isinstance(model, (str, Path)):
        raise TypeError(f"model must be a script path or a callable, found: {type(model).__name__}")
    if not callable(model) and not Path(model).is_file():
        raise ValueError(f"model script not found: {model}")
    if isinstance(dt, (list, tuple)):  # one Quantity or number per run, e.g. [0.1 * ms, 0.01 * ms]
        dt = [si_value(f"dt[{k}]", d, "time") for k, d in enumerate(dt)]
    dts = real_array("dt", si_value("dt", dt, "time")).reshape(-1).tolist()
    for d in dts:
        if not (np.isfinite(d) and d > 0):
            raise ValueError(f"dt must be > 0, found: {d}")
    tolerance = check_real("tolerance", si_value("tolerance", tolerance, "time"), positive=True)
    time_constant = check_real("time_constant", si_value("time_constant", time_constant, "time"), positive=True)
    if isinstance(args, str) or not all(isinstance(a, str) for a in args):
        raise TypeError(f"args must be a sequence of strings, found: {args!r}")
    if args and callable(model):
        raise ValueError(f"args are passed to a script model only, found args {list(args)} for a callable")
    if same_network not in _SAME_NETWORK:
        raise ValueError(f"same_network must be one of 'refuse', 'report', found: {same_network!r}")
    if progress is None:

        def progress(line):
            print(line, file=sys.stderr, flush=True)

    # Brian2 names objects after the living ones ('neurongroup_1' while a 'neurongroup' lives): every run
    # starts after a collection (`_collect`), so that objects of earlier runs and models do not change the names
    _collect()
    exact_leg = _Leg("exact", min(dts), model)
    exact = _run(model, exact_leg, _ExactDevice(exact_leg, fallback), seed, target, args, progress)
    clock, legs = {}, [exact_leg]
    for d in dts:
        leg = _Leg(_dt_label(d), d, model, reference=exact_leg.digests, refuse=same_network == "refuse")
        _collect()
        clock[d] = _run(model, leg, _ClockDevice(leg), seed, target, args, progress)
        legs.append(leg)
    notes = _notes(legs)
    statistics_only = any(leg.poisson for leg in legs)
    rows = [
        dict(_row(name, d, exact[name], clock[d][name], tolerance, time_constant), statistics_only=statistics_only)
        for d in dts
        for name in sorted(exact)
    ]
    duration = max(v[3] for v in exact.values())
    return Comparison(
        rows=rows,
        exact=exact,
        clock=clock,
        tolerance=tolerance,
        duration=duration,
        digests={leg.label: [d.hexdigest for d in leg.digests] for leg in legs},
        same_network=not any(leg.differences for leg in legs),
        notes=notes,
    )


def _notes(legs):
    """The notes of a comparison: Poisson input, what the script set and the comparison replaced, differences."""
    notes = []
    poisson = sorted(set().union(*(leg.poisson for leg in legs)))
    if poisson:
        notes.append(
            f"* the network has {' and '.join(poisson)} input, which the exact and the clock-driven runs draw "
            "differently (different realisations of the same Poisson processes): only the rates, CVs and Fano "
            "factors compare; spike-time errors, van Rossum distances and divergence times do not"
        )
    script_dt = sorted(set().union(*(leg.script_dt for leg in legs)))
    if script_dt:
        notes.append(
            f"the script sets defaultclock.dt = {', '.join(script_dt)}; each run used its own dt instead "
            f"(exact run: {legs[0].dt * 1e3:g} ms for its monitors)"
        )
    if any(leg.activations > 1 for leg in legs):
        notes.append(
            "the script calls set_device(); each run kept its own device (exact: sparseprop, clock-driven: "
            "Brian2's runtime)"
        )
    for leg in legs[1:]:
        if leg.differences:
            notes.append(
                f"DIFFERENT NETWORKS: the run at {leg.label[3:]} built another network than the exact run "
                f"({'; '.join(leg.differences[:3])}): its spike-time errors compare different networks"
            )
    return notes
