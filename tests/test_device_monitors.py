"""StateMonitors through the device record every variable the engine evolves (the currents of CUBA, the
conductances of COBA, the variables of linear models), parameters and subexpressions (of those, of t, of
TimedArrays and of Brian2's functions): against closed forms of the recorded inputs, against Brian2's runtime
where both are exact (inputs on the time grid, no spike), and the EventNetwork's ``record_states(extra=True)``
against closed forms."""

import builtins
import pickle

import numpy as np
import pytest
from brian2 import (
    BinomialFunction,
    Hz,
    NeuronGroup,
    PoissonInput,
    SpikeGeneratorGroup,
    StateMonitor,
    Synapses,
    TimedArray,
    ms,
    mV,
    run,
    start_scope,
)

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.spiking.linear import LinearModel

CUBA = """
dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
dge/dt = -ge/taue : volt
dgi/dt = -gi/taui : volt
I = ge + gi : volt
"""
NAMESPACE = dict(taum=20 * ms, taue=5 * ms, taui=10 * ms, El=-60 * mV)
EXC = np.array([1.0, 2.5, 2.5, 4.0, 7.3]) * 1e-3  # s, on the 0.1 ms grid (two at one instant)
INH = np.array([3.0, 6.1]) * 1e-3


def early(device):
    """How much earlier Brian2's runtime must send an input to act when the exact engine's does: its state update
    of a step runs before the step's spikes arrive, so an input sent at t acts from t + dt."""
    return 0.1 if device == "runtime" else 0.0


def cuba_inputs(device):
    """Three subthreshold CUBA neurons (v from -60 mV) driven by a generator's excitatory and inhibitory spikes;
    v, ge, gi and I recorded at every step."""
    start_scope()
    n_e = len(EXC)
    G = SpikeGeneratorGroup(n_e + len(INH), np.arange(n_e + len(INH)), (np.r_[EXC, INH] * 1e3 - early(device)) * ms)
    P = NeuronGroup(3, CUBA, threshold="v > 0*mV", reset="v = -60*mV", method="exact", namespace=NAMESPACE)
    P.v = -60 * mV
    P.ge = [0.0, 1.0, 2.0] * mV
    Se = Synapses(G, P, on_pre="ge += 1.5*mV")
    Se.connect(condition=f"i < {n_e}")
    Si = Synapses(G, P, on_pre="gi -= 4*mV")
    Si.connect(condition=f"i >= {n_e}")
    M = StateMonitor(P, ["v", "ge", "gi", "I"], record=True)
    run(10 * ms)
    return {name: np.array(getattr(M, name + "_")) for name in ("t", "v", "ge", "gi", "I")}


def decayed(times, inputs, w, tau, init=0.0):
    """Closed form of a current that starts at init and jumps by w at each input, sampled before the inputs
    of each sample's instant (Brian2's StateMonitor records at the start of a step)."""
    return np.array([init * np.exp(-t / tau) + builtins.sum(w * np.exp(-(t - s) / tau) for s in inputs if s < t - 1e-12)
                     for t in times])  # fmt: skip


def test_cuba_currents_and_subexpression_against_closed_form_and_runtime(on_both_devices):
    exact, clocked = on_both_devices(cuba_inputs)
    for k, init in enumerate([0.0, 1e-3, 2e-3]):
        np.testing.assert_allclose(exact["ge"][k], decayed(exact["t"], EXC, 1.5e-3, 5e-3, init), rtol=0, atol=1e-17)
        np.testing.assert_allclose(exact["gi"][k], decayed(exact["t"], INH, -4e-3, 10e-3), rtol=0, atol=1e-17)
    np.testing.assert_array_equal(exact["I"], exact["ge"] + exact["gi"])
    np.testing.assert_array_equal(exact["t"], clocked["t"])
    at_inputs = np.isin(np.round(exact["t"], 7), np.round(np.r_[EXC, INH], 7))
    for name in ("v", "ge", "gi", "I"):  # both exact on the grid: the runtime's exact steps accumulate roundings
        # (at an input's instant the engine records before the jump, the runtime, a step earlier, after it)
        keep = slice(None) if name == "v" else ~at_inputs
        np.testing.assert_allclose(exact[name][:, keep], clocked[name][:, keep], rtol=0, atol=1e-14)
    assert np.ptp(exact["v"]) > 5e-4  # the inputs moved v


def test_linear_model_variables_and_expressions_of_t_timedarray_and_functions(on_both_devices):
    def script(device):
        start_scope()
        ta = TimedArray([0.0, 1.0, 2.0] * mV, dt=3 * ms)  # noqa: F841 (the equations name it)
        ta2 = TimedArray(np.array([[1.0, 2.0], [3.0, 4.0]]), dt=4 * ms)  # noqa: F841 (the equations name it)
        G = SpikeGeneratorGroup(1, [0, 0, 0], (np.array([2, 5, 7.5]) - early(device)) * ms)
        eqs = """dv/dt = (x - v)/(10*ms) : volt
                 dx/dt = -x/(5*ms) : volt
                 y = 2*x + v + t/second*mV : volt
                 z = clip(v/mV, 0, 0.5) + ta2(t, i) : 1
                 w = v + ta(t) + c : volt
                 c : volt"""
        N = NeuronGroup(2, eqs, threshold="v > 10*mV", reset="v = 0*mV", method="exact")
        N.v = [0.3, 2.0] * mV
        N.c = [1.0, -1.0] * mV
        S = Synapses(G, N, on_pre="x_post += 0.5*mV")
        S.connect()
        M = StateMonitor(N, ["v", "x", "y", "z", "w", "c"], record=True)
        run(8 * ms)
        return {name: np.array(getattr(M, name + "_")) for name in ("t", "v", "x", "y", "z", "w", "c")}

    exact, clocked = on_both_devices(script)
    x = decayed(exact["t"], [2e-3, 5e-3, 7.5e-3], 0.5e-3, 5e-3)
    np.testing.assert_allclose(exact["x"], np.stack([x, x]), rtol=0, atol=1e-17)
    np.testing.assert_allclose(exact["y"], 2 * exact["x"] + exact["v"] + exact["t"] * 1e-3, rtol=0, atol=1e-18)
    np.testing.assert_array_equal(exact["c"], np.array([[1e-3], [-1e-3]]) * np.ones_like(exact["t"]))
    at_inputs = np.isin(np.round(exact["t"], 7), [2e-3, 5e-3, 7.5e-3])
    for name in ("v", "x", "y", "z", "w", "c"):  # (x and y jump at the inputs, see the CUBA test)
        keep = ~at_inputs if name in ("x", "y") else slice(None)
        np.testing.assert_allclose(exact[name][:, keep], clocked[name][:, keep], rtol=0, atol=1e-14)
    assert set(np.round(exact["z"][1], 12)) == {2.5, 4.5}  # the TimedArray's two steps, per neuron


def test_record_single_timestep_of_a_subexpression(exact):
    P = NeuronGroup(2, CUBA, threshold="v > 0*mV", reset="v = -60*mV", method="exact", namespace=NAMESPACE)
    P.v = -60 * mV
    P.ge = [1.0, 2.0] * mV
    M = StateMonitor(P, ["I", "ge"], record=True)
    run(1 * ms)
    M.record_single_timestep()
    np.testing.assert_allclose(M.I_[:, -1], [1e-3 * np.exp(-0.2), 2e-3 * np.exp(-0.2)], rtol=1e-14)
    np.testing.assert_array_equal(M.I_[:, -1], M.ge_[:, -1])


@pytest.mark.parametrize(
    ("expression", "match"),
    [
        ("r = rand()*mV : volt", r"recording the subexpression 'r': it draws random numbers \(rand\)"),
        ("r = lastspike*mV/ms : volt", r"recording the subexpression 'r' depends on 'lastspike'"),
    ],
)
def test_subexpressions_that_change_at_random_or_at_spikes_refused(exact, expression, match):
    P = NeuronGroup(2, CUBA + expression, threshold="v > 0*mV", reset="v = -60*mV", refractory=1 * ms,
                    method="exact", namespace=NAMESPACE)  # fmt: skip
    M = StateMonitor(P, ["r"], record=True)  # noqa: F841 (run() collects it)
    with pytest.raises(NotImplementedError, match=match):
        run(1 * ms)


# ----------------------------------------------------------------------------- EventNetwork.record_states(extra=)
def test_record_states_extra_currents_conductances_and_linear_state():
    times = np.linspace(0.0, 0.02, 9)
    net = EventNetwork(2, model="lif_exp", drive=0.0, tau_e=0.005, tau_i=0.01, i_e_init=[1.0, 2.0], i_i_init=-1.0)
    net.record_states([1, 0], times, extra=True)
    net.run(0.03)
    extra = net.state_extra
    assert extra.shape == (9, 2, 2)
    np.testing.assert_allclose(extra[:, 0, 0], 2.0 * np.exp(-times / 0.005), rtol=1e-14)
    np.testing.assert_allclose(extra[:, 1, 1], -np.exp(-times / 0.01), rtol=1e-14)

    lin = LinearModel.lif_alpha(0.01, 0.005)
    net = EventNetwork(2, model="linear", linear=lin, v_init=[0.0, 0.1])
    net.record_states([0, 1], times[:-1], extra=True)
    net.run(times[-2])
    net.record_states([0, 1], times[-1:], extra=True)
    net.run(0.01)
    assert net.state_extra.shape == (9, 2, 3)
    np.testing.assert_allclose(net.state_extra[:, :, lin.v], net.state_values, rtol=0, atol=0)
    np.testing.assert_allclose(net.state_values[:, 1], 0.1 * np.exp(-times / 0.01), rtol=1e-13)
    copy = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(copy.state_extra, net.state_extra)
    with pytest.raises(ValueError, match="must record the same variables"):
        net.record_states([0, 1], [1.0])


# ----------------------------------------------------------------------------- static groups
def test_static_group_expressions_as_brian2_runtime(on_both_devices):
    """A group without differential equations and without threshold beside a spiking one: its parameters and
    subexpressions (of t, of a TimedArray per neuron, of Brian2's functions) recorded as the runtime records
    them."""

    def script(device):
        start_scope()
        ta = TimedArray(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), dt=0.5 * ms)  # noqa: F841 (named below)
        G = NeuronGroup(3, "f = cos(x) + sqrt(abs(x))*t/ms + clip(x, -0.5, 0.5) : 1\nh = ta(t, i)*f : 1\nx : 1")
        G.x = [-1.0, 0.25, 2.0]
        P = NeuronGroup(2, "dv/dt = (2 - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0", method="exact")
        M = StateMonitor(G, ["f", "h", "x"], record=True)
        Mp = StateMonitor(P, "v", record=True)
        run(1.2 * ms)
        return {name: np.array(getattr(mon, name + "_")) for mon, names in ((M, "fhx"), (Mp, "v")) for name in names}

    exact, clocked = on_both_devices(script)
    t = np.arange(12) * 1e-4
    x = np.array([-1.0, 0.25, 2.0])[:, None]
    f = np.cos(x) + np.sqrt(np.abs(x)) * t / 1e-3 + np.clip(x, -0.5, 0.5)
    np.testing.assert_allclose(exact["f"], f, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(exact["h"], np.where(t < 5e-4, [[1.0], [2.0], [3.0]], [[4.0], [5.0], [6.0]]) * f,
                               rtol=1e-15)  # fmt: skip
    for name in "fhxv":
        np.testing.assert_allclose(exact[name], clocked[name], rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda G, P: Synapses(P, G, on_pre="x_post += 1"), r"the target '\w+', a static group"),
        (lambda G, P: PoissonInput(G, "x", 5, 10 * Hz, weight=1.0), r"the group '\w+', a static group"),
    ],
    ids=["synapses", "poisson-input"],
)
def test_static_groups_cannot_be_connected(exact, build, match):
    G = NeuronGroup(2, "x : 1")
    P = NeuronGroup(2, "dv/dt = (2 - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0", method="exact")
    S = build(G, P)
    if isinstance(S, Synapses):
        S.connect()
    with pytest.raises(NotImplementedError, match=match + ".*StateMonitors record its parameters and subexpressions"):
        run(1 * ms)


@pytest.mark.parametrize(
    ("equations", "match"),
    [
        ("f = exprel(x) : 1\nx : 1", r"the subexpression 'f': it calls 'exprel', which has no numpy implementation"),
        ("f = draw(x) : 1\nx : 1", r"the subexpression 'f': it draws random numbers \(draw\)"),
    ],
    ids=["no-numpy-implementation", "random"],
)
def test_static_group_subexpressions_refused(exact, equations, match):
    draw = BinomialFunction(10, 0.5, name="draw")  # noqa: F841 (the equations name it)
    G = NeuronGroup(2, equations.replace("draw(x)", "draw()*x"))
    M = StateMonitor(G, "f", record=True)  # noqa: F841 (run() collects it)
    with pytest.raises(NotImplementedError, match=match):
        run(1 * ms)


def test_static_group_with_run_regularly_refused(exact):
    G = NeuronGroup(2, "x : 1")
    G.run_regularly("x += 1")
    M = StateMonitor(G, "x", record=True)  # noqa: F841 (run() collects it)
    with pytest.raises(NotImplementedError, match=r"the attached operation '\w+' \(e.g. run_regularly\)"):
        run(1 * ms)


def test_state_monitor_after_the_step_refused(exact):
    """when='end' records the state after the step's update and events, which the device does not sample."""
    P = NeuronGroup(2, CUBA, threshold="v > 0*mV", reset="v = -60*mV", method="exact", namespace=NAMESPACE)
    M = StateMonitor(P, "v", record=True, when="end")  # noqa: F841 (run() collects it)
    with pytest.raises(NotImplementedError, match=r"recording at when='end'.*when='start'"):
        run(1 * ms)
