"""Passive neurons in the engine: threshold = inf makes a 'lif' or 'lif_exp' neuron that never spikes, whose
state follows its inputs exactly (the sum of exponentially decaying kicks plus the relaxation to the drive).
QIF neurons reach infinity in finite time and keep needing a finite threshold."""

import numpy as np
import pytest

from brian2_sparseprop import EventNetwork

TAU_M, TAU_E, TAU_I = 0.02, 0.005, 0.01


def kernel(s, tau_c):
    """v(s) of tau_m dv/ds = -v + c, tau_c dc/ds = -c from v = 0, c = 1 (for s > 0; 0 before)."""
    s = np.maximum(s, 0.0)
    return tau_c / (tau_c - TAU_M) * (np.exp(-s / tau_c) - np.exp(-s / TAU_M))


def closed_form(model, t, v0, drive, kick_times, targets, weights):
    """v of each neuron (rows) at the times t (columns): relaxation from v0 to the drive plus every kick
    that arrived strictly before."""
    v = drive[:, None] + (v0 - drive)[:, None] * np.exp(-t / TAU_M)
    for tk, j, w in zip(kick_times, targets, weights):
        s = t - tk
        if model == "lif":
            v[j] += np.where(s > 0, w * np.exp(-np.maximum(s, 0.0) / TAU_M), 0.0)
        else:  # 'lif_exp': w > 0 into I_e, w < 0 into I_i
            v[j] += np.where(s > 0, w * kernel(s, TAU_E if w > 0 else TAU_I), 0.0)
    return v


@pytest.mark.parametrize(("model", "shared"), [("lif", True), ("lif", False), ("lif_exp", False)])
def test_infinite_threshold_never_spikes_and_follows_the_closed_form(model, shared, rng):
    """Drives far above any finite threshold and kicks of both signs: no spike, and v at random times
    matches the closed form to rounding."""
    n, m = 6, 40
    drive = rng.uniform(-2.0, 50.0, n)
    v0 = rng.uniform(-1.0, 30.0, n)
    times = np.sort(rng.uniform(0.0, 0.1, m))
    sources = np.arange(m)  # one source per kick
    targets = rng.integers(0, n, m)
    weights = rng.choice([-1.0, 1.0], m) * rng.uniform(0.5, 20.0, m)
    extra = dict(tau_e=TAU_E, tau_i=TAU_I) if model == "lif_exp" else {}
    net = EventNetwork(
        n, model=model, tau=TAU_M, drive=drive, threshold=np.inf, reset=0.0, v_init=v0, lif_shared_tau=shared, **extra
    )
    net.add_spike_generator(times, sources, m, np.arange(m + 1), targets, weights)
    sample = np.sort(rng.uniform(0.0, 0.12, 50))
    net.record_states(np.arange(n), sample)
    net.record_spikes()
    net.run(0.12)
    assert net.spike_times.size == 0
    expected = closed_form(model, sample, v0, drive, times, targets, weights)
    assert expected.max() > 20.0  # well above where a finite threshold would have fired
    np.testing.assert_allclose(net.state_values.T, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    np.testing.assert_allclose(
        net.v, closed_form(model, np.array([0.12]), v0, drive, times, targets, weights)[:, 0], rtol=1e-13, atol=1e-13
    )


@pytest.mark.parametrize("shared", [True, False])
def test_passive_beside_spiking_neurons(shared):
    """Per-neuron thresholds mixing inf and 1: neuron 0 (drive 1.5) fires every tau ln 3 and kicks the
    passive neuron 1 (same drive), which never fires and sums the kicks."""
    net = EventNetwork(
        2,
        tau=TAU_M,
        drive=1.5,
        threshold=[1.0, np.inf],
        reset=0.0,
        v_init=[0.0, 0.0],
        indptr=[0, 1, 1],
        indices=[1],
        weights=0.25,
        lif_shared_tau=shared,
    )
    net.run(0.1)
    period = TAU_M * np.log(3.0)
    fired = period * np.arange(1, int(0.1 / period) + 1)
    np.testing.assert_allclose(net.spike_times, fired, rtol=1e-14)
    np.testing.assert_array_equal(net.spike_indices, 0)
    expected = 1.5 * (1 - np.exp(-0.1 / TAU_M)) + 0.25 * np.exp(-(0.1 - fired) / TAU_M).sum()
    assert abs(net.v[1] - expected) < 1e-14


def test_set_params_makes_a_neuron_passive():
    """A neuron that fires on its own stops firing when its threshold becomes inf, and relaxes to its
    drive from its state then."""
    net = EventNetwork(1, tau=TAU_M, drive=2.0, threshold=1.0, reset=0.0)
    net.run(0.05)
    n_spikes = net.spike_times.size
    assert n_spikes == 3  # every tau ln 2 = 13.9 ms
    v = net.v[0]
    net.set_params(threshold=np.inf)
    net.run(0.05)
    assert net.spike_times.size == n_spikes
    assert abs(net.v[0] - (2.0 + (v - 2.0) * np.exp(-0.05 / TAU_M))) < 1e-14


def test_infinite_threshold_refused_for_qif():
    with pytest.raises(
        ValueError, match=r"threshold must be finite for 'qif' and 'eif' neurons .* found inf for neuron 1"
    ):
        EventNetwork(2, model="qif", tau=TAU_M, drive=1.0, threshold=[5.0, np.inf], reset=-5.0)
    for bad in (-np.inf, np.nan):
        with pytest.raises(ValueError, match="threshold"):
            EventNetwork(1, tau=TAU_M, drive=1.0, threshold=bad)
