"""The Brian2 device 'sparseprop': ordinary Brian2 scripts run with the exact event-driven engine.

``import brian2_sparseprop`` registers the device; ``set_device('sparseprop')`` makes ``run()`` and
``Network.run()`` recognise the network (`brian2_sparseprop.device.recognition`), simulate it with
`brian2_sparseprop.EventNetwork` in continuous time, and write the results back into the ordinary
Brian2 objects: final state variables, ``lastspike``/``not_refractory``, SpikeMonitor, StateMonitor
(exact values at the monitor's clock ticks), PopulationRateMonitor, clocks and ``Network.t``.
The exact path generates and compiles no Brian2 code.

``set_device('sparseprop', fallback=True)`` runs networks that cannot be simulated exactly with
Brian2's ordinary runtime instead, with one warning per refused construct.
"""

import dataclasses
import pickle
import sys
import time
import warnings
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from brian2 import (
    BrianObject,
    BrianObjectException,
    Network,
    NeuronGroup,
    PoissonGroup,
    SpikeGeneratorGroup,
    Subgroup,
    get_local_namespace,
    get_logger,
    second,
)

from ._brian2 import RuntimeDevice, TextReport, all_devices, fail_for_dimension_mismatch, magic_network
from .recognition import _root, _scalar_if_constant, recognise_network

__all__ = [
    "SparsePropDevice",
    "ExactFallbackWarning",
    "ExactMethodWarning",
    "EngineRestartWarning",
    "share_random_numbers",
]

_generator_logger = get_logger("brian2.input.spikegeneratorgroup")


class ExactFallbackWarning(UserWarning):
    """A network was run with Brian2's runtime because the exact engine cannot simulate it."""


class ExactMethodWarning(UserWarning):
    """A group asked for a numerical integration method; the device solves its model exactly instead."""


class EngineRestartWarning(UserWarning):
    """A change between two runs restarted the exact engine, which dropped spikes in flight or refractoriness."""


@dataclass
class _Session:
    """The engine behind one Brian2 Network, and what has been written back from it."""

    spec: object
    engine: object
    t_offset: float
    state_indices: np.ndarray
    written: dict = field(default_factory=dict)
    n_spikes_seen: int = 0
    n_states_seen: int = 0
    n_poisson_seen: dict = field(default_factory=dict)  # events of a monitored PoissonGroup written back
    lastspike: np.ndarray = None
    key: tuple = None
    t_end: float = None
    #: the engine's time quantum (s, 0 for none)
    quantum: float = 0.0
    #: with gradients=True: why the runs have no gradient (an exception to raise), or the derivative map
    tape_refusal: Exception = None
    derivatives: tuple = None


class ExactNetwork(NamedTuple):
    """What `SparsePropDevice.exact_network` returns: the engine, the Brian2 time of its t = 0, the groups."""

    network: object
    t_offset: float
    groups: dict


@dataclass
class _Stored:
    """An engine state restored by ``Network.restore``, to be attached at the next run."""

    key: tuple
    t_offset: float
    lastspike: np.ndarray
    engine: object
    #: values of each group's state variable right after the restore
    written: dict = field(default_factory=dict)


#: recognised parameters that a running engine takes over between runs (`EventNetwork.set_params`)
_NEURON_PARAMETERS = ("tau", "drive", "threshold", "reset", "refractory")

#: the label of the linear models' constant input b in `_spec_key` (TimedArray inputs change it; a running engine
#: takes it over with `EventNetwork.set_params`)
_LINEAR_INPUT = "linear input"


def _spec_key(spec, quantum=0.0):
    """The parts of a recognised network that fix the engine (everything but the initial state), with the
    engine's time quantum ``quantum`` (s, 0 for none).

    Returns the object names, the parts as (label, array) pairs, and the ids of the arrays that are
    connectivity (``indptr``, ``indices``): Brian2 only ever appends synapses, never changes them in place,
    so a snapshot may refer to these instead of copying them. The labels name each part in a warning
    and tell `_carry_over` what changed: see `_RESTART`.
    """
    parts = [("neuron models", spec.model), (_QUANTUM_LABEL, np.array([quantum]))]
    parts += [(name, getattr(spec, name)) for name in _NEURON_PARAMETERS]
    parts += [("neuron models", p) for p in (spec.tau_e, spec.tau_i) if p is not None]  # the currents' tau
    parts += [("neuron models", p) for p in (spec.E_e, spec.E_i) if p is not None]  # reversal potentials
    if spec.linear is not None:  # the linear models' matrices, threshold coefficients, resets and inputs
        m = spec.linear
        parts += [("neuron models", np.concatenate([m.A.ravel(), m.c, m.reset_scale, m.reset_offset, m.pulse]))]
        parts += [(_LINEAR_INPUT, m.b)]
    parts += [("connectivity", spec.indptr), ("connectivity", spec.indices)]
    parts += [("weights", spec.weights), ("delays", spec.delays)]
    structural = {id(spec.indptr), id(spec.indices)}
    for plastic in spec.plasticity:
        rule = plastic["rule"]
        if plastic["kind"] == "stdp":
            values = np.array([rule[k] for k in sorted(rule)] + list(plastic["scales"]), float)
        else:  # per-synapse parameters, and the order of the statements as its codes
            codes = ["kick", "u", "x"]
            values = [np.ravel(rule[k]) for k in sorted(rule) if k != "order"] + [
                [codes.index(s) for s in rule["order"]]
            ]
            values = np.concatenate([np.asarray(v, float) for v in values])
        parts.append(("plasticity rules", values))
    for k, entry in enumerate(spec.poisson_inputs):
        parts += [
            (f"rate of PoissonInput {k}", np.atleast_1d(entry["rate"])),
            (f"weight of PoissonInput {k}", np.atleast_1d(entry["weight"])),
            (f"targets of PoissonInput {k}", entry["targets"]),
        ]
    for source in spec.poisson_sources + spec.spike_generators:
        name = source.group.name
        parts += [(f"connectivity of '{name}'", source.indptr), (f"connectivity of '{name}'", source.indices)]
        parts += [(f"weights of '{name}'", source.weights), (f"delays of '{name}'", source.delays)]
        structural |= {id(source.indptr), id(source.indices)}
        label = f"rates of '{name}'" if isinstance(source.group, PoissonGroup) else f"spikes of '{name}'"
        parts += [
            (label, np.asarray(source.group.variables[v].get_value())) for v in _SOURCE_VARIABLES[type(source.group)]
        ]
    names = [g.group.name for g in spec.groups]
    names += [s.group.name for s in spec.poisson_sources + spec.spike_generators]
    names += [m.name for m in spec.spike_monitors + spec.state_monitors + spec.rate_monitors]
    return names, parts, structural


_SOURCE_VARIABLES = {PoissonGroup: ("rates",), SpikeGeneratorGroup: ("spike_time", "neuron_index", "period")}

#: the label of the time quantum in `_spec_key` (a change of it names the reason in EngineRestartWarning)
_QUANTUM_LABEL = "the time quantum (a delay or refractory period is no longer a whole number of dt)"

#: changes that a running engine cannot take over: the engine is built again (labels of `_spec_key`)
_RESTART = ("neuron models", "connectivity", "targets of ", "plasticity rules", _QUANTUM_LABEL)


def _key_quantum(key):
    """The time quantum (s, 0 for none) of the engine a key was taken for (see `_spec_key`)."""
    return float(dict(key[1])[_QUANTUM_LABEL][0])


def _network_dt(spec):
    """The smallest ``dt`` (s) of the clocks of the network's neuron groups and Synapses."""
    clocks = [g.group.clock for g in spec.groups] + [s["synapses"].clock for s in spec.synapses]
    return min(c.dt_ for c in clocks)


def _off_quantum(spec, quantum):
    """The first delay or refractory period of ``spec`` that is not a whole number of ``quantum`` (s), as
    ``(what, value)``, or None when all are."""
    from ..spiking.network import _off_quanta  # the engine's rule (imported on use, as EventNetwork)

    parts = [("refractory period", spec.refractory), ("synaptic delay", spec.delays)]
    parts += [(f"delay of the synapses from '{s.group.name}'", s.delays) for s in spec.poisson_sources]
    parts += [(f"delay of the synapses from '{s.group.name}'", s.delays) for s in spec.spike_generators]
    for what, values in parts:
        values = np.ravel(values)
        off = _off_quanta(values, quantum)
        if off.any():
            return what, float(values[np.argmax(off)])
    return None


def _snapshot(key):
    """A copy of a key that later changes of the Brian2 arrays it refers to cannot alter.

    Several recognised arrays are views of Brian2's own arrays (e.g. per-synapse weights); a constant
    broadcast over all synapses is stored as one value.
    """
    names, parts, structural = key
    frozen = []
    for label, part in parts:
        if id(part) in structural:
            frozen.append((label, part))
            continue
        part = np.asarray(part)
        if part.ndim == 1 and len(part) and part.strides == (0,):
            frozen.append((label, np.broadcast_to(part[:1].copy(), part.shape)))
        else:
            frozen.append((label, part.copy()))
    return list(names), frozen, set()


def _changes(a, b):
    """Labels of the parts that differ between two keys (in order, once each), or None if the objects differ."""
    if a[0] != b[0] or [label for label, _ in a[1]] != [label for label, _ in b[1]]:
        return None
    changed = [la for (la, x), (_, y) in zip(a[1], b[1]) if not np.array_equal(x, y)]
    return list(dict.fromkeys(changed))


def _must_restart(changes):
    """The changes among ``changes`` that a running engine cannot take over."""
    return [c for c in changes if c.startswith(_RESTART)]


def _changed_groups(spec, written):
    """Names of the groups whose state variable differs from the values last written (or restored)."""
    return [
        g.group.name
        for g in spec.groups
        if not np.array_equal(g.group.variables[g.variable].get_value(), written.get(g.group.name))
    ]


def _warn_restart(net, spec, t_now, engine_state, lastspike, what):
    """Warn that a rebuilt engine drops what the old one held at ``t_now``: spikes in flight, refractoriness.

    ``engine_state`` is the old engine's ``get_state()`` (or None), ``lastspike`` its neurons' last spike
    times (s, -inf if none), ``what`` names the changes. Nothing is said when nothing is lost.
    """
    in_flight = 0 if engine_state is None else len(engine_state["delay_queue"]["t_arr"])
    refractory = 0
    if len(lastspike) == spec.n:
        refractory = int(np.count_nonzero(t_now - lastspike < spec.refractory))
    if in_flight or refractory:
        warnings.warn(
            f"{type(net).__name__} '{net.name}': {what} changed between runs, so the exact engine restarts from "
            f"the current values at t = {t_now * second!s}; {in_flight} pending delayed spike events and the "
            f"refractoriness of {refractory} neurons are dropped (Brian2's runtime would keep them)",
            EngineRestartWarning,
            stacklevel=6,
        )


def _generator_spikes(group, t_offset, spikes=None, quantum=0.0):
    """Spike times (relative to the engine's origin ``t_offset``), indices and period of a
    SpikeGeneratorGroup, as the engine takes them: ordered by time, then index. With a time ``quantum``
    (s) and an origin on its grid, a time within 16 rounding steps of a whole number of quanta is passed
    as that number of quanta from the origin, so that the engine takes it as a point of its grid (a
    subtraction ``t - t_offset`` would leave it up to ``eps * t_offset`` off)."""
    times, indices, period, positions = _generator_order(group, t_offset, spikes, quantum)
    return times[positions], indices[positions], period


def _generator_order(group, t_offset, spikes=None, quantum=0.0):
    """The spike times (relative to ``t_offset``, within the period if there is one), indices and period of
    a SpikeGeneratorGroup in Brian2's order, and the positions of the spikes the engine takes, in its
    order (by time, then index; without a period, the spikes before ``t_offset`` are left out).
    ``spikes``: its (spike_time, neuron_index, period) values as stored earlier instead of the current."""
    if spikes is None:
        spikes = [group.variables[v].get_value() for v in _SOURCE_VARIABLES[SpikeGeneratorGroup]]
    times = np.asarray(spikes[0], dtype=float)
    indices = np.asarray(spikes[1], dtype=np.int64)
    period = float(np.reshape(spikes[2], -1)[0])
    absolute = times
    if period > 0:
        times = np.mod(times - t_offset, period)
        kept = np.arange(len(times))
    else:
        kept = np.flatnonzero(times >= t_offset)
        times = times - t_offset
    if quantum:
        from ..spiking.network import _off_quanta
    if quantum and not _off_quanta(t_offset, quantum) and not (period > 0 and _off_quanta(period, quantum)):
        steps = np.rint(absolute / quantum) - np.rint(t_offset / quantum)
        if period > 0:
            steps = np.mod(steps, np.rint(period / quantum))
        on = ~_off_quanta(absolute, quantum)
        times = np.where(on, steps * quantum, times)
    return times, indices, period, kept[np.lexsort((indices[kept], times[kept]))]


def _check_generator(group, t_now):
    """Brian2's checks of a SpikeGeneratorGroup before a run, so that scripts behave the same.

    One spike per neuron and time step, a period of at least dt, and a warning (with Brian2's own
    logger name) when changed spike times lie before the current time. Errors are wrapped in
    `BrianObjectException` as Brian2's ``before_run`` does.
    """
    dt = group.clock.dt_
    try:
        period = float(group.variables["period"].get_value().reshape(-1)[0])
        if 0 < period < dt:
            raise ValueError(
                f"The period of '{group.name}' is {period * second!s}, which is smaller than its dt of {dt * second!s}."
            )
        times = np.asarray(group.variables["spike_time"].get_value(), dtype=float)
        indices = np.asarray(group.variables["neuron_index"].get_value())
        if group._spikes_changed:
            past = np.flatnonzero(np.round(times / dt) < np.round(t_now / dt))
            if len(past):
                _generator_logger.warn(
                    "The SpikeGeneratorGroup contains spike times earlier than the start time of the current "
                    f"run (t = {t_now * second!s}), these spikes will be ignored.",
                    name_suffix="ignored_spikes",
                )
        bins = np.asarray((times + 1e-3 * dt) / dt, dtype=np.int64)
        if np.any((np.diff(bins) == 0) & (np.diff(indices) == 0)):
            raise ValueError(
                f"Using a dt of {dt * second!s}, some neurons of SpikeGeneratorGroup '{group.name}' spike more "
                "than once during a time step."
            )
    except ValueError as error:
        raise BrianObjectException("An error occurred when preparing an object.", group) from error
    group._spikes_changed = False


def _claim_objects(net):
    """Mark the objects of ``net`` as run in it, as Brian2's ``Network.before_run`` does (its
    ``_network`` attribute): an object run in one network refuses another, and Brian2 does not warn that
    it was never included in a network when it is deleted."""
    for obj in net.sorted_objects:
        if obj._network is None:
            obj._network = net.id
        elif obj._network != net.id:
            raise RuntimeError(
                f"'{obj.name}' has already been run in the context of another network. Use add/remove to "
                "change the objects in a simulated network instead of creating a new one."
            )


def _engine_progress(callback, t_start, duration):
    """The engine's report(t_now, t_first, t_stop, elapsed) as Brian2's report(elapsed, completed, start, duration)."""

    def progress(t_now, t_first, t_stop, elapsed):
        fraction = min(1.0, (t_now - t_first) / (t_stop - t_first)) if t_stop > t_first else 1.0
        callback(elapsed * second, fraction, t_start * second, duration * second)

    return progress


def _poisson_position(spec, name):
    """Position, among the engine's Poisson inputs (PoissonInputs first), of the PoissonGroup ``name``."""
    return len(spec.poisson_inputs) + [s.group.name for s in spec.poisson_sources].index(name)


def _generator_events(group, t_start, t_end):
    """Spikes (times, indices) of a SpikeGeneratorGroup in [t_start, t_end), period included."""
    times = np.asarray(group.variables["spike_time"].get_value(), dtype=float)
    indices = np.asarray(group.variables["neuron_index"].get_value(), dtype=np.int64)
    period = float(group.variables["period"].get_value().reshape(-1)[0])
    if period > 0 and len(times):
        first = int(np.floor(t_start / period))
        last = int(np.ceil(t_end / period))
        cycles = np.arange(first, last + 1)
        times = (times[None, :] + period * cycles[:, None]).ravel()
        indices = np.tile(indices, len(cycles))
    keep = (times >= t_start) & (times < t_end)
    order = np.lexsort((indices[keep], times[keep]))
    return times[keep][order], indices[keep][order]


def _is_static_monitor(mon, spec):
    """True for a StateMonitor of a static group (see `EngineSpec.static_groups`)."""
    return any(g.name == _root(mon.source).name for g in spec.static_groups)


class _RecordNow:
    """A StateMonitor's ``codeobj`` after a run with the device: appends the recorded variables' values at the
    end of the run (the group's variables hold the engine's state then), as Brian2's
    ``StateMonitor.record_single_timestep()`` does with its code object."""

    def __init__(self, mon):
        self.mon = mon

    def __call__(self):
        mon = self.mon
        size = len(mon.variables["t"].get_value())
        mon.resize(size + 1)
        mon.variables["t"].get_value()[size] = np.asarray(mon.clock.t_).reshape(-1)[0]
        local = np.asarray(mon.record, dtype=np.int64) + (mon.source.start if isinstance(mon.source, Subgroup) else 0)
        root = mon.source.source if isinstance(mon.source, Subgroup) else mon.source
        for name in mon.record_variables:
            mon.recorded_variables[name].get_value()[size] = root.state(name, use_units=False)[local]


def _clock_ticks(clock, t_start, t_end):
    """Times (s) of the clock's ticks in a run from t_start to t_end, as Brian2 steps them."""
    clock.set_interval(t_start * second, t_end * second)
    first = int(clock.variables["timestep"].get_value().reshape(-1)[0])
    return np.arange(first, int(clock._i_end)) * clock.dt_


def _append(variable, values):
    """Append values along the first axis of a dynamic Brian2 array variable."""
    old = variable.get_value()
    size = len(old)
    new_shape = (size + len(values),) + tuple(old.shape[1:])
    variable.resize(new_shape if len(new_shape) > 1 else new_shape[0])
    variable.get_value()[size:] = values


def share_random_numbers(device):
    """Let ``device`` draw ``rand()`` and ``randn()`` from the random numbers of Brian2's runtime device.

    Brian2's Cython target draws ``rand()`` and ``randn()`` (in ``connect(p=...)``, in ``connect``
    conditions, in run-time code) from buffers of 20,000 numbers that it refills from numpy's global
    generator; its generated code refers to the buffers of the runtime device (``all_devices['runtime']``),
    whichever device is active, while ``seed()`` empties only the buffers of the active device. A device
    that derives from Brian2's runtime device therefore shares those buffers, so that ``seed()`` empties
    the ones the code draws from. Brian2's numpy target draws straight from numpy's global generator,
    which ``seed()`` seeds for every device.

    Parameters
    ----------
    device : brian2.devices.device.RuntimeDevice
        A runtime device other than ``all_devices['runtime']``; it is changed in place.

    Examples
    --------
    >>> from brian2.devices.device import RuntimeDevice, all_devices
    >>> device = RuntimeDevice()
    >>> share_random_numbers(device)
    >>> device.rand_buffer_index is all_devices['runtime'].rand_buffer_index
    True
    """
    runtime = all_devices["runtime"]
    for name in ("rand_buffer", "rand_buffer_index", "randn_buffer", "randn_buffer_index"):
        setattr(device, name, getattr(runtime, name))


class SparsePropDevice(RuntimeDevice):
    """Brian2 device that runs recognised networks with the exact event-driven engine.

    Registered as ``'sparseprop'`` on ``import brian2_sparseprop``; select it with
    ``set_device('sparseprop')`` or ``set_device('sparseprop', fallback=True)``. Storage of variables,
    synapse creation and state assignment are those of Brian2's runtime device, with the code generation
    target that the runtime device would choose and with its buffers of random numbers: under the same
    ``seed()``, ``connect(p=...)``, ``rand()`` and ``randn()`` build the same network as without the
    device (see `share_random_numbers`).

    ``set_device('sparseprop', time_quantum=...)`` says how times that coincide on the clock's grid are
    treated (see `brian2_sparseprop.EventNetwork`'s ``time_quantum``): ``'auto'`` (default) passes the
    clock's ``dt`` as the engine's time quantum when every delay (of synapses from neurons, PoissonGroups
    and SpikeGeneratorGroups) and every refractory period is a whole number of ``dt`` (to 16 rounding
    steps), so that events equal in exact arithmetic are one instant (simultaneous inputs summed, a kick
    at the end of a refractory period taken) as in Brian2's runtime, and runs without one otherwise, the
    delays kept exact; ``'dt'`` insists (ValueError naming a delay or refractory period that is not a
    whole number of ``dt``); ``None`` never uses one (events coincide when their times are the same
    double).

    Examples
    --------
    >>> import brian2
    >>> import brian2_sparseprop
    >>> from brian2 import NeuronGroup, SpikeMonitor, ms, run, set_device, start_scope
    >>> from brian2.devices.device import reset_device
    >>> set_device('sparseprop')
    >>> start_scope()
    >>> G = NeuronGroup(1, 'dv/dt = (1.1 - v)/(10*ms) : 1', threshold='v > 1', reset='v = 0')
    >>> mon = SpikeMonitor(G)
    >>> run(100 * ms)
    >>> round(float(mon.t[0] / ms), 6)  # 10 ms * ln(11)
    23.978953
    >>> sorted(brian2.get_device().timers)  # CPU seconds of the last run
    ['engine', 'recognition', 'total']
    >>> reset_device()

    Attributes
    ----------
    timers : dict of str to float
        CPU seconds of the last exact run: ``'recognition'`` (reading the Brian2 objects),
        ``'engine'`` (building, restoring and running `brian2_sparseprop.EventNetwork`) and
        ``'total'`` (all of ``run()``); the device's own cost is ``total - engine``. Empty after a
        fallback run.
    written_exactly : weakref.WeakSet
        Monitors and groups whose values were last written by an exact run (read by `to_neo`).
    """

    def __init__(self):
        super().__init__()
        share_random_numbers(self)
        self.fallback = False
        self.gradients = False
        self._warned = set()
        self._sessions = weakref.WeakKeyDictionary()
        self._magic_scope = None  # the start_scope() of the magic network's objects in its session
        self._store_target = None
        self.written_exactly = weakref.WeakSet()
        self.timers = {}
        self.time_quantum = "auto"

    def activate(self, build_on_run=True, fallback=False, gradients=False, time_quantum="auto", **kwargs):
        """Called by ``set_device``; ``fallback=True`` runs refused networks with Brian2's runtime;
        ``gradients=True`` records the tape of every exact run for `gradient`; ``time_quantum`` is
        ``'auto'``, ``'dt'`` or None (see the class)."""
        for name, value in (("fallback", fallback), ("gradients", gradients)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False, found: {value!r}")
        if time_quantum not in ("auto", "dt", None):
            raise ValueError(f"time_quantum must be 'auto', 'dt' or None, found: {time_quantum!r}")
        super().activate(build_on_run=build_on_run, **kwargs)
        self.fallback = fallback
        self.gradients = gradients
        self.time_quantum = time_quantum
        self._warned = set()

    # ------------------------------------------------------------------ run
    def network_run(
        self, net, duration, report=None, report_period=10 * second, namespace=None, profile=None, level=0, **kwds
    ):
        """Run ``net`` for ``duration`` exactly (called by ``Network.run`` via Brian2's device override)."""
        fail_for_dimension_mismatch(duration, second, "run duration must be a time, found: {value}", value=duration)
        if duration < 0:
            raise ValueError(f"Function 'run' expected a non-negative duration but got '{duration}'")
        if kwds:
            raise TypeError(f"unknown keyword argument(s) for run: {sorted(kwds)}")
        callback = self._report_callback(report, float(report_period))
        if namespace is None:
            namespace = get_local_namespace(level=level + 2)
        objects = [obj for obj in net.objects]
        self.timers = {}
        start = time.process_time()
        try:
            if profile:
                raise NotImplementedError(
                    "run(..., profile=True): Brian2's profiling times the code objects of each group, which the "
                    "exact engine does not run; the device's own split of a run's time (recognition, engine, "
                    "writing back) is in get_device().timers after the run"
                )
            with self._timing("recognition"):
                spec = recognise_network(objects, namespace, float(net.t_))
        except NotImplementedError as error:
            if not self.fallback:
                raise
            reason = str(error)
            if reason not in self._warned:
                self._warned.add(reason)
                warnings.warn(f"running with Brian2's runtime instead: {reason}", ExactFallbackWarning, stacklevel=3)
            self._sessions.pop(net, None)
            for obj in net.objects:
                self.written_exactly.discard(obj)  # now written by Brian2's runtime
            try:
                Network.run.original_function(
                    net, duration, report=report, report_period=report_period, namespace=namespace, profile=profile
                )
            finally:
                self.timers = {}
            return
        self._note_methods(spec)
        if net is magic_network and self._magic_scope != BrianObject._scope_current_key:
            # the one magic network of every script runs a new set of objects after start_scope(): a new
            # network, whatever engine it held before
            self._sessions.pop(net, None)
            self._magic_scope = BrianObject._scope_current_key
        _claim_objects(net)
        self.timers["engine"] = 0.0
        self._run_exact(net, spec, float(duration), callback, float(report_period), namespace)
        self.timers["total"] = time.process_time() - start

    def _note_methods(self, spec):
        """Say once per group that a numerical method it names (``method='euler'``) is not used: the device
        follows the model's trajectory exactly (Brian2's ``exact`` method, to machine precision)."""
        for g in spec.groups:
            method = g.group.method_choice
            if isinstance(method, str) and method not in ("exact", "linear"):
                note = f"method {g.group.name}:{method}"
                if note not in self._warned:
                    self._warned.add(note)
                    warnings.warn(
                        f"NeuronGroup '{g.group.name}' asks for method='{method}'; the sparseprop device solves its "
                        "model exactly instead (spike times to machine precision, no time step)",
                        ExactMethodWarning,
                        stacklevel=4,
                    )

    @contextmanager
    def _timing(self, name):
        """Adds the CPU time of the block to ``timers[name]``."""
        start = time.process_time()
        try:
            yield
        finally:
            self.timers[name] = self.timers.get(name, 0.0) + time.process_time() - start

    def _session(self, net, spec):
        """The cached engine of ``net``, with the changes made since the last run carried over, or a new one.

        Changes of parameters, weights, delays, Poisson rates and generator spikes go to the running
        engine (`_carry_over`; spikes in flight keep the delays they were sent with, as in Brian2); a
        changed set of objects, connectivity or model builds
        a new engine from the current values (with `EngineRestartWarning` if that drops spikes in flight
        or refractoriness)."""
        t_now = float(net.t_)
        session = self._sessions.get(net)
        quantum = self._time_quantum(spec, None if session is None else _key_quantum(session.key))
        key = _spec_key(spec, quantum)
        if self.gradients and isinstance(session, _Stored) and session.engine is not None and session.engine["t"] == 0:
            session = None  # restored to the engine's start: a new engine, whose tape starts there
        if isinstance(session, _Stored) or (session is not None and session.t_end == t_now):
            changes = _changes(session.key, key)
            restart = ["the network's objects"] if changes is None else _must_restart(changes)
            if not restart:
                # a state variable the user set in between goes to the engine as it stands, with spikes
                # in flight, refractoriness and the random stream kept
                before = session.written
                if isinstance(session, _Stored):
                    session = self._restored_session(net, spec, key, session)
                session.spec = spec
                try:
                    self._carry_over(session, spec, changes)
                except NotImplementedError:  # neurons with currents ('lif_exp'): not carried over yet
                    restart = list(changes)
                else:
                    session.key = _snapshot(key)
                    self._set_changed_states(session, spec, before)
                    return session
            if isinstance(session, _Stored):
                state = session.engine
            else:
                state = session.engine.get_state() if session.engine is not None else None
            _warn_restart(net, spec, t_now, state, session.lastspike, ", ".join(restart))
        quantum = self._time_quantum(spec)
        session = self._new_session(spec, t_now, quantum=quantum)
        session.key = _snapshot(_spec_key(spec, quantum))
        self._sessions[net] = session
        return session

    def _time_quantum(self, spec, previous=None):
        """The time quantum (s, 0 for none) of an engine for ``spec`` under the device's ``time_quantum``
        setting: the network's ``dt`` if every delay and refractory period is a whole number of it.

        ``previous`` is the quantum of the running engine (None for a new one): with ``'auto'``, an engine
        that runs without a quantum keeps running without one (a restart would drop its spikes in flight),
        and one with a quantum restarts without it when a changed delay or refractory period is no longer
        a whole number of ``dt``. ``'dt'`` raises ValueError then, naming the value."""
        if self.time_quantum is None or not spec.groups:
            return 0.0
        dt = _network_dt(spec)
        off = _off_quantum(spec, dt)
        if off is None:
            return 0.0 if self.time_quantum == "auto" and previous == 0.0 else dt
        if self.time_quantum == "auto":
            return 0.0
        what, value = off
        raise ValueError(
            f"set_device('sparseprop', time_quantum='dt') needs every delay and refractory period to be a whole "
            f"number of dt = {dt * second!s}; found a {what} of {value * second!s} = {value / dt:.15g} dt (Brian2's "
            "runtime would round it to dt; the device keeps it exact: use time_quantum='auto' to run it without "
            "a quantum, or make it a multiple of dt)"
        )

    def _carry_over(self, session, spec, changes):
        """Pass the changes (labels of `_spec_key`) to the running engine: `EventNetwork.set_params`,
        ``set_poisson`` and ``set_spike_generator``. Raises NotImplementedError, before anything
        changes, for networks with synaptic currents or conductances (see `EventNetwork.set_params`)."""
        engine = session.engine
        if engine is None or not changes:
            return
        params = {name: getattr(spec, name) for name in _NEURON_PARAMETERS if name in changes}
        if spec.linear is not None:  # linear neurons: b, theta and reset in their model
            if {"threshold", "reset", _LINEAR_INPUT} & set(changes):
                params["linear"] = spec.linear
            if (spec.model == "linear").all():
                params = {k: v for k, v in params.items() if k not in ("tau", "drive", "threshold", "reset")}
        if "refractory" in changes:  # Brian2 tests t - lastspike < refractory with the new period
            params["last_spike"] = session.lastspike - session.t_offset
        for name in ("weights", "delays"):
            if name in changes:
                params[name] = _scalar_if_constant(getattr(spec, name))
        with self._timing("engine"):
            if params:
                engine.set_params(**params)
            for k, entry in enumerate(spec.poisson_inputs):
                if f"rate of PoissonInput {k}" in changes or f"weight of PoissonInput {k}" in changes:
                    engine.set_poisson(k, rates=entry["rate"], weights=entry["weight"])
            for j, source in enumerate(spec.poisson_sources):
                name = source.group.name
                if any(f"{what} of '{name}'" in changes for what in ("rates", "weights", "delays")):
                    rates = np.asarray(source.group.variables["rates"].get_value(), dtype=float)
                    engine.set_poisson(
                        len(spec.poisson_inputs) + j, rates=rates, weights=source.weights, delays=source.delays
                    )
            for g, source in enumerate(spec.spike_generators):
                name = source.group.name
                if any(f"{what} of '{name}'" in changes for what in ("spikes", "weights", "delays")):
                    times, indices, period = _generator_spikes(source.group, session.t_offset, None, session.quantum)
                    engine.set_spike_generator(
                        g, times, indices, period=period, weights=source.weights, delays=source.delays
                    )

    def _set_changed_states(self, session, spec, before):
        """Pass every neuron whose state variable differs from ``before`` (the values last written or
        restored, per group) to the engine's ``set_v``."""
        for g in spec.groups:
            for name in list(g.currents) + [x for x in (g.linear or {}).get("variables", ()) if x != g.variable]:
                old = before.get((g.group.name, name))
                if old is not None and not np.array_equal(g.group.variables[name].get_value(), old):
                    raise NotImplementedError(
                        f"NeuronGroup '{g.group.name}': the {'current' if name in g.currents else 'variable'} "
                        f"'{name}' was changed between runs; the "
                        f"sparseprop device continues a run from the engine's state and supports changes of "
                        f"'{g.variable}' only (or store() before and restore() to go back)"
                    )
        for name in _changed_groups(spec, before):
            g = next(g for g in spec.groups if g.group.name == name)
            current = np.array(g.group.variables[g.variable].get_value())
            old = before.get(name)
            idx = np.arange(g.n) if old is None else np.flatnonzero(current != old)
            if session.engine is not None:
                with self._timing("engine"):
                    session.engine.set_v(g.to_engine(current)[idx], g.offset + idx)
            session.written[name] = current
        if session.engine is not None:
            self._set_changed_plastic_states(session, spec, before)

    def _set_changed_plastic_states(self, session, spec, before):
        """Pass the plastic synapses' variables (STP's u and x, STDP's traces) that differ from the values
        last written to the engine, as Brian2 takes ``S.x = ...`` between runs: the values at each synapse's
        ``lastupdate``."""
        kinds = {"stp": ("variables", ("u", "x")), "stdp": ("traces", ("apre", "apost"))}
        for kind, (names_key, keys) in kinds.items():
            for r, plastic in enumerate(p for p in spec.plasticity if p["kind"] == kind):
                syn = plastic["synapses"]
                scales = (1.0, 1.0) if kind == "stp" else plastic["scales"][1:]
                changed = {}
                for name, key, scale in zip(plastic[names_key], keys, scales):
                    value = None if name is None else np.asarray(syn.variables[name].get_value(), dtype=float)
                    if value is not None and not np.array_equal(value, before.get((syn.name, name))):
                        changed[key] = scale * value
                        session.written[syn.name, name] = value.copy()
                if changed:
                    with self._timing("engine"):
                        setter = session.engine.set_stp_state if kind == "stp" else session.engine.set_stdp_traces
                        setter(r, **changed)

    def _restored_session(self, net, spec, key, stored):
        """The session of an engine restored by ``Network.restore``: built with the parameters it was
        stored with (its state is in their terms), then given the stored state; `_carry_over` then passes
        the parameters changed since."""
        stored_values = {}
        for label, value in stored.key[1]:
            stored_values.setdefault(label, []).append(value)
        session = self._new_session(spec, stored.t_offset, stored_values, _key_quantum(stored.key))
        session.key = _snapshot(key)
        if session.engine is not None:
            with self._timing("engine"):
                session.engine.set_state(stored.engine)
            session.n_spikes_seen = len(session.engine.spike_times)
            session.n_states_seen = len(session.engine.state_times)
        session.lastspike = stored.lastspike.copy()
        session.written = {g.group.name: np.array(g.group.variables[g.variable].get_value()) for g in spec.groups}
        self._sessions[net] = session
        return session

    def _new_session(self, spec, t_offset, stored_values=None, quantum=0.0):
        """A new engine for ``spec`` from t_offset on, with the time quantum ``quantum`` (s, 0 for none);
        ``stored_values`` (labels of `_spec_key` to the list of values stored under each) replace the neuron
        parameters, weights, delays and inputs of ``spec``."""
        from ..spiking.network import EventNetwork

        def value(label, current):  # the stored value (in the current one's shape), else the current one
            if not stored_values:
                return current
            return np.reshape(stored_values[label][0], np.shape(current))

        engine = None
        if spec.n:
            seed = int(np.random.randint(0, 2**31 - 1))  # noqa: NPY002 (Brian2's seed() seeds numpy's global generator)
            kwargs = spec.engine_kwargs()
            if self.gradients:  # one gradient per synapse: one weight and one delay per synapse
                kwargs["weights"], kwargs["delays"] = (np.array(a, dtype=float) for a in (spec.weights, spec.delays))
            for name in _NEURON_PARAMETERS if stored_values else ():
                kwargs[name] = stored_values[name][0]
            if stored_values and spec.linear is not None:  # the linear models' b, theta and reset as stored
                lin = spec.model == "linear"
                kwargs["linear"] = spec.linear._with(
                    b=np.reshape(stored_values[_LINEAR_INPUT][0], np.shape(spec.linear.b)),
                    theta=np.where(lin, stored_values["threshold"][0], spec.linear.theta),
                    reset=np.where(lin, stored_values["reset"][0], spec.linear.reset),
                )
            for name in ("weights", "delays") if stored_values else ():
                kwargs[name] = _scalar_if_constant(stored_values[name][0])
            if quantum:
                kwargs["time_quantum"] = quantum
            with self._timing("engine"):
                engine = EventNetwork(**kwargs, seed=seed)
                for k, entry in enumerate(spec.poisson_inputs):
                    rate = value(f"rate of PoissonInput {k}", entry["rate"])
                    weight = value(f"weight of PoissonInput {k}", entry["weight"])
                    if self.gradients:  # one gradient per target
                        weight = np.array(np.broadcast_to(weight, np.shape(entry["targets"])), dtype=float)
                    engine.add_poisson_input(rate, weight, targets=entry["targets"])
                for source in spec.poisson_sources:
                    name = source.group.name
                    rates = np.asarray(source.group.variables["rates"].get_value(), dtype=float)
                    engine.add_poisson_sources(
                        value(f"rates of '{name}'", rates),
                        source.indptr,
                        source.indices,
                        value(f"weights of '{name}'", source.weights),
                        value(f"delays of '{name}'", source.delays),
                    )
                for source in spec.spike_generators:
                    name = source.group.name
                    times, indices, period = _generator_spikes(
                        source.group,
                        t_offset,
                        stored_values[f"spikes of '{name}'"] if stored_values else None,
                        quantum,
                    )
                    engine.add_spike_generator(
                        times,
                        indices,
                        len(source.group),
                        source.indptr,
                        source.indices,
                        value(f"weights of '{name}'", source.weights),
                        value(f"delays of '{name}'", source.delays),
                        period=period,
                    )
                for plastic in spec.plasticity:
                    if plastic["kind"] == "stdp":
                        self._add_stdp(engine, spec, plastic, t_offset)
                    else:
                        self._add_stp(engine, spec, plastic, t_offset)
                engine.record_spikes()
                for mon in spec.spike_monitors:
                    if isinstance(_root(mon.source), PoissonGroup):
                        engine.record_poisson_events(_poisson_position(spec, _root(mon.source).name))
        elif any(isinstance(_root(mon.source), PoissonGroup) for mon in spec.spike_monitors):
            raise NotImplementedError(
                "a SpikeMonitor of a PoissonGroup in a network without a NeuronGroup: the sparseprop device "
                "records Poisson events beside the neurons it simulates; run this network with Brian2's "
                "runtime (set_device('runtime'), or set_device('sparseprop', fallback=True))"
            )
        state_indices = [
            spec.neuron_indices(m.source)[np.asarray(m.record, dtype=np.int64)]
            for m in spec.state_monitors
            if not _is_static_monitor(m, spec)
        ]
        state_indices = np.unique(np.concatenate(state_indices)) if state_indices else np.zeros(0, np.int64)
        lastspike = np.full(spec.n, -np.inf)
        for g in spec.groups:
            if "lastspike" in g.group.variables:
                lastspike[g.offset : g.offset + g.n] = g.group.variables["lastspike"].get_value()
        return _Session(
            spec=spec,
            engine=engine,
            t_offset=t_offset,
            state_indices=state_indices,
            lastspike=lastspike,
            quantum=quantum,
        )

    @staticmethod
    def _engine_source(spec, part):
        """``(source, k)`` of `EventNetwork.add_stdp` for the part of a plastic Synapses (see `EngineSpec`)."""
        if part is None:
            return "network", 0
        if any(s.group.name == part for s in spec.poisson_sources):
            return "poisson", _poisson_position(spec, part)
        return "generator", [s.group.name for s in spec.spike_generators].index(part)

    def _add_stdp(self, engine, spec, plastic, t_offset):
        """The plasticity of a Synapses, its traces from the Brian2 variables (at their ``lastupdate``)."""
        syn = plastic["synapses"]
        _, s_pre, s_post = plastic["scales"]
        source, k = self._engine_source(spec, plastic["part"])
        apre, apost = (np.asarray(syn.variables[name].get_value(), dtype=float) for name in plastic["traces"])
        last = np.asarray(syn.variables["lastupdate"].get_value(), dtype=float) - t_offset
        rule = dict(plastic["rule"])
        args = [rule.pop(key) for key in ("tau_pre", "tau_post", "d_pre", "d_post")]
        engine.add_stdp(
            *args,
            **rule,
            source=source,
            k=k,
            synapses=plastic["positions"],
            apre=s_pre * apre,
            apost=s_post * apost,
            last_update=np.minimum(last, 0.0),
        )

    def _add_stp(self, engine, spec, plastic, t_offset):
        """The short-term plasticity of a Synapses, u and x from the Brian2 variables (at their ``lastupdate``)."""
        syn = plastic["synapses"]
        source, k = self._engine_source(spec, plastic["part"])
        u, x = (None if n is None else _scalar_if_constant(syn.variables[n].get_value()) for n in plastic["variables"])
        last = np.asarray(syn.variables["lastupdate"].get_value(), dtype=float) - t_offset
        rule = {key: _scalar_if_constant(v) if key != "order" else v for key, v in plastic["rule"].items()}
        engine.add_stp(
            **rule, source=source, k=k, synapses=plastic["positions"], u=u, x=x, last_update=np.minimum(last, 0.0)
        )

    def _run_exact(self, net, spec, duration, callback, report_period, namespace):
        for source in spec.spike_generators:
            _check_generator(source.group, float(net.t_))
        session = self._session(net, spec)
        t_start = float(net.t_)
        t_end = t_start + duration
        clocks = {obj.clock for obj in net.objects}
        ticks = {m.name: _clock_ticks(m.clock, t_start, t_end) for m in spec.state_monitors + spec.rate_monitors}
        engine = session.engine
        if engine is not None and len(session.state_indices):
            times = [ticks[m.name] for m in spec.state_monitors if not _is_static_monitor(m, spec)]
            times = np.unique(np.concatenate(times))
            with self._timing("engine"):
                extra = any(spec.monitor_plans[m.name].extra for m in spec.state_monitors)
                engine.record_states(session.state_indices, times - session.t_offset, extra=extra)
        wall_start = time.time()
        if callback is not None:
            callback(0 * second, 0.0, t_start * second, duration * second)
        if engine is not None:
            progress = None if callback is None else _engine_progress(callback, t_start, duration)
            changes = spec.drive_changes(t_start, t_end)
            if len(changes):
                self._check_drive_changes(spec)
            record_tape = self.gradients and self._start_tape(session, spec, namespace)
            with self._timing("engine"):
                # TimedArray inputs (a LIF drive, a linear model's b): the run in segments between their steps,
                # the new values set at each where they change (EventNetwork.set_params, which carries the state
                # over exactly); the engine holds the values at the run's start
                held = spec.inputs_at(t_start) if len(changes) else {}
                for t_change in list(changes) + [t_end]:
                    engine.run(
                        (t_change - session.t_offset) - engine.t,
                        report=progress,
                        report_period=report_period,
                        record_tape=record_tape,
                    )
                    if t_change < t_end:
                        new = spec.inputs_at(t_change)
                        changed = {k: x for k, x in new.items() if not np.array_equal(x, held[k])}
                        if changed:
                            engine.set_params(**spec.engine_params(changed))
                        held = new
            if len(changes):  # the values the engine holds now, for the comparison at the next run
                labels = {"drive": "drive", _LINEAR_INPUT: "linear_b"}
                names, parts, structural = session.key
                parts = [(la, held[labels[la]] if labels.get(la) in held else x) for la, x in parts]
                session.key = (names, parts, structural)
        self._write_back(net, session, t_start, t_end, ticks)
        for obj in spec.spike_monitors + spec.state_monitors + spec.rate_monitors + [g.group for g in spec.groups]:
            self.written_exactly.add(obj)
        for clock in clocks:
            clock.set_interval(t_start * second, t_end * second)
            clock.variables["timestep"].set_value(clock._i_end)
            clock.variables["t"].set_value(clock._i_end * clock.dt_)
        net.t_ = t_end
        session.t_end = t_end
        self._last_run_time = time.time() - wall_start
        self._last_run_completed_fraction = 1.0
        if callback is not None and engine is None:
            callback((time.time() - wall_start) * second, 1.0, t_start * second, duration * second)
        net.after_run()

    def _check_drive_changes(self, spec):
        """NotImplementedError, before the run, for a TimedArray input that the engine cannot follow: in a
        network with 'lif_exp' or 'coba' neurons (whose currents `EventNetwork.set_params` does not carry over
        yet) or with ``gradients=True`` (the tape does not span a parameter change)."""
        timed = [g.group.name for g in spec.groups if g.timed is not None]
        others = sorted({g.group.name for g in spec.groups if g.model in ("lif_exp", "coba")})
        if others:
            raise NotImplementedError(
                f"NeuronGroup(s) {timed}: a TimedArray input changes the drive during the run, which the "
                "sparseprop device does in networks of one-dimensional and linear neurons only; this one has "
                f"neurons with exponential currents or conductances ({others}). Use set_device('sparseprop', "
                "fallback=True) to run such networks with Brian2's runtime instead"
            )
        if self.gradients:
            raise NotImplementedError(
                f"NeuronGroup(s) {timed}: gradients (set_device('sparseprop', gradients=True)) of a run in which a "
                "TimedArray changes the drive are not implemented; run without gradients=True"
            )

    @staticmethod
    def _report_callback(report, report_period):
        if report is None:
            return None
        if report in ("text", "stdout"):
            inner = TextReport(sys.stdout)
        elif report == "stderr":
            inner = TextReport(sys.stderr)
        elif isinstance(report, str):
            raise ValueError(f'Do not know how to handle report argument "{report}".')
        elif callable(report):
            inner = report
        else:
            raise TypeError(
                "report must be 'text', 'stdout', 'stderr' or a callable(elapsed, completed, start, duration), "
                f"found: {type(report).__name__}"
            )
        last = [time.time()]

        def throttled(elapsed, completed, start, total):
            now = time.time()
            if completed in (0.0, 1.0) or now - last[0] >= report_period:
                last[0] = now
                inner(elapsed, completed, start, total)

        return throttled

    # ----------------------------------------------------------- write back
    def _write_back(self, net, session, t_start, t_end, ticks):
        spec, engine = session.spec, session.engine
        if engine is not None:
            all_times = np.asarray(engine.spike_times, dtype=float)
            all_indices = np.asarray(engine.spike_indices, dtype=np.int64)
            times = all_times[session.n_spikes_seen :] + session.t_offset
            indices = all_indices[session.n_spikes_seen :]
            session.n_spikes_seen = len(all_times)
            state = np.asarray(engine.v, dtype=float)
        else:
            times, indices, state = np.zeros(0), np.zeros(0, np.int64), np.zeros(0)
        if len(indices):
            np.maximum.at(session.lastspike, indices, times)  # the last spike of each neuron
        for g in spec.groups:
            values = g.from_engine(state[g.offset : g.offset + g.n])
            variable = g.group.variables[g.variable]
            variable.set_value(values)
            session.written[g.group.name] = np.array(variable.get_value())
            if g.currents and engine is not None:
                currents = g.currents_from_engine(engine.currents[g.offset : g.offset + g.n])
                for name, values in currents.items():
                    g.group.variables[name].set_value(values)
                    session.written[g.group.name, name] = np.array(g.group.variables[name].get_value())
            if g.linear and engine is not None:
                values = engine.linear_state[g.offset : g.offset + g.n]
                for k, name in enumerate(g.linear["variables"]):
                    if name != g.variable:
                        g.group.variables[name].set_value(values[:, k])
                        session.written[g.group.name, name] = np.array(g.group.variables[name].get_value())
            if "lastspike" in g.group.variables:
                lastspike = session.lastspike[g.offset : g.offset + g.n]
                g.group.variables["lastspike"].set_value(np.where(np.isfinite(lastspike), lastspike, -1e4))
                g.group.variables["not_refractory"].set_value(t_end - lastspike >= g.refractory)
        plasticity = spec.plasticity if engine is not None else ()
        for r, plastic in enumerate(p for p in plasticity if p["kind"] == "stp"):
            syn = plastic["synapses"]
            state = engine.stp_state(r)
            for name, key in zip(plastic["variables"], ("u", "x")):
                if name is not None:
                    syn.variables[name].set_value(state[key])
                    session.written[syn.name, name] = np.array(syn.variables[name].get_value())
            syn.variables["lastupdate"].set_value(state["last_update"] + session.t_offset)
        for r, plastic in enumerate(p for p in plasticity if p["kind"] == "stdp"):
            syn = plastic["synapses"]
            c, s_pre, s_post = plastic["scales"]
            source, k = self._engine_source(spec, plastic["part"])
            syn.variables[plastic["weight"]].set_value(engine.synaptic_weights(source, k)[plastic["positions"]] / c)
            traces = engine.stdp_traces(r)
            syn.variables[plastic["traces"][0]].set_value(traces["apre"] / s_pre)
            syn.variables[plastic["traces"][1]].set_value(traces["apost"] / s_post)
            for name in plastic["traces"]:
                session.written[syn.name, name] = np.array(syn.variables[name].get_value())
            syn.variables["lastupdate"].set_value(traces["last_update"] + session.t_offset)
        poisson_events = {}
        for mon in spec.spike_monitors:
            root = mon.source.source if isinstance(mon.source, Subgroup) else mon.source
            start = mon.source.start if isinstance(mon.source, Subgroup) else 0
            if any(g.group.name == root.name for g in spec.groups):
                first = spec.group_spec(mon.source).offset + start
                keep = (indices >= first) & (indices < first + len(mon.source))
                self._append_spikes(mon, times[keep], indices[keep] - first)
            elif isinstance(root, PoissonGroup):
                k = _poisson_position(spec, root.name)
                if k not in poisson_events:  # the events of this run (monitors of one group share them)
                    p_times, p_indices = engine.poisson_events(k)
                    seen, session.n_poisson_seen[k] = session.n_poisson_seen.get(k, 0), len(p_times)
                    poisson_events[k] = p_times[seen:] + session.t_offset, p_indices[seen:]
                p_times, p_indices = poisson_events[k]
                keep = (p_indices >= start) & (p_indices < start + len(mon.source))
                self._append_spikes(mon, p_times[keep], p_indices[keep] - start)
            else:
                gen_times, gen_indices = _generator_events(root, t_start, t_end)
                keep = (gen_indices >= start) & (gen_indices < start + len(mon.source))
                self._append_spikes(mon, gen_times[keep], gen_indices[keep] - start)
        if engine is not None and len(session.state_indices):
            state_times = np.asarray(engine.state_times, dtype=float)[session.n_states_seen :] + session.t_offset
            state_values = np.asarray(engine.state_values, dtype=float)[session.n_states_seen :]
            state_extra = engine.state_extra[session.n_states_seen :]
            session.n_states_seen += len(state_times)
            for mon in spec.state_monitors:
                if not _is_static_monitor(mon, spec):
                    self._append_states(mon, spec, ticks[mon.name], session, state_times, (state_values, state_extra))
        for mon in spec.state_monitors:
            if _is_static_monitor(mon, spec):
                self._append_states(mon, spec, ticks[mon.name])
        for mon in spec.state_monitors:  # what Brian2's StateMonitor.record_single_timestep() calls
            mon.codeobj = _RecordNow(mon)
        for mon in spec.rate_monitors:
            first = spec.neuron_indices(mon.source)[0]
            keep = (indices >= first) & (indices < first + len(mon.source))
            tick = ticks[mon.name]
            dt = mon.clock.dt_
            counts = np.histogram(times[keep], bins=np.r_[tick, tick[-1] + dt])[0] if len(tick) else np.zeros(0)
            _append(mon.variables["t"], tick)
            _append(mon.variables["rate"], counts / (len(mon.source) * dt))
            mon.variables["N"].set_value(len(mon.variables["t"].get_value()))

    @staticmethod
    def _append_spikes(mon, times, indices):
        counts = np.bincount(indices, minlength=len(mon.source)).astype(mon.variables["count"].dtype)
        mon.variables["count"].set_value(mon.variables["count"].get_value() + counts)
        if mon.record:
            _append(mon.variables["t"], times)
            _append(mon.variables["i"], indices)
            mon.variables["N"].set_value(len(mon.variables["t"].get_value()))
        else:
            mon.variables["N"].set_value(int(mon.variables["N"].get_value().reshape(-1)[0]) + len(times))

    @staticmethod
    def _append_states(mon, spec, tick, session=None, state_times=None, states=None):
        """Append a StateMonitor's values at its ticks of this run: from the engine's samples (``states``: the
        state variable's and `EventNetwork.state_extra`'s, taken at ``state_times``) or, for a static group, from
        the group's values."""
        local = np.asarray(mon.record, dtype=np.int64) + (mon.source.start if isinstance(mon.source, Subgroup) else 0)
        size = len(mon.variables["t"].get_value())
        mon.resize(size + len(tick))
        mon.variables["t"].get_value()[size:] = tick
        if states is not None:
            group_spec = spec.group_spec(mon.source)
            columns = np.searchsorted(
                session.state_indices, spec.neuron_indices(mon.source)[np.asarray(mon.record, dtype=np.int64)]
            )
            rows = np.searchsorted(state_times, tick - 1e-12 * max(1.0, abs(tick[-1]) if len(tick) else 1.0))
            values, extra = (x[rows][:, columns] for x in states)

        def evolved(name):  # (ticks, neurons) values of a variable the engine evolves
            if name == group_spec.variable:
                return group_spec.from_engine(values, local[None, :])
            if name in group_spec.currents:
                return group_spec.currents_from_engine(extra[..., :2], local)[name]
            return extra[..., group_spec.linear["variables"].index(name)]

        for name in mon.record_variables:
            kind, how = spec.monitor_plans[mon.name].recorded[name]
            if kind == "state":
                result = evolved(how)
            elif kind == "constant":
                result = _root(mon.source).variables[name].get_value()[local]
            else:
                function, arguments = how
                args = [
                    tick[:, None] if a == "t" else evolved(x) if a == "state" else (x[local] if np.ndim(x) else x)
                    for a, x in arguments
                ]
                with np.errstate(all="ignore"):
                    result = function(*args)
            mon.recorded_variables[name].get_value()[size:] = np.broadcast_to(result, (len(tick), len(local)))

    # ------------------------------------------------------------ analysis
    def exact_network(self, net=None):
        """The exact engine behind a Brian2 network, at the end of its last run with this device.

        Parameters
        ----------
        net : brian2.Network or None
            The network (None: the one Brian2's ``run()`` uses, ``magic_network``).

        Returns
        -------
        ExactNetwork
            ``network``, the `brian2_sparseprop.EventNetwork` (its state is the network's: changing it
            changes the next ``run()``; analyses that take it, such as
            `brian2_sparseprop.spiking.lyapunov_spectrum`, work on copies); ``t_offset``, the Brian2 time
            (s) of its t = 0; ``groups``, each NeuronGroup's name with the slice of its neurons.

        Raises
        ------
        ValueError
            If ``net`` has not run with this device since it was built or restored, or has no neurons.

        Examples
        --------
        >>> import brian2_sparseprop
        >>> from brian2 import NeuronGroup, get_device, ms, run, set_device, start_scope
        >>> from brian2.devices.device import reset_device
        >>> set_device('sparseprop')
        >>> start_scope()
        >>> G = NeuronGroup(3, 'dv/dt = (1.1 - v)/(10*ms) : 1', threshold='v > 1', reset='v = 0')
        >>> run(5 * ms)
        >>> exact = get_device().exact_network()
        >>> exact.network.n, exact.groups[G.name]
        (3, slice(0, 3, None))
        >>> reset_device()
        """
        if net is None:
            net = magic_network
        session = self._sessions.get(net)
        if session is None or isinstance(session, _Stored):
            raise ValueError(
                f"{type(net).__name__} '{net.name}' has not run with the sparseprop device since it was built or "
                "restored"
            )
        if session.engine is None:
            raise ValueError(f"{type(net).__name__} '{net.name}' has no neurons that the exact engine runs")
        groups = {g.group.name: slice(g.offset, g.offset + g.n) for g in session.spec.groups}
        return ExactNetwork(session.engine, session.t_offset, groups)

    # ----------------------------------------------------------- gradients
    def _start_tape(self, session, spec, namespace):
        """Whether this run records the tape (``gradients=True``): from the engine's start on, for a model
        with exact gradients, with nothing changed between its runs. Notes the derivative map at the start
        and the reason why there is no gradient otherwise (raised by `gradient`)."""
        from .gradient import derivative_map, tape_refusal

        engine = session.engine
        if engine.t == 0:
            session.derivatives = None
            session.tape_refusal = tape_refusal(spec)
            if session.tape_refusal is None:
                try:
                    session.derivatives = derivative_map(spec, namespace, session.t_offset, session.quantum)
                except NotImplementedError as error:
                    session.tape_refusal = error
        elif engine._tape is None and session.tape_refusal is None:
            session.tape_refusal = ValueError(
                "the tape of the backward pass covers the runs from the start of the exact engine (Brian2 time "
                f"{session.t_offset * second!s}) without changes between them; it ended at "
                f"{(session.t_offset + engine.t) * second!s}, where a variable changed between runs, the network "
                "was restored to a later time, or a run had no tape; store() before the first run and restore() "
                "before each run to differentiate"
            )
        return session.tape_refusal is None

    def gradient(self, monitor=None, loss=None, *, dL_dt=None, state_monitor=None, dL_dstates=None, net=None):
        """Exact gradient of a loss of a SpikeMonitor's spikes (and of a StateMonitor's recorded values) by
        the variables of the Brian2 objects.

        The run must have been recorded with ``set_device('sparseprop', gradients=True)`` (the tape of the
        backward pass, `brian2_sparseprop.EventNetwork.run` with ``record_tape=True``) from the start of its
        exact engine on: the first run of the network, or the first run after a ``restore()`` to a state
        stored before it (see :doc:`/training`). The gradient is that of the recorded run's smooth map from
        parameters to spike times and states (`brian2_sparseprop.spiking.gradients.lif_gradient`; Poisson
        input events are held fixed), mapped back to the Brian2 variables by the chain rule through the
        model's equations, threshold, reset and ``on_pre`` code and the weights of PoissonInputs.

        Parameters
        ----------
        monitor : brian2.SpikeMonitor, optional
            A monitor of a NeuronGroup (or Subgroup) of the network; the loss depends on its spikes. May be
            None if ``state_monitor`` is given.
        loss : callable, optional
            A scalar written with ``jax.numpy``, differentiated with JAX: ``loss(t, i)`` of the monitor's
            spikes of the recorded run (``t`` their times in seconds on Brian2's time axis, a float64 JAX
            array, as ``monitor.t_``; ``i`` the monitor's neuron indices, as ``monitor.i``); with a
            ``state_monitor`` ``loss(t, i, values)``, or ``loss(values)`` without ``monitor``: ``values`` the
            StateMonitor's recorded values of the group's state variable in SI units, shaped like
            ``state_monitor.v_`` (recorded neurons x recorded times).
        dL_dt : array_like or Quantity, shape (monitor.num_spikes,), optional
            Instead of ``loss``: dL/dt by each spike of ``monitor.t`` (in 1/second, a plain array in SI).
        state_monitor : brian2.StateMonitor, optional
            A monitor of a NeuronGroup (or Subgroup) of the network that records its state variable (``v``):
            the loss depends on its recorded values, the exact states at the recorded times (before the
            events of each instant: at a spike time the threshold, without a pulse arriving then; within a
            refractory period the reset; for theta neurons the phase).
        dL_dstates : array_like or Quantity, shape like ``state_monitor.v_``, optional
            With ``dL_dt`` (or alone, without ``monitor``): dL/d(value) by each recorded value, in
            1/(units of the variable) (a plain array in SI).
        net : brian2.Network, optional
            The network (None: the one Brian2's ``run()`` uses).

        Returns
        -------
        BrianGradient
            ``grad[S]['w']``: dL/dw shaped like ``S.w`` in 1/(units of w); for every NeuronGroup its real
            parameters and its state variable at the start (every state variable of a linear model), for
            every Synapses the parameters of its ``on_pre`` code and ``'delay'``, for a PoissonInput with a
            constant weight ``'weight'`` (a weight expression passes its derivative to the group's parameters
            it uses); counts of the events where the loss is not differentiable.

        Raises
        ------
        ValueError
            If the network did not run exactly with a tape from the engine's start (the message says
            why), a monitor is not one of the network's monitors of neurons, the StateMonitor does not
            record the state variable or holds values from before the recorded run, or a derivative has
            the wrong shape.
        TypeError
            If both or neither of ``loss`` and the derivatives are given, or neither monitor.
        NotImplementedError
            Where the model has no exact gradient: plastic synapses (STDP, short-term plasticity), neurons
            other than LIF (delta pulses or exponential currents), QIF, theta and linear models (EIF,
            conductances), groups of different families in one network (LIF with delta pulses, LIF with
            currents, QIF and theta, linear models), integration during the refractory period.

        Examples
        --------
        A neuron driven to fire, its spikes delayed by 2 ms into a second one through a weight ``w`` in mV;
        L = the sum of the second neuron's spike times (s), dL/dw in 1/volt:

        >>> import brian2_sparseprop
        >>> from brian2 import NeuronGroup, SpikeMonitor, Synapses, get_device, mV, ms, run, set_device, volt
        >>> from brian2 import StateMonitor, start_scope
        >>> from brian2.devices.device import reset_device
        >>> set_device('sparseprop', gradients=True)
        >>> start_scope()
        >>> G = NeuronGroup(2, 'dv/dt = (I - v)/(10*ms) : volt\\nI : volt', threshold='v > 10*mV', reset='v = 0*mV')
        >>> G.I = [15, 12] * mV
        >>> S = Synapses(G, G, 'w : volt', on_pre='v_post += w', delay=2 * ms)
        >>> S.connect(i=0, j=1)
        >>> S.w = 1 * mV
        >>> mon = SpikeMonitor(G)
        >>> run(50 * ms)
        >>> grad = get_device().gradient(mon, loss=lambda t, i: (t * (i == 1)).sum())
        >>> grad[S]['w'].shape, grad[S]['w'].dim == (1 / volt).dim, grad[G]['I'].shape
        ((1,), True, (2,))
        >>> float(grad[S]['w'][0] * mV) < 0  # a stronger kick: earlier spikes of neuron 1
        True

        A QIF neuron without spikes, dv/dt = (v**2/mV + I)/tau, its membrane recorded every 0.1 ms; L = the
        recorded values' sum (in volt). From v = 0 with I > 0, v(t) = sqrt(I mV) tan(sqrt(I/mV) t / tau):
        a larger drive raises every value, a larger tau lowers it:

        >>> start_scope()
        >>> eqs = 'dv/dt = (v**2/mV + I)/tau : volt\\nI : volt\\ntau : second'
        >>> G = NeuronGroup(1, eqs, threshold='v > 50*mV', reset='v = -50*mV')
        >>> G.I, G.tau = 1 * mV, 10 * ms
        >>> M = StateMonitor(G, 'v', record=0)
        >>> run(5 * ms)
        >>> grad = get_device().gradient(state_monitor=M, loss=lambda values: values.sum())
        >>> float(grad[G]['I'][0]) > 0, float(grad[G]['tau'][0]) < 0
        (True, True)

        An adaptive threshold (a linear model, dx/dt = A x + b in (v, vt)): every parameter, and the
        initial value of each state variable; L = the first spike's time. A higher threshold rest ``vt0``
        delays it, a higher initial ``vt`` too:

        >>> start_scope()
        >>> eqs = 'dv/dt = (I - v)/(10*ms) : volt\\ndvt/dt = (vt0 - vt)/(20*ms) : volt\\nI : volt\\nvt0 : volt'
        >>> G = NeuronGroup(1, eqs, threshold='v > vt', reset='v = 0*mV; vt += 2*mV')
        >>> G.I, G.vt0, G.vt = 15 * mV, 10 * mV, 10 * mV
        >>> mon = SpikeMonitor(G)
        >>> run(30 * ms)
        >>> grad = get_device().gradient(mon, loss=lambda t, i: t[0])
        >>> float(grad[G]['vt0'][0]) > 0, float(grad[G]['vt'][0]) > 0, float(grad[G]['I'][0]) < 0
        (True, True, True)
        >>> reset_device()
        """
        from .gradient import brian2_gradient, monitor_spikes

        if net is None:
            net = magic_network
        session = self._sessions.get(net)
        if session is None or isinstance(session, _Stored) or session.engine is None:
            raise ValueError(
                f"{type(net).__name__} '{net.name}' has no exact run to differentiate since it was built or restored"
            )
        if session.derivatives is None and session.tape_refusal is None:
            raise ValueError(
                f"{type(net).__name__} '{net.name}' ran without the tape of the backward pass: "
                "set_device('sparseprop', gradients=True) before run()"
            )
        if session.tape_refusal is not None:
            raise type(session.tape_refusal)(f"no exact gradient: {session.tape_refusal}")
        engine = session.engine
        if engine._tape is None:
            raise ValueError(
                "no exact gradient: the tape ended after the recorded run (a later run without it, or a change "
                "of the engine's state)"
            )
        if monitor is None and state_monitor is None:
            raise TypeError("give a SpikeMonitor (monitor), a StateMonitor (state_monitor) or both")
        if monitor is not None:
            keep, first = monitor_spikes(session.spec, engine, monitor)
        else:
            keep, first = np.zeros(np.asarray(engine.spike_indices).size, bool), 0
        if state_monitor is not None:
            return self._state_gradient(session, monitor, keep, first, state_monitor, loss, dL_dt, dL_dstates)
        if dL_dstates is not None:
            raise TypeError("dL_dstates needs the StateMonitor whose values it is by: give state_monitor")
        if (loss is None) == (dL_dt is None):
            raise TypeError("give the loss as a callable loss(t, i) or its derivatives dL_dt, one of them")
        if loss is not None:
            if not callable(loss):
                raise TypeError(f"loss must be a callable loss(t, i), found {type(loss).__name__}")
            sel, t_offset = np.flatnonzero(keep), session.t_offset
            local = np.asarray(engine.spike_indices)[sel] - first
            eg = engine.gradient(loss=lambda t, _i: loss(t[sel] + t_offset, local))
        else:
            eg = engine.gradient(self._spike_derivatives(monitor, keep, dL_dt))
        return brian2_gradient(eg, *session.derivatives)

    @staticmethod
    def _spike_derivatives(monitor, keep, dL_dt):
        """dL/dt aligned with the engine's spikes from dL_dt aligned with ``monitor.t``."""
        if hasattr(dL_dt, "dim"):
            fail_for_dimension_mismatch(dL_dt, second**-1, "dL_dt must be in 1/second, found {value}", value=dL_dt)
        derivative = np.asarray(dL_dt, dtype=float)
        n_mon, n_run = int(monitor.num_spikes), int(keep.sum())
        if n_mon != n_run:
            raise ValueError(
                f"SpikeMonitor '{monitor.name}' holds {n_mon} spikes, of which {n_run} from the recorded run: "
                "dL_dt is aligned with a monitor that holds the recorded run only (restore() it with the network)"
            )
        if derivative.shape != (n_run,):
            raise ValueError(f"dL_dt must have shape ({n_run},), one per spike of monitor.t, found {derivative.shape}")
        full = np.zeros(keep.size)
        full[keep] = derivative
        return full

    def _state_gradient(self, session, monitor, keep, first, state_monitor, loss, dL_dt, dL_dstates):
        """`gradient` of a loss that depends on a StateMonitor's values (and on a SpikeMonitor's spikes)."""
        from .gradient import brian2_gradient, state_readouts

        engine = session.engine
        rows, columns, scale, variable = state_readouts(session, state_monitor)
        var = state_monitor.variables[variable]
        values = np.asarray(var.get_value(), dtype=float).T  # (recorded neurons, times), as M.v_
        if loss is not None:
            if dL_dt is not None or dL_dstates is not None:
                raise TypeError("give the loss as a callable or its derivatives (dL_dt, dL_dstates), not both")
            if not callable(loss):
                raise TypeError(f"loss must be a callable, found {type(loss).__name__}")
            sel = np.flatnonzero(keep)
            t = np.asarray(engine.spike_times)[sel] + session.t_offset
            i = np.asarray(engine.spike_indices)[sel] - first
            value, g_t, g_values = _jax_value_and_grad(loss, t, i, values, monitor is not None)
            full = np.zeros(keep.size)
            full[sel] = g_t
        else:
            if dL_dstates is None:
                raise TypeError("give the loss as a callable or its derivatives dL_dstates (and dL_dt)")
            if hasattr(dL_dstates, "dim"):
                fail_for_dimension_mismatch(
                    dL_dstates, var.dim**-1, "dL_dstates must be in 1/(units of the variable), found {value}",
                    value=dL_dstates,
                )  # fmt: skip
            g_values = np.asarray(dL_dstates, dtype=float)
            if g_values.shape != values.shape:
                raise ValueError(
                    f"dL_dstates must have shape {values.shape}, like StateMonitor '{state_monitor.name}'."
                    f"{variable}_ (recorded neurons x times), found {g_values.shape}"
                )
            if monitor is not None:
                if dL_dt is None:
                    raise TypeError("with a SpikeMonitor, give dL_dt (zeros where the loss does not use the spikes)")
                full = self._spike_derivatives(monitor, keep, dL_dt)
            elif dL_dt is not None:
                raise TypeError("dL_dt needs the SpikeMonitor whose spikes it is by: give monitor")
            else:
                full = np.zeros(keep.size)
            value = None
        if not np.isfinite(g_values).all():
            raise ValueError("the derivatives by the recorded values must be finite")
        ds = np.zeros(np.shape(engine.state_values))
        # engine readout y = scale (x + shift): dL/dy = dL/dx / scale
        np.add.at(ds, (rows[None, :], columns[:, None]), g_values / scale[:, None])
        eg = engine.gradient(full, dL_dstates=ds)
        if value is not None:
            eg = dataclasses.replace(eg, loss=value)
        sums = np.bincount(
            session.state_indices[columns], weights=g_values.sum(axis=1), minlength=session.spec.n
        ).astype(float)
        return brian2_gradient(eg, *session.derivatives, readout_sums=sums)

    # -------------------------------------------------------- store/restore
    def network_store(self, net, name="default", filename=None, **kwds):
        """``Network.store`` that also stores the engine (pending spikes, input queues, random state)."""
        self._store_target = net
        try:
            Network.store.original_function(net, name=name, filename=filename, **kwds)
        finally:
            self._store_target = None

    def network_restore(self, net, name="default", filename=None, restore_random_state=False, **kwds):
        """``Network.restore`` that also restores the engine stored with the network."""
        Network.restore.original_function(
            net, name=name, filename=filename, restore_random_state=restore_random_state, **kwds
        )
        if filename is None:
            state = net._stored_state[name]
        else:
            with open(filename, "rb") as f:
                state = pickle.load(f)[name]
        stored = state["_random_generator_state"].get("sparseprop")
        if stored is None:
            self._sessions.pop(net, None)
            return
        stored = _Stored(**stored)
        stored.written = {
            obj.name: np.array(obj.variables[next(iter(obj.equations.diff_eq_names))].get_value())
            for obj in net.objects
            if isinstance(obj, NeuronGroup) and len(obj.equations.diff_eq_names) == 1
        }
        if not restore_random_state and stored.engine is not None:
            # Brian2's semantics: random numbers after a restore are independent of the first run
            fresh = np.random.PCG64(int(np.random.randint(0, 2**31 - 1))).state  # noqa: NPY002 (seeded by Brian2's seed())
            stored.engine = dict(stored.engine, rng=fresh)
        self._sessions[net] = stored
        if net is magic_network:
            self._magic_scope = BrianObject._scope_current_key

    def get_random_state(self):
        """Brian2's random state, plus the engine's state while ``Network.store`` runs."""
        state = super().get_random_state()
        net = self._store_target
        session = self._sessions.get(net) if net is not None else None
        if isinstance(session, _Stored):
            state["sparseprop"] = dict(vars(session))
        elif session is not None:
            state["sparseprop"] = {
                "key": session.key,
                "t_offset": session.t_offset,
                "lastspike": session.lastspike.copy(),
                "engine": session.engine.get_state() if session.engine is not None else None,
            }
        return state


def _jax_value_and_grad(loss, t, i, values, with_spikes):
    """The value of a device loss ``loss(t, i, values)`` (``loss(values)`` without spikes) and its
    derivatives by the spike times and the recorded values, with JAX in 64-bit precision."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        raise ImportError(
            "gradient(loss=...) differentiates the loss with JAX, which is not installed: "
            "pip install 'brian2_sparseprop[jax]', or give the derivatives dL_dt and dL_dstates"
        ) from exc
    from ..spiking.gradients import _x64

    with _x64():
        tj, vj = jnp.asarray(t, dtype=jnp.float64), jnp.asarray(values, dtype=jnp.float64)
        if with_spikes:
            value, (g_t, g_v) = jax.value_and_grad(loss, argnums=(0, 2))(tj, jnp.asarray(i), vj)
        else:
            value, g_v = jax.value_and_grad(loss)(vj)
            g_t = np.zeros(len(t))
        return float(value), np.asarray(g_t, dtype=float), np.asarray(g_v, dtype=float)


def exact_network_of(net):
    """``(EventNetwork, t_offset)`` behind a Brian2 Network that ran with the sparseprop device (for the
    analyses of `brian2_sparseprop.spiking`, which take either)."""
    from brian2 import get_device

    if not isinstance(net, Network):
        raise TypeError(
            "net must be an EventNetwork or a Brian2 Network run with the sparseprop device, found "
            f"{type(net).__name__}"
        )
    device = get_device()
    if not isinstance(device, SparsePropDevice):
        raise ValueError(
            f"Network '{net.name}' did not run exactly: the active device is {type(device).__name__}, not "
            "the sparseprop device (set_device('sparseprop') before building and running the network)"
        )
    exact = device.exact_network(net)
    return exact.network, exact.t_offset


all_devices["sparseprop"] = SparsePropDevice()
