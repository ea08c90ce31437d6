"""Inputs that were accepted silently (issue 14, item 5) are refused or warned about, each by a stated
rule; `to_neo(t_start=...)` cuts the spike trains; two monitors on the same neurons stay distinguishable."""

import warnings

import numpy as np
import pytest
import quantities as pq
from brian2 import Network, SpikeGeneratorGroup, SpikeMonitor, ms, prefs, start_scope
from neo.test.tools import assert_neo_object_is_compliant

from brian2_sparseprop import from_neo, to_neo
from brian2_sparseprop.rate.learning import RecursiveLeastSquares
from brian2_sparseprop.rate.lyapunov import RNN, lyapunov_spectrum, random_coupling
from brian2_sparseprop.rate.meanfield import periodic_dmft


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        ([np.nan, 1.0], [0.0], "x must be finite"),
        ([1.0, 1.0], [np.inf], "y must be finite"),
    ],
)
def test_rls_update_refuses_non_finite_samples_and_keeps_its_weights(x, y, match):
    rls = RecursiveLeastSquares(2, 1, W0=[[1.0, 2.0]])
    with pytest.raises(ValueError, match=match):
        rls.update(np.array(x), np.array(y))
    np.testing.assert_array_equal(rls.weights, [[1.0, 2.0]])
    np.testing.assert_array_equal(rls.P, np.eye(2))


def test_lyapunov_spectrum_refuses_more_batches_than_intervals(seed):
    net = RNN(random_coupling(10, 2.0, rng=seed))
    with pytest.raises(
        ValueError, match=r"n_batches = 20 batch means need at least 20 measured intervals, found .* 10"
    ):
        lyapunov_spectrum(net, 10, rng=seed)
    with pytest.raises(ValueError, match=r"n_batches = 8 .* found n_steps // reorth_interval = 5"):
        lyapunov_spectrum(net, 10, reorth_interval=2, n_batches=8, rng=seed)
    res = lyapunov_spectrum(net, 10, n_batches=10, rng=seed)  # one interval per batch is the least allowed
    assert np.all(np.isfinite(res.stderr.magnitude))


def test_periodic_dmft_says_when_it_changes_dt():
    with pytest.warns(RuntimeWarning, match=r"dt = 3.0 does not divide the input period 1/f = 5 .* using dt = 2.5"):
        sol = periodic_dmft(2.0, 0.0, 0.2, N=1000, dt=3.0, t_transient=5.0, t_measure=5.0)
    assert sol.parameters["dt_tau"] == 2.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a dt that divides the period is used as given, without a word
        sol = periodic_dmft(2.0, 0.0, 0.2, N=1000, dt=0.5, t_transient=5.0, t_measure=5.0)
    assert sol.parameters["dt_tau"] == 0.5


@pytest.fixture
def numpy_target():
    prefs.codegen.target = "numpy"
    start_scope()
    yield
    prefs.codegen.target = "auto"


def _generator_run():
    generator = SpikeGeneratorGroup(2, [0, 1, 0, 1], [1, 2, 3, 4] * ms)
    first, second = SpikeMonitor(generator, name="first"), SpikeMonitor(generator, name="second")
    Network(generator, first, second).run(5 * ms)
    return first, second


@pytest.mark.parametrize("t_start", [2.5 * ms, 2.5 * pq.ms, 0.0025], ids=["brian2", "quantities", "seconds"])
def test_to_neo_t_start_cuts_the_trains(numpy_target, t_start):
    first, _ = _generator_run()
    block = to_neo(first, t_start=t_start)
    assert_neo_object_is_compliant(block)
    trains = block.segments[0].spiketrains
    assert [t.t_start for t in trains] == [0.0025 * pq.s] * 2
    np.testing.assert_allclose(trains[0].rescale(pq.ms).magnitude, [3.0])
    np.testing.assert_allclose(trains[1].rescale(pq.ms).magnitude, [4.0])


def test_to_neo_times_of_the_wrong_kind_are_refused(numpy_target):
    first, _ = _generator_run()
    with pytest.raises(TypeError, match=r"t_start must be a time \(a Quantity in s.*found a Quantity in mV"):
        to_neo(first, t_start=1 * pq.mV)
    with pytest.raises(TypeError, match=r"t_stop must be a time"):
        to_neo(first, t_stop=5 * pq.Hz)
    with pytest.raises(TypeError, match=r"period must be a time"):
        from_neo(to_neo(first).segments[0].spiketrains, period=5 * pq.Hz)


def test_from_neo_period_as_quantities_or_seconds(numpy_target):
    first, _ = _generator_run()
    trains = to_neo(first).segments[0].spiketrains
    assert float(from_neo(trains, period=5 * pq.ms).period / ms) == pytest.approx(5)
    assert float(from_neo(trains, period=0.005, name="g2").period / ms) == pytest.approx(5)


def test_two_monitors_on_the_same_neurons_stay_distinguishable(numpy_target):
    first, second = _generator_run()
    trains = to_neo(first, second).segments[0].spiketrains
    assert len(trains) == 4
    labels = [(t.annotations["monitor"], t.annotations["neuron_index"]) for t in trains]
    assert labels == [("first", 0), ("first", 1), ("second", 0), ("second", 1)]
    assert [t.annotations["channel_id"] for t in trains] == [0, 1, 2, 3]
