# Closed-form single-neuron kernels: the state after a free evolution of duration dt (no spike in between),
# and the time until the state first reaches a level. All are `noexcept nogil`; callers guarantee the
# preconditions stated beside each.
#
# LIF:  tau dv/dt = I - v.
# QIF:  tau dv/dt = v**2 + I; the theta neuron is the QIF with threshold +inf and reset -inf in the
#       coordinate v = tan(theta / 2), so both share these kernels (v may be -inf right after a reset).
from libc.math cimport exp, expm1, log, log1p, sqrt, tan, atan, INFINITY, isinf


cdef inline double lif_advance(double v, double dt, double tau, double I) noexcept nogil:
    return v + (I - v) * (-expm1(-dt / tau))


cdef inline double lif_time_to(double v, double level, double tau, double I) noexcept nogil:
    # precondition: v < level
    if I <= level:
        return INFINITY
    return tau * log1p((level - v) / (I - level))


cdef inline double qif_advance(double v, double dt, double tau, double I) noexcept nogil:
    # precondition: v does not reach +inf within dt
    cdef double a, x, R
    if dt == 0.0:
        return v
    if I > 0.0:
        a = sqrt(I)
        return a * tan(atan(v / a) + a * dt / tau)
    if I == 0.0:
        # -1/v advances uniformly at 1/tau (v = -inf gives -1/v = +0, v = +0 gives -inf: both stay right)
        x = -1.0 / v + dt / tau
        return -1.0 / x
    a = sqrt(-I)
    if v == -a:
        return v                       # stable fixed point
    R = 1.0 if isinf(v) else (v - a) / (v + a)
    R *= exp(2.0 * a * dt / tau)
    if isinf(R):
        return -a                      # long after: settled on the stable fixed point
    return a * (1.0 + R) / (1.0 - R)


cdef inline double qif_time_to(double v, double level, double tau, double I) noexcept nogil:
    # precondition: v < level; level may be +inf
    cdef double a, R, Rl
    if I > 0.0:
        a = sqrt(I)
        return tau / a * (atan(level / a) - atan(v / a))
    if I == 0.0:
        if v <= 0.0:
            return INFINITY
        return tau * (level - v) / (v * level) if not isinf(level) else tau / v
    a = sqrt(-I)
    if v <= a:
        return INFINITY                # below the unstable fixed point: decays to -a
    R = (v - a) / (v + a)
    Rl = 1.0 if isinf(level) else (level - a) / (level + a)
    return tau / (2.0 * a) * log(Rl / R)
