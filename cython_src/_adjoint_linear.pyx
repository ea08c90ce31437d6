"""The backward (adjoint) pass of a network of linear neurons ('linear': dx/dt = A x + b, a threshold
c . x >= theta, a reset of v and affine maps of the other components, pulses added to one component).

The state is augmented, y = (1, x), dy/dt = M y with M = [[0, 0], [b, A]] (`_linear.pxd`); a piece of
free evolution of duration s maps y to Phi(s) y, Phi(s) = exp(s M), and a refractory piece (v held, the
others integrating) uses Mc, M with the row of v zero. The adjoint lambda = dL/dy is carried backward
by the transposed propagator, lambda(start) = Phi(s)^T lambda(end). Over a piece from y_s with end
adjoint lambda_e, dL/dM = int_0^s lambda(u) y(u)^T du, the transpose of the Van Loan integral
int_0^s Phi(s - u) (y_s lambda_e^T) Phi(u) du (`lin_frechet`); a pulse w e_c arriving at t_a inside
the piece adds the same integral from y = w e_c over (t_a, t_end) (the state is linear in it).

Events (with their Jacobians J and the vector fields F_b before, F_a after):
- a pulse w into component c at t_a: J = I, so lambda is continuous; dL/dw = lambda_c(t_a), and
  dL/dt_a = lambda^T (F_b - F_a) = -w (lambda^T M_p)_c (M_p the piece's matrix, M or Mc);
- a spike at t_k reached on its own (c . y(t_k-) = theta, cdot = c . M y(t_k-) > 0): the reset J
  (v := v_r, y_k := ra_k y_k + rr_k) gives lambda(t_k-) = dJ^T lambda(t_k+) + mu c, mu = -Lambda_k /
  cdot, with Lambda_k = dL/dt_k in total: the loss's own, the arrivals of its spike at its targets, and
  the saltation lambda(t_k+)^T (dJ M y(t_k-) - M_a y(t_k+)) (the jump of the vector field across the
  reset); dL/dtheta = -mu; dL/dv_r = lambda_v(t_k+), dL/drr_k = lambda_k(t_k+), dL/dra_k =
  lambda_k(t_k+) y_k(t_k-);
- a spike caused by a pulse into a component of the threshold (the tape's cause bit): its time is the
  arrival's, so it has no mu term; Lambda_k goes to that arrival (the delay and the presynaptic spike);
- the end of a refractory period at t_k + t_ref: y is continuous, the flow changes from Mc to M, so
  dL/dt_k gets lambda^T (Mc - M) y = -lambda_v (M y)_v there;
- a readout of v at t_r: lambda(t_r-) = lambda(t_r+) + dL/dv(t_r) e_v.

What the backward pass needs of the run: the spike times, neurons and cause bits, the input events and
the readouts' times; the states at the boundaries (each neuron's spikes, refractory ends and readouts)
are rebuilt by a forward sweep, O(K) per spike: each arrival adds w Phi(t_q - t_a) e_c to the state at
the first boundary q of its target after it, and a pass per neuron propagates the boundaries' states.
The pass holds 17 doubles per boundary (its time, the state before it, the adjoints before and after it,
a spike's total dL/dt) and 25 per neuron for dL/dM.

Degenerate events are counted as in 'lif_exp': arrivals within rounding of a spike or a refractory end of
their target, spikes with cdot <= 0 (grazing), spikes marked as caused by a pulse into a component that
is not in the threshold (at threshold within rounding at the pulse's instant), spikes at the end of a
refractory period (at threshold when it ended: their time is set by the previous spike, not by a
crossing), and pulse-triggered spikes whose pulse was not found (`counts[3]`).
"""
import numpy as np
cimport cython
from libc.math cimport fabs, frexp, ldexp

from ._linear cimport LinSys, lin_expm
from ._typedefs cimport idx_t, int64_t, syn_t, uint8_t

DEF TIME_ULPS = 4.0
DEF DBL_EPS = 2.220446049250313e-16

DEF B_SPIKE = 0
DEF B_READOUT = 2
DEF B_REFEND = 3
# doubles per boundary: time, y(t-) (5), lambda(t-) (5), lambda(t+) (5), Lambda (a spike's dL/dt)
DEF W = 17
DEF OY = 1
DEF OLM = 6
DEF OLP = 11
DEF OLT = 16


cdef inline double same_instant(double t) noexcept nogil:
    return TIME_ULPS * DBL_EPS * (t if t > 1.0 else 1.0)


cdef void lin_frechet(const double (*M)[5], int D, double s, const double (*C)[5], double (*F)[5]) noexcept nogil:
    """F = int_0^s exp((s - u) M) C exp(u M) du for a lower-triangular D x D matrix M, s >= 0 and any C: the
    upper-right block of exp(s [[M, C], [0, M]]) (Van Loan), by the Taylor series of the block matrix at
    h = s / 2**K (|h M| <= 1) and K doublings (E, F) -> (E E, E F + F E)."""
    cdef double T[5][5]
    cdef double Ch[5][5]
    cdef double P[5][5]
    cdef double Q[5][5]
    cdef double P2[5][5]
    cdef double Q2[5][5]
    cdef double E[5][5]
    cdef double nrm = 0.0, row, h, bigp, bigq, bigf, acc
    cdef int i, j, k, n, K = 0, e
    for i in range(D):
        row = 0.0
        for j in range(i + 1):
            row += fabs(M[i][j])
        if row > nrm:
            nrm = row
    nrm *= s
    if nrm > 0.5:
        frexp(nrm, &e)
        K = e + 1
    h = ldexp(s, -K)
    for i in range(D):
        for j in range(D):
            T[i][j] = h * M[i][j] if j <= i else 0.0
            Ch[i][j] = h * C[i][j]
            P[i][j] = 1.0 if i == j else 0.0
            Q[i][j] = 0.0
            E[i][j] = P[i][j]
            F[i][j] = 0.0
    for n in range(1, 40):
        bigp = 0.0
        bigq = 0.0
        bigf = 0.0
        for i in range(D):
            for j in range(D):
                acc = 0.0
                for k in range(D):
                    acc += P[i][k] * Ch[k][j] + Q[i][k] * T[k][j]
                Q2[i][j] = acc / n
                acc = 0.0
                for k in range(D):
                    acc += P[i][k] * T[k][j]
                P2[i][j] = acc / n
        for i in range(D):
            for j in range(D):
                P[i][j] = P2[i][j]
                Q[i][j] = Q2[i][j]
                E[i][j] += P[i][j]
                F[i][j] += Q[i][j]
                bigp = fabs(P[i][j]) if fabs(P[i][j]) > bigp else bigp
                bigq = fabs(Q[i][j]) if fabs(Q[i][j]) > bigq else bigq
                bigf = fabs(F[i][j]) if fabs(F[i][j]) > bigf else bigf
        if bigp < 1e-18 and bigq <= 1e-18 * bigf:
            break
    for n in range(K):
        for i in range(D):
            for j in range(D):
                acc = 0.0
                for k in range(D):
                    acc += E[i][k] * F[k][j] + F[i][k] * E[k][j]
                Q2[i][j] = acc
                acc = 0.0
                for k in range(D):
                    acc += E[i][k] * E[k][j]
                P2[i][j] = acc
        for i in range(D):
            for j in range(D):
                F[i][j] = Q2[i][j]
                E[i][j] = P2[i][j]


cdef struct Pass:
    const int64_t* indptr
    const idx_t* indices
    const double* w
    const double* d
    const LinSys* sys
    const int* cls
    const double* thr
    const double* reset
    const double* tref
    const double* x0           # n x 5: the augmented initial states
    const double* dy           # n x 5: dL/dy(T)
    int64_t m_w, m_d, m_thr, m_reset, m_tref
    double t0, T
    double* seg                # W doubles per boundary, in CSR order by neuron
    int64_t* nb                # neuron i: nb[2 i] its first boundary, nb[2 i + 1] its cursor
    const uint8_t* kind
    const uint8_t* trig        # per boundary: a spike caused by a pulse into a threshold component
    const int64_t* order       # per boundary: a spike's record position
    uint8_t* claimed
    double* g_w
    double* g_d
    double* g_M                # n x 25 (or 25, mask 0)
    double* g_x0               # n x 5
    double* g_reset
    double* g_ra               # 5: dL/d(reset scale), dL/d(reset offset) of the other components
    double* g_rr
    int64_t m_gw, m_gd, m_gM
    int64_t n_coinc
    int64_t n_unclaimed


cdef inline const LinSys* system(Pass* P, idx_t i) noexcept nogil:
    return &P.sys[P.cls[i]]


cdef inline bint clamped_after(Pass* P, idx_t i, int64_t q) noexcept nogil:
    """Whether the piece that starts at boundary q of neuron i (q < its first: at t0) is refractory."""
    return q >= P.nb[2 * i] and P.kind[q] == B_SPIKE and P.tref[i & P.m_tref] > 0.0


cdef inline bint before(Pass* P, int64_t q, double ta, bint zero_delay_spike, int64_t after) noexcept nogil:
    """Whether boundary q precedes an arrival at ta: a spike of the same instant comes after a delayed
    arrival or an input event and before a zero-delay arrival (sent by a spike of that instant, recorded
    before the spikes at positions >= `after`), unless it was caused by a pulse and recorded after the
    sender (then that arrival can be its cause); a readout or a refractory end of the same instant before it."""
    cdef double tq = P.seg[W * q]
    return tq < ta or (tq == ta and (P.kind[q] != B_SPIKE or (
        zero_delay_spike and not (P.trig[q] and P.order[q] >= after))))


cdef inline bint dropped(Pass* P, idx_t i, int64_t q, double ta, int comp) noexcept nogil:
    """Whether a pulse into component comp of neuron i at ta, in the piece that boundary q ends, is dropped:
    a pulse into v while v is held (refractory) or absorbed by the reset of a spike of that instant."""
    cdef const LinSys* L = system(P, i)
    if comp != L.vi or q == P.nb[2 * i]:
        return False
    return clamped_after(P, i, q - 1) or (P.kind[q - 1] == B_SPIKE and P.seg[W * (q - 1)] == ta)


cdef inline void matrix(const LinSys* L, bint clamped, double (*Mp)[5]) noexcept nogil:
    cdef int i, j
    for i in range(L.D):
        for j in range(L.D):
            Mp[i][j] = L.Mc[i][j] if clamped else L.M[i][j]


cdef inline bint from_start(Pass* P, idx_t i, int64_t q) noexcept nogil:
    """Whether the piece that boundary q of neuron i ends starts at t0 from x0: its first piece, or the
    refractory piece after a pseudo-spike (its first boundary before t0, in a segment of a checkpointed pass)."""
    cdef int64_t q0 = P.nb[2 * i]
    return q == q0 or (q == q0 + 1 and P.seg[W * q0] < P.t0)


cdef inline void start_state(Pass* P, idx_t i, int64_t q, double* y) noexcept nogil:
    """The state at the start of the piece that boundary q of neuron i ends (after boundary q - 1)."""
    cdef const LinSys* L = system(P, i)
    cdef int k
    if from_start(P, i, q):
        for k in range(L.D):
            y[k] = P.x0[5 * i + k]
        return
    for k in range(L.D):
        y[k] = P.seg[W * (q - 1) + OY + k]
    if P.kind[q - 1] == B_SPIKE:
        for k in range(1, L.D):
            y[k] = P.reset[i & P.m_reset] if k == L.vi else L.ra[k] * y[k] + L.rr[k]


cdef inline void piece_gradient(Pass* P, idx_t i, const double (*Mp)[5], int D, double s, const double* y,
                                const double* lam, bint clamped, int vi) noexcept nogil:
    """dL/dM += int_0^s lambda(u) y(u)^T du over a piece of duration s from y with end adjoint lam (the row of
    v excluded in a refractory piece, where Mc has none)."""
    cdef double C[5][5]
    cdef double F[5][5]
    cdef double* g = P.g_M + 25 * (i & P.m_gM)
    cdef int a, b
    if s <= 0.0:
        return
    for a in range(D):
        for b in range(D):
            C[a][b] = y[a] * lam[b]
    lin_frechet(Mp, D, s, C, F)
    for a in range(1, D):
        if clamped and a == vi:
            continue
        for b in range(a + 1):
            g[5 * a + b] += F[b][a]


cdef void end_piece(Pass* P, idx_t i, int64_t q) noexcept nogil:
    """The piece of neuron i that boundary q ends (q past its last: the open piece at T): its dL/dM at fixed
    start state, and its start adjoint to dL/dx0 (a piece from t0) or to lambda(t+) of the boundary it starts at."""
    cdef const LinSys* L = system(P, i)
    cdef int64_t q1 = P.nb[2 * i + 2]
    cdef double Mp[5][5]
    cdef double E[5][5]
    cdef double y[5]
    cdef double lam[5]
    cdef double ls[5]
    cdef double t_end, t_start, acc
    cdef int D = L.D, a, b
    cdef bint cl = clamped_after(P, i, q - 1), first
    if q < q1:
        t_end = P.seg[W * q]
        for a in range(D):
            lam[a] = P.seg[W * q + OLM + a]
    else:
        t_end = P.T
        for a in range(D):
            lam[a] = P.dy[5 * i + a]
    first = from_start(P, i, q)
    t_start = P.t0 if first else P.seg[W * (q - 1)]
    start_state(P, i, q, y)
    matrix(L, cl, Mp)
    lin_expm(Mp, D, t_end - t_start, E)
    for b in range(D):
        acc = 0.0
        for a in range(b, D):
            acc += E[a][b] * lam[a]
        ls[b] = acc
    piece_gradient(P, i, Mp, D, t_end - t_start, y, lam, cl, L.vi)
    if first:
        for a in range(1, D):
            P.g_x0[5 * i + a] += ls[a]
    else:
        for a in range(D):
            P.seg[W * (q - 1) + OLP + a] = ls[a]
            if P.kind[q - 1] == B_REFEND:      # continuous there: the adjoint of the refractory piece's end
                P.seg[W * (q - 1) + OLM + a] = ls[a]


cdef void sweep_forward(Pass* P, idx_t row, double tj, bint is_spike, int64_t after) noexcept nogil:
    """The arrivals of the spike (or input event) of presynaptic id `row` at tj, added (propagated to the
    boundary) to the state of the first boundary of their target after them."""
    cdef syn_t s
    cdef int64_t q, q1
    cdef idx_t i
    cdef const LinSys* L
    cdef double Mp[5][5]
    cdef double E[5][5]
    cdef double dly, ta, w, tol = same_instant(tj)
    cdef int c, a
    for s in range(P.indptr[row], P.indptr[row + 1]):
        i = P.indices[s]
        dly = P.d[s & P.m_d]
        ta = tj + dly
        if ta >= P.T or ta < P.t0:
            continue                            # (before t0: in the states at t0 already)
        q1 = P.nb[2 * i + 2]
        q = P.nb[2 * i + 1]
        while q < q1 and P.seg[W * q] < tj - tol:
            q += 1
        P.nb[2 * i + 1] = q
        while q < q1 and before(P, q, ta, is_spike and dly == 0.0, after):
            q += 1
        if q == q1:
            continue
        w = P.w[s & P.m_w]
        L = system(P, i)
        c = L.neg if w < 0.0 else L.pos
        if dropped(P, i, q, ta, c):
            continue
        matrix(L, clamped_after(P, i, q - 1), Mp)
        lin_expm(Mp, L.D, P.seg[W * q] - ta, E)
        for a in range(c, L.D):
            P.seg[W * q + OY + a] += w * E[a][c]


cdef double send_back(Pass* P, idx_t row, double tj, bint is_spike, bint src_trig, int64_t after) noexcept nogil:
    """The gradients of the synapses of presynaptic id `row` for its spike (or input event) at tj, recorded
    before the spikes at positions >= `after`, and dL/dtj through its arrivals (`src_trig`: the spike was
    caused by a pulse). A pulse-triggered spike of the target at the arrival's instant, recorded after the
    sender, takes the arrival as its cause (the first one met, going back: the others are counted)."""
    cdef syn_t s
    cdef int64_t q, q0, q1
    cdef idx_t i
    cdef const LinSys* L
    cdef double Mp[5][5]
    cdef double E[5][5]
    cdef double lam[5]
    cdef double la[5]
    cdef double yk[5]
    cdef double lj = 0.0, dly, ta, tol, w, t_end, acc, dta
    cdef int c, a, b, D
    cdef bint zd, cl
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
        while q < q1 and before(P, q, ta, zd, after):
            q += 1
        w = P.w[s & P.m_w]
        L = system(P, i)
        D = L.D
        c = L.neg if w < 0.0 else L.pos
        dta = 0.0
        if q < q1 and P.trig[q] and not P.claimed[q] and P.seg[W * q] <= ta + tol and P.order[q] >= after:
            dta = P.seg[W * q + OLT]            # the pulse-triggered spike's time is this arrival's
            P.claimed[q] = 1
        elif (q < q1 and P.seg[W * q] <= ta + tol) or (
                q > q0 and P.seg[W * (q - 1)] >= ta - tol and not (zd and i == row and P.seg[W * (q - 1)] == tj)
                and not (zd and (P.trig[q - 1] or src_trig))):
            P.n_coinc += 1                      # at a spike, refractory end or readout of its target
        if dropped(P, i, q, ta, c):
            lj += dta
            P.g_d[s & P.m_gd] += dta
            continue
        if q < q1:
            t_end = P.seg[W * q]
            for a in range(D):
                lam[a] = P.seg[W * q + OLM + a]
        else:
            t_end = P.T
            for a in range(D):
                lam[a] = P.dy[5 * i + a]
        cl = clamped_after(P, i, q - 1)
        matrix(L, cl, Mp)
        lin_expm(Mp, D, t_end - ta, E)
        for b in range(D):
            acc = 0.0
            for a in range(b, D):
                acc += E[a][b] * lam[a]
            la[b] = acc
        acc = 0.0
        for a in range(c, D):
            acc += la[a] * Mp[a][c]
        dta -= w * acc
        P.g_w[s & P.m_gw] += la[c]
        P.g_d[s & P.m_gd] += dta
        lj += dta
        for a in range(D):
            yk[a] = 0.0
        yk[c] = w
        piece_gradient(P, i, Mp, D, t_end - ta, yk, lam, cl, L.vi)
    return lj


cdef void readout_back(Pass* P, idx_t i, int64_t q, double tr, double nu) noexcept nogil:
    """The readout of v of neuron i at tr, boundary q, with dL/dv(tr) = nu: lambda(tr-) = lambda(tr+) +
    nu e_v, and the piece it ends. Counted as coincident within rounding of a spike of its neuron or of the
    end of a refractory period (or of a spike without one)."""
    cdef const LinSys* L = system(P, i)
    cdef int64_t q0 = P.nb[2 * i], q1 = P.nb[2 * i + 2]
    cdef double tol = same_instant(tr)
    cdef int a
    if (q + 1 < q1 and P.kind[q + 1] == B_SPIKE and P.seg[W * (q + 1)] <= tr + tol) or (
            q > q0 and P.kind[q - 1] != B_READOUT and P.seg[W * (q - 1)] >= tr - tol):
        P.n_coinc += 1
    for a in range(L.D):
        P.seg[W * q + OLM + a] = P.seg[W * q + OLP + a]
    P.seg[W * q + OLM + L.vi] += nu
    end_piece(P, i, q)


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def linear_backward(
    const double[::1] times, const idx_t[::1] neuron, const uint8_t[::1] kicked,
    const int64_t[::1] bd_ptr, const uint8_t[::1] kind, const double[::1] bd_time, const int64_t[::1] pos,
    const int64_t[::1] bd_order,
    const double[::1] in_times, const idx_t[::1] in_src, const int64_t[::1] in_after,
    const double[::1] ro_times, const idx_t[::1] ro_neuron, const int64_t[::1] ro_pos,
    const int64_t[::1] ro_sp_after, const int64_t[::1] ro_in_after, const double[::1] dL_dro,
    const int64_t[::1] indptr, const idx_t[::1] indices, const double[::1] w, int64_t m_w,
    const double[::1] d, int64_t m_d,
    const LinSys[::1] sys, const int[::1] cls,
    const double[::1] thr, int64_t m_thr, const double[::1] reset, int64_t m_reset,
    const double[::1] tref, int64_t m_tref, const double[:, ::1] x0,
    double t0, double T, const double[::1] dL_dt, const double[:, ::1] dL_dy,
    double[::1] g_w, int64_t m_gw, double[::1] g_d, int64_t m_gd, double[:, ::1] g_M, int64_t m_gM,
    double[:, ::1] g_x0, double[::1] g_thr, double[::1] g_reset, double[::1] g_ra, double[::1] g_rr,
    double[::1] g_in, int64_t[::1] counts, int64_t n_pseudo=0, double[::1] lam_out=None,
):
    """Accumulate the gradients of a loss with derivatives `dL_dt` by the recorded spike times, `dL_dy` by
    the final augmented states (n x 5, column 0 unused) and `dL_dro` by the readouts of v: dL/dw, dL/dd per
    synapse of the combined connectivity (`g_w`, `g_d`; one accumulator with mask 0), dL/dM per neuron
    (`g_M`, n x 25 row-major 5 x 5, or one row with mask 0: column 0 is dL/db, the rest dL/dA), dL/dy(0)
    (`g_x0`, n x 5), dL/dtheta, dL/dv_r per neuron, dL/d(reset scale) and dL/d(reset offset) of each
    component (`g_ra`, `g_rr`, 5), dL/dt of each input event (`g_in`).

    Boundaries, input events and readouts as in `lif_exp_backward` (kind B_SPIKE, B_READOUT, B_REFEND;
    `bd_order`: a spike boundary's record position, the size of the record elsewhere);
    `sys`, `cls`: the linear systems and each neuron's; `x0` (n x 5) the augmented initial states. `counts`
    receives [spikes caused by a pulse into a threshold component, coincident events, grazing spikes,
    pulse-triggered spikes whose pulse was not found].

    A segment of a checkpointed pass (`brian2_sparseprop.spiking.checkpoint`) is a run from t0 > 0 with `x0`
    the augmented states at t0 and `dL_dy` the adjoints of the states at T (those of a neuron refractory at
    T are carried back through its refractory piece, v held). Its first `n_pseudo` spikes are the last
    spikes before t0 of the neurons refractory at t0 (each its neuron's first boundary, before t0): such a
    neuron's first piece is refractory, from t0 with the state `x0` (v at its reset) to the end of the
    period; the spike's own piece, threshold, reset and arrivals before t0 belong to the earlier segment,
    and its dL/dt here is that of the refractory end and of its arrivals at t >= t0. Arrivals before t0
    (of input events in flight at t0: the spikes before t0 given as input events) are in the states at t0
    and skipped. `lam_out` (length n_sp), if given, receives each pseudo-spike's dL/dt (the others' are not
    written).
    """
    cdef int64_t n_sp = times.shape[0], n = g_thr.shape[0], n_in = in_times.shape[0], n_b = bd_time.shape[0]
    cdef int64_t n_rows = ro_times.shape[0], n_cols = ro_neuron.shape[0], e_ro, col
    seg_a = np.zeros(W * n_b + W)
    nb_a = np.empty(2 * n + 4, dtype=np.int64)
    kind_a = np.append(np.asarray(kind), np.uint8(0))
    trig_a = np.zeros(n_b + 1, dtype=np.uint8)
    claimed_a = np.zeros(n_b + 1, dtype=np.uint8)
    cdef double[::1] seg = seg_a
    cdef int64_t[::1] nb = nb_a
    cdef uint8_t[::1] ks = kind_a, trig = trig_a, claimed = claimed_a
    cdef Pass P
    cdef const LinSys* L
    cdef double Mp[5][5]
    cdef double E[5][5]
    cdef double y[5]
    cdef double z[5]
    cdef double lp[5]
    cdef double Fy[5]
    cdef int64_t r, e, q, q1, p, n_trig = 0, n_graze = 0
    cdef idx_t i, j
    cdef double tj, lj, t_prev, cdot, mk, acc, ref
    cdef int a, b, D
    cdef bint cl, touches
    lam_a = np.zeros(n_pseudo + 1)
    cdef double[::1] lam = lam_a
    P.indptr = &indptr[0]
    P.indices = &indices[0]
    P.w, P.m_w = &w[0], m_w
    P.d, P.m_d = &d[0], m_d
    P.sys = &sys[0]
    P.cls = &cls[0]
    P.thr, P.m_thr = &thr[0], m_thr
    P.reset, P.m_reset = &reset[0], m_reset
    P.tref, P.m_tref = &tref[0], m_tref
    P.x0 = &x0[0, 0]
    P.dy = &dL_dy[0, 0]
    P.t0, P.T = t0, T
    P.seg = &seg[0]
    P.nb = &nb[0]
    P.kind = &ks[0]
    P.trig = &trig[0]
    P.order = &bd_order[0]
    P.claimed = &claimed[0]
    P.g_w, P.m_gw = &g_w[0], m_gw
    P.g_d, P.m_gd = &g_d[0], m_gd
    P.g_M, P.m_gM = &g_M[0, 0], m_gM
    P.g_x0 = &g_x0[0, 0]
    P.g_reset = &g_reset[0]
    P.g_ra = &g_ra[0]
    P.g_rr = &g_rr[0]
    P.n_coinc = 0
    P.n_unclaimed = 0
    with nogil:
        for q in range(n_b):
            seg[W * q] = bd_time[q]
        for i in range(n + 1):
            nb[2 * i] = bd_ptr[i]
            nb[2 * i + 1] = bd_ptr[i]
        # which spikes a pulse caused by lifting the threshold's combination (the others of the tape's
        # cause bits: at threshold within rounding at a pulse's instant, counted below)
        for r in range(n_sp):
            if kicked[r]:
                L = &sys[cls[neuron[r]]]
                touches = L.c[L.pos] != 0.0 or L.c[L.neg] != 0.0
                if touches and times[r] > t0:
                    trig[pos[r]] = 1
        # the forward sweep: the arrivals' parts of the states at the boundaries, then per neuron the
        # states themselves (propagated from the previous boundary, after its reset, plus the arrivals)
        r = 0
        e = 0
        while r < n_sp or e < n_in:
            if e < n_in and in_after[e] <= r:
                sweep_forward(&P, in_src[e], in_times[e], False, in_after[e])
                e += 1
            else:
                sweep_forward(&P, neuron[r], times[r], True, r + 1)
                r += 1
        for i in range(n):
            L = &sys[cls[i]]
            D = L.D
            for a in range(D):
                y[a] = x0[i, a]
            t_prev = t0
            cl = False
            for q in range(bd_ptr[i], bd_ptr[i + 1]):
                if seg[W * q] < t0:             # a pseudo-spike: the refractory piece starts at t0 from x0
                    cl = tref[i & m_tref] > 0.0
                    continue
                matrix(L, cl, Mp)
                lin_expm(Mp, D, seg[W * q] - t_prev, E)
                for a in range(D):
                    acc = 0.0
                    for b in range(a + 1):
                        acc += E[a][b] * y[b]
                    z[a] = acc
                for a in range(D):
                    seg[W * q + OY + a] += z[a]
                    y[a] = seg[W * q + OY + a]
                if ks[q] == B_SPIKE:
                    for a in range(1, D):
                        y[a] = reset[i & m_reset] if a == L.vi else L.ra[a] * y[a] + L.rr[a]
                    cl = tref[i & m_tref] > 0.0
                elif ks[q] == B_REFEND:
                    cl = False
                t_prev = seg[W * q]
        # the backward sweep: the open pieces at T
        for i in range(n):
            nb[2 * i + 1] = bd_ptr[i + 1]
            end_piece(&P, i, bd_ptr[i + 1])
        r = n_sp - 1
        e = n_in - 1
        e_ro = n_rows - 1
        while r >= 0 or e >= 0 or e_ro >= 0:
            if e_ro >= 0 and ro_sp_after[e_ro] > r and ro_in_after[e_ro] > e:
                for col in range(n_cols):
                    q = ro_pos[e_ro * n_cols + col]
                    if q >= 0:
                        readout_back(&P, ro_neuron[col], q, ro_times[e_ro], dL_dro[e_ro * n_cols + col])
                e_ro -= 1
                continue
            if e >= 0 and in_after[e] > r:
                g_in[e] = send_back(&P, in_src[e], in_times[e], False, False, in_after[e])
                e -= 1
                continue
            j = neuron[r]
            tj = times[r]
            p = pos[r]
            q1 = bd_ptr[j + 1]
            L = &sys[cls[j]]
            D = L.D
            ref = tref[j & m_tref]
            lj = dL_dt[r] + send_back(&P, j, tj, True, trig[p], r + 1)
            # the refractory period's end moves with the spike: lambda^T (Mc - M) y there; then the
            # refractory piece, whose start adjoint is lambda(t_k+)
            if ref > 0.0 and p + 1 < q1:
                acc = 0.0
                for b in range(L.vi + 1):
                    acc += L.M[L.vi][b] * seg[W * (p + 1) + OY + b]
                lj -= seg[W * (p + 1) + OLP + L.vi] * acc
                end_piece(&P, j, p + 1)
            if r < n_pseudo:                    # its piece, threshold and reset are the earlier segment's
                lam[r] = lj
                r -= 1
                continue
            for a in range(D):
                lp[a] = seg[W * p + OLP + a]
                y[a] = seg[W * p + OY + a]
            # the saltation of the reset: lambda(t_k+)^T (dJ M y(t_k-) - M_a y(t_k+))
            start_state(&P, j, p + 1, z)
            matrix(L, ref > 0.0, Mp)
            for a in range(1, D):
                acc = 0.0
                for b in range(a + 1):
                    acc += L.M[a][b] * y[b]
                Fy[a] = 0.0 if a == L.vi else L.ra[a] * acc
                acc = 0.0
                for b in range(a + 1):
                    acc += Mp[a][b] * z[b]
                Fy[a] -= acc
                lj += lp[a] * Fy[a]
            g_reset[j] += lp[L.vi]
            for a in range(1, D):
                if a != L.vi:
                    g_rr[a] += lp[a]
                    g_ra[a] += lp[a] * y[a]
            # the adjoint before the spike
            for a in range(D):
                seg[W * p + OLM + a] = 0.0 if (a == 0 or a == L.vi) else L.ra[a] * lp[a]
            if trig[p]:
                n_trig += 1
                seg[W * p + OLT] = lj
            elif tj <= t0:
                pass                            # fired at the start (from at or above threshold): no crossing
            else:
                if kicked[r]:
                    P.n_coinc += 1              # at threshold within rounding at a pulse's instant
                if p > bd_ptr[j] and ref > 0.0 and ks[p - 1] == B_REFEND and tj <= seg[W * (p - 1)] + same_instant(tj):
                    P.n_coinc += 1              # at threshold when its refractory period ended
                cdot = 0.0
                for a in range(1, D):
                    acc = 0.0
                    for b in range(a + 1):
                        acc += L.M[a][b] * y[b]
                    cdot += L.c[a] * acc
                if not cdot > 0.0:
                    n_graze += 1
                mk = -lj / cdot if cdot != 0.0 else 0.0
                for a in range(1, D):
                    seg[W * p + OLM + a] += mk * L.c[a]
                g_thr[j] -= mk
            end_piece(&P, j, p)
            r -= 1
        for q in range(n_b):
            if trig[q] and not claimed[q]:
                P.n_unclaimed += 1
    counts[0] += n_trig
    counts[1] += P.n_coinc
    counts[2] += n_graze
    counts[3] += P.n_unclaimed
    if lam_out is not None:
        np.asarray(lam_out)[:n_pseudo] = lam_a[:n_pseudo]
