"""Exact Lyapunov spectra of pulse-coupled networks: tangent vectors through the single-spike Jacobians.

Between spikes every neuron follows its flow in closed form, so the derivative of the network's state
along a run is a product of single-spike Jacobians, each touching the spiking neuron and its K targets.
`lyapunov_spectrum` runs a copy of an `EventNetwork` chunk by chunk, and propagates m tangent vectors
through the recorded spikes (the compiled `brian2_sparseprop.spiking._tangent`, O(K m) per spike),
with QR re-orthonormalisations (Benettin's method) at spike times; the result is the project's
`brian2_sparseprop.lyapunov.LyapunovSpectrum`, in 1/s.

Tangent space (see `docs/spiking_lyapunov.md`): one coordinate per neuron, the perturbation of its state
delta v for LIF neurons, and for QIF and theta neurons the state perturbation divided by the model's
right-hand side, sigma = delta x / g(x) (tau sigma is the time by which the neuron is ahead on its own
orbit). Both are equivalent to the state's coordinates for the supported networks, so the exponents are
the same; the QR steps and the returned vectors use them. With delays the tangent vectors also hold the
emission-time perturbations of the spikes in flight (m values per spike, combined with the vectors at
each QR step); the norm and the QR steps act on the neuron part.

Supported: LIF, QIF and theta neurons (mixed too), delta pulses of any sign, synaptic delays (the time
shifts of the spikes in flight are part of the tangent vectors), refractoriness with the state held at
reset, external input (Poisson inputs and spike generators: the network driven by one fixed realisation,
the continuation of the network's own run), drive > 0 for QIF and theta neurons. A pulse that takes a LIF
or QIF neuron to threshold triggers a spike at its arrival: the spike's time shift is the pulse's, the
neuron forgets its own perturbation (a singular Jacobian: `params['log_det_rate']` is -inf), and
directions that the network forgets this way get exponents of -inf. The rest is refused with a
NotImplementedError (`_check_spectrum_supported`); the flossing replay also refuses pulses that can
trigger a spike (`_check_supported`).
"""

import math
import time

import numpy as np

from .._validation import check_int, check_real, si_value
from . import _engine, _tangent

__all__ = ["lyapunov_spectrum", "largest_exponent_two_trajectories"]

#: the automatic QR interval keeps the spread of the log growths of the vectors over one interval below
#: this (a condition number of about 1e6: Householder QR then loses at most 6 of 16 digits in the
#: smallest column) and their size below MAX_LOG_GROWTH (far from overflow)
TARGET_SPREAD = math.log(1e6)
MAX_LOG_GROWTH = 100.0
#: with pulse-triggered spikes, a tangent vector whose part orthogonal to the vectors before it (R_ii) is below
#: this fraction of its norm was annihilated (rounding: measured <= 2e-16; a vector that survives a near-miss:
#: >= 1e-10 in the networks of the tests)
LOST_TOL = 1e-13
#: at most this many time constants between QR steps (LIF rows are stored as delta v exp((t - t0) / tau))
MAX_TAUS_PER_INTERVAL = 50.0
#: spikes per run of the network copy (its spike record is taken and dropped after each chunk)
CHUNK_SPIKES = 200_000
#: at least this many QR intervals per batch of the batch-means error
INTERVALS_PER_BATCH = 5


def _mask(a):
    return np.int64(-1 if a.size > 1 else 0)


def _check_supported(net):
    """NotImplementedError naming the first feature of ``net`` that the flossing replay does not cover,
    before any work: what `lyapunov_spectrum` refuses (`_check_spectrum_supported`), and pulses that can
    trigger a spike, external input, delays (and spikes in flight) and refractoriness, which the spectrum
    covers and the replay not yet."""
    _check_spectrum_supported(net)
    _check_no_triggering_pulses(net)
    if net._poisson or net._generators:
        raise NotImplementedError(
            "Lyapunov spectra are implemented for autonomous networks only (no Poisson or spike-generator input)"
        )
    if (net._delays != 0).any():
        k = int(np.argmax(net._delays != 0))
        raise NotImplementedError(
            f"Lyapunov spectra are implemented for networks without delays, found delay {net._delays[k]} s "
            f"at synapse {k}"
        )
    in_flight = 0 if net._engine is None else net._engine.delay_queue()["t_arr"].size
    if in_flight:  # sent before the delays were set to 0 (EventNetwork.set_params): a copy would drop them
        raise NotImplementedError(
            f"Lyapunov spectra are implemented for networks without delays, found {in_flight} delayed spike "
            "events in flight (sent before the delays changed): run on until they have arrived"
        )
    if (net._tref != 0).any():
        k = int(np.argmax(net._tref != 0))
        raise NotImplementedError(
            f"Lyapunov spectra are implemented for networks without refractoriness, found refractory "
            f"{net._tref[k]} s{' for neuron ' + str(k) if net._tref.size > 1 else ''}"
        )


def _check_no_triggering_pulses(net):
    """NotImplementedError naming the first pulse of ``net`` (recurrent or external) that can trigger a spike
    (a weight > 0 onto a LIF or QIF neuron), which the flossing replay does not cover."""
    from .network import MODELS

    theta = net._codes == MODELS.index("theta")
    parts = [("the network's synapse", net._indices, net._weights)]
    parts += [(f"synapse of Poisson input {q}", p[2], p[3]) for q, p in enumerate(net._poisson)]
    parts += [(f"synapse of spike generator {q}", g[4], g[5]) for q, g in enumerate(net._generators)]
    for name, indices, w in parts:
        if indices.size == 0:
            continue
        excit = np.broadcast_to(w > 0, (indices.size,)) & ~theta[indices]
        if excit.any():
            s = int(np.argmax(excit))
            i = int(indices[s])
            raise NotImplementedError(
                f"gradient flossing is implemented for pulses that cannot trigger a spike (weights <= 0 onto "
                f"'lif' and 'qif' neurons, any weight onto 'theta' neurons), found weight "
                f"{np.broadcast_to(w, (indices.size,))[s]} at {name} {s} onto neuron {i} of model "
                f"{MODELS[net._codes[i]]!r} (lyapunov_spectrum takes it)"
            )


def _check_spectrum_supported(net):
    """NotImplementedError naming the first feature of ``net`` that `lyapunov_spectrum` does not cover,
    before any work: plasticity, models other than LIF, QIF and theta, refractory neurons that integrate,
    and QIF and theta neurons with drive <= 0."""
    from .network import MODELS

    if net._stdp or net._stp:
        raise NotImplementedError(
            "Lyapunov spectra are implemented for networks with fixed weights; this one has plastic synapses "
            "(add_stdp, add_stp)"
        )
    other = ~np.isin(net._codes, [MODELS.index(m) for m in ("lif", "qif", "theta")])
    if other.any():
        k = int(np.argmax(other))
        raise NotImplementedError(
            f"Lyapunov spectra are implemented for 'lif', 'qif' and 'theta' neurons, found model "
            f"{MODELS[net._codes[k]]!r} for neuron {k}"
        )
    integ = np.broadcast_to(net._integ, (net.n,)) & (np.broadcast_to(net._tref, (net.n,)) > 0)
    if integ.any():
        k = int(np.argmax(integ))
        raise NotImplementedError(
            "Lyapunov spectra are implemented for refractory neurons held at reset (integrate_refractory="
            f"False), found integrate_refractory=True for neuron {k}"
        )
    qif = net._codes != MODELS.index("lif")
    drive = np.broadcast_to(net._drive, (net.n,))
    if (qif & (drive <= 0)).any():
        k = int(np.argmax(qif & (drive <= 0)))
        raise NotImplementedError(
            f"Lyapunov spectra of QIF and theta neurons are implemented for drive > 0 (oscillatory neurons), "
            f"found drive {drive[k]} for neuron {k} of model {MODELS[net._codes[k]]!r}"
        )


def _continue(net, record=True):
    """A copy of ``net`` (parameters, connectivity, inputs) in its full current state (time, neurons,
    refractory ends, spikes in flight, input generators and random state): it continues ``net``'s run,
    with the same input realisation; ``net`` is left as it is. Records the spikes of all neurons (or
    none)."""
    from .network import EventNetwork

    sim = EventNetwork(**net._config)
    sim._poisson, sim._generators = list(net._poisson), list(net._generators)
    if not record:
        sim.record_spikes(np.zeros(0, np.int32))
    if net._engine is not None:
        sim.set_state(net.get_state())
        flags = sim._spec["neurons"]["flags"]  # the state holds net's recording flags: sim's own
        bit = flags.dtype.type(_engine.FLAG_CODES["record"])
        flags[...] = flags | bit if record else flags & ~bit
    return sim


def _event_network(net):
    """``(EventNetwork, t_offset)``: ``net`` itself, or the engine behind a Brian2 Network that ran with the
    sparseprop device and the Brian2 time of the engine's t = 0."""
    from .network import EventNetwork

    if isinstance(net, EventNetwork):
        return net, 0.0
    from ..device.device import exact_network_of

    return exact_network_of(net)


def _copy(net):
    """A fresh network with ``net``'s parameters and connectivity, started (t = 0) at ``net``'s current
    state, recording the spikes of all neurons: ``net`` is left as it is."""
    from .network import EventNetwork

    config = dict(net._config)
    config["v_init"] = net.v
    return EventNetwork(**config)


def _take_spikes(sim):
    """The spikes the copy recorded since the last call (its record is dropped: memory stays bounded)."""
    times, idx = sim.spike_times, sim.spike_indices
    sim._spike_chunks = []
    return times, idx


def _delay_groups(indptr, delays):
    """The delay groups of a CSR sorted by delay within rows (as the engine's): runs of synapses of one
    row with one delay. Returns ((first synapse, end, delay) per group, the groups of each row as a CSR
    pointer, the end of each row's zero-delay synapses, and each row's first group with a delay > 0)."""
    n_pre = indptr.size - 1
    nnz = int(indptr[-1])
    if np.size(delays) == 1:  # one delay for all: a group per non-empty row
        rows = np.flatnonzero(np.diff(indptr) > 0)
        k0, k1 = indptr[rows].astype(np.int64), indptr[rows + 1].astype(np.int64)
        gd = np.full(k0.size, float(np.asarray(delays).reshape(-1)[0]))
        gptr = np.concatenate([[0], np.cumsum(np.diff(indptr) > 0)]).astype(np.int64)
    else:
        row = np.repeat(np.arange(n_pre), np.diff(indptr))
        d = np.asarray(delays, dtype=np.float64)
        start = np.ones(nnz, bool)
        start[1:] = (row[1:] != row[:-1]) | (d[1:] != d[:-1])
        k0 = np.flatnonzero(start).astype(np.int64)
        k1 = np.append(k0[1:], nnz).astype(np.int64)
        gptr = np.concatenate([[0], np.cumsum(np.bincount(row[k0], minlength=n_pre))]).astype(np.int64)
        gd = d[k0]
    has = gptr[1:] > gptr[:-1]
    zero_first = np.zeros(n_pre, bool)
    zero_first[has] = gd[gptr[:-1][has]] == 0
    zero_end = np.asarray(indptr[:-1], dtype=np.int64).copy()
    zero_end[zero_first] = k1[gptr[:-1][zero_first]]
    return (k0, k1, gd), gptr, zero_end, gptr[:-1] + zero_first


def _expand(a, b, times, slots, groups):
    """The arrivals of events at ``times`` (time shifts in ``slots``) through the delay groups a .. b - 1
    (per event): (arrival times, first synapse, end, slot) per group, in event order."""
    k0, k1, d = groups
    counts = b - a
    ev = np.repeat(np.arange(a.size), counts)
    g = a[ev] + np.arange(ev.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return times[ev] + d[g], k0[g], k1[g], slots[ev]


class _TangentRun:
    """A continuation of a network (`_continue`) with m tangent vectors (rows of ``Y``, in the
    coordinates of `_tangent`: sigma for neurons that fire on their own, delta v for LIF neurons that
    never fire), the replayed states, and the time shifts of the spikes in flight (rows of ``DT``, for
    the global spike numbers ``slot_base`` ..)."""

    def __init__(self, net, Y, stored=False):
        from .network import MODELS

        self.sim = sim = _continue(net)
        if sim._engine is None:
            sim._build_engine()
        n = sim.n
        spec, eng = sim._spec, sim._engine
        lif = sim._codes == MODELS.index("lif")
        self.theta = sim._codes == MODELS.index("theta")
        p = {"tau": sim._tau, "drive": sim._drive, "reset": sim._reset, "tref": sim._tref}
        self.p = {key: np.ascontiguousarray(a, dtype=np.float64) for key, a in p.items()}
        self.masks = {key: _mask(a) for key, a in self.p.items()}
        tau, drive = np.broadcast_to(self.p["tau"], (n,)), np.broadcast_to(self.p["drive"], (n,))
        oscillating = drive > np.broadcast_to(sim._thr, (n,))
        modes = _tangent.MODES
        self.mode = np.where(
            lif, np.where(oscillating, modes["phase_lif"], modes["state_lif"]), modes["phase_qif"]
        ).astype(np.uint8)
        self.state_lif = np.flatnonzero(self.mode == modes["state_lif"])
        self.phase_lif = np.flatnonzero(self.mode == modes["phase_lif"])
        self.any_qif = bool((self.mode == modes["phase_qif"]).any())
        self.inv_tau = 1.0 / tau
        self.drive_n = drive
        self.t_cap = MAX_TAUS_PER_INTERVAL * float(tau.min())
        # the engine's combined connectivity (neurons, then the input sources; rows sorted by delay)
        self.indptr, self.indices = spec["indptr"], spec["indices"]
        self.w = np.ascontiguousarray(spec["weights"], dtype=np.float64)
        self.groups, self.gptr, self.zero_end, self.first_delayed = _delay_groups(self.indptr, spec["delays"])
        self.delayed = bool((self.groups[2] > 0).any())
        self.has_inputs = spec["n_pre"] > n
        # pulses that can trigger a spike: weights > 0 onto LIF and QIF neurons (a finite threshold)
        self.p["thr"] = np.ascontiguousarray(sim._thr, dtype=np.float64)
        self.masks["thr"] = _mask(self.p["thr"])
        targets_fire = np.isfinite(np.broadcast_to(self.p["thr"], (n,)))[self.indices]
        self.can_trig = bool((np.broadcast_to(self.w > 0, (self.indices.size,)) & targets_fire).any())
        # the state at the start: refractory ends, replayed states (u = I - v for LIF relative to t0,
        # v = tan(theta / 2) for theta, v for QIF, with its time tl; refractory: as of the end)
        self.t_begin = self.t0 = t_begin = float(sim.t)
        ref_end = spec["ref_end"] + eng.epoch
        self.ref_end = np.array(ref_end, dtype=np.float64) if ref_end.size == n else np.full(n, -np.inf)
        held = self.ref_end > t_begin
        self.tl = np.where(held, self.ref_end, t_begin)
        v = sim.v
        x = np.where(lif, drive - v, np.where(self.theta, np.where(v <= -np.pi, -np.inf, np.tan(v / 2)), v))
        self.x = np.where(held & lif, x * np.exp((self.tl - t_begin) / tau), x).astype(np.float64)
        self.Y = np.ascontiguousarray(Y if stored else Y / self._gain(), dtype=np.float64)
        if not stored:
            self.Y[held] = 0.0  # the v of a refractory neuron is held: perturbing it changes nothing
        m = self.Y.shape[1]
        # arrivals not yet processed, in time order: the delayed pulses of spikes (their time shifts in
        # DT) and the pulses of input events and of the spikes in flight at the start (fixed: slot -1)
        dq = eng.delay_queue()
        group = dq["src"] >= 0
        src, syn = dq["src"][group], dq["syn"][group]
        a = np.searchsorted(self.groups[0], syn, side="right") - 1  # the group that syn starts
        flying = _expand(a, self.gptr[src + 1], dq["t_spk"][group] + eng.epoch, np.full(src.size, -1), self.groups)
        single = (
            dq["t_arr"][~group] + eng.epoch,
            dq["syn"][~group],
            dq["syn"][~group] + 1,
            np.full((~group).sum(), -1),
        )
        self.arr = self._merge(*(np.concatenate([f, s]) for f, s in zip(flying, single)))
        self.arr_pos = np.zeros(1, np.int64)
        self.DT = np.zeros((0, m))
        self.slot_base = 0
        self.logdet = np.zeros(1)  # sum of log|det| of the spikes' Jacobians in these coordinates
        self.free_logdet = 0.0  # and of the free decay of the delta v rows, added as t0 moves
        self.n_spikes = 0
        # pulse-triggered spikes: the time shift of each triggered neuron until its spike (TD), its state
        # (pend: 1 candidate of a generation, 2 triggered), the instant it last fired, and their number
        self.TD = np.zeros((n if self.can_trig else 0, m))
        self.pend = np.zeros(n, np.uint8)
        self.t_fired = np.full(n, -np.inf)
        self.touched = np.zeros(n, np.int32)
        self.n_trig = np.zeros(2, np.int64)  # pulse-triggered spikes, marginal ones (`_tangent.propagate`)
        self.kicked = np.zeros(0, np.uint8)  # the engine's tape bits of the buffer's spikes (with can_trig)
        self.lost = m  # the first vector lost exactly (its exponent and all after it are -inf), or m
        self.buffer = (np.zeros(0), np.zeros(0, np.int32))
        self.buffer_first = 0  # global number of the buffer's first spike
        self.pos = 0
        self.cpu = {"network": 0.0, "tangent": 0.0, "qr": 0.0}  # process time of each part (s)

    @property
    def elapsed(self):
        return self.sim.t - self.t_begin

    def _merge(self, t, k0, k1, slot):
        """The pending arrivals with new ones, in time order (pending first at equal times)."""
        if hasattr(self, "arr"):
            p = int(self.arr_pos[0])
            t, k0, k1, slot = (np.concatenate([a[p:], b]) for a, b in zip(self.arr, (t, k0, k1, slot)))
            self.arr_pos[0] = 0
        order = np.argsort(t, kind="stable")
        return (
            np.ascontiguousarray(t[order], dtype=np.float64),
            *(np.ascontiguousarray(a[order], dtype=np.int64) for a in (k0, k1, slot)),
        )

    def run_chunk(self, duration):
        """Run the network on for ``duration``: its spikes become the buffer, and the arrivals they and the
        input events cause join the pending ones."""
        sim = self.sim
        cpu = time.process_time()
        if self.has_inputs or self.can_trig:
            # the tape: every input event, as (time, presynaptic id), and each spike's cause bit
            sim._tape = []
            sim.run(duration, record_tape=True)
            inputs = [c for c in sim._tape_inputs if c[0].size]
            kicked = [c for c in sim._tape if c.size]
            sim._tape, sim._tape_inputs = None, []
        else:
            sim.run(duration)
            inputs, kicked = [], []
        self.cpu["network"] += time.process_time() - cpu
        cpu = time.process_time()
        self.buffer_first += self.buffer[0].size
        times, idx = self.buffer = _take_spikes(sim)
        if self.can_trig:
            self.kicked = np.concatenate(kicked) if kicked else np.zeros(0, np.uint8)
            if self.kicked.size != times.size:
                raise RuntimeError(f"the tape holds {self.kicked.size} cause bits for {times.size} spikes")
        self.pos = 0
        parts = []
        if self.delayed and times.size:
            slots = self.buffer_first + np.arange(times.size, dtype=np.int64)
            parts.append(_expand(self.first_delayed[idx], self.gptr[idx + 1], times, slots, self.groups))
        if inputs:
            t_in = np.concatenate([c[0] for c in inputs])
            src = np.concatenate([c[1] for c in inputs]).astype(np.int64)
            parts.append(_expand(self.gptr[src], self.gptr[src + 1], t_in, np.full(src.size, -1), self.groups))
        if parts:
            self.arr = self._merge(*(np.concatenate(c) for c in zip(*parts)))
        self.cpu["tangent"] += time.process_time() - cpu

    def _gain(self):
        """Per row, d state / d stored coordinate at t0 (the replayed states at t0): I - v (oscillating
        LIF), g(v) = v^2 + I (QIF), g(theta) (theta), 1 (delta v rows)."""
        v, drive = self.x, self.drive_n
        with np.errstate(invalid="ignore"):
            # theta: (1 - cos theta) + (1 + cos theta) I with theta = 2 atan(v): (2 v^2 + 2 I) / (1 + v^2)
            inv = 1.0 / (1.0 + v * v)
            g_qif = np.where(self.theta, 2.0 * (1.0 - inv) + 2.0 * inv * drive, v * v + drive)
        g = g_qif
        g[self.phase_lif] = v[self.phase_lif]
        g[self.state_lif] = 1.0
        g[self.ref_end > self.t0] = 1.0  # held at reset (their rows are the shifts of their ends)
        return g[:, None]

    def _dt_rows(self, first, stop):
        """Make DT hold the rows of the spikes first .. stop - 1 and of those with pulses still to arrive."""
        if stop - self.slot_base <= self.DT.shape[0]:
            return
        pending = self.arr[3][self.arr_pos[0] :]
        pending = pending[pending >= 0]
        low = min(first, int(pending.min())) if pending.size else first
        keep = self.DT[low - self.slot_base :].copy()
        if stop - low > self.DT.shape[0]:
            self.DT = np.zeros((max(stop - low, 2 * self.DT.shape[0]), self.Y.shape[1]))
        self.DT[: keep.shape[0]] = keep
        self.slot_base = low

    def _propagate(self, a, b, t_limit):
        """The spikes a .. b - 1 of the buffer and the arrivals up to t_limit, merged in time order."""
        t = time.process_time()
        p, mk = self.p, self.masks
        times, idx = self.buffer
        first = self.buffer_first + a
        if self.delayed:
            self._dt_rows(first, self.buffer_first + b)
        _tangent.propagate(
            times, idx, a, b, first, *self.arr, self.arr_pos, t_limit,
            self.indptr, self.zero_end, self.indices, self.w, _mask(self.w),
            self.mode, p["tau"], mk["tau"], p["drive"], mk["drive"], p["reset"], mk["reset"], p["tref"], mk["tref"],
            self.x, self.tl, self.ref_end, self.Y, self.t0, self.DT, self.slot_base, self.logdet,
            self.kicked, p["thr"], mk["thr"], self.TD, self.pend, self.t_fired, self.touched, self.n_trig,
        )  # fmt: skip
        self.n_spikes += b - a
        self.cpu["tangent"] += time.process_time() - t

    def _reanchor(self, t):
        """Take the arrivals up to t, then move t0 to t (at or after the last processed spike): the LIF
        states u and the delta v rows are multiplied by exp(-(t - t0) / tau); the QIF and theta states
        are advanced to t."""
        self._propagate(self.pos, self.pos, t)
        dt = t - self.t0
        if self.phase_lif.size:
            self.x[self.phase_lif] *= np.exp(-dt * self.inv_tau[self.phase_lif])
        if self.state_lif.size:
            if self.can_trig:  # their states are replayed too (they fire when a pulse takes them to threshold)
                self.x[self.state_lif] *= np.exp(-dt * self.inv_tau[self.state_lif])
            self.Y[self.state_lif] *= np.exp(-dt * self.inv_tau[self.state_lif])[:, None]
            self.free_logdet -= dt * self.inv_tau[self.state_lif].sum()
        self.t0 = t
        if self.any_qif:
            p, mk = self.p, self.masks
            _tangent.advance_states(self.mode, p["tau"], mk["tau"], p["drive"], mk["drive"], self.x, self.tl, t)

    def to_state(self, t):
        """The vectors as perturbations of the state at time t (after the last processed spike): delta v
        (LIF, QIF), delta theta (theta); 0 for neurons held at reset (refractory) at t."""
        self._reanchor(t)
        return self.Y * self._gain() * (self.ref_end <= t)[:, None]

    def orthonormalize(self, t):
        """QR step at time t: the log growths of the vectors since the last step (in the coordinates of
        `_tangent`), and Y replaced by the orthonormal Q (diag R > 0); the time shifts of the spikes in
        flight and of the triggered neurons waiting for their spikes are combined as the vectors are
        (X R^-1). With pulse-triggered spikes, a vector lost (R_ii <= LOST_TOL times its norm) makes its
        log growth and all after it -inf from then on (`self.lost`); its place is taken by Householder's
        orthonormal completion, with no time shifts."""
        self._reanchor(t)
        if self.DT.shape[0] or self.can_trig:
            from scipy.linalg import solve_triangular  # (before the clock: the first import takes 0.1 s)
        cpu = time.process_time()
        Q, R = _qr(self.Y)
        diag = np.diagonal(R).copy()
        forgotten = np.zeros(diag.size, bool)
        if self.can_trig:
            # a vector lost (its part orthogonal to the vectors before it, R_ii, is 0 up to rounding: below
            # LOST_TOL of its norm) is a direction that the singular Jacobians of pulse-triggered spikes
            # annihilated: the volumes that hold it are 0 from then on, so its exponent and all after it
            # are -inf
            forgotten = np.abs(diag) <= LOST_TOL * np.sqrt(np.einsum("ij,ij->j", self.Y, self.Y))
            if forgotten.any():
                Q, R = np.linalg.qr(self.Y)  # Householder: Q orthonormal even so
                diag = np.diagonal(R).copy()
                self.lost = min(self.lost, int(np.argmax(forgotten)))
            forgotten[self.lost :] = True
        with np.errstate(divide="ignore", invalid="ignore"):
            log_r = np.log(np.abs(diag))
        log_r[forgotten] = -np.inf
        if not np.all(np.isfinite(log_r) | forgotten):
            raise FloatingPointError(
                f"the tangent vectors became degenerate or non-finite at t = {t} s (log|R_ii| = {log_r})"
            )
        sign = np.where(diag < 0, -1.0, 1.0)
        self.Y[...] = Q * sign[None, :]
        pending = np.flatnonzero(self.pend == 2) if self.can_trig else np.zeros(0, np.int64)
        if self.DT.shape[0] or pending.size:
            # the time shifts that belong to the vectors (of the spikes in flight, of the triggered neurons
            # waiting for their spikes) are combined as the vectors are: X R^-1
            rows = np.concatenate([self.DT, self.TD[pending]])
            if forgotten.any():  # a new vector in a lost one's place carries no time shift: column e_c of R
                R = R.copy()
                R[:, forgotten] = 0.0
                R[forgotten, forgotten] = 1.0
                rows[:, forgotten] = 0.0
            try:
                out = solve_triangular(R, rows.T, trans="T").T * sign[None, :]
            except np.linalg.LinAlgError as err:
                raise FloatingPointError(
                    f"the tangent vectors became degenerate at t = {t} s (diag R = {diag})"
                ) from err
            self.DT[...] = out[: self.DT.shape[0]]
            self.TD[pending] = out[self.DT.shape[0] :]
        self.cpu["qr"] += time.process_time() - cpu
        return log_r

    def advance(self, duration, interval, record):
        """Run the copy for ``duration`` seconds, propagating the vectors, with a QR step at the end of each
        interval (`interval.length` spikes, or MAX_TAUS_PER_INTERVAL time constants without one) and at the
        end; ``record(log_r, elapsed)`` gets each step's log growths."""
        sim = self.sim
        t_end = sim.t + duration
        t_qr = self.t0
        count = 0
        while True:
            times = self.buffer[0]
            if self.pos == times.size:
                if sim.t >= t_end:
                    break
                el = self.elapsed
                rate = max(self.n_spikes / el, 1.0 / duration) if el > 0 else sim.n / self.t_cap
                self.run_chunk(min(t_end - sim.t, CHUNK_SPIKES / rate))
                continue
            p = self.pos
            cap = t_qr + self.t_cap
            if times[p] > cap:
                record(self.orthonormalize(cap), cap - t_qr, count)
                t_qr, count = cap, 0
                continue
            # (at least one spike: an interval that is full waits for a spike after t_qr, ties at t_qr join it)
            q = min(p + max(interval.length - count, 1), times.size, int(np.searchsorted(times, cap, side="right")))
            if self.can_trig:  # whole instants: the cascade of pulse-triggered spikes of an instant is one step
                q = int(np.searchsorted(times, times[q - 1], side="right"))
            t_last = times[q - 1]
            self._propagate(p, q, t_last)
            self.pos = q
            count += q - p
            if (count >= interval.length or t_last == cap) and t_last > t_qr:
                record(self.orthonormalize(t_last), t_last - t_qr, count)
                t_qr, count = t_last, 0
        while t_end > t_qr:
            t = min(t_end, t_qr + self.t_cap)
            record(self.orthonormalize(t), t - t_qr, count)
            t_qr, count = t, 0


def _qr(Y):
    """Y = Q R (reduced). Tall matrices (n >= 4 k) by CholeskyQR2 (Cholesky factors of the Gram matrix,
    twice: as accurate as Householder for condition numbers below about 1e7, which the QR intervals keep,
    and several times faster in numpy for n >> k); Householder for the others or if the Gram matrix is
    not numerically positive definite."""
    n, k = Y.shape
    if n >= 4 * k:
        try:
            R1 = np.linalg.cholesky(Y.T @ Y).T
            Q = Y @ np.linalg.inv(R1)
            R2 = np.linalg.cholesky(Q.T @ Q).T
            Q = Q @ np.linalg.inv(R2)
            if np.all(np.isfinite(Q)):
                return Q, R2 @ R1
        except np.linalg.LinAlgError:
            pass
    return np.linalg.qr(Y)


class _Interval:
    """Spikes per QR interval: fixed, or adapted to the growth of the vectors over the last interval."""

    def __init__(self, fixed, n):
        self.auto = fixed is None
        self.length = max(1, min(n, 64)) if fixed is None else fixed
        self.max_length = None

    def update(self, log_r, spikes):
        """After a QR step that ended an interval of ``spikes`` spikes with the log growths ``log_r``."""
        if not self.auto:
            return
        log_r = log_r[np.isfinite(log_r)]  # (-inf: a lost vector, not a growth)
        if spikes >= self.length and log_r.size:
            spread = float(log_r.max() - log_r.min())
            size = float(np.abs(log_r).max())
            score = max(spread / TARGET_SPREAD, size / MAX_LOG_GROWTH)
            self.length = 2 * self.length if score <= 0.5 else max(1, int(self.length / score))
        if self.max_length is not None:
            self.length = max(1, min(self.length, self.max_length))


def _time(name, value, positive=False):
    """A time in s (a float, or a Quantity of either library) as a float: > 0 or >= 0."""
    return check_real(name, si_value(name, value, "time"), positive=positive, nonnegative=True)


def lyapunov_spectrum(
    net,
    duration,
    *,
    k=None,
    t_warmup=0.0,
    t_warmup_tangent=0.0,
    qr_interval=None,
    n_batches=20,
    seed=None,
    keep_vectors=False,
):
    """Lyapunov spectrum (all exponents or the first ``k``) of a pulse-coupled `EventNetwork`, exactly.

    A copy of ``net`` continues from its current state (``net`` itself is not changed): it runs alone
    for ``t_warmup``; then ``k`` random orthonormal tangent vectors are propagated with it through the
    single-spike Jacobians (O(K k) work per spike) for ``t_warmup_tangent`` (re-orthonormalised, not
    counted), then for ``duration``, measured. QR re-orthonormalisations happen at spike times, every
    ``qr_interval`` spikes, or, by default, at intervals adapted to the growth of the vectors (the spread
    of their log growths over an interval is kept below log(1e6)), at most 50 time constants apart and
    at least ``5 n_batches`` over the measurement.

    Parameters
    ----------
    net : EventNetwork or brian2.Network
        LIF, QIF and theta neurons (mixed too) with delta pulses of any sign, delays and refractoriness
        (state held at reset), driven or not by Poisson inputs and spike generators (one fixed
        realisation: the continuation of ``net``'s own run, whose input events do not move with the
        perturbations); drive > 0 for QIF and theta neurons. Excitatory pulses may trigger spikes
        (`docs/spiking_lyapunov.md`: the spike takes the pulse's time shift; a spike triggered by an
        input at a fixed time makes its neuron forget its perturbation). A Brian2 Network (Brian2's
        ``magic_network`` after a plain ``run()``) that ran with the sparseprop device: its engine, from
        the end of the last run, on the Brian2 time axis (`SparsePropDevice.exact_network`).
    duration : float or time Quantity
        Measured time (s), > 0.
    k : int or None
        Number of exponents, ``1 <= k <= net.n`` (None: all).
    t_warmup, t_warmup_tangent : float or time Quantity
        Time (s, >= 0) of the network alone, then of the tangent vectors before the measurement.
    qr_interval : int or None
        Spikes between re-orthonormalisations (>= 1), or None for the automatic choice.
    n_batches : int
        Batches of QR intervals for the batch-means error (>= 2).
    seed : int, numpy.random.Generator or None
        Random initial tangent vectors.
    keep_vectors : bool
        Keep the final orthonormal tangent vectors in the result's ``vectors`` (n x k): the columns are
        the backward Lyapunov vectors at the end of the run (the first is the leading Lyapunov vector), in
        the coordinates of the QR steps: sigma = delta x / g(x) for neurons that fire on their own (a
        shift along their orbit, in units of tau), delta v for LIF neurons that do not fire.

    Returns
    -------
    LyapunovSpectrum
        Exponents in 1/s with batch-means errors, local exponents and running estimates (Neo signals
        on the network's time axis), Kaplan-Yorke dimension and entropy rate (and ``vectors`` with their
        ``inverse_participation_ratio`` if ``keep_vectors``). ``params`` holds the
        settings, ``n_spikes`` (measured), ``rate`` (Hz per neuron), ``log_det_rate`` (the time average
        of log|det| of the Jacobians over the measurement, 1/s: the sum of all exponents when ``k = n``; None
        with delays, see `docs/spiking_lyapunov.md`; -inf when a spike triggered by a pulse made a
        Jacobian singular), ``n_triggered`` (pulse-triggered spikes measured), ``n_marginal`` (of them,
        events where the engine and the replay of the states read a pulse that reaches threshold to
        rounding differently: differentiated as the replay reads them),
        ``qr_interval`` ('auto' or the number), ``n_qr`` (QR steps measured) and ``cpu_seconds`` (process
        time of the network's runs, the tangent updates and the QR steps, warm-up of the vectors included).

    Raises
    ------
    TypeError
        If ``net`` is not an `EventNetwork` or a Brian2 Network, a time is not a time, or a count not an
        integer.
    ValueError
        If a time or count is out of range, or a Brian2 Network did not run with the sparseprop device.
    NotImplementedError
        For plastic synapses, the 'lif_exp' model, ``integrate_refractory=True``, or QIF and theta neurons
        with drive <= 0 (naming the first one found).
    FloatingPointError
        If the tangent vectors become degenerate or non-finite (other than a vector lost exactly through
        pulse-triggered spikes: its exponent and those after it are -inf, their ``stderr`` NaN).
    RuntimeError
        If the replay of a pulse-triggered spike disagrees with the engine's record beyond a rounding at
        threshold (simultaneous pulses of mixed signs onto one neuron from different sources).

    Examples
    --------
    An inhibitory LIF network: one zero exponent (a shift in time), the others negative.

    >>> from brian2_sparseprop.spiking.standard import sparse_inhibitory_lif
    >>> net = sparse_inhibitory_lif(100, k=20, seed=0)
    >>> res = lyapunov_spectrum(net, 5.0, k=3, t_warmup=1.0, t_warmup_tangent=5.0, seed=0)
    >>> str(res.exponents.dimensionality)
    '1/s'
    >>> bool(abs(res.exponents[0].magnitude) < 1e-12 and res.exponents[1].magnitude < 0)
    True

    Driven by inhibitory Poisson input (one fixed realisation, the continuation of ``net``'s run), with
    synaptic delays: the time shift is no symmetry any more (the input does not move), all exponents are
    negative.

    >>> net = sparse_inhibitory_lif(100, k=20, seed=0, delays=0.002)
    >>> net.add_poisson_input(200.0, -0.05)
    >>> res = lyapunov_spectrum(net, 2.0, k=3, t_warmup=0.5, t_warmup_tangent=1.0, seed=0)
    >>> bool(res.exponents[0].magnitude + 3 * res.stderr[0].magnitude < 0)
    True

    Excitatory and inhibitory pulses, excitatory Poisson input: pulses trigger most spikes (each one a
    singular Jacobian, so the sum of all exponents, ``log_det_rate``, is -inf); the leading exponents are
    finite.

    >>> import numpy as np
    >>> from brian2_sparseprop import EventNetwork
    >>> from brian2_sparseprop.connectivity import fixed_out_degree
    >>> indptr, indices = fixed_out_degree(100, 10, np.random.default_rng(0))
    >>> w = np.repeat(np.where(np.arange(100) < 80, 0.1, -0.4), 10)
    >>> net = EventNetwork(100, tau=0.01, drive=1.3, indptr=indptr, indices=indices, weights=w, seed=0)
    >>> net.add_poisson_input(300.0, 0.1)
    >>> res = lyapunov_spectrum(net, 1.0, k=2, t_warmup=0.3, t_warmup_tangent=0.5, seed=0)
    >>> p = res.params
    >>> bool(p["n_triggered"] > p["n_spikes"] / 2), p["log_det_rate"], bool(np.isfinite(res.exponents).all())
    (True, -inf, True)

    The tangent vectors converge to the Lyapunov vectors at the rate of the gaps between the exponents:
    the zero exponent comes out to rounding once the warm-up ``t_warmup_tangent`` is long against
    ``1 / |lambda_2|`` (here 5 s against 0.05 s).
    """
    import quantities as pq

    from ..lyapunov import QRAccumulator
    from .network import MODELS

    net, t_offset = _event_network(net)
    duration = _time("duration", duration, positive=True)
    t_warmup = _time("t_warmup", t_warmup)
    t_warmup_tangent = _time("t_warmup_tangent", t_warmup_tangent)
    n = net.n
    k = n if k is None else check_int("k", k, 1)
    if k > n:
        raise ValueError(f"k must be <= the number of neurons {n}, found: {k}")
    if qr_interval is not None:
        qr_interval = check_int("qr_interval", qr_interval, 1)
    n_batches = check_int("n_batches", n_batches, 2)
    _check_spectrum_supported(net)
    rng = np.random.default_rng(seed)

    t_begin = t_offset + float(net.t)
    source = net
    if t_warmup > 0:  # the network alone, on a copy that records nothing
        source = _continue(net, record=False)
        source.run(t_warmup)
    run = _TangentRun(source, np.linalg.qr(rng.standard_normal((n, k)))[0], stored=True)
    interval = _Interval(qr_interval, n)

    def ignore(log_r, elapsed, spikes):
        interval.update(log_r, spikes)

    if t_warmup_tangent > 0:
        run.advance(t_warmup_tangent, interval, ignore)
    acc = QRAccumulator(k)
    run.lost = k  # (vectors lost during the warm-up were replaced: the measurement starts from k vectors)
    spikes0, logdet0, free0, trig0, marg0 = run.n_spikes, run.logdet[0], run.free_logdet, *run.n_trig.tolist()
    if run.n_spikes and run.elapsed > 0:  # the rate of the vectors' warm-up caps the first intervals too
        interval.max_length = max(1, int(run.n_spikes / run.elapsed * duration / (INTERVALS_PER_BATCH * n_batches)))
        interval.update(np.zeros(k), 0)

    def measure(log_r, elapsed, spikes):
        acc.add(log_r, elapsed)
        # at least INTERVALS_PER_BATCH intervals per batch, at the rate measured so far
        rate = (run.n_spikes - spikes0) / acc.elapsed.sum()
        interval.max_length = max(1, int(rate * duration / (INTERVALS_PER_BATCH * n_batches)))
        interval.update(log_r, spikes)

    run.advance(duration, interval, measure)
    n_spikes = run.n_spikes - spikes0
    log_det = (run.logdet[0] - logdet0) + (run.free_logdet - free0)
    n_triggered = int(run.n_trig[0]) - trig0
    n_marginal = int(run.n_trig[1]) - marg0
    if n_triggered:  # a singular Jacobian: the product's determinant is 0
        log_det = -np.inf
    codes = sorted({MODELS[c] for c in np.unique(net._codes)})
    params = dict(
        model=codes[0] if len(codes) == 1 else "+".join(codes),
        n=n,
        duration=duration,
        t_warmup=t_warmup,
        t_warmup_tangent=t_warmup_tangent,
        qr_interval="auto" if qr_interval is None else qr_interval,
        n_qr=acc.n_intervals,
        n_spikes=n_spikes,
        rate=n_spikes / (n * duration),
        log_det_rate=None if run.delayed else log_det / duration,
        n_triggered=n_triggered,
        n_marginal=n_marginal,
        seed=seed if isinstance(seed, (int, np.integer)) or seed is None else "generator",
        cpu_seconds=dict(run.cpu),
    )
    t_start = t_begin + t_warmup + t_warmup_tangent
    res = acc.spectrum(time_unit=pq.s, t_start=t_start, dim=n, params=params, n_batches=n_batches)
    if keep_vectors:
        res.vectors = run.Y.copy()  # orthonormal: the run ends with a QR step
    return res


def _wrap(theta):
    """Phases into [-pi, pi)."""
    return theta - 2 * np.pi * np.floor((theta + np.pi) / (2 * np.pi))


def _rescale_in_flight(ref, other, factor):
    """Move the spikes in flight of ``other`` toward those of ``ref`` (the same spikes, sent a hair apart)
    so that their time differences are multiplied by ``factor``, as the states' are."""
    if ref._engine is None or other._engine is None:
        return
    qr, qo = ref._engine.delay_queue(), other._engine.delay_queue()
    if qr["t_arr"].size == 0 and qo["t_arr"].size == 0:
        return
    orders = [np.lexsort((q["t_spk"], q["syn"], q["src"])) for q in (qr, qo)]
    qr, qo = ({k: v[o] for k, v in q.items()} for q, o in zip((qr, qo), orders))
    if qr["src"].size != qo["src"].size or (qr["src"] != qo["src"]).any() or (qr["syn"] != qo["syn"]).any():
        raise FloatingPointError(
            f"the two trajectories have different spikes in flight at t = {ref.t} s: their separation is no "
            "longer small (use a smaller d0 or interval)"
        )
    eo = other._engine.epoch - ref._engine.epoch  # the queues' times are relative to each engine's epoch
    t_spk = qr["t_spk"] - eo + factor * (qo["t_spk"] + eo - qr["t_spk"])
    qo["t_arr"] = qo["t_arr"] + (t_spk - qo["t_spk"])
    qo["t_spk"] = t_spk
    other._engine._set_delay_queue(qo)


def largest_exponent_two_trajectories(
    net, duration, *, d0=1e-9, interval=None, t_warmup=0.0, t_warmup_tangent=0.0, n_batches=20, seed=None
):
    """Largest Lyapunov exponent of a theta network from two nearby trajectories (no Jacobian involved).

    The classic check of `lyapunov_spectrum`: two copies of ``net`` continue from its state (``net`` itself
    is not changed) and run side by side, the second displaced by ``d0`` (Euclidean norm of the phase
    differences, in a random direction). Every ``interval`` the separation of the phases (each wrapped
    into [-pi, pi)) is measured, its log growth recorded, and the second copy is put back at distance
    ``d0`` along it. The first ``t_warmup`` runs the network alone, the next ``t_warmup_tangent`` lets the
    separation align with the leading direction (renormalised, not counted).

    With delays, the emission times of the second copy's spikes in flight are renormalised with its
    phases (their differences to the first copy's are scaled by the same factor), so that the separation
    is a perturbation of the whole state, as the tangent vectors are (`docs/spiking_lyapunov.md`). With
    external input both copies see the same realisation.

    Theta networks only: their state, the phases modulo 2 pi, is continuous through spikes. The state of
    LIF and QIF neurons jumps at a reset, so two copies whose spikes are a hair apart are far apart for
    that instant (the tangent method has no such problem). The same happens here for the targets of a
    spike that one copy has fired and the other not yet at a measurement; with ``d0 = 1e-9`` the chance
    per measurement is about (spikes per second) x d0 x tau, negligible.

    Parameters
    ----------
    net : EventNetwork or brian2.Network
        Theta neurons with delta pulses, as in `lyapunov_spectrum` (delays, refractoriness and external
        input included); drive > 0. A Brian2 Network that ran with the sparseprop device, as in
        `lyapunov_spectrum`.
    duration : float or time Quantity
        Measured time (s), > 0, at least ``n_batches`` intervals.
    d0 : float
        Separation, ``0 < d0 <= 1e-4``: small enough to stay linear over an interval, large enough to be
        above the rounding of phases of order 1.
    interval : float, time Quantity or None
        Time between renormalisations (s, > 0; None: the smallest tau of the network).
    t_warmup, t_warmup_tangent : float or time Quantity
        Time (s, >= 0) of the network alone, then of the two copies before the measurement.
    n_batches : int
        Batches of intervals for the batch-means error (>= 2).
    seed : int, numpy.random.Generator or None
        Random initial direction of the separation.

    Returns
    -------
    LyapunovSpectrum
        One exponent in 1/s, with its batch-means error and running estimates; the log growth of the
        separation over each interval is its ``log_growth``.

    Raises
    ------
    TypeError
        If ``net`` is not an `EventNetwork` or a Brian2 Network, a time is not a time, or a count not an
        integer.
    ValueError
        If a time, ``d0`` or a count is out of range, or a Brian2 Network did not run with the sparseprop
        device.
    NotImplementedError
        For neurons other than theta neurons, or what `lyapunov_spectrum` refuses.

    Examples
    --------
    >>> from brian2_sparseprop.spiking.standard import balanced_theta
    >>> net = balanced_theta(100, k=20, seed=0)
    >>> res = largest_exponent_two_trajectories(net, 4.0, t_warmup=0.5, t_warmup_tangent=0.5, seed=0)
    >>> str(res.exponents.dimensionality), bool(res.exponents[0].magnitude > 0)
    ('1/s', True)
    """
    import quantities as pq

    from ..lyapunov import QRAccumulator
    from .network import MODELS

    net, t_offset = _event_network(net)
    duration = _time("duration", duration, positive=True)
    t_warmup = _time("t_warmup", t_warmup)
    t_warmup_tangent = _time("t_warmup_tangent", t_warmup_tangent)
    d0 = check_real("d0", d0, positive=True)
    if d0 > 1e-4:
        raise ValueError(f"d0 must be <= 1e-4 (a separation that stays linear), found: {d0}")
    n_batches = check_int("n_batches", n_batches, 2)
    if (net._codes != MODELS.index("theta")).any():
        i = int(np.argmax(net._codes != MODELS.index("theta")))
        raise NotImplementedError(
            "the two-trajectory estimate is implemented for theta neurons (a state continuous through "
            f"spikes), found model {MODELS[net._codes[i]]!r} for neuron {i}; use lyapunov_spectrum"
        )
    _check_spectrum_supported(net)
    interval = float(np.min(net._tau)) if interval is None else _time("interval", interval, positive=True)
    n_intervals = int(round(duration / interval))
    if n_intervals < n_batches:
        raise ValueError(
            f"duration / interval = {duration / interval:.3g} intervals, fewer than n_batches = {n_batches}"
        )
    rng = np.random.default_rng(seed)

    ref = _continue(net, record=False)
    t_begin = t_offset + float(net.t)
    if t_warmup > 0:
        ref.run(t_warmup)
    other = _continue(ref, record=False)
    direction = rng.standard_normal(net.n)
    other.set_v(_wrap(ref.v + d0 * direction / np.linalg.norm(direction)))

    def step():
        ref.run(interval)
        other.run(interval)
        sep = _wrap(other.v - ref.v)
        d = float(np.linalg.norm(sep))
        if not (d > 0 and math.isfinite(d)):
            raise FloatingPointError(f"the separation became {d} at t = {ref.t} s")
        other.set_v(_wrap(ref.v + (d0 / d) * sep))
        _rescale_in_flight(ref, other, d0 / d)
        return math.log(d / d0)

    for _ in range(int(round(t_warmup_tangent / interval))):
        step()
    acc = QRAccumulator(1)
    for _ in range(n_intervals):
        acc.add([step()], interval)
    params = dict(
        model="theta",
        n=net.n,
        method="two trajectories",
        duration=n_intervals * interval,
        interval=interval,
        d0=d0,
        t_warmup=t_warmup,
        t_warmup_tangent=t_warmup_tangent,
        seed=seed if isinstance(seed, (int, np.integer)) or seed is None else "generator",
    )
    t_start = t_begin + t_warmup + int(round(t_warmup_tangent / interval)) * interval
    return acc.spectrum(time_unit=pq.s, t_start=t_start, dim=net.n, params=params, n_batches=n_batches)


def _tangent_map(net, duration, vectors):
    """The derivative of the state after ``duration`` (s) by the state now, applied to ``vectors`` (n x m,
    columns are perturbations of ``net.v``: delta v for LIF and QIF, delta theta for theta), by the
    product of the single-spike Jacobians along the run of a copy of ``net``; the columns come back in
    the same coordinates, at time ``net.t + duration`` (for checks against finite differences)."""
    _check_spectrum_supported(net)
    run = _TangentRun(net, np.asarray(vectors, dtype=np.float64))
    run.run_chunk(duration)
    times = run.buffer[0]
    if times.size:
        run._propagate(0, times.size, times[-1])
        run.pos = times.size
    return run.to_state(run.sim.t)
