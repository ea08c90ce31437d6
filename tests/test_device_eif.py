"""Brian2's exponential integrate-and-fire neuron through the device: recognised in equivalent spellings,
mapped to the engine's normalised form, and run against Brian2's runtime at a small dt."""

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
    nA,
    nF,
    nS,
    run,
    second,
)

from brian2_sparseprop.device.recognition import recognise_network

# Brian2's adaptive-exponential example's parameters without adaptation (Brette & Gerstner 2005)
PARAMS = dict(C=0.281 * nF, gL=30 * nS, EL=-70.6 * mV, VT=-50.4 * mV, DeltaT=2 * mV, Vcut=-40.4 * mV, Vr=-70.6 * mV)
SPELLINGS = [
    "dv/dt = (gL*(EL - v) + gL*DeltaT*exp((v - VT)/DeltaT) + I)/C : volt",
    "dv/dt = (-(v - EL) + DeltaT*exp((v - VT)/DeltaT) + I/gL)/(C/gL) : volt",
    "dv/dt = gL/C*(EL - v) + gL*DeltaT/C*exp(v/DeltaT)*exp(-VT/DeltaT) + I/C : volt",
    "dv/dt = (gL*(EL - v) + Iexp + I)/C : volt\nIexp = gL*DeltaT*exp((v - VT)/DeltaT) : amp",
]


def normalised(current):
    """The engine's EIF parameters for Brian2's form: tau = C/gL, drive = (EL + I/gL - VT)/DeltaT, and the
    threshold Vcut and reset Vr in x = (v - VT)/DeltaT."""
    p = {k: float(v) for k, v in PARAMS.items()}
    return dict(
        tau=p["C"] / p["gL"],
        drive=(p["EL"] + current / p["gL"] - p["VT"]) / p["DeltaT"],
        threshold=(p["Vcut"] - p["VT"]) / p["DeltaT"],
        reset=(p["Vr"] - p["VT"]) / p["DeltaT"],
    )


@pytest.mark.parametrize("equations", SPELLINGS)
def test_spellings_are_recognised_as_eif(equations):
    eqs = equations.replace(": volt", ": volt (unless refractory)", 1) + "\nI : amp"
    group = NeuronGroup(3, eqs, threshold="v > Vcut", reset="v = Vr", refractory=2 * ms)
    currents = np.array([0.2, 0.6, 1.0]) * 1e-9
    group.I = currents * nA / 1e-9
    group.v = PARAMS["EL"]
    spec = recognise_network([group], dict(PARAMS))
    assert list(spec.model) == ["eif"] * 3
    want = normalised(currents)
    np.testing.assert_allclose(spec.tau, want["tau"], rtol=1e-12)
    np.testing.assert_allclose(spec.drive, want["drive"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(spec.threshold, want["threshold"], rtol=1e-12)
    np.testing.assert_allclose(spec.reset, want["reset"], rtol=1e-12)
    np.testing.assert_allclose(spec.v_init, (float(PARAMS["EL"]) - float(PARAMS["VT"])) / float(PARAMS["DeltaT"]))


def test_not_eif_forms_are_refused():
    # two exponentials: not the EIF (refused naming what is supported); a negative slope factor
    eq = "dv/dt = (gL*(EL - v) + gL*DeltaT*exp((v - VT)/DeltaT) + gL*DeltaT*exp(2*(v - VT)/DeltaT))/C : volt"
    group = NeuronGroup(1, eq, threshold="v > Vcut", reset="v = Vr")
    with pytest.raises(NotImplementedError, match="EIF"):
        recognise_network([group], dict(PARAMS))
    group = NeuronGroup(
        1, "dv/dt = (gL*(EL - v) - gL*DeltaT*exp((v - VT)/DeltaT))/C : volt", threshold="v > Vcut", reset="v = Vr"
    )
    with pytest.raises(ValueError, match="needs a1 < 0 .* k > 0"):
        recognise_network([group], dict(PARAMS))
    passive = NeuronGroup(1, SPELLINGS[0].replace("+ I)", ")"))
    with pytest.raises(NotImplementedError, match="eif neuron without threshold"):
        recognise_network([passive], dict(PARAMS))


def run_eif_script(device):
    """Three EIF neurons with constant currents (two fire on their own, one rests below the unstable fixed
    point) and a spike generator whose synapses kick them (``v += w``), with refractoriness."""
    if device == "runtime":
        defaultclock.dt = 0.01 * ms
    group = NeuronGroup(
        3,
        SPELLINGS[0] + " (unless refractory)\nI : amp",
        threshold="v > Vcut",
        reset="v = Vr",
        refractory=1 * ms,
        method="rk4" if device == "runtime" else None,
        namespace=dict(PARAMS),
    )
    group.I = [0.7, 1.0, 0.3] * nA
    group.v = PARAMS["EL"]
    gen = SpikeGeneratorGroup(1, [0, 0, 0], [20, 33, 47.5] * ms)
    syn = Synapses(gen, group, "w : volt", on_pre="v += w")
    syn.connect()
    syn.w = [8, -5, 15] * mV  # neuron 2 rests at -60.6 mV, below the unstable point -46.6 mV: 15 mV cross it
    spikes = SpikeMonitor(group)
    states = StateMonitor(group, "v", record=True, dt=1 * ms)
    run(80 * ms)
    return spikes.t / second, np.asarray(spikes.i), states.v[:, 5:] / mV


def test_device_matches_event_network(exact):
    # the same neurons given to EventNetwork in the normalised form by hand: identical spikes
    from brian2_sparseprop import EventNetwork

    t_e, i_e, _ = run_eif_script("sparseprop")
    p = normalised(np.array([0.7, 1.0, 0.3]) * 1e-9)
    dt_ = float(PARAMS["DeltaT"])
    net = EventNetwork(
        3, model="eif", refractory=1e-3, v_init=np.full(3, (float(PARAMS["EL"]) - float(PARAMS["VT"])) / dt_), **p
    )
    net.add_spike_generator(
        [0.02, 0.033, 0.0475], [0, 0, 0], 1, [0, 3], [0, 1, 2], weights=np.array([8, -5, 15]) * 1e-3 / dt_
    )
    net.run(0.08)
    assert list(net.spike_indices) == list(i_e)
    np.testing.assert_allclose(net.spike_times, t_e, rtol=1e-12, atol=1e-15)


@pytest.mark.slow
def test_against_brian2_runtime(on_both_devices):
    (t_e, i_e, v_e), (t_r, i_r, v_r) = on_both_devices(run_eif_script)
    assert t_e.size >= 8 and set(i_e.tolist()) == {0, 1, 2}
    assert list(i_e) == list(i_r)
    # the runtime's threshold test on its 10 us grid (and its RK4 error) delays each spike by up to one
    # step, and the delays add up along a neuron's train (6 spikes at most here)
    np.testing.assert_allclose(t_e, t_r, rtol=0, atol=6e-5)
    np.testing.assert_allclose(v_e, v_r, rtol=0, atol=0.1)
