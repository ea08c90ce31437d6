"""Slow, independent reference for networks of conductance-based LIF neurons (``model="coba"``), tests only.

The conventional exact method: every neuron is advanced to every event. The state comes from the closed
form in incomplete gamma functions (Brette 2006), through SciPy's regularised lower incomplete gamma
function: with u = v - E_L, g = g_e + g_i, c = g_e (E_e - E_L) + g_i (E_i - E_L), rho = tau_s / tau_m < 1,
p = 1 - rho, a = rho g0, q = exp(-s/tau_s), x = a q,

    u(s) = exp(-s/tau_m - a (1 - q)) u0 + (c0 / tau_m) J(s),
    J(s) = tau_s Gamma(p) exp(x) (q**rho a**-p P(p, a) - q x**-p P(p, x)),   P = scipy.special.gammainc,

(the engine integrates J by quadrature of its integrand instead, and finds crossings by root isolation).
The next threshold crossing of each neuron before the next event is found on a grid of 2000 points refined
by Brent's method (step-and-check: it would miss a grazing crossing, which random networks do not produce).
No refractoriness, delays > 0 (no cascades within an instant).
"""

import heapq

import numpy as np
from scipy.optimize import brentq
from scipy.special import gamma, gammainc


def coba_v(s, v0, ge, gi, tau_m, tau_s, E_L, E_e, E_i):
    """v after a free evolution of s >= 0 (array), by the incomplete gamma closed form (tau_s < tau_m)."""
    s = np.asarray(s, float)
    rho = tau_s / tau_m
    p = 1.0 - rho
    g0 = ge + gi
    a = rho * g0
    c0 = ge * (E_e - E_L) + gi * (E_i - E_L)
    q = np.exp(-s / tau_s)
    u = np.exp(-s / tau_m - a * (1.0 - q)) * (v0 - E_L)
    if c0 != 0.0:
        x = a * q
        J = tau_s * gamma(p) * np.exp(x) * (q**rho * a**-p * gammainc(p, a) - q * x**-p * gammainc(p, x))
        u = u + c0 / tau_m * J
    return E_L + u


class CobaOracle:
    def __init__(self, tau_m, tau_s, E_L, E_e, E_i, theta, reset, v0, indptr, indices, weights, delays):
        self.tm, self.ts, self.EL, self.Ee, self.Ei = tau_m, tau_s, E_L, E_e, E_i
        self.theta, self.reset = theta, reset
        self.v = np.array(v0, float)
        self.n = self.v.size
        self.g = np.zeros((self.n, 2))
        self.indptr, self.indices = np.asarray(indptr), np.asarray(indices)
        self.weights = np.broadcast_to(weights, self.indices.shape)
        self.delays = np.broadcast_to(delays, self.indices.shape)
        self.t = 0.0
        self.queue = []  # (time, seq, target, weight)
        self.seq = 0
        self.spikes = []

    def flow(self, i, s):
        return coba_v(s, self.v[i], *self.g[i], self.tm, self.ts, self.EL, self.Ee, self.Ei)

    def advance(self, s):
        self.v = np.array([self.flow(i, s) for i in range(self.n)])
        self.g *= np.exp(-s / self.ts)
        self.t += s

    def first_crossing(self, i, span):
        s = np.linspace(0.0, span, 2001)
        f = self.flow(i, s) - self.theta
        above = np.flatnonzero(f >= 0)
        if above.size == 0:
            return np.inf
        k = above[0]
        if k == 0:
            return 0.0
        return brentq(lambda u: self.flow(i, u) - self.theta, s[k - 1], s[k], xtol=1e-18, rtol=1e-15)

    def add_input(self, t, target, weight):
        heapq.heappush(self.queue, (t, self.seq, target, weight))
        self.seq += 1

    def spike(self, i, t):
        self.spikes.append((t, i))
        self.v[i] = self.reset
        for k in range(self.indptr[i], self.indptr[i + 1]):
            self.add_input(t + self.delays[k], self.indices[k], self.weights[k])

    def run(self, t_stop):
        while True:
            t_ev = min(self.queue[0][0] if self.queue else t_stop, t_stop)
            cross = np.array([self.first_crossing(i, t_ev - self.t) for i in range(self.n)])
            i = int(np.argmin(cross))
            if cross[i] <= t_ev - self.t and self.t + cross[i] < t_stop:
                t = self.t + cross[i]
                self.advance(cross[i])
                self.t = t
                self.spike(i, t)
                continue
            if t_ev >= t_stop:
                return
            self.advance(t_ev - self.t)
            self.t = t_ev
            kicks = {}
            while self.queue and self.queue[0][0] == t_ev:
                _, _, j, w = heapq.heappop(self.queue)
                kicks.setdefault(j, []).append(w)
            for j, ws in sorted(kicks.items()):
                self.g[j, 0] += sum(sorted(w for w in ws if w > 0))
                self.g[j, 1] -= sum(sorted(w for w in ws if w < 0))
