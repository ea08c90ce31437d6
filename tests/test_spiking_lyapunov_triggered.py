"""Lyapunov spectra of spiking networks with pulses that trigger spikes (excitatory pulses onto LIF and QIF
neurons, recurrent and external; brian2_sparseprop.spiking.lyapunov): the product of the single-event
Jacobians against finite differences of the event simulation, the time shift and its zero exponent,
excitatory-inhibitory networks under excitatory Poisson input, directions lost exactly (-inf exponents),
and the flossing replay's refusal."""

import warnings

import numpy as np
import pytest
from test_spiking_lyapunov import fd_state_jacobian

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.connectivity import fixed_out_degree
from brian2_sparseprop.spiking import lyapunov_spectrum
from brian2_sparseprop.spiking.lyapunov import _check_supported, _tangent_map

EPS = np.finfo(float).eps
TAU = 0.01


def _small(model, drives, features, seed, v_init=None):
    """12 neurons, 4 random targets each, weights of both signs (excitatory ones trigger spikes), driven by
    excitatory Poisson input, with the ``features`` (a set of 'generator', 'delays', 'refractory').
    ``model`` 'lif' (threshold 1, reset 0) or 'qif' (threshold 5, reset -5, drive 1); ``drives`` for LIF:
    'supra' (1.2: every neuron fires on its own), 'sub' (0.8: every spike is triggered by a pulse) or
    'mixed' (alternating). Everything is drawn from ``seed`` (``v_init`` replaces the initial state)."""
    n = 12
    rng = np.random.default_rng(seed)
    indptr, indices = fixed_out_degree(n, 4, rng)
    w = rng.uniform(-0.3, 0.25, indices.size)
    if model == "lif":
        drive = {"supra": 1.2, "sub": 0.8, "mixed": np.where(np.arange(n) % 2 == 0, 1.2, 0.8)}[drives]
        params = dict(model="lif", drive=drive, threshold=1.0, reset=0.0)
        lo, hi, w_in = 0.0, 0.95, 0.08
    else:
        params = dict(model="qif", drive=1.0, threshold=5.0, reset=-5.0)
        w = 10 * w
        lo, hi, w_in = -5.0, 4.5, 1.0
    delays = rng.uniform(0.5e-3, 3e-3, indices.size)
    if "delays" in features:
        params["delays"] = delays
    if "refractory" in features:
        params["refractory"] = rng.uniform(1e-3, 3e-3, n)
    net = EventNetwork(n, tau=TAU, indptr=indptr, indices=indices, weights=w, seed=seed, **params)
    net.add_poisson_input(100.0, w_in, targets=np.arange(n))
    times = np.sort(rng.uniform(0, 0.05, 20))
    sources = rng.integers(0, 3, 20)
    g_ptr, g_idx = np.arange(0, 13, 4), rng.integers(0, n, 12)  # 3 sources, 4 targets each
    if "generator" in features:
        net.add_spike_generator(
            times, sources, 3, g_ptr, g_idx, w_in, delays=delays[:12] if "delays" in features else 0.0
        )
    v = rng.uniform(lo, hi, n)
    net.set_v(v if v_init is None else v_init)
    return net


# (model, drives, features, duration): durations short enough that not every neuron has forgotten its
# initial perturbation (a spike triggered by an input at a fixed time forgets it exactly)
CASES = [
    ("lif", "supra", set(), 0.1),
    ("lif", "mixed", set(), 0.05),
    ("lif", "sub", set(), 0.1),
    ("qif", "supra", set(), 0.1),
    ("lif", "mixed", {"delays"}, 0.05),
    ("lif", "mixed", {"generator", "delays", "refractory"}, 0.05),
    ("qif", "supra", {"generator", "delays", "refractory"}, 0.1),
]


@pytest.mark.parametrize(
    ("model", "drives", "features", "duration"),
    CASES,
    ids=[f"{m}-{d}-{'+'.join(sorted(f)) or 'plain'}" for m, d, f, _ in CASES],
)
def test_jacobian_product_matches_finite_differences(model, drives, features, duration, seed):
    # d state(T) / d state(0) from the product of single-event Jacobians (pulse-triggered spikes included),
    # against central differences of the event simulation with each initial state perturbed (h small
    # enough that no two events swap, asserted); the input realisation is the same in every run (seed)
    h = 1e-6 if model == "qif" else 1e-7  # (QIF states near threshold: rounding / h dominates at 1e-7)
    net = _small(model, drives, features, seed)
    v0 = net.v
    jac = _tangent_map(net, duration, np.eye(net.n))
    ref = _small(model, drives, features, seed)
    ref.run(duration, record_tape=True)
    kicked = np.concatenate(ref._tape).astype(bool)
    assert kicked.sum() >= 5  # spikes triggered by pulses, the case under test
    fd = fd_state_jacobian(lambda v: _small(model, drives, features, seed, v), v0, duration, h, ref.spike_indices)
    np.testing.assert_allclose(jac, fd, rtol=0, atol=1e-6 * max(1.0, np.abs(fd).max()))
    if drives != "sub":
        assert np.abs(fd).max() > 0.01  # not everything forgotten
    else:  # every spike triggered, each by an input at a fixed time: a neuron that fired forgot all
        fired = np.unique(ref.spike_indices)
        assert fired.size and np.all(jac[fired] == 0.0)
    if drives == "mixed":  # the silent neurons' states depend on the firing ones' (pulses and triggers)
        assert np.abs(fd[1::2, 0::2]).max() > 1e-3


def _exc_inh(seed, n=100, k=10, drive=1.3, w_in=0.1, inputs=True, je=0.1, ji=-0.4):
    """n LIF neurons (80 % excitatory: weight ``je``; 20 % inhibitory: ``ji``; out-degree k), drive
    ``drive``, excitatory Poisson input of 300 Hz and weight ``w_in`` per neuron (or none)."""
    rng = np.random.default_rng(seed)
    indptr, indices = fixed_out_degree(n, k, rng)
    w = np.repeat(np.where(np.arange(n) < int(0.8 * n), je, ji), k)
    net = EventNetwork(
        n, tau=TAU, drive=drive, threshold=1.0, reset=0.0, indptr=indptr, indices=indices, weights=w, seed=seed
    )
    if inputs:
        net.add_poisson_input(300.0, w_in)
    net.set_v(rng.uniform(0, 0.9, n))
    return net


def test_excitatory_inhibitory_lif_with_excitatory_poisson_input(seed):
    # most spikes are triggered by pulses (recurrent or input); the exponents are finite and descending,
    # the sum of all exponents is -inf (each triggered spike's Jacobian is singular: log_det_rate -inf)
    net = _exc_inh(seed)
    net.run(0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NaN or inf produced silently
        res = lyapunov_spectrum(net, 3.0, k=3, t_warmup_tangent=0.5, seed=seed)
    lam, err = res.exponents.magnitude, res.stderr.magnitude
    p = res.params
    assert p["n_triggered"] > 0.5 * p["n_spikes"] > 0
    assert np.all(np.isfinite(lam)) and np.all(np.isfinite(err)) and np.all(err > 0)
    assert np.all(np.diff(lam) <= 0)
    assert lam[0] > 3 * err[0]  # chaotic (measured 30-36 /s for seeds 0-2)
    assert p["log_det_rate"] == -np.inf
    # the exponents do not depend on where the QR steps are (here: after every instant, over 0.4 s)
    auto = lyapunov_spectrum(net, 0.4, k=3, t_warmup_tangent=0.5, seed=seed)
    every = lyapunov_spectrum(net, 0.4, k=3, t_warmup_tangent=0.5, seed=seed, qr_interval=1)
    np.testing.assert_allclose(every.exponents.magnitude, auto.exponents.magnitude, rtol=1e-8, atol=1e-8)


def test_full_spectrum_with_triggered_spikes(seed):
    # all n exponents of the same network: most directions are annihilated by the singular Jacobians
    # (their exponents -inf, errors NaN, without warnings), the first ones are those of the k = 3
    # computation (from other initial vectors: lambda_1 to 1e-4, the others within the errors)
    net = _exc_inh(seed)
    net.run(0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        full = lyapunov_spectrum(net, 3.0, t_warmup_tangent=0.5, seed=seed)
        few = lyapunov_spectrum(net, 3.0, k=3, t_warmup_tangent=0.5, seed=seed)
    lam, err = full.exponents.magnitude, full.stderr.magnitude
    lam3, err3 = few.exponents.magnitude, few.stderr.magnitude
    assert not np.isnan(lam).any()
    assert np.all(np.isnan(err) == np.isneginf(lam))
    assert 0 < np.isneginf(lam).sum() < full.k - 3
    assert np.all(np.isneginf(lam[np.argmax(np.isneginf(lam)) :]))  # all -inf after the first one
    np.testing.assert_allclose(lam[0], lam3[0], rtol=1e-4)  # (measured 5e-6 and 1.3e-5)
    assert np.all(np.abs(lam[:3] - lam3) < 4 * np.hypot(err[:3], err3))  # (measured up to 3.1)
    assert np.all(np.diff(lam[:3]) <= 0)
    assert full.params["log_det_rate"] == -np.inf and full.params["n_triggered"] > 0
    assert 1 < full.kaplan_yorke_dimension < np.isfinite(lam).sum()  # (measured 3.1-3.6)


def _stable(seed, n=100):
    """An autonomous network of LIF neurons with excitatory and inhibitory pulses that is not chaotic
    (inhibition-dominated, drive 1.02: most spikes are triggered by excitatory pulses)."""
    return _exc_inh(seed, n=n, drive=1.02, inputs=False, je=0.05, ji=-0.8)


def test_autonomous_lif_with_excitatory_pulses_keeps_the_zero_exponent(seed):
    # no input: the time shift is a symmetry, sigma_i = 1 / tau_i, kept exactly by every Jacobian (a
    # triggered spike takes its source's shift: -dt_s / tau_i = 1 / tau_i); in this stable network it is
    # the leading direction, so lambda_1 = 0 to the rounding of the QR steps
    net = _stable(seed)
    net.run(0.3)
    res = lyapunov_spectrum(net, 2.0, k=3, t_warmup_tangent=2.0, seed=seed)
    lam, err = res.exponents.magnitude, res.stderr.magnitude
    assert res.params["n_triggered"] > 0.5 * res.params["n_spikes"] > 0
    assert abs(lam[0]) < 1e3 * res.k * EPS * res.params["n_qr"] / 2.0
    assert np.all(lam[1:] + 3 * err[1:] < 0)


def test_time_shift_direction_is_invariant_with_triggered_spikes(seed):
    # the product of the Jacobians takes the vector field at t = 0 to the vector field at T (LIF with
    # excitatory and inhibitory pulses, most spikes triggered by pulses)
    net = _stable(seed)
    net.run(0.3, record_tape=True)
    assert np.concatenate(net._tape).sum() > 0.5 * net.spike_times.size
    field0 = (1.02 - net.v) / TAU
    out = _tangent_map(net, 0.5, field0[:, None])[:, 0]
    ref = _stable(seed)
    ref.run(0.8)
    field = (1.02 - ref.v) / TAU
    np.testing.assert_allclose(out, field, rtol=1e-8, atol=1e-8 * np.abs(field).max())  # (measured 2e-9)


def test_uncoupled_neurons_triggered_by_inputs_forget_everything(seed):
    # each neuron's spikes are triggered by its input at fixed times (drive below threshold): after its
    # first spike its perturbation is exactly 0, so every exponent is -inf, as is the log|det| rate; the
    # errors are NaN (undefined), without warnings
    n = 5
    net = EventNetwork(n, tau=TAU, drive=0.5, threshold=1.0, reset=0.0, seed=seed)
    net.add_poisson_sources(np.full(n, 100.0), np.arange(n + 1), np.arange(n), 0.7)
    net.run(0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = lyapunov_spectrum(net, 2.0, seed=seed, n_batches=4)
    assert res.params["n_triggered"] == res.params["n_spikes"] > 0
    assert np.all(res.exponents.magnitude == -np.inf)
    assert np.all(np.isnan(res.stderr.magnitude))
    assert res.params["log_det_rate"] == -np.inf


@pytest.mark.parametrize("inputs", ["recurrent", "poisson", "generator"])
def test_flossing_replay_refuses_pulses_that_trigger_spikes(inputs):
    net = EventNetwork(2, tau=TAU, drive=1.2, indptr=[0, 1, 2], indices=[1, 0], weights=-0.1)
    if inputs == "recurrent":
        net = EventNetwork(2, tau=TAU, drive=1.2, indptr=[0, 1, 2], indices=[1, 0], weights=0.1)
    elif inputs == "poisson":
        net.add_poisson_input(100.0, 0.1)
    else:
        net.add_spike_generator([0.001], [0], 1, [0, 1], [0], weights=0.1)
    with pytest.raises(NotImplementedError, match="cannot trigger a spike.*weights <= 0.*found weight 0.1"):
        _check_supported(net)
    lyapunov_spectrum(net, 0.5, n_batches=2, seed=0)  # the spectrum takes them
