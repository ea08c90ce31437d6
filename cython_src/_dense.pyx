"""The conventional exact event-driven method, as a baseline: every neuron is advanced at every spike.

For networks of identical LIF neurons (tau dv/dt = I - v, threshold, reset; no delays, no refractoriness),
the next neuron to fire is the one with the highest v, and one factor exp(-dt/tau) advances all of them:
O(N) work per network spike. Benchmarks measure SparseProp against it; it produces the same spike sequence.
"""
import numpy as np

from libc.math cimport exp, log1p
from ._typedefs cimport idx_t, float64_t


def dense_lif_run(double[::1] v, double I, double threshold, double reset, double tau,
                  const long[::1] indptr, const int[::1] indices, double weight, double t_stop):
    """Simulate until t_stop from t = 0; v is updated in place. Returns (spike times, neuron indices).

    Requires I > threshold (mean-driven) and weight <= 0 (no cascades), as in the standard network S1.
    """
    if not I > threshold or weight > 0:
        raise ValueError(f"dense_lif_run needs I > threshold and weight <= 0, found I={I}, "
                         f"threshold={threshold}, weight={weight}")
    cdef Py_ssize_t n = v.shape[0], i, k, best
    cdef double t = 0.0, dt, f, vmax
    times, who = [], []
    with nogil:
        while True:
            best = 0
            vmax = v[0]
            for i in range(1, n):
                if v[i] > vmax:
                    vmax = v[i]
                    best = i
            dt = tau * log1p((threshold - vmax) / (I - threshold))
            if t + dt >= t_stop:
                break
            t += dt
            f = exp(-dt / tau)
            for i in range(n):
                v[i] = I - (I - v[i]) * f
            v[best] = reset
            for k in range(indptr[best], indptr[best + 1]):
                v[indices[k]] += weight
            with gil:
                times.append(t)
                who.append(best)
    return np.array(times), np.array(who, dtype=np.int32)
