"""Brian2's STDP form (event-driven traces, on_pre/on_post) through the sparseprop device: recognised in
equivalent spellings, run exactly, weights and traces written back into the Synapses, compared with
Brian2's runtime; other plasticity refused."""

import numpy as np
import pytest
from brian2 import (
    NeuronGroup,
    SpikeGeneratorGroup,
    SpikeMonitor,
    Synapses,
    defaultclock,
    ms,
    run,
    set_device,
    start_scope,
)
from brian2.devices.device import reset_device

import brian2_sparseprop  # noqa: F401 (registers the device)

TAUPRE, TAUPOST, WMAX = 20 * ms, 30 * ms, 0.05
DAPRE = 0.01 * WMAX
DAPOST = -1.05 * DAPRE
ON_PRE = """v_post += w
            Apre += dApre
            w = clip(w + Apost, 0, wmax)"""
ON_POST = """Apost += dApost
             w = clip(w + Apre, 0, wmax)"""
MODEL = """w : 1
           dApre/dt = -Apre/taupre : 1 (event-driven)
           dApost/dt = -Apost/taupost : 1 (event-driven)"""
NAMESPACE = dict(taupre=TAUPRE, taupost=TAUPOST, wmax=WMAX, dApre=DAPRE, dApost=DAPOST)


def taught(
    rng, teacher_shift, model=MODEL, on_pre=ON_PRE, on_post=ON_POST, durations=(100 * ms, 100 * ms), between=None
):
    """Five sources with random spikes on the time grid, plastic synapses (delays 0 or 1 ms) onto two
    neurons that fire when a teacher input arrives (weight 2 > threshold; the plastic inputs alone never
    fire them). ``teacher_shift`` moves the teacher's spikes: -dt for Brian2's runtime, which fires a
    neuron one step after its input. ``between(S)`` runs after each run but the last. Returns the spike
    times and, after each run, w, the traces (sorted by name) and lastupdate."""
    start_scope()
    dt = 0.1 * ms
    defaultclock.dt = dt
    steps = int(round(float(sum(durations) / dt)))
    n_src, n_post = 5, 2
    src_i = rng.integers(0, n_src, 150)
    src_steps = rng.choice(np.arange(1, steps - 20), 150, replace=False)
    # ties: some teacher spikes at the arrival of a source spike (sources with even index: no delay)
    teacher_t = np.unique(np.r_[src_steps[:8], rng.choice(np.arange(20, steps - 20), 25, replace=False)])
    # at least 2 steps apart: Brian2 resets a neuron after the synapses of its spike's step, so a teacher
    # input in the step the neuron fires would be lost there (and taken here)
    teacher_t = teacher_t[np.r_[True, np.diff(teacher_t) >= 2]]
    teacher_i = rng.integers(0, n_post, teacher_t.size)
    G = SpikeGeneratorGroup(n_src, src_i, src_steps * dt)
    T = SpikeGeneratorGroup(n_post, teacher_i, teacher_t * dt + teacher_shift)
    H = NeuronGroup(n_post, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0", method="exact")
    S = Synapses(G, H, model, on_pre=on_pre, on_post=on_post, namespace=NAMESPACE)
    S.connect()
    S.w = "0.02 + 0.002*i + 0.001*j"
    S.delay = "1*ms*(i % 2)"
    ST = Synapses(T, H, on_pre="v_post += 2", name="teacher")
    ST.connect(j="i")
    M = SpikeMonitor(H)
    states = []
    for k, duration in enumerate(durations):
        run(duration)
        traces = [np.array(S.variables[name].get_value()) for name in sorted(S.event_driven.diff_eq_names)]
        states.append(np.array([S.w[:], *traces, S.lastupdate_[:]]))
        if between is not None and k < len(durations) - 1:
            between(S)
    return np.array(M.t_), np.array(M.i[:]), states


@pytest.fixture
def both_taught(on_both_devices):
    """``both_taught(seed, **kwargs)``: `taught` with the device and with Brian2's runtime (whose teacher
    comes one step earlier)."""

    def both(seed, **kwargs):
        return on_both_devices(
            lambda device: taught(np.random.default_rng(seed), (0 if device == "sparseprop" else -0.1) * ms, **kwargs)
        )

    return both


def test_against_brian2_runtime(both_taught, seed):
    """Grid-aligned spikes on both sides: the same events, so the same weights and traces to rounding
    (both compute the traces as products of exact exponential decays between the same events; the grid
    times of Brian2's runtime are i*dt, the device's the given times: the difference is an ulp)."""
    (t, i, exact), (t_rt, i_rt, clocked) = both_taught(seed)
    np.testing.assert_array_equal(i, i_rt)
    np.testing.assert_allclose(t, t_rt, rtol=0, atol=1e-12)
    assert t.size >= 25
    for a, b in zip(exact, clocked):
        assert not np.allclose(a[0], b[0][0])  # the weights moved
        # observed: 3.3e-15 relative at most (seeds 0-4); an ulp of the event times enters every term
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-18)
    assert (exact[1][0] != exact[0][0]).any()  # and moved again in the second run


def test_traces_and_weights_set_between_runs_as_brian2_runtime(both_taught, seed):
    """``S.Apre = ...``, ``S.Apost = ...`` and ``S.w = ...`` between runs are taken as Brian2 takes them
    (the traces as their values at lastupdate)."""

    def between(S):
        S.Apre = "0.002*i"
        S.Apost = "-0.001*j"
        S.w = "0.03"

    (t, i, exact), (t_rt, i_rt, clocked) = both_taught(seed, between=between)
    np.testing.assert_array_equal(i, i_rt)
    np.testing.assert_allclose(t, t_rt, rtol=0, atol=1e-12)
    for a, b in zip(exact, clocked):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-18)
    _, _, ignored = taught(np.random.default_rng(seed), 0 * ms)  # without the assignments: other weights
    assert not np.allclose(ignored[1][0], exact[1][0])


@pytest.mark.parametrize(
    ("model", "on_pre", "on_post"),
    [
        (
            MODEL.replace("-Apre/taupre", "-(1/taupre)*Apre"),
            "w = clip(Apost + w, 0, wmax)\nApre += dApre\nv_post += 1.0*w",
            "w = clip(w + Apre, 0, wmax); Apost += dApost",
        ),
        (
            MODEL.replace("Apost", "Y").replace("Apre", "X"),
            "v_post += w; X = X + dApre; w = clip(w + Y, 0, wmax)",
            "Y += dApost; w = clip(w + X, 0, wmax)",
        ),
        (
            MODEL,
            "v_post -= -w; Apre -= -dApre; w = clip(w - (-Apost), 0, wmax)",
            "Apost -= -dApost; w = clip(w + Apre, 0, wmax)",
        ),
    ],
    ids=["reordered", "renamed", "decrements"],
)
def test_equivalent_spellings(exact, model, on_pre, on_post):
    """The same rule written otherwise gives the same weights; a kick after the update (first spelling)
    is taken with the new weight."""
    t, _, states = taught(np.random.default_rng(0), 0 * ms)
    reset_device()
    set_device("sparseprop")
    t2, _, states2 = taught(np.random.default_rng(0), 0 * ms, model, on_pre, on_post)
    np.testing.assert_array_equal(t, t2)  # the plastic inputs never fire the neurons
    np.testing.assert_allclose(states2[-1][0], states[-1][0], rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    ("model", "on_pre", "on_post", "match"),
    [
        (MODEL, ON_PRE.replace("Apre += dApre", "Apre = dApre"), ON_POST, r"the on_pre statement 'Apre = dApre'"),
        (MODEL, ON_PRE.replace("w + Apost", "w + w*Apost"), ON_POST, r"the on_pre statement 'w = clip\(w \+ w\*Apost"),
        (MODEL, ON_PRE, ON_POST + "\nv_post += 0.1", r"the on_post statement 'v_post \+= 0.1'"),
        (MODEL, ON_PRE.replace("v_post += w", "v_post += w*w"), ON_POST, r"the kick must be 'x_post \+= c\*w'"),
        (MODEL, ON_PRE, "w = clip(w + Apre, 0, wmax)", "plasticity without post trace"),
        (MODEL.replace("-Apre/taupre", "-Apre**2/taupre"), ON_PRE, ON_POST, "the event-driven equation 'dApre/dt"),
        (MODEL.replace(" (event-driven)", "", 1), ON_PRE, ON_POST, r"synaptic dynamics \(differential equations"),
    ],
    ids=["nearest-spike", "multiplicative", "kick-on-post", "nonlinear-kick", "one-trace", "nonlinear-trace", "clock"],
)
def test_other_plasticity_refused(exact, model, on_pre, on_post, match):
    with pytest.raises(NotImplementedError, match=match) as info:
        taught(np.random.default_rng(0), 0 * ms, model, on_pre, on_post)
    assert "supported" in str(info.value)


def test_postsynaptic_delay_refused(exact):
    G = SpikeGeneratorGroup(1, [0], [1] * ms)
    H = NeuronGroup(1, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0")
    S = Synapses(G, H, MODEL, on_pre=ON_PRE, on_post=ON_POST, namespace=NAMESPACE, delay={"post": 1 * ms})
    S.connect()
    with pytest.raises(NotImplementedError, match="a delay of the on_post pathway"):
        run(1 * ms)


def test_plasticity_onto_a_current(exact, seed):
    """A kick into an exponential current, 'ge_post += w', with v driven by 2*ge: the engine's weight is
    2 w (its current is 2 ge), so are its bounds and traces; the device gives the weights, traces and
    spikes of that EventNetwork built by hand."""
    from brian2_sparseprop import EventNetwork

    rng = np.random.default_rng(seed)
    src_i, src_t = rng.integers(0, 4, 80), np.sort(rng.choice(2000, 80, replace=False)) * 0.1 * ms
    G = SpikeGeneratorGroup(4, src_i, src_t)
    H = NeuronGroup(1, "dv/dt = (2*ge - v)/(10*ms) : 1\ndge/dt = -ge/(5*ms) : 1", threshold="v > 0.1", reset="v = 0")
    S = Synapses(G, H, MODEL, on_pre=ON_PRE.replace("v_post", "ge_post"), on_post=ON_POST, namespace=NAMESPACE)
    S.connect()
    S.w = "0.03 + 0.005*i"
    M = SpikeMonitor(H)
    run(200 * ms)
    # the device passes dt as the time quantum (its delays are whole numbers of dt): so does this network
    net = EventNetwork(1, model="lif_exp", tau=0.01, tau_e=0.005, drive=0.0, threshold=0.1, time_quantum=1e-4)
    net.add_spike_generator(src_t, src_i, 4, np.arange(5), np.zeros(4, int), 2 * (0.03 + 0.005 * np.arange(4)))
    net.add_stdp(TAUPRE, TAUPOST, 2 * DAPRE, 2 * DAPOST, w_min=0.0, w_max=2 * WMAX, source="generator")
    net.run(0.2)
    assert net.spike_times.size >= 5
    np.testing.assert_allclose(M.t_, net.spike_times, rtol=0, atol=1e-15)
    np.testing.assert_allclose(S.w[:], net.synaptic_weights("generator") / 2, rtol=1e-15)
    traces = net.stdp_traces(0)
    np.testing.assert_allclose(S.Apre[:], traces["apre"] / 2, rtol=1e-15)
    np.testing.assert_allclose(S.Apost[:], traces["apost"] / 2, rtol=1e-15)


def test_recurrent_plasticity_over_two_runs(exact, seed):
    """Plastic recurrent synapses with delays: two runs through the device (the second continues from the
    weights and traces the first wrote back) give the spikes and weights of one EventNetwork run."""
    from brian2_sparseprop import EventNetwork

    rng = np.random.default_rng(seed)
    n = 10
    H = NeuronGroup(n, "dv/dt = (I - v)/(10*ms) : 1\nI : 1", threshold="v > 1", reset="v = 0", method="exact")
    H.I = rng.uniform(1.05, 1.4, n)
    H.v = rng.uniform(0, 0.9, n)
    v0, drive = np.array(H.v[:]), np.array(H.I[:])
    S = Synapses(H, H, MODEL, on_pre=ON_PRE, on_post=ON_POST, namespace=NAMESPACE)
    S.connect(p=0.4, condition="i != j")
    S.w = rng.uniform(0.0, WMAX, len(S))
    S.delay = rng.choice([0.0, 0.5, 1.2], len(S)) * ms
    pre, post, w0, d = np.array(S.i[:]), np.array(S.j[:]), np.array(S.w[:]), np.array(S.delay_[:])
    M = SpikeMonitor(H)
    run(60 * ms)
    run(60 * ms)
    order = np.argsort(pre, kind="stable")
    indptr = np.searchsorted(pre[order], np.arange(n + 1))
    net = EventNetwork(
        n, tau=0.01, drive=drive, v_init=v0, indptr=indptr, indices=post[order], weights=w0[order], delays=d[order]
    )
    net.add_stdp(TAUPRE, TAUPOST, DAPRE, DAPOST, w_min=0.0, w_max=WMAX)
    net.run(0.12)
    assert net.spike_times.size > 50
    np.testing.assert_allclose(M.t_, net.spike_times, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(M.i[:], net.spike_indices)
    w = np.empty(len(S))
    w[order] = net.synaptic_weights()
    assert not np.allclose(w, w0)
    np.testing.assert_allclose(S.w[:], w, rtol=0, atol=1e-15)
