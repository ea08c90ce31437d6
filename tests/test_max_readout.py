"""The exact maximum over time of readout neurons' states (`brian2_sparseprop.spiking.readouts.state_maximum`).

Checked against the engine's own exact readouts: the maximum is a state of the run (the readout at its
time, or right after it for a pulse's right limit, equals it to rounding) and no state on a dense grid of
readouts exceeds it; against closed forms of single neurons; and its gradient (dL/d(max) as a readout at
an interior maximum) against central differences of the maximum.
"""

import numpy as np
import pytest

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.spiking.readouts import maximum_gradient, state_maximum

T = 0.1
N_DRIVEN, READOUT = 7, np.array([7, 8, 9])


#: the currents' time constants of the 'lif_exp' readouts: one (tau_e = tau_i) or two
CURRENTS = {"lif_exp": dict(tau_e=0.004, tau_i=0.004), "lif_exp2": dict(tau_e=0.003, tau_i=0.006)}


def network(rng, model):
    """7 driven LIF neurons into 3 readout neurons that do not fire (threshold +inf), weights of both
    signs and delays; 'lif_exp' with one current time constant (tau_e = tau_i), 'lif_exp2' with two."""
    k = 3
    return dict(
        n=10,
        model=model[:7],
        drive=np.r_[rng.uniform(1.2, 1.6, N_DRIVEN), rng.uniform(0.0, 0.8, 3)],
        tau=np.r_[np.full(N_DRIVEN, 0.01), rng.uniform(0.008, 0.015, 3)],
        threshold=np.r_[np.full(N_DRIVEN, 1.0), np.full(3, np.inf)],
        reset=0.0,
        v_init=np.r_[rng.uniform(0, 1, N_DRIVEN), rng.uniform(-0.2, 0.5, 3)],
        indptr=np.r_[np.arange(0, N_DRIVEN * k + 1, k), np.full(3, N_DRIVEN * k)],
        indices=rng.integers(N_DRIVEN, 10, N_DRIVEN * k),
        weights=rng.normal(0.1, 0.4, N_DRIVEN * k) * (3.0 if model != "lif" else 1.0),
        delays=rng.uniform(0.001, 0.003, N_DRIVEN * k),
        **CURRENTS.get(model, {}),
    )


def run(params, times=None):
    net = EventNetwork(**params)
    if times is not None:
        net.record_states(READOUT, times)
    net.run(T, record_tape=True)
    return net


@pytest.mark.parametrize("model", ["lif", "lif_exp", "lif_exp2"])
def test_maximum_against_the_engines_readouts(rng, model):
    params = network(rng, model)
    m = state_maximum(run(params), READOUT)
    assert m.values.shape == m.times.shape == m.kind.shape == (3,)
    assert np.all((m.times >= 0) & (m.times <= T))
    # no state on a dense grid (step 1 us) exceeds it
    grid = run(params, np.arange(0.0, T, 1e-6))
    assert np.all(grid.state_values.max(axis=0) <= m.values + 1e-12)
    # it is a state of the run: the readout at its time (a left limit), or just after it (a right limit)
    inside = m.times < T
    at = np.unique(np.r_[m.times[inside], np.nextafter(m.times[inside], np.inf)])
    exact = run(params, at[at < T]).state_values if inside.any() else np.zeros((0, 3))
    at = at[at < T]
    net = run(params)
    for c in range(3):
        if m.kind[c] == "end":
            assert m.values[c] == pytest.approx(net.v[READOUT[c]], rel=1e-12, abs=1e-14)
            continue
        near = np.abs(at - m.times[c]) <= 2 * np.spacing(m.times[c])
        assert np.min(np.abs(exact[near, c] - m.values[c])) <= 1e-12 * max(1.0, abs(m.values[c])), m.kind[c]
    if model == "lif":
        assert not np.any(m.kind == "interior")  # monotone between pulses


@pytest.mark.parametrize(
    ("v0", "drive", "expected"),
    [(0.8, 0.3, ("start", 0.8, 0.0)), (0.1, 0.5, ("end", None, T))],
)
def test_lif_neuron_without_input(v0, drive, expected):
    """Without pulses v relaxes monotonically to the drive: the maximum is at the start or at the end."""
    net = EventNetwork(1, drive=drive, tau=0.01, threshold=np.inf, v_init=[v0])
    net.run(T, record_tape=True)
    m = state_maximum(net, [0])
    kind, value, time = expected
    assert m.kind[0] == kind and m.times[0] == time
    assert m.values[0] == pytest.approx(value if value is not None else drive + (v0 - drive) * np.exp(-T / 0.01))


@pytest.mark.parametrize("tau_s", [0.003, 0.02])
def test_single_pulse_closed_form(tau_s):
    """One pulse w into the current of a 'lif_exp' neuron at rest: v = w k (e^{-s/tau_s} - e^{-s/tau}),
    k = tau_s / (tau_s - tau), peaks at s* = ln(tau_s / tau) / (1/tau - 1/tau_s) (tau_s > tau too)."""
    tau, w, t0 = 0.01, 0.7, 0.002
    net = EventNetwork(1, model="lif_exp", drive=0.0, tau=tau, tau_e=tau_s, threshold=np.inf)
    net.add_spike_generator([t0], [0], 1, [0, 1], [0], weights=w)
    net.run(T, record_tape=True)
    m = state_maximum(net, [0])
    s_star = np.log(tau_s / tau) / (1 / tau - 1 / tau_s)
    k = tau_s / (tau_s - tau)
    assert m.kind[0] == "interior"
    assert m.times[0] == pytest.approx(t0 + s_star, rel=1e-12)
    assert m.values[0] == pytest.approx(w * k * (np.exp(-s_star / tau_s) - np.exp(-s_star / tau)), rel=1e-12)


def test_gradient_of_interior_maxima_against_central_differences(rng):
    """L = sum of the maxima of the readouts with an interior maximum: dL/dw from readouts at the argmax
    times (dv/dt = 0 there: the argmax's movement does not count) equals central differences of the
    maxima."""
    params = network(rng, "lif_exp")
    m = state_maximum(run(params), READOUT)
    chosen = np.flatnonzero(m.kind == "interior")
    if chosen.size == 0:
        pytest.skip("no interior maximum in this network")
    times = np.sort(m.times[chosen])
    net = run(params, times)
    ds = np.zeros(net.state_values.shape)
    ds[np.searchsorted(times, m.times[chosen]), chosen] = 1.0
    np.testing.assert_allclose(net.state_values[ds == 1.0], m.values[chosen][np.argsort(m.times[chosen])], rtol=1e-12)
    g = net.gradient(np.zeros(net.spike_times.size), dL_dstates=ds)
    h = 1e-7
    for name, grad in (("weights", g.weights), ("drive", g.drive), ("tau", g.tau)):
        direction = rng.normal(size=np.shape(params[name])) * (np.asarray(params[name]) if name == "tau" else 1.0)
        values = []
        for sign in (1, -1):
            other = run(dict(params, **{name: params[name] + sign * h * direction}))
            np.testing.assert_array_equal(other.spike_indices, net.spike_indices)
            other_m = state_maximum(other, READOUT)
            assert np.all(other_m.kind[chosen] == "interior")
            values.append(other_m.values[chosen].sum())
        fd = (values[0] - values[1]) / (2 * h)
        assert np.sum(grad * direction) == pytest.approx(fd, rel=1e-5, abs=1e-9), name


@pytest.mark.parametrize(
    ("w_e", "w_i", "kind", "dips"),
    [(1.0, -3.0, "interior", True), (2.0, -1.0, "interior", False), (0.3, -2.5, "start", None)],
)
def test_two_currents_a_dip_then_a_maximum(w_e, w_i, kind, dips):
    """tau_e = 20 ms, tau_i = 1 ms, tau = 10 ms: a pulse pair at 1 ms (excitatory into the slow current,
    inhibitory into the fast one) makes v dip and rise again; dv/dt, a sum of three exponentials, changes sign
    twice in one interval, and the maximum (if inside) is the second zero. Against a dense grid of the
    engine's readouts and a bounded scalar maximisation of the closed form."""
    from scipy.optimize import minimize_scalar

    def build():
        net = EventNetwork(
            1, model="lif_exp", drive=0.0, tau=0.01, tau_e=0.02, tau_i=0.001, threshold=np.inf, v_init=[0.5]
        )
        net.add_spike_generator([0.001, 0.001], [0, 1], 2, [0, 1, 2], [0, 0], weights=[w_e, w_i], delays=0.0)
        return net

    net = build()
    net.run(0.05, record_tape=True)
    m = state_maximum(net, [0])
    grid = build()
    times = np.arange(0.0, 0.05, 1e-6)
    grid.record_states([0], times)
    grid.run(0.05)
    v = grid.state_values[:, 0]
    assert v.max() <= m.values[0] + 1e-12
    # the closed form after the pulses: v(s) = C_m e^{-s/tau} + C_e e^{-s/tau_e} + C_i e^{-s/tau_i}
    v1 = 0.5 * np.exp(-0.1)
    k_e, k_i = 0.02 / (0.02 - 0.01), 0.001 / (0.001 - 0.01)
    c_e, c_i = k_e * w_e, k_i * w_i

    def v_after(s):
        return (v1 - c_e - c_i) * np.exp(-s / 0.01) + c_e * np.exp(-s / 0.02) + c_i * np.exp(-s / 0.001)

    best = minimize_scalar(lambda s: -v_after(s), bounds=(0.0, 0.049), method="bounded", options=dict(xatol=1e-12))
    expected = max(0.5, -best.fun)
    assert m.values[0] == pytest.approx(expected, rel=1e-12)
    assert m.kind[0] == kind
    after = times > 0.001
    if kind == "interior":
        assert (np.diff(v[after][: np.argmax(v[after]) + 1]).min() < 0) == dips  # falls before its peak
        assert m.times[0] == pytest.approx(0.001 + best.x, abs=1e-7)


def test_refusals():
    net = EventNetwork(2, model="qif", drive=1.0, threshold=5.0, reset=-5.0)
    net.run(0.01, record_tape=True)
    with pytest.raises(NotImplementedError, match="'lif' and 'lif_exp' neurons, found neuron 0 of model 'qif'"):
        state_maximum(net, [0])
    net = EventNetwork(2, drive=[1.5, 0.5])
    net.run(0.05, record_tape=True)
    with pytest.raises(ValueError, match="neuron 0 fired in the run"):
        state_maximum(net, [0, 1])
    with pytest.raises(ValueError, match=r"indices in \[0, 2\)"):
        state_maximum(net, [2])
    net = EventNetwork(2, drive=[1.5, 0.5])
    net.run(0.05)
    with pytest.raises(ValueError, match="needs the run's tape"):
        state_maximum(net, [1])
    net = EventNetwork(1, model="lif_exp", drive=0.0, tau=0.01, tau_e=0.01, threshold=np.inf)
    net.add_spike_generator([0.001], [0], 1, [0, 1], [0], weights=1.0)
    net.run(0.01, record_tape=True)
    with pytest.raises(NotImplementedError, match="equal to tau = 0.01 .an alpha-shaped"):
        state_maximum(net, [0])
    with pytest.raises(TypeError, match="must be an EventNetwork"):
        state_maximum("net", [0])


# ---------------------------------------------------------------- maximum_gradient: every kind of maximum

GEN_TIMES = np.array([0.011, 0.024, 0.05, 0.083])


def run_with_generator(params, gen):
    net = EventNetwork(**params)
    net.add_spike_generator(
        gen["times"], [0, 1, 0, 1], 2, [0, 2, 4], READOUT[[0, 1, 1, 2]], weights=gen["w"], delays=gen["d"]
    )
    net.run(T, record_tape=True)
    return net


@pytest.mark.parametrize("model", ["lif", "lif_exp", "lif_exp2"])
def test_maximum_gradient_against_central_differences(rng, model):
    """L = a . maxima + c . spike times, for maxima of every kind (after or before a pulse, interior, at the
    ends): maximum_gradient against central differences by every parameter kind (the event order and the
    kinds of the maxima unchanged), with pulses from the network and from a spike generator."""
    params = network(rng, model)
    gen = dict(times=GEN_TIMES + rng.uniform(0, 0.004, 4), w=rng.normal(0.2, 0.4, 4), d=rng.uniform(0, 0.002, 4))
    net = run_with_generator(params, gen)
    m = state_maximum(net, READOUT)
    a = rng.normal(size=3)
    c = rng.normal(size=net.spike_times.size)
    g = maximum_gradient(net, READOUT, a, c)

    def loss(p, q):
        other = run_with_generator(p, q)
        np.testing.assert_array_equal(other.spike_indices, net.spike_indices)
        om = state_maximum(other, READOUT)
        assert np.array_equal(om.kind, m.kind)
        return float(a @ om.values + c @ other.spike_times)

    checks = [("weights", g.weights), ("delays", g.delays), ("drive", g.drive), ("tau", g.tau), ("v_init", g.v0)]
    checks += [("gen times", g.generator_times[0]), ("gen w", g.generator_weights[0]), ("gen d", g.generator_delays[0])]
    if model == "lif_exp":
        checks.append(("tau_s", g.tau_e + g.tau_i))  # tau_e = tau_i moved together (both currents in use)
    if model == "lif_exp2":
        checks += [("tau_e", g.tau_e), ("tau_i", g.tau_i)]
    for name, grad in checks:
        h = 1e-8
        if name == "tau_s":
            direction = 1.0
            shifted = [dict(params, tau_e=0.004 + s * h, tau_i=0.004 + s * h) for s in (1, -1)]
            values = [loss(p, gen) for p in shifted]
        elif name in ("tau_e", "tau_i"):
            direction = 1.0
            values = [loss(dict(params, **{name: params[name] + s * h}), gen) for s in (1, -1)]
        elif name.startswith("gen"):
            key = {"gen times": "times", "gen w": "w", "gen d": "d"}[name]
            direction = rng.normal(size=4)
            values = [loss(params, dict(gen, **{key: gen[key] + s * h * direction})) for s in (1, -1)]
        else:
            direction = rng.normal(size=np.shape(params[name])) * (0.01 if name in ("tau", "delays") else 1.0)
            values = [loss(dict(params, **{name: params[name] + s * h * direction}), gen) for s in (1, -1)]
        fd = (values[0] - values[1]) / (2 * h)
        assert np.sum(np.asarray(grad) * direction) == pytest.approx(fd, rel=1e-5, abs=1e-7), name
    assert g.n_coincident == 0


@pytest.mark.parametrize("model", ["lif_exp", "lif_exp2"])
def test_maximum_gradient_matches_readouts_at_interior_maxima(rng, model):
    """At interior maxima (dv/dt = 0) the closed forms of maximum_gradient and the backward pass's own
    readouts (record_states at the argmax, dL_dstates) are two differentiations of one quantity."""
    for _ in range(20):
        params = network(rng, model)
        m = state_maximum(run(params), READOUT)
        chosen = np.flatnonzero(m.kind == "interior")
        if chosen.size:
            break
    times = np.sort(m.times[chosen])
    net = run(params, times)
    ds = np.zeros(net.state_values.shape)
    ds[np.searchsorted(times, m.times[chosen]), chosen] = 1.0
    via_readouts = net.gradient(np.zeros(net.spike_times.size), dL_dstates=ds)
    closed = maximum_gradient(run(params), READOUT, np.isin(np.arange(3), chosen).astype(float))
    for name in ("weights", "delays", "drive", "tau", "v0", "tau_e", "tau_i", "i_e0", "i_i0"):
        np.testing.assert_allclose(
            getattr(closed, name), getattr(via_readouts, name), rtol=1e-9, atol=1e-12, err_msg=name
        )


def test_maximum_gradient_refusals():
    net = EventNetwork(1, drive=0.0, tau=0.01, threshold=np.inf)
    net.run(0.01, record_tape=True)
    with pytest.raises(ValueError, match=r"dL_dmax must have shape \(1,\)"):
        maximum_gradient(net, [0], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"dL_dspike_times must have shape \(0,\)"):
        maximum_gradient(net, [0], [1.0], [1.0])
    with pytest.raises(TypeError, match="not a callable"):
        maximum_gradient(net, [0], [1.0], loss=lambda *a: 0.0)
