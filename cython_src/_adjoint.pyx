"""The backward (adjoint) pass of a LIF network with delta pulses, from the forward run's tape.

Between events a LIF neuron (tau dv/dt = I - v, threshold theta, reset v_r, refractory period t_ref) obeys
v(t) = I + (v_s - I) e^{-(t - s)/tau} + sum_a w_a e^{-(t - t_a)/tau} over the pulses w_a that arrived at
t_a since the segment began at s (s = 0 with v_s = v0, or s = t_prev + t_ref with v_s = v_r). A spike that
the neuron reaches on its own ends a segment at t_k with v(t_k) = theta; for a fixed order of events it is
a smooth function of the parameters, and the implicit function theorem gives
dt_k = -dF / F' with F' = dv/dt(t_k-) = (I - theta) / tau, the same for every spike of the neuron (the
diagonal of the single-spike Jacobian of DESIGN.md). A spike caused by a pulse has the pulse's arrival time
t_a = t_j + d: it passes its adjoint on to the presynaptic spike j and is insensitive to everything else.
A final state v(T) is the same sum with t = T.

Each segment gets a multiplier mu: -lambda_k tau / (I - theta) for a spike reached on its own (lambda_k =
dL/dt_k in total), dL/dv(T) for the open segment at the end of the run, 0 for a spike caused by a pulse.
The pass walks the spikes in reverse order of the tape; at spike j of neuron i it
1. sends each of its K synapses back: the arrival t_a = t_j + d lands in the segment of the target that
   holds t_a (found from the target's spikes, starting at a per-neuron cursor that only moves back in time
   plus the spikes within one delay), which adds mu e^{-(t_end - t_a)/tau} to the weight's gradient and
   mu w e^{-(t_end - t_a)/tau} / tau to lambda_j;
2. adds the dependence of its own next segment on its start s = t_j + t_ref: mu_next (v_r - I)
   e^{-(t_end - s)/tau} / tau;
3. with lambda_j complete, sets mu_j and adds mu_j dF/dI, mu_j dF/dv0 (first segment) to the gradients.
O(K) per spike; no state is stored or rebuilt, spike times and the tape's cause bits suffice.

Degenerate events are counted, not resolved: an arrival within rounding of a spike of its target (absorbed
by the reset, or a second cause of a pulse-triggered spike) or of the end of its refractory period. Not
counted: an arrival without delay absorbed within a cascade (the source or the target spike caused by a
pulse of that instant), where the tie is structural (every time of the cascade is its first spike's time)
and stays under any small change. With a delay, two arrivals of one cascade that tie at a pulse-triggered
spike are counted although their tie is structural too (the count is then an upper bound).
"""
import numpy as np
cimport cython
from libc.math cimport exp, fabs

from ._heap cimport SP_PREFETCH
from ._typedefs cimport idx_t, int64_t, syn_t, uint8_t

# targets looked up ahead: the cursor of target s + 2 LOOKAHEAD, the spikes at the cursor of s + LOOKAHEAD
DEF LOOKAHEAD = 8

# an arrival and a spike closer than this many ulps of the time (times are recorded as epoch + offset, the
# arrival recomputed from the source's time: both round differently) count as the same instant
DEF TIME_ULPS = 4.0
DEF DBL_EPS = 2.220446049250313e-16


cdef inline double same_instant(double t) noexcept nogil:
    return TIME_ULPS * DBL_EPS * (t if t > 1.0 else 1.0)


@cython.boundscheck(False)
@cython.wraparound(False)
def lif_backward(
    const double[::1] times, const idx_t[::1] neuron, const uint8_t[::1] kicked,
    const int64_t[::1] sp_ptr, const int64_t[::1] order, const int64_t[::1] pos,
    const int64_t[::1] indptr, const idx_t[::1] indices, const double[::1] w, int64_t m_w,
    const double[::1] d, int64_t m_d,
    const double[::1] tau, int64_t m_tau, const double[::1] drive, int64_t m_drive,
    const double[::1] thr, int64_t m_thr, const double[::1] reset, int64_t m_reset,
    const double[::1] tref, int64_t m_tref,
    double t0, double T, const double[::1] dL_dt, const double[::1] dL_dv,
    double[::1] g_w, double[::1] g_drive, double[::1] g_v0, int64_t[::1] counts,
):
    """Accumulate dL/dw (per synapse, `g_w`), dL/dI and dL/dv0 (per neuron) of a loss with the given
    derivatives by the recorded spike times (`dL_dt`) and the final states (`dL_dv`).

    The spikes (`times`, `neuron`, `kicked`: the tape's cause bits) are in the order of the run, which
    began at t0 with every neuron free of refractoriness and nothing in flight, and ended at T. `sp_ptr`,
    `order`: each neuron's spikes in time order (CSR: the spikes of neuron i are `order[sp_ptr[i]:sp_ptr[i
    + 1]]`); `pos`: each spike's position in `order`. Parameter arrays have length n with mask m = -1, or 1
    with mask 0. `counts` receives [pulse-triggered spikes, coincident arrivals, pulse-triggered spikes
    with no cause found].

    The arrays that the K targets of a spike are looked up in are laid out by neuron, so that one target
    costs about two cache lines: `seg` holds, in CSR order, each spike's time beside the multiplier of the
    segment it ends, and `nb` each neuron's first CSR position beside its cursor.
    """
    cdef int64_t n_sp = times.shape[0], n = g_drive.shape[0]
    cdef double[:, ::1] seg = np.empty((n_sp, 2))
    cdef int64_t[:, ::1] nb = np.empty((n + 1, 2), dtype=np.int64)
    cdef uint8_t[::1] ks = np.asarray(kicked)[np.asarray(order)]
    cdef uint8_t[::1] claimed = np.zeros(n_sp, dtype=np.uint8)
    cdef double[::1] lam = np.array(dL_dt, dtype=np.float64)
    cdef double[::1] mu_end = np.array(dL_dv, dtype=np.float64)
    cdef int64_t r, q, q0, q1, p, n_kicked = 0, n_coinc = 0
    cdef syn_t s, s1
    cdef idx_t i, j
    cdef double tj, ta, tol, t_end, t_start, m, e, ti, lj, I, tu, dly
    with nogil:
        for q in range(n_sp):
            seg[q, 0] = times[order[q]]
            seg[q, 1] = 0.0
        for i in range(n + 1):
            nb[i, 0] = sp_ptr[i]
            nb[i, 1] = sp_ptr[i + 1] if i < n else n_sp  # the cursor: first spike at or after now
        # the open segments at T (a neuron refractory at T is held at its reset: no dependence)
        for i in range(n):
            q = nb[i + 1, 0] - 1
            t_start = t0 if q < nb[i, 0] else seg[q, 0] + tref[i & m_tref]
            if t_start > T:
                mu_end[i] = 0.0
                continue
            e = exp(-(T - t_start) / tau[i & m_tau])
            g_drive[i] += mu_end[i] * (1.0 - e)
            if q < nb[i, 0]:
                g_v0[i] += mu_end[i] * e
        r = n_sp - 1
        while r >= 0:
            j = neuron[r]
            tj = times[r]
            lj = lam[r]
            p = pos[r]
            # 1. the arrivals of this spike at its targets
            s1 = indptr[j + 1]
            for s in range(indptr[j], s1):
                if s + 2 * LOOKAHEAD < s1:
                    SP_PREFETCH(&nb[indices[s + 2 * LOOKAHEAD], 0])
                if s + LOOKAHEAD < s1:
                    q = nb[indices[s + LOOKAHEAD], 1]
                    if q > 0:
                        SP_PREFETCH(&seg[q - 1, 0])
                i = indices[s]
                dly = d[s & m_d]
                ta = tj + dly
                if ta >= T:
                    continue
                tol = same_instant(ta)
                q0 = nb[i, 0]
                q1 = nb[i + 1, 0]
                q = nb[i, 1]
                while q > q0 and seg[q - 1, 0] >= tj - tol:
                    q -= 1
                nb[i, 1] = q
                while q < q1 and seg[q, 0] < ta - tol:
                    q += 1
                if q < q1 and seg[q, 0] <= ta + tol:
                    if ks[q] and not claimed[q] and order[q] > r:
                        lj += lam[order[q]]         # the pulse-triggered spike's time is this arrival's
                        claimed[q] = 1
                    elif dly > 0.0 or not (ks[q] or kicked[r]):
                        n_coinc += 1                # absorbed by the reset of that instant, or a tie
                    continue                        # (within a cascade without delay: a tie that stays)
                ti = tau[i & m_tau]
                t_start = t0 if q == q0 else seg[q - 1, 0] + tref[i & m_tref]
                if ta < t_start - tol:
                    continue                        # dropped: the target was refractory
                if tref[i & m_tref] > 0.0 and ta <= t_start + tol:
                    n_coinc += 1                    # at the end of the refractory period
                if q < q1:
                    t_end = seg[q, 0]
                    m = seg[q, 1]
                else:
                    t_end = T
                    m = mu_end[i]
                if m == 0.0:
                    continue
                e = exp(-(t_end - ta) / ti)
                g_w[s & m_w] += m * e
                lj += m * w[s & m_w] * e / ti
            # 2. its own next segment, which starts at the end of its refractory period
            ti = tau[j & m_tau]
            I = drive[j & m_drive]
            t_start = tj + tref[j & m_tref]
            if p + 1 < nb[j + 1, 0]:
                t_end = seg[p + 1, 0]
                m = seg[p + 1, 1]
            else:
                t_end = T
                m = mu_end[j]
            if m != 0.0 and t_start < t_end:
                lj += m * (reset[j & m_reset] - I) * exp(-(t_end - t_start) / ti) / ti
            lam[r] = lj
            # 3. the segment that this spike ends
            if kicked[r]:
                n_kicked += 1
            else:
                tu = I - thr[j & m_thr]
                m = -lj * ti / tu
                seg[p, 1] = m
                t_start = t0 if p == nb[j, 0] else seg[p - 1, 0] + tref[j & m_tref]
                e = exp(-(tj - t_start) / ti)
                g_drive[j] += m * (1.0 - e)
                if p == nb[j, 0]:
                    g_v0[j] += m * e
            r -= 1
        for q in range(n_sp):
            if ks[q] and not claimed[q]:
                counts[2] += 1
    counts[0] += n_kicked
    counts[1] += n_coinc
