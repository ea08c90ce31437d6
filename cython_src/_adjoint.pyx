"""The backward (adjoint) pass of a LIF network with delta pulses, from the forward run's tape.

Between events a LIF neuron (tau dv/dt = I - v, threshold theta, reset v_r, refractory period t_ref) obeys
v(t) = I + (v_s - I) e^{-(t - s)/tau} + sum_a w_a e^{-(t - t_a)/tau} over the pulses w_a that arrived at
t_a since the segment began at s (s = 0 with v_s = v0, or s = t_prev + t_ref with v_s = v_r). A spike that
the neuron reaches on its own ends a segment at t_k with v(t_k) = theta; for a fixed order of events it is
a smooth function of the parameters, and the implicit function theorem gives
dt_k = -dF / F' with F = v(t_k) - theta, F' = dv/dt(t_k-) = (I - theta) / tau, the same for every spike of
the neuron (the diagonal of the single-spike Jacobian of DESIGN.md). A spike caused by a pulse has the
pulse's arrival time t_a = t_j + d: it passes its adjoint on to the presynaptic spike j and to the delay d,
and is insensitive to everything else. A final state v(T) is the same sum with t = T.

A state readout v(t_r) (``record_states``: the left limit, before the events of its instant, as Brian2's
StateMonitor records at the start of a time step) is a boundary where v is continuous: it splits the
segment that holds it in two, v(t_end) = I + (v(t_r) - I) e^{-(t_end - t_r)/tau} + (the pulses in (t_r,
t_end)), so its multiplier is dL/dv(t_r) plus the next boundary's multiplier times e^{-(t_end - t_r)/tau}
(a decaying factor: no growing exponential anywhere), and the piece it ends starts from the recorded value.
A readout within a refractory period is the reset (its derivative goes to v_r) and no boundary.

Each segment gets a multiplier mu: -lambda_k tau / (I - theta) for a spike reached on its own (lambda_k =
dL/dt_k in total), dL/dv(T) for the open segment at the end of the run, 0 for a spike caused by a pulse,
the readout's own (above) for a piece that a readout ends. The readouts join the walk: one at t_r comes
after every event at or after t_r (its multiplier needs the next boundary's).
The pass walks the spikes and the external input events (Poisson, spike generators: the tape records
them) together in reverse order of the run; at spike j of neuron i (or input event j) it
1. sends each of its K synapses back: the arrival t_a = t_j + d lands in the segment of the target that
   holds t_a (found from the target's spikes, starting at a per-neuron cursor that only moves back in time
   plus the spikes within one delay), which adds mu e^{-(t_end - t_a)/tau} to the weight's gradient,
   mu w e^{-(t_end - t_a)/tau} / tau to the delay's gradient and to lambda_j (an arrival later by dt is
   later by dt whether the delay or the spike moved), and (t_end - t_a) / tau times that to tau's;
2. adds the dependence of its own next segment on its start s = t_j + t_ref: mu_next (v_r - I)
   e^{-(t_end - s)/tau} / tau;
3. with lambda_j complete, sets mu_j and adds mu_j dF/dp to the gradients of the neuron's parameters p
   (drive, v0 for the first segment, reset for the others, threshold, tau).
O(K) per spike; no state is stored or rebuilt, spike times, input events and the cause bits suffice. An
input event's lambda is dL/dt of that input event (the input times are not parameters: it is returned
for the caller).

Degenerate events are counted, not resolved: an arrival within rounding of a spike of its target (absorbed
by the reset, or a second cause of a pulse-triggered spike), of the end of its refractory period, or of a
readout of its target (the readout precedes it); a readout within rounding of a spike its neuron reaches
on its own (the readout is theta, before the reset) or of the end of its refractory period. Not
counted: an arrival without delay absorbed within a cascade (the source or the target spike caused by a
pulse of that instant), where the tie is structural (every time of the cascade is its first spike's time)
and stays under any small change. With a delay, two arrivals of one cascade that tie at a pulse-triggered
spike are counted although their tie is structural too (the count is then an upper bound).
"""
import numpy as np
cimport cython
from libc.math cimport exp

from ._heap cimport SP_PREFETCH
from ._typedefs cimport idx_t, int64_t, syn_t, uint8_t

# targets looked up ahead: the cursor of target s + 2 LOOKAHEAD, the spikes at the cursor of s + LOOKAHEAD
DEF LOOKAHEAD = 8

# an arrival and a spike closer than this many ulps of the time (times are recorded as epoch + offset, the
# arrival recomputed from the source's time: both round differently) count as the same instant
DEF TIME_ULPS = 4.0
DEF DBL_EPS = 2.220446049250313e-16

# the kinds of a neuron's boundaries (`kind`): a spike reached on its own, one caused by a pulse, a readout
DEF B_OWN = 0
DEF B_PULSE = 1
DEF B_READOUT = 2


cdef inline double same_instant(double t) noexcept nogil:
    return TIME_ULPS * DBL_EPS * (t if t > 1.0 else 1.0)


cdef struct Pass:
    # the run: boundaries (spikes and readouts) by neuron (CSR over `seg` rows), connectivity over
    # presynaptic ids, parameters
    const int64_t* order
    const int64_t* indptr
    const idx_t* indices
    const double* w
    const double* d
    const double* tau
    const double* tref
    const double* drive
    const double* reset
    const double* v0
    const double* ro_val
    int64_t m_w, m_d, m_tau, m_tref, m_drive, m_reset
    double t0, T
    bint has_ro
    # working arrays: seg[2 q] the time of the q-th boundary in CSR order, seg[2 q + 1] the multiplier of
    # the piece it ends; nb[2 i] neuron i's first CSR position, nb[2 i + 1] its cursor
    double* seg
    int64_t* nb
    const uint8_t* ks
    uint8_t* claimed
    const double* lam
    const double* mu_end
    # gradients by synapse (mask m_gw, m_gd: -1 per synapse, 0 one accumulator), by tau (m_gtau), by neuron
    double* g_w
    double* g_d
    double* g_tau
    double* g_drive
    double* g_v0
    double* g_reset
    int64_t m_gw, m_gd, m_gtau
    int64_t n_coinc
    # spikes at record positions < n_pseudo belong to an earlier segment of a checkpointed pass (the
    # last spike of a neuron refractory at t0): their own arrivals are sent back, arrivals at them are not
    int64_t n_pseudo


cdef inline double piece_start(Pass* P, idx_t i, int64_t q) noexcept nogil:
    """The start of the piece that boundary q of neuron i ends: t0, a readout, or a refractory end."""
    if q == P.nb[2 * i]:
        return P.t0
    if P.has_ro and P.ks[q - 1] == B_READOUT:
        return P.seg[2 * (q - 1)]
    return P.seg[2 * (q - 1)] + P.tref[i & P.m_tref]


@cython.cdivision(True)
cdef void free_part(Pass* P, idx_t i, int64_t q, double t_end, double m) noexcept nogil:
    """mu dF/dp of the free evolution of the piece that boundary q of neuron i ends at t_end (q past the
    neuron's last boundary: the open piece at T): drive, tau and the start value (v0, or the reset; a
    readout's value is the readout's own, reached through its multiplier)."""
    cdef double s = piece_start(P, i, q), ti = P.tau[i & P.m_tau], I = P.drive[i & P.m_drive], e, vs
    cdef int where = 0 if q == P.nb[2 * i] else (2 if P.has_ro and P.ks[q - 1] == B_READOUT else 1)
    vs = P.v0[i] if where == 0 else (P.ro_val[P.order[q - 1]] if where == 2 else P.reset[i & P.m_reset])
    e = exp(-(t_end - s) / ti)
    P.g_drive[i] += m * (1.0 - e)
    P.g_tau[i & P.m_gtau] += m * (vs - I) * e * (t_end - s) / (ti * ti)
    if where == 0:
        P.g_v0[i] += m * e
    elif where == 1:
        P.g_reset[i] += m * e


@cython.cdivision(True)
cdef double send_back(Pass* P, idx_t row, double tj, int64_t after, bint src_kicked) noexcept nogil:
    """Step 1 for the spike (or input event) of presynaptic id `row` at tj, recorded before the spikes of
    record positions >= `after`: the gradients of its synapses, and dL/dtj through its arrivals."""
    cdef syn_t s, s1 = P.indptr[row + 1]
    cdef int64_t q, q0, q1
    cdef idx_t i
    cdef double lj = 0.0, dly, ta, tol, ti, t_start, t_end, m, e, c
    for s in range(P.indptr[row], s1):
        if s + 2 * LOOKAHEAD < s1:
            SP_PREFETCH(&P.nb[2 * P.indices[s + 2 * LOOKAHEAD]])
        if s + LOOKAHEAD < s1:
            q = P.nb[2 * P.indices[s + LOOKAHEAD] + 1]
            if q > 0:
                SP_PREFETCH(&P.seg[2 * (q - 1)])
        i = P.indices[s]
        dly = P.d[s & P.m_d]
        ta = tj + dly
        if ta >= P.T:
            continue
        tol = same_instant(ta)
        q0 = P.nb[2 * i]
        q1 = P.nb[2 * i + 2]
        q = P.nb[2 * i + 1]
        while q > q0 and P.seg[2 * (q - 1)] >= tj - tol:
            q -= 1
        P.nb[2 * i + 1] = q
        while q < q1 and P.seg[2 * q] < ta - tol:
            q += 1
        if P.has_ro:
            while q < q1 and P.ks[q] == B_READOUT and P.seg[2 * q] <= ta + tol:
                P.n_coinc += 1                  # a readout of the target at this instant (it precedes)
                q += 1
        if q < q1 and P.seg[2 * q] <= ta + tol:
            if P.order[q] < P.n_pseudo:
                continue                        # at a spike of an earlier segment: counted there
            if P.ks[q] == B_PULSE and not P.claimed[q] and P.order[q] >= after:
                c = P.lam[P.order[q]]           # the pulse-triggered spike's time is this arrival's
                lj += c
                P.g_d[s & P.m_gd] += c
                P.claimed[q] = 1
            elif dly > 0.0 or not (P.ks[q] or src_kicked):
                P.n_coinc += 1                  # absorbed by the reset of that instant, or a tie
            continue                            # (within a cascade without delay: a tie that stays)
        ti = P.tau[i & P.m_tau]
        t_start = piece_start(P, i, q)
        if ta < t_start - tol:
            continue                            # dropped: the target was refractory
        if P.tref[i & P.m_tref] > 0.0 and ta <= t_start + tol and not (
                P.has_ro and q > q0 and P.ks[q - 1] == B_READOUT):
            P.n_coinc += 1                      # at the end of the refractory period
        if q < q1:
            t_end = P.seg[2 * q]
            m = P.seg[2 * q + 1]
        else:
            t_end = P.T
            m = P.mu_end[i]
        if m == 0.0:
            continue
        e = exp(-(t_end - ta) / ti)
        P.g_w[s & P.m_gw] += m * e
        c = m * P.w[s & P.m_w] * e / ti
        lj += c
        P.g_d[s & P.m_gd] += c
        P.g_tau[i & P.m_gtau] += c * (t_end - ta) / ti
    return lj


@cython.cdivision(True)
cdef void readout_back(Pass* P, idx_t i, int64_t q, double tr, double nu) noexcept nogil:
    """The readout of neuron i at tr, boundary q: its multiplier dL/dv(tr) in total, and the free part of
    the piece it ends."""
    cdef int64_t q1 = P.nb[2 * i + 2]
    cdef double t_next, m, tol = same_instant(tr)
    if q + 1 < q1:
        t_next = P.seg[2 * (q + 1)]
        m = P.seg[2 * (q + 1) + 1]
        if P.ks[q + 1] == B_OWN and t_next <= tr + tol:
            P.n_coinc += 1                      # at a spike of its neuron: theta, just before the reset
    else:
        t_next = P.T
        m = P.mu_end[i]
    if q > P.nb[2 * i] and P.ks[q - 1] != B_READOUT and tr <= P.seg[2 * (q - 1)] + P.tref[i & P.m_tref] + tol:
        P.n_coinc += 1                          # at the end of a refractory period (or just after a spike)
    if m != 0.0:
        nu += m * exp(-(t_next - tr) / P.tau[i & P.m_tau])
    P.seg[2 * q + 1] = nu
    if nu != 0.0:
        free_part(P, i, q, tr, nu)


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def lif_backward(
    const double[::1] times, const idx_t[::1] neuron, const uint8_t[::1] kicked,
    const int64_t[::1] bd_ptr, const int64_t[::1] order, const uint8_t[::1] kind, const double[::1] bd_time,
    const int64_t[::1] pos,
    const double[::1] in_times, const idx_t[::1] in_src, const int64_t[::1] in_after,
    const double[::1] ro_times, const idx_t[::1] ro_neuron, const int64_t[::1] ro_pos,
    const int64_t[::1] ro_sp_after, const int64_t[::1] ro_in_after, const double[::1] ro_val,
    const double[::1] dL_dro,
    const int64_t[::1] indptr, const idx_t[::1] indices, const double[::1] w, int64_t m_w,
    const double[::1] d, int64_t m_d,
    const double[::1] tau, int64_t m_tau, const double[::1] drive, int64_t m_drive,
    const double[::1] thr, int64_t m_thr, const double[::1] reset, int64_t m_reset,
    const double[::1] tref, int64_t m_tref, const double[::1] v0,
    double t0, double T, const double[::1] dL_dt, const double[::1] dL_dv,
    double[::1] g_w, int64_t m_gw, double[::1] g_d, int64_t m_gd, double[::1] g_tau, int64_t m_gtau,
    double[::1] g_drive, double[::1] g_v0, double[::1] g_thr, double[::1] g_reset, double[::1] g_in,
    int64_t[::1] counts, int64_t n_pseudo=0, double[::1] lam_out=None,
):
    """Accumulate the gradients of a loss with the given derivatives by the recorded spike times (`dL_dt`),
    the final states (`dL_dv`) and the readouts (`dL_dro`): dL/dw and dL/dd per synapse of the combined
    connectivity (`g_w`, `g_d`; one accumulator with mask 0), dL/dtau (`g_tau`, per neuron or one), dL/dI,
    dL/dv0, dL/dtheta, dL/dv_r per neuron, and dL/dt of each input event (`g_in`).

    The spikes (`times`, `neuron`, `kicked`: the tape's cause bits) are in the order of the run, which
    began at t0 with every neuron free of refractoriness and nothing in flight, and ended at T. Each
    neuron's boundaries, its spikes and its readouts outside refractory periods in time order (a readout
    before a spike of its instant), are CSR rows `bd_ptr` over `order` (a spike's record position, or a
    readout's flat index into `ro_val`, `dL_dro` and `ro_pos`), `kind` (B_OWN, B_PULSE, B_READOUT) and
    `bd_time`; `pos`: each spike's CSR position. The input events (`in_times`, `in_src`: presynaptic ids
    >= n) are in the order of the run, `in_after[e]` the number of spikes recorded before event e. The
    readouts: rows at `ro_times` of the neurons `ro_neuron`, flat (row, column) index f: `ro_pos[f]` the
    CSR position (-1 within a refractory period: the caller adds those to dL/dv_r), `ro_val[f]` the
    recorded value; `ro_sp_after`, `ro_in_after`: the spikes and input events recorded before each row.
    Parameter arrays have length n with mask m = -1, or 1 with mask 0. `counts` receives
    [pulse-triggered spikes, coincident events, pulse-triggered spikes with no cause found].

    A segment of a checkpointed pass (`brian2_sparseprop.spiking.checkpoint`) is a run from t0 > 0 with
    `v0` the states at t0: its first `n_pseudo` spikes are the last spikes before t0 of the neurons
    refractory at t0 (given as caused by a pulse, so that their neurons' first pieces start at the end of
    the refractory period; their arrivals at t >= t0 are sent back, and arrivals at them, which belong to
    the earlier segment, are neither claimed nor counted), and the spikes and input events before t0 whose
    pulses are in flight at t0 are input events (placed among the pseudo-spikes as in the whole run).
    `lam_out` (length n_sp), if given, receives every spike's dL/dt in total.

    The arrays that the K targets of a spike are looked up in are laid out by neuron, so that one target
    costs about two cache lines: `seg` holds, in CSR order, each boundary's time beside the multiplier of
    the piece it ends, and `nb` each neuron's first CSR position beside its cursor.
    """
    cdef int64_t n_sp = times.shape[0], n = g_drive.shape[0], n_in = in_times.shape[0]
    cdef int64_t n_b = bd_time.shape[0], n_rows = ro_times.shape[0], n_cols = ro_neuron.shape[0]
    seg_a = np.empty(2 * n_b + 2)
    nb_a = np.empty(2 * n + 4, dtype=np.int64)
    ks_a = np.append(np.asarray(kind), np.uint8(0))
    claimed_a = np.zeros(n_b + 1, dtype=np.uint8)
    lam_a = np.append(np.asarray(dL_dt, dtype=np.float64), 0.0)
    mu_a = np.append(np.asarray(dL_dv, dtype=np.float64), 0.0)
    ro_val_a = np.append(np.asarray(ro_val, dtype=np.float64), 0.0)
    order_a = np.append(np.asarray(order), np.int64(0))
    cdef double[::1] seg = seg_a, lam = lam_a, mu_end = mu_a, rv = ro_val_a
    cdef int64_t[::1] nb = nb_a, order_p = order_a
    cdef uint8_t[::1] ks = ks_a, claimed = claimed_a
    cdef Pass P
    cdef int64_t r, e_in, e_ro, c, q, p, n_kicked = 0
    cdef idx_t i, j
    cdef double tj, t_end, t_start, m, lj, I, ti
    P.order = &order_p[0]
    P.indptr = &indptr[0]
    P.indices = &indices[0]
    P.w, P.m_w = &w[0], m_w
    P.d, P.m_d = &d[0], m_d
    P.tau, P.m_tau = &tau[0], m_tau
    P.tref, P.m_tref = &tref[0], m_tref
    P.drive, P.m_drive = &drive[0], m_drive
    P.reset, P.m_reset = &reset[0], m_reset
    P.v0 = &v0[0]
    P.ro_val = &rv[0]
    P.t0, P.T = t0, T
    P.has_ro = n_b > n_sp
    P.seg = &seg[0]
    P.nb = &nb[0]
    P.ks = &ks[0]
    P.claimed = &claimed[0]
    P.lam = &lam[0]
    P.mu_end = &mu_end[0]
    P.g_w, P.m_gw = &g_w[0], m_gw
    P.g_d, P.m_gd = &g_d[0], m_gd
    P.g_tau, P.m_gtau = &g_tau[0], m_gtau
    P.g_drive, P.g_v0, P.g_reset = &g_drive[0], &g_v0[0], &g_reset[0]
    P.n_coinc = 0
    P.n_pseudo = n_pseudo
    with nogil:
        for q in range(n_b):
            seg[2 * q] = bd_time[q]
            seg[2 * q + 1] = 0.0
        for i in range(n + 1):
            nb[2 * i] = bd_ptr[i]
            nb[2 * i + 1] = bd_ptr[i + 1] if i < n else n_b  # the cursor: first boundary at or after now
        # the open pieces at T (a neuron refractory at T is held at its reset)
        for i in range(n):
            q = nb[2 * i + 2]
            if q > nb[2 * i] and ks[q - 1] != B_READOUT and seg[2 * (q - 1)] + tref[i & m_tref] > T:
                g_reset[i] += mu_end[i]
                mu_end[i] = 0.0
            elif mu_end[i] != 0.0:
                free_part(&P, i, q, T, mu_end[i])
        r = n_sp - 1
        e_in = n_in - 1
        e_ro = n_rows - 1
        while r >= 0 or e_in >= 0 or e_ro >= 0:
            if e_ro >= 0 and ro_sp_after[e_ro] > r and ro_in_after[e_ro] > e_in:
                # a row of readouts: every event at or after its time is done
                for c in range(n_cols):
                    q = ro_pos[e_ro * n_cols + c]
                    if q >= 0:
                        readout_back(&P, ro_neuron[c], q, ro_times[e_ro], dL_dro[e_ro * n_cols + c])
                e_ro -= 1
                continue
            if e_in >= 0 and in_after[e_in] > r:
                # an input event: its time is no parameter, its synapses' weights and delays are
                g_in[e_in] = send_back(&P, in_src[e_in], in_times[e_in], in_after[e_in], False)
                e_in -= 1
                continue
            j = neuron[r]
            tj = times[r]
            p = pos[r]
            # 1. the arrivals of this spike at its targets
            lj = lam[r] + send_back(&P, j, tj, r + 1, kicked[r])
            # 2. its own next piece, which starts at the end of its refractory period
            ti = tau[j & m_tau]
            I = drive[j & m_drive]
            t_start = tj + tref[j & m_tref]
            if p + 1 < nb[2 * j + 2]:
                t_end = seg[2 * (p + 1)]
                m = seg[2 * (p + 1) + 1]
            else:
                t_end = T
                m = mu_end[j]
            if m != 0.0 and t_start < t_end:
                lj += m * (reset[j & m_reset] - I) * exp(-(t_end - t_start) / ti) / ti
            lam[r] = lj
            # 3. the piece that this spike ends
            if kicked[r]:
                n_kicked += r >= n_pseudo
            else:
                m = -lj * ti / (I - thr[j & m_thr])
                seg[2 * p + 1] = m
                g_thr[j] -= m
                free_part(&P, j, p, tj, m)
            r -= 1
        for q in range(n_b):
            if ks[q] == B_PULSE and not claimed[q] and order_p[q] >= n_pseudo:
                counts[2] += 1
    counts[0] += n_kicked
    counts[1] += P.n_coinc
    if lam_out is not None:
        np.asarray(lam_out)[:] = lam_a[:n_sp]
