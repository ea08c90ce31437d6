"""Tangent-space propagation through the events of a recorded run: the forward pass of Lyapunov spectra.

Networks of LIF, QIF and theta neurons with delta pulses, delays, refractoriness (state held at reset)
and external input at fixed times, and no spike caused by a pulse (inhibitory pulses onto LIF and QIF
neurons, any pulses onto theta neurons), so that every spike is a threshold crossing of its neuron's own
flow. The m tangent vectors are the rows of Y (n x m), one row per neuron, in one of three coordinates
(`mode`):

* MODE_PHASE_LIF, a LIF neuron with drive I > threshold (it fires on its own), and MODE_PHASE_QIF, a QIF
  or theta neuron (drive I > 0): sigma = delta x / g(x), the perturbation of its state x (v for LIF and
  QIF, theta for theta) divided by the right-hand side g of tau dx/dt = g(x) (I - v; v^2 + I;
  (1 - cos theta) + (1 + cos theta) I). tau sigma is the time by which the perturbed neuron is ahead on
  its own orbit: constant between events (the free flow costs nothing), and a shift of the whole network
  in time is sigma_i = 1 / tau_i, which every Jacobian leaves exactly as it is (the zero exponent).
  g is bounded away from 0 and infinity for these neurons, so the coordinates are equivalent to the
  state's and give the same exponents.
* MODE_STATE_LIF, a LIF neuron with I <= threshold (it never fires: no pulse may make it), whose sigma
  would be singular where v = I: delta v, stored as delta u = delta v E(t), E(t) = exp((t - t0) / tau),
  constant between events (delta v decays as exp(-dt / tau)); the caller converts at t0's moves.

A spike of neuron j at t moves by dt_s = -tau_j sigma_j. Then
* the spiking neuron keeps its sigma (a reset at a shifted time is the same time shift);
* each target i (pulse w): sigma_i <- d_i sigma_i - (1 - d_i) dt_s / tau_i with d_i = g(x_i-) / g(x_i+),
  the ratio of its velocities before and after the pulse (DESIGN.md's single-spike Jacobian, in time
  units); MODE_STATE_LIF: delta v_i += (w / tau_i) dt_s (the pulse arrives dt_s later; the flows after
  it differ by -w / tau_i).
d_i needs the target's state: the pass replays the states (`x`) through the recorded spikes (no heap:
the record gives the order): u = (I - v) E(t) for LIF (constant between events: a pulse is u -= w E, the
reset u = (I - v_r) E, as in the engine's shared classes) and v (theta: tan(theta / 2)) with its time for
QIF and theta (free flow by the engine's kernel `qif_advance`, pulse v += w, reset).
A pulse of a neuron onto itself in the instant it fires is absorbed by its reset (the engine's rule) and
skipped. Repeated pulses onto one target compose exactly (the ratios multiply).

Pulses from a fixed-time source (an external input, or a spike that was in flight when the computation
started) have dt_s = 0: sigma_i <- d_i sigma_i. A spike's delayed pulses arrive later as their own events
(a second stream, merged with the spikes in time order) with the spike's dt_s, kept per spike in `DT`
until then. A refractory neuron (until `ref_end`) drops the pulses that arrive and keeps its sigma; its
replayed state restarts from the reset at the end of the period.

log|det| of each event's Jacobian in these coordinates, sum of log d_i over its targets (one log per
event), is added to `logdet[0]`. O(K m) work per spike, no transcendental function per target for LIF.
"""
import numpy as np
cimport cython
from libc.math cimport exp, fabs, isinf, log
from libc.stdlib cimport free, malloc

from ._qif cimport qif_advance
from ._typedefs cimport idx_t, int64_t, syn_t, uint8_t

cdef extern from *:
    """
    #define TANGENT_PREFETCH(p) __builtin_prefetch((const void*)(p), 1, 3)
    """
    void TANGENT_PREFETCH(const void* p) noexcept nogil

DEF AHEAD = 8       # targets ahead whose tangent row and state are prefetched (rows are random accesses)

cdef enum:
    MODE_PHASE_LIF = 0
    MODE_PHASE_QIF = 1
    MODE_STATE_LIF = 2

MODES = {"phase_lif": MODE_PHASE_LIF, "phase_qif": MODE_PHASE_QIF, "state_lif": MODE_STATE_LIF}


cdef inline double qif_pulse_ratio(double vm, double w, double I) noexcept nogil:
    """g(v-) / g(v- + w) for g(v) = v^2 + I (I > 0): the factor of a pulse w on sigma; 1 at v- = -inf
    (a theta neuron at its reset), and written in 1/v- where v- is large so that nothing overflows."""
    cdef double a, b, vp
    if isinf(vm):
        return 1.0
    if fabs(vm) > 1.0:
        a = 1.0 / vm
        b = 1.0 + w * a
        return (1.0 + I * a * a) / (b * b + I * a * a)
    vp = vm + w
    return (vm * vm + I) / (vp * vp + I)


cdef struct Ctx:
    const int64_t* indptr
    const int64_t* zero_end
    const idx_t* indices
    const double* w
    int64_t m_w
    const uint8_t* mode
    const double* tau
    int64_t m_tau
    const double* drive
    int64_t m_drive
    const double* reset
    int64_t m_reset
    const double* tref
    int64_t m_tref
    bint has_tref
    double* x
    double* tl
    double* ref_end
    double* Y
    int64_t m
    double t0


cdef inline double kicks(Ctx* c, syn_t s0, syn_t s1, idx_t j, double t, const double* dts) noexcept nogil:
    """The pulses of synapses s0 .. s1 - 1 at t, from a spike whose time shift is dts (m values), or from a
    fixed-time source (dts NULL: the pulse does not move); j is the spiking neuron (its zero-delay pulse
    onto itself is absorbed by its reset), or -1. Returns the product of the factors d."""
    cdef int64_t m = c.m, k
    cdef syn_t s
    cdef idx_t i, ia
    cdef double prod = 1.0, E, E_shared = 1.0, ti, Ii, vm, ww, d, cc
    cdef double* Yi
    if c.m_tau == 0:
        E_shared = exp((t - c.t0) / c.tau[0])
    if c.Y != NULL:
        for s in range(s0, s0 + AHEAD if s0 + AHEAD < s1 else s1):
            ia = c.indices[s]
            TANGENT_PREFETCH(c.Y + ia * m)
            TANGENT_PREFETCH(c.x + ia)
    for s in range(s0, s1):
        if c.Y != NULL and s + AHEAD < s1:
            ia = c.indices[s + AHEAD]
            TANGENT_PREFETCH(c.Y + ia * m)
            TANGENT_PREFETCH(c.Y + ia * m + m - 1)
            TANGENT_PREFETCH(c.x + ia)
        i = c.indices[s]
        if i == j:
            continue                    # absorbed by the reset of this instant
        if c.has_tref and t < c.ref_end[i]:
            continue                    # refractory: the pulse is dropped (and would be, perturbed)
        ww = c.w[s & c.m_w]
        ti = c.tau[i & c.m_tau]
        Yi = c.Y + i * m
        if c.mode[i] == MODE_PHASE_QIF:
            Ii = c.drive[i & c.m_drive]
            vm = qif_advance(c.x[i], t - c.tl[i], ti, Ii)
            d = qif_pulse_ratio(vm, ww, Ii)
            c.x[i] = vm + ww
            c.tl[i] = t
        else:
            E = E_shared if c.m_tau == 0 else exp((t - c.t0) / ti)
            if c.mode[i] == MODE_STATE_LIF:
                if dts != NULL:
                    cc = ww / ti * E
                    for k in range(m):
                        Yi[k] += cc * dts[k]
                continue
            d = c.x[i] / (c.x[i] - ww * E)
            c.x[i] -= ww * E
        prod *= d
        if dts != NULL:
            cc = (d - 1.0) / ti
            for k in range(m):
                Yi[k] = d * Yi[k] + cc * dts[k]
        else:
            for k in range(m):
                Yi[k] *= d
    return prod


@cython.boundscheck(False)
@cython.wraparound(False)
def propagate(
    const double[::1] times, const idx_t[::1] neuron, int64_t start, int64_t stop, int64_t first,
    const double[::1] arr_t, const int64_t[::1] arr_k0, const int64_t[::1] arr_k1, const int64_t[::1] arr_slot,
    int64_t[::1] arr_pos, double t_limit,
    const int64_t[::1] indptr, const int64_t[::1] zero_end, const idx_t[::1] indices, const double[::1] w,
    int64_t m_w, const uint8_t[::1] mode, const double[::1] tau, int64_t m_tau, const double[::1] drive,
    int64_t m_drive, const double[::1] reset, int64_t m_reset, const double[::1] tref, int64_t m_tref,
    double[::1] x, double[::1] tl, double[::1] ref_end, double[:, ::1] Y, double t0,
    double[:, ::1] DT, int64_t slot_base, double[::1] logdet,
):
    """Propagate the tangent rows `Y` (n x m, coordinates by `mode`, above) through the spikes start ..
    stop - 1 of (`times`, `neuron`) (global numbers `first` + r - start) merged in time order with the
    arrivals `arr_pos[0]` .. of (`arr_t`, `arr_k0`, `arr_k1`, `arr_slot`) up to time `t_limit` (a spike
    before an arrival at the same time), replaying the states `x` (u for LIF, relative to `t0`; v with
    its time `tl` for QIF and theta) and the refractory ends `ref_end`. A spike's own zero-delay pulses
    (synapses indptr[j] .. zero_end[j] - 1) act at once; its time shift is kept in row `first + r -
    slot_base` of `DT` when the row has delayed synapses. An arrival is the pulses of synapses k0 .. k1 - 1
    with the time shift of row `slot - slot_base` of `DT`, or of a fixed-time source (slot -1). Parameter
    arrays have length n with mask -1, or 1 with mask 0; `mode` has length n. Adds log|det| of the
    Jacobians (sum of log|d| over the pulses) to `logdet[0]`; `arr_pos[0]` moves past the arrivals taken."""
    cdef Ctx c
    cdef int64_t m = Y.shape[1], k, r = start, p = arr_pos[0], n_arr = arr_t.shape[0], slot
    cdef int64_t n_dt = DT.shape[0]
    cdef idx_t j
    cdef double t, cst, E, ld = 0.0, tr
    cdef double* dts = <double*>malloc((m if m > 0 else 1) * sizeof(double))
    if dts == NULL:
        raise MemoryError(f"cannot allocate {m} doubles")
    c.indptr = &indptr[0]
    c.zero_end = &zero_end[0]
    c.indices = &indices[0] if indices.shape[0] > 0 else NULL
    c.w = &w[0]
    c.m_w = m_w
    c.mode = &mode[0] if mode.shape[0] > 0 else NULL
    c.tau = &tau[0]
    c.m_tau = m_tau
    c.drive = &drive[0]
    c.m_drive = m_drive
    c.reset = &reset[0]
    c.m_reset = m_reset
    c.tref = &tref[0]
    c.m_tref = m_tref
    c.has_tref = m_tref != 0 or tref[0] != 0.0
    c.x = &x[0] if x.shape[0] > 0 else NULL
    c.tl = &tl[0] if tl.shape[0] > 0 else NULL
    c.ref_end = &ref_end[0] if ref_end.shape[0] > 0 else NULL
    c.Y = &Y[0, 0] if Y.shape[0] > 0 and m > 0 else NULL
    c.m = m
    c.t0 = t0
    try:
        with nogil:
            while True:
                if r < stop and (p >= n_arr or arr_t[p] > t_limit or times[r] <= arr_t[p]):
                    # a spike: its time shift; the spiking neuron's row is unchanged, its state reset
                    j = neuron[r]
                    t = times[r]
                    cst = -tau[j & m_tau]
                    for k in range(m):
                        dts[k] = cst * Y[j, k]
                    tr = t + tref[j & m_tref] if c.has_tref else t
                    if c.has_tref:
                        ref_end[j] = tr
                    if mode[j] == MODE_PHASE_QIF:
                        x[j] = reset[j & m_reset]
                        tl[j] = tr
                    else:
                        E = exp((tr - t0) / tau[j & m_tau])
                        x[j] = (drive[j & m_drive] - reset[j & m_reset]) * E
                    if zero_end[j] < indptr[j + 1] and m > 0:
                        slot = first + r - start - slot_base
                        if slot < 0 or slot >= n_dt:
                            with gil:
                                raise IndexError(f"no row of DT for spike {first + r - start}")
                        for k in range(m):
                            DT[slot, k] = dts[k]
                    ld += log(fabs(kicks(&c, indptr[j], zero_end[j], j, t, dts)))
                    r += 1
                elif p < n_arr and arr_t[p] <= t_limit:
                    slot = arr_slot[p]
                    if slot >= 0 and m > 0:
                        slot -= slot_base
                        if slot < 0 or slot >= n_dt:
                            with gil:
                                raise IndexError(f"no row of DT for spike {arr_slot[p]}")
                        ld += log(fabs(kicks(&c, arr_k0[p], arr_k1[p], -1, arr_t[p], &DT[slot, 0])))
                    else:
                        ld += log(fabs(kicks(&c, arr_k0[p], arr_k1[p], -1, arr_t[p], NULL)))
                    p += 1
                else:
                    break
    finally:
        free(dts)
        arr_pos[0] = p
    logdet[0] += ld


@cython.boundscheck(False)
@cython.wraparound(False)
def advance_states(
    const uint8_t[::1] mode, const double[::1] tau, int64_t m_tau, const double[::1] drive, int64_t m_drive,
    double[::1] x, double[::1] tl, double t,
):
    """Advance the replayed states of QIF and theta neurons to time t (no spike in between), in place;
    a neuron still refractory at t (tl > t) stays at its reset."""
    cdef int64_t n = x.shape[0], i
    with nogil:
        for i in range(n):
            if mode[i] == MODE_PHASE_QIF and t > tl[i]:
                x[i] = qif_advance(x[i], t - tl[i], tau[i & m_tau], drive[i & m_drive])
                tl[i] = t
