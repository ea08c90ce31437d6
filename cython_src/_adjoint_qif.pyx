"""The backward (adjoint) pass of a network of QIF and theta neurons with delta pulses.

Between events a neuron obeys tau dv/dt = f(v) tau = v**2 + I (theta neurons in v = tan(theta / 2), with
threshold +inf and reset -inf), a pulse is v += w, a spike is v reaching the threshold (+inf for theta).
Unlike the LIF, the flow is not linear in v, so the effect of a pulse on a later spike depends on the
pulses in between. The pass carries the adjoint through the closed-form flow: between two events of a
neuron v(t_2) = Phi(v(t_1)) is the Moebius map (v_1 C + I S) / (C - v_1 S) (C = cos x, S = sin(x) / a for
I = a**2 > 0, cosh and sinh for I = -a**2 < 0, 1 and s at I = 0; x = a s, s = dt / tau), so that
dv_2/dv_1 = 1 / (C - v_1 S)**2 and dv_2/dI = (S (C - v_1 S) + (v_1**2 + I) K) / (C - v_1 S)**2 with
K = (s - C S) / (2 I) (`flow_factors`). The adjoint carried is alpha = dL/dv (1 + v**2) (dL/dtheta times
2 for the phase theta = 2 atan v): finite at v = +-inf (a theta neuron's reset and spike) and, unlike the
constant (dL/dv) (v**2 + I) of the one-dimensional flow (whose Jacobian is f(v(t_2)) / f(v(t_1)), tau f =
v**2 + I), not 0 on the stable fixed point -sqrt(-I) of a drive below rheobase, where a neuron at rest
sits and where the fixed point itself moves with I (dv/dI = 1 / (2 sqrt(-I)) there). For each piece of a
neuron's trajectory (from t = 0, or from the end of a refractory period after a spike, to its next spike,
or to T) with arrivals t_1 < ... < t_m, the multiplier mu of the piece is:

* for a spike that the neuron reaches on its own (v(t_k) = theta, f(theta) > 0), mu = -lambda_k
  (lambda_k = dL/dt_k in total), the constant (dL/dv) (v**2 + I) / tau of its last free stretch, because
  dt_k/dv(t) = -1/f(v(t)) there (v is above the unstable fixed point: v**2 + I > 0, no division by f(+inf)
  for theta); alpha after the last arrival t_m is mu tau (1 + v**2) / (v**2 + I);
* a spike caused by a pulse has the pulse's arrival time: mu = 0, and lambda_k passes on to the
  presynaptic event and the delay of that pulse;
* the open piece at T has mu = alpha(T) = dL/dv(T) (1 + v(T)**2) (theta: 2 dL/dtheta(T)).

Going backward, a free stretch multiplies alpha by J = dv_2/dv_1 (1 + v_1**2) / (1 + v_2**2) and a pulse
(dL/dv continuous) by (1 + v_b-**2) / (1 + v_b+**2). With alpha = mu P (P per unit of mu):

* dL/dw_a = a(t_a+) = mu P_a / (1 + v_a+**2) (v_a+ = v_a- + w_a);
* dL/dt_a = a(t_a+) (f(v_a-) - f(v_a+)) = -mu P_a w_a (v_a- + v_a+) / (tau (1 + v_a+**2)), which goes to
  the delay and to the presynaptic spike's lambda (for an input event: dL/dt of the input, returned);
* the drive enters each free stretch (v_1 -> v_2) as alpha(t_2) (dv_2/dI) / (1 + v_2**2) (the last
  stretch before a spike as mu int dt / (v**2 + I) = mu (tau (g(v_2) - g(v_1)) + dt) / (2 I), g(v) = v /
  (v**2 + I); for I = 0: mu tau (v_1**-3 - v_2**-3) / 3), tau as -alpha(t_1) (v_1**2 + I) / (1 + v_1**2)
  dt / tau**2 (-mu dt / tau before a spike), the threshold (QIF) as lambda_k tau / (theta**2 + I);
* the start of the piece at s with value v_s: dL/dv_s = alpha(s) / (1 + v_s**2) (the initial state, or
  the reset; alpha / 2 by a theta neuron's initial phase), dL/ds = -alpha(s) (v_s**2 + I) / (tau (1 +
  v_s**2)) (to the spike that began the refractory period; 0 on a fixed point).

These closed forms hold for every sign of the drive (I > 0: the phase atan(v / sqrt I) advances at the
rate sqrt(I) / tau; I < 0: tanh pieces, with a stable and an unstable fixed point; I = 0: 1/t), with v
at +-inf allowed. Precision: for I < 0, C and S are scaled by 2 e^{-x} (no overflow over long stretches),
K is a series for |I| s**2 <= 0.5 (no cancellation over short ones), v**2 + I is rounded once (fma);
measured against mpmath over free stretches of 1e-3 to 30 tau from states on, near and away from the
fixed points, drives from -4 to 0.3 (down to 1e-14 in size): relative errors below 1e-14 in dL/dI,
dL/dv0 and dL/dtau. The drive's integral before a spike loses about eps v**2 / |I| to cancellation when
|I| is tiny against v**2.

The pass has three steps. `qif_arrivals` groups the arrivals of all presynaptic events (before T) by
target in time order (a counting sort, then an insertion sort within each target's row: linear when the
rows are nearly in order, as with one delay). `qif_replay` rebuilds each neuron's states at its
arrivals from the recorded spike times, piece by piece in forward time (v is known at every piece's
start: v0 or the reset), and stores per arrival its piece (or the pulse-triggered spike it causes) and
its two factors of mu (24 bytes, in grouped order), per piece the factors of the start's time and value
and of the drive's and tau's derivatives. `qif_backward` then walks the spikes and input events in reverse order of the run (as the
LIF pass does): at spike j it sends each of its K arrivals back (O(1) each, one prefetched lookup: the
piece's mu is known, the later spike that ends it having been visited), adds the dependence of its own
next piece on its start, sets its own piece's mu and the parameter gradients of that piece. No state is
recorded in the forward run: the tape's spike times, cause bits and input events suffice.

Readouts (`record_states`): a readout at t_r of dL/d(readout) = g makes the adjoint jump by g d(readout)/dv
(d/dv 1 for QIF, 2 / (1 + v**2) for the phase theta = 2 atan v of a theta neuron), alpha by g (1 + v**2)
(QIF) or 2 g (theta): a part R of alpha, alpha = mu P + R, that does not scale with mu. R crosses pulses
and free stretches like P; the replay adds its parts to the drive's, tau's and the start's gradients and
stores per arrival its parts of dL/dw and dL/dt and per piece its part of the start time's derivative.

Degenerate events are counted as in the LIF pass: an arrival within 4 ulps of a spike of its target
(absorbed, or a second cause of a pulse-triggered spike; not counted within a cascade without delay) or
of the end of its refractory period.
"""
import numpy as np
cimport cython
from libc.math cimport INFINITY, cos, exp, expm1, fabs, fma, isinf, sin, sqrt

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
    """v**2 + I (tau f(v)), rounded once (precise near the fixed points); +inf at v = +-inf."""
    return fma(v, v, I)


cdef inline double g_of(double v, double I) noexcept nogil:
    """v / (v**2 + I), 0 at v = +-inf."""
    if isinf(v):
        return 0.0
    if fabs(v) > 1e150:
        return 1.0 / v
    return v / fma(v, v, I)


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
cdef inline double inv_1p_sq(double v) noexcept nogil:
    """1 / (1 + v**2), 0 at v = +-inf."""
    cdef double r
    if isinf(v):
        return 0.0
    if fabs(v) > 1.0:
        r = 1.0 / v
        return r * r / (1.0 + r * r)
    return 1.0 / (1.0 + v * v)


@cython.cdivision(True)
cdef inline double h_of(double v, double I) noexcept nogil:
    """(v**2 + I) / (1 + v**2) (tau dv/dt over 1 + v**2), 1 at v = +-inf."""
    cdef double r
    if isinf(v):
        return 1.0
    if fabs(v) > 1e150:
        r = 1.0 / v
        return (1.0 + I * r * r) / (1.0 + r * r)
    return fma(v, v, I) / fma(v, v, 1.0)


@cython.cdivision(True)
cdef inline double pulse_ratio(double vm, double vp) noexcept nogil:
    """(1 + vm**2) / (1 + vp**2) across a pulse vm -> vp = vm + w (1 at infinity)."""
    cdef double r, q
    if isinf(vm) or isinf(vp):
        return 1.0
    if fabs(vp) > 1.0:
        r = 1.0 / vp
        q = vm * r
        return (r * r + q * q) / (r * r + 1.0)
    return (1.0 + vm * vm) / (1.0 + vp * vp)


cdef inline double k_series(double z) noexcept nogil:
    """(2 x - sin 2 x) / (4 x**3) as a series in z = x**2 (for z < 0, z = -y**2: (sinh 2 y - 2 y) / (4 y**3)):
    the coefficients (-1)**k 2**(2 k + 1) / (2 k + 3)!, to rounding for |z| <= 0.5 (6 terms for |z| < 0.01)."""
    if fabs(z) < 0.01:
        return 0.3333333333333333 + z * (-0.06666666666666667 + z * (0.006349206349206349 + z * (
            -0.0003527336860670194 + z * (1.282667949334616e-05 + z * -3.2888921777810664e-07))))
    return 0.3333333333333333 + z * (-0.06666666666666667 + z * (0.006349206349206349 + z * (
        -0.0003527336860670194 + z * (1.282667949334616e-05 + z * (-3.2888921777810664e-07 + z * (
            6.264556529106794e-09 + z * (-9.212583131039402e-11 + z * (1.0774951030455441e-12 + z * (
                -1.0261858124243278e-14 + z * 8.11214080967848e-17)))))))))


@cython.cdivision(True)
cdef inline void flow_factors(double v1, double s, double I, double a, double ia, double* J,
                              double* Dd) noexcept nogil:
    """A free evolution of dv/ds = v**2 + I over s = dt / tau from v1 (v1 = -inf allowed) to v2, in the
    adjoint alpha = (dL/dv) (1 + v**2): J = dv2/dv1 (1 + v1**2) / (1 + v2**2) (alpha(t1) = J alpha(t2)) and
    Dd = (dv2/dI) / (1 + v2**2) (dL/dI = alpha(t2) Dd). `a` = sqrt(|I|), `ia` = 1 / a (0 for I = 0).

    The flow is the Moebius map v2 = (v1 C + I S) / (C - v1 S) with C = cos(x), S = sin(x) / a (I = a**2 > 0),
    cosh and sinh (I = -a**2 < 0), 1 and s (I = 0), x = a s, C**2 + I S**2 = 1, so that dv2/dv1 = 1 / (C - v1
    S)**2 and dv2/dI = (S (C - v1 S) + (v1**2 + I) K) / (C - v1 S)**2 with K = (s - C S) / (2 I) (s**3 / 3 at
    I = 0). Both are finite on the stable fixed point v1 = -sqrt(-I) (J = e^{-2 x}, dv2/dI = (1 - e^{-2 x}) /
    (2 a): the fixed point moves with I), where the constant (dL/dv) (v**2 + I) is 0. For I < 0, C and S are
    scaled by 2 e^{-x} (no overflow for long stretches), for |v1| > 1 numerator and denominator are divided
    by v1**2, and K is a series for |I| s**2 <= 0.5 (no cancellation for short stretches)."""
    cdef double x, u, Ch, Sh, sig2inv = 1.0, Ksig, z = I * s * s, r, Dh, Nh, iden, q
    if I > 0.0:
        x = a * s
        Ch = cos(x)
        Sh = sin(x)
        Ksig = s * s * s * k_series(z) if z <= 0.5 else 0.5 * (x - Sh * Ch) * ia * ia * ia
        Sh *= ia
    elif I < 0.0:
        x = a * s
        u = exp(-2.0 * x)
        Ch = 1.0 + u
        Sh = -expm1(-2.0 * x) * ia
        sig2inv = 4.0 * u
        Ksig = (4.0 * u * s * s * s * k_series(z) if z >= -0.5
                else (0.5 * (1.0 - u * u) - 2.0 * x * u) * ia * ia * ia)
    else:
        Ch = 1.0
        Sh = s
        Ksig = s * s * s * (1.0 / 3.0)
    if isinf(v1) or fabs(v1) > 1.0:
        r = 0.0 if isinf(v1) else 1.0 / v1
        q = 1.0 if r == 0.0 else (fma(v1, v1, I) * r * r if fabs(v1) < 1e150 else 1.0 + I * r * r)
        Dh = Ch * r - Sh
        Nh = Ch + I * Sh * r
        iden = 1.0 / (Dh * Dh + Nh * Nh)
        J[0] = sig2inv * (r * r + 1.0) * iden
        Dd[0] = (Sh * Dh * r + q * Ksig) * iden
    else:
        Dh = Ch - v1 * Sh
        Nh = v1 * Ch + I * Sh
        iden = 1.0 / (Dh * Dh + Nh * Nh)
        J[0] = sig2inv * (1.0 + v1 * v1) * iden
        Dd[0] = (Sh * Dh + fma(v1, v1, I) * Ksig) * iden


@cython.cdivision(True)
cdef inline void set_mu(double* mu, int64_t q, int64_t i, double m, bint first, bint own, bint theta,
                        const double* p_v, const double* p_drive, const double* p_time, double ti, double I,
                        double th, double* g_tau, double* g_drive, double* g_v0, double* g_thr,
                        double* g_reset) noexcept nogil:
    """The multiplier m of piece q of neuron i, and m dF/dp for the parameters of that piece."""
    cdef double q2
    mu[q] = m
    if m == 0.0:
        return
    g_drive[i] += m * p_drive[q]
    g_tau[i] -= m * p_time[q] / ti
    if first:
        g_v0[i] += m * p_v[q]
    elif not theta:
        g_reset[i] += m * p_v[q]
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
    const double[::1] v0, double T, double[::1] res, double[::1] p_all, double[::1] p_v, double[::1] p_drive,
    double[::1] p_time,
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
    absorbed, -2 - r for the cause of the pulse-triggered spike r), dL/dw and dL/dt per unit of the piece's
    multiplier mu (P / (1 + v+**2) and -P w (v- + v+) / (tau (1 + v+**2)), alpha = mu P after the arrival);
    per piece, per unit of mu: -dL/d(start time) (`p_all`), dL/d(start value) (`p_v`: by v0 or the reset,
    by the initial phase for theta), dL/dI (`p_drive`) and -tau dL/dtau (`p_time`); v(T) per neuron and
    whether it is refractory at T (`held`). `counts` receives [coincident, unresolved].

    Readouts: rows `ro_ptr` by neuron in time order, at times `ro_t` (outside refractory periods) with
    derivatives `ro_g` (dL/dv, dL/dtheta for theta neurons, flags `theta`). A readout is the left limit
    before the events of its instant; at it the adjoint dL/dv jumps by ro_g dstate/dv (alpha by that times
    1 + v**2), a part R of alpha that does not scale with the piece's multiplier. Its parts go to
    `ro_ab` (2 per arrival and 2 more: of dL/dw and dL/dt; not written if it has another size),
    `r_all` (per piece, at the start: the start time's derivative is -(mu p_all + r_all)) and, as they are
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
    cdef double R, RD, RE, Dk, t_ro, tol_r, t_prev_arr, hv, wp, bp, sa, isa
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
            sa = sqrt(fabs(I))
            isa = 1.0 / sa if sa > 0.0 else 0.0
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
                # the factors, backward over the piece's boundaries, in the adjoint alpha = (dL/dv) (1 + v**2):
                # alpha = mu P + R (P: per unit of the piece's multiplier mu, R: the readouts' part)
                P = 1.0
                D = 0.0
                E = 0.0
                if open_ and t_s >= T:
                    held[i] = 1
                    v_T[i] = vr
                elif open_:
                    # mu = alpha(T), through the last free stretch
                    v_e = qif_advance(v, T - t_last, ti, I)
                    v_T[i] = v_e
                    flow_factors(v, (T - t_last) / ti, I, sa, isa, &J, &D)
                    P = J
                    E = P * h_of(v, I) * (T - t_last) / ti
                elif not kick:
                    # mu = -lambda_k = (dL/dv) (v**2 + I) / tau, constant up to the spike (v > the unstable
                    # fixed point there: v**2 + I > 0): alpha = mu tau (1 + v**2) / (v**2 + I) after t_last
                    D = drive_integral(v, th, t_e - t_last, ti, I)
                    E = t_e - t_last
                    hv = h_of(v, I)
                    P = ti / hv if hv > 0.0 else 0.0
                R = 0.0
                RD = 0.0
                RE = 0.0
                kb = nb - 1
                while kb >= nb0:
                    vm = vm_s[kb]
                    if bkind[kb] >= 0:
                        # a pulse: dL/dv continuous, alpha times (1 + vm**2) / (1 + vp**2) backward
                        b = bkind[kb]
                        ww = ws[kb]
                        vp = vm + ww
                        wp = inv_1p_sq(vp)
                        bp = 0.0 if isinf(vp) else -ww * (vm + vp) * wp / ti
                        res[3 * b + 1] = P * wp
                        res[3 * b + 2] = P * bp
                        if has_ro:
                            ro_ab[2 * b] = R * wp
                            ro_ab[2 * b + 1] = R * bp
                        J = pulse_ratio(vm, vp)
                        P *= J
                        R *= J
                    elif ro_g[-1 - bkind[kb]] != 0.0:
                        # a readout: dL/dv jumps by its derivative times dstate/dv (2 / (1 + v**2) for theta)
                        R += ro_g[-1 - bkind[kb]] * (2.0 if th_i else 1.0 + vm * vm)
                    # the free stretch before the boundary (by tau: -dt/tau**2 (v**2 + I) dL/dv, the same at
                    # both of its ends; taken at its start, where the flow has not yet amplified a state's rounding
                    # near the stable fixed point)
                    flow_factors(vst[kb], dts[kb] / ti, I, sa, isa, &J, &Dk)
                    D += P * Dk
                    RD += R * Dk
                    P *= J
                    R *= J
                    hv = h_of(vst[kb], I) * dts[kb] / ti
                    E += P * hv
                    RE += R * hv
                    kb -= 1
                if kick or (open_ and t_s >= T):
                    P = 0.0                     # the piece has no multiplier
                    D = 0.0
                    E = 0.0
                # the start: by its time -(v_s**2 + I) / tau dL/dv(s), by its value dL/dv(s) (dL/dtheta(0) =
                # alpha / 2 for theta)
                hv = h_of(v_s, I) / ti
                wp = 0.5 if th_i else inv_1p_sq(v_s)
                p_all[q] = P * hv
                p_v[q] = P * wp
                p_drive[q] = D
                p_time[q] = E
                r_all[q] = R * hv
                if R != 0.0 or RD != 0.0 or RE != 0.0:
                    g_drive[i] += RD
                    g_tau[i] -= RE / ti
                    if first:
                        g_v0[i] += R * wp
                    elif not th_i:
                        g_reset[i] += R * wp
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
    const double[::1] p_all, const double[::1] p_v, const double[::1] p_drive, const double[::1] p_time,
    const double[::1] v_T, const uint8_t[::1] held, const uint8_t[::1] theta,
    const double[::1] tau, int64_t m_tau, const double[::1] drive, int64_t m_drive,
    const double[::1] thr, int64_t m_thr, const double[::1] dL_dt, const double[::1] dL_dv,
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

    A segment of a checkpointed pass (its start states went to `qif_replay`): its first `n_pseudo` spikes the
    pseudo-spikes of `qif_replay` (their arrivals are sent back, their dL/dt is that of the start of
    their neuron's next piece and of those arrivals; not counted as pulse-triggered); `lam_out` (length
    n_sp), if given, receives every spike's dL/dt in total."""
    cdef int64_t n_sp = times.shape[0], n = v_T.shape[0], n_in = in_after.shape[0]
    cdef bint has_ro = ro_ab.shape[0] == 2 * (res.shape[0] // 3)
    cdef int64_t r, e_in, p, qn, i, n_kicked = 0
    cdef idx_t j
    cdef double lj, m, ti, I, v
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
            # the multiplier of the open piece: alpha(T) = dL/dv(T) (1 + v(T)**2), 2 dL/dtheta(T) for theta
            m = dL_dv[i] * 2.0 if theta[i] else dL_dv[i] * (1.0 + v * v)
            set_mu(&mu[0], n_sp + i, i, m, sp_ptr[i] == sp_ptr[i + 1], False, theta[i] != 0, &p_v[0],
                   &p_drive[0], &p_time[0], ti, I, thr[i & m_thr], &g_tau[0], &g_drive[0], &g_v0[0],
                   &g_thr[0], &g_reset[0])
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
                set_mu(&mu[0], p, j, -lj, p == sp_ptr[j], True, theta[j] != 0, &p_v[0], &p_drive[0],
                       &p_time[0], ti, I, thr[j & m_thr], &g_tau[0], &g_drive[0], &g_v0[0], &g_thr[0],
                       &g_reset[0])
            r -= 1
    counts[0] += n_kicked
    if lam_out is not None:
        np.asarray(lam_out)[:] = lam_a[:n_sp]
