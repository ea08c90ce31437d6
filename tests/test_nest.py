"""Spike for spike against NEST's precise-spiking models, a simulator that no one here wrote.

`iaf_psc_delta_ps` is the engine's 'lif' with delta pulses, `iaf_psc_exp_ps` its 'lif_exp' (LIF with
exponential currents). NEST's wheel installs on CPython 3.12 only: the test extra `nest` brings it there,
and elsewhere these tests are skipped. NEST works in mV, pA, pF and ms; the engine's state is v = V_m - E_L
and a current I (pA) enters as I tau_m / C_m (mV), which gives the engine's drive and the weights of its
'lif_exp' pulses.

What is asserted (random networks of 50 neurons, 10 inputs each, several seeds): the same number of spikes,
the same neuron at each place of the time-ordered sequence (spikes of one instant, equal within 1e-12 s,
compared as sets), and spike times within 1e-9 s (the issue's bound). Measured: within 1e-13 s on
inhibitory networks, up to 2e-12 s on excitatory-inhibitory ones, whose dynamics amplify rounding.
"""

import numpy as np
import pytest

nest = pytest.importorskip("nest")

from brian2_sparseprop import EventNetwork  # noqa: E402

N, K = 50, 10
TAU_M, C_M, E_L, V_TH, V_RESET = 10.0, 250.0, -70.0, -55.0, -70.0  # ms, pF, mV
TAU_EX, TAU_IN = 2.0, 5.0  # ms, iaf_psc_exp_ps
RESOLUTION = 0.1  # ms; NEST's delays and refractory periods are whole steps of it
DURATION = 1000.0  # ms


def random_network(seed, ei):
    """Drives, initial states, synapses (pre, post, weight in mV, delay in ms) of one network.

    Every neuron is driven above threshold (16-19.2 mV above rest, threshold 15 mV), so it fires on its own;
    `ei`: the first 80 % of neurons excite (0.4 mV), the others inhibit (-1.6 mV), else all inhibit (-0.8 mV).
    """
    rng = np.random.default_rng(seed)
    i_e = rng.uniform(400.0, 480.0, N)  # pA
    v0 = rng.uniform(E_L, V_TH - 1.0, N)
    pre = np.concatenate([rng.choice(N, K, replace=False) for _ in range(N)])
    post = np.repeat(np.arange(N), K)
    w = np.where(pre < 4 * N // 5, 0.4, -1.6) if ei else np.full(pre.size, -0.8)
    delay = rng.integers(5, 21, pre.size) * RESOLUTION
    return i_e, v0, pre, post, w, delay


def run_nest(model, net, t_ref):
    i_e, v0, pre, post, w, delay = net
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.resolution = RESOLUTION
    params = dict(tau_m=TAU_M, C_m=C_M, E_L=E_L, V_th=V_TH, V_reset=V_RESET, t_ref=t_ref)
    if model == "iaf_psc_exp_ps":
        params.update(tau_syn_ex=TAU_EX, tau_syn_in=TAU_IN)
        w = w * C_M / TAU_M  # pA
    pop = nest.Create(model, N, params=params)
    pop.I_e, pop.V_m = i_e, v0
    ids = np.asarray(pop.tolist())
    nest.Connect(ids[pre], ids[post], "one_to_one", {"weight": w, "delay": delay})
    recorder = nest.Create("spike_recorder")
    nest.Connect(pop, recorder)
    nest.Simulate(DURATION)
    events = recorder.events
    return events["times"] * 1e-3, events["senders"] - ids[0]


def run_engine(model, net, t_ref, quantum=None):
    i_e, v0, pre, post, w, delay = net
    order = np.argsort(pre, kind="stable")
    kwargs = dict(
        tau=TAU_M * 1e-3,
        drive=i_e * TAU_M / C_M,
        threshold=V_TH - E_L,
        reset=V_RESET - E_L,
        refractory=t_ref * 1e-3,
        v_init=v0 - E_L,
        indptr=np.searchsorted(pre[order], np.arange(N + 1)),
        indices=post[order],
        weights=w[order],
        delays=delay[order] * 1e-3,
        time_quantum=quantum,
    )
    if model == "iaf_psc_exp_ps":
        kwargs.update(model="lif_exp", tau_e=TAU_EX * 1e-3, tau_i=TAU_IN * 1e-3)
    engine = EventNetwork(N, **kwargs)
    engine.run(DURATION * 1e-3)
    return engine.spike_times, engine.spike_indices


def assert_same_spikes(ours, theirs):
    (te, ie), (tn, in_) = ours, theirs
    assert te.size == tn.size > 20 * N  # about 30 Hz
    oe, on = np.lexsort((ie, te)), np.lexsort((in_, tn))
    te, ie, tn, in_ = te[oe], ie[oe], tn[on], in_[on]
    np.testing.assert_allclose(te, tn, rtol=0, atol=1e-9)
    # one instant's spikes (equal within 1e-12 s) may come in either order: compare them as sets
    instant = np.concatenate([[0], np.cumsum(np.diff(tn) > 1e-12)])
    np.testing.assert_array_equal(ie[np.lexsort((ie, instant))], in_[np.lexsort((in_, instant))])


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("ei", [False, True], ids=["inhibitory", "exc-inh"])
def test_iaf_psc_exp_ps(seed, ei):
    net = random_network(seed, ei)
    assert_same_spikes(run_engine("iaf_psc_exp_ps", net, 2.0), run_nest("iaf_psc_exp_ps", net, 2.0))


@pytest.mark.parametrize("seed", range(3))
def test_iaf_psc_delta_ps_inhibitory(seed):
    net = random_network(seed, ei=False)
    assert_same_spikes(run_engine("iaf_psc_delta_ps", net, 2.0), run_nest("iaf_psc_delta_ps", net, 2.0))


@pytest.mark.parametrize("seed", range(3))
def test_iaf_psc_delta_ps_exc_inh_with_a_time_quantum(seed):
    # excitatory kicks make spikes at arrival times, whose spikes arrive at times that coincide in exact
    # arithmetic with other arrivals and with refractory ends (delays and t_ref are whole steps of 0.1 ms);
    # NEST keeps them coincident, and so does the engine with the steps as its time quantum (without it,
    # seed 0 diverges after 417 spikes: a kick due when a refractory period ends was dropped)
    net = random_network(seed, ei=True)
    ours = run_engine("iaf_psc_delta_ps", net, 2.0, quantum=RESOLUTION * 1e-3)
    assert_same_spikes(ours, run_nest("iaf_psc_delta_ps", net, 2.0))
