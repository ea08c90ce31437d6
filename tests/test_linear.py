"""Linear neuron models (model="linear"): closed forms, 40-digit references, grazing crossings, networks
against an independent slow reference (tests/linear_oracle.py), bad input."""

import mpmath as mp
import numpy as np
import pytest
from linear_oracle import oracle_for, random_net
from scipy.linalg import expm

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.spiking.linear import LinearModel


def augmented(model, i=0, n=1):
    """The augmented matrix M (y = (1, x)), c, theta of neuron i of a model."""
    A, b, theta, reset, x0 = model.per_neuron(n)
    d = b.shape[1]
    M = np.zeros((d + 1, d + 1))
    M[1:, 1:], M[1:, 0] = A[i], b[i]
    return M, np.concatenate([[0.0], model.c]), theta[i]


def mp_crossing(M, y0, c, theta, a, b, dps=40):
    """The zero of c . exp(s M) y0 - theta in [a, b] (a sign change there) to `dps` digits."""
    with mp.workdps(dps):
        Mm, y, cr = mp.matrix(M.tolist()), mp.matrix([float(v) for v in y0]), mp.matrix([list(c)])

        def f(s):
            return (cr * mp.expm(Mm * s) * y)[0] - theta

        fa, fb = f(mp.mpf(a)), f(mp.mpf(b))
        assert fa < 0 <= fb, (fa, fb)
        return float(mp.findroot(f, (mp.mpf(a), mp.mpf(b)), solver="anderson"))


def float_bracket(M, y0, c, theta, span, n=20001):
    """The grid cell (in float64, scipy's expm) of the first sign change of f, or None."""
    s = np.linspace(0, span, n)
    E1 = expm(M * (span / (n - 1)))
    y, f = np.array(y0, float), []
    for _ in s:
        f.append(c @ y - theta)
        y = E1 @ y
    above = np.flatnonzero(np.array(f) >= 0)
    return None if above.size == 0 else (s[above[0] - 1], s[above[0]])


def first_spike(model, v_init, **kw):
    net = EventNetwork(1, model="linear", linear=model, v_init=[v_init], **kw)
    net.run(0.5)
    return net.spike_times[0] if net.spike_times.size else np.inf


# ----------------------------------------------------------------------------- single neurons, 40 digits
@pytest.mark.parametrize("ratio", [1.0, 1 + 1e-13, 1 - 1e-13, 1 + 1e-9, 1 - 1e-9, 0.5, 3.0])
@pytest.mark.parametrize("seed", range(3))
def test_alpha_first_spike_to_40_digits(ratio, seed):
    """LIF with alpha currents (tau_r = tau_s, a double eigenvalue; tau_s = tau a triple one, and near it):
    the first spike from a random state agrees with a 40-digit solution to a few ulps."""
    rng = np.random.default_rng(seed)
    tau = 0.01 * (1 + rng.random())
    m = LinearModel.lif_alpha(
        tau,
        tau * ratio,
        drive=rng.uniform(0, 0.9),
        threshold=1.0,
        init={"g": rng.uniform(1, 3), "I": rng.uniform(-0.5, 1)},
    )
    v0 = rng.uniform(-0.5, 0.5)
    t = first_spike(m, v0)
    M, c, theta = augmented(m)
    y0 = [1.0, float(m.init[0]), float(m.init[1]), v0]
    br = float_bracket(M, y0, c, theta, 0.2)
    if br is None:
        assert t == np.inf
        return
    ref = mp_crossing(M, y0, c, theta, *br)
    assert abs(t - ref) <= 8 * np.spacing(ref), (t, ref, t - ref)


@pytest.mark.parametrize("seed", range(5))
def test_adaptive_threshold_first_spike_to_40_digits(seed):
    rng = np.random.default_rng(seed)
    m = LinearModel.lif_adaptive(
        tau=0.01, tau_t=rng.uniform(0.005, 0.03), vt_rest=0.01, dvt=0.003, drive=rng.uniform(0.0, 0.02)
    )
    m.init[1] = np.asarray(rng.uniform(0.005, 0.03))
    v0 = rng.uniform(0, 0.005)
    t = first_spike(m, v0)
    M, c, theta = augmented(m)
    y0 = [1.0, v0, float(m.init[1])]
    br = float_bracket(M, y0, c, theta, 0.3)
    if br is None:
        assert t == np.inf
        return
    ref = mp_crossing(M, y0, c, theta, *br)
    assert abs(t - ref) <= 8 * np.spacing(ref), (t, ref, t - ref)


def test_pif_closed_form_long_run():
    """dv/dt = drive / tau: spike k at k * threshold * tau / drive, within 1e-9 s after 10^4 spikes."""
    net = EventNetwork(1, model="linear", linear=LinearModel.pif(drive=0.3, threshold=1.0, tau=0.003))
    net.run(100.05)
    k = np.arange(1, net.spike_times.size + 1)
    assert net.spike_times.size == 10004
    assert np.max(np.abs(net.spike_times - k * 0.01)) < 1e-9


@pytest.mark.parametrize("seed", range(4))
def test_pif_with_current_to_40_digits(seed):
    """dv/dt = (drive + I)/tau, tau_s dI/dt = -I: an integrator driven by a decaying current (eigenvalue 0)."""
    rng = np.random.default_rng(seed)
    drive = rng.uniform(-0.5, 0.5)
    m = LinearModel.pif(drive=drive, threshold=1.0, tau=0.01, tau_s=0.005)
    m.init[0] = np.asarray(rng.uniform(0.5, 4.0))
    t = first_spike(m, 0.0)
    M, c, theta = augmented(m)
    y0 = [1.0, float(m.init[0]), 0.0]
    br = float_bracket(M, y0, c, theta, 0.45)
    if br is None:
        assert t == np.inf
        return
    ref = mp_crossing(M, y0, c, theta, *br)
    assert abs(t - ref) <= 8 * np.spacing(ref), (t, ref, t - ref)


# ----------------------------------------------------------------------------- grazing and double crossings
def alpha_peak(tau, g0):
    """Peak time and value of v for the alpha model with tau_s = tau_r = tau (triple eigenvalue) from v = 0,
    I = 0, g = g0, no drive: v(s) = g0 (s/tau)^2 e^{-s/tau} / 2, peak at s = 2 tau, value 2 g0 e^{-2}."""
    return 2 * tau, 2 * g0 * float(mp.exp(-2))


@pytest.mark.parametrize("rel", [1e-6, 1e-9, 1e-11])
def test_grazing_crossing_found_and_near_miss_not(rel):
    """A trajectory that rises above the threshold by a relative 1e-6 .. 1e-11 between events and falls back
    is found (a step-and-check method with a 1 us step misses it); one that peaks as far below is not."""
    tau, g0 = 0.01, 1.0
    s_peak, peak = alpha_peak(tau, g0)
    m_hit = LinearModel.lif_alpha(tau, tau, threshold=peak * (1 - rel), init={"g": g0})
    m_miss = LinearModel.lif_alpha(tau, tau, threshold=peak * (1 + rel), init={"g": g0})
    t = first_spike(m_hit, 0.0)
    # the first of the two crossings: (s/tau)^2 e^{-s/tau} = 2 theta / g0, before the peak
    with mp.workdps(40):
        th = mp.mpf(peak) * (1 - mp.mpf(rel))
        ref = float(
            mp.findroot(
                lambda s: g0 * (s / tau) ** 2 * mp.exp(-s / tau) / 2 - th,
                (mp.mpf(tau), mp.mpf(s_peak)),
                solver="anderson",
            )
        )
    # the root of a near-double zero is ill-conditioned: rounding of v (eps) moves it by ~ eps / sqrt(rel) tau
    assert abs(t - ref) <= 8 * np.spacing(ref) + 20 * np.finfo(float).eps / np.sqrt(rel) * tau, (t, ref)
    assert first_spike(m_miss, 0.0) == np.inf
    if rel <= 1e-11:  # the time above threshold is shorter than a step of 1 us: a step-and-check method misses it
        s = (np.arange(100000) + 0.5) * 1e-6
        assert not (g0 * (s / tau) ** 2 * np.exp(-s / tau) / 2 >= peak * (1 - rel)).any()


def test_two_crossings_in_one_interval_first_taken():
    """With drive below threshold and a current pulse, v crosses up then down within one interval: the first
    crossing is the spike (distinct time constants; reference at 40 digits)."""
    m = LinearModel.lif_alpha(0.02, 0.002, tau_r=0.001, drive=0.5, threshold=1.0, init={"g": 30.0}, reset=0.0)
    t = first_spike(m, 0.0)
    M, c, theta = augmented(m)
    y0 = [1.0, 30.0, 0.0, 0.0]
    br = float_bracket(M, y0, c, theta, 0.1)
    ref = mp_crossing(M, y0, c, theta, *br)
    assert abs(t - ref) <= 8 * np.spacing(ref)
    # and it does come down below threshold again later (two crossings)
    assert c @ expm(M * 0.1) @ y0 < theta


# ----------------------------------------------------------------------------- refractoriness
def test_adaptive_refractory_holds_v_while_vt_integrates():
    """With a refractory period v is held at the reset while vt relaxes: the second spike follows from the state
    at the end of the period (40-digit reference)."""
    tref = 0.002
    m = LinearModel.lif_adaptive(tau=0.01, tau_t=0.015, vt_rest=0.01, dvt=0.003, drive=0.03)
    net = EventNetwork(1, model="linear", linear=m, v_init=[0.0], refractory=tref)
    net.run(0.05)
    t1, t2 = net.spike_times[:2]
    M, c, theta = augmented(m)
    ref1 = mp_crossing(M, [1.0, 0.0, 0.01], c, theta, *float_bracket(M, [1.0, 0.0, 0.01], c, theta, 0.05))
    assert abs(t1 - ref1) <= 8 * np.spacing(ref1)
    # vt stayed at rest until the spike, then 0.013 relaxing towards 0.01 while v is held at 0
    with mp.workdps(40):
        vt = float(0.01 + mp.mpf(0.003) * mp.exp(-mp.mpf(tref) / mp.mpf(0.015)))
    y = [1.0, 0.0, vt]
    ref2 = t1 + tref + mp_crossing(M, y, c, theta, *float_bracket(M, y, c, theta, 0.05))
    assert abs(t2 - ref2) <= 8 * np.spacing(ref2)


# ----------------------------------------------------------------------------- networks vs the slow reference
def compare(net, o, T):
    net.run(T)
    o.run(T)
    ref_t = np.array([s[0] for s in o.spikes])
    ref_i = np.array([s[1] for s in o.spikes])
    assert net.spike_times.size == ref_t.size > 5
    np.testing.assert_array_equal(net.spike_indices, ref_i)
    np.testing.assert_allclose(net.spike_times, ref_t, rtol=0, atol=1e-11)


@pytest.mark.parametrize("seed", range(3))
def test_alpha_network_against_reference(seed):
    """Per-neuron parameters (one system each), distinct time constants, excitation and inhibition."""
    rng = np.random.default_rng(seed)
    n = 6
    m = LinearModel.lif_alpha(
        rng.uniform(0.008, 0.012, n),
        rng.uniform(0.003, 0.005, n),
        tau_r=rng.uniform(0.0005, 0.002, n),
        drive=rng.uniform(0.8, 1.2, n),
        threshold=1.0,
        reset=0.0,
    )
    net, o = random_net(rng, n, m)
    compare(net, o, 0.2)


@pytest.mark.parametrize("seed", range(3))
def test_adaptive_network_against_reference(seed):
    """Brian2's adaptive-threshold model in a network (pulses into v), per-neuron drives."""
    rng = np.random.default_rng(seed)
    n = 6
    m = LinearModel.lif_adaptive(tau=0.01, tau_t=0.015, vt_rest=1.0, dvt=0.3, drive=rng.uniform(0.9, 1.3, n))
    net, o = random_net(rng, n, m)
    compare(net, o, 0.2)


# ----------------------------------------------------------------------------- state and bad input
def test_linear_state_and_pulse_components():
    m = LinearModel.lif_alpha(0.01, 0.005, tau_r=0.002, drive=0.0)
    net = EventNetwork(1, model="linear", linear=m, v_init=[0.0])
    net.add_spike_generator([0.001, 0.002], [0, 1], 2, [0, 1, 2], [0, 0], weights=[0.5, -0.2])
    net.run(0.004)
    M, _, _ = augmented(m)
    y = expm(M * 0.001) @ [1, 0.5, 0, 0]
    y[1] -= 0.2
    y = expm(M * 0.002) @ y
    np.testing.assert_allclose(net.linear_state[0], y[1:], rtol=1e-13, atol=1e-17)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(A=[[-1.0, 1.0], [0.0, -1.0]]), ValueError, "lower triangular"),
        (dict(A=[[1.0, 0.0], [0.0, -1.0]]), ValueError, "diagonal"),
        (dict(A=[[0.0, 0.0], [1.0, -1.0]]), NotImplementedError, "integrator"),
        (dict(threshold={"w": 1.0}), ValueError, "threshold must name"),
        (dict(threshold={"x": 0.0}), ValueError, "nonzero coefficient"),
        (dict(v="w"), ValueError, "v must be one of"),
        (dict(pulse="w"), ValueError, "pulse"),
        (dict(reset_others={"x": (1.0, 0.0)}), ValueError, "other than v"),
        (dict(A=[[np.nan, 0.0], [0.0, -1.0]]), ValueError, "A"),
        (dict(variables=["a", "b", "c", "d", "e"]), ValueError, "1 to 4"),
    ],
)
def test_bad_model(kwargs, error, match):
    args = dict(variables=["x", "y"], A=[[-1.0, 0.0], [0.5, -2.0]], b=[0.0, 1.0], threshold={"x": 1.0}, v="x")
    args.update(kwargs)
    with pytest.raises(error, match=match):
        LinearModel(**args)


def test_bad_network_arguments():
    m = LinearModel.lif_adaptive(0.01, 0.015, 0.01, 0.003)
    with pytest.raises(TypeError, match="linear=LinearModel"):
        EventNetwork(2, model="linear")
    with pytest.raises(ValueError, match="'linear' neurons"):
        EventNetwork(2, model="lif", linear=m)
    per = LinearModel.lif_adaptive(np.full(3, 0.01), 0.015, 0.01, 0.003)
    with pytest.raises(ValueError, match="per neuron with 2 rows"):
        EventNetwork(2, model="linear", linear=per)
    net = EventNetwork(2, model="linear", linear=m)
    net.run(0.001)
    with pytest.raises(ValueError, match=r"\['drive'\] of a network of 'linear' neurons is given by its linear model"):
        net.set_params(drive=0.5)
    from brian2_sparseprop.spiking import lyapunov_spectrum

    with pytest.raises(NotImplementedError, match="found model 'linear'"):
        lyapunov_spectrum(net, 1.0)


def test_reset_left_above_threshold_is_an_error():
    """A reset that leaves c . x >= theta without a refractory period would fire forever at one instant."""
    m = LinearModel(
        ["v", "vt"],
        [[-100.0, 0.0], [0.0, -10.0]],
        [200.0, 0.0],
        {"v": 1.0, "vt": -1.0},
        v="v",
        reset=0.5,
        reset_others={"vt": (0.0, -1.0)},
        init={"vt": 1.0},
    )
    net = EventNetwork(1, model="linear", linear=m, v_init=[0.0])
    with pytest.raises(RuntimeError, match="at or above threshold after the reset"):
        net.run(0.1)


def test_mixed_with_lif():
    """Linear neurons beside LIF neurons in one network: the LIF neuron's spikes are unchanged."""
    m = LinearModel.pif(drive=np.array([0.0, 0.5]), threshold=1.0, tau=0.01)
    net = EventNetwork(2, model=["lif", "linear"], linear=m, tau=0.01, drive=1.1, v_init=[0.0, 0.0])
    net.run(0.1)
    lif = net.spike_times[net.spike_indices == 0]
    pif = net.spike_times[net.spike_indices == 1]
    np.testing.assert_allclose(lif, 0.01 * np.log(11) * np.arange(1, lif.size + 1), rtol=1e-12)
    np.testing.assert_allclose(pif, 0.02 * np.arange(1, pif.size + 1), rtol=1e-12)


# ----------------------------------------------------------------------------- simultaneous inputs, state API
def test_simultaneous_pulses_are_summed_before_the_threshold_test():
    """An excitatory pulse that alone would fire the neuron and an inhibitory one at the same instant: their
    sum is tested (no spike), whatever the order of the sources."""
    m = LinearModel.lif_adaptive(tau=0.01, tau_t=0.015, vt_rest=1.0, dvt=0.3)
    for order in ([0.6, -0.5], [-0.5, 0.6]):
        net = EventNetwork(1, model="linear", linear=m, v_init=[0.5])
        net.add_spike_generator([0.001, 0.001], [0, 1], 2, [0, 1, 2], [0, 0], weights=order)
        net.run(0.01)
        assert net.spike_times.size == 0
        v = 0.5 * np.exp(-0.1) + 0.1
        np.testing.assert_allclose(net.v[0], v * np.exp(-0.9), rtol=1e-14)
    net = EventNetwork(1, model="linear", linear=m, v_init=[0.5])
    net.add_spike_generator([0.001], [0], 1, [0, 1], [0], weights=[0.6])
    net.run(0.01)
    assert net.spike_times.tolist() == [0.001]


def test_integrate_refractory_and_pulses_while_held():
    """Refractory without integration: a pulse into v is dropped; with integrate_refractory it is taken (and
    the neuron fires when the period ends if at threshold)."""
    m = LinearModel.lif_adaptive(tau=0.01, tau_t=0.015, vt_rest=1.0, dvt=0.3)
    kw = dict(model="linear", linear=m, v_init=[0.0], refractory=0.005)
    held = EventNetwork(1, **kw)
    held.add_spike_generator([0.001, 0.003], [0, 1], 2, [0, 1, 2], [0, 0], weights=[1.5, 0.4])
    held.run(0.005)
    assert held.spike_times.tolist() == [0.001]
    assert held.v[0] == 0.0
    integ = EventNetwork(1, integrate_refractory=True, **kw)
    integ.add_spike_generator([0.001, 0.003], [0, 1], 2, [0, 1, 2], [0, 0], weights=[1.5, 0.4])
    integ.run(0.005)
    np.testing.assert_allclose(integ.v[0], 0.4 * np.exp(-0.2), rtol=1e-14)


def test_state_round_trip_and_set_v():
    """get_state/set_state and pickling restore the state vectors; set_v sets v and keeps the other variables."""
    import pickle

    rng = np.random.default_rng(0)
    m = LinearModel.lif_alpha(0.01, 0.004, tau_r=0.002, drive=1.05)
    net, _ = random_net(rng, 5, m)
    net.run(0.05)
    state, copy = net.get_state(), pickle.loads(pickle.dumps(net))
    net.run(0.05)
    a = net.spike_times.copy()
    net.set_state(state)
    net._spike_chunks = []
    net.run(0.05)
    copy._spike_chunks = []
    copy.run(0.05)
    np.testing.assert_array_equal(net.spike_times, a[a >= 0.05])
    np.testing.assert_array_equal(copy.spike_times, a[a >= 0.05])
    before = net.linear_state
    net.set_v(np.full(5, 0.25))
    after = net.linear_state
    np.testing.assert_array_equal(after[:, :2], before[:, :2])
    np.testing.assert_array_equal(after[:, 2], 0.25)


def test_adaptive_long_run_against_reference():
    """A regularly firing adaptive-threshold neuron (constant drive) over 3 s, about 400 spikes: every spike time
    within 1e-11 s of the independent reference, no drift."""
    m = LinearModel.lif_adaptive(tau=0.01, tau_t=0.015, vt_rest=0.01, dvt=0.003, drive=0.03)
    net = EventNetwork(1, model="linear", linear=m, v_init=[0.0])
    o = oracle_for(net, [], [], [], [0, 0], np.zeros(0, int), 0.0, 0.0)
    net.run(3.0)
    o.run(3.0)
    ref = np.array([s[0] for s in o.spikes])
    assert net.spike_times.size == ref.size > 300
    np.testing.assert_allclose(net.spike_times, ref, rtol=0, atol=1e-11)
