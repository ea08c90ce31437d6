"""The exact maximum over time of readout neurons' states (issue 11, item 1(b)).

Between two pulses a neuron of the models 'lif' and 'lif_exp' follows a sum of exponentials,
v(t) = I + C_m e^{-s/tau} + C_s e^{-s/tau_s} (s the time since the interval's start; C_s = 0 for 'lif'),
so its maximum over a run is taken at an interval's ends or where dv/dt = 0 inside one:

* 'lif' (delta pulses, ``v += w``): v moves monotonically toward the drive I between pulses, so the
  maximum is at t = 0, right after a pulse (the pulse's right limit), right before one (its left limit) or
  at the end T of the run: no interior maximum.
* 'lif_exp' (a pulse adds w to a current I_s, which decays with tau_s; tau dv/dt = I - v + I_s): v is
  continuous; with C_s = k I_s, k = tau_s / (tau_s - tau), and C_m = v - I - C_s at the interval's start,
  dv/ds = -(C_m / tau) e^{-s/tau} - (C_s / tau_s) e^{-s/tau_s} has at most one zero, at
  s* = ln(-(C_m tau_s) / (C_s tau)) / (1/tau - 1/tau_s) when the logarithm's argument is > 0; there
  d2v/ds2 = (C_s / tau_s) e^{-s*/tau_s} (1/tau_s - 1/tau) = -(I_s / tau) e^{-s*/tau_s}, so it is a maximum
  exactly when the current I_s (at the interval's start) is > 0. So each interval holds at most one
  interior maximum, in closed form.
* 'lif_exp' with both currents in use and tau_e != tau_i (excitatory pulses into I_e, inhibitory ones into
  I_i): v(s) = I + C_m e^{-s/tau} + C_e e^{-s/tau_e} + C_i e^{-s/tau_i}, and dv/ds, a sum of three
  exponentials, has at most two zeros, so at most one interior maximum per interval (v may dip, then
  rise to it). They are isolated without a chance of a miss (`_interior_maxima_two_currents`: dv/ds times
  the exponential of the slowest rate has a derivative with at most one zero, in closed form, which splits
  the interval into two pieces where it is monotone) and found by bisection to the last bit.

A current time constant equal to the membrane's (an alpha-shaped response) is refused.

The states at the pulses come from decaying sums over the pulses (one cumulative sum per neuron,
rescaled every 200 time constants to stay in range): no Python loop over spikes or neurons.

Gradient of a loss of the maxima (`maximum_gradient`): a readout that does not fire is a sum of kernels
of its arrivals, v(t*) = I + (v0 - I) e^{-t*/tau} + sum_j w_j K(t* - t_j) (K(s) = e^{-s/tau} for 'lif',
k (e^{-s/tau_s} - e^{-s/tau}) for 'lif_exp', whose initial current is a pulse at 0), so its maximum's
derivatives by its own parameters, by the weights and by the arrival times t_j are closed forms. The
argmax t* moves too: at an interior maximum dv/dt = 0 (no first-order change), at T or 0 it stays, and at
a pulse ('lif': right before or after it; 'lif_exp': a kink where an inhibitory pulse ends a rise) it moves
with that pulse's arrival, adding dv/dt(t*-) to the derivative by its arrival time. An arrival time is its
source's spike time plus the synapse's delay (or an input event's time plus the delay): the derivatives
by the source spikes enter the network's backward pass as derivatives by spike times.
"""

from dataclasses import dataclass, fields

import numpy as np

__all__ = ["StateMaximum", "maximum_gradient", "state_maximum"]

#: the kinds of a maximum (`StateMaximum.kind`)
KINDS = ("start", "after pulse", "before pulse", "interior", "end")


@dataclass(frozen=True)
class StateMaximum:
    """The maximum over a run of the states of readout neurons.

    Attributes
    ----------
    values : numpy.ndarray, shape (m,)
        max over t in [0, T] of v(t) of each neuron (the right and left limits at a pulse both count).
    times : numpy.ndarray, shape (m,)
        The time (s) of each maximum (the earliest, if several).
    kind : numpy.ndarray of str, shape (m,)
        Where it is: 'start' (t = 0), 'after pulse' (a pulse's right limit), 'before pulse' (a pulse's left
        limit, or for 'lif_exp' the kink at a pulse), 'interior' (dv/dt = 0 between pulses) or 'end' (T).
    """

    values: np.ndarray
    times: np.ndarray
    kind: np.ndarray


def _decaying_sums(seg, z, x):
    """y_k = sum over j <= k of the same segment of x_j exp(-(z_k - z_j)), for elements sorted by segment and,
    within one, by the scaled time z (rescaled every 200 units so that no exponential overflows)."""
    y = np.zeros_like(x)
    n_seg = int(seg.max()) + 1 if seg.size else 0
    carry, carry_z = np.zeros(n_seg), np.zeros(n_seg)
    block = np.floor(z / 200.0).astype(np.int64)
    for b in np.unique(block):  # (a few blocks: one per 200 time constants of the run)
        k = np.flatnonzero(block == b)
        s, zk = seg[k], z[k]
        a = x[k] * np.exp(zk - 200.0 * b)
        # a cumulative sum within each segment (a row of a padded array: no segment's sum enters another's)
        starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
        lengths = np.diff(np.r_[starts, s.size])
        row = np.repeat(np.arange(starts.size), lengths)
        col = np.arange(s.size) - np.repeat(starts, lengths)
        pad = np.zeros((starts.size, int(lengths.max())))
        pad[row, col] = a
        cs = np.cumsum(pad, axis=1)[row, col]
        y[k] = np.exp(-(zk - 200.0 * b)) * cs + carry[s] * np.exp(-(zk - carry_z[s]))
        last = np.r_[s[1:] != s[:-1], True]
        carry[s[last]], carry_z[s[last]] = y[k[last]], zk[last]
    return y


def _arrivals(net, readout):
    """The pulses into the readout neurons before T: position in ``readout``, time, weight, the synapse (in
    the engine's connectivity) and the event that sent it (a spike's record position, or the number of
    spikes plus the input event's position on the tape)."""
    spec = net._spec
    times, neuron = net.spike_times, net.spike_indices
    in_t = [c[0] for c in net._tape_inputs]
    in_s = [c[1] for c in net._tape_inputs]
    ev_t = np.concatenate([times, *in_t]) if in_t else times
    ev_row = np.concatenate([neuron, *in_s]).astype(np.int64) if in_s else neuron.astype(np.int64)
    indptr = np.asarray(spec["indptr"], np.int64)
    counts = indptr[ev_row + 1] - indptr[ev_row]
    ev = np.repeat(np.arange(ev_t.size), counts)
    syn = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + indptr[ev_row][ev]
    w = np.broadcast_to(spec["weights"], (max(indptr[-1], 1),))[syn]
    d = np.broadcast_to(spec["delays"], (max(indptr[-1], 1),))[syn]
    where = np.full(net.n, -1, np.int64)
    where[readout] = np.arange(readout.size)
    pos = where[spec["indices"][syn]]
    t_arr = ev_t[ev] + d
    keep = (pos >= 0) & (t_arr < float(net.t))
    return pos[keep], t_arr[keep], np.asarray(w[keep], dtype=float), syn[keep], ev[keep]


def state_maximum(net, neurons):
    """The exact maximum over the run [0, T] of the state v of readout neurons, and its time.

    Parameters
    ----------
    net : EventNetwork
        A network of 'lif' or 'lif_exp' neurons after a run from t = 0 recorded with ``record_tape=True``
        (the pulses' times come from its spikes and input events).
    neurons : array_like of int, shape (m,)
        The readout neurons: they must not fire in the run (the maximum of a neuron that fires is its
        threshold). For 'lif_exp' the time constants of the currents in use must differ from its
        membrane's tau.

    Returns
    -------
    StateMaximum
        ``values``, ``times`` (s) and ``kind`` of each neuron's maximum, in the order of ``neurons``.

    Raises
    ------
    TypeError
        If ``net`` is not an `EventNetwork`.
    ValueError
        If the run has no tape, ``neurons`` are not valid indices, or one of them fired in the run.
    NotImplementedError
        For other models, or 'lif_exp' neurons with a current in use whose time constant is tau.

    Examples
    --------
    A 'lif_exp' readout without drive takes one pulse at 2 ms into its current (tau_s = tau / 2): v rises
    and falls back, w (e^{-s/tau} - e^{-s/tau_s}) k, k = tau_s / (tau - tau_s), its peak at s* = tau ln 2
    after the pulse, of value w / 4 (w = 1: tau = 10 ms, tau_s = 5 ms):

    >>> import numpy as np
    >>> from brian2_sparseprop import EventNetwork
    >>> from brian2_sparseprop.spiking.readouts import state_maximum
    >>> net = EventNetwork(1, model="lif_exp", drive=0.0, tau=0.01, tau_e=0.005, threshold=np.inf)
    >>> net.add_spike_generator([0.002], [0], 1, [0, 1], [0], weights=1.0)
    >>> net.run(0.05, record_tape=True)
    >>> m = state_maximum(net, [0])
    >>> bool(np.isclose(m.values[0], 0.25)), bool(np.isclose(m.times[0], 0.002 + 0.01 * np.log(2))), str(m.kind[0])
    (True, True, 'interior')

    The gradient of the maximum by the pulse's weight (`maximum_gradient`):

    >>> g = maximum_gradient(net, [0], [1.0])
    >>> bool(np.isclose(g.generator_weights[0], 0.25))  # the peak is w / 4
    True
    """
    from .network import MODELS, EventNetwork

    if not isinstance(net, EventNetwork):
        raise TypeError(f"net must be an EventNetwork, found {type(net).__name__}")
    if net._engine is None or net._tape is None:
        raise ValueError(
            "state_maximum needs the run's tape: run the network with run(..., record_tape=True) from t = 0"
        )
    idx = np.asarray(neurons)
    if idx.ndim != 1 or (idx.size and (idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= net.n)):
        raise ValueError(f"neurons must be a 1-d array of indices in [0, {net.n}), found {neurons!r:.80}")
    idx = idx.astype(np.int64)
    codes = net._codes[idx]
    lif, lif_exp = MODELS.index("lif"), MODELS.index("lif_exp")
    bad = (codes != lif) & (codes != lif_exp)
    if bad.any():
        k = int(np.argmax(bad))
        raise NotImplementedError(
            f"state_maximum is implemented for 'lif' and 'lif_exp' neurons, found neuron {idx[k]} of model "
            f"{MODELS[codes[k]]!r}"
        )
    fired = np.isin(idx, net.spike_indices)
    if fired.any():
        k = int(np.argmax(fired))
        raise ValueError(
            f"neuron {idx[k]} fired in the run: the maximum of a neuron that fires is its threshold; state_maximum "
            "is for readout neurons that do not fire"
        )
    n, m, T = net.n, idx.size, float(net.t)
    tau = np.broadcast_to(net._tau, (n,))[idx].astype(float)
    drive = np.broadcast_to(net._drive, (n,))[idx].astype(float)
    is_exp = codes == lif_exp
    pos, t_arr, w, _syn, _ev = _arrivals(net, idx)
    # 'lif_exp': the currents' time constants (excitatory pulses, w > 0, go into I_e, the others into I_i),
    # which ones are in use, and k = tau_c / (tau_c - tau) of each
    cur0 = np.zeros((m, 2))
    te, ti = np.ones(m), np.ones(m)
    has_e, has_i = np.zeros(m, bool), np.zeros(m, bool)
    if is_exp.any():
        cur0 = np.broadcast_to(net._cur_init, (n, 2))[idx].astype(float)
        te = np.where(is_exp, np.broadcast_to(net._tau_e, (n,))[idx], 1.0).astype(float)
        ti = np.where(is_exp, np.broadcast_to(net._tau_i, (n,))[idx], 1.0).astype(float)
        has_e = is_exp & ((np.bincount(pos, weights=(w > 0).astype(float), minlength=m) > 0) | (cur0[:, 0] != 0))
        has_i = is_exp & ((np.bincount(pos, weights=(w < 0).astype(float), minlength=m) > 0) | (cur0[:, 1] != 0))
        same = (has_e & (te == tau)) | (has_i & (ti == tau))
        if same.any():
            k = int(np.argmax(same))
            raise NotImplementedError(
                f"neuron {idx[k]} has a current time constant equal to tau = {tau[k]} (an alpha-shaped response): "
                "not implemented"
            )
    k_e = np.where(has_e, te / np.where(has_e, te - tau, 1.0), 0.0)
    k_i = np.where(has_i, ti / np.where(has_i, ti - tau, 1.0), 0.0)
    v0 = np.asarray(net._v_init, dtype=float)[idx]
    # the elements: each neuron's start (t = 0), then its pulses (same instants summed, by sign), by neuron
    # and time
    e_pos = np.concatenate([np.arange(m), pos])
    e_t = np.concatenate([np.zeros(m), t_arr])
    e_wp = np.concatenate([np.zeros(m), np.maximum(w, 0.0)])
    e_wn = np.concatenate([np.zeros(m), np.minimum(w, 0.0)])
    e_start = np.concatenate([np.ones(m, bool), np.zeros(pos.size, bool)])
    srt = np.lexsort((~e_start, e_t, e_pos))
    e_pos, e_t, e_wp, e_wn, e_start = e_pos[srt], e_t[srt], e_wp[srt], e_wn[srt], e_start[srt]
    new = np.r_[True, (e_pos[1:] != e_pos[:-1]) | (e_t[1:] != e_t[:-1]) | e_start[1:]]
    heads = np.flatnonzero(new)
    if heads.size:
        e_wp, e_wn = np.add.reduceat(e_wp, heads), np.add.reduceat(e_wn, heads)
    e_pos, e_t, e_start = e_pos[heads], e_t[heads], e_start[heads]
    # v = I + C_m e^{-s/tau} + C_e e^{-s/tau_e} + C_i e^{-s/tau_i}; kicks of the coefficients: 'lif' C_m += w;
    # 'lif_exp' C_c += k_c w into its current c, C_m -= k_c w (v continuous)
    ex = is_exp[e_pos]
    x_e = np.where(e_start, k_e[e_pos] * cur0[e_pos, 0], k_e[e_pos] * e_wp)
    x_i = np.where(e_start, k_i[e_pos] * cur0[e_pos, 1], k_i[e_pos] * e_wn)
    x_m = np.where(e_start, v0[e_pos] - drive[e_pos], np.where(ex, 0.0, e_wp + e_wn)) - x_e - x_i
    c_m = _decaying_sums(e_pos, e_t / tau[e_pos], x_m)
    c_e = _decaying_sums(e_pos, e_t / te[e_pos], x_e)
    c_i = _decaying_sums(e_pos, e_t / ti[e_pos], x_i)
    i_v, ta_v = drive[e_pos], tau[e_pos]
    last = np.r_[e_pos[1:] != e_pos[:-1], True]
    t_next = np.where(last, T, np.r_[e_t[1:], T])
    span = t_next - e_t
    v_start = i_v + c_m + c_e + c_i
    v_end = i_v + c_m * np.exp(-span / ta_v) + c_e * np.exp(-span / te[e_pos]) + c_i * np.exp(-span / ti[e_pos])
    # interior maxima (dv/ds = 0): one current time constant in use, in closed form; two, by root isolation
    two = (has_e & has_i & (te != ti))[e_pos]
    one_s = np.where(has_i & ~has_e, ti, te)[e_pos]
    s_in = [
        _interior_maximum_one_current(c_m, c_e + c_i, ta_v, one_s, span, ex & ~two),
        *_interior_maxima_two_currents(c_m, c_e, c_i, ta_v, te[e_pos], ti[e_pos], span, two),
    ]
    v_in = [
        np.where(
            np.isnan(x),
            -np.inf,
            i_v + c_m * np.exp(-x / ta_v) + c_e * np.exp(-x / te[e_pos]) + c_i * np.exp(-x / ti[e_pos]),
        )
        for x in s_in
    ]
    s_in = [np.nan_to_num(x) for x in s_in]
    # the candidates of each neuron, in time order within an element: start, interior ones, end
    cand_v = np.stack([v_start, *v_in, v_end], axis=1)
    cand_t = np.stack([e_t, *(e_t + x for x in s_in), t_next], axis=1)
    cand_k = np.stack(
        [np.where(e_start, 0, 1), *(np.full(e_t.size, 3),) * 3, np.where(last, 4, 2)], axis=1
    )  # indices into KINDS
    flat_v, flat_t, flat_k = cand_v.ravel(), cand_t.ravel(), cand_k.ravel()
    flat_p = np.repeat(e_pos, cand_v.shape[1])
    # the first maximal candidate of each neuron (by neuron, then value descending, then time)
    order = np.lexsort((flat_t, -flat_v, flat_p))
    first = order[np.r_[True, flat_p[order][1:] != flat_p[order][:-1]]]
    values, times, kind = np.empty(m), np.empty(m), np.empty(m, dtype=object)
    values[flat_p[first]] = flat_v[first]
    times[flat_p[first]] = flat_t[first]
    kind[flat_p[first]] = np.asarray(KINDS, dtype=object)[flat_k[first]]
    # 'lif_exp': v is continuous, a maximum at a pulse is the kink before it
    kind[(kind == "after pulse") & is_exp] = "before pulse"
    return StateMaximum(values=values, times=times, kind=kind.astype(str))


def _interior_maximum_one_current(c_m, c_s, tau, tau_s, span, on):
    """The time s in (0, span) of the interior maximum of I + C_m e^{-s/tau} + C_s e^{-s/tau_s} (NaN where
    there is none, or not ``on``): dv/ds = 0 at s* = ln(-(C_m tau_s) / (C_s tau)) / (1/tau - 1/tau_s), a
    maximum where the current C_s / k (k = tau_s / (tau_s - tau)) is > 0."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = tau_s / (tau_s - tau)
        arg = -(c_m * tau_s) / (c_s * tau)
        s = np.log(arg) / (1.0 / tau - 1.0 / tau_s)
    return np.where(on & (c_s * k > 0) & (arg > 0) & (s > 0) & (s < span), s, np.nan)


def _interior_maxima_two_currents(c_m, c_e, c_i, tau, tau_e, tau_i, span, on):
    """The times s in (0, span) of the interior maxima of I + C_m e^{-s/tau} + C_e e^{-s/tau_e} +
    C_i e^{-s/tau_i} (three distinct time constants), two arrays, NaN where there is none or not ``on``.

    Root isolation that cannot miss a zero: dv/ds = h(s) = sum_c a_c e^{-r_c s}; with the rates sorted,
    r1 < r2 < r3, g(s) = h(s) e^{r1 s} = b1 + b2 e^{-(r2 - r1) s} + b3 e^{-(r3 - r1) s} has the same sign as
    h and g'(s), a sum of two exponentials, vanishes at most once, at s_c (closed form). So g is monotone on
    [0, s_c] and on [s_c, span], each holds at most one zero of h, and a maximum of v is a zero where h falls
    from > 0 to <= 0: bisection to the last bit, between the piece's ends."""
    out = np.full((2, c_m.size), np.nan)
    k = np.flatnonzero(on)
    if k.size == 0:
        return out
    r = np.stack([1.0 / tau[k], 1.0 / tau_e[k], 1.0 / tau_i[k]], axis=1)
    a = -np.stack([c_m[k], c_e[k], c_i[k]], axis=1) * r
    order = np.argsort(r, axis=1)
    rs, bs = np.take_along_axis(r, order, 1), np.take_along_axis(a, order, 1)
    sp = span[k]
    with np.errstate(divide="ignore", invalid="ignore"):
        s_c = -np.log(-((rs[:, 1] - rs[:, 0]) * bs[:, 1]) / ((rs[:, 2] - rs[:, 0]) * bs[:, 2])) / (rs[:, 2] - rs[:, 1])
    s_c = np.where(np.isfinite(s_c) & (s_c > 0) & (s_c < sp), s_c, sp)

    def h(s):
        return (a * np.exp(-r * s[:, None])).sum(axis=1)

    for j, (lo, hi) in enumerate(((np.zeros(k.size), s_c), (s_c, sp))):
        h_hi = h(hi)
        falls = (h(lo) > 0) & ((h_hi < 0) | ((h_hi == 0) & (hi < sp)))
        lo, hi = lo.copy(), hi.copy()
        while True:  # (at most about 1100 halvings of a double interval)
            mid = lo + (hi - lo) / 2
            active = falls & (mid > lo) & (mid < hi)
            if not active.any():
                break
            up = h(mid) > 0
            lo, hi = np.where(active & up, mid, lo), np.where(active & ~up, mid, hi)
        out[j, k[falls]] = lo[falls]
    return out


def _kernel(s, tau, tau_s, is_exp):
    """K(s) of a unit pulse on v after s >= 0, dK/ds, dK/dtau and dK/dtau_s: e^{-s/tau} ('lif'), or
    k (e^{-s/tau_s} - e^{-s/tau}) with k = tau_s / (tau_s - tau) ('lif_exp': a pulse into the current), which
    is tau_s f[tau, tau_s], the divided difference of f(x) = e^{-s/x}: at tau_s = tau (a current not in use
    may have it) its limits, K = tau f'(tau), dK/dtau = tau f''(tau) / 2, dK/dtau_s = f'(tau) + tau f''(tau) / 2."""
    e_m = np.exp(-s / tau)
    same = is_exp & (tau_s == tau)
    safe = np.where(is_exp & ~same, tau_s - tau, 1.0)
    k, e_s = tau_s / safe, np.exp(-s / tau_s)
    f1, f2 = s / tau**2 * e_m, e_m * (s**2 / tau**4 - 2 * s / tau**3)
    K = np.where(same, tau * f1, np.where(is_exp, k * (e_s - e_m), e_m))
    dK_ds = np.where(same, e_m * (1 / tau - s / tau**2), np.where(is_exp, k * (e_m / tau - e_s / tau_s), -e_m / tau))
    dK_dtau = np.where(
        same, tau * f2 / 2, np.where(is_exp, tau_s / safe**2 * (e_s - e_m) - k * s * e_m / tau**2, s * e_m / tau**2)
    )
    dK_dtau_s = np.where(
        same, f1 + tau * f2 / 2, np.where(is_exp, -tau / safe**2 * (e_s - e_m) + k * s * e_s / tau_s**2, 0.0)
    )
    return K, dK_ds, dK_dtau, dK_dtau_s


def maximum_gradient(net, neurons, dL_dmax, dL_dspike_times=None, **kwargs):
    """The gradient of a loss L of the maxima over the run of readout neurons' states (and of spike times,
    final states and readouts, as in `~brian2_sparseprop.spiking.gradients.lif_gradient`).

    The maxima are those of `state_maximum`: their derivatives by the readouts' own parameters (tau, drive,
    initial state; tau_e, tau_i and the initial currents for 'lif_exp'), by the weights and delays of the
    pulses into them and by the times of the spikes that sent those pulses are closed forms (a readout
    that does not fire is a sum of kernels of its arrivals), and the latter enter the network's backward
    pass as derivatives by spike times. Where the maximum is at a pulse its time moves with the pulse's
    arrival, which is counted: two or more pulses arriving together at a maximum are a point where the
    one-sided derivatives differ (each such maximum adds one to ``n_coincident``; the pulse first on the
    tape carries the derivative of the maximum's time).

    Parameters
    ----------
    net : EventNetwork
        A network of 'lif' or 'lif_exp' neurons after a run from t = 0 with ``record_tape=True``.
    neurons : array_like of int, shape (m,)
        The readout neurons (which do not fire in the run), as in `state_maximum`.
    dL_dmax : array_like, shape (m,)
        dL/d(max of v) of each readout neuron, in the order of ``neurons``.
    dL_dspike_times : array_like, shape like ``net.spike_times``, optional
        The loss's derivatives by the spike times (zeros by default).
    **kwargs
        ``dL_dv`` and ``dL_dstates``, as in ``net.gradient``.

    Returns
    -------
    SpikeGradient
        As ``net.gradient`` returns it; ``loss`` is None.

    Raises
    ------
    TypeError, ValueError
        As `state_maximum` and ``net.gradient``; for ``dL_dmax`` or ``dL_dspike_times`` of the wrong shape or
        not finite; for a callable ``loss`` (give the derivatives).
    NotImplementedError
        As `state_maximum`.

    Examples
    --------
    A 'lif' readout (tau = 10 ms, no drive) takes a pulse of weight 0.5 at 2 ms, then one of -0.2 at 3 ms:
    its maximum is right after the first pulse, 0.5, whose time does not matter (no drive, v = 0 before it):

    >>> import numpy as np
    >>> from brian2_sparseprop import EventNetwork
    >>> from brian2_sparseprop.spiking.readouts import maximum_gradient, state_maximum
    >>> net = EventNetwork(1, drive=0.0, tau=0.01, threshold=np.inf)
    >>> net.add_spike_generator([0.002, 0.003], [0, 1], 2, [0, 1, 2], [0, 0], weights=[0.5, -0.2], delays=0.0)
    >>> net.run(0.02, record_tape=True)
    >>> m = state_maximum(net, [0])
    >>> str(m.kind[0]), float(m.values[0])
    ('after pulse', 0.5)
    >>> g = maximum_gradient(net, [0], [1.0])
    >>> g.generator_weights[0].tolist(), g.generator_times[0].tolist()
    ([1.0, 0.0], [0.0, 0.0])

    With v0 = 0.3 instead, v decays before the pulse (dv/dt = -30 /s there), so moving the pulse later
    lowers the maximum: dmax/dt_1 = -0.3 e^{-0.2} / 10 ms:

    >>> net = EventNetwork(1, drive=0.0, tau=0.01, threshold=np.inf, v_init=[0.3])
    >>> net.add_spike_generator([0.002, 0.003], [0, 1], 2, [0, 1, 2], [0, 0], weights=[0.5, -0.2], delays=0.0)
    >>> net.run(0.02, record_tape=True)
    >>> g = maximum_gradient(net, [0], [1.0])
    >>> bool(np.isclose(g.generator_times[0][0], -30 * np.exp(-0.2))), bool(np.isclose(g.v0[0], np.exp(-0.2)))
    (True, True)
    """
    from .gradients import SpikeGradient, _derivative, _gradient, _synapse_parts
    from .network import MODELS

    if "loss" in kwargs:
        raise TypeError("maximum_gradient takes the loss's derivatives (dL_dmax, dL_dspike_times, ...), not a callable")
    m = state_maximum(net, neurons)
    idx = np.asarray(neurons).astype(np.int64)
    g_max = _derivative("dL_dmax", dL_dmax, idx.shape, "one per readout neuron")
    n_sp = net.spike_times.size
    dL_dt = (
        np.zeros(n_sp)
        if dL_dspike_times is None
        else _derivative("dL_dspike_times", dL_dspike_times, (n_sp,), "one per spike of net.spike_times").copy()
    )
    n, r = net.n, idx.size
    is_exp = net._codes[idx] == MODELS.index("lif_exp")
    tau = np.broadcast_to(net._tau, (n,))[idx].astype(float)
    drive = np.broadcast_to(net._drive, (n,))[idx].astype(float)
    v0 = np.asarray(net._v_init, dtype=float)[idx]
    te = np.broadcast_to(net._tau_e, (n,))[idx].astype(float) if is_exp.any() else np.ones(r)
    ti = np.broadcast_to(net._tau_i, (n,))[idx].astype(float) if is_exp.any() else np.ones(r)
    cur0 = np.broadcast_to(net._cur_init, (n, 2))[idx].astype(float) if is_exp.any() else np.zeros((r, 2))
    t_star = m.times
    pos, t_arr, w, syn, ev = _arrivals(net, idx)
    # the readouts' own terms: the relaxation from v0 to the drive, and the initial currents (pulses at 0)
    decay = np.exp(-t_star / tau)
    g_v0, g_drive = g_max * decay, g_max * (1.0 - decay)
    g_tau = g_max * (v0 - drive) * t_star / tau**2 * decay
    slope = -(v0 - drive) / tau * decay  # dv/dt(t*-), completed below
    g_te, g_ti, g_ie0, g_ii0 = (np.zeros(r) for _ in range(4))
    for col, tau_c, g_tc, g_c0 in ((0, te, g_te, g_ie0), (1, ti, g_ti, g_ii0)):
        K, dK_ds, dK_dtau, dK_dtau_s = _kernel(t_star, tau, tau_c, is_exp)
        on = is_exp.astype(float)
        g_c0 += on * g_max * K
        g_tau += on * g_max * cur0[:, col] * dK_dtau
        g_tc += on * g_max * cur0[:, col] * dK_dtau_s
        slope += on * cur0[:, col] * dK_ds
    # the arrivals before t*: kernels of their weights, at the times since they arrived
    before = t_arr < t_star[pos]
    p_b, s_b, w_b = pos[before], t_star[pos[before]] - t_arr[before], w[before]
    tau_s_b = np.where(w_b >= 0, te[p_b], ti[p_b])
    K, dK_ds, dK_dtau, dK_dtau_s = _kernel(s_b, tau[p_b], tau_s_b, is_exp[p_b])
    G = g_max[p_b]
    nnz = max(net._spec["indices"].size, 1)
    g_w, g_d = np.zeros(nnz), np.zeros(nnz)
    np.add.at(g_w, syn[before], G * K)
    g_tau += np.bincount(p_b, G * w_b * dK_dtau, minlength=r)
    np.add.at(g_te, p_b[w_b >= 0], (G * w_b * dK_dtau_s)[w_b >= 0])
    np.add.at(g_ti, p_b[w_b < 0], (G * w_b * dK_dtau_s)[w_b < 0])
    slope += np.bincount(p_b, w_b * dK_ds, minlength=r)
    g_arrival = np.zeros(t_arr.size)
    g_arrival[before] = -G * w_b * dK_ds
    # a maximum at a pulse: its time is the pulse's arrival (dv/dt(t*-) on the first one of its instant), and
    # right after a pulse ('lif') the maximum holds the weights of that instant
    at_pulse = np.isin(m.kind, ("before pulse", "after pulse"))
    at = (t_arr == t_star[pos]) & at_pulse[pos]
    ties = np.bincount(pos[at], minlength=r) > 1
    first = np.flatnonzero(at)[np.unique(pos[at], return_index=True)[1]]
    g_arrival[first] += g_max[pos[first]] * slope[pos[first]]
    jump = at & (m.kind[pos] == "after pulse")
    np.add.at(g_w, syn[jump], g_max[pos[jump]])
    # arrival times to delays and to the spike or input event that sent each pulse
    np.add.at(g_d, syn, g_arrival)
    from_spike = ev < n_sp
    np.add.at(dL_dt, ev[from_spike], g_arrival[from_spike])
    in_src = np.concatenate([c[1] for c in net._tape_inputs]) if net._tape_inputs else np.zeros(0, np.int32)
    g_in = np.zeros(in_src.size)
    np.add.at(g_in, ev[~from_spike] - n_sp, g_arrival[~from_spike])

    def per_neuron(values):
        out = np.zeros(n)
        out[idx] = values
        return out

    parts, perm = _synapse_parts(net)
    exp_fields = {}
    if is_exp.any():
        exp_fields = dict(
            tau_e=per_neuron(g_te), tau_i=per_neuron(g_ti), i_e0=per_neuron(g_ie0), i_i0=per_neuron(g_ii0)
        )
    direct = _gradient(
        net, g_w, g_d, parts, perm, g_in, in_src, None,
        drive=per_neuron(g_drive), v0=per_neuron(g_v0), tau=per_neuron(g_tau), threshold=per_neuron(np.zeros(r)),
        reset=per_neuron(np.zeros(r)), n_pulse_triggered=0, n_coincident=int(ties.sum()), n_unresolved=0,
        **exp_fields,
    )  # fmt: skip
    through = net.gradient(dL_dt, **kwargs)
    summed = {}
    for f in fields(SpikeGradient):
        a, b = getattr(through, f.name), getattr(direct, f.name)
        if f.name == "loss" or a is None:
            summed[f.name] = a
        elif isinstance(a, tuple):
            summed[f.name] = tuple(x + y for x, y in zip(a, b, strict=True))
        else:
            summed[f.name] = a + b
    return SpikeGradient(**summed)
