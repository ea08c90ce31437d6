"""Tests of the balanced rate network: structure, integration, Lyapunov exponents, inputs, units."""

import neo
import numpy as np
import pytest
import quantities as pq

from brian2_sparseprop.lyapunov import tau_unit
from brian2_sparseprop.rate.balanced import BalancedRateNetwork, SinusoidalDrive


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(N=1), ValueError, "N must be >= 2"),
        (dict(N=10.0), TypeError, "N must be an integer"),
        (dict(N=10, g=-1.0), ValueError, "g must be >= 0"),
        (dict(N=10, J0=-0.5), ValueError, "J0 must be >= 0"),
        (dict(N=10, g="2"), TypeError, "g must be a real number"),
        (dict(N=10, K=10), ValueError, "K must be <= N - 1"),
        (dict(N=10, K=0), ValueError, "K must be >= 1"),
        (dict(N=10, phi="sigmoid"), ValueError, "phi must be one of"),
        (dict(N=10, phi=np.tanh), TypeError, "phi must be a string"),
        (dict(N=10, tau=0.01), TypeError, "tau must be a time Quantity"),
        (dict(N=10, tau=-1 * pq.ms), ValueError, "tau must be > 0"),
        (dict(N=10, tau=1 * pq.mV), TypeError, "tau must be a time Quantity or None"),
        (dict(N=10, seed=1.5), TypeError, "seed must be an integer"),
        (dict(N=10, dtype=np.int32), ValueError, "dtype must be"),
    ],
)
def test_network_rejects_bad_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        BalancedRateNetwork(**kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(duration=0.0), ValueError, "duration must be >= dt"),
        (dict(duration=5.0, dt=-0.1), ValueError, "dt must be > 0"),
        (dict(duration=5.0, t_transient=-1.0), ValueError, "t_transient must be >= 0"),
        (dict(duration=5.0, n_exponents=21), ValueError, "n_exponents must be <= N"),
        (dict(duration=5.0, n_exponents=1.0), TypeError, "n_exponents must be an integer"),
        (dict(duration=5.0, ons_interval=0.01), ValueError, "ons_interval must be >= dt"),
        (dict(duration=5.0, n_record=30), ValueError, "n_record must be <= N"),
        (dict(duration=5.0, drive="sin"), TypeError, "drive must be None, a SinusoidalDrive"),
        (dict(duration=5.0, drive=np.zeros(3)), ValueError, "drive array must have shape"),
        (dict(duration=5.0, drive=lambda t: np.zeros(3)), ValueError, r"drive\(t\) must return"),
        (dict(duration=5.0, h0=np.zeros(3)), ValueError, r"h0 must have shape \(20,\), found: \(3,\)"),
        (dict(duration=5 * pq.ms), TypeError, "duration must be a real number"),
    ],
)
def test_run_rejects_bad_arguments(kwargs, error, match):
    net = BalancedRateNetwork(20, seed=0)
    with pytest.raises(error, match=match):
        net.run(**kwargs)


def test_run_with_tau_requires_quantities():
    net = BalancedRateNetwork(20, seed=0, tau=10 * pq.ms)
    with pytest.raises(TypeError, match="duration must be a time Quantity"):
        net.run(5.0)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(amplitude=-1.0, frequency=0.2), ValueError, "amplitude must be >= 0"),
        (dict(amplitude=1.0, frequency=-0.2), ValueError, "frequency must be >= 0"),
        (dict(amplitude=1.0, frequency=0.2 * pq.mV), TypeError, "frequency must be a frequency Quantity"),
        (dict(amplitude=1.0, frequency=0.2, kind="shared"), ValueError, "kind must be one of 'common', 'independent'"),
        (dict(amplitude=1.0, frequency=0.2, kind=1), TypeError, "kind must be a string"),
    ],
)
def test_drive_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SinusoidalDrive(**kwargs)


def test_dense_coupling_statistics(seed):
    """J_ij = (-J0 + g x_ij)/sqrt(N): mean -J0/sqrt(N), std g/sqrt(N) (5-sigma tolerances)."""
    N, g, J0 = 400, 2.0, 1.5
    J = BalancedRateNetwork(N, g=g, J0=J0, seed=seed).coupling_matrix()
    n = N * N
    assert abs(J.mean() + J0 / np.sqrt(N)) < 5 * g / np.sqrt(N) / np.sqrt(n)
    assert abs(J.std() / (g / np.sqrt(N)) - 1) < 5 * np.sqrt(2 / n)


def test_sparse_structure(seed):
    """Fixed in-degree K, no autapses, weights (-J0 + g x)/sqrt(K)."""
    N, K, g, J0 = 300, 40, 2.0, 1.0
    net = BalancedRateNetwork(N, g=g, J0=J0, K=K, seed=seed)
    J = net.coupling_matrix()
    assert np.all((J != 0).sum(axis=1) == K)
    assert np.all(np.diag(J) == 0)
    w = J[J != 0]
    assert abs(w.mean() + J0 / np.sqrt(K)) < 5 * g / np.sqrt(K) / np.sqrt(w.size)
    assert net.constant_input == pytest.approx(np.sqrt(K) * net.I0)


@pytest.mark.parametrize("K", [None, 50])
def test_time_averaged_mean_equation(seed, K):
    """Averaging tau dm/dt = -m + (1/N) 1^T J phi(h) + sqrt(K) I0 over time gives
    <m> = (1/N) 1^T J <phi> + sqrt(K) I0 (sqrt(N) when dense) up to (m(T) - m(0))/T and the O(dt) error of
    the scheme (tolerance 0.02, against |m| of about 2 and sqrt(N) I0 of about 17)."""
    N = 300
    net = BalancedRateNetwork(N, K=K, seed=seed)
    run = net.run(40.0, dt=0.02, t_transient=10.0, n_exponents=0, n_record=N)
    m = run.mean_input.magnitude.mean()
    phi_mean = run.rates.magnitude.mean(axis=0)
    rhs = net.coupling_matrix().sum(axis=0) @ phi_mean / N + net.constant_input
    assert m == pytest.approx(rhs, abs=0.02)


@pytest.mark.parametrize("phi, g, J0, I0", [("relu", 0.6, 1.0, 1.0), ("tanh", 0.7, 0.0, 0.3)])
def test_fixed_point_spectrum_matches_jacobian_eigenvalues(seed, phi, g, J0, I0):
    """Below the transition the network settles on a fixed point h*; its Lyapunov spectrum is the set of
    real parts of the eigenvalues of -1 + J diag(phi'(h*)). Checked: the largest exponent (tolerance 0.02:
    O(dt) scheme error and finite averaging) and the sum of all N (tolerance 0.01 + dt sum lambda^2 with
    dt = 0.02: the first-order error is about dt lambda^2 / 2 per exponent, largest for the stiff mean
    mode). Interior exponents of nearly degenerate eigenvalues converge only as exp(-gap T), so they are
    not compared one by one."""
    N = 12
    net = BalancedRateNetwork(N, g=g, J0=J0, I0=I0, phi=phi, seed=seed)
    run = net.run(60.0, dt=0.02, t_transient=40.0, n_exponents=N)
    h = run.state
    J = net.coupling_matrix()
    d = (h > 0).astype(float) if phi == "relu" else 1 / np.cosh(h) ** 2
    f = np.maximum(h, 0) if phi == "relu" else np.tanh(h)
    residual = -h + J @ f + net.constant_input
    assert np.max(np.abs(residual)) < 1e-6
    eig = np.sort(np.linalg.eigvals(-np.eye(N) + J * d[None, :]).real)[::-1]
    lam = run.lyapunov_exponents.magnitude
    assert lam[0] == pytest.approx(eig[0], abs=0.02)
    assert lam.sum() == pytest.approx(eig.sum(), abs=0.01 + 0.02 * np.sum(eig**2))


def test_exponent_sum_equals_mean_trace(seed):
    """The sum of all N exponents equals the time average of the Jacobian's trace, -N + sum_i J_ii phi'_i.
    Tolerance 0.02 N: O(dt) scheme error and finite averaging."""
    N = 30
    net = BalancedRateNetwork(N, g=3.0, seed=seed)
    run = net.run(30.0, dt=0.01, t_transient=10.0, n_exponents=N, n_record=N, ons_interval=0.5)
    active = run.rates.magnitude > 0
    trace = -N + (active * np.diag(net.coupling_matrix())[None, :]).sum(axis=1).mean()
    assert run.lyapunov_exponents.magnitude.sum() == pytest.approx(trace, abs=0.02 * N)


def test_drive_forms_agree(seed):
    """A SinusoidalDrive, an equivalent callable and an equivalent array give the same run."""
    I1, f, dt, T, T_tr = 3.0, 0.2, 0.05, 10.0, 5.0
    n = int(round((T + T_tr) / dt))
    runs = []
    for drive in (
        SinusoidalDrive(I1, f, "common"),
        lambda t: I1 * np.sin(2 * np.pi * f * t),
        I1 * np.sin(2 * np.pi * f * dt * np.arange(n)),
    ):
        net = BalancedRateNetwork(50, seed=seed)
        runs.append(net.run(T, drive=drive, dt=dt, t_transient=T_tr))
    for other in runs[1:]:
        np.testing.assert_allclose(other.state, runs[0].state, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(other.lyapunov_exponents.magnitude, runs[0].lyapunov_exponents.magnitude, rtol=1e-9)


def _amplitude_at(signal, f):
    x = signal.magnitude[:, 0]
    t = np.arange(len(x)) * float(signal.sampling_period.magnitude)
    return 2 * abs(np.mean((x - x.mean()) * np.exp(-2j * np.pi * f * t)))


def test_common_input_is_cancelled_by_balance(seed):
    """Common input moves the mean input m(t) only by the linear response
    I1 / |1 + sqrt(N) J0 <phi'> + i w| (within 30%: finite-N and nonlinear corrections), far less than the
    leak-filtered input I1 / |1 + i w| that an uncoupled population would show. (Time-independent population
    statistics under independent input are a large-N property, tested on the theory in test_meanfield.py;
    a finite network keeps an O(1/sqrt(N)) modulation.)"""
    N, I1, f, T = 400, 4.0, 0.2, 60.0
    net = BalancedRateNetwork(N, seed=seed)
    run = net.run(
        T, drive=SinusoidalDrive(I1, f, "common"), dt=0.05, t_transient=10.0, n_exponents=0, n_record=N, record_every=2
    )
    # slope = <phi'> = fraction of active neurons; sqrt(N) <phi'> is about 8 here
    slope = (run.rates.magnitude > 0).mean()
    predicted = I1 / abs(1 + np.sqrt(N) * slope + 2j * np.pi * f)
    assert _amplitude_at(run.mean_input, f) == pytest.approx(predicted, rel=0.3)
    assert predicted < 0.25 * I1 / abs(1 + 2j * np.pi * f)


def test_units_and_neo_outputs():
    """With tau in seconds exponents come in 1/s and equal the dimensionless ones divided by tau."""
    tau = 10 * pq.ms
    r1 = BalancedRateNetwork(40, seed=3, tau=tau).run(
        200 * pq.ms, dt=0.5 * pq.ms, t_transient=100 * pq.ms, drive=SinusoidalDrive(1.0, 20 * pq.Hz, "independent")
    )
    r2 = BalancedRateNetwork(40, seed=3).run(
        20.0, dt=0.05, t_transient=10.0, drive=SinusoidalDrive(1.0, 0.2, "independent")
    )
    assert r1.lyapunov_exponents.units == 1 / pq.s
    assert r2.lyapunov_exponents.units == 1 / tau_unit and r2.rates.times.units == tau_unit
    np.testing.assert_allclose(r1.lyapunov_exponents.magnitude, r2.lyapunov_exponents.magnitude / 0.01, rtol=1e-9)
    assert isinstance(r1.rates, neo.AnalogSignal)
    assert r1.rates.t_start == 100 * pq.ms
    assert r1.rates.sampling_period.rescale(pq.ms) == 0.5 * pq.ms
    assert r1.rates.annotations["g"] == 2.0
    assert r2.mean_input.annotations["time_unit"] == "tau"
    assert r1.local_exponents.shape == (20, 1)
    np.testing.assert_allclose(r1.local_exponents.magnitude.mean(), r1.lyapunov_exponents.magnitude[0])
