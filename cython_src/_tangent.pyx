"""Tangent-space propagation through the spikes of a recorded run: the forward pass of Lyapunov spectra.

Networks of LIF, QIF and theta neurons with delta pulses, no delays, no refractoriness, and no spike caused
by a pulse (inhibitory pulses onto LIF and QIF neurons, any pulses onto theta neurons), so that every spike
is a threshold crossing of its neuron's own flow. The m tangent vectors are the rows of Y (n x m), one row
per neuron, in one of three coordinates (`mode`):

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

log|det| of each spike's Jacobian in these coordinates, sum of log d_i over its targets (one log per
spike), is added to `logdet[0]`. O(K m) work per spike, no transcendental function per target for LIF.
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


@cython.boundscheck(False)
@cython.wraparound(False)
def propagate(
    const double[::1] times, const idx_t[::1] neuron, int64_t start, int64_t stop,
    const int64_t[::1] indptr, const idx_t[::1] indices, const double[::1] w, int64_t m_w,
    const uint8_t[::1] mode, const double[::1] tau, int64_t m_tau, const double[::1] drive, int64_t m_drive,
    const double[::1] reset, int64_t m_reset,
    double[::1] x, double[::1] tl, double[:, ::1] Y, double t0, double[::1] logdet,
):
    """Propagate the tangent rows `Y` (n x m, coordinates by `mode`, above) through the spikes start ..
    stop - 1 of (`times`, `neuron`), replaying the states `x` (u for LIF, relative to `t0`; v with its
    time `tl` for QIF and theta). Parameter arrays have length n with mask -1, or 1 with mask 0; `mode`
    has length n. Adds log|det| of the Jacobians to `logdet[0]`."""
    cdef int64_t m = Y.shape[1], k, r
    cdef syn_t s, s0, s1
    cdef idx_t i, j, ia
    cdef double* Yp = &Y[0, 0] if Y.shape[0] > 0 and m > 0 else NULL
    cdef double* xp = &x[0] if x.shape[0] > 0 else NULL
    cdef double t, E_shared = 1.0, E, c, d, ti, Ii, vm, ww, prod, ld = 0.0
    cdef double* dts = <double*>malloc((m if m > 0 else 1) * sizeof(double))
    if dts == NULL:
        raise MemoryError(f"cannot allocate {m} doubles")
    try:
        with nogil:
            for r in range(start, stop):
                j = neuron[r]
                t = times[r]
                if m_tau == 0:
                    E_shared = exp((t - t0) / tau[0])
                # the spike's time shift; the spiking neuron's row is unchanged, its state reset
                c = -tau[j & m_tau]
                for k in range(m):
                    dts[k] = c * Y[j, k]
                if mode[j] == MODE_PHASE_QIF:
                    x[j] = reset[j & m_reset]
                    tl[j] = t
                else:
                    E = E_shared if m_tau == 0 else exp((t - t0) / tau[j])
                    x[j] = (drive[j & m_drive] - reset[j & m_reset]) * E
                # its targets
                prod = 1.0
                s0 = indptr[j]
                s1 = indptr[j + 1]
                if Yp != NULL:
                    for s in range(s0, s0 + AHEAD if s0 + AHEAD < s1 else s1):
                        ia = indices[s]
                        TANGENT_PREFETCH(Yp + ia * m)
                        TANGENT_PREFETCH(xp + ia)
                for s in range(s0, s1):
                    if Yp != NULL and s + AHEAD < s1:
                        ia = indices[s + AHEAD]
                        TANGENT_PREFETCH(Yp + ia * m)
                        TANGENT_PREFETCH(Yp + ia * m + m - 1)
                        TANGENT_PREFETCH(xp + ia)
                    i = indices[s]
                    if i == j:
                        continue                    # absorbed by the reset of this instant
                    ww = w[s & m_w]
                    ti = tau[i & m_tau]
                    if mode[i] == MODE_PHASE_QIF:
                        Ii = drive[i & m_drive]
                        vm = qif_advance(x[i], t - tl[i], ti, Ii)
                        d = qif_pulse_ratio(vm, ww, Ii)
                        x[i] = vm + ww
                        tl[i] = t
                    else:
                        E = E_shared if m_tau == 0 else exp((t - t0) / ti)
                        if mode[i] == MODE_STATE_LIF:
                            c = ww / ti * E
                            for k in range(m):
                                Y[i, k] += c * dts[k]
                            continue
                        d = x[i] / (x[i] - ww * E)
                        x[i] -= ww * E
                    prod *= d
                    c = (d - 1.0) / ti
                    for k in range(m):
                        Y[i, k] = d * Y[i, k] + c * dts[k]
                ld += log(fabs(prod))
    finally:
        free(dts)
    logdet[0] += ld


@cython.boundscheck(False)
@cython.wraparound(False)
def advance_states(
    const uint8_t[::1] mode, const double[::1] tau, int64_t m_tau, const double[::1] drive, int64_t m_drive,
    double[::1] x, double[::1] tl, double t,
):
    """Advance the replayed states of QIF and theta neurons to time t (no spike in between), in place."""
    cdef int64_t n = x.shape[0], i
    with nogil:
        for i in range(n):
            if mode[i] == MODE_PHASE_QIF:
                x[i] = qif_advance(x[i], t - tl[i], tau[i & m_tau], drive[i & m_drive])
                tl[i] = t
