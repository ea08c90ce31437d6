"""Slow, independent reference for networks with spike-timing-dependent plasticity (tests only).

`PlasticOracle` is the O(N)-per-event reference of `oracle.Oracle` with plastic synapses: every synapse is
an object of its own (recurrent synapses and those of a spike generator's sources), a delayed spike is
an arrival of one synapse, and the weight of a kick is read when it arrives. The traces are not stored
and decayed as the engine does: at each event they are recomputed as sums of exponentials over the whole
history of the synapse (``Apre(t) = sum_a d_pre exp(-(t - t_a)/tau_pre)`` over the arrivals taken so far,
``Apost(t)`` likewise over the target's spikes taken so far), which is the same number computed another
way.

Rule (Brian2's STDP example, the engine's documented semantics): at an arrival (on_pre) ``Apre += d_pre``
and ``w = clip(w + Apost, w_min, w_max)``, the kick using the weight before (after, with
``update_first``) that change; at a spike of the target (on_post) ``Apost += d_post`` and
``w = clip(w + Apre, w_min, w_max)``. Every on_pre of an instant comes before every on_post of that
instant: the target's spikes of an instant are taken once its cascade is over.
"""

import numpy as np
from oracle import DELAYED, EXTERNAL, Oracle

__all__ = ["PlasticOracle"]


class PlasticOracle(Oracle):
    """`Oracle` with per-synapse weights read at arrival and STDP rules.

    Parameters
    ----------
    n, **kwargs
        As `Oracle` (recurrent synapses: ``indptr``, ``indices``, ``weights``, ``delays``; no ``inputs``).
    generator : tuple, optional
        ``(times, sources, indptr, indices, weights, delays)``: spikes of external sources and their
        synapses onto the neurons (numbered after the recurrent synapses).
    rules : list of dict
        ``tau_pre``, ``tau_post``, ``d_pre``, ``d_post``, ``w_min``, ``w_max``, ``update_first``.
    syn_rule : array_like of int
        The rule of each synapse (recurrent, then the generator's), -1 for a static one.
    """

    def __init__(self, n, generator=None, rules=(), syn_rule=None, **kwargs):
        super().__init__(n, **kwargs)
        nnz = len(self.indices)
        self.target = [int(j) for j in self.indices]
        self.delay = [float(d) for d in self.delays]
        self.w = [float(w) for w in self.weights]
        self.out = [list(range(self.indptr[i], self.indptr[i + 1])) for i in range(n)]
        if generator is not None:
            times, sources, g_indptr, g_indices, g_weights, g_delays = generator
            m = len(g_indices)
            self.target += [int(j) for j in g_indices]
            self.delay += [float(d) for d in np.broadcast_to(g_delays, (m,))]
            self.w += [float(w) for w in np.broadcast_to(g_weights, (m,))]
            for t, s in zip(times, sources):
                for k in range(g_indptr[s], g_indptr[s + 1]):
                    self._schedule(float(t) + self.delay[nnz + k], self.target[nnz + k], nnz + k, EXTERNAL)
        self.rules = list(rules)
        total = len(self.target)
        self.syn_rule = np.full(total, -1) if syn_rule is None else np.asarray(syn_rule)
        self.arrivals = [[] for _ in range(total)]  # arrival times taken by each synapse
        self.post_spikes = [[] for _ in range(n)]  # spike times taken by each neuron's synapses
        self.onto = [[k for k in range(total) if self.target[k] == i] for i in range(n)]
        self._fired_now = []

    def set_synapses(self, weights=None, delays=None):
        """As `Oracle.set_synapses`, into the per-synapse lists this class reads (recurrent synapses)."""
        super().set_synapses(weights, delays)
        nnz = len(self.indices)
        if weights is not None:
            self.w[:nnz] = [float(w) for w in self.weights]
        if delays is not None:
            self.delay[:nnz] = [float(d) for d in self.delays]

    def _trace(self, times, t, tau, d):
        return sum(d * np.exp(-(t - s) / tau) for s in times)

    def _on_pre(self, k):
        rule = self.rules[self.syn_rule[k]]
        self.arrivals[k].append(self.t)
        apost = self._trace(self.post_spikes[self.target[k]], self.t, rule["tau_post"], rule["d_post"])
        self.w[k] = min(max(self.w[k] + apost, rule["w_min"]), rule["w_max"])

    def _on_post(self, k):
        rule = self.rules[self.syn_rule[k]]
        apre = self._trace(self.arrivals[k], self.t, rule["tau_pre"], rule["d_pre"])
        self.w[k] = min(max(self.w[k] + apre, rule["w_min"]), rule["w_max"])

    def _fire(self, j, fifo):
        super()._fire(j, fifo)
        self._fired_now.append(j)

    def _arrival(self, kind, j, w):
        return j, w  # the synapse, for both kinds: `_cascade` reads its weight

    def _cascade(self, fifo, arrivals=()):
        events = [k for _, k in arrivals]
        while fifo or events:
            while fifo:
                i = fifo.popleft()
                for k in self.out[i]:
                    if self.delay[k] == 0.0:
                        events.append(k)
                    else:
                        self._schedule(self.t + self.delay[k], self.target[k], k, DELAYED)
            plastic = [k for k in events if self.syn_rule[k] >= 0]
            first = [k for k in plastic if self.rules[self.syn_rule[k]]["update_first"]]
            for k in first:
                self._on_pre(k)
            per_target = {}
            for k in events:
                per_target.setdefault(self.target[k], []).append(self.w[k])
            for k in plastic:
                if k not in first:
                    self._on_pre(k)
            events = []
            for j, weights in per_target.items():
                self._kick(j, np.sort(np.asarray(weights, self.dtype)).sum(dtype=self.dtype), fifo)
        for i in self._fired_now:  # the instant is over: its postsynaptic spikes reach the synapses
            for k in self.onto[i]:
                if self.syn_rule[k] >= 0:
                    self._on_post(k)
            self.post_spikes[i].append(self.t)
        self._fired_now = []
