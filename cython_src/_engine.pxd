# The forward event loop: the engine's state and the C methods that move it.
#
# What other compiled modules (the adjoint's tape and backward pass, the tangent-space Lyapunov code) may
# cimport: the `Engine` class (its arrays, classes and clock; read them, call `loop`, `value`, `free_v`,
# `time_to_threshold`), the `Neuron` and `NeuronClass` structs, the flag bits and `KIND`/`CLS` below. The
# kinds are in _models.pxd, the heap in _heap.pxd, the delay queue in _delay_queue.pxd.
# Methods that cannot fail are `noexcept nogil`; those that may allocate are `except -1 nogil` and raise
# MemoryError (with the GIL taken only then), leaving the engine able to continue once memory is there.
cimport cython
from libc.stdlib cimport realloc
from numpy.random cimport bitgen_t

from ._delay_queue cimport DelayQueue
from ._heap cimport Heap
from ._lif_exp cimport LexpPar, LexpState
from ._coba cimport CobaPar
from ._eif_table cimport EifTable
from ._linear cimport LinSys
from ._models cimport KIND_BITS
from ._qif cimport QifPar
from ._stdp cimport StdpRule, SynTrace
from ._stp cimport StpRule, StpState
from ._typedefs cimport idx_t, int8_t, int32_t, int64_t, syn_t, uint8_t, uint16_t

# one uint16 per neuron holds its status bits (the first two change during a run, the others are static),
# its kind (bits KIND_SHIFT ..) and its class (bits CLASS_SHIFT ..), so a kick reads one small word
cdef enum:
    F_REFRACTORY = 1        # in its refractory period (its heap key is the period's end)
    F_PENDING = 2           # crossed threshold in the current instant, not yet reset
    F_INTEGRATE_REF = 4     # integrates (and takes inputs) while refractory
    F_THETA = 8             # a theta neuron (stored as v = tan(theta / 2)); reported as theta
    F_RECORD = 16           # its spikes are recorded
    F_RATE = 32             # its spikes count into the population rate
    KIND_SHIFT = 6
    KIND_MASK = ((1 << KIND_BITS) - 1) << KIND_SHIFT
    CLASS_SHIFT = KIND_SHIFT + KIND_BITS
    CLASS_BITS = 16 - CLASS_SHIFT

# return values of `Engine.loop`
cdef enum:
    LOOP_DONE = 0           # t_stop reached
    LOOP_BUDGET = 1         # the event budget ran out first


cdef inline int KIND(uint16_t f) noexcept nogil:
    return (f & KIND_MASK) >> KIND_SHIFT


cdef inline int CLS(uint16_t f) noexcept nogil:
    return f >> CLASS_SHIFT


# bits of a neuron's `spare` field
cdef enum:
    SPARE_OWN = 1           # from a neuron event's own crossing until its spike is emitted (with a tape)
    SPARE_BOUND = 2         # its heap key is a lower bound of its next crossing, not the crossing ('lif_exp')
    SPARE_EIF_U = 4         # an active EIF neuron stored by U(x) of its table (`eif_tab_codes`), not by x


cdef struct Neuron:             # what a kick touches of its target, in one 16-byte record
    double x                    # state: u (shared LIF), v (timed; U(x) for an EIF with SPARE_EIF_U), or v held
                                # during refractoriness
    idx_t pos                   # position in its class's heap
    uint16_t flags              # status bits | kind << KIND_SHIFT | class << CLASS_SHIFT
    uint16_t spare              # SPARE_* bits


cdef struct NeuronClass:
    Heap heap
    bint shared
    double tau                  # shared classes
    double t0                   # E(t) = exp((t - t0) / tau)
    double E_t                  # cache: E(E_t) = E_val
    double E_val
    idx_t top_id                # cache of the top event time
    double top_key
    double top_time


cdef struct Segment:            # kicks of one instant's generation: synapses k0 .. k1 - 1 of row src
    syn_t k0
    syn_t k1
    idx_t src


cdef struct Kick:               # one gathered kick (the slow path of a generation: sorted, then summed)
    double w
    idx_t j


cdef struct SpikeRecord:        # recorded spikes since the last `take_spikes`
    double* t                   # absolute times
    idx_t* i                    # neuron indices
    int64_t n
    int64_t cap                 # allocated length of both arrays
    int64_t limit               # the most it may grow to (allocation beyond fails as if out of memory)


cdef inline int rec_reserve(SpikeRecord* r, int64_t cap) noexcept nogil:
    """Make room for at least `cap` spikes (geometric growth). Returns -1 if memory runs out or the growth
    would pass `limit` (the record keeps its spikes and its old capacity), else 0."""
    cdef int64_t new_cap = r.cap if r.cap > 0 else 1024
    cdef double* grown_t
    cdef idx_t* grown_i
    if cap <= r.cap:
        return 0
    while new_cap < cap:
        new_cap *= 2
    if new_cap > r.limit:
        new_cap = r.limit
        if new_cap < cap:
            return -1
    grown_t = <double*>realloc(r.t, new_cap * sizeof(double))
    if grown_t == NULL:
        return -1
    r.t = grown_t       # larger than cap says until both arrays have grown: harmless
    grown_i = <idx_t*>realloc(r.i, new_cap * sizeof(idx_t))
    if grown_i == NULL:
        return -1
    r.i = grown_i
    r.cap = new_cap
    return 0


@cython.final
cdef class Engine:
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
    # LIF with exponential currents (KIND_LIF_EXP): synaptic time constants, and the currents (I_e, I_i)
    # of each neuron at its t_last (shape (n, 2) if the network has such neurons, else (1, 2))
    cdef double[::1] p_tau_e, p_tau_i
    cdef int64_t m_tau_e, m_tau_i
    cdef double[:, ::1] cur
    # conductance synapses (KIND_COBA, tau_s in p_tau_e, E_L in p_drive, g_e and g_i in `cur`): reversal potentials
    cdef double[::1] p_E_e, p_E_i
    cdef int64_t m_E_e, m_E_i
    # linear models (KIND_LINEAR): one LinSys per distinct parameter set, the class of each neuron (length n,
    # or 1 with mask 0), and each neuron's augmented state y = (1, x) at t_last (shape (n, 5) if the network
    # has such neurons, else (1, 5); v is kept in the neuron's record, its column here is not read)
    cdef LinSys[::1] lin_sys
    cdef int32_t[::1] lin_cls
    cdef int64_t m_lin_cls
    cdef double[:, ::1] lin
    cdef readonly int64_t n_lin_stuck  # resets of linear neurons left at or above threshold (no refractory period)
    # the QIF/theta fast path of `kick_row` (tau, drive > 0 and the threshold value shared by all neurons): their
    # kernel constants, and the value of a target's (flags & (F_PENDING | F_REFRACTORY | KIND_MASK)) that takes it
    # (an active KIND_QIF neuron; -1 when the path is off)
    cdef QifPar qf
    cdef readonly int qf_match
    # EIF tables (_eif_table.pxd): their owners (kept alive), pointers to them, and each neuron's table
    # (length n, or 1 with mask 0; -1: none, the quadrature kernels)
    cdef object eif_owners
    cdef EifTable** eif_tabs
    cdef int32_t[::1] eif_tab
    cdef int64_t m_eif_tab
    # the EIF fast path of `kick_row` (one table for every EIF neuron, tau and threshold shared): the table, tau,
    # threshold, and the value of (flags & (F_PENDING | F_REFRACTORY | KIND_MASK)) that takes a target (an active
    # KIND_EIF neuron; -1 when the path is off)
    cdef const EifTable* ef_tab
    cdef double ef_tau, ef_thr, ef_uthr     # ef_uthr: U(ef_thr), or NaN where the table does not code states
    cdef readonly int ef_match
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
    # delayed spikes in flight
    cdef DelayQueue dq
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
    cdef idx_t fifo_gen                 # end of the generation being emitted
    cdef bint gathering                 # taking the delayed arrivals and inputs of an instant
    # the kicks of the current generation, summed per target before the threshold test
    cdef Segment* seg
    cdef int64_t seg_n, seg_cap
    cdef Kick* kbuf
    cdef int64_t kbuf_cap
    cdef unsigned char[::1] row_dup     # row (presynaptic id) with a repeated target
    # recording
    cdef SpikeRecord rec
    cdef double[::1] sample_times
    cdef int64_t sample_ptr
    cdef idx_t[::1] sample_idx
    cdef double[:, ::1] sample_out
    cdef double[:, :, ::1] sample_extra
    cdef int64_t[::1] rate_counts
    cdef double rate_bin
    cdef int64_t rate_first_bin
    # time: absolute time = epoch + t; epoch moves on in whole seconds so that event times keep
    # their full precision however long the run (the offsets never exceed a few seconds)
    cdef readonly double epoch
    cdef readonly double t
    cdef readonly int64_t n_events
    cdef readonly int64_t n_spikes
    # coincident events (0 = none): a time quantum q of which every delay and refractory period is a whole
    # number; the current instant's time as the pair (inst_k, inst_o) = inst_k q + inst_o, and each
    # refractory neuron's end as such a pair (ref_k, ref_o; arrays of length n with a quantum and
    # refractoriness, else of length 1); epoch_k counts the quanta of the epoch (see _engine.pyx)
    cdef readonly double q
    cdef readonly int64_t epoch_k
    cdef int64_t inst_k
    cdef double inst_o
    cdef int64_t[::1] ref_k
    cdef double[::1] ref_o
    # the adjoint's tape (off unless `set_tape(True)`): one byte per recorded spike, aligned with the spike
    # record, 1 if the spike was caused by an input pulse, 0 if the neuron reached threshold on its own
    # (a neuron event sets SPARE_OWN in its record's `spare` field until the spike is emitted)
    cdef bint tape_on
    cdef uint8_t* tape_kick
    cdef int64_t tape_cap
    # and the external input events (Poisson and spike-generator) with their absolute times and sources
    # (presynaptic ids >= n): 12 bytes per input event, with the tape on or from the sources marked in
    # `in_record` (one byte per input source, set by `record_inputs`: a monitored PoissonGroup)
    cdef SpikeRecord tape_in
    cdef uint8_t[::1] in_record
    cdef bint any_in_record
    # spike-timing-dependent plasticity (off unless a rule is given; see _stdp.pxd): the rule of each synapse
    # (-1: static), its traces, and the plastic synapses onto each neuron (CSC: post_syn[post_ptr[i]:
    # post_ptr[i + 1]]); with it on, weights are per synapse and change during the run
    cdef bint stdp_on
    cdef bint stdp_first                # some rule changes w before its kick
    cdef StdpRule[::1] rules
    cdef int8_t[::1] syn_rule
    cdef SynTrace[::1] traces
    cdef int64_t[::1] post_ptr
    cdef syn_t[::1] post_syn
    # short-term plasticity (off unless a rule is given; see _stp.pxd): the rule of each synapse (-1: static)
    # and its state; with it on, weights are per synapse, and a plastic synapse's weight holds its kick
    # w*u*x while the generation of its arrival is delivered
    cdef bint stp_on
    cdef bint plastic_on                # stdp_on or stp_on
    cdef StpRule[::1] stp_rules
    cdef int32_t[::1] syn_stp
    cdef StpState[::1] stp_state

    cdef void _invalidate(self, int c) noexcept nogil
    cdef int grow_tape(self) except -1 nogil
    # neuron state
    cdef inline double class_E(self, NeuronClass* cl, double t) noexcept nogil
    cdef void rebase(self, int c, double t) noexcept nogil
    cdef void shift_epoch(self, double d) noexcept nogil
    cdef inline double qtime(self, int64_t k, double o) noexcept nogil
    cdef inline int64_t quanta(self, double d) noexcept nogil
    cdef void set_instant(self, double te, double tn, double td, int best_c) noexcept nogil
    cdef double gen_key(self, idx_t g) noexcept nogil
    cdef inline void ensure_base(self, double t) noexcept nogil
    cdef inline double free_v(self, idx_t i, double t) noexcept nogil
    cdef inline double time_to_threshold(self, idx_t i, double v) noexcept nogil
    cdef inline double timed_store(self, idx_t i, double v) noexcept nogil
    cdef inline double stored_time_to(self, idx_t i) noexcept nogil
    cdef inline double shared_key(self, idx_t i, double u) noexcept nogil
    cdef double value(self, idx_t i, double t) noexcept nogil
    cdef inline void lexp_load(self, idx_t i, LexpPar* p, LexpState* x) noexcept nogil
    cdef void lexp_to(self, idx_t i, double t, bint clamped) noexcept nogil
    cdef inline void coba_load(self, idx_t i, CobaPar* p, LexpState* x) noexcept nogil
    cdef void kick_exp(self, idx_t i, double w_i, double w_e, double t) noexcept nogil
    cdef inline const LinSys* lin_load(self, idx_t i, double* y) noexcept nogil
    cdef inline void lin_store(self, idx_t i, const LinSys* L, const double* y) noexcept nogil
    cdef void lin_to(self, idx_t i, double t, bint clamped) noexcept nogil
    cdef bint at_threshold(self, idx_t i) noexcept nogil
    cdef void kick_lin(self, idx_t i, double w_neg, double w_pos, double t) noexcept nogil
    # events
    cdef inline void cross(self, idx_t i) noexcept nogil
    cdef void kick_split(self, idx_t i, double w_neg, double w_pos, double t) noexcept nogil
    cdef inline void kick(self, idx_t i, double w, double t) noexcept nogil
    cdef inline void kick_shared(self, Heap* heap, idx_t j, double w, double E, double th, double inv_th) noexcept nogil
    cdef void kick_row(self, syn_t k, syn_t k_end, double t) noexcept nogil
    cdef void kick_row_shared(self, syn_t k, syn_t k_end, double t) noexcept nogil
    cdef inline void kick_targets(self, syn_t k, syn_t k_end, double t) noexcept nogil
    cdef inline void add_segment(self, syn_t k, syn_t k_end, idx_t src) noexcept nogil
    cdef int make_room(self, bint record) except -1 nogil
    cdef void propagate(self, idx_t src, double t) noexcept nogil
    cdef void emit(self, idx_t i, double t) noexcept nogil
    cdef inline void prefetch_row(self, idx_t j) noexcept nogil
    cdef int end_refractory(self, idx_t i, double t) noexcept nogil
    cdef int apply_kicks(self, double t) except -1 nogil
    cdef void plastic_arrivals(self, double t, bint before) noexcept nogil
    cdef int gather(self, double t) except -1 nogil
    cdef int run_cascade(self, double t) except -1 nogil
    cdef void end_instant(self) noexcept nogil
    cdef void stdp_arrivals(self, double t, int first) noexcept nogil
    cdef void stdp_post(self, idx_t i, double t) noexcept nogil
    cdef void stp_arrivals(self, double t, bint before) noexcept nogil
    cdef inline double class_top_time(self, int c) noexcept nogil
    cdef void neuron_events(self, double t) noexcept nogil
    cdef void input_event(self, double t) noexcept nogil
    cdef void delay_event(self) noexcept nogil
    cdef void take_sample(self, double ts) noexcept nogil
    cdef void extra_state(self, idx_t i, double t, double* out) noexcept nogil
    cdef int loop(self, double t_stop_abs, int64_t max_events) except -1 nogil
