"""Slow, independent reference for networks with short-term plasticity (tests only).

`StpOracle` is `stdp_oracle.PlasticOracle` (every synapse an object of its own, a delayed spike an
arrival of one synapse) with Tsodyks-Markram synapses instead of STDP rules. Each synapse keeps u and x at
its last arrival as Python floats; at an arrival it moves them to the arrival time in the form ``x(t) =
1 - (1 - x) exp(-dt/tau_d)`` (the engine writes ``1 + (x - 1) exp(-dt/tau_d)``), then runs the statements
of its ``order`` one by one, the kick of the arrival being ``w*u*x`` at that point. The kicks of a generation
are summed per target as in `Oracle`, after the statements before the kick of every arrival of the
generation and before those after it (the synapses are independent, so the split changes no number).
"""

import numpy as np
from oracle import DELAYED
from stdp_oracle import PlasticOracle

__all__ = ["StpOracle"]


class StpOracle(PlasticOracle):
    """`PlasticOracle` with short-term plastic synapses.

    Parameters
    ----------
    n, generator, **kwargs
        As `PlasticOracle` (no STDP rules).
    stp : dict of {int: dict}
        For each plastic synapse (numbered as in `PlasticOracle`): ``U``, ``tau_f`` and ``tau_d`` (None:
        no facilitation / depression), ``u_rest``, ``order`` (a sequence of 'u', 'kick', 'x'), and the
        initial ``u`` and ``x``.
    """

    def __init__(self, n, stp, generator=None, **kwargs):
        super().__init__(n, generator=generator, **kwargs)
        self.stp = {k: dict(p, t=0.0) for k, p in stp.items()}

    def _statement(self, s, name):
        if name == "u":
            s["u"] = s["u"] + s["U"] * (1 - s["u"])
        elif name == "x":
            s["x"] = s["x"] * (1 - s["u"])

    def _kick_weight(self, k):
        """Relax synapse k to now and run its statements up to the kick; the kick."""
        s = self.stp[k]
        dt = self.t - s["t"]
        if s["tau_f"] is not None:
            s["u"] = s["u_rest"] - (s["u_rest"] - s["u"]) * np.exp(-dt / s["tau_f"])
        if s["tau_d"] is not None:
            s["x"] = 1 - (1 - s["x"]) * np.exp(-dt / s["tau_d"])
        s["t"] = self.t
        for name in s["order"][: s["order"].index("kick")]:
            self._statement(s, name)
        return self.w[k] * s["u"] * s["x"]

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
            per_target = {}
            for k in events:
                w = self._kick_weight(k) if k in self.stp else self.w[k]
                per_target.setdefault(self.target[k], []).append(w)
            for k in events:
                if k in self.stp:
                    s = self.stp[k]
                    for name in s["order"][s["order"].index("kick") + 1 :]:
                        self._statement(s, name)
            events = []
            for j, weights in per_target.items():
                self._kick(j, np.sort(np.asarray(weights, self.dtype)).sum(dtype=self.dtype), fifo)
        self._fired_now = []
