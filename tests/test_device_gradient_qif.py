"""Gradients through the device for QIF and theta groups, PoissonInput weights and losses of StateMonitor
values (issue 11, items 1(b) and 5): ``get_device().gradient(monitor, loss, state_monitor=M)`` against
the gradient of the same network built by hand as an `EventNetwork` (whose chain rule to the Brian2
variables is written out here by hand), and against central finite differences of the device's own
runs."""

import jax.numpy as jnp
import numpy as np
import pytest
from brian2 import (
    Hz,
    Network,
    NeuronGroup,
    PoissonGroup,
    PoissonInput,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    get_device,
    ms,
    mV,
    seed as brian_seed,
    start_scope,
    volt,
)

import brian2_sparseprop  # noqa: F401 (registers the device)
from brian2_sparseprop import EventNetwork
from brian2_sparseprop.spiking.gradients import _x64

# a QIF written with a shift (the engine's state is v - El) and a scale vs of the quadratic term
EQS_QIF = """
dv/dt = ((v - El)**2/vs + I)/tau : volt (unless refractory)
I : volt
El : volt
vs : volt
tau : second
vth : volt
vres : volt
w_in : volt
"""
EQS_THETA = """
dth/dt = ((1 - cos(th)) + (1 + cos(th))*J)/tau : 1
J : 1
tau : second
"""
T_RUN = 40 * ms
TARGET = 0.02


def _variable(obj, name):
    return obj.pre.variables["delay"] if name == "delay" else obj.variables[name]


def script(seed, change=None, poisson=False):
    """8 QIF neurons Q (recurrent synapses with delays, refractory 1 ms) and 4 theta neurons H (synapses
    from Q), a spike generator into both, optionally a PoissonGroup through synapses and two PoissonInputs
    into Q (a constant weight, and the weight expression 'w_in'); Q's membrane recorded by a StateMonitor
    every 0.5 ms."""
    rng = np.random.default_rng(seed)
    brian_seed(seed)
    Q = NeuronGroup(8, EQS_QIF, threshold="v > vth", reset="v = vres", refractory=1 * ms)
    Q.El = rng.uniform(-62, -58, 8) * mV
    Q.vs = rng.uniform(8, 12, 8) * mV
    Q.I = rng.uniform(1, 4, 8) * mV
    Q.tau = rng.uniform(8, 12, 8) * ms
    Q.vth = rng.uniform(-25, -20, 8) * mV
    Q.vres = rng.uniform(-85, -80, 8) * mV
    Q.v = rng.uniform(-75, -60, 8) * mV
    Q.w_in = 0.3 * mV
    H = NeuronGroup(4, EQS_THETA, threshold="th > pi", reset="th -= 2*pi")
    H.J = rng.uniform(1.0, 2.5, 4)
    H.tau = rng.uniform(8, 12, 4) * ms
    H.th = rng.uniform(-2.5, 1.0, 4)
    S = Synapses(Q, Q, "w : volt", on_pre="v_post += w")
    S.connect(p=0.4, condition="i != j")
    S.w = rng.uniform(-3, 3, len(S)) * mV
    S.delay = rng.uniform(0.5, 3, len(S)) * ms
    R = Synapses(Q, H, "w : 1", on_pre="th_post = 2*arctan(tan(th_post/2) + w)", delay=1 * ms)
    R.connect(p=0.5)
    R.w = rng.uniform(-0.3, 0.3, len(R))
    gen = SpikeGeneratorGroup(2, [0, 1, 0], [2.0, 4.5, 9.0] * ms)
    P = Synapses(gen, Q, "w : volt", on_pre="v_post += w")
    P.connect(p=0.6)
    P.w = rng.uniform(1, 4, len(P)) * mV
    P.delay = rng.uniform(0, 2, len(P)) * ms
    PH = Synapses(gen, H, "w : 1", on_pre="th_post = 2*arctan(tan(th_post/2) + w)")
    PH.connect(p=0.6)
    PH.w = rng.uniform(0.1, 0.4, len(PH))
    mon_q = SpikeMonitor(Q)
    mon_h = SpikeMonitor(H)
    M = StateMonitor(Q, "v", record=[1, 4, 6], dt=0.5 * ms)
    o = dict(Q=Q, H=H, S=S, R=R, gen=gen, P=P, PH=PH, mon_q=mon_q, mon_h=mon_h, M=M)
    if poisson:
        PG = PoissonGroup(3, 200 * Hz)
        SP = Synapses(PG, Q, "w : volt", on_pre="v_post += w")
        SP.connect(p=0.7)
        SP.w = rng.uniform(0.5, 1.5, len(SP)) * mV
        o.update(PG=PG, SP=SP)
        o["pin"] = PoissonInput(Q, "v", 4, 100 * Hz, weight=0.5 * mV)
        o["pin_expr"] = PoissonInput(Q[2:6], "v", 3, 100 * Hz, weight="w_in")
    if change is not None:
        change(o)
    return o


def spike_loss(t, i):
    return jnp.sum((1.0 + i) * (t - TARGET) ** 2)


def state_loss(values):
    """A loss of the recorded membrane values (volt): their squared distance to -50 mV, weighted."""
    weights = jnp.arange(1.0, 1.0 + values.shape[0])[:, None]
    return jnp.sum(weights * (values / 0.01 + 5.0) ** 2) * 1e-3


def combined_loss(t, i, values):
    return spike_loss(t, i) + state_loss(values)


def loss_value(o):
    t, i = np.asarray(o["mon_h"].t_), np.asarray(o["mon_h"].i)
    values = np.asarray(o["M"].v_)
    with _x64():  # (JAX computes in float32 otherwise)
        return float(spike_loss(t, i) + state_loss(values))


def hand_built(o):
    """The engine's network of the script, built by hand from the Brian2 values (engine state of Q: v - El,
    tau_e = vs tau, drive = I vs; H: theta, tau, drive J), with Q's membrane recorded at M's times."""
    Q, H, S, R, P, PH = (o[k] for k in ("Q", "H", "S", "R", "P", "PH"))
    El, vs = Q.El_[:], Q.vs_[:]
    pre = np.concatenate([S._synaptic_pre[:], R._synaptic_pre[:]])
    post = np.concatenate([S._synaptic_post[:], 8 + R._synaptic_post[:]])
    w = np.concatenate([S.w_[:], R.w_[:]])
    d = np.concatenate([S.delay_[:], np.full(len(R), 0.001)])
    order = np.argsort(pre, kind="stable")
    net = EventNetwork(
        12,
        model=np.array(["qif"] * 8 + ["theta"] * 4),
        tau=np.r_[vs * Q.tau_[:], H.tau_[:]],
        drive=np.r_[Q.I_[:] * vs, H.J_[:]],
        threshold=np.r_[Q.vth_[:] - El, np.full(4, 1.0)],
        reset=np.r_[Q.vres_[:] - El, np.full(4, 0.0)],
        refractory=np.r_[np.full(8, 0.001), np.zeros(4)],
        v_init=np.r_[Q.v_[:] - El, H.th_[:]],
        indptr=np.searchsorted(pre[order], np.arange(13)),
        indices=post[order],
        weights=w[order],
        delays=d[order],
    )
    g_pre = np.concatenate([P._synaptic_pre[:], PH._synaptic_pre[:]])
    g_post = np.concatenate([P._synaptic_post[:], 8 + PH._synaptic_post[:]])
    g_w = np.concatenate([P.w_[:], PH.w_[:]])
    g_d = np.concatenate([P.delay_[:], np.zeros(len(PH))])
    g_order = np.argsort(g_pre, kind="stable")
    net.add_spike_generator(
        [0.002, 0.0045, 0.009], [0, 1, 0], 2, np.searchsorted(g_pre[g_order], np.arange(3)), g_post[g_order],
        weights=g_w[g_order], delays=g_d[g_order],
    )  # fmt: skip
    times = np.arange(0.0, float(T_RUN) - 1e-9, 0.0005)
    net.record_states([1, 4, 6], times)
    return net, order, g_order


def in_brian_order(g, order):
    out = np.empty_like(g)
    out[order] = g
    return out


def test_qif_theta_gradient_equals_the_hand_built_network(taped, seed):
    """Spike times of the theta group and StateMonitor values of the QIF group: the device's gradient by
    every kind of Brian2 variable equals the hand-built engine's, mapped by the chain rule written out."""
    o = script(seed)
    engine, order, g_order = hand_built(o)
    net = Network(o.values())
    net.run(T_RUN)
    grad = get_device().gradient(o["mon_h"], combined_loss, state_monitor=o["M"], net=net)
    engine.run(float(T_RUN), record_tape=True)
    in_h = np.flatnonzero(engine.spike_indices >= 8)
    np.testing.assert_allclose(engine.spike_times[in_h], o["mon_h"].t_, rtol=1e-12)
    El = o["Q"].El_[:]
    np.testing.assert_allclose(engine.state_values.T + El[[1, 4, 6], None], o["M"].v_, rtol=1e-12, atol=1e-15)
    eg = engine.gradient(
        loss=lambda t, i, v, states: (
            spike_loss(t[in_h], engine.spike_indices[in_h] - 8) + state_loss(states.T + El[[1, 4, 6], None])
        )
    )
    assert o["mon_h"].num_spikes > 3 and o["mon_q"].num_spikes > 3
    assert grad.loss == pytest.approx(loss_value(o), rel=1e-12) and grad.n_coincident == 0
    # dL/dx of the readouts, summed per neuron: the readouts move with El (x = y + El)
    from jax import grad as jgrad

    ro = np.zeros(8)
    with _x64():
        ro[[1, 4, 6]] = np.asarray(jgrad(state_loss)(jnp.asarray(o["M"].v_, dtype=jnp.float64))).sum(axis=1)
    nS = len(o["S"])
    w = in_brian_order(np.asarray(eg.weights), order)
    dw = in_brian_order(np.asarray(eg.delays), order)
    gw = in_brian_order(np.asarray(eg.generator_weights[0]), g_order)
    nP = len(o["P"])
    Q, tau, vs, drive = o["Q"], o["Q"].tau_[:], o["Q"].vs_[:], o["Q"].I_[:]

    def close(a, b):
        b = np.asarray(b, dtype=float)
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-10, atol=1e-10 * max(np.abs(b).max(), 1e-300))

    close(grad[o["S"]]["w"], w[:nS])
    close(grad[o["S"]]["delay"], dw[:nS])
    close(grad[o["R"]]["w"], w[nS:])
    close(grad[o["P"]]["w"], gw[:nP])
    close(grad[o["PH"]]["w"], gw[nP:])
    close(grad[Q]["I"], eg.drive[:8] * vs)  # drive = I vs
    close(grad[Q]["tau"], eg.tau[:8] * vs)  # tau_e = vs tau
    close(grad[Q]["vs"], eg.tau[:8] * tau + eg.drive[:8] * drive)
    close(grad[Q]["vth"], eg.threshold[:8])
    close(grad[Q]["vres"], eg.reset[:8])
    close(grad[Q]["v"], eg.v0[:8])
    close(grad[Q]["El"], -(eg.threshold[:8] + eg.reset[:8] + eg.v0[:8]) + ro)
    close(grad[o["H"]]["J"], eg.drive[8:])
    close(grad[o["H"]]["tau"], eg.tau[8:])
    close(grad[o["H"]]["th"], eg.v0[8:])
    close(grad[o["gen"]]["spike_time"], eg.generator_times[0])
    assert grad[Q]["El"].dim == (1 / volt).dim and grad[o["H"]]["J"].shape == (4,)
    assert np.abs(np.asarray(grad[Q]["El"])).max() > 0 and np.abs(np.asarray(grad[o["R"]]["w"])).max() > 0


def _change(obj, var, k, step):
    def change(o):
        array = np.array(_variable(o[obj], var).get_value(), dtype=float)
        array.reshape(-1)[k] += step
        _variable(o[obj], var).set_value(array)  # (a SpikeGeneratorGroup's spike times too)

    return change


def central_difference(seed, obj, var, k, h, poisson=False, loss=loss_value, n_spikes=None):
    values = []
    for sign in (1, -1):
        start_scope()
        o = script(seed, change=_change(obj, var, k, sign * h), poisson=poisson)
        Network(o.values()).run(T_RUN)
        if n_spikes is not None:
            assert (o["mon_q"].num_spikes, o["mon_h"].num_spikes) == n_spikes  # the same events
        values.append(loss(o))
    return (values[0] - values[1]) / (2 * h)


# (object, variable, step): every kind of variable of the script; the weights with every seed
FD_VARIABLES = [
    ("S", "w", 1e-9), ("R", "w", 1e-7), ("S", "delay", 1e-9), ("Q", "I", 1e-9), ("Q", "El", 1e-9),
    ("Q", "vs", 1e-9), ("Q", "tau", 1e-10), ("Q", "vth", 1e-8), ("Q", "vres", 1e-9), ("Q", "v", 1e-9),
    ("H", "J", 1e-7), ("H", "tau", 1e-10), ("H", "th", 1e-7), ("P", "w", 1e-9), ("gen", "spike_time", 1e-10),
    ("SP", "w", 1e-9), ("pin", "weight", 1e-9), ("Q", "w_in", 1e-9),
]  # fmt: skip


def test_qif_theta_poisson_gradient_against_finite_differences(taped, seed):
    """Central differences through the device (one value changed by h in SI, the script run again) for
    every kind of variable, with Poisson input (a PoissonGroup through synapses; PoissonInputs with a
    constant weight and with the weight expression 'w_in'), spike and StateMonitor losses; the weights
    with every seed, the other kinds in turn over the seeds."""
    base = script(seed, poisson=True)
    net = Network(base.values())
    net.run(T_RUN)
    grad = get_device().gradient(base["mon_h"], combined_loss, state_monitor=base["M"], net=net)
    assert grad.n_coincident == 0 and grad.n_unresolved == 0
    n_spikes = (int(base["mon_q"].num_spikes), int(base["mon_h"].num_spikes))
    rng = np.random.default_rng(300 + seed)
    checks = FD_VARIABLES[:2] + FD_VARIABLES[2 + seed % 3 :: 3]
    for obj, var, h in checks:
        if var == "weight":  # a PoissonInput's weight: rebuild with another weight
            fd = _pin_difference(seed, h, n_spikes)
            g = float(grad[base["pin"]]["weight"])
        else:
            size = np.size(_variable(base[obj], var).get_value())
            k = int(rng.integers(size))
            fd = central_difference(seed, obj, var, k, h, poisson=True, n_spikes=n_spikes)
            g = float(np.asarray(grad[base[obj]][var]).reshape(-1)[k])
        scale = np.abs(np.asarray(grad[base[obj]][var])).max()
        # relative agreement 1e-5 (truncation ~h^2), and the rounding of the loss's sum: ~10 eps |L| / h
        assert g == pytest.approx(fd, rel=1e-5, abs=1e-6 * scale + 1e-14 * grad.loss / h), (obj, var)


def _pin_difference(seed, h, n_spikes):
    values = []
    for sign in (1, -1):
        start_scope()

        def change(o, step=sign * h):
            o["pin"]._weight = 0.5 * mV + step * volt  # (the device reads the weight when the run starts)

        o = script(seed, change=change, poisson=True)
        Network(o.values()).run(T_RUN)
        assert (o["mon_q"].num_spikes, o["mon_h"].num_spikes) == n_spikes
        values.append(loss_value(o))
    return (values[0] - values[1]) / (2 * h)


def test_state_monitor_loss_of_lif_groups(taped, seed):
    """A loss of a StateMonitor's values alone (``loss(values)``) and by derivatives (``dL_dstates``) for
    LIF neurons, against central differences through the device."""
    rng = np.random.default_rng(seed)

    def build(change=None):
        G = NeuronGroup(5, "dv/dt = (I - v)/tau : volt\nI : volt\ntau : second", threshold="v > 10*mV",
                        reset="v = 0*mV")  # fmt: skip
        G.I = rng_values["I"] * mV
        G.tau = rng_values["tau"] * ms
        S = Synapses(G, G, "w : volt", on_pre="v_post += w", delay=1 * ms)
        S.connect(condition="i != j")
        S.w = rng_values["w"] * mV
        M = StateMonitor(G, "v", record=[0, 3])
        # the same neurons 2 and 4 recorded through a Subgroup and through the group
        o = dict(G=G, S=S, M=M, mon=SpikeMonitor(G), M_sub=StateMonitor(G[2:5], "v", record=[0, 2]),
                 M_full=StateMonitor(G, "v", record=[2, 4]))  # fmt: skip
        if change is not None:
            change(o)
        return o

    rng_values = dict(I=rng.uniform(11, 15, 5), tau=rng.uniform(8, 12, 5), w=rng.uniform(-1, 1, 20))

    def value(o):
        return float(np.sum(np.asarray(o["M"].v_) ** 2) * 1e3)

    o = build()
    net = Network(o.values())
    net.run(30 * ms)
    grad = get_device().gradient(state_monitor=o["M"], loss=lambda v: jnp.sum(v**2) * 1e3, net=net)
    by_derivatives = get_device().gradient(
        o["mon"], dL_dt=np.zeros(o["mon"].num_spikes), state_monitor=o["M"], dL_dstates=2e3 * o["M"].v_[:], net=net
    )
    assert grad.loss == pytest.approx(value(o), rel=1e-12)
    np.testing.assert_array_equal(o["M_sub"].v_, o["M_full"].v_)
    sub, full = (
        get_device().gradient(state_monitor=o[m], loss=lambda v: jnp.sum(v**2) * 1e3, net=net)
        for m in ("M_sub", "M_full")
    )
    for var in ("I", "tau"):
        np.testing.assert_array_equal(np.asarray(sub[o["G"]][var]), np.asarray(full[o["G"]][var]))
    assert np.abs(np.asarray(sub[o["G"]]["I"])[[2, 4]]).min() > 0
    for var in ("I", "tau"):
        np.testing.assert_allclose(
            np.asarray(grad[o["G"]][var]), np.asarray(by_derivatives[o["G"]][var]), rtol=1e-12, atol=1e-300
        )
    for obj, var, k, h in (("S", "w", int(rng.integers(20)), 1e-9), ("G", "I", 2, 1e-9), ("G", "tau", 3, 1e-10)):
        values = []
        for sign in (1, -1):
            start_scope()
            p = build(_change(obj, var, k, sign * h))
            Network(p.values()).run(30 * ms)
            np.testing.assert_array_equal(p["mon"].i, o["mon"].i)
            values.append(value(p))
        fd = (values[0] - values[1]) / (2 * h)
        g = float(np.asarray(grad[o[obj]][var])[k])
        assert g == pytest.approx(fd, rel=1e-5, abs=1e-6 * np.abs(np.asarray(grad[o[obj]][var])).max()), (obj, var)


def test_poisson_input_into_a_current_against_finite_differences(taped, seed):
    """A PoissonInput into an exponential current ('lif_exp'): its weight and the parameters that scale
    the current in the engine (taum, tauk) get their derivative through the input's kicks."""
    eqs = """
    dv/dt = (I - v)/taum + ge/tauk : volt (unless refractory)
    dge/dt = -ge/(5*ms) : volt
    I : volt
    taum : second (constant)
    tauk : second (constant)
    """

    def build(k=None, var=None, step=0.0):
        brian_seed(seed)
        G = NeuronGroup(3, eqs, threshold="v > 10*mV", reset="v = 0*mV", refractory=1 * ms, method="exact")
        G.I, G.taum, G.tauk = [11, 12, 13] * mV, [10, 11, 12] * ms, 10 * ms
        if var is not None:
            array = np.array(G.variables[var].get_value())
            array[k] += step
            G.variables[var].set_value(array)
        pin = PoissonInput(G, "ge", 5, 200 * Hz, weight=(0.8e-3 + (step if var is None and k == "w" else 0.0)) * volt)
        return dict(G=G, pin=pin, mon=SpikeMonitor(G))

    o = build()
    net = Network(o.values())
    net.run(40 * ms)
    assert o["mon"].num_spikes > 5
    grad = get_device().gradient(o["mon"], spike_loss, net=net)

    def value(p):
        with _x64():
            return float(spike_loss(np.asarray(p["mon"].t_), np.asarray(p["mon"].i)))

    for var, k, h in (("taum", 1, 1e-10), ("tauk", 0, 1e-10), (None, "w", 1e-9)):
        values = []
        for sign in (1, -1):
            start_scope()
            p = build(k, var, sign * h)
            Network(p.values()).run(40 * ms)
            np.testing.assert_array_equal(p["mon"].i, o["mon"].i)
            values.append(value(p))
        fd = (values[0] - values[1]) / (2 * h)
        g = float(grad[o["pin"]]["weight"]) if var is None else float(np.asarray(grad[o["G"]][var])[k])
        assert g == pytest.approx(fd, rel=1e-5), var


# ------------------------------------------------------------------------------------------- refusals
def test_refusals_and_errors(taped):
    Q = NeuronGroup(2, EQS_QIF, threshold="v > vth", reset="v = vres")
    Q.El, Q.vs, Q.I, Q.tau, Q.vth, Q.vres, Q.v = -60 * mV, 10 * mV, 2 * mV, 10 * ms, -20 * mV, -80 * mV, -70 * mV
    L = NeuronGroup(2, "dv/dt = (15*mV - v)/(10*ms) : volt", threshold="v > 10*mV", reset="v = 0*mV")
    mon = SpikeMonitor(L)
    net = Network(Q, L, mon)
    net.run(20 * ms)
    with pytest.raises(NotImplementedError, match="networks of neurons of one kind.*all QIF and theta"):
        get_device().gradient(mon, spike_loss, net=net)
    start_scope()
    Q = NeuronGroup(2, EQS_QIF, threshold="v > vth", reset="v = vres")
    Q.El, Q.vs, Q.I, Q.tau, Q.vth, Q.vres, Q.v = -60 * mV, 10 * mV, 2 * mV, 10 * ms, -20 * mV, -80 * mV, -70 * mV
    M = StateMonitor(Q, ["v", "I"], record=True)
    MI = StateMonitor(Q, "I", record=True)
    mon = SpikeMonitor(Q)
    net = Network(Q, M, MI, mon)
    net.run(10 * ms)
    with pytest.raises(ValueError, match="does not record 'v'"):
        get_device().gradient(state_monitor=MI, loss=lambda v: v.sum(), net=net)
    with pytest.raises(ValueError, match=r"dL_dstates must have shape \(2, 100\)"):
        get_device().gradient(state_monitor=M, dL_dstates=np.zeros((100, 2)), net=net)
    with pytest.raises(TypeError, match="give a SpikeMonitor"):
        get_device().gradient(loss=lambda v: v.sum(), net=net)
    with pytest.raises(TypeError, match="state_monitor must be a StateMonitor"):
        get_device().gradient(state_monitor=mon, loss=lambda v: v.sum(), net=net)
    with pytest.raises(TypeError, match="with a SpikeMonitor, give dL_dt"):
        get_device().gradient(mon, state_monitor=M, dL_dstates=np.zeros((2, 100)), net=net)
    with pytest.raises(TypeError, match="dL_dstates needs the StateMonitor"):
        get_device().gradient(mon, dL_dt=np.zeros(mon.num_spikes), dL_dstates=np.zeros((2, 100)), net=net)
    g = get_device().gradient(state_monitor=M, dL_dstates=np.ones((2, 100)), net=net)
    assert np.asarray(g[Q]["El"]).shape == (2,)


def test_passive_readout_group_against_finite_differences(taped, seed):
    """A passive readout group (LIF without threshold) receiving the spikes of driven LIF neurons: a loss
    of its StateMonitor's values (the squared distance to a target trace), against central differences
    through the device by the weights into it, its time constant and rest, and the drivers' drives."""
    rng = np.random.default_rng(seed)
    drive = rng.uniform(12, 16, 4)
    w = rng.uniform(-2, 4, 4)

    def build(obj=None, var=None, k=0, step=0.0):
        D = NeuronGroup(4, "dv/dt = (I - v)/(10*ms) : volt\nI : volt", threshold="v > 10*mV", reset="v = 0*mV")
        D.I = drive * mV
        P = NeuronGroup(2, "dv/dt = (El - v)/taum : volt\nEl : volt\ntaum : second")
        P.taum, P.El = [15, 20] * ms, [0.5, -0.5] * mV
        S = Synapses(D, P, "w : volt", on_pre="v_post += w", delay=1 * ms)
        S.connect(i=[0, 1, 2, 3], j=[0, 0, 1, 1])
        S.w = w * mV
        o = dict(D=D, P=P, S=S, M=StateMonitor(P, "v", record=True), mon=SpikeMonitor(D))
        if obj is not None:
            _change(obj, var, k, step)(o)
        return o

    def value(o):
        return float(np.sum((np.asarray(o["M"].v_) - 0.001) ** 2) * 1e6)

    o = build()
    net = Network(o.values())
    net.run(30 * ms)
    grad = get_device().gradient(state_monitor=o["M"], loss=lambda v: jnp.sum((v - 0.001) ** 2) * 1e6, net=net)
    assert grad.loss == pytest.approx(value(o), rel=1e-12)
    for obj, var, k, h in (("S", "w", int(rng.integers(4)), 1e-9), ("P", "taum", 1, 1e-10), ("P", "El", 0, 1e-9),
                           ("D", "I", int(rng.integers(4)), 1e-9)):  # fmt: skip
        values = []
        for sign in (1, -1):
            start_scope()
            p = build(obj, var, k, sign * h)
            Network(p.values()).run(30 * ms)
            np.testing.assert_array_equal(p["mon"].i, o["mon"].i)
            values.append(value(p))
        fd = (values[0] - values[1]) / (2 * h)
        g = float(np.asarray(grad[o[obj]][var])[k])
        assert g == pytest.approx(fd, rel=1e-5, abs=1e-6 * np.abs(np.asarray(grad[o[obj]][var])).max()), (obj, var)
