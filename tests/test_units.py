"""Quantities of both libraries at the engine layer's boundary (issue 14, item 2): converted to SI, never
misread as SI numbers, and refused with the argument's name when their dimension is wrong."""

import pickle

import brian2
import numpy as np
import pytest
import quantities as pq

from brian2_sparseprop import EventNetwork
from brian2_sparseprop._validation import si_value


def _ring(**kw):
    args = dict(drive=[1.5, 0.5, 0.5], indptr=[0, 1, 2, 3], indices=[1, 2, 0], weights=0.6, seed=3)
    args.update(kw)
    return EventNetwork(3, **args)


def _spikes(net):
    return net.spike_times.copy(), net.spike_indices.copy()


@pytest.mark.parametrize("ms", [pq.ms, brian2.ms], ids=["quantities", "brian2"])
def test_constructor_and_run_quantities_equal_si_floats(ms):
    ref = _ring(tau=0.01, refractory=0.002, delays=0.001)
    ref.run(0.05)
    net = _ring(tau=10 * ms, refractory=2 * ms, delays=1 * ms)
    net.run(50 * ms)
    assert net.t == pytest.approx(0.05)
    assert ref.spike_times.size > 3
    np.testing.assert_array_equal(net.spike_indices, ref.spike_indices)
    np.testing.assert_allclose(net.spike_times, ref.spike_times, rtol=1e-12)


def test_run_50_ms_is_not_50_s():
    net = EventNetwork(1, tau=0.01, drive=1.1)
    net.run(50 * pq.ms)
    assert net.t == pytest.approx(0.05)
    assert net.spike_times.max() < 0.05


@pytest.mark.parametrize("lib", [pq, brian2], ids=["quantities", "brian2"])
def test_inputs_quantities_equal_si_floats(lib, seed):
    def build(rate, delay, times, period, bin_width, sample_times):
        net = EventNetwork(20, drive=0.0, seed=seed)
        net.add_poisson_input(rate=rate, weight=0.05, delay=delay)
        net.add_poisson_sources(np.full(20, 1.0) * rate, np.arange(21), np.arange(20), 0.05, delays=delay)
        net.add_spike_generator(times, [0, 0], 1, [0, 20], np.arange(20), weights=0.3, period=period)
        net.record_rate(bin_width)
        net.record_states([0, 5], sample_times)
        net.run(0.1)
        return net

    ref = build(2000.0, 0.001, [0.001, 0.002], 0.01, 0.005, [0.01, 0.02])
    net = build(2 * lib.kHz, 1 * lib.ms, np.array([1.0, 2.0]) * lib.ms, 10 * lib.ms, 5 * lib.ms, [10, 20] * lib.ms)
    np.testing.assert_array_equal(net.spike_indices, ref.spike_indices)
    np.testing.assert_allclose(net.spike_times, ref.spike_times, rtol=1e-12)
    np.testing.assert_allclose(net.rate_bins, ref.rate_bins)
    np.testing.assert_allclose(net.state_times, ref.state_times)
    assert ref.spike_times.size > 10


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: EventNetwork(1, tau=10 * pq.mV), r"tau must be a time \(a Quantity in s.*found a Quantity in mV"),
        (lambda: EventNetwork(1, tau=10 * brian2.mV), r"tau must be a time .*found: 10. mV"),
        (lambda: EventNetwork(1, tau=3 * pq.dimensionless), r"tau must be a time"),
        (lambda: EventNetwork(1, refractory=2 * pq.Hz), r"refractory must be a time"),
        (lambda: EventNetwork(2, indptr=[0, 1, 1], indices=[1], delays=1 * pq.mV), r"delays must be a time"),
        (lambda: EventNetwork(1, threshold=20 * pq.mV), r"threshold must be a plain number, found a Quantity in mV"),
        (lambda: EventNetwork(2, indptr=[0, 1, 1], indices=[1], weights=1 * brian2.mV), r"weights must be a plain"),
        (lambda: EventNetwork(1).run(5 * pq.Hz), r"duration must be a time \(a Quantity in s"),
        (lambda: EventNetwork(1).add_poisson_input(5 * pq.ms, 0.1), r"rate must be a frequency \(a Quantity in Hz"),
        (lambda: EventNetwork(1).add_poisson_input(5.0, 0.1, delay=1 * pq.Hz), r"delay must be a time"),
        (lambda: EventNetwork(1).add_poisson_sources([1] * pq.s, [0, 1], [0], 0.1), r"rates must be a frequency"),
        (lambda: EventNetwork(1).add_spike_generator([1] * pq.Hz, [0], 1, [0, 1], [0], 0.1), r"times must be a time"),
        (lambda: EventNetwork(1).record_rate(1 * pq.mV), r"bin_width must be a time"),
        (lambda: EventNetwork(1).record_states([0], [1] * pq.Hz), r"times must be a time"),
        (lambda: EventNetwork(1, tau=[10 * pq.ms]), r"tau must be a time .*found a list of Quantities"),
        (lambda: EventNetwork(1).run([50 * brian2.ms]), r"duration must be a time .*found a list of Quantities"),
    ],
)
def test_wrong_dimension_refused_naming_the_argument(build, match):
    with pytest.raises(TypeError, match=match):
        build()


def test_dimensionless_quantities_count_as_plain_numbers():
    ref = EventNetwork(1, tau=0.01, drive=1.1, threshold=1.0)
    ref.run(0.1)
    net = EventNetwork(1, tau=0.01, drive=1.1 * pq.dimensionless, threshold=(1000 * pq.mV / pq.V))
    net.run(0.1)
    np.testing.assert_array_equal(net.spike_times, ref.spike_times)


def test_quantity_arrays_convert_vectorised():
    values = np.linspace(0.0, 5.0, 10**6)
    out = si_value("delays", values * pq.ms, "time")
    assert isinstance(out, np.ndarray) and out.shape == values.shape
    np.testing.assert_allclose(out, values * 1e-3, rtol=1e-15)
    out = si_value("delays", values * brian2.ms, "time")
    np.testing.assert_allclose(out, values * 1e-3, rtol=1e-15)
    plain = np.zeros(3)
    assert si_value("delays", plain, "time") is plain  # plain values pass unchanged (copy=False keeps them)


def test_network_built_from_quantities_pickles():
    net = _ring(tau=10 * pq.ms, delays=1 * pq.ms)
    net.run(20 * pq.ms)
    copy = pickle.loads(pickle.dumps(net))
    net.run(0.03)
    copy.run(30 * pq.ms)
    np.testing.assert_array_equal(copy.spike_times, net.spike_times)
