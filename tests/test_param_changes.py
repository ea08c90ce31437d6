"""Changes between runs carried over exactly: EventNetwork.set_params/set_poisson/set_spike_generator and
the device, which passes a Brian2 script's changes between two run() calls to the running engine."""

import warnings

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
    Synapses,
    defaultclock,
    ms,
    run,
    second,
    seed as brian_seed,
    set_device,
    start_scope,
)
from brian2.devices.device import reset_device

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.device.device import EngineRestartWarning, exact_network_of
from brian2_sparseprop.device.recognition import _scalar_if_constant, recognise_network


def ring(seed, **kwargs):
    """20 LIF neurons, per-neuron parameters, random connectivity with delays, Poisson input."""
    rng = np.random.default_rng(seed)
    n = 20
    pre = rng.integers(0, n, 60)
    post = (pre + rng.integers(1, n, 60)) % n
    order = np.argsort(pre, kind="stable")
    indptr = np.searchsorted(pre[order], np.arange(n + 1))
    params = dict(
        tau=rng.uniform(0.008, 0.012, n),
        drive=rng.uniform(0.9, 1.3, n),
        threshold=1.0,
        reset=0.0,
        refractory=0.002,
        v_init=rng.uniform(0, 0.9, n),
        indptr=indptr,
        indices=post[order],
        weights=rng.uniform(-0.3, 0.4, 60),
        delays=rng.uniform(0.0005, 0.004, 60),
        seed=seed,
    )
    params.update(kwargs)
    net = EventNetwork(n, **params)
    net.add_poisson_input(rate=300.0, weight=0.08)
    return net


# ---------------------------------------------------------------- the engine call


def test_set_params_without_change_continues_the_run(seed):
    """Carrying the state over into a rebuilt engine changes nothing but rounding: the same spikes
    (delays in flight, refractoriness, the Poisson stream), times within 1e-12 s."""
    whole, split = ring(seed), ring(seed)
    whole.run(0.2)
    split.run(0.07)
    assert split._engine.delay_queue()["t_arr"].size > 0  # spikes in flight across the change
    split.set_params(tau=split._tau.copy(), drive=split._drive.copy())
    split.run(0.13)
    assert whole.spike_times.size > 50
    np.testing.assert_array_equal(split.spike_indices, whole.spike_indices)
    np.testing.assert_allclose(split.spike_times, whole.spike_times, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shared", [True, False])
def test_new_drive_continues_from_the_state(shared):
    """Closed form: LIF from v(t1) with the new drive; the phase is kept, not restarted."""
    net = EventNetwork(1, tau=0.01, drive=1.1, lif_shared_tau=shared)
    net.run(0.03)  # one spike at 10 ms ln 11
    t_last = net.spike_times[-1]
    v = net.v[0]
    net.set_params(drive=2.0)
    net.run(0.03)
    # from v at 30 ms with drive 2: v(t) = 2 - (2 - v) exp(-(t - 0.03)/tau) reaches 1 at
    first = 0.03 + 0.01 * np.log((2 - v) / (2 - 1))
    expected = first + 0.01 * np.log(2) * np.arange(4)
    expected = expected[expected < 0.06]
    np.testing.assert_allclose(net.spike_times[1:], expected, rtol=0, atol=1e-13)
    assert net.spike_times[0] == t_last


def test_new_threshold_below_the_state_fires_now():
    net = EventNetwork(1, tau=0.01, drive=0.9)
    net.run(0.05)  # v near 0.9, below threshold 1
    net.set_params(threshold=0.5)
    net.run(0.001)
    np.testing.assert_array_equal(net.spike_times, [0.05])


def test_refractoriness_carries_over_and_follows_a_new_period():
    def neuron():
        net = EventNetwork(1, tau=0.01, drive=1.5, refractory=0.005)
        net.run(0.012)  # spike at 10 ms ln 3 = 10.986 ms: refractory until 15.986 ms
        return net

    first = 0.01 * np.log(3)
    kept, longer, shorter = neuron(), neuron(), neuron()
    kept.set_params(drive=1.5)
    longer.set_params(refractory=0.008)
    shorter.set_params(refractory=0.0005)  # its end has passed: ends now, at 12 ms
    for net in (kept, longer, shorter):
        net.run(0.02)
    period = 0.01 * np.log(3)
    assert kept.spike_times[1] == pytest.approx(first + 0.005 + period, abs=1e-13)
    assert longer.spike_times[1] == pytest.approx(first + 0.008 + period, abs=1e-13)
    assert shorter.spike_times[1] == pytest.approx(0.012 + period, abs=1e-13)


def test_last_spike_makes_a_neuron_refractory_again():
    """Brian2's rule: refractory while t - lastspike < refractory, with the current period."""
    net = EventNetwork(1, tau=0.01, drive=1.5, refractory=0.001)
    net.run(0.013)  # spike at 10.986 ms, refractory until 11.986 ms: free again at 13 ms
    v = net.v[0]
    net.set_params(refractory=0.004, last_spike=[0.01 * np.log(3)])  # refractory again until 14.986 ms
    net.run(0.001)
    assert net.v[0] == v  # held
    net.run(0.03)
    end = 0.01 * np.log(3) + 0.004
    expected = end + 0.01 * np.log((1.5 - v) / 0.5)
    assert net.spike_times[1] == pytest.approx(expected, abs=1e-13)


def test_spikes_in_flight_arrive_with_the_new_weight():
    """Brian2's synapses read w when a spike arrives: a spike sent before the change kicks with the new w."""
    net = EventNetwork(2, tau=0.01, drive=[1.5, 0.0], indptr=[0, 1, 1], indices=[1], weights=0.2, delays=0.005)
    net.record_states([1], [0.0155, 0.0165])
    net.run(0.012)  # neuron 0 fired at 10.986 ms; its spike arrives at 15.986 ms
    net.set_params(weights=0.7)
    net.run(0.005)
    np.testing.assert_allclose(net.state_values[:, 0], [0.0, 0.7 * np.exp(-(0.0165 - 0.01 * np.log(3) - 0.005) / 0.01)])


def test_new_delays_apply_to_new_spikes():
    """Neuron 0 fires every 10 ms ln 3; its first spike arrives after 5 ms, its second after the new 1 ms."""
    period = 0.01 * np.log(3)
    net = EventNetwork(2, tau=0.01, drive=[1.5, 0.0], indptr=[0, 1, 1], indices=[1], weights=0.2, delays=0.005)
    net.record_states([1], [0.0225, 0.0235])
    net.run(0.018)  # the first spike arrived at 15.986 ms: nothing in flight
    net.set_params(delays=0.001)
    net.run(0.01)
    first = 0.2 * np.exp(-(np.array([0.0225, 0.0235]) - (period + 0.005)) / 0.01)
    second = np.array([0.0, 0.2 * np.exp(-(0.0235 - (2 * period + 0.001)) / 0.01)])
    np.testing.assert_allclose(net.state_values[:, 0], first + second, rtol=1e-12)


def test_spike_in_flight_keeps_its_delay_and_takes_the_new_weight():
    """Brian2's rule: neuron 0's first spike (10.986 ms), in flight at 12 ms, arrives after its old 5 ms
    with the new weight 0.5; its second spike (21.972 ms) takes the new delay of 1 ms."""
    period = 0.01 * np.log(3)
    net = EventNetwork(2, tau=0.01, drive=[1.5, 0.0], indptr=[0, 1, 1], indices=[1], weights=0.2, delays=0.005)
    times = [0.0155, 0.0165, 0.0225, 0.0235]
    net.record_states([1], times)
    net.run(0.012)
    assert net._engine.delay_queue()["t_arr"].size == 1
    net.set_params(delays=0.001, weights=0.5)
    net.run(0.012)
    first = np.where(np.array(times) > period + 0.005, 0.5 * np.exp(-(np.array(times) - (period + 0.005)) / 0.01), 0)
    later = np.where(
        np.array(times) > 2 * period + 0.001, 0.5 * np.exp(-(np.array(times) - 2 * period - 0.001) / 0.01), 0
    )
    np.testing.assert_allclose(net.state_values[:, 0], first + later, rtol=1e-12, atol=0)
    assert (first > 0).sum() == 3 and (later > 0).sum() == 1


def row_delays(rng, n, k, high):
    """k delays per row for n rows, each row's drawn from its own values: 0 and two below ``high`` (s)
    (values shared by several rows would let two paths of a cascade add the same delays in another
    order: times equal but for rounding, which the engine and the oracle may round apart)."""
    values = np.concatenate([np.zeros((n, 1)), rng.uniform(0.0005, high, (n, 2))], axis=1)
    return values[np.repeat(np.arange(n), k), rng.integers(0, 3, n * k)]


def mixed_delays(rng, n=12, k=5):
    """LIF neurons (all firing on their own), k synapses per neuron onto others with delays from a few
    values (0 among them, so rows hold several delay groups of several synapses), and a spike generator
    with delayed synapses (random values: sums of delays on a grid would tie with each other and with
    refractory ends but for rounding)."""
    indices = np.concatenate([rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)])
    params = dict(
        n=n,
        tau=rng.uniform(0.008, 0.012, n),
        drive=rng.uniform(1.05, 1.4, n),
        refractory=rng.uniform(0.0005, 0.0015, n),
        v_init=rng.uniform(0, 0.9, n),
        indptr=np.arange(0, n * k + 1, k),
        indices=indices,
        weights=rng.uniform(-0.3, 0.5, n * k),
        delays=row_delays(rng, n, k, 0.004),
    )
    generator = dict(
        times=np.sort(rng.uniform(0, 0.1, 40)),
        sources=rng.integers(0, 3, 40),
        n_sources=3,
        indptr=[0, 2, 4, 6],
        indices=rng.integers(0, n, 6),
        weights=rng.uniform(0.1, 0.6, 6),
        delays=rng.choice(rng.uniform(0.0005, 0.002, 2), 6),
    )
    return params, generator


def test_new_delays_with_spikes_in_flight_as_the_oracle(seed):
    """Two delay changes with spikes in flight, a weight change between them: the engine's spikes are the
    slow reference's (oracle.py, which sends a spike as one arrival per synapse at its delay then and
    reads the weight on arrival). The second change re-addresses events left by the first."""
    from oracle import Oracle, generator_kicks
    from test_engine_vs_oracle import assert_same_spikes

    rng = np.random.default_rng(seed)
    params, generator = mixed_delays(rng)
    nnz = params["indices"].size
    net = EventNetwork(**params)
    net.add_spike_generator(**generator)
    gen = {key: v for key, v in generator.items() if key != "n_sources"}
    oracle = Oracle(**params, inputs=generator_kicks(**gen, t_stop=0.12))
    changes = [
        dict(delays=row_delays(rng, params["n"], 5, 0.003)),
        dict(weights=rng.uniform(-0.3, 0.5, nnz)),
        dict(delays=row_delays(rng, params["n"], 5, 0.004)),
    ]
    # the first change once a neuron's spike in flight has a later delay group still to send, due after
    # the other two changes (0.5 and 1 ms later)
    for _ in range(200):
        net.run(0.0005)
        oracle.run(0.0005)
        queue = net._engine.delay_queue()
        d = np.broadcast_to(net._spec["delays"], (net._spec["indptr"][-1],))
        src = queue["src"]
        last = net._spec["indptr"][src + 1] - 1
        if ((src < params["n"]) & (d[last] > d[queue["syn"]]) & (queue["t_spk"] + d[last] > net.t + 0.0012)).any():
            break
    else:
        pytest.fail("no spike in flight with a later delay group in the first 100 ms")
    singles = []
    for change in changes:
        singles.append(np.count_nonzero(net._engine.delay_queue()["src"] < 0))
        net.set_params(**change)
        oracle.set_synapses(**change)
        net.run(0.0005)
        oracle.run(0.0005)
    assert singles[0] == 0 and singles[1] > 0 and singles[2] > 0  # the first change's events, still in flight
    net.run(0.08)
    oracle.run(0.08)
    assert len(oracle.spike_times) > 60
    assert_same_spikes(net, oracle, 1e-9 * params["tau"].min())
    np.testing.assert_allclose(net.v, oracle.v, rtol=1e-7, atol=1e-6)


def test_new_delays_without_spikes_in_flight_as_the_oracle(seed):
    """With nothing in flight at the change (no delay long enough to be pending), the new delays act on
    spikes sent from then on only."""
    from oracle import Oracle
    from test_engine_vs_oracle import assert_same_spikes

    rng = np.random.default_rng(seed)
    params, _ = mixed_delays(rng)
    params["delays"] = 0.0
    net, oracle = EventNetwork(**params), Oracle(**params)
    net.run(0.04)
    oracle.run(0.04)
    assert net._engine.delay_queue()["t_arr"].size == 0
    new = row_delays(rng, params["n"], 5, 0.003)
    net.set_params(delays=new)
    oracle.set_synapses(delays=new)
    net.run(0.06)
    oracle.run(0.06)
    assert len(oracle.spike_times) > 60
    assert_same_spikes(net, oracle, 1e-9 * params["tau"].min())


def test_unchanged_delays_keep_the_queue(seed):
    """Delays given again as they are: the events in flight stay as they were (groups, not synapses) and
    the run is the continuous one to rounding."""
    rng = np.random.default_rng(seed)
    params, generator = mixed_delays(rng)
    whole, split = EventNetwork(**params), EventNetwork(**params)
    whole.run(0.1)
    split.run(0.05)
    while split._engine.delay_queue()["t_arr"].size == 0:
        split.run(0.0005)
    before = split._engine.delay_queue()
    split.set_params(delays=params["delays"].copy())
    after = split._engine.delay_queue()
    for key in before:
        np.testing.assert_array_equal(np.sort(after[key]), np.sort(before[key]))
    split.run(0.1 - split.t)
    np.testing.assert_array_equal(split.spike_indices, whole.spike_indices)
    np.testing.assert_allclose(split.spike_times, whole.spike_times, rtol=0, atol=1e-12)


def test_no_tape_across_new_delays():
    """The adjoint's tape cannot span a rebuild: a run with the tape after new delays is refused."""
    net = EventNetwork(2, tau=0.01, drive=[1.5, 0.0], indptr=[0, 1, 1], indices=[1], weights=0.2, delays=0.005)
    net.run(0.012, record_tape=True)
    net.set_params(delays=0.001)
    with pytest.raises(ValueError, match="record_tape must be on from the first run"):
        net.run(0.01, record_tape=True)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(tau=[0.01, 0.01]), ValueError, r"tau must be a scalar or have shape \(3,\), found shape \(2,\)"),
        (dict(tau=-0.01), ValueError, r"tau must be > 0, found -0.01 at index 0"),
        (dict(drive=np.ones((3, 1))), ValueError, r"drive must be a scalar or have shape \(3,\)"),
        (dict(refractory=-1.0), ValueError, r"refractory must be >= 0, found -1.0"),
        (dict(threshold=np.nan), ValueError, r"threshold must be finite, found nan"),
        (dict(reset=2.0), ValueError, r"reset must be < threshold when there is no refractory period"),
        (dict(tau="fast"), TypeError, r"tau must be a real number or an array of real numbers"),
        (dict(weights=[0.1, 0.2]), ValueError, r"weights must be a scalar or have one value per synapse, shape \(3,\)"),
        (dict(delays=-0.001), ValueError, r"delays must be >= 0, found -0.001"),
        (dict(last_spike=[0.0, 0.0, 0.0]), ValueError, r"last_spike is used with a new refractory period only"),
        (dict(refractory=0.001, last_spike=[0.0]), ValueError, r"last_spike must have shape \(3,\)"),
        (dict(refractory=0.001, last_spike=[0.0, np.nan, 0.0]), ValueError, r"last_spike must be finite or -inf"),
        (dict(model="qif"), TypeError, r"unexpected keyword argument 'model'"),
    ],
)
def test_set_params_refuses_bad_input(kwargs, error, match):
    net = EventNetwork(3, drive=1.5, indptr=[0, 1, 2, 3], indices=[1, 2, 0], weights=0.1)
    net.run(0.01)
    before = net.get_state()
    with pytest.raises(error, match=match):
        net.set_params(**kwargs)
    after = net.get_state()  # nothing changed
    np.testing.assert_array_equal(after["neurons"], before["neurons"])


def test_set_params_before_the_first_run_fires_neurons_above_the_new_threshold_at_the_start():
    net = EventNetwork(2, drive=0.5, v_init=[0.5, 0.8])
    net.set_params(threshold=0.7)
    net.run(0.01)
    np.testing.assert_array_equal(net.spike_times, [0.0])
    np.testing.assert_array_equal(net.spike_indices, [1])


def test_set_poisson_rescales_the_wait_and_keeps_the_stream(seed):
    """Changing a rate to the same value changes nothing; halving it stretches the waits by two."""
    whole, same = ring(seed), ring(seed)
    whole.run(0.2)
    same.run(0.1)
    same.set_poisson(0, rates=300.0)
    same.run(0.1)
    np.testing.assert_allclose(same.spike_times, whole.spike_times, rtol=0, atol=1e-12)


@pytest.mark.parametrize("rate", [0.0, 4000.0])
def test_set_poisson_switches_input_on_and_off(rate):
    net = EventNetwork(50, drive=0.0, seed=3)
    net.add_poisson_input(rate=4000.0 - rate, weight=0.3)
    net.run(0.1)
    net.set_poisson(0, rates=rate)
    net.run(0.1)
    late = net.spike_times >= 0.1
    assert (late.sum() > 0) == (rate > 0)
    assert ((~late).sum() > 0) == (rate == 0)


def test_set_poisson_and_generator_refuse_bad_input():
    net = EventNetwork(2, drive=0.0)
    net.add_poisson_input(rate=10.0, weight=0.1)
    net.add_spike_generator([0.001], [0], 1, [0, 1], [0], weights=0.6)
    with pytest.raises(ValueError, match=r"k must be in \[0, 1\) \(the Poisson inputs added\), found: 1"):
        net.set_poisson(1, rates=1.0)
    with pytest.raises(TypeError, match="k must be an integer, found str"):
        net.set_poisson("0", rates=1.0)
    with pytest.raises(ValueError, match=r"rates must be a scalar or have shape \(2,\), found shape \(3,\)"):
        net.set_poisson(0, rates=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="rates must be >= 0, found -1.0 at index 0"):
        net.set_poisson(0, rates=-1.0)
    with pytest.raises(ValueError, match=r"sources must be in \[0, 1\), found 2"):
        net.set_spike_generator(0, [0.002], [2])
    with pytest.raises(ValueError, match=r"k must be in \[0, 1\) \(the spike generators added\), found: 3"):
        net.set_spike_generator(3, [0.002], [0])


def test_set_spike_generator_skips_the_past():
    net = EventNetwork(1, drive=0.0)
    net.add_spike_generator([0.001], [0], 1, [0, 1], [0], weights=0.6)
    net.run(0.01)
    net.set_spike_generator(0, [0.005, 0.01, 0.011], [0, 0, 0])  # 5 ms is past: skipped; 10 ms is now
    net.run(0.01)
    np.testing.assert_array_equal(net.spike_times, [0.011])


def test_pickled_network_keeps_the_recorded_poisson_inputs(seed):
    """record_poisson_events survives pickling: the copy goes on recording the same events (and keeps
    those recorded before)."""
    import pickle

    def network():
        net = EventNetwork(5, drive=0.5, seed=seed)
        net.add_poisson_input(rate=400.0, weight=0.1)
        net.add_poisson_sources([100.0, 300.0], [0, 2, 3], [1, 2, 4], weights=0.2)
        net.record_poisson_events(1)
        return net

    whole, split = network(), network()
    whole.run(0.2)
    split.run(0.1)
    copy = pickle.loads(pickle.dumps(split))
    copy.run(0.1)
    times, sources = whole.poisson_events(1)
    assert times.size > 20 and (times > 0.1).any() and (times < 0.1).any()
    for got, expected in zip(copy.poisson_events(1), (times, sources)):
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="the events of Poisson input 0 are not recorded"):
        copy.poisson_events(0)


def test_pickled_network_after_new_scalar_weights_and_delays_continues(seed):
    """One weight and one delay for all synapses, given to set_params with spikes in flight: a pickled copy
    (built again from the constructor's arguments) continues as the network does."""
    import pickle

    whole = ring(seed)
    whole.run(0.05)
    whole.set_params(weights=0.1, delays=0.002)
    copy = pickle.loads(pickle.dumps(whole))
    assert copy._engine.delay_queue()["t_arr"].size > 0
    whole.run(0.05)
    copy.run(0.05)
    np.testing.assert_array_equal(copy.spike_times, whole.spike_times)
    np.testing.assert_array_equal(copy.spike_indices, whole.spike_indices)


def test_pickled_network_after_a_change_continues(seed):
    import pickle

    whole, split = ring(seed), ring(seed)
    for net in (whole, split):
        net.run(0.05)
        net.set_params(threshold=0.95, weights=np.linspace(-0.2, 0.3, 60))
    copy = pickle.loads(pickle.dumps(split))
    whole.run(0.05)
    copy.run(0.05)
    np.testing.assert_array_equal(copy.spike_times, whole.spike_times)
    np.testing.assert_array_equal(copy.spike_indices, whole.spike_indices)


# ---------------------------------------------------------------- the device

EQUATIONS = """dv/dt = (I - v)/tau : 1 (unless refractory)
I : 1
tau : second
th : 1
vr : 1
ref : second"""


def brian_network(seed):
    """20 LIF neurons with per-neuron parameters, recurrent synapses with delays, a PoissonInput, a
    PoissonGroup and a SpikeGeneratorGroup with their own synapses."""
    rng = np.random.default_rng(seed)
    n = 20
    group = NeuronGroup(n, EQUATIONS, threshold="v > th", reset="v = vr", refractory="ref")
    group.I = rng.uniform(0.9, 1.3, n)
    group.tau = rng.uniform(8, 12, n) * ms
    group.th, group.vr, group.ref = 1.0, 0.0, 2 * ms
    group.v = rng.uniform(0, 0.9, n)
    pre = rng.integers(0, n, 60)
    post = (pre + rng.integers(1, n, 60)) % n
    syn = Synapses(group, group, "w : 1", on_pre="v_post += w")
    syn.connect(i=pre, j=post)
    syn.w = rng.uniform(-0.3, 0.4, 60)
    syn.delay = rng.uniform(0.5, 4, 60) * ms
    noise = PoissonInput(group, "v", 10, 30 * Hz, weight=0.08)
    sources = PoissonGroup(4, rates=rng.uniform(50, 150, 4) * Hz)
    from_sources = Synapses(sources, group, "w : 1", on_pre="v_post += w")
    from_sources.connect(i=rng.integers(0, 4, 30), j=rng.integers(0, n, 30))
    from_sources.w = 0.1
    generator = SpikeGeneratorGroup(3, [0, 1, 2, 0], [5, 30, 55, 80] * ms)
    from_generator = Synapses(generator, group, "w : 1", on_pre="v_post += w")
    from_generator.connect(i=[0, 1, 2, 2], j=[1, 3, 5, 7])
    from_generator.w = 0.5
    spikes = SpikeMonitor(group)
    net = Network(group, syn, noise, sources, from_sources, generator, from_generator, spikes)
    return net, dict(group=group, syn=syn, sources=sources, from_sources=from_sources, generator=generator), spikes


def engine_of(spec, seed):
    """The EventNetwork of a recognised network, as the device builds it (the engine API, no device)."""
    from brian2_sparseprop.device.device import _generator_spikes

    engine = EventNetwork(**spec.engine_kwargs(), seed=seed)
    for entry in spec.poisson_inputs:
        engine.add_poisson_input(entry["rate"], entry["weight"], targets=entry["targets"])
    for source in spec.poisson_sources:
        rates = np.asarray(source.group.variables["rates"].get_value(), dtype=float)
        engine.add_poisson_sources(rates, source.indptr, source.indices, source.weights, source.delays)
    for source in spec.spike_generators:
        times, indices, period = _generator_spikes(source.group, 0.0)
        engine.add_spike_generator(
            times, indices, len(source.group), source.indptr, source.indices, source.weights, source.delays, period
        )
    engine.record_spikes()
    return engine


def _drive(o, rng):
    o["group"].I = rng.uniform(0.9, 1.5, 20)


def _tau(o, rng):
    o["group"].tau = rng.uniform(5, 15, 20) * ms


def _threshold(o, rng):
    o["group"].th = rng.uniform(0.9, 1.0, 20)


def _reset(o, rng):
    o["group"].vr = 0.3


def _refractory(o, rng):
    o["group"].ref = rng.uniform(0.5, 5, 20) * ms


def _weights(o, rng):
    o["syn"].w = rng.uniform(-0.4, 0.4, 60)


def _source_weights(o, rng):
    o["from_sources"].w = 0.2


def _rates(o, rng):
    o["sources"].rates = rng.uniform(0, 300, 4) * Hz


def _generator(o, rng):
    o["generator"].set_spikes([1, 2, 0], [55, 62, 90] * ms)


NEURON_PARAMETERS = ("tau", "drive", "threshold", "reset", "refractory")


def _apply_to_engine(engine, before, spec, changed, last_spike):
    """The change of ``changed`` (a name of the test below) through the engine API; ``before`` holds the
    recognised neuron parameters before the change (a new tau also changes the recognised drive of
    ``dv/dt = (I - v)/tau`` by rounding: drive = (I/tau) / (1/tau))."""
    if changed in NEURON_PARAMETERS:
        new = {k: getattr(spec, k) for k in NEURON_PARAMETERS if not np.array_equal(getattr(spec, k), before[k])}
        assert changed in new
        if changed == "refractory":
            new["last_spike"] = last_spike
        engine.set_params(**new)
    elif changed == "weights":
        engine.set_params(weights=_scalar_if_constant(spec.weights))
    elif changed in ("source_weights", "rates"):
        source = spec.poisson_sources[0]
        engine.set_poisson(1, rates=source.group.variables["rates"].get_value(), weights=source.weights)
    else:
        generator = spec.spike_generators[0].group
        engine.set_spike_generator(0, generator.spike_time[:], generator.neuron_index[:], period=0.0)


CHANGES = dict(
    drive=_drive,
    tau=_tau,
    threshold=_threshold,
    reset=_reset,
    refractory=_refractory,
    weights=_weights,
    source_weights=_source_weights,
    rates=_rates,
    generator=_generator,
)


@pytest.mark.parametrize("changed", sorted(CHANGES))
def test_device_carries_a_change_over_as_the_engine_api(exact, seed, changed):
    """A Brian2 script that changes a parameter between two runs gives, bit for bit, the spikes of one
    continuous EventNetwork run with the same change made through set_params/set_poisson/set_spike_generator
    at the same time; with spikes in flight and neurons refractory at that moment."""
    net, objects, spikes = brian_network(seed)
    spec = recognise_network(net.objects)
    before = {k: np.array(getattr(spec, k)) for k in NEURON_PARAMETERS}
    brian_seed(seed)
    state = np.random.get_state()  # noqa: NPY002 (the device draws its engine seed from Brian2's generator)
    engine = engine_of(spec, int(np.random.randint(0, 2**31 - 1)))  # noqa: NPY002
    np.random.set_state(state)  # noqa: NPY002
    net.run(40 * ms)
    engine.run(0.04)
    assert engine._engine.delay_queue()["t_arr"].size > 0  # spikes in flight across the change
    last_spike = np.full(20, -np.inf)
    np.maximum.at(last_spike, engine.spike_indices, engine.spike_times)
    CHANGES[changed](objects, np.random.default_rng(seed + 100))
    _apply_to_engine(engine, before, recognise_network(net.objects), changed, last_spike)
    net.run(60 * ms)  # no EngineRestartWarning (warnings are errors)
    engine.run(0.06)
    assert engine.spike_times.size > 20
    np.testing.assert_array_equal(np.asarray(spikes.t_), engine.spike_times)
    np.testing.assert_array_equal(np.asarray(spikes.i), engine.spike_indices)


def test_device_refractoriness_across_a_change(exact):
    """A neuron refractory when its drive changes stays so until its period ends, holding the reset."""
    group = NeuronGroup(
        1, "dv/dt = (I - v)/(10*ms) : 1 (unless refractory)\nI : 1", threshold="v > 1", reset="v = 0", refractory=5 * ms
    )
    group.I = 1.5
    spikes = SpikeMonitor(group)
    run(12 * ms)  # spike at 10 ms ln 3 = 10.986 ms: refractory until 15.986 ms
    group.I = 3.0
    run(20 * ms)
    first = 0.01 * np.log(3)
    expected = [first, first + 0.005 + 0.01 * np.log(1.5)]
    np.testing.assert_allclose(np.asarray(spikes.t_)[:2], expected, rtol=0, atol=1e-13)


@pytest.mark.parametrize("restore", [False, True], ids=["running", "after-restore"])
def test_device_new_delays_from_an_input_group_in_flight(exact, restore):
    """New delays of synapses from a SpikeGeneratorGroup with a spike in flight are carried over as Brian2
    does: the spike sent at 1 ms with 5 ms arrives at 6 ms with the weight set in between, the spike sent
    at 4 ms takes the new 1 ms; no restart. After restore(), the engine is built as it was stored (spike
    in flight included) and takes the changes over like a running one."""
    source = SpikeGeneratorGroup(1, [0, 0], [1, 4] * ms)
    target = NeuronGroup(1, "dv/dt = -v/(100*second) : 1", threshold="v > 1.5", reset="v = 0")
    syn = Synapses(source, target, "w : 1", on_pre="v_post += w")
    syn.connect()
    syn.w, syn.delay = 1, 5 * ms
    spikes = SpikeMonitor(target)
    net = Network(source, target, syn, spikes)
    net.run(3 * ms)  # the spike sent at 1 ms is in flight until 6 ms
    if restore:
        net.store("mid")
        net.run(10 * ms)
        net.restore("mid")
    syn.w = 2
    syn.delay = 1 * ms
    with warnings.catch_warnings():
        warnings.simplefilter("error", EngineRestartWarning)
        net.run(10 * ms)
    np.testing.assert_allclose(np.asarray(spikes.t_), [0.005, 0.006], rtol=0, atol=1e-15)


def _poisson_script(rates_after, restore):
    """A PoissonGroup onto LIF neurons with delays; its rates change at 20 ms, directly or after a detour
    of 20 ms and a restore() (with the random state) to 20 ms."""
    start_scope()
    brian_seed(3)
    P = PoissonGroup(20, 200 * Hz)
    G = NeuronGroup(10, "dv/dt = (0.5 - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0")
    S = Synapses(P, G, "w : 1", on_pre="v_post += w")
    S.connect(p=0.5)
    S.w = "0.1 + 0.2*rand()"
    S.delay = "1*ms + 3*ms*rand()"
    spikes = SpikeMonitor(G)
    net = Network(P, G, S, spikes)
    net.run(20 * ms)
    if restore:
        net.store("mid")
        net.run(20 * ms)
        net.restore("mid", restore_random_state=True)
    P.rates = rates_after
    with warnings.catch_warnings():
        warnings.simplefilter("error", EngineRestartWarning)
        net.run(30 * ms)
    return np.asarray(spikes.t_), np.asarray(spikes.i)


def test_device_poisson_rates_changed_after_restore_as_without_the_detour(exact):
    t, i = _poisson_script(600 * Hz, restore=False)
    t_restored, i_restored = _poisson_script(600 * Hz, restore=True)
    assert (t > 0.02).sum() > 20
    np.testing.assert_array_equal(i_restored, i)
    np.testing.assert_allclose(t_restored, t, rtol=0, atol=1e-15)


def _input_synapses(rng):
    """Eight LIF neurons and two input sources with three synapses each: targets, old and new delays
    (distinct, random), weights, and the neurons' parameters."""
    n = 8
    g_indices = rng.integers(0, n, 6)
    old_d, new_d = rng.uniform(0.002, 0.006, 6), rng.uniform(0.0005, 0.003, 6)
    weights = rng.uniform(0.1, 0.5, 6)
    kw = dict(drive=rng.uniform(0.8, 1.2, n), tau=0.01, refractory=0.001)
    return n, g_indices, old_d, new_d, weights, kw


def test_new_delays_of_input_synapses_with_events_in_flight_as_the_oracle(seed):
    """EventNetwork.set_spike_generator(delays=) and set_poisson(delays=) with events in flight: the
    spikes are those of one network whose input events keep the delays they were sent with, written out
    as a spike generator of the same events (their arrival times fixed)."""
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0, 0.04, 30))
    sources = rng.integers(0, 2, 30)
    n, g_indices, old_d, new_d, weights, kw = _input_synapses(rng)
    net = EventNetwork(n, **kw)
    net.add_spike_generator(times, sources, 2, [0, 3, 6], g_indices, weights, old_d)
    t_change = 0.02
    net.run(t_change)
    assert (net._engine.delay_queue()["t_arr"] > t_change).any()  # events in flight at the change
    net.set_spike_generator(0, times, sources, delays=new_d)
    net.run(0.04)
    # the reference: every synapse's arrival, with the delay of the spike's sending time, as a generator
    # of one source per synapse and zero delay
    syn = np.concatenate([np.arange(3 * s, 3 * s + 3) for s in sources])
    sent = np.repeat(times, 3)
    arrival = sent + np.where(sent < t_change, old_d[syn], new_d[syn])
    order = np.argsort(arrival, kind="stable")
    ref = EventNetwork(n, **kw)
    ref.add_spike_generator(arrival[order], syn[order], 6, np.arange(7), g_indices, weights, 0.0)
    ref.run(0.06)
    assert ref.spike_times.size > 5
    np.testing.assert_array_equal(net.spike_indices, ref.spike_indices)
    np.testing.assert_allclose(net.spike_times, ref.spike_times, rtol=0, atol=1e-15)


def test_new_delays_of_poisson_synapses_with_events_in_flight(seed):
    """set_poisson(delays=) with events in flight: as the same recorded Poisson events replayed through a
    generator whose arrivals keep the delay of their sending time."""
    n, g_indices, old_d, new_d, weights, kw = _input_synapses(np.random.default_rng(seed))
    net = EventNetwork(n, seed=seed, **kw)
    net.add_poisson_sources([1500.0, 2500.0], [0, 3, 6], g_indices, weights, old_d)
    net.record_poisson_events(0)
    t_change = 0.02
    net.run(t_change)
    assert (net._engine.delay_queue()["t_arr"] > t_change).any()  # events in flight at the change
    net.set_poisson(0, delays=new_d)
    net.run(0.04)
    times, sources = net.poisson_events(0)
    syn = (3 * sources[:, None] + np.arange(3)).ravel()
    sent = np.repeat(times, 3)
    arrival = sent + np.where(sent < t_change, old_d[syn], new_d[syn])
    keep = arrival < 0.06
    order = np.argsort(arrival[keep], kind="stable")
    ref = EventNetwork(n, **kw)
    ref.add_spike_generator(arrival[keep][order], syn[keep][order], 6, np.arange(7), g_indices, weights, 0.0)
    ref.run(0.06)
    assert ref.spike_times.size > 5
    np.testing.assert_array_equal(net.spike_indices, ref.spike_indices)
    np.testing.assert_allclose(net.spike_times, ref.spike_times, rtol=0, atol=1e-15)


DT_EXACT = 2.0**-13  # s


def relayed(rng, shift):
    """Six relay neurons fire at even time steps (a generator's spikes, each input taking one to
    threshold), their synapses onto four targets have delays of an even number of steps and weights that
    are multiples of 0.1 (threshold 0.95, decay negligible: no sum lies near it). Between two runs, the
    delays and weights change with spikes in flight (checked with the device). ``shift`` moves the
    generator's spikes: -dt for Brian2's runtime, which fires a neuron one step after its input, so that
    its relays fire at the same steps (and its targets one step late: they are not relayed). Arrivals
    only at even steps: the runtime's reset of a target, one step after its input, takes no input away.
    dt = 2**-13 s: every time is a binary fraction, so that an arrival at spike time + delay is exactly
    at its step (with 0.1 ms, an arrival and a spike of one step could be an ulp apart: two instants).
    No delay is 0: a relay's kicks without delay would come a generation after the arrivals of its
    instant here (a cascade), in the same step there.
    Returns dt and the time of the change (s), the spikes of the relays and of the targets."""
    start_scope()
    dt = DT_EXACT * second
    defaultclock.dt = dt
    n_relay, n_target, per_relay = 6, 4, 12
    steps = np.concatenate([2 * rng.choice(np.arange(1, 500), per_relay, replace=False) for _ in range(n_relay)])
    G = SpikeGeneratorGroup(n_relay, np.repeat(np.arange(n_relay), per_relay), steps * dt + shift)
    eqs = "dv/dt = -v/(100*second) : 1"
    R = NeuronGroup(n_relay, eqs, threshold="v > 1", reset="v = 0", method="exact")
    H = NeuronGroup(n_target, eqs, threshold="v > 0.95", reset="v = 0", method="exact")
    GR = Synapses(G, R, on_pre="v_post += 2")
    GR.connect(j="i")
    S = Synapses(R, H, "w : 1", on_pre="v_post += w")
    S.connect()
    weights = [-0.3, -0.2, -0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    S.w = rng.choice(weights, len(S))
    S.delay = rng.choice([2, 6, 10, 16], len(S)) * dt
    relays, targets = SpikeMonitor(R), SpikeMonitor(H)
    net = Network(G, R, H, GR, S, relays, targets)
    split = (np.sort(steps)[steps.size // 2] + 1) * dt  # one step after the median relay spike
    net.run(split)
    if shift == 0 * ms:
        engine, _ = exact_network_of(net)
        assert engine._engine.delay_queue()["t_arr"].size > 0
    S.w = rng.choice(weights, len(S))
    S.delay = rng.choice([4, 8, 12], len(S)) * dt
    net.run(1024 * dt - split)
    return float(split), (np.array(relays.t_), np.array(relays.i[:])), (np.array(targets.t_), np.array(targets.i[:]))


def test_device_new_delays_in_flight_as_brian2_runtime(numpy_target, seed):
    """A script that changes S.delay and S.w between two runs while spikes are in flight: the device's
    spikes are those of Brian2's runtime, whose queue delivers a spike with the delays it was sent with
    and the weights current at arrival (relays at the same times, targets one step earlier)."""
    results = []
    for device, shift in (("sparseprop", 0 * ms), ("runtime", -DT_EXACT * second)):
        set_device(device)
        try:
            results.append(relayed(np.random.default_rng(seed), shift))
        finally:
            reset_device()
    (split, *exact_spikes), (_, *runtime_spikes) = results
    for (t, i), (t_rt, i_rt), lag in zip(exact_spikes, runtime_spikes, (0.0, DT_EXACT)):
        # simultaneous spikes sorted by index (each simulator records them in its own order)
        order, order_rt = np.lexsort((i, t)), np.lexsort((i_rt, t_rt))
        np.testing.assert_array_equal(i[order], i_rt[order_rt])
        np.testing.assert_array_equal(t[order] + lag, t_rt[order_rt])
    assert (exact_spikes[1][0] > split).sum() >= 3


def test_device_new_delays_without_spikes_in_flight(exact):
    source = SpikeGeneratorGroup(1, [0, 0], [1, 4] * ms)
    target = NeuronGroup(1, "dv/dt = -v/(100*second) : 1", threshold="v > 0.5", reset="v = 0")
    syn = Synapses(source, target, "w : 1", on_pre="v_post += w")
    syn.connect()
    syn.w, syn.delay = 1, 1 * ms
    spikes = SpikeMonitor(target)
    run(3 * ms)  # the first spike arrived at 2 ms
    syn.delay = 0.5 * ms
    run(10 * ms)
    np.testing.assert_allclose(np.asarray(spikes.t_), [0.002, 0.0045], rtol=0, atol=1e-15)


def test_device_change_against_brian2_runtime():
    """Sanity check against Brian2's runtime at dt = 0.01 ms: new drive, threshold and refractory period
    of a periodic neuron between runs; inter-spike intervals agree within two time steps."""
    results = []
    for device in ("sparseprop", "runtime"):
        set_device(device)
        start_scope()
        defaultclock.dt = 0.01 * ms
        group = NeuronGroup(
            1,
            "dv/dt = (I - v)/(10*ms) : 1 (unless refractory)\nI : 1\nth : 1\nref : second",
            threshold="v > th",
            reset="v = 0",
            refractory="ref",
            method="exact",
        )
        group.I, group.th, group.ref = 1.5, 1.0, 2 * ms
        spikes = SpikeMonitor(group)
        run(25 * ms)
        group.I, group.th, group.ref = 2.5, 1.2, 4 * ms
        run(40 * ms)
        results.append(np.asarray(spikes.t_))
        reset_device()
    exact_times, runtime_times = results
    assert len(exact_times) == len(runtime_times) == 5  # 2 before the change, 3 after
    # the runtime stamps a spike at the start of its step and rounds every interval up to whole steps:
    # each interval within two steps (an error that accumulates over the spikes)
    assert abs(exact_times[0] - runtime_times[0]) < 2e-5
    np.testing.assert_allclose(np.diff(exact_times), np.diff(runtime_times), rtol=0, atol=2e-5)


def test_set_spike_generator_takes_new_weights():
    net = EventNetwork(1, tau=0.01, drive=0.0)
    net.add_spike_generator([0.002, 0.007], [0, 0], 1, [0, 1], [0], weights=0.5)
    net.run(0.005)
    net.set_spike_generator(0, [0.002, 0.007], [0, 0], weights=2.0)  # the spike at 7 ms kicks by 2 and fires
    net.run(0.005)
    np.testing.assert_array_equal(net.spike_times, [0.007])


@pytest.mark.parametrize("call", ["set_params", "set_poisson", "set_spike_generator"])
def test_networks_with_currents_are_refused(call):
    # the currents of 'lif_exp' neurons are not carried over by the rebuild yet: refused before any change
    net = EventNetwork(2, model="lif_exp", tau=0.01, drive=0.5, tau_e=0.005)
    net.add_poisson_input(100.0, 0.1)
    net.add_spike_generator([0.001], [0], 1, [0, 1], [1], weights=0.1)
    net.run(0.01)
    args = {"set_params": ((), dict(drive=0.6)), "set_poisson": ((0,), dict(rates=50.0))}
    args["set_spike_generator"] = ((0, [0.02], [0]), {})
    a, kw = args[call]
    match = f"{call} is implemented for networks of 'lif', 'qif', 'theta' and 'linear'"
    with pytest.raises(NotImplementedError, match=match):
        getattr(net, call)(*a, **kw)
    assert net._config["drive"] == 0.5


@pytest.mark.parametrize("copy", [True, False])
def test_new_weights_are_taken_in_the_order_of_indices_after_rows_were_sorted_by_delay(seed, copy):
    """The engine sorts each row by delay; weights given to set_params stay in the order of ``indices``
    (a run with the weights set again to their values is the continuous run, to rounding)."""
    rng = np.random.default_rng(seed)
    n, k = 10, 4
    indices = np.concatenate([rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)])
    weights = rng.uniform(-0.5, 0.6, n * k)
    kw = dict(
        drive=rng.uniform(1.05, 1.3, n),
        tau=0.01,
        indptr=np.arange(0, n * k + 1, k),
        indices=indices.astype(np.int32),
        weights=weights,
        delays=rng.uniform(0.001, 0.004, n * k),
        seed=seed,
        copy=copy,
    )
    whole, split = EventNetwork(n, **kw), EventNetwork(n, **kw)
    whole.run(0.12)
    split.run(0.06)
    split.set_params(weights=weights.copy())
    split.run(0.06)
    assert whole.spike_times.size > 20
    np.testing.assert_array_equal(split.spike_indices, whole.spike_indices)
    np.testing.assert_allclose(split.spike_times, whole.spike_times, rtol=0, atol=1e-15)
