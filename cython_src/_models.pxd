# The one dispatch point between neuron models: the engine calls these, never a model's kernels directly.
#
# A neuron's kind says how it is stored and which kernels move it:
#   KIND_LIF_U  LIF in a shared class, stored as u = (I - v) E(t) (kernels `lif_u_*` of _lif.pxd, which the
#               engine calls itself: that representation is the LIF's alone)
#   KIND_LIF    LIF in a timed class, stored as (v, t_last)
#   KIND_QIF    QIF or theta (v = tan(theta / 2)) in a timed class, stored as (v, t_last)
#   KIND_EIF    exponential integrate-and-fire in a timed class, stored as (x, t_last) in the normalised
#               coordinate x = (v - V_T) / Delta_T (kernels of _eif.pxd by quadrature, no closed form; through
#               the tables of _eif_table.pxd where the engine has one for the neuron's drive); an active neuron
#               whose table's fast range holds x is stored by u = U(x), the time to blow-up, instead (its
#               `spare` field has SPARE_EIF_U), so that a kick takes two table evaluations: X(u - dt / tau)
#               and U of the kicked state, which is also its time to threshold
#   KIND_LIF_EXP  LIF with exponential synaptic currents in a timed class, stored as (v, t_last) and the
#               currents (I_e, I_i) at t_last in the engine's `cur`; its kernels (_lif_exp.pxd) take the
#               whole state, so the engine calls them itself, as for KIND_LIF_U
#   KIND_LINEAR  a linear model dx/dt = A x + b of dimension <= 4 (_linear.pxd) in a timed class: v in the
#               record (x), the state vector at t_last in the engine's `lin`, the class's matrices in
#               `lin_sys`; the engine calls its kernels itself
#   KIND_COBA   LIF with exponential conductances sharing one time constant (Brian2's COBA form) in a timed
#               class, stored as (v, t_last) and the conductances (g_e, g_i) at t_last in `cur`, as
#               KIND_LIF_EXP; its kernels (_coba.pxd) take the whole state, so the engine calls them itself
# A model for timed classes provides, in a file of its own: the free evolution over dt (no spike in
# between), the time until v first reaches a level (infinite when it never does), and the pulse.
# The reset stores the reset value (given in the model's coordinate) with t_last = the spike time.
from ._lif cimport lif_advance, lif_time_to
from ._qif cimport qif_advance, qif_time_to
from ._eif cimport eif_advance, eif_time_to

cdef enum:
    KIND_LIF_U = 0
    KIND_LIF = 1
    KIND_QIF = 2
    KIND_LIF_EXP = 3
    KIND_EIF = 4
    KIND_LINEAR = 5
    KIND_COBA = 6
    KIND_BITS = 3       # a kind fits in this many bits of a neuron's flags (room for 8 kinds)


cdef inline double model_advance(int kind, double v, double dt, double tau, double I) noexcept nogil:
    """v after a free evolution of duration dt >= 0 (timed kinds; no threshold crossing within dt)."""
    if kind == KIND_LIF:
        return lif_advance(v, dt, tau, I)
    if kind == KIND_EIF:
        return eif_advance(v, dt, tau, I)
    return qif_advance(v, dt, tau, I)


cdef inline double model_time_to(int kind, double v, double level, double tau, double I) noexcept nogil:
    """Time from v until the free evolution first reaches level > v (timed kinds); INFINITY if never."""
    if kind == KIND_LIF:
        return lif_time_to(v, level, tau, I)
    if kind == KIND_EIF:
        return eif_time_to(v, level, tau, I)
    return qif_time_to(v, level, tau, I)


cdef inline double model_kick(int kind, double v, double w) noexcept nogil:
    """v after a pulse of weight w (timed kinds): a delta pulse v += w for LIF, QIF and EIF (in x), and a
    delta current tan(theta / 2) += w for theta."""
    return v + w
