"""The reference simulator itself, against closed forms and hand-worked event sequences."""

import numpy as np
import pytest
from closed_forms import LD, first_passage, spike_train, state_at, ulp_tolerance
from oracle import Oracle, generator_kicks, poisson_times

TAU = 0.01

# (model, v0, drive, threshold, reset): mean-driven neurons and single-shot cases of each drive regime
FIRING = [
    ("lif", 0.0, 1.05, 1.0, 0.0),
    ("lif", 0.5, 1.5, 1.0, 0.0),
    ("lif", -0.3, 3.0, 1.0, -0.5),
    ("qif", -1.0, 0.5, 1.0, -1.0),
    ("qif", 0.0, 2.0, 10.0, -2.0),
    ("qif", 0.5, 0.0, 1.0, -1.0),  # I = 0, v0 > 0: one spike, then stuck below 0
    ("qif", 0.8, -0.25, 2.0, 0.0),  # I < 0 above the unstable point 0.5: one spike, then decays
    ("theta", -np.pi, 0.5, 1.0, 0.0),
    ("theta", 0.3, 2.0, 1.0, 0.0),
    ("theta", 1.0, 0.0, 1.0, 0.0),  # I = 0, theta0 in (0, pi): one spike
    ("theta", np.pi / 2, -0.25, 1.0, 0.0),  # I < 0, tan(theta0 / 2) = 1 > 0.5: one spike
]
SILENT = [
    ("lif", 0.2, 0.9, 1.0, 0.0),
    ("qif", -0.2, 0.0, 1.0, -1.0),
    ("qif", 0.4, -0.25, 1.0, 0.0),
    ("theta", -np.pi, -0.5, 1.0, 0.0),
    ("theta", -0.5, 0.0, 1.0, 0.0),
]


@pytest.mark.parametrize("refractory", [0.0, 0.003])
@pytest.mark.parametrize("case", FIRING, ids=lambda c: f"{c[0]}-I{c[2]}-v{c[1]:.2f}")
def test_single_neuron_spike_train(case, refractory):
    model, v0, drive, threshold, reset = case
    t_stop = 0.5
    net = Oracle(
        1, model=model, tau=TAU, drive=drive, threshold=threshold, reset=reset, refractory=refractory, v_init=v0
    )
    net.run(t_stop)
    expected = spike_train(model, v0, t_stop, TAU, drive, threshold, reset, refractory)
    assert len(expected) >= 1
    assert len(net.spike_times) == len(expected)
    err = np.abs(np.asarray(net.spike_times, LD) - expected)
    assert np.all(err <= ulp_tolerance(expected, TAU))


@pytest.mark.parametrize("case", FIRING[:3] + FIRING[4:5] + FIRING[7:9], ids=lambda c: f"{c[0]}-I{c[2]}-v{c[1]:.2f}")
def test_long_double_oracle_is_about_2048_times_more_precise(case):
    # same method in extended precision: eps is 2**-63 instead of 2**-52, so the tolerance shrinks by 2**11
    model, v0, drive, threshold, reset = case
    net = Oracle(1, model=model, tau=TAU, drive=drive, threshold=threshold, reset=reset, v_init=v0, dtype=np.longdouble)
    net.run(2.0)
    expected = spike_train(model, v0, 2.0, TAU, drive, threshold, reset)
    assert len(net.spike_times) == len(expected)
    err = np.abs(np.asarray(net.spike_times, LD) - expected)
    assert np.all(err <= ulp_tolerance(expected, TAU) / 2**11)


@pytest.mark.parametrize("case", SILENT, ids=lambda c: f"{c[0]}-I{c[2]}-v{c[1]:.2f}")
def test_fluctuation_driven_neuron_is_silent_and_follows_closed_form(case):
    model, v0, drive, threshold, reset = case
    times = np.array([1e-4, 0.003, 0.02, 0.3])
    net = Oracle(1, model=model, tau=TAU, drive=drive, threshold=threshold, reset=reset, v_init=v0)
    net.run(0.5, record_times=times)
    assert net.spike_times == []
    expected = np.array([state_at(model, v0, t, TAU, drive) for t in times], LD)
    # state after a chain of closed-form steps: a few eps relative per step
    np.testing.assert_allclose(np.ravel(net.state_values).astype(LD), expected, rtol=1e-13, atol=1e-15)


def test_lif_integrate_refractory_period_is_max_of_refractory_and_passage():
    # T = tau ln(2) = 6.9 ms; refractory 10 ms > T: integrating during refractoriness, v passes threshold
    # and the neuron fires the moment the period ends, so the period is the refractory period itself
    net = Oracle(1, model="lif", tau=TAU, drive=2.0, refractory=0.01, integrate_refractory=True)
    net.run(0.1)
    expected = spike_train("lif", 0.0, 0.1, TAU, 2.0, refractory=0.01, integrate_refractory=True)
    np.testing.assert_allclose(np.asarray(net.spike_times, LD), expected, rtol=0, atol=1e-15)
    assert np.allclose(np.diff(net.spike_times), 0.01, rtol=1e-12)


def test_state_between_spikes_matches_closed_form():
    # QIF with I > 0 after its first spike: state at t is the closed form from reset at the spike time
    net = Oracle(1, model="qif", tau=TAU, drive=1.0, threshold=5.0, reset=-1.0, v_init=0.0)
    t1 = float(first_passage("qif", 0.0, TAU, 1.0, 5.0))
    probe = t1 + 0.004
    net.run(t1 + 0.005, record_times=[probe])
    assert net.spike_times == [pytest.approx(t1, rel=1e-14)]
    expected = state_at("qif", -1.0, LD(probe) - LD(net.spike_times[0]), TAU, 1.0)
    assert net.state_values[0][0] == pytest.approx(float(expected), rel=1e-12)


def two_neuron_net(weight, delay=0.0, refractory=0.0, v1=0.5):
    """Neuron 0 fires periodically (LIF, I = 1.5), neuron 1 is silent (I = 0.5) and receives its kicks."""
    return Oracle(
        2,
        model="lif",
        tau=TAU,
        drive=[1.5, 0.5],
        refractory=refractory,
        v_init=[0.0, v1],
        indptr=[0, 1, 1],
        indices=[1],
        weights=weight,
        delays=delay,
    )


def test_subthreshold_kick_and_delay_exact_in_time():
    t0 = float(first_passage("lif", 0.0, TAU, 1.5))
    delay = 1.234e-3
    probe = t0 + delay + 1e-3
    net = two_neuron_net(0.2, delay=delay)
    net.run(probe + 1e-4, record_times=[t0 + delay - 1e-9, probe])
    before = state_at("lif", 0.5, LD(t0) + LD(delay) - LD(1e-9), TAU, 0.5)
    arrival = LD(t0) + LD(delay)
    after = state_at("lif", state_at("lif", 0.5, arrival, TAU, 0.5) + LD(0.2), LD(probe) - arrival, TAU, 0.5)
    assert net.state_values[0][1] == pytest.approx(float(before), rel=1e-13)
    assert net.state_values[1][1] == pytest.approx(float(after), rel=1e-13)
    assert net.spike_indices == [0]


def test_suprathreshold_kick_fires_at_once():
    t0 = float(first_passage("lif", 0.0, TAU, 1.5))
    net = two_neuron_net(0.9)
    net.run(t0 + 1e-4)
    assert net.spike_indices == [0, 1]
    assert net.spike_times[1] == net.spike_times[0]


def test_kick_during_refractoriness_is_dropped():
    # neuron 1 (silent, I = 0.5) fires on an external kick; the kick from neuron 0 lands while it is
    # refractory and is dropped (Brian2's (unless refractory)): it restarts from its reset at the end
    t0 = float(first_passage("lif", 0.0, TAU, 1.5))
    inputs = ([t0 - 2e-3], [1], [0.6])  # external kick: v1 = 0.5 decayed + 0.6 >= 1 -> spike at t0 - 2 ms
    net = Oracle(
        2,
        model="lif",
        tau=TAU,
        drive=[1.5, 0.5],
        refractory=5e-3,
        v_init=[0.0, 0.5],
        indptr=[0, 1, 1],
        indices=[1],
        weights=1.2,
        inputs=inputs,
    )
    v_before = state_at("lif", 0.5, LD(t0) - LD(2e-3), TAU, 0.5)
    assert v_before + LD(0.6) >= 1
    net.run(t0 + 4e-3)
    assert net.spike_indices == [1, 0]
    assert net.spike_times[0] == t0 - 2e-3
    assert net.spike_times[1] == pytest.approx(t0, rel=1e-14)
    # reset 0 at the end of refractoriness (t0 + 3 ms), then 1 ms of free evolution towards 0.5
    assert float(net.v[1]) == pytest.approx(float(state_at("lif", 0.0, LD(1e-3), TAU, 0.5)), rel=1e-12)


def test_reciprocal_kicks_absorbed_by_reset():
    # 0 -> 1 -> 0, both strong and instantaneous: 0 fires, 1 fires, 1's kick back to 0 is absorbed
    net = Oracle(
        2,
        model="lif",
        tau=TAU,
        drive=[1.5, 0.5],
        v_init=[0.0, 0.5],
        indptr=[0, 1, 2],
        indices=[1, 0],
        weights=[2.0, 2.0],
    )
    t0 = float(first_passage("lif", 0.0, TAU, 1.5))
    net.run(t0 + 1e-3, record_times=[t0 + 1e-3 - 1e-12])
    assert net.spike_indices == [0, 1]
    assert net.state_values[0][0] == pytest.approx(float(state_at("lif", 0.0, LD(1e-3), TAU, 1.5)), rel=1e-9)


def test_cascade_is_breadth_first():
    # 0 kicks 2 (+0.6, crosses) then 1 (-0.3) in CSR order; 2 kicks 1 (+0.5). Breadth-first, 1 gets -0.3
    # before +0.5 and stays below threshold; depth-first it would get +0.5 first and fire.
    # neurons 1 and 2 sit at their fixed points (v = drive), so their states are known at any time
    net = Oracle(
        3,
        model="lif",
        tau=TAU,
        drive=[1.5, 0.7, 0.5],
        v_init=[0.0, 0.7, 0.5],
        indptr=[0, 2, 2, 3],
        indices=[2, 1, 1],
        weights=[0.6, -0.3, 0.5],
    )
    net.run(0.012)
    assert net.spike_indices == [0, 2]


def test_generator_kicks_are_sorted_and_stable():
    times, targets, weights = generator_kicks(
        [0.002, 0.001, 0.001],
        [0, 1, 0],
        indptr=[0, 2, 3],
        indices=[3, 4, 5],
        weights=[1.0, 2.0, 3.0],
        delays=[0.0, 0.001, 0.0],
    )
    np.testing.assert_array_equal(times, [0.001, 0.001, 0.002, 0.002, 0.003])
    np.testing.assert_array_equal(targets, [5, 3, 3, 4, 4])
    np.testing.assert_array_equal(weights, [3.0, 1.0, 1.0, 2.0, 2.0])


def test_poisson_times_rate(rng):
    times = poisson_times(rng, 1000.0, 10.0)
    # 10^4 expected events: the count is within 5 standard deviations (sqrt(10^4) = 100)
    assert abs(len(times) - 10_000) < 500
    assert np.all(np.diff(times) >= 0)
