# Leaky integrate-and-fire kernels: tau dv/dt = I - v, pulses v += w.
#
# Two representations. A neuron of a timed class stores (v, t_last) and uses `lif_advance` and
# `lif_time_to`. A neuron of a shared class (one tau for the class, E = exp((t - t0) / tau) computed once
# per event time) stores u = (I - v) E, which is constant between events: a pulse, a reset, the threshold
# test and the heap key are then products and sums, with no transcendental function per synaptic event.
# ith = I - threshold and inv_ith = 1 / ith (0 where ith <= 0) are precomputed per neuron.
# All kernels are `noexcept nogil`; callers guarantee the preconditions stated beside each.
from libc.math cimport INFINITY, expm1, log1p


cdef inline double lif_advance(double v, double dt, double tau, double I) noexcept nogil:
    return v + (I - v) * (-expm1(-dt / tau))


cdef inline double lif_time_to(double v, double level, double tau, double I) noexcept nogil:
    # precondition: v < level
    if I <= level:
        return INFINITY
    return tau * log1p((level - v) / (I - level))


cdef inline double lif_u_of_v(double v, double I, double E) noexcept nogil:
    """u of a shared-class neuron at v (also its reset: v = reset)."""
    return (I - v) * E


cdef inline double lif_v_of_u(double u, double I, double E) noexcept nogil:
    return I - u / E


cdef inline double lif_u_kick(double u, double w, double E) noexcept nogil:
    """u after the pulse v += w."""
    return u - w * E


cdef inline bint lif_u_crossed(double u, double ith, double E) noexcept nogil:
    """Whether v is at or above threshold."""
    return u <= ith * E


cdef inline double lif_u_key(double u, double ith, double inv_ith) noexcept nogil:
    """The heap key E(t*) of the next threshold crossing (infinite if the neuron never fires on its own)."""
    return u * inv_ith if ith > 0.0 else INFINITY
