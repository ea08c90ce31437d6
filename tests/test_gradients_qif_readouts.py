"""Gradients of QIF and theta networks through exact state readouts (``record_states`` and ``dL_dstates``).

A readout of a QIF neuron is its v, of a theta neuron its phase theta in (-pi, pi] (what ``net.v`` and
``net.state_values`` report), taken before the events of its instant. Checked against central finite
differences of the forward engine (every parameter kind, with refractoriness, Poisson and generator
inputs, drives of both signs), against an independent forward-mode (dual number) replay of the recorded
events written in the phase phi = atan(v / sqrt I), and against the closed form of a single neuron's
trajectory differentiated with mpmath.
"""

import math

import numpy as np
import pytest
from test_gradients_qif import RST, THR, Dual, grad_of, input_params, random_params

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.spiking.gradients import lif_gradient

T = 0.08


def simulate(params, inputs=None, neurons=None, times=None):
    net = EventNetwork(**params, seed=5)
    if inputs is not None:
        net.add_poisson_sources(
            inputs["p_rates"], inputs["p_indptr"], inputs["p_indices"], inputs["p_weights"], inputs["p_delays"]
        )
        n_gen = inputs["g_indptr"].size - 1
        net.add_spike_generator(
            inputs["g_times"], inputs["g_sources"], n_gen, inputs["g_indptr"], inputs["g_indices"],
            inputs["g_weights"], inputs["g_delays"],
        )  # fmt: skip
    if neurons is not None:
        net.record_states(neurons, times)
    net.run(T, record_tape=True)
    return net


def random_readouts(rng, n):
    """Five neurons read out at 16 random times in [0, T) (and at t = 0)."""
    return rng.choice(n, size=5, replace=False), np.concatenate([[0.0], np.sort(rng.uniform(0.0, T, 16))])


def loss_value(net, c, b, s):
    return float(c @ net.spike_times + b @ net.v + np.sum(s * net.state_values))


CONFIGS = {
    "theta": dict(model="theta", tref=0.0),
    "theta-refractory-inputs": dict(model="theta", tref=0.002, inputs=True),
    "theta-excitable": dict(model="theta", tref=0.0, excitable=True),
    "qif-refractory-inputs": dict(model="qif", tref=0.002, inputs=True),
    "qif-excitable": dict(model="qif", tref=0.001, excitable=True),
}
NAMES = ["weights", "delays", "drive", "v_init", "tau", "threshold", "reset", "p_weights", "g_weights", "g_times"]


@pytest.mark.parametrize(
    ("config", "name"),
    [(c, p) for c in CONFIGS for p in NAMES if (p[:2] not in ("p_", "g_") or CONFIGS[c].get("inputs"))
     and (p not in ("threshold", "reset") or c[:3] == "qif")],  # (inputs and QIF thresholds where they exist)
)  # fmt: skip
def test_readout_gradients_match_central_differences(rng, config, name):
    cfg = CONFIGS[config]
    params = random_params(rng, cfg["model"], tref=cfg["tref"], excitable=cfg.get("excitable", False))
    inputs = input_params(rng, params["n"]) if cfg.get("inputs") else None
    neurons, times = random_readouts(rng, params["n"])
    net = simulate(params, inputs, neurons, times)
    assert net.spike_times.size > 6 and net.state_values.shape == (times.size, neurons.size)
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=params["n"])
    s = rng.normal(size=net.state_values.shape)
    g = net.gradient(c, b, dL_dstates=s)
    assert g.n_coincident == 0 and g.n_unresolved == 0
    h = {"threshold": 1e-5, "reset": 1e-5}.get(name, 1e-7)  # (a threshold of 8: larger steps)
    h *= 0.01 if name in ("delays", "tau", "g_times") else 1.0
    src = inputs if name[:2] in ("p_", "g_") else params
    direction = rng.normal(size=np.shape(src[name]))
    values = []
    for sign in (1, -1):
        changed = {name: src[name] + sign * h * direction}
        other = (
            simulate(params, dict(inputs, **changed), neurons, times)
            if src is inputs
            else simulate(dict(params, **changed), inputs, neurons, times)
        )
        np.testing.assert_array_equal(other.spike_indices, net.spike_indices)  # the order of events is kept
        values.append(loss_value(other, c, b, s))
    fd = (values[0] - values[1]) / (2 * h)
    grad = np.broadcast_to(grad_of(g, name), np.shape(direction))
    scale = np.sum(np.abs(grad * direction))
    # relative agreement 1e-5 of the directional derivative (truncation ~h^2, rounding ~1e-16 / h)
    assert np.sum(grad * direction) == pytest.approx(fd, rel=1e-5, abs=1e-7 * scale + 1e-9), name


@pytest.mark.parametrize("model", ["theta", "qif"])
def test_readouts_without_derivatives_leave_the_gradient_unchanged(rng, model):
    params = random_params(rng, model, tref=0.002)
    neurons, times = random_readouts(rng, params["n"])
    net, plain = simulate(params, None, neurons, times), simulate(params)
    np.testing.assert_array_equal(net.spike_times, plain.spike_times)
    c = rng.normal(size=net.spike_times.size)
    g, g0 = net.gradient(c, dL_dstates=np.zeros(net.state_values.shape)), plain.gradient(c)
    # equal to rounding (a readout splits the integral of the drive over its interval in two)
    for name in ("weights", "delays", "drive", "v0", "tau", "threshold", "reset"):
        np.testing.assert_allclose(getattr(g, name), getattr(g0, name), rtol=1e-12, atol=1e-15, err_msg=name)


# ------------------------------------------------------------------ an independent reference: forward mode


def replay_with_readouts(params, net, c, b, s, neurons, times):
    """dL/d(weights, delays, drive, v_init, tau) with L = c . spike times + b . final states + s . readouts,
    by replaying the recorded order of events in forward mode (dual numbers; drive > 0, no refractoriness,
    no pulse-triggered spikes): the phase phi = atan(v / sqrt I) advances at the rate sqrt(I) / tau, a
    readout is v = sqrt(I) tan(phi) (theta neurons: 2 atan(v)), taken before the events of its instant."""
    n, indptr, indices = params["n"], params["indptr"], params["indices"]
    nnz = indices.size
    theta = params["model"] == "theta"
    spike_t, neuron = net.spike_times, net.spike_indices
    # the event order of the run: readouts (kind -1: first at an instant), spikes (0), arrivals (1)
    events = [(t, 0, r, -1) for r, t in enumerate(spike_t)]
    for r, (t, j) in enumerate(zip(spike_t, neuron, strict=True)):
        events += [(t + params["delays"][k], 1, r, k) for k in range(indptr[j], indptr[j + 1])
                   if t + params["delays"][k] < T]  # fmt: skip
    events += [(t, -1, row, col) for row, t in enumerate(times) for col in range(neurons.size)]
    events.sort()
    sizes = (("weights", nnz), ("delays", nnz), ("drive", n), ("v_init", n), ("tau", n))
    dim, offsets = 0, {}
    for name, m in sizes:
        offsets[name], dim = dim, dim + m
    p = {
        name: [Dual(x, np.eye(1, dim, offsets[name] + k)[0]) for k, x in enumerate(np.broadcast_to(params[name], (m,)))]
        for name, m in sizes
    }
    w, d, tau = p["weights"], p["delays"], p["tau"]
    a = [x.sqrt() for x in p["drive"]]
    phi = [(((x / 2).tan() if theta else x) / a[i]).atan() for i, x in enumerate(p["v_init"])]
    t_last = [Dual(0.0, 0.0)] * n
    t_sp = [None] * spike_t.size
    top = [Dual(math.pi / 2, 0.0) if theta else (params["threshold"] / a[i]).atan() for i in range(n)]
    bottom = [Dual(-math.pi / 2, 0.0) if theta else (params["reset"] / a[i]).atan() for i in range(n)]

    def state(i, t):
        v = a[i] * (phi[i] + a[i] * (t - t_last[i]) / tau[i]).tan()
        return 2 * v.atan() if theta else v

    L = Dual(0.0, 0.0)
    for t, kind, r, k in events:
        if kind == -1:
            L = L + s[r, k] * state(neurons[k], t)
        elif kind == 0:
            i = neuron[r]
            t_sp[r] = t_last[i] + (top[i] - phi[i]) * tau[i] / a[i]
            phi[i], t_last[i] = bottom[i], t_sp[r]
            L = L + c[r] * t_sp[r]
        else:
            i = indices[k]
            ta = t_sp[r] + d[k]
            ph = phi[i] + a[i] * (ta - t_last[i]) / tau[i]
            phi[i], t_last[i] = (ph.tan() + w[k] / a[i]).atan(), ta
    for i in range(n):
        L = L + b[i] * state(i, T)
    return [L.dx[offsets[name] : offsets[name] + m] for name, m in sizes]


@pytest.mark.parametrize("model", ["theta", "qif"])
def test_readout_gradients_match_forward_mode_replay(rng, model):
    params = random_params(rng, model, n=6, k=2)
    params["threshold"], params["reset"] = 40.0, -40.0  # no pulse-triggered spikes
    neurons, times = rng.choice(6, size=3, replace=False), np.sort(rng.uniform(0.0, T, 12))
    net = simulate(params, None, neurons, times)
    assert net.spike_times.size > 6
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=params["n"])
    s = rng.normal(size=net.state_values.shape)
    g = net.gradient(c, b, dL_dstates=s)
    assert g.n_pulse_triggered == 0 and g.n_coincident == 0
    ref = replay_with_readouts(params, net, c, b, s, neurons, times)
    # both are exact: they agree to rounding (relative 1e-8 of the largest component)
    for name, r in zip(("weights", "delays", "drive", "v_init", "tau"), ref, strict=True):
        ours = np.asarray(grad_of(g, name))
        np.testing.assert_allclose(ours, r, rtol=1e-8, atol=1e-8 * np.abs(r).max(), err_msg=name)


# ------------------------------------------------------------------ closed forms


def state_closed_form(model, v0, tau, drive, t):
    """The state at t of a neuron without input from v0 (theta: the phase), with mpmath: the flow of
    tau dv/dt = v**2 + I, v(t) = (v0 + I T) / (1 - v0 T) with T = tan(a t / tau) / a (I = a**2 > 0),
    t / tau (I = 0), tanh(a t / tau) / a (I = -a**2 < 0); theta = 2 atan(v)."""
    import mpmath as mp

    v0 = mp.tan(v0 / 2) if model == "theta" else v0
    x = t / tau
    if drive > 0:
        a = mp.sqrt(drive)
        tt = mp.tan(a * x) / a
    elif drive == 0:
        tt = x
    else:
        a = mp.sqrt(-drive)
        tt = mp.tanh(a * x) / a
    v = (v0 + drive * tt) / (1 - v0 * tt)
    return 2 * mp.atan(v) if model == "theta" else v


@pytest.mark.parametrize("model", ["theta", "qif"])
@pytest.mark.parametrize("drive", [1.7, 0.0, -0.3])
def test_single_neuron_readout_closed_form(model, drive):
    import mpmath as mp

    tau, t_r = 0.012, 0.004
    v0 = 0.4 if model == "theta" else 0.5
    net = EventNetwork(1, model=model, tau=tau, drive=drive, threshold=THR, reset=RST, v_init=[v0])
    net.record_states([0], [t_r])
    net.run(0.006, record_tape=True)
    assert net.spike_times.size == 0
    with mp.workdps(30):
        args = [mp.mpf(v0), mp.mpf(tau), mp.mpf(drive)]
        assert net.state_values[0, 0] == pytest.approx(float(state_closed_form(model, *args, mp.mpf(t_r))), rel=1e-13)
        g = net.gradient(np.zeros(0), dL_dstates=[[1.0]])

        def d(k):
            f = lambda x: state_closed_form(model, *args[:k], x, *args[k + 1 :], mp.mpf(t_r))
            return float(mp.diff(f, args[k]))

        assert g.v0[0] == pytest.approx(d(0), rel=1e-9)
        assert g.tau == pytest.approx(d(1), rel=1e-9)
        assert g.drive == pytest.approx(d(2), rel=1e-9)
    assert g.threshold == 0.0 and g.reset == 0.0 and g.n_coincident == 0


@pytest.mark.parametrize("model", ["theta", "qif"])
def test_readout_after_a_spike_depends_on_the_spike_time(model):
    """A neuron fires at t1 = tau (pi/2 - atan(v0)) (I = 1; QIF: threshold +inf in the limit, here the
    threshold 40 at atan(40)) and restarts from the reset: a readout after the spike moves with t1 (by v0)
    and with the drive on both sides of the spike; against central differences in v0 and the drive."""
    tau, t_r = 0.01, 0.03

    def run(v0, drive):
        net = EventNetwork(1, model=model, tau=tau, drive=drive, threshold=40.0, reset=-40.0, v_init=[v0])
        net.record_states([0], [t_r])
        net.run(0.04, record_tape=True)
        return net

    net = run(0.3, 1.0)
    assert net.spike_times.size == 1 and net.spike_times[0] < t_r
    g = net.gradient([0.0], dL_dstates=[[1.0]])
    h = 1e-7
    fd_v0 = (run(0.3 + h, 1.0).state_values[0, 0] - run(0.3 - h, 1.0).state_values[0, 0]) / (2 * h)
    fd_drive = (run(0.3, 1.0 + h).state_values[0, 0] - run(0.3, 1.0 - h).state_values[0, 0]) / (2 * h)
    assert g.v0[0] == pytest.approx(fd_v0, rel=1e-6) and fd_v0 != 0.0
    assert g.drive == pytest.approx(fd_drive, rel=1e-6)


def test_readout_in_a_refractory_period_is_the_reset():
    """A QIF readout in the refractory period is the reset (its derivative goes to the reset), a theta
    readout there is -pi (no derivative)."""
    for model, value in (("qif", -2.0), ("theta", -np.pi)):
        net = EventNetwork(1, model=model, tau=0.01, drive=1.0, threshold=5.0, reset=-2.0, refractory=0.005,
                           v_init=[0.0])  # fmt: skip
        net.run(0.02)
        t1 = net.spike_times[0]
        net = EventNetwork(1, model=model, tau=0.01, drive=1.0, threshold=5.0, reset=-2.0, refractory=0.005,
                           v_init=[0.0])  # fmt: skip
        net.record_states([0], [t1 + 0.002])
        net.run(0.02, record_tape=True)
        assert net.state_values[0, 0] == value
        g = net.gradient(np.zeros(net.spike_times.size), dL_dstates=[[1.0]])
        assert g.reset == (1.0 if model == "qif" else 0.0)
        assert g.drive == 0.0 and g.tau == 0.0 and g.v0[0] == 0.0 and g.n_coincident == 0


@pytest.mark.parametrize("model", ["theta", "qif"])
def test_readout_at_an_arrival_or_a_spike_of_its_neuron_is_counted(model):
    """Readouts at the arrival of a pulse (taken before it) and at the neuron's own spike (the threshold;
    theta: pi) are counted as coincident; the derivative is that of the recorded order (the readout before
    the pulse: none by the pulse's weight)."""
    kw = dict(model=model, tau=0.01, drive=1.0, threshold=5.0, reset=-5.0, v_init=[0.0])
    first = EventNetwork(1, **kw)
    first.run(0.03)
    t_spike = first.spike_times[0]
    net = EventNetwork(1, **kw)
    net.record_states([0], [t_spike])
    net.run(0.03, record_tape=True)
    assert net.spike_times[0] == t_spike
    assert net.state_values[0, 0] == pytest.approx(np.pi if model == "theta" else 5.0, rel=1e-9)
    assert net.gradient(np.zeros(net.spike_times.size), dL_dstates=[[1.0]]).n_coincident == 1
    net = EventNetwork(1, **kw)
    net.add_spike_generator([0.001], [0], 1, [0, 1], [0], weights=0.2, delays=0.002)
    net.record_states([0], [0.003])
    net.run(0.01, record_tape=True)
    g = net.gradient(np.zeros(net.spike_times.size), dL_dstates=[[1.0]])
    assert g.n_coincident == 1 and g.generator_weights[0] == 0.0


def test_callable_loss_with_readouts_of_theta_neurons(rng):
    """``loss(t, i, v, states)``: the gradient equals that of its derivatives (JAX)."""
    jnp = pytest.importorskip("jax.numpy")
    params = random_params(rng, "theta", tref=0.002)
    neurons, times = random_readouts(rng, params["n"])
    net = simulate(params, None, neurons, times)
    g = lif_gradient(net, loss=lambda t, i, v, states: jnp.sum(jnp.cos(states)) + jnp.sum(t))
    ref = net.gradient(np.ones(net.spike_times.size), dL_dstates=-np.sin(net.state_values))
    assert g.loss == pytest.approx(np.sum(np.cos(net.state_values)) + net.spike_times.sum())
    for name in ("weights", "delays", "drive", "v0", "tau"):
        np.testing.assert_allclose(getattr(g, name), getattr(ref, name), rtol=1e-12, atol=1e-15, err_msg=name)
