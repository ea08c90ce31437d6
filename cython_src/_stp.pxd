# Short-term plasticity (Tsodyks-Markram depression and facilitation) with event-driven variables, per synapse:
#
#   du/dt = (u_rest - u)/tau_f, dx/dt = (1 - x)/tau_d      (event-driven: closed form between arrivals)
#   on_pre, at each arrival, in the order the model gives:  u += U*(1 - u);  v_post += w*u*x;  x -= u*x
#
# A synapse stores u and x at the time of its last arrival (`StpState`, as Brian2 stores u, x and
# lastupdate). An arrival first relaxes both to its time, exactly (one exp each, as the code Brian2
# generates for event-driven variables), then applies the statements before the kick (`before`), the kick
# w*u*x with the values at that point, then the statements after it (`after`). Without facilitation u is
# the constant U (tau_f = inf, u_rest = U: it never moves); without depression x is the constant 1
# (tau_d = inf).
from libc.math cimport exp

# the statements of a rule's `before` and `after` sequences, 2 bits each, the first in the low bits
cdef enum:
    STP_U = 1                   # u += U*(1 - u)
    STP_X = 2                   # x -= u*x


cdef struct StpRule:
    double U                    # fraction of the facilitation step u += U*(1 - u)
    double u_rest               # fixed point of u
    double tau_f                # s; inf: u never relaxes
    double tau_d                # s; inf: x never relaxes
    int before                  # statements before the kick (STP_U, STP_X; 2 bits each, first lowest)
    int after                   # statements after the kick


cdef struct StpState:
    double u                    # u at time t
    double x                    # x at time t
    double t                    # the synapse's last arrival (relative to the engine's epoch)
    double w                    # its weight, kept while the engine's weight holds the kick w*u*x


cdef inline void stp_statements(const StpRule* r, StpState* s, int code) noexcept nogil:
    while code:
        if code & 3 == STP_U:
            s.u = s.u + r.U * (1.0 - s.u)
        else:
            s.x = s.x - s.u * s.x
        code >>= 2


cdef inline double stp_before(const StpRule* r, StpState* s, double w, double t) noexcept nogil:
    """The presynaptic spike arrives at t: relax u and x to t, apply the statements before the kick; returns
    the kick w*u*x (and keeps w)."""
    cdef double dt = t - s.t
    if dt != 0.0:
        s.u = r.u_rest + (s.u - r.u_rest) * exp(-dt / r.tau_f)
        s.x = 1.0 + (s.x - 1.0) * exp(-dt / r.tau_d)
        s.t = t
    stp_statements(r, s, r.before)
    s.w = w
    return w * s.u * s.x


cdef inline double stp_after(const StpRule* r, StpState* s) noexcept nogil:
    """After the kick: the statements after it; returns the weight kept by `stp_before`."""
    stp_statements(r, s, r.after)
    return s.w
