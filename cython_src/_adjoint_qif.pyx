"""The backward (adjoint) pass of a network of QIF and theta neurons with delta pulses.

Between events a neuron obeys tau dv/dt = f(v) tau = v**2 + I (theta neurons in v = tan(theta / 2), with
threshold +inf and reset -inf), a pulse is v += w, a spike is v reaching the threshold (+inf for theta).
Unlike the LIF, the flow is not linear in v, so the effect of a pulse on a later spike depends on the
pulses in between; the method rests on a property of every one-dimensional autonomous flow instead:
the Jacobian of the flow from t_1 to t_2 is f(v(t_2)) / f(v(t_1)), so the adjoint a(t) = dL/dv(t)
times f(v(t)) is constant between two events of a neuron. For each piece of a neuron's trajectory (from
t = 0, or from the end of a refractory period after a spike, to its next spike, or to T) with arrivals
t_1 < ... < t_m, call c the constant of its last sub-interval (the multiplier mu of the piece):

* a spike that the neuron reaches on its own (v(t_k) = theta, f(theta) > 0) has mu = -lambda_k
  (lambda_k = dL/dt_k in total), because dt_k/dv(t_k-) = -1/f(theta): no division by f(+inf) for theta;
* a spike caused by a pulse has the pulse's arrival time: mu = 0, and lambda_k passes on to the
  presynaptic event and the delay of that pulse;
* the open piece at T has mu = dL/dv(T) f(v(T)) (theta: dL/dtheta(T) 2 (v**2 + I) / (tau (1 + v**2))).

Across the pulse at t_b the adjoint is continuous and f jumps, so the constant before it is the one after
it times J_b = f(v_b-) / f(v_b+). With P_a the product of the J_b of the pulses after t_a in its piece:

* dL/dw_a = mu P_a / f(v_a+) (v_a+ = v_a- + w_a);
* dL/dt_a = a(t_a) (f(v_a-) - f(v_a+)) = mu P_a (J_a - 1), which goes to the delay and to the
  presynaptic spike's lambda (for an input event: dL/dt of the input, returned);
* the drive enters each sub-interval (v_1 -> v_2 over dt) as c int dt / (v**2 + I) = c (tau (g(v_2) -
  g(v_1)) + dt) / (2 I) with g(v) = v / (v**2 + I) (for I = 0: c tau (v_1**-3 - v_2**-3) / 3), the
  tau as -c dt / tau, the threshold (QIF) as lambda_k tau / (theta**2 + I);
* the start of the piece at s with value v_s: dL/dv_s = c_0 tau / (v_s**2 + I) (the initial state, or
  the reset), dL/ds = -c_0 (to the spike that began the refractory period), c_0 = mu P_all.

These closed forms hold for every sign of the drive (I > 0: the phase atan(v / sqrt I) advances at the
rate sqrt(I) / tau; I < 0: tanh pieces, with a stable and an unstable fixed point; I = 0: 1/t), with v
at +-inf allowed (g(+-inf) = 0). Precision: the drive's integral loses about eps v**2 / |I| to
cancellation when |I| is tiny against v**2, and ratios f(v_-)/f(v_+) near the stable fixed point of
I < 0 inherit the relative error of v + sqrt(-I).

The pass has three steps. `qif_arrivals` groups the arrivals of all presynaptic events (before T) by
target in time order (a counting sort, then an insertion sort within each target's row: linear when the
rows are nearly in order, as with one delay). `qif_replay` rebuilds each neuron's states at its
arrivals from the recorded spike times, piece by piece in forward time (v is known at every piece's
start: v0 or the reset), and stores per arrival its piece (or the pulse-triggered spike it causes),
P_a / f(v_a+) and P_a (J_a - 1) (24 bytes, in grouped order), per piece P_all and the drive's and tau's
integrals. `qif_backward` then walks the spikes and input events in reverse order of the run (as the
LIF pass does): at spike j it sends each of its K arrivals back (O(1) each, one prefetched lookup: the
piece's mu is known, the later spike that ends it having been visited), adds the dependence of its own
next piece on its start, sets its own piece's mu and the parameter gradients of that piece. No state is
recorded in the forward run: the tape's spike times, cause bits and input events suffice.

Readouts (`record_states`): a readout at t_r of dL/d(readout) = g makes the adjoint jump by g d(readout)/dv
(d/dv 1 for QIF, 2 / (1 + v**2) for the phase theta = 2 atan v of a theta neuron), the constant by that
times f(v(t_r)): a part R of the constant, c = mu P + R, that does not scale with mu. R crosses pulses
like P (times J); the replay adds its parts to the drive's, tau's and the start's gradients and stores per
arrival R / f(v+) and R (J - 1) and per piece R at its start (the start time's derivative is -(mu P_all +
R_all)).

Degenerate events are counted as in the LIF pass: an arrival within 4 ulps of a spike of its target
(absorbed, or a second cause of a pulse-triggered spike; not counted within a cascade without delay) or
of the end of its refractory period.
"""
import numpy as np
cimport cython
from libc.math cimport INFINITY, fabs, isinf

from ._heap cimport SP_PREFETCH
from ._qif cimport qif_advance
from ._typedefs cimport idx_t, int64_t, uint8_t

# arrivals looked up ahead in the backward pass
DEF LOOKAHEAD = 8

DEF TIME_ULPS = 4.0
DEF DBL_EPS = 2.220446049250313e-16


cdef inline double same_instant(double t) noexcept nogil:
    return TIME_ULPS * DBL_EPS * (t if t > 1.0 else 1.0)


cdef inline double qf(double v, double I) noexcept nogil:
    """v**2 + I (tau f(v)); +inf at v = +-inf."""
    return v * v + I


cdef inline double g_of(double v, double I) noexcept nogil:
    """v / (v**2 + I), 0 at v = +-inf."""
    if isinf(v):
        return 0.0
    if fabs(v) > 1e150:
        return 1.0 / v
    return v / (v * v + I)


cdef inline double inv_cube(double v) noexcept nogil:
    cdef double u
    if isinf(v):
        return 0.0
    u = 1.0 / v
    return u * u * u


@cython.cdivision(True)
cdef inline double drive_integral(double v1, double v2, double dt, double tau, double I) noexcept nogil:
    """int dt' / (v**2 + I) over a free evolution from v1 to v2 that lasts dt."""
    if dt <= 0.0:
        return 0.0
    if I != 0.0:
        return (tau * (g_of(v2, I) - g_of(v1, I)) + dt) / (2.0 * I)
    return tau * (inv_cube(v1) - inv_cube(v2)) / 3.0


@cython.cdivision(True)
cdef inline double start_factor(double v, double tau, double I, bint theta) noexcept nogil:
    """dv(s)/d(start value) divided into the constant: tau / (v**2 + I), times dv/dtheta = (1 + v**2) / 2
    for a theta neuron's initial phase."""
    cdef double q
    if not theta:
        q = qf(v, I)
        return tau / q if q != 0.0 else 0.0
    if isinf(v) or fabs(v) > 1e150:
        return 0.5 * tau
    q = qf(v, I)
    return 0.5 * tau * (1.0 + v * v) / q if q != 0.0 else 0.0


@cython.cdivision(True)
cdef inline double readout_factor(double v, double tau, double I, bint theta) noexcept nogil:
    """The jump of the constant c = a f at a readout per unit of dL/d(readout): f(v) for a QIF readout (v),
    f(v) dtheta/dv = 2 (v**2 + I) / (tau (1 + v**2)) for a theta readout (the phase theta = 2 atan v)."""
    cdef double u
    if not theta:
        return qf(v, I) / tau
    if isinf(v) or fabs(v) > 1e150:
        return 2.0 / tau
    u = v * v
    return 2.0 * (u + I) / (tau * (1.0 + u))


@cython.cdivision(True)
cdef inline void set_mu(double* mu, int64_t q, int64_t i, double m, bint first, bint own, bint theta,
                        const double* p_all, const double* p_drive, const double* p_time, double ti, double I,
                        double th, double vr, double v0, double* g_tau, double* g_drive, double* g_v0,
                        double* g_thr, double* g_reset) noexcept nogil:
    """The multiplier m of piece q of neuron i, and m dF/dp for the parameters of that piece."""
    cdef double q2
    mu[q] = m
    if m == 0.0:
        return
    g_drive[i] += m * p_drive[q]
    g_tau[i] -= m * p_time[q] / ti
    if first:
        g_v0[i] += m * p_all[q] * start_factor(v0, ti, I, theta)
    elif not theta:
        g_reset[i] += m * p_all[q] * start_factor(vr, ti, I, False)
    if own and not theta:
        q2 = qf(th, I)
        if q2 > 0.0:
            g_thr[i] -= m * ti / q2


@cython.cdivision(True)
cdef inline double send_back(int64_t e, const int64_t* ev_row, const int64_t* ev_off, const int64_t* indptr,
                             const int64_t* inv, const double* res, const double* ro_ab, bint has_ro,
                             const double* mu, const double* lam,
                             double* g_w, int64_t m_gw, double* g_d, int64_t m_gd) noexcept nogil:
    """The arrivals of presynaptic event e: their weights' and delays' gradients, and dL/dt_e (with
    readouts, `ro_ab` holds per arrival the readouts' parts of both, which do not scale with mu)."""
    cdef int64_t s, s0 = indptr[ev_row[e]], s1 = indptr[ev_row[e] + 1], f0 = ev_off[e] - s0, k, q
    cdef double lj = 0.0, m, c, code, ra = 0.0, rb = 0.0
    for s in range(s0, s1):
        if s + LOOKAHEAD < s1:
            k = inv[f0 + s + LOOKAHEAD]
            if k >= 0:
                SP_PREFETCH(&res[3 * k])
        k = inv[f0 + s]
        if k < 0:
            continue
        code = res[3 * k]
        if code >= 0.0:
            m = mu[<int64_t>code]
            if has_ro:
                ra = ro_ab[2 * k]
                rb = ro_ab[2 * k + 1]
            if m != 0.0 or ra != 0.0 or rb != 0.0:
                g_w[s & m_gw] += m * res[3 * k + 1] + ra
                c = m * res[3 * k + 2] + rb
                lj += c
                g_d[s & m_gd] += c
        elif code <= -2.0:
            c = lam[<int64_t>(-code) - 2]   # the pulse-triggered spike that this arrival causes
            lj += c
            g_d[s & m_gd] += c
    return lj


@cython.boundscheck(False)
@cython.wraparound(False)
def qif_arrivals(
    const double[::1] ev_t, const int64_t[::1] ev_row, const uint8_t[::1] ev_kick, const int64_t[::1] ev_order,
    const int64_t[::1] ev_off, const int64_t[::1] indptr, const idx_t[::1] indices, const double[::1] w,
    int64_t m_w, const double[::1] d, int64_t m_d, double T, int64_t[::1] a_ptr, double t0=0.0,
):
    """The arrivals (at t0 or after, before T) of the presynaptic events (times `ev_t`, rows `ev_row`; `ev_order` by time)
    grouped by target in time order (ties: in flat order, event by event and synapse by synapse), CSR
    rows `a_ptr`. Returns the records (3 doubles per arrival, one cache line for the sort's scattered
    writes: time, weight, and 4 f + flags with f the flat index, flags bit 0 for a zero delay and bit 1
    for a pulse-triggered source) and, by flat index, the grouped position (-1 at or after T). A counting
    sort, then an insertion sort within each target's row (linear when the rows are nearly in time
    order, as with one delay). The flat index of event e's first synapse is `ev_off[e]` (any placement
    of the events' blocks in [0, `ev_off[n_ev]`)), which orders the arrivals of one instant; arrivals
    before t0 (those of a segment of a checkpointed pass that its start state holds) are left out."""
    cdef int64_t n = a_ptr.shape[0] - 1, n_ev = ev_t.shape[0], m = ev_off[n_ev]
    cdef double ta0
    cdef int64_t e, j, s, f, k, kk, i, total = 0
    cdef double ta, tk, wk, ck
    cnt_a = np.zeros(n + 1, dtype=np.int64)
    cdef int64_t[::1] cnt = cnt_a
    with nogil:
        for j in range(n_ev):
            e = ev_order[j]
            for s in range(indptr[ev_row[e]], indptr[ev_row[e] + 1]):
                ta0 = ev_t[e] + d[s & m_d]
                if ta0 < T and ta0 >= t0:
                    cnt[indices[s]] += 1
        a_ptr[0] = 0
        for i in range(n):
            a_ptr[i + 1] = a_ptr[i] + cnt[i]
            cnt[i] = a_ptr[i]
        total = a_ptr[n]
    rec_a = np.empty(3 * total + 3)
    inv_a = np.full(m + 1, -1, dtype=np.int64)
    cdef double[::1] rec = rec_a
    cdef int64_t[::1] inv = inv_a
    with nogil:
        for j in range(n_ev):
            e = ev_order[j]
            f = ev_off[e]
            for s in range(indptr[ev_row[e]], indptr[ev_row[e] + 1]):
                ta = ev_t[e] + d[s & m_d]
                if ta < T and ta >= t0:
                    i = indices[s]
                    k = cnt[i]
                    cnt[i] += 1
                    rec[3 * k] = ta
                    rec[3 * k + 1] = w[s & m_w]
                    rec[3 * k + 2] = <double>(4 * f + (1 if d[s & m_d] == 0.0 else 0) + (2 if ev_kick[e] else 0))
                f += 1
        for i in range(n):
            for k in range(a_ptr[i] + 1, a_ptr[i + 1]):
                tk, wk, ck = rec[3 * k], rec[3 * k + 1], rec[3 * k + 2]
                kk = k
                while kk > a_ptr[i] and (rec[3 * kk - 3] > tk or (rec[3 * kk - 3] == tk and rec[3 * kk - 1] > ck)):
                    rec[3 * kk] = rec[3 * kk - 3]
                    rec[3 * kk + 1] = rec[3 * kk - 2]
                    rec[3 * kk + 2] = rec[3 * kk - 1]
                    kk -= 1
                rec[3 * kk], rec[3 * kk + 1], rec[3 * kk + 2] = tk, wk, ck
        for k in range(total):
            inv[(<int64_t>rec[3 * k + 2]) >> 2] = k
    return rec_a, inv_a


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def qif_replay(
    const double[::1] times, const uint8_t[::1] kicked, const int64_t[::1] sp_ptr, const int64_t[::1] sp_order,
    const int64_t[::1] a_ptr, const double[::1] tau, int64_t m_tau, const double[::1] drive, int64_t m_drive, const double[::1] thr,
    int64_t m_thr, const double[::1] reset, int64_t m_reset, const double[::1] tref, int64_t m_tref,
    const double[::1] v0, double T, double[::1] res, double[::1] p_all, double[::1] p_drive, double[::1] p_time,
    double[::1] v_T, uint8_t[::1] held, int64_t[::1] counts,
    const uint8_t[::1] theta, const int64_t[::1] ro_ptr, const double[::1] ro_t, const double[::1] ro_g,
    double[::1] ro_ab, double[::1] r_all, double[::1] g_tau, double[::1] g_drive, double[::1] g_v0,
    double[::1] g_reset, double t0=0.0, int64_t n_pseudo=0,
):
    """Phase 1: each neuron's states at its arrivals, in forward time, and the factors of the backward pass.

    Pieces: position k < n_sp of the spikes' CSR rows (`sp_ptr` over `sp_order`, record positions by
    neuron and time) for the piece a spike ends, n_sp + i for neuron i's open piece at T. The arrivals
    (`qif_arrivals`: rows `a_ptr` by target in time order, their records in `res` on entry: time, weight,
    4 f + flags), replaced in place by the factors: per arrival a (`res[3 a:3 a + 3]`) a code (its piece, -1 for none: dropped or
    absorbed, -2 - r for the cause of the pulse-triggered spike r), A = P / f(v+) and B = P (J - 1)
    (tau f = v**2 + I: A in units of tau); per piece P_all, the drive's integral sum P int dt' / (v**2 + I)
    and sum P dt; v(T) per neuron and whether it is refractory at T (`held`). `counts` receives
    [coincident, unresolved].

    Readouts: rows `ro_ptr` by neuron in time order, at times `ro_t` (outside refractory periods) with
    derivatives `ro_g` (dL/dv, dL/dtheta for theta neurons, flags `theta`). A readout is the left limit
    before the events of its instant; at it the constant c jumps by ro_g f(v) dstate/dv (the adjoint by
    ro_g dstate/dv), a part R of c that does not scale with the piece's multiplier. Its parts go to
    `ro_ab` (2 per arrival and 2 more: R / f(v+) and R (J - 1); not written if it has another size),
    `r_all` (per piece, R at the start: the start's derivative -(mu P_all + R_all)) and, as they are
    known now, to `g_tau`, `g_drive`, `g_v0` and `g_reset`. Readouts within 4 ulps of an arrival, of
    the piece's start after a spike or of the spike their neuron reaches on its own are counted as
    coincident.

    A segment of a checkpointed pass (`brian2_sparseprop.spiking.checkpoint`) is a run from t0 with `v0`
    the states at t0; its first `n_pseudo` spikes (record positions) are the last spikes before t0 of the
    neurons refractory at t0: the piece each ends is void (no multiplier, no cause looked for), the
    next one starts at the end of the refractory period with the reset.
    """
    cdef int64_t n = sp_ptr.shape[0] - 1, n_sp = times.shape[0]
    cdef int64_t i, k, k0, k1, q, r, a, a1, b, n_coinc = 0, n_unres = 0, row_max = 1
    cdef int64_t ro, ro1, nb, nb0, kb
    cdef double I, ti, th, vr, tr, t_s, v_s, t_last, v, t_e, tol, tol_s, ta, vm, vp, ww, v_e, P, D, E, J
    cdef double R, RD, RE, Dk, t_ro, tol_r, t_prev_arr, qp
    cdef bint open_, kick, first, has_a, has_r, th_i, pseudo
    cdef bint has_ro = ro_ab.shape[0] == 2 * a_ptr[n] + 2
    cdef int64_t cause
    for i in range(n):
        if a_ptr[i + 1] - a_ptr[i] + ro_ptr[i + 1] - ro_ptr[i] > row_max:
            row_max = a_ptr[i + 1] - a_ptr[i] + ro_ptr[i + 1] - ro_ptr[i]
    vm_a = np.empty(row_max)
    vs_a = np.empty(row_max)
    dt_a = np.empty(row_max)
    w_a = np.empty(row_max)
    kind_a = np.empty(row_max, dtype=np.int64)
    cdef double[::1] vm_s = vm_a, vst = vs_a, dts = dt_a, ws = w_a
    cdef int64_t[::1] bkind = kind_a   # a boundary of the piece: arrival a >= 0, or readout -1 - index
    cdef int64_t fl
    with nogil:
        for i in range(n):
            I = drive[i & m_drive]
            ti = tau[i & m_tau]
            th = thr[i & m_thr]
            vr = reset[i & m_reset]
            tr = tref[i & m_tref]
            th_i = theta[i] != 0
            t_s = t0
            v_s = v0[i]
            a = a_ptr[i]
            a1 = a_ptr[i + 1]
            ro = ro_ptr[i]
            ro1 = ro_ptr[i + 1]
            k0 = sp_ptr[i]
            k1 = sp_ptr[i + 1]
            held[i] = 0
            nb = 0
            t_prev_arr = -INFINITY
            for k in range(k0, k1 + 1):
                open_ = k == k1
                first = k == k0
                if open_:
                    q = n_sp + i
                    r = -1
                    t_e = T
                    kick = False
                    pseudo = False
                else:
                    q = k
                    r = sp_order[k]
                    t_e = times[r]
                    pseudo = r < n_pseudo
                    kick = kicked[r] != 0 or pseudo
                tol = same_instant(t_e)
                tol_s = same_instant(t_s)
                t_last = t_s
                v = v_s
                nb0 = nb
                cause = -1
                while not pseudo:
                    has_a = a < a1 and (open_ or res[3 * a] <= t_e + tol)
                    has_r = ro < ro1 and (open_ or ro_t[ro] <= t_e)
                    if not (has_a or has_r):
                        break
                    if has_r and (not has_a or ro_t[ro] <= res[3 * a]):
                        # a readout (before the events of its instant): a boundary without a pulse
                        t_ro = ro_t[ro]
                        tol_r = same_instant(t_ro)
                        if ((a < a1 and fabs(res[3 * a] - t_ro) <= tol_r) or t_ro - t_prev_arr <= tol_r
                                or (not first and t_ro - t_s <= tol_r)
                                or (not open_ and not kick and t_e - t_ro <= tol_r)):
                            n_coinc += 1
                        vm = qif_advance(v, t_ro - t_last if t_ro > t_last else 0.0, ti, I)
                        vst[nb] = v
                        vm_s[nb] = vm
                        dts[nb] = t_ro - t_last if t_ro > t_last else 0.0
                        ws[nb] = 0.0
                        bkind[nb] = -1 - ro
                        nb += 1
                        v = vm
                        if t_ro > t_last:
                            t_last = t_ro
                        ro += 1
                        continue
                    ta = res[3 * a]
                    ww = res[3 * a + 1]
                    fl = <int64_t>res[3 * a + 2]
                    a += 1
                    t_prev_arr = ta
                    res[3 * (a - 1)] = -1.0
                    res[3 * (a - 1) + 1] = 0.0
                    res[3 * (a - 1) + 2] = 0.0
                    if ta < t_s - tol_s:
                        continue                # dropped: the neuron was refractory
                    if not first and tr > 0.0 and ta <= t_s + tol_s:
                        n_coinc += 1            # at the end of the refractory period
                    if (not open_) and ta >= t_e - tol:
                        # at the instant of the spike that ends the piece
                        if kick and cause < 0:
                            vm = qif_advance(v, ta - t_last if ta > t_last else 0.0, ti, I)
                            # the first pulse that crosses causes it (the last of the instant, if rounding
                            # left every one just below the threshold)
                            if vm + ww >= th or a >= a1 or res[3 * a] > t_e + tol:
                                cause = a - 1
                                res[3 * (a - 1)] = -2.0 - r
                                continue
                            if not (fl & 1):
                                n_coinc += 1    # a second candidate: taken as a pulse before the cause
                        else:
                            if (not (fl & 1)) or not (kick or (fl & 2)):
                                n_coinc += 1    # absorbed by the reset of that instant, or a tie
                            continue
                    # an arrival within the piece: the state before and after it
                    vm = qif_advance(v, ta - t_last if ta > t_last else 0.0, ti, I)
                    vst[nb] = v
                    vm_s[nb] = vm
                    dts[nb] = ta - t_last if ta > t_last else 0.0
                    ws[nb] = ww
                    bkind[nb] = a - 1
                    nb += 1
                    v = vm + ww
                    t_last = ta
                    res[3 * (a - 1)] = <double>q
                if kick and cause < 0 and not pseudo:
                    n_unres += 1
                # the factors, backward over the piece's boundaries: c = mu P + R in each sub-interval
                P = 1.0
                D = 0.0
                E = 0.0
                if open_ and t_s >= T:
                    held[i] = 1
                    v_T[i] = vr
                elif open_:
                    v_e = qif_advance(v, T - t_last, ti, I)
                    v_T[i] = v_e
                    D = drive_integral(v, v_e, T - t_last, ti, I)
                    E = T - t_last
                elif not kick:
                    D = drive_integral(v, th, t_e - t_last, ti, I)
                    E = t_e - t_last
                R = 0.0
                RD = 0.0
                RE = 0.0
                kb = nb - 1
                while kb >= nb0:
                    if bkind[kb] >= 0:
                        b = bkind[kb]
                        vm = vm_s[kb]
                        ww = ws[kb]
                        vp = vm + ww
                        qp = qf(vp, I)
                        res[3 * b + 1] = P * ti / qp
                        res[3 * b + 2] = -P * ww * (vm + vp) / qp
                        if has_ro:
                            ro_ab[2 * b] = R * ti / qp
                            ro_ab[2 * b + 1] = -R * ww * (vm + vp) / qp
                        J = qf(vm, I) / qp
                        P *= J
                        R *= J
                    elif ro_g[-1 - bkind[kb]] != 0.0:
                        R += ro_g[-1 - bkind[kb]] * readout_factor(vm_s[kb], ti, I, th_i)
                    Dk = drive_integral(vst[kb], vm_s[kb], dts[kb], ti, I)
                    D += P * Dk
                    E += P * dts[kb]
                    RD += R * Dk
                    RE += R * dts[kb]
                    kb -= 1
                if kick or (open_ and t_s >= T):
                    P = 0.0                     # the piece has no multiplier
                    D = 0.0
                    E = 0.0
                p_all[q] = P
                p_drive[q] = D
                p_time[q] = E
                r_all[q] = R
                if R != 0.0 or RD != 0.0 or RE != 0.0:
                    g_drive[i] += RD
                    g_tau[i] -= RE / ti
                    if first:
                        g_v0[i] += R * start_factor(v0[i], ti, I, th_i)
                    elif not th_i:
                        g_reset[i] += R * start_factor(vr, ti, I, False)
                if not open_:
                    t_s = t_e + tr
                    v_s = vr
    counts[0] += n_coinc
    counts[1] += n_unres


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def qif_backward(
    const double[::1] times, const idx_t[::1] neuron, const uint8_t[::1] kicked, const int64_t[::1] sp_ptr,
    const int64_t[::1] pos, const int64_t[::1] ev_row, const int64_t[::1] ev_off, const int64_t[::1] in_after,
    const int64_t[::1] indptr, const int64_t[::1] inv, const double[::1] res,
    const double[::1] p_all, const double[::1] p_drive, const double[::1] p_time,
    const double[::1] v_T, const uint8_t[::1] held, const uint8_t[::1] theta,
    const double[::1] tau, int64_t m_tau, const double[::1] drive, int64_t m_drive,
    const double[::1] thr, int64_t m_thr, const double[::1] reset, int64_t m_reset,
    const double[::1] v0, const double[::1] dL_dt, const double[::1] dL_dv,
    double[::1] g_w, int64_t m_gw, double[::1] g_d, int64_t m_gd, double[::1] g_tau, double[::1] g_drive,
    double[::1] g_v0, double[::1] g_thr, double[::1] g_reset, double[::1] g_in, int64_t[::1] counts,
    const double[::1] ro_ab, const double[::1] r_all, int64_t n_pseudo=0, double[::1] lam_out=None,
):
    """Phase 2: the gradients, from the factors of `qif_replay` (`res`, at the grouped positions `inv` of
    the flat arrivals), walking the spikes and the input events (presynaptic events n_sp + e of rows
    `ev_row`, flat arrivals from `ev_off`: synapse by synapse of the row) in reverse order of the run;
    `in_after[e]`: the spikes recorded before input event e. `dL_dv` is by v(T) (by theta(T) for theta
    neurons), `g_v0` by the initial state (theta for theta neurons). `counts[0]` receives the
    pulse-triggered spikes. The readouts' parts (`qif_replay`): `ro_ab` per arrival (if it holds 2 per
    arrival and 2 more), `r_all` per piece.

    A segment of a checkpointed pass: `v0` the states at its start, its first `n_pseudo` spikes the
    pseudo-spikes of `qif_replay` (their arrivals are sent back, their dL/dt is that of the start of
    their neuron's next piece and of those arrivals; not counted as pulse-triggered); `lam_out` (length
    n_sp), if given, receives every spike's dL/dt in total."""
    cdef int64_t n_sp = times.shape[0], n = v_T.shape[0], n_in = in_after.shape[0]
    cdef bint has_ro = ro_ab.shape[0] == 2 * (res.shape[0] // 3)
    cdef int64_t r, e_in, p, qn, i, n_kicked = 0
    cdef idx_t j
    cdef double lj, m, ti, I, v, u
    mu_a = np.zeros(n_sp + n + 1)
    lam_a = np.append(np.asarray(dL_dt, dtype=np.float64), 0.0)
    cdef double[::1] mu = mu_a, lam = lam_a
    with nogil:
        # the open pieces at T
        for i in range(n):
            if held[i]:
                if not theta[i]:
                    g_reset[i] += dL_dv[i]
                continue
            if dL_dv[i] == 0.0:
                continue
            ti = tau[i & m_tau]
            I = drive[i & m_drive]
            v = v_T[i]
            if not theta[i]:
                m = dL_dv[i] * qf(v, I) / ti
            elif isinf(v) or fabs(v) > 1e150:
                m = dL_dv[i] * 2.0 / ti
            else:
                u = v * v
                m = dL_dv[i] * 2.0 * (u + I) / (ti * (1.0 + u))
            set_mu(&mu[0], n_sp + i, i, m, sp_ptr[i] == sp_ptr[i + 1], False, theta[i] != 0, &p_all[0],
                   &p_drive[0], &p_time[0], ti, I, thr[i & m_thr], reset[i & m_reset], v0[i],
                   &g_tau[0], &g_drive[0], &g_v0[0], &g_thr[0], &g_reset[0])
        r = n_sp - 1
        e_in = n_in - 1
        while r >= 0 or e_in >= 0:
            if e_in >= 0 and in_after[e_in] > r:
                g_in[e_in] = send_back(n_sp + e_in, &ev_row[0], &ev_off[0], &indptr[0], &inv[0], &res[0], &ro_ab[0],
                                       has_ro, &mu[0], &lam[0], &g_w[0], m_gw, &g_d[0], m_gd)
                e_in -= 1
                continue
            j = neuron[r]
            p = pos[r]
            ti = tau[j & m_tau]
            I = drive[j & m_drive]
            lj = lam[r] + send_back(r, &ev_row[0], &ev_off[0], &indptr[0], &inv[0], &res[0], &ro_ab[0],
                                    has_ro, &mu[0], &lam[0], &g_w[0], m_gw, &g_d[0], m_gd)
            # its own next piece starts at the end of its refractory period
            qn = p + 1 if p + 1 < sp_ptr[j + 1] else n_sp + j
            lj -= mu[qn] * p_all[qn] + r_all[qn]
            lam[r] = lj
            if r < n_pseudo:
                pass
            elif kicked[r]:
                n_kicked += 1
            else:
                set_mu(&mu[0], p, j, -lj, p == sp_ptr[j], True, theta[j] != 0, &p_all[0], &p_drive[0],
                       &p_time[0], ti, I, thr[j & m_thr], reset[j & m_reset], v0[j],
                       &g_tau[0], &g_drive[0], &g_v0[0], &g_thr[0], &g_reset[0])
            r -= 1
    counts[0] += n_kicked
    if lam_out is not None:
        np.asarray(lam_out)[:] = lam_a[:n_sp]
