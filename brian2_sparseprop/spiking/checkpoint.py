"""Checkpointed backward passes: the gradient of a long run within a memory budget.

``lif_gradient(net, ..., memory_budget=B)`` ('lif', 'lif_exp', 'qif', 'theta' and 'linear' networks) differentiates the
recorded run in segments, from the last to the first, instead of in one pass over all its spikes. The backward
pass needs the spikes, their cause bits and the input events, which the forward run recorded (the loss is a
function of the spike record), and the states of the neurons at each segment's start, which it does not keep:
it re-runs the network from engine states (the one the tape stored at t = 0, and full engine snapshots taken
on the way when a budget needs them) to read them, and puts the network back as it was.

A segment [t_a, t_b) is differentiated by the compiled pass of the whole run
(`brian2_sparseprop.spiking._adjoint`), as a run from t_a with the states v(t_a) to t_b with dL/dv(t_b)
the adjoint carried from the segment after it. What crosses t_a is carried by the chain rule:

* dL/dv_i(t_a) of each neuron free at t_a (the segment's dL/dv0) becomes the earlier segment's dL/dv(T);
* a neuron refractory at t_a (its last spike t_p before t_a, t_p + t_ref > t_a) has its first piece start
  at t_p + t_ref with the reset: t_p enters the segment as a spike given as pulse-caused (no piece of
  the segment ends at it), arrivals during its refractory period are dropped as in the run, and its
  total dL/dt (the arrivals of its pulses after t_a, the start of its next piece) is added to dL/dt_p of
  the earlier segment;
* a spike or input event before t_a with pulses in flight at t_a (within the largest delay) is an input
  event of the segment: its arrivals after t_a are sent back, and its dL/dt is added to the earlier
  segment's.

The parameters' gradients add up over the segments. The result equals the unsegmented pass's within
rounding (the free pieces are cut at the segment starts, so the same sums are formed in another order).

For 'lif_exp' neurons (`brian2_sparseprop.spiking._adjoint_exp`) the state is (v, I_e, I_i): a segment
starts from v(t_a) and the currents at t_a (the engine's, `EventNetwork.currents`, in the replay) and
ends with the adjoints of the whole state at t_b carried in, and returns those at t_a. A neuron refractory
at t_a has a first piece that is refractory, from t_a with its currents at t_a to the end of the period
(its currents decay and take their arrivals): its pseudo-spike's dL/dt is that of the refractory end and
of its own arrivals after t_a, and the adjoints of its currents at t_a go back to the earlier segment, in
which the neuron is refractory at the segment's end (the currents' adjoints there are carried through
that refractory piece to the spike, its arrivals and dL/dtau_e, dL/dtau_i). Arrivals before t_a are in the
currents at t_a. A start state is three vectors of n (24 bytes per neuron).

For 'qif' and 'theta' neurons (`brian2_sparseprop.spiking._adjoint_qif`) a segment starts from v(t_a)
(v = tan(theta / 2) for theta neurons, read from the engine in the replay) and carries dL/dv(t_a)
(dL/dtheta(t_a)) back. Their pass rebuilds each neuron's states at its arrivals piece by piece from the
piece's start: in a segment the first piece starts at t_a with v(t_a); a neuron refractory at t_a enters
with its last spike as a pseudo-spike, whose piece is void (no multiplier, no cause looked for) and after
which the next piece starts at the end of the refractory period with the reset, as for 'lif'. The
arrivals are those at t_a or later of the segment's spikes, pseudo-spikes, input events and events in
flight; arrivals of one instant at one neuron keep the order of the whole run's pass (spikes by record
position, then input events), which decides which pulse causes a pulse-triggered spike. Pseudospikes
(``pseudospikes=``) depend on the states at T only: their derivatives enter the last segment's dL/dv(T)
and dL/dtau, dL/dtheta directly.

For 'linear' neurons (`brian2_sparseprop.spiking._adjoint_linear`, dx/dt = A x + b) a segment starts from
the state vectors x(t_a) (`EventNetwork.linear_state`, read in the replay: 8 d bytes per neuron per kept
start state) and carries dL/dx(t_a) back to the earlier segment's end, where the pass takes the adjoints
of whole state vectors. As for 'lif_exp', a neuron refractory at t_a starts with a refractory piece from
t_a (v held at its reset, the other variables integrating from their values at t_a, arrivals into them
taken) to the end of the period; its last spike's dL/dt in the segment (the refractory end and its
arrivals after t_a) and the adjoint of its state at t_a go back to the earlier segment, in which the
neuron is refractory at the segment's end and whose pass carries that adjoint through the refractory
piece to the spike's reset. Arrivals before t_a are in the start state; those of one instant keep the
whole run's order (the reverse walk meets the spikes by record position and the events in flight in the
order of the whole run's pass), which decides which pulse causes a pulse-triggered spike. The pass holds 17
doubles per boundary (spikes, refractory ends, readouts) and dL/dA, dL/db (25 doubles) per neuron where A or b
is given per neuron (else once), which the plan counts (`LIN_SPIKE_BYTES`, `LIN_READOUT_BYTES`,
`LIN_NEURON_BYTES`, `LIN_GM_BYTES`).

Segments are cut between two spikes of different times (a cascade of one instant stays in one segment), at 0.382
of the gap (`SPLIT`: no event is expected at that instant). Their number is the smallest whose memory fits the
budget: the bytes a segment allocates (`SPIKE_BYTES` per spike of it and per pseudo-spike, `EVENT_BYTES` per
input event of it and per spike or input event within the largest delay or refractory period before its start,
`NEURON_BYTES` per neuron; more per spike and neuron for 'lif_exp' and 'linear' networks, and per readout for
'linear'; for 'qif' and 'theta' networks, whose pass stores sorted records of the arrivals, `QIF_ARRIVAL_BYTES`
per arrival of those events, counted from the events' out-degrees by `_Degrees`, and more per spike, input event
and neuron), the state vectors at the segment starts of one group (8 bytes per neuron and state variable each),
the full engine snapshots at the group starts, the engine state at T (to put the network back), and the
permutation of the synapses by delay (8 bytes per synapse, 32 while it is computed) if they have delays of their
own. The groups (a replay from a snapshot per group) trade those snapshots against state vectors. The constants
are upper bounds of the arrays the pass allocates, checked with tracemalloc in tests/test_gradients_checkpoint.py
and tests/test_gradients_checkpoint_linear.py on networks of 300 neurons. Not counted: a fixed overhead of the
pass's Python objects and small arrays, measured 8 to 20 kB above the plan for every model on networks of 20
neurons at their least budgets (where the plan is a few tens of kB).
"""

import numpy as np

from .._validation import check_real
from . import _adjoint, _adjoint_exp, _adjoint_linear
from .gradients import (
    _augmented,
    _boundaries,
    _exp_boundaries,
    _gradient,
    _linear_dy,
    _linear_gM,
    _linear_result,
    _linear_x0,
    _mask,
    _model_family,
    _pseudospike_terms,
    _qif_pass,
    _qif_readouts,
    _state_v,
    _synapse_accumulators,
    _synapse_parts,
)

__all__ = ["segments"]

SPIKE_BYTES = 160  # per spike of a segment (its arrays, the boundaries' temporaries, the compiled workspace)
EVENT_BYTES = 64  # per input event of a segment, per spike or input event before it within the window
NEURON_BYTES = 112  # per neuron (carried adjoints, start states, the compiled pass's per-neuron arrays)
READOUT_BYTES = 96  # per readout (row x recorded neuron) of a segment
EXP_SPIKE_BYTES = 96  # 'lif_exp': more per spike (its refractory end's boundary, 6 doubles per boundary)
EXP_NEURON_BYTES = 96  # 'lif_exp': more per neuron (the currents' start states and carried adjoints)
PLAN_BYTES = 256  # per segment (the plan's arrays and temporaries, the start times)
QIF_SPIKE_BYTES = 96  # 'qif'/'theta': more per spike (events by neuron, flat offsets, the pieces' factors)
QIF_EVENT_BYTES = 32  # 'qif'/'theta': more per input event of a segment and before it (as an event of the pass)
QIF_ARRIVAL_BYTES = 32  # 'qif'/'theta': per arrival of a segment's events (grouped records, their positions)
QIF_READOUT_ARRIVAL_BYTES = 16  # 'qif'/'theta' with readouts: the readouts' parts per arrival
QIF_NEURON_BYTES = 96  # 'qif'/'theta': more per neuron (the open pieces' factors, the rows of arrivals)
LIN_SPIKE_BYTES = 320  # 'linear': more per spike (its boundary and its refractory end's: 17 doubles each, and more)
LIN_READOUT_BYTES = 192  # 'linear': more per readout (its boundary)
LIN_NEURON_BYTES = 448  # 'linear': more per neuron (dL/dM, 25 doubles; augmented states and adjoints, 5 each)
LIN_GM_BYTES = 200  # of which dL/dM, one row for all neurons when A and b are shared


class _Degrees:
    """The sums of the out-degrees of a record's events (rows of ``indptr``) before given positions, from a
    table of one sum per ``BLOCK`` events (O(size / BLOCK) memory)."""

    BLOCK = 256
    CHUNK = 1 << 12  # events per step of the table's construction (a multiple of BLOCK)

    def __init__(self, rows, indptr):
        self.rows, self.indptr = rows, indptr
        b = self.BLOCK
        n_full = rows.size // b
        self.table = np.zeros(n_full + 1, np.int64)
        for c in range(0, n_full * b, self.CHUNK):
            r = rows[c : min(c + self.CHUNK, n_full * b)]
            self.table[c // b + 1 : (c + r.size) // b + 1] = (indptr[r + 1] - indptr[r]).reshape(-1, b).sum(axis=1)
        np.cumsum(self.table, out=self.table)

    def before(self, pos):
        """The summed degrees of the events at positions < ``pos`` (an array)."""
        pos = np.asarray(pos, np.int64)
        out = self.table[pos // self.BLOCK]
        for j, (a, b) in enumerate(zip((pos // self.BLOCK) * self.BLOCK, pos)):  # (per position: few)
            r = self.rows[a:b]
            out[j] += int((self.indptr[r + 1] - self.indptr[r]).sum())
        return out


def _state_size(net, family):
    """The state variables per neuron that a segment starts from, and the bytes the model's pass holds
    beyond the 'lif' pass's per spike, per neuron and per readout."""
    if family == "lif_exp":  # v and the two currents; the refractory ends' boundaries, 6 doubles each
        return 3, (EXP_SPIKE_BYTES, EXP_NEURON_BYTES, 0)
    if family == "linear":  # the state vector; boundaries of 17 doubles, dL/dM per neuron unless shared
        per_neuron = LIN_NEURON_BYTES - (0 if _linear_gM(net)[0].shape[0] == net.n else LIN_GM_BYTES)
        return len(net._linear["model"].variables), (LIN_SPIKE_BYTES, per_neuron, LIN_READOUT_BYTES)
    return 1, (0, 0, 0)


def _nbytes(obj):
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, dict):
        return sum(_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(v) for v in obj)
    return 0


def _merged(chunks, empty):
    """The record's chunks merged in place into one (no copy when the run was made in one piece)."""
    if len(chunks) > 1:
        merged = tuple(np.concatenate([c[k] for c in chunks]) for k in range(len(chunks[0])))
        chunks[:] = [merged]
    return chunks[0] if chunks else empty


# where a segment starts within the gap between two spikes: not at a simple fraction of it (with a time
# quantum, spikes caused by pulses are whole quanta after their causes, and a midpoint between two spikes 2
# quanta apart is an arrival time)
SPLIT = 0.5 * (3.0 - 5.0**0.5)


def _cuts(times, n_seg):
    """Split positions of the spike record into about n_seg segments of equal numbers of spikes (a split
    at the first spike of its instant, the gap to the spike before it wide enough for a start strictly
    inside it): the positions r_k (ascending, 0 < r_k < n_sp) and the nominal times (O(n_seg) memory)."""
    n_sp = times.size
    if n_seg <= 1 or n_sp < 2:
        return np.zeros(0, np.int64), np.zeros(0)
    r = (np.arange(1, n_seg, dtype=np.int64) * n_sp) // n_seg
    r = np.unique(np.searchsorted(times, times[np.clip(r, 1, n_sp - 1)], side="left"))
    r = r[(r > 0) & (r < n_sp)]
    a, b = times[r - 1], times[r]
    ok = (b - a) > 64.0 * np.finfo(float).eps * np.maximum(np.abs(b), 1.0)
    r, a, b = r[ok], a[ok], b[ok]
    return r.astype(np.int64), a + SPLIT * (b - a)


def _segment_bytes(times, in_t, starts, r, window, n, ro_per_seg, extra=(0, 0, 0)):
    """The estimated bytes of each segment's pass (see the module's docstring; ``extra``: the model's bytes
    per spike, neuron and readout beyond the 'lif' pass's, `_state_size`)."""
    bounds = np.concatenate([[0], r, [times.size]])
    n_spk = np.diff(bounds)
    w_sp = r - np.searchsorted(times, starts - window, side="left")
    e = np.searchsorted(in_t, starts, side="left")
    w_in = e - np.searchsorted(in_t, starts - window, side="left")
    n_in = np.diff(np.concatenate([[0], e, [in_t.size]]))
    win = np.concatenate([[0], w_sp + w_in])
    pseudo = np.concatenate([[0], np.minimum(w_sp, n)])
    per_spike, per_neuron, per_readout = SPIKE_BYTES + extra[0], NEURON_BYTES + extra[1], READOUT_BYTES + extra[2]
    return per_spike * (n_spk + pseudo) + EVENT_BYTES * (n_in + win) + per_neuron * n + per_readout * ro_per_seg


def _groups(n_seg, snap, vec):
    """The number of groups m (each replayed from one full snapshot) minimising (m - 1) snap +
    ceil(n_seg / m) vec, and that memory."""
    best = np.sqrt(n_seg * vec / snap) if snap else n_seg
    m = np.unique(np.clip(np.array([1, n_seg, np.floor(best), np.ceil(best), np.floor(best) + 1]), 1, n_seg))
    m = m.astype(np.int64)
    cost = (m - 1) * snap + -(-n_seg // m) * vec
    k = int(np.argmin(cost))
    return int(m[k]), int(cost[k])


def plan(net, times, in_t, budget, window, snap, n_state=1, extra=(0, 0, 0), arrivals=None):
    """The segments of a checkpointed pass within ``budget`` bytes: (split positions, nominal split times,
    number of groups, whether each segment is re-run from its group's snapshot, estimated peak bytes), or
    ValueError naming the least budget. ``snap``: the bytes of one full engine snapshot.

    The fewest segments that fit, with the state vectors of a group's segment starts kept from one replay
    of the group; if no number fits so, the fewest segments that fit with each segment's start state
    re-run from its group's snapshot (one vector at a time: time grows with the square of the segments
    per group) and as many groups as fit. ``n_state``: the state variables per neuron (1 for 'lif' and
    'qif', 3 for 'lif_exp': v and the two currents, d for 'linear'); ``extra``: the bytes the model's pass
    holds beyond the 'lif' pass's per spike, per neuron and per readout (both from `_state_size`).
    ``arrivals``: for 'qif' and 'theta' networks, whose pass stores per arrival, the `_Degrees` of the
    spikes and of the input events."""
    n = net.n
    vec = 8 * n * n_state
    # the permutation of the engine's sort of the synapses by delay (to split the gradients by part; 8 bytes
    # per synapse, 32 while it is computed) if the synapses have delays of their own
    syn = 8 * net._spec["indices"].size if net._spec["delays"].size > 1 else 0
    s_times = net.state_times
    cols = 0 if net._sample_idx is None else net._sample_idx.size

    def evaluate(n_seg):
        r, starts = _cuts(times, n_seg)
        rows = np.diff(np.searchsorted(s_times, np.concatenate([[0.0], starts, [np.inf]]), side="left"))
        # the segment's workspace, the engine state at T (to put the network back), the plan's arrays
        seg = _segment_bytes(times, in_t, starts, r, window, n, rows * cols, extra)
        if arrivals is not None:  # 'qif'/'theta': the arrivals of the segment's events and of those before it
            sp, inp = arrivals
            seg_starts = np.concatenate([[0.0], starts])
            w_sp = np.searchsorted(times, seg_starts - window, side="left")
            w_in = np.searchsorted(in_t, seg_starts - window, side="left")
            e_in = np.searchsorted(in_t, np.append(starts, np.inf), side="left")
            n_arr = sp.before(np.append(r, times.size)) - sp.before(w_sp) + inp.before(e_in) - inp.before(w_in)
            per_arrival = QIF_ARRIVAL_BYTES + (QIF_READOUT_ARRIVAL_BYTES if cols else 0)
            # (the segment's spikes and those within the window before it: its pseudo-spikes and in-flight spikes)
            n_ev = QIF_SPIKE_BYTES * (np.append(r, times.size) - w_sp) + QIF_EVENT_BYTES * (e_in - w_in)
            seg = seg + per_arrival * n_arr + n_ev + QIF_NEURON_BYTES * n
        base = int(seg.max()) + snap + syn
        return r, starts, base + PLAN_BYTES * (r.size + 1)

    least = np.inf
    for rerun in (False, True):
        n_seg = 1
        while True:
            r, starts, base = evaluate(n_seg)
            if rerun:
                m = min(int((budget - base - vec) // snap) + 1, r.size + 1) if snap else r.size + 1
                need = base + vec + (m - 1) * snap
                least = min(least, max(base + vec, snap + 4 * syn))
            else:
                m, groups = _groups(r.size + 1, snap, vec)
                need = base + groups
            need = max(need, snap + 4 * syn)
            if m >= 1 and need <= budget:
                return r, starts, m, rerun, need
            if n_seg >= times.size or PLAN_BYTES * 2 * n_seg > budget:
                break  # (the plan of more segments does not fit)
            n_seg = min(2 * n_seg, times.size)
    raise ValueError(
        f"memory_budget is too small for this run: found {budget:.0f} bytes, the least that holds the engine's "
        f"snapshot, one state vector and the workspace of a segment is {least:.0f} bytes ({least / 2**20:.2f} MiB)"
    )


class _Replay:
    """Re-runs the recorded run of ``net`` from stored engine states, then puts the network back as it was
    (state, records, tape)."""

    KEEP = ("_tape", "_tape_inputs", "_tape_state0", "_spike_chunks", "_sample_values", "_sample_extra",
            "_n_samples_done", "_poisson_chunks", "_rate_counts")  # fmt: skip

    def __init__(self, net, saved):
        self.net, self.saved = net, saved

    def __enter__(self):
        net = self.net
        self.kept = {k: getattr(net, k) for k in self.KEEP}
        net._spike_chunks, net._sample_values, net._sample_extra, net._poisson_chunks = [], [], [], []
        if net._rate_counts is not None:
            net._rate_counts = net._rate_counts.copy()
        return self

    def start(self, state):
        self.net.set_state(state)

    def run_to(self, t, expected):
        """Run to about t (run(a); run(b) is run(a + b) bit for bit); the time reached. The spikes of the
        stretch must be ``expected`` (the record's), or RuntimeError: the network no longer gives its
        recorded run."""
        net = self.net
        if t > net.t:
            net.run(t - net.t)
        got = net._spike_chunks[0][0] if len(net._spike_chunks) == 1 else np.zeros(0)
        if not np.array_equal(got, expected):
            raise RuntimeError(
                f"re-running the network from its stored state up to {t} s gave {got.size} spikes where the record "
                f"has {expected.size} (or other times): the network no longer gives the recorded run"
            )
        net._spike_chunks.clear()
        net._sample_values.clear()
        net._sample_extra.clear()
        net._poisson_chunks.clear()
        return float(net.t)

    def __exit__(self, *exc):
        net = self.net
        net.set_state(self.saved)
        for k, v in self.kept.items():
            setattr(net, k, v)
        return False


def _setup(net, tref):
    """The input record (merged), the largest delay, the window before a segment start that holds the
    pulses in flight and the refractory periods, the engine state at T and one snapshot's bytes."""
    in_t, in_s = _merged(net._tape_inputs, (np.zeros(0), np.zeros(0, np.int32)))
    d = net._spec["delays"]
    d_max = float(d.max()) if d.size else 0.0
    window = max(d_max, float(tref.max()) if tref.size else 0.0)
    saved = net.get_state()  # the engine at T, to put back after the replays
    snap = max(_nbytes(saved), _nbytes(net._tape_state0))
    return in_t, in_s, d_max, window, saved, snap


def segments(net, memory_budget):
    """The segments in which ``net.gradient(..., memory_budget=memory_budget)`` differentiates the run.

    Parameters
    ----------
    net : EventNetwork
        A network of 'lif', of 'lif_exp', of 'qif' and 'theta', or of 'linear' neurons after
        ``run(..., record_tape=True)``.
    memory_budget : float
        Bytes (see `brian2_sparseprop.spiking.gradients.lif_gradient`).

    Returns
    -------
    dict
        ``starts``: the nominal start times of the segments (s; the first is 0), ``first_spikes``: the
        record position of each segment's first spike, ``groups``: the number of replays from a full engine
        snapshot, ``rerun``: whether each segment's start state is re-run from its group's snapshot (else one
        replay per group keeps them all), ``bytes``: the estimated peak memory of the pass (<= ``memory_budget``).

    Raises
    ------
    TypeError
        If ``net`` is not an `EventNetwork` or ``memory_budget`` not a real number.
    ValueError
        If there is no tape, ``memory_budget`` is not > 0, or it cannot hold the smallest segments of the
        run (the message names the least budget).
    NotImplementedError
        For networks of other neurons than 'lif', 'lif_exp', 'qif', 'theta' and 'linear' (or of several of
        these families), whose gradients are not written.

    Examples
    --------
    >>> import numpy as np
    >>> from brian2_sparseprop import EventNetwork
    >>> from brian2_sparseprop.spiking.checkpoint import segments
    >>> net = EventNetwork(50, drive=np.linspace(1.2, 1.6, 50), tau=0.01)
    >>> net.run(0.2, record_tape=True)
    >>> plan = segments(net, 30_000)
    >>> len(plan["starts"]) > 1, plan["bytes"] <= 30_000
    (True, True)
    >>> dL = np.ones(net.spike_times.size)  # L = the sum of the spike times
    >>> g, g_ckpt = net.gradient(dL), net.gradient(dL, memory_budget=30_000)
    >>> bool(np.allclose(g_ckpt.drive, g.drive, rtol=1e-12, atol=0))
    True

    'lif_exp' networks (exponential currents) likewise:

    >>> net = EventNetwork(50, model="lif_exp", drive=np.linspace(1.2, 1.6, 50), tau=0.01, refractory=0.002)
    >>> net.run(0.2, record_tape=True)
    >>> dL = np.ones(net.spike_times.size)
    >>> g, g_ckpt = net.gradient(dL), net.gradient(dL, memory_budget=60_000)
    >>> len(segments(net, 60_000)["starts"]) > 1
    True
    >>> bool(np.allclose(g_ckpt.drive, g.drive, rtol=1e-12, atol=0))
    True

    Theta networks likewise (the states are the phases; here with pseudospikes for the silent neurons):

    >>> net = EventNetwork(50, model="theta", drive=np.linspace(-0.2, 1.5, 50), tau=0.01, refractory=0.002)
    >>> net.run(0.2, record_tape=True)
    >>> n_ps = int((np.bincount(net.spike_indices, minlength=50) == 0).sum())  # the silent neurons
    >>> dL = np.ones(net.spike_times.size + n_ps)  # L = the sum of the spike and pseudospike times
    >>> g = net.gradient(dL, pseudospikes=10.0)
    >>> g_ckpt = net.gradient(dL, pseudospikes=10.0, memory_budget=40_000)
    >>> len(segments(net, 40_000)["starts"]) > 1, n_ps > 0
    (True, True)
    >>> bool(np.abs(g_ckpt.v0 - g.v0).max() <= 1e-12 * np.abs(g.v0).max())  # dL/dtheta(0), within rounding
    True

    'linear' networks likewise (here alpha currents; the states are the state vectors):

    >>> from brian2_sparseprop.spiking.linear import LinearModel
    >>> model = LinearModel.lif_alpha(tau=0.01, tau_s=0.005, drive=np.linspace(1.2, 1.6, 50))
    >>> net = EventNetwork(50, model="linear", linear=model, refractory=0.002)
    >>> net.run(0.2, record_tape=True)
    >>> dL = np.ones(net.spike_times.size)
    >>> g, g_ckpt = net.gradient(dL), net.gradient(dL, memory_budget=100_000)
    >>> len(segments(net, 100_000)["starts"]) > 1
    True
    >>> bool(np.abs(g_ckpt.A - g.A).max() <= 1e-12 * np.abs(g.A).max())  # dL/dA, within rounding
    True
    """
    from .network import EventNetwork

    if not isinstance(net, EventNetwork):
        raise TypeError(f"net must be an EventNetwork, found {type(net).__name__}")
    budget = check_real("memory_budget", memory_budget, positive=True)
    family = _model_family(net)
    if net._engine is None or net._tape is None:
        raise ValueError("no tape to differentiate: run the network with run(..., record_tape=True) from t = 0")
    n = net.n
    tref = np.broadcast_to(np.asarray(net._tref, float), (n,))
    in_t, _in_s, _d_max, window, _saved, snap = _setup(net, tref)
    arrivals = None
    if family == "qif":
        indptr = np.ascontiguousarray(net._spec["indptr"], np.int64)
        arrivals = (_Degrees(net.spike_indices, indptr), _Degrees(_in_s, indptr))
    r, starts, m, rerun, need = plan(
        net, net.spike_times, in_t, budget, window, snap, *_state_size(net, family), arrivals
    )
    return dict(
        starts=np.concatenate([[0.0], starts]), first_spikes=np.concatenate([[0], r]), groups=m, rerun=rerun, bytes=need
    )


def checkpointed(net, p, times, neuron, kicked, dL_dt, dv, ds, value, budget, family, ps=None):
    """`lif_gradient` for 'lif', 'lif_exp', 'qif', 'theta' and 'linear' networks (``family`` 'lif',
    'lif_exp', 'qif' or 'linear') in segments within ``budget`` bytes (see the module's docstring); ``ps``:
    the pseudospikes of 'qif'/'theta' networks (times, indices, drive), whose dL/dt follow the spikes' in
    ``dL_dt``; ``dv`` of 'linear' networks: dL/dv(T), shape (n,), or dL/dx(T), shape (n, d)."""
    from .network import MODELS

    exp_model, qif, lin = family == "lif_exp", family == "qif", family == "linear"
    n, n_sp = net.n, times.size
    T = float(net.t)
    tref = np.broadcast_to(p["tref"], (n,))
    in_t, in_s, d_max, window, saved, snap = _setup(net, tref)
    states = net.state_values
    s_times, s_idx = net.state_times, np.zeros(0, np.int32) if net._sample_idx is None else net._sample_idx
    spec = net._spec
    indices = spec["indices"] if spec["indices"].size else np.zeros(1, np.int32)
    w, d = spec["weights"], spec["delays"]
    parts, perm = _synapse_parts(net)
    g_w, g_d = _synapse_accumulators(net, parts)
    g_tau = np.zeros(n if np.ndim(net._config["tau"]) or qif else 1)
    g_drive, g_thr, g_reset = (np.zeros(n) for _ in range(3))
    arrivals = None
    mu_end = dv
    if exp_model:
        g_tau = np.zeros(n)
        g_cur = np.zeros((2, n))  # dL/dtau_e, dL/dtau_i
        te, ti = (np.ascontiguousarray(a, dtype=np.float64) for a in (net._tau_e, net._tau_i))
        cur0 = np.ascontiguousarray(np.broadcast_to(net._cur_init, (n, 2)), dtype=np.float64)
        mu_end = (dv, np.zeros(n), np.zeros(n))
    elif qif:
        theta = (net._codes == MODELS.index("theta")).astype(np.uint8)
        g = dict(w=g_w, d=g_d, tau=g_tau, drive=g_drive, thr=g_thr, reset=g_reset)
        indptr = np.ascontiguousarray(spec["indptr"], np.int64)
        arrivals = (_Degrees(neuron, indptr), _Degrees(in_s, indptr))
        mu_end = dv = dv.copy()
        extra_tau = extra_thr = 0.0
        if ps is not None:  # the pseudospikes depend on the states at T: the last segment's end
            extra_tau, extra_thr = _pseudospike_terms(net, p, theta, dL_dt[n_sp:], ps, dv)
        dL_dt = dL_dt[:n_sp]
        all_idx = np.arange(n)
    elif lin:  # dL/dM (per neuron or shared), the reset maps' scale and offset; adjoints of the augmented states
        g_M, m_gM = _linear_gM(net)
        g = dict(w=g_w, d=g_d, M=g_M, m_M=m_gM, thr=g_thr, reset=g_reset, ra=np.zeros(5), rr=np.zeros(5))
        mu_end = _linear_dy(net, dv)
    g_in = np.zeros(in_t.size)
    counts = np.zeros(4 if lin else 3, np.int64)
    n_at_end = 0

    r_cut, t_nom, m_groups, rerun, need = plan(
        net, times, in_t, budget, window, snap, *_state_size(net, family), arrivals
    )
    n_seg = r_cut.size + 1
    bounds = np.concatenate([[0], r_cut, [n_sp]])
    per = -(-n_seg // m_groups)
    group_first = np.arange(0, n_seg, per)  # the first segment of each group
    t_real = np.full(n_seg + 1, np.nan)  # the segments' start times as the replay reached them, then T
    t_real[0], t_real[n_seg] = 0.0, T
    pend_i, pend_v = np.zeros(0, np.int64), np.zeros(0)  # dL/dt carried to spikes of earlier segments

    def state():
        # the state at the segment's start: v, and the currents of 'lif_exp' neurons (v = tan(theta / 2) for
        # theta neurons)
        if exp_model:
            return net.v, np.ascontiguousarray(net.currents.T)
        if lin:  # the state vectors (a copy of d columns)
            return np.ascontiguousarray(net.linear_state)
        return _state_v(net, net.v, all_idx) if qif else net.v

    def state0():
        if exp_model:
            return net._v_init.copy(), np.ascontiguousarray(cur0.T)
        if lin:
            return _linear_x0(net)
        return _state_v(net, net._v_init, all_idx) if qif else net._v_init.copy()

    def reach(k0, k):
        """Re-run from the snapshot at segment k0's start to segment k's, one segment at a time (the
        engine's spike record holds one segment's spikes at most), every start reached the same way."""
        for j in range(k0 + 1, k + 1):
            t = rp.run_to(t_nom[j - 1], times[bounds[j - 1] : bounds[j]])
            if np.isnan(t_real[j]):
                t_real[j] = t
            elif t != t_real[j]:
                raise RuntimeError(f"the replay reached segment {j} at {t}, before at {t_real[j]}: a bug")

    with _Replay(net, saved) as rp:
        snaps = {0: net._tape_state0}
        if group_first.size > 1:
            rp.start(net._tape_state0)
            for g0, g1 in zip(group_first[:-1], group_first[1:]):
                reach(int(g0), int(g1))
                snaps[int(g1)] = net.get_state()
        for gi in range(group_first.size - 1, -1, -1):
            k0 = int(group_first[gi])
            k1 = int(group_first[gi + 1]) if gi + 1 < group_first.size else n_seg
            rp.start(snaps[k0])
            v_start = {k0: state0() if k0 == 0 else state()}
            for k in range(k0 + 1, k1) if not rerun else ():
                reach(k - 1, k)
                v_start[k] = state()
            for k in range(k1 - 1, k0 - 1, -1):
                if rerun and k > k0:  # the start state re-run from the group's snapshot
                    rp.start(snaps[k0])
                    reach(k0, k)
                    v_start[k] = state()
                t_a, t_b = float(t_real[k]), float(t_real[k + 1])
                r_a, r_b = int(bounds[k]), int(bounds[k + 1])
                if k > 0 and not (times[r_a - 1] < t_a <= times[r_a]):
                    raise RuntimeError(f"segment start {t_a} is not between spikes {r_a - 1} and {r_a}: a bug")
                if exp_model:
                    out = _lif_exp_segment(
                        p, times, neuron, kicked, dL_dt, in_t, in_s, states, ds, s_times, s_idx, tref, d_max,
                        window, indices, w, d, spec, n, t_a, t_b, r_a, r_b, v_start.pop(k), mu_end, pend_i,
                        pend_v, g_w, g_d, g_tau, g_cur, g_drive, g_thr, g_reset, g_in, counts, te, ti,
                    )  # fmt: skip
                elif lin:
                    out = _linear_segment(
                        p, times, neuron, kicked, dL_dt, in_t, in_s, states, ds, s_times, s_idx, tref, d_max,
                        window, indices, w, d, spec, net, t_a, t_b, r_a, r_b, v_start.pop(k), mu_end, pend_i,
                        pend_v, g, g_in, counts,
                    )  # fmt: skip
                elif qif:
                    out = _qif_segment(
                        p, times, neuron, kicked, dL_dt, in_t, in_s, ds, s_times, s_idx, tref, d_max, window,
                        spec, theta, t_a, t_b, r_a, r_b, v_start.pop(k), mu_end, pend_i, pend_v, g, g_in, counts,
                    )  # fmt: skip
                else:
                    out = _lif_segment(
                        p, times, neuron, kicked, dL_dt, in_t, in_s, states, ds, s_times, s_idx, tref, d_max,
                        window, indices, w, d, spec, n, t_a, t_b, r_a, r_b, v_start.pop(k), mu_end, pend_i,
                        pend_v, g_w, g_d, g_tau, g_drive, g_thr, g_reset, g_in, counts,
                    )  # fmt: skip
                mu_end, pend_i, pend_v, at_end = out
                n_at_end += at_end
            del snaps[k0]
    if exp_model:
        return _gradient(
            net, g_w, g_d, parts, perm, g_in, in_s, value,
            drive=g_drive, v0=mu_end[0], tau=g_tau, threshold=g_thr, reset=g_reset, tau_e=g_cur[0],
            tau_i=g_cur[1], i_e0=mu_end[1], i_i0=mu_end[2], n_pulse_triggered=0,
            n_coincident=int(counts.sum()) + n_at_end, n_unresolved=0,
        )  # fmt: skip
    if lin:
        return _linear_result(
            net, g_w, g_d, parts, perm, g_in, in_s, value, g["M"], mu_end, g_thr, g_reset, g["ra"], g["rr"],
            counts, n_at_end,
        )  # fmt: skip
    if qif:
        return _gradient(
            net, g_w, g_d, parts, perm, g_in, in_s, value,
            drive=g_drive, v0=mu_end, tau=g_tau + extra_tau, threshold=g_thr + extra_thr, reset=g_reset,
            n_pulse_triggered=int(counts[0]), n_coincident=int(counts[1]) + n_at_end, n_unresolved=int(counts[2]),
            pseudospike_times=None if ps is None else ps[0], pseudospike_indices=None if ps is None else ps[1],
        )  # fmt: skip
    return _gradient(
        net, g_w, g_d, parts, perm, g_in, in_s, value,
        drive=g_drive, v0=mu_end, tau=g_tau, threshold=g_thr, reset=g_reset,
        n_pulse_triggered=int(counts[0]), n_coincident=int(counts[1]) + n_at_end, n_unresolved=int(counts[2]),
    )  # fmt: skip


def _segment_events(
    times, neuron, kicked, dL_dt, in_t, in_s, tref, d_max, window, t_a, t_b, r_a, r_b, pend_i, pend_v, pseudo_bit
):  # fmt: skip
    """The events of the segment [t_a, t_b) (spikes r_a to r_b) for a compiled pass: first the pseudo-spikes
    (the last spike of each neuron refractory at t_a, with the tape bit ``pseudo_bit``), then the segment's
    spikes with their dL/dt and what later segments carried back to them; the input events, first those with
    pulses in flight at t_a (spikes, then input events, in the order of the whole run's pass: a spike at its
    record position, an input event before the spikes of its instant, which decides among causes of a
    pulse-triggered spike that tie), then the segment's. Returns (m, seg_t, seg_i, seg_k, seg_dl, sin_t,
    sin_s, sin_after) and what `_carry_back` needs."""
    e_a, e_b = (int(x) for x in np.searchsorted(in_t, [t_a, t_b], side="left"))
    if r_a > 0:
        w_a = int(np.searchsorted(times, t_a - window, side="left"))
        wi = neuron[w_a:r_a]
        u, first = np.unique(wi[::-1], return_index=True)
        last = w_a + (wi.size - 1 - first)
        ps = np.sort(last[times[last] + tref[u] > t_a])
        f_a = int(np.searchsorted(times, t_a - d_max, side="left"))
        fl = np.arange(f_a, r_a)
        fl = fl[~np.isin(fl, ps, assume_unique=True)] if ps.size else fl
        g_a = int(np.searchsorted(in_t, t_a - d_max, side="left"))
    else:
        ps = fl = np.zeros(0, np.int64)
        g_a = e_a
    m = ps.size
    seg_t = np.concatenate([times[ps], times[r_a:r_b]])
    seg_i = np.concatenate([neuron[ps], neuron[r_a:r_b]]).astype(np.int32)
    seg_k = np.concatenate([np.full(m, pseudo_bit, np.uint8), kicked[r_a:r_b]])
    seg_dl = np.concatenate([np.zeros(m), dL_dt[r_a:r_b]])
    mine = pend_i >= r_a
    np.add.at(seg_dl, m + (pend_i[mine] - r_a), pend_v[mine])
    pre_t = np.concatenate([times[fl], in_t[g_a:e_a]])
    pre_s = np.concatenate([neuron[fl], in_s[g_a:e_a]])
    key = np.concatenate([fl, np.searchsorted(times, in_t[g_a:e_a], side="left") - 0.5])
    pre_o = np.argsort(key, kind="stable")
    sin_t = np.concatenate([pre_t[pre_o], in_t[e_a:e_b]])
    sin_s = np.concatenate([pre_s[pre_o], in_s[e_a:e_b]]).astype(np.int32)
    sin_after = np.concatenate(
        [np.searchsorted(ps, key[pre_o], side="left"), np.searchsorted(seg_t, in_t[e_a:e_b], side="left")]
    ).astype(np.int64)
    carry = (ps, fl, pre_o, g_a, e_a, e_b, pend_i[~mine], pend_v[~mine])
    return m, seg_t, seg_i, seg_k, seg_dl, sin_t, sin_s, sin_after, carry


def _carry_back(ev, g_sin, lam, g_in):
    """After a segment's pass: the input events' dL/dt into ``g_in``; the pending dL/dt of earlier spikes
    (positions, values), with the pseudo-spikes' (``lam``) and the in-flight spikes' added."""
    ps, fl, pre_o, g_a, e_a, e_b, pend_i, pend_v = ev[8]
    m, n_fl = ps.size, fl.size
    back = np.empty(pre_o.size)
    back[pre_o] = g_sin[: pre_o.size]
    g_in[g_a:e_a] += back[n_fl:]
    g_in[e_a:e_b] += g_sin[pre_o.size :]
    if m or n_fl:
        pend_i = np.concatenate([pend_i, ps, fl])
        pend_v = np.concatenate([pend_v, lam[:m] if m else np.zeros(0), back[:n_fl]])
    return pend_i, pend_v


def _segment_readouts(s_times, states, ds, t_a, t_b):
    """The readouts recorded in [t_a, t_b): their times, the recorded states (a row per time) and the
    given dL/dstate (flat)."""
    a, b = np.searchsorted(s_times, [t_a, t_b], side="left")
    return s_times[a:b], np.ascontiguousarray(states[a:b], float), np.ascontiguousarray(ds[a:b], float).reshape(-1)


def _lif_segment(
    p, times, neuron, kicked, dL_dt, in_t, in_s, states, ds, s_times, s_idx, tref, d_max, window,
    indices, w, d, spec, n, t_a, t_b, r_a, r_b, v_a, mu_end, pend_i, pend_v,
    g_w, g_d, g_tau, g_drive, g_thr, g_reset, g_in, counts,
):  # fmt: skip
    """The pass over the segment [t_a, t_b) (spikes r_a to r_b): accumulates the parameters' gradients and
    returns dL/dv(t_a), the carried dL/dt of earlier spikes (positions, values) and the readouts counted
    at refractory ends."""
    ev = _segment_events(
        times, neuron, kicked, dL_dt, in_t, in_s, tref, d_max, window, t_a, t_b, r_a, r_b, pend_i, pend_v, 1
    )
    m, seg_t, seg_i, seg_k, seg_dl, sin_t, sin_s, sin_after = ev[:8]
    ro_t, ro_v, ro_d = _segment_readouts(s_times, states, ds, t_a, t_b)
    ro_v = ro_v.reshape(-1)
    ptr, order, kind, bd_time, pos, ro_pos, at_end = _boundaries(seg_t, seg_i, seg_k, n, ro_t, s_idx, tref)
    held = ro_pos < 0
    if held.any():
        np.add.at(g_reset, np.tile(s_idx, ro_t.size)[held], ro_d[held])
    ro_sp_after = np.searchsorted(seg_t, ro_t, side="left").astype(np.int64)
    ro_in_after = np.searchsorted(sin_t, ro_t, side="left").astype(np.int64)
    g_v0 = np.zeros(n)
    g_sin = np.zeros(sin_t.size)
    lam = np.zeros(seg_t.size) if m else None
    _adjoint.lif_backward(
        seg_t, seg_i, seg_k, ptr, order, kind, bd_time, pos, sin_t, sin_s, sin_after,
        ro_t, s_idx, ro_pos, ro_sp_after, ro_in_after, ro_v, ro_d,
        spec["indptr"], indices, w, _mask(w), d, _mask(d),
        p["tau"], _mask(p["tau"]), p["drive"], _mask(p["drive"]), p["thr"], _mask(p["thr"]),
        p["reset"], _mask(p["reset"]), p["tref"], _mask(p["tref"]), np.ascontiguousarray(v_a, float),
        t_a, t_b, seg_dl, mu_end, g_w, _mask(g_w), g_d, _mask(g_d), g_tau, _mask(g_tau),
        g_drive, g_v0, g_thr, g_reset, g_sin, counts, m, lam,
    )  # fmt: skip
    pend_i, pend_v = _carry_back(ev, g_sin, lam, g_in)
    return g_v0, pend_i, pend_v, at_end


def _lif_exp_segment(
    p, times, neuron, kicked, dL_dt, in_t, in_s, states, ds, s_times, s_idx, tref, d_max, window,
    indices, w, d, spec, n, t_a, t_b, r_a, r_b, x_a, mu_end, pend_i, pend_v,
    g_w, g_d, g_tau, g_cur, g_drive, g_thr, g_reset, g_in, counts, te, ti,
):  # fmt: skip
    """The pass over the segment [t_a, t_b) of a 'lif_exp' network (spikes r_a to r_b), from the states
    ``x_a`` = (v, (I_e, I_i)) at t_a, with ``mu_end`` = (dL/dv, dL/dI_e, dL/dI_i) at t_b: accumulates the
    parameters' gradients and returns the adjoints of the states at t_a, the carried dL/dt of earlier
    spikes (positions, values) and the readouts counted at refractory ends. As `_lif_segment`, except that
    a neuron refractory at t_a starts with a refractory piece from t_a (its currents decay from those at
    t_a), whose currents' adjoints at t_a are carried back with the others."""
    ev = _segment_events(
        times, neuron, kicked, dL_dt, in_t, in_s, tref, d_max, window, t_a, t_b, r_a, r_b, pend_i, pend_v, 0
    )
    m, seg_t, seg_i, seg_k, seg_dl, sin_t, sin_s, sin_after = ev[:8]
    ro_t, ro_v, ro_d = _segment_readouts(s_times, states, ds, t_a, t_b)
    ptr, kind, bd_time, bd_val, pos, ro_pos, at_end = _exp_boundaries(
        seg_t, seg_i, seg_k, n, tref, t_b, ro_t, s_idx, ro_v
    )
    held = ro_pos < 0
    if held.any():
        np.add.at(g_reset, np.tile(s_idx, ro_t.size)[held], ro_d[held])
    ro_sp_after = np.searchsorted(seg_t, ro_t, side="left").astype(np.int64)
    ro_in_after = np.searchsorted(sin_t, ro_t, side="left").astype(np.int64)
    v_a, cur_a = x_a
    g_v0, g_ie0, g_ii0 = np.zeros(n), np.zeros(n), np.zeros(n)
    g_sin = np.zeros(sin_t.size)
    lam = np.zeros(seg_t.size)
    dv_b, die_b, dii_b = mu_end
    _adjoint_exp.lif_exp_backward(
        seg_t, seg_i, seg_k, ptr, kind, bd_time, bd_val, pos, sin_t, sin_s, sin_after,
        ro_t, s_idx, ro_pos, ro_sp_after, ro_in_after, ro_d,
        spec["indptr"], indices, w, _mask(w), d, _mask(d),
        p["tau"], _mask(p["tau"]), te, _mask(te), ti, _mask(ti), p["drive"], _mask(p["drive"]),
        p["thr"], _mask(p["thr"]), p["reset"], _mask(p["reset"]), p["tref"], _mask(p["tref"]),
        np.ascontiguousarray(v_a, float), np.ascontiguousarray(cur_a[0]), np.ascontiguousarray(cur_a[1]),
        t_a, t_b, seg_dl, dv_b, g_w, _mask(g_w), g_d, _mask(g_d),
        g_tau, g_cur[0], g_cur[1], g_drive, g_v0, g_ie0, g_ii0, g_thr, g_reset, g_sin, counts,
        m, die_b, dii_b, lam,
    )  # fmt: skip
    pend_i, pend_v = _carry_back(ev, g_sin, lam, g_in)
    return (g_v0, g_ie0, g_ii0), pend_i, pend_v, at_end


def _qif_segment(
    p, times, neuron, kicked, dL_dt, in_t, in_s, ds, s_times, s_idx, tref, d_max, window, spec, theta,
    t_a, t_b, r_a, r_b, v_a, mu_end, pend_i, pend_v, g, g_in, counts,
):  # fmt: skip
    """The pass over the segment [t_a, t_b) of a 'qif'/'theta' network (spikes r_a to r_b) from the states
    ``v_a`` at t_a (v = tan(theta / 2) for theta neurons) with ``mu_end`` = dL/dv(t_b) (dL/dtheta for theta
    neurons): accumulates the parameters' gradients into ``g`` and returns dL/dv(t_a) (dL/dtheta), the
    carried dL/dt of earlier spikes (positions, values) and the readouts counted at refractory ends. The
    arrivals of one instant at a neuron keep the order of the whole run's pass (spikes by record position,
    then input events)."""
    n = theta.size
    ev = _segment_events(
        times, neuron, kicked, dL_dt, in_t, in_s, tref, d_max, window, t_a, t_b, r_a, r_b, pend_i, pend_v, 1
    )
    m, seg_t, seg_i, seg_k, seg_dl, sin_t, sin_s, sin_after = ev[:8]
    ps, fl, pre_o, g_a, e_a, e_b = ev[8][:6]
    ro_a, ro_b = (int(x) for x in np.searchsorted(s_times, [t_a, t_b], side="left"))
    # the readouts of the segment (held at the reset after its spikes and pseudo-spikes)
    *ro, at_end = _qif_readouts(
        n, tref, theta, seg_t, seg_i, seg_k, s_times[ro_a:ro_b], s_idx, ds[ro_a:ro_b], g["reset"]
    )
    # the run's order of the events: spikes by record position, then input events
    off = times.size
    key = np.concatenate(
        [ps, np.arange(r_a, r_b), np.concatenate([fl, off + np.arange(g_a, e_a)])[pre_o], off + np.arange(e_a, e_b)]
    )
    g_seg = dict(g, v0=np.zeros(n), **{"in": np.zeros(sin_t.size)})
    lam = np.zeros(seg_t.size)
    _qif_pass(
        p, spec, theta, t_a, t_b, seg_t, seg_i, seg_k, sin_t, sin_s, sin_after, ro,
        np.ascontiguousarray(v_a, float), np.ascontiguousarray(seg_dl), mu_end, g_seg, counts,
        n_pseudo=m, lam_out=lam, flat_key=key,
    )  # fmt: skip
    pend_i, pend_v = _carry_back(ev, g_seg["in"], lam, g_in)
    return g_seg["v0"], pend_i, pend_v, at_end


def _linear_segment(
    p, times, neuron, kicked, dL_dt, in_t, in_s, states, ds, s_times, s_idx, tref, d_max, window,
    indices, w, d, spec, net, t_a, t_b, r_a, r_b, x_a, mu_end, pend_i, pend_v, g, g_in, counts,
):  # fmt: skip
    """The pass over the segment [t_a, t_b) of a 'linear' network (spikes r_a to r_b), from the states
    ``x_a`` (n, d) at t_a with ``mu_end`` = dL/dy(t_b) (n x 5, the augmented states y = (1, x)): accumulates
    the parameters' gradients into ``g`` and returns dL/dy(t_a), the carried dL/dt of earlier spikes
    (positions, values) and the readouts counted at refractory ends. As `_lif_exp_segment`: a neuron
    refractory at t_a starts with a refractory piece from t_a (v held at its reset, the other variables
    integrating from their values at t_a), whose adjoints at t_a are carried back with the others."""
    n = net.n
    L = net._linear
    ev = _segment_events(
        times, neuron, kicked, dL_dt, in_t, in_s, tref, d_max, window, t_a, t_b, r_a, r_b, pend_i, pend_v, 0
    )
    m, seg_t, seg_i, seg_k, seg_dl, sin_t, sin_s, sin_after = ev[:8]
    ro_t, ro_v, ro_d = _segment_readouts(s_times, states, ds, t_a, t_b)
    ptr, kind, bd_time, _bd_val, pos, ro_pos, at_end = _exp_boundaries(
        seg_t, seg_i, seg_k, n, tref, t_b, ro_t, s_idx, ro_v
    )
    held = ro_pos < 0
    if held.any():
        np.add.at(g["reset"], np.tile(s_idx, ro_t.size)[held], ro_d[held])
    ro_sp_after = np.searchsorted(seg_t, ro_t, side="left").astype(np.int64)
    ro_in_after = np.searchsorted(sin_t, ro_t, side="left").astype(np.int64)
    bd_order = np.full(bd_time.size + 1, seg_t.size, np.int64)  # each spike boundary's record position
    bd_order[pos] = np.arange(seg_t.size)
    g_y0 = np.zeros((n, 5))
    g_sin = np.zeros(sin_t.size)
    lam = np.zeros(seg_t.size)
    _adjoint_linear.linear_backward(
        seg_t, seg_i, seg_k, ptr, kind, bd_time, pos, bd_order, sin_t, sin_s, sin_after,
        ro_t, s_idx, ro_pos, ro_sp_after, ro_in_after, ro_d,
        spec["indptr"], indices, w, _mask(w), d, _mask(d), L["sys"], L["cls"],
        p["thr"], _mask(p["thr"]), p["reset"], _mask(p["reset"]), p["tref"], _mask(p["tref"]), _augmented(net, x_a),
        t_a, t_b, np.ascontiguousarray(seg_dl), mu_end, g["w"], _mask(g["w"]), g["d"], _mask(g["d"]),
        g["M"], g["m_M"], g_y0, g["thr"], g["reset"], g["ra"], g["rr"], g_sin, counts, m, lam,
    )  # fmt: skip
    pend_i, pend_v = _carry_back(ev, g_sin, lam, g_in)
    return g_y0, pend_i, pend_v, at_end
