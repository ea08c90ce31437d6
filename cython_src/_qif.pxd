# Quadratic integrate-and-fire kernels: tau dv/dt = v**2 + I (any sign of I), pulses v += w.
#
# The theta neuron is the QIF with threshold +inf and reset -inf in the coordinate v = tan(theta / 2), so
# both share these kernels (v may be -inf right after a reset); `theta_of_v` maps back. All kernels are
# `noexcept nogil`; callers guarantee the preconditions stated beside each.
from libc.math cimport INFINITY, M_PI, atan, atan2, isinf, log1p, sqrt, tan, tanh


# The kernels for I > 0 with a = sqrt(I) and tau / a given (the engine's fast path for a class whose tau,
# drive and threshold are shared computes them once): the generic kernels call these, so both give the
# same result to the bit.
cdef struct QifPar:
    double tau
    double drive            # I > 0 (not named I: a macro of complex.h)
    double a                # sqrt(I)
    double tau_a            # tau / a
    double thr              # threshold (+inf for theta)


cdef inline void qif_par(QifPar* p, double tau, double I, double thr) noexcept nogil:
    p.tau = tau
    p.drive = I
    p.a = sqrt(I)
    p.tau_a = tau / p.a
    p.thr = thr


cdef inline double qif_advance_pos(double v, double dt, double tau, double I, double a) noexcept nogil:
    # `qif_advance` for I > 0 (T = tan(a dt / tau) / a)
    cdef double T
    if dt == 0.0:
        return v
    T = tan(a * (dt / tau)) / a
    if isinf(v):
        return -1.0 / T
    return (v + I * T) / (1.0 - v * T)


cdef inline double qif_time_to_pos(double v, double level, double I, double a, double tau_a) noexcept nogil:
    # `qif_time_to` for I > 0: (tau / a) times the angle from atan2(a, v) to atan2(a, level)
    if isinf(level):
        return tau_a * atan2(a, v)
    if isinf(v):
        return tau_a * (M_PI - atan2(a, level))
    return tau_a * atan2(a * (level - v), I + level * v)


cdef inline double qif_T(double s, double I) noexcept nogil:
    # tan(a s) / a for I > 0, s for I = 0, tanh(a s) / a for I < 0 (a = sqrt|I|): precise for any small |I|
    cdef double a
    if I > 0.0:
        a = sqrt(I)
        return tan(a * s) / a
    if I < 0.0:
        a = sqrt(-I)
        return tanh(a * s) / a
    return s


cdef inline double qif_advance(double v, double dt, double tau, double I) noexcept nogil:
    # precondition: v does not reach +inf within dt. With T = qif_T(dt / tau, I), the flow of
    # tau dv/dt = v**2 + I is v -> (v + I T) / (1 - v T) for every sign of I (tangent addition), and
    # -inf -> -1 / T; for I < 0 it settles on -sqrt(-I) without overflow.
    cdef double T
    if I > 0.0:
        return qif_advance_pos(v, dt, tau, I, sqrt(I))
    if dt == 0.0:
        return v
    T = qif_T(dt / tau, I)
    if isinf(v):
        return -1.0 / T
    return (v + I * T) / (1.0 - v * T)


cdef inline double qif_time_to(double v, double level, double tau, double I) noexcept nogil:
    # precondition: v < level; v may be -inf, level may be +inf. Written without differences of nearly
    # equal numbers, so that it stays precise as I -> 0.
    cdef double a
    if I > 0.0:
        a = sqrt(I)
        return qif_time_to_pos(v, level, I, a, tau / a)
    if I == 0.0:
        if v <= 0.0:
            return INFINITY
        return tau / v if isinf(level) else tau * (level - v) / (v * level)
    a = sqrt(-I)
    if v <= a:
        return INFINITY                # at or below the unstable fixed point: never reaches threshold
    if isinf(level):
        return tau / (2.0 * a) * log1p(2.0 * a / (v - a))
    return tau / (2.0 * a) * log1p(2.0 * a * (level - v) / ((level + a) * (v - a)))


cdef inline double theta_of_v(double v) noexcept nogil:
    """The phase theta in (-pi, pi] of a theta neuron stored as v = tan(theta / 2)."""
    return 2.0 * atan(v)
