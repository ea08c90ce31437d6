"""The backward (adjoint) pass of a network of LIF neurons with exponential synaptic currents ('lif_exp').

Between events a neuron's state x = (v, I_e, I_i) obeys the linear system tau_m dv/dt = I - v + I_e + I_i,
tau_e dI_e/dt = -I_e, tau_i dI_i/dt = -I_i, whose flow over a time s is, from (v_s, a_s, b_s),
v = I + (v_s - I) E_m + a_s K_e + b_s K_i, I_e = a_s E_e, I_i = b_s E_i (E_x = exp(-s/tau_x), K of
_lif_exp.pxd). A pulse w >= 0 adds w to I_e, w < 0 to I_i; v is continuous, so (unlike delta pulses) a
spike time is a smooth function of every parameter, including the weights. At a spike (v = theta) v is
reset to v_r and held for t_ref (Brian2's ``(unless refractory)`` on v), while the currents decay and take
their pulses throughout.

The adjoint lambda = dL/dx is carried backward in closed form: over a free piece of duration s from the
adjoint (L_v, L_e, L_i) at its end, lambda = (L_v E_m, L_v K_e + L_e E_e, L_v K_i + L_i E_i) at its start;
over a refractory piece the current components decay (L_e E_e, L_i E_i) and v's is dL/dv_r. Each
neuron's timeline is cut at its boundaries: its spikes and, if t_ref > 0, the ends of its refractory
periods before T. Boundary q holds the adjoint at its left limit, and the piece it ends gets the
gradient by the parameters at fixed start state (drive, tau_m, tau_e, tau_i: derivatives of the closed
form, with dK/dtau of _lif_exp.pxd) and passes its start adjoint on (to v0 and the initial currents, or
to the refractory end it starts from). An arrival of weight w at t_a in a free piece ending with
adjoint L at t_end gives, with lambda(t_a) carried back from t_end (the pulse does not change the
adjoint: its Jacobian is the identity), dL/dw = lambda_c(t_a) (c the current it enters), dL/dt_a =
-w (lambda_v(t_a) / tau_m - lambda_c(t_a) / tau_c) (the jump of the vector field), and the dependence
of its own contribution on tau_m, tau_c; one in a refractory piece has dL/dt_a = w lambda_c(t_a) / tau_c.
dL/dt_a goes to the synapse's delay and to the presynaptic spike (or input event).

A readout v(t_r) (``record_states``, the left limit) is a boundary where the state is continuous: its
adjoint is that of the piece after it carried back, plus dL/dv(t_r) on v, and the piece after it starts
from the recorded value (and the rebuilt currents). A readout within a refractory period is the reset.

A spike at t_k (v(t_k-) = theta, dv/dt = (I - theta + I_e + I_i) / tau_m > 0) is a smooth function of
the parameters by the implicit function theorem, dt_k = -dF / (dv/dt) with F = v(t_k-) - theta: its
adjoint is lambda(t_k-) = (mu_k, lambda_e(t_k+), lambda_i(t_k+)) with mu_k = -Lambda_k / (dv/dt),
Lambda_k = dL/dt_k in total: the loss's own, the arrivals of its spike at its targets, and the start of
the free piece that follows it, at t_k (t_ref = 0) or t_k + t_ref, which later by dt starts later by dt
with v = v_r: -lambda_v(start) (I - v_r + I_e + I_i) / tau_m. dL/dtheta = -mu_k, dL/dv_r = lambda_v at
the start of each free piece after a spike.

What the backward pass needs of the run: the spike times and neurons and the external input events
(the LIF tape: 1 byte per spike, 12 per input event; the cause byte is only counted, v being continuous),
and the readouts' recorded values.
The currents at the boundaries, which the spike adjoints and the pieces' tau derivatives need, are not
stored by the forward run: a forward sweep over the recorded spikes and input events rebuilds them,
O(K) per spike (each arrival adds w exp(-(t_q - t_a) / tau_c) to the first boundary q after it; a
prefix recurrence per neuron decays and sums them). The pass holds 48 bytes per boundary (its time, the
two currents, the three adjoint components) and 16 per neuron.

Degenerate events are counted, not resolved: an arrival within rounding of a spike or refractory end of
its target (not that of its own zero-delay self-connection), a spike with dv/dt <= 0 at threshold
(grazing), and a spike the tape marks as caused by a pulse (v at threshold, within rounding, at the
pulse's instant).
"""
import numpy as np
cimport cython
from libc.math cimport exp, expm1

from ._lif_exp cimport lexp_kernel, lexp_kernel_dtau
from ._typedefs cimport idx_t, int64_t, syn_t, uint8_t

DEF TIME_ULPS = 4.0
DEF DBL_EPS = 2.220446049250313e-16

# boundary kinds: a spike, a readout (as the LIF's kinds), the end of a refractory period
DEF B_SPIKE = 0
DEF B_READOUT = 2
DEF B_REFEND = 3
# what kind of piece an arrival lands in
DEF P_FREE = 0
DEF P_REFRACTORY = 1
DEF P_NONE = 2
# doubles per boundary: time, I_e, I_i, lambda_v, lambda_e, lambda_i
DEF W = 6


cdef inline double same_instant(double t) noexcept nogil:
    return TIME_ULPS * DBL_EPS * (t if t > 1.0 else 1.0)


cdef struct Pass:
    const int64_t* indptr
    const idx_t* indices
    const double* w
    const double* d
    const double* tau_m
    const double* tau_e
    const double* tau_i
    const double* drive
    const double* reset
    const double* tref
    const double* v0
    const double* ie0
    const double* ii0
    const double* dv
    const double* le_end        # dL/dI_e(T), dL/dI_i(T) (a segment of a checkpointed pass), or NULL
    const double* li_end
    const double* bval          # per boundary: the recorded value of a readout
    int64_t m_w, m_d, m_tm, m_te, m_ti, m_drive, m_reset, m_tref
    double t0, T
    double* seg                 # W doubles per boundary, in CSR order by neuron
    int64_t* nb                 # neuron i: nb[2 i] its first boundary, nb[2 i + 1] its cursor
    const uint8_t* kind
    double* g_w
    double* g_d
    double* g_tm
    double* g_te
    double* g_ti
    double* g_drive
    double* g_v0
    double* g_ie0
    double* g_ii0
    double* g_reset
    int64_t m_gw, m_gd
    int64_t n_coinc
    int64_t n_pseudo            # spikes at record positions < n_pseudo: before t0, of neurons refractory at t0


cdef inline bint before(Pass* P, int64_t q, double ta, bint zero_delay_spike) noexcept nogil:
    """Whether boundary q precedes an arrival at ta: a spike of the same instant comes after a delayed
    arrival or an input event (an instant's arrivals are delivered before its spikes) and before a
    zero-delay arrival (sent by a spike of that instant); a readout of the same instant comes before it
    (a readout is the state before the events of its instant), and so does a refractory end (either
    order gives the same currents)."""
    cdef double tq = P.seg[W * q]
    return tq < ta or (tq == ta and (P.kind[q] != B_SPIKE or zero_delay_spike))


cdef inline int piece_end(Pass* P, idx_t i, int64_t q, double* t_end, double* L) noexcept nogil:
    """The piece that boundary q of neuron i ends (q = its last + 1: the open piece at T): its end time
    and adjoint L[0..2] there, and whether it is free, refractory, or irrelevant (refractory at T)."""
    cdef int64_t q0 = P.nb[2 * i], q1 = P.nb[2 * i + 2]
    if q < q1:
        t_end[0] = P.seg[W * q]
        L[0] = P.seg[W * q + 3]
        L[1] = P.seg[W * q + 4]
        L[2] = P.seg[W * q + 5]
        return P_REFRACTORY if P.kind[q] == B_REFEND else P_FREE
    t_end[0] = P.T
    L[0] = P.dv[i]
    L[1] = 0.0
    L[2] = 0.0
    if P.le_end != NULL:
        L[1] = P.le_end[i]
        L[2] = P.li_end[i]
    if q > q0 and P.kind[q - 1] == B_SPIKE and P.tref[i & P.m_tref] > 0.0:
        if L[1] != 0.0 or L[2] != 0.0:
            L[0] = 0.0                          # held at the reset until T: dL/dv(T) went to v_r
            return P_REFRACTORY                 # the currents' adjoints at T are carried back
        return P_NONE                           # held at the reset until T: dL/dv(T) went to v_r
    return P_FREE


@cython.cdivision(True)
cdef inline void carry_back(Pass* P, idx_t i, double s, const double* L, double* mu) noexcept nogil:
    """The adjoint at the start of a free piece of duration s of neuron i, from L at its end."""
    cdef double tm = P.tau_m[i & P.m_tm], te = P.tau_e[i & P.m_te], ti = P.tau_i[i & P.m_ti]
    cdef double Em = exp(-s / tm), Ee = exp(-s / te), Ei = exp(-s / ti)
    mu[0] = L[0] * Em
    mu[1] = L[0] * lexp_kernel(s, tm, te, Em, Ee) + L[1] * Ee
    mu[2] = L[0] * lexp_kernel(s, tm, ti, Em, Ei) + L[2] * Ei


@cython.cdivision(True)
cdef void end_piece(Pass* P, idx_t i, int64_t q, double t_end, const double* L) noexcept nogil:
    """The free piece of neuron i that boundary q ends at t_end (q past its last: the open piece at T),
    with adjoint L there: the gradients by drive and the time constants at fixed start state, and the
    start adjoint to v0 and the initial currents, or to the refractory end it starts from (a piece that
    starts at a spike without refractoriness or at a readout: that boundary takes it itself,
    `carry_back`)."""
    cdef int64_t p, q0 = P.nb[2 * i]
    cdef double tm = P.tau_m[i & P.m_tm], te = P.tau_e[i & P.m_te], ti = P.tau_i[i & P.m_ti]
    cdef double I = P.drive[i & P.m_drive], s, vs, a_s, b_s, Em, Ee, Ei, Ke, Ki, dm, dc
    cdef double mu_v, mu_e, mu_i
    if q == q0:
        s = P.t0
        vs = P.v0[i]
        a_s = P.ie0[i]
        b_s = P.ii0[i]
    else:
        p = q - 1
        s = P.seg[W * p]
        vs = P.bval[p] if P.kind[p] == B_READOUT else P.reset[i & P.m_reset]
        a_s = P.seg[W * p + 1]
        b_s = P.seg[W * p + 2]
    s = t_end - s
    Em = exp(-s / tm)
    Ee = exp(-s / te)
    Ei = exp(-s / ti)
    Ke = lexp_kernel(s, tm, te, Em, Ee)
    Ki = lexp_kernel(s, tm, ti, Em, Ei)
    P.g_drive[i] += L[0] * (-expm1(-s / tm))
    P.g_tm[i] += L[0] * (vs - I) * Em * s / (tm * tm)
    if a_s != 0.0:
        lexp_kernel_dtau(s, tm, te, Ke, &dm, &dc)
        P.g_tm[i] += L[0] * a_s * dm
        P.g_te[i] += a_s * (L[0] * dc + L[1] * Ee * s / (te * te))
    if b_s != 0.0:
        lexp_kernel_dtau(s, tm, ti, Ki, &dm, &dc)
        P.g_tm[i] += L[0] * b_s * dm
        P.g_ti[i] += b_s * (L[0] * dc + L[2] * Ei * s / (ti * ti))
    mu_v = L[0] * Em
    mu_e = L[0] * Ke + L[1] * Ee
    mu_i = L[0] * Ki + L[2] * Ei
    if q == q0:
        P.g_v0[i] += mu_v
        P.g_ie0[i] += mu_e
        P.g_ii0[i] += mu_i
    elif P.kind[q - 1] == B_REFEND:
        P.seg[W * p + 3] = mu_v
        P.seg[W * p + 4] = mu_e
        P.seg[W * p + 5] = mu_i


@cython.cdivision(True)
cdef void sweep_forward(Pass* P, idx_t row, double tj, bint is_spike) noexcept nogil:
    """The arrivals of the spike (or input event) of presynaptic id `row` at tj, into the currents of the
    first boundary of their target after them (the forward sweep; cursors move forward)."""
    cdef syn_t s
    cdef int64_t q, q1
    cdef idx_t i
    cdef double dly, ta, w, tol = same_instant(tj)
    for s in range(P.indptr[row], P.indptr[row + 1]):
        i = P.indices[s]
        dly = P.d[s & P.m_d]
        ta = tj + dly
        if ta >= P.T or ta < P.t0:
            continue                            # (before t0: in the currents at t0 already)
        q1 = P.nb[2 * i + 2]
        q = P.nb[2 * i + 1]
        while q < q1 and P.seg[W * q] < tj - tol:
            q += 1
        P.nb[2 * i + 1] = q
        while q < q1 and before(P, q, ta, is_spike and dly == 0.0):
            q += 1
        if q == q1:
            continue                            # after its last boundary: no boundary needs it
        w = P.w[s & P.m_w]
        if w >= 0.0:
            P.seg[W * q + 1] += w * exp(-(P.seg[W * q] - ta) / P.tau_e[i & P.m_te])
        else:
            P.seg[W * q + 2] += w * exp(-(P.seg[W * q] - ta) / P.tau_i[i & P.m_ti])


@cython.cdivision(True)
cdef double send_back(Pass* P, idx_t row, double tj, bint is_spike) noexcept nogil:
    """The gradients of the synapses of presynaptic id `row` for its spike (or input event) at tj, and
    dL/dtj through its arrivals (cursors move backward)."""
    cdef syn_t s
    cdef int64_t q, q0, q1
    cdef idx_t i
    cdef int kind
    cdef double lj = 0.0, dly, ta, tol, w, tm, tc, Lc, dt, Em, Ec, K, dm, dc, mu_c, c, t_end
    cdef double L[3]
    cdef bint exc, zd
    for s in range(P.indptr[row], P.indptr[row + 1]):
        i = P.indices[s]
        dly = P.d[s & P.m_d]
        ta = tj + dly
        if ta >= P.T or ta < P.t0:
            continue
        zd = is_spike and dly == 0.0
        tol = same_instant(ta)
        q0 = P.nb[2 * i]
        q1 = P.nb[2 * i + 2]
        q = P.nb[2 * i + 1]
        while q > q0 and P.seg[W * (q - 1)] >= tj - tol:
            q -= 1
        P.nb[2 * i + 1] = q
        while q < q1 and before(P, q, ta, zd):
            q += 1
        if (q < q1 and P.seg[W * q] <= ta + tol) or (
                q > q0 and P.seg[W * (q - 1)] >= ta - tol and not (zd and i == row and P.seg[W * (q - 1)] == tj)):
            P.n_coinc += 1                      # at a spike or refractory end of its target
        kind = piece_end(P, i, q, &t_end, L)
        if kind == P_NONE:
            continue
        w = P.w[s & P.m_w]
        exc = w >= 0.0
        tc = P.tau_e[i & P.m_te] if exc else P.tau_i[i & P.m_ti]
        Lc = L[1] if exc else L[2]
        dt = t_end - ta
        Ec = exp(-dt / tc)
        if kind == P_REFRACTORY:
            mu_c = Lc * Ec
            c = w * mu_c / tc
            dc = w * mu_c * dt / (tc * tc)
        else:
            tm = P.tau_m[i & P.m_tm]
            Em = exp(-dt / tm)
            K = lexp_kernel(dt, tm, tc, Em, Ec)
            mu_c = L[0] * K + Lc * Ec
            c = -w * (L[0] * Em / tm - mu_c / tc)
            if L[0] != 0.0:
                lexp_kernel_dtau(dt, tm, tc, K, &dm, &dc)
                P.g_tm[i] += w * L[0] * dm
                dc = w * (L[0] * dc + Lc * Ec * dt / (tc * tc))
            else:
                dc = w * Lc * Ec * dt / (tc * tc)
        if exc:
            P.g_te[i] += dc
        else:
            P.g_ti[i] += dc
        P.g_w[s & P.m_gw] += mu_c
        P.g_d[s & P.m_gd] += c
        lj += c
    return lj


cdef void readout_back(Pass* P, idx_t i, int64_t q, double tr, double nu) noexcept nogil:
    """The readout of neuron i at tr, boundary q, with dL/dv(tr) = nu: its adjoint (that of the piece
    after it, carried back, plus nu on v) and the piece it ends. Counted as coincident within rounding of
    a spike of its neuron (where it is the threshold, before the reset) or of the end of a refractory
    period (or of a spike without one)."""
    cdef int64_t q0 = P.nb[2 * i], q1 = P.nb[2 * i + 2]
    cdef double t_end, tol = same_instant(tr)
    cdef double L[3]
    cdef double mu[3]
    if (q + 1 < q1 and P.kind[q + 1] == B_SPIKE and P.seg[W * (q + 1)] <= tr + tol) or (
            q > q0 and P.kind[q - 1] != B_READOUT and P.seg[W * (q - 1)] >= tr - tol):
        P.n_coinc += 1
    piece_end(P, i, q + 1, &t_end, L)           # free: a readout is followed by a spike, a readout or T
    carry_back(P, i, t_end - tr, L, mu)
    mu[0] += nu
    P.seg[W * q + 3] = mu[0]
    P.seg[W * q + 4] = mu[1]
    P.seg[W * q + 5] = mu[2]
    end_piece(P, i, q, tr, mu)


@cython.cdivision(True)
cdef void pseudo_back(Pass* P, idx_t j, int64_t p, double tj, double lj, double* lam) noexcept nogil:
    """The pseudo-spike of neuron j at tj < t0 (CSR position p): its refractory piece from t0 (currents
    ie0, ii0) to its end (boundary p + 1) or T; the currents' adjoints to g_ie0, g_ii0 and the spike's
    dL/dt in this segment (its arrivals, `lj`, and its refractory end) to lam."""
    cdef int64_t q1 = P.nb[2 * j + 2]
    cdef double tm = P.tau_m[j & P.m_tm], te = P.tau_e[j & P.m_te], ti = P.tau_i[j & P.m_ti]
    cdef double I = P.drive[j & P.m_drive], vr = P.reset[j & P.m_reset], t_end, s, Ee, Ei
    cdef double L[3]
    if p + 1 < q1:                              # its refractory end before T
        t_end = P.seg[W * (p + 1)]
        L[0] = P.seg[W * (p + 1) + 3]
        L[1] = P.seg[W * (p + 1) + 4]
        L[2] = P.seg[W * (p + 1) + 5]
        P.g_reset[j] += L[0]
        lj -= L[0] * (I - vr + P.seg[W * (p + 1) + 1] + P.seg[W * (p + 1) + 2]) / tm
    elif P.le_end != NULL:                      # refractory until T
        t_end = P.T
        L[1] = P.le_end[j]
        L[2] = P.li_end[j]
    else:
        lam[0] = lj
        return
    s = t_end - P.t0
    Ee = exp(-s / te)
    Ei = exp(-s / ti)
    P.g_te[j] += L[1] * P.ie0[j] * Ee * s / (te * te)
    P.g_ti[j] += L[2] * P.ii0[j] * Ei * s / (ti * ti)
    P.g_ie0[j] += L[1] * Ee
    P.g_ii0[j] += L[2] * Ei
    lam[0] = lj


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def lif_exp_backward(
    const double[::1] times, const idx_t[::1] neuron, const uint8_t[::1] kicked,
    const int64_t[::1] bd_ptr, const uint8_t[::1] kind, const double[::1] bd_time, const double[::1] bd_val,
    const int64_t[::1] pos,
    const double[::1] in_times, const idx_t[::1] in_src, const int64_t[::1] in_after,
    const double[::1] ro_times, const idx_t[::1] ro_neuron, const int64_t[::1] ro_pos,
    const int64_t[::1] ro_sp_after, const int64_t[::1] ro_in_after, const double[::1] dL_dro,
    const int64_t[::1] indptr, const idx_t[::1] indices, const double[::1] w, int64_t m_w,
    const double[::1] d, int64_t m_d,
    const double[::1] tau_m, int64_t m_tm, const double[::1] tau_e, int64_t m_te,
    const double[::1] tau_i, int64_t m_ti, const double[::1] drive, int64_t m_drive,
    const double[::1] thr, int64_t m_thr, const double[::1] reset, int64_t m_reset,
    const double[::1] tref, int64_t m_tref,
    const double[::1] v0, const double[::1] ie0, const double[::1] ii0,
    double t0, double T, const double[::1] dL_dt, const double[::1] dL_dv,
    double[::1] g_w, int64_t m_gw, double[::1] g_d, int64_t m_gd,
    double[::1] g_tm, double[::1] g_te, double[::1] g_ti, double[::1] g_drive,
    double[::1] g_v0, double[::1] g_ie0, double[::1] g_ii0, double[::1] g_thr, double[::1] g_reset,
    double[::1] g_in, int64_t[::1] counts, int64_t n_pseudo=0, const double[::1] dL_die=None,
    const double[::1] dL_dii=None, double[::1] lam_out=None,
):
    """Accumulate the gradients of a loss with derivatives `dL_dt` by the recorded spike times, `dL_dv`
    by the final states v(T) and `dL_dro` by the readouts: dL/dw, dL/dd per synapse of the combined connectivity (`g_w`, `g_d`; one
    accumulator with mask 0), and per neuron dL/dtau_m, dL/dtau_e, dL/dtau_i, dL/dI, dL/dv0, dL/dI_e(0),
    dL/dI_i(0), dL/dtheta, dL/dv_r; dL/dt of each input event (`g_in`).

    The spikes (`times`, `neuron`, `kicked`: the tape's cause bits) are in the order of the run, which
    began at t0 with every neuron free of refractoriness and nothing in flight, and ended at T. Each
    neuron's boundaries in time order (its spikes; for t_ref > 0, the ends of its refractory periods
    before T, each right after its spike; its readouts outside refractory periods, after a refractory end
    and before a spike of their instant) are CSR rows `bd_ptr` over `kind` (B_SPIKE, B_READOUT,
    B_REFEND), `bd_time` and `bd_val` (a readout's recorded value); `pos`: each spike's CSR position.
    The input events (`in_times`, `in_src`: presynaptic ids >= n) are in the order of the run,
    `in_after[e]` the number of spikes recorded before event e. The readouts: rows at `ro_times` of the
    neurons `ro_neuron`, flat (row, column) index f: `ro_pos[f]` the CSR position (-1 within a refractory
    period: the caller adds those to dL/dv_r); `ro_sp_after`, `ro_in_after`: the spikes and input events
    recorded before each row.
    Parameter arrays have length n with mask m = -1, or 1 with mask 0. `counts` receives [spikes marked
    as caused by a pulse, coincident events, grazing spikes].

    A segment of a checkpointed pass (`brian2_sparseprop.spiking.checkpoint`) is a run from t0 > 0 with
    `v0`, `ie0`, `ii0` the states at t0 and `dL_die`, `dL_dii` the adjoints of the currents at T beside
    `dL_dv` (those of a neuron refractory at T are carried back through its refractory piece). Its first
    `n_pseudo` spikes are the last spikes before t0 of the neurons refractory at t0: such a neuron's first
    piece is refractory, from t0 with the currents `ie0`, `ii0` to the end of the period; the spike's own
    piece, threshold and arrivals before t0 belong to the earlier segment, and its dL/dt here is that of
    the refractory end and of its arrivals at t >= t0. Arrivals before t0 (of input events in flight at
    t0, the spikes before t0 given as input events) are in the currents at t0 and skipped. `lam_out`
    (length n_sp), if given, receives each pseudo-spike's dL/dt (the others' are not written).
    """
    cdef int64_t n_sp = times.shape[0], n = g_drive.shape[0], n_in = in_times.shape[0], n_b = bd_time.shape[0]
    cdef int64_t n_rows = ro_times.shape[0], n_cols = ro_neuron.shape[0], e_ro, col
    bval_a = np.append(np.asarray(bd_val, dtype=np.float64), 0.0)
    cdef double[::1] bval = bval_a
    seg_a = np.zeros(W * n_b + W)
    nb_a = np.empty(2 * n + 4, dtype=np.int64)
    kind_a = np.append(np.asarray(kind), np.uint8(0))
    cdef double[::1] seg = seg_a
    cdef int64_t[::1] nb = nb_a
    cdef uint8_t[::1] ks = kind_a
    cdef Pass P
    cdef int64_t r, e, q, q0, q1, p, n_kicked = 0, n_graze = 0
    cdef idx_t i, j
    cdef double tj, lj, tm, te, ti, I, vr, ref, ak, bk, a, b, t_prev, vdot, mk, t_end, Ee, Ei, s_r
    cdef const double* le_end = NULL
    cdef const double* li_end = NULL
    if dL_die is not None:
        le_end = &dL_die[0]
        li_end = &dL_dii[0]
    lam_a = np.zeros(n_sp + 1)
    cdef double[::1] lam = lam_a
    cdef double L[3]
    cdef double mu[3]
    P.indptr = &indptr[0]
    P.indices = &indices[0]
    P.w, P.m_w = &w[0], m_w
    P.d, P.m_d = &d[0], m_d
    P.tau_m, P.m_tm = &tau_m[0], m_tm
    P.tau_e, P.m_te = &tau_e[0], m_te
    P.tau_i, P.m_ti = &tau_i[0], m_ti
    P.drive, P.m_drive = &drive[0], m_drive
    P.reset, P.m_reset = &reset[0], m_reset
    P.tref, P.m_tref = &tref[0], m_tref
    P.v0, P.ie0, P.ii0, P.dv = &v0[0], &ie0[0], &ii0[0], &dL_dv[0]
    P.bval = &bval[0]
    P.t0, P.T = t0, T
    P.seg = &seg[0]
    P.nb = &nb[0]
    P.kind = &ks[0]
    P.g_w, P.m_gw = &g_w[0], m_gw
    P.g_d, P.m_gd = &g_d[0], m_gd
    P.g_tm, P.g_te, P.g_ti, P.g_drive = &g_tm[0], &g_te[0], &g_ti[0], &g_drive[0]
    P.g_v0, P.g_ie0, P.g_ii0, P.g_reset = &g_v0[0], &g_ie0[0], &g_ii0[0], &g_reset[0]
    P.n_coinc = 0
    P.le_end, P.li_end = le_end, li_end
    P.n_pseudo = n_pseudo
    with nogil:
        for q in range(n_b):
            seg[W * q] = bd_time[q]
        for i in range(n + 1):
            nb[2 * i] = bd_ptr[i]
            nb[2 * i + 1] = bd_ptr[i]           # the forward cursor: first boundary at or after now
        # the forward sweep: the arrivals' parts of the currents at the boundaries, then per neuron
        # the currents themselves (decayed from the previous boundary, plus its arrivals' parts)
        r = 0
        e = 0
        while r < n_sp or e < n_in:
            if e < n_in and in_after[e] <= r:
                sweep_forward(&P, in_src[e], in_times[e], False)
                e += 1
            else:
                sweep_forward(&P, neuron[r], times[r], True)
                r += 1
        for i in range(n):
            a = ie0[i]
            b = ii0[i]
            t_prev = t0
            te = tau_e[i & m_te]
            ti = tau_i[i & m_ti]
            for q in range(bd_ptr[i], bd_ptr[i + 1]):
                if seg[W * q] < t0:             # a pseudo-spike: the refractory piece starts at t0
                    seg[W * q + 1] = a
                    seg[W * q + 2] = b
                    continue
                a = a * exp(-(seg[W * q] - t_prev) / te) + seg[W * q + 1]
                b = b * exp(-(seg[W * q] - t_prev) / ti) + seg[W * q + 2]
                seg[W * q + 1] = a
                seg[W * q + 2] = b
                t_prev = seg[W * q]
        # the backward sweep: the open pieces at T (a neuron refractory at T is held at its reset)
        for i in range(n):
            q0 = bd_ptr[i]
            q1 = bd_ptr[i + 1]
            nb[2 * i + 1] = q1                  # the backward cursor
            if q1 > q0 and ks[q1 - 1] == B_SPIKE and tref[i & m_tref] > 0.0:
                g_reset[i] += dL_dv[i]          # held at the reset until T (its spike takes the currents')
            elif piece_end(&P, i, q1, &t_end, L) == P_FREE and (L[0] != 0.0 or L[1] != 0.0 or L[2] != 0.0):
                end_piece(&P, i, q1, T, L)
        r = n_sp - 1
        e = n_in - 1
        e_ro = n_rows - 1
        while r >= 0 or e >= 0 or e_ro >= 0:
            if e_ro >= 0 and ro_sp_after[e_ro] > r and ro_in_after[e_ro] > e:
                # a row of readouts: every event at or after its time is done
                for col in range(n_cols):
                    q = ro_pos[e_ro * n_cols + col]
                    if q >= 0:
                        readout_back(&P, ro_neuron[col], q, ro_times[e_ro], dL_dro[e_ro * n_cols + col])
                e_ro -= 1
                continue
            if e >= 0 and in_after[e] > r:
                g_in[e] = send_back(&P, in_src[e], in_times[e], False)
                e -= 1
                continue
            j = neuron[r]
            tj = times[r]
            p = pos[r]
            q1 = bd_ptr[j + 1]
            lj = dL_dt[r] + send_back(&P, j, tj, True)
            if r < n_pseudo:
                pseudo_back(&P, j, p, tj, lj, &lam[r])
                r -= 1
                continue
            tm = tau_m[j & m_tm]
            te = tau_e[j & m_te]
            ti = tau_i[j & m_ti]
            I = drive[j & m_drive]
            vr = reset[j & m_reset]
            ref = tref[j & m_tref]
            ak = seg[W * p + 1]
            bk = seg[W * p + 2]
            if kicked[r]:
                n_kicked += 1
            # the free piece after the spike starts later by dt if the spike is later by dt
            if ref > 0.0:
                if p + 1 < q1:                  # its refractory end (before T): adjoint (lambda_v, e, i)
                    g_reset[j] += seg[W * (p + 1) + 3]
                    lj -= seg[W * (p + 1) + 3] * (I - vr + seg[W * (p + 1) + 1] + seg[W * (p + 1) + 2]) / tm
                    Ee = exp(-ref / te)
                    Ei = exp(-ref / ti)
                    mu[1] = seg[W * (p + 1) + 4] * Ee
                    mu[2] = seg[W * (p + 1) + 5] * Ei
                    g_te[j] += seg[W * (p + 1) + 4] * ak * Ee * ref / (te * te)
                    g_ti[j] += seg[W * (p + 1) + 5] * bk * Ei * ref / (ti * ti)
                elif le_end != NULL:            # refractory at T: the currents' adjoints at T
                    Ee = exp(-(T - tj) / te)
                    Ei = exp(-(T - tj) / ti)
                    mu[1] = le_end[j] * Ee
                    mu[2] = li_end[j] * Ei
                    g_te[j] += le_end[j] * ak * Ee * (T - tj) / (te * te)
                    g_ti[j] += li_end[j] * bk * Ei * (T - tj) / (ti * ti)
                else:
                    mu[1] = 0.0
                    mu[2] = 0.0
            else:
                piece_end(&P, j, p + 1, &t_end, L)
                carry_back(&P, j, t_end - tj, L, mu)
                g_reset[j] += mu[0]
                lj -= mu[0] * (I - vr + ak + bk) / tm
            # the piece that this spike ends
            vdot = (I - thr[j & m_thr] + ak + bk) / tm
            if not vdot > 0.0:
                n_graze += 1
            mk = -lj / vdot if vdot != 0.0 else 0.0
            seg[W * p + 3] = mk
            seg[W * p + 4] = mu[1]
            seg[W * p + 5] = mu[2]
            g_thr[j] -= mk
            L[0] = mk
            L[1] = mu[1]
            L[2] = mu[2]
            end_piece(&P, j, p, tj, L)
            r -= 1
    counts[0] += n_kicked
    counts[1] += P.n_coinc
    counts[2] += n_graze
    if lam_out is not None:
        np.asarray(lam_out)[:n_pseudo] = lam_a[:n_pseudo]
