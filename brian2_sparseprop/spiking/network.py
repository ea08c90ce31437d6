"""Exact event-driven networks of pulse-coupled LIF, QIF, theta and exponential integrate-and-fire (EIF)
neurons and LIF neurons with exponential synaptic currents, without Brian2.

Arrays in, arrays out: times in seconds, rates in Hz, state variables in the model's own numbers. Times
and rates may also be given as Quantities (``quantities`` or Brian2), converted to SI at the boundary.
The compiled loop lives in `brian2_sparseprop.spiking._engine`; this module validates, prepares and documents.
"""

import os
import sys
import time

import numpy as np

from .._validation import check_csr as _check_csr, check_values as _check_values, real_array as _real_array, si_value
from . import _engine

try:
    import resource
except ImportError:  # not on Windows
    resource = None

__all__ = ["EventNetwork"]

MODELS = ("lif", "qif", "theta", "lif_exp", "linear", "eif", "coba")
EIF_MAX_TABLES = 64  # EIF tables per network (one per distinct drive; the other drives use quadrature)
EIF_MAX_THRESHOLD = 700.0  # exp(x) overflows beyond; the engine's EIF kernels take x >= 700 as blown up
MAX_SHARED_CLASSES = 8  # distinct LIF taus that get the transcendental-free representation
CHUNK_EVENTS = 200_000  # events per call into the compiled loop (interrupts and progress between)
CHUNK_SYNAPSES = 2**18  # synapses per step of the sort by delay: bounded temporaries (checks: _validation.CHUNK)


def _scalar(name, value):
    """A real scalar as a float, or a TypeError naming the parameter."""
    a = _real_array(name, value)
    if a.ndim != 0:
        raise TypeError(f"{name} must be a scalar, found an array of shape {a.shape}")
    return float(a)


def _as_param(name, value, n, *, positive=False, nonneg=False):
    """A finite float parameter, scalar or one value per neuron, as a 1-d array of length 1 or n."""
    a = _real_array(name, value)
    if a.ndim == 0:
        a = a.reshape(1)
    elif a.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({n},), found shape {a.shape}")
    _check_values(name, a, positive=positive, nonneg=nonneg)
    if a.size > 1 and np.all(a == a[0]):
        a = a[:1].copy()
    return a


def _threshold_param(threshold, n, codes):
    """The threshold as `_as_param` gives it, where LIF neurons ('lif', 'lif_exp') may also have +inf: a
    passive neuron that never spikes, exactly (its next crossing is at infinity). QIF and EIF neurons diverge
    in finite time, so they need a finite threshold (below `EIF_MAX_THRESHOLD` for EIF neurons, where exp(x)
    is still finite); theta neurons ignore the threshold."""
    a = _real_array("threshold", threshold)
    passive = a == np.inf
    thr = _as_param("threshold", np.where(passive, 0.0, a), n)
    eif = codes == MODELS.index("eif")
    big = np.broadcast_to(thr >= EIF_MAX_THRESHOLD, (n,)) & eif
    if big.any():
        k = int(np.argmax(big))
        raise ValueError(
            f"threshold of 'eif' neurons must be < {EIF_MAX_THRESHOLD} (in x = (v - V_T) / Delta_T, where "
            f"exp(x) must stay finite), found {np.broadcast_to(thr, (n,))[k]} for neuron {k}"
        )
    if not passive.any():
        return thr
    bad = np.broadcast_to(passive, (n,)) & ((codes == MODELS.index("qif")) | eif)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(
            f"threshold must be finite for 'qif' and 'eif' neurons (they reach +inf in finite time), found inf "
            f"for neuron {k} of model {MODELS[codes[k]]!r}; threshold = inf (a neuron that never spikes) is for "
            "'lif' and 'lif_exp' neurons"
        )
    thr = np.where(passive, np.inf, a).reshape(-1)  # a has passed _as_param: a scalar or shape (n,)
    return thr[:1].copy() if np.all(thr == thr[0]) else thr


def _check_coba(coba, tau_e, tau_i, n):
    """NotImplementedError if a 'coba' neuron has tau_e != tau_i: the closed form (incomplete gamma
    functions) needs one time constant for both conductances."""
    bad = coba & (np.broadcast_to(tau_e, (n,)) != np.broadcast_to(tau_i, (n,)))
    if bad.any():
        k = int(np.argmax(bad))
        raise NotImplementedError(
            f"'coba' neurons need tau_e == tau_i (one time constant for both conductances: the case with an "
            f"exact closed form), found tau_e {np.broadcast_to(tau_e, (n,))[k]} s and tau_i "
            f"{np.broadcast_to(tau_i, (n,))[k]} s for neuron {k}; unequal time constants are not supported"
        )


def _per_synapse(name, value, nnz, *, nonneg=False, copy=True):
    a = _real_array(name, value, copy=copy)
    if a.ndim == 0:
        a = a.reshape(1)
    elif a.shape != (nnz,):
        raise ValueError(
            f"{name} must be a scalar or have one value per synapse, shape ({nnz},), found shape {a.shape}"
        )
    _check_values(name, a, nonneg=nonneg)
    return np.ascontiguousarray(a)


def _sort_rows_by_delay(indptr, indices, weights, delays, shared, ids=None):
    """Order each CSR row by delay (stable), so that a spike needs one queue entry per distinct delay.

    Works in place, block of rows by block of rows (about ``CHUNK_SYNAPSES`` synapses each), so that the
    temporaries stay small; arrays ``shared`` with the caller are copied first if some row needs sorting.
    ``ids`` (optional, one per synapse, owned by the caller) is reordered with the synapses.
    Returns the arrays and ``zero_end``, the end of each row's zero-delay synapses (which come first).
    """
    n_pre = indptr.size - 1
    zero_end = np.empty(n_pre, np.int64)
    r0 = 0
    while r0 < n_pre:
        r1 = int(np.searchsorted(indptr, indptr[r0] + CHUNK_SYNAPSES, side="right")) - 1
        r1 = min(max(r1, r0 + 1), n_pre)
        a, b = indptr[r0], indptr[r1]
        row = np.repeat(np.arange(r1 - r0), np.diff(indptr[r0 : r1 + 1]))
        d = delays[a:b]
        if ((d[1:] < d[:-1]) & (row[1:] == row[:-1])).any():
            if shared:
                indices, delays = indices.copy(), delays.copy()
                weights = weights.copy() if weights.size > 1 else weights
                shared, d = False, delays[a:b]
            perm = np.lexsort((d, row))
            indices[a:b] = indices[a:b][perm]
            d[:] = d[perm]
            if weights.size > 1:
                weights[a:b] = weights[a:b][perm]
            if ids is not None:
                ids[a:b] = ids[a:b][perm]
        zero_end[r0:r1] = indptr[r0:r1] + np.bincount(row[d == 0], minlength=r1 - r0)
        r0 = r1
    return indices, weights, delays, zero_end


# the engine's CSR of all synapses, which a rebuild with the same weights and delays takes over as it is
_SYNAPSE_KEYS = ("indptr", "indices", "weights", "delays", "zero_end")


def _off_quanta(values, quantum):
    """Where ``values`` (s) are not a whole number of ``quantum`` (s), to 16 rounding steps: the rule of
    ``EventNetwork(time_quantum=...)`` for delays and refractory periods (a decimal 0.7 ms is 7 quanta of
    0.1 ms; 0.7 ms + 1e-18 s is not). A boolean array of the shape of ``values``."""
    steps = np.asarray(values, dtype=float) / quantum
    return np.abs(steps - np.rint(steps)) > 16 * np.finfo(float).eps * np.maximum(np.rint(steps), 1.0)


def _redirect_in_flight(queue, indptr, engine_delays, old_delays, new_delays, quantum=0.0):
    """The delayed events in flight, addressed anew after new delays re-sorted the rows.

    An event of the engine's queue delivers one delay group of a row (its synapses from ``syn`` on with
    the delay of ``syn``, in the engine's order by delay) and then sends the row's next group at the spike
    time plus that group's delay; an event with ``src < 0`` delivers synapse ``syn`` of row ``-1 - src``
    alone and sends nothing after. Brian2 delivers a spike in flight with the delays it was sent with, so
    each event becomes one single-synapse event per synapse it has still to deliver, at the arrival time
    the old delays give, addressed to the synapse's position in the new order. The sequence numbers are
    kept: all arrivals at one time are delivered together, in the same instant, whatever their order.

    Parameters
    ----------
    queue : dict
        The columns of ``Engine.delay_queue``.
    indptr : ndarray
        The combined CSR over presynaptic ids (the connectivity is unchanged).
    engine_delays : ndarray
        The old engine's delays (engine order; one value if constant).
    old_delays, new_delays : ndarray
        The delay of each synapse before and after, in the order of ``indices`` (one value if constant).
    quantum : float
        The network's time quantum (0: none): the events' times are then pairs (``k``, ``t_spk``), and the
        later groups' arrivals whole quanta after the event's own.

    Returns
    -------
    dict
        The new queue's columns. O(synapses of the rows with events in flight), vectorised.
    """
    nnz = int(indptr[-1])
    src = queue["src"].astype(np.int64)
    single = src < 0
    row = np.where(single, -1 - src, src)
    syn = queue["syn"].astype(np.int64)
    counts = np.where(single, 1, indptr[row + 1] - syn)
    ev = np.repeat(np.arange(src.size), counts)
    pos = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts - syn, counts)  # old positions
    d = np.broadcast_to(engine_delays, (nnz,))
    first = d[pos] == d[syn[ev]]  # the group due at the event's own arrival time; later ones at t_spk + delay
    t_arr = np.where(first, queue["t_arr"][ev], queue["t_spk"][ev] + d[pos])
    k = queue["k"][ev]
    if quantum:  # whole quanta from the event's own arrival
        k = k + (np.rint(d[pos] / quantum) - np.rint(d[syn[ev]] / quantum)).astype(np.int64)
        t_arr = k * quantum + queue["t_spk"][ev]
    # each row's synapses in the old and the new engine order (stable by delay, as _sort_rows_by_delay)
    rows, which = np.unique(row, return_inverse=True)
    lens = indptr[rows + 1] - indptr[rows]
    shift = indptr[rows] - (np.cumsum(lens) - lens)  # a synapse x of rows[r] is item x - shift[r] below
    shift_items = np.repeat(shift, lens)
    ids = np.arange(int(lens.sum())) + shift_items
    label = np.repeat(np.arange(rows.size), lens)
    old_order = ids[np.lexsort((np.broadcast_to(old_delays, (nnz,))[ids], label))]
    new_order = ids[np.lexsort((np.broadcast_to(new_delays, (nnz,))[ids], label))]
    new_position = np.empty_like(ids)
    new_position[new_order - shift_items] = ids
    synapse = old_order[pos - shift[which[ev]]]
    return dict(
        t_arr=t_arr,
        t_spk=queue["t_spk"][ev],
        syn=new_position[synapse - shift[which[ev]]],
        src=-1 - row[ev],
        seq=queue["seq"][ev],
        k=k,
    )


def _theta_to_v(theta):
    """Theta neurons are stored as v = tan(theta / 2), with theta = -pi (the reset) as -inf."""
    return np.where(theta <= -np.pi, -np.inf, np.tan(theta / 2))


def _line_aligned(a):
    """A copy of the 1-d array `a` placed so that its element 1 starts a 64-byte cache line: then the 8
    children ``8 p + 1 .. 8 p + 8`` of every node p of an 8-ary heap in it share one line of keys."""
    buf = np.empty(a.size + 64 // a.itemsize, a.dtype)
    skip = (-(buf.ctypes.data + a.itemsize) % 64) // a.itemsize
    out = buf[skip : skip + a.size]
    out[...] = a
    return out


# The memory estimate behind MemoryError: the bytes that creating, building and starting a network add
# to what is in use, array by array. Per neuron (LIF or QIF, parameters given as scalars), the peak is
# reached while building the engine, as its heap keys are placed:
#   kept by the network: initial state 8 (float64), model code 1, checked indptr 8;
#   the engine's arrays so far: combined indptr 8, neuron records (16, NEURON_DTYPE), heap keys 8 and the zeros they are
#   copied from 8;
#   build temporaries: initial values and engine states 16, heap order 4, model masks, classes, flags 6.
# (Afterwards the engine keeps 40: the zeros and temporaries give way to heap ids 4 and a cascade fifo 4.)
NEURON_BYTES = 17 + (24 + _engine.NEURON_DTYPE.itemsize) + 26
CHUNK_BYTES = 48 * CHUNK_SYNAPSES  # temporaries of a chunk of the sort by delay (at most 48 B per synapse)


def _neuron_bytes(tau, drive, threshold, reset, refractory, delays, model, lif_shared_tau):
    """Estimated peak bytes per neuron of a network with these arguments (not yet validated):
    NEURON_BYTES, and 8 more for each parameter stored per neuron (theta neurons make threshold and reset
    per-neuron), 16 for drive - threshold and its inverse if either is, 8 for the last update times of
    neurons without a shared tau (QIF, theta, EIF, LIF with exponential currents, or LIF if tau varies), 16 for
    the two currents if some neuron has them (and 16 for their synaptic time constants, counted as if per
    neuron), 8 for refractory ends, 8 for the end of each neuron's zero-delay synapses if delays vary."""
    per_neuron = [np.ndim(p) > 0 for p in (tau, drive, threshold, reset, refractory)]
    if not (isinstance(model, str) and model in ("lif", "qif", "lif_exp", "eif", "coba")):
        per_neuron[2] = per_neuron[3] = True
    b = NEURON_BYTES + 8 * sum(per_neuron) + 16 * (per_neuron[1] or per_neuron[2])
    if not (isinstance(model, str) and model in ("lif", "qif", "theta", "eif")):
        b += 32
    if not (isinstance(model, str) and model == "lif" and lif_shared_tau is True and not per_neuron[0]):
        b += 8
    if per_neuron[4] or not (isinstance(refractory, (int, float)) and refractory == 0):
        b += 8
    return b + 8 * (np.size(delays) > 1)


def _synapse_bytes(indices, weights, delays, copy):
    """Estimated bytes per synapse that a network allocates for this connectivity (not yet validated):
    4 for a copy of the indices, 8 for a copy of per-synapse weights and of per-synapse delays (without
    ``copy``, arrays of the engine's types are used as they are), and with per-synapse delays the engine's
    copies of all three sorted by delay (the network's keep the order of ``indices``)."""
    weight_array, delay_array = np.size(weights) > 1, np.size(delays) > 1
    own_indices = not (isinstance(indices, np.ndarray) and indices.dtype == np.int32)
    own_weights = not (isinstance(weights, np.ndarray) and weights.dtype == np.float64)
    own_delays = not (isinstance(delays, np.ndarray) and delays.dtype == np.float64)
    kept = 4 * (copy or own_indices) + 8 * weight_array * (copy or own_weights) + 8 * delay_array * (copy or own_delays)
    return kept + delay_array * (4 + 8 * weight_array + 8)


def _one_value(parts):
    """Whether per-synapse parts (each a scalar or an array) all hold one and the same value."""
    return all(p.size == 1 for p in parts) and len({float(p[0]) for p in parts}) == 1


def _few_values(parts, k):
    """The distinct values of per-synapse parts (each a scalar or an array), sorted, if there are at most k;
    else None. Linear in the synapses: a sample rules out continuous weights before the whole is checked."""
    found = np.zeros(0)
    for p in parts:
        p = np.ravel(p)
        if p.size == 0:
            continue
        found = np.union1d(found, np.unique(p[:4096]))
        if found.size > k or not np.isin(p, found).all():
            return None
    return found


def _check_memory(need, n, nnz):
    """MemoryError naming the estimate and the available memory, before anything of size n is allocated."""
    avail = _available_memory()
    if avail is not None and need > avail:
        raise MemoryError(
            f"the network needs about {need / 2**30:.1f} GiB ({n} neurons, {nnz} synapses) "
            f"but only {avail / 2**30:.1f} GiB are available"
        )


def _available_memory():
    """Bytes that can still be allocated without swapping, or None if unknown: MemAvailable of
    /proc/meminfo (free memory and what the kernel can reclaim, such as the page cache; else the free
    pages), and under an address-space limit (RLIMIT_AS) at most what is left of it."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            avail = next((int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:")), None)
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            pass
    try:
        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit != resource.RLIM_INFINITY:
            with open("/proc/self/statm") as f:
                used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            avail = max(0, limit - used) if avail is None else min(avail, max(0, limit - used))
    except (AttributeError, OSError, ValueError, IndexError):
        pass
    return avail


class EventNetwork:
    """A network of pulse-coupled neurons simulated exactly, event by event (SparseProp).

    Each neuron follows one of these models between input pulses, in closed form except the EIF:

    * ``'lif'``:   ``tau dv/dt = drive - v``, spike when v reaches ``threshold``, then ``v = reset``;
    * ``'qif'``:   ``tau dv/dt = v**2 + drive`` (any sign of drive), same threshold and reset;
    * ``'theta'``: ``tau dtheta/dt = (1 - cos theta) + (1 + cos theta) drive``, spike at theta = pi,
      continuing from -pi;
    * ``'eif'``:   exponential integrate-and-fire in the normalised form ``tau dx/dt = drive - x + exp(x)``,
      same threshold and reset (threshold finite, < 700). A Brian2-style EIF
      ``C dv/dt = gL (E_L - v) + gL Delta_T exp((v - V_T) / Delta_T) + I`` is this model in
      ``x = (v - V_T) / Delta_T`` with ``tau = C / gL``, ``drive = (E_L + I / gL - V_T) / Delta_T``, and
      threshold, reset, ``v_init`` and weights (``v += w``) divided by ``Delta_T`` (after subtracting V_T
      from the first three). Without a closed form, its flow and its time to threshold come from
      Gauss-Legendre quadrature and a safeguarded Newton iteration (relative accuracy 1e-13 in times, see
      the engine documentation), with per-neuron drives at no extra memory;
    * ``'lif_exp'``: LIF with exponentially decaying synaptic currents (Brian2's CUBA example),
      ``tau dv/dt = drive - v + I_e + I_i``, ``tau_e dI_e/dt = -I_e``, ``tau_i dI_i/dt = -I_i``, same
      threshold and reset of v (the currents are not reset);
    * ``'coba'``: LIF with exponentially decaying synaptic conductances (Brian2's COBA form),
      ``tau dv/dt = (drive - v) + g_e (E_e - v) + g_i (E_i - v)``, ``tau_e dg_e/dt = -g_e``,
      ``tau_i dg_i/dt = -g_i`` with ``tau_e = tau_i`` (the case with a closed form, in incomplete gamma
      functions; unequal time constants are refused), ``drive`` being the leak reversal potential E_L and
      the conductances dimensionless (relative to the leak); same threshold and reset of v;
    * ``'linear'``: a linear model of up to 4 variables, ``dx/dt = A x + b`` with a threshold on a linear
      combination (adaptive thresholds, perfect integrators, alpha and biexponential synapses), described
      by ``linear``, a `~brian2_sparseprop.spiking.linear.LinearModel`, which gives its threshold and reset
      (``tau``, ``drive``, ``threshold`` and ``reset`` are ignored for these neurons).

    A presynaptic spike kicks each target by its synapse's weight, after its delay: ``v += w``
    (theta neurons receive delta currents, ``tan(theta/2) += w``; ``'lif_exp'`` neurons take the pulse
    into a current: ``I_e += w`` for ``w > 0``, ``I_i += w`` for ``w < 0``; ``'coba'`` neurons into a
    conductance: ``g_e += w`` for ``w > 0``, ``g_i += -w`` for ``w < 0``). Work per spike is
    O(K log N) for K targets in a network of N neurons.

    Units: times and rates, here and in every method, are plain floats in seconds and hertz, or
    Quantities of ``quantities`` or Brian2 in any unit of the right dimension (``10 * pq.ms`` is
    0.01 s); a Quantity of another dimension is refused with a TypeError naming the argument. The model
    numbers (drive, threshold, reset, v_init, weights) are plain numbers (or dimensionless Quantities).

    Parameters
    ----------
    n : int
        Number of neurons.
    model : str or array_like of str, shape (n,)
        ``'lif'``, ``'qif'``, ``'theta'``, ``'eif'``, ``'lif_exp'``, ``'coba'`` or ``'linear'``, for all neurons
        or per neuron.
    tau : float, array_like or time Quantity, shape (n,)
        Membrane time constant (s), > 0.
    drive : float or array_like, shape (n,)
        Constant input in the model's equation (see above).
    threshold, reset : float or array_like, shape (n,)
        Threshold and reset of LIF, QIF and EIF neurons (ignored for theta neurons). ``reset < threshold``
        unless the neuron has a refractory period. ``threshold = inf`` makes a ``'lif'`` or ``'lif_exp'``
        neuron passive: it never spikes and its state follows the inputs exactly (the reset is unused).
    refractory : float, array_like or time Quantity, shape (n,)
        Absolute refractory period (s), >= 0.
    integrate_refractory : bool or array_like of bool, shape (n,)
        False (default): Brian2's ``(unless refractory)``: the state is held at the reset value during
        refractoriness and inputs arriving then are dropped (Brian2 writes such a variable only when not
        refractory). True: the state integrates and takes inputs but cannot cross threshold (LIF and
        ``'lif_exp'`` only; Brian2's refractory without the flag). A neuron at or above threshold when its
        refractory period ends fires at that instant. The currents of ``'lif_exp'`` neurons always
        integrate and take their inputs (Brian2's CUBA: ``(unless refractory)`` on v only).
    v_init : array_like, shape (n,), optional
        Initial state (theta neurons: theta in [-pi, pi)). Default: the reset value. A neuron that starts
        at or above threshold fires at t = 0 (as in Brian2, whose first threshold test is at t = 0).
    indptr, indices : array_like of int, optional
        Connectivity in CSR form: the targets of neuron j are ``indices[indptr[j]:indptr[j + 1]]``.
    weights : float or array_like, shape (nnz,)
        Kick per synapse.
    delays : float, array_like or time Quantity, shape (nnz,)
        Transmission delay per synapse (s), >= 0, exact in continuous time.
    seed : int, optional
        Seed of the Poisson inputs' random numbers; runs are bit-reproducible from it.
    lif_shared_tau : bool
        Give LIF neurons that share a tau (at most 8 distinct values) the representation without any
        transcendental function per synaptic event (default). False stores every neuron as (v, t_last),
        with one exp and one log per synaptic event; both give the same spikes to rounding.
    copy : bool
        True (default): the network keeps copies of ``indptr``, ``indices`` and per-synapse ``weights``
        and ``delays``. False: arrays that already have the engine's types (int64 ``indptr``, int32
        ``indices``, float64 ``weights`` and ``delays``, C-contiguous) are used as given, saving 4 bytes
        per synapse for the indices (and 8 for each per-synapse array); the caller must then leave them
        unchanged. For networks of 10^9 synapses, where a copy would not fit. Rows that need sorting
        by delay are sorted in copies.
    tau_e, tau_i : float, array_like or time Quantity, shape (n,)
        Time constants (s), > 0, of the excitatory and inhibitory currents of ``'lif_exp'`` neurons and of
        the conductances of ``'coba'`` neurons (ignored for the other models); equal to each other or to
        ``tau`` is allowed (the closed form has no loss of precision there). ``'coba'`` neurons need
        ``tau_e == tau_i``.
    i_e_init, i_i_init : float or array_like, shape (n,)
        Initial currents of ``'lif_exp'`` neurons, initial conductances (>= 0) of ``'coba'`` neurons (0
        for the other models).
    E_e, E_i : float or array_like, shape (n,), optional
        Excitatory and inhibitory reversal potentials of ``'coba'`` neurons, in the units of v (required
        with such neurons; ignored for the other models).
    time_quantum : float or time Quantity, optional
        A time step (s) of which every delay and refractory period (those of inputs added later too) is a
        whole number. Events that coincide in exact arithmetic are then one instant, as in NEST's precise
        models: a kick due exactly when a refractory period ends is taken however the times round, and
        inputs that arrive together are summed. Without it (default), events are simultaneous when their
        times are the same double. See "Coincident events" in docs/engine.md.
    linear : LinearModel, optional
        The model of the ``'linear'`` neurons (required if there are any): variables, matrices (per neuron
        or shared: one compiled system per distinct parameter set, 536 bytes each), threshold, reset, the
        variables that pulses go into, initial values (``v_init`` sets its v). Memory: 40 bytes per neuron
        for the state vector when the network has linear neurons. Gradients: `gradient` (by A, b, the
        initial states, threshold, reset and the reset maps). Not yet: `set_params`, Lyapunov spectra.

    Raises
    ------
    TypeError, ValueError
        For malformed or out-of-range arguments, naming the value and the rule (TypeError for a
        Quantity of the wrong dimension).
    MemoryError
        If the network would not fit in the available memory, estimated before anything of size n is
        allocated from the arrays that it will hold and build: about 100 bytes per neuron and, per
        synapse, 4 bytes for the indices and 8 for each per-synapse weights or delays array that it copies.

    Examples
    --------
    A periodic LIF neuron (period tau ln(I / (I - 1))) and a ring of three that it drives:

    >>> import numpy as np
    >>> from brian2_sparseprop import EventNetwork
    >>> net = EventNetwork(1, tau=0.01, drive=1.1)
    >>> net.run(0.1)
    >>> np.allclose(np.diff(net.spike_times), 0.01 * np.log(11))
    True
    >>> ring = EventNetwork(3, drive=[1.5, 0.5, 0.5], indptr=[0, 1, 2, 3], indices=[1, 2, 0],
    ...                     weights=0.6, delays=0.001)
    >>> ring.run(0.05)
    >>> sorted(set(ring.spike_indices.tolist()))
    [0, 1, 2]

    Quantities are converted: with ``quantities`` (or Brian2's ``ms``), the neuron above:

    >>> import quantities as pq
    >>> net = EventNetwork(1, tau=10 * pq.ms, drive=1.1)
    >>> net.run(100 * pq.ms)
    >>> net.t
    0.1

    A neuron with exponential currents (tau_e = tau): an initial current 1.5 takes v from 0 to its peak
    1.5 / e > 0.5 at s = tau, so it fires once, before tau, at the closed-form time (s/tau) exp(-s/tau) = 1/3:

    >>> from scipy.special import lambertw
    >>> net = EventNetwork(1, model="lif_exp", tau=0.01, drive=0.0, threshold=0.5, tau_e=0.01,
    ...                    i_e_init=1.5)
    >>> net.run(0.1)
    >>> s = -0.01 * lambertw(-1 / 3).real
    >>> bool(abs(net.spike_times[0] - s) < 1e-15), net.spike_times.size
    (True, 1)

    A conductance-based neuron (``model='coba'``) whose conductance reverses at the leak's E_L (the drive):
    the conductance only speeds up the relaxation, ``v - E_L = (v0 - E_L) exp(-s/tau - a (1 - exp(-s/tau_s)))``
    with ``a = g tau_s / tau``:

    >>> net = EventNetwork(1, model="coba", tau=0.02, drive=-0.06, threshold=np.inf, tau_e=0.005, tau_i=0.005,
    ...                    E_e=-0.06, E_i=-0.08, v_init=[-0.07], i_e_init=2.0)
    >>> net.run(0.01)
    >>> a = 2.0 * 0.005 / 0.02
    >>> bool(abs(net.v[0] - (-0.06 - 0.01 * np.exp(-0.01 / 0.02 - a * (1 - np.exp(-0.01 / 0.005))))) < 3e-17)
    True

    A perfect integrator ``dv/dt = drive / tau`` (``model='linear'``): period threshold * tau / drive:

    >>> from brian2_sparseprop import LinearModel
    >>> net = EventNetwork(1, model="linear", linear=LinearModel.pif(drive=0.5, threshold=1.0, tau=0.01))
    >>> net.run(0.1)
    >>> np.allclose(net.spike_times, [0.02, 0.04, 0.06, 0.08])
    True

    An EIF neuron with drive 0 fires on its own (drive > -1); with drive -2 it rests at the stable fixed
    point 2 + W(-e^-2) = -1.84 until a pulse takes it past the unstable one, 1.15:

    >>> net = EventNetwork(2, model="eif", tau=0.01, drive=[0.0, -2.0], threshold=5.0, reset=-3.0)
    >>> net.add_spike_generator([0.05], [0], 1, [0, 1], [1], weights=3.5)
    >>> net.run(0.1)
    >>> sorted(set(net.spike_indices.tolist()))
    [0, 1]

    Two neurons that kick each other over threshold after 1 ms, each refractory for 2 ms: each kick is due
    exactly when its target's refractory period ends. With the delays' time quantum it is taken every time;
    without it, floating point decides, and here the activity stops after 5 spikes:

    >>> def ping_pong(quantum):
    ...     net = EventNetwork(2, drive=0.0, refractory=0.002, indptr=[0, 1, 2], indices=[1, 0],
    ...                        weights=1.5, delays=0.001, time_quantum=quantum)
    ...     net.add_spike_generator([0.00014], [0], 1, [0, 1], [0], 1.5)
    ...     net.run(1.0)
    ...     return net.spike_times.size
    >>> ping_pong(0.0001), ping_pong(None)
    (1000, 5)
    """

    _eif_tables = True  # tables for the EIF kernels (False: quadrature only, for tests comparing the two)
    _eif_fast = True  # with them, the fast tables of _eif_fast.pxd (False: the panel tables only, for tests)

    def __init__(
        self,
        n,
        model="lif",
        tau=0.01,
        drive=1.1,
        threshold=1.0,
        reset=0.0,
        refractory=0.0,
        integrate_refractory=False,
        v_init=None,
        indptr=None,
        indices=None,
        weights=0.0,
        delays=0.0,
        seed=None,
        lif_shared_tau=True,
        copy=True,
        tau_e=0.005,
        tau_i=0.01,
        i_e_init=0.0,
        i_i_init=0.0,
        time_quantum=None,
        linear=None,
        E_e=None,
        E_i=None,
    ):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"n must be an integer, found {type(n).__name__}")
        if not 1 <= n < 2**31 - 1:
            raise ValueError(f"n must be in [1, 2**31 - 1), found: {n}")
        n = int(n)
        self.n = n
        tau, refractory, delays, tau_e, tau_i = (
            si_value(k, v, "time")
            for k, v in (
                ("tau", tau),
                ("refractory", refractory),
                ("delays", delays),
                ("tau_e", tau_e),
                ("tau_i", tau_i),
            )
        )
        i_e_init, i_i_init = (
            si_value(k, v, "dimensionless") for k, v in (("i_e_init", i_e_init), ("i_i_init", i_i_init))
        )
        drive, threshold, reset, v_init, weights, E_e, E_i = (
            si_value(k, v, "dimensionless")
            for k, v in (
                ("drive", drive),
                ("threshold", threshold),
                ("reset", reset),
                ("v_init", v_init),
                ("weights", weights),
                ("E_e", E_e),
                ("E_i", E_i),
            )
        )
        if not isinstance(copy, (bool, np.bool_)):
            raise TypeError(f"copy must be a bool, found {type(copy).__name__} {copy!r:.60}")
        self._copy = bool(copy)
        nnz = np.size(indices) if indices is not None else 0
        need = _neuron_bytes(tau, drive, threshold, reset, refractory, delays, model, lif_shared_tau) * n
        _check_memory(need + _synapse_bytes(indices, weights, delays, copy) * nnz + CHUNK_BYTES, n, nnz)
        self._config = dict(
            n=n,
            model=model,
            tau=tau,
            drive=drive,
            threshold=threshold,
            reset=reset,
            refractory=refractory,
            integrate_refractory=integrate_refractory,
            v_init=v_init,
            indptr=indptr,
            indices=indices,
            weights=weights,
            delays=delays,
            seed=seed,
            lif_shared_tau=lif_shared_tau,
            copy=copy,
            tau_e=tau_e,
            tau_i=tau_i,
            i_e_init=i_e_init,
            i_i_init=i_i_init,
            time_quantum=time_quantum,
            linear=linear,
            E_e=E_e,
            E_i=E_i,
        )
        codes = self._model_codes(model, n)
        self._codes = codes
        self._tau = _as_param("tau", tau, n, positive=True)
        self._drive = _as_param("drive", drive, n)
        thr = _threshold_param(threshold, n, codes)
        rst = _as_param("reset", reset, n)
        self._tref = _as_param("refractory", refractory, n, nonneg=True)
        theta = codes == MODELS.index("theta")
        coba = codes == MODELS.index("coba")
        exp_cur = (codes == MODELS.index("lif_exp")) | coba
        self._tau_e = _as_param("tau_e", tau_e, n, positive=True)
        self._tau_i = _as_param("tau_i", tau_i, n, positive=True)
        if coba.any() and (E_e is None or E_i is None):
            raise ValueError(
                "'coba' neurons need their reversal potentials: give E_e and E_i (in the units of v), found "
                f"E_e={E_e}, E_i={E_i}"
            )
        self._E_e = _as_param("E_e", 0.0 if E_e is None else E_e, n)
        self._E_i = _as_param("E_i", 0.0 if E_i is None else E_i, n)
        if coba.any():
            _check_coba(coba, self._tau_e, self._tau_i, n)
        self._cur_init = np.zeros((n, 2) if exp_cur.any() else (1, 2))
        for col, (name, value) in enumerate((("i_e_init", i_e_init), ("i_i_init", i_i_init))):
            c = np.broadcast_to(_as_param(name, value, n), (n,))
            bad = (c != 0) & ~exp_cur
            if bad.any():
                k = int(np.argmax(bad))
                raise ValueError(
                    f"{name} must be 0 for neurons without exponential currents, found {c[k]} for neuron {k} "
                    f"of model {MODELS[codes[k]]!r} (currents exist for models 'lif_exp' and 'coba' only)"
                )
            bad = (c < 0) & coba
            if bad.any():
                k = int(np.argmax(bad))
                raise ValueError(
                    f"{name} of 'coba' neurons is an initial conductance and must be >= 0, found {c[k]} for neuron {k}"
                )
            if exp_cur.any():
                self._cur_init[:, col] = c
        if theta.any():  # theta neurons: threshold +inf, reset -inf in v = tan(theta/2)
            thr = np.where(theta, np.inf, np.broadcast_to(thr, (n,)))
            rst = np.where(theta, -np.inf, np.broadcast_to(rst, (n,)))
        lin = codes == MODELS.index("linear")
        self._linear = self._linear_model(linear, n, lin)
        if lin.any():  # linear neurons: the model's theta (on c . x) and reset (of v)
            thr = np.where(lin, self._linear["theta"], np.broadcast_to(thr, (n,)))
            rst = np.where(lin, self._linear["reset"], np.broadcast_to(rst, (n,)))
        self._thr, self._reset = thr, rst
        integ = np.asarray(integrate_refractory)
        if integ.dtype.kind != "b":
            raise TypeError(
                f"integrate_refractory must be a bool or an array of bools, found "
                f"{type(integrate_refractory).__name__} {integrate_refractory!r:.60}"
            )
        if integ.ndim == 0:
            integ = np.broadcast_to(integ, (n,))
        if integ.shape != (n,):
            raise ValueError(f"integrate_refractory must be a bool or have shape ({n},), found {integ.shape}")
        not_lif = (codes != MODELS.index("lif")) & ~exp_cur & ~lin
        if (integ & not_lif).any():
            k = int(np.argmax(integ & not_lif))
            raise ValueError(
                f"integrate_refractory is supported for 'lif', 'lif_exp', 'coba' and 'linear' neurons only, found "
                f"neuron {k} "
                f"of model {MODELS[codes[k]]!r}"
            )
        self._integ = integ
        tb, rb = np.broadcast_to(thr, (n,)), np.broadcast_to(rst, (n,))
        bad = (rb >= tb) & (np.broadcast_to(self._tref, (n,)) == 0) & ~theta & ~lin
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(
                f"reset must be < threshold when there is no refractory period, found "
                f"reset {rb[k]} >= threshold {tb[k]} for neuron {k}"
            )
        self._v_init = self._initial_state(v_init, n, tb, rb, theta)
        if lin.any() and v_init is None:
            self._v_init[lin] = self._linear["x0"][lin, self._linear["model"].v]
        # connectivity
        if (indptr is None) != (indices is None):
            raise ValueError("give both indptr and indices, or neither")
        if indptr is None:
            indptr, indices = np.zeros(n + 1, np.int64), np.zeros(0, np.int32)
        self._indptr, self._indices = _check_csr(indptr, indices, n, n, "connectivity", copy=self._copy)
        nnz = self._indices.size
        self._weights = _per_synapse("weights", weights, nnz, copy=self._copy)
        self._delays = _per_synapse("delays", delays, nnz, nonneg=True, copy=self._copy)
        self._quantum = 0.0
        if time_quantum is not None:
            self._quantum = _scalar("time_quantum", si_value("time_quantum", time_quantum, "time"))
            if not 0 < self._quantum < np.inf:
                raise ValueError(f"time_quantum must be > 0 and finite, found {self._quantum}")
            self._check_quanta(self._delays, self._tref)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"seed must be an integer or None, found {type(seed).__name__}")
        self._bitgen = np.random.PCG64(seed)
        self._lif_shared_tau = bool(lif_shared_tau)
        # inputs and recording, fixed at the first run
        self._poisson = []  # (rates (m,), targets/CSR, weights, delays)
        self._generators = []
        self._record_idx = None  # None: all
        self._rate_bin = None
        self._rate_counts = np.zeros(0, np.int64)
        self._sample_idx = None
        self._sample_times = np.zeros(0)
        self._sample_values = []
        self._sample_extra = []  # chunks of `state_extra` (only with record_states(..., extra=True))
        self._extra_width = 0
        self._n_samples_done = 0
        self._spike_chunks = []
        self._tape = None  # the adjoint's tape: cause bits of the spikes since t = 0 (list of chunks), or None
        self._tape_inputs = []  # and the external input events, (times, presynaptic ids) chunks
        self._tape_state0 = None  # and the engine's state at t = 0 (get_state), for checkpointed gradients
        self._poisson_record = set()  # Poisson inputs (positions in self._poisson) whose events are recorded
        self._poisson_chunks = []  # their events, (times, presynaptic ids) chunks
        self._stdp = []  # plasticity rules: part, synapses, rule and traces (see add_stdp)
        self._stp = []  # short-term plasticity: part, synapses, parameters and state (see add_stp)
        self._engine = None
        self._spec = None
        self.t = 0.0

    # ------------------------------------------------------------------ construction helpers
    @staticmethod
    def _model_codes(model, n):
        if isinstance(model, str):
            if model not in MODELS:
                raise ValueError(f"model must be one of {MODELS}, found: {model!r}")
            return np.full(n, MODELS.index(model), np.uint8)
        m = np.asarray(model)
        if m.dtype.kind != "U":
            raise TypeError(
                f"model must be a string or an array of strings, found {type(model).__name__} {model!r:.60}"
            )
        if m.shape != (n,):
            raise ValueError(f"model must be a string or have shape ({n},), found shape {m.shape}")
        unknown = sorted(set(m.tolist()) - set(MODELS))
        if unknown:
            raise ValueError(f"model must be one of {MODELS}, found: {unknown[0]!r}")
        return np.array([MODELS.index(x) for x in m.tolist()], np.uint8)

    @staticmethod
    def _initial_state(v_init, n, thr, rst, theta):
        if v_init is None:
            return np.where(theta, -np.pi, rst).astype(np.float64)
        v = _real_array("v_init", v_init)
        if v.shape != (n,):
            raise ValueError(f"v_init must have shape ({n},), found {v.shape}")
        _check_values("v_init", v)
        bad = theta & ((v < -np.pi) | (v >= np.pi))
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(f"v_init of theta neurons must be in [-pi, pi), found {v[k]} for neuron {k}")
        return v.copy()

    @staticmethod
    def _linear_model(linear, n, lin):
        """The per-neuron arrays of the linear model (``model="linear"``): a dict, or None without linear
        neurons."""
        from .linear import LinearModel

        if not lin.any():
            if linear is not None:
                raise ValueError("linear is for networks with 'linear' neurons; give model='linear' (for some neurons)")
            return None
        if not isinstance(linear, LinearModel):
            raise TypeError(
                f"model 'linear' needs linear=LinearModel(...) (see brian2_sparseprop.spiking.linear), found "
                f"{type(linear).__name__}"
            )
        A, b, theta, reset, x0 = linear.per_neuron(n)
        sys, cls = linear.systems(A[lin], b[lin])
        lin_cls = np.zeros(n, np.int32)
        lin_cls[lin] = cls
        return dict(model=linear, theta=theta, reset=reset, x0=x0, sys=sys, cls=lin_cls)

    def _check_not_built(self, what):
        if self._engine is not None:
            raise RuntimeError(f"{what} must be called before the first run()")

    # ------------------------------------------------------------------ inputs
    def add_poisson_input(self, rate, weight, targets=None, delay=0.0):
        """Independent Poisson spike trains, one per target neuron, in continuous time.

        Like Brian2's ``PoissonInput(group, 'v', N, r, weight)``, which is a Poisson process of rate
        ``N * r`` per neuron.

        Parameters
        ----------
        rate : float, array_like or frequency Quantity, shape (m,)
            Rate of each target's process (Hz), >= 0.
        weight : float or array_like, shape (m,)
            Kick of each input spike.
        targets : array_like of int, shape (m,), optional
            Target neurons (default: all, m = n).
        delay : float or time Quantity
            Delay (s) between an input event and its kick, >= 0.

        Examples
        --------
        >>> from brian2_sparseprop import EventNetwork
        >>> net = EventNetwork(100, drive=0.0, seed=1)
        >>> net.add_poisson_input(rate=2000.0, weight=0.05)
        >>> net.run(1.0)
        >>> net.spike_times.size > 0
        True
        """
        self._check_not_built("add_poisson_input")
        rate, weight, delay = (
            si_value("rate", rate, "frequency"),
            si_value("weight", weight, "dimensionless"),
            si_value("delay", delay, "time"),
        )
        targets = np.arange(self.n) if targets is None else np.asarray(targets)
        if targets.ndim != 1 or targets.dtype.kind not in "iu":
            raise TypeError(f"targets must be a 1-d integer array, found {targets.dtype} of shape {targets.shape}")
        m = targets.size
        w = _per_synapse("weight", weight, m)
        self.add_poisson_sources(
            np.broadcast_to(_per_synapse("rate", rate, m, nonneg=True), (m,)),
            np.arange(m + 1),
            targets,
            w if np.ndim(weight) else w[0],  # a scalar stays one (and so does its gradient)
            delay,
        )

    def add_poisson_sources(self, rates, indptr, indices, weights, delays=0.0):
        """Poisson sources with their own connectivity (like a PoissonGroup with Synapses).

        Parameters
        ----------
        rates : array_like or frequency Quantity, shape (m,)
            Constant rate of each source (Hz), >= 0.
        indptr, indices : array_like of int
            CSR connectivity from the m sources to the network's neurons.
        weights, delays : float or array_like, shape (nnz,)
            Kicks and delays (s, >= 0) of the synapses.
        """
        self._check_not_built("add_poisson_sources")
        rates, weights, delays = (
            si_value("rates", rates, "frequency"),
            si_value("weights", weights, "dimensionless"),
            si_value("delays", delays, "time"),
        )
        rates = _real_array("rates", rates)
        if rates.ndim != 1:
            raise ValueError(f"rates must be 1-d, found shape {rates.shape}")
        _check_values("rates", rates, nonneg=True)
        ip, ix = _check_csr(indptr, indices, rates.size, self.n, "Poisson sources")
        w = _per_synapse("weights", weights, ix.size)
        d = _per_synapse("delays", delays, ix.size, nonneg=True)
        # building the engine stitches all synapses into one CSR: 4 bytes per synapse for the indices,
        # 8 for the weights and 8 for the delays unless they are one value for all
        sources = [(self._weights, self._delays)] + [p[3:] for p in self._poisson] + [(w, d)]
        total = self._indices.size + ix.size + sum(p[2].size for p in self._poisson)
        per_synapse = 4 + 8 * (not _one_value([p[0] for p in sources])) + 8 * (not _one_value([p[1] for p in sources]))
        _check_memory(per_synapse * total + NEURON_BYTES * self.n + CHUNK_BYTES, self.n, total)
        self._poisson.append((rates.copy(), ip, ix, w, d))

    def add_spike_generator(self, times, sources, n_sources, indptr, indices, weights, delays=0.0, period=0.0):
        """Given spike times of external sources with their own connectivity (like a
        SpikeGeneratorGroup with Synapses).

        Parameters
        ----------
        times : array_like or time Quantity, shape (s,)
            Spike times (s), >= 0; with a period, also < period.
        sources : array_like of int, shape (s,)
            Source of each spike, in [0, n_sources).
        n_sources : int
            Number of sources.
        indptr, indices : array_like of int
            CSR connectivity from the sources to the network's neurons.
        weights, delays : float or array_like, shape (nnz,)
            Kicks and delays (s, >= 0) of the synapses.
        period : float or time Quantity
            If > 0, the pattern repeats with this period (s).

        Examples
        --------
        >>> from brian2_sparseprop import EventNetwork
        >>> net = EventNetwork(1, drive=0.0)
        >>> net.add_spike_generator([0.001, 0.002], [0, 0], 1, [0, 1], [0], weights=0.6)
        >>> net.run(0.01)
        >>> net.spike_times
        array([0.002])
        """
        self._check_not_built("add_spike_generator")
        times, period = si_value("times", times, "time"), si_value("period", period, "time")
        weights, delays = si_value("weights", weights, "dimensionless"), si_value("delays", delays, "time")
        times = _real_array("times", times)
        sources = np.asarray(sources)
        if times.ndim != 1 or sources.shape != times.shape:
            raise ValueError(
                f"times and sources must be 1-d of equal length, found shapes {times.shape} and {sources.shape}"
            )
        if sources.dtype.kind not in "iu" and sources.size:
            raise TypeError(f"sources must be integers, found dtype {sources.dtype}")
        _check_values("times", times, nonneg=True)
        _check_values("period", _real_array("period", period).reshape(1), nonneg=True)
        if sources.size and (sources.min() < 0 or sources.max() >= n_sources):
            k = int(np.argmax((sources < 0) | (sources >= n_sources)))
            raise ValueError(f"sources must be in [0, {n_sources}), found {sources[k]} at position {k}")
        if period > 0 and times.size and times.max() >= period:
            raise ValueError(f"spike times must be < period = {period}, found {times.max()}")
        ip, ix = _check_csr(indptr, indices, int(n_sources), self.n, "spike generator")
        w = _per_synapse("weights", weights, ix.size)
        d = _per_synapse("delays", delays, ix.size, nonneg=True)
        order = np.argsort(times, kind="stable")  # kept: the gradient by the times comes back in the given order
        self._generators.append(
            (times[order], sources[order].astype(np.int64), int(n_sources), ip, ix, w, d, float(period), order)
        )

    # ------------------------------------------------------------------ plasticity
    def add_stdp(
        self,
        tau_pre,
        tau_post,
        d_pre,
        d_post,
        *,
        w_min=-np.inf,
        w_max=np.inf,
        source="network",
        k=0,
        synapses=None,
        apre=0.0,
        apost=0.0,
        last_update=0.0,
        update_first=False,
    ):
        """Make synapses plastic with pair-based STDP and event-driven traces (Brian2's STDP form).

        Each synapse keeps two traces, decaying exactly between its events,
        ``dApre/dt = -Apre/tau_pre`` and ``dApost/dt = -Apost/tau_post``, and changes its weight at events:

        * on_pre, when the presynaptic spike *arrives* at the synapse (after its delay):
          ``Apre += d_pre; w = clip(w + Apost, w_min, w_max)``; the kick ``v += w`` of that arrival uses
          the weight before this change (Brian2's ``on_pre='v_post += w; Apre += dApre; w = clip(...)'``),
          or after it with ``update_first=True`` (``w`` changed before ``v_post += w``);
        * on_post, when the target neuron fires (no delay): ``Apost += d_post; w = clip(w + Apre, w_min,
          w_max)``.

        Ties: every on_pre of an instant comes before every on_post of that instant, as in Brian2 (whose
        pre pathway runs before the post pathway in a time step). So an arrival at the time of a
        postsynaptic spike (whether the arrival caused it or not) counts as pre before post, and both the
        kick's generations and the arrivals of a zero-delay cascade take the weights of before the
        instant's postsynaptic spikes. A plastic synapse costs O(1) more per arrival and per spike of its
        target (two exponentials); the weights of a network with plasticity are per synapse, and each
        synapse holds 25 more bytes (traces, last update, rule). `synaptic_weights` and `stdp_traces` read
        the state after a run; `run(record_tape=True)` (gradients) and Lyapunov spectra are not available
        for plastic networks.

        Parameters
        ----------
        tau_pre, tau_post : float or time Quantity
            Time constants of the traces (s), > 0.
        d_pre, d_post : float
            Increments of ``Apre`` at each arrival and of ``Apost`` at each postsynaptic spike (usually
            ``d_pre > 0``, potentiation, and ``d_post < 0``, depression).
        w_min, w_max : float
            Bounds of the weights (``clip``), ``w_min <= w_max``; infinite by default (no clipping).
        source : {'network', 'poisson', 'generator'}
            Whose synapses: the network's own (``indptr``/``indices`` of the constructor), those of the k-th
            Poisson input (`add_poisson_input` and `add_poisson_sources` calls, counted together) or of
            the k-th spike generator; add the input before its plasticity.
        k : int
            Which Poisson input or spike generator.
        synapses : array_like of int, optional
            Which synapses of that source (positions in its ``indices``); default all. A synapse has at
            most one rule.
        apre, apost : float or array_like, shape (m,)
            Traces at ``last_update`` (Brian2's ``S.Apre``, ``S.Apost`` and ``S.lastupdate``).
        last_update : float, array_like or time Quantity, shape (m,)
            Time (s) at which ``apre`` and ``apost`` hold, <= 0 (the network starts at t = 0).
        update_first : bool
            Whether the kick of an arrival uses the weight after its on_pre change.

        Returns
        -------
        int
            The rule's number, for `stdp_traces`.

        Raises
        ------
        TypeError, ValueError
            For malformed or out-of-range arguments, naming the value and the rule.
        RuntimeError
            After the first run.

        Examples
        --------
        One input spike at 1 ms onto a neuron that fires at 3 ms (a second input of weight 2 makes it):
        potentiation by ``d_pre exp(-2 ms / tau_pre)``, then the arrival of the input's second spike at
        6 ms takes ``Apost = d_post exp(-3 ms / tau_post)`` off:

        >>> import numpy as np
        >>> from brian2_sparseprop import EventNetwork
        >>> net = EventNetwork(1, drive=0.0)
        >>> net.add_spike_generator([0.001, 0.003, 0.006], [0, 1, 0], 2, [0, 1, 2], [0, 0], weights=[0.1, 2.0])
        >>> rule = net.add_stdp(0.02, 0.02, 0.01, -0.012, w_min=0.0, w_max=1.0, source="generator", synapses=[0])
        >>> net.run(0.01)
        >>> w = 0.1 + 0.01 * np.exp(-0.002 / 0.02) - 0.012 * np.exp(-0.003 / 0.02)
        >>> bool(abs(net.synaptic_weights("generator")[0] - w) < 1e-15)
        True
        """
        self._check_not_built("add_stdp")
        values = {}
        for name, v in (("tau_pre", tau_pre), ("tau_post", tau_post), ("d_pre", d_pre), ("d_post", d_post)):
            values[name] = _scalar(name, si_value(name, v, "dimensionless" if name[0] == "d" else "time"))
            _check_values(name, np.array([values[name]]), positive=name.startswith("tau"))
        w_min, w_max = _scalar("w_min", w_min), _scalar("w_max", w_max)
        if np.isnan(w_min) or np.isnan(w_max) or not w_min <= w_max:
            raise ValueError(f"w_min must be <= w_max, found w_min = {w_min}, w_max = {w_max}")
        if not isinstance(update_first, (bool, np.bool_)):
            raise TypeError(f"update_first must be a bool, found {type(update_first).__name__} {update_first!r:.60}")
        part = self._part(source, k)
        nnz = self._part_size(part)
        syn = self._synapse_selection(synapses, part, source, k)
        self._check_free(syn, part, source, k)
        m = syn.size
        traces = {}
        for name, v in (("apre", apre), ("apost", apost), ("last_update", last_update)):
            a = _per_synapse(name, si_value(name, v, "time" if name == "last_update" else "dimensionless"), m)
            traces[name] = np.array(np.broadcast_to(a, (m,)), dtype=np.float64)
        if (traces["last_update"] > 0).any():
            bad = int(np.argmax(traces["last_update"] > 0))
            raise ValueError(
                f"last_update must be <= 0 s (the start), found {traces['last_update'][bad]} at index {bad}"
            )
        if len(self._stdp) >= 127:
            raise ValueError("at most 127 plasticity rules per network")
        rule = (*(values[k] for k in ("tau_pre", "tau_post", "d_pre", "d_post")), w_min, w_max, int(update_first))
        weights = self._part_weights(part)  # a private copy, one weight per synapse, that the runs update
        self._part_weights(part, np.array(np.broadcast_to(weights, (nnz,)), dtype=np.float64))
        self._stdp.append(dict(part=part, synapses=syn, rule=rule, **traces))
        return len(self._stdp) - 1

    def add_stp(
        self,
        U,
        tau_d=None,
        tau_f=None,
        *,
        u_rest=None,
        order=("u", "kick", "x"),
        source="network",
        k=0,
        synapses=None,
        u=None,
        x=None,
        last_update=0.0,
    ):
        """Make synapses short-term plastic: Tsodyks-Markram depression and facilitation with event-driven
        variables (Brian2's short-term plasticity form).

        Each synapse keeps a utilisation ``u`` and a fraction of available resources ``x``, relaxing exactly
        between its arrivals, ``du/dt = (u_rest - u)/tau_f`` and ``dx/dt = (1 - x)/tau_d``. When a
        presynaptic spike *arrives* at the synapse (after its delay), u and x are brought to that time and
        three statements run in the given ``order``:

        * ``"u"``: facilitation, ``u += U*(1 - u)``;
        * ``"kick"``: the target takes ``w*u*x`` (with the values of u and x at that point) instead of ``w``;
        * ``"x"``: depression, ``x -= u*x``.

        Without ``tau_f`` there is no facilitation: u is the constant ``U`` (``order`` has no ``"u"``);
        without ``tau_d`` no depression: x is the constant 1 (``order`` has no ``"x"``). Brian2's
        ``on_pre='u += U*(1-u); v_post += w*u*x; x -= u*x'`` is ``order=("u", "kick", "x")``. The kick
        joins the sum of its instant's kicks like any other (see `EventNetwork`), the weight ``w`` itself
        does not change. Several arrivals of one instant at different synapses are independent (each synapse
        has its own u and x). A plastic synapse costs O(1) more per arrival (two exponentials); the weights
        of a network with plasticity are per synapse, and each synapse holds 36 more bytes (u, x, last
        update, weight, rule number), each distinct parameter set 40 bytes. `stp_state` reads u, x and the
        last update after a run; `run(record_tape=True)` (gradients) and Lyapunov spectra are not available
        for plastic networks.

        Parameters
        ----------
        U : float or array_like, shape (m,)
            Increment fraction of u, in [0, 1]; without facilitation, the constant u.
        tau_d, tau_f : float, array_like (m,), time Quantity, or None
            Recovery time constant of x and relaxation time constant of u (s), > 0; None: no depression, no
            facilitation (one of them at least).
        u_rest : float or array_like, shape (m,), optional
            Fixed point of u (``du/dt = (u_rest - u)/tau_f``), in [0, 1]; default ``U``. With facilitation
            only.
        order : sequence of str
            The statements of an arrival in order: ``"kick"``, ``"u"`` (with ``tau_f``), ``"x"`` (with
            ``tau_d``), each once.
        source : {'network', 'poisson', 'generator'}
            Whose synapses: the network's own, those of the k-th Poisson input or of the k-th spike
            generator (added before).
        k : int
            Which Poisson input or spike generator.
        synapses : array_like of int, optional
            Which synapses of that source (positions in its ``indices``); default all. A synapse has at
            most one plasticity rule (STDP or short-term).
        u, x : float or array_like, shape (m,), optional
            u and x at ``last_update`` (Brian2's ``S.u``, ``S.x``), in [0, 1] (so they stay there and a
            kick has the sign of its weight); default ``u_rest`` and 1. Only with facilitation (u) and
            depression (x).
        last_update : float, array_like or time Quantity, shape (m,)
            Time (s) at which ``u`` and ``x`` hold, <= 0 (the network starts at t = 0).

        Returns
        -------
        int
            The rule's number, for `stp_state`.

        Raises
        ------
        TypeError, ValueError
            For malformed or out-of-range arguments, naming the value and the rule.
        RuntimeError
            After the first run.

        Examples
        --------
        A depressing synapse (U = 0.5, tau_d = 100 ms) fed by a regular train every 10 ms: its first kick is
        w U, then x recovers from ``x (1 - U)`` for 10 ms before the next arrival:

        >>> import numpy as np
        >>> from brian2_sparseprop import EventNetwork
        >>> net = EventNetwork(1, drive=0.0, threshold=100.0)
        >>> net.add_spike_generator([0.0, 0.01], [0, 0], 1, [0, 1], [0], weights=1.0)
        >>> rule = net.add_stp(0.5, tau_d=0.1, order=("kick", "x"), source="generator")
        >>> net.run(0.02)
        >>> x = 1 - (1 - 0.5) * np.exp(-0.01 / 0.1)  # before the second arrival
        >>> bool(abs(net.stp_state(rule)["x"][0] - x * (1 - 0.5)) < 1e-15)
        True
        """
        self._check_not_built("add_stp")
        part = self._part(source, k)
        syn = self._synapse_selection(synapses, part, source, k)
        m = syn.size

        def per_synapse(name, value, dimension="dimensionless"):
            a = _per_synapse(name, si_value(name, value, dimension), m)
            return np.array(np.broadcast_to(a, (m,)), dtype=np.float64)

        if tau_d is None and tau_f is None:
            raise ValueError("add_stp needs tau_d (depression) or tau_f (facilitation), found neither")
        params = {"U": per_synapse("U", U)}
        if ((params["U"] < 0) | ~(params["U"] <= 1)).any():
            bad = int(np.argmax((params["U"] < 0) | ~(params["U"] <= 1)))
            raise ValueError(f"U must be in [0, 1], found {params['U'][bad]} at index {bad}")
        for name, value in (("tau_d", tau_d), ("tau_f", tau_f)):
            params[name] = np.full(m, np.inf) if value is None else per_synapse(name, value, "time")
            if value is not None:
                _check_values(name, params[name], positive=True)
        if tau_f is None and (u_rest is not None or u is not None):
            raise ValueError("u_rest and u need facilitation (tau_f): without it u is the constant U")
        if tau_d is None and x is not None:
            raise ValueError("x needs depression (tau_d): without it x is the constant 1")
        params["u_rest"] = params["U"].copy() if u_rest is None else per_synapse("u_rest", u_rest)
        if isinstance(order, str) or not all(isinstance(s, str) for s in order):
            raise TypeError(f"order must be a sequence of strings, found {order!r:.60}")
        order = tuple(order)
        needed = ["kick"] + ["u"] * (tau_f is not None) + ["x"] * (tau_d is not None)
        if sorted(order) != sorted(needed):
            raise ValueError(
                f"order must name each of {sorted(needed)} once ('u' with tau_f, 'x' with tau_d), found {order}"
            )
        state = {
            "u": params["u_rest"].copy() if u is None else per_synapse("u", u),
            "x": np.ones(m) if x is None else per_synapse("x", x),
            "last_update": per_synapse("last_update", last_update, "time"),
        }
        for name, values in (("u_rest", params["u_rest"]), ("u", state["u"]), ("x", state["x"])):
            if ((values < 0) | (values > 1)).any():  # fractions: u and x stay in [0, 1], w*u*x has the sign of w
                bad = int(np.argmax((values < 0) | (values > 1)))
                raise ValueError(f"{name} must be in [0, 1], found {values[bad]} at index {bad}")
        if (state["last_update"] > 0).any():
            bad = int(np.argmax(state["last_update"] > 0))
            raise ValueError(
                f"last_update must be <= 0 s (the start), found {state['last_update'][bad]} at index {bad}"
            )
        self._check_free(syn, part, source, k)
        kick = order.index("kick")
        codes = _engine.STP_CODES
        before = sum(codes[s] << (2 * i) for i, s in enumerate(order[:kick]))
        after = sum(codes[s] << (2 * i) for i, s in enumerate(order[kick + 1 :]))
        weights = self._part_weights(part)  # a private copy, one weight per synapse
        self._part_weights(part, np.array(np.broadcast_to(weights, (self._part_size(part),)), dtype=np.float64))
        self._stp.append(dict(part=part, synapses=syn, params=params, codes=(before, after), **state))
        return len(self._stp) - 1

    def _synapse_selection(self, synapses, part, source, k):
        """The positions ``synapses`` of a part's synapses (default all) as int64, checked."""
        nnz = self._part_size(part)
        if synapses is None:
            return np.arange(nnz, dtype=np.int64)
        syn = np.asarray(synapses)
        if syn.ndim != 1 or (syn.size and syn.dtype.kind not in "iu"):
            raise TypeError(f"synapses must be a 1-d integer array, found dtype {syn.dtype}, shape {syn.shape}")
        syn = syn.astype(np.int64)
        if syn.size and (syn.min() < 0 or syn.max() >= nnz):
            bad = int(np.argmax((syn < 0) | (syn >= nnz)))
            raise ValueError(f"synapses must be in [0, {nnz}) (the synapses of {source} {k}), found {syn[bad]}")
        if np.unique(syn).size != syn.size:
            raise ValueError("synapses must not repeat a synapse")
        return syn

    def _check_free(self, syn, part, source, k):
        """ValueError if one of the synapses ``syn`` of a part has a plasticity rule (STDP or short-term)."""
        taken = [r["synapses"] for r in self._stdp + self._stp if r["part"] == part]
        if taken and np.isin(syn, np.concatenate(taken)).any():
            bad = int(syn[np.argmax(np.isin(syn, np.concatenate(taken)))])
            raise ValueError(
                f"synapse {bad} of {source} {k} has a plasticity rule already (one rule per synapse: STDP and "
                "short-term plasticity on one synapse are not supported)"
            )

    def _part(self, source, k):
        """The index of a source of synapses among the parts of the combined connectivity: 0 the network,
        then the Poisson inputs, then the spike generators."""
        sources = {"network": 1, "poisson": len(self._poisson), "generator": len(self._generators)}
        if source not in sources:
            raise ValueError(f"source must be one of {sorted(sources)}, found: {source!r}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"k must be an integer, found {type(k).__name__}")
        if not 0 <= k < sources[source]:
            raise ValueError(f"k must be in [0, {sources[source]}) (the {source} sources added), found: {k}")
        return {"network": 0, "poisson": 1 + k, "generator": 1 + len(self._poisson) + k}[source]

    def _part_size(self, part):
        if part == 0:
            return self._indices.size
        if part <= len(self._poisson):
            return self._poisson[part - 1][2].size
        return self._generators[part - 1 - len(self._poisson)][4].size

    def _part_weights(self, part, new=None):
        """The weights of a part (network, Poisson input, generator), or set them to ``new``."""
        if part == 0:
            if new is not None:
                self._weights = new
            return self._weights
        if part <= len(self._poisson):
            entry = self._poisson[part - 1]
            if new is not None:
                self._poisson[part - 1] = entry[:3] + (new,) + entry[4:]
            return self._poisson[part - 1][3]
        g = part - 1 - len(self._poisson)
        entry = self._generators[g]
        if new is not None:
            self._generators[g] = entry[:5] + (new,) + entry[6:]
        return self._generators[g][5]

    def _sync_stdp(self):
        """Copy the weights and traces of the plastic synapses (and the state of the short-term plastic ones)
        from the engine into the parts' arrays and the rules (in their own order; with absolute times)."""
        if not (self._stdp or self._stp) or self._engine is None:
            return
        w, tr, pos, base = self._spec["weights"], self._spec["traces"], self._plastic_pos, self._plastic_base
        epoch = self._engine.epoch
        for r in self._stdp:
            p = pos[base[r["part"]] + r["synapses"]]
            self._part_weights(r["part"])[r["synapses"]] = w[p]
            r["apre"], r["apost"], r["last_update"] = tr["apre"][p], tr["apost"][p], tr["t"][p] + epoch
        st = self._spec["stp_state"]
        for r in self._stp:
            p = pos[base[r["part"]] + r["synapses"]]
            r["u"], r["x"], r["last_update"] = st["u"][p], st["x"][p], st["t"][p] + epoch

    def synaptic_weights(self, source="network", k=0):
        """The current weights of a source's synapses, in the order of its ``indices`` (plastic synapses
        change during a run).

        Parameters
        ----------
        source : {'network', 'poisson', 'generator'}
            The network's synapses, or those of the k-th Poisson input or spike generator.
        k : int
            Which Poisson input or spike generator.

        Returns
        -------
        ndarray, shape (nnz,)
        """
        part = self._part(source, k)
        return np.array(np.broadcast_to(self._part_weights(part), (self._part_size(part),)), dtype=np.float64)

    def stdp_traces(self, rule):
        """The traces of the synapses of a plasticity rule (number returned by `add_stdp`), as Brian2 stores
        them: ``Apre`` and ``Apost`` at each synapse's last event, and that time (s).

        Returns
        -------
        dict
            ``apre``, ``apost``, ``last_update``: arrays in the order of the rule's ``synapses``.
        """
        r = self._stdp[self._rule_number(rule, self._stdp, "add_stdp")]
        return {key: r[key].copy() for key in ("apre", "apost", "last_update")}

    def stp_state(self, rule):
        """The state of the synapses of a short-term plasticity rule (number returned by `add_stp`), as
        Brian2 stores it: ``u`` and ``x`` at each synapse's last arrival, and that time (s).

        Returns
        -------
        dict
            ``u``, ``x``, ``last_update``: arrays in the order of the rule's ``synapses``.
        """
        r = self._stp[self._rule_number(rule, self._stp, "add_stp")]
        return {key: r[key].copy() for key in ("u", "x", "last_update")}

    def set_stp_state(self, rule, u=None, x=None):
        """Set u or x of a short-term plasticity rule's synapses between runs, as Brian2's ``S.u = ...``:
        the values at each synapse's last arrival (its ``last_update`` stays), from which they relax.

        Parameters
        ----------
        rule : int
            The rule's number (returned by `add_stp`).
        u, x : float or array_like, shape (m,), optional
            New values in [0, 1], in the order of the rule's synapses (u needs facilitation, x depression).

        Examples
        --------
        >>> import numpy as np
        >>> from brian2_sparseprop import EventNetwork
        >>> net = EventNetwork(1, drive=0.0)
        >>> net.add_spike_generator([0.001, 0.002], [0, 0], 1, [0, 1], [0], weights=1.0)
        >>> rule = net.add_stp(0.5, tau_d=0.1, order=("kick", "x"), source="generator")
        >>> net.run(0.0015)
        >>> net.set_stp_state(rule, x=1.0)  # recovered: the second spike kicks with w U x = 0.5 again
        >>> net.run(0.001)  # to 2.5 ms: v = (0.5 e^{-1 ms / 10 ms} + 0.5) e^{-0.5 ms / 10 ms}
        >>> bool(abs(net.v[0] - (0.5 * np.exp(-0.1) + 0.5) * np.exp(-0.05)) < 1e-15)
        True
        """
        r = self._stp[self._rule_number(rule, self._stp, "add_stp")]
        m = r["synapses"].size
        for key, value, needs in (("u", u, "tau_f"), ("x", x, "tau_d")):
            if value is None:
                continue
            if np.isinf(r["params"][needs]).all():
                raise ValueError(f"{key} needs {needs} in this rule: without it {key} is a constant")
            a = np.array(np.broadcast_to(_per_synapse(key, value, m), (m,)), dtype=np.float64)
            if ((a < 0) | ~(a <= 1)).any():
                bad = int(np.argmax((a < 0) | ~(a <= 1)))
                raise ValueError(f"{key} must be in [0, 1], found {a[bad]} at index {bad}")
            r[key] = a
            if self._engine is not None:
                self._spec["stp_state"][key][self._plastic_pos[self._plastic_base[r["part"]] + r["synapses"]]] = a

    def set_stdp_traces(self, rule, apre=None, apost=None):
        """Set the traces of a plasticity rule's synapses between runs, as Brian2's ``S.Apre = ...``: the
        values at each synapse's last event (its ``last_update`` stays), from which they decay.

        Parameters
        ----------
        rule : int
            The rule's number (returned by `add_stdp`).
        apre, apost : float or array_like, shape (m,), optional
            New values, in the order of the rule's synapses.
        """
        r = self._stdp[self._rule_number(rule, self._stdp, "add_stdp")]
        m = r["synapses"].size
        for key, value in (("apre", apre), ("apost", apost)):
            if value is None:
                continue
            a = np.array(np.broadcast_to(_per_synapse(key, value, m), (m,)), dtype=np.float64)
            r[key] = a
            if self._engine is not None:
                self._spec["traces"][key][self._plastic_pos[self._plastic_base[r["part"]] + r["synapses"]]] = a

    @staticmethod
    def _rule_number(rule, rules, added_by):
        if isinstance(rule, bool) or not isinstance(rule, (int, np.integer)):
            raise TypeError(f"rule must be an integer, found {type(rule).__name__}")
        if not 0 <= rule < len(rules):
            raise ValueError(f"rule must be in [0, {len(rules)}) (the rules added by {added_by}), found: {rule}")
        return int(rule)

    # ------------------------------------------------------------------ recording
    def record_spikes(self, indices=None):
        """Record the spikes of these neurons (default: all)."""
        self._check_not_built("record_spikes")
        self._record_idx = None if indices is None else self._check_indices(indices, "indices")

    def record_poisson_events(self, k=None):
        """Record the events of Poisson inputs (like a SpikeMonitor on a PoissonGroup): `poisson_events`.

        Parameters
        ----------
        k : int or None
            Which input: its position among the `add_poisson_input` and `add_poisson_sources` calls;
            None: all of them. 12 bytes per recorded event.

        Examples
        --------
        >>> from brian2_sparseprop import EventNetwork
        >>> net = EventNetwork(1, drive=0.0, seed=3)
        >>> net.add_poisson_sources([50.0, 100.0], [0, 1, 2], [0, 0], weights=0.1)
        >>> net.record_poisson_events()
        >>> net.run(1.0)
        >>> times, sources = net.poisson_events(0)
        >>> bool(times.size > 0 and set(sources) <= {0, 1})
        True
        """
        self._check_not_built("record_poisson_events")
        calls = range(len(self._poisson))
        if k is None:
            self._poisson_record.update(calls)
            return
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"k must be an integer or None, found {type(k).__name__}")
        if k not in calls:
            raise ValueError(f"k must be in [0, {len(self._poisson)}) (one per Poisson input added), found {k}")
        self._poisson_record.add(int(k))

    def poisson_events(self, k):
        """The recorded events of the ``k``-th Poisson input (see `record_poisson_events`).

        Returns
        -------
        times : numpy.ndarray of float
            Event times (s), in the order they happened.
        sources : numpy.ndarray of int
            The source of each event: its index among the rates of that `add_poisson_sources` call (for
            `add_poisson_input`, the position of its target in ``targets``).
        """
        if k not in self._poisson_record:
            raise ValueError(f"the events of Poisson input {k!r} are not recorded: call record_poisson_events({k!r})")
        if len(self._poisson_chunks) > 1:
            self._poisson_chunks = [tuple(np.concatenate([c[j] for c in self._poisson_chunks]) for j in range(2))]
        times, ids = self._poisson_chunks[0] if self._poisson_chunks else (np.zeros(0), np.zeros(0, np.int32))
        first = self.n + self._poisson_first()[k : k + 2]  # the presynaptic ids of its sources
        mine = (ids >= first[0]) & (ids < first[1])
        return times[mine], (ids[mine] - first[0]).astype(np.int64)

    def _poisson_first(self):
        """Position of each Poisson input's first source among all input sources, and their number."""
        return np.cumsum([0] + [p[0].size for p in self._poisson])

    def record_states(self, indices, times, extra=False):
        """Record the exact state of ``indices`` at the absolute times ``times`` (s, ascending).

        May be called again before a later run to add later times for the same neurons. With ``extra=True``
        the other variables of models with several (the currents of ``'lif_exp'``, the conductances of
        ``'coba'``, the state vector of ``'linear'`` neurons) are recorded as well, into `state_extra`.

        Examples
        --------
        >>> from brian2_sparseprop import EventNetwork
        >>> net = EventNetwork(1, model="lif_exp", drive=0.0, tau_e=0.005, i_e_init=1.0)
        >>> net.record_states([0], [0.0, 0.005], extra=True)
        >>> net.run(0.01)
        >>> print(" ".join(f"{x:.12f}" for x in net.state_extra[:, 0, 0]))
        1.000000000000 0.367879441171
        """
        idx = self._check_indices(indices, "indices")
        times = _real_array("times", si_value("times", times, "time")).reshape(-1)
        _check_values("times", times, nonneg=True)
        if (np.diff(times) < 0).any():
            raise ValueError("times must be in ascending order")
        if self._sample_idx is not None and not np.array_equal(idx, self._sample_idx):
            raise ValueError("record_states: later calls must record the same neurons")
        last = self._sample_times[-1] if self._sample_times.size else -np.inf
        if times.size and (times[0] < max(self.t, last) or (times[0] == last)):
            raise ValueError(
                f"times must be >= the current time {self.t} and after those already requested, found {times[0]}"
            )
        if self._sample_times.size and bool(extra) != bool(self._extra_width):
            raise ValueError("record_states: later calls must record the same variables (extra as before)")
        self._sample_idx = idx
        self._sample_times = np.concatenate([self._sample_times, times])
        if extra:
            d = self._linear["x0"].shape[1] if self._linear is not None else 0
            has_currents = np.isin(self._codes, [MODELS.index("lif_exp"), MODELS.index("coba")]).any()
            self._extra_width = max(d, 2 if has_currents else 0)

    def record_rate(self, bin_width):
        """Count the spikes of all neurons in bins of ``bin_width`` (s) aligned at t = 0."""
        self._check_not_built("record_rate")
        bin_width = _scalar("bin_width", si_value("bin_width", bin_width, "time"))
        if not (np.isfinite(bin_width) and bin_width > 0):
            raise ValueError(f"bin_width must be > 0, found: {bin_width}")
        self._rate_bin = float(bin_width)

    def _check_indices(self, indices, name):
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise TypeError(f"{name} must be a 1-d integer array, found dtype {idx.dtype}, shape {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            k = int(np.argmax((idx < 0) | (idx >= self.n)))
            raise ValueError(f"{name} must be in [0, {self.n}), found {idx[k]}")
        return idx.astype(np.int32)

    # ------------------------------------------------------------------ building the engine
    def _build_engine(self, initialize=True, epoch=0.0, check_quanta=True, synapses=None):
        n = self.n
        if self._quantum and check_quanta:
            self._check_quanta(self._all_delays(), self._tref)
        codes = self._codes
        K = _engine.KIND_CODES
        tau_full = np.broadcast_to(self._tau, (n,))
        lif = codes == MODELS.index("lif")
        th = codes == MODELS.index("theta")
        lif_taus = np.unique(tau_full[lif])
        shared = self._lif_shared_tau and lif.any() and lif_taus.size <= MAX_SHARED_CLASSES
        kind = np.where(lif, K["lif"], K["qif"]).astype(np.uint8)  # timed classes; theta runs as QIF
        for name in ("lif_exp", "linear", "eif", "coba"):
            kind[codes == MODELS.index(name)] = K[name]
        cls = np.zeros(n, np.uint8)
        class_tau, class_shared = [], []
        if shared:
            for c, tv in enumerate(lif_taus):
                cls[lif & (tau_full == tv)] = c
                class_tau.append(float(tv))
                class_shared.append(True)
            kind[lif] = K["lif_shared"]
        timed = kind != K["lif_shared"]
        if timed.any():
            cls[timed] = len(class_tau)
            class_tau.append(1.0)
            class_shared.append(False)
        order = np.argsort(cls, kind="stable").astype(np.int32)
        counts = np.bincount(cls, minlength=len(class_tau))
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

        F = _engine.FLAG_CODES
        flags = (kind.astype(np.uint16) << F["kind_shift"]) | (cls.astype(np.uint16) << F["class_shift"])
        flags[self._integ] |= F["integrate_refractory"]
        flags[th] |= F["theta"]
        if self._record_idx is None:
            flags |= F["record"]
        else:
            flags[self._record_idx] |= F["record"]
        if self._rate_bin is not None:
            flags |= F["rate"]

        drive, thr = self._drive, self._thr
        ith = drive - thr if drive.size == thr.size else np.broadcast_to(drive, (n,)) - np.broadcast_to(thr, (n,))
        with np.errstate(divide="ignore"):
            inv_ith = np.where(ith > 0, 1.0 / np.where(ith > 0, ith, 1.0), 0.0)

        # state: theta neurons are stored as v = tan(theta / 2)
        v0 = self._v_init.copy()
        v0[th] = _theta_to_v(v0[th])
        x = v0.copy()
        dr = np.broadcast_to(drive, (n,))
        x[~timed] = dr[~timed] - v0[~timed]  # u at t0 = t = 0: E = 1
        any_lazy = timed.any()
        t_last = np.zeros(n if any_lazy else 1)
        ref_end = np.full(n if (self._tref > 0).any() else 1, -np.inf)
        ref_k = np.zeros(ref_end.size if self._quantum else 1, np.int64)  # refractory ends as pairs (quanta)

        csr = self._combined_connectivity(epoch, synapses)
        neurons = np.zeros(n, _engine.NEURON_DTYPE)
        neurons["x"], neurons["flags"] = x, flags
        spec = dict(
            n=n,
            neurons=neurons,
            t_last=t_last,
            ref_end=ref_end,
            heap_keys=_line_aligned(np.zeros(n)),
            heap_ids=_line_aligned(order),
            tau=self._tau,
            drive=self._drive,
            threshold=np.ascontiguousarray(thr, dtype=np.float64),
            reset=np.ascontiguousarray(self._reset, dtype=np.float64),
            refractory=self._tref,
            ith=np.ascontiguousarray(ith, dtype=np.float64),
            inv_ith=np.ascontiguousarray(inv_ith, dtype=np.float64),
            tau_e=self._tau_e,
            tau_i=self._tau_i,
            E_e=self._E_e,
            E_i=self._E_i,
            cur=self._cur_init.copy(),
            **self._linear_spec(v0),
            **self._eif_spec(v0),
            class_offsets=offsets,
            class_shared=class_shared,
            class_tau=class_tau,
            class_t0=[0.0] * len(class_tau),
            t=0.0,
            epoch=0.0,
            quantum=self._quantum,
            epoch_k=0,
            ref_k=ref_k,
            ref_o=np.zeros(ref_k.size),
            seq=0,
            dq={k: np.zeros(0) for k in _engine.DELAY_EVENT_DTYPE.names},
            **csr,
        )
        self._spec = spec
        self._engine = _engine.Engine(spec, self._bitgen)
        if self._poisson_record:
            mask = np.zeros(spec["n_pre"] - self.n, np.uint8)
            first = self._poisson_first()
            for k in self._poisson_record:
                mask[first[k] : first[k + 1]] = 1
            self._engine.record_inputs(mask)
        if initialize:
            self._engine.initialize_heaps()

    def _eif_spec(self, v0):
        """The EIF tables (_eif_table.pxd): one per distinct drive of the EIF neurons (the
        `EIF_MAX_TABLES` drives shared by the most neurons; d = -1 exactly has none), covering x from 100
        below the lowest reset, initial value or drive of its neurons up to their largest threshold; each
        neuron's table (-1: none, the quadrature kernels)."""
        n = self.n
        eif = np.flatnonzero(self._codes == MODELS.index("eif"))
        if not self._eif_tables or eif.size == 0:
            return dict(eif_tables=[], eif_tab=np.full(1, -1, np.int32))
        drive = np.broadcast_to(self._drive, (n,))[eif]
        drives, inverse, counts = np.unique(drive, return_inverse=True, return_counts=True)
        chosen = np.argsort(-counts, kind="stable")[:EIF_MAX_TABLES]
        chosen = chosen[drives[chosen] != -1.0]
        slot = np.full(drives.size, -1, np.int32)
        slot[chosen] = np.arange(chosen.size, dtype=np.int32)
        low = np.minimum(np.broadcast_to(self._reset, (n,))[eif], v0[eif])
        x_lo = np.full(drives.size, np.inf)
        x_hi = np.full(drives.size, -np.inf)
        np.minimum.at(x_lo, inverse, np.minimum(low, drive))
        np.maximum.at(x_hi, inverse, np.broadcast_to(self._thr, (n,))[eif])
        # the pulse responses of the weights, where they are few (one table evaluation per kick)
        weights = _few_values([self._weights] + [p[3] for p in self._poisson] + [g[5] for g in self._generators], 4)
        fast = dict(kick_weights=[] if weights is None else weights.tolist()) if self._eif_fast else dict(fast_tol=None)
        tables = [_engine.eif_table(float(drives[c]), float(x_lo[c]) - 100.0, float(x_hi[c]), **fast) for c in chosen]
        tab = np.full(n, -1, np.int32)
        tab[eif] = slot[inverse]
        return dict(eif_tables=tables, eif_tab=tab)

    def _linear_spec(self, v0):
        """The engine's arrays of the linear neurons: their systems, each neuron's system and its augmented
        state (1, x) (v is kept in the neuron record, from ``v0``)."""
        L = self._linear
        if L is None:
            return dict(lin_sys=np.zeros(1, _engine.LIN_SYS_DTYPE), lin_cls=np.zeros(1, np.int32), lin=np.zeros((1, 5)))
        d = L["x0"].shape[1]
        lin = np.zeros((self.n, 5))
        lin[:, 0] = 1.0
        lin[:, 1 : d + 1] = L["x0"]
        lin[:, 1 + L["model"].v] = v0
        return dict(lin_sys=L["sys"], lin_cls=L["cls"], lin=lin)

    def _combined_connectivity(self, epoch=0.0, synapses=None):
        """One CSR over presynaptic ids: neurons, then Poisson sources, then generator sources; each
        row sorted by delay so that a spike needs one queue entry per distinct delay in flight. With
        plasticity, also the rule and traces of each synapse (times relative to ``epoch``) and the plastic
        synapses onto each neuron. ``synapses``: that CSR as an engine of the same connectivity, weights
        and delays holds it (``indptr``, ``indices``, ``weights``, ``delays``, ``zero_end``), taken as it is
        (no plasticity)."""
        for part in {r["part"] for r in self._stdp + self._stp}:  # plastic weights: per synapse, owned by the network
            w = self._part_weights(part)
            if w.size != self._part_size(part):  # a scalar given to set_params, set_poisson, ...
                self._part_weights(part, np.array(np.broadcast_to(w, (self._part_size(part),)), dtype=np.float64))
        rows_ptr = [self._indptr]
        idx, w, d = [self._indices], [self._weights], [self._delays]
        nnz_all = [self._indices.size]
        pois_rate, pois_src = [], []
        gen = []
        n_pre = self.n
        for rates, ip, ix, ww, dd in self._poisson:
            pois_rate.append(rates)
            pois_src.append(np.arange(n_pre, n_pre + rates.size))
            rows_ptr.append(ip)
            idx.append(ix), w.append(ww), d.append(dd), nnz_all.append(ix.size)
            n_pre += rates.size
        for times, sources, n_src, ip, ix, ww, dd, period, _order in self._generators:
            gen.append((times, sources + n_pre, period))
            rows_ptr.append(ip)
            idx.append(ix), w.append(ww), d.append(dd), nnz_all.append(ix.size)
            n_pre += n_src
        # stitch the CSR pieces
        indptr = [np.zeros(1, np.int64)]
        base = 0
        for ip in rows_ptr:
            indptr.append(ip[1:] + base)
            base += ip[-1]
        indptr = np.concatenate(indptr)
        indices = idx[0] if len(idx) == 1 else np.concatenate(idx)
        nnz = indices.size

        def merged(parts):
            if _one_value(parts):
                return parts[0].copy()  # stored once
            if len(parts) == 1:
                return parts[0]
            return np.concatenate([np.broadcast_to(p, (m,)) for p, m in zip(parts, nnz_all)])

        plastic = bool(self._stdp or self._stp)
        ids = np.arange(nnz, dtype=np.int64) if plastic else None
        if synapses is not None:
            indptr, indices, weights, delays, zero_end = (synapses[k] for k in _SYNAPSE_KEYS)
        else:
            weights = merged(w) if nnz else np.zeros(1)
            if plastic:
                weights = np.concatenate([np.broadcast_to(p, (m,)) for p, m in zip(w, nnz_all)]).astype(np.float64)
            delays = merged(d) if nnz else np.zeros(1)
            zero_end = np.zeros(1, np.int64)
        if synapses is None and delays.size > 1:
            # the network's own arrays (or the caller's) are copied before any reordering: they keep the order
            # of `indices`, in which set_params takes new weights and delays (and add_stdp its `synapses`)
            shared = len(idx) == 1 or plastic
            indices, weights, delays, zero_end = _sort_rows_by_delay(indptr, indices, weights, delays, shared, ids)
        if plastic:  # the engine position of each synapse of the combined parts, for _sync_stdp
            self._plastic_pos = np.empty(nnz, np.int64)
            self._plastic_pos[ids] = np.arange(nnz)
            self._plastic_base = np.concatenate([[0], np.cumsum(nnz_all)]).astype(np.int64)
        stdp = self._stdp_arrays(indices, nnz, epoch) | self._stp_arrays(nnz, epoch)
        # external input heap: Poisson sources then generators, keyed by next event time
        # all Poisson sources together are one Poisson process of the summed rate (an alias table picks
        # the source of each event): one entry in the input heap however many sources
        rates = np.concatenate(pois_rate) if pois_rate else np.zeros(0)
        total = float(rates.sum())
        prob, alias = _engine.alias_table(rates) if total > 0 else (np.zeros(0), np.zeros(0, np.int32))
        rng = np.random.Generator(self._bitgen)
        first = rng.standard_exponential(1) / total if total > 0 else np.zeros(0)
        gen_times = np.concatenate([g[0] for g in gen]) if gen else np.zeros(0)
        gen_src = np.concatenate([g[1] for g in gen]).astype(np.int32) if gen else np.zeros(0, np.int32)
        lens = np.array([g[0].size for g in gen], np.int64)
        gen_start = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64) if gen else np.zeros(0, np.int64)
        gen_end = gen_start + lens
        gen_first = np.array([g[0][0] if g[0].size else np.inf for g in gen])
        in_keys = np.concatenate([first, gen_first]).astype(np.float64)
        return dict(
            n_pre=n_pre,
            indptr=indptr,
            indices=indices,
            weights=weights,
            delays=delays,
            zero_end=zero_end.astype(np.int64),
            poisson_total=total,
            poisson_prob=prob,
            poisson_alias=alias,
            poisson_src=np.concatenate(pois_src).astype(np.int32) if pois_src else np.zeros(0, np.int32),
            gen_times=gen_times,
            gen_src=gen_src,
            gen_start=gen_start,
            gen_end=gen_end,
            gen_ptr=gen_start.copy(),
            gen_rep=np.zeros(len(gen), np.int64),
            gen_period=np.array([g[2] for g in gen], np.float64),
            in_keys=in_keys,
            in_ids=np.arange(in_keys.size, dtype=np.int32),
            in_pos=np.zeros(in_keys.size, np.int32),
            **stdp,
        )

    def _stdp_arrays(self, indices, nnz, epoch):
        """The engine's plasticity arrays: rules, the rule of each synapse (engine order, -1: static), its
        traces, and the plastic synapses onto each neuron (CSC)."""
        if not self._stdp:
            return dict(
                stdp_rules=np.zeros(0, _engine.STDP_RULE_DTYPE),
                syn_rule=np.zeros(0, np.int8),
                traces=np.zeros(0, _engine.SYN_TRACE_DTYPE),
                post_ptr=np.zeros(0, np.int64),
                post_syn=np.zeros(0, np.int64),
            )
        pos, base = self._plastic_pos, self._plastic_base
        rules = np.zeros(len(self._stdp), _engine.STDP_RULE_DTYPE)
        syn_rule = np.full(nnz, -1, np.int8)
        traces = np.zeros(nnz, _engine.SYN_TRACE_DTYPE)
        for r, entry in enumerate(self._stdp):
            rules[r] = entry["rule"]
            p = pos[base[entry["part"]] + entry["synapses"]]
            syn_rule[p] = r
            traces["apre"][p], traces["apost"][p] = entry["apre"], entry["apost"]
            traces["t"][p] = entry["last_update"] - epoch
        plastic = np.flatnonzero(syn_rule >= 0)
        targets = indices[plastic]
        post_syn = plastic[np.argsort(targets, kind="stable")]
        post_ptr = np.concatenate([[0], np.cumsum(np.bincount(targets, minlength=self.n))]).astype(np.int64)
        return dict(stdp_rules=rules, syn_rule=syn_rule, traces=traces, post_ptr=post_ptr, post_syn=post_syn)

    def _stp_arrays(self, nnz, epoch):
        """The engine's short-term plasticity arrays: one rule per distinct parameter set, the rule of each
        synapse (engine order, -1: static) and its state."""
        if not self._stp:
            return dict(
                stp_rules=np.zeros(0, _engine.STP_RULE_DTYPE),
                syn_stp=np.zeros(0, np.int32),
                stp_state=np.zeros(0, _engine.STP_STATE_DTYPE),
            )
        pos, base = self._plastic_pos, self._plastic_base
        rows = np.zeros(sum(r["synapses"].size for r in self._stp), _engine.STP_RULE_DTYPE)
        at = np.concatenate([pos[base[r["part"]] + r["synapses"]] for r in self._stp])
        start = 0
        for r in self._stp:
            block = rows[start : start + r["synapses"].size]
            for name, values in r["params"].items():
                block[name] = values
            block["before"], block["after"] = r["codes"]
            start += r["synapses"].size
        rules, which = np.unique(rows, return_inverse=True)
        syn_stp = np.full(nnz, -1, np.int32)
        syn_stp[at] = which.reshape(-1)
        state = np.zeros(nnz, _engine.STP_STATE_DTYPE)
        for name, key in (("u", "u"), ("x", "x"), ("t", "last_update")):
            state[name][at] = np.concatenate([r[key] for r in self._stp])
        state["t"][at] -= epoch
        return dict(stp_rules=rules, syn_stp=syn_stp, stp_state=state)

    # ------------------------------------------------------------------ running
    def run(self, duration, report=None, report_period=10.0, record_tape=False):
        """Simulate for ``duration`` seconds from the current time.

        Events exactly at the end time are left to the next run, so that ``run(a); run(b)`` gives the
        result of ``run(a + b)``. Ctrl-C stops the run cleanly: what was simulated up to the last event is
        kept (``t`` is that event's time), and a later ``run`` continues from there.

        Parameters
        ----------
        duration : float or time Quantity
            Simulated time (s), >= 0 (``run(50 * pq.ms)`` simulates 0.05 s).
        report : None, 'text' or callable
            Progress: 'text' prints to stdout; a callable gets ``(t_now, t_start, t_end, elapsed)``.
        report_period : float or time Quantity
            Wall-clock seconds between progress reports.
        record_tape : bool
            Record the tape of the backward pass (`gradient`): one byte per spike, beside the spike record,
            telling whether the spike was caused by an input pulse, and the time and source of every
            external input event (12 bytes each), and a copy of the engine's state at t = 0 (``get_state``,
            about 30 bytes per neuron), from which ``gradient(..., memory_budget=...)`` re-runs the run to
            differentiate it in checkpointed segments. Off by default (the forward run is then unchanged). It
            must be on from the first run (t = 0) and in every run up to the gradient, with the spikes of
            all neurons recorded.
        """
        if not isinstance(record_tape, (bool, np.bool_)):
            raise TypeError(f"record_tape must be a bool, found {type(record_tape).__name__} {record_tape!r:.60}")
        if record_tape and (self._stdp or self._stp):
            raise NotImplementedError(
                "record_tape (gradients) is implemented for networks with fixed weights; this one has "
                f"{len(self._stdp) + len(self._stp)} plasticity rule(s) (add_stdp, add_stp)"
            )
        if record_tape and self._record_idx is not None:
            raise ValueError("record_tape needs the spikes of all neurons: call record_spikes() with no indices")
        if record_tape and self.t > 0 and self._tape is None:
            raise ValueError(
                f"record_tape must be on from the first run (t = 0), found a run without it before, t = {self.t} s"
            )
        if record_tape and self._tape is None:
            level = self._v_init
            if self._linear is not None:  # linear neurons: the threshold's combination c . x of the initial state
                x0 = self._linear["x0"].copy()
                x0[:, self._linear["model"].v] = self._v_init
                level = np.where(self._codes == MODELS.index("linear"), x0 @ self._linear["model"].c, level)
            above = np.flatnonzero((self._codes != MODELS.index("theta")) & (level >= self._thr))
            if above.size:
                raise NotImplementedError(
                    f"record_tape: neurons {above[:10].tolist()} start at or above threshold and fire at t = 0, "
                    "a spike the backward pass does not differentiate; start every neuron below threshold"
                )
        duration = _scalar("duration", si_value("duration", duration, "time"))
        report_period = _scalar("report_period", si_value("report_period", report_period, "time"))
        if not (np.isfinite(duration) and duration >= 0):
            raise ValueError(f"duration must be finite and >= 0, found: {duration}")
        if report is not None and report != "text" and not callable(report):
            raise ValueError(f"report must be None, 'text' or a callable, found: {report!r}")
        if self._engine is None:
            self._build_engine()
        eng = self._engine
        eng.set_tape(bool(record_tape))
        if record_tape and self._tape is None:
            self._tape, self._tape_inputs = [], []
            self._tape_state0 = self.get_state()  # a checkpointed gradient re-runs the run from here
        elif not record_tape:
            self._tape = None  # a stretch without a tape: no gradient across it
            self._tape_state0 = None
        t_start, t_stop = self.t, self.t + float(duration)
        # state samples of this run
        s0 = self._n_samples_done
        s1 = s0 + int(np.searchsorted(self._sample_times[s0:], t_stop, side="left"))
        out = np.full((s1 - s0, 0 if self._sample_idx is None else self._sample_idx.size), np.nan)
        out_extra = np.zeros(out.shape + (self._extra_width,))
        eng.set_samples(
            self._sample_times[s0:s1],
            self._sample_idx if self._sample_idx is not None else np.zeros(0, np.int32),
            out,
            out_extra,
        )
        if self._rate_bin is not None:
            first = int(np.floor(t_start / self._rate_bin))
            last = int(np.floor(t_stop / self._rate_bin))
            counts = np.zeros(last - first + 1, np.int64)
            eng.set_rate_counts(counts, self._rate_bin, first)
        wall0 = last_report = time.monotonic()
        if report == "text":
            print(f"Starting simulation at t={t_start} s for a duration of {duration} s")
        try:
            while eng.advance(t_stop, CHUNK_EVENTS) == _engine.STATUS_CODES["budget"]:
                now = time.monotonic()
                if report is not None and now - last_report >= report_period:
                    last_report = now
                    self._report(report, eng.epoch + eng.t, t_start, t_stop, now - wall0)
            self.t = t_stop
        finally:
            if self.t != t_stop:  # interrupted: keep the time of the last event
                self.t = eng.epoch + eng.t
            self._sync_stdp()
            tape = eng.take_tape()
            times, idx = eng.take_spikes()
            inputs = eng.take_input_tape()
            if record_tape:
                self._tape.append(tape)
                self._tape_inputs.append(inputs)
            if self._poisson_record and inputs[0].size:
                self._poisson_chunks.append(inputs)  # with the tape: all input events (filtered when read)
            if times.size:
                self._spike_chunks.append((times, idx))
            taken = eng.samples_taken
            if taken:
                self._sample_values.append(out[:taken])
                if self._extra_width:
                    self._sample_extra.append(out_extra[:taken])
            self._n_samples_done = s0 + taken
            if self._rate_bin is not None:
                self._add_rate_counts(counts, first)
        if eng.n_lin_stuck:
            raise RuntimeError(
                f"{eng.n_lin_stuck} spike(s) of linear neurons left the neuron at or above threshold after the reset "
                "with no refractory period (it would fire again at the same time, forever): the reset must take c . x "
                "below theta, or give a refractory period"
            )
        if report is not None:
            self._report(report, self.t, t_start, t_stop, time.monotonic() - wall0)

    @staticmethod
    def _report(report, t, t_start, t_stop, elapsed):
        if callable(report):
            report(t, t_start, t_stop, elapsed)
            return
        frac = (t - t_start) / (t_stop - t_start) if t_stop > t_start else 1.0
        remaining = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        print(
            f"{t - t_start:.4g} s ({100 * frac:.0f}%) simulated in {elapsed:.3g} s"
            + (f", estimated {remaining:.3g} s remaining." if frac < 1 else ""),
            file=sys.stdout,
        )

    def _add_rate_counts(self, counts, first):
        need = first + counts.size
        if self._rate_counts.size < need:
            self._rate_counts = np.concatenate([self._rate_counts, np.zeros(need - self._rate_counts.size, np.int64)])
        self._rate_counts[first:need] += counts

    # ------------------------------------------------------------------ results
    @property
    def time_quantum(self):
        """The time quantum (s) of which delays and refractory periods are whole numbers, None without one."""
        return self._quantum or None

    @property
    def spike_times(self):
        """Times (s) of the recorded spikes, in the order they happened."""
        self._merge_spikes()
        return self._spike_chunks[0][0] if self._spike_chunks else np.zeros(0)

    @property
    def spike_indices(self):
        """Neuron index of each recorded spike."""
        self._merge_spikes()
        return self._spike_chunks[0][1] if self._spike_chunks else np.zeros(0, np.int32)

    def _merge_spikes(self):
        if len(self._spike_chunks) > 1:
            self._spike_chunks = [
                (np.concatenate([c[0] for c in self._spike_chunks]), np.concatenate([c[1] for c in self._spike_chunks]))
            ]

    @property
    def state_times(self):
        """Times (s) at which states were recorded so far."""
        return self._sample_times[: self._n_samples_done].copy()

    @property
    def state_values(self):
        """Recorded states, shape (n_times, n_recorded_neurons)."""
        if len(self._sample_values) > 1:
            self._sample_values = [np.concatenate(self._sample_values)]
        if self._sample_values:
            return self._sample_values[0]
        return np.zeros((0, 0 if self._sample_idx is None else self._sample_idx.size))

    @property
    def state_extra(self):
        """The other variables recorded with ``record_states(..., extra=True)``, shape (n_times,
        n_recorded_neurons, k): ``(I_e, I_i)`` of ``'lif_exp'`` neurons, ``(g_e, g_i)`` of ``'coba'`` neurons,
        the state vector of ``'linear'`` neurons (columns in the order of the model's ``variables``); 0 in
        columns a neuron's model does not have."""
        if len(self._sample_extra) > 1:
            self._sample_extra = [np.concatenate(self._sample_extra)]
        if self._sample_extra:
            return self._sample_extra[0]
        return np.zeros(self.state_values.shape + (0,))

    @property
    def rate_bins(self):
        """Left edges (s) of the population-rate bins up to the current time."""
        if self._rate_bin is None:
            raise RuntimeError("call record_rate(bin_width) before the first run")
        return np.arange(self._n_rate_bins()) * self._rate_bin

    @property
    def rate(self):
        """Population rate (Hz per neuron) in each bin of ``rate_bins``."""
        m = self._n_rate_bins()
        return self._rate_counts[:m] / (self.n * self._rate_bin) if self._rate_bin else np.zeros(0)

    def _n_rate_bins(self):
        return int(np.ceil(self.t / self._rate_bin - 1e-12)) if self._rate_bin else 0

    @property
    def v(self):
        """The exact state of every neuron at the current time (theta for theta neurons); settable,
        as `set_v` for all neurons."""
        if self._engine is None:
            return self._v_init.copy()
        return self._engine.values(np.arange(self.n, dtype=np.int32), self.t)

    @v.setter
    def v(self, values):
        self.set_v(values)

    @property
    def currents(self):
        """The exact synaptic currents ``(I_e, I_i)`` of every neuron at the current time, shape (n, 2)
        (the conductances ``(g_e, g_i)`` of ``'coba'`` neurons; 0 for neurons of models without currents).

        Examples
        --------
        >>> from brian2_sparseprop import EventNetwork
        >>> net = EventNetwork(1, model="lif_exp", drive=0.0, tau_e=0.005, i_e_init=1.0)
        >>> net.run(0.005)
        >>> print(f"{net.currents[0, 0]:.12f} {np.exp(-1):.12f}")
        0.367879441171 0.367879441171
        """
        if self._engine is None or self._cur_init.shape[0] != self.n:
            return np.broadcast_to(self._cur_init, (self.n, 2)).copy()
        out = self._engine.currents(np.arange(self.n, dtype=np.int32), self.t)
        out[(self._codes != MODELS.index("lif_exp")) & (self._codes != MODELS.index("coba"))] = 0.0
        return out

    @property
    def linear_state(self):
        """The exact state vectors of the linear neurons at the current time, shape (n, d), columns in the
        order of the model's ``variables`` (rows of other neurons 0).

        Examples
        --------
        >>> from brian2_sparseprop import EventNetwork
        >>> from brian2_sparseprop.spiking.linear import LinearModel
        >>> net = EventNetwork(1, model="linear", linear=LinearModel.lif_alpha(0.01, 0.01), v_init=[0.0])
        >>> net.run(0.01)
        >>> net.linear_state.shape
        (1, 3)
        """
        L = self._linear
        if L is None:
            return np.zeros((self.n, 0))
        d = L["x0"].shape[1]
        lin = self._codes == MODELS.index("linear")
        if self._engine is None:
            out = L["x0"].copy()
            out[:, L["model"].v] = self._v_init
        else:
            out = self._engine.linear_states(np.arange(self.n, dtype=np.int32), self.t)[:, 1 : d + 1]
        out[~lin] = 0.0
        return out

    def set_v(self, values, indices=None):
        """Set the state of neurons at the current time, between runs (Brian2's ``G.v[i] = x``).

        Everything else carries on: spikes in flight, refractory periods, the Poisson streams. A neuron
        set at or above threshold fires at the current time when the next run starts; a refractory
        neuron (unless it integrates during refractoriness) holds the value until its refractory period
        ends. Before the first run this sets the initial state.

        Parameters
        ----------
        values : float or array_like, shape (len(indices),)
            New v (theta in [-pi, pi) for theta neurons).
        indices : array_like of int, optional
            The neurons, each at most once (default: all).

        Raises
        ------
        TypeError, ValueError
            For values that are not finite reals, theta outside [-pi, pi), or bad or repeated indices.

        Examples
        --------
        A neuron without drive, kicked up to 0.5, relaxes as 0.5 exp(-t/tau):

        >>> from brian2_sparseprop import EventNetwork
        >>> net = EventNetwork(1, tau=0.01, drive=0.0)
        >>> net.run(0.01)
        >>> net.set_v(0.5)
        >>> net.run(0.01)
        >>> print(f"{net.v[0]:.12f} {0.5 * np.exp(-1):.12f}")
        0.183939720586 0.183939720586
        """
        idx = np.arange(self.n, dtype=np.int32) if indices is None else self._check_indices(indices, "indices")
        if np.unique(idx).size != idx.size:
            raise ValueError("indices must not repeat")
        v = _real_array("values", si_value("values", values, "dimensionless"))
        if v.ndim > 1 or (v.ndim == 1 and v.shape != idx.shape):
            raise ValueError(f"values must be a scalar or have shape {idx.shape}, found shape {v.shape}")
        v = np.broadcast_to(v, idx.shape).copy()
        _check_values("values", v)
        theta = self._codes[idx] == MODELS.index("theta")
        bad = theta & ((v < -np.pi) | (v >= np.pi))
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(f"values of theta neurons must be in [-pi, pi), found {v[k]} for neuron {idx[k]}")
        if self._engine is None:
            v_init = self._v_init.copy()
            v_init[idx] = v
            thr = np.broadcast_to(self._thr, (self.n,))
            self._v_init = self._initial_state(v_init, self.n, thr, None, theta=self._codes == MODELS.index("theta"))
            self._config["v_init"] = self._v_init.copy()
            return
        v[theta] = _theta_to_v(v[theta])
        self._tape = None  # the tape's run no longer leads to this state
        self._tape_state0 = None
        self._engine.set_values(idx, v)

    def set_params(
        self,
        *,
        tau=None,
        drive=None,
        threshold=None,
        reset=None,
        refractory=None,
        weights=None,
        delays=None,
        last_spike=None,
        linear=None,
    ):
        """Change neuron parameters, weights or delays between runs; the simulation continues exactly.

        Everything that is not changed carries on as it stands at the current time: the state of every
        neuron, spikes in flight, refractory periods, the Poisson streams and the random state (Brian2's
        ``G.tau = x`` or ``S.w = x`` between two ``run()`` calls). Given as in the constructor (a scalar or
        one value per neuron or per synapse); a parameter left at None keeps its value.

        * A neuron at or above a new threshold fires at the current time when the next run starts.
        * A new reset or refractory period applies from the next spike on; a neuron refractory now keeps
          the value it holds. A new refractory period also moves the end of the current one to the last
          spike plus the new period (at once if that has passed): Brian2 tests ``t - lastspike <
          refractory`` at every step. The last spike of a neuron refractory now is its refractory end
          minus the old period; ``last_spike`` gives every neuron's last spike time instead (s, absolute,
          ``-inf`` if none), and then a neuron that is not refractory now becomes so again when the new
          period covers the current time since its last spike, as in Brian2.
        * Spikes in flight are delivered with the new weights (Brian2's synapses read ``w`` on arrival).
          New delays apply to spikes sent from now on; spikes in flight arrive with the delays they were
          sent with, as Brian2's spike queue delivers them (and with the weights current at arrival).
        * Linear neurons (``model='linear'``) take a new `~brian2_sparseprop.spiking.linear.LinearModel`
          (``linear``) with the variables and the reset variable v of the network's one: a new constant input
          b, matrix A, threshold (coefficients c and value theta), reset and input variables. Their state
          vector at the current time carries on and follows the new ``dx/dt = A x + b`` from then on (a
          piecewise-constant input: Brian2's ``TimedArray`` in a linear model); the new model's ``init`` is
          not used (before the first run the initial state stays as it is). A neuron whose ``c @ x`` is at
          or above the new theta fires at the current time when the next run starts, and one whose
          trajectory does not change (same A, b, c, reset, theta, not refractory) keeps its stored state
          as it is, so that a change elsewhere does not even change its rounding. ``tau``, ``drive``,
          ``threshold`` and ``reset`` apply to the neurons of the other models and are refused in a
          network of linear neurons only.

        Parameters
        ----------
        tau, refractory : float, array_like or time Quantity, shape (n,), optional
            Membrane time constant (s, > 0) and absolute refractory period (s, >= 0).
        drive, threshold, reset : float or array_like, shape (n,), optional
            As in the constructor (``reset < threshold`` unless refractory).
        weights : float or array_like, shape (nnz,), optional
            Kick per synapse, in the order of ``indices``.
        delays : float, array_like or time Quantity, shape (nnz,), optional
            Delay per synapse (s, >= 0).
        last_spike : array_like or time Quantity, shape (n,), optional
            Last spike time of each neuron (s), used with ``refractory`` only.
        linear : LinearModel, optional
            The new model of the linear neurons (same ``variables`` and ``v`` as the network's).

        Raises
        ------
        TypeError, ValueError
            For arguments the constructor would refuse (with its messages), ``last_spike`` without
            ``refractory`` or with a wrong shape, ``linear`` in a network without linear neurons or with
            other variables, or ``tau``, ``drive``, ``threshold`` or ``reset`` in a network of linear
            neurons only (their model is given by ``linear``).
        NotImplementedError
            In networks with 'lif_exp' or 'coba' neurons, whose currents are not carried over yet.

        Examples
        --------
        A neuron with drive 1.1 fires every 10 ms ln(11); at t = 50 ms the drive becomes 1.5: from its
        state then (v = 0.203) it fires after 10 ms ln((1.5 - v) / 0.5), then every 10 ms ln(3):

        >>> from brian2_sparseprop import EventNetwork
        >>> net = EventNetwork(1, tau=0.01, drive=1.1)
        >>> net.run(0.05)
        >>> net.set_params(drive=1.5)
        >>> net.run(0.05)
        >>> print(np.round(net.spike_times * 1000, 3))
        [23.979 47.958 59.531 70.517 81.503 92.489]

        A perfect integrator ``dv/dt = b`` from v = 0, threshold 1: with b = 50 /s it fires at 20 ms; at
        25 ms (v = 0.25) b becomes 100 /s, so it fires 7.5 ms later:

        >>> from brian2_sparseprop.spiking.linear import LinearModel
        >>> net = EventNetwork(1, model="linear", linear=LinearModel.pif(drive=50.0))
        >>> net.run(0.025)
        >>> net.set_params(linear=LinearModel.pif(drive=100.0))
        >>> net.run(0.02)
        >>> print(np.round(net.spike_times * 1000, 9))
        [20.  32.5 42.5]
        """
        self._refuse_currents("set_params")
        given = dict(tau=tau, drive=drive, threshold=threshold, reset=reset, refractory=refractory)
        given = {k: v for k, v in given.items() if v is not None}
        lin = self._codes == MODELS.index("linear")
        if lin.all() and set(given) - {"refractory"}:
            raise ValueError(
                f"{sorted(set(given) - {'refractory'})} of a network of 'linear' neurons is given by its linear "
                "model: give linear=LinearModel(...) with the new A, b, threshold and reset"
            )
        if linear is not None:
            self._check_same_linear_form(linear, lin)
            given["linear"] = linear
        if last_spike is not None:
            if refractory is None:
                raise ValueError("last_spike is used with a new refractory period only: give refractory too")
            last_spike = _real_array("last_spike", si_value("last_spike", last_spike, "time"))
            if last_spike.shape != (self.n,):
                raise ValueError(f"last_spike must have shape ({self.n},), found shape {last_spike.shape}")
            if np.isnan(last_spike).any() or (last_spike == np.inf).any():
                k = int(np.argmax(np.isnan(last_spike) | (last_spike == np.inf)))
                raise ValueError(f"last_spike must be finite or -inf, found {last_spike[k]} at index {k}")
        config = dict(self._config, **given)
        # the constructor's checks and conversions for the neuron parameters (without the connectivity)
        trial = EventNetwork(
            self.n,
            **{k: config[k] for k in ("model", "tau", "drive", "threshold", "reset", "refractory", "linear")},
            integrate_refractory=config["integrate_refractory"],
            v_init=self._v_init if self._engine is None else None,
            lif_shared_tau=self._lif_shared_tau,
        )
        nnz = self._indices.size
        new_weights = None
        if weights is not None:
            new_weights = _per_synapse("weights", si_value("weights", weights, "dimensionless"), nnz)
        new_delays = None
        old_all = None
        if delays is not None:
            new_delays = _per_synapse("delays", si_value("delays", delays, "time"), nnz, nonneg=True)
            old_all = self._all_delays()
        if self._quantum:  # before anything changes
            self._check_quanta(np.zeros(0) if new_delays is None else new_delays, trial._tref)
        old_tref = self._tref
        old_linear = (self._linear, self._thr)
        if linear is not None:  # the state carries on: the initial state (before the first run) stays
            self._linear = dict(trial._linear, x0=self._linear["x0"])
            if self._engine is None:
                given["linear"] = linear._with_init(self._linear["x0"])
        self._tau, self._drive, self._thr, self._reset, self._tref = (
            trial._tau,
            trial._drive,
            trial._thr,
            trial._reset,
            trial._tref,
        )
        # the constructor's arguments (a pickled network is built again from them): one value as a scalar
        if new_weights is not None:
            self._weights = new_weights
            given["weights"] = new_weights if new_weights.size == nnz else float(new_weights[0])
        if new_delays is not None:
            self._delays = new_delays
            given["delays"] = new_delays if new_delays.size == nnz else float(new_delays[0])
        self._config.update(given)
        if self._engine is None:
            self._v_init = trial._v_init
            return
        self._config["v_init"] = None  # a pickled network is rebuilt from its state, not from v_init
        self._rebuild(
            old_tref,
            last_spike,
            refractory is not None,
            old_delays=self._moved(old_all),
            old_linear=old_linear,
            same_synapses=weights is None and delays is None,
        )

    def _check_same_linear_form(self, linear, lin):
        """TypeError or ValueError unless ``linear`` is a LinearModel with the variables and v of the network's."""
        from .linear import LinearModel

        if not lin.any():
            raise ValueError("linear is for networks with 'linear' neurons; this one has none")
        if not isinstance(linear, LinearModel):
            raise TypeError(f"linear must be a LinearModel, found {type(linear).__name__}")
        old = self._linear["model"]
        if linear.variables != old.variables or linear.v != old.v:
            raise ValueError(
                f"linear must have the variables {old.variables} and v {old.variables[old.v]!r} of the network's "
                f"model, found {linear.variables} and v {linear.variables[linear.v]!r} (build a new network for "
                "another state vector)"
            )

    def set_poisson(self, k, rates=None, weights=None, delays=None):
        """Change the rates, weights or delays of the k-th Poisson input between runs (``add_poisson_input``
        and ``add_poisson_sources`` calls, counted together in the order made); everything else carries on.

        A Poisson process has no memory: the time still to wait for the next input event, drawn with
        the old summed rate, is rescaled by old / new summed rate, which is that wait drawn with the new
        rate, so the random stream carries on without a new draw (a first draw if the old rates were all
        zero). Events drawn from then on pick their source by the new rates.

        Parameters
        ----------
        k : int
            Which Poisson input.
        rates : float, array_like or frequency Quantity, shape (m,), optional
            New rate of each of its m processes (Hz), >= 0.
        weights : float or array_like, shape (nnz,), optional
            New kick of each of its synapses.
        delays : float, array_like or time Quantity, shape (nnz,), optional
            New delay of each of its synapses (s): events in flight arrive with the delays they were sent
            with, as in `set_params`.

        Examples
        --------
        >>> from brian2_sparseprop import EventNetwork
        >>> net = EventNetwork(100, drive=0.0, seed=1)
        >>> net.add_poisson_input(rate=2000.0, weight=0.05)
        >>> net.run(0.5)
        >>> net.set_poisson(0, rates=0.0)
        >>> net.run(0.5)
        >>> bool(net.spike_times.max() < 0.5)
        True
        """
        self._refuse_currents("set_poisson")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"k must be an integer, found {type(k).__name__}")
        if not 0 <= k < len(self._poisson):
            raise ValueError(f"k must be in [0, {len(self._poisson)}) (the Poisson inputs added), found: {k}")
        old_rates, ip, ix, w, d = self._poisson[k]
        if rates is not None:
            rates = _real_array("rates", si_value("rates", rates, "frequency"))
            if rates.ndim == 0:
                rates = np.full(old_rates.size, float(rates))
            if rates.shape != old_rates.shape:
                raise ValueError(f"rates must be a scalar or have shape {old_rates.shape}, found shape {rates.shape}")
            _check_values("rates", rates, nonneg=True)
        if weights is not None:
            weights = _per_synapse("weights", si_value("weights", weights, "dimensionless"), ix.size)
        if delays is not None:
            delays = _per_synapse("delays", si_value("delays", delays, "time"), ix.size, nonneg=True)
        if self._quantum and delays is not None:  # before anything changes
            self._check_quanta(delays, np.zeros(0))
        old_all = None if delays is None else self._all_delays()
        self._poisson[k] = (
            old_rates if rates is None else rates,
            ip,
            ix,
            w if weights is None else weights,
            d if delays is None else delays,
        )
        if self._engine is not None:
            same = weights is None and delays is None
            self._rebuild(self._tref, None, False, old_delays=self._moved(old_all), same_synapses=same)

    def set_spike_generator(self, k, times, sources, period=None, weights=None, delays=None):
        """Replace the spikes of the k-th spike generator between runs; everything else carries on.

        Spikes before the current time are skipped (as Brian2's SpikeGeneratorGroup ignores them);
        spikes at the current time or later are delivered. A periodic pattern continues in the cycle of
        the current time.

        Parameters
        ----------
        k : int
            Which generator (in the order of ``add_spike_generator`` calls).
        times, sources, period
            As in `add_spike_generator` (times in s, absolute within the period; period None keeps it).
        weights : float or array_like, shape (nnz,), optional
            New kick of each of its synapses (None keeps them).
        delays : float, array_like or time Quantity, shape (nnz,), optional
            New delay of each of its synapses (s; None keeps them): spikes in flight arrive with the delays
            they were sent with, as in `set_params`.

        Examples
        --------
        >>> from brian2_sparseprop import EventNetwork
        >>> net = EventNetwork(1, drive=0.0)
        >>> net.add_spike_generator([0.001], [0], 1, [0, 1], [0], weights=0.6)
        >>> net.run(0.01)
        >>> net.set_spike_generator(0, [0.012, 0.013], [0, 0])
        >>> net.run(0.01)
        >>> net.spike_times
        array([0.013])
        """
        self._refuse_currents("set_spike_generator")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"k must be an integer, found {type(k).__name__}")
        if not 0 <= k < len(self._generators):
            raise ValueError(f"k must be in [0, {len(self._generators)}) (the spike generators added), found: {k}")
        old = self._generators[k]
        n_src, ip, ix, w, d = old[2:7]
        period = old[7] if period is None else period
        w = w if weights is None else weights
        d = d if delays is None else delays
        # the checks of add_spike_generator, on a network with the same sources and synapses
        probe = EventNetwork.__new__(EventNetwork)
        probe.n, probe._generators, probe._engine = self.n, [], None
        probe.add_spike_generator(times, sources, n_src, ip, ix, w, d, period)
        if self._quantum and delays is not None:  # before anything changes
            self._check_quanta(probe._generators[0][6], np.zeros(0))
        old_all = None if delays is None else self._all_delays()
        self._generators[k] = probe._generators[0]
        if self._engine is not None:
            same = weights is None and delays is None
            self._rebuild(
                self._tref, None, False, changed_generators={k}, old_delays=self._moved(old_all), same_synapses=same
            )

    def _check_quanta(self, delays, refractory):
        """ValueError unless every delay and refractory period is a whole number of time quanta, to 16 rounding
        steps (a decimal 0.7 ms is 7 quanta of 0.1 ms; 0.7 ms + 1e-18 s is not)."""
        for name, values in (("delays", delays), ("refractory", refractory)):
            steps = np.asarray(values) / self._quantum
            off = _off_quanta(values, self._quantum)
            if off.any():
                k = int(np.argmax(off.ravel()))
                value, quanta = float(np.ravel(values)[k]), float(steps.ravel()[k])
                raise ValueError(
                    f"with time_quantum = {self._quantum!r} s every delay and refractory period must be a whole "
                    f"number of quanta; found {name} {value!r} s = {quanta!r} quanta"
                )

    def _all_delays(self):
        """The delay of every synapse (the network's, then each Poisson input's, then each generator's, as
        the engine's combined CSR orders them), one array."""
        parts = [self._delays] + [p[4] for p in self._poisson] + [g[6] for g in self._generators]
        sizes = [self._indices.size] + [p[2].size for p in self._poisson] + [g[4].size for g in self._generators]
        return np.concatenate([np.broadcast_to(p, (m,)) for p, m in zip(parts, sizes)])

    def _moved(self, old_all):
        """``old_all`` (the delays before a change, `_all_delays`; None where no delays were given) if the
        delays changed, else None."""
        return None if old_all is None or np.array_equal(old_all, self._all_delays()) else old_all

    def _refuse_currents(self, what):
        """NotImplementedError for networks with 'lif_exp' or 'coba' neurons, whose currents ``_rebuild`` does
        not carry over yet."""
        if (self._codes == MODELS.index("coba")).any():
            raise NotImplementedError(
                f"{what} is implemented for networks of 'lif', 'qif', 'theta' and 'linear' neurons; this one has "
                "'coba' neurons, whose synaptic conductances are not carried over yet: build a new network"
            )
        if (self._codes == MODELS.index("lif_exp")).any():
            raise NotImplementedError(
                f"{what} is implemented for networks of 'lif', 'qif', 'theta' and 'linear' neurons; this one has "
                "'lif_exp' "
                "neurons, whose synaptic currents are not carried over yet: build a new network"
            )

    def _rebuild(
        self,
        old_tref,
        last_spike,
        refractory_changed,
        changed_generators=(),
        old_delays=None,
        old_linear=None,
        same_synapses=False,
    ):
        """Build the engine again from the new parameters and carry the running one's state over.

        Kept: every neuron's state at the current time (in the engine's coordinate; the state vectors of
        linear neurons, whose stored state and time stay as they are where ``old_linear``, the linear model's
        arrays and the thresholds before the change, says that their trajectory is unchanged), refractory periods
        (see `set_params`), the delayed spikes in flight (with their old delays, addressed anew by
        `_redirect_in_flight` if ``old_delays``, every synapse's delay before the change as `_all_delays`
        gives them, is given), the next Poisson event (rescaled when the summed rate changed), the position of every
        unchanged spike generator, the random state, the clock and the counters."""
        old, old_spec = self._engine, self._spec
        n = self.n
        F, K = _engine.FLAG_CODES, _engine.KIND_CODES
        v = old.stored_values(np.arange(n, dtype=np.int32))
        epoch, t = old.epoch, old.t
        clock = (epoch, t, old.seq_counter, old.n_events, old.n_spikes, old.epoch_k)
        refractory = (old_spec["neurons"]["flags"] & F["refractory"]) != 0
        ref_end = np.broadcast_to(old_spec["ref_end"], (n,))
        ref_k, ref_o = np.broadcast_to(old_spec["ref_k"], (n,)), np.broadcast_to(old_spec["ref_o"], (n,))
        queue = old.delay_queue()
        if old_delays is not None and queue["t_arr"].size:
            queue = _redirect_in_flight(
                queue, old_spec["indptr"], old_spec["delays"], old_delays, self._all_delays(), self._quantum
            )
        in_keys = np.empty(old_spec["in_keys"].size)
        in_keys[old_spec["in_ids"]] = old_spec["in_keys"]
        old_total = old_spec["poisson_total"]
        old_next = in_keys[0] if old_total > 0 else np.inf
        gen_keys = in_keys[1 if old_total > 0 else 0 :]
        gen_offset = old_spec["gen_ptr"] - old_spec["gen_start"]
        gen_rep = old_spec["gen_rep"].copy()
        lin = self._codes == MODELS.index("linear")
        if lin.any():  # the state vectors at the current time, under the old model
            lin_idx = np.flatnonzero(lin).astype(np.int32)
            lin_now = old.linear_states(lin_idx)
        rng_state = self._bitgen.state
        self._engine = None
        # (new delays and refractory periods were checked against the time quantum by the setters); the
        # synapses of unchanged weights and delays are taken as the old engine holds them (in its order)
        synapses = {k: old_spec[k] for k in _SYNAPSE_KEYS} if same_synapses and not (self._stdp or self._stp) else None
        self._build_engine(initialize=False, epoch=epoch, check_quanta=False, synapses=synapses)
        self._bitgen.state = rng_state  # building draws a first Poisson wait: undone
        eng, spec = self._engine, self._spec
        eng.set_clock(*clock)
        eng.set_class_origins([t] * eng.n_classes)  # E(t) = 1: u = drive - v
        # refractoriness
        tref = np.broadcast_to(self._tref, (n,))
        q = self._quantum
        if last_spike is not None:
            ends = (last_spike - epoch) + tref
            if q:  # the pair of each last spike, then whole quanta on
                ref_k = np.rint((last_spike - epoch) / q)
                ref_o = (last_spike - epoch) - ref_k * q
                ref_k = ref_k.astype(np.int64) + np.rint(tref / q).astype(np.int64)
                ends = ref_k * q + ref_o
            refractory = ends > t
        elif refractory_changed:
            ends = (ref_end - np.broadcast_to(old_tref, (n,))) + tref
            if q:
                ref_k = ref_k + (np.rint(tref / q) - np.rint(np.broadcast_to(old_tref, (n,)) / q)).astype(np.int64)
                ends = ref_k * q + ref_o
            refractory &= ends > t
        else:
            ends = ref_end
        neurons = spec["neurons"]
        kinds = (neurons["flags"] >> F["kind_shift"]) & ((1 << (F["class_shift"] - F["kind_shift"])) - 1)
        held = refractory & ~np.broadcast_to(self._integ, (n,))
        u_form = (kinds == K["lif_shared"]) & ~held
        neurons["x"] = np.where(u_form, np.broadcast_to(self._drive, (n,)) - v, v)
        neurons["flags"] |= np.where(refractory, F["refractory"], 0).astype(neurons["flags"].dtype)
        if spec["t_last"].size == n:
            spec["t_last"][:] = t
        if spec["ref_end"].size == n:
            spec["ref_end"][:] = np.where(refractory, ends, -np.inf)
        if spec["ref_k"].size == n:
            spec["ref_k"][:], spec["ref_o"][:] = np.where(refractory, ref_k, 0), np.where(refractory, ref_o, 0.0)
        if lin.any():
            self._carry_linear(spec, old_spec, lin_idx, lin_now, refractory, old_linear)
        eng._set_delay_queue(queue)
        # external inputs, keyed by id: the Poisson superposition first, then the generators
        total = spec["poisson_total"]
        keys = []
        if total > 0:
            if total == old_total:
                keys.append(old_next)
            elif old_total > 0:
                keys.append(t + (old_next - t) * (old_total / total))
            else:
                keys.append(t + np.random.Generator(self._bitgen).standard_exponential() / total)
        for g, (times, _, _, _, _, _, _, period, _) in enumerate(self._generators):
            start = spec["gen_start"][g]
            if g < gen_offset.size and g not in changed_generators:
                spec["gen_ptr"][g], spec["gen_rep"][g] = start + gen_offset[g], gen_rep[g]
                keys.append(gen_keys[g])
                continue
            t_abs = epoch + t
            rep = int(np.floor(t_abs / period)) if period > 0 else 0
            first = int(np.searchsorted(times, t_abs - rep * period, side="left"))
            if period > 0 and first == times.size and times.size:
                rep, first = rep + 1, 0
            spec["gen_ptr"][g], spec["gen_rep"][g] = start + first, rep
            keys.append(times[first] + rep * period - epoch if first < times.size else np.inf)
        if keys:
            spec["in_keys"][:] = keys
            spec["in_ids"][:] = np.arange(len(keys))
        self._tape = None
        self._tape_state0 = None
        eng.initialize_heaps()

    def _carry_linear(self, spec, old_spec, lin_idx, lin_now, refractory, old_linear):
        """The state vectors of the linear neurons into the rebuilt engine's ``spec``: ``lin_now`` (their
        augmented states at the current time, in the order of ``lin_idx``), except for the neurons whose
        trajectory and threshold are unchanged and that are not refractory (now or after the change): they keep
        their stored state at their last event (``t_last``), as if nothing had been rebuilt."""
        spec["lin"][lin_idx] = lin_now
        spec["neurons"]["x"][lin_idx] = lin_now[np.arange(lin_idx.size), 1 + self._linear["model"].v]
        old_L, old_thr = old_linear if old_linear is not None else (self._linear, self._thr)
        new_L = self._linear
        old_sys = old_L["sys"].view(np.uint8).reshape(old_L["sys"].size, -1)[old_L["cls"][lin_idx]]
        new_sys = new_L["sys"].view(np.uint8).reshape(new_L["sys"].size, -1)[new_L["cls"][lin_idx]]
        F = _engine.FLAG_CODES
        was_refractory = (old_spec["neurons"]["flags"][lin_idx] & F["refractory"]) != 0
        keep = (
            (old_sys == new_sys).all(axis=1)
            & (np.broadcast_to(old_thr, (self.n,))[lin_idx] == np.broadcast_to(self._thr, (self.n,))[lin_idx])
            & ~was_refractory
            & ~refractory[lin_idx]
        )
        kept = lin_idx[keep]
        spec["lin"][kept] = old_spec["lin"][kept]
        spec["neurons"]["x"][kept] = old_spec["neurons"]["x"][kept]
        spec["t_last"][kept] = old_spec["t_last"][kept]

    def gradient(
        self, dL_dspike_times=None, dL_dv=None, *, dL_dstates=None, loss=None, pseudospikes=None, memory_budget=None
    ):
        """Exact gradient of a loss through the run recorded with ``run(..., record_tape=True)``.

        The loss is given by its derivatives (``dL_dspike_times``, ``dL_dv``, ``dL_dstates`` by the
        readouts of `record_states`) or as a callable that JAX differentiates (``loss``); ``pseudospikes``
        (a drive, 'qif' and 'theta' networks) adds the silent neurons' pseudospikes to the loss's spikes;
        ``memory_budget`` (bytes) differentiates the run in checkpointed segments within that memory. See
        `brian2_sparseprop.spiking.gradients.lif_gradient` (this method calls it) for the parameters, the
        result and the model's limits.
        """
        from .gradients import lif_gradient

        return lif_gradient(
            self,
            dL_dspike_times,
            dL_dv,
            dL_dstates=dL_dstates,
            loss=loss,
            pseudospikes=pseudospikes,
            memory_budget=memory_budget,
        )

    @property
    def n_spikes(self):
        """Number of spikes of all neurons so far (recorded or not)."""
        return 0 if self._engine is None else self._engine.n_spikes

    # ------------------------------------------------------------------ state
    _MUTABLE = (
        "neurons",
        "t_last",
        "ref_end",
        "ref_k",
        "ref_o",
        "cur",
        "lin",
        "heap_keys",
        "heap_ids",
        "in_keys",
        "in_ids",
        "in_pos",
        "gen_ptr",
        "gen_rep",
    )
    _MUTABLE_STDP = ("weights", "traces", "stp_state")  # with plasticity

    def get_state(self):
        """A copy of the full dynamical state: neurons, queues, pending delayed spikes, random state.

        The recorded results are not part of it. ``set_state`` puts it back; together they give
        Brian2-like store/restore.
        """
        if self._engine is None:
            self._build_engine()
        eng = self._engine
        state = {k: self._spec[k].copy() for k in self._MUTABLE + self._MUTABLE_STDP * bool(self._stdp or self._stp)}
        state["delay_queue"] = eng.delay_queue()
        state["class_origins"] = eng.class_origins()
        state["clock"] = (eng.epoch, eng.t, eng.seq_counter, eng.n_events, eng.n_spikes, eng.epoch_k)
        state["t"] = self.t
        state["rng"] = self._bitgen.state
        state["n_samples_done"] = self._n_samples_done
        return state

    def set_state(self, state):
        """Restore a state obtained from ``get_state`` of this network (or one built identically)."""
        if self._engine is None:
            self._build_engine()
        keys = self._MUTABLE + self._MUTABLE_STDP * bool(self._stdp or self._stp)
        for k in keys:
            if k not in state or state[k].shape != self._spec[k].shape:
                found = state[k].shape if k in state else "none"
                raise ValueError(
                    f"state does not fit this network: {k} has shape {found}, expected {self._spec[k].shape}"
                )
        for k in keys:
            np.copyto(self._spec[k], state[k])
        self._tape = None
        self._tape_state0 = None
        eng = self._engine
        eng._set_delay_queue(state["delay_queue"])
        eng.set_class_origins(state["class_origins"])
        eng.set_clock(*state["clock"])
        self._bitgen.state = state["rng"]
        self.t = state["t"]
        self._n_samples_done = min(state["n_samples_done"], self._sample_times.size)
        self._sync_stdp()

    def __getstate__(self):
        return {
            "config": self._config,
            "poisson": self._poisson,
            "generators": self._generators,
            "stdp": self._stdp,
            "stp": self._stp,
            "record_idx": self._record_idx,
            "rate_bin": self._rate_bin,
            "rate_counts": self._rate_counts,
            "sample_idx": self._sample_idx,
            "sample_times": self._sample_times,
            "sample_values": self.state_values if self._sample_values else None,
            "sample_extra": (self._extra_width, self.state_extra if self._sample_extra else None),
            "spikes": (self.spike_times, self.spike_indices),
            "poisson_record": sorted(self._poisson_record),
            "poisson_events": self._poisson_chunks,
            "state": self.get_state() if self._engine is not None else None,
        }

    def __setstate__(self, d):
        self.__init__(**d["config"])
        self._poisson, self._generators, self._stdp = d["poisson"], d["generators"], d.get("stdp", [])
        self._stp = d.get("stp", [])
        self._record_idx, self._rate_bin, self._rate_counts = d["record_idx"], d["rate_bin"], d["rate_counts"]
        self._sample_idx, self._sample_times = d["sample_idx"], d["sample_times"]
        if d["sample_values"] is not None:
            self._sample_values = [d["sample_values"]]
        self._extra_width, extra = d.get("sample_extra", (0, None))
        if extra is not None:
            self._sample_extra = [extra]
        if d["spikes"][0].size:
            self._spike_chunks = [d["spikes"]]
        self._poisson_record = set(d.get("poisson_record", ()))  # before set_state builds the engine
        self._poisson_chunks = list(d.get("poisson_events", []))
        if d["state"] is not None:
            self.set_state(d["state"])
