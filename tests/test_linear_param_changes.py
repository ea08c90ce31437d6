"""EventNetwork.set_params for linear neurons (``model="linear"``): a new constant input b, matrix A, threshold,
reset, refractory period, weights or delays between runs, the state carried on exactly. Against closed forms,
against the slow reference (tests/linear_oracle.py) with the model changed mid-run, and bit for bit against
an unsplit run where nothing changes."""

import pickle

import numpy as np
import pytest
from linear_oracle import random_net

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.spiking.linear import LinearModel


def alpha_model(rng, n, drive=None):
    return LinearModel.lif_alpha(
        rng.uniform(0.008, 0.012, n),
        rng.uniform(0.003, 0.005, n),
        tau_r=rng.uniform(0.0005, 0.002, n),
        drive=rng.uniform(0.8, 1.2, n) if drive is None else drive,
        threshold=1.0,
        reset=0.0,
    )


def adaptive_model(rng, n, drive=None):
    drive = rng.uniform(0.9, 1.3, n) if drive is None else drive
    return LinearModel.lif_adaptive(tau=0.01, tau_t=0.015, vt_rest=1.0, dvt=0.3, drive=drive)


MODELS = {"alpha": alpha_model, "adaptive": adaptive_model}


def changed_model(m, A=None, b=None):
    """``m`` with a new A and/or b (its threshold, reset and input variable kept)."""
    d = len(m.variables)
    others = {m.variables[k]: (m.reset_scale[k], m.reset_offset[k]) for k in range(d) if k != m.v}
    return LinearModel(
        m.variables,
        m.A if A is None else A,
        m.b if b is None else b,
        dict(zip(m.variables, m.c)),
        theta=m.theta,
        v=m.variables[m.v],
        reset=m.reset,
        reset_others=others,
        pulse=tuple(m.variables[k] for k in m.pulse),
    )


def set_oracle_model(o, net, t):
    """The slow reference, run up to ``t``, follows the network's (new) linear model from ``t`` on (its state is
    first moved from its last event to ``t`` under the old model)."""
    o.y = np.array([o.flow(j, t - o.t) for j in range(o.n)])
    o.t = t
    L = net._linear
    sys = L["sys"][L["cls"]]
    D = o.M.shape[1]
    o.M = sys["M"][:, :D, :D].copy()
    o.theta = L["theta"].copy()
    o.eig = []
    for i in range(o.n):
        lam, V = np.linalg.eig(o.M[i])
        o.eig.append((lam.real, V.real, np.linalg.inv(V.real)))


def in_flight_time(net, after=0.05):
    """A time 0.5 ms after the first spike after ``after`` of a network run before (its synapses' delays are >= 1
    ms: spikes in flight then)."""
    later = net.spike_times[net.spike_times > after]
    assert later.size
    return float(later[0]) + 0.0005


# ---------------------------------------------------------------- nothing changes: the unsplit run, bit for bit
@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("seed", range(3))
def test_unchanged_model_continues_bit_for_bit(seed, model):
    """A run split by set_params with the same model, weights and delays (spikes in flight across the change)
    is the unsplit run, bit for bit: the unchanged neurons keep their stored state."""
    nets = []
    for _ in range(2):
        rng = np.random.default_rng(seed)
        m = MODELS[model](rng, 6)
        nets.append((random_net(rng, 6, m)[0], m))
    (whole, _), (split, m) = nets
    whole.run(0.2)
    t1 = in_flight_time(whole)
    split.run(t1)
    assert split._engine.delay_queue()["t_arr"].size > 0
    split.set_params(linear=m, weights=split._weights.copy(), delays=split._delays.copy())
    split.run(0.2 - t1)
    assert whole.spike_times.size > 10
    np.testing.assert_array_equal(split.spike_indices, whole.spike_indices)
    np.testing.assert_array_equal(split.spike_times, whole.spike_times)


@pytest.mark.parametrize("seed", range(3))
def test_set_poisson_on_linear_neurons_continues_bit_for_bit(seed):
    """set_poisson with the same rates (it rebuilds the engine) leaves the linear neurons' states as they are."""
    runs = []
    for split in (False, True):
        rng = np.random.default_rng(seed)
        net = EventNetwork(5, model="linear", linear=alpha_model(rng, 5), v_init=rng.uniform(0, 0.5, 5), seed=seed)
        net.add_poisson_input(800.0, 0.4)
        if split:
            net.run(0.05)
            net.set_poisson(0, rates=800.0)
            net.run(0.1)
        else:
            net.run(0.15)
        runs.append(net)
    assert runs[0].spike_times.size > 5
    np.testing.assert_array_equal(runs[1].spike_indices, runs[0].spike_indices)
    np.testing.assert_array_equal(runs[1].spike_times, runs[0].spike_times)


# ---------------------------------------------------------------- closed forms
def test_lif_drive_step_closed_form():
    """dv/dt = (D - v)/tau with D stepping from 1.2 to 2 at t1 = 30 ms (a one-variable linear model): v(t1) from
    the first spike on, then the crossings of 2 - (2 - v1) e^{-(t - t1)/tau}, then every tau ln 2."""
    tau = 0.01

    def lif(D):
        return LinearModel(["v"], [[-1 / tau]], [D / tau], {"v": 1.0}, theta=1.0, reset=0.0)

    net = EventNetwork(1, model="linear", linear=lif(1.2), v_init=[0.0])
    net.run(0.03)
    t0 = tau * np.log(6.0)  # 1.2 (1 - e^{-t/tau}) = 1
    v1 = 1.2 * -np.expm1(-(0.03 - t0) / tau)
    np.testing.assert_allclose(net.linear_state[0, 0], v1, rtol=0, atol=1e-14)
    net.set_params(linear=lif(2.0))
    net.run(0.04)
    first = 0.03 + tau * np.log((2 - v1) / (2 - 1))
    expected = np.concatenate([[t0], first + tau * np.log(2) * np.arange(10)])
    expected = expected[expected < 0.07]
    np.testing.assert_allclose(net.spike_times, expected, rtol=0, atol=1e-12)


def test_pif_with_current_input_step_closed_form():
    """A perfect integrator with an exponential current, ``dI/dt = -I/tau_s``, ``dv/dt = (D + I)/tau``, I(0) = 1:
    D steps from 0 to 2 at t1 = 5 ms; after it v(t) = v1 + (2 (t - t1) + tau_s I1 (1 - e^{-(t - t1)/tau_s}))/tau,
    whose crossing of 1 is found by bisection on the closed form (to 1e-15 s)."""
    tau, tau_s = 0.01, 0.004
    net = EventNetwork(1, model="linear", linear=LinearModel.pif(0.0, tau_s=tau_s, tau=tau, init={"I": 1.0, "v": 0.0}))
    net.run(0.005)
    I1 = np.exp(-0.005 / tau_s)
    v1 = tau_s * (1 - I1) / tau
    np.testing.assert_allclose(net.linear_state[0], [I1, v1], rtol=0, atol=1e-15)
    net.set_params(linear=LinearModel.pif(2.0, tau_s=tau_s, tau=tau))
    net.run(0.01)

    def v(s):
        return v1 + (2 * s + tau_s * I1 * -np.expm1(-s / tau_s)) / tau

    np.testing.assert_allclose(net.spike_times[:1], [0.005 + first_crossing(v, 0.01)], rtol=0, atol=1e-12)


def first_crossing(v, hi):
    """The first s in (0, hi) with v(s) = 1 for an increasing v, by bisection to 1e-16 s."""
    lo = 0.0
    while hi - lo > 1e-16:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if v(mid) < 1 else (lo, mid)
    return hi


def test_new_threshold_below_the_state_fires_now():
    net = EventNetwork(1, model="linear", linear=LinearModel.pif(drive=10.0, tau=1.0))
    net.run(0.05)  # v = 0.5
    net.set_params(linear=LinearModel.pif(drive=10.0, tau=1.0, threshold=0.4))
    net.run(0.01)
    np.testing.assert_array_equal(net.spike_times[:1], [0.05])
    net.run(0.04)
    np.testing.assert_allclose(net.spike_times, [0.05, 0.09], rtol=0, atol=1e-15)


def test_new_input_during_refractoriness():
    """v is held at the reset during the refractory period (5 ms after the spike at 20 ms) and follows the new
    input from its end: dv/dt = 50 /s -> 100 /s at 22 ms, next spike at 25 + 10 ms."""
    net = EventNetwork(1, model="linear", linear=LinearModel.pif(drive=50.0, tau=1.0), refractory=0.005)
    net.run(0.022)
    net.set_params(linear=LinearModel.pif(drive=100.0, tau=1.0))
    net.run(0.03)
    np.testing.assert_allclose(net.spike_times, [0.02, 0.035, 0.05], rtol=0, atol=1e-15)


def test_new_refractory_period_of_linear_neurons():
    """A new refractory period moves the end of the current one (spike at 20 ms, 5 ms -> 8 ms at 22 ms)."""
    net = EventNetwork(1, model="linear", linear=LinearModel.pif(drive=50.0, tau=1.0), refractory=0.005)
    net.run(0.022)
    net.set_params(refractory=0.008)
    net.run(0.03)
    np.testing.assert_allclose(net.spike_times, [0.02, 0.048], rtol=0, atol=1e-15)


# ---------------------------------------------------------------- the slow reference, model changed mid-run
@pytest.mark.parametrize("change", ["b", "A"])
@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("seed", range(3))
def test_new_model_mid_run_against_reference(seed, model, change):
    """Per-neuron inputs b (or matrices A: new time constants) changed at 70 ms with spikes in flight: the engine
    against the slow reference that switches its matrices at the same time (spike times within 1e-12 s)."""
    rng = np.random.default_rng(seed)
    n = 6
    m = MODELS[model](rng, n)
    probe_rng = np.random.default_rng(seed)
    probe = random_net(probe_rng, n, MODELS[model](probe_rng, n))[0]  # the same network, run once to find t1
    probe.run(0.2)
    t1 = in_flight_time(probe)
    net, o = random_net(rng, n, m)
    net.run(t1)
    o.run(t1)
    assert net._engine.delay_queue()["t_arr"].size > 0
    if change == "b":
        new = changed_model(m, b=m.b * rng.uniform(0.7, 1.4, (n, 1)))
    else:
        new = changed_model(m, A=m.A * rng.uniform(0.7, 1.4, (n, 1, 1)))
    net.set_params(linear=new)
    set_oracle_model(o, net, t1)
    net.run(0.2 - t1)
    o.run(0.2)
    ref_t = np.array([s[0] for s in o.spikes])
    ref_i = np.array([s[1] for s in o.spikes])
    assert (ref_t > t1).sum() > 5
    np.testing.assert_array_equal(net.spike_indices, ref_i)
    np.testing.assert_allclose(net.spike_times, ref_t, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- pickling
@pytest.mark.parametrize("seed", range(3))
def test_pickled_after_a_new_model_continues_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    m = alpha_model(rng, 6)
    net = random_net(rng, 6, m)[0]
    net.run(0.07)
    net.set_params(linear=changed_model(m, b=m.b * 1.2), weights=net._weights * 0.9)
    copy = pickle.loads(pickle.dumps(net))
    net.run(0.1)
    copy.run(0.1)
    assert net.spike_times.size > 10
    np.testing.assert_array_equal(copy.spike_indices, net.spike_indices)
    np.testing.assert_array_equal(copy.spike_times, net.spike_times)
    np.testing.assert_array_equal(copy.linear_state, net.linear_state)


def test_new_model_before_the_first_run_keeps_the_initial_state():
    """Before the first run the initial state stays (the new model's init is not used), also in a pickled copy."""
    m = LinearModel.pif(0.0, tau_s=0.004, tau=0.01, init={"I": 1.0, "v": 0.2})
    net = EventNetwork(1, model="linear", linear=m)
    net.set_params(linear=LinearModel.pif(2.0, tau_s=0.004, tau=0.01))
    np.testing.assert_array_equal(net.linear_state, [[1.0, 0.2]])
    copy = pickle.loads(pickle.dumps(net))
    for x in (net, copy):
        x.run(0.01)
    np.testing.assert_array_equal(copy.spike_times, net.spike_times)

    def v(s):  # from I = 1, v = 0.2 with the new drive 2
        return 0.2 + (2 * s + 0.004 * -np.expm1(-s / 0.004)) / 0.01

    np.testing.assert_allclose(net.spike_times[:1], [first_crossing(v, 0.01)], rtol=0, atol=1e-12)


# ---------------------------------------------------------------- what cannot change
def test_set_params_of_linear_networks_refuses_what_it_cannot_change():
    m = LinearModel.lif_alpha(0.01, 0.005, drive=1.2)
    net = EventNetwork(2, model="linear", linear=m)
    net.run(0.01)
    before = net.get_state()
    with pytest.raises(ValueError, match=r"variables \['g', 'I', 'v'\] and v 'v'.*found \['v', 'vt'\]"):
        net.set_params(linear=LinearModel.lif_adaptive(0.01, 0.015, 1.0, 0.3))
    with pytest.raises(ValueError, match=r"\['drive'\] of a network of 'linear' neurons is given by its linear model"):
        net.set_params(drive=1.5)
    with pytest.raises(TypeError, match="linear must be a LinearModel, found dict"):
        net.set_params(linear={"b": 1.0})
    with pytest.raises(ValueError, match="of the linear model must be per neuron with 2 rows, found shape \\(3"):
        net.set_params(linear=LinearModel.lif_alpha(0.01, 0.005, drive=np.ones(3)))
    np.testing.assert_array_equal(net.get_state()["lin"], before["lin"])
    assert net._config["linear"] is m
    lif = EventNetwork(1)
    with pytest.raises(ValueError, match="linear is for networks with 'linear' neurons; this one has none"):
        lif.set_params(linear=m)


def test_mixed_network_takes_lif_and_linear_changes():
    """A LIF neuron and a linear one: drive applies to the LIF neuron, linear to the other (closed forms)."""
    lin = LinearModel(["v"], [[-100.0]], [120.0], {"v": 1.0}, theta=1.0)  # the same LIF as a linear model
    net = EventNetwork(2, model=["lif", "linear"], tau=0.01, drive=1.2, linear=lin, v_init=[0.0, 0.0])
    net.run(0.03)
    net.set_params(drive=2.0, linear=LinearModel(["v"], [[-100.0]], [200.0], {"v": 1.0}, theta=1.0))
    net.run(0.04)
    t0 = 0.01 * np.log(6.0)
    v1 = 1.2 * -np.expm1(-(0.03 - t0) / 0.01)
    first = 0.03 + 0.01 * np.log((2 - v1) / (2 - 1))
    expected = np.concatenate([[t0], first + 0.01 * np.log(2) * np.arange(10)])
    expected = expected[expected < 0.07]
    for i in (0, 1):
        np.testing.assert_allclose(net.spike_times[net.spike_indices == i], expected, rtol=0, atol=1e-12)
