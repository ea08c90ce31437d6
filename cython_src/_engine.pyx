"""The compiled event loop: exact SparseProp propagation of pulse-coupled LIF/QIF/theta networks.

This module trusts its inputs: `brian2_sparseprop.spiking.network` validates everything and prepares the arrays
(see `EventNetwork._build_engine`). Nothing here holds Python objects inside the loop.

Representation
--------------
Neurons live in classes, one indexed 8-ary heap per class, keyed so that the heap order is the order of
the next event times of the class's neurons:

* a *shared* class holds LIF neurons with one common tau. Neuron i stores u_i = (I_i - v_i) E(t) with
  E(t) = exp((t - t0) / tau); between events u_i is constant, a kick v += w is u -= w E(t), and the next
  threshold crossing satisfies E(t*) = u_i / (I_i - theta_i), which is the heap key. So one exp per class
  and event time and one log per spike: no transcendental function per synaptic event. When
  (t - t0) / tau grows large, u and the keys are rescaled by an exact power of two and t0 moves on.
* a *timed* class holds any model with per-neuron parameters: the state is (v, t_last), advanced in
  closed form when touched, and the heap key is the absolute next event time.

A refractory neuron's key encodes its refractory end (`ref_end`), an event of its own.

Simultaneous events
-------------------
An instant is processed as a breadth-first cascade of generations. Generation 0: the neurons at
threshold on their own (and refractory ends at or above threshold) fire; its kicks are their zero-delay
kicks and every delayed arrival and external input due at that instant (`gather`). The kicks of a
generation reaching one neuron are summed, in increasing order of weight, before its threshold is tested
once (`apply_kicks`); the neurons so taken to threshold form the next generation (`run_cascade`). A
neuron is insensitive to kicks in the instant it fires: kicks of later generations of that instant are
absorbed by the reset.

Coincident events
-----------------
Events are simultaneous when their times are the same double. Times derived from one another by adding
delays and refractory periods (a spike at t0 caused by an arrival at t0 = t + d1, whose spike arrives at
t0 + d2, while another of the spike at t arrives at t + (d1 + d2)) are equal in exact arithmetic but not
always in floating point, so that a kick due exactly when a refractory period ends could be taken or
dropped at a rounding's whim. With a time quantum q (`EventNetwork(time_quantum=q)`; every delay and
refractory period a whole number of quanta), the engine carries each derived time as a pair (k, o): a
whole number k of quanta and the offset o (|o| <= q / 2) that the time at the start of its chain had from
the grid of quanta, its time being the double k q + o. A free threshold crossing or a Poisson event at t
starts a chain: k = round(t / q), o = t - k q. Every spike of an instant takes the instant's pair; its
arrivals are (k + d / q, o) and its refractory end (k + tref / q, o), in integer arithmetic. So two events
whose times are equal in exact arithmetic have the same pair, hence the same double, and are one instant;
events of distinct pairs are distinct instants unless their doubles happen to round to the same value
(then they are one instant, as any two equal doubles). Spike-generator times within a few rounding steps
(`QUANTUM_ULPS`) of a whole number of quanta are that multiple (k, 0) exactly: grid times given by the user coincide with the
grid times derived from them. The epoch moves in whole quanta (`epoch_k`), and the pairs are relative to
it.
"""
import numpy as np
cimport cython

from cpython.pycapsule cimport PyCapsule_GetPointer
from libc.float cimport DBL_EPSILON
from libc.math cimport exp, fabs, floor, ldexp, log, nearbyint, INFINITY, NAN
from libc.stdint cimport INT64_MAX
from libc.stdlib cimport free, malloc, qsort, realloc
from libc.string cimport memcpy
from numpy.random cimport bitgen_t
from numpy.random.c_distributions cimport random_standard_exponential

from ._delay_queue cimport DelayEvent, dq_free, dq_heapify, dq_pop, dq_push, dq_reserve
from ._heap cimport (SP_PREFETCH, Heap, heap_build, heap_replace, heap_sift_down, heap_sift_up, heap_sink,
                     heap_update)
from ._lif cimport lif_u_crossed, lif_u_key, lif_u_kick, lif_u_of_v, lif_v_of_u
from ._lif_exp cimport LexpPar, LexpState, lexp_advance, lexp_decay, lexp_eval, lexp_time_bound, lexp_time_to
from ._coba cimport CobaPar, coba_advance, coba_decay, coba_eval, coba_time_bound, coba_time_to
from ._eif cimport EIF_XMAX, eif_advance, eif_time_to
from ._eif_fast cimport (EIF_FAST_TOL, EIF_FU_NC, EIF_FX_NC, EIF_KICK_MAX, EifFast, EifKick, eif_bits_eval, eif_fast_add_kick,
                        eif_fast_kick, eif_fast_U, eif_fast_X)
from ._eif_table cimport (EIF_TAB_PER_PANEL, EIF_TAB_TOL, EIF_TAB_WIDTH, EifTable, eif_tab_advance, eif_tab_advance_u,
                          eif_tab_build, eif_tab_codes, eif_tab_free, eif_tab_time_to, eif_tab_u_level)
from ._linear cimport LinSys, lin_advance, lin_dot, lin_reset, lin_time_to
from ._models cimport (KIND_COBA, KIND_EIF, KIND_LIF, KIND_LIF_EXP, KIND_LIF_U, KIND_LINEAR, KIND_QIF,
                       model_advance, model_kick, model_time_to)
from ._qif cimport QifPar, qif_advance_pos, qif_par, qif_time_to_pos, theta_of_v
from ._stdp cimport StdpRule, SynTrace, stdp_on_post, stdp_on_pre
from ._stp cimport STP_U, STP_X, StpRule, StpState, stp_after, stp_before
from ._typedefs cimport idx_t, int8_t, int32_t, int64_t, syn_t, uint8_t, uint16_t, uint64_t

# the codes the Python layer writes into a neuron's flags (read from the C enums: not written twice)
KIND_CODES = {"lif_shared": KIND_LIF_U, "lif": KIND_LIF, "qif": KIND_QIF, "lif_exp": KIND_LIF_EXP,
              "eif": KIND_EIF, "linear": KIND_LINEAR, "coba": KIND_COBA}
FLAG_CODES = {
    "kind_shift": KIND_SHIFT,
    "class_shift": CLASS_SHIFT,
    "class_bits": CLASS_BITS,
    "refractory": F_REFRACTORY,
    "integrate_refractory": F_INTEGRATE_REF,
    "theta": F_THETA,
    "record": F_RECORD,
    "rate": F_RATE,
}
# bits of a neuron record's `spare` field that tests read
SPARE_CODES = {"eif_u": SPARE_EIF_U}
# what `Engine.advance` returns
STATUS_CODES = {"done": LOOP_DONE, "budget": LOOP_BUDGET}

# numpy record layouts of the C structs, read from the structs themselves
cdef Neuron _neuron
cdef DelayEvent _delay_event
cdef StdpRule _stdp_rule
cdef SynTrace _syn_trace
cdef StpRule _stp_rule
cdef StpState _stp_state
cdef LinSys _lin_sys
NEURON_DTYPE = np.asarray(<Neuron[:1]>(&_neuron)).dtype
DELAY_EVENT_DTYPE = np.asarray(<DelayEvent[:1]>(&_delay_event)).dtype
STDP_RULE_DTYPE = np.asarray(<StdpRule[:1]>(&_stdp_rule)).dtype
SYN_TRACE_DTYPE = np.asarray(<SynTrace[:1]>(&_syn_trace)).dtype
STP_RULE_DTYPE = np.asarray(<StpRule[:1]>(&_stp_rule)).dtype
STP_STATE_DTYPE = np.asarray(<StpState[:1]>(&_stp_state)).dtype
LIN_SYS_DTYPE = np.asarray(<LinSys[:1]>(&_lin_sys)).dtype
# the codes of the statements of a short-term plasticity rule (`StpRule.before`, `after`)
STP_CODES = {"u": STP_U, "x": STP_X}

# a shared class rescales once (t - t0) / tau exceeds this (E stays below 2**64)
DEF REBASE_SPAN = 44.0
DEF LN2 = 0.6931471805599453
DEF PF_RECORD = 16
DEF PF_CHILDREN = 8
# the epoch moves on once the time since it exceeds this many seconds
DEF EPOCH_SPAN = 2.0
DEF QUANTUM_ULPS = 16.0   # a time or delay this many rounding steps from k quanta is k quanta (as EventNetwork checks)


cdef int kick_order(const void* a, const void* b) noexcept nogil:
    """qsort order of gathered kicks: by target, then by weight (the canonical order of a sum)."""
    cdef const Kick* x = <const Kick*>a
    cdef const Kick* y = <const Kick*>b
    if x.j != y.j:
        return -1 if x.j < y.j else 1
    if x.w != y.w:
        return -1 if x.w < y.w else 1
    return 0


cdef inline bint qif_kick(Neuron* r, double* tl, Heap* heap, idx_t j, double w, double t,
                          const QifPar* q) noexcept nogil:
    """Kick the active QIF/theta neuron j (record r, t_last at tl) of a timed class by w at t, its tau, drive
    and threshold in q: `Engine.kick`'s arithmetic to the bit (the generic kernels call the same `_pos`
    kernels), without its dispatch. True if it reached threshold (the caller marks it); else its new key is
    set by `heap_replace` (its old key, a cache miss, is not read)."""
    cdef double v = qif_advance_pos(r.x, t - tl[0], q.a, q.a_tau) + w
    r.x = v
    tl[0] = t
    if v >= q.thr:
        return True
    heap_replace(heap, r.pos, t + qif_time_to_pos(v, q.thr, q.drive, q.a, q.inv_a, q.tau_a), j)
    return False


cdef inline bint eif_pulse(Neuron* r, double* tl, double w, double t, const EifTable* T, double tau, double inv_tau,
                           double thr, double u_thr, double* key) noexcept nogil:
    """A pulse w at t into the active EIF neuron of record r (t_last at tl), its table T, tau, 1 / tau, threshold
    and U(threshold) (`eif_tab_u_level`; unused where the table does not code states) given: True if it reaches
    threshold, else False with its new key. A state stored by U (SPARE_EIF_U) takes a pulse whose weight has
    a tabulated response G = U(X + w) (`eif_fast_kick`, for the table's own threshold x_hi) by one evaluation
    of G, else by X(u - dt / tau) + w; the kicked state is stored by its U where the table codes it, which
    also gives the time to threshold. `eif_kick` and `Engine.kick` both come here: the same numbers."""
    cdef const EifFast* F = &T.fast
    cdef const EifKick* K
    cdef double v, u, rest
    if r.spare & SPARE_EIF_U:
        rest = r.x - (t - tl[0]) * inv_tau           # (a product: a division would lengthen the kick's latency)
        K = eif_fast_kick(F, w) if thr == F.x_hi else NULL
        if K != NULL and F.u_min <= rest <= K.u_hi:
            tl[0] = t
            if rest <= K.u_cross:                # (w > 0) reaches x_hi, the threshold
                r.x = eif_fast_X(F, rest) + w
                r.spare &= ~SPARE_EIF_U
                return True
            u = eif_bits_eval(&K.G, rest)
            r.x = u
            key[0] = t + tau * (u - u_thr)
            return False
        v = eif_tab_advance_u(T, r.x, t - tl[0], tau) + w
    else:
        v = eif_tab_advance(T, r.x, t - tl[0], tau) + w
    tl[0] = t
    if v >= thr:
        r.x = v
        r.spare &= ~SPARE_EIF_U
        return True
    if eif_tab_codes(T, v, thr):
        u = eif_fast_U(F, v)
        r.x = u
        r.spare |= SPARE_EIF_U
        key[0] = t + tau * (u - u_thr)
    else:
        r.x = v
        r.spare &= ~SPARE_EIF_U
        key[0] = t + eif_tab_time_to(T, v, thr, tau)
    return False


cdef inline bint eif_kick(Neuron* r, double* tl, Heap* heap, idx_t j, double w, double t, const EifTable* T,
                          double tau, double inv_tau, double thr, double u_thr) noexcept nogil:
    """Kick the active EIF neuron j (record r, t_last at tl) of a timed class by w at t (`eif_pulse`), without
    `Engine.kick`'s dispatch. True if it reached threshold (the caller marks it); else its new key is set by
    `heap_replace`."""
    cdef double key
    if eif_pulse(r, tl, w, t, T, tau, inv_tau, thr, u_thr, &key):
        return True
    heap_replace(heap, r.pos, key, j)
    return False


def _rows_with_repeats(const int64_t[::1] indptr, const idx_t[::1] indices, idx_t n):
    """1 for each row of the CSR connectivity that names a target more than once, else 0. O(nnz + n)."""
    cdef Py_ssize_t n_rows = indptr.shape[0] - 1, r
    cdef int64_t k
    out = np.zeros(max(n_rows, 1), np.uint8)
    seen_a = np.full(max(n, 1), -1, np.intp)
    cdef unsigned char[::1] o = out
    cdef Py_ssize_t[::1] seen = seen_a
    for r in range(n_rows):
        for k in range(indptr[r], indptr[r + 1]):
            if seen[indices[k]] == r:
                o[r] = 1
            seen[indices[k]] = r
    return out


cdef drain(SpikeRecord* r):
    """The (times, indices) held by a record, as new arrays; the record is emptied."""
    times = np.empty(r.n)
    idx = np.empty(r.n, dtype=np.int32)
    cdef double[::1] tv = times
    cdef idx_t[::1] iv = idx
    if r.n:
        memcpy(&tv[0], r.t, r.n * sizeof(double))
        memcpy(&iv[0], r.i, r.n * sizeof(idx_t))
    r.n = 0
    return times, idx


@cython.final
cdef class Engine:
    """Owner of all arrays of one network and the event loop over them (private; see EventNetwork)."""

    def __cinit__(self):
        self.classes = NULL
        self.dq.ev = NULL
        self.rec.t = NULL
        self.rec.i = NULL
        self.rec.limit = INT64_MAX
        self.dq.limit = INT64_MAX
        self.tape_kick = NULL
        self.tape_in.t = NULL
        self.tape_in.i = NULL
        self.tape_in.limit = INT64_MAX
        self.seg = NULL
        self.kbuf = NULL
        self.eif_tabs = NULL

    def __dealloc__(self):
        free(self.classes)
        dq_free(&self.dq)
        free(self.rec.t)
        free(self.rec.i)
        free(self.tape_kick)
        free(self.tape_in.t)
        free(self.tape_in.i)
        free(self.seg)
        free(self.kbuf)
        free(self.eif_tabs)

    def __init__(self, dict spec, bit_generator):
        """Take the prepared arrays of `spec` (no copies: the caller keeps them alive through us)."""
        cdef int c
        cdef idx_t i
        self.n = spec["n"]
        self.n_pre = spec["n_pre"]
        self.neurons = spec["neurons"]
        self.nrn = &self.neurons[0]
        self.t_last = spec["t_last"]
        self.ref_end = spec["ref_end"]
        self.heap_keys = spec["heap_keys"]
        self.heap_ids = spec["heap_ids"]
        self.p_tau, self.m_tau = spec["tau"], self._mask(spec["tau"])
        self.p_drive, self.m_drive = spec["drive"], self._mask(spec["drive"])
        self.p_thr, self.m_thr = spec["threshold"], self._mask(spec["threshold"])
        self.p_reset, self.m_reset = spec["reset"], self._mask(spec["reset"])
        self.p_tref, self.m_tref = spec["refractory"], self._mask(spec["refractory"])
        self.p_ith, self.m_ith = spec["ith"], self._mask(spec["ith"])
        self.p_inv_ith = spec["inv_ith"]
        self.p_tau_e, self.m_tau_e = spec["tau_e"], self._mask(spec["tau_e"])
        self.p_tau_i, self.m_tau_i = spec["tau_i"], self._mask(spec["tau_i"])
        self.cur = spec["cur"]
        self.p_E_e, self.m_E_e = spec["E_e"], self._mask(spec["E_e"])
        self.p_E_i, self.m_E_i = spec["E_i"], self._mask(spec["E_i"])
        self.lin_sys = spec["lin_sys"]
        self.lin_cls, self.m_lin_cls = spec["lin_cls"], self._mask(spec["lin_cls"])
        self.lin = spec["lin"]
        self.qf_match = -1
        thr = spec["threshold"]         # a theta network stores its threshold (+inf) per neuron
        if self.m_tau == 0 and self.m_drive == 0 and self.p_drive[0] > 0.0 and bool(np.all(thr == thr[0])):
            qif_par(&self.qf, self.p_tau[0], self.p_drive[0], self.p_thr[0])
            self.qf_match = KIND_QIF << KIND_SHIFT
        self.eif_owners = list(spec.get("eif_tables", ()))
        self.eif_tab = spec.get("eif_tab", np.full(1, -1, np.int32))
        self.m_eif_tab = self._mask(self.eif_tab)
        self.eif_tabs = <EifTable**>malloc(max(len(self.eif_owners), 1) * sizeof(EifTable*))
        if self.eif_tabs == NULL:
            raise MemoryError("cannot allocate the EIF tables' list")
        for c in range(len(self.eif_owners)):
            self.eif_tabs[c] = &(<EifTableOwner>self.eif_owners[c]).tab
        self.ef_match = -1
        if len(self.eif_owners) == 1 and self.m_tau == 0 and bool(np.all(thr == thr[0])):
            for i in range(self.n):
                if KIND(self.nrn[i].flags) == KIND_EIF and self.eif_tab[i & self.m_eif_tab] != 0:
                    break
            else:
                self.ef_tab = self.eif_tabs[0]
                self.ef_tau, self.ef_thr = self.p_tau[0], self.p_thr[0]
                self.ef_uthr = eif_tab_u_level(self.ef_tab, self.ef_thr) if eif_tab_codes(self.ef_tab, self.ef_tab.fast.x_lo, self.ef_thr) else NAN
                self.ef_match = KIND_EIF << KIND_SHIFT
        self.indptr = spec["indptr"]
        self.indices = spec["indices"] if spec["indices"].size else np.zeros(1, np.int32)
        self.weights, self.m_w = spec["weights"], self._mask(spec["weights"])
        self.delay_array = spec["delays"].size > 1
        self.delays = spec["delays"]
        self.delay_scalar = spec["delays"][0]
        self.zero_end = spec["zero_end"]
        self.fifo = np.empty(max(self.n, 1), dtype=np.int32)
        self.row_dup = _rows_with_repeats(self.indptr, self.indices, self.n)
        self.seg = <Segment*>malloc(64 * sizeof(Segment))
        if self.seg == NULL:
            raise MemoryError("cannot allocate the list of an instant's kicks")
        self.seg_cap = 64
        # classes
        class_offsets = spec["class_offsets"]
        self.class_offset = class_offsets
        self.n_classes = len(class_offsets) - 1
        self.classes = <NeuronClass*>malloc(max(self.n_classes, 1) * sizeof(NeuronClass))
        if self.classes == NULL:
            raise MemoryError("cannot allocate the neuron classes")
        for c in range(self.n_classes):
            self.classes[c].heap.keys = &self.heap_keys[class_offsets[c]] if self.n else NULL
            self.classes[c].heap.ids = &self.heap_ids[class_offsets[c]] if self.n else NULL
            self.classes[c].heap.pos = &self.nrn[0].pos
            self.classes[c].heap.pos_stride = sizeof(Neuron) // sizeof(idx_t)
            self.classes[c].heap.size = class_offsets[c + 1] - class_offsets[c]
            self.classes[c].shared = spec["class_shared"][c]
            self.classes[c].tau = spec["class_tau"][c]
            self.classes[c].t0 = spec["class_t0"][c]
            self._invalidate(c)
        # external inputs
        self.poisson_total = spec["poisson_total"]
        self.n_poisson = 1 if self.poisson_total > 0.0 else 0
        self.poisson_prob = spec["poisson_prob"] if self.n_poisson else np.zeros(1)
        self.poisson_alias = spec["poisson_alias"] if self.n_poisson else np.zeros(1, np.int32)
        self.poisson_src = spec["poisson_src"] if self.n_poisson else np.zeros(1, np.int32)
        self.n_gen = spec["gen_start"].size
        self.gen_times = spec["gen_times"] if spec["gen_times"].size else np.zeros(1)
        self.gen_src = spec["gen_src"] if spec["gen_src"].size else np.zeros(1, np.int32)
        self.gen_start = spec["gen_start"] if self.n_gen else np.zeros(1, np.int64)
        self.gen_end = spec["gen_end"] if self.n_gen else np.zeros(1, np.int64)
        self.gen_ptr = spec["gen_ptr"] if self.n_gen else np.zeros(1, np.int64)
        self.gen_rep = spec["gen_rep"] if self.n_gen else np.zeros(1, np.int64)
        self.gen_period = spec["gen_period"] if self.n_gen else np.zeros(1)
        self.in_keys = spec["in_keys"] if spec["in_keys"].size else np.zeros(1)
        self.in_ids = spec["in_ids"] if spec["in_ids"].size else np.zeros(1, np.int32)
        self.in_pos = spec["in_pos"] if spec["in_pos"].size else np.zeros(1, np.int32)
        self.in_heap.keys = &self.in_keys[0]
        self.in_heap.ids = &self.in_ids[0]
        self.in_heap.pos = &self.in_pos[0]
        self.in_heap.pos_stride = 1
        self.in_heap.size = self.n_poisson + self.n_gen
        self.bitgen_obj = bit_generator
        self.rng = <bitgen_t*>PyCapsule_GetPointer(bit_generator.capsule, "BitGenerator")
        self.t = spec["t"]
        self.epoch = spec["epoch"]
        self.q = spec["quantum"]
        self.epoch_k = spec["epoch_k"]
        self.ref_k = spec["ref_k"]
        self.ref_o = spec["ref_o"]
        self._set_delay_queue(spec["dq"])
        self.dq.seq = spec["seq"]
        self.rate_bin = 0.0
        self.sample_ptr = 0
        self.sample_times = np.empty(0)
        self.rec.cap = 0
        self.rec.n = 0
        # plasticity: the arrays are the caller's (weights, traces change in place during a run)
        self.stdp_on = spec["stdp_rules"].size > 0
        self.rules = spec["stdp_rules"] if self.stdp_on else np.zeros(1, STDP_RULE_DTYPE)
        self.stdp_first = self.stdp_on and bool(np.any(spec["stdp_rules"]["update_first"]))
        self.syn_rule = spec["syn_rule"] if self.stdp_on else np.full(1, -1, np.int8)
        self.traces = spec["traces"] if self.stdp_on else np.zeros(1, SYN_TRACE_DTYPE)
        self.post_ptr = spec["post_ptr"] if self.stdp_on else np.zeros(1, np.int64)
        self.post_syn = spec["post_syn"] if self.stdp_on and spec["post_syn"].size else np.zeros(1, np.int64)
        self.stp_on = spec["stp_rules"].size > 0
        self.plastic_on = self.stdp_on or self.stp_on
        self.stp_rules = spec["stp_rules"] if self.stp_on else np.zeros(1, STP_RULE_DTYPE)
        self.syn_stp = spec["syn_stp"] if self.stp_on else np.full(1, -1, np.int32)
        self.stp_state = spec["stp_state"] if self.stp_on else np.zeros(1, STP_STATE_DTYPE)

    @staticmethod
    def _mask(a):
        return -1 if a.size > 1 else 0

    cdef void _invalidate(self, int c) noexcept nogil:
        self.classes[c].E_t = NAN
        self.classes[c].top_id = -1

    def initialize_heaps(self):
        """Key every neuron by its next event from its stored state at the current time, then heapify every
        class heap and the input heap (the input keys as stored).

        A refractory neuron (flag set) is keyed by its refractory end; a neuron at or above threshold by
        the current time, so that it fires when the simulation continues; any other by its next threshold
        crossing (a timed neuron from `t_last`). At the first build every neuron is below threshold and
        not refractory; `EventNetwork.set_params` rebuilds an engine from a running one's state."""
        cdef int c
        cdef idx_t p, i
        cdef NeuronClass* cl
        cdef double E
        for c in range(self.n_classes):
            cl = &self.classes[c]
            E = self.class_E(cl, self.t) if cl.shared else 0.0
            for p in range(cl.heap.size):
                i = cl.heap.ids[p]
                self.nrn[i].spare &= ~SPARE_BOUND
                if self.nrn[i].flags & F_REFRACTORY:
                    cl.heap.keys[p] = exp((self.ref_end[i] - cl.t0) / cl.tau) if cl.shared else self.ref_end[i]
                elif cl.shared:
                    if lif_u_crossed(self.nrn[i].x, self.p_ith[i & self.m_ith], E):
                        cl.heap.keys[p] = 0.0
                    else:
                        cl.heap.keys[p] = self.shared_key(i, self.nrn[i].x)
                elif self.at_threshold(i):
                    cl.heap.keys[p] = self.t
                else:
                    cl.heap.keys[p] = self.t_last[i] + self.stored_time_to(i)
            heap_build(&cl.heap)
            self._invalidate(c)
        if self.q > 0.0:                            # on the grid of quanta where given on it
            for p in range(self.in_heap.size):
                if self.in_ids[p] >= self.n_poisson:
                    self.in_keys[p] = self.gen_key(self.in_ids[p] - self.n_poisson)
        heap_build(&self.in_heap)

    # ---------------------------------------------------------------- delay queue
    def _set_delay_queue(self, dq):
        """Replace the pending delayed events by those of `dq` (columns as returned by `delay_queue`, in
        any order: they are put in heap order)."""
        events = np.empty(dq["t_arr"].size, DELAY_EVENT_DTYPE)
        for name in DELAY_EVENT_DTYPE.names:
            events[name] = dq[name]
        dq_free(&self.dq)
        if dq_reserve(&self.dq, max(events.size, 64)) != 0:
            raise MemoryError(f"cannot allocate a queue of {events.size} delayed spikes")
        if events.size:
            memcpy(self.dq.ev, <void*><size_t>events.ctypes.data, events.size * sizeof(DelayEvent))
        self.dq.size = events.size
        dq_heapify(&self.dq)

    def delay_queue(self):
        """The pending delayed events (heap order), as a dict of columns named after `DelayEvent`'s fields."""
        events = np.empty(self.dq.size, DELAY_EVENT_DTYPE)
        if self.dq.size:
            memcpy(<void*><size_t>events.ctypes.data, self.dq.ev, self.dq.size * sizeof(DelayEvent))
        return {name: events[name].copy() for name in DELAY_EVENT_DTYPE.names}

    cdef int make_room(self, bint record) except -1 nogil:
        """Room for what one event or one spike may add: a delayed event (and the spike, if `record`).
        Callers test first whether a buffer is full (this is the rare, slow path).

        Called before the event or spike changes anything, so a MemoryError leaves the engine consistent:
        the recorded spikes are kept and `loop` can go on once memory is there."""
        cdef Segment* grown
        if record and self.rec.n == self.rec.cap and rec_reserve(&self.rec, self.rec.n + 1) != 0:
            with gil:
                raise MemoryError(f"cannot grow the spike record beyond {self.rec.cap} spikes")
        if self.dq.size == self.dq.cap and dq_reserve(&self.dq, self.dq.size + 1) != 0:
            with gil:
                raise MemoryError(f"cannot grow the queue of delayed spikes beyond {self.dq.cap} events")
        if self.seg_n == self.seg_cap:
            grown = <Segment*>realloc(self.seg, 2 * self.seg_cap * sizeof(Segment))
            if grown == NULL:
                with gil:
                    raise MemoryError(f"cannot grow the list of an instant's kicks beyond {self.seg_cap} rows")
            self.seg = grown
            self.seg_cap *= 2
        return 0

    # ---------------------------------------------------------------- neuron state
    cdef inline double class_E(self, NeuronClass* cl, double t) noexcept nogil:
        if cl.E_t != t:
            cl.E_t = t
            cl.E_val = exp((t - cl.t0) / cl.tau)
        return cl.E_val

    cdef void rebase(self, int c, double t) noexcept nogil:
        """Rescale u and keys of shared class c by an exact power of two so that E(t) is small again."""
        cdef NeuronClass* cl = &self.classes[c]
        cdef int m = <int>floor((t - cl.t0) / (cl.tau * LN2))
        cdef idx_t p, i
        if m <= 0:
            return
        for p in range(cl.heap.size):
            i = cl.heap.ids[p]
            cl.heap.keys[p] = ldexp(cl.heap.keys[p], -m)
            if not (self.nrn[i].flags & F_REFRACTORY) or (self.nrn[i].flags & F_INTEGRATE_REF):
                self.nrn[i].x = ldexp(self.nrn[i].x, -m)
        cl.t0 += m * (cl.tau * LN2)
        self._invalidate(c)

    cdef void shift_epoch(self, double d) noexcept nogil:
        """Move the time origin forward by d (whole seconds; with a time quantum, the whole quanta in d):
        every stored time loses d."""
        cdef int c
        cdef idx_t i, p
        cdef int64_t k, dk = 0
        cdef NeuronClass* cl
        if self.q > 0.0:
            dk = <int64_t>floor(d / self.q)
            d = dk * self.q
            self.epoch_k += dk
        self.epoch += d
        self.t -= d
        for c in range(self.n_classes):
            cl = &self.classes[c]
            cl.t0 -= d
            if not cl.shared:
                for p in range(cl.heap.size):
                    cl.heap.keys[p] -= d
                heap_build(&cl.heap)
            self._invalidate(c)
        if self.t_last.shape[0] == self.n:
            for i in range(self.n):
                self.t_last[i] -= d
        if self.ref_end.shape[0] == self.n:
            for i in range(self.n):
                self.ref_end[i] -= d
                if self.q > 0.0 and self.ref_end[i] > -INFINITY:   # a pair: the same time anew from it
                    self.ref_k[i] -= dk
                    self.ref_end[i] = self.qtime(self.ref_k[i], self.ref_o[i])
        for k in range(self.dq.size):
            if self.q > 0.0:                        # t_spk is an offset from the grid: unchanged
                self.dq.ev[k].k -= dk
                self.dq.ev[k].t_arr = self.qtime(self.dq.ev[k].k, self.dq.ev[k].t_spk)
            else:
                self.dq.ev[k].t_arr -= d
                self.dq.ev[k].t_spk -= d
        dq_heapify(&self.dq)
        for p in range(self.in_heap.size):
            if self.in_ids[p] >= self.n_poisson:
                self.in_keys[p] = self.gen_key(self.in_ids[p] - self.n_poisson)
            else:
                self.in_keys[p] -= d
        heap_build(&self.in_heap)
        if self.stdp_on:
            for k in range(self.traces.shape[0]):
                self.traces[k].t -= d
        if self.stp_on:
            for k in range(self.stp_state.shape[0]):
                self.stp_state[k].t -= d

    cdef inline double qtime(self, int64_t k, double o) noexcept nogil:
        """The time (relative to the epoch) of the pair (k, o) of a time quantum."""
        return <double>k * self.q + o

    cdef inline int64_t quanta(self, double d) noexcept nogil:
        """A delay or refractory period in quanta (a whole number of them, checked by EventNetwork)."""
        return <int64_t>nearbyint(d / self.q)

    cdef void set_instant(self, double te, double tn, double td, int best_c) noexcept nogil:
        """The pair of the instant at te: that of a delayed arrival or refractory end due then, else
        that of te itself (a free crossing, a Poisson event, a generator's time)."""
        cdef idx_t i
        cdef double k
        if td == te:
            self.inst_k = self.dq.ev[0].k
            self.inst_o = self.dq.ev[0].t_spk
            return
        if tn == te:
            i = self.classes[best_c].heap.ids[0]
            if self.nrn[i].flags & F_REFRACTORY and self.ref_k.shape[0] == self.n:
                self.inst_k = self.ref_k[i]
                self.inst_o = self.ref_o[i]
                return
        k = nearbyint(te / self.q)
        self.inst_k = <int64_t>k
        self.inst_o = te - k * self.q

    cdef double gen_key(self, idx_t g) noexcept nogil:
        """Time (relative to the epoch) of generator g's next spike, INFINITY after its last; with a time
        quantum, a time within QUANTUM_ULPS rounding steps of a whole number of them is that multiple exactly."""
        cdef int64_t p = self.gen_ptr[g]
        cdef double t, k
        if p >= self.gen_end[g]:
            return INFINITY
        t = self.gen_times[p] + self.gen_rep[g] * self.gen_period[g]
        if self.q > 0.0:
            k = nearbyint(t / self.q)
            if fabs(t / self.q - k) <= QUANTUM_ULPS * DBL_EPSILON * (k if k > 1.0 else 1.0):
                return self.qtime(<int64_t>k - self.epoch_k, 0.0)
        return t - self.epoch

    cdef inline void ensure_base(self, double t) noexcept nogil:
        cdef int c
        for c in range(self.n_classes):
            if self.classes[c].shared and t - self.classes[c].t0 > REBASE_SPAN * self.classes[c].tau:
                self.rebase(c, t)

    cdef inline double free_v(self, idx_t i, double t) noexcept nogil:
        """v of a neuron of a timed class at time t (integrating, not clamped)."""
        cdef LexpPar p
        cdef CobaPar pc
        cdef LexpState x
        cdef double y[5]
        cdef const LinSys* L
        if KIND(self.nrn[i].flags) == KIND_LIF_EXP:
            self.lexp_load(i, &p, &x)
            lexp_advance(&x, t - self.t_last[i], &p)
            return x.v
        if KIND(self.nrn[i].flags) == KIND_COBA:
            self.coba_load(i, &pc, &x)
            coba_advance(&x, t - self.t_last[i], &pc)
            return x.v
        if KIND(self.nrn[i].flags) == KIND_LINEAR:
            L = self.lin_load(i, y)
            lin_advance(L, y, t - self.t_last[i], False)
            return y[L.vi]
        if KIND(self.nrn[i].flags) == KIND_EIF and self.eif_tab[i & self.m_eif_tab] >= 0:
            if self.nrn[i].spare & SPARE_EIF_U:
                return eif_tab_advance_u(self.eif_tabs[self.eif_tab[i & self.m_eif_tab]], self.nrn[i].x,
                                         t - self.t_last[i], self.p_tau[i & self.m_tau])
            return eif_tab_advance(self.eif_tabs[self.eif_tab[i & self.m_eif_tab]], self.nrn[i].x,
                                   t - self.t_last[i], self.p_tau[i & self.m_tau])
        return model_advance(KIND(self.nrn[i].flags), self.nrn[i].x, t - self.t_last[i],
                             self.p_tau[i & self.m_tau], self.p_drive[i & self.m_drive])

    cdef inline double time_to_threshold(self, idx_t i, double v) noexcept nogil:
        """Time until a neuron of a timed class at v reaches its threshold without input (LIF with
        exponential currents: from v and the currents stored at t_last)."""
        cdef LexpPar p
        cdef CobaPar pc
        cdef LexpState x
        cdef double y[5]
        cdef const LinSys* L
        if KIND(self.nrn[i].flags) == KIND_LIF_EXP:
            self.lexp_load(i, &p, &x)
            x.v = v
            return lexp_time_to(&x, self.p_thr[i & self.m_thr], &p)
        if KIND(self.nrn[i].flags) == KIND_COBA:
            self.coba_load(i, &pc, &x)
            x.v = v
            return coba_time_to(&x, self.p_thr[i & self.m_thr], &pc)
        if KIND(self.nrn[i].flags) == KIND_LINEAR:
            L = self.lin_load(i, y)
            y[L.vi] = v
            return lin_time_to(L, y, self.p_thr[i & self.m_thr])
        if KIND(self.nrn[i].flags) == KIND_EIF and self.eif_tab[i & self.m_eif_tab] >= 0:
            return eif_tab_time_to(self.eif_tabs[self.eif_tab[i & self.m_eif_tab]], v, self.p_thr[i & self.m_thr],
                                   self.p_tau[i & self.m_tau])
        return model_time_to(KIND(self.nrn[i].flags), v, self.p_thr[i & self.m_thr],
                             self.p_tau[i & self.m_tau], self.p_drive[i & self.m_drive])

    cdef inline double timed_store(self, idx_t i, double v) noexcept nogil:
        """Store v (below threshold) as the state at t_last of active timed neuron i, and return the time from
        it to threshold: by its U where the neuron's EIF table codes v (`eif_tab_codes`, SPARE_EIF_U; the
        arithmetic of `eif_kick`), else as v."""
        cdef const EifTable* T
        cdef double u, thr
        if KIND(self.nrn[i].flags) == KIND_EIF and self.eif_tab[i & self.m_eif_tab] >= 0:
            T = self.eif_tabs[self.eif_tab[i & self.m_eif_tab]]
            thr = self.p_thr[i & self.m_thr]
            if eif_tab_codes(T, v, thr):
                u = eif_fast_U(&T.fast, v)
                self.nrn[i].x = u
                self.nrn[i].spare |= SPARE_EIF_U
                return self.p_tau[i & self.m_tau] * (u - eif_tab_u_level(T, thr))
        self.nrn[i].x = v
        self.nrn[i].spare &= ~SPARE_EIF_U
        return self.time_to_threshold(i, v)

    cdef inline double stored_time_to(self, idx_t i) noexcept nogil:
        """Time from the stored state of active timed neuron i (at t_last) to threshold."""
        cdef const EifTable* T
        if self.nrn[i].spare & SPARE_EIF_U:
            T = self.eif_tabs[self.eif_tab[i & self.m_eif_tab]]
            return self.p_tau[i & self.m_tau] * (self.nrn[i].x - eif_tab_u_level(T, self.p_thr[i & self.m_thr]))
        return self.time_to_threshold(i, self.nrn[i].x)

    cdef inline double shared_key(self, idx_t i, double u) noexcept nogil:
        return lif_u_key(u, self.p_ith[i & self.m_ith], self.p_inv_ith[i & self.m_ith])

    cdef inline void lexp_load(self, idx_t i, LexpPar* p, LexpState* x) noexcept nogil:
        """The parameters of LIF neuron i with exponential currents, and its stored state (at t_last)."""
        p.tau_m = self.p_tau[i & self.m_tau]
        p.tau_e = self.p_tau_e[i & self.m_tau_e]
        p.tau_i = self.p_tau_i[i & self.m_tau_i]
        p.drive = self.p_drive[i & self.m_drive]
        x.v = self.nrn[i].x
        x.ie = self.cur[i, 0]
        x.ii = self.cur[i, 1]

    cdef inline void coba_load(self, idx_t i, CobaPar* p, LexpState* x) noexcept nogil:
        """The parameters of conductance-based neuron i, and its stored state (v, g_e, g_i at t_last)."""
        p.tau_m = self.p_tau[i & self.m_tau]
        p.tau_s = self.p_tau_e[i & self.m_tau_e]
        p.E_L = self.p_drive[i & self.m_drive]
        p.E_e = self.p_E_e[i & self.m_E_e]
        p.E_i = self.p_E_i[i & self.m_E_i]
        x.v = self.nrn[i].x
        x.ie = self.cur[i, 0]
        x.ii = self.cur[i, 1]

    cdef void lexp_to(self, idx_t i, double t, bint clamped) noexcept nogil:
        """Move the stored state of LIF neuron i with exponential currents or conductances ('coba') to
        t >= t_last (v held if clamped: refractoriness without integration)."""
        cdef LexpPar p
        cdef CobaPar pc
        cdef LexpState x
        if KIND(self.nrn[i].flags) == KIND_COBA:
            self.coba_load(i, &pc, &x)
            if clamped:
                coba_decay(&x, t - self.t_last[i], &pc)
            else:
                coba_advance(&x, t - self.t_last[i], &pc)
        else:
            self.lexp_load(i, &p, &x)
            if clamped:
                lexp_decay(&x, t - self.t_last[i], &p)
            else:
                lexp_advance(&x, t - self.t_last[i], &p)
        self.nrn[i].x = x.v
        self.cur[i, 0] = x.ie
        self.cur[i, 1] = x.ii
        self.t_last[i] = t

    cdef void kick_exp(self, idx_t i, double w_i, double w_e, double t) noexcept nogil:
        """Pulses into the currents of LIF neuron i with exponential currents: I_i += w_i, I_e += w_e.
        The currents take them also while the neuron is refractory or has fired in this instant (only v
        is reset and held); then its key stays."""
        cdef uint16_t f = self.nrn[i].flags
        cdef NeuronClass* cl
        cdef LexpPar p
        cdef CobaPar pc
        cdef LexpState x
        cdef double s
        self.lexp_to(i, t, (f & F_REFRACTORY) and not (f & F_INTEGRATE_REF))
        self.cur[i, 0] += w_e
        self.cur[i, 1] += w_i
        if f & (F_PENDING | F_REFRACTORY):
            return
        cl = &self.classes[CLS(f)]
        if self.nrn[i].x >= self.p_thr[i & self.m_thr]:
            self.nrn[i].spare &= ~SPARE_BOUND
            self.cross(i)                            # reached at t to rounding (its key is t)
        else:
            # keyed by a cheap lower bound of its crossing (most neurons take another pulse before it); the
            # crossing itself is computed when the bound comes due (`neuron_events`)
            if KIND(f) == KIND_COBA:
                self.coba_load(i, &pc, &x)
                s = coba_time_bound(&x, self.p_thr[i & self.m_thr], &pc)
            else:
                self.lexp_load(i, &p, &x)
                s = lexp_time_bound(&x, self.p_thr[i & self.m_thr], &p)
            if s == INFINITY:
                self.nrn[i].spare &= ~SPARE_BOUND
            else:
                self.nrn[i].spare |= SPARE_BOUND
            heap_update(&cl.heap, i, t + s)

    cdef inline const LinSys* lin_load(self, idx_t i, double* y) noexcept nogil:
        """The system of linear neuron i, and its stored augmented state y = (1, x) (at t_last)."""
        cdef const LinSys* L = &self.lin_sys[self.lin_cls[i & self.m_lin_cls]]
        cdef int k
        y[0] = 1.0
        for k in range(1, L.D):
            y[k] = self.lin[i, k]
        y[L.vi] = self.nrn[i].x
        return L

    cdef inline void lin_store(self, idx_t i, const LinSys* L, const double* y) noexcept nogil:
        cdef int k
        for k in range(1, L.D):
            self.lin[i, k] = y[k]
        self.nrn[i].x = y[L.vi]

    cdef void lin_to(self, idx_t i, double t, bint clamped) noexcept nogil:
        """Move the stored state of linear neuron i to t >= t_last (v held if clamped: refractoriness without
        integration; the other components go on)."""
        cdef double y[5]
        cdef const LinSys* L = self.lin_load(i, y)
        lin_advance(L, y, t - self.t_last[i], clamped)
        self.lin_store(i, L, y)
        self.t_last[i] = t

    cdef bint at_threshold(self, idx_t i) noexcept nogil:
        """Whether the stored state of timed neuron i is at or above its threshold (v, or c.x for linear
        neurons)."""
        cdef double y[5]
        cdef const LinSys* L
        if KIND(self.nrn[i].flags) == KIND_LINEAR:
            L = self.lin_load(i, y)
            return lin_dot(L.c, y, L.D) >= self.p_thr[i & self.m_thr]
        if self.nrn[i].spare & SPARE_EIF_U:
            return False                             # stored by U: below threshold
        return self.nrn[i].x >= self.p_thr[i & self.m_thr]

    cdef void kick_lin(self, idx_t i, double w_neg, double w_pos, double t) noexcept nogil:
        """Pulses into linear neuron i: w_neg into its component for w < 0, w_pos into that for w > 0. A
        pulse into v is dropped while v is held (refractory without integration: Brian2's (unless
        refractory)) or absorbed by this instant's reset (pending); the other components always take theirs."""
        cdef uint16_t f = self.nrn[i].flags
        cdef bint held = (f & F_REFRACTORY) and not (f & F_INTEGRATE_REF)
        cdef double y[5]
        cdef const LinSys* L
        self.lin_to(i, t, held)
        L = self.lin_load(i, y)
        if w_neg != 0.0 and not (L.neg == L.vi and (held or (f & F_PENDING))):
            y[L.neg] += w_neg
        if w_pos != 0.0 and not (L.pos == L.vi and (held or (f & F_PENDING))):
            y[L.pos] += w_pos
        self.lin_store(i, L, y)
        if f & (F_PENDING | F_REFRACTORY):
            return
        if lin_dot(L.c, y, L.D) >= self.p_thr[i & self.m_thr]:
            self.cross(i)
        else:
            heap_update(&self.classes[CLS(f)].heap, i, t + lin_time_to(L, y, self.p_thr[i & self.m_thr]))

    cdef double value(self, idx_t i, double t) noexcept nogil:
        """The state variable of neuron i at time t (no event in between): v, or theta for theta neurons."""
        cdef uint16_t f = self.nrn[i].flags
        cdef double v
        if (f & F_REFRACTORY) and not (f & F_INTEGRATE_REF):
            v = self.nrn[i].x
        elif KIND(self.nrn[i].flags) == KIND_LIF_U:
            v = lif_v_of_u(self.nrn[i].x, self.p_drive[i & self.m_drive],
                           self.class_E(&self.classes[CLS(self.nrn[i].flags)], t))
        else:
            v = self.free_v(i, t)
        if f & F_THETA:
            return theta_of_v(v)
        return v

    cdef inline void cross(self, idx_t i) noexcept nogil:
        self.nrn[i].flags |= F_PENDING
        self.fifo[self.fifo_tail] = i
        self.fifo_tail += 1

    cdef void kick_split(self, idx_t i, double w_neg, double w_pos, double t) noexcept nogil:
        """Pulses into a model whose negative and positive pulses go to different variables ('lif_exp',
        'linear'): one call site for both in `kick` and in `apply_kicks`, which keeps those hot functions
        small enough for the C compiler to inline `kick` (LIF networks pay nothing for these models)."""
        if KIND(self.nrn[i].flags) == KIND_LIF_EXP:
            self.kick_exp(i, w_neg, w_pos, t)
        elif KIND(self.nrn[i].flags) == KIND_COBA:
            self.kick_exp(i, -w_neg, w_pos, t)       # g_i += |w| for w < 0 (inhibitory conductance)
        else:
            self.kick_lin(i, w_neg, w_pos, t)

    cdef inline void kick(self, idx_t i, double w, double t) noexcept nogil:
        cdef uint16_t f = self.nrn[i].flags
        cdef NeuronClass* cl
        cdef const EifTable* T
        cdef double E, u, v, thr, u_thr, key, tau
        if KIND(f) == KIND_LIF_EXP or KIND(f) == KIND_LINEAR or KIND(f) == KIND_COBA:
            # a positive pulse goes into I_e, a negative one into I_i (or a linear model's input variables)
            self.kick_split(i, w if w < 0.0 else 0.0, w if w > 0.0 else 0.0, t)
            return
        if f & (F_PENDING | F_REFRACTORY):
            if f & F_PENDING:
                return                               # absorbed by this instant's reset
            if not (f & F_INTEGRATE_REF):
                return                               # Brian2's (unless refractory): inputs are dropped
            if KIND(self.nrn[i].flags) == KIND_LIF_U:
                self.nrn[i].x = lif_u_kick(self.nrn[i].x, w, self.class_E(&self.classes[CLS(self.nrn[i].flags)], t))
            else:
                self.nrn[i].x = model_kick(KIND(f), self.free_v(i, t), w)
                self.nrn[i].spare &= ~SPARE_EIF_U
                self.t_last[i] = t
            return
        cl = &self.classes[CLS(f)]
        if KIND(f) == KIND_LIF_U:
            E = self.class_E(cl, t)
            u = lif_u_kick(self.nrn[i].x, w, E)
            self.nrn[i].x = u
            if lif_u_crossed(u, self.p_ith[i & self.m_ith], E):
                self.cross(i)
            elif w <= 0.0:
                # the key only grows: no need to read the old one (a cache miss saved per inhibitory kick)
                heap_sift_down(&cl.heap, self.nrn[i].pos, self.shared_key(i, u), i)
            else:
                heap_sift_up(&cl.heap, self.nrn[i].pos, self.shared_key(i, u), i)
        elif KIND(f) == KIND_EIF and self.eif_tab[i & self.m_eif_tab] >= 0:
            T = self.eif_tabs[self.eif_tab[i & self.m_eif_tab]]
            thr = self.p_thr[i & self.m_thr]
            u_thr = eif_tab_u_level(T, thr) if eif_tab_codes(T, T.fast.x_lo, thr) else NAN
            tau = self.p_tau[i & self.m_tau]
            if eif_pulse(&self.nrn[i], &self.t_last[i], w, t, T, tau, 1.0 / tau, thr, u_thr, &key):
                self.cross(i)
            else:
                heap_replace(&cl.heap, self.nrn[i].pos, key, i)
        else:
            v = model_kick(KIND(f), self.free_v(i, t), w)
            self.t_last[i] = t
            if v >= self.p_thr[i & self.m_thr]:
                self.nrn[i].x = v
                self.nrn[i].spare &= ~SPARE_EIF_U
                self.cross(i)
            else:
                heap_replace(&cl.heap, self.nrn[i].pos, t + self.timed_store(i, v), i)

    cdef inline void kick_shared(self, Heap* heap, idx_t j, double w, double E, double th,
                                 double inv_th) noexcept nogil:
        """Kick an active (not refractory, not pending) shared-class LIF neuron j by w at E = E(t);
        th and inv_th are its I - theta and 1 / (I - theta)."""
        cdef double u = lif_u_kick(self.nrn[j].x, w, E)
        self.nrn[j].x = u
        if lif_u_crossed(u, th, E):
            self.cross(j)
        elif w <= 0.0:
            # the key only grows: no need to read the old one (a cache miss saved per inhibitory kick)
            heap_sift_down(heap, self.nrn[j].pos, lif_u_key(u, th, inv_th), j)
        else:
            heap_sift_up(heap, self.nrn[j].pos, lif_u_key(u, th, inv_th), j)

    cdef void kick_row(self, syn_t k, syn_t k_end, double t) noexcept nogil:
        """Kick the targets of synapses k .. k_end - 1 at time t.

        The common cases, a shared-class LIF target, (with tau, drive > 0 and threshold shared) a QIF or
        theta target and (with one EIF table, tau and threshold shared) an EIF target, neither refractory nor
        pending, are done inline with every array pointer held in a
        local (stores into the neuron records could otherwise alias the engine's fields and force reloads);
        the rest goes through `kick`. Two-stage prefetch: a target's record PF_RECORD synapses ahead, the
        children of its heap node (and a timed target's t_last) PF_CHILDREN ahead."""
        cdef Neuron* nrn = self.nrn
        cdef double* tl = &self.t_last[0]
        cdef int qf_match = self.qf_match
        cdef int ef_match = self.ef_match
        cdef const EifTable* ef_tab = self.ef_tab
        cdef double ef_tau = self.ef_tau, ef_inv_tau = 1.0 / self.ef_tau, ef_thr = self.ef_thr, ef_uthr = self.ef_uthr
        cdef QifPar qf = self.qf
        cdef idx_t* idx = &self.indices[0]
        cdef double* wts = &self.weights[0]
        cdef int64_t m_w = self.m_w
        cdef double* ith = &self.p_ith[0]
        cdef double* inv_ith = &self.p_inv_ith[0]
        cdef int64_t m_ith = self.m_ith
        cdef NeuronClass* cl
        cdef syn_t kp = k + PF_RECORD, kq = k + PF_CHILDREN
        cdef idx_t j, p, c
        cdef uint16_t f
        cdef double w
        # the records the loop's first iterations would read before their prefetch: all at once (QIF rows
        # are short: S2 at N = 1e5, 7.8 -> 7.2 us per spike, compare_builds.py --net s2)
        for kp in range(k, k + PF_RECORD if k + PF_RECORD < k_end else k_end):
            SP_PREFETCH(nrn + idx[kp])
        kp = k + PF_RECORD
        while k < k_end:
            if kp < k_end:
                SP_PREFETCH(nrn + idx[kp])
            if kq < k_end:
                j = idx[kq]
                f = nrn[j].flags
                cl = self.classes + CLS(f)
                p = nrn[j].pos
                # the block of its 8 children, which an update of an inner node reads (a leaf gets the
                # root's children instead: in cache anyway). Its own key is only written: no prefetch,
                # the store buffer hides that miss (measured: prefetching it gained nothing).
                c = 8 * p + 1
                c = c if c < cl.heap.size else 1
                SP_PREFETCH(cl.heap.keys + c)
                SP_PREFETCH(cl.heap.ids + c)
                if f & KIND_MASK:       # a timed target: its t_last is read (then t_last has length n)
                    SP_PREFETCH(tl + j)
            j = idx[k]
            w = wts[k & m_w]
            f = nrn[j].flags
            if (f & (F_PENDING | F_REFRACTORY | KIND_MASK)) == qf_match:     # an active QIF, shared constants
                cl = self.classes + CLS(f)
                if qif_kick(nrn + j, tl + j, &cl.heap, j, w, t, &qf):
                    self.cross(j)
            elif (f & (F_PENDING | F_REFRACTORY | KIND_MASK)) == ef_match:   # an active EIF, shared table
                cl = self.classes + CLS(f)
                if eif_kick(nrn + j, tl + j, &cl.heap, j, w, t, ef_tab, ef_tau, ef_inv_tau, ef_thr, ef_uthr):
                    self.cross(j)
            elif f & (F_PENDING | F_REFRACTORY | KIND_MASK):     # not an active shared LIF
                self.kick(j, w, t)
            else:
                cl = self.classes + CLS(f)
                self.kick_shared(&cl.heap, j, w, self.class_E(cl, t), ith[j & m_ith], inv_ith[j & m_ith])
            k += 1
            kp += 1
            kq += 1

    cdef void kick_row_shared(self, syn_t k, syn_t k_end, double t) noexcept nogil:
        """`kick_row` for a network whose neurons all form one shared LIF class: E(t) and the heap are
        held in locals for the whole row."""
        cdef Neuron* nrn = self.nrn
        cdef idx_t* idx = &self.indices[0]
        cdef double* wts = &self.weights[0]
        cdef int64_t m_w = self.m_w
        cdef double* ith = &self.p_ith[0]
        cdef double* inv_ith = &self.p_inv_ith[0]
        cdef int64_t m_ith = self.m_ith
        cdef NeuronClass* cl = self.classes
        cdef Heap* heap = &cl.heap
        cdef double* keys = heap.keys
        cdef idx_t* ids = heap.ids
        cdef idx_t size = heap.size
        cdef double E = self.class_E(cl, t)
        cdef syn_t kp = k + PF_RECORD, kq = k + PF_CHILDREN
        cdef idx_t j, c
        cdef uint16_t f
        cdef double w
        while k < k_end:
            if kp < k_end:
                SP_PREFETCH(nrn + idx[kp])
            if kq < k_end:
                c = 8 * nrn[idx[kq]].pos + 1
                c = c if c < size else 1
                SP_PREFETCH(keys + c)
                SP_PREFETCH(ids + c)
            j = idx[k]
            w = wts[k & m_w]
            f = nrn[j].flags
            if f & (F_PENDING | F_REFRACTORY):
                self.kick(j, w, t)
            else:
                self.kick_shared(heap, j, w, E, ith[j & m_ith], inv_ith[j & m_ith])
            k += 1
            kp += 1
            kq += 1

    cdef inline void kick_targets(self, syn_t k, syn_t k_end, double t) noexcept nogil:
        if self.n_classes == 1 and self.classes[0].shared:
            self.kick_row_shared(k, k_end, t)
        else:
            self.kick_row(k, k_end, t)

    cdef inline void add_segment(self, syn_t k, syn_t k_end, idx_t src) noexcept nogil:
        """Add synapses k .. k_end - 1 of row src to the kicks of the current generation (precondition:
        room for one segment)."""
        if k < k_end:
            self.seg[self.seg_n].k0 = k
            self.seg[self.seg_n].k1 = k_end
            self.seg[self.seg_n].src = src
            self.seg_n += 1

    cdef void propagate(self, idx_t src, double t) noexcept nogil:
        """Send the spike of src at t: its zero-delay targets join the current generation's kicks, its
        first delay group goes to the queue (precondition: room for one segment and one delayed event)."""
        cdef syn_t k = self.indptr[src], k1 = self.indptr[src + 1], kz
        if self.delay_array:
            kz = self.zero_end[src]
        elif self.delay_scalar == 0.0:
            kz = k1
        else:
            kz = k
        cdef double d
        cdef int64_t ka
        self.add_segment(k, kz, src)
        if kz < k1:
            d = self.delays[kz] if self.delay_array else self.delay_scalar
            if self.q > 0.0:
                ka = self.inst_k + self.quanta(d)
                dq_push(&self.dq, self.qtime(ka, self.inst_o), self.inst_o, src, kz, ka)
            else:
                dq_push(&self.dq, t + d, t, src, kz, 0)

    cdef void emit(self, idx_t i, double t) noexcept nogil:
        """Neuron i fires at t: record, reset, send its spike (precondition: `make_room` for it)."""
        cdef uint16_t f = self.nrn[i].flags
        cdef NeuronClass* cl = &self.classes[CLS(self.nrn[i].flags)]
        cdef double tref = self.p_tref[i & self.m_tref], reset = self.p_reset[i & self.m_reset]
        cdef double E, key
        cdef double y[5]
        cdef const LinSys* L
        cdef int64_t b
        self.n_spikes += 1
        if f & F_RECORD:
            self.rec.t[self.rec.n] = t + self.epoch
            self.rec.i[self.rec.n] = i
            self.rec.n += 1
        if (f & F_RATE) and self.rate_bin > 0.0:
            b = <int64_t>floor((t + self.epoch) / self.rate_bin) - self.rate_first_bin
            if 0 <= b < self.rate_counts.shape[0]:
                self.rate_counts[b] += 1
        cl.top_id = -1
        if tref > 0.0:
            self.nrn[i].flags = f | F_REFRACTORY
            if self.q > 0.0:
                self.ref_k[i] = self.inst_k + self.quanta(tref)
                self.ref_o[i] = self.inst_o
                self.ref_end[i] = self.qtime(self.ref_k[i], self.inst_o)
            else:
                self.ref_end[i] = t + tref
        if KIND(self.nrn[i].flags) == KIND_LIF_U:
            E = self.class_E(cl, t)
            if tref > 0.0:
                self.nrn[i].x = lif_u_of_v(reset, self.p_drive[i & self.m_drive], E) if (f & F_INTEGRATE_REF) else reset
                key = exp((self.ref_end[i] - cl.t0) / cl.tau)
            else:
                self.nrn[i].x = lif_u_of_v(reset, self.p_drive[i & self.m_drive], E)
                key = self.shared_key(i, self.nrn[i].x)
        elif KIND(f) == KIND_LINEAR:
            self.lin_to(i, t, False)                 # every component to the spike time, then the reset
            L = self.lin_load(i, y)
            lin_reset(L, y, reset)
            self.lin_store(i, L, y)
            if tref > 0.0:
                key = self.ref_end[i]
            elif lin_dot(L.c, y, L.D) >= self.p_thr[i & self.m_thr]:
                self.n_lin_stuck += 1                # no time moves on: silenced, and `run` raises
                key = INFINITY
            else:
                key = t + lin_time_to(L, y, self.p_thr[i & self.m_thr])
        else:
            if KIND(f) == KIND_LIF_EXP or KIND(f) == KIND_COBA:
                self.lexp_to(i, t, True)             # the currents go on; v is reset below
            self.t_last[i] = t
            if tref > 0.0:
                self.nrn[i].x = reset
                self.nrn[i].spare &= ~SPARE_EIF_U
                key = self.ref_end[i]
            else:
                key = t + self.timed_store(i, reset)
        self.nrn[i].spare &= ~SPARE_BOUND
        heap_update(&cl.heap, i, key)
        self.prefetch_row(cl.heap.ids[0])       # the likely next spiker's targets
        self.propagate(i, t)

    cdef inline void prefetch_row(self, idx_t j) noexcept nogil:
        cdef syn_t k = self.indptr[j], k1 = self.indptr[j + 1]
        cdef idx_t* idx = &self.indices[0]
        while k < k1:
            SP_PREFETCH(idx + k)
            k += 16                             # one 64-byte line holds 16 indices

    cdef int end_refractory(self, idx_t i, double t) noexcept nogil:
        """Neuron i leaves refractoriness at t. Returns 1 if it fires at once."""
        cdef uint16_t f = self.nrn[i].flags
        cdef NeuronClass* cl = &self.classes[CLS(self.nrn[i].flags)]
        cdef double E, u, v
        self.nrn[i].flags = f & ~F_REFRACTORY
        self.nrn[i].spare &= ~SPARE_BOUND
        cl.top_id = -1
        if KIND(self.nrn[i].flags) == KIND_LIF_U:
            E = self.class_E(cl, t)
            u = self.nrn[i].x if (f & F_INTEGRATE_REF) else lif_u_of_v(self.nrn[i].x, self.p_drive[i & self.m_drive], E)
            self.nrn[i].x = u
            if lif_u_crossed(u, self.p_ith[i & self.m_ith], E):
                return 1
            heap_update(&cl.heap, i, self.shared_key(i, u))
        elif KIND(f) == KIND_LINEAR:
            self.lin_to(i, t, not (f & F_INTEGRATE_REF))
            if self.at_threshold(i):
                return 1
            heap_update(&cl.heap, i, t + self.time_to_threshold(i, self.nrn[i].x))
        else:
            if KIND(f) == KIND_LIF_EXP or KIND(f) == KIND_COBA:
                self.lexp_to(i, t, not (f & F_INTEGRATE_REF))
            v = self.free_v(i, t) if (f & F_INTEGRATE_REF) else self.nrn[i].x
            self.t_last[i] = t
            if v >= self.p_thr[i & self.m_thr]:
                self.nrn[i].x = v
                return 1
            heap_update(&cl.heap, i, t + self.timed_store(i, v))
        return 0

    cdef int grow_tape(self) except -1 nogil:
        """Room on the tape for one more spike (doubling), or MemoryError with the tape unchanged."""
        cdef int64_t cap = 2 * self.tape_cap if self.tape_cap else 1024
        cdef uint8_t* grown = <uint8_t*>realloc(self.tape_kick, cap * sizeof(uint8_t))
        if grown == NULL:
            with gil:
                raise MemoryError(f"cannot grow the tape beyond {self.tape_cap} spikes")
        self.tape_kick = grown
        self.tape_cap = cap
        return 0

    cdef int apply_kicks(self, double t) except -1 nogil:
        """Deliver the kicks of the current generation (the segments gathered): the kicks reaching one
        target are summed, in increasing order of weight, and the sum is applied and tested against
        threshold once. A generation of one row without repeated targets (the common case) is kicked
        directly, which is the same arithmetic; otherwise its kicks are gathered and sorted by (target,
        weight). Kicks to neurons that fired in this instant are absorbed (see `kick`)."""
        cdef int64_t s, m = 0, a, b
        cdef syn_t k
        cdef idx_t j
        cdef double w, w_neg, w_pos
        cdef Kick* grown
        if self.seg_n == 0:
            return 0
        if self.seg_n == 1 and not self.row_dup[self.seg[0].src]:
            if self.plastic_on:
                self.plastic_arrivals(t, True)
            self.kick_targets(self.seg[0].k0, self.seg[0].k1, t)
            if self.plastic_on:
                self.plastic_arrivals(t, False)
            self.seg_n = 0
            return 0
        for s in range(self.seg_n):
            m += self.seg[s].k1 - self.seg[s].k0
        if m > self.kbuf_cap:
            grown = <Kick*>realloc(self.kbuf, m * sizeof(Kick))
            if grown == NULL:
                with gil:
                    raise MemoryError(f"cannot gather the {m} kicks of one instant")
            self.kbuf = grown
            self.kbuf_cap = m
        if self.plastic_on:
            self.plastic_arrivals(t, True)
        a = 0
        for s in range(self.seg_n):
            for k in range(self.seg[s].k0, self.seg[s].k1):
                self.kbuf[a].j = self.indices[k]
                self.kbuf[a].w = self.weights[k & self.m_w]
                a += 1
        qsort(self.kbuf, m, sizeof(Kick), kick_order)
        a = 0
        while a < m:
            j = self.kbuf[a].j
            w = self.kbuf[a].w
            b = a + 1
            while b < m and self.kbuf[b].j == j:
                w += self.kbuf[b].w
                b += 1
            if (KIND(self.nrn[j].flags) == KIND_LIF_EXP or KIND(self.nrn[j].flags) == KIND_LINEAR
                    or KIND(self.nrn[j].flags) == KIND_COBA):
                # two sums, one per input variable (the negative weights come first, in the same order)
                w_neg = 0.0
                w_pos = 0.0
                while a < b:
                    if self.kbuf[a].w < 0.0:
                        w_neg += self.kbuf[a].w
                    else:
                        w_pos += self.kbuf[a].w
                    a += 1
                self.kick_split(j, w_neg, w_pos, t)
            else:
                self.kick(j, w, t)
            a = b
        if self.plastic_on:
            self.plastic_arrivals(t, False)
        self.seg_n = 0
        return 0

    cdef void plastic_arrivals(self, double t, bint before) noexcept nogil:
        """on_pre of the plastic synapses among the current generation's kicks, before the kicks (STDP rules
        that update first, short-term plasticity's statements before its kick) or after them. One call site
        per side in `apply_kicks` keeps that hot function small (its kicks stay inlined)."""
        if before:
            if self.stdp_first:
                self.stdp_arrivals(t, 1)
            if self.stp_on:
                self.stp_arrivals(t, True)
        else:
            if self.stdp_on:
                self.stdp_arrivals(t, 0)
            if self.stp_on:
                self.stp_arrivals(t, False)

    cdef void stdp_arrivals(self, double t, int first) noexcept nogil:
        """on_pre of the plastic synapses among the current generation's kicks (the segments gathered) whose
        rule changes the weight before the kick (first = 1) or after it (first = 0)."""
        cdef int64_t s
        cdef syn_t k
        cdef int8_t r
        for s in range(self.seg_n):
            for k in range(self.seg[s].k0, self.seg[s].k1):
                r = self.syn_rule[k]
                if r >= 0 and self.rules[r].update_first == first:
                    self.weights[k] = stdp_on_pre(&self.rules[r], &self.traces[k], self.weights[k], t)

    cdef void stp_arrivals(self, double t, bint before) noexcept nogil:
        """on_pre of the synapses with short-term plasticity among the current generation's kicks: before the
        kicks, u and x to t, the statements before the kick, and the kick w*u*x in place of the weight; after
        them, the weight back and the statements after the kick."""
        cdef int64_t s
        cdef syn_t k
        cdef int32_t r
        for s in range(self.seg_n):
            for k in range(self.seg[s].k0, self.seg[s].k1):
                r = self.syn_stp[k]
                if r >= 0:
                    if before:
                        self.weights[k] = stp_before(&self.stp_rules[r], &self.stp_state[k], self.weights[k], t)
                    else:
                        self.weights[k] = stp_after(&self.stp_rules[r], &self.stp_state[k])

    cdef void stdp_post(self, idx_t i, double t) noexcept nogil:
        """on_post of the plastic synapses onto neuron i, which fired at t."""
        cdef int64_t p
        cdef syn_t k
        for p in range(self.post_ptr[i], self.post_ptr[i + 1]):
            k = self.post_syn[p]
            self.weights[k] = stdp_on_post(&self.rules[self.syn_rule[k]], &self.traces[k], self.weights[k], t)

    cdef int gather(self, double t) except -1 nogil:
        """Take every delayed arrival and external input due at t: their kicks form the instant's first
        generation, with the zero-delay kicks of the neurons that reached threshold on their own."""
        self.gathering = True
        while self.dq.size > 0 and self.dq.ev[0].t_arr <= t:
            if self.seg_n == self.seg_cap:
                self.make_room(False)
            self.delay_event()                  # pops one event before it may push one
            self.n_events += 1
        while self.in_heap.size > 0 and self.in_keys[0] <= t:
            if self.seg_n == self.seg_cap or self.dq.size == self.dq.cap:
                self.make_room(False)
            if (self.tape_on or self.any_in_record) and self.tape_in.n == self.tape_in.cap:
                if rec_reserve(&self.tape_in, self.tape_in.n + 1):
                    with gil:
                        raise MemoryError(f"cannot grow the tape of input events beyond {self.tape_in.cap}")
            self.input_event(t)
            self.n_events += 1
        self.gathering = False
        return 0

    cdef int run_cascade(self, double t) except -1 nogil:
        """Generation by generation: fire the neurons of the generation (FIFO positions fifo_head ..
        fifo_gen - 1), then deliver the generation's kicks together; those that cross threshold form the
        next generation. Ends when a generation brings no new crossing."""
        cdef idx_t i
        while True:
            while self.fifo_head < self.fifo_gen:
                i = self.fifo[self.fifo_head]
                if (self.dq.size == self.dq.cap or self.seg_n == self.seg_cap
                        or (self.rec.n == self.rec.cap and self.nrn[i].flags & F_RECORD)):
                    self.make_room(self.nrn[i].flags & F_RECORD)  # on failure i stays queued, to fire on resume
                if self.tape_on:                # (all neurons record their spikes with a tape)
                    if self.rec.n == self.tape_cap:
                        self.grow_tape()        # on failure i stays queued, to fire on resume
                    self.tape_kick[self.rec.n] = (self.nrn[i].spare & SPARE_OWN) == 0
                    self.nrn[i].spare &= ~SPARE_OWN
                self.fifo_head += 1
                self.emit(i, t)
            self.apply_kicks(t)
            if self.fifo_gen == self.fifo_tail:
                return 0
            self.fifo_gen = self.fifo_tail

    cdef void end_instant(self) noexcept nogil:
        """Time moves on: the neurons that fired in the past instant take inputs again. With plasticity, their
        incoming plastic synapses take the spike (on_post) now, after every arrival of the instant (on_pre)."""
        cdef idx_t k
        for k in range(self.fifo_tail):
            self.nrn[self.fifo[k]].flags &= ~F_PENDING
            if self.stdp_on:
                self.stdp_post(self.fifo[k], self.t)
        self.fifo_head = 0
        self.fifo_tail = 0
        self.fifo_gen = 0

    cdef inline double class_top_time(self, int c) noexcept nogil:
        cdef NeuronClass* cl = &self.classes[c]
        cdef idx_t i
        cdef double k
        if cl.heap.size == 0:
            return INFINITY
        i = cl.heap.ids[0]
        k = cl.heap.keys[0]
        if i != cl.top_id or k != cl.top_key:
            cl.top_id = i
            cl.top_key = k
            if self.nrn[i].flags & F_REFRACTORY:
                cl.top_time = self.ref_end[i]
            elif cl.shared:
                cl.top_time = INFINITY if k == INFINITY else cl.t0 + cl.tau * log(k)
            else:
                cl.top_time = k
        return cl.top_time

    cdef void neuron_events(self, double t) noexcept nogil:
        """Take every neuron event due at t (spikes and refractory ends, of all classes) before any of
        them acts: neurons that reach threshold on their own at the same instant all fire."""
        cdef int c
        cdef idx_t i
        cdef NeuronClass* cl
        for c in range(self.n_classes):
            cl = &self.classes[c]
            while self.class_top_time(c) <= t:
                i = cl.heap.ids[0]
                if self.nrn[i].flags & F_REFRACTORY:
                    if not self.end_refractory(i, t):
                        continue                    # back to ordinary dynamics, keyed by its next spike
                if self.nrn[i].spare & SPARE_BOUND:
                    # a 'lif_exp' neuron keyed by a lower bound: its crossing from the state stored at its last
                    # event, the key that the pulse would have given it at once (the same number)
                    self.nrn[i].spare &= ~SPARE_BOUND
                    heap_update(&cl.heap, i, self.t_last[i] + self.time_to_threshold(i, self.nrn[i].x))
                    cl.top_id = -1
                    continue
                if self.tape_on:
                    self.nrn[i].spare |= SPARE_OWN  # its own crossing (the tape tells it from a kick's)
                self.cross(i)
                heap_sink(&cl.heap, 0, INFINITY, i)  # out of the way until its reset gives a new key
                cl.top_id = -1

    cdef void input_event(self, double t) noexcept nogil:
        """The next external input event, at t (precondition: `make_room`, and room on the tape if on)."""
        cdef idx_t q = self.in_heap.ids[0], g, k, src
        cdef int64_t p
        cdef double nxt
        if q < self.n_poisson:
            # the superposition of independent Poisson processes is one Poisson process of the summed
            # rate whose events belong to source k with probability rate_k / total (alias method)
            # (alias entries of probability 1, all of them for equal rates, need no second draw)
            k = <idx_t>(self.rng.next_double(self.rng.state) * self.poisson_src.shape[0])
            if self.poisson_prob[k] < 1.0 and self.rng.next_double(self.rng.state) >= self.poisson_prob[k]:
                k = self.poisson_alias[k]
            src = self.poisson_src[k]
            nxt = t + random_standard_exponential(self.rng) / self.poisson_total
        else:
            g = q - self.n_poisson
            p = self.gen_ptr[g]
            src = self.gen_src[p]
            p += 1
            if p == self.gen_end[g] and self.gen_period[g] > 0.0:
                p = self.gen_start[g]
                self.gen_rep[g] += 1
            self.gen_ptr[g] = p
            nxt = self.gen_key(g)
        if self.tape_on or (self.any_in_record and self.in_record[src - self.n]):
            self.tape_in.t[self.tape_in.n] = t + self.epoch
            self.tape_in.i[self.tape_in.n] = src
            self.tape_in.n += 1
        self.propagate(src, t)
        heap_update(&self.in_heap, q, nxt)

    cdef void delay_event(self) noexcept nogil:
        """The first delayed event: one delay group of a row, then the row's next group is sent (a
        negative src: synapse syn of row -1 - src alone, sent before its delay changed; nothing follows)."""
        cdef DelayEvent ev = dq_pop(&self.dq)
        cdef syn_t k0 = ev.syn, k = ev.syn, k1
        cdef double d
        cdef int64_t ka
        if ev.src < 0:
            self.add_segment(k0, k0 + 1, -1 - ev.src)
            return
        k1 = self.indptr[ev.src + 1]
        if self.delay_array:
            d = self.delays[k]
            while k < k1 and self.delays[k] == d:
                k += 1
        else:
            k = k1
            d = self.delay_scalar
        self.add_segment(k0, k, ev.src)
        if k < k1:                                  # in the popped event's place
            if self.q > 0.0:
                ka = ev.k + (self.quanta(self.delays[k]) - self.quanta(d))
                dq_push(&self.dq, self.qtime(ka, ev.t_spk), ev.t_spk, ev.src, k, ka)
            else:
                dq_push(&self.dq, ev.t_spk + self.delays[k], ev.t_spk, ev.src, k, 0)

    cdef void take_sample(self, double ts) noexcept nogil:
        cdef idx_t r
        for r in range(self.sample_idx.shape[0]):
            self.sample_out[self.sample_ptr, r] = self.value(self.sample_idx[r], ts)
            if self.sample_extra.shape[2]:
                self.extra_state(self.sample_idx[r], ts, &self.sample_extra[self.sample_ptr, r, 0])
        self.sample_ptr += 1

    cdef void extra_state(self, idx_t i, double t, double* out) noexcept nogil:
        """The variables of neuron i beside its state variable at time t (no event in between), into out: the
        currents (I_e, I_i) of a LIF neuron with exponential currents, the conductances (g_e, g_i) of a 'coba'
        neuron, the state vector x of a linear neuron (its D - 1 variables); nothing for other models."""
        cdef uint16_t f = self.nrn[i].flags
        cdef LexpPar p
        cdef CobaPar pc
        cdef LexpState x, y
        cdef double z[5]
        cdef const LinSys* L
        cdef int k
        if KIND(f) == KIND_COBA:
            self.coba_load(i, &pc, &x)
            coba_decay(&x, t - self.t_last[i], &pc)
            out[0] = x.ie
            out[1] = x.ii
        elif KIND(f) == KIND_LIF_EXP:
            self.lexp_load(i, &p, &x)
            lexp_eval(t - self.t_last[i], &x, &p, &y)
            out[0] = y.ie
            out[1] = y.ii
        elif KIND(f) == KIND_LINEAR:
            L = self.lin_load(i, z)
            lin_advance(L, z, t - self.t_last[i], (f & F_REFRACTORY) and not (f & F_INTEGRATE_REF))
            for k in range(1, L.D):
                out[k - 1] = z[k]

    cdef int loop(self, double t_stop_abs, int64_t max_events) except -1 nogil:
        cdef double t_stop = t_stop_abs - self.epoch
        cdef int c, best_c
        cdef double tn, tc, td, ti, ts, te
        cdef int64_t start = self.n_events
        if self.gathering:                          # an instant cut short by a MemoryError: finish it first
            self.gather(self.t)
        if self.fifo_head < self.fifo_tail or self.seg_n > 0:
            self.run_cascade(self.t)
        while True:
            tn = INFINITY
            best_c = -1
            for c in range(self.n_classes):
                tc = self.class_top_time(c)
                if tc < tn:
                    tn = tc
                    best_c = c
            td = self.dq.ev[0].t_arr if self.dq.size > 0 else INFINITY
            ti = self.in_keys[0] if self.in_heap.size > 0 else INFINITY
            te = tn if tn <= td else td
            if ti < te:
                te = ti
            if te < self.t:
                te = self.t                         # a rounding of log(key) may land an ulp in the past
            if self.sample_ptr < self.sample_times.shape[0]:
                ts = self.sample_times[self.sample_ptr] - self.epoch
                if ts <= te and ts < t_stop:
                    self.ensure_base(ts)
                    self.take_sample(ts)
                    continue
            if te >= t_stop:
                self.end_instant()
                self.t = t_stop
                return LOOP_DONE
            if self.n_events - start >= max_events:
                return LOOP_BUDGET
            if te > EPOCH_SPAN:
                self.shift_epoch(floor(te))
                t_stop = t_stop_abs - self.epoch
                continue                            # select again in the new frame
            if self.dq.size == self.dq.cap:
                self.make_room(False)
            if te > self.t:
                self.end_instant()
            self.t = te
            self.ensure_base(te)
            if self.q > 0.0:
                self.set_instant(te, tn, td, best_c)
            # the instant: neurons at threshold on their own, then every arrival and input due now
            if tn <= te:
                self.neuron_events(te)
                self.n_events += 1
            self.fifo_gen = self.fifo_tail
            self.gather(te)
            self.run_cascade(te)

    def advance(self, double t_stop, int64_t max_events):
        """Process events with absolute times < t_stop, at most max_events of them. Returns
        STATUS_CODES["done"] when t_stop was reached (then ``epoch + t`` is t_stop to rounding),
        STATUS_CODES["budget"] when the event budget ran out first.
        Raises MemoryError when the spike record or the queue of delayed spikes cannot grow; the spikes
        recorded so far stay for `take_spikes`, and a later call goes on from where this one stopped."""
        cdef int status
        with nogil:
            status = self.loop(t_stop, max_events)
        return status

    def set_memory_limits(self, int64_t record, int64_t delayed):
        """The most spikes the record may hold between two `take_spikes` and the most delayed events in
        flight: growth beyond fails as a failed allocation does (tests use it to exercise that path)."""
        if record < max(self.rec.n, 1) or delayed < max(self.dq.size, 1):
            raise ValueError(f"limits must be >= 1 and the current sizes ({self.rec.n}, {self.dq.size}), "
                             f"found: {record}, {delayed}")
        self.rec.limit = record
        self.dq.limit = delayed

    # ---------------------------------------------------------------- recording
    def set_samples(self, times, idx, out, extra):
        """Sample the neurons idx at times into out (n_times, n_idx), and their other variables
        (`extra_state`) into extra (n_times, n_idx, k; k = 0: none)."""
        self.sample_times = times
        self.sample_idx = idx
        self.sample_out = out
        self.sample_extra = extra
        self.sample_ptr = 0

    @property
    def samples_taken(self):
        return self.sample_ptr

    def set_rate_counts(self, counts, double bin_width, int64_t first_bin):
        self.rate_counts = counts
        self.rate_bin = bin_width
        self.rate_first_bin = first_bin

    def set_tape(self, bint on):
        """Record (or stop recording) the tape of the adjoint from the next spike on: one byte per spike,
        aligned with the spike record (every neuron must record its spikes), 1 for a spike caused by an
        input pulse, 0 for one reached on the neuron's own dynamics. Call between two `advance`."""
        self.tape_on = on

    def record_inputs(self, const uint8_t[::1] sources):
        """Record the events of the input sources marked 1 in ``sources`` (one byte per input source, in
        presynaptic-id order from n) from the next event on, as with the tape: `take_input_tape` returns
        them. Call between two `advance`."""
        if sources.shape[0] != self.n_pre - self.n:
            raise ValueError(f"sources must have one entry per input source ({self.n_pre - self.n}), "
                             f"found {sources.shape[0]}")
        self.in_record = np.array(sources, dtype=np.uint8)
        self.any_in_record = bool(np.any(self.in_record))

    def take_tape(self):
        """The tape bytes of the spikes recorded since the last `take_spikes` (call it first)."""
        out = np.zeros(self.rec.n if self.tape_on else 0, dtype=np.uint8)
        cdef uint8_t[::1] ov = out
        if out.shape[0]:
            memcpy(&ov[0], self.tape_kick, out.shape[0] * sizeof(uint8_t))
        return out

    def take_input_tape(self):
        """Return and forget the external input events recorded on the tape since the last call, as
        (absolute times, presynaptic ids)."""
        return drain(&self.tape_in)

    def take_spikes(self):
        """Return and forget the spikes recorded since the last call, as (times, indices)."""
        return drain(&self.rec)

    def values(self, const idx_t[::1] idx, double t):
        """The state variable of the given neurons at absolute time t (>= the last event, before the next)."""
        t -= self.epoch
        out = np.empty(idx.shape[0])
        cdef double[::1] ov = out
        cdef idx_t r
        self.ensure_base(t)
        for r in range(idx.shape[0]):
            ov[r] = self.value(idx[r], t)
        return out

    def stored_values(self, const idx_t[::1] idx):
        """The state of the given neurons at the current time in the engine's coordinate: v, and
        tan(theta/2) for theta neurons (-inf at the reset); a refractory neuron's held value."""
        out = np.empty(idx.shape[0])
        cdef double[::1] ov = out
        cdef idx_t r, i
        cdef uint16_t f
        self.ensure_base(self.t)
        for r in range(idx.shape[0]):
            i = idx[r]
            f = self.nrn[i].flags
            if (f & F_REFRACTORY) and not (f & F_INTEGRATE_REF):
                ov[r] = self.nrn[i].x
            elif KIND(f) == KIND_LIF_U:
                ov[r] = lif_v_of_u(self.nrn[i].x, self.p_drive[i & self.m_drive],
                                   self.class_E(&self.classes[CLS(f)], self.t))
            else:
                ov[r] = self.free_v(i, self.t)
        return out

    def set_values(self, const idx_t[::1] idx, const double[::1] vals):
        """Set the stored state (v; tan(theta/2) for theta neurons) of the given neurons at the current
        time, between two calls of `advance`. A refractory neuron that does not integrate holds the new
        value until its refractory period ends; a neuron set at or above threshold fires at the current
        time when the simulation continues."""
        cdef idx_t r, i
        cdef uint16_t f
        cdef NeuronClass* cl
        cdef double t = self.t, v, key
        self.ensure_base(t)
        for r in range(idx.shape[0]):
            i = idx[r]
            v = vals[r]
            f = self.nrn[i].flags
            cl = &self.classes[CLS(f)]
            cl.top_id = -1
            if (f & F_REFRACTORY) and not (f & F_INTEGRATE_REF):
                if KIND(f) == KIND_LINEAR:
                    self.lin_to(i, t, True)          # the other components to t, under the old v
                self.nrn[i].x = v                    # held; the key stays the refractory end
                continue
            if KIND(f) == KIND_LIF_U:
                self.nrn[i].x = lif_u_of_v(v, self.p_drive[i & self.m_drive], self.class_E(cl, t))
                key = 0.0 if v >= self.p_thr[i & self.m_thr] else self.shared_key(i, self.nrn[i].x)
            else:
                if KIND(f) == KIND_LIF_EXP or KIND(f) == KIND_COBA:
                    self.lexp_to(i, t, True)         # the currents to t; v is set below
                if KIND(f) == KIND_LINEAR:
                    self.lin_to(i, t, False)         # the other components to t; v is set below
                self.nrn[i].x = v
                self.nrn[i].spare &= ~SPARE_EIF_U
                self.t_last[i] = t
                if self.at_threshold(i) or (f & F_REFRACTORY):
                    key = t                          # (a refractory neuron's key stays)
                else:
                    key = t + self.timed_store(i, v)
            if not (f & F_REFRACTORY):
                self.nrn[i].spare &= ~SPARE_BOUND
                heap_update(&cl.heap, i, key)

    def currents(self, const idx_t[::1] idx, double t):
        """The currents (I_e, I_i) of the given LIF neurons with exponential currents (the conductances
        (g_e, g_i) of 'coba' neurons) at absolute time t (>= the last event, before the next), shape
        (len(idx), 2)."""
        t -= self.epoch
        out = np.zeros((idx.shape[0], 2))
        cdef double[:, ::1] ov = out
        cdef idx_t r
        for r in range(idx.shape[0]):
            if KIND(self.nrn[idx[r]].flags) == KIND_COBA or KIND(self.nrn[idx[r]].flags) == KIND_LIF_EXP:
                self.extra_state(idx[r], t, &ov[r, 0])
        return out

    def linear_states(self, const idx_t[::1] idx, t=None):
        """The augmented states y = (1, x) of the given linear neurons at absolute time t (>= the last event,
        before the next; None: the current time, exactly), shape (len(idx), 5) (unused trailing columns 0)."""
        cdef double tr = self.t if t is None else <double>t - self.epoch
        out = np.zeros((idx.shape[0], 5))
        cdef double[:, ::1] ov = out
        cdef idx_t r
        for r in range(idx.shape[0]):
            ov[r, 0] = 1.0
            self.extra_state(idx[r], tr, &ov[r, 1])
        return out

    def class_origins(self):
        """The time origin t0 of every class (relative to the epoch)."""
        return [self.classes[c].t0 for c in range(self.n_classes)]

    def set_class_origins(self, t0):
        cdef int c
        for c in range(self.n_classes):
            self.classes[c].t0 = t0[c]
            self._invalidate(c)

    def set_clock(self, double epoch, double t, uint64_t seq, int64_t n_events, int64_t n_spikes, int64_t epoch_k=0):
        self.epoch = epoch
        self.epoch_k = epoch_k
        self.t = t
        self.dq.seq = seq
        self.n_events = n_events
        self.n_spikes = n_spikes

    @property
    def seq_counter(self):
        return self.dq.seq


def eif_kernels(what, const double[::1] x, const double[::1] b, double tau, double drive, table=None):
    """The EIF kernels of _eif.pxd on arrays, for tests: ``what = 'advance'`` gives x after a free
    evolution of duration b[k] from x[k]; ``'time_to'`` the time from x[k] to the level b[k] > x[k].
    With ``table`` (an `EifTableOwner` of this drive), through the table (_eif_table.pxd)."""
    cdef Py_ssize_t k, n = x.shape[0]
    out = np.empty(n)
    cdef double[::1] o = out
    cdef bint adv = what == "advance"
    cdef EifTable* T = NULL
    if table is not None:
        T = &(<EifTableOwner?>table).tab
        if T.d != drive:
            raise ValueError(f"the table is for drive {T.d}, found drive {drive}")
    with nogil:
        for k in range(n):
            if T != NULL:
                o[k] = eif_tab_advance(T, x[k], b[k], tau) if adv else eif_tab_time_to(T, x[k], b[k], tau)
            else:
                o[k] = eif_advance(x[k], b[k], tau, drive) if adv else eif_time_to(x[k], b[k], tau, drive)
    return out


cdef class EifTableOwner:
    """The table of the EIF time function for one drive over [x_lo, x_hi] (_eif_table.pxd), owning its
    memory. Built by `eif_table`."""
    cdef EifTable tab

    def __dealloc__(self):
        eif_tab_free(&self.tab)

    @property
    def drive(self):
        return self.tab.d

    @property
    def panels(self):
        """Panels per leg (four legs; for drive > -1 only the last is used)."""
        return [self.tab.leg[j].n for j in range(4)]

    @property
    def nbytes(self):
        """Memory of the table's arrays in bytes (the panel tables and the fast tables)."""
        return sum((2 * (self.tab.leg[j].n + 1) + self.tab.leg[j].n * EIF_TAB_PER_PANEL) * 8
                   for j in range(4) if self.tab.leg[j].n) + self.fast_nbytes

    @property
    def fast(self):
        """None, or the fast tables' (panels of U, panels of X, width of U's panels) (_eif_fast.pxd)."""
        if not self.tab.fast.ok:
            return None
        return self.tab.fast.nu, self.tab.fast.X.n, self.tab.fast.h

    @property
    def fast_why(self):
        """Why there are no fast tables: 0 (there are, or drive <= -1, or not asked for), 1 (U would need
        too many panels: a narrow bottleneck), 2 (X would)."""
        return self.tab.fast.why

    @property
    def fast_nbytes(self):
        """Memory of the fast tables in bytes (0 without them)."""
        if not self.tab.fast.ok:
            return 0
        return (self.tab.fast.nu * EIF_FU_NC + (self.tab.fast.X.n + sum(
            self.tab.fast.kick[k].G.n for k in range(self.tab.fast.nk))) * EIF_FX_NC) * 8

    @property
    def kick_weights(self):
        """The weights whose pulse responses are tabulated (_eif_fast.pxd: a kick by one of them is one table
        evaluation)."""
        return [self.tab.fast.kick[k].w for k in range(self.tab.fast.nk)] if self.tab.fast.ok else []


def eif_fast_kernels(table, what, const double[::1] a, weight=None):
    """The fast tables of `table` (an `EifTableOwner` with them) on arrays, for tests: ``what = 'U'`` gives
    the time U(a[k]) from x = a[k] to blow-up (units of tau), ``'X'`` its inverse at u = a[k], ``'G'`` the
    tabulated pulse response U(X(a[k]) + weight); NaN outside the tables' range (x in [x_lo, x_hi], u in
    [U(x_hi), U(x_lo)], for G the range it is served on)."""
    cdef EifFast* F = &(<EifTableOwner?>table).tab.fast
    cdef const EifKick* K = NULL
    cdef Py_ssize_t k, n = a.shape[0]
    if not F.ok:
        raise ValueError("this table has no fast tables")
    if what == "G":
        K = eif_fast_kick(F, float(weight))
        if K == NULL:
            raise ValueError(f"no pulse response for weight {weight}: the table has {table.kick_weights}")
        out = np.full(n, np.nan)
        for k in range(n):
            if K.u_lo <= a[k] <= K.u_hi:
                out[k] = eif_bits_eval(&K.G, a[k])
        return out
    out = np.full(n, np.nan)
    cdef double[::1] o = out
    cdef bint U = what == "U"
    with nogil:
        for k in range(n):
            if U and F.x_lo <= a[k] <= F.x_hi:
                o[k] = eif_fast_U(F, a[k])
            elif not U and F.u_min <= a[k] <= F.u_max:
                o[k] = eif_fast_X(F, a[k])
    return out


def eif_table(double drive, double x_lo, double x_hi, double tol=EIF_TAB_TOL, double width=EIF_TAB_WIDTH,
              fast_tol=EIF_FAST_TOL, kick_weights=()):
    """Build the table of the EIF time function for `drive`, covering x in [x_lo, x_hi] (x_hi < 700), its
    time per unit of the path's variable fitted to relative `tol` on panels of at most `width` in that
    variable (coarser only to test the tests), and for drive > -1 the fast tables (_eif_fast.pxd) fitted
    to `fast_tol` (None: none, the panel tables only; coarser only to test the tests), with the pulse
    responses of up to 4 `kick_weights` (the first distinct nonzero ones)."""
    cdef double ftol = 0.0 if fast_tol is None else fast_tol
    if not (x_lo < x_hi < EIF_XMAX):
        raise ValueError(f"eif_table needs x_lo < x_hi < {EIF_XMAX}, found x_lo = {x_lo}, x_hi = {x_hi}")
    owner = EifTableOwner()
    cdef int err
    with nogil:
        err = eif_tab_build(&owner.tab, drive, x_lo, x_hi, tol, width, ftol)
    if err:
        raise MemoryError(f"cannot allocate the EIF table of drive {drive}")
    cdef double w
    for w in kick_weights:
        if not owner.tab.fast.ok or owner.tab.fast.nk == EIF_KICK_MAX:
            break
        with nogil:
            err = eif_fast_add_kick(&owner.tab.fast, w, ftol)
        if err:
            raise MemoryError(f"cannot allocate the EIF pulse response of weight {w} (drive {drive})")
    return owner


def alias_table(const double[::1] weights):
    """Walker's alias table (Vose's construction) for drawing k with probability weights[k] / sum:
    draw k uniformly, keep it with probability prob[k], else take alias[k]. O(m).

    Examples
    --------
    >>> prob, alias = alias_table(np.array([1.0, 3.0]))
    >>> prob.tolist(), alias.tolist()
    ([0.5, 1.0], [1, 1])
    """
    cdef Py_ssize_t m = weights.shape[0], n_small = 0, n_large = 0, k, s, l
    cdef double total = 0.0
    for k in range(m):
        total += weights[k]
    prob_a = np.ones(m)
    alias_a = np.arange(m, dtype=np.int32)
    scaled_a = np.asarray(weights) * (m / total)
    small_a = np.empty(m, np.intp)
    large_a = np.empty(m, np.intp)
    cdef double[::1] prob = prob_a, scaled = scaled_a
    cdef idx_t[::1] alias = alias_a
    cdef Py_ssize_t[::1] small = small_a, large = large_a
    for k in range(m):
        if scaled[k] < 1.0:
            small[n_small] = k
            n_small += 1
        else:
            large[n_large] = k
            n_large += 1
    while n_small and n_large:
        n_small -= 1
        s = small[n_small]
        l = large[n_large - 1]
        prob[s] = scaled[s]
        alias[s] = <idx_t>l
        scaled[l] = (scaled[l] + scaled[s]) - 1.0
        if scaled[l] < 1.0:
            n_large -= 1
            small[n_small] = l
            n_small += 1
    return prob_a, alias_a       # the entries left in either list keep probability 1 (rounding)
