"""Tests of brian2_sparseprop.rate.lyapunov: tangent maps, QR spectra, diagnostics, results."""

import math

import neo
import numpy as np
import pytest
import quantities as pq
from neo.test.tools import assert_neo_object_is_compliant

from brian2_sparseprop.lyapunov import LyapunovSpectrum, QRAccumulator, step, tau_unit
from brian2_sparseprop.rate.lyapunov import (
    GRU,
    LSTM,
    RNN,
    RateNetwork,
    largest_exponent_two_trajectories,
    lyapunov_spectrum,
    meanfield_largest_exponent,
    random_coupling,
)
from brian2_sparseprop.rate.nonlinearities import NONLINEARITIES

TAU = 10 * pq.ms
DT = 0.5 * pq.ms
IDENTITY = (lambda x: x, np.ones_like)


def make_model(kind, rng, N=12, n_inputs=2, g=2.0):
    """A small random model of each kind, with input weights."""
    if kind == "rate":
        return RateNetwork(random_coupling(N, g, rng=rng), tau=TAU, dt=DT, b=0.1 * rng.normal(size=N))
    if kind == "rate_sparse":
        return RateNetwork(random_coupling(N, g, K=4, rng=rng), tau=TAU, dt=DT, phi="erf")
    if kind == "rnn":
        return RNN(random_coupling(N, g, rng=rng), b=0.1 * rng.normal(size=N), W_in=rng.normal(size=(N, n_inputs)))
    if kind == "rnn_sigmoid":
        return RNN(random_coupling(N, 3 * g, rng=rng), phi="sigmoid", b=-1.0, W_in=rng.normal(size=(N, n_inputs)))
    if kind == "lstm":
        return LSTM(
            g / math.sqrt(N) * rng.normal(size=(4 * N, N)),
            W=rng.normal(size=(4 * N, n_inputs)),
            b=0.1 * rng.normal(size=4 * N),
        )
    if kind == "gru":
        return GRU(
            g / math.sqrt(N) * rng.normal(size=(3 * N, N)),
            W=rng.normal(size=(3 * N, n_inputs)),
            b=0.1 * rng.normal(size=3 * N),
        )
    raise AssertionError(kind)


def n_inputs_of(model):
    return model.n_inputs


# ----------------------------------------------------------------------------- tangent maps


@pytest.mark.parametrize("kind", ["rate", "rate_sparse", "rnn", "rnn_sigmoid", "lstm", "gru"])
def test_jacobian_matches_central_differences(kind, rng):
    model = make_model(kind, rng)
    x = 0.8 * rng.normal(size=model.dim)
    s = rng.normal(size=model.n_inputs)
    jac = model.jacobian(x, s)
    eps = 1e-6
    fd = np.empty_like(jac)
    for j in range(model.dim):
        e = np.zeros(model.dim)
        e[j] = eps
        fd[:, j] = (model.step(x + e, s) - model.step(x - e, s)) / (2 * eps)
    # central differences: truncation O(eps**2) ~ 1e-12, rounding ~ 1e-16 / eps ~ 1e-10
    np.testing.assert_allclose(jac, fd, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- sum rules


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("reorth_interval", [1, 3])
def test_sum_rule_maps(kind, reorth_interval, rng):
    """Sum of all exponents = time average of log|det| of the step Jacobian on the same orbit."""
    model = make_model(kind, rng)
    n_tr, n_ons, n = 20, 8, 210
    x0 = rng.normal(size=model.dim)
    # weak inputs: saturated units would spread the spectrum so far that QR over several steps
    # loses the smallest exponents to rounding (exp((lambda_1 - lambda_N) * interval) ~ 1 / eps)
    inputs = 0.3 * rng.choice([-1.0, 1.0], size=(n_tr + n_ons + n, model.n_inputs))
    res = lyapunov_spectrum(
        model,
        n,
        x0=x0,
        inputs=inputs,
        reorth_interval=reorth_interval,
        n_transient=n_tr,
        n_transient_ons=n_ons,
        rng=rng,
    )
    x = x0
    logdet = []
    for t in range(n_tr + n_ons + n):
        if t >= n_tr + n_ons:
            logdet.append(np.linalg.slogdet(model.jacobian(x, inputs[t]))[1])
        x = model.step(x, inputs[t])
    # an algebraic identity for orthogonal Q, up to rounding in QR and the determinant
    np.testing.assert_allclose(res.exponents.magnitude.sum(), np.mean(logdet), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("driven", [False, True])
def test_sum_rule_rate_network(sparse, driven, rng):
    """Without self-coupling, trace of the flow's Jacobian is -N / tau: sum of exponents = -N / tau."""
    N = 20
    J = random_coupling(N, 2.5, K=6 if sparse else None, rng=rng)
    net = RateNetwork(J, tau=TAU, dt=DT)
    n = 400
    inputs = rng.normal(size=(100 + n, N)) if driven else None
    res = lyapunov_spectrum(net, n, inputs=inputs, n_transient=50, n_transient_ons=50, rng=rng)
    assert res.exponents.units == pq.CompoundUnit("1/s")
    total = res.exponents.sum().rescale(1 / pq.s).magnitude
    expected = -N / TAU.rescale(pq.s).magnitude
    # RK4 replaces exp(dt tr A) by det of its degree-4 Taylor polynomial: relative error O(dt**4)
    # per step, (dt / tau)**4 = 6e-6 here
    assert abs(total - expected) < 1e-5 * abs(expected)


def test_sum_rule_with_self_coupling_is_not_minus_n_over_tau(rng):
    """A diagonal J changes the trace: the check above is not satisfied trivially."""
    N = 20
    J = random_coupling(N, 2.0, self_coupling=True, rng=rng) + 0.5 * np.eye(N)
    res = lyapunov_spectrum(RateNetwork(J, tau=TAU, dt=DT), 200, n_transient=100, rng=rng)
    assert res.exponents.sum().rescale(1 / pq.s).magnitude > -N / 0.01 + 1.0


# ----------------------------------------------------------------------------- closed forms


def test_linear_map_exponents_are_log_moduli_of_diagonal(rng):
    """Upper-triangular linear map: exponents are ln|a_ii| in descending order."""
    lam = np.array([0.3, 0.1, -0.2, -0.5])
    J = np.diag(np.exp(lam)) + np.triu(rng.normal(size=(4, 4)), 1)
    J[1, 1] *= -1  # the sign does not matter
    res = lyapunov_spectrum(RNN(J, phi=IDENTITY), 400, x0=np.zeros(4), n_transient_ons=100, rng=rng)
    # the orthonormal system converges to the Schur vectors at rate exp(-0.2 t): after 100 steps
    # the residual misalignment is ~1e-9
    np.testing.assert_allclose(res.exponents.magnitude, lam, atol=1e-8)
    # derived figures in closed form: partial sums 0.3, 0.4, 0.2, -0.3 -> D = 3 + 0.2 / 0.5
    assert res.kaplan_yorke_dimension == pytest.approx(3.4, abs=1e-7)
    assert float(res.entropy_rate.magnitude) == pytest.approx(0.4, abs=1e-8)
    assert res.entropy_rate.units == 1 / step


def test_linear_flow_exponents_are_real_parts_of_eigenvalues(rng):
    """Linear rate network tau dx/dt = (J - 1) x: exponents are (eig(J) - 1) / tau."""
    eig = np.array([1.5, 0.8, 0.2, -1.0, -2.0])
    Q = np.linalg.qr(rng.normal(size=(5, 5)))[0]
    J = Q @ np.diag(eig) @ Q.T
    res = lyapunov_spectrum(
        RateNetwork(J, tau=TAU, dt=DT, phi=IDENTITY), 2000, x0=np.zeros(5), n_transient_ons=1000, rng=rng
    )
    expected = (eig - 1) / TAU.rescale(pq.s).magnitude
    # RK4: ln p(z) = z - z**5 / 120 + ..., z = dt mu: |error| <= (dt/tau)**4 |mu|**5 tau**4 / 120 per s
    np.testing.assert_allclose(res.exponents.magnitude, expected, rtol=1e-5, atol=1e-6)


def test_kaplan_yorke_all_negative_is_zero(rng):
    res = lyapunov_spectrum(RNN(0.5 * np.eye(3), phi=IDENTITY), 50, x0=np.zeros(3), rng=rng)
    assert res.kaplan_yorke_dimension == 0.0
    assert float(res.entropy_rate.magnitude) == 0.0


# ----------------------------------------------------------------------------- zero exponent


def test_limit_cycle_has_one_zero_exponent(rng):
    """Two units with self-excitation and rotation: unstable spiral at 0, a stable limit cycle."""
    J = np.array([[2.0, -4.0], [4.0, 2.0]])
    res = lyapunov_spectrum(RateNetwork(J, tau=TAU, dt=1 * pq.ms), 5000, n_transient=500, n_transient_ons=500, rng=rng)
    lam_tau = res.exponents.rescale(1 / pq.s).magnitude * TAU.rescale(pq.s).magnitude
    # the zero exponent converges as (log of the speed ratio on the cycle) / T, T = 500 tau
    assert abs(lam_tau[0]) < 5e-3
    assert lam_tau[1] < -0.1


def test_chaotic_rate_network_has_one_zero_exponent(rng):
    """A chaotic SCS network (fixed J, random initial state): lambda_1 > 0, one exponent ~ 0."""
    net = RateNetwork(random_coupling(50, 4.0, rng=1), tau=TAU, dt=1 * pq.ms)
    res = lyapunov_spectrum(net, 10_000, k=3, n_transient=1000, n_transient_ons=500, rng=rng)
    lam_tau = res.exponents.rescale(1 / pq.s).magnitude * TAU.rescale(pq.s).magnitude
    assert lam_tau[0] > 0.05
    near_zero = np.abs(lam_tau) < 0.01
    assert near_zero.sum() == 1
    assert np.all(np.abs(lam_tau[~near_zero]) > 0.02)


def test_driven_flow_exponents_match_two_trajectories(rng):
    net = RateNetwork(random_coupling(50, 4.0, rng=1), tau=TAU, dt=1 * pq.ms)
    n, n_tr = 4000, 500
    x0 = rng.normal(size=50)
    inputs = 0.5 * rng.normal(size=(n_tr + n, 50))
    res = lyapunov_spectrum(net, n, k=1, x0=x0, inputs=inputs, n_transient=n_tr, rng=rng)
    lam2 = largest_exponent_two_trajectories(net, n, x0=x0, inputs=inputs, n_transient=n_tr, rng=rng).exponents[0]
    # same trajectory; the estimates differ by the alignment transient of the initial vector,
    # ~ (log of the initial projection) / duration ~ 5 / (4000 * 1 ms) = 1.2 / s
    assert abs(float(res.exponents[0] - lam2)) < 3.0


# ----------------------------------------------------------------------------- mean field, two trajectories


@pytest.mark.parametrize("N", [100, 400])
def test_largest_exponent_approaches_meanfield(N, rng):
    g = 3.0
    res = lyapunov_spectrum(
        RNN(random_coupling(N, g, rng=rng)), 2000, k=1, n_transient=200, n_transient_ons=100, rng=rng
    )
    mf = float(meanfield_largest_exponent(g).magnitude)
    # finite-size bias measured -2 / N to -4 / N (N = 100 ... 800, 8 networks each)
    assert abs(float(res.exponents.magnitude[0]) - mf) < 5.0 / N


@pytest.mark.slow
@pytest.mark.parametrize("g", [2.0, 3.0])
def test_largest_exponent_meanfield_convergence_large_n(g):
    mf = float(meanfield_largest_exponent(g).magnitude)
    errs = []
    for N in (400, 3200):
        lam = [
            float(
                lyapunov_spectrum(
                    RNN(random_coupling(N, g, rng=s)), 2000, k=1, n_transient=300, n_transient_ons=100, rng=s
                ).exponents.magnitude[0]
            )
            for s in range(3)
        ]
        errs.append(abs(np.mean(lam) - mf))
    assert errs[1] < errs[0]
    assert errs[1] < 2e-3


@pytest.mark.parametrize("g, expected", [(0.5, math.log(0.5)), (1.0, 0.0)])
def test_meanfield_below_transition(g, expected):
    assert float(meanfield_largest_exponent(g).magnitude) == pytest.approx(expected, abs=1e-14)


def test_meanfield_q_equation_solution():
    """Check the fixed point independently with scipy's quadrature and root finder."""
    from scipy import integrate, optimize

    g = 2.5

    def gauss(f):
        return integrate.quad(lambda z: f(z) * np.exp(-z * z / 2) / math.sqrt(2 * math.pi), -12, 12)[0]

    q = optimize.brentq(lambda q: q - g**2 * gauss(lambda z: np.tanh(math.sqrt(q) * z) ** 2), 1e-3, 10)
    lam = 0.5 * math.log(g**2 * gauss(lambda z: np.cosh(math.sqrt(q) * z) ** -4))
    assert float(meanfield_largest_exponent(g).magnitude) == pytest.approx(lam, abs=1e-9)


@pytest.mark.parametrize("kind", ["rnn", "gru"])
def test_qr_matches_two_trajectories_maps(kind, rng):
    model = make_model(kind, rng, N=60, g=3.0)
    n, n_tr = 5000, 200
    x0 = rng.normal(size=model.dim)
    inputs = rng.choice([-1.0, 1.0], size=(n_tr + n, model.n_inputs))
    res = lyapunov_spectrum(model, n, k=2, x0=x0, inputs=inputs, n_transient=n_tr, rng=rng)
    lam2 = largest_exponent_two_trajectories(model, n, x0=x0, inputs=inputs, n_transient=n_tr, rng=rng).exponents[0]
    # same orbit and inputs: they differ by the alignment transient, ~ 5 / n = 1e-3 per step
    assert abs(float(res.exponents.magnitude[0] - lam2.magnitude)) < 3e-3


# ----------------------------------------------------------------------------- result object


def test_result_units_and_neo_signals(rng):
    net = RateNetwork(random_coupling(10, 2.0, rng=rng), tau=TAU, dt=DT)
    res = lyapunov_spectrum(net, 100, k=3, reorth_interval=5, n_transient=10, n_transient_ons=20, rng=rng)
    assert isinstance(res, LyapunovSpectrum)
    assert res.exponents.dimensionality == (1 / pq.s).dimensionality
    sig = res.local_exponents
    assert_neo_object_is_compliant(sig)
    assert sig.shape == (20, 3)
    assert sig.sampling_period.rescale(pq.ms).magnitude == pytest.approx(2.5)
    assert sig.t_start.rescale(pq.ms).magnitude == pytest.approx((10 + 20 + 5) * 0.5)
    np.testing.assert_allclose(sig.magnitude.mean(axis=0), res.exponents.magnitude)
    run = res.running_estimates
    assert_neo_object_is_compliant(run)
    np.testing.assert_allclose(run.magnitude[-1], res.exponents.magnitude)
    assert res.params["tau"] == TAU and res.params["dt"] == DT and res.params["k"] == 3
    assert res.params["duration"].rescale(pq.ms).magnitude == pytest.approx(50.0)
    assert "RateNetwork" in repr(res)


def test_map_results_are_per_step(rng):
    res = lyapunov_spectrum(make_model("lstm", rng), 50, k=2, rng=rng)
    assert res.exponents.dimensionality == (1 / step).dimensionality
    assert_neo_object_is_compliant(res.local_exponents)
    assert res.local_exponents.sampling_period == 1 * step


def test_stderr_shrinks_like_inverse_sqrt_duration(rng):
    net = RNN(random_coupling(100, 3.0, rng=rng))
    short = lyapunov_spectrum(net, 1000, k=1, n_transient=200, rng=rng)
    long = lyapunov_spectrum(net, 16_000, k=1, n_transient=200, rng=rng)
    ratio = float(long.stderr[0] / short.stderr[0])
    # expected 1/4; batch-means estimates from 20 batches fluctuate by ~ +-30 % each
    assert 0.1 < ratio < 0.5
    # and the short-run error bar covers the long-run estimate (5 sigma)
    assert abs(float(short.exponents[0] - long.exponents[0])) < 5 * float(short.stderr[0])


def test_kaplan_yorke_needs_more_exponents(rng):
    res = lyapunov_spectrum(RNN(random_coupling(100, 3.0, rng=rng)), 200, k=1, n_transient=100, rng=rng)
    with pytest.raises(ValueError, match="compute more exponents"):
        res.kaplan_yorke_dimension  # noqa: B018 (the property raises)
    with pytest.raises(ValueError, match="compute more"):
        res.entropy_rate  # noqa: B018 (the property raises)


def test_plot_draws_spectrum_and_convergence(rng, tmp_path):
    net = RateNetwork(random_coupling(12, 3.0, rng=rng), tau=TAU, dt=DT)
    res = lyapunov_spectrum(net, 200, n_transient=50, rng=rng)
    fig = res.plot()
    assert len(fig.axes) == 2
    assert len(fig.axes[0].lines) + len(fig.axes[0].collections) >= 1
    assert len(fig.axes[1].lines) == 10 + 1  # 10 traces and the zero line
    path = tmp_path / "spectrum.png"
    fig.savefig(path)
    assert path.stat().st_size > 1000


def test_interrupt_keeps_partial_result(rng):
    calls = {"n": 0}

    def dphi(x):
        calls["n"] += 1
        if calls["n"] > 30:
            raise KeyboardInterrupt
        return 1 - np.tanh(x) ** 2

    net = RNN(random_coupling(10, 2.0, rng=rng), phi=(np.tanh, dphi))
    with pytest.warns(RuntimeWarning, match="interrupted"):
        res = lyapunov_spectrum(net, 100, k=2, reorth_interval=2, rng=rng)
    assert res.params["completed_steps"] == 30
    assert res.local_exponents.shape == (15, 2)


# ----------------------------------------------------------------------------- coupling


def test_random_coupling_sparse_structure(rng):
    J = random_coupling(50, 2.0, K=7, rng=rng)
    dense = J.toarray()
    assert np.all((dense != 0).sum(axis=1) == 7)
    assert np.all(np.diagonal(dense) == 0)


def test_random_coupling_dense_variance(rng):
    N, g = 400, 1.7
    J = random_coupling(N, g, rng=rng)
    off = J[~np.eye(N, dtype=bool)]
    # variance estimate from 159600 samples: relative standard error sqrt(2 / n) = 0.35 %
    assert np.var(off) * N / g**2 == pytest.approx(1.0, abs=0.02)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(J=np.ones((3, 4))), ValueError, "J must be square"),
        (dict(J=np.ones(3)), ValueError, "J must be 2-dimensional"),
        (dict(J=np.full((2, 2), np.nan)), ValueError, "J must be finite"),
        (dict(tau="10 ms"), TypeError, "tau must be a time Quantity"),
        (dict(tau=True), TypeError, "tau must be a time Quantity"),
        (dict(tau=10 * pq.mV), TypeError, "tau must be a time Quantity"),
        (dict(tau=-1 * pq.ms), ValueError, "tau must be > 0"),
        (dict(dt=0 * pq.ms), ValueError, "dt must be > 0"),
        (dict(dt=6 * pq.ms), ValueError, "dt must be <= tau / 2"),
        (dict(phi="softsign"), ValueError, "phi must be one of"),
        (dict(phi=3), TypeError, "phi must be a name or a pair"),
        (dict(b=np.ones(5)), ValueError, "b must have shape"),
    ],
)
def test_rate_network_bad_input(kwargs, exc, match):
    args = dict(J=np.zeros((3, 3)), tau=TAU, dt=DT)
    args.update(kwargs)
    J = args.pop("J")
    with pytest.raises(exc, match=match):
        RateNetwork(J, **args)


def test_rate_network_reads_plain_numbers_in_seconds(seed):
    J = random_coupling(20, 1.5, rng=seed)
    plain, quantity = RateNetwork(J, tau=0.01, dt=0.0005), RateNetwork(J, tau=10 * pq.ms, dt=0.5 * pq.ms)
    assert plain.tau == quantity.tau and plain.dt == quantity.dt
    a, b = (lyapunov_spectrum(net, 100, k=2, n_batches=4, rng=seed) for net in (plain, quantity))
    np.testing.assert_array_equal(a.exponents.rescale(1 / pq.s).magnitude, b.exponents.rescale(1 / pq.s).magnitude)


@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: RNN(np.zeros((3, 3)), W_in=np.zeros((4, 1))), "W_in must have 3 rows"),
        (lambda: LSTM(np.zeros((12, 4))), r"U must have shape \(4 N, N\)"),
        (lambda: LSTM(np.zeros((16, 4)), W=np.zeros((12, 1))), "W must have 16 rows"),
        (lambda: GRU(np.zeros((9, 3)), b=np.zeros(3)), r"b must have shape \(9,\)"),
        (lambda: random_coupling(10, -1.0), "g must be >= 0, found: -1.0"),
        (lambda: random_coupling(10, 1.0, K=10), "K must be <= 9"),
        (lambda: random_coupling(0, 1.0), "N must be >= 1"),
        (lambda: meanfield_largest_exponent(0.0), "g must be > 0, found: 0.0"),
    ],
)
def test_model_bad_values(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_random_coupling_rejects_float_n():
    with pytest.raises(TypeError, match="N must be an int"):
        random_coupling(10.0, 1.0)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(n_steps=0), ValueError, "n_steps must be >= 1"),
        (dict(n_steps=10.0), TypeError, "n_steps must be an int"),
        (dict(k=5), ValueError, "k must be <= the state dimension 4"),
        (dict(k=0), ValueError, "k must be >= 1"),
        (dict(reorth_interval=3), ValueError, "n_steps must be a multiple of reorth_interval = 3"),
        (dict(n_transient=-1), ValueError, "n_transient must be >= 0"),
        (dict(x0=np.zeros(3)), ValueError, r"x0 must have shape \(4,\)"),
        (dict(x0=np.full(4, np.inf)), ValueError, "x0 must be finite"),
        (dict(inputs=np.zeros((9, 1))), ValueError, r"inputs must have shape .* = \(10, 1\)"),
        (dict(inputs=np.zeros((10, 1)) * pq.mV), TypeError, "inputs must be a dimensionless array"),
    ],
)
def test_lyapunov_spectrum_bad_input(kwargs, exc, match):
    model = RNN(np.zeros((4, 4)), W_in=np.ones((4, 1)))
    args = dict(n_steps=10)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        lyapunov_spectrum(model, **args)


def test_inputs_for_a_model_without_input_weights():
    with pytest.raises(ValueError, match="the model takes none"):
        lyapunov_spectrum(RNN(np.zeros((4, 4))), 10, inputs=np.zeros((10, 1)))


def test_wrong_model_type():
    with pytest.raises(TypeError, match="model must be a RateNetwork, RNN, LSTM or GRU"):
        lyapunov_spectrum(np.eye(3), 10)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(d0=0.0), r"d0 must be in \(0, 1\)"),
        (dict(renorm_interval=3), "n_steps must be a multiple of renorm_interval = 3"),
        (dict(renorm_interval=2, n_batches=6), "n_batches = 6 batch means need at least 6 measured intervals"),
    ],
)
def test_two_trajectories_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        largest_exponent_two_trajectories(RNN(np.zeros((4, 4))), 10, **{"n_batches": 2, **kwargs})


def test_divergence_raises_floating_point_error(rng):
    net = RNN(10.0 * np.eye(3), phi=IDENTITY)
    with pytest.raises(FloatingPointError, match="non-finite"):
        lyapunov_spectrum(net, 1000, x0=np.ones(3), rng=rng)


# ----------------------------------------------------------------------------- shared result type, accumulator


def test_accumulator_irregular_intervals_linear_flow(rng):
    """dx/dt = A x, A upper triangular: QR steps at random times give the diagonal of A (1/s)."""
    import scipy.linalg

    lam = np.array([3.0, 1.0, -6.0])
    A = np.diag(lam) + np.triu(rng.normal(size=(3, 3)), 1)
    acc = QRAccumulator(3, capacity=2)  # grows past its capacity
    Q = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    for _ in range(200):  # 20 s uncounted: the system aligns with the Schur vectors at rate exp(-2 t)
        Q = np.linalg.qr(scipy.linalg.expm(A * 0.1) @ Q)[0]
    for dt in rng.uniform(0.01, 0.2, size=400):
        Q = acc.orthonormalize(scipy.linalg.expm(A * dt) @ Q, dt)
    res = acc.spectrum(time_unit=pq.s, params={"model": "linear"})
    # aligned to exp(-40) ~ 1e-17: then R_ii = exp(lambda_i dt) up to rounding of expm and QR
    np.testing.assert_allclose(res.exponents.rescale(1 / pq.s).magnitude, lam, rtol=1e-9)
    loc = res.local_exponents
    assert isinstance(loc, neo.IrregularlySampledSignal)
    assert_neo_object_is_compliant(loc)
    np.testing.assert_allclose(loc.times.magnitude, np.cumsum(acc.elapsed))
    np.testing.assert_allclose(res.running_estimates.magnitude[-1], res.exponents.magnitude)
    assert res.kaplan_yorke_dimension == pytest.approx(2 + 4.0 / 6.0, rel=1e-9)  # D = 2 + (3 + 1) / 6


def test_spectrum_from_sums_in_closed_form():
    """Two intervals of 1 and 3 ms: exponents are sum log / sum time, local ones per interval."""
    res = LyapunovSpectrum([[0.1, -0.2], [0.3, -0.6]], [1.0, 3.0], time_unit=pq.ms, t_start=2.0)
    np.testing.assert_allclose(res.exponents.magnitude, [100.0, -200.0])
    assert res.exponents.units == 1 / pq.s
    np.testing.assert_allclose(res.local_exponents.magnitude, [[100.0, -200.0], [100.0, -200.0]])
    np.testing.assert_allclose(res.local_exponents.times.rescale(pq.ms).magnitude, [3.0, 6.0])
    assert res.dim == 2 and res.params["k"] == 2


@pytest.mark.parametrize(
    "time_unit, exponent_unit, time_axis",
    [(step, 1 / step, step), (tau_unit, 1 / tau_unit, tau_unit), (10 * pq.ms, 1 / pq.s, pq.s)],
)
def test_spectrum_units(time_unit, exponent_unit, time_axis):
    res = LyapunovSpectrum(np.full((4, 1), 0.5), 2.0, time_unit=time_unit)
    assert res.exponents.units == exponent_unit
    sig = res.local_exponents
    assert isinstance(sig, neo.AnalogSignal) and sig.times.units == time_axis
    assert_neo_object_is_compliant(sig)
    scale = 0.02 if time_unit is not step and time_unit is not tau_unit else 2.0  # 2 tau = 20 ms
    assert float(res.exponents[0]) == pytest.approx(0.5 / scale)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(time_unit=pq.mV), TypeError, "time_unit must be a time, step or tau_unit"),
        (dict(time_unit=1.0), TypeError, "time_unit must be a scalar Quantity"),
        (dict(elapsed=[1.0, 0.0]), ValueError, "elapsed must be > 0, found: 0.0"),
        (dict(log_growth=[0.1, 0.2]), ValueError, r"log_growth must have shape \(n_intervals, k\)"),
    ],
)
def test_spectrum_bad_input(kwargs, exc, match):
    args = dict(log_growth=[[0.1], [0.2]], elapsed=1.0, time_unit=pq.s)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        LyapunovSpectrum(args.pop("log_growth"), args.pop("elapsed"), **args)


def test_balanced_run_returns_the_shared_spectrum():
    from brian2_sparseprop.rate.balanced import BalancedRateNetwork

    run = BalancedRateNetwork(30, g=0.5, seed=0).run(5.0, t_transient=5.0, n_exponents=2)
    assert isinstance(run.spectrum, LyapunovSpectrum)
    assert run.lyapunov_exponents is run.spectrum.exponents and run.spectrum.dim == 30
    assert run.spectrum.params["model"] == "BalancedRateNetwork"


# ----------------------------------------------------------------------------- units, nonlinearity table


def test_rate_network_accepts_brian2_quantities(rng):
    import brian2

    J = random_coupling(10, 2.0, rng=rng)
    a = lyapunov_spectrum(RateNetwork(J, tau=10 * brian2.ms, dt=0.5 * brian2.ms), 50, x0=np.ones(10), rng=0)
    b = lyapunov_spectrum(RateNetwork(J, tau=TAU, dt=DT), 50, x0=np.ones(10), rng=0)
    np.testing.assert_array_equal(a.exponents.magnitude, b.exponents.magnitude)


@pytest.mark.parametrize("name", sorted(NONLINEARITIES))
def test_nonlinearity_derivatives(name):
    """phi' of the table against central differences (step 1e-6: error ~ 1e-12 |phi'''| + 1e-16 / 1e-6)."""
    f = NONLINEARITIES[name]
    x = np.linspace(-3.0, 3.0, 61) + 0.013  # off the kink of relu
    fd = (f.phi(x + 1e-6) - f.phi(x - 1e-6)) / 2e-6
    np.testing.assert_allclose(f.dphi(x), fd, atol=1e-8)


@pytest.mark.parametrize("name", sorted(NONLINEARITIES))
def test_nonlinearity_table_on_jax_arrays(name):
    """The JAX models evaluate the same functions (float64 JAX against numpy)."""
    jax = pytest.importorskip("jax")
    f = NONLINEARITIES[name]
    x = np.linspace(-3.0, 3.0, 13)
    with jax.enable_x64(True):
        for fn in (f.phi, f.dphi):
            np.testing.assert_allclose(np.asarray(fn(jax.numpy.asarray(x))), fn(x), rtol=1e-13, atol=1e-15)
