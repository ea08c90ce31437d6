"""Groups without threshold through the device (issue 13 item 5): passive LIF neurons, with or without
exponential currents (CUBA form), never spike; their StateMonitor holds the exact state, against the closed
form (exponentially decaying kicks plus the relaxation to the drive) and against Brian2's runtime with its
'exact' integration (exact at the grid). QIF and theta groups without threshold are refused."""

import numpy as np
import pytest
from brian2 import (
    NeuronGroup,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    get_device,
    ms,
    mV,
    run,
    second,
    set_device,
    start_scope,
)
from brian2.devices.device import reset_device

import brian2_sparseprop  # noqa: F401 (registers the device)

TAU_M, TAU_E, TAU_I = 20 * ms, 5 * ms, 10 * ms
LIF = "dv/dt = (El - v)/tau : volt\nEl : volt\ntau : second (constant)"
CUBA = """
dv/dt = (ge + gi - (v - El))/taum : volt
dge/dt = -ge/taue : volt
dgi/dt = -gi/taui : volt
El : volt
"""
NAMESPACE = dict(taum=TAU_M, taue=TAU_E, taui=TAU_I)


def passive_script(rng, form, offset, duration=30 * ms):
    """5 passive neurons kicked by a spike generator at times (step + offset)*dt for random steps, v recorded
    at every step. Returns the recorded times and v (s, V), the neurons' drive, tau and initial v, and the
    kicks (steps, targets, weights in V)."""
    n, m = 5, 30
    G = NeuronGroup(n, LIF if form == "lif" else CUBA, method="exact", namespace=NAMESPACE)
    El = rng.uniform(-70, -40, n) * mV
    G.El = El
    v0 = rng.uniform(-80, -30, n) * mV
    G.v = v0
    if form == "lif":
        tau = rng.uniform(5, 30, n) * ms
        G.tau = tau
    else:
        tau = np.full(n, float(TAU_M)) * second
    steps = np.sort(rng.choice(np.arange(1, int(duration / (0.1 * ms)) - 1), m, replace=False))
    sources = np.arange(m)
    targets = rng.integers(0, n, m)
    weights = rng.choice([-1.0, 1.0], m) * rng.uniform(1, 8, m)  # mV
    gen = SpikeGeneratorGroup(m, sources, (steps + offset) * 0.1 * ms)
    # CUBA: the excitatory kicks into ge, the inhibitory into gi (each current takes one sign)
    S = Synapses(gen, G, "w : volt", on_pre="v_post += w" if form == "lif" else "ge_post += w", namespace=NAMESPACE)
    S.connect(i=sources, j=targets)
    S.w = np.where(weights > 0, weights, 0.0) * mV if form != "lif" else weights * mV
    objects = [G, gen, S]
    if form != "lif":
        Si = Synapses(gen, G, "w : volt", on_pre="gi_post += w", namespace=NAMESPACE)
        Si.connect(i=sources, j=targets)
        Si.w = np.where(weights < 0, weights, 0.0) * mV
        objects.append(Si)
    M = StateMonitor(G, "v", record=True)
    run(duration)
    kicks = (steps, targets, weights * 1e-3)
    # copies: the monitor's arrays are views of buffers that go with the objects
    return np.array(M.t_), np.array(M.v_), np.array(El), np.array(tau), np.array(v0), kicks


def closed_form(form, t, El, tau, v0, kicks):
    """v (rows: neurons) at the times t: relaxation from v0 to El plus each kick at (step + 1/2)*dt that
    arrived before."""
    v = El[:, None] + (v0 - El)[:, None] * np.exp(-t / tau[:, None])
    tm = float(TAU_M)
    for step, j, w in zip(*kicks):
        tk = (step + 0.5) * float(0.1 * ms)
        s = np.maximum(t - tk, 0.0)
        if form == "lif":
            term = w * np.exp(-s / tau[j])
        else:  # a kick w of ge (or gi) makes v rise by w tau_c/(tau_c - tau_m) (e^(-s/tau_c) - e^(-s/tau_m))
            tc = float(TAU_E if w > 0 else TAU_I)
            term = w * tc / (tc - tm) * (np.exp(-s / tc) - np.exp(-s / tm))
        v[j] += np.where(t > tk, term, 0.0)
    return v


@pytest.mark.parametrize("form", ["lif", "cuba"])
def test_passive_state_against_the_closed_form(exact, form, seed):
    """Kicks between the monitor's ticks (the device takes them at their exact times)."""
    t, v, El, tau, v0, kicks = passive_script(np.random.default_rng(seed), form, 0.5)
    assert t.size == 300
    expected = closed_form(form, t, El, tau, v0, kicks)
    assert np.ptp(expected) > 0.02  # the kicks move v by tens of mV
    np.testing.assert_allclose(v, expected, rtol=0, atol=1e-14)  # V: 1e-12 mV


@pytest.mark.parametrize("form", ["lif", "cuba"])
def test_passive_state_against_brian2_runtime(numpy_target, form, seed):
    """Brian2's 'exact' method is exact at grid points, so the runtime differs by rounding only. The
    runtime takes a spike generated at t_k into v at the end of its step (t_k + dt): its spikes are one step
    earlier. At the kicks' own times the device records before the kick, the runtime after it: those ticks
    are left out."""
    set_device("sparseprop")
    start_scope()
    try:
        t, v, *_, kicks = passive_script(np.random.default_rng(seed), form, 0)
    finally:
        reset_device()
    start_scope()
    t_rt, v_rt, *_ = passive_script(np.random.default_rng(seed), form, -1)
    np.testing.assert_allclose(t, t_rt, rtol=0, atol=1e-15)
    at_kick = np.isin(np.round(t / float(0.1 * ms)), kicks[0])
    assert at_kick.sum() > 10
    # observed: 1.2e-15 V at most (seeds 0-4; the closed-form test: 6e-17 V)
    np.testing.assert_allclose(v[:, ~at_kick], v_rt[:, ~at_kick], rtol=0, atol=1e-14)


def test_passive_group_beside_a_spiking_group(exact):
    """A LIF group driven above threshold fires every tau ln 3 and kicks a passive group in the same
    network, which sums the kicks exactly and never fires."""
    D = NeuronGroup(2, "dv/dt = (15*mV - v)/(10*ms) : volt", threshold="v > 10*mV", reset="v = 0*mV", method="exact")
    P = NeuronGroup(2, "dv/dt = -v/(20*ms) : volt", method="exact")
    S = Synapses(D, P, on_pre="v_post += 1*mV")
    S.connect(j="i")
    spikes = SpikeMonitor(D)
    M = StateMonitor(P, "v", record=True)
    run(100 * ms)
    period = 0.01 * np.log(3.0)
    fired = period * np.arange(1, int(0.1 / period) + 1)
    np.testing.assert_allclose(spikes.t_[spikes.i == 0], fired, rtol=1e-14)
    t = np.array(M.t_)
    expected = sum(np.where(t > tk, 1e-3 * np.exp(-np.maximum(t - tk, 0) / 0.02), 0.0) for tk in fired)
    np.testing.assert_allclose(M.v_, np.tile(expected, (2, 1)), rtol=0, atol=1e-15)
    np.testing.assert_allclose(P.v_, sum(1e-3 * np.exp(-(0.1 - fired) / 0.02)), rtol=1e-13)


@pytest.mark.parametrize(
    ("eqs", "model"),
    [("dv/dt = (v**2 + 1)/(10*ms) : 1", "qif"), ("dth/dt = (1 - cos(th) + (1 + cos(th))*0.5)/(10*ms) : 1", "theta")],
)
def test_qif_and_theta_without_threshold_refused(exact, eqs, model):
    G = NeuronGroup(2, eqs, method="euler")
    StateMonitor(G, G.equations.diff_eq_names.copy().pop(), record=True)
    with pytest.raises(NotImplementedError, match=f"a {model} neuron without threshold.*supported for LIF neurons"):
        run(1 * ms)


def test_gradients_with_passive_groups(numpy_target):
    """A passive group is a readout: the gradient of the driver's spike times exists (the passive group
    does not act on them), and that of the passive group's recorded state has the closed form: P at 20 ms
    holds the kicks w e^{-(20 ms - t_k)/tau} of D's spikes t_k, so dL/d(S.w) = sum_k e^{-(20 ms - t_k)/tau}
    for L = P.v(20 ms) in volt (tested against central differences in test_device_gradient_qif.py)."""
    set_device("sparseprop", gradients=True)
    start_scope()
    try:
        D = NeuronGroup(1, "dv/dt = (15*mV - v)/(10*ms) : volt", threshold="v > 10*mV", reset="v = 0*mV")
        P = NeuronGroup(1, "dv/dt = -v/(20*ms) : volt")
        S = Synapses(D, P, "w : volt", on_pre="v_post += w")
        S.connect()
        S.w = 1 * mV
        mon = SpikeMonitor(D)
        M = StateMonitor(P, "v", record=0)
        run(20.05 * ms)
        grad = get_device().gradient(mon, dL_dt=np.ones(len(mon.t)))
        assert float(grad[D]["v"][0]) != 0.0 and float(grad[S]["w"][0]) == 0.0
        t_k = np.asarray(mon.t_)[np.asarray(mon.t_) < 0.02]
        dL = np.zeros(M.v_.shape)
        dL[0, -1] = 1.0  # L = v of P at the last recorded time, 20 ms
        grad = get_device().gradient(state_monitor=M, dL_dstates=dL)
        expected = np.sum(np.exp(-(0.02 - t_k) / 0.02))
        assert float(grad[S]["w"][0]) == pytest.approx(expected, rel=1e-12)
    finally:
        reset_device()


def test_passive_group_across_runs_with_a_changed_drive(exact):
    """G.El changed between two runs: v relaxes to the new El from its state at the change."""
    G = NeuronGroup(3, LIF, method="exact")
    G.El = [-60, -50, -40] * mV
    G.tau = [10, 20, 30] * ms
    G.v = -70 * mV
    M = StateMonitor(G, "v", record=True)
    run(10 * ms)
    G.El = [-40, -70, -55] * mV
    run(10 * ms)
    t, tau = np.array(M.t_), np.array([0.01, 0.02, 0.03])[:, None]
    first = np.array([-60e-3, -50e-3, -40e-3])[:, None]
    later = np.array([-40e-3, -70e-3, -55e-3])[:, None]
    at_change = first + (-70e-3 - first) * np.exp(-0.01 / tau)
    expected = np.where(
        t < 0.01 - 1e-9,
        first + (-70e-3 - first) * np.exp(-t / tau),
        later + (at_change - later) * np.exp(-(t - 0.01) / tau),
    )
    np.testing.assert_allclose(M.v_, expected, rtol=0, atol=1e-15)


def test_record_single_timestep_after_a_run(exact):
    """Brian2's StateMonitor.record_single_timestep(): after a run, the values at its end are appended."""
    G = NeuronGroup(2, "dv/dt = -v/(5*ms) : 1")
    G.v = [1.0, 0.5]
    mon = StateMonitor(G, "v", record=[1])
    with pytest.raises(TypeError, match="after the network has been run once"):
        mon.record_single_timestep()
    run(0.5 * ms)
    mon.record_single_timestep()
    np.testing.assert_allclose(mon.t_, np.arange(6) * 1e-4, atol=1e-18)
    np.testing.assert_allclose(mon.v[0], 0.5 * np.exp(-np.arange(6) * 0.1 / 5), rtol=1e-14)
    assert mon.v[0, -1] == G.v[1]


def test_state_monitor_on_an_event_clock_refused(exact):
    import brian2

    if not hasattr(brian2, "EventClock"):
        pytest.skip("EventClock is new in Brian2 2.11")
    G = NeuronGroup(2, "dv/dt = -v/(5*ms) : 1")
    mon = StateMonitor(G, "v", record=True, clock=brian2.EventClock(times=np.arange(3) * ms))
    with pytest.raises(NotImplementedError, match="recording on the EventClock .* regular steps"):
        run(1 * ms)
    assert len(mon.t) == 0
