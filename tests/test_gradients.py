"""Exact gradients through the event engine (LIF, delta pulses): the tape and the backward pass.

Checked against central finite differences of the forward engine and against an independent reference:
a forward-mode (tangent) replay of the same event sequence in pure Python, written here from the closed
form of the spike times (t_k = tau log(U / (I - theta)), U = (I - v_s) e^{s/tau} - sum w e^{t_a/tau}),
with a tangent vector over all parameters carried through every operation.
"""

import math

import numpy as np
import pytest

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.spiking.gradients import SpikeGradient, lif_gradient

T = 0.12
# the networks of the tests: per-neuron or shared tau, delays or none, refractoriness or none, the sign
# of the weights (mixed, or excitatory only: cascades of pulse-triggered spikes without delay)
CONFIGS = {
    "shared-tau": dict(tau_spread=0.0, delays=False, tref=0.0),
    "delays-refractory": dict(tau_spread=0.002, delays=True, tref=0.002),
    "delays": dict(tau_spread=0.0, delays=True, tref=0.0),
    "excitatory-cascades": dict(tau_spread=0.0, delays=False, tref=0.001, sign=1),
    "inhibitory": dict(tau_spread=0.002, delays=True, tref=0.0, sign=-1),
}


def random_params(rng, n=20, k=4, tau_spread=0.0, delays=True, tref=0.0, sign=0):
    """A small random LIF network with per-synapse weights (of one sign, or both) and delays."""
    targets = [rng.choice(np.delete(np.arange(n), j), size=k, replace=False) for j in range(n)]
    w = rng.normal(0.0, 0.15, n * k)
    return dict(
        n=n,
        tau=0.01 + tau_spread * rng.uniform(-1, 1, n),
        drive=rng.uniform(1.1, 1.6, n),
        refractory=tref,
        v_init=rng.uniform(0, 0.9, n),
        indptr=np.arange(0, n * k + 1, k),
        indices=np.concatenate(targets),
        weights=sign * np.abs(w) if sign else w,
        delays=rng.uniform(0.0005, 0.003, n * k) if delays else 0.0,
    )


def simulate(params, durations=(T,)):
    net = EventNetwork(**params)
    for d in durations:
        net.run(d, record_tape=True)
    return net


def loss(net, c, b):
    return float(c @ net.spike_times + b @ net.v)


@pytest.mark.parametrize("config", CONFIGS)
def test_gradient_matches_central_differences(rng, config):
    params = random_params(rng, **CONFIGS[config])
    net = simulate(params)
    assert net.spike_times.size > 50
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=params["n"])
    g = net.gradient(c, b)
    assert g.n_coincident == 0 and g.n_unresolved == 0
    if CONFIGS[config].get("sign", 0) < 0:
        assert g.n_pulse_triggered == 0
    h = 1e-7
    for name, grad in (("weights", g.weights), ("drive", g.drive), ("v_init", g.v0)):
        direction = rng.normal(size=np.shape(params[name]))
        values = []
        for sign in (1, -1):
            other = simulate(dict(params, **{name: params[name] + sign * h * direction}))
            # the regime of the test: the perturbation keeps the order of events
            np.testing.assert_array_equal(other.spike_indices, net.spike_indices)
            values.append(loss(other, c, b))
        fd = (values[0] - values[1]) / (2 * h)
        # relative agreement 1e-5 (finite differences: truncation ~h^2, rounding ~1e-16 / h)
        assert grad @ direction == pytest.approx(fd, rel=1e-5, abs=1e-6), name


class Dual:
    """A number with a tangent vector (forward-mode differentiation), for the reference replay."""

    __slots__ = ("x", "dx")

    def __init__(self, x, dx):
        self.x, self.dx = float(x), dx

    @staticmethod
    def lift(a):
        return a if isinstance(a, Dual) else Dual(a, 0.0)

    def __add__(self, o):
        o = Dual.lift(o)
        return Dual(self.x + o.x, self.dx + o.dx)

    __radd__ = __add__

    def __sub__(self, o):
        o = Dual.lift(o)
        return Dual(self.x - o.x, self.dx - o.dx)

    def __rsub__(self, o):
        return Dual.lift(o) - self

    def __mul__(self, o):
        o = Dual.lift(o)
        return Dual(self.x * o.x, self.dx * o.x + self.x * o.dx)

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = Dual.lift(o)
        return Dual(self.x / o.x, (self.dx * o.x - self.x * o.dx) / (o.x * o.x))

    def exp(self):
        e = math.exp(self.x)
        return Dual(e, e * self.dx)

    def log(self):
        return Dual(math.log(self.x), self.dx / self.x)


def forward_mode_reference(params, net, c, b):
    """dL/d(weights, drive, v0) by replaying the recorded event order with tangents (pure Python)."""
    n, nnz = params["n"], params["indices"].size
    eye = np.eye(nnz + 2 * n)
    w = [Dual(x, eye[s]) for s, x in enumerate(params["weights"])]
    drive = [Dual(x, eye[nnz + i]) for i, x in enumerate(params["drive"])]
    v0 = [Dual(x, eye[nnz + n + i]) for i, x in enumerate(params["v_init"])]
    tau = np.broadcast_to(params["tau"], (n,))
    tref = params["refractory"]
    delays = np.broadcast_to(params["delays"], (nnz,))
    times, neuron = net.spike_times, net.spike_indices
    kicked = np.concatenate(net._tape)
    t_dual = []
    arrivals = [[] for _ in range(n)]  # per target: (primal time, dual time, synapse)
    last = [None] * n  # per neuron: (primal, dual) time of its last spike so far

    def potential_u(i, t_end):
        """U of neuron i's current segment, with the arrivals before t_end."""
        if last[i] is None:
            start_x, start, v_start = 0.0, Dual(0.0, 0.0), v0[i]
        else:
            start_x, start, v_start = last[i][0] + tref, last[i][1] + tref, params["reset"]
        U = (drive[i] - v_start) * (start / tau[i]).exp()
        for ta_x, ta, s in arrivals[i]:
            if start_x <= ta_x < t_end and (last[i] is None or ta_x > last[i][0]):
                U = U - w[s] * (ta / tau[i]).exp()
        return U, start_x

    for k in range(times.size):
        i = int(neuron[k])
        if kicked[k]:  # the time of the latest arrival at that instant (the one that crossed)
            tk = [ta for ta_x, ta, s in arrivals[i] if ta_x == times[k]][-1]
        else:
            U, _ = potential_u(i, times[k])
            tk = tau[i] * (U / (drive[i] - params["threshold"])).log()
        assert tk.x == pytest.approx(times[k], abs=1e-12)
        t_dual.append(tk)
        last[i] = (times[k], tk)
        for s in range(params["indptr"][i], params["indptr"][i + 1]):
            arrivals[params["indices"][s]].append((times[k] + delays[s], tk + delays[s], s))
    L = sum((float(ck) * tk for ck, tk in zip(c, t_dual, strict=True)), Dual(0.0, 0.0))
    for i in range(n):
        U, start_x = potential_u(i, T)
        if start_x <= T:
            L = L + float(b[i]) * (drive[i] - U * math.exp(-T / tau[i]))
    return L.dx[:nnz], L.dx[nnz : nnz + n], L.dx[nnz + n :]


@pytest.mark.parametrize("config", CONFIGS)
def test_gradient_matches_forward_mode_reference(rng, config):
    params = dict(random_params(rng, **CONFIGS[config]), threshold=1.0, reset=0.0)
    net = simulate(params)
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=params["n"])
    g = net.gradient(c, b)
    ref_w, ref_drive, ref_v0 = forward_mode_reference(params, net, c, b)
    # both are exact: they agree to rounding (relative 1e-8 of the largest component)
    for got, ref in ((g.weights, ref_w), (g.drive, ref_drive), (g.v0, ref_v0)):
        np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-8 * np.abs(ref).max())


def test_runs_in_pieces_give_the_gradient_of_the_whole_run(rng):
    params = random_params(rng, **CONFIGS["delays-refractory"])
    whole, pieces = simulate(params), simulate(params, (0.03, 0.05, T - 0.08))
    np.testing.assert_array_equal(pieces.spike_indices, whole.spike_indices)
    c = rng.normal(size=whole.spike_times.size)
    g1, g2 = whole.gradient(c), pieces.gradient(c)
    np.testing.assert_allclose(g2.weights, g1.weights, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g2.drive, g1.drive, rtol=1e-9, atol=1e-12)


def test_tape_leaves_the_forward_run_unchanged(rng):
    params = random_params(rng)
    plain = EventNetwork(**params)
    plain.run(T)
    taped = simulate(params)
    np.testing.assert_array_equal(taped.spike_times, plain.spike_times)
    np.testing.assert_array_equal(taped.spike_indices, plain.spike_indices)


def test_scalar_parameters_get_scalar_gradients(rng):
    params = dict(random_params(rng, delays=False), weights=0.05, drive=1.3)
    net = simulate(params)
    c = rng.normal(size=net.spike_times.size)
    g = net.gradient(c)
    per = simulate(dict(params, weights=np.full(params["indices"].size, 0.05), drive=np.full(params["n"], 1.3)))
    gp = per.gradient(c)
    assert isinstance(g.weights, float) and isinstance(g.drive, float)
    assert g.weights == pytest.approx(gp.weights.sum(), rel=1e-12)
    assert g.drive == pytest.approx(gp.drive.sum(), rel=1e-12)


def test_pulse_triggered_spike_is_counted_and_passes_its_time_on():
    # neuron 0 fires on its own at t0 = 0.01 ln(3); 1 ms later its pulse (0.6) lifts neuron 1 (resting
    # near 0.5) over threshold: neuron 1's spike has the arrival's time, whatever its own parameters
    params = dict(n=2, drive=[1.5, 0.5], v_init=[0.0, 0.5], indptr=[0, 1, 1], indices=[1], weights=[0.6], delays=0.001)
    net = simulate(params, (0.015,))
    np.testing.assert_array_equal(net.spike_indices, [0, 1])
    t0 = 0.01 * np.log(3.0)
    assert net.spike_times[1] == pytest.approx(t0 + 0.001, abs=1e-15)
    g = net.gradient([0.0, 1.0])
    assert g.n_pulse_triggered == 1 and g.n_coincident == 0 and g.n_unresolved == 0
    assert g.weights[0] == 0.0 and g.drive[1] == 0.0 and g.v0[1] == 0.0
    # dt0/dI0 of t0 = tau ln(I / (I - 1)) at I = 1.5, v0 = 0
    assert g.drive[0] == pytest.approx(0.01 * (1 / 1.5 - 1 / 0.5), rel=1e-12)


def test_arrival_at_a_spike_of_its_target_is_counted():
    # two identical neurons fire on their own at the same instant and kick each other without delay:
    # each pulse reaches a neuron in the instant of its own spike and is absorbed by the reset
    params = dict(n=2, drive=1.5, indptr=[0, 1, 2], indices=[1, 0], weights=-0.1)
    net = simulate(params, (0.015,))
    np.testing.assert_array_equal(net.spike_times[0], net.spike_times[1])
    assert net.gradient(np.ones(2)).n_coincident == 2


def test_gradient_errors():
    net = EventNetwork(3, drive=1.5, indptr=[0, 1, 2, 2], indices=[1, 2], weights=0.1)
    with pytest.raises(ValueError, match="no tape to differentiate"):
        net.gradient([])
    net.run(0.01)
    with pytest.raises(ValueError, match="no tape to differentiate"):
        net.gradient(np.zeros(net.spike_times.size))
    with pytest.raises(ValueError, match="record_tape must be on from the first run"):
        net.run(0.01, record_tape=True)
    with pytest.raises(TypeError, match="record_tape must be a bool"):
        net.run(0.01, record_tape="yes")
    with pytest.raises(TypeError, match="net must be an EventNetwork"):
        lif_gradient("net", [])

    net = EventNetwork(3, drive=1.5, indptr=[0, 1, 2, 2], indices=[1, 2], weights=0.1)
    net.run(0.02, record_tape=True)
    k = net.spike_times.size
    with pytest.raises(ValueError, match=rf"dL_dspike_times must have shape \({k},\)"):
        net.gradient(np.zeros(k + 1))
    with pytest.raises(ValueError, match=r"dL_dv must have shape \(3,\)"):
        net.gradient(np.zeros(k), np.zeros(2))
    with pytest.raises(TypeError, match="dL_dspike_times must be an array of real numbers"):
        net.gradient(np.array(["a"] * k))
    with pytest.raises(ValueError, match="dL_dv must be finite"):
        net.gradient(np.zeros(k), [0.0, np.nan, 0.0])
    assert isinstance(net.gradient(np.zeros(k)), SpikeGradient)
    net.set_v(0.5, [0])
    with pytest.raises(ValueError, match="no tape to differentiate"):
        net.gradient(np.zeros(k))

    partial = EventNetwork(3, drive=1.5)
    partial.record_spikes([0])
    with pytest.raises(ValueError, match="record_tape needs the spikes of all neurons"):
        partial.run(0.01, record_tape=True)
    qif = EventNetwork(2, model="qif", drive=1.0)
    qif.run(0.01, record_tape=True)
    with pytest.raises(NotImplementedError, match="'lif' neurons only"):
        qif.gradient(np.zeros(qif.spike_times.size))
    poisson = EventNetwork(2, drive=0.5)
    poisson.add_poisson_input(100.0, 0.1)
    poisson.run(0.01, record_tape=True)
    with pytest.raises(NotImplementedError, match="Poisson or spike-generator"):
        poisson.gradient(np.zeros(poisson.spike_times.size))
    integ = EventNetwork(2, drive=1.5, refractory=0.001, integrate_refractory=True)
    integ.run(0.01, record_tape=True)
    with pytest.raises(NotImplementedError, match="integrate_refractory"):
        integ.gradient(np.zeros(integ.spike_times.size))
