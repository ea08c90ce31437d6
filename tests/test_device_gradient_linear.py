"""Gradients through the device of groups that it runs as linear models (model 'linear', dx/dt = A x + b):
a CUBA-like LIF with an exponential current and an adaptive threshold, and a LIF with alpha currents.
``get_device().gradient`` against central finite differences of the device's own runs (every kind of
variable: weights, delays, time constants, drives, threshold and reset parameters, a shared reset
increment, initial values of every state variable, generator spike times), against the gradient of the
same network built by hand as an `EventNetwork` with ``model='linear'`` chain-ruled by hand, and the
refusals that stay."""

import jax.numpy as jnp
import numpy as np
import pytest
from brian2 import (
    Network,
    NeuronGroup,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    get_device,
    ms,
    mV,
    second,
    seed as brian_seed,
    start_scope,
    volt,
)

import brian2_sparseprop  # noqa: F401 (registers the device)
from brian2_sparseprop import EventNetwork
from brian2_sparseprop.spiking.linear import LinearModel

TARGET = 0.025  # s
DURATION = 40 * ms
H = 1e-9  # the step of the central differences, in the variable's SI unit

# CUBA-like LIF with one exponential current ge (inputs of both signs) and an adaptive threshold vt: the
# threshold 'v > vt + dth' is not 'v > constant', so the device runs it as a linear model (ge, v, vt)
EQS_ADAPTIVE = """
dv/dt = (I - v)/taum + ge/tauk : volt (unless refractory)
dge/dt = -ge/taue : volt
dvt/dt = (vt0 - vt)/taut : volt
I : volt
taum : second (constant)
tauk : second (constant)
taue : second (constant)
taut : second (constant)
vt0 : volt
dth : volt
vr : volt
dvt : volt (shared)
"""

# LIF with alpha currents (one time constant taus for both stages): a linear model (g, s, v)
EQS_ALPHA = """
dv/dt = (I - v + s)/taum : volt (unless refractory)
ds/dt = (g - s)/taus : volt
dg/dt = -g/taus : volt
I : volt
taum : second (constant)
taus : second (constant)
vth : volt
vr : volt
"""


def _variable(obj, name):
    return obj.pre.variables["delay"] if name == "delay" else obj.variables[name]


def script(kind, seed, change=None, state=False):
    """10 neurons of one of the two linear forms, recurrent excitatory and inhibitory synapses with delays
    into the input variable (ge, or g of the alpha currents), a spike generator; ``change(objects)`` changes
    values before the run; ``state``: a StateMonitor of v of three neurons."""
    rng = np.random.default_rng(seed)
    brian_seed(seed)
    n = 10
    if kind == "adaptive":
        G = NeuronGroup(n, EQS_ADAPTIVE, threshold="v > vt + dth", reset="v = vr\nvt += dvt", refractory=1 * ms)
        G.I = rng.uniform(12, 17, n) * mV
        G.taum, G.tauk = rng.uniform(8, 12, n) * ms, rng.uniform(8, 12, n) * ms
        G.taue, G.taut = rng.uniform(3, 6, n) * ms, rng.uniform(15, 30, n) * ms
        G.vt0 = rng.uniform(8, 10, n) * mV
        G.dth = rng.uniform(0, 1, n) * mV
        G.vr = rng.uniform(-2, 0, n) * mV
        G.dvt = 1 * mV
        G.v = rng.uniform(0, 5, n) * mV
        G.ge = rng.uniform(0, 2, n) * mV
        G.vt = G.vt0[:] + rng.uniform(0, 2, n) * mV
        target, scale = "ge", 1.0
    else:
        G = NeuronGroup(n, EQS_ALPHA, threshold="v > vth", reset="v = vr", refractory=1 * ms)
        G.I = rng.uniform(11, 15, n) * mV
        G.taum = rng.uniform(8, 12, n) * ms
        G.taus = rng.uniform(2, 4, n) * ms
        G.vth = rng.uniform(9, 11, n) * mV
        G.vr = rng.uniform(-2, 0, n) * mV
        G.v = rng.uniform(0, 5, n) * mV
        G.s = rng.uniform(0, 2, n) * mV
        G.g = rng.uniform(0, 2, n) * mV
        target, scale = "g", 2.0
    E = Synapses(G, G, "w : volt", on_pre=f"{target}_post += w")
    E.connect(p=0.3, condition="i != j")
    E.w = rng.uniform(1, 6, len(E)) * mV * scale
    E.delay = rng.uniform(0.5, 3, len(E)) * ms
    Inh = Synapses(G, G, "w : volt", on_pre=f"{target}_post += 2*w")
    Inh.connect(p=0.2, condition="i != j")
    Inh.w = -rng.uniform(1, 4, len(Inh)) * mV * scale
    Inh.delay = rng.uniform(0.5, 3, len(Inh)) * ms
    gen = SpikeGeneratorGroup(2, [0, 1, 0], [2.0, 4.5, 9.0] * ms)
    P = Synapses(gen, G, "w : volt", on_pre=f"{target}_post += w")
    P.connect(p=0.6)
    P.w = rng.uniform(2, 8, len(P)) * mV * scale
    P.delay = 1 * ms
    mon = SpikeMonitor(G)
    objects = dict(G=G, E=E, Inh=Inh, gen=gen, P=P, mon=mon)
    if state:
        objects["M"] = StateMonitor(G, "v", record=[1, 4, 8])
    if change is not None:
        change(objects)
    return objects


def loss(t, i):
    """Squared distance of every spike to TARGET, weighted by the neuron."""
    return jnp.sum((1.0 + 0.1 * i) * (t - TARGET) ** 2)


def loss_value(mon):
    t, i = np.asarray(mon.t_), np.asarray(mon.i)
    return float(np.sum((1.0 + 0.1 * i) * (t - TARGET) ** 2))


def state_loss(t, i, values):
    """The spike loss plus a loss of the recorded membrane values (in volt)."""
    return loss(t, i) + 50.0 * jnp.sum(values**2)


def state_loss_value(o):
    return loss_value(o["mon"]) + 50.0 * float(np.sum(np.asarray(o["M"].v_) ** 2))


#: the variables checked against finite differences: (object, variable) of each kind
VARIABLES = {
    "adaptive": [("G", x) for x in ("taum", "tauk", "taue", "taut", "I", "vt0", "dth", "vr", "dvt", "v", "ge", "vt")],
    "alpha": [("G", x) for x in ("taum", "taus", "I", "vth", "vr", "v", "s", "g")],
}


def central_difference(kind, seed, obj, var, k, base, state=False):
    """(L(x + H) - L(x - H)) / (2 H) of the device's runs with one value changed, asserting the same events."""
    values = []
    for sign in (1, -1):
        start_scope()

        def change(o, obj=obj, var=var, k=k, step=sign * H):
            array = np.array(_variable(o[obj], var).get_value(), dtype=float)
            array[k] += step
            _variable(o[obj], var).set_value(array)

        o = script(kind, seed, change=change, state=state)
        Network(o.values()).run(DURATION)
        np.testing.assert_array_equal(o["mon"].i, base["mon"].i)  # the same events
        values.append(state_loss_value(o) if state else loss_value(o["mon"]))
    return (values[0] - values[1]) / (2 * H)


def check_against_finite_differences(kind, seed, every):
    """The device's gradient of a script against central differences of its runs (h = 1e-9 in SI units,
    to 1e-5 relative): ``every`` variable (the three Synapses' weights, the group's parameters and initial
    values, a delay, a generator spike time), else the weight of one Synapses and a third of the others,
    chosen by the seed (so that three consecutive seeds check each kind)."""
    base = script(kind, seed)
    net = Network(base.values())
    net.run(DURATION)
    assert get_device()._sessions[net].spec.groups[0].model == "linear"  # not the 'lif_exp' special case
    grad = get_device().gradient(base["mon"], loss=loss, net=net)
    assert grad.n_coincident == 0 and grad.n_unresolved == 0
    assert base["mon"].num_spikes > 10
    assert grad.loss == pytest.approx(loss_value(base["mon"]), rel=1e-14)
    rng = np.random.default_rng(300 + seed)
    n = len(base["G"])
    weights = [(k, "w", int(rng.integers(len(base[k])))) for k in ("E", "Inh", "P")]
    others = [(obj, var, 0 if var == "dvt" else int(rng.integers(n))) for obj, var in VARIABLES[kind]]
    others += [("E", "delay", int(rng.integers(len(base["E"])))), ("gen", "spike_time", int(rng.integers(3)))]
    checks = weights + others if every else [weights[seed % 3]] + others[seed % 3 :: 3]
    for obj, var, k in checks:
        fd = central_difference(kind, seed, obj, var, k, base)
        values = np.asarray(grad[base[obj]][var])
        g = float(values.reshape(-1)[k])
        assert g == pytest.approx(fd, rel=1e-5, abs=1e-6 * np.abs(values).max()), (obj, var, k)


@pytest.mark.parametrize("kind", ["adaptive", "alpha"])
def test_linear_device_gradient_against_finite_differences(taped, seed, kind):
    """Each kind of variable of a linear group against central differences, in turn over three seeds."""
    check_against_finite_differences(kind, seed, every=False)


@pytest.mark.slow  # ~20 s each: two runs of the script per variable
@pytest.mark.parametrize("kind", ["adaptive", "alpha"])
def test_linear_device_gradient_against_finite_differences_every_variable(taped, seed, kind):
    """Every kind of variable with every seed."""
    check_against_finite_differences(kind, seed, every=True)


def test_linear_device_gradient_of_a_state_monitor_loss(taped, seed):
    """A loss of spikes and of a StateMonitor's exact values of v of alpha-current neurons, against central
    differences: a weight, the current's time constant, the drive and the initial value of g."""
    base = script("alpha", seed, state=True)
    net = Network(base.values())
    net.run(DURATION)
    grad = get_device().gradient(base["mon"], loss=state_loss, state_monitor=base["M"], net=net)
    assert grad.loss == pytest.approx(state_loss_value(base), rel=1e-12)
    rng = np.random.default_rng(400 + seed)
    checks = [("E", "w", int(rng.integers(len(base["E"])))), ("G", "taus", int(rng.integers(10)))]
    checks += [("G", "I", 4), ("G", "g", 8)]
    for obj, var, k in checks:
        fd = central_difference("alpha", seed, obj, var, k, base, state=True)
        values = np.asarray(grad[base[obj]][var])
        assert float(values[k]) == pytest.approx(fd, rel=1e-5, abs=1e-6 * np.abs(values).max()), (obj, var, k)


def _csr(pre, n):
    order = np.argsort(pre, kind="stable")
    return order, np.searchsorted(pre[order], np.arange(n + 1))


def hand_built_model(kind, G):
    """The LinearModel of a script's group built by hand from its values, and the chain rule from the
    engine's gradient to the group's variables (a function of the SpikeGradient)."""
    n = len(G)
    value = {x: np.array(G.variables[x].get_value(), dtype=float) for x in G.variables if x in G.equations}
    if kind == "adaptive":  # the variables in another order than the device's (ge, v, vt)
        taum, tauk, taue, taut, drive, vt0 = (value[x] for x in ("taum", "tauk", "taue", "taut", "I", "vt0"))
        VT, GE, V = 0, 1, 2
        A = np.zeros((n, 3, 3))
        A[:, V, V], A[:, V, GE], A[:, GE, GE], A[:, VT, VT] = -1 / taum, 1 / tauk, -1 / taue, -1 / taut
        b = np.zeros((n, 3))
        b[:, V], b[:, VT] = drive / taum, vt0 / taut
        model = LinearModel(
            ["vt", "ge", "v"], A, b, {"v": 1.0, "vt": -1.0}, theta=value["dth"], v="v", reset=value["vr"],
            reset_others={"vt": (1.0, float(value["dvt"].item()))}, pulse="ge",
            init={"vt": value["vt"], "ge": value["ge"], "v": value["v"]},
        )  # fmt: skip

        def chain(gA, gb, eg):
            return {
                "taum": (gA[:, V, V] - gb[:, V] * drive) / taum**2,
                "tauk": -gA[:, V, GE] / tauk**2,
                "taue": gA[:, GE, GE] / taue**2,
                "taut": (gA[:, VT, VT] - gb[:, VT] * vt0) / taut**2,
                "I": gb[:, V] / taum,
                "vt0": gb[:, VT] / taut,
                "dvt": np.asarray(eg.reset_offset)[VT],
                "dth": np.asarray(eg.threshold),
                **{x: np.asarray(eg.x0)[:, k] for k, x in enumerate(["vt", "ge", "v"])},
            }

        return model, chain
    # alpha: taus in three entries of A, taum in two and in b
    taum, taus, drive = value["taum"], value["taus"], value["I"]
    GG, S, V = 0, 1, 2
    A = np.zeros((n, 3, 3))
    A[:, GG, GG], A[:, S, GG], A[:, S, S] = -1 / taus, 1 / taus, -1 / taus
    A[:, V, S], A[:, V, V] = 1 / taum, -1 / taum
    b = np.zeros((n, 3))
    b[:, V] = drive / taum
    model = LinearModel(
        ["g", "s", "v"], A, b, {"v": 1.0}, theta=value["vth"], v="v", reset=value["vr"], pulse="g",
        init={"g": value["g"], "s": value["s"], "v": value["v"]},
    )  # fmt: skip

    def chain(gA, gb, eg):
        return {
            "taus": (gA[:, GG, GG] - gA[:, S, GG] + gA[:, S, S]) / taus**2,
            "taum": (gA[:, V, V] - gA[:, V, S] - gb[:, V] * drive) / taum**2,
            "I": gb[:, V] / taum,
            "vth": np.asarray(eg.threshold),
            **{x: np.asarray(eg.x0)[:, k] for k, x in enumerate(["g", "s", "v"])},
        }

    return model, chain


@pytest.mark.parametrize("kind", ["adaptive", "alpha"])
def test_linear_device_gradient_equals_the_hand_built_network(taped, seed, kind):
    """A script built by hand as an EventNetwork(model='linear'), its engine gradient chain-ruled by hand to
    the Brian2 variables (`hand_built_model`): adaptive, A[v, v] = -1/taum, A[v, ge] = 1/tauk,
    A[ge, ge] = -1/taue, A[vt, vt] = -1/taut, b[v] = I/taum, b[vt] = vt0/taut, theta = dth, reset = vr, the
    offset of vt's reset = dvt; alpha, A[g, g] = A[s, s] = -1/taus, A[s, g] = 1/taus, A[v, s] = 1/taum,
    A[v, v] = -1/taum, b[v] = I/taum, theta = vth; kicks w and 2 w into the input variable."""
    o = script(kind, seed)
    G, E, Inh, P = (o[k] for k in ("G", "E", "Inh", "P"))
    n = len(G)
    model, chain = hand_built_model(kind, G)
    pre = np.concatenate([E._synaptic_pre[:], Inh._synaptic_pre[:]])
    post = np.concatenate([E._synaptic_post[:], Inh._synaptic_post[:]])
    order, indptr = _csr(pre, n)
    engine = EventNetwork(
        n, model="linear", linear=model, refractory=0.001, indptr=indptr, indices=post[order],
        weights=np.concatenate([E.w_[:], 2 * Inh.w_[:]])[order],
        delays=np.concatenate([E.delay_[:], Inh.delay_[:]])[order],
    )  # fmt: skip
    p_order, p_indptr = _csr(P._synaptic_pre[:], 2)
    engine.add_spike_generator([0.002, 0.0045, 0.009], [0, 1, 0], 2, p_indptr, P._synaptic_post[:][p_order],
                               weights=P.w_[:][p_order], delays=0.001)  # fmt: skip
    net = Network(o.values())
    net.run(DURATION)
    grad = get_device().gradient(o["mon"], loss=loss, net=net)
    engine.run(float(DURATION), record_tape=True)
    # the device's A and b are sympy evaluations of the equations: equal to these up to rounding
    np.testing.assert_allclose(engine.spike_times, o["mon"].t_, rtol=1e-12)
    np.testing.assert_array_equal(engine.spike_indices, o["mon"].i)
    eg = engine.gradient(loss=loss)
    expected = chain(np.asarray(eg.A), np.asarray(eg.b), eg)
    expected["vr"] = np.asarray(eg.reset)
    w = np.empty(len(pre))
    w[order] = np.asarray(eg.weights)
    dl = np.empty(len(pre))
    dl[order] = np.asarray(eg.delays)
    nE = len(E)
    gP = np.empty(len(P))
    gP[p_order] = np.asarray(eg.generator_weights[0])
    assert set(grad[G]) == set(expected)  # every parameter and state variable of the group, no other
    with pytest.raises(KeyError, match="time of each neuron's last spike"):
        grad[G]["lastspike"]
    pairs = [(G, name, value) for name, value in expected.items()]
    pairs += [(E, "w", w[:nE]), (Inh, "w", 2 * w[nE:]), (E, "delay", dl[:nE]), (Inh, "delay", dl[nE:])]
    pairs += [(P, "w", gP), (o["gen"], "spike_time", np.asarray(eg.generator_times[0]))]
    for obj, name, value in pairs:
        got = np.asarray(grad[obj][name]).reshape(np.shape(value))
        scale = np.abs(value).max()
        assert scale > 0, (obj.name, name)
        np.testing.assert_allclose(got, value, rtol=1e-9, atol=1e-9 * scale, err_msg=f"{obj.name}.{name}")
    # units: 1/(units of the variable), shaped like it
    assert grad[G]["taum"].dim == (1 / second).dim and grad[G]["v"].dim == (1 / volt).dim
    assert grad[E]["w"].shape == (nE,) and grad[G]["v"].shape == (n,)
    if kind == "adaptive":
        assert grad[G]["dvt"].shape == np.shape(G.variables["dvt"].get_value())


EQS_TWO = """
dv/dt = (I - v)/taum : volt (unless refractory)
dvt/dt = (vt0 - vt)/taut : volt
I : volt
taum : second (constant)
taut : second (constant)
vt0 : volt
w_in : volt
"""


def script_two(seed, change=None):
    """Two groups of one linear form (adaptive thresholds, inputs into v) connected both ways, each with a
    PoissonInput: A's with a constant weight, B's with the weight expression 'w_in' (B's parameter); the
    loss is of B's spikes. The Poisson events are fixed by Brian2's seed."""
    from brian2 import Hz, PoissonInput

    rng = np.random.default_rng(seed)
    brian_seed(seed)
    groups = {}
    for name, n in (("A", 6), ("B", 4)):
        G = NeuronGroup(n, EQS_TWO, threshold="v > vt", reset="v = 0*mV\nvt += 1*mV", refractory=0.5 * ms)
        G.I = rng.uniform(12, 16, n) * mV
        G.taum, G.taut = rng.uniform(8, 12, n) * ms, rng.uniform(15, 30, n) * ms
        G.vt0 = rng.uniform(8, 10, n) * mV
        G.vt = G.vt0[:] + rng.uniform(0, 1, n) * mV
        G.v = rng.uniform(0, 4, n) * mV
        G.w_in = rng.uniform(0.2, 0.6, n) * mV
        groups[name] = G
    A, B = groups["A"], groups["B"]
    AB = Synapses(A, B, "w : volt", on_pre="v_post += w")
    AB.connect(p=0.5)
    AB.w = rng.uniform(-1, 2, len(AB)) * mV
    AB.delay = rng.uniform(0.5, 2, len(AB)) * ms
    BA = Synapses(B, A, "w : volt", on_pre="v_post += w", delay=1 * ms)
    BA.connect(p=0.5)
    BA.w = rng.uniform(-1, 2, len(BA)) * mV
    pin_a = PoissonInput(A, "v", 2, 150 * Hz, weight=0.4 * mV)
    pin_b = PoissonInput(B, "v", 2, 150 * Hz, weight="w_in")
    o = dict(A=A, B=B, AB=AB, BA=BA, pin_a=pin_a, pin_b=pin_b, mon=SpikeMonitor(B))
    if change is not None:
        change(o)
    return o


def test_two_linear_groups_and_poisson_inputs(taped, seed):
    """Two linear groups (the second one's neurons after the first's in the engine), synapses both ways
    and PoissonInputs (a weight expression passes its derivative to B's 'w_in') against central
    differences of the device's runs."""
    base = script_two(seed)
    net = Network(base.values())
    net.run(DURATION)
    grad = get_device().gradient(base["mon"], loss=loss, net=net)
    assert base["mon"].num_spikes > 5
    assert np.asarray(grad[base["pin_a"]]["weight"]).shape == ()
    rng = np.random.default_rng(500 + seed)
    checks = [("AB", "w", int(rng.integers(len(base["AB"])))), ("BA", "w", int(rng.integers(len(base["BA"]))))]
    checks += [("B", "w_in", int(rng.integers(4))), ("A", "taum", int(rng.integers(6)))]
    checks += [("B", "vt0", int(rng.integers(4))), ("A", "vt", int(rng.integers(6)))]
    for obj, var, k in checks:
        values = []
        for sign in (1, -1):
            start_scope()

            def change(o, obj=obj, var=var, k=k, step=sign * H):
                array = np.array(o[obj].variables[var].get_value(), dtype=float)
                array[k] += step
                o[obj].variables[var].set_value(array)

            o = script_two(seed, change=change)
            Network(o.values()).run(DURATION)
            np.testing.assert_array_equal(o["mon"].i, base["mon"].i)  # the same events
            values.append(loss_value(o["mon"]))
        fd = (values[0] - values[1]) / (2 * H)
        g = np.asarray(grad[base[obj]][var])
        assert np.abs(g).max() > 0, (obj, var)
        assert float(g[k]) == pytest.approx(fd, rel=1e-5, abs=1e-6 * np.abs(g).max()), (obj, var, k)


def script_small(kind, change=None):
    """A perfect integrator of a drive and an exponentially decaying current (``dv/dt = (I + s)/tau``,
    inputs into s) or a relay without differential equations (``v : 1``, its spikes caused by the pulses
    that reach its threshold), fed by a spike generator; the loss is of its spikes."""
    gen = SpikeGeneratorGroup(2, [0, 1, 0, 1], [1.0, 2.5, 4.0, 6.5] * ms)
    if kind == "pif":
        eqs = "dv/dt = (I + s)/tau : 1 (unless refractory)\nds/dt = -s/taus : 1\nI : 1\ntau : second\ntaus : second"
        G = NeuronGroup(3, eqs, threshold="v > 1", reset="v = 0", refractory=0.5 * ms)
        G.I, G.tau, G.taus = [0.3, 0.5, 0.4], [10, 12, 9] * ms, [3, 4, 5] * ms
        G.v, G.s = [0.2, 0.0, 0.4], [0.1, 0.3, 0.0]
        on_pre, weights = "s_post += w", [1.5, 2.0, 1.0, 2.5, 1.8, 1.2]
    else:
        G = NeuronGroup(3, "v : 1", threshold="v > 1", reset="v = 0")
        G.v = [0.1, 0.5, 0.0]
        on_pre, weights = "v_post += w", [0.6, 0.7, 0.5, 0.4, 0.55, 0.8]
    S = Synapses(gen, G, "w : 1", on_pre=on_pre)
    S.connect()
    S.w = weights
    S.delay = [0.5, 1.0, 1.5, 0.7, 1.2, 0.9] * ms
    o = dict(G=G, S=S, gen=gen, mon=SpikeMonitor(G))
    if change is not None:
        change(o)
    return o


@pytest.mark.parametrize(
    "kind, checks",
    [
        ("pif", [("G", "I", 0), ("G", "tau", 1), ("G", "taus", 2), ("G", "v", 0), ("G", "s", 1), ("S", "w", 3),
                 ("S", "delay", 2), ("gen", "spike_time", 1)]),
        ("relay", [("G", "v", 1), ("S", "w", 1), ("S", "delay", 4), ("gen", "spike_time", 2)]),
    ],
)  # fmt: skip
def test_perfect_integrators_and_relays(taped, kind, checks):
    """Linear models with an integrator (zero diagonal of A) and relays (dx/dt = 0: spikes caused by pulses,
    whose times move with the arrivals, not with the weights) against central differences."""
    base = script_small(kind)
    net = Network(base.values())
    net.run(DURATION)
    assert get_device()._sessions[net].spec.groups[0].model == "linear" and base["mon"].num_spikes >= 3
    grad = get_device().gradient(base["mon"], loss=loss, net=net)
    for obj, var, k in checks:
        values = []
        for sign in (1, -1):
            start_scope()

            def change(o, obj=obj, var=var, k=k, step=sign * H):
                array = np.array(_variable(o[obj], var).get_value(), dtype=float)
                array[k] += step
                _variable(o[obj], var).set_value(array)

            o = script_small(kind, change=change)
            Network(o.values()).run(DURATION)
            np.testing.assert_array_equal(o["mon"].i, base["mon"].i)  # the same events
            values.append(loss_value(o["mon"]))
        fd = (values[0] - values[1]) / (2 * H)
        g = np.asarray(grad[base[obj]][var])
        assert float(g[k]) == pytest.approx(fd, rel=1e-5, abs=1e-6 * np.abs(g).max()), (obj, var, k)
    if kind == "relay":  # the relay's spikes are caused by pulses: no derivative by the weights
        assert grad.n_pulse_triggered == base["mon"].num_spikes
        assert not np.asarray(grad[base["S"]]["w"]).any() and np.asarray(grad[base["S"]]["delay"]).any()


# ------------------------------------------------------------------------------------------- refusals
def _adaptive_group(n=2, threshold="v > vt", reset="v = 0*mV\nvt += 1*mV", extra="", **kwargs):
    eqs = "dv/dt = (I - v)/(10*ms) : volt (unless refractory)\ndvt/dt = (10*mV - vt)/(20*ms) : volt\nI : volt\n"
    G = NeuronGroup(n, eqs + extra, threshold=threshold, reset=reset, **kwargs)
    G.I, G.vt = 15 * mV, 10 * mV
    return G


def test_linear_variables_without_a_gradient_say_why(taped):
    """A parameter in a threshold coefficient, and a per-neuron parameter of the reset increment of vt
    (the engine has one offset per network): KeyError naming the reason; the others have gradients."""
    G = _adaptive_group(threshold="v > k*vt", reset="v = 0*mV\nvt += dvt", extra="k : 1\ndvt : volt")
    G.k, G.dvt = 1.0, 1 * mV
    mon = SpikeMonitor(G)
    net = Network(G, mon)
    net.run(30 * ms)
    assert mon.num_spikes > 0
    grad = get_device().gradient(mon, loss=lambda t, i: jnp.sum(t), net=net)
    assert grad[G]["I"].shape == (2,) and grad[G]["vt"].shape == (2,) and float(grad[G]["I"][0] * mV) < 0
    with pytest.raises(KeyError, match=r"threshold's coefficient of a state variable depends on it"):
        grad[G]["k"]
    with pytest.raises(KeyError, match=r"reset statement 'vt \+= dvt'.*\(shared\)"):
        grad[G]["dvt"]
    # a shared increment in each of two linear groups: the engine's one offset cannot tell them apart
    start_scope()
    groups = [_adaptive_group(reset="v = 0*mV\nvt += dvt", extra="dvt : volt (shared)") for _ in range(2)]
    for G in groups:
        G.dvt = 1 * mV
    mon = SpikeMonitor(groups[0])
    net = Network(*groups, mon)
    net.run(30 * ms)
    grad = get_device().gradient(mon, loss=lambda t, i: jnp.sum(t), net=net)
    assert float(grad[groups[0]]["I"][0] * mV) < 0
    with pytest.raises(KeyError, match=r"shared variable of its only linear group"):
        grad[groups[1]]["dvt"]


def test_linear_refusals(taped):
    """Linear groups beside LIF groups, integration during the refractory period, and a start at or
    above the threshold c @ x >= theta (v > vt) are refused, naming what is supported."""
    G = _adaptive_group()
    H = NeuronGroup(2, "dv/dt = (11*mV - v)/(10*ms) : volt", threshold="v > 10*mV", reset="v = 0*mV")
    mon = SpikeMonitor(G)
    net = Network(G, H, mon)
    net.run(30 * ms)
    with pytest.raises(NotImplementedError, match=r"of one kind.*or all linear models"):
        get_device().gradient(mon, loss=lambda t, i: jnp.sum(t), net=net)
    start_scope()
    eqs = "dv/dt = (I - v)/(10*ms) : volt\ndvt/dt = (10*mV - vt)/(20*ms) : volt\nI : volt"
    G = NeuronGroup(2, eqs, threshold="v > vt", reset="v = 0*mV\nvt += 1*mV", refractory=2 * ms)
    G.I, G.vt = 15 * mV, 10 * mV
    mon = SpikeMonitor(G)
    net = Network(G, mon)
    net.run(30 * ms)
    assert mon.num_spikes > 0
    with pytest.raises(NotImplementedError, match=r"integrates its state during the refractory.*unless refractory"):
        get_device().gradient(mon, loss=lambda t, i: jnp.sum(t), net=net)
    start_scope()
    G = _adaptive_group()
    G.v, G.vt = 5 * mV, [10, 4] * mV  # neuron 1: v > vt at the start
    mon = SpikeMonitor(G)
    net = Network(G, mon)
    net.run(30 * ms)
    with pytest.raises(NotImplementedError, match=r"neuron 1 starts at or above its threshold"):
        get_device().gradient(mon, loss=lambda t, i: jnp.sum(t), net=net)


def test_refused_without_set_device_gradients(exact):
    """A linear group run without gradients=True: the error says how to record the tape."""
    G = _adaptive_group()
    mon = SpikeMonitor(G)
    net = Network(G, mon)
    net.run(10 * ms)
    with pytest.raises(ValueError, match=r"without the tape.*gradients=True"):
        get_device().gradient(mon, loss=lambda t, i: jnp.sum(t), net=net)
