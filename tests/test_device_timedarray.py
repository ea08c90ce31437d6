"""A TimedArray input in the drive of LIF neurons and in the constant terms of linear models through the device
(issue 13 items 1 and 5).

``dv/dt = (I - v)/tau`` with ``I = stimulus(t) + c*per(t, i)`` is piecewise constant: the device runs the
engine in segments between the TimedArrays' steps and sets the new drive at each (``EventNetwork.set_params``,
which carries the state over exactly). Tested against a closed-form reference that walks the segments
(crossing times ``a + tau ln((I - v0)/(I - 1))``), split runs against one run, Brian2's runtime (exponential
Euler, exact for a drive constant over each step) on a stimulus whose crossings keep a margin from the steps,
and the refusals (TimedArray outside the drive of a LIF equation).

A group with a further state variable (an exponential current ``ge``, a TimedArray input ``I_ext(t)`` beside it in
dv/dt, or a TimedArray in dge/dt) runs as a linear model (``model='linear'``), whose input b the device sets at the
steps in the same way: tested against the same closed form (``ge`` without input stays 0), against the slow
reference of linear networks (tests/linear_oracle.py) with b switched at the steps, against Brian2's runtime, and
the refusal of a TimedArray multiplying a state variable (a time-varying A).
"""

import numpy as np
import pytest
from brian2 import (
    NeuronGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    TimedArray,
    defaultclock,
    magic_network,
    ms,
    restore,
    run,
    second,
    set_device,
    start_scope,
    store,
)
from brian2.devices.device import reset_device
from linear_oracle import LinearOracle

import brian2_sparseprop
from brian2_sparseprop.device.device import exact_network_of

TAU = 0.01
EQS = "dv/dt = (I - v)/(10*ms) : 1\nI = stimulus(t) + 0.3*per(t, i) : 1"
#: the same neurons with an exponential current: a linear model (its current, without input, stays 0)
EQS_LINEAR = EQS.replace("(I - v)", "(ge + I - v)") + "\ndge/dt = -ge/(5*ms) : 1"


def stimuli(rng, n, high_low=True):
    """A shared stimulus (5 ms steps) and a per-neuron one (7 ms steps, shape (steps, n)); with ``high_low``
    the shared one is 2.7 or 0.3 at random (never two 2.7 in a row) and the per-neuron one in [0, 1], so that a
    high step fires each neuron once, at most 4.63 ms after it starts (0.37 ms before the drive drops: no
    grazing crossing that the runtime's lag could miss), and a low one never."""
    if high_low:  # no two high steps in a row: one spike per high step, at most 4.63 ms after it starts
        high = rng.random(40) < 0.6
        for k in range(1, 40):
            high[k] &= not high[k - 1]
        shared = np.where(high, 2.7, 0.3)
        per = rng.random((30, n))
    else:
        shared = rng.uniform(0.5, 2.5, 40)
        per = rng.uniform(0.0, 2.0, (30, n))
    return shared, per


def reference(shared, per, n, t_end, v0=0.0):
    """Spike times per neuron: the drive is constant between the steps (5 ms, 7 ms; after the last value,
    the last one), v relaxes to it in closed form and fires at ``a + tau ln((I - v)/(I - 1))``."""
    edges = np.unique(np.concatenate([np.arange(1, 40) * 0.005, np.arange(1, 30) * 0.007, [t_end]]))
    edges = edges[edges <= t_end]
    out = []
    for i in range(n):
        v, a, spikes = v0, 0.0, []
        for b in edges:
            drive = (
                shared[min(int(np.floor(a / 0.005 + 1e-9)), 39)]
                + 0.3 * per[min(int(np.floor(a / 0.007 + 1e-9)), 29), i]
            )
            while drive > 1 and a + TAU * np.log((drive - v) / (drive - 1)) < b:
                a += TAU * np.log((drive - v) / (drive - 1))
                spikes.append(a)
                v = 0.0
            v = drive + (v - drive) * np.exp(-(b - a) / TAU)
            a = b
        out.append(np.array(spikes))
    return out


def script(shared, per, n, duration=150 * ms, split=1, method="exponential_euler", eqs=EQS):
    stimulus = TimedArray(shared, dt=5 * ms)  # noqa: F841 (used by the equations)
    per = TimedArray(per, dt=7 * ms)
    G = NeuronGroup(n, eqs, threshold="v > 1", reset="v = 0", method=method)
    mon = SpikeMonitor(G)
    state = StateMonitor(G, "v", record=True)
    for _ in range(split):
        run(duration / split)
    return [np.asarray(mon.t[mon.i == i]) for i in range(n)], np.asarray(state.v), G


@pytest.mark.parametrize("eqs", [EQS, EQS_LINEAR], ids=["lif", "linear"])
@pytest.mark.filterwarnings("ignore::brian2_sparseprop.device.device.ExactMethodWarning")
def test_spike_times_against_the_closed_form(exact, seed, eqs):
    rng = np.random.default_rng(seed)
    n = 4
    shared, per = stimuli(rng, n, high_low=False)
    got, _, G = script(shared, per, n, duration=250 * ms, eqs=eqs)  # past the last step of both: the last values hold
    engine, _ = exact_network_of(magic_network)
    assert engine.linear_state.shape == (n, 0 if eqs == EQS else 2)  # (v, ge) of a linear model
    want = reference(shared, per, n, 0.25)
    assert sum(len(t) for t in want) > 20
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-12)


@pytest.mark.slow  # Brian2 objects and runs: seconds each on a shared machine
@pytest.mark.filterwarnings("ignore::brian2_sparseprop.device.device.ExactMethodWarning")
def test_split_runs_equal_one_run(exact, seed):
    rng = np.random.default_rng(seed)
    shared, per = stimuli(rng, 3, high_low=False)
    whole, v_whole, _ = script(shared, per, 3)
    reset_device()
    set_device("sparseprop")
    start_scope()
    split, v_split, _ = script(shared, per, 3, split=3)
    for a, b in zip(whole, split):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-15)
    # after a spike a rounding step apart (3e-17 s at 0.1 s) v differs by up to dv/dt (300/s) times it
    np.testing.assert_allclose(v_whole, v_split, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "eqs",
    ["dv/dt = (stimulus(t) - v)/(10*ms) : 1", "dv/dt = (ge + stimulus(t) - v)/(10*ms) : 1\ndge/dt = -ge/(5*ms) : 1"],
    ids=["lif", "linear"],
)
@pytest.mark.filterwarnings("ignore::brian2_sparseprop.device.device.ExactMethodWarning")
def test_a_step_at_the_end_of_a_run(exact, eqs):
    # the drive is 1.5, 2.0, 1.5 from 0, 5, 10 ms; a run that ends at the step at 10 ms leaves the engine at 2.0,
    # and the next run, which starts at 1.5 as the first did, must set it again (a linear model: its b)
    stimulus = TimedArray([1.5, 2.0, 1.5], dt=5 * ms)  # noqa: F841
    G = NeuronGroup(1, eqs, threshold="v > 1", reset="v = 0", method="euler")
    mon = SpikeMonitor(G)
    run(10 * ms)
    run(30 * ms)
    # closed form: v(5 ms) = 1.5 (1 - e^-0.5); then 2 - (2 - v) e^(-(t - 5 ms)/tau) = 1; then 1.5 from 10 ms
    v5 = 1.5 * (1 - np.exp(-0.5))
    t1 = 0.005 + TAU * np.log((2 - v5) / 1.0)
    v10 = 2 - 2 * np.exp(-(0.01 - t1) / TAU)
    t2 = 0.01 + TAU * np.log((1.5 - v10) / 0.5)
    t3 = t2 + TAU * np.log(1.5 / 0.5)
    np.testing.assert_allclose(mon.t_, [t1, t2, t3], rtol=0, atol=1e-15)


@pytest.mark.slow  # Brian2 objects and runs: seconds each on a shared machine
def test_against_brian2s_runtime(numpy_target, seed):
    # exponential Euler is exact for a drive constant over a step: the runtime differs by its time stamps (the
    # start of the step of the crossing) and its reset lag, within 2 dt for every spike
    rng = np.random.default_rng(seed)
    n = 3
    shared, per = stimuli(rng, n)
    results = []
    for device in ("sparseprop", "runtime"):
        set_device(device)
        start_scope()
        defaultclock.dt = 0.05 * ms
        if device == "sparseprop":
            with pytest.warns(brian2_sparseprop.device.device.ExactMethodWarning):
                results.append(script(shared, per, n, duration=100 * ms)[0])
        else:
            results.append(script(shared, per, n, duration=100 * ms)[0])
        reset_device()
    for exact_t, clocked_t in zip(*results):
        assert exact_t.size == clocked_t.size == np.count_nonzero(shared[:20] > 1)  # 100 ms: 20 steps
        np.testing.assert_allclose(clocked_t, exact_t, rtol=0, atol=2 * 0.05e-3)


@pytest.mark.parametrize(
    "eqs, kwargs, match",
    [
        (
            "dv/dt = (v**2 + stimulus(t))/(10*ms) : 1",
            {},
            r"TimedArray\(s\) \['stimulus'\] in the equation of a qif neuron other than",
        ),
        ("dv/dt = -v/(10*ms*stimulus(t)) : 1", {}, "other than in its drive"),
        ("dv/dt = (stimulus(t - 1*ms) - v)/(10*ms) : 1", {}, r"TimedArray call .*'f\(t\)' or 'f\(t, i\)'"),
        ("dv/dt = (2 - v)/(10*ms) : 1", dict(threshold="v > stimulus(t)"), "calls the function"),
    ],
)
@pytest.mark.filterwarnings("ignore::brian2_sparseprop.device.device.ExactMethodWarning")
def test_refusals(exact, eqs, kwargs, match):
    stimulus = TimedArray([1.5, 2.0], dt=5 * ms)  # noqa: F841
    G = NeuronGroup(1, eqs, threshold=kwargs.get("threshold", "v > 1"), reset="v = 0", method="euler")
    mon = SpikeMonitor(G)  # noqa: F841
    with pytest.raises(NotImplementedError, match=match):
        run(1 * ms)


@pytest.mark.filterwarnings("ignore::brian2_sparseprop.device.device.ExactMethodWarning")
def test_refused_beside_neurons_with_currents(exact):
    stimulus = TimedArray([1.5, 2.0], dt=5 * ms)  # noqa: F841
    G = NeuronGroup(1, "dv/dt = (stimulus(t) - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0", method="euler")
    H = NeuronGroup(  # noqa: F841
        1, "dv/dt = (ge - v)/(10*ms) : 1\ndge/dt = -ge/(5*ms) : 1", threshold="v > 1", reset="v = 0"
    )
    mon = SpikeMonitor(G)
    with pytest.raises(NotImplementedError, match="networks of one-dimensional and linear neurons only"):
        run(10 * ms)
    assert len(mon) == 0


# ---------------------------------------------------------------- linear models
def oracle_spikes(M_steps, step_dt, t_end, theta=1.0):
    """Spike times of one linear neuron (augmented state y = (1, I, v), dy/dt = M y, reset v = 0) whose matrix
    is ``M_steps[k]`` from ``k * step_dt`` on (the last one after its end): the slow reference of
    tests/linear_oracle.py, its matrices switched at the steps."""
    D = M_steps[0].shape[0]
    c = np.zeros(D)
    c[-1] = 1.0
    y0 = np.zeros((1, D))
    y0[0, 0] = 1.0
    ra = np.zeros((1, D))
    ra[0, 1:] = 1.0
    o = LinearOracle(
        M_steps[:1], c[None], [theta], [0.0], D - 1, ra, np.zeros((1, D)), D - 1, D - 1, y0, [0, 0], [], 0.0, 0.0
    )
    for k in range(1, len(M_steps) + 1):
        t = min(k * step_dt, t_end) if k < len(M_steps) else t_end
        o.run(t)
        if k == len(M_steps):
            break
        o.y = np.array([o.flow(0, t - o.t)])
        o.t = t
        o.M = M_steps[k : k + 1]
        lam, V = np.linalg.eig(o.M[0])
        o.eig = [(lam.real, V.real, np.linalg.inv(V.real))]
    return np.array([s[0] for s in o.spikes])


@pytest.mark.parametrize("seed", range(3))
def test_timed_input_into_a_current_against_the_slow_reference(exact, seed):
    """A TimedArray in the equation of the current, ``dI/dt = (stimulus(t) - I)/tau_s``,
    ``dv/dt = (I - v)/tau`` (b = (stimulus/tau_s, 0)): against the slow reference with b switched at the steps
    (spike times within 1e-12 s)."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.5, 3.0, 12)
    stimulus = TimedArray(values, dt=5 * ms)  # noqa: F841
    G = NeuronGroup(
        1,
        "dv/dt = (I - v)/(10*ms) : 1\ndI/dt = (stimulus(t) - I)/(3*ms) : 1",
        threshold="v > 1",
        reset="v = 0",
        method="exact",
    )
    mon = SpikeMonitor(G)
    run(80 * ms)
    M_steps = []
    for value in values:
        M = np.zeros((3, 3))
        M[1, 0], M[1, 1] = value / 0.003, -1 / 0.003  # I
        M[2, 1], M[2, 2] = 1 / 0.01, -1 / 0.01  # v
        M_steps.append(M)
    want = oracle_spikes(M_steps, 0.005, 0.08)
    assert want.size >= 5
    np.testing.assert_allclose(mon.t_, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "eqs, match",
    [
        (
            "dv/dt = (ge*stimulus(t) - v)/(10*ms) : 1\ndge/dt = -ge/(5*ms) : 1",
            r"TimedArray\(s\) \['stimulus'\] multiplying the state variable\(s\) \['ge'\].*time-varying A",
        ),
        (
            "dv/dt = (ge - v)/(10*ms) : 1\ndge/dt = -ge/(5*ms*stimulus(t)) : 1",
            r"multiplying the state variable\(s\) \['ge'\] in dge/dt.*time-varying A",
        ),
    ],
)
def test_refusal_of_a_time_varying_matrix(exact, eqs, match):
    stimulus = TimedArray([1.5, 2.0], dt=5 * ms)  # noqa: F841
    G = NeuronGroup(1, eqs, threshold="v > 1", reset="v = 0", method="exact")
    mon = SpikeMonitor(G)  # noqa: F841
    with pytest.raises(NotImplementedError, match=match):
        run(1 * ms)


@pytest.mark.slow  # Brian2's runtime at dt = 0.01 ms: seconds on a shared machine
@pytest.mark.filterwarnings("ignore::brian2_sparseprop.device.device.ExactMethodWarning")
def test_linear_group_with_synapses_against_brian2s_runtime(numpy_target, seed):
    """Brian2's CUBA form with a TimedArray input, ``dv/dt = (ge + gi + I_ext(t) - v)/tau``, exponential current
    synapses (``ge += w`` from neurons 0 and 1, ``gi += w`` with w < 0 from 2 and 3): Brian2's runtime at
    dt = 0.01 ms (exponential Euler; its 'exact' method refuses TimedArrays) gives the same spikes, time-stamped at
    the step after each crossing, with an error of order dt in v (within 3 dt)."""
    rng = np.random.default_rng(seed)
    n = 4
    shared, per = stimuli(rng, n)
    results = []
    for device in ("sparseprop", "runtime"):
        set_device(device)
        start_scope()
        defaultclock.dt = 0.01 * ms
        stimulus = TimedArray(shared, dt=5 * ms)  # noqa: F841
        per_neuron = TimedArray(per, dt=7 * ms)  # noqa: F841
        G = NeuronGroup(
            n,
            "dv/dt = (ge + gi + I_ext - v)/(10*ms) : 1\ndge/dt = -ge/(5*ms) : 1\ndgi/dt = -gi/(10*ms) : 1\n"
            "I_ext = stimulus(t) + 0.3*per_neuron(t, i) : 1",
            threshold="v > 1",
            reset="v = 0",
            method="exponential_euler",
        )
        Se = Synapses(G, G, "w : 1", on_pre="ge += w")
        Se.connect(i=[0, 0, 1], j=[1, 2, 3])
        Se.w = [0.15, 0.1, 0.2]
        Se.delay = 1 * ms
        Si = Synapses(G, G, "w : 1", on_pre="gi += w")
        Si.connect(i=[2, 3, 3], j=[0, 1, 2])
        Si.w = [-0.2, -0.1, -0.15]
        Si.delay = 1.5 * ms
        mon = SpikeMonitor(G)
        run(100 * ms)
        results.append([np.asarray(mon.t_[mon.i == i]) for i in range(n)])
        reset_device()
    assert sum(t.size for t in results[0]) > 10
    for exact_t, clocked_t in zip(*results):
        assert exact_t.size == clocked_t.size
        np.testing.assert_allclose(clocked_t, exact_t, rtol=0, atol=3 * 0.01e-3)


@pytest.mark.filterwarnings("ignore::brian2_sparseprop.device.device.ExactMethodWarning")
def test_linear_group_store_restore_and_a_change_between_runs(exact):
    """A linear group with a TimedArray input and a synapse with a delay: store() mid-stimulus, run, restore() and
    run again gives the same spikes; a weight changed between runs goes to the running engine (no restart: the
    spike in flight across the change is delivered, with the new weight), as the engine built by hand does."""
    stimulus = TimedArray([1.5, 3.0, 0.5, 2.5], dt=5 * ms)  # noqa: F841
    G = NeuronGroup(
        2,
        "dv/dt = (ge + stimulus(t) - v)/(10*ms) : 1\ndge/dt = -ge/(5*ms) : 1",
        threshold="v > 1",
        reset="v = 0",
        method="euler",
    )
    G.v = [0.0, 0.3]
    S = Synapses(G, G, "w : 1", on_pre="ge_post += w")
    S.connect(i=0, j=1)
    S.w = 0.5
    S.delay = 2 * ms
    mon = SpikeMonitor(G)
    run(7 * ms)
    store()
    run(13 * ms)
    first = (np.array(mon.t_), np.array(mon.i))
    restore()
    run(13 * ms)
    # the restore passes the restored G.v to the engine (set_v), which moves the state vectors to 7 ms: rounding
    np.testing.assert_allclose(mon.t_, first[0], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(mon.i, first[1])
    t0 = float(first[0][first[1] == 0][0])  # neuron 0's first spike: its input to neuron 1 in flight 2 ms
    restore()
    run(t0 * second + 1 * ms - 7 * ms)
    S.w = 2.0
    run(20 * ms - t0 * second - 1 * ms)
    engine, _ = exact_network_of(magic_network)
    assert engine.linear_state.shape == (2, 2)
    # the same by hand: b = (stimulus / tau, 0) per step, the weight 2 from t0 + 1 ms on
    from brian2_sparseprop import EventNetwork
    from brian2_sparseprop.spiking.linear import LinearModel

    def model(value):
        A = [[-200.0, 0.0], [100.0, -100.0]]  # (ge, v): dge/dt = -ge/5 ms, dv/dt = (ge - v)/10 ms + b
        return LinearModel(["ge", "v"], A, [0.0, value / 0.01], {"v": 1.0}, theta=1.0, pulse="ge")

    net = EventNetwork(
        2,
        model="linear",
        linear=model(1.5),
        v_init=[0.0, 0.3],
        indptr=[0, 1, 1],
        indices=[1],
        weights=0.5,
        delays=0.002,
    )
    edges = sorted([0.005, 0.01, t0 + 0.001, 0.015, 0.02])
    values = {0.005: 3.0, 0.01: 0.5, 0.015: 2.5}
    t = 0.0
    for edge in edges:
        net.run(edge - t)
        t = edge
        if edge in values:
            net.set_params(linear=model(values[edge]))
        elif edge < 0.02:
            net.set_params(weights=2.0)
    np.testing.assert_allclose(mon.t_, net.spike_times, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(mon.i, net.spike_indices)


CUBA = "dv/dt = (ge + gi + stimulus(t) - v)/(10*ms) : 1\ndge/dt = -ge/(5*ms) : 1\ndgi/dt = -gi/(10*ms) : 1"


@pytest.mark.filterwarnings("ignore::brian2_sparseprop.device.device.ExactMethodWarning")
def test_cuba_form_with_a_timed_input_as_the_engine_built_by_hand(exact, seed):
    """Brian2's CUBA form with a TimedArray current: a linear model (ge, gi, v) whose excitatory inputs go into ge
    and inhibitory ones into gi (the engine sends a pulse by its sign), as the EventNetwork built by hand with
    b switched at the steps (1e-12 s)."""
    from brian2_sparseprop import EventNetwork
    from brian2_sparseprop.spiking.linear import LinearModel

    rng = np.random.default_rng(seed)
    values = rng.uniform(0.8, 2.5, 8)
    stimulus = TimedArray(values, dt=5 * ms)  # noqa: F841
    G = NeuronGroup(4, CUBA, threshold="v > 1", reset="v = 0", method="euler")
    v0 = rng.uniform(0, 0.5, 4)
    G.v = v0
    Se = Synapses(G, G, on_pre="ge += 0.3", delay=1 * ms)
    Se.connect(i=[0, 1], j=[2, 3])
    Si = Synapses(G, G, on_pre="gi += -0.4", delay=2 * ms)
    Si.connect(i=[2, 3], j=[0, 1])
    mon = SpikeMonitor(G)
    run(40 * ms)

    def model(value):  # (ge, gi, v)
        A = [[-200.0, 0, 0], [0, -100.0, 0], [100.0, 100.0, -100.0]]
        return LinearModel(["ge", "gi", "v"], A, [0, 0, value / 0.01], {"v": 1.0}, theta=1.0, pulse=("ge", "gi"))

    net = EventNetwork(
        4,
        model="linear",
        linear=model(values[0]),
        v_init=v0,
        indptr=[0, 1, 2, 3, 4],
        indices=[2, 3, 0, 1],
        weights=[0.3, 0.3, -0.4, -0.4],
        delays=[0.001, 0.001, 0.002, 0.002],
    )
    for k in range(1, 9):
        net.run(0.005)
        if k < 8:
            net.set_params(linear=model(values[k]))
    assert net.spike_times.size > 5
    np.testing.assert_array_equal(mon.i, net.spike_indices)
    np.testing.assert_allclose(mon.t_, net.spike_times, rtol=0, atol=1e-12)


@pytest.mark.filterwarnings("ignore::brian2_sparseprop.device.device.ExactMethodWarning")
def test_inputs_of_one_sign_into_two_variables_refused(exact):
    stimulus = TimedArray([1.5, 2.0], dt=5 * ms)  # noqa: F841
    G = NeuronGroup(2, CUBA, threshold="v > 1", reset="v = 0", method="euler")
    Se = Synapses(G, G, on_pre="ge += 0.3")
    Se.connect(i=0, j=1)
    Si = Synapses(G, G, on_pre="gi += 0.4")
    Si.connect(i=1, j=0)
    mon = SpikeMonitor(G)  # noqa: F841
    with pytest.raises(
        NotImplementedError,
        match=r"'ge' of 'neurongroup\w*', 'gi' of 'neurongroup\w*'\) with inputs of one sign into both",
    ):
        run(1 * ms)
