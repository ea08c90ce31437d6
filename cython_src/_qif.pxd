# Quadratic integrate-and-fire kernels: tau dv/dt = v**2 + I (any sign of I), pulses v += w.
#
# The theta neuron is the QIF with threshold +inf and reset -inf in the coordinate v = tan(theta / 2), so
# both share these kernels (v may be -inf right after a reset); `theta_of_v` maps back. All kernels are
# `noexcept nogil`; callers guarantee the preconditions stated beside each.
from libc.math cimport INFINITY, M_PI, M_PI_2, atan, atan2, isinf, log1p, sqrt, tan, tanh


# The kernels for I > 0 with a = sqrt(I), a / tau, 1 / a and tau / a given (the engine's fast path for a class
# whose tau, drive and threshold are shared computes them once, `qif_par`): the generic kernels compute the
# same constants the same way and call these, so both give the same result to the bit.
cdef struct QifPar:
    double tau
    double drive            # I > 0 (not named I: a macro of complex.h)
    double a                # sqrt(I)
    double a_tau            # a / tau
    double inv_a            # 1 / a
    double tau_a            # tau / a
    double thr              # threshold (+inf for theta)


cdef inline void qif_par(QifPar* p, double tau, double I, double thr) noexcept nogil:
    p.tau = tau
    p.drive = I
    p.a = sqrt(I)
    p.a_tau = p.a / tau
    p.inv_a = 1.0 / p.a
    p.tau_a = tau / p.a
    p.thr = thr


cdef inline double qif_advance_pos(double v, double dt, double a, double a_tau) noexcept nogil:
    # `qif_advance` for I > 0: with s = tan(a dt / tau), the tangent addition (v + I T) / (1 - v T) for
    # T = s / a, written as a (v + a s) / (a - v s): one division, none by a (I = a**2 to rounding). +inf if
    # the angle a dt / tau reaches the pole (within rounding, e.g. a readout at the spike time of a theta
    # neuron): the denominator's sign is that of cos(angle of v + a dt / tau) times that of s.
    cdef double x, s, d
    if dt == 0.0:
        return v
    x = dt * a_tau
    s = tan(x)
    if isinf(v):
        return INFINITY if x >= M_PI else -a / s
    d = a - v * s
    if (d <= 0.0) != (s < 0.0):
        return INFINITY
    return a * (v + a * s) / d


cdef inline double qif_angle(double y, double x, double inv_y) noexcept nogil:
    # atan2(y, x) for y > 0 (inv_y = 1 / y; x finite or -inf), in (0, pi): atan(y / x) for x > 0 (the small
    # angles of large x keep their relative precision), else pi / 2 + atan(-x / y) (a sum of two terms >= 0).
    # One atan instead of atan2 (which costs twice as much in glibc).
    if x > 0.0:
        return atan(y / x)
    return M_PI_2 + atan(-x * inv_y)


cdef inline double qif_time_to_pos(double v, double level, double I, double a, double inv_a,
                                   double tau_a) noexcept nogil:
    # `qif_time_to` for I > 0: (tau / a) times the angle from atan2(a, v) to atan2(a, level)
    cdef double y, x
    if isinf(level):
        return tau_a * qif_angle(a, v, inv_a)
    if isinf(v):
        return tau_a * (M_PI - atan2(a, level))
    y = a * (level - v)
    x = I + level * v
    return tau_a * (atan(y / x) if x > 0.0 else M_PI_2 + atan(-x / y))      # atan2(y, x) as in `qif_angle`


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
    cdef double T, a
    if I > 0.0:
        a = sqrt(I)
        return qif_advance_pos(v, dt, a, a / tau)
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
        return qif_time_to_pos(v, level, I, a, 1.0 / a, tau / a)
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
