"""Conversion between Brian2 results and Neo: monitors to a `neo.Block`, Neo spike trains to a generator.

`to_neo` works for networks run with the 'sparseprop' device and for ordinary Brian2 runs alike; each
spike train says whether its times are exact (event-driven) or clock-driven. The result passes Neo's
compliance checker and feeds Elephant directly. `from_neo` turns Neo spike trains into a Brian2
`SpikeGeneratorGroup` (exact spike times, to be used as input of another network).
"""

from dataclasses import dataclass

import neo
import numpy as np
import quantities as pq
from brian2 import (
    Network,
    PopulationRateMonitor,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    Subgroup,
    get_unit,
    second,
)
from neo.core.spiketrainlist import SpikeTrainList

from ._validation import check_real, si_value
from .device._brian2 import all_devices

__all__ = ["to_neo", "from_neo"]

_SI_BASE = (pq.m, pq.kg, pq.s, pq.A, pq.K, pq.mol, pq.cd)


def _pq_unit(dim):
    """The `quantities` unit of a Brian2 dimension (named SI unit where there is one)."""
    name = str(get_unit(dim))
    if name in ("1", "Unit(1)") or dim.is_dimensionless:
        return pq.dimensionless
    if name.isalpha():
        try:
            return pq.unit_registry[name]
        except LookupError:
            pass
    unit = pq.dimensionless
    for base, power in zip(_SI_BASE, dim._dims):
        if power:
            unit = unit * base**power
    return unit


def _exact_objects():
    device = all_devices.get("sparseprop")
    return getattr(device, "written_exactly", ())


def _source_info(source):
    root = source.source if isinstance(source, Subgroup) else source
    start = source.start if isinstance(source, Subgroup) else 0
    equations = getattr(root, "user_equations", None)
    return root, start, "" if equations is None else str(equations).strip()


def _monitors(objects):
    monitors = []
    for obj in objects:
        if isinstance(obj, Network):
            found = [o for o in obj.objects if isinstance(o, (SpikeMonitor, StateMonitor, PopulationRateMonitor))]
            monitors.extend(sorted(found, key=lambda m: m.name))
        elif isinstance(obj, (SpikeMonitor, StateMonitor, PopulationRateMonitor)):
            monitors.append(obj)
        elif isinstance(obj, (list, tuple)):
            monitors.extend(_monitors(obj))
        else:
            raise TypeError(
                "to_neo takes Networks, SpikeMonitors, StateMonitors and PopulationRateMonitors, "
                f"found: {type(obj).__name__}"
            )
    return monitors


def to_neo(*objects, t_start=None, t_stop=None):
    """Turn the results of a finished Brian2 run into a `neo.Block`.

    Parameters
    ----------
    *objects : brian2.Network, SpikeMonitor, StateMonitor, PopulationRateMonitor or lists of them
        What to convert; a Network contributes all its monitors.
    t_start : time Quantity (Brian2 or ``quantities``) or float (s), optional
        Start of the spike trains (default 0 s); spikes before it are left out (the trains are cut).
    t_stop : time Quantity (Brian2 or ``quantities``) or float (s), optional
        End of the spike trains (default: the current time of each monitor's clock); it must not be
        before a recorded spike.

    Returns
    -------
    neo.Block
        One Segment holding: a SpikeTrain per recorded neuron of each SpikeMonitor (times in s,
        annotated with ``group``, ``neuron_index``, ``monitor``, ``model``, ``simulation`` = 'exact'
        or 'clock-driven', and Neo's ``channel_id``, the train's position in the segment); an
        AnalogSignal per variable of each StateMonitor (channels annotated with ``neuron_index``); the
        population rate of each PopulationRateMonitor as an AnalogSignal in Hz. A train is identified by
        its annotations ``monitor`` and ``neuron_index`` (two monitors of the same neurons give distinct
        trains); trains have no ``name``, since Neo builds them on first access from one array.

    Raises
    ------
    TypeError
        For objects other than Networks and monitors, or ``t_start``/``t_stop`` that are not times.
    ValueError
        If nothing is given, or if ``t_stop`` is not after ``t_start`` or before a recorded spike.

    Notes
    -----
    The spike trains are split by neuron with one sort of all spikes, O(S log S) for S spikes, and held
    by Neo as one spike-time array (`neo.core.spiketrainlist.SpikeTrainList.from_spike_time_array`)
    when all SpikeMonitors share ``t_start`` and ``t_stop`` (one run): the `neo.SpikeTrain` objects
    are built by Neo when the trains are first accessed, and ``segment.spiketrains.multiplexed``
    gives (train positions, times) without building them.

    Examples
    --------
    >>> from brian2 import NeuronGroup, SpikeMonitor, Network, ms, prefs
    >>> prefs.codegen.target = 'numpy'
    >>> G = NeuronGroup(2, 'dv/dt = (1.5 - v)/(10*ms) : 1', threshold='v > 1', reset='v = 0')
    >>> mon = SpikeMonitor(G)
    >>> Network(G, mon).run(50 * ms)
    >>> block = to_neo(mon)
    >>> train = block.segments[0].spiketrains[0]
    >>> len(block.segments[0].spiketrains), train.annotations['simulation'], train.units
    (2, 'clock-driven', array(1.) * s)
    >>> prefs.codegen.target = 'auto'
    """
    monitors = _monitors(objects)
    if not monitors:
        raise ValueError("to_neo needs at least one monitor or a Network with monitors, found none")
    start = 0.0 if t_start is None else _seconds("t_start", t_start)
    t_stop = None if t_stop is None else _seconds("t_stop", t_stop)
    exact = _exact_objects()
    segment = neo.Segment(name="brian2 run")
    block = neo.Block(name="brian2_sparseprop results")
    spikes = []
    for mon in monitors:
        simulation = "exact" if mon in exact else "clock-driven"
        stop = float(mon.clock.t_[:].item()) if t_stop is None else t_stop
        if stop <= start:
            raise ValueError(f"t_stop must be > t_start, found: t_stop = {stop} s, t_start = {start} s")
        root, offset, equations = _source_info(mon.source)
        common = dict(group=root.name, monitor=mon.name, model=equations, simulation=simulation)
        if isinstance(mon, SpikeMonitor):
            spikes.append(_spike_arrays(mon, start, stop, offset, common))
        elif isinstance(mon, StateMonitor):
            _add_states(segment, mon, offset, common)
        else:
            _add_rate(segment, mon, common)
    if spikes:
        segment.spiketrains = _spiketrain_list(spikes, segment)
    block.segments.append(segment)  # sets segment.block; the data objects' .segment is set as they are added
    return block


def _seconds(name, value):
    """A time given as a Quantity of either library or a float in seconds, as a float in seconds."""
    return check_real(name, si_value(name, value, "time"))


@dataclass
class _SpikeArrays:
    """The spikes of one SpikeMonitor sorted by (neuron, time), with the annotations of its trains."""

    times: np.ndarray
    neurons: np.ndarray
    n: int
    window: tuple
    annotations: dict


def _spike_arrays(mon, start, stop, offset, common):
    if not mon.record:
        raise ValueError(f"SpikeMonitor '{mon.name}' was created with record=False: it holds no spike times")
    times = np.asarray(mon.t_, dtype=float)
    indices = np.asarray(mon.i, dtype=np.int64)
    if start > 0:  # the trains start at t_start: earlier spikes are cut
        kept = times >= start
        times, indices = times[kept], indices[kept]
    if len(times) and times.max() > stop:
        raise ValueError(
            f"SpikeMonitor '{mon.name}' has spikes outside [t_start, t_stop] = [{start}, {stop}] s: "
            f"[{times.min()}, {times.max()}] s"
        )
    n = len(mon.source)
    order = np.lexsort((times, indices))
    annotations = {key: [value] * n for key, value in common.items()}
    annotations["neuron_index"] = np.arange(offset, offset + n).tolist()
    return _SpikeArrays(times[order], indices[order], n, (start, stop), annotations)


def _spiketrain_list(spikes, segment):
    """The segment's spike trains, in the order of the monitors: one multiplexed `SpikeTrainList` if all
    SpikeMonitors share one window (t_start, t_stop), else the trains of one such list per window."""
    first = np.cumsum([0] + [s.n for s in spikes])  # position of each monitor's first train in the segment
    lists = []
    for window in dict.fromkeys(s.window for s in spikes):
        members = [k for k, s in enumerate(spikes) if s.window == window]
        group = [spikes[k] for k in members]
        annotations = {key: sum((s.annotations[key] for s in group), []) for key in group[0].annotations}
        trains = SpikeTrainList.from_spike_time_array(
            np.concatenate([s.times for s in group]),
            np.concatenate([s.neurons + first[k] for s, k in zip(group, members)]),
            np.concatenate([np.arange(first[k], first[k + 1]) for k in members]).tolist(),
            t_stop=window[1] * pq.s,
            units=pq.s,
            t_start=window[0] * pq.s,
            **annotations,
        )
        trains.segment = segment
        lists.append(trains)
    if len(lists) == 1:
        return lists[0]
    items = sorted((train for trains in lists for train in trains), key=lambda train: train.annotations["channel_id"])
    return SpikeTrainList(items=items, parent=segment)


def _add_states(segment, mon, offset, common):
    times = np.asarray(mon.t_, dtype=float)
    if len(times) == 0:
        return
    record = np.asarray(mon.record, dtype=np.int64) + offset
    for name in mon.record_variables:
        variable = mon.recorded_variables[name]
        values = np.asarray(variable.get_value(), dtype=float)
        signal = neo.AnalogSignal(
            values * _pq_unit(variable.dim),
            t_start=times[0] * pq.s,
            sampling_period=float(mon.clock.dt_) * pq.s,
            name=f"{common['group']}.{name}",
            array_annotations={"neuron_index": record},
            variable=name,
            **common,
        )
        segment.analogsignals.append(signal)


def _add_rate(segment, mon, common):
    times = np.asarray(mon.t_, dtype=float)
    if len(times) == 0:
        return
    signal = neo.AnalogSignal(
        np.asarray(mon.rate_, dtype=float)[:, None] * pq.Hz,
        t_start=times[0] * pq.s,
        sampling_period=float(mon.clock.dt_) * pq.s,
        name=f"{common['group']} population rate",
        variable="population_rate",
        n_neurons=len(mon.source),
        **common,
    )
    segment.analogsignals.append(signal)


def from_neo(spiketrains, period=None, name="spikegeneratorgroup*"):
    """A Brian2 `SpikeGeneratorGroup` that replays Neo spike trains, one neuron per train.

    Parameters
    ----------
    spiketrains : list of neo.SpikeTrain
        The trains; train ``k`` becomes neuron ``k`` of the group.
    period : time Quantity (Brian2 or ``quantities``) or float (s), optional
        Repeat the pattern with this period (all spike times must then be below it).
    name : str
        Name of the group.

    Returns
    -------
    brian2.SpikeGeneratorGroup
        With the spike times converted to seconds (relative to time 0, not to ``t_start``).

    Raises
    ------
    TypeError
        If an element is not a neo.SpikeTrain, or ``period`` is not a time.
    ValueError
        If no train is given.

    Examples
    --------
    >>> import neo, quantities as pq
    >>> trains = [neo.SpikeTrain([1, 3] * pq.ms, t_stop=10 * pq.ms), neo.SpikeTrain([2] * pq.ms, t_stop=10 * pq.ms)]
    >>> group = from_neo(trains)
    >>> len(group), [round(float(t), 6) for t in group._spike_time]
    (2, [0.001, 0.002, 0.003])
    """
    trains = list(spiketrains)
    if not trains:
        raise ValueError("from_neo needs at least one spike train, found none")
    for k, train in enumerate(trains):
        if not isinstance(train, neo.SpikeTrain):
            raise TypeError(f"spiketrains must be neo.SpikeTrain objects, found {type(train).__name__} at position {k}")
    times = np.concatenate([train.rescale(pq.s).magnitude.astype(float) for train in trains])
    indices = np.concatenate([np.full(len(train), k, dtype=np.int64) for k, train in enumerate(trains)])
    order = np.lexsort((indices, times))
    kwargs = {} if period is None else {"period": _seconds("period", period) * second}
    return SpikeGeneratorGroup(len(trains), indices[order], times[order] * second, name=name, **kwargs)
