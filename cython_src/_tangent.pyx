"""Tangent-space propagation through the events of a recorded run: the forward pass of Lyapunov spectra.

Networks of LIF, QIF and theta neurons with delta pulses of any sign, delays, refractoriness (state held
at reset) and external input at fixed times. A spike is a threshold crossing of its neuron's own flow, or
triggered by a pulse that takes a LIF or QIF neuron to threshold (below). The m tangent vectors are the
rows of Y (n x m), one row per neuron, in one of three coordinates (`mode`):

* MODE_PHASE_LIF, a LIF neuron with drive I > threshold (it fires on its own), and MODE_PHASE_QIF, a QIF
  or theta neuron (drive I > 0): sigma = delta x / g(x), the perturbation of its state x (v for LIF and
  QIF, theta for theta) divided by the right-hand side g of tau dx/dt = g(x) (I - v; v^2 + I;
  (1 - cos theta) + (1 + cos theta) I). tau sigma is the time by which the perturbed neuron is ahead on
  its own orbit: constant between events (the free flow costs nothing), and a shift of the whole network
  in time is sigma_i = 1 / tau_i, which every Jacobian leaves exactly as it is (the zero exponent).
  g is bounded away from 0 and infinity for these neurons, so the coordinates are equivalent to the
  state's and give the same exponents.
* MODE_STATE_LIF, a LIF neuron with I <= threshold (it never fires on its own, only when a pulse takes it
  to threshold), whose sigma would be singular where v = I: delta v, stored as delta u = delta v E(t),
  E(t) = exp((t - t0) / tau), constant between events (delta v decays as exp(-dt / tau)); the caller
  converts at t0's moves.

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

Pulse-triggered spikes (a pulse takes a LIF or QIF target to threshold; `close_generation`): the spike
happens at the pulse's arrival, so its time shift is the pulse's dt_s, whatever the target's own
perturbation was: the general rule with d_i = 0, sigma_i <- -dt_s / tau_i (the row is forgotten: the
Jacobian is singular), and its own pulses carry dt_s (kept in TD until its recorded spike). A LIF target
in delta v coordinates is reset at a time shifted by dt_s: delta v = -(dv/dt after the reset) dt_s =
-((I - v_r) / tau) dt_s, at the end of its refractory period if it has one. The engine tests a neuron's
threshold once for the summed pulses of one generation of an instant's cascade (arrivals and the spikes
that reached threshold on their own, then the spikes those pulses triggered, and so on), and a neuron
that fired in an instant absorbs the later pulses of that instant: the pass follows it, from the tape's
cause bit of each spike (`kicked`) and its record order (one generation after another).

Pulses from a fixed-time source (an external input, or a spike that was in flight when the computation
started) have dt_s = 0: sigma_i <- d_i sigma_i. A spike's delayed pulses arrive later as their own events
(a second stream, merged with the spikes in time order) with the spike's dt_s, kept per spike in `DT`
until then. A refractory neuron (until `ref_end`) drops the pulses that arrive and keeps its sigma; its
replayed state restarts from the reset at the end of the period.

log|det| of each event's Jacobian in these coordinates, sum of log d_i over its targets (one log per
event), is added to `logdet[0]`; a pulse-triggered spike's is -inf, counted in `n_trig[0]` instead. O(K m)
work per spike, no transcendental function per target for LIF.
"""
import numpy as np
cimport cython
from libc.math cimport INFINITY, exp, fabs, isinf, log
from libc.stdlib cimport free, malloc

from ._qif cimport qif_advance
from ._typedefs cimport idx_t, int64_t, syn_t, uint8_t

cdef extern from *:
    """
    #define TANGENT_PREFETCH(p) __builtin_prefetch((const void*)(p), 1, 3)
    """
    void TANGENT_PREFETCH(const void* p) noexcept nogil

DEF TIME_ULPS = 4.0  # an arrival this many ulps of the time after a pulse-triggered spike is its cause
DEF DBL_EPS = 2.220446049250313e-16
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
    # pulse-triggered spikes (can_trig: some pulse can take a LIF or QIF neuron to threshold)
    bint can_trig
    const double* thr
    int64_t m_thr
    double* TD
    uint8_t* pend
    double* t_fired
    idx_t* touched
    int64_t n_touched
    double t_gen
    int64_t n_trig


cdef inline bint over_threshold(Ctx* c, idx_t i, double E) noexcept nogil:
    """Whether the replayed state of neuron i (not theta) is at or above its threshold (the engine's test:
    u <= (I - threshold) E for LIF, v >= threshold for QIF); E = E(t) of a LIF neuron."""
    if c.mode[i] == MODE_PHASE_QIF:
        return c.x[i] >= c.thr[i & c.m_thr]
    return c.x[i] <= (c.drive[i & c.m_drive] - c.thr[i & c.m_thr]) * E


cdef void close_generation(Ctx* c) noexcept nogil:
    """End of a generation of pulses (the engine sums the pulses of a generation onto a neuron and tests its
    threshold once): the candidates (neurons left at or above threshold by a pulse of the generation) that
    are still there fire at the generation's time t_gen, triggered: pend = 2 until their recorded spike. The
    spike's time shift is the arriving pulse's (kept in TD); sigma forgets the neuron's own perturbation,
    sigma_i = -dt_s / tau_i (MODE_STATE_LIF: its row is set at the reset, in `propagate`)."""
    cdef int64_t q, k, m = c.m
    cdef idx_t i
    cdef double ti, E = 1.0
    for q in range(c.n_touched):
        i = c.touched[q]
        if c.pend[i] != 1:
            continue
        ti = c.tau[i & c.m_tau]
        if c.mode[i] != MODE_PHASE_QIF:
            E = exp((c.t_gen - c.t0) / ti)
        if over_threshold(c, i, E):
            c.pend[i] = 2
            c.t_fired[i] = c.t_gen
            c.n_trig += 1
            if c.mode[i] != MODE_STATE_LIF and c.Y != NULL:
                for k in range(m):
                    c.Y[i * m + k] = -c.TD[i * m + k] / ti
        else:
            c.pend[i] = 0
    c.n_touched = 0


cdef inline void candidate(Ctx* c, idx_t i, double t, const double* dts) noexcept nogil:
    """Neuron i was left at or above threshold by a pulse at t with time shift dts (NULL: 0): a candidate
    of the generation; the last such pulse's shift is kept in TD."""
    cdef int64_t k, m = c.m
    for k in range(m):
        c.TD[i * m + k] = dts[k] if dts != NULL else 0.0
    if c.pend[i] == 0:
        c.pend[i] = 1
        c.touched[c.n_touched] = i
        c.n_touched += 1
    c.t_gen = t


cdef inline double kicks(Ctx* c, syn_t s0, syn_t s1, idx_t j, double t, const double* dts) noexcept nogil:
    """The pulses of synapses s0 .. s1 - 1 at t, from a spike whose time shift is dts (m values), or from a
    fixed-time source (dts NULL: the pulse does not move); j is the spiking neuron (its zero-delay pulse
    onto itself is absorbed by its reset), or -1. Returns the product of the factors d. With can_trig, a
    pulse onto a neuron that fired at this instant (or is triggered and waits for its spike) is absorbed,
    and a neuron left at or above threshold becomes a candidate of the generation (`close_generation`)."""
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
        if c.can_trig and (c.pend[i] == 2 or c.t_fired[i] == t):
            continue                    # fired (or triggered) at this instant: absorbed by its reset
        ww = c.w[s & c.m_w]
        ti = c.tau[i & c.m_tau]
        Yi = c.Y + i * m
        E = 1.0
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
                if c.can_trig:
                    c.x[i] -= ww * E
                    if over_threshold(c, i, E):
                        candidate(c, i, t, dts)
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
        if c.can_trig and over_threshold(c, i, E):
            candidate(c, i, t, dts)
    return prod


cdef inline double arrival(Ctx* c, int64_t p, const double* arr_t, const int64_t* arr_k0, const int64_t* arr_k1,
                           const int64_t* arr_slot, double* DT, int64_t n_dt, int64_t slot_base,
                           int* err) noexcept nogil:
    """The pulses of arrival p (with the time shift of its spike's row of DT, or of a fixed-time source);
    err = 3 if the row is missing. Returns the product of the factors d."""
    cdef int64_t slot = arr_slot[p]
    if slot >= 0 and c.m > 0:
        slot -= slot_base
        if slot < 0 or slot >= n_dt:
            err[0] = 3
            return 1.0
        return kicks(c, arr_k0[p], arr_k1[p], -1, arr_t[p], DT + slot * c.m)
    return kicks(c, arr_k0[p], arr_k1[p], -1, arr_t[p], NULL)


cdef inline double log_factor(double prod) noexcept nogil:
    """log|prod| of an event's pulse factors; 0 where a factor passed through a state beyond threshold (a
    pulse-triggered spike, whose Jacobian is singular: counted in n_trig, not here)."""
    if prod != 0.0 and not isinf(prod) and prod == prod:
        return log(fabs(prod))
    return 0.0


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
    const uint8_t[::1] kicked, const double[::1] thr, int64_t m_thr, double[:, ::1] TD, uint8_t[::1] pend,
    double[::1] t_fired, idx_t[::1] touched, int64_t[::1] n_trig,
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
    Jacobians (sum of log|d| over the pulses) to `logdet[0]`; `arr_pos[0]` moves past the arrivals taken.

    Pulse-triggered spikes (`TD` with n rows: some pulse can take a neuron to threshold; else 0 rows):
    `kicked` holds the engine's tape bits of the spikes (1: caused by a pulse). A spike with bit 1 waits
    for the arrivals of its instant (within a few ulps of its time: arrival times are recomputed from
    the spike times) and takes the time shift of the pulse that triggered it (`TD`, state kept across
    calls with `pend`, `t_fired`, `touched`); `n_trig[0]` counts the triggered spikes (each one a
    singular Jacobian). Where the tape and the replay disagree at one instant by a rounding at threshold
    (a marginal event: a pulse takes the state to threshold to rounding), the replay's reading is
    differentiated and `n_trig[1]` counts it; any other disagreement raises RuntimeError."""
    cdef Ctx c
    cdef int64_t m = Y.shape[1], k, r = start, p = arr_pos[0], n_arr = arr_t.shape[0], slot
    cdef int64_t n_dt = DT.shape[0]
    cdef idx_t j
    cdef double t, cst, E, ld = 0.0, tr, tol
    cdef bint trig
    cdef int64_t n_marg = 0
    cdef double t_own = -INFINITY
    cdef int64_t rr
    cdef int err = 0
    cdef idx_t err_j = -1
    cdef double err_t = 0.0
    cdef const double* pa_t = &arr_t[0] if n_arr > 0 else NULL
    cdef const int64_t* pa_k0 = &arr_k0[0] if n_arr > 0 else NULL
    cdef const int64_t* pa_k1 = &arr_k1[0] if n_arr > 0 else NULL
    cdef const int64_t* pa_slot = &arr_slot[0] if n_arr > 0 else NULL
    cdef double* pDT = &DT[0, 0] if n_dt > 0 and m > 0 else NULL
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
    c.can_trig = TD.shape[0] > 0
    c.thr = &thr[0]
    c.m_thr = m_thr
    c.TD = &TD[0, 0] if c.can_trig and m > 0 else NULL
    c.pend = &pend[0] if c.can_trig else NULL
    c.t_fired = &t_fired[0] if c.can_trig else NULL
    c.touched = &touched[0] if c.can_trig else NULL
    c.n_touched = 0
    c.t_gen = -INFINITY
    c.n_trig = 0
    try:
        with nogil:
            while True:
                if r < stop and (p >= n_arr or arr_t[p] > t_limit or times[r] <= arr_t[p]):
                    # a spike: its time shift; the spiking neuron's row is unchanged, its state reset
                    j = neuron[r]
                    t = times[r]
                    trig = False
                    if c.can_trig:
                        if c.n_touched > 0 and t > c.t_gen:
                            close_generation(&c)        # time moved on: the generation is complete
                        trig = kicked[r] != 0
                        if not trig and t > t_own:
                            # the neurons that reach threshold on their own at t all fire first (the
                            # engine's first generation): pulses of the instant onto them are absorbed
                            t_own = t
                            rr = r
                            while rr < stop and times[rr] == t and kicked[rr] == 0:
                                t_fired[neuron[rr]] = t
                                rr += 1
                        if trig:
                            # the arrivals of its instant come first (the first generation of the engine's
                            # cascade; their recomputed times may round an ulp or so after the spike's)
                            tol = TIME_ULPS * DBL_EPS * (fabs(t) if fabs(t) > 1.0 else 1.0)
                            if p < n_arr and arr_t[p] <= t + tol:
                                ld += log_factor(arrival(&c, p, pa_t, pa_k0, pa_k1, pa_slot, pDT, n_dt,
                                                         slot_base, &err))
                                if err:
                                    err_t = arr_t[p]
                                    break
                                p += 1
                                continue
                            if pend[j] != 2 and c.n_touched > 0:
                                close_generation(&c)    # its generation: the spikes recorded before it
                            if pend[j] != 2:
                                if mode[j] == MODE_STATE_LIF:
                                    err = 1
                                    err_j = j
                                    err_t = t
                                    break
                                # a pulse took the engine's state to threshold and the replayed one a
                                # rounding below it, from where it reaches threshold at once on its own:
                                # a marginal event, differentiated as the replay sees it
                                trig = False
                                n_marg += 1
                        elif not trig and pend[j] != 0:
                            close_generation(&c)
                            if pend[j] == 2 and t_fired[j] == t:
                                # the converse: the engine's state a rounding below threshold after a
                                # pulse of this instant (it fires on its own at once), the replay's at it
                                trig = True
                                n_marg += 1
                            elif pend[j] != 0:
                                err = 2
                                err_j = j
                                err_t = t
                                break
                    if trig:
                        for k in range(m):
                            dts[k] = TD[j, k]
                        pend[j] = 0
                    else:
                        cst = -tau[j & m_tau]
                        for k in range(m):
                            dts[k] = cst * Y[j, k]
                    if c.can_trig:
                        t_fired[j] = t
                    tr = t + tref[j & m_tref] if c.has_tref else t
                    if c.has_tref:
                        ref_end[j] = tr
                    if mode[j] == MODE_PHASE_QIF:
                        x[j] = reset[j & m_reset]
                        tl[j] = tr
                    else:
                        E = exp((tr - t0) / tau[j & m_tau])
                        x[j] = (drive[j & m_drive] - reset[j & m_reset]) * E
                        if trig and mode[j] == MODE_STATE_LIF:
                            # reset at a time shifted by dt_s: delta v = -(dv/dt after the reset) dt_s
                            cst = -x[j] / tau[j & m_tau]
                            for k in range(m):
                                Y[j, k] = cst * dts[k]
                    if zero_end[j] < indptr[j + 1] and m > 0:
                        slot = first + r - start - slot_base
                        if slot < 0 or slot >= n_dt:
                            with gil:
                                raise IndexError(f"no row of DT for spike {first + r - start}")
                        for k in range(m):
                            DT[slot, k] = dts[k]
                    ld += log_factor(kicks(&c, indptr[j], zero_end[j], j, t, dts))
                    r += 1
                elif p < n_arr and arr_t[p] <= t_limit:
                    if c.n_touched > 0 and arr_t[p] > c.t_gen:
                        close_generation(&c)
                    ld += log_factor(arrival(&c, p, pa_t, pa_k0, pa_k1, pa_slot, pDT, n_dt, slot_base, &err))
                    if err:
                        err_t = arr_t[p]
                        break
                    p += 1
                else:
                    break
            if c.n_touched > 0 and not err:
                close_generation(&c)
    finally:
        free(dts)
        arr_pos[0] = p
    logdet[0] += ld
    n_trig[0] += c.n_trig
    n_trig[1] += n_marg
    if err == 3:
        raise IndexError(f"no row of DT for an arrival at t = {err_t} s")
    if err:
        what = ("was caused by a pulse (the engine's tape), but no pulse of its instant takes the replayed state "
                "to threshold") if err == 1 else (
                "reached threshold on its own (the engine's tape), but a pulse of its instant took the replayed "
                "state to threshold")
        raise RuntimeError(
            f"the spike of neuron {err_j} at t = {err_t} s {what}: the replay disagrees with the engine by "
            "rounding at a threshold, or simultaneous pulses of mixed signs"
        )


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
