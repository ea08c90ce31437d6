"""Slow, independent reference for networks of linear neurons (``model="linear"``), tests only.

The conventional exact method: every neuron is advanced to every event, in closed form from the
eigendecomposition of its augmented matrix M (y = (1, x), dy/dt = M y: y(s) = V e^{Lambda s} V^{-1} y0, so the
time constants of a neuron must be distinct), and the next threshold crossing of each neuron before the next
event is found on a grid of 4000 points refined by Brent's method (step-and-check: it would miss a grazing
crossing, which random networks do not produce). It shares no code with the engine (no Rolle recursion, no
matrix exponential by squaring). No refractoriness, delays > 0 (no cascades within an instant).
"""

import heapq

import numpy as np
from scipy.optimize import brentq

from brian2_sparseprop import EventNetwork


class LinearOracle:
    def __init__(self, M, c, theta, reset_v, vi, ra, rr, pos, neg, y0, indptr, indices, weights, delays):
        self.M, self.c, self.theta = np.asarray(M, float), np.asarray(c, float), np.asarray(theta, float)
        self.reset_v, self.vi, self.ra, self.rr = np.asarray(reset_v, float), vi, np.asarray(ra), np.asarray(rr)
        self.pos, self.neg = pos, neg
        self.y = np.array(y0, float)
        self.n = self.y.shape[0]
        self.indptr, self.indices = np.asarray(indptr), np.asarray(indices)
        self.weights, self.delays = (
            np.broadcast_to(weights, self.indices.shape),
            np.broadcast_to(delays, self.indices.shape),
        )
        self.eig = []
        for i in range(self.n):
            lam, V = np.linalg.eig(self.M[i])
            self.eig.append((lam.real, V.real, np.linalg.inv(V.real)))
        self.t = 0.0
        self.queue = []  # (time, seq, target, weight)
        self.seq = 0
        self.spikes = []

    def flow(self, i, s):
        lam, V, W = self.eig[i]
        return V @ (np.exp(lam * s) * (W @ self.y[i]))

    def first_crossing(self, i, span):
        lam, V, W = self.eig[i]
        a = (self.c[i] @ V) * (W @ self.y[i])
        s = np.linspace(0.0, span, 4001)
        f = np.exp(np.outer(s, lam)) @ a - self.theta[i]
        above = np.flatnonzero(f >= 0)
        if above.size == 0:
            return np.inf
        k = above[0]
        if k == 0:
            return 0.0
        return brentq(lambda u: np.exp(u * lam) @ a - self.theta[i], s[k - 1], s[k], xtol=1e-18, rtol=1e-15)

    def add_input(self, t, target, weight):
        heapq.heappush(self.queue, (t, self.seq, target, weight))
        self.seq += 1

    def spike(self, i, t):
        self.spikes.append((t, i))
        y = self.y[i]
        y[1:] = self.ra[i, 1:] * y[1:] + self.rr[i, 1:]
        y[self.vi] = self.reset_v[i]
        for k in range(self.indptr[i], self.indptr[i + 1]):
            self.add_input(t + self.delays[k], self.indices[k], self.weights[k])

    def run(self, t_stop):
        while True:
            t_ev = self.queue[0][0] if self.queue else t_stop
            t_ev = min(t_ev, t_stop)
            cross = np.array([self.first_crossing(i, t_ev - self.t) for i in range(self.n)])
            i = int(np.argmin(cross))
            if cross[i] <= t_ev - self.t and self.t + cross[i] < t_stop:
                t = self.t + cross[i]
                self.y = np.array([self.flow(j, cross[i]) for j in range(self.n)])
                self.t = t
                self.spike(i, t)
                continue
            if t_ev >= t_stop:
                return
            self.y = np.array([self.flow(j, t_ev - self.t) for j in range(self.n)])
            self.t = t_ev
            kicks = {}
            while self.queue and self.queue[0][0] == t_ev:
                _, _, j, w = heapq.heappop(self.queue)
                kicks.setdefault(j, []).append(w)
            for j, ws in sorted(kicks.items()):
                wn, wp = sum(sorted(w for w in ws if w < 0)), sum(sorted(w for w in ws if w > 0))
                self.y[j][self.neg] += wn
                self.y[j][self.pos] += wp
                if self.c[j] @ self.y[j] >= self.theta[j]:
                    self.spike(j, t_ev)


def oracle_for(net, gen_times, gen_targets, gen_weights, indptr, indices, weights, delays):
    L = net._linear
    sys = L["sys"][L["cls"]]
    D = int(sys["D"][0])
    y0 = np.zeros((net.n, D))
    y0[:, 0] = 1.0
    y0[:, 1:] = L["x0"]
    y0[:, int(sys["vi"][0])] = net._v_init
    o = LinearOracle(
        sys["M"][:, :D, :D],
        sys["c"][:, :D],
        L["theta"],
        L["reset"],
        int(sys["vi"][0]),
        sys["ra"][:, :D],
        sys["rr"][:, :D],
        int(sys["pos"][0]),
        int(sys["neg"][0]),
        y0,
        indptr,
        indices,
        weights,
        delays,
    )
    for t, j, w in zip(gen_times, gen_targets, gen_weights):
        o.add_input(t, j, w)
    return o


def random_net(rng, n, model):
    k = 3
    indices = np.concatenate([rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)])
    indptr = np.arange(0, n * k + 1, k)
    weights = rng.uniform(-0.4, 0.8, n * k)
    delays = rng.uniform(0.001, 0.003, n * k)
    gen_times = np.sort(rng.uniform(0, 0.2, 40))
    gen_targets = rng.integers(0, n, 40)
    gen_weights = rng.uniform(0.2, 1.0, 40)
    net = EventNetwork(
        n,
        model="linear",
        linear=model,
        v_init=rng.uniform(0, 0.5, n),
        indptr=indptr,
        indices=indices,
        weights=weights,
        delays=delays,
    )
    net.add_spike_generator(gen_times, np.arange(40), 40, np.arange(41), gen_targets, weights=gen_weights)
    o = oracle_for(net, gen_times, gen_targets, gen_weights, indptr, indices, weights, delays)
    return net, o
