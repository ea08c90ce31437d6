# Quadratic integrate-and-fire kernels: tau dv/dt = v**2 + I (any sign of I), pulses v += w.
#
# The theta neuron is the QIF with threshold +inf and reset -inf in the coordinate v = tan(theta / 2), so
# both share these kernels (v may be -inf right after a reset); `theta_of_v` maps back. All kernels are
# `noexcept nogil`; callers guarantee the preconditions stated beside each.
from libc.math cimport INFINITY, M_PI, atan, atan2, isinf, log1p, sqrt, tan, tanh


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
        if isinf(level):
            return tau / a * atan2(a, v)
        if isinf(v):
            return tau / a * (M_PI - atan2(a, level))
        return tau / a * atan2(a * (level - v), I + level * v)
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
