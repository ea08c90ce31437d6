"""Exact gradients through an event-driven run: the backward (adjoint) pass of LIF networks, with delta
pulses ('lif') or exponential synaptic currents ('lif_exp'), and of QIF and theta networks with delta pulses.

A run recorded with ``EventNetwork.run(T, record_tape=True)`` is differentiated in one backward pass over
its spikes (the compiled `brian2_sparseprop.spiking._adjoint`, `brian2_sparseprop.spiking._adjoint_exp`
for 'lif_exp' and `brian2_sparseprop.spiking._adjoint_qif` for 'qif' and 'theta'), O(K) per spike (for
'qif' and 'theta' after a sort of the arrivals by target and time). For a fixed order of events every
spike time and every final state is a smooth function of the weights, drives and initial states; the
gradient returned is that function's. Where the order of events would change under an infinitesimal
change (an arrival at the very instant of a spike, a pulse that lands a neuron exactly on threshold), or
where a spike caused by a pulse makes its time insensitive to its neuron's parameters, the result counts
the events; see `SpikeGradient`.
"""

import dataclasses
import inspect
from dataclasses import dataclass

import numpy as np

from .._validation import check_real, check_values, real_array, si_value
from . import _adjoint, _adjoint_exp, _adjoint_linear, _adjoint_qif

__all__ = ["SpikeGradient", "lif_gradient", "pseudospike_times", "van_rossum_loss"]


@dataclass(frozen=True)
class SpikeGradient:
    """The gradient of a scalar loss L with respect to the parameters of an `EventNetwork`.

    Every derivative is that of the smooth map from parameters to spike times and states that holds while
    the order of events stays the recorded one; the counts say where that order is degenerate.

    Attributes
    ----------
    weights : float or numpy.ndarray, shape (nnz,)
        dL/dw, shaped like the network's ``weights``: one value per synapse (in the order of ``indices``)
        if the weights were given per synapse, else the derivative by the one shared weight.
    delays : float or numpy.ndarray, shape (nnz,)
        dL/dd by the network's delays, shaped like ``delays`` (per synapse, or the one shared delay). At
        d = 0 it is the derivative for growing delays (one-sided: a delay cannot be negative).
    drive : float or numpy.ndarray, shape (n,)
        dL/dI, per neuron if ``drive`` was given per neuron, else by the shared drive.
    v0 : numpy.ndarray, shape (n,)
        dL/dv(0), by each neuron's initial state (the phase theta(0) for theta neurons).
    tau, threshold, reset : float or numpy.ndarray, shape (n,)
        dL/dtau (1/s), dL/dtheta, dL/dv_r: per neuron if the parameter was given per neuron, else by the
        shared value (``tau`` is the membrane's tau_m for 'lif_exp'). A spike caused by a pulse does not
        depend on its neuron's threshold (it only needs the pulse to cross it); a neuron refractory at T
        is held at its reset (v(T) = v_r). The initial state is ``v0`` even where it defaulted to the
        reset: ``reset`` is the derivative by the resets after spikes. Theta neurons have neither (their
        threshold and reset are +-pi): 0.
    poisson_weights, poisson_delays : tuple of (float or numpy.ndarray)
        One entry per `add_poisson_input` or `add_poisson_sources` call, in their order: dL/dw and dL/dd
        of its synapses (per synapse, or by the one value if a scalar was given), for the input
        realisation of the recorded run (the input event times are held fixed).
    generator_weights, generator_delays : tuple of (float or numpy.ndarray)
        The same for each `add_spike_generator` call.
    generator_times : tuple of numpy.ndarray
        One array per `add_spike_generator` call: dL/dt by each of its given spike times, in the order of
        its ``times`` (with a period, summed over the repetitions in the run; 0 for a spike at or after
        the end of the run). A spike that triggers a neuron's spike by its pulse passes that spike's
        derivative on, one for one.
    n_pulse_triggered : int
        Spikes caused by an input pulse. Their time is the pulse's arrival time: it depends on the
        presynaptic spike (or input event) and the synapse's delay, not on the parameters of the neuron or
        the weights of its synapses (with delta pulses such spikes make weight gradients vanish; a network
        dominated by them learns little by gradient).
    n_coincident : int
        Arrivals at the very instant (within 4 ulps) of a spike of their target (absorbed by its reset, or a
        second cause of a pulse-triggered spike) or of the end of its refractory period. The loss is not
        differentiable there (the one-sided derivatives differ); the value returned is the one-sided
        derivative of the recorded order of events. 0 means the gradient exists. Ties within a cascade
        without delay (all its spikes share its first spike's time under any small change) are not
        counted; ties of one cascade's delayed arrivals at a pulse-triggered spike are (an upper bound).
        Readouts (``record_states``) add to it: a readout within 4 ulps of a pulse arriving at its neuron
        (the readout is taken before it), of a spike its neuron reaches on its own (the readout is the
        threshold, before the reset; pi for theta neurons) or of the end of its neuron's refractory period
        (for 'qif' and 'theta' also of a spike without refractory period, after which it starts anew).
    n_unresolved : int
        Pulse-triggered spikes whose pulse was not found among the recorded spikes and input events (0
        unless arrival times and spike times differ by more than rounding, which would be a bug: please
        report it).
    tau_e, tau_i : float or numpy.ndarray, shape (n,)
        dL/dtau_e, dL/dtau_i (1/s) of 'lif_exp' networks, shaped like the parameters (0.0 for 'lif').
    i_e0, i_i0 : float or numpy.ndarray, shape (n,)
        dL/dI_e(0), dL/dI_i(0) by each 'lif_exp' neuron's initial currents (``i_e_init``, ``i_i_init``;
        0.0 for 'lif').
    loss : float or None
        The value of the loss when it was given as a callable (``gradient(loss=...)``), else None.
    pseudospike_times, pseudospike_indices : numpy.ndarray or None
        With ``pseudospikes`` ('qif' and 'theta' networks): the pseudospikes of the neurons that did not
        fire in the run (see `pseudospike_times`), which followed the recorded spikes in the loss's
        arguments; None without.
    A, b : numpy.ndarray or None
        'linear' networks: dL/dA and dL/db of the `~brian2_sparseprop.spiking.linear.LinearModel`, shaped
        like its ``A`` and ``b`` (per neuron, or summed over the neurons where the model has one matrix).
        Every entry on and below the diagonal has its derivative (also those that are 0 in the model);
        those above it are 0. Derivatives by time constants follow by the chain rule (for ``A[k, k] =
        -1/tau``: dL/dtau = dL/dA[k, k] / tau**2, plus the terms of the entries of b and A that tau
        divides). None for the other models.
    x0 : numpy.ndarray or None
        'linear' networks: dL/dx(0), shape (n, d), by the initial state vectors (``v0`` is its column of v).
    reset_scale, reset_offset : numpy.ndarray or None
        'linear' networks: dL/d(scale) and dL/d(offset) of the reset maps ``x = scale * x + offset`` of the
        variables other than v (``reset_others``), shape (d,) (0 for v). None for the other models.

    Notes
    -----
    For 'lif_exp' networks (v continuous: no spike is caused by a pulse) ``n_pulse_triggered`` and
    ``n_unresolved`` are 0, and ``n_coincident`` counts arrivals within 4 ulps of a spike or of the end of
    a refractory period of their target (not the arrival of a neuron's zero-delay self-connection), spikes
    reached with dv/dt <= 0 at threshold (grazing: a spike that a small change removes), and spikes that
    the tape marks as caused by a pulse (v at threshold within rounding at the pulse's instant). A weight
    of exactly 0 gets the derivative for growing weights (into I_e).
    """

    weights: float | np.ndarray
    drive: float | np.ndarray
    v0: np.ndarray
    n_pulse_triggered: int
    n_coincident: int
    n_unresolved: int
    delays: float | np.ndarray = 0.0
    tau: float | np.ndarray = 0.0
    threshold: float | np.ndarray = 0.0
    reset: float | np.ndarray = 0.0
    poisson_weights: tuple = ()
    poisson_delays: tuple = ()
    generator_weights: tuple = ()
    generator_delays: tuple = ()
    generator_times: tuple = ()
    tau_e: float | np.ndarray = 0.0
    tau_i: float | np.ndarray = 0.0
    i_e0: float | np.ndarray = 0.0
    i_i0: float | np.ndarray = 0.0
    loss: float | None = None
    pseudospike_times: np.ndarray | None = None
    pseudospike_indices: np.ndarray | None = None
    A: np.ndarray | None = None
    b: np.ndarray | None = None
    x0: np.ndarray | None = None
    reset_scale: np.ndarray | None = None
    reset_offset: np.ndarray | None = None


def _boundaries(times, neuron, kicked, n, s_times, s_idx, tref):
    """Each neuron's boundaries in time order, as CSR rows: its spikes and its readouts (``s_times`` x
    ``s_idx``, flat index f = row * len(s_idx) + column) outside refractory periods, a readout before a
    spike of its instant (a sample precedes the events of its instant).

    Returns ptr, order (a spike's record position or a readout's f), kind (0 a spike reached on its own,
    1 one caused by a pulse, 2 a readout), the boundary times, each spike's CSR position, each readout's
    CSR position (-1 within a refractory period: held at the reset), and the number of those within rounding
    of the end of the refractory period or of the spike that began it."""
    n_sp, n_ro = times.size, s_times.size * s_idx.size
    r_t, r_i = np.repeat(s_times, s_idx.size), np.tile(s_idx, s_times.size)
    all_t, all_i = np.concatenate([times, r_t]), np.concatenate([neuron, r_i]).astype(np.int64)
    is_ro = np.arange(n_sp + n_ro) >= n_sp
    # by neuron, then time, then readouts first (without readouts: the record is in time order already)
    srt = np.lexsort((~is_ro, all_t, all_i)) if n_ro else np.argsort(all_i, kind="stable")
    ro_sorted = is_ro[srt]
    # the last spike of the neuron before each readout: a refractory readout is held at the reset
    last = np.maximum.accumulate(np.where(ro_sorted, -1, np.arange(srt.size)))
    has_prev = (last >= 0) & (all_i[srt[np.maximum(last, 0)]] == all_i[srt])
    t_prev = np.where(has_prev, all_t[srt[np.maximum(last, 0)]], -np.inf)
    ref_end = t_prev + tref[all_i[srt]]
    refractory = ro_sorted & (all_t[srt] < ref_end)
    tol = 4.0 * np.finfo(float).eps * np.maximum(all_t[srt], 1.0)
    n_at_end = int((refractory & ((ref_end - all_t[srt] <= tol) | (all_t[srt] - t_prev <= tol))).sum())
    keep = srt[~refractory]
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(all_i[keep], minlength=n), out=ptr[1:])
    order = np.where(keep < n_sp, keep, keep - n_sp).astype(np.int64)
    kind = np.where(keep < n_sp, kicked[np.minimum(keep, max(n_sp - 1, 0))] if n_sp else 0, 2).astype(np.uint8)
    pos = np.empty(n_sp, np.int64)
    pos[keep[keep < n_sp]] = np.nonzero(keep < n_sp)[0]
    ro_pos = np.full(n_ro, -1, np.int64)
    ro_pos[keep[keep >= n_sp] - n_sp] = np.nonzero(keep >= n_sp)[0]
    return ptr, order, kind, all_t[keep], pos, ro_pos, n_at_end


def _synapse_accumulators(net, parts):
    """Zeroed dL/dw and dL/dd accumulators: one per synapse, or one where the network's synapses share one
    weight (delay)."""
    nnz = net._spec["indices"].size
    return (
        np.zeros(1 if len(parts) == 1 and parts[0][2] else max(nnz, 1)),
        np.zeros(1 if len(parts) == 1 and parts[0][3] else max(nnz, 1)),
    )


def _mask(a):
    return np.int64(-1 if a.size > 1 else 0)


def _synapse_parts(net):
    """The parts of the engine's connectivity, in its order (network, Poisson calls, generator calls): for
    each its kind, its number of synapses and whether its weights and its delays are one scalar; and the
    permutation of the engine's sort of each row by delay (None if no row was sorted)."""
    config = net._config
    delays = [np.asarray(config["delays"], float).reshape(-1)]
    parts = [("network", net._indices.size, np.ndim(config["weights"]) == 0, np.ndim(config["delays"]) == 0)]
    n_rows = net.n
    for rates, _ip, ix, w, d in net._poisson:
        parts.append(("poisson", ix.size, w.size == 1, d.size == 1))
        delays.append(d)
        n_rows += rates.size
    for _times, _sources, n_src, _ip, ix, w, d, _period, _order in net._generators:
        parts.append(("generator", ix.size, w.size == 1, d.size == 1))
        delays.append(d)
        n_rows += n_src
    spec = net._spec
    if spec["delays"].size == 1:
        return parts, None
    row = np.repeat(np.arange(n_rows), np.diff(spec["indptr"]))
    caller = np.concatenate([np.broadcast_to(d, (p[1],)) for d, p in zip(delays, parts, strict=True)])
    return parts, np.lexsort((caller, row))


def lif_gradient(
    net, dL_dspike_times=None, dL_dv=None, *, dL_dstates=None, loss=None, pseudospikes=None, memory_budget=None
):
    """Exact gradient of a loss L by the parameters of a LIF, QIF or theta network's run (weights, delays,
    drives, initial states, tau, threshold, reset) and by the weights and delays of its external inputs.

    The loss is given by its derivatives: by every spike of the run (aligned with ``net.spike_times``)
    and, optionally, by every neuron's final state v(T) at the network's current time T and by the exact
    states recorded at given times (``record_states``, membrane readouts); or as a callable of the spike
    times (and the final states, and the readouts) that JAX differentiates. The run must have been
    recorded with ``net.run(..., record_tape=True)`` from t = 0 on. Poisson inputs are held at
    the realisation of the recorded run (their event times are on the tape: 12 bytes per input event).

    Parameters
    ----------
    net : EventNetwork
        A network of ``'lif'`` neurons with delta pulses, of ``'lif_exp'`` neurons with exponential
        currents (reset < threshold), or of ``'qif'`` and ``'theta'`` neurons with delta pulses (any sign of
        the drive), with any weights, delays, refractory periods, per-neuron parameters, Poisson and
        spike-generator inputs, and ``integrate_refractory=False``. For 'lif_exp' the gradient also holds
        dL/dtau_e, dL/dtau_i and dL/d(initial currents). For theta neurons the states (``v0``, ``dL_dv``)
        are the phases theta, and threshold and reset have no derivative (they are +-pi). Networks of
        ``'linear'`` neurons (`~brian2_sparseprop.spiking.linear.LinearModel`) have the gradient by the
        model's A and b, the initial state vectors, threshold, reset and the reset maps of the other
        variables (`SpikeGradient`: ``A``, ``b``, ``x0``, ``reset_scale``, ``reset_offset``).
    dL_dspike_times : array_like, shape (n_spikes,)
        dL/dt_k for the spikes ``net.spike_times`` (zero where L does not depend on a spike). Give it or
        ``loss``, not both.
    dL_dv : array_like, shape (n,), optional
        dL/dv_i(T) by the final states (a neuron refractory at T is held at its reset). For 'linear'
        networks also of shape (n, d): by the whole final state vectors (`EventNetwork.linear_state`).
    dL_dstates : array_like, shape like ``net.state_values``, optional
        dL/d(readout) by the exact states recorded with ``net.record_states(indices, times)``
        (``net.state_values[r, c]``: neuron ``indices[c]`` at ``net.state_times[r]``). A readout is the
        state before the events of its instant (Brian2's StateMonitor records at the start of a time
        step): the left limit v(t_r-), without a pulse arriving at t_r and, at a spike the neuron reaches
        on its own at t_r, the threshold; within a refractory period, the reset. A readout of a theta
        neuron is its phase theta in (-pi, pi] (pi at its spike, -pi while refractory): ``dL_dstates`` is
        dL/dtheta there.
    loss : callable, optional
        ``loss(spike_times, spike_indices)``, ``loss(spike_times, spike_indices, v)`` or ``loss(spike_times,
        spike_indices, v, states)``, a scalar written with ``jax.numpy``: ``spike_times`` is a float64 JAX
        array aligned with ``net.spike_times``, ``spike_indices`` the neurons (int32), ``v`` the final
        states, shape (n,), ``states`` the readouts, shaped like ``net.state_values``. The number of
        arguments it accepts decides which it is given. Its derivatives are taken with ``jax.grad`` (in
        64-bit precision) and passed to the backward pass; the result's ``loss`` holds its value. Needs
        JAX.
    pseudospikes : float, optional
        'qif' and 'theta' networks only: a drive I_ps > 0. Each neuron that did not fire in the run gets a
        pseudospike (Klos and Memmesheimer): the time at which it would fire if, after T, its drive were
        I_ps and no input arrived (`pseudospike_times`), a smooth function of its state v(T), later than
        T, that joins a real spike continuously when that spike moves past T. The pseudospikes follow the
        recorded spikes in the loss's arguments (``spike_times``, ``spike_indices``; ``dL_dspike_times``
        has one entry per spike and per pseudospike), so that a loss of first spike times has a gradient
        for silent neurons.
    memory_budget : float, optional
        Bytes: differentiate the run in checkpointed segments, from the last to the first, so that the memory
        the gradient allocates stays under this budget however long the run (see
        `brian2_sparseprop.spiking.checkpoint`; `brian2_sparseprop.spiking.checkpoint.segments` shows the
        segments). The states at the segments' starts (v, the currents of 'lif_exp' neurons, the phases of theta
        neurons, the state vectors of 'linear' neurons) are re-run from the engine state that the tape keeps
        from t = 0, and the network is put back as it was; ``pseudospikes`` enter at the run's end as without a
        budget. The result equals the unsegmented pass's within rounding (measured: relative differences below
        4e-14 of each field's largest entry for 'lif', 5e-15 for 'lif_exp', 4e-14 for 'qif' and 'theta', 3e-13
        with drives below rheobase, where a neuron near the unstable fixed point amplifies the rounding of its
        state, 3.4e-14 for 'linear'). The budget covers the engine snapshots (the state at T, and those taken on
        the way), the state vectors at the segments' starts, each segment's arrays and the compiled pass's
        workspace (for 'qif' and 'theta' networks 32 bytes per arrival of its events: their pass sorts the
        arrivals by target; for 'linear' networks 17 doubles per spike, refractory end and readout, and dL/dA,
        dL/db per neuron), the adjoints carried between segments, and the permutation of the synapses by
        delay (8 bytes per synapse, if they have delays of their own). It does not cover the network itself, the
        record of the run that the loss is a function of and the tape (spike times and indices and cause bits,
        13 bytes per spike; 12 bytes per input event; the engine state at t = 0), the loss's derivatives (given,
        or computed by JAX from the callable over the whole record, as without a budget), the returned gradients
        (per synapse, per neuron, and dL/dt of every input event, 8 bytes each), nor any record the user keeps.
        Cost: about one more forward run (the replays), more when the budget is so small that each segment's
        start is re-run from a snapshot.

    Returns
    -------
    SpikeGradient
        The gradient, shaped like the parameters, with counts of the events where it does not exist
        or where spikes are insensitive to parameters.

    Raises
    ------
    TypeError
        If ``net`` is not an `EventNetwork`, a derivative is not an array of real numbers, ``loss`` is not
        callable, or both or neither of ``dL_dspike_times`` and ``loss`` are given (or ``loss`` with
        ``dL_dv`` or ``dL_dstates``), or ``memory_budget`` is not a real number.
    ValueError
        If there is no tape (no run yet, or a run or ``set_v`` without ``record_tape=True``), a
        derivative has the wrong shape or is not finite (also one that JAX returned), or ``memory_budget``
        is not > 0 or too small for the run (the message names the least budget that fits).
    ImportError
        If ``loss`` is given and JAX is not installed.
    NotImplementedError
        For models other than 'lif', 'lif_exp', 'qif', 'theta' and 'linear' (or a network that mixes 'lif',
        'lif_exp', 'linear' and QIF/theta neurons), ``integrate_refractory=True``, 'lif_exp' neurons with
        reset >= threshold, or ``pseudospikes`` for networks of other neurons than 'qif' and 'theta', whose
        backward passes are not written yet.

    Examples
    --------
    A neuron fires periodically, its spikes delayed by 2 ms into a second one; the gradient of the
    sum of the spike times of the second neuron by the weight matches a finite difference:

    >>> import numpy as np
    >>> from brian2_sparseprop import EventNetwork
    >>> def run(w):
    ...     net = EventNetwork(2, drive=[1.5, 1.2], indptr=[0, 1, 1], indices=[1], weights=[w],
    ...                        delays=0.002)
    ...     net.run(0.05, record_tape=True)
    ...     return net
    >>> net = run(0.1)
    >>> dL = (net.spike_indices == 1).astype(float)  # L = sum of the spike times of neuron 1
    >>> g = net.gradient(dL)
    >>> h = 1e-6
    >>> fd = (run(0.1 + h).spike_times @ dL - run(0.1 - h).spike_times @ dL) / (2 * h)
    >>> bool(np.isclose(g.weights[0], fd, rtol=1e-5))
    True
    >>> g.n_pulse_triggered, g.n_coincident  # neuron 1's last spike is fired by the arriving pulse
    (1, 0)

    An input spike at 1 ms and a neuron without drive: the time of the neuron's spike depends on the
    input's weight (and, one for one, on its delay):

    >>> net = EventNetwork(1, drive=0.0, tau=0.01)
    >>> net.add_spike_generator([0.001], [0], 1, [0, 1], [0], weights=0.5, delays=0.002)
    >>> net.add_poisson_input(0.0, 0.1)  # a Poisson input that never fires: zero gradients
    >>> net.run(0.01, record_tape=True)
    >>> g = net.gradient(np.zeros(0), dL_dv=[1.0])  # L = v(T): 0.5 exp(-(T - 3 ms) / tau)
    >>> bool(np.isclose(g.generator_weights[0], np.exp(-0.7)))
    True
    >>> bool(np.isclose(g.generator_delays[0], 0.5 * np.exp(-0.7) / 0.01))
    True
    >>> bool(np.isclose(g.generator_times[0][0], g.generator_delays[0]))  # a later input, a later pulse
    True
    >>> g.poisson_weights
    (0.0,)

    The first spike of a neuron from v0 = 0, at tau ln(I / (I - theta)), by tau and by the threshold:

    >>> net = EventNetwork(1, tau=0.01, drive=1.5, threshold=1.0)
    >>> net.run(0.015, record_tape=True)
    >>> g = net.gradient([1.0])
    >>> bool(np.isclose(g.tau, np.log(3))), bool(np.isclose(g.threshold, 0.01 / 0.5))
    (True, True)

    A loss as a callable, differentiated with JAX: the distance of neuron 1's first spike (the
    network of the first example) to a target time, a time-to-first-spike loss:

    >>> import jax.numpy as jnp
    >>> def first_spike_loss(t, i):
    ...     first = jnp.min(jnp.where(i == 1, t, jnp.inf))
    ...     return (first - 0.02) ** 2
    >>> g = run(0.1).gradient(loss=first_spike_loss)
    >>> def first(net):
    ...     return net.spike_times[net.spike_indices == 1][0]
    >>> bool(np.isclose(g.loss, (first(run(0.1)) - 0.02) ** 2))
    True
    >>> fd = ((first(run(0.1 + h)) - 0.02) ** 2 - (first(run(0.1 - h)) - 0.02) ** 2) / (2 * h)
    >>> bool(np.isclose(g.weights[0], fd, rtol=1e-5))
    True

    With exponential currents ('lif_exp', EventProp's model) a spike time depends smoothly on the
    weights: neuron 1, without drive, fires once from the current of neuron 0's pulse (its peak is w/4 for
    tau_e = tau/2), L = its spike time:

    >>> def run_exp(w):
    ...     net = EventNetwork(2, model="lif_exp", drive=[1.5, 0.0], indptr=[0, 1, 1], indices=[1],
    ...                        weights=[w], delays=0.002, tau_e=0.005)
    ...     net.run(0.02, record_tape=True)
    ...     return net
    >>> dL = (run_exp(6.0).spike_indices == 1).astype(float)
    >>> g = run_exp(6.0).gradient(dL)
    >>> fd = (run_exp(6.0 + h).spike_times @ dL - run_exp(6.0 - h).spike_times @ dL) / (2 * h)
    >>> bool(fd < 0), bool(np.isclose(g.weights[0], fd, rtol=1e-5)), g.n_coincident
    (True, True, 0)

    A membrane readout: neuron 1 of the first network recorded at 30 ms, L = v_1(30 ms) squared (the
    callable takes the readouts as its fourth argument):

    >>> def run_readout(w):
    ...     net = EventNetwork(2, drive=[1.5, 1.2], indptr=[0, 1, 1], indices=[1], weights=[w],
    ...                        delays=0.002)
    ...     net.record_states([1], [0.03])
    ...     net.run(0.05, record_tape=True)
    ...     return net
    >>> g = run_readout(0.1).gradient(loss=lambda t, i, v, states: states[0, 0] ** 2)
    >>> fd = (run_readout(0.1 + h).state_values[0, 0] ** 2 - run_readout(0.1 - h).state_values[0, 0] ** 2) / (2 * h)
    >>> bool(np.isclose(g.weights[0], fd, rtol=1e-5))
    True

    A theta neuron from phase 0 fires when its phase atan(v / sqrt(I)) has turned by pi/2 at the rate
    sqrt(I) / tau, at t = tau pi / (2 sqrt(I)), so dt/dI = -t / (2 I); silent neurons get pseudospikes:

    >>> net = EventNetwork(2, model="theta", tau=0.01, drive=[4.0, -1.0], v_init=[0.0, 0.0])
    >>> net.run(0.01, record_tape=True)
    >>> t1 = 0.01 * np.pi / 4
    >>> g = net.gradient([1.0])
    >>> bool(np.isclose(net.spike_times[0], t1)), bool(np.isclose(g.drive[0], -t1 / 8))
    (True, True)
    >>> g = net.gradient([0.0, 1.0], pseudospikes=100.0)  # L = the pseudospike time of neuron 1
    >>> g.pseudospike_indices.tolist(), bool(g.pseudospike_times[0] > 0.01), bool(g.drive[1] < 0)
    ([1], True, True)

    A readout of a theta neuron is its phase: from theta(0) = 0 with I = 1, v = tan(theta / 2) = tan(t /
    tau), so theta(t) = 2 t / tau before the spike and dtheta(t)/dtau = -2 t / tau**2:

    >>> net = EventNetwork(1, model="theta", tau=0.01, drive=1.0, v_init=[0.0])
    >>> net.record_states([0], [0.005])
    >>> net.run(0.01, record_tape=True)
    >>> bool(np.isclose(net.state_values[0, 0], 1.0))
    True
    >>> g = net.gradient(np.zeros(net.spike_times.size), dL_dstates=[[1.0]])
    >>> bool(np.isclose(g.tau, -2 * 0.005 / 0.01**2))
    True

    A linear model: the perfect integrator dv/dt = b (b = drive / tau = 50 / s) fires first at theta / b =
    20 ms, so dt/db = -theta / b**2, dt/dtheta = 1 / b and dt/dv(0) = -1 / b:

    >>> from brian2_sparseprop.spiking.linear import LinearModel
    >>> net = EventNetwork(1, model="linear", linear=LinearModel.pif(drive=0.5, threshold=1.0, tau=0.01))
    >>> net.run(0.03, record_tape=True)
    >>> g = net.gradient([1.0])
    >>> [round(float(x), 12) for x in (g.b[0], g.threshold, g.x0[0, 0])]
    [-0.0004, 0.02, -0.02]
    """
    from .network import MODELS, EventNetwork

    if not isinstance(net, EventNetwork):
        raise TypeError(f"net must be an EventNetwork, found {type(net).__name__}")
    family = _model_family(net)
    exp_model = family == "lif_exp"
    if net._integ.any():
        raise NotImplementedError("gradients are not implemented for integrate_refractory=True")
    if pseudospikes is not None and family != "qif":
        raise NotImplementedError(
            "pseudospikes are implemented for networks of 'qif' and 'theta' neurons, found model "
            f"{MODELS[net._codes[0]]!r}"
        )
    if net._engine is None or net._tape is None:
        raise ValueError(
            "no tape to differentiate: run the network with run(..., record_tape=True) from t = 0, "
            "without set_v or set_state after it"
        )
    if memory_budget is not None:
        memory_budget = check_real("memory_budget", memory_budget, positive=True)
    times, neuron = net.spike_times, net.spike_indices
    if len(net._tape) > 1:  # merged in place: the record is kept once
        net._tape[:] = [np.concatenate(net._tape)]
    kicked = net._tape[0] if net._tape else np.zeros(0, np.uint8)
    n = net.n
    states = net.state_values
    value = None
    ps = None
    if pseudospikes is not None:
        ps_drive = check_real("pseudospikes", pseudospikes, positive=True)
        ps = (*pseudospike_times(net, ps_drive), ps_drive)
        all_t, all_i = np.concatenate([times, ps[0]]), np.concatenate([neuron, ps[1]])
    else:
        all_t, all_i = times, neuron
    if (dL_dspike_times is None) == (loss is None):
        raise TypeError("give the loss's derivatives dL_dspike_times (and dL_dv) or a callable loss, not both")
    if loss is not None:
        for name, given in (("dL_dv", dL_dv), ("dL_dstates", dL_dstates)):
            if given is not None:
                raise TypeError(f"{name} comes from the callable loss: give one or the other")
        value, dL_dspike_times, dL_dv, dL_dstates = _jax_derivatives(loss, all_t, all_i, net.v, states)
    dL_dt = _derivative(
        "dL_dspike_times",
        dL_dspike_times,
        all_t.shape,
        "one per spike of net.spike_times" + (", then one per pseudospike" if ps is not None else ""),
    )
    dL_dv_full = None
    if family == "linear" and dL_dv is not None and np.ndim(dL_dv) == 2:  # by the whole final state vectors
        d = len(net._linear["model"].variables)
        dL_dv_full = _derivative("dL_dv", dL_dv, (n, d), "one per neuron, or one per neuron and variable")
        dL_dv = None
    dv = np.zeros(n) if dL_dv is None else _derivative("dL_dv", dL_dv, (n,), "one per neuron")
    ds = (
        np.zeros(states.shape)
        if dL_dstates is None
        else _derivative("dL_dstates", dL_dstates, states.shape, "like net.state_values")
    )

    p = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in _params(net).items()}
    if memory_budget is not None:
        from .checkpoint import checkpointed

        if exp_model:
            _check_exp_reset(net, p)
        dv = dv if dL_dv_full is None else dL_dv_full
        return checkpointed(net, p, times, neuron, kicked, dL_dt, dv, ds, value, memory_budget, family, ps)
    if family == "linear":
        return _linear_gradient(
            net, p, times, neuron, kicked, dL_dt, dv if dL_dv_full is None else dL_dv_full, ds, value
        )
    if exp_model:
        return _lif_exp_gradient(net, p, times, neuron, kicked, dL_dt, dv, ds, value)
    if family == "qif":
        return _qif_gradient(net, p, times, neuron, kicked, dL_dt, dv, ds, value, ps)
    s_times, s_idx = net.state_times, np.zeros(0, np.int32) if net._sample_idx is None else net._sample_idx
    tref = np.broadcast_to(p["tref"], (n,))
    ptr, order, kind, bd_time, pos, ro_pos, n_at_end = _boundaries(times, neuron, kicked, n, s_times, s_idx, tref)
    in_times = np.concatenate([c[0] for c in net._tape_inputs]) if net._tape_inputs else np.zeros(0)
    in_src = np.concatenate([c[1] for c in net._tape_inputs]) if net._tape_inputs else np.zeros(0, np.int32)
    in_after = np.searchsorted(times, in_times, side="left").astype(np.int64)  # an instant's inputs come first
    # a readout precedes the events of its instant
    ro_sp_after = np.searchsorted(times, s_times, side="left").astype(np.int64)
    ro_in_after = np.searchsorted(in_times, s_times, side="left").astype(np.int64)
    spec = net._spec
    indices = spec["indices"] if spec["indices"].size else np.zeros(1, np.int32)
    w, d = spec["weights"], spec["delays"]
    parts, perm = _synapse_parts(net)
    # one accumulator per synapse, unless the network alone has one shared weight (delay)
    g_w, g_d = _synapse_accumulators(net, parts)
    g_tau = np.zeros(n if np.ndim(net._config["tau"]) else 1)  # per arrival: one accumulator if shared
    g_drive, g_v0, g_thr, g_reset = (np.zeros(n) for _ in range(4))
    g_in = np.zeros(in_times.size)
    counts = np.zeros(3, np.int64)
    # a readout within a refractory period is the reset
    held = ro_pos < 0
    np.add.at(g_reset, np.tile(s_idx, s_times.size)[held], ds.reshape(-1)[held])
    _adjoint.lif_backward(
        times, neuron, kicked, ptr, order, kind, bd_time, pos, in_times, in_src, in_after,
        s_times, s_idx, ro_pos, ro_sp_after, ro_in_after, np.ascontiguousarray(states, float).reshape(-1),
        ds.reshape(-1),
        spec["indptr"], indices, w, _mask(w), d, _mask(d),
        p["tau"], _mask(p["tau"]), p["drive"], _mask(p["drive"]), p["thr"], _mask(p["thr"]),
        p["reset"], _mask(p["reset"]), p["tref"], _mask(p["tref"]), net._v_init,
        0.0, float(net.t), dL_dt, dv, g_w, _mask(g_w), g_d, _mask(g_d), g_tau, _mask(g_tau),
        g_drive, g_v0, g_thr, g_reset, g_in, counts,
    )  # fmt: skip
    return _gradient(
        net, g_w, g_d, parts, perm, g_in, in_src, value,
        drive=g_drive, v0=g_v0, tau=g_tau, threshold=g_thr, reset=g_reset,
        n_pulse_triggered=int(counts[0]), n_coincident=int(counts[1]) + n_at_end, n_unresolved=int(counts[2]),
    )  # fmt: skip


def _gradient(net, g_w, g_d, parts, perm, g_in, in_src, loss, **fields):
    """The `SpikeGradient` of a backward pass: weights and delays split by part (network, then each input),
    the per-neuron parameters summed to a scalar where ``net`` has one value for all (``v0``, ``i_e0``,
    ``i_i0`` and the counts as given), the generator times from the input events' gradients."""
    by_part = {"weights": _split(g_w, parts, perm, 2), "delays": _split(g_d, parts, perm, 3)}
    kinds = [part[0] for part in parts]
    for name in ("drive", "tau", "threshold", "reset", "tau_e", "tau_i"):
        if name in fields and not np.ndim(net._config[name]):
            fields[name] = float(fields[name].sum())
    return SpikeGradient(
        weights=by_part["weights"][0],
        delays=by_part["delays"][0],
        poisson_weights=tuple(g for g, k in zip(by_part["weights"], kinds) if k == "poisson"),
        poisson_delays=tuple(g for g, k in zip(by_part["delays"], kinds) if k == "poisson"),
        generator_weights=tuple(g for g, k in zip(by_part["weights"], kinds) if k == "generator"),
        generator_delays=tuple(g for g, k in zip(by_part["delays"], kinds) if k == "generator"),
        generator_times=_generator_times(net, g_in, in_src),
        loss=loss,
        **fields,
    )


def _exp_boundaries(times, neuron, kicked, n, tref, T, s_times, s_idx, states):
    """Each 'lif_exp' neuron's boundaries in time order, as CSR rows: its spikes, the ends of their
    refractory periods before T (each right after its spike) and its readouts (``s_times`` x ``s_idx``,
    flat index f = row * len(s_idx) + column) outside refractory periods (after a refractory end and
    before a spike of their instant). Returns ptr, kind (0 a spike, 2 a readout, 3 a refractory end), the
    boundary times, the readouts' recorded values (0 elsewhere), each spike's CSR position, each readout's
    CSR position (-1 within a refractory period: held at the reset) and the number of readouts within
    rounding of the end of a refractory period or of the spike that began it."""
    # which readouts are held at the reset: as for 'lif' (v is held the same way)
    *_, lif_ro_pos, n_at_end = _boundaries(times, neuron, kicked, n, s_times, s_idx, tref)
    ro_held = lif_ro_pos < 0
    ends = times + tref[neuron]
    has_end = (tref[neuron] > 0.0) & (ends < T)
    r_t, r_i = np.repeat(s_times, s_idx.size), np.tile(s_idx, s_times.size)
    r_keep = np.flatnonzero(~ro_held)
    all_t = np.concatenate([times, ends[has_end], r_t[r_keep]])
    all_i = np.concatenate([neuron, neuron[has_end], r_i[r_keep]]).astype(np.int64)
    n_sp, n_end = times.size, int(has_end.sum())
    kind = np.concatenate([np.zeros(n_sp, np.uint8), np.full(n_end, 3, np.uint8), np.full(r_keep.size, 2, np.uint8)])
    rank = np.array([2, 0, 1, 0], np.int8)[kind]  # at one instant: a refractory end, a readout, a spike
    value = np.concatenate([np.zeros(n_sp + n_end), np.asarray(states, float).reshape(-1)[r_keep]])
    srt = np.lexsort((rank, all_t, all_i))
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(all_i, minlength=n), out=ptr[1:])
    where = np.empty(srt.size, np.int64)
    where[srt] = np.arange(srt.size)
    ro_pos = np.full(r_t.size, -1, np.int64)
    ro_pos[r_keep] = where[n_sp + n_end :]
    return ptr, kind[srt], all_t[srt], value[srt], where[:n_sp].copy(), ro_pos, n_at_end


def _check_exp_reset(net, p):
    """NotImplementedError for 'lif_exp' neurons with reset >= threshold."""
    n = net.n
    rb, tb = np.broadcast_to(p["reset"], (n,)), np.broadcast_to(p["thr"], (n,))
    bad = (rb >= tb) & np.isfinite(tb)
    if bad.any():
        k = int(np.argmax(bad))
        raise NotImplementedError(
            f"gradients of 'lif_exp' neurons need reset < threshold (a neuron at threshold when its refractory "
            f"period ends fires at once, at a time the model's equations do not set), found reset {rb[k]} >= "
            f"threshold {tb[k]} for neuron {k}"
        )


def _lif_exp_gradient(net, p, times, neuron, kicked, dL_dt, dv, ds, value):
    """`lif_gradient` for networks of 'lif_exp' neurons (see `brian2_sparseprop.spiking._adjoint_exp`)."""
    n = net.n
    tref = np.broadcast_to(p["tref"], (n,))
    _check_exp_reset(net, p)
    T = float(net.t)
    states = net.state_values
    s_times, s_idx = net.state_times, np.zeros(0, np.int32) if net._sample_idx is None else net._sample_idx
    ptr, kind, bd_time, bd_val, pos, ro_pos, n_at_end = _exp_boundaries(
        times, neuron, kicked, n, tref, T, s_times, s_idx, states
    )
    in_times = np.concatenate([c[0] for c in net._tape_inputs]) if net._tape_inputs else np.zeros(0)
    in_src = np.concatenate([c[1] for c in net._tape_inputs]) if net._tape_inputs else np.zeros(0, np.int32)
    in_after = np.searchsorted(times, in_times, side="left").astype(np.int64)  # an instant's inputs come first
    ro_sp_after = np.searchsorted(times, s_times, side="left").astype(np.int64)  # a readout precedes its instant
    ro_in_after = np.searchsorted(in_times, s_times, side="left").astype(np.int64)
    spec = net._spec
    indices = spec["indices"] if spec["indices"].size else np.zeros(1, np.int32)
    w, d = spec["weights"], spec["delays"]
    parts, perm = _synapse_parts(net)
    g_w, g_d = _synapse_accumulators(net, parts)
    g_tm, g_te, g_ti, g_drive, g_v0, g_ie0, g_ii0, g_thr, g_reset = (np.zeros(n) for _ in range(9))
    g_in = np.zeros(in_times.size)
    counts = np.zeros(3, np.int64)
    te, ti = (np.ascontiguousarray(a, dtype=np.float64) for a in (net._tau_e, net._tau_i))
    cur = np.ascontiguousarray(np.broadcast_to(net._cur_init, (n, 2)), dtype=np.float64)
    held = ro_pos < 0  # a readout within a refractory period is the reset
    np.add.at(g_reset, np.tile(s_idx, s_times.size)[held], ds.reshape(-1)[held])
    _adjoint_exp.lif_exp_backward(
        times, neuron, kicked, ptr, kind, bd_time, bd_val, pos, in_times, in_src, in_after,
        s_times, s_idx, ro_pos, ro_sp_after, ro_in_after, ds.reshape(-1),
        spec["indptr"], indices, w, _mask(w), d, _mask(d),
        p["tau"], _mask(p["tau"]), te, _mask(te), ti, _mask(ti), p["drive"], _mask(p["drive"]),
        p["thr"], _mask(p["thr"]), p["reset"], _mask(p["reset"]), p["tref"], _mask(p["tref"]),
        net._v_init, np.ascontiguousarray(cur[:, 0]), np.ascontiguousarray(cur[:, 1]),
        0.0, T, dL_dt, dv, g_w, _mask(g_w), g_d, _mask(g_d),
        g_tm, g_te, g_ti, g_drive, g_v0, g_ie0, g_ii0, g_thr, g_reset, g_in, counts,
    )  # fmt: skip
    return _gradient(
        net, g_w, g_d, parts, perm, g_in, in_src, value,
        drive=g_drive, v0=g_v0, tau=g_tm, threshold=g_thr, reset=g_reset, tau_e=g_te, tau_i=g_ti, i_e0=g_ie0,
        i_i0=g_ii0, n_pulse_triggered=0, n_coincident=int(counts[0] + counts[1] + counts[2]) + n_at_end,
        n_unresolved=0,
    )  # fmt: skip


def _linear_gradient(net, p, times, neuron, kicked, dL_dt, dv, ds, value):
    """`lif_gradient` for networks of 'linear' neurons (see `brian2_sparseprop.spiking._adjoint_linear`);
    ``dv`` is dL/dv(T), shape (n,), or dL/dx(T), shape (n, d)."""
    n = net.n
    L = net._linear
    T = float(net.t)
    tref = np.broadcast_to(p["tref"], (n,))
    states = net.state_values
    s_times, s_idx = net.state_times, np.zeros(0, np.int32) if net._sample_idx is None else net._sample_idx
    ptr, kind, bd_time, _bd_val, pos, ro_pos, n_at_end = _exp_boundaries(
        times, neuron, kicked, n, tref, T, s_times, s_idx, states
    )
    in_times = np.concatenate([c[0] for c in net._tape_inputs]) if net._tape_inputs else np.zeros(0)
    in_src = np.concatenate([c[1] for c in net._tape_inputs]) if net._tape_inputs else np.zeros(0, np.int32)
    in_after = np.searchsorted(times, in_times, side="left").astype(np.int64)  # an instant's inputs come first
    ro_sp_after = np.searchsorted(times, s_times, side="left").astype(np.int64)  # a readout precedes its instant
    ro_in_after = np.searchsorted(in_times, s_times, side="left").astype(np.int64)
    spec = net._spec
    indices = spec["indices"] if spec["indices"].size else np.zeros(1, np.int32)
    w, dl = spec["weights"], spec["delays"]
    parts, perm = _synapse_parts(net)
    g_w, g_d = _synapse_accumulators(net, parts)
    x0, dy = _augmented(net, _linear_x0(net)), _linear_dy(net, dv)
    bd_order = np.full(bd_time.size + 1, times.size, np.int64)  # each spike boundary's record position
    bd_order[pos] = np.arange(times.size)
    (g_M, m_gM), g_x0 = _linear_gM(net), np.zeros((n, 5))
    g_thr, g_reset, g_ra, g_rr = np.zeros(n), np.zeros(n), np.zeros(5), np.zeros(5)
    g_in = np.zeros(in_times.size)
    counts = np.zeros(4, np.int64)
    held = ro_pos < 0  # a readout within a refractory period is the reset
    np.add.at(g_reset, np.tile(s_idx, s_times.size)[held], ds.reshape(-1)[held])
    _adjoint_linear.linear_backward(
        times, neuron, kicked, ptr, kind, bd_time, pos, bd_order, in_times, in_src, in_after,
        s_times, s_idx, ro_pos, ro_sp_after, ro_in_after, ds.reshape(-1),
        spec["indptr"], indices, w, _mask(w), dl, _mask(dl), L["sys"], L["cls"],
        p["thr"], _mask(p["thr"]), p["reset"], _mask(p["reset"]), p["tref"], _mask(p["tref"]), x0,
        0.0, T, dL_dt, dy, g_w, _mask(g_w), g_d, _mask(g_d), g_M, m_gM, g_x0,
        g_thr, g_reset, g_ra, g_rr, g_in, counts,
    )  # fmt: skip
    return _linear_result(
        net, g_w, g_d, parts, perm, g_in, in_src, value, g_M, g_x0, g_thr, g_reset, g_ra, g_rr, counts, n_at_end
    )


def _linear_gM(net):
    """The accumulator of dL/dM, M = [b A] of the augmented system (25 doubles in a row), and its mask for the
    compiled pass: a row per neuron if A or b is given per neuron, else one row (mask 0)."""
    model = net._linear["model"]
    per_neuron = np.ndim(model.A) == 3 or np.ndim(model.b) == 2
    return np.zeros((net.n if per_neuron else 1, 25)), np.int64(-1 if per_neuron else 0)


def _linear_x0(net):
    """The initial states of a 'linear' network, shape (n, d) (v from ``v_init``)."""
    L = net._linear
    x0 = L["x0"].copy()
    x0[:, L["model"].v] = net._v_init
    return x0


def _augmented(net, x):
    """The augmented states y = (1, x) of the compiled pass, shape (n, 5), from states x of shape (n, d)."""
    y = np.zeros((net.n, 5))
    y[:, 0] = 1.0
    y[:, 1 : x.shape[1] + 1] = x
    return y


def _linear_dy(net, dv):
    """dL/dy(T) of the augmented final states, shape (n, 5), from dL/dv(T) (n,) or dL/dx(T) (n, d)."""
    dy = np.zeros((net.n, 5))
    if dv.ndim == 2:
        dy[:, 1 : dv.shape[1] + 1] = dv
    else:
        dy[:, 1 + net._linear["model"].v] = dv
    return dy


def _linear_result(net, g_w, g_d, parts, perm, g_in, in_src, value, g_M, g_x0, g_thr, g_reset, g_ra, g_rr, counts,
                   n_at_end):  # fmt: skip
    """The `SpikeGradient` of a 'linear' network from the compiled pass's accumulators (dL/dM, `_linear_gM`;
    dL/dy(0), n x 5; the counts of `linear_backward` and the readouts at refractory ends)."""
    n = net.n
    model = net._linear["model"]
    d = len(model.variables)
    gM = g_M.reshape(-1, 5, 5)
    gA, gb = gM[:, 1 : d + 1, 1 : d + 1].copy(), gM[:, 1 : d + 1, 0].copy()
    shared = {name: np.ndim(getattr(model, name)) for name in ("A", "b", "theta", "reset")}
    keep = np.zeros(d, bool)
    keep[[k for k in range(d) if k != model.v]] = True
    grad = _gradient(
        net, g_w, g_d, parts, perm, g_in, in_src, value,
        drive=np.zeros(n), v0=g_x0[:, 1 + model.v].copy(), tau=np.zeros(n),
        A=gA if shared["A"] == 3 else gA.sum(axis=0), b=gb if shared["b"] == 2 else gb.sum(axis=0),
        x0=g_x0[:, 1 : d + 1].copy(), reset_scale=np.where(keep, g_ra[1 : d + 1], 0.0),
        reset_offset=np.where(keep, g_rr[1 : d + 1], 0.0),
        n_pulse_triggered=int(counts[0]), n_coincident=int(counts[1] + counts[2]) + n_at_end,
        n_unresolved=int(counts[3]),
    )  # fmt: skip
    return dataclasses.replace(  # threshold and reset shaped like the model's (not the network's ignored ones)
        grad,
        threshold=g_thr if shared["theta"] else float(g_thr.sum()),
        reset=g_reset if shared["reset"] else float(g_reset.sum()),
    )


def _model_family(net):
    """'lif', 'lif_exp' or 'qif' (QIF and theta neurons, which share the backward pass): the network's one
    family of neuron models with a gradient, or NotImplementedError."""
    from .network import MODELS

    family = {"lif": "lif", "lif_exp": "lif_exp", "qif": "qif", "theta": "qif", "linear": "linear"}
    fam = np.array([family.get(m, "") for m in MODELS])[net._codes]
    k = int(np.argmax(fam != fam[0]))
    if fam[0] == "" or fam[k] != fam[0]:
        k = k if fam[0] != "" else 0
        raise NotImplementedError(
            "gradients are implemented for networks of 'qif' and 'theta' neurons only, of 'lif' neurons only, of "
            f"'linear' neurons only, or of 'lif_exp' neurons only, found neuron {k} of model {MODELS[net._codes[k]]!r}"
            + (f" beside neuron 0 of model {MODELS[net._codes[0]]!r}" if k else "")
        )
    return str(fam[0])


def _phase_time(v, level, tau, drive):
    """The time from v to level > v (+inf for theta) of tau dv/dt = v**2 + drive, drive > 0 (the closed form
    of the engine's kernel, for arrays)."""
    a = np.sqrt(drive)
    with np.errstate(invalid="ignore"):
        finite = np.arctan2(a * (level - v), drive + level * v)
    return tau / a * np.where(np.isinf(level), np.arctan2(a, v), finite)


def pseudospike_times(net, drive):
    """The pseudospikes of the neurons of a QIF or theta network that did not fire in its run: when each
    would fire if, after the run's end T, its drive were ``drive`` and no input arrived.

    This is the smooth continuation of a neuron's spike beyond the trial (Klos and Memmesheimer,
    "Smooth exact gradient descent learning in spiking neural networks"): with a drive I_ps > 0 every
    state reaches the threshold, at T + (tau / sqrt(I_ps)) (phi(theta) - phi(v(T))) in the phase
    phi(v) = atan(v / sqrt(I_ps)) (phi(+inf) = pi/2 for theta neurons), a smooth function of v(T) and tau.
    When a neuron's last spike moves past T, it becomes a pseudospike at T continuously (v(T) at the
    threshold), so a loss of first spike times changes smoothly as spikes leave or enter the trial, and
    silent neurons get a gradient. `lif_gradient` differentiates it with ``pseudospikes=drive``.

    Parameters
    ----------
    net : EventNetwork
        A network of 'qif' and 'theta' neurons after a run.
    drive : float
        The drive I_ps after T, > 0 (larger: pseudospikes closer to T).

    Returns
    -------
    times : numpy.ndarray, shape (m,)
        The pseudospike times (s), > T, of the m neurons without a spike in the run.
    indices : numpy.ndarray of int32, shape (m,)
        Those neurons, ascending.

    Raises
    ------
    TypeError
        If ``net`` is not an `EventNetwork`, or ``drive`` not a real number.
    ValueError
        If ``drive`` is not > 0 and finite.
    NotImplementedError
        For networks with neurons of other models than 'qif' and 'theta'.

    Examples
    --------
    A theta neuron without drive never fires from -pi/2: its v = tan(theta/2), -1 at 0, has risen to
    -1/3 at T = 20 ms (tau dv/dt = v**2); with I_ps = 100 after T its pseudospike is tau (pi/2 -
    atan(-1/30)) / 10 after T:

    >>> import numpy as np
    >>> from brian2_sparseprop import EventNetwork
    >>> from brian2_sparseprop.spiking.gradients import pseudospike_times
    >>> net = EventNetwork(1, model="theta", drive=0.0, tau=0.01, v_init=[-np.pi / 2])
    >>> net.run(0.02)
    >>> t, i = pseudospike_times(net, 100.0)
    >>> bool(np.isclose(t[0], 0.02 + 0.01 * (np.pi / 2 + np.arctan(1 / 30)) / 10)), i.tolist()
    (True, [0])
    """
    from .network import MODELS, EventNetwork

    if not isinstance(net, EventNetwork):
        raise TypeError(f"net must be an EventNetwork, found {type(net).__name__}")
    drive = check_real("drive", drive)
    if not (0.0 < drive < np.inf):
        raise ValueError(f"drive must be > 0 and finite (every state must reach the threshold), found {drive}")
    if _model_family(net) != "qif":
        raise NotImplementedError(
            "pseudospikes are implemented for networks of 'qif' and 'theta' neurons, found model "
            f"{MODELS[net._codes[0]]!r}"
        )
    silent = np.flatnonzero(np.bincount(net.spike_indices, minlength=net.n) == 0).astype(np.int32)
    v = _state_v(net, net.v[silent], silent)
    tau = np.broadcast_to(net._tau, (net.n,))[silent]
    thr = np.broadcast_to(net._thr, (net.n,))[silent]
    return float(net.t) + _phase_time(v, thr, tau, drive), silent


def _state_v(net, values, idx):
    """States in the engine's coordinate v: tan(theta / 2) for theta neurons."""
    from .network import MODELS, _theta_to_v

    th = net._codes[idx] == MODELS.index("theta")
    return np.where(th, _theta_to_v(np.where(th, values, 0.0)), values)


def _qif_readouts(n, tref, theta, times, neuron, kicked, s_times, s_idx, ds, g_reset):
    """The readouts (``s_times`` x ``s_idx``, derivatives ``ds``) of a 'qif'/'theta' network outside
    refractory periods, as CSR rows by neuron in time order (ptr, times, dL/d(readout)), and the number of
    those held within rounding of a refractory end. A readout within a refractory period is the reset: its
    derivative goes to ``g_reset`` (QIF; a theta neuron's is -pi, without a parameter). ``times``: the
    spikes before the readouts that decide it (those of the run, or of a segment with its pseudo-spikes)."""
    *_, ro_pos, n_at_end = _boundaries(times, neuron, kicked, n, s_times, s_idx, tref)
    r_t, r_i, g = np.repeat(s_times, s_idx.size), np.tile(s_idx, s_times.size).astype(np.int64), ds.reshape(-1)
    held = ro_pos < 0
    qif_held = held & (theta[r_i] == 0)
    np.add.at(g_reset, r_i[qif_held], g[qif_held])
    keep = np.flatnonzero(~held)
    keep = keep[np.lexsort((r_t[keep], r_i[keep]))]
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(r_i[keep], minlength=n), out=ptr[1:])
    return ptr, np.ascontiguousarray(r_t[keep]), np.ascontiguousarray(g[keep]), n_at_end


def _pseudospike_terms(net, p, theta, lam, ps, dv):
    """The derivatives of the pseudospikes ``ps`` (times, indices, drive) with dL/dt ``lam``: added to
    ``dv`` (by v(T), theta(T) for theta neurons), and returned by tau and by the threshold."""
    n, T = net.n, float(net.t)
    extra_tau, extra_thr = np.zeros(n), np.zeros(n)
    idx = ps[1]
    tau_i = np.broadcast_to(p["tau"], (n,))[idx]
    thr_i = np.broadcast_to(p["thr"], (n,))[idx]
    v = _state_v(net, net.v[idx], idx)
    i_ps = ps[2]
    with np.errstate(over="ignore", invalid="ignore"):
        dt_dv = -tau_i / (v * v + i_ps)
        big = np.isinf(v) | (np.abs(v) > 1e150)
        dt_dth = np.where(big, -0.5 * tau_i, -0.5 * tau_i * (1.0 + v * v) / (v * v + i_ps))
    dv[idx] += lam * np.where(theta[idx] == 1, dt_dth, dt_dv)
    extra_tau[idx] += lam * (ps[0] - T) / tau_i
    with np.errstate(over="ignore"):
        extra_thr[idx] += np.where(theta[idx] == 1, 0.0, lam * tau_i / (thr_i * thr_i + i_ps))
    return extra_tau, extra_thr


def _qif_pass(
    p, spec, theta, t0, T, times, neuron, kicked, in_times, in_src, in_after, ro, v0, dL_dt, dv, g, counts,
    n_pseudo=0, lam_out=None, flat_key=None,
):  # fmt: skip
    """The compiled pass of a 'qif'/'theta' network (`brian2_sparseprop.spiking._adjoint_qif`) over a run
    from ``t0`` (states ``v0``, in v) to ``T`` (dL/dv(T) ``dv``): the spikes (``times``, ``neuron``,
    ``kicked``, the first ``n_pseudo`` of them pseudo-spikes of a segment), the input events (and a
    segment's in-flight spikes) with the spikes recorded before each (``in_after``), the readouts ``ro``
    (`_qif_readouts`). Accumulates into ``g`` (dict of w, d, tau, drive, v0, thr, reset, in) and
    ``counts``; into ``lam_out``, if given, every spike's dL/dt in total. ``flat_key``: an order of the events for
    the arrivals of one instant (a segment's, as in the whole run; default: spikes, then input events)."""
    n, n_sp = theta.size, times.size
    ro_ptr, ro_t, ro_g = ro
    # the spikes by neuron
    srt = np.argsort(neuron, kind="stable")
    sp_ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(neuron, minlength=n), out=sp_ptr[1:])
    pos = np.empty(n_sp, np.int64)
    pos[srt] = np.arange(n_sp)
    # the presynaptic events (spikes, then input events) and their arrivals, in flat order
    indptr = np.ascontiguousarray(spec["indptr"], np.int64)
    indices = spec["indices"] if spec["indices"].size else np.zeros(1, np.int32)
    w, d = spec["weights"], spec["delays"]
    ev_t = np.concatenate([times, in_times])
    ev_row = np.concatenate([neuron, in_src]).astype(np.int64)
    ev_kick = np.concatenate([kicked, np.zeros(in_times.size, np.uint8)])
    ev_off = np.zeros(ev_t.size + 1, np.int64)
    deg = indptr[ev_row + 1] - indptr[ev_row]
    if flat_key is None:
        np.cumsum(deg, out=ev_off[1:])
    else:
        o = np.argsort(flat_key, kind="stable")
        ev_off[o] = np.cumsum(deg[o]) - deg[o]
        ev_off[-1] = deg.sum()
    del deg
    ev_order = np.arange(ev_t.size) if in_times.size == 0 else np.argsort(ev_t, kind="stable")
    a_ptr = np.zeros(n + 1, np.int64)
    rec, inv = _adjoint_qif.qif_arrivals(
        ev_t, ev_row, ev_kick, ev_order, ev_off, indptr, indices, w, _mask(w), d, _mask(d), T, a_ptr, t0
    )
    del ev_order, ev_kick, ev_t
    p_all, p_v, p_drive, p_time, r_all = (np.zeros(n_sp + n) for _ in range(5))
    v_T, held = np.zeros(n), np.zeros(n, np.uint8)
    # the readouts' parts per arrival: only with derivatives by readouts (else one unused value)
    ro_ab = np.zeros(2 * int(a_ptr[n]) + 2 if ro_g.any() else 1)
    _adjoint_qif.qif_replay(
        times, kicked, sp_ptr, srt.astype(np.int64), a_ptr,
        p["tau"], _mask(p["tau"]), p["drive"], _mask(p["drive"]), p["thr"], _mask(p["thr"]),
        p["reset"], _mask(p["reset"]), p["tref"], _mask(p["tref"]), v0, T,
        rec, p_all, p_v, p_drive, p_time, v_T, held, counts[1:],
        theta, ro_ptr, ro_t, ro_g, ro_ab, r_all, g["tau"], g["drive"], g["v0"], g["reset"], t0, n_pseudo,
    )  # fmt: skip
    del srt, a_ptr
    _adjoint_qif.qif_backward(
        times, neuron, kicked, sp_ptr, pos, ev_row, ev_off, in_after, indptr, inv, rec,
        p_all, p_v, p_drive, p_time, v_T, held, theta, p["tau"], _mask(p["tau"]), p["drive"], _mask(p["drive"]),
        p["thr"], _mask(p["thr"]), dL_dt, dv, g["w"], _mask(g["w"]), g["d"], _mask(g["d"]), g["tau"], g["drive"],
        g["v0"], g["thr"], g["reset"], g["in"], counts, ro_ab, r_all, n_pseudo, lam_out,
    )  # fmt: skip


def _qif_gradient(net, p, times, neuron, kicked, dL_dt_all, dv, ds, value, ps):
    """`lif_gradient` for networks of 'qif' and 'theta' neurons (see `brian2_sparseprop.spiking._adjoint_qif`)."""
    from .network import MODELS

    n, n_sp = net.n, times.size
    theta = (net._codes == MODELS.index("theta")).astype(np.uint8)
    parts, perm = _synapse_parts(net)
    g_w, g_d = _synapse_accumulators(net, parts)
    in_times = np.concatenate([c[0] for c in net._tape_inputs]) if net._tape_inputs else np.zeros(0)
    in_src = np.concatenate([c[1] for c in net._tape_inputs]) if net._tape_inputs else np.zeros(0, np.int32)
    g = {k: np.zeros(n) for k in ("tau", "drive", "v0", "thr", "reset")}
    g.update(w=g_w, d=g_d, **{"in": np.zeros(in_times.size)})
    s_times, s_idx = net.state_times, np.zeros(0, np.int32) if net._sample_idx is None else net._sample_idx
    tref = np.broadcast_to(net._tref, (n,))
    *ro, n_at_end = _qif_readouts(n, tref, theta, times, neuron, kicked, s_times, s_idx, ds, g["reset"])
    dL_dt = np.ascontiguousarray(dL_dt_all[:n_sp])
    dv = dv.copy()
    extra_tau = extra_thr = 0.0
    if ps is not None:  # a pseudospike's derivatives by v(T) (theta(T)), tau and the threshold
        extra_tau, extra_thr = _pseudospike_terms(net, p, theta, dL_dt_all[n_sp:], ps, dv)
    in_after = np.searchsorted(times, in_times, side="left").astype(np.int64)  # an instant's inputs come first
    v0 = _state_v(net, net._v_init, np.arange(n))
    counts = np.zeros(3, np.int64)
    _qif_pass(
        p, net._spec, theta, 0.0, float(net.t), times, neuron, kicked, in_times, in_src, in_after, ro, v0, dL_dt,
        dv, g, counts,
    )  # fmt: skip
    return _gradient(
        net, g_w, g_d, parts, perm, g["in"], in_src, value,
        drive=g["drive"], v0=g["v0"], tau=g["tau"] + extra_tau, threshold=g["thr"] + extra_thr, reset=g["reset"],
        n_pulse_triggered=int(counts[0]), n_coincident=int(counts[1]) + n_at_end, n_unresolved=int(counts[2]),
        pseudospike_times=None if ps is None else ps[0], pseudospike_indices=None if ps is None else ps[1],
    )  # fmt: skip


def van_rossum_loss(neurons, targets, tau):
    """The summed squared van Rossum distances between the spike trains of chosen neurons and target
    trains, as a loss for ``EventNetwork.gradient(loss=...)``.

    With the causal exponential kernel, each train filtered to x(t) = sum_k e^{-(t - t_k)/tau} (t >= t_k),
    the squared distance of neuron i's train to its target train y_i is D_i^2 = (1/tau) int_0^inf (x_i(t) -
    y_i(t))^2 dt, and the loss is L = sum_i D_i^2. In closed form (int e^{-(t - a)/tau} e^{-(t - b)/tau} dt
    over t >= max(a, b) is tau/2 e^{-|a - b|/tau}):
    D_i^2 = 1/2 sum_{a, b} e^{-|t_a - t_b|/tau} + 1/2 sum_{a, b} e^{-|s_a - s_b|/tau} - sum_{a, b}
    e^{-|t_a - s_b|/tau} over the neuron's spikes t and its targets s. It is smooth in the spike times
    (except where a spike coincides with a target or another spike of its train, a set of measure zero);
    spikes appearing or disappearing make it jump, as every spike-time loss. Cost O(k^2) per neuron with
    k spikes and targets (all pairs); the result is written with ``jax.numpy`` and differentiated by
    `lif_gradient` with JAX.

    Parameters
    ----------
    neurons : array_like of int, shape (m,)
        The neurons compared (distinct, >= 0).
    targets : sequence of m array_like or time Quantity
        The target spike times of each neuron (s), finite.
    tau : float or time Quantity
        The kernel's time constant (s), > 0.

    Returns
    -------
    callable
        ``loss(spike_times, spike_indices)``: L over the spikes of a run (JAX arrays for the gradient;
        NumPy arrays give its value as a 0-d JAX array). The spikes of other neurons do not enter.

    Raises
    ------
    TypeError
        If ``neurons`` are not integers, or a time is not a real number.
    ValueError
        If ``neurons`` are not 1-d, distinct and >= 0, ``targets`` has not one train per neuron, a target
        time is not finite, or ``tau`` is not > 0.

    Examples
    --------
    Neuron 1 of a two-neuron network learns to fire at 12 and 30 ms: the loss, and its gradient by the
    weight against a finite difference:

    >>> import numpy as np
    >>> from brian2_sparseprop import EventNetwork
    >>> from brian2_sparseprop.spiking.gradients import van_rossum_loss
    >>> loss = van_rossum_loss([1], [[0.012, 0.030]], tau=0.005)
    >>> def run(w):
    ...     net = EventNetwork(2, drive=[1.5, 1.2], indptr=[0, 1, 1], indices=[1], weights=[w], delays=0.002)
    ...     net.run(0.05, record_tape=True)
    ...     return net
    >>> g = run(0.1).gradient(loss=loss)
    >>> h = 1e-7
    >>> value = lambda net: float(loss(net.spike_times, net.spike_indices))
    >>> bool(np.isclose(g.loss, value(run(0.1))))
    True
    >>> bool(np.isclose(g.weights[0], (value(run(0.1 + h)) - value(run(0.1 - h))) / (2 * h), rtol=1e-5))
    True
    """
    neurons = np.asarray(neurons)
    if neurons.size and neurons.dtype.kind not in "iu":
        raise TypeError(f"neurons must be integers, found dtype {neurons.dtype}")
    if neurons.ndim != 1 or (neurons.size and neurons.min() < 0) or np.unique(neurons).size != neurons.size:
        raise ValueError(f"neurons must be a 1-d array of distinct indices >= 0, found {neurons!r:.80}")
    tau = check_real("tau", si_value("tau", tau, "time"), positive=True)
    if len(targets) != neurons.size:
        raise ValueError(f"targets must hold one train per neuron ({neurons.size}), found {len(targets)}")
    trains = [
        real_array(f"targets[{k}]", si_value(f"targets[{k}]", s, "time")).reshape(-1) for k, s in enumerate(targets)
    ]
    for k, s in enumerate(trains):
        check_values(f"targets[{k}]", s)
    s_t = np.concatenate([np.zeros(0), *trains])
    s_lab = np.repeat(neurons, [s.size for s in trains])
    same_t = s_lab[:, None] == s_lab[None, :]
    yy = float(np.sum(np.where(same_t, np.exp(-np.abs(s_t[:, None] - s_t[None, :]) / tau), 0.0)))

    def loss(spike_times, spike_indices):
        import jax

        with _x64():  # (also when called outside the gradient, on NumPy arrays)
            return _van_rossum(jax.numpy, spike_times, spike_indices)

    def _van_rossum(jnp, spike_times, spike_indices):
        lab = np.asarray(spike_indices)
        sel = np.nonzero(np.isin(lab, neurons))[0]
        t, lab = jnp.asarray(spike_times, dtype=jnp.float64)[sel], lab[sel]
        xx = jnp.sum(jnp.where(lab[:, None] == lab[None, :], jnp.exp(-jnp.abs(t[:, None] - t[None, :]) / tau), 0.0))
        xy = jnp.sum(jnp.where(lab[:, None] == s_lab[None, :], jnp.exp(-jnp.abs(t[:, None] - s_t[None, :]) / tau), 0.0))
        return 0.5 * (xx + yy) - xy

    return loss


def _jax_derivatives(loss, times, neuron, v, states):
    """The value of a callable loss and its derivatives by the spike times, the final states and the
    readouts (None for those it does not take), with JAX in 64-bit precision."""
    if not callable(loss):
        raise TypeError(f"loss must be a callable, found {type(loss).__name__}")
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        raise ImportError(
            "gradient(loss=...) differentiates the loss with JAX, which is not installed: "
            "pip install 'brian2_sparseprop[jax]', or give the derivatives dL_dspike_times and dL_dv"
        ) from exc
    n_args = 2
    for k in (4, 3):
        try:
            inspect.signature(loss).bind(*([None] * k))
        except (TypeError, ValueError):
            continue
        n_args = k
        break
    with _x64():
        args = (jnp.asarray(times, dtype=jnp.float64), jnp.asarray(neuron), jnp.asarray(v, dtype=jnp.float64),
                jnp.asarray(states, dtype=jnp.float64))[:n_args]  # fmt: skip
        argnums = (0, 2, 3)[: n_args - 1]
        value, grads = jax.value_and_grad(loss, argnums=argnums)(*args)
        grads = [np.asarray(g, dtype=np.float64) for g in grads] + [None] * (4 - n_args)
        return float(value), *grads


def _generator_times(net, g_in, in_src):
    """dL/dt by each spike generator's given times, in the order given: the derivatives by its input
    events on the tape (in time order, the generator emits its sorted times cyclically: the j-th event is
    its sorted spike j mod s), summed over the repetitions of a period."""
    base = net.n + sum(rates.size for rates, *_ in net._poisson)
    out = []
    for times, _sources, n_src, *_, order in net._generators:
        mine = (in_src >= base) & (in_src < base + n_src)
        g = np.zeros(times.size)
        if times.size:
            g[order] = np.bincount(np.arange(int(mine.sum())) % times.size, g_in[mine], minlength=times.size)
        out.append(g)
        base += n_src
    return tuple(out)


def _x64():
    """JAX's 64-bit mode, as a context (its name moved between JAX versions)."""
    import jax

    return jax.enable_x64(True) if hasattr(jax, "enable_x64") else jax.experimental.enable_x64()


def _split(g, parts, perm, which):
    """The gradient accumulated over the engine's synapses, back in the caller's order and split by part:
    an array per synapse, or a float where the part's values were one scalar."""
    if len(parts) == 1 and parts[0][which]:
        return [float(g.sum())]
    g = g[: sum(p[1] for p in parts)]
    if perm is not None:
        caller = np.empty_like(g)
        caller[perm] = g
        g = caller
    out, start = [], 0
    for part in parts:
        piece = g[start : start + part[1]]
        out.append(float(piece.sum()) if part[which] else piece.copy())
        start += part[1]
    return out


def _params(net):
    return dict(tau=net._tau, drive=net._drive, thr=net._thr, reset=net._reset, tref=net._tref)


def _derivative(name, value, shape, rule):
    a = np.asarray(value)
    if a.dtype.kind not in "biuf" or a.dtype.kind == "b":
        raise TypeError(f"{name} must be an array of real numbers, found dtype {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape} ({rule}), found shape {a.shape}")
    a = np.ascontiguousarray(a, dtype=np.float64)
    if not np.isfinite(a).all():
        k = int(np.argmax(~np.isfinite(a)))
        raise ValueError(f"{name} must be finite, found {a[k]} at index {k}")
    return a
