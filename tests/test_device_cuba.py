"""Brian2's CUBA example (LIF with exponential excitatory and inhibitory currents) through the device: the
model 'lif_exp', recognised in equivalent forms with units, against the EventNetwork built by hand and
against Brian2's runtime at a small dt; forms the engine cannot run exactly are refused."""

import numpy as np
import pytest
from brian2 import (
    Hz,
    Mohm,
    NeuronGroup,
    PoissonInput,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    defaultclock,
    ms,
    mV,
    run,
    seed as brian_seed,
    set_device,
    start_scope,
)
from brian2.devices.device import reset_device

import brian2_sparseprop  # noqa: F401 (registers the device)
from brian2_sparseprop import EventNetwork
from brian2_sparseprop.device.recognition import recognise_network

TAUM, TAUE, TAUI = 20 * ms, 5 * ms, 10 * ms
VT, VR, EL = -50 * mV, -60 * mV, -49 * mV
WE, WI = (60 * 0.27 / 10) * mV, (-20 * 4.5 / 10) * mV  # CUBA's weights
CUBA = """
dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
dge/dt = -ge/taue : volt
dgi/dt = -gi/taui : volt
"""
NAMESPACE = dict(taum=TAUM, taue=TAUE, taui=TAUI, Vt=VT, Vr=VR, El=EL, we=WE, wi=WI, R=100 * Mohm)


def cuba(n, eqs=CUBA, on_pre=("ge += we", "gi += wi"), k=80):
    """Brian2's CUBA script (examples/CUBA.py) for n neurons, 80 % excitatory, k inputs per neuron on
    average (80 as in the example: p = 0.02 for 4000 neurons), spikes monitored."""
    P = NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exact", namespace=NAMESPACE)
    P.v = "Vr + rand() * (Vt - Vr)"
    Ce = Synapses(P, P, on_pre=on_pre[0], namespace=NAMESPACE)
    Ci = Synapses(P, P, on_pre=on_pre[1], namespace=NAMESPACE)
    Ce.connect(f"i<{int(0.8 * n)}", p=k / n)
    Ci.connect(f"i>={int(0.8 * n)}", p=k / n)
    return P, Ce, Ci, SpikeMonitor(P)


# ----------------------------------------------------------------------------- recognition
FORMS = [
    (CUBA, ("ge += we", "gi += wi"), 1.0),
    # the same, rearranged, with a subexpression and the decays written as products
    (
        "dv/dt = -(v - El - I)/taum : volt (unless refractory)\nI = gi + ge : volt\n"
        "dge/dt = -ge*(1/taue) : volt\ndgi/dt = (-gi)/taui : volt",
        ("ge_post += we", "gi = gi + wi"),
        1.0,
    ),
    # the inhibitory kick as a decrement (Brian2 scripts write 'gi -= 9*mV')
    (CUBA, ("ge += we", "gi -= -wi"), 1.0),
    # currents in ampere through a resistance, weights in ampere: engine current R I
    (
        "dv/dt = (El - v)/taum + R*(ge + gi)/taum : volt (unless refractory)\n"
        "dge/dt = -ge/taue : amp\ndgi/dt = -gi/taui : amp",
        ("ge += we/R", "gi += wi/R"),
        1.0,
    ),
    # the currents scaled in v's equation (k_e = 2/taum): the engine's current is 2 ge
    (
        "dv/dt = (2*ge + gi + El - v)/taum : volt (unless refractory)\ndge/dt = -ge/taue : volt\n"
        "dgi/dt = -gi/taui : volt",
        ("ge += we/2", "gi += wi"),
        2.0,
    ),
]


@pytest.mark.parametrize("form", range(len(FORMS)), ids=["cuba", "rearranged", "decrement", "ampere", "scaled"])
def test_equivalent_forms_give_the_same_engine(exact, form):
    eqs, on_pre, scale_e = FORMS[form]
    brian_seed(3)
    P, Ce, Ci, _ = cuba(50, eqs, on_pre)
    P.ge = ("0.5*mV" if scale_e == 1.0 else "0.25*mV") if "amp" not in eqs else "0.005*nA"
    spec = recognise_network([P, Ce, Ci])
    assert set(spec.model) == {"lif_exp"}
    np.testing.assert_allclose(spec.tau, 0.02, rtol=1e-15)
    np.testing.assert_allclose(spec.drive, -0.049, rtol=1e-15)
    np.testing.assert_allclose(spec.tau_e, 0.005, rtol=1e-15)
    np.testing.assert_allclose(spec.tau_i, 0.01, rtol=1e-15)
    np.testing.assert_allclose(spec.i_e_init, 0.0005, rtol=1e-14)
    np.testing.assert_allclose(spec.i_i_init, 0.0, atol=0)
    pre = np.repeat(np.arange(50), np.diff(spec.indptr))
    expected = np.where(pre < 40, float(WE), float(WI))
    np.testing.assert_allclose(spec.weights, expected, rtol=1e-14)
    g = spec.groups[0]
    assert g.currents["ge"]["columns"] == (0,) and g.currents["gi"]["columns"] == (1,)


def test_single_current_takes_both_signs(exact):
    """One current (dI/dt = -I/tau_s) with weights of both signs: both engine currents with tau_s, the
    Brian2 value their sum."""
    eqs = "dv/dt = (I - (v - El))/taum : volt (unless refractory)\ndI/dt = -I/taue : volt"
    P, Ce, Ci, _ = cuba(50, eqs, ("I += we", "I += wi"))
    spec = recognise_network([P, Ce, Ci])
    np.testing.assert_allclose(spec.tau_e, 0.005)
    np.testing.assert_allclose(spec.tau_i, 0.005)
    assert spec.groups[0].currents["I"]["columns"] == (0, 1)


# ----------------------------------------------------------------------------- runs
def hand_built(times, indices, weights, v0, duration, record=None):
    """The same neuron as EventNetwork 'lif_exp' in SI numbers (volts)."""
    net = EventNetwork(
        1, model="lif_exp", tau=0.02, tau_e=0.005, tau_i=0.01, drive=-0.049, threshold=-0.05, reset=-0.06,
        refractory=0.005, v_init=[v0],
    )  # fmt: skip
    n_src = int(max(indices)) + 1
    net.add_spike_generator(times, indices, n_src, np.arange(n_src + 1), np.zeros(n_src, int), weights=weights)
    if record is not None:
        net.record_states([0], record)
    net.run(duration)
    return net


def test_one_neuron_as_the_engine_and_brian2_runtime(exact):
    """A CUBA neuron driven by a SpikeGeneratorGroup through an excitatory and an inhibitory synapse:
    spikes, v in a StateMonitor and the currents written back equal the EventNetwork built by hand (to
    1e-15 s / 1e-15 V); Brian2's runtime at dt = 0.01 ms fires the same spikes within 2 dt."""
    times = np.array([1.0, 1.5, 2.0, 2.2, 4.0, 9.0, 9.1, 9.3, 15.0, 15.2, 20.0, 20.1, 30.0]) * 1e-3
    indices = np.array([0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])
    ticks = np.arange(0, 400) * 1e-4

    def script():
        G = SpikeGeneratorGroup(2, indices, times * 1000 * ms)
        P = NeuronGroup(1, CUBA, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, namespace=NAMESPACE)
        P.v = -55 * mV
        Se = Synapses(G, P, on_pre="ge += 10*we", namespace=NAMESPACE)
        Si = Synapses(G, P, on_pre="gi += 0.5*wi", namespace=NAMESPACE)
        Se.connect(i=0, j=0)
        Si.connect(i=1, j=0)
        spikes, states = SpikeMonitor(P), StateMonitor(P, "v", record=0)
        run(40 * ms)
        return np.array(spikes.t_), np.array(states.v_[0]), float(P.ge_[0]), float(P.gi_[0])

    t, v, ge, gi = script()
    net = hand_built(times, indices, [10 * float(WE), 0.5 * float(WI)], -0.055, 0.04, record=ticks)
    assert t.size >= 3
    np.testing.assert_allclose(t, net.spike_times, rtol=0, atol=1e-15)
    np.testing.assert_allclose(v, net.state_values[:, 0], rtol=0, atol=1e-15)
    np.testing.assert_allclose([ge, gi], net.currents[0], rtol=1e-15)
    reset_device()
    set_device("runtime")
    start_scope()
    defaultclock.dt = 0.01 * ms
    t_rt = script()[0]
    defaultclock.dt = 0.1 * ms
    assert t_rt.size == t.size
    assert np.all(np.abs(t_rt - t) <= 2e-5)


def run_cuba(n, duration, dt_ms, seed):
    start_scope()
    defaultclock.dt = dt_ms * ms
    brian_seed(seed)
    P, Ce, Ci, mon = cuba(n)  # all kept: a Synapses object left unreferenced is collected before run()
    run(duration * ms)
    defaultclock.dt = 0.1 * ms
    order = np.lexsort((np.array(mon.i), np.array(mon.t_)))
    return np.array(mon.t_)[order], np.array(mon.i)[order]


def test_cuba_spike_for_spike_before_chaos(numpy_target, seed):
    """CUBA (N = 400, 80 inputs per neuron as in the example): in the first 10 ms (17 to 59 spikes), before
    the chaotic dynamics amplifies the runtime's time step, the same neurons fire the same number of spikes
    as with Brian2's runtime at dt = 0.01 ms, at the same times within a few steps. Measured over seeds
    0-15: at most 1.8e-5 s apart, except one spike of seed 8 (6.7e-5 s, a slow crossing); spikes of
    different neurons within 2 dt of each other can come in either order. Asserted: every spike within
    10 dt, the median within 1 dt."""
    set_device("sparseprop")
    t, i = run_cuba(400, 10, 0.1, seed)
    reset_device()
    t_rt, i_rt = run_cuba(400, 10, 0.01, seed)
    assert t.size >= 10
    mine, theirs = np.lexsort((t, i)), np.lexsort((t_rt, i_rt))  # by neuron, then time
    np.testing.assert_array_equal(i[mine], i_rt[theirs])
    gap = np.abs(t[mine] - t_rt[theirs])
    assert gap.max() <= 1e-4 and np.median(gap) <= 1e-5


@pytest.mark.slow  # Brian2's runtime at dt = 0.01 ms: about 8 s per seed
def test_cuba_statistics_as_brian2_runtime(numpy_target):
    """CUBA (N = 400, 1 s, 4 seeds): mean rate and CV of the intervals after 100 ms, with the device and with
    Brian2's runtime at dt = 0.01 ms, paired by seed (one connectivity and initial state for both): the mean
    difference within 3 standard errors of the paired differences plus 2 % of the runtime's value. Measured:
    rates 5.08 / 5.48 / 5.08 / 4.31 Hz against 5.16 / 5.14 / 4.88 / 4.39 Hz, mean difference 0.09 Hz; CVs
    0.495 / 0.420 / 0.467 / 0.502 against 0.510 / 0.430 / 0.459 / 0.510, mean difference -0.007. (One seed
    gave CV 0.463 against 0.508 in an earlier measurement: one pair is not a comparison.)"""
    from test_device_coba import rate_and_cv

    seeds = range(4)
    stats = {}
    for device in ("sparseprop", "runtime"):
        reset_device()
        set_device(device)
        stats[device] = np.array(
            [rate_and_cv(*run_cuba(400, 1000, 0.1 if device == "sparseprop" else 0.01, s), 400, 1.0) for s in seeds]
        )
    reset_device()
    diff = stats["sparseprop"] - stats["runtime"]
    se = diff.std(axis=0, ddof=1) / np.sqrt(len(diff))
    assert np.all(np.abs(diff.mean(axis=0)) <= 3 * se + 0.02 * stats["runtime"].mean(axis=0))


# ----------------------------------------------------------------------------- refusals
REFUSED = [
    # v not linear in a current
    (
        "dv/dt = (ge*ge/mV + gi - (v-El))/taum : volt\ndge/dt = -ge/taue : volt\ndgi/dt = -gi/taui : volt",
        ("ge += we", "gi += wi"),
        r"not linear in 'ge' with a constant coefficient.*LIF neurons with one or two exponential currents",
    ),
    # a current with a different decay (towards a constant): a linear model, whose inputs go into one variable or
    # into two by their sign (excitatory inputs into both: refused)
    (
        "dv/dt = (ge+gi-(v-El))/taum : volt\ndge/dt = (mV - ge)/taue : volt\ndgi/dt = -gi/taui : volt",
        ("ge += we", "gi += we"),
        r"inputs into several variables of linear groups \('ge' of '\w+', 'gi' of '\w+'\) with inputs of one sign",
    ),
    # a current driven by v (adaptation): two coupled variables
    (
        "dv/dt = (ge+gi-(v-El))/taum : volt\ndge/dt = (v - El - ge)/taue : volt\ndgi/dt = -gi/taui : volt",
        ("ge += we", "gi += wi"),
        r"3 differential equations \(\['ge', 'gi', 'v'\]\) of which 2 depend on other state variables",
    ),
    # a current held during refractoriness
    (
        "dv/dt = (ge+gi-(v-El))/taum : volt (unless refractory)\ndge/dt = -ge/taue : volt (unless refractory)\n"
        "dgi/dt = -gi/taui : volt",
        ("ge += we", "gi += wi"),
        r"current 'ge' held during refractoriness",
    ),
    # a QIF neuron with currents
    (
        "dv/dt = ((v-El)**2/mV + ge + gi)/taum : volt\ndge/dt = -ge/taue : volt\ndgi/dt = -gi/taui : volt",
        ("ge += we", "gi += wi"),
        r"a qif neuron with synaptic currents",
    ),
    # a synapse onto v of a neuron with currents
    (CUBA, ("ge += we", "v += wi"), r"synaptic input into 'v' of a neuron with synaptic currents.*'c \+= w'"),
    # inhibitory weights into the excitatory current as well
    (CUBA, ("ge += we", "ge += wi"), r"inputs of both signs into the current 'ge'"),
]


@pytest.mark.parametrize("case", range(len(REFUSED)))
def test_unsupported_forms_refused(exact, case):
    eqs, on_pre, match = REFUSED[case]
    P, Ce, Ci, _ = cuba(20, eqs, on_pre)
    with pytest.raises(NotImplementedError, match=match):
        run(1 * ms)


def test_poisson_into_v_refused(exact):
    P, *_ = cuba(20)
    pin = PoissonInput(P, "v", 10, 5 * Hz, weight=WE)  # noqa: F841 (run() collects it)
    with pytest.raises(NotImplementedError, match=r"PoissonInput into 'v' of a neuron with synaptic currents"):
        run(1 * ms)


def test_poisson_input_into_a_current_and_changed_current_refused(exact):
    """PoissonInput onto ge (scaled like a synapse) runs; changing ge between runs is refused."""
    P, *_ = cuba(20, k=0)
    pin = PoissonInput(P, "ge", 10, 50 * Hz, weight=WE)  # noqa: F841 (run() collects it)
    run(20 * ms)
    assert np.all(np.asarray(P.ge_) > 0)
    P.ge = 0 * mV
    with pytest.raises(NotImplementedError, match=r"the current 'ge' was changed between runs"):
        run(1 * ms)


def test_fallback_runs_refused_forms(exact):
    reset_device()
    set_device("sparseprop", fallback=True)
    start_scope()
    eqs, on_pre, _ = REFUSED[1]
    P, Ce, Ci, mon = cuba(20, eqs, on_pre)
    with pytest.warns(Warning, match="runtime"):
        run(5 * ms)
    assert np.array(P.v_).shape == (20,)
