"""Brian2 results to Neo (compliant, usable by Elephant) and Neo spike trains back to Brian2."""

import numpy as np
import pytest
import quantities as pq
from brian2 import (
    Hz,
    Network,
    NeuronGroup,
    PoissonInput,
    PopulationRateMonitor,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    ms,
    mV,
    prefs,
    second,
    seed as brian_seed,
    set_device,
    start_scope,
)
from brian2.devices.device import reset_device
from neo.test.tools import assert_neo_object_is_compliant

import brian2_sparseprop  # noqa: F401  (registers the device)
from brian2_sparseprop import from_neo, to_neo

elephant_statistics = pytest.importorskip("elephant.statistics")
elephant_dissimilarity = pytest.importorskip("elephant.spike_train_dissimilarity")


@pytest.fixture(params=["runtime", "sparseprop"])
def device(request, numpy_target):
    """Both Brian2's runtime (numpy target, nothing compiled) and the exact device."""
    if request.param == "sparseprop":
        set_device("sparseprop")
    start_scope()
    yield request.param
    if request.param == "sparseprop":
        reset_device()


def small_network():
    group = NeuronGroup(
        12,
        "dv/dt = (v0 - v)/(10*ms) : volt (unless refractory)\nv0 : volt",
        threshold="v > -50*mV",
        reset="v = -60*mV",
        refractory=2 * ms,
        name="cells",
    )
    group.v0 = "-48*mV - i*0.2*mV"
    group.v = -60 * mV
    syn = Synapses(group, group, on_pre="v_post += -0.5*mV", delay=1 * ms)
    syn.connect(p=0.3)
    drive = PoissonInput(group, "v", 10, 50 * Hz, weight=0.3 * mV)
    spikes = SpikeMonitor(group[2:10])
    states = StateMonitor(group, "v", record=[0, 3, 5])
    rate = PopulationRateMonitor(group)
    net = Network(group, syn, drive, spikes, states, rate)
    return net, spikes, states, rate


def test_block_is_compliant_and_matches_the_monitors(device, seed):
    brian_seed(seed)
    net, spikes, states, rate = small_network()
    net.run(100 * ms)
    block = to_neo(net)
    assert_neo_object_is_compliant(block)
    segment = block.segments[0]
    assert len(segment.spiketrains) == 8
    trains = spikes.spike_trains()
    for k, train in enumerate(segment.spiketrains):
        assert train.annotations["group"] == "cells"
        assert train.annotations["neuron_index"] == 2 + k
        assert train.annotations["simulation"] == ("exact" if device == "sparseprop" else "clock-driven")
        assert "dv/dt" in train.annotations["model"]
        assert train.t_stop == 0.1 * pq.s
        np.testing.assert_array_equal(train.rescale(pq.s).magnitude, np.asarray(trains[k] / second))
    voltage = [s for s in segment.analogsignals if s.annotations["variable"] == "v"][0]
    assert voltage.shape == (1000, 3)
    assert voltage.units == pq.V
    np.testing.assert_array_equal(voltage.array_annotations["neuron_index"], [0, 3, 5])
    np.testing.assert_allclose(voltage.magnitude.T, np.asarray(states.v / mV) * 1e-3, rtol=1e-12)
    assert voltage.sampling_period == 0.1 * pq.ms
    population = [s for s in segment.analogsignals if s.annotations["variable"] == "population_rate"][0]
    assert population.units == pq.Hz
    np.testing.assert_allclose(population.magnitude[:, 0], np.asarray(rate.rate / Hz))


def test_elephant_reads_the_trains(device, seed):
    brian_seed(seed)
    net, spikes, _, _ = small_network()
    net.run(200 * ms)
    trains = to_neo(spikes).segments[0].spiketrains
    for k, train in enumerate(trains):
        rate = elephant_statistics.mean_firing_rate(train)
        assert rate.rescale(pq.Hz).magnitude == pytest.approx(spikes.count[k] / 0.2)
    distances = elephant_dissimilarity.van_rossum_distance(trains, time_constant=5 * pq.ms)
    assert distances.shape == (8, 8)
    np.testing.assert_allclose(np.diag(distances), 0.0, atol=1e-12)


def test_round_trip_through_a_spike_generator():
    set_device("sparseprop")
    start_scope()
    try:
        group = NeuronGroup(3, "dv/dt = (I - v)/(10*ms) : 1\nI : 1", threshold="v > 1", reset="v = 0")
        group.I = [1.2, 1.5, 3.0]
        spikes = SpikeMonitor(group)
        Network(group, spikes).run(50 * ms)
        trains = to_neo(spikes).segments[0].spiketrains
        start_scope()
        replay = from_neo(trains)
        replayed = SpikeMonitor(replay)
        Network(replay, replayed).run(50 * ms)
        for k in range(3):
            np.testing.assert_array_equal(replayed.spike_trains()[k] / second, spikes.spike_trains()[k] / second)
    finally:
        reset_device()


def test_generator_period():
    trains = [
        __import__("neo").SpikeTrain([1, 4] * pq.ms, t_stop=5 * pq.ms),
        __import__("neo").SpikeTrain([2] * pq.ms, t_stop=5 * pq.ms),
    ]
    group = from_neo(trains, period=5 * ms)
    assert float(group.period / ms) == pytest.approx(5)
    np.testing.assert_array_equal(group._neuron_index, [0, 1, 0])


def test_to_neo_errors():
    prefs.codegen.target = "numpy"
    try:
        start_scope()
        group = NeuronGroup(2, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0")
        counter = SpikeMonitor(group, record=False)
        net = Network(group, counter)
        net.run(1 * ms)
        with pytest.raises(TypeError, match="to_neo takes Networks, .* found: NeuronGroup"):
            to_neo(group)
        with pytest.raises(ValueError, match="at least one monitor"):
            to_neo(Network(NeuronGroup(1, "v : 1")))
        with pytest.raises(ValueError, match="record=False"):
            to_neo(counter)
        with pytest.raises(ValueError, match=r"t_stop must be > t_start, found: t_stop = 0.001 s"):
            to_neo(counter, t_start=2 * ms)
    finally:
        prefs.codegen.target = "auto"


def test_from_neo_errors():
    with pytest.raises(ValueError, match="at least one spike train"):
        from_neo([])
    with pytest.raises(TypeError, match="found list at position 0"):
        from_neo([[1, 2]])


def test_spikes_outside_the_window_are_refused():
    prefs.codegen.target = "numpy"
    try:
        start_scope()
        generator = SpikeGeneratorGroup(1, [0], [3] * ms)
        spikes = SpikeMonitor(generator)
        Network(generator, spikes).run(5 * ms)
        with pytest.raises(ValueError, match=r"spikes outside \[t_start, t_stop\] = \[0.0, 0.002\] s"):
            to_neo(spikes, t_stop=2 * ms)
    finally:
        prefs.codegen.target = "auto"


def test_monitors_sharing_a_run_are_one_multiplexed_list(device):
    group = NeuronGroup(5, "dv/dt = (I - v)/(10*ms) : 1\nI : 1", threshold="v > 1", reset="v = 0", name="cells")
    group.I = "1.1 + 0.2*i"
    generator = SpikeGeneratorGroup(3, [2, 0, 2], [1, 2, 3] * ms, name="inputs")
    first, second_mon = SpikeMonitor(group[1:4], name="first"), SpikeMonitor(generator, name="second")
    Network(group, generator, first, second_mon).run(40 * ms)
    segment = to_neo(first, second_mon).segments[0]
    positions, times = segment.spiketrains.multiplexed  # read before any SpikeTrain is built
    assert len(segment.spiketrains) == 6
    expected = [first.spike_trains()[k] for k in range(3)] + [second_mon.spike_trains()[k] for k in range(3)]
    np.testing.assert_array_equal(np.bincount(positions, minlength=6), [len(t) for t in expected])
    np.testing.assert_array_equal(times.rescale(pq.s).magnitude, np.concatenate([t / second for t in expected]))
    block = segment.block
    assert_neo_object_is_compliant(block)
    for k, train in enumerate(segment.spiketrains):
        assert train.segment is segment
        assert train.annotations["channel_id"] == k
        assert train.annotations["monitor"] == ("first" if k < 3 else "second")
        assert train.annotations["group"] == ("cells" if k < 3 else "inputs")
        assert train.annotations["neuron_index"] == (1 + k if k < 3 else k - 3)
        np.testing.assert_array_equal(train.rescale(pq.s).magnitude, np.asarray(expected[k] / second))


def test_two_monitors_on_the_same_neurons_give_distinguishable_trains(device):
    group = NeuronGroup(4, "dv/dt = (I - v)/(10*ms) : 1\nI : 1", threshold="v > 1", reset="v = 0", name="cells")
    group.I = "1.1 + 0.3*i"
    whole, part = SpikeMonitor(group, name="whole"), SpikeMonitor(group[2:], name="part")
    Network(group, whole, part).run(30 * ms)
    trains = to_neo(whole, part).segments[0].spiketrains
    keys = [(t.annotations["monitor"], t.annotations["neuron_index"]) for t in trains]
    assert keys == [("whole", k) for k in range(4)] + [("part", 2), ("part", 3)]
    assert len({t.annotations["channel_id"] for t in trains}) == 6
    for train in trains[4:]:  # the same neuron through either monitor: the same spikes
        np.testing.assert_array_equal(train.magnitude, trains[train.annotations["neuron_index"]].magnitude)


def test_monitors_with_different_windows_keep_their_order_and_windows():
    prefs.codegen.target = "numpy"
    try:
        start_scope()
        fine = NeuronGroup(2, "dv/dt = (1.5 - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0", dt=0.1 * ms)
        coarse = NeuronGroup(3, "dv/dt = (1.5 - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0", dt=0.3 * ms)
        fine_spikes, coarse_spikes = SpikeMonitor(fine), SpikeMonitor(coarse)
        Network(fine, coarse, fine_spikes, coarse_spikes).run(31 * ms)
        block = to_neo(coarse_spikes, fine_spikes)
    finally:
        prefs.codegen.target = "auto"
    assert_neo_object_is_compliant(block)
    trains = block.segments[0].spiketrains
    assert [t.annotations["channel_id"] for t in trains] == [0, 1, 2, 3, 4]
    assert [float(t.t_stop.rescale(pq.ms).magnitude) for t in trains] == pytest.approx([31.2] * 3 + [31.0] * 2)
    for train, expected in zip(trains, [*coarse_spikes.spike_trains().values(), *fine_spikes.spike_trains().values()]):
        np.testing.assert_array_equal(train.rescale(pq.s).magnitude, np.asarray(expected / second))


def test_to_neo_at_the_demo_size():
    """S1 written as a Brian2 script at N = 10^5 (about 10^5 spikes): every train against the monitor."""
    from brian2_sparseprop.connectivity import fixed_out_degree

    n, k = 100_000, 100
    rng = np.random.default_rng(0)
    indptr, indices = fixed_out_degree(n, k, rng)
    set_device("sparseprop")
    start_scope()
    try:
        group = NeuronGroup(
            n, "dv/dt = (I - v)/tau : 1", threshold="v > 1", reset="v = 0", namespace={"I": 1.1, "tau": 10 * ms}
        )
        group.v = rng.uniform(0, 1, n)
        syn = Synapses(group, group, on_pre="v_post += w", namespace={"w": -1 / np.sqrt(k)})
        syn.connect(i=np.repeat(np.arange(n), np.diff(indptr)), j=indices.astype(np.int64))
        spikes = SpikeMonitor(group)
        Network(group, syn, spikes).run(300 * ms)
        trains = to_neo(spikes).segments[0].spiketrains
    finally:
        reset_device()
    assert len(spikes.t) > 50_000
    assert len(trains) == n
    positions, times = trains.multiplexed
    # Brian2's own per-neuron split is the reference
    np.testing.assert_array_equal(np.bincount(positions, minlength=n), spikes.count)
    expected = spikes.spike_trains()
    np.testing.assert_array_equal(
        times.rescale(pq.s).magnitude, np.concatenate([expected[i] / second for i in range(n)])
    )
    assert np.all(np.diff(positions) >= 0)
    assert trains.t_stop == 0.3 * pq.s
