"""Events that coincide in exact arithmetic are one instant: the time quantum (issue 13 item 7b).

With ``time_quantum=q`` every delay and refractory period is a whole number of quanta and the engine carries
derived times as (whole quanta, offset) pairs, so that times equal in exact arithmetic are the same double
(see "Coincident events" in cython_src/_engine.pyx). Tested: the rule's effect where floating point would
decide otherwise, both directions (coincident events are one instant, events 3e-15 s apart are not), long
runs across the engine's epoch shifts, state carried over by set_params and pickling, and refusals.
"""

import pickle

import numpy as np
import pytest

from brian2_sparseprop import EventNetwork

MS = 1e-3


def ping_pong(t0, quantum, duration=5.0, delay=1 * MS, refractory=2 * MS):
    """Two silent neurons that kick each other over threshold, started by one generator spike at t0: each
    kick arrives when its target's refractory period ends, in exact arithmetic."""
    net = EventNetwork(
        2,
        tau=10 * MS,
        drive=0.0,
        refractory=refractory,
        indptr=[0, 1, 2],
        indices=[1, 0],
        weights=1.5,
        delays=delay,
        time_quantum=quantum,
    )
    net.add_spike_generator([t0], [0], 1, [0, 1], [0], 1.5)
    return net


@pytest.mark.parametrize("quantum", [0.1 * MS, 1 * MS, 2.0**-14])
def test_a_kick_at_the_end_of_refractoriness_is_taken_however_the_times_round(seed, quantum):
    # the activity goes on, one spike per millisecond from t0, across the epoch shifts of a 5 s run; without
    # the quantum it stops where (t + 0.001) + 0.001 rounds below t + 0.002 (measured: after 5 to 1001 spikes)
    delay = 1 * MS if quantum != 2.0**-14 else 16 * quantum
    for t0 in np.random.default_rng(seed).uniform(0, 10 * MS, 10):
        net = ping_pong(t0, quantum, delay=delay, refractory=2 * delay)
        net.run(5.0)
        expected = np.floor((5.0 - t0) / delay) + 1
        assert net.spike_times.size in (expected, expected + 1)  # the last may fall a rounding either side of 5 s
        np.testing.assert_allclose(np.diff(net.spike_times), delay, rtol=0, atol=1e-12)
        assert np.array_equal(net.spike_indices[:4], [0, 1, 0, 1])


def test_without_a_quantum_rounding_decides():
    # the failure that the quantum removes (issue 13 item 7b), as a check that the test above can fail
    stopped = 0
    for t0 in np.random.default_rng(0).uniform(0, 10 * MS, 10):
        net = ping_pong(t0, None)
        net.run(5.0)
        stopped += net.spike_times.size < 4000
    assert stopped > 0


@pytest.mark.parametrize("offset", [-3e-15, 0.0, 3e-15], ids=["before", "at", "after"])
def test_events_apart_by_a_rounding_step_stay_apart(offset):
    # neuron 0 fires at 4 ms (a grid kick) and is refractory until 6 ms exactly; a kick sent at
    # 5 ms + offset arrives 1 ms later: before the end it is dropped, at or after the end it is taken
    q = 0.1 * MS
    net = EventNetwork(1, tau=10 * MS, drive=0.0, refractory=2 * MS, time_quantum=q)
    net.add_spike_generator([4 * MS, 5 * MS + offset], [0, 1], 2, [0, 1, 2], [0, 0], [1.5, 1.5], delays=[0, 1 * MS])
    net.run(20 * MS)
    t = net.spike_times
    if offset < 0:
        np.testing.assert_array_equal(t, [4 * MS])
    else:
        assert t.size == 2 and t[1] == pytest.approx(6 * MS + offset, abs=1e-18)
        assert t[1] - 6 * MS == pytest.approx(offset, abs=2e-18)  # the distinct time is kept, not snapped


def test_generator_times_on_the_grid_coincide_with_derived_times():
    # a generator spike given at 3 ms and one derived from a spike at 1 ms through 0.7 + 1.3 ms meet exactly:
    # their kicks (+0.7, -0.6) are summed before the threshold test (0.5 + 0.1 < 1: no spike); at 0.2 ms
    # delays give (0.1 + 0.2 * 3) + ... in floating point, 0.7000000000000001 ms
    q = 0.1 * MS
    for d1, d2 in [(0.7 * MS, 1.3 * MS), (0.3 * MS, 1.7 * MS), (1.1 * MS, 0.9 * MS)]:
        net = EventNetwork(
            2,
            tau=1.0,
            drive=[0.0, 0.5],
            v_init=[0.0, 0.5],
            indptr=[0, 1, 1],
            indices=[1],
            weights=-0.6,
            delays=d2,
            time_quantum=q,
        )
        # source 0 kicks neuron 0 over threshold at 1 ms + d1; source 1 kicks neuron 1 by +0.7 at 3 ms
        net.add_spike_generator([1 * MS, 3 * MS], [0, 1], 2, [0, 1, 2], [0, 1], [1.5, 0.7], delays=[d1, 0.0])
        net.run(10 * MS)
        assert net.spike_indices.tolist() == [0], (d1, d2)


def test_state_carries_over_set_params_and_pickling():
    # a split run with a parameter change that changes nothing, and a pickled copy, go on bit for bit
    full = ping_pong(0.00637, 0.1 * MS)
    full.run(3.0)
    split = ping_pong(0.00637, 0.1 * MS)
    split.run(1.2345)
    split.set_params(refractory=2 * MS)  # rebuilds the engine from the running one's state
    copy = pickle.loads(pickle.dumps(split))
    split.run(3.0 - split.t)
    copy.run(3.0 - copy.t)
    np.testing.assert_array_equal(split.spike_times, full.spike_times)
    np.testing.assert_array_equal(copy.spike_times, full.spike_times)


def test_a_new_refractory_period_keeps_the_pairs():
    # refractoriness lengthened mid-run to 3 ms: the kick at the old end is now dropped and the activity
    # stops; shortened back, the next start goes on with one spike per ms
    net = ping_pong(0.00637, 0.1 * MS)
    net.run(0.5)
    n = net.spike_times.size
    net.set_params(refractory=3 * MS)
    net.run(0.1)
    assert net.spike_times.size <= n + 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(time_quantum=0.0), "time_quantum must be > 0"),
        (dict(time_quantum=-1e-4), "time_quantum must be > 0"),
        (dict(time_quantum=0.3 * MS, delays=1 * MS), "delays 0.001 s"),
        (dict(time_quantum=0.3 * MS, refractory=1 * MS, delays=0.0), "refractory 0.001 s"),
    ],
)
def test_refusals(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EventNetwork(2, indptr=[0, 1, 1], indices=[1], weights=0.1, **kwargs)


def test_input_delays_off_the_grid_are_refused_before_the_run():
    net = EventNetwork(2, time_quantum=0.1 * MS)
    net.add_spike_generator([1 * MS], [0], 1, [0, 1], [0], 0.5, delays=0.25 * MS)
    with pytest.raises(ValueError, match=r"delays 0\.00025 s = 2\.5"):
        net.run(0.01)
    assert net.t == 0.0


@pytest.mark.parametrize("quantum", [None, 0.1 * MS])
def test_one_neuron_refractory_across_an_epoch_shift(quantum):
    # per-neuron arrays of length n and shared ones of length 1 look alike when n = 1: the refractory end of
    # a neuron refractory when the engine's epoch moves on (at the first event after 2 s) must be carried
    # over as it is (it was reset to the epoch's start when there was no quantum, so that the kick at
    # 2.0005 s, due while the neuron is refractory until 2.0015 s, was taken and fired it)
    spikes = []
    for n in (1, 2):
        net = EventNetwork(n, tau=10 * MS, drive=0.0, refractory=2 * MS, time_quantum=quantum)
        net.add_spike_generator([1.9995, 2.0005, 2.003], [0, 0, 0], 1, [0, 1], [0], 1.5)
        net.run(3.0)
        spikes.append(net.spike_times)
    np.testing.assert_allclose(spikes[0], [1.9995, 2.003], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(spikes[0], spikes[1])


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda net: net.set_params(delays=0.25 * MS), r"delays 0\.00025 s = 2\.5"),
        (lambda net: net.set_params(refractory=0.25 * MS), r"refractory 0\.00025 s = 2\.5"),
        (lambda net: net.set_poisson(0, delays=0.25 * MS), r"delays 0\.00025 s = 2\.5"),
        (lambda net: net.set_spike_generator(0, [30 * MS], [0], delays=0.25 * MS), r"delays 0\.00025 s = 2\.5"),
    ],
    ids=["delays", "refractory", "poisson", "generator"],
)
def test_new_values_off_the_grid_are_refused_and_nothing_changes(change, match):
    """New delays or refractory periods off the grid between runs: refused before anything changes, so
    that the network runs on as the same network that was never changed (and a later change of another
    parameter does not build an engine with them)."""

    def ring():
        net = EventNetwork(3, drive=1.2, indptr=[0, 1, 2, 3], indices=[1, 2, 0], weights=0.3, delays=1 * MS,
                           refractory=2 * MS, time_quantum=0.1 * MS, seed=3)  # fmt: skip
        net.add_poisson_input(500.0, 0.05)
        net.add_spike_generator([12 * MS], [0], 1, [0, 1], [2], 0.5, delays=0.5 * MS)
        net.run(0.01)
        return net

    net, ref = ring(), ring()
    with pytest.raises(ValueError, match=match):
        change(net)
    for m in (net, ref):
        m.set_params(drive=1.3)
        m.run(0.05)
    assert ref.spike_times.size > 10
    np.testing.assert_array_equal(net.spike_indices, ref.spike_indices)
    np.testing.assert_array_equal(net.spike_times, ref.spike_times)
