# Spike-timing-dependent plasticity with event-driven traces (Brian2's STDP form), per synapse:
#
#   dApre/dt = -Apre/tau_pre, dApost/dt = -Apost/tau_post        (event-driven: closed form between events)
#   on_pre  (the presynaptic spike arrives at the synapse):      Apre += d_pre;   w = clip(w + Apost, w_min, w_max)
#   on_post (the postsynaptic neuron fires):                     Apost += d_post; w = clip(w + Apre, w_min, w_max)
#
# A synapse stores its traces at the time of its last event (`SynTrace`, as Brian2 stores Apre, Apost and
# lastupdate); an event first decays both to its time, exactly (one exp each, the same expression as the
# code Brian2 generates for event-driven variables), then applies the increments. The engine calls
# `stdp_on_pre` when the synapse delivers its kick and `stdp_on_post` at the end of the instant in which
# the target fired, so at an exact tie every on_pre of an instant comes before every on_post (Brian2's
# order: the pre pathway has order -1, the post pathway +1, in the same 'synapses' slot).
from libc.math cimport exp, fmax, fmin


cdef struct StdpRule:
    double tau_pre              # s
    double tau_post             # s
    double d_pre                # increment of Apre at each arrival (added to w at postsynaptic spikes)
    double d_post               # increment of Apost at each postsynaptic spike (added to w at arrivals)
    double w_min
    double w_max
    int update_first            # 1: on_pre changes w before the kick (the kick uses the new weight)


cdef struct SynTrace:
    double apre                 # Apre at time t
    double apost                # Apost at time t
    double t                    # the synapse's last event (relative to the engine's epoch)


cdef inline void stdp_decay(const StdpRule* r, SynTrace* s, double t) noexcept nogil:
    """Both traces from s.t to t >= s.t, in closed form."""
    cdef double dt = t - s.t
    if dt != 0.0:
        s.apre = s.apre * exp(-dt / r.tau_pre)
        s.apost = s.apost * exp(-dt / r.tau_post)
        s.t = t


cdef inline double stdp_on_pre(const StdpRule* r, SynTrace* s, double w, double t) noexcept nogil:
    """The presynaptic spike arrives at t: returns the new weight."""
    stdp_decay(r, s, t)
    s.apre = s.apre + r.d_pre
    return fmin(fmax(w + s.apost, r.w_min), r.w_max)


cdef inline double stdp_on_post(const StdpRule* r, SynTrace* s, double w, double t) noexcept nogil:
    """The postsynaptic neuron fired at t: returns the new weight."""
    stdp_decay(r, s, t)
    s.apost = s.apost + r.d_post
    return fmin(fmax(w + s.apre, r.w_min), r.w_max)
