"""Gradients through the device (issue 11, item 5): ``set_device('sparseprop', gradients=True)`` and
``get_device().gradient(monitor, loss)`` against the same gradient of the EventNetwork built by hand, against
central finite differences of the device's own runs, through store()/restore(), and the refusals."""

import jax.numpy as jnp
import numpy as np
import pytest
from brian2 import (
    Network,
    NeuronGroup,
    SpikeGeneratorGroup,
    SpikeMonitor,
    Synapses,
    get_device,
    ms,
    mV,
    run,
    second,
    seed as brian_seed,
    start_scope,
    volt,
)

import brian2_sparseprop  # noqa: F401 (registers the device)
from brian2_sparseprop import EventNetwork

EQS = """
dv/dt = (2*I - v)/tau : volt (unless refractory)
I : volt
tau : second (constant)
vt : volt
"""
TARGET = 0.025  # s: the loss pulls the first spikes of H towards it


def _variable(obj, name):
    """The Brian2 Variable ``name`` of ``obj``; a Synapses' delay is its pathway's (Brian2 2.10 has it there
    only, 2.11 in both)."""
    return obj.pre.variables["delay"] if name == "delay" else obj.variables[name]


def script(seed, w_scale=1.0, change=None):
    """A small Brian2 script: 12 LIF neurons G (some driven above threshold) into 3 readout neurons H,
    recurrent synapses in G with delays, a spike generator into G; returns its objects. ``change(objects)``
    changes values before the run (for the finite differences)."""
    rng = np.random.default_rng(seed)
    brian_seed(seed)  # connect(p=...) draws from Brian2's random numbers
    G = NeuronGroup(12, EQS, threshold="v > vt", reset="v = -2*mV", refractory=1 * ms)
    G.I = rng.uniform(4, 9, 12) * mV
    G.tau = rng.uniform(8, 15, 12) * ms
    G.vt = rng.uniform(9, 11, 12) * mV
    G.v = rng.uniform(0, 5, 12) * mV
    H = NeuronGroup(3, "dv/dt = (I - v)/(12*ms) : volt\nI : volt", threshold="v > 10*mV", reset="v = 0*mV")
    H.I = [18, 20, 16] * mV  # above threshold: spikes that are not caused by a pulse depend on the weights
    S = Synapses(G, G, "w : volt", on_pre="v_post += 0.5*w")
    S.connect(p=0.3, condition="i != j")
    S.w = rng.uniform(-2, 3, len(S)) * mV * w_scale
    S.delay = rng.uniform(0.5, 3, len(S)) * ms
    R = Synapses(G[:8], H, "w : volt", on_pre="v_post += w", delay=1 * ms)
    R.connect(p=0.6)
    R.w = rng.uniform(0.1, 0.8, len(R)) * mV
    gen = SpikeGeneratorGroup(2, [0, 1, 0], [2.0, 4.5, 9.0] * ms)
    P = Synapses(gen, G[4:], "w : volt", on_pre="v_post += w")
    P.connect(p=0.7)
    P.w = rng.uniform(1, 4, len(P)) * mV
    P.delay = rng.uniform(0, 2, len(P)) * ms
    mon = SpikeMonitor(H)
    mon_g = SpikeMonitor(G[2:9])
    objects = dict(G=G, H=H, S=S, R=R, gen=gen, P=P, mon=mon, mon_g=mon_g)
    if change is not None:
        change(objects)
    return objects


def loss(t, i):
    """Squared distance of every spike of H's neurons 0 and 2 to TARGET, weighted by the neuron."""
    return jnp.sum(jnp.where(i != 1, (1.0 + i) * (t - TARGET) ** 2, 0.0))


def loss_value(mon):
    t, i = np.asarray(mon.t_), np.asarray(mon.i)
    return float(np.sum(np.where(i != 1, (1.0 + i) * (t - TARGET) ** 2, 0.0)))


def hand_built(o):
    """The EventNetwork of the script built by hand (engine units: volt and second as numbers), its
    synapses in CSR order, and the permutations from Brian2's order of S, R and P to the engine's."""
    G, H, S, R, gen, P = (o[k] for k in ("G", "H", "S", "R", "gen", "P"))
    pre = np.concatenate([S._synaptic_pre[:], R._synaptic_pre[:]])
    post = np.concatenate([S._synaptic_post[:], 12 + R._synaptic_post[:]])
    w = np.concatenate([0.5 * S.w_[:], R.w_[:]])
    d = np.concatenate([S.delay_[:], np.full(len(R), 0.001)])
    order = np.argsort(pre, kind="stable")
    net = EventNetwork(
        15,
        tau=np.r_[G.tau_[:], np.full(3, 0.012)],
        drive=np.r_[2 * G.I_[:], H.I_[:]],
        threshold=np.r_[G.vt_[:], np.full(3, 0.01)],
        reset=np.r_[np.full(12, -0.002), np.zeros(3)],
        refractory=np.r_[np.full(12, 0.001), np.zeros(3)],
        v_init=np.r_[G.v_[:], H.v_[:]],
        indptr=np.searchsorted(pre[order], np.arange(16)),
        indices=post[order],
        weights=w[order],
        delays=d[order],
    )
    p_pre = P._synaptic_pre[:]
    p_order = np.argsort(p_pre, kind="stable")
    net.add_spike_generator(
        [0.002, 0.0045, 0.009],
        [0, 1, 0],
        2,
        np.searchsorted(p_pre[p_order], np.arange(3)),
        P._synaptic_post[:][p_order],
        weights=P.w_[:][p_order],
        delays=P.delay_[:][p_order],
    )
    return net, order, p_order


def in_brian_order(g, order):
    out = np.empty_like(g)
    out[order] = g
    return out


def test_device_gradient_equals_the_hand_built_network(taped, seed):
    o = script(seed)
    engine, order, p_order = hand_built(o)  # from the values before the run
    net = Network(o.values())
    net.run(40 * ms)
    grad = get_device().gradient(o["mon"], loss=loss, net=net)
    engine.run(0.04, record_tape=True)
    in_h = np.flatnonzero(engine.spike_indices >= 12)
    # the device's tau = -1/(d(dv/dt)/dv) and drive differ from the values given by rounding
    np.testing.assert_allclose(engine.spike_times[in_h], o["mon"].t_, rtol=1e-13)
    eg = engine.gradient(loss=lambda t, i: loss(t[in_h], engine.spike_indices[in_h] - 12))
    assert o["mon"].num_spikes > 3 and grad.loss == pytest.approx(loss_value(o["mon"]), rel=1e-14)
    nS = len(o["S"])
    w = in_brian_order(np.asarray(eg.weights), order)
    dw = in_brian_order(np.asarray(eg.delays), order)

    def close(a, b):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-12, atol=1e-12 * np.abs(b).max())

    close(grad[o["S"]]["w"], 0.5 * w[:nS])  # on_pre: v_post += 0.5*w
    close(grad[o["S"]]["delay"], dw[:nS])
    close(grad[o["R"]]["w"], w[nS:])
    np.testing.assert_allclose(float(grad[o["R"]]["delay"][0]), dw[nS:].sum(), rtol=1e-12)  # one shared delay
    close(grad[o["P"]]["w"], in_brian_order(np.asarray(eg.generator_weights[0]), p_order))
    close(grad[o["P"]]["delay"], in_brian_order(np.asarray(eg.generator_delays[0]), p_order))
    close(grad[o["G"]]["I"], 2 * eg.drive[:12])  # dv/dt = (2*I - v)/tau
    close(grad[o["G"]]["tau"], eg.tau[:12])
    close(grad[o["G"]]["vt"], eg.threshold[:12])
    close(grad[o["G"]]["v"], eg.v0[:12])
    close(grad[o["H"]]["I"], eg.drive[12:])
    close(grad[o["H"]]["v"], eg.v0[12:])
    close(grad[o["gen"]]["spike_time"], eg.generator_times[0])  # (Brian2 keeps the spikes sorted by time)
    # units: 1/(units of the variable), shaped like it
    assert grad[o["S"]]["w"].dim == (1 / volt).dim and grad[o["S"]]["w"].shape == (nS,)
    assert grad[o["G"]]["tau"].dim == (1 / second).dim and grad[o["G"]]["v"].shape == (12,)
    assert abs(np.asarray(grad[o["R"]]["w"])).max() > 0  # the loss depends on the weights into H


def test_device_gradient_against_finite_differences(taped, seed):
    """Central differences through the device: change one value, run the script again, measure the loss.
    Weights with every seed; delays, drives, initial values, time constants, generator weights and spike
    times each with one seed in three (SPARSEPROP_SEEDS=0-9 checks each with several)."""
    base = script(seed)
    net = Network(base.values())
    net.run(40 * ms)
    grad = get_device().gradient(base["mon"], loss=loss, net=net)
    n_spikes = int(base["mon"].num_spikes + base["mon_g"].num_spikes)
    rng = np.random.default_rng(100 + seed)
    weights = [("R", "w", int(rng.integers(len(base["R"])))), ("S", "w", int(rng.integers(len(base["S"]))))]
    others = [("S", "delay", int(rng.integers(len(base["S"])))), ("G", "I", int(rng.integers(12)))]
    others += [("G", "v", int(rng.integers(12))), ("G", "tau", int(rng.integers(12)))]
    others += [
        ("P", "w", int(rng.integers(len(base["P"])))),
        ("H", "I", 2),
        ("gen", "spike_time", int(rng.integers(3))),
    ]
    # the weights with every seed, the other kinds in turn (each with one of three consecutive seeds: fast)
    checks = [(*c, 1e-9) for c in weights + others[seed % 3 :: 3]]
    for obj, var, k, h in checks:
        values = []
        for sign in (1, -1):
            start_scope()

            def change(o, obj=obj, var=var, k=k, step=sign * h):
                array = np.array(_variable(o[obj], var).get_value(), dtype=float)
                array[k] += step
                if var == "spike_time":  # (Brian2 sets spikes with set_spikes only)
                    _variable(o[obj], var).set_value(array)
                else:
                    setattr(o[obj], var + "_", array)

            o = script(seed, change=change)
            Network(o.values()).run(40 * ms)
            assert o["mon"].num_spikes + o["mon_g"].num_spikes == n_spikes  # the same events
            values.append(loss_value(o["mon"]))
        fd = (values[0] - values[1]) / (2 * h)
        g = float(np.asarray(grad[base[obj]][var])[k])
        scale = np.abs(np.asarray(grad[base[obj]][var])).max()
        assert g == pytest.approx(fd, rel=1e-5, abs=1e-6 * scale), (obj, var, k)


EQS_EXP = """
dv/dt = (I - v)/taum + (ge + gi)/tauk : volt (unless refractory)
dge/dt = -ge/taue : volt
dgi/dt = -gi/(8*ms) : volt
I : volt
taum : second (constant)
tauk : second (constant)
taue : second (constant)
vt : volt
"""


EQS_ONE = """
dv/dt = (I - v)/taum + ge/tauk : volt (unless refractory)
dge/dt = -ge/taue : volt
I : volt
taum : second (constant)
tauk : second (constant)
taue : second (constant)
vt : volt
"""


def script_exp(seed, change=None, single=False):
    """A small Brian2 script of LIF neurons with exponential currents (CUBA-like, engine 'lif_exp'):
    excitatory synapses into ge, inhibitory ones into gi (``single``: into ge too, one current taking both
    signs), a spike generator into ge; the currents enter v with a coefficient 1/tauk, so the engine's
    scale of a current, taum/tauk, depends on two parameters."""
    rng = np.random.default_rng(seed)
    brian_seed(seed)
    eqs = EQS_ONE if single else EQS_EXP
    G = NeuronGroup(10, eqs, threshold="v > vt", reset="v = -1*mV", refractory=1 * ms, method="exact")
    G.I = rng.uniform(11, 16, 10) * mV
    G.taum = rng.uniform(8, 12, 10) * ms
    G.tauk = rng.uniform(8, 12, 10) * ms
    G.taue = rng.uniform(3, 6, 10) * ms
    G.vt = rng.uniform(9, 11, 10) * mV
    G.v = rng.uniform(0, 5, 10) * mV
    G.ge = rng.uniform(0, 2, 10) * mV
    E = Synapses(G, G, "w : volt", on_pre="ge_post += w")
    E.connect(p=0.3, condition="i != j")
    E.w = rng.uniform(1, 6, len(E)) * mV
    E.delay = rng.uniform(0.5, 3, len(E)) * ms
    Inh = Synapses(G, G, "w : volt", on_pre="ge_post += 2*w" if single else "gi_post += 2*w")
    Inh.connect(p=0.2, condition="i != j")
    Inh.w = -rng.uniform(1, 4, len(Inh)) * mV
    Inh.delay = rng.uniform(0.5, 3, len(Inh)) * ms
    gen = SpikeGeneratorGroup(2, [0, 1, 0], [2.0, 4.5, 9.0] * ms)
    P = Synapses(gen, G, "w : volt", on_pre="ge_post += w")
    P.connect(p=0.6)
    P.w = rng.uniform(2, 8, len(P)) * mV
    P.delay = 1 * ms
    mon = SpikeMonitor(G)
    objects = dict(G=G, E=E, Inh=Inh, gen=gen, P=P, mon=mon)
    if change is not None:
        change(objects)
    return objects


@pytest.mark.parametrize("single", [False, True], ids=["two-currents", "one-current"])
def test_lif_exp_device_gradient_against_finite_differences(taped, seed, single):
    """'lif_exp' groups: every kind of variable (weights into either current, a weight through a kick
    expression, time constants of v, of the current and of its coefficient, drive, threshold, initial
    state and current, delays, generator weights and times) against central differences of the device's
    runs; the weights with every seed, the other kinds in turn. With one current taking both signs (the
    engine's two currents with one time constant) the weights and the current's time constant."""
    base = script_exp(seed, single=single)
    net = Network(base.values())
    net.run(40 * ms)
    grad = get_device().gradient(base["mon"], loss=loss, net=net)
    assert grad.n_pulse_triggered == 0 and grad.n_coincident == 0
    n_spikes = int(base["mon"].num_spikes)
    assert n_spikes > 10
    rng = np.random.default_rng(200 + seed)
    pick = {k: int(rng.integers(len(base[k]))) for k in ("E", "Inh", "P")}
    weights = [("E", "w", pick["E"]), ("Inh", "w", pick["Inh"]), ("P", "w", pick["P"])]
    others = [("G", name, int(rng.integers(10))) for name in ("taum", "tauk", "taue", "I", "vt", "v", "ge")]
    others += [("E", "delay", pick["E"]), ("gen", "spike_time", int(rng.integers(3)))]
    checks = weights + ([("G", "taue", int(rng.integers(10)))] if single else others[seed % 3 :: 3])
    for obj, var, k in checks:
        values = []
        for sign in (1, -1):
            start_scope()

            def change(o, obj=obj, var=var, k=k, step=sign * 1e-9):
                array = np.array(_variable(o[obj], var).get_value(), dtype=float)
                array[k] += step
                if var == "spike_time":
                    _variable(o[obj], var).set_value(array)
                else:
                    setattr(o[obj], var + "_", array)

            o = script_exp(seed, change=change, single=single)
            Network(o.values()).run(40 * ms)
            np.testing.assert_array_equal(o["mon"].i, base["mon"].i)  # the same events
            values.append(loss_value(o["mon"]))
        fd = (values[0] - values[1]) / (2 * 1e-9)
        g = float(np.asarray(grad[base[obj]][var])[k])
        scale = np.abs(np.asarray(grad[base[obj]][var])).max()
        assert g == pytest.approx(fd, rel=1e-5, abs=1e-6 * scale), (obj, var, k)


def test_lif_exp_refusals_and_variables_without_a_gradient(taped):
    """Groups of both kinds (delta pulses and currents) in one network are refused; a PoissonInput into a
    current passes its kicks' derivative to the parameters that scale the current (tested against finite
    differences in test_device_gradient_qif.py)."""
    from brian2 import Hz, PoissonInput

    G = NeuronGroup(2, EQS_EXP, threshold="v > vt", reset="v = 0*mV", method="exact")
    G.I, G.taum, G.tauk, G.taue, G.vt = 12 * mV, 10 * ms, 10 * ms, 5 * ms, 10 * mV
    H = NeuronGroup(2, "dv/dt = (11*mV - v)/(10*ms) : volt", threshold="v > 10*mV", reset="v = 0*mV")
    mon = SpikeMonitor(G)
    net = Network(G, H, mon)
    net.run(30 * ms)
    with pytest.raises(NotImplementedError, match="of one kind: all LIF with delta pulses, all LIF with exponential"):
        get_device().gradient(mon, loss=lambda t, i: jnp.sum(t), net=net)
    start_scope()
    G = NeuronGroup(2, EQS_EXP, threshold="v > vt", reset="v = 0*mV", method="exact")
    G.I, G.taum, G.tauk, G.taue, G.vt = 12 * mV, 10 * ms, 10 * ms, 5 * ms, 10 * mV
    pin = PoissonInput(G, "ge", 3, 100 * Hz, weight=0.5 * mV)
    mon = SpikeMonitor(G)
    net = Network(G, pin, mon)
    net.run(30 * ms)
    grad = get_device().gradient(mon, loss=lambda t, i: jnp.sum(t), net=net)
    assert np.isfinite(np.asarray(grad[G]["taum"])).all() and np.asarray(grad[pin]["weight"]).shape == ()
    assert np.isfinite(np.asarray(grad[G]["taue"])).all() and np.isfinite(np.asarray(grad[G]["ge"])).all()


def test_loss_by_derivatives_and_by_a_subgroup_monitor(taped):
    """dL_dt aligned with monitor.t (here of a Subgroup G[2:9], local indices) equals the callable loss."""
    o = script(3)
    net = Network(o.values())
    net.run(40 * ms)
    mon = o["mon_g"]
    t, i = np.asarray(mon.t_), np.asarray(mon.i)
    assert i.max() < 7 and len(t) > 5
    by_callable = get_device().gradient(mon, loss=lambda t, i: jnp.sum(jnp.where(i == 3, t, 0.0) ** 2), net=net)
    by_derivatives = get_device().gradient(mon, dL_dt=np.where(i == 3, 2 * t, 0.0), net=net)
    for obj, var in (("S", "w"), ("G", "I"), ("P", "delay")):
        np.testing.assert_allclose(
            np.asarray(by_callable[o[obj]][var]), np.asarray(by_derivatives[o[obj]][var]), rtol=1e-13
        )
    assert np.abs(np.asarray(by_callable[o["G"]]["I"])).max() > 0
    with pytest.raises(ValueError, match=r"dL_dt must have shape"):
        get_device().gradient(mon, dL_dt=np.zeros(len(t) + 1), net=net)
    with pytest.raises(TypeError, match="one of them"):
        get_device().gradient(mon, net=net)


def test_store_restore_training_loop(taped):
    """Each restore() to the state stored before the first run starts a new tape: the gradient after a
    change of S.w equals the one of a fresh script with that change."""
    o = script(5)
    net = Network(o.values())
    net.store()
    net.run(40 * ms)
    first = get_device().gradient(o["mon"], loss=loss, net=net)
    for _ in range(2):
        net.restore()
        o["R"].w = o["R"].w[:] + 0.1 * mV
        net.run(40 * ms)
        grad = get_device().gradient(o["mon"], loss=loss, net=net)
    start_scope()

    def change(p):
        p["R"].w = p["R"].w[:] + 0.1 * mV  # restore() undoes the change of the loop each time

    fresh = script(5, change=change)
    fresh_net = Network(fresh.values())
    fresh_net.run(40 * ms)
    expected = get_device().gradient(fresh["mon"], loss=loss, net=fresh_net)
    np.testing.assert_array_equal(o["mon"].t_, fresh["mon"].t_)
    for obj, var in (("R", "w"), ("S", "w"), ("S", "delay"), ("G", "tau"), ("G", "v")):
        np.testing.assert_allclose(np.asarray(grad[o[obj]][var]), np.asarray(expected[fresh[obj]][var]), rtol=1e-12)
    assert not np.array_equal(np.asarray(first[o["R"]]["w"]), np.asarray(grad[o["R"]]["w"]))


# ------------------------------------------------------------------------------------------- refusals
def test_refused_without_tape(exact):
    o = script(0)
    net = Network(o.values())
    net.run(10 * ms)
    with pytest.raises(ValueError, match=r"without the tape.*gradients=True"):
        get_device().gradient(o["mon"], loss=loss, net=net)


def test_refused_after_a_change_between_runs(taped):
    o = script(0)
    net = Network(o.values())
    net.run(10 * ms)
    o["S"].w = o["S"].w[:] * 1.01
    net.run(10 * ms)
    with pytest.raises(ValueError, match=r"tape of the backward pass covers the runs from the start.*restore"):
        get_device().gradient(o["mon"], loss=loss, net=net)


def test_two_runs_without_changes_are_one_run(taped):
    o = script(1)
    net = Network(o.values())
    net.run(15 * ms)
    net.run(25 * ms)
    split = get_device().gradient(o["mon"], loss=loss, net=net)
    start_scope()
    p = script(1)
    net = Network(p.values())
    net.run(40 * ms)
    whole = get_device().gradient(p["mon"], loss=loss, net=net)
    np.testing.assert_allclose(np.asarray(split[o["S"]]["w"]), np.asarray(whole[p["S"]]["w"]), rtol=1e-12, atol=1e-15)


STDP = dict(
    model="w : volt\ndApre/dt = -Apre/(20*ms) : volt (event-driven)\ndApost/dt = -Apost/(20*ms) : volt (event-driven)",
    on_pre="v_post += w\nApre += 0.1*mV\nw = clip(w + Apost, 0*mV, 5*mV)",
    on_post="Apost += -0.1*mV\nw = clip(w + Apre, 0*mV, 5*mV)",
)

STP = dict(
    model="w : volt\ndu/dt = (0.2 - u)/(50*ms) : 1 (event-driven)\ndx/dt = (1 - x)/(100*ms) : 1 (event-driven)",
    on_pre="u += 0.2*(1 - u)\nv_post += w*u*x\nx -= u*x",
)


@pytest.mark.parametrize(
    "eqs, threshold, reset, synapses, match",
    [
        ("dv/dt = (11*mV - v)/(10*ms) : volt", "v > 10*mV", "v = 0*mV", STDP, r"\(STDP\).*plastic"),
        ("dv/dt = (11*mV - v)/(10*ms) : volt", "v > 10*mV", "v = 0*mV", STP, r"\(STP\).*plastic"),
        ("dv/dt = (15*mV - v + 0.5*mV*exp((v - 10*mV)/(2*mV)))/(10*ms) : volt", "v > 20*mV", "v = 0*mV", None,
         "'eif'.*LIF"),
    ],
)  # fmt: skip
def test_refused_models(taped, eqs, threshold, reset, synapses, match):
    G = NeuronGroup(2, eqs, threshold=threshold, reset=reset)
    if synapses is not None:
        S = Synapses(G, G, **synapses)
        S.connect(i=0, j=1)
        S.w = 1 * mV
    mon = SpikeMonitor(G)
    run(40 * ms)
    assert mon.num_spikes > 0  # the run itself is exact
    with pytest.raises(NotImplementedError, match=match):
        get_device().gradient(mon, loss=lambda t, i: jnp.sum(t))


def test_refused_integrating_refractory_and_start_above_threshold(taped):
    G = NeuronGroup(1, "dv/dt = (11*mV - v)/(10*ms) : volt", threshold="v > 10*mV", reset="v = 0*mV", refractory=2 * ms)
    mon = SpikeMonitor(G)
    run(20 * ms)
    with pytest.raises(NotImplementedError, match=r"unless refractory"):
        get_device().gradient(mon, loss=lambda t, i: jnp.sum(t))
    start_scope()
    G = NeuronGroup(1, "dv/dt = (11*mV - v)/(10*ms) : volt", threshold="v > 10*mV", reset="v = 0*mV")
    G.v = 12 * mV
    mon = SpikeMonitor(G)
    run(20 * ms)
    with pytest.raises(NotImplementedError, match=r"starts at or above its threshold"):
        get_device().gradient(mon, loss=lambda t, i: jnp.sum(t))


def test_variables_without_a_gradient_say_why(taped):
    G = NeuronGroup(
        2,
        "dv/dt = (I - v)/(10*ms) : volt (unless refractory)\nI : volt\ntref : second\ng : 1",
        threshold="v > 10*mV",
        reset="v = 0*mV",
        refractory="tref",
    )
    G.I, G.tref, G.g = 15 * mV, 1 * ms, 2.0
    S = Synapses(G, G, "w : volt", on_pre="v_post += g_pre*w")
    S.connect(i=0, j=1)
    S.w = 1 * mV
    mon = SpikeMonitor(G)
    run(20 * ms)
    grad = get_device().gradient(mon, loss=lambda t, i: jnp.sum(t))
    assert grad[G]["I"].shape == (2,) and grad[S]["w"].shape == (1,)
    with pytest.raises(KeyError, match=r"refractory period depends on it"):
        grad[G]["tref"]
    with pytest.raises(KeyError, match=r"on_pre code of Synapses"):
        grad[G]["g"]
    with pytest.raises(KeyError, match=r"objects with gradients"):
        grad["nothing"]
    with pytest.raises(ValueError, match=r"not part of the network"):
        get_device().gradient(SpikeMonitor(G), loss=lambda t, i: jnp.sum(t))


def poisson_script(seed, change=None):
    """LIF neurons with a shared time constant and a shared drive, a PoissonGroup through Synapses and a
    PoissonInput; the Poisson realisation is fixed by Brian2's seed."""
    from brian2 import Hz, PoissonGroup, PoissonInput

    brian_seed(seed)
    G = NeuronGroup(
        4,
        "dv/dt = (I - v)/tau : volt\nI : volt (shared)\ntau : second (shared)",
        threshold="v > 10*mV",
        reset="v = 0*mV",
    )
    G.I, G.tau = 14 * mV, 10 * ms
    P = PoissonGroup(5, 150 * Hz)
    S = Synapses(P, G, "w : volt", on_pre="v_post += w")
    S.connect(p=0.8)
    S.w = "0.3*mV + 0.4*mV*rand()"
    S.delay = "2*ms*rand()"
    pin = PoissonInput(G, "v", 3, 100 * Hz, weight=0.2 * mV)
    mon = SpikeMonitor(G)
    o = dict(G=G, P=P, S=S, pin=pin, mon=mon)
    if change is not None:
        change(o)
    return o


def test_poisson_group_synapses_and_shared_parameters(taped, seed):
    """Synapses from a PoissonGroup (held at the run's realisation) and shared parameters (one derivative,
    the sum over the neurons) against central finite differences through the device."""
    base = poisson_script(seed)
    net = Network(base.values())
    net.run(50 * ms)
    assert base["mon"].num_spikes > 5

    def spike_loss(t, i):
        return jnp.sum((t - 0.03) ** 2 * (1.0 + i))

    def value(mon):
        return float(np.sum((np.asarray(mon.t_) - 0.03) ** 2 * (1.0 + np.asarray(mon.i))))

    grad = get_device().gradient(base["mon"], loss=spike_loss, net=net)
    assert grad[base["G"]]["tau"].shape == np.shape(base["G"].variables["tau"].get_value())
    k = int(np.random.default_rng(seed).integers(len(base["S"])))
    for obj, var, index, h in (
        ("S", "w", k, 1e-9),
        ("S", "delay", k, 1e-9),
        ("G", "tau", 0, 1e-10),
        ("G", "I", 0, 1e-9),
    ):
        values = []
        for sign in (1, -1):
            start_scope()

            def change(o, obj=obj, var=var, index=index, step=sign * h):
                array = np.array(_variable(o[obj], var).get_value(), dtype=float)
                array[index] += step
                _variable(o[obj], var).set_value(array)

            o = poisson_script(seed, change=change)
            Network(o.values()).run(50 * ms)
            assert o["mon"].num_spikes == base["mon"].num_spikes
            values.append(value(o["mon"]))
        fd = (values[0] - values[1]) / (2 * h)
        g = np.asarray(grad[base[obj]][var]).reshape(-1)[index]
        assert g == pytest.approx(fd, rel=1e-5, abs=1e-9), (obj, var)


def test_restore_random_state_repeats_the_poisson_realisation(taped):
    """restore(restore_random_state=True) before each run: the same Poisson events, the same gradient;
    restore() alone draws a new realisation."""
    o = poisson_script(4)
    net = Network(o.values())
    net.store()
    grads, spikes = [], []
    for restore_random_state in (None, True, False):
        if restore_random_state is not None:
            net.restore(restore_random_state=restore_random_state)
        net.run(30 * ms)
        spikes.append(np.asarray(o["mon"].t_).copy())
        grads.append(np.asarray(get_device().gradient(o["mon"], loss=lambda t, i: jnp.sum(t), net=net)[o["S"]]["w"]))
    np.testing.assert_array_equal(spikes[0], spikes[1])
    np.testing.assert_array_equal(grads[0], grads[1])
    assert not np.array_equal(spikes[0], spikes[2])
