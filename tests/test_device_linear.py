"""Linear models through the device: Brian2's adaptive-threshold example and perfect integrators are
recognised as the model 'linear', run as the EventNetwork built by hand, and agree with Brian2's runtime
at a small dt; linear forms the engine cannot run are refused."""

import numpy as np
import pytest
from brian2 import (
    NeuronGroup,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    defaultclock,
    ms,
    mV,
    run,
    second,
    set_device,
    start_scope,
)
from brian2.devices.device import reset_device

import brian2_sparseprop  # noqa: F401 (registers the device)
from brian2_sparseprop import EventNetwork, LinearModel
from brian2_sparseprop.device.recognition import recognise_network

ADAPTIVE = """
dv/dt = -v/(10*ms) : volt
dvt/dt = (10*mV-vt)/(15*ms) : volt
"""


def input_times(seed, duration):
    """Poisson times at 500 Hz (as the example's PoissonGroup) on a 0.1 ms grid, distinct."""
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.exponential(1 / 500, int(600 * duration) + 10))
    return np.unique(np.round(times[times < duration], 4))


def adaptive_script(times, duration):
    G = NeuronGroup(1, ADAPTIVE, reset="v = 0*mV; vt += 3*mV", threshold="v > vt", method="exact")
    G.vt = 10 * mV
    P = SpikeGeneratorGroup(1, np.zeros(times.size, int), times * second)
    S = Synapses(P, G, on_pre="v += 3*mV")
    S.connect()
    spikes, states = SpikeMonitor(G), StateMonitor(G, "v", record=0)
    run(duration * second)
    return np.array(spikes.t_), np.array(states.v_[0]), float(G.vt_[0]), float(G.v_[0])


def test_adaptive_threshold_recognised(exact):
    G = NeuronGroup(3, ADAPTIVE, reset="v = 0*mV; vt += 3*mV", threshold="v > vt", method="exact")
    G.vt = 10 * mV
    spec = recognise_network([G])
    assert list(spec.model) == ["linear"] * 3
    m = spec.linear
    assert m.variables == ["v", "vt"] and m.variables[m.v] == "v"
    np.testing.assert_allclose(m.A[0], [[-100.0, 0.0], [0.0, -1 / 0.015]])
    np.testing.assert_allclose(m.b[0], [0.0, 0.01 / 0.015])
    np.testing.assert_array_equal(m.c, [1.0, -1.0])
    np.testing.assert_allclose([m.reset_scale[1], m.reset_offset[1]], [1.0, 0.003])
    np.testing.assert_allclose(m.init[1], 0.01)


def test_adaptive_threshold_as_the_engine_and_brian2_runtime(exact):
    """The example (a SpikeGeneratorGroup in place of its PoissonGroup): spikes, v and vt equal the
    EventNetwork built by hand; Brian2's runtime at dt = 0.01 ms fires the same spikes one step later (its
    threshold test follows the synaptic update by a step), within 2 dt, and ends with the same vt."""
    times, T = input_times(1, 0.4), 0.4
    t, v, vt, v_end = adaptive_script(times, T)
    # the device passes dt as the time quantum: input times on the grid are grid points, recorded at a
    # tick before the kick due then (as Brian2 records at the start of a step)
    lif_adaptive = LinearModel.lif_adaptive(0.01, 0.015, 0.01, 0.003)
    net = EventNetwork(1, model="linear", linear=lif_adaptive, time_quantum=1e-4)
    net.add_spike_generator(times, np.zeros(times.size, int), 1, [0, 1], [0], weights=0.003)
    net.record_states([0], np.arange(4000) * 1e-4)
    net.run(T)
    assert t.size > 20
    np.testing.assert_allclose(t, net.spike_times, rtol=0, atol=1e-15)
    np.testing.assert_allclose(v, net.state_values[:, 0], rtol=0, atol=1e-15)
    np.testing.assert_allclose([v_end, vt], net.linear_state[0], rtol=1e-14)
    reset_device()
    set_device("runtime")
    start_scope()
    defaultclock.dt = 0.01 * ms
    t_rt, _, vt_rt, _ = adaptive_script(times, T)
    assert t_rt.size == t.size
    assert np.all(np.abs(t_rt - t) <= 2e-5)
    assert abs(vt_rt - vt) < 1e-3 * vt


def test_perfect_integrator(exact):
    """'dv/dt = I/tau' (refused before as a perfect integrator): spikes at multiples of threshold tau / I."""
    G = NeuronGroup(
        2, "dv/dt = I/tau : volt\nI : volt\ntau : second", threshold="v > 1*mV", reset="v = 0*mV", method="exact"
    )
    G.I, G.tau = [0.5, 0.25] * mV, 10 * ms
    mon = SpikeMonitor(G)
    run(100 * ms)
    for i, period in ((0, 0.02), (1, 0.04)):
        ti = np.array(mon.t_)[np.array(mon.i) == i]
        np.testing.assert_allclose(ti, period * np.arange(1, ti.size + 1), rtol=1e-13)
        assert ti.size >= 0.1 / period - 1


@pytest.mark.parametrize("refractory", ["10*ms", "ref"])
def test_perfect_integrator_through_refractoriness_against_the_runtime(on_both_devices, refractory):
    """Brian2's test_refractoriness_threshold: 'dv/dt = 199.99*Hz' integrating through 10 ms of refractoriness.
    The device fires at the crossing, 1/199.99 s, and when refractoriness ends, 10 ms later (v is above
    threshold then); Brian2's runtime reports the step in which each happens (its suite asserts [5, 15] ms)."""

    def script(device):
        G = NeuronGroup(
            1, "dv/dt = 199.99*Hz : 1\nref : second", threshold="v > 1", reset="v = 0", refractory=refractory
        )
        G.ref = 10 * ms
        mon = SpikeMonitor(G)
        run(16 * ms)
        return np.array(mon.t_)

    t_exact, t_grid = on_both_devices(script)
    first = 1 / 199.99
    np.testing.assert_allclose(t_exact, [first, first + 0.01], rtol=1e-14)
    np.testing.assert_allclose(t_grid, [0.005, 0.015])
    assert np.all((t_grid <= t_exact) & (t_exact < t_grid + 1e-4))  # the step that holds the exact time


@pytest.mark.parametrize("threshold, fired", [("v > 1", [2]), ("v >= 1", [1, 2])])
def test_still_state_strict_threshold_against_the_runtime(on_both_devices, threshold, fired):
    """Brian2's test_threshold_reset: 'dv/dt = 0' from v = 0, 1, 2; 'v > 1' fires neuron 2 only (at t = 0),
    '>=' neurons 1 and 2, as in Brian2's runtime; later, inputs of 0.5 onto v = 0.5 land exactly on 1."""

    def script(device):
        G = NeuronGroup(3, "dv/dt = 0 / second : 1", threshold=threshold, reset="v = 0.5")
        G.v = [0, 1, 2]
        gen = SpikeGeneratorGroup(1, [0], [1] * ms)
        S = Synapses(gen, G, on_pre="v_post += 0.5")
        S.connect()
        mon = SpikeMonitor(G)
        run(3 * ms)
        return np.array(mon.t_), np.array(mon.i), np.array(G.v)

    (t_e, i_e, v_e), (t_r, i_r, v_r) = on_both_devices(script)
    np.testing.assert_array_equal(i_e[t_e == 0], fired)
    np.testing.assert_array_equal(i_e, i_r)
    np.testing.assert_allclose(t_r[t_r > 0], t_e[t_e > 0] + 1e-4)  # the runtime tests it in the next step
    np.testing.assert_array_equal(v_e, v_r)
    if threshold == "v > 1":
        # the input takes neuron 1 to 1.5 (a spike) and neuron 2 exactly to 1.0 (none)
        assert i_e.tolist() == [2, 1] and np.array_equal(v_e, [0.5, 0.5, 1.0])
    else:
        assert i_e.tolist() == [1, 2, 1, 2] and np.array_equal(t_e, [0, 0, 0.001, 0.001])  # 1.0 is threshold


def test_boolean_refractory_condition_refused_by_name(exact):
    G = NeuronGroup(1, "dv/dt = 199.99*Hz : 1", threshold="v > 1", reset="v = 0", refractory="(t - lastspike) <= 10*ms")
    SpikeMonitor(G)
    with pytest.raises(NotImplementedError, match=r"As a linear model: .*the refractory condition '\(t - lastspike\)"):
        run(1 * ms)


@pytest.mark.parametrize(
    "eqs, threshold, reset, match",
    [
        (
            "dv/dt = -v*vt/(10*ms*mV) : volt\ndvt/dt = (10*mV-vt)/(15*ms) : volt",
            "v > vt",
            "v = 0*mV",
            "non-linear|not linear",
        ),
        (
            "dv/dt = (vt - v)/(10*ms) : volt\ndvt/dt = (v - vt)/(15*ms) : volt",
            "v > vt",
            "v = 0*mV",
            "coupled|does not depend",
        ),
        (ADAPTIVE, "v > vt", "v = vt", "reset"),
        (ADAPTIVE, "v*v > vt*vt", "v = 0*mV", "threshold"),
    ],
)
def test_unsupported_linear_forms_refused(exact, eqs, threshold, reset, match):
    G = NeuronGroup(1, eqs, threshold=threshold, reset=reset, method="euler")
    with pytest.raises(NotImplementedError, match=match):
        recognise_network([G])


ALPHA = """
dg/dt = -g/taus : volt
dI/dt = (g - I)/taus : volt
dv/dt = (El - v + I)/taum : volt (unless refractory)
"""


def alpha_script(times, weights, duration):
    ns = dict(taus=3 * ms, taum=10 * ms, El=-60 * mV)
    G = NeuronGroup(1, ALPHA, threshold="v > -50*mV", reset="v = -65*mV", refractory=2 * ms, namespace=ns)
    G.v = -60 * mV
    P = SpikeGeneratorGroup(2, np.arange(times.size) % 2, times * second)
    S = Synapses(P, G, "w : volt", on_pre="g += w")
    S.connect()
    S.w = weights * mV
    spikes = SpikeMonitor(G)
    run(duration * second)
    return np.array(spikes.t_), float(G.g_[0]), float(G.I_[0]), float(G.v_[0])


def test_alpha_synapses_as_the_engine_and_brian2_runtime(exact):
    """Alpha currents (tau_r = tau_s: a double eigenvalue) with inputs into g of both signs: spikes and the
    written-back g, I, v equal the EventNetwork built by hand; Brian2's runtime at dt = 0.01 ms fires the
    same spikes within 2 dt."""
    times = np.round(np.arange(1, 60) * 3.1e-3, 4)
    weights = np.array([60.0, -20.0])
    t, g, current, v = alpha_script(times, weights, 0.2)
    m = LinearModel.lif_alpha(0.01, 0.003, drive=-0.06, threshold=-0.05, reset=-0.065)
    net = EventNetwork(1, model="linear", linear=m, v_init=[-0.06], refractory=0.002)
    net.add_spike_generator(times, np.arange(times.size) % 2, 2, [0, 1, 2], [0, 0], weights=weights * 1e-3)
    net.run(0.2)
    assert t.size > 5
    np.testing.assert_allclose(t, net.spike_times, rtol=0, atol=1e-15)
    np.testing.assert_allclose([g, current, v], net.linear_state[0], rtol=1e-13, atol=1e-18)
    reset_device()
    set_device("runtime")
    start_scope()
    defaultclock.dt = 0.01 * ms
    t_rt = alpha_script(times, weights, 0.2)[0]
    assert t_rt.size == t.size
    assert np.all(np.abs(t_rt - t) <= 2e-5)


def test_inputs_into_two_variables_refused(exact):
    G = NeuronGroup(1, ADAPTIVE, reset="v = 0*mV; vt += 3*mV", threshold="v > vt", method="exact")
    P = SpikeGeneratorGroup(1, [0], [1] * ms)
    S1, S2 = Synapses(P, G, on_pre="v += 3*mV"), Synapses(P, G, on_pre="vt += 1*mV")
    S1.connect()
    S2.connect()
    with pytest.raises(NotImplementedError, match=r"inputs into several variables.*'v'.*'vt'"):
        recognise_network([G, P, S1, S2])
