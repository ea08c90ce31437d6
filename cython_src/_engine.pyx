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
Events are processed in time order; at equal times: neuron events (spikes, refractory ends) first, then
delayed spike arrivals, then external inputs; within a heap, the lower index first; delayed arrivals in
the order they were sent. A kick that takes a neuron to threshold makes it fire at that same time. All
spikes caused within one instant (a cascade) are processed breadth-first in the order in which the
neurons crossed threshold. A neuron is insensitive to kicks in the instant it fires: every kick that
reaches it at that same time after it crossed threshold (from the cascade, or from other events at that
time) is absorbed by the reset.
"""
import numpy as np
cimport cython

from cpython.pycapsule cimport PyCapsule_GetPointer
from libc.math cimport exp, log, atan, ldexp, floor, INFINITY, NAN
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy
from numpy.random cimport bitgen_t
from numpy.random.c_distributions cimport random_standard_exponential

from _typedefs cimport idx_t, syn_t, float64_t, uint16_t, uint64_t, int64_t
from _heap cimport Heap, heap_update, heap_build, heap_sift_down, heap_sift_up, heap_sink, SP_PREFETCH
from _models cimport lif_advance, lif_time_to, qif_advance, qif_time_to

# neuron kinds
cdef enum:
    KIND_LIF_U = 0      # LIF in a shared class (u representation)
    KIND_LIF = 1        # LIF, (v, t_last)
    KIND_QIF = 2        # QIF / theta, (v, t_last)

# neuron flags (the first two change during a run, the others are static); one uint16 per neuron
# also holds the neuron's kind and class, so that a kick reads one small word besides the state
cdef enum:
    KIND_SHIFT = 8
    CLASS_SHIFT = 10
    F_REFRACTORY = 1
    F_PENDING = 2
    F_INTEGRATE_REF = 4
    F_THETA = 8
    F_RECORD = 16
    F_RATE = 32

cdef inline int KIND(uint16_t f) noexcept nogil:
    return (f >> KIND_SHIFT) & 3


cdef inline int CLS(uint16_t f) noexcept nogil:
    return f >> CLASS_SHIFT


KIND_CODES = {"lif_shared": KIND_LIF_U, "lif": KIND_LIF, "qif": KIND_QIF}
FLAG_CODES = {"kind_shift": KIND_SHIFT, "class_shift": CLASS_SHIFT, "refractory": F_REFRACTORY, "integrate_refractory": F_INTEGRATE_REF, "theta": F_THETA,
              "record": F_RECORD, "rate": F_RATE}

# a shared class rescales once (t - t0) / tau exceeds this (E stays below 2**64)
DEF REBASE_SPAN = 44.0
DEF LN2 = 0.6931471805599453
DEF PF_RECORD = 16
DEF PF_CHILDREN = 8
# the epoch moves on once the time since it exceeds this many seconds
DEF EPOCH_SPAN = 2.0

cdef struct Neuron:              # what a kick touches of its target, in one 16-byte record
    double x                    # state: u (shared LIF), v (lazy), or v held during refractoriness
    idx_t pos                   # position in its class's heap
    uint16_t flags              # status bits | kind << KIND_SHIFT | class << CLASS_SHIFT
    uint16_t spare

NEURON_DTYPE = np.dtype([("x", np.float64), ("pos", np.int32), ("flags", np.uint16), ("spare", np.uint16)])


cdef struct NeuronClass:
    Heap heap
    bint shared
    double tau          # shared classes
    double t0           # E(t) = exp((t - t0) / tau)
    double E_t          # cache: E(E_t) = E_val
    double E_val
    idx_t top_id        # cache of the top event time
    double top_key
    double top_time


cdef struct DelayEvent:
    double t_arr
    double t_spk
    syn_t syn
    idx_t src
    uint64_t seq


cdef inline bint dq_less(DelayEvent* a, DelayEvent* b) noexcept nogil:
    return a.t_arr < b.t_arr or (a.t_arr == b.t_arr and a.seq < b.seq)


@cython.final
cdef class Engine:
    """Owner of all arrays of one network and the event loop over them (private; see EventNetwork)."""
    # sizes
    cdef readonly idx_t n
    cdef readonly idx_t n_pre
    cdef readonly int n_classes
    # per-neuron state and static description
    cdef Neuron[::1] neurons
    cdef Neuron* nrn
    cdef double[::1] t_last, ref_end
    cdef double[::1] heap_keys
    cdef idx_t[::1] heap_ids
    # parameters: arrays of length n, or of length 1 with mask 0 (shared by all)
    cdef double[::1] p_tau, p_drive, p_thr, p_reset, p_tref, p_ith, p_inv_ith
    cdef int64_t m_tau, m_drive, m_thr, m_reset, m_tref, m_ith
    # classes
    cdef NeuronClass* classes
    cdef int64_t[::1] class_offset     # start of each class's block in heap_keys / heap_ids
    # connectivity over presynaptic ids 0..n_pre-1 (neurons first, then external sources)
    cdef int64_t[::1] indptr
    cdef idx_t[::1] indices
    cdef double[::1] weights
    cdef int64_t m_w
    cdef double[::1] delays
    cdef bint delay_array
    cdef double delay_scalar
    cdef int64_t[::1] zero_end
    # delay queue (binary heap of structs)
    cdef DelayEvent* dq
    cdef int64_t dq_size, dq_cap
    cdef uint64_t seq
    # external inputs: one heap item per Poisson source and per generator, keyed by next time
    cdef Heap in_heap
    cdef double[::1] in_keys
    cdef idx_t[::1] in_ids, in_pos
    cdef idx_t n_poisson, n_gen         # Poisson entries in the input heap (0 or 1), generators
    cdef double poisson_total           # all Poisson sources as one process of the summed rate
    cdef double[::1] poisson_prob       # alias table picking the source of each event
    cdef idx_t[::1] poisson_alias
    cdef idx_t[::1] poisson_src
    cdef double[::1] gen_times, gen_period
    cdef idx_t[::1] gen_src
    cdef int64_t[::1] gen_start, gen_end, gen_ptr, gen_rep
    cdef object bitgen_obj
    cdef bitgen_t* rng
    # the instant's cascade
    cdef idx_t[::1] fifo                # neurons that crossed threshold in the current instant
    cdef idx_t fifo_head, fifo_tail
    # recording
    cdef double* rec_t
    cdef idx_t* rec_i
    cdef int64_t rec_n, rec_cap
    cdef double[::1] sample_times
    cdef int64_t sample_ptr
    cdef idx_t[::1] sample_idx
    cdef double[:, ::1] sample_out
    cdef int64_t[::1] rate_counts
    cdef double rate_bin
    cdef int64_t rate_first_bin
    # time: absolute time = epoch + t; epoch moves on in whole seconds so that event times keep
    # their full precision however long the run (the offsets never exceed a few seconds)
    cdef readonly double epoch
    cdef readonly double t
    cdef readonly int64_t n_events
    cdef readonly int64_t n_spikes

    def __cinit__(self):
        self.classes = NULL
        self.dq = NULL
        self.rec_t = NULL
        self.rec_i = NULL

    def __dealloc__(self):
        free(self.classes)
        free(self.dq)
        free(self.rec_t)
        free(self.rec_i)

    def __init__(self, dict spec, bit_generator):
        """Take the prepared arrays of `spec` (no copies: the caller keeps them alive through us)."""
        cdef int c
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
        self.indptr = spec["indptr"]
        self.indices = spec["indices"] if spec["indices"].size else np.zeros(1, np.int32)
        self.weights, self.m_w = spec["weights"], self._mask(spec["weights"])
        self.delay_array = spec["delays"].size > 1
        self.delays = spec["delays"]
        self.delay_scalar = spec["delays"][0]
        self.zero_end = spec["zero_end"]
        self.fifo = np.empty(max(self.n, 1), dtype=np.int32)
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
        self.seq = spec["seq"]
        self._set_delay_queue(spec["dq"])
        self.rate_bin = 0.0
        self.sample_ptr = 0
        self.sample_times = np.empty(0)
        self.rec_cap = 0
        self.rec_n = 0

    @staticmethod
    def _mask(a):
        return -1 if a.size > 1 else 0

    cdef void _invalidate(self, int c) noexcept nogil:
        self.classes[c].E_t = NAN
        self.classes[c].top_id = -1

    def initialize_heaps(self):
        """Key every neuron by its next event from its initial state (below threshold, not refractory,
        at t_last = t0 = 0), then heapify every class heap and the input heap."""
        cdef int c
        cdef idx_t p, i
        cdef NeuronClass* cl
        for c in range(self.n_classes):
            cl = &self.classes[c]
            for p in range(cl.heap.size):
                i = cl.heap.ids[p]
                if cl.shared:
                    cl.heap.keys[p] = self.shared_key(i, self.nrn[i].x)
                else:
                    cl.heap.keys[p] = self.t_last[i] + self.time_to_threshold(i, self.nrn[i].x)
            heap_build(&cl.heap)
            cl.top_id = -1
        heap_build(&self.in_heap)

    # ---------------------------------------------------------------- delay queue
    def _set_delay_queue(self, dq):
        cdef int64_t k, m = dq["t_arr"].size
        free(self.dq)
        self.dq_cap = max(m, 64)
        self.dq = <DelayEvent*>malloc(self.dq_cap * sizeof(DelayEvent))
        if self.dq == NULL:
            raise MemoryError("cannot allocate the delay queue")
        self.dq_size = m
        for k in range(m):
            self.dq[k].t_arr = dq["t_arr"][k]
            self.dq[k].t_spk = dq["t_spk"][k]
            self.dq[k].syn = dq["syn"][k]
            self.dq[k].src = dq["src"][k]
            self.dq[k].seq = dq["seq"][k]

    def delay_queue(self):
        """The pending delayed events as arrays (heap order)."""
        cdef int64_t k, m = self.dq_size
        out = {"t_arr": np.empty(m), "t_spk": np.empty(m), "syn": np.empty(m, np.int64),
               "src": np.empty(m, np.int32), "seq": np.empty(m, np.uint64)}
        for k in range(m):
            out["t_arr"][k] = self.dq[k].t_arr
            out["t_spk"][k] = self.dq[k].t_spk
            out["syn"][k] = self.dq[k].syn
            out["src"][k] = self.dq[k].src
            out["seq"][k] = self.dq[k].seq
        return out

    cdef int dq_push(self, double t_arr, double t_spk, idx_t src, syn_t syn) except -1 nogil:
        cdef int64_t p, parent
        cdef DelayEvent ev
        cdef DelayEvent* grown
        if self.dq_size == self.dq_cap:
            grown = <DelayEvent*>realloc(self.dq, 2 * self.dq_cap * sizeof(DelayEvent))
            if grown == NULL:
                with gil:
                    raise MemoryError("cannot grow the queue of delayed spikes")
            self.dq = grown
            self.dq_cap *= 2
        ev.t_arr = t_arr
        ev.t_spk = t_spk
        ev.src = src
        ev.syn = syn
        ev.seq = self.seq
        self.seq += 1
        p = self.dq_size
        self.dq_size += 1
        while p > 0:
            parent = (p - 1) >> 1
            if dq_less(&ev, &self.dq[parent]):
                self.dq[p] = self.dq[parent]
                p = parent
            else:
                break
        self.dq[p] = ev
        return 0

    cdef void dq_sift_down(self, int64_t p, DelayEvent ev) noexcept nogil:
        cdef int64_t c
        while True:
            c = 2 * p + 1
            if c >= self.dq_size:
                break
            if c + 1 < self.dq_size and dq_less(&self.dq[c + 1], &self.dq[c]):
                c += 1
            if dq_less(&self.dq[c], &ev):
                self.dq[p] = self.dq[c]
                p = c
            else:
                break
        self.dq[p] = ev

    cdef void dq_heapify(self) noexcept nogil:
        cdef int64_t p = self.dq_size // 2 - 1
        while p >= 0:
            self.dq_sift_down(p, self.dq[p])
            p -= 1

    cdef DelayEvent dq_pop(self) noexcept nogil:
        cdef DelayEvent top = self.dq[0]
        self.dq_size -= 1
        if self.dq_size > 0:
            self.dq_sift_down(0, self.dq[self.dq_size])
        return top

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
        """Move the time origin forward by d (whole seconds): every stored time loses d."""
        cdef int c
        cdef idx_t i, p
        cdef int64_t k
        cdef NeuronClass* cl
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
        for k in range(self.dq_size):
            self.dq[k].t_arr -= d
            self.dq[k].t_spk -= d
        self.dq_heapify()
        for p in range(self.in_heap.size):
            self.in_keys[p] -= d
        heap_build(&self.in_heap)

    cdef inline void ensure_base(self, double t) noexcept nogil:
        cdef int c
        for c in range(self.n_classes):
            if self.classes[c].shared and t - self.classes[c].t0 > REBASE_SPAN * self.classes[c].tau:
                self.rebase(c, t)

    cdef inline double free_v(self, idx_t i, double t) noexcept nogil:
        """v of a lazily stored neuron at time t (integrating, not clamped)."""
        if KIND(self.nrn[i].flags) == KIND_LIF:
            return lif_advance(self.nrn[i].x, t - self.t_last[i], self.p_tau[i & self.m_tau],
                               self.p_drive[i & self.m_drive])
        return qif_advance(self.nrn[i].x, t - self.t_last[i], self.p_tau[i & self.m_tau],
                           self.p_drive[i & self.m_drive])

    cdef inline double time_to_threshold(self, idx_t i, double v) noexcept nogil:
        if KIND(self.nrn[i].flags) == KIND_LIF:
            return lif_time_to(v, self.p_thr[i & self.m_thr], self.p_tau[i & self.m_tau],
                               self.p_drive[i & self.m_drive])
        return qif_time_to(v, self.p_thr[i & self.m_thr], self.p_tau[i & self.m_tau],
                           self.p_drive[i & self.m_drive])

    cdef inline double shared_key(self, idx_t i, double u) noexcept nogil:
        return u * self.p_inv_ith[i & self.m_ith] if self.p_ith[i & self.m_ith] > 0.0 else INFINITY

    cdef double value(self, idx_t i, double t) noexcept nogil:
        """The state variable of neuron i at time t (no event in between): v, or theta for theta neurons."""
        cdef uint16_t f = self.nrn[i].flags
        cdef double v
        if (f & F_REFRACTORY) and not (f & F_INTEGRATE_REF):
            v = self.nrn[i].x
        elif KIND(self.nrn[i].flags) == KIND_LIF_U:
            v = self.p_drive[i & self.m_drive] - self.nrn[i].x / self.class_E(&self.classes[CLS(self.nrn[i].flags)], t)
        else:
            v = self.free_v(i, t)
        if f & F_THETA:
            return 2.0 * atan(v)
        return v

    cdef inline void cross(self, idx_t i) noexcept nogil:
        self.nrn[i].flags |= F_PENDING
        self.fifo[self.fifo_tail] = i
        self.fifo_tail += 1

    cdef inline void kick(self, idx_t i, double w, double t) noexcept nogil:
        cdef uint16_t f = self.nrn[i].flags
        cdef NeuronClass* cl
        cdef double E, u, v
        if f & (F_PENDING | F_REFRACTORY):
            if f & F_PENDING:
                return                               # absorbed by this instant's reset
            if not (f & F_INTEGRATE_REF):
                return                               # Brian2's (unless refractory): inputs are dropped
            if KIND(self.nrn[i].flags) == KIND_LIF_U:
                self.nrn[i].x -= w * self.class_E(&self.classes[CLS(self.nrn[i].flags)], t)
            else:
                self.nrn[i].x = self.free_v(i, t) + w
                self.t_last[i] = t
            return
        cl = &self.classes[CLS(f)]
        if KIND(f) == KIND_LIF_U:
            E = self.class_E(cl, t)
            u = self.nrn[i].x - w * E
            self.nrn[i].x = u
            if u <= self.p_ith[i & self.m_ith] * E:
                self.cross(i)
            elif w <= 0.0:
                # the key only grows: no need to read the old one (a cache miss saved per inhibitory kick)
                heap_sift_down(&cl.heap, self.nrn[i].pos, self.shared_key(i, u), i)
            else:
                heap_sift_up(&cl.heap, self.nrn[i].pos, self.shared_key(i, u), i)
        else:
            v = self.free_v(i, t) + w
            self.nrn[i].x = v
            self.t_last[i] = t
            if v >= self.p_thr[i & self.m_thr]:
                self.cross(i)
            else:
                heap_update(&cl.heap, i, t + self.time_to_threshold(i, v))

    cdef inline void kick_shared(self, Heap* heap, idx_t j, double w, double E, double th,
                                 double inv_th) noexcept nogil:
        """Kick an active (not refractory, not pending) shared-class LIF neuron j by w at E = E(t);
        th and inv_th are its I - theta and 1 / (I - theta)."""
        cdef double u = self.nrn[j].x - w * E
        self.nrn[j].x = u
        if u <= th * E:
            self.cross(j)
        elif w <= 0.0:
            # the key only grows: no need to read the old one (a cache miss saved per inhibitory kick)
            heap_sift_down(heap, self.nrn[j].pos, u * inv_th if th > 0.0 else INFINITY, j)
        else:
            heap_sift_up(heap, self.nrn[j].pos, u * inv_th if th > 0.0 else INFINITY, j)

    cdef void kick_row(self, syn_t k, syn_t k_end, double t) noexcept nogil:
        """Kick the targets of synapses k .. k_end - 1 at time t.

        The common case, a shared-class LIF target that is neither refractory nor pending, is done inline
        with every array pointer held in a local (stores into the neuron records could otherwise alias the
        engine's fields and force reloads); the rest goes through `kick`. Two-stage prefetch: a target's
        record PF_RECORD synapses ahead, the children of its heap node PF_CHILDREN ahead."""
        cdef Neuron* nrn = self.nrn
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
        while k < k_end:
            if kp < k_end:
                SP_PREFETCH(nrn + idx[kp])
            if kq < k_end:
                j = idx[kq]
                cl = self.classes + CLS(nrn[j].flags)
                p = nrn[j].pos
                # the block of its 8 children, which an update of an inner node reads (a leaf gets the
                # root's children instead: in cache anyway). Its own key is only written: no prefetch,
                # the store buffer hides that miss (measured: prefetching it gained nothing).
                c = 8 * p + 1
                c = c if c < cl.heap.size else 1
                SP_PREFETCH(cl.heap.keys + c)
                SP_PREFETCH(cl.heap.ids + c)
            j = idx[k]
            w = wts[k & m_w]
            f = nrn[j].flags
            if f & (F_PENDING | F_REFRACTORY | (3 << KIND_SHIFT)):     # not an active shared LIF
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

    cdef int propagate(self, idx_t src, double t) except -1 nogil:
        cdef syn_t k = self.indptr[src], k1 = self.indptr[src + 1], kz
        if self.delay_array:
            kz = self.zero_end[src]
        elif self.delay_scalar == 0.0:
            kz = k1
        else:
            kz = k
        self.kick_targets(k, kz, t)
        if kz < k1:
            self.dq_push(t + (self.delays[kz] if self.delay_array else self.delay_scalar), t, src, kz)
        return 0

    cdef int emit(self, idx_t i, double t) except -1 nogil:
        """Neuron i fires at t: record, reset, send its spike."""
        cdef uint16_t f = self.nrn[i].flags
        cdef NeuronClass* cl = &self.classes[CLS(self.nrn[i].flags)]
        cdef double tref = self.p_tref[i & self.m_tref], reset = self.p_reset[i & self.m_reset]
        cdef double E, key
        cdef int64_t b
        cdef double* grown_t
        cdef idx_t* grown_i
        self.n_spikes += 1
        if f & F_RECORD:
            if self.rec_n == self.rec_cap:
                self.rec_cap = 2 * self.rec_cap + 1024
                grown_t = <double*>realloc(self.rec_t, self.rec_cap * sizeof(double))
                if grown_t != NULL:
                    self.rec_t = grown_t
                grown_i = <idx_t*>realloc(self.rec_i, self.rec_cap * sizeof(idx_t))
                if grown_i != NULL:
                    self.rec_i = grown_i
                if grown_t == NULL or grown_i == NULL:
                    with gil:
                        raise MemoryError("cannot grow the spike record")
            self.rec_t[self.rec_n] = t + self.epoch
            self.rec_i[self.rec_n] = i
            self.rec_n += 1
        if (f & F_RATE) and self.rate_bin > 0.0:
            b = <int64_t>floor((t + self.epoch) / self.rate_bin) - self.rate_first_bin
            if 0 <= b < self.rate_counts.shape[0]:
                self.rate_counts[b] += 1
        cl.top_id = -1
        if tref > 0.0:
            self.nrn[i].flags = f | F_REFRACTORY
            self.ref_end[i] = t + tref
        if KIND(self.nrn[i].flags) == KIND_LIF_U:
            E = self.class_E(cl, t)
            if tref > 0.0:
                self.nrn[i].x = (self.p_drive[i & self.m_drive] - reset) * E if (f & F_INTEGRATE_REF) else reset
                key = exp((self.ref_end[i] - cl.t0) / cl.tau)
            else:
                self.nrn[i].x = (self.p_drive[i & self.m_drive] - reset) * E
                key = self.shared_key(i, self.nrn[i].x)
        else:
            self.nrn[i].x = reset
            self.t_last[i] = t
            key = self.ref_end[i] if tref > 0.0 else t + self.time_to_threshold(i, reset)
        heap_update(&cl.heap, i, key)
        self.prefetch_row(cl.heap.ids[0])       # the likely next spiker's targets
        self.propagate(i, t)
        return 0

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
        cl.top_id = -1
        if KIND(self.nrn[i].flags) == KIND_LIF_U:
            E = self.class_E(cl, t)
            u = self.nrn[i].x if (f & F_INTEGRATE_REF) else (self.p_drive[i & self.m_drive] - self.nrn[i].x) * E
            self.nrn[i].x = u
            if u <= self.p_ith[i & self.m_ith] * E:
                return 1
            heap_update(&cl.heap, i, self.shared_key(i, u))
        else:
            v = self.free_v(i, t) if (f & F_INTEGRATE_REF) else self.nrn[i].x
            self.nrn[i].x = v
            self.t_last[i] = t
            if v >= self.p_thr[i & self.m_thr]:
                return 1
            heap_update(&cl.heap, i, t + self.time_to_threshold(i, v))
        return 0

    cdef int run_cascade(self, double t) except -1 nogil:
        """Fire every neuron queued in this instant's FIFO (and those they push over threshold)."""
        while self.fifo_head < self.fifo_tail:
            self.fifo_head += 1
            self.emit(self.fifo[self.fifo_head - 1], t)
        return 0

    cdef void end_instant(self) noexcept nogil:
        """Time moves on: the neurons that fired in the past instant take inputs again."""
        cdef idx_t k
        for k in range(self.fifo_tail):
            self.nrn[self.fifo[k]].flags &= ~F_PENDING
        self.fifo_head = 0
        self.fifo_tail = 0

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
                self.cross(i)
                heap_sink(&cl.heap, 0, INFINITY, i)  # out of the way until its reset gives a new key
                cl.top_id = -1

    cdef int input_event(self, double t) except -1 nogil:
        cdef idx_t q = self.in_heap.ids[0], g, k
        cdef int64_t p
        cdef double nxt
        if q < self.n_poisson:
            # the superposition of independent Poisson processes is one Poisson process of the summed
            # rate whose events belong to source k with probability rate_k / total (alias method)
            # (alias entries of probability 1, all of them for equal rates, need no second draw)
            k = <idx_t>(self.rng.next_double(self.rng.state) * self.poisson_src.shape[0])
            if self.poisson_prob[k] < 1.0 and self.rng.next_double(self.rng.state) >= self.poisson_prob[k]:
                k = self.poisson_alias[k]
            self.propagate(self.poisson_src[k], t)
            nxt = t + random_standard_exponential(self.rng) / self.poisson_total
        else:
            g = q - self.n_poisson
            p = self.gen_ptr[g]
            self.propagate(self.gen_src[p], t)
            p += 1
            if p == self.gen_end[g] and self.gen_period[g] > 0.0:
                p = self.gen_start[g]
                self.gen_rep[g] += 1
            self.gen_ptr[g] = p
            nxt = ((self.gen_times[p] + self.gen_rep[g] * self.gen_period[g]) - self.epoch
                   if p < self.gen_end[g] else INFINITY)
        heap_update(&self.in_heap, q, nxt)
        return 0

    cdef int delay_event(self) except -1 nogil:
        cdef DelayEvent ev = self.dq_pop()
        cdef syn_t k0 = ev.syn, k = ev.syn, k1 = self.indptr[ev.src + 1]
        cdef double d
        if self.delay_array:
            d = self.delays[k]
            while k < k1 and self.delays[k] == d:
                k += 1
        else:
            k = k1
        self.kick_targets(k0, k, ev.t_arr)
        if k < k1:
            self.dq_push(ev.t_spk + self.delays[k], ev.t_spk, ev.src, k)
        return 0

    cdef void take_sample(self, double ts) noexcept nogil:
        cdef idx_t r
        for r in range(self.sample_idx.shape[0]):
            self.sample_out[self.sample_ptr, r] = self.value(self.sample_idx[r], ts)
        self.sample_ptr += 1

    cdef int loop(self, double t_stop_abs, int64_t max_events) except -1 nogil:
        cdef double t_stop = t_stop_abs - self.epoch
        cdef int c, best_c
        cdef double tn, tc, td, ti, ts, te
        cdef idx_t i
        cdef int64_t done = 0
        while True:
            tn = INFINITY
            best_c = -1
            for c in range(self.n_classes):
                tc = self.class_top_time(c)
                if tc < tn:
                    tn = tc
                    best_c = c
            td = self.dq[0].t_arr if self.dq_size > 0 else INFINITY
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
                return 0
            if done >= max_events:
                return 1
            if te > EPOCH_SPAN:
                self.shift_epoch(floor(te))
                t_stop = t_stop_abs - self.epoch
                continue                            # select again in the new frame
            done += 1
            self.n_events += 1
            if te > self.t:
                self.end_instant()
            self.t = te
            self.ensure_base(te)
            if tn <= td and tn <= ti:
                self.neuron_events(te)
            elif td <= ti:
                self.delay_event()
            else:
                self.input_event(te)
            self.run_cascade(te)

    def advance(self, double t_stop, int64_t max_events):
        """Process events with absolute times < t_stop, at most max_events of them. Returns 0 when t_stop
        was reached (then ``epoch + t`` is t_stop to rounding), 1 when the event budget ran out first."""
        cdef int status
        with nogil:
            status = self.loop(t_stop, max_events)
        return status

    # ---------------------------------------------------------------- recording
    def set_samples(self, times, idx, out):
        self.sample_times = times
        self.sample_idx = idx
        self.sample_out = out
        self.sample_ptr = 0

    @property
    def samples_taken(self):
        return self.sample_ptr

    def set_rate_counts(self, counts, double bin_width, int64_t first_bin):
        self.rate_counts = counts
        self.rate_bin = bin_width
        self.rate_first_bin = first_bin

    def take_spikes(self):
        """Return and forget the spikes recorded since the last call, as (times, indices)."""
        times = np.empty(self.rec_n)
        idx = np.empty(self.rec_n, dtype=np.int32)
        cdef double[::1] tv = times
        cdef idx_t[::1] iv = idx
        if self.rec_n:
            memcpy(&tv[0], self.rec_t, self.rec_n * sizeof(double))
            memcpy(&iv[0], self.rec_i, self.rec_n * sizeof(idx_t))
        self.rec_n = 0
        return times, idx

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
                self.nrn[i].x = v                    # held; the key stays the refractory end
                continue
            if KIND(f) == KIND_LIF_U:
                self.nrn[i].x = (self.p_drive[i & self.m_drive] - v) * self.class_E(cl, t)
                key = 0.0 if v >= self.p_thr[i & self.m_thr] else self.shared_key(i, self.nrn[i].x)
            else:
                self.nrn[i].x = v
                self.t_last[i] = t
                key = t if v >= self.p_thr[i & self.m_thr] else t + self.time_to_threshold(i, v)
            if not (f & F_REFRACTORY):
                heap_update(&cl.heap, i, key)

    def class_origins(self):
        """The time origin t0 of every class (relative to the epoch)."""
        return [self.classes[c].t0 for c in range(self.n_classes)]

    def set_class_origins(self, t0):
        cdef int c
        for c in range(self.n_classes):
            self.classes[c].t0 = t0[c]
            self._invalidate(c)

    def set_clock(self, double epoch, double t, uint64_t seq, int64_t n_events, int64_t n_spikes):
        self.epoch = epoch
        self.t = t
        self.seq = seq
        self.n_events = n_events
        self.n_spikes = n_spikes

    @property
    def seq_counter(self):
        return self.seq


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
