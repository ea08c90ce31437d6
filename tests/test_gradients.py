"""Exact gradients through the event engine (LIF, delta pulses): the tape and the backward pass.

Checked against central finite differences of the forward engine and against an independent reference:
a forward-mode (tangent) replay of the same event sequence in pure Python, written here from the closed
form of the spike times (t_k = tau log(U / (I - theta)), U = (I - v_s) e^{s/tau} - sum w e^{t_a/tau}),
with a tangent vector over all parameters carried through every operation.
"""

import math
import sys

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


def _duals(layout, name, values, size):
    """Dual numbers for a parameter (broadcast to ``size``), with unit tangents at its place in ``layout``."""
    offset, dim = layout["offsets"][name], layout["dim"]
    values = np.broadcast_to(np.asarray(values, dtype=float), (size,))
    return [Dual(x, np.eye(1, dim, offset + k)[0]) for k, x in enumerate(values)]


def forward_mode_reference(params, net, c, b, inputs=(), s=None):
    """dL/d(every parameter, per synapse and per neuron) by replaying the recorded event order with
    tangents (pure Python): the network's weights, delays, drive, v_init, tau, threshold and reset, and the
    weights and delays of each input part (``inputs``: Poisson parts first, then generators, as the
    engine numbers the presynaptic ids) for the input events on the tape. L = c . spike times + b . v(T)
    + sum(s * readouts) (``net.state_values``)."""
    n, nnz = params["n"], params["indices"].size
    sizes = {"weights": nnz, "delays": nnz, "drive": n, "v_init": n, "tau": n, "threshold": n, "reset": n}
    in_nnz = [np.asarray(part["indices"]).size for part in inputs]
    for p, m in enumerate(in_nnz):
        sizes[f"in{p}_weights"] = sizes[f"in{p}_delays"] = m
        if "times" in inputs[p]:
            sizes[f"in{p}_times"] = inputs[p]["times"].size
    offsets = dict(zip(sizes, np.cumsum([0, *sizes.values()])[:-1].tolist(), strict=True))
    layout = {"offsets": offsets, "dim": sum(sizes.values())}
    x = {k: _duals(layout, k, params[k], sizes[k]) for k in ("weights", "delays", "drive", "v_init", "tau")}
    x["threshold"] = _duals(layout, "threshold", params.get("threshold", 1.0), n)
    x["reset"] = _duals(layout, "reset", params.get("reset", 0.0), n)
    tref = params["refractory"]
    # presynaptic rows: (indptr, indices, weight duals, delay duals) per neuron, then per input source
    rows = [(params["indptr"], params["indices"], x["weights"], x["delays"], j) for j in range(n)]
    given = {}  # a generator's source row: (the part's given times as duals, its sources, its period)
    for p, part in enumerate(inputs):
        w = _duals(layout, f"in{p}_weights", part["weights"], in_nnz[p])
        d = _duals(layout, f"in{p}_delays", part["delays"], in_nnz[p])
        if "times" in part:
            tg = _duals(layout, f"in{p}_times", part["times"], part["times"].size)
            for r in range(len(part["indptr"]) - 1):
                given[len(rows) + r] = (tg, part["sources"], part["period"], r)
        rows += [(part["indptr"], part["indices"], w, d, r) for r in range(len(part["indptr"]) - 1)]

    def input_time(row, t):
        """An input event's time: a generator's given time (plus whole periods) with its tangent, which
        is matched by value (the given times are distinct), or a Poisson time (no parameter)."""
        if row not in given:
            return Dual(t, 0.0)
        tg, sources, period, r = given[row]
        reps = [round((t - tm.x) / period) if period > 0 else 0 for tm in tg]
        k = [m for m in range(len(tg)) if sources[m] == r and abs(tg[m].x + reps[m] * period - t) < 1e-12]
        assert len(k) == 1
        return tg[k[0]] + reps[k[0]] * period

    times, neuron = net.spike_times, net.spike_indices
    kicked = np.concatenate(net._tape)
    in_times = np.concatenate([t for t, _ in net._tape_inputs])
    in_src = np.concatenate([s for _, s in net._tape_inputs])
    arrivals = [[] for _ in range(n)]  # per target: (primal time, dual time, weight)
    last = [None] * n  # per neuron: (primal, dual) time of its last spike so far

    def send(row, tx, t):
        indptr, indices, w, d, r = rows[row]
        for s in range(indptr[r], indptr[r + 1]):
            arrivals[indices[s]].append((tx + d[s].x, t + d[s], w[s]))

    def potential_u(i, t_end):
        """U of neuron i's current segment, with the arrivals before t_end."""
        tau = x["tau"][i]
        if last[i] is None:
            start_x, start, v_start = 0.0, Dual(0.0, 0.0), x["v_init"][i]
        else:
            start_x, start, v_start = last[i][0] + tref, last[i][1] + tref, x["reset"][i]
        U = (x["drive"][i] - v_start) * (start / tau).exp()
        for ta_x, ta, w in arrivals[i]:
            if start_x <= ta_x < t_end and (last[i] is None or ta_x > last[i][0]):
                U = U - w * (ta / tau).exp()
        return U, start_x

    ro = [(t, int(i), r, col) for r, t in enumerate(net.state_times) for col, i in enumerate(net._sample_idx)] if (
        s is not None) else []  # fmt: skip
    ro_value = []

    def readouts_until(t_stop):
        """The readouts before t_stop (a readout precedes the events of its instant)."""
        while ro and ro[0][0] <= t_stop:
            tr, i, r, col = ro.pop(0)
            if last[i] is not None and tr < last[i][0] + tref:  # refractory: held at the reset
                value = x["reset"][i]
            else:
                U, _ = potential_u(i, tr)
                value = x["drive"][i] - U * (Dual(-tr, 0.0) / x["tau"][i]).exp()
            assert value.x == pytest.approx(net.state_values[r, col], abs=1e-12)
            ro_value.append(float(s[r, col]) * value)

    t_dual, e = [], 0
    for k in range(times.size):
        while e < in_times.size and in_times[e] <= times[k]:  # an instant's inputs come before its spikes
            send(int(in_src[e]), in_times[e], input_time(int(in_src[e]), in_times[e]))
            e += 1
        readouts_until(times[k])
        i = int(neuron[k])
        if kicked[k]:  # the time of the latest arrival at that instant (the one that crossed)
            tk = [ta for ta_x, ta, w in arrivals[i] if ta_x == times[k]][-1]
        else:
            U, _ = potential_u(i, times[k])
            tk = x["tau"][i] * (U / (x["drive"][i] - x["threshold"][i])).log()
        assert tk.x == pytest.approx(times[k], abs=1e-12)
        t_dual.append(tk)
        last[i] = (times[k], tk)
        send(i, times[k], tk)
    for rest in range(e, in_times.size):
        send(int(in_src[rest]), in_times[rest], input_time(int(in_src[rest]), in_times[rest]))
    readouts_until(np.inf)
    L = sum((float(ck) * tk for ck, tk in zip(c, t_dual, strict=True)), Dual(0.0, 0.0))
    L = sum(ro_value, L)
    for i in range(n):
        U, start_x = potential_u(i, net.t)
        if start_x <= net.t:
            L = L + float(b[i]) * (x["drive"][i] - U * (Dual(-net.t, 0.0) / x["tau"][i]).exp())
        else:  # refractory at T: held at the reset
            L = L + float(b[i]) * x["reset"][i]
    return {k: L.dx[o : o + sizes[k]] for k, o in offsets.items()}


@pytest.mark.parametrize("config", CONFIGS)
def test_gradient_matches_forward_mode_reference(rng, config):
    params = dict(random_params(rng, **CONFIGS[config]), threshold=1.0, reset=0.0)
    net = simulate(params)
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=params["n"])
    g = net.gradient(c, b)
    ref = forward_mode_reference(params, net, c, b)
    # both are exact: they agree to rounding (relative 1e-8 of the largest component)
    for got, name in ((g.weights, "weights"), (g.drive, "drive"), (g.v0, "v_init")):
        np.testing.assert_allclose(got, ref[name], rtol=1e-8, atol=1e-8 * np.abs(ref[name]).max())
    # a parameter given as a scalar has the sum of the per-synapse or per-neuron derivatives
    for got, name in ((g.delays, "delays"), (g.tau, "tau"), (g.threshold, "threshold"), (g.reset, "reset")):
        expected = ref[name] if np.ndim(got) else ref[name].sum()
        np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-8 * np.abs(ref[name]).max(), err_msg=name)


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
    qif = EventNetwork(2, model=np.array(["qif", "lif"]), drive=1.0)  # (QIF and theta: test_gradients_qif.py)
    qif.run(0.01, record_tape=True)
    with pytest.raises(NotImplementedError, match="'lif' neurons only"):
        qif.gradient(np.zeros(qif.spike_times.size))
    integ = EventNetwork(2, drive=1.5, refractory=0.001, integrate_refractory=True)
    integ.run(0.01, record_tape=True)
    with pytest.raises(NotImplementedError, match="integrate_refractory"):
        integ.gradient(np.zeros(integ.spike_times.size))


# ---------------------------------------------------------------- external inputs and delays


def random_inputs(rng, n):
    """Poisson sources with their own synapses, a Poisson input per neuron (scalar weight and delay) and a
    spike generator, as (method, arguments); Poisson parts first (the engine's order of presynaptic ids)."""

    def csr(m, k):
        return np.arange(0, m * k + 1, k), np.concatenate([rng.choice(n, size=k, replace=False) for _ in range(m)])

    ip_p, ix_p = csr(4, 3)
    ip_g, ix_g = csr(6, 3)
    return [
        ("add_poisson_sources", dict(rates=np.full(4, 300.0), indptr=ip_p, indices=ix_p,
                                     weights=rng.normal(0.0, 0.15, 12), delays=rng.uniform(0.0005, 0.003, 12))),
        ("add_poisson_input", dict(rate=150.0, weight=0.05, targets=np.arange(0, n, 2), delay=0.001)),
        ("add_spike_generator", dict(times=rng.uniform(0.002, T - 0.01, 30), sources=rng.integers(0, 6, 30),
                                     n_sources=6, indptr=ip_g, indices=ix_g, weights=rng.normal(0.2, 0.1, 18),
                                     delays=rng.uniform(0.0005, 0.003, 18))),
    ]  # fmt: skip


def input_parts(inputs):
    """The inputs as the reference's parts: CSR, weights, delays (and a generator's times, sources, period)."""
    parts = []
    for method, kw in inputs:
        if method == "add_poisson_input":
            m = kw["targets"].size
            kw = dict(indptr=np.arange(m + 1), indices=kw["targets"], weights=kw["weight"], delays=kw["delay"])
        parts.append({k: kw[k] for k in ("indptr", "indices", "weights", "delays", "times", "sources") if k in kw})
        if "times" in kw:
            parts[-1]["period"] = kw.get("period", 0.0)
    return parts


def simulate_with_inputs(params, inputs, durations=(T,)):
    net = EventNetwork(**params)
    for method, kw in inputs:
        getattr(net, method)(**kw)
    for d in durations:
        net.run(d, record_tape=True)
    return net


# (part, argument, the gradient's field): part None is the network, else the index in random_inputs
INPUT_PARAMETERS = {
    "network-delays": (None, "delays", lambda g: g.delays),
    "poisson-source-weights": (0, "weights", lambda g: g.poisson_weights[0]),
    "poisson-source-delays": (0, "delays", lambda g: g.poisson_delays[0]),
    "poisson-input-weight": (1, "weight", lambda g: g.poisson_weights[1]),
    "poisson-input-delay": (1, "delay", lambda g: g.poisson_delays[1]),
    "generator-weights": (2, "weights", lambda g: g.generator_weights[0]),
    "generator-delays": (2, "delays", lambda g: g.generator_delays[0]),
    "generator-times": (2, "times", lambda g: g.generator_times[0]),
    "network-weights": (None, "weights", lambda g: g.weights),
}


def perturbed(params, inputs, part, name, step):
    if part is None:
        return dict(params, **{name: params[name] + step}), inputs
    inputs = [(m, dict(kw)) for m, kw in inputs]
    inputs[part][1][name] = inputs[part][1][name] + step
    return params, inputs


@pytest.mark.parametrize("config", ["delays-refractory", "inhibitory"])
@pytest.mark.parametrize("which", INPUT_PARAMETERS)
def test_input_and_delay_gradients_match_central_differences(rng, config, which):
    params = dict(random_params(rng, **CONFIGS[config]), seed=int(rng.integers(2**32)))
    inputs = random_inputs(rng, params["n"])
    net = simulate_with_inputs(params, inputs)
    assert net.spike_times.size > 50
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=params["n"])
    g = net.gradient(c, b)
    assert g.n_coincident == 0 and g.n_unresolved == 0
    part, name, field = INPUT_PARAMETERS[which]
    value = params[name] if part is None else inputs[part][1][name]
    direction = rng.normal(size=np.shape(value))
    # (a delay's or an input time's derivative is about w / tau: 10 times a weight's)
    h = 1e-8 if name.startswith("delay") or name == "times" else 1e-7
    values = []
    for sign in (1, -1):
        other = simulate_with_inputs(*perturbed(params, inputs, part, name, sign * h * direction))
        # the regime of the test: the perturbation keeps the order of events (and the Poisson realisation)
        np.testing.assert_array_equal(other.spike_indices, net.spike_indices)
        values.append(loss(other, c, b))
    fd = (values[0] - values[1]) / (2 * h)
    grad = field(g)
    assert np.shape(grad) == np.shape(value)
    # relative agreement 1e-5 (finite differences: truncation ~h^2, rounding ~1e-16 / h)
    assert np.sum(grad * direction) == pytest.approx(fd, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("config", ["delays-refractory", "excitatory-cascades"])
def test_input_gradients_match_forward_mode_reference(rng, config):
    params = dict(random_params(rng, **CONFIGS[config]), threshold=1.0, reset=0.0, seed=int(rng.integers(2**32)))
    inputs = random_inputs(rng, params["n"])
    net = simulate_with_inputs(params, inputs)
    assert sum(t.size for t, _ in net._tape_inputs) > 20
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=params["n"])
    g = net.gradient(c, b)
    ref = forward_mode_reference(params, net, c, b, input_parts(inputs))
    got = {
        "weights": g.weights, "delays": g.delays, "drive": g.drive, "v_init": g.v0,
        "in0_weights": g.poisson_weights[0], "in0_delays": g.poisson_delays[0],
        "in1_weights": g.poisson_weights[1], "in1_delays": g.poisson_delays[1],
        "in2_weights": g.generator_weights[0], "in2_delays": g.generator_delays[0],
        "in2_times": g.generator_times[0],
    }  # fmt: skip
    # both are exact: they agree to rounding (relative 1e-8 of the largest component); a scalar parameter's
    # gradient is the sum over the synapses it stands for
    for name, value in got.items():
        expected = ref[name] if np.ndim(value) else ref[name].sum()
        scale = np.abs(ref[name]).max()
        np.testing.assert_allclose(value, expected, rtol=1e-8, atol=1e-8 * scale, err_msg=name)


def test_input_tape_holds_the_input_events_and_leaves_the_run_unchanged(rng):
    params = dict(random_params(rng, **CONFIGS["delays"]), seed=5)
    inputs = random_inputs(rng, params["n"])
    taped = simulate_with_inputs(params, inputs, (0.05, T - 0.05))
    plain = EventNetwork(**params)
    for method, kw in inputs:
        getattr(plain, method)(**kw)
    plain.run(T)
    np.testing.assert_array_equal(taped.spike_times, plain.spike_times)
    np.testing.assert_array_equal(taped.spike_indices, plain.spike_indices)
    in_times = np.concatenate([t for t, _ in taped._tape_inputs])
    in_src = np.concatenate([s for _, s in taped._tape_inputs])
    assert (np.diff(in_times) >= 0).all() and in_times[-1] < T
    # the generator's events are its given times, its sources after the n neurons and the 4 + 10 Poisson
    gen = in_src >= params["n"] + 14
    np.testing.assert_array_equal(in_times[gen], np.sort(inputs[2][1]["times"]))
    # the Poisson events: about 4 * 300 + 10 * 150 Hz over T
    assert abs((~gen).sum() - 2700 * T) < 5 * np.sqrt(2700 * T)


@pytest.mark.parametrize("config", ["delays-refractory", "inhibitory"])
def test_periodic_generator_times_gradient_sums_the_repetitions(rng, config):
    params = dict(random_params(rng, **CONFIGS[config]), threshold=1.0, reset=0.0)
    n = params["n"]
    ip, ix = np.arange(0, 13, 3), np.concatenate([rng.choice(n, size=3, replace=False) for _ in range(4)])
    gen = dict(times=rng.uniform(0.0, 0.03, 6), sources=rng.integers(0, 4, 6), n_sources=4, indptr=ip, indices=ix,
               weights=rng.normal(0.2, 0.1, 12), delays=rng.uniform(0.0005, 0.003, 12), period=0.03)  # fmt: skip
    inputs = [("add_spike_generator", gen)]
    net = simulate_with_inputs(params, inputs)
    assert sum(t.size for t, _ in net._tape_inputs) == 4 * 6  # four periods in T
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=n)
    g = net.gradient(c, b)
    assert g.n_coincident == 0 and g.n_unresolved == 0 and g.generator_times[0].shape == (6,)
    ref = forward_mode_reference(params, net, c, b, input_parts(inputs))
    scale = np.abs(ref["in0_times"]).max()
    np.testing.assert_allclose(g.generator_times[0], ref["in0_times"], rtol=1e-8, atol=1e-8 * scale)
    direction = rng.normal(size=6)
    h = 1e-8
    values = []
    for sign in (1, -1):
        other = simulate_with_inputs(*perturbed(params, inputs, 0, "times", sign * h * direction))
        np.testing.assert_array_equal(other.spike_indices, net.spike_indices)
        values.append(loss(other, c, b))
    fd = (values[0] - values[1]) / (2 * h)
    # relative agreement 1e-5 (finite differences: truncation ~h^2, rounding ~1e-16 / h)
    assert g.generator_times[0] @ direction == pytest.approx(fd, rel=1e-5, abs=1e-6)


def test_generator_spike_after_the_run_has_no_gradient():
    net = EventNetwork(1, drive=0.0, tau=0.01)
    net.add_spike_generator([0.02, 0.001], [0, 0], 1, [0, 1], [0], weights=0.5)
    net.run(0.01, record_tape=True)
    g = net.gradient(np.zeros(0), dL_dv=[1.0])  # L = v(T) = 0.5 exp(-(T - 1 ms) / tau): dL/dt1 = L / tau
    np.testing.assert_allclose(g.generator_times[0], [0.0, 0.5 * np.exp(-0.9) / 0.01], rtol=1e-12)


def test_pulse_triggered_by_a_generator_passes_its_time_to_the_input_delay():
    # a generator spike at 1 ms with delay 2 ms lifts a resting neuron over threshold: its spike is at
    # 3 ms, one for one with the delay, whatever the weight
    net = EventNetwork(1, drive=0.0)
    net.add_spike_generator([0.001], [0], 1, [0, 1], [0], weights=1.5, delays=0.002)
    net.run(0.01, record_tape=True)
    assert net.spike_times == pytest.approx([0.003], abs=1e-15)
    g = net.gradient([1.0])
    assert g.n_pulse_triggered == 1 and g.n_coincident == 0 and g.n_unresolved == 0
    assert g.generator_delays[0] == 1.0 and g.generator_weights[0] == 0.0


# ---------------------------------------------------------------- tau, threshold, reset


@pytest.mark.parametrize("config", ["shared-tau", "delays-refractory", "excitatory-cascades", "inhibitory"])
@pytest.mark.parametrize("name", ["tau", "threshold", "reset"])
def test_model_parameter_gradients_match_central_differences(rng, config, name):
    n = 20
    params = dict(
        random_params(rng, n=n, **CONFIGS[config]),
        threshold=rng.uniform(0.95, 1.05, n),
        reset=rng.uniform(-0.1, 0.1, n),
    )
    net = simulate(params)
    assert net.spike_times.size > 50
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=n)
    g = net.gradient(c, b)
    assert g.n_coincident == 0 and g.n_unresolved == 0
    grad = getattr(g, name)
    assert np.shape(grad) == np.shape(params[name])
    # tau is perturbed relative to its value (1e-8 of 10 ms: networks with cascades are sensitive to it,
    # dL/dtau reaches 1e5, and a larger step leaves the linear regime), threshold and reset by 1e-7
    direction = rng.normal(size=np.shape(params[name])) * (np.asarray(params[name]) if name == "tau" else 1.0)
    h = 1e-7 if name != "tau" else 1e-8
    values = []
    for sign in (1, -1):
        other = simulate(dict(params, **{name: params[name] + sign * h * direction}))
        np.testing.assert_array_equal(other.spike_indices, net.spike_indices)
        values.append(loss(other, c, b))
    fd = (values[0] - values[1]) / (2 * h)
    # relative agreement 1e-5 (finite differences: truncation ~h^2, rounding ~1e-16 / h)
    assert np.sum(grad * direction) == pytest.approx(fd, rel=1e-5, abs=1e-6)


def test_refractory_at_the_end_holds_the_reset():
    # the neuron fires at 0.01 ln 3 and is refractory until 5 ms later, past T: v(T) is the reset
    net = EventNetwork(1, tau=0.01, drive=1.5, reset=0.2, refractory=0.005, v_init=[0.0])
    net.run(0.012, record_tape=True)
    assert net.spike_times.size == 1 and net.v[0] == 0.2
    g = net.gradient([0.0], dL_dv=[1.0])
    assert g.reset == 1.0 and g.drive == 0.0 and g.tau == 0.0 and g.threshold == 0.0


# ---------------------------------------------------------------- a loss as a callable (JAX)


def test_callable_loss_gives_the_gradient_of_its_derivatives(rng):
    jnp = pytest.importorskip("jax.numpy")
    params = random_params(rng, **CONFIGS["delays-refractory"])
    net = simulate(params)
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=params["n"])
    g = net.gradient(loss=lambda t, i, v: jnp.dot(jnp.asarray(c), t) + jnp.dot(jnp.asarray(b), v))
    ref = net.gradient(c, b)
    assert g.loss == pytest.approx(loss(net, c, b), rel=1e-14)
    for name in ("weights", "delays", "drive", "v0", "tau", "threshold", "reset"):
        np.testing.assert_allclose(getattr(g, name), getattr(ref, name), rtol=1e-12, atol=1e-14, err_msg=name)


def first_spikes(times, indices, neurons):
    """The first spike time of each of the neurons (numpy)."""
    return np.array([times[indices == i][0] for i in neurons])


@pytest.mark.parametrize("config", ["delays-refractory", "inhibitory"])
def test_time_to_first_spike_loss_matches_central_differences(rng, config):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    params = random_params(rng, **CONFIGS[config])
    net = simulate(params)
    outputs = np.unique(net.spike_indices)[:5]  # five neurons that fire
    target = rng.uniform(0.01, 0.03, outputs.size)

    def ttfs(t, i):  # squared distance of the first spikes of the output neurons to their targets
        first = jax.ops.segment_min(t, i, num_segments=params["n"])[outputs]
        return jnp.sum((first - target) ** 2)

    g = net.gradient(loss=ttfs)
    assert g.loss == pytest.approx(np.sum((first_spikes(net.spike_times, net.spike_indices, outputs) - target) ** 2))
    direction = rng.normal(size=params["weights"].size)
    h = 1e-7
    values = []
    for sign in (1, -1):
        other = simulate(dict(params, weights=params["weights"] + sign * h * direction))
        np.testing.assert_array_equal(other.spike_indices, net.spike_indices)
        values.append(np.sum((first_spikes(other.spike_times, other.spike_indices, outputs) - target) ** 2))
    fd = (values[0] - values[1]) / (2 * h)
    assert abs(fd) > 1e-6  # the loss depends on the weights
    # relative agreement 1e-5 (finite differences: truncation ~h^2, rounding ~1e-16 / h)
    assert g.weights @ direction == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_callable_loss_is_refused_without_jax(monkeypatch):
    net = simulate(dict(n=2, drive=1.5), (0.02,))
    monkeypatch.setitem(sys.modules, "jax", None)  # import jax raises ImportError
    with pytest.raises(ImportError, match="differentiates the loss with JAX, which is not installed"):
        net.gradient(loss=lambda t, i: t.sum())


def test_callable_loss_errors():
    net = simulate(dict(n=2, drive=1.5), (0.02,))
    k = net.spike_times.size
    with pytest.raises(TypeError, match="give the loss's derivatives dL_dspike_times"):
        net.gradient()
    with pytest.raises(TypeError, match="give the loss's derivatives dL_dspike_times"):
        net.gradient(np.zeros(k), loss=lambda t, i: t.sum())
    with pytest.raises(TypeError, match="dL_dv comes from the callable loss"):
        net.gradient(dL_dv=np.zeros(2), loss=lambda t, i: t.sum())
    with pytest.raises(TypeError, match="loss must be a callable, found str"):
        net.gradient(loss="ttfs")


# ---------------------------------------------------------------- readouts: exact states at given times


def simulate_readouts(params, inputs=(), neurons=None, times=None, durations=(T,)):
    net = EventNetwork(**params)
    for method, kw in inputs:
        getattr(net, method)(**kw)
    net.record_states(neurons, times)
    for d in durations:
        net.run(d, record_tape=True)
    return net


def readout_loss(net, c, b, s):
    return float(c @ net.spike_times + b @ net.v + np.sum(s * net.state_values))


def random_readouts(rng, n):
    """Eight neurons read out at 25 random times in [0, T) (and at t = 0)."""
    return rng.choice(n, size=8, replace=False), np.concatenate([[0.0], np.sort(rng.uniform(0.0, T, 24))])


# (argument, the gradient's field, the relative step): every parameter kind of the network
READOUT_PARAMETERS = {
    "weights": (lambda g: g.weights, 1e-7),
    "delays": (lambda g: g.delays, 1e-8),
    "drive": (lambda g: g.drive, 1e-7),
    "v_init": (lambda g: g.v0, 1e-7),
    "tau": (lambda g: g.tau, 1e-8),
    "threshold": (lambda g: g.threshold, 1e-7),
    "reset": (lambda g: g.reset, 1e-7),
}


@pytest.mark.parametrize(
    ("config", "name"),
    [(c, p) for c in ("delays-refractory", "excitatory-cascades", "inhibitory") for p in READOUT_PARAMETERS
     if CONFIGS[c]["delays"] or p != "delays"],  # (a network without delays has one delay, 0: one-sided)
)  # fmt: skip
def test_readout_gradients_match_central_differences(rng, config, name):
    n = 20
    params = dict(random_params(rng, n=n, **CONFIGS[config]), threshold=rng.uniform(0.95, 1.05, n),
                  reset=rng.uniform(-0.1, 0.1, n))  # fmt: skip
    neurons, times = random_readouts(rng, n)
    net = simulate_readouts(params, neurons=neurons, times=times)
    assert net.state_values.shape == (times.size, neurons.size) and net.spike_times.size > 50
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=n)
    s = rng.normal(size=net.state_values.shape)
    g = net.gradient(c, b, dL_dstates=s)
    assert g.n_coincident == 0 and g.n_unresolved == 0
    field, h = READOUT_PARAMETERS[name]
    grad = field(g)
    assert np.shape(grad) == np.shape(params[name])
    direction = rng.normal(size=np.shape(params[name])) * (np.asarray(params[name]) if name == "tau" else 1.0)
    values = []
    for sign in (1, -1):
        other = simulate_readouts(dict(params, **{name: params[name] + sign * h * direction}), (), neurons, times)
        np.testing.assert_array_equal(other.spike_indices, net.spike_indices)
        values.append(readout_loss(other, c, b, s))
    fd = (values[0] - values[1]) / (2 * h)
    # relative agreement 1e-5 (finite differences: truncation ~h^2, rounding ~1e-16 / h)
    assert np.sum(grad * direction) == pytest.approx(fd, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("config", ["delays-refractory", "excitatory-cascades", "shared-tau"])
def test_readout_gradients_match_forward_mode_reference(rng, config):
    params = dict(random_params(rng, **CONFIGS[config]), threshold=1.0, reset=0.0, seed=int(rng.integers(2**32)))
    inputs = random_inputs(rng, params["n"])
    neurons, times = random_readouts(rng, params["n"])
    net = simulate_readouts(params, inputs, neurons, times)
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=params["n"])
    s = rng.normal(size=net.state_values.shape)
    g = net.gradient(c, b, dL_dstates=s)
    ref = forward_mode_reference(params, net, c, b, input_parts(inputs), s)
    got = {
        "weights": g.weights, "delays": g.delays, "drive": g.drive, "v_init": g.v0, "tau": g.tau,
        "threshold": g.threshold, "reset": g.reset,
        "in0_weights": g.poisson_weights[0], "in0_delays": g.poisson_delays[0],
        "in2_weights": g.generator_weights[0], "in2_delays": g.generator_delays[0],
    }  # fmt: skip
    # both are exact: they agree to rounding (relative 1e-8 of the largest component)
    for name, value in got.items():
        expected = ref[name] if np.ndim(value) else ref[name].sum()
        np.testing.assert_allclose(value, expected, rtol=1e-8, atol=1e-8 * np.abs(ref[name]).max(), err_msg=name)


def test_readouts_without_loss_on_them_leave_the_gradient_unchanged(rng):
    params = random_params(rng, **CONFIGS["delays-refractory"])
    neurons, times = random_readouts(rng, params["n"])
    net, plain = simulate_readouts(params, (), neurons, times), simulate(params)
    c = rng.normal(size=net.spike_times.size)
    g, g0 = net.gradient(c), plain.gradient(c)
    for name in ("weights", "delays", "drive", "v0", "tau", "threshold", "reset"):
        np.testing.assert_allclose(getattr(g, name), getattr(g0, name), rtol=1e-12, atol=1e-14, err_msg=name)


def test_readout_in_a_refractory_period_is_the_reset():
    # the neuron fires at 0.01 ln 3 and is held at the reset for 5 ms: a readout 2 ms after the spike
    net = EventNetwork(1, tau=0.01, drive=1.5, reset=0.2, refractory=0.005, v_init=[0.0])
    net.record_states([0], [0.01 * np.log(3.0) + 0.002])
    net.run(0.03, record_tape=True)
    assert net.state_values[0, 0] == 0.2
    g = net.gradient(np.zeros(net.spike_times.size), dL_dstates=[[1.0]])
    assert g.reset == 1.0 and g.drive == 0.0 and g.tau == 0.0 and g.v0[0] == 0.0 and g.n_coincident == 0


def test_readout_at_time_zero_is_the_initial_state():
    net = EventNetwork(2, drive=1.5, v_init=[0.3, 0.4])
    net.record_states([1, 0], [0.0])
    net.run(0.02, record_tape=True)
    np.testing.assert_allclose(net.state_values, [[0.4, 0.3]], rtol=1e-15)  # (u = (I - v) e^{t/tau} rounds)
    g = net.gradient(np.zeros(net.spike_times.size), dL_dstates=[[2.0, 3.0]])
    np.testing.assert_array_equal(g.v0, [3.0, 2.0])
    assert g.drive == 0.0 and g.n_coincident == 0


def test_readout_at_an_arrival_or_a_spike_of_its_neuron_is_counted():
    # a generator pulse arrives at 3 ms, and the neuron's own spike: readouts at both instants are taken
    # before the event (the pulse not yet added; theta, not yet reset) and counted as coincident
    first = EventNetwork(1, drive=1.5, tau=0.01)
    first.run(0.02)
    t_spike = first.spike_times[0]
    net = EventNetwork(1, drive=1.5, tau=0.01)
    net.add_spike_generator([0.001], [0], 1, [0, 1], [0], weights=0.1, delays=0.002)
    net.record_states([0], [0.001 + 0.002, t_spike])
    net.run(0.02, record_tape=True)
    assert net.spike_times[0] < t_spike  # the pulse advances the spike: the second readout is after it
    net2 = EventNetwork(1, drive=1.5, tau=0.01)
    net2.record_states([0], [t_spike])
    net2.run(0.02, record_tape=True)
    assert net2.spike_times[0] == t_spike and net2.state_values[0, 0] == pytest.approx(1.0, abs=1e-12)
    assert net2.gradient([0.0], dL_dstates=[[1.0]]).n_coincident == 1
    g = net.gradient(np.zeros(net.spike_times.size), dL_dstates=[[1.0], [0.0]])
    assert net.state_values[0, 0] == pytest.approx(1.5 * (1 - np.exp(-0.3)), rel=1e-12)  # without the pulse
    assert g.n_coincident == 1
    # the one-sided derivative of the recorded order (readout before the pulse): no weight dependence
    assert g.generator_weights[0] == 0.0


def test_callable_loss_with_readouts_gives_the_gradient_of_its_derivatives(rng):
    jnp = pytest.importorskip("jax.numpy")
    params = random_params(rng, **CONFIGS["delays-refractory"])
    neurons, times = random_readouts(rng, params["n"])
    net = simulate_readouts(params, (), neurons, times)
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=params["n"])
    s = rng.normal(size=net.state_values.shape)

    def f(t, i, v, states):
        return jnp.dot(jnp.asarray(c), t) + jnp.dot(jnp.asarray(b), v) + jnp.sum(jnp.asarray(s) * states)

    g = net.gradient(loss=f)
    ref = net.gradient(c, b, dL_dstates=s)
    assert g.loss == pytest.approx(readout_loss(net, c, b, s), rel=1e-14)
    for name in ("weights", "delays", "drive", "v0", "tau", "threshold", "reset"):
        np.testing.assert_allclose(getattr(g, name), getattr(ref, name), rtol=1e-12, atol=1e-14, err_msg=name)


def test_readout_errors():
    net = EventNetwork(3, drive=1.5, indptr=[0, 1, 2, 2], indices=[1, 2], weights=0.1)
    net.record_states([0, 2], [0.005, 0.01])
    net.run(0.02, record_tape=True)
    k = net.spike_times.size
    with pytest.raises(ValueError, match=r"dL_dstates must have shape \(2, 2\) \(like net.state_values\)"):
        net.gradient(np.zeros(k), dL_dstates=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="dL_dstates must be finite"):
        net.gradient(np.zeros(k), dL_dstates=[[0.0, np.inf], [0.0, 0.0]])
    with pytest.raises(TypeError, match="dL_dstates comes from the callable loss"):
        net.gradient(loss=lambda t, i: t.sum(), dL_dstates=np.zeros((2, 2)))


# ---------------------------------------------------------------- van Rossum distances


def van_rossum_integral(trains, targets, tau):
    """sum_i (1/tau) int_0^inf (x_i - y_i)^2 dt by Gauss-Legendre quadrature (16 nodes) on pieces of at
    most tau / 4 between consecutive spikes (the filtered trains are smooth there), up to 60 tau after the
    last one."""
    nodes, weights = np.polynomial.legendre.leggauss(16)
    total = 0.0
    for x, y in zip(trains, targets, strict=True):
        end = max(x.max(initial=0.0), y.max(initial=0.0)) + 60 * tau
        cuts = np.unique(np.concatenate([np.arange(0.0, end, tau / 4), [end], x, y]))
        a, b = cuts[:-1, None], cuts[1:, None]
        t = ((a + b) / 2 + (b - a) / 2 * nodes).reshape(-1)
        wq = ((b - a) / 2 * weights).reshape(-1)

        def filtered(s, t=t):
            return np.sum(np.where(t[:, None] >= s[None, :], np.exp(-(t[:, None] - s[None, :]) / tau), 0.0), axis=1)

        total += np.sum(wq * (filtered(x) - filtered(y)) ** 2) / tau
    return total


def test_van_rossum_loss_is_the_integral_of_the_filtered_difference(rng):
    pytest.importorskip("jax")
    from brian2_sparseprop.spiking.gradients import van_rossum_loss

    net = simulate(random_params(rng, **CONFIGS["delays-refractory"]))
    neurons = np.unique(net.spike_indices)[:4]
    targets = [np.sort(rng.uniform(0.0, T, rng.integers(1, 6))) for _ in neurons]
    tau = float(rng.uniform(0.002, 0.02))
    value = float(van_rossum_loss(neurons, targets, tau)(net.spike_times, net.spike_indices))
    trains = [net.spike_times[net.spike_indices == i] for i in neurons]
    # the closed form against the quadrature (exact on each smooth piece to rounding)
    assert value == pytest.approx(van_rossum_integral(trains, targets, tau), rel=1e-10)
    # a train and itself are at distance 0; a single spike from none at 1/2
    assert float(van_rossum_loss(neurons[:1], trains[:1], tau)(net.spike_times, net.spike_indices)) == pytest.approx(
        0.0, abs=1e-12
    )
    assert float(van_rossum_loss([0], [[0.01]], tau)(np.zeros(0), np.zeros(0, np.int32))) == pytest.approx(0.5)


@pytest.mark.parametrize("config", ["delays-refractory", "inhibitory"])
def test_van_rossum_gradient_matches_central_differences(rng, config):
    pytest.importorskip("jax")
    from brian2_sparseprop.spiking.gradients import van_rossum_loss

    params = random_params(rng, **CONFIGS[config])
    net = simulate(params)
    neurons = np.unique(net.spike_indices)[:5]
    targets = [np.sort(rng.uniform(0.0, T, 4)) for _ in neurons]
    loss_fn = van_rossum_loss(neurons, targets, tau=0.005)
    g = net.gradient(loss=loss_fn)
    assert g.n_coincident == 0

    def value(net):  # the closed form in NumPy (the JAX loss's value is checked against it)
        total = 0.0
        for i, s in zip(neurons, targets, strict=True):
            x = net.spike_times[net.spike_indices == i]
            total += sum(
                f * np.exp(-np.abs(np.subtract.outer(a, b)) / 0.005).sum()
                for a, b, f in ((x, x, 0.5), (s, s, 0.5), (x, s, -1.0))
            )
        return total

    assert g.loss == pytest.approx(value(net), rel=1e-12)
    for name, grad in (("weights", g.weights), ("drive", g.drive)):
        direction = rng.normal(size=np.shape(params[name]))
        h = 1e-7
        values = []
        for sign in (1, -1):
            other = simulate(dict(params, **{name: params[name] + sign * h * direction}))
            np.testing.assert_array_equal(other.spike_indices, net.spike_indices)
            values.append(value(other))
        fd = (values[0] - values[1]) / (2 * h)
        assert abs(fd) > 1e-3  # the loss depends on the parameters
        # relative agreement 1e-5 (finite differences: truncation ~h^2, rounding ~1e-16 / h)
        assert grad @ direction == pytest.approx(fd, rel=1e-5, abs=1e-6), name


def test_van_rossum_loss_errors():
    from brian2_sparseprop.spiking.gradients import van_rossum_loss

    with pytest.raises(TypeError, match="neurons must be integers, found dtype float64"):
        van_rossum_loss([0.5], [[0.01]], 0.005)
    with pytest.raises(ValueError, match="neurons must be a 1-d array of distinct indices >= 0"):
        van_rossum_loss([1, 1], [[0.01], [0.02]], 0.005)
    with pytest.raises(ValueError, match=r"targets must hold one train per neuron \(2\), found 1"):
        van_rossum_loss([0, 1], [[0.01]], 0.005)
    with pytest.raises(ValueError, match="tau must be > 0, found: 0.0"):
        van_rossum_loss([0], [[0.01]], 0.0)
    with pytest.raises(ValueError, match=r"targets\[0\] must be finite, found nan"):
        van_rossum_loss([0], [[np.nan]], 0.005)
