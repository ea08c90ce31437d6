"""Exact gradients through an event-driven run: the backward (adjoint) pass of LIF networks.

A run recorded with ``EventNetwork.run(T, record_tape=True)`` is differentiated in one backward pass over
its spikes (the compiled `brian2_sparseprop.spiking._adjoint`), O(K) per spike. For a fixed order of events
every spike time and every final state is a smooth function of the weights, drives and initial states;
the gradient returned is that function's. Where the order of events would change under an infinitesimal
change (an arrival at the very instant of a spike, a pulse that lands a neuron exactly on threshold), or
where a spike caused by a pulse makes its time insensitive to its neuron's parameters, the result counts
the events; see `SpikeGradient`.
"""

from dataclasses import dataclass

import numpy as np

from . import _adjoint

__all__ = ["SpikeGradient", "lif_gradient"]


@dataclass(frozen=True)
class SpikeGradient:
    """The gradient of a scalar loss L with respect to the parameters of an `EventNetwork`.

    Attributes
    ----------
    weights : float or numpy.ndarray, shape (nnz,)
        dL/dw, shaped like the network's ``weights``: one value per synapse (in the order of ``indices``)
        if the weights were given per synapse, else the derivative by the one shared weight.
    drive : float or numpy.ndarray, shape (n,)
        dL/dI, per neuron if ``drive`` was given per neuron, else by the shared drive.
    v0 : numpy.ndarray, shape (n,)
        dL/dv(0), by each neuron's initial state.
    n_pulse_triggered : int
        Spikes caused by an input pulse. Their time is the pulse's arrival time: it depends on the
        presynaptic spike, not on the parameters of the neuron or its synapses (with delta pulses such
        spikes make weight gradients vanish; a network dominated by them learns little by gradient).
    n_coincident : int
        Arrivals at the very instant (within 4 ulps) of a spike of their target (absorbed by its reset, or a
        second cause of a pulse-triggered spike) or of the end of its refractory period. The loss is not
        differentiable there (the one-sided derivatives differ); the value returned is the one-sided
        derivative of the recorded order of events. 0 means the gradient exists. Ties within a cascade
        without delay (all its spikes share its first spike's time under any small change) are not
        counted; ties of one cascade's delayed arrivals at a pulse-triggered spike are (an upper bound).
    n_unresolved : int
        Pulse-triggered spikes whose pulse was not found among the recorded spikes (0 unless arrival
        times and spike times differ by more than rounding, which would be a bug: please report it).
    """

    weights: float | np.ndarray
    drive: float | np.ndarray
    v0: np.ndarray
    n_pulse_triggered: int
    n_coincident: int
    n_unresolved: int


def _by_neuron(neuron, n):
    """Each neuron's spikes in time order (CSR: ptr, order) and each spike's position in ``order``; the
    tape is in time order, so a stable sort keeps it."""
    order = np.argsort(neuron, kind="stable").astype(np.int64)
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(neuron, minlength=n), out=ptr[1:])
    pos = np.empty_like(order)
    pos[order] = np.arange(order.size)
    return ptr, order, pos


def _mask(a):
    return np.int64(-1 if a.size > 1 else 0)


def lif_gradient(net, dL_dspike_times, dL_dv=None):
    """Exact gradient of a loss L by the weights, drives and initial states of a LIF network's run.

    The loss is given by its derivatives: by every spike of the run (aligned with ``net.spike_times``)
    and, optionally, by every neuron's final state v(T) at the network's current time T. The run must
    have been recorded with ``net.run(..., record_tape=True)`` from t = 0 on.

    Parameters
    ----------
    net : EventNetwork
        A network of ``'lif'`` neurons with delta pulses (any weights, delays, refractory periods,
        per-neuron parameters), without external inputs and with ``integrate_refractory=False``.
    dL_dspike_times : array_like, shape (n_spikes,)
        dL/dt_k for the spikes ``net.spike_times`` (zero where L does not depend on a spike).
    dL_dv : array_like, shape (n,), optional
        dL/dv_i(T) by the final states (a neuron refractory at T is held at its reset: no dependence).

    Returns
    -------
    SpikeGradient
        The gradient, shaped like the parameters, with counts of the events where it does not exist
        or where spikes are insensitive to parameters.

    Raises
    ------
    TypeError
        If ``net`` is not an `EventNetwork` or a derivative is not an array of real numbers.
    ValueError
        If there is no tape (no run yet, or a run or ``set_v`` without ``record_tape=True``), or a
        derivative has the wrong shape or is not finite.
    NotImplementedError
        For models other than LIF, ``integrate_refractory=True`` or external inputs (Poisson,
        spike generators), whose backward passes are not written yet.

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
    """
    from .network import MODELS, EventNetwork

    if not isinstance(net, EventNetwork):
        raise TypeError(f"net must be an EventNetwork, found {type(net).__name__}")
    if (net._codes != MODELS.index("lif")).any():
        k = int(np.argmax(net._codes != MODELS.index("lif")))
        raise NotImplementedError(
            f"gradients are implemented for 'lif' neurons only, found neuron {k} of model {MODELS[net._codes[k]]!r}"
        )
    if net._integ.any():
        raise NotImplementedError("gradients are not implemented for integrate_refractory=True")
    if net._poisson or net._generators:
        raise NotImplementedError("gradients are not implemented for networks with Poisson or spike-generator inputs")
    if net._engine is None or net._tape is None:
        raise ValueError(
            "no tape to differentiate: run the network with run(..., record_tape=True) from t = 0, "
            "without set_v or set_state after it"
        )
    times, neuron = net.spike_times, net.spike_indices
    kicked = np.concatenate(net._tape) if net._tape else np.zeros(0, np.uint8)
    n = net.n
    dL_dt = _derivative("dL_dspike_times", dL_dspike_times, times.shape, "one per spike of net.spike_times")
    dv = np.zeros(n) if dL_dv is None else _derivative("dL_dv", dL_dv, (n,), "one per neuron")

    ptr, order, pos = _by_neuron(neuron, n)
    w, d = net._weights, net._delays
    g_w = np.zeros(w.size)
    g_drive = np.zeros(n)
    g_v0 = np.zeros(n)
    counts = np.zeros(3, np.int64)
    p = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in _params(net).items()}
    _adjoint.lif_backward(
        times, neuron, kicked, ptr, order, pos,
        net._indptr, net._indices, w, _mask(w), d, _mask(d),
        p["tau"], _mask(p["tau"]), p["drive"], _mask(p["drive"]), p["thr"], _mask(p["thr"]),
        p["reset"], _mask(p["reset"]), p["tref"], _mask(p["tref"]),
        0.0, float(net.t), dL_dt, dv, g_w, g_drive, g_v0, counts,
    )  # fmt: skip
    per_synapse = np.ndim(net._config["weights"]) > 0
    if per_synapse and np.ndim(net._config["delays"]) > 0:
        # the network sorted each row by delay (stably) when it was built: back to the caller's order
        row = np.repeat(np.arange(n), np.diff(net._indptr))
        by_delay = np.lexsort((np.asarray(net._config["delays"], dtype=np.float64), row))
        g_w[by_delay] = g_w.copy()
    per_neuron = np.ndim(net._config["drive"]) > 0
    return SpikeGradient(
        weights=g_w if per_synapse else float(g_w.sum()),
        drive=g_drive if per_neuron else float(g_drive.sum()),
        v0=g_v0,
        n_pulse_triggered=int(counts[0]),
        n_coincident=int(counts[1]),
        n_unresolved=int(counts[2]),
    )


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
