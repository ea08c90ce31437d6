"""Lyapunov spectra of spiking networks with external input at fixed times (Poisson inputs, spike
generators), synaptic delays and refractoriness (brian2_sparseprop.spiking.lyapunov): the product of the
single-event Jacobians against finite differences of the event simulation, closed forms for uncoupled
neurons, the zero exponent of the time shift with delays, the sign of the spectra under input, the sum of
the exponents, the two-trajectory check with delays, refusals."""

import numpy as np
import pytest
from test_spiking_lyapunov import fd_state_jacobian

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.connectivity import fixed_out_degree
from brian2_sparseprop.spiking import largest_exponent_two_trajectories, lyapunov_spectrum
from brian2_sparseprop.spiking.lyapunov import _tangent_map
from brian2_sparseprop.spiking.standard import balanced_theta, sparse_inhibitory_lif

EPS = np.finfo(float).eps
TAU = 0.01


def _small(model, features, seed, v_init=None):
    """12 neurons, 4 random targets each, inhibitory pulses, with the ``features`` (a set of 'poisson',
    'generator', 'delays', 'refractory'); 'mixed' has LIF (two silent: drive below threshold), QIF and
    theta neurons. Input pulses are inhibitory onto LIF and QIF neurons, excitatory onto theta neurons.
    Everything is drawn from ``seed`` in a fixed order (``v_init`` replaces the drawn initial state)."""
    n = 12
    rng = np.random.default_rng(seed)
    indptr, indices = fixed_out_degree(n, 4, rng)
    w = -rng.uniform(0.1, 0.4, indices.size)
    models = {
        "mixed": np.array(["lif", "qif", "theta"] * 4),
        "lif": np.array(["lif"] * n),
        "qif": np.array(["qif"] * n),
        "theta": np.array(["theta"] * n),
    }[model]
    theta = models == "theta"
    drive = np.where(models == "lif", 1.3, np.where(theta, 0.5, 1.0))
    if model == "mixed":
        drive[[0, 3]] = 0.8  # LIF neurons that never fire (their rows are delta v)
    params = dict(model=models, drive=drive, threshold=np.where(models == "qif", 5.0, 1.0))
    params["reset"] = np.where(models == "qif", -5.0, 0.0)
    delays = rng.uniform(0.5e-3, 3e-3, indices.size)
    if "delays" in features:
        params["delays"] = delays
    if "refractory" in features:
        params["refractory"] = rng.uniform(1e-3, 3e-3, n)
    net = EventNetwork(n, tau=TAU, indptr=indptr, indices=indices, weights=w, seed=seed, **params)
    w_in = np.where(theta, 0.3, -0.05)
    if "poisson" in features:
        targets = np.arange(n)
        net.add_poisson_input(400.0, w_in, targets=targets, delay=1e-3 if "delays" in features else 0.0)
    times = np.sort(rng.uniform(0, 0.2, 40))
    sources = rng.integers(0, 3, 40)
    g_ptr, g_idx = np.arange(0, 13, 4), rng.integers(0, n, 12)  # 3 sources, 4 targets each
    if "generator" in features:
        net.add_spike_generator(
            times, sources, 3, g_ptr, g_idx, w_in[g_idx], delays=delays[:12] if "delays" in features else 0.0
        )
    lo = np.where(theta, -np.pi, np.where(models == "qif", -5.0, 0.0))
    hi = np.where(theta, np.pi, np.where(models == "qif", 5.0, 1.0))
    v = rng.uniform(lo, hi * 0.95, n)
    net.set_v(v if v_init is None else v_init)
    return net


CASES = [
    ("lif", {"poisson"}),
    ("theta", {"poisson"}),
    ("mixed", {"poisson", "generator"}),
    ("lif", {"delays"}),
    ("qif", {"delays"}),
    ("theta", {"delays"}),
    ("mixed", {"delays"}),
    ("lif", {"refractory"}),
    ("theta", {"refractory"}),
    ("mixed", {"poisson", "generator", "delays", "refractory"}),
]


@pytest.mark.parametrize(("model", "features"), CASES, ids=[f"{m}-{'+'.join(sorted(f))}" for m, f in CASES])
def test_jacobian_product_matches_finite_differences(model, features, seed):
    # d state(T) / d state(0) from the product of single-event Jacobians, against central differences of
    # the event simulation with each initial state perturbed (h small enough that no two events swap); the
    # input realisation is the same in every run (same seed), so the input events do not move
    duration, h = 0.2, 1e-7
    net = _small(model, features, seed)
    v0 = net.v
    jac = _tangent_map(net, duration, np.eye(net.n))
    ref = _small(model, features, seed)
    ref.run(duration)
    assert ref.spike_times.size > 2 * net.n  # many spikes, each neuron's Jacobians compose
    fd = fd_state_jacobian(lambda v: _small(model, features, seed, v), v0, duration, h, ref.spike_indices)
    if "refractory" in features or "delays" in features:
        assert np.abs(fd).max() > 0.1  # the inputs act (not everything is held or decayed away)
    np.testing.assert_allclose(jac, fd, rtol=0, atol=1e-6 * max(1.0, np.abs(fd).max()))


def _uncoupled_lif(seed, n=5, tref=0.0, inputs="poisson"):
    """n uncoupled LIF neurons (drives 1.1-1.5, threshold 1, reset 0), each driven by its own inhibitory
    Poisson input (or a spike generator with the same kind of train)."""
    rng = np.random.default_rng(seed)
    drive = rng.uniform(1.1, 1.5, n)
    net = EventNetwork(n, tau=TAU, drive=drive, refractory=tref, v_init=rng.uniform(0, 0.9, n), seed=seed)
    if inputs == "poisson":
        net.add_poisson_input(rng.uniform(100, 400, n), -rng.uniform(0.02, 0.1, n))
    else:
        times = np.sort(rng.uniform(0, 5.0, 400 * n))
        net.add_spike_generator(times, rng.integers(0, n, times.size), n, np.arange(n + 1), np.arange(n), -0.05)
    return net, drive


def _closed_form(net, drive, duration, tref):
    """Per neuron, sum log d / duration over the next ``duration`` of ``net``'s run (it runs on)."""
    v0, t0 = net.v, net.t
    state = net.get_state()
    ref0 = state["ref_end"] + state["clock"][0] if tref else np.full(net.n, -np.inf)
    n_before = net.spike_times.size
    net.run(duration)
    times, idx = net.spike_times[n_before:], net.spike_indices[n_before:]
    counts = np.bincount(idx, minlength=net.n)
    held = np.zeros(net.n)
    if tref:  # refractory time within [t0, t0 + duration]: after each spike, and left over at t0
        held += np.bincount(idx, weights=np.minimum(times + tref, t0 + duration) - times, minlength=net.n)
        held += np.clip(ref0 - t0, 0, None)
    log_d = counts * np.log(drive / (drive - 1)) - (duration - held) / TAU - np.log((drive - net.v) / (drive - v0))
    return log_d / duration, counts


@pytest.mark.parametrize(("tref", "inputs"), [(0.0, "poisson"), (0.002, "poisson"), (0.001, "generator")])
def test_uncoupled_lif_exponents_closed_form(seed, tref, inputs):
    # a LIF neuron's sigma is multiplied by d = g(v-)/g(v+) (g = I - v) at each input pulse at a fixed time;
    # g decays as exp(-t/tau) while the neuron is free and jumps from I - 1 to I - v_r = I at each spike.
    # So sum log d over [T0, T1] = n_spikes log(I / (I - 1)) - T_free / tau - log(g(T1) / g(T0)) with
    # T_free the time not refractory (g = I - v_r while held). One neuron: its exponent, exactly; n
    # uncoupled neurons: the sum of the exponents, exactly (the single exponents of a finite run depend
    # on the initial vectors by O(1 / duration))
    duration = 2.0
    for n in (1, 5):
        net, drive = _uncoupled_lif(seed, n=n, tref=tref, inputs=inputs)
        net.run(0.3)
        res = lyapunov_spectrum(net, duration, seed=seed, n_batches=4)  # continues net's run (same input)
        expected, counts = _closed_form(net, drive, duration, tref)
        assert counts.min() > 10
        lam = res.exponents.magnitude
        if n == 1:
            assert lam[0] == pytest.approx(expected[0], rel=1e-9)
        assert lam.sum() == pytest.approx(expected.sum(), rel=1e-9)
        assert lam.sum() == pytest.approx(res.params["log_det_rate"], rel=1e-9)
        np.testing.assert_allclose(lam, np.sort(expected)[::-1], atol=3.0 / duration)


def test_silent_lif_driven_by_input_decays_at_one_over_tau(seed):
    # a LIF neuron below threshold (drive 0.5) kicked by inhibitory input: delta v decays as exp(-t/tau)
    # whatever the fixed-time pulses (they shift v by the same amount for every perturbation)
    net = EventNetwork(3, tau=TAU, drive=0.5, seed=seed)
    net.add_poisson_input(500.0, -0.1)
    res = lyapunov_spectrum(net, 1.0, seed=seed, n_batches=4)
    np.testing.assert_allclose(res.exponents.magnitude, -1 / TAU, rtol=1e-9)


def test_inhibitory_lif_with_poisson_input_all_exponents_negative(seed):
    # with fixed external input the time shift is no longer a symmetry (the input does not move): its zero
    # exponent is gone, and an inhibitory LIF network driven by (inhibitory) Poisson input is stable in
    # every direction
    net = sparse_inhibitory_lif(100, k=20, seed=seed)
    net.add_poisson_input(200.0, -0.05)
    res = lyapunov_spectrum(net, 5.0, k=5, t_warmup=0.5, t_warmup_tangent=2.0, seed=seed)
    lam, err = res.exponents.magnitude, res.stderr.magnitude
    assert np.all(lam + 3 * err < 0)
    assert res.kaplan_yorke_dimension == 0.0 and res.entropy_rate.magnitude == 0.0


def test_theta_with_poisson_input_is_chaotic_without_zero_exponent(seed):
    # the balanced theta network driven by excitatory Poisson pulses: still chaotic, and no exponent is
    # pinned at zero (the time shift is no symmetry): the smallest |lambda_i| is many errors from 0
    net = balanced_theta(100, k=20, seed=seed)
    net.add_poisson_input(100.0, 0.2)
    res = lyapunov_spectrum(net, 5.0, t_warmup=0.5, t_warmup_tangent=1.0, seed=seed, n_batches=10)
    lam, err = res.exponents.magnitude, res.stderr.magnitude
    assert lam[0] - 3 * err[0] > 5.0
    assert res.exponents.magnitude.sum() == pytest.approx(res.params["log_det_rate"], rel=1e-9)


def test_lif_with_delays_keeps_the_zero_exponent(seed):
    # no external input: a shift of the whole run in time (the spikes in flight too) is still a symmetry;
    # the time shift's exponent is zero to the rounding of the QR steps, all others negative
    rng = np.random.default_rng(seed)
    net = sparse_inhibitory_lif(100, k=20, seed=seed, delays=rng.uniform(1e-3, 5e-3, 2000))
    res = lyapunov_spectrum(net, 5.0, k=4, t_warmup=1.0, t_warmup_tangent=5.0, seed=seed)
    lam, err = res.exponents.magnitude, res.stderr.magnitude
    assert abs(lam[0]) < 1e3 * res.k * EPS * res.params["n_qr"] / 5.0
    assert np.all(lam[1:] + 3 * err[1:] < 0)
    assert res.params["log_det_rate"] is None  # not the sum of exponents with delays (docs)


def test_lif_with_delays_time_shift_vector(seed):
    # the kept leading vector is the time shift: sigma_i = 1 / tau for every neuron (uniform)
    net = sparse_inhibitory_lif(50, k=10, seed=seed, delays=0.002, refractory=0.001)
    res = lyapunov_spectrum(net, 2.0, k=2, t_warmup=0.5, t_warmup_tangent=5.0, seed=seed, keep_vectors=True)
    np.testing.assert_allclose(np.abs(res.vectors[:, 0]), 1 / np.sqrt(50), rtol=1e-9)
    assert abs(res.exponents[0].magnitude) < 1e-10


def test_two_trajectories_agree_with_delays(seed):
    # theta network with delays: two nearby trajectories (their spikes in flight renormalised with the
    # phases) against lambda_1 of the tangent vectors, within 3 combined standard errors
    rng = np.random.default_rng(seed)
    net = balanced_theta(100, k=20, seed=seed, delays=rng.uniform(1e-3, 3e-3, 2000))
    kwargs = dict(t_warmup=0.5, t_warmup_tangent=0.5, seed=seed)
    tangent = lyapunov_spectrum(net, 5.0, k=1, **kwargs)
    pair = largest_exponent_two_trajectories(net, 5.0, **kwargs)
    diff = abs(pair.exponents[0].magnitude - tangent.exponents[0].magnitude)
    assert tangent.exponents[0].magnitude > 5.0
    assert diff < 3 * np.hypot(pair.stderr[0].magnitude, tangent.stderr[0].magnitude)


def test_spikes_in_flight_at_the_start_are_fixed_inputs(seed):
    # a network that ran with delays has spikes in flight: the copy carries them (their perturbation is 0
    # in the initial vectors); the finite differences of the continuation agree with the tangent map
    duration, h = 0.1, 1e-7
    net = _small("lif", {"delays"}, seed)
    net.run(0.03)
    while net._engine.delay_queue()["t_arr"].size == 0:  # to a time with spikes in flight
        net.run(0.0005)
    t_pre = net.t
    v0 = net.v
    jac = _tangent_map(net, duration, np.eye(net.n))

    def from_v(v):
        m = _small("lif", {"delays"}, seed)
        m.run(t_pre)
        m.set_v(v)
        return m

    fd = fd_state_jacobian(from_v, v0, duration, h)
    np.testing.assert_allclose(jac, fd, rtol=0, atol=1e-6 * max(1.0, np.abs(fd).max()))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        ("integrate", "integrate_refractory=False.*neuron 0"),
        ("lif_exp", "'lif', 'qif' and 'theta' neurons, found model 'lif_exp' for neuron 0"),
        ("stdp", "fixed weights"),
    ],
)
def test_unsupported_are_refused(make, match):
    params = dict(tau=TAU, drive=1.2, indptr=[0, 1, 2], indices=[1, 0], weights=-0.1)
    if make == "integrate":
        params.update(refractory=0.002, integrate_refractory=True)
    if make == "lif_exp":
        params.update(model="lif_exp")
    net = EventNetwork(2, **params)
    if make == "stdp":
        net.add_stdp(0.01, 0.01, 0.01, -0.01)
    with pytest.raises(NotImplementedError, match=match):
        lyapunov_spectrum(net, 1.0)


@pytest.mark.parametrize("model", ["lif", "theta"])
def test_refractory_neurons_carry_their_time_shift(model, seed):
    # a neuron held at reset at T: its v does not move, its perturbation is the end of its refractory
    # period, which moves by dt_s = -tau sigma (its sigma carried through the period): against central
    # differences of the refractory ends (the state that get_state holds)
    from brian2_sparseprop.spiking.lyapunov import _TangentRun

    h = 1e-7
    net = _small(model, {"refractory", "poisson"}, seed)
    duration = 0.2
    probe = _small(model, {"refractory", "poisson"}, seed)
    probe.run(duration)
    state = probe.get_state()
    held = np.flatnonzero(state["ref_end"] + state["clock"][0] > probe.t)
    while held.size == 0:  # to a time when some neuron is refractory
        probe.run(0.0003)
        state = probe.get_state()
        held = np.flatnonzero(state["ref_end"] + state["clock"][0] > probe.t)
    duration = probe.t
    run = _TangentRun(net, np.eye(net.n))
    run.run_chunk(duration)
    times = run.buffer[0]
    run._propagate(0, times.size, times[-1])
    run.pos = times.size
    run._reanchor(duration)
    jac = -TAU * run.Y[held]  # d ref_end / d v(0)
    fd = np.empty_like(jac)
    for k in range(net.n):
        ends = []
        for sign in (1, -1):
            v = net.v.copy()
            v[k] += sign * h
            m = _small(model, {"refractory", "poisson"}, seed, v)
            m.run(duration)
            np.testing.assert_array_equal(m.spike_indices, probe.spike_indices)
            st = m.get_state()
            ends.append(st["ref_end"][held] + st["clock"][0])
        fd[:, k] = (ends[0] - ends[1]) / (2 * h)
    assert np.abs(fd).max() > 0
    np.testing.assert_allclose(jac, fd, rtol=0, atol=1e-6 * max(TAU, np.abs(fd).max()))


def test_brian2_network_with_poisson_input_and_delays(exact, seed):
    # a network written in Brian2 (inhibitory LIF, delays, PoissonInput, refractoriness) and run with the
    # device: its spectrum continues from the end of the run with the engine's input realisation, and
    # equals that of the engine behind it, continued the same way; the Brian2 network runs on unchanged
    from brian2 import Hz, NeuronGroup, PoissonInput, Synapses, get_device, ms, run
    from brian2.core.magic import magic_network

    n = 40
    rng = np.random.default_rng(seed)
    indptr, indices = fixed_out_degree(n, 8, rng)
    G = NeuronGroup(
        n, "dv/dt = (1.2 - v) / (10*ms) : 1 (unless refractory)", threshold="v > 1", reset="v = 0",
        refractory=1 * ms, method="exact",
    )  # fmt: skip
    G.v = rng.uniform(0, 0.9, n)
    S = Synapses(G, G, "w : 1", on_pre="v_post += w")
    S.connect(i=np.repeat(np.arange(n), np.diff(indptr)), j=indices)
    S.w = -0.05
    S.delay = rng.uniform(1, 3, indices.size) * ms
    P = PoissonInput(G, "v", 10, 20 * Hz, weight=-0.02)
    run(100 * ms)
    kwargs = dict(k=3, t_warmup_tangent=1.0, seed=seed, n_batches=4)
    res = lyapunov_spectrum(magic_network, 1.0, **kwargs)
    engine = lyapunov_spectrum(get_device().exact_network().network, 1.0, **kwargs)
    np.testing.assert_array_equal(res.exponents.magnitude, engine.exponents.magnitude)
    assert np.all(res.exponents.magnitude + 3 * res.stderr.magnitude < 0)  # fixed input: no zero exponent
    assert P.N == 10  # (kept referenced: Brian2's magic network collects live objects)
    assert float(res.running_estimates.times[-1].rescale("s").magnitude) == pytest.approx(2.1)
    run(10 * ms)
    assert float(G.t / ms) == pytest.approx(110.0)
