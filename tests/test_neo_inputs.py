"""Neo signals as inputs of the analysis functions (issue 14, item 3): a dimensionless AnalogSignal sampled
at the computation's step gives the result of the same samples as an array; anything else is refused."""

import neo
import numpy as np
import pytest
import quantities as pq

from brian2_sparseprop.lyapunov import step, tau_unit
from brian2_sparseprop.rate import RNN, BalancedRateNetwork, RateNetwork, lyapunov_spectrum, random_coupling

N_STEPS = 60  # t_transient = 1 and duration = 2 (units of tau) at dt = 0.05


def signal(samples, period, t_start=0.0, units="dimensionless"):
    return neo.AnalogSignal(samples, units=units, sampling_period=period, t_start=t_start * period.units)


def balanced_run(drive, tau=None):
    net = BalancedRateNetwork(40, g=1.5, tau=tau, seed=3)
    T, T_tr = (2.0, 1.0) if tau is None else (2.0 * tau, 1.0 * tau)
    dt = None if tau is None else 0.05 * tau
    return net.run(T, t_transient=T_tr, dt=dt, drive=drive, n_exponents=2)


@pytest.mark.parametrize("channels", [1, 40])
def test_balanced_drive_signal_equals_the_array_of_its_samples(seed, channels):
    samples = np.random.default_rng(seed).normal(size=(N_STEPS, channels))
    from_array = balanced_run(samples[:, 0] if channels == 1 else samples)
    from_signal = balanced_run(signal(samples, 0.05 * tau_unit))
    np.testing.assert_array_equal(from_signal.rates.magnitude, from_array.rates.magnitude)
    np.testing.assert_array_equal(from_signal.lyapunov_exponents.magnitude, from_array.lyapunov_exponents.magnitude)


def test_balanced_drive_signal_with_tau_is_read_in_time_units(seed):
    samples = np.random.default_rng(seed).normal(size=(N_STEPS, 1))
    tau = 10 * pq.ms
    from_array = balanced_run(samples[:, 0], tau=tau)
    from_signal = balanced_run(signal(samples, 0.5 * pq.ms), tau=tau)  # dt = 0.05 tau
    np.testing.assert_array_equal(from_signal.rates.magnitude, from_array.rates.magnitude)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda s: signal(s, 0.1 * tau_unit), ValueError, "sampled at the step"),
        (lambda s: signal(s, 0.05 * tau_unit, t_start=1.0), ValueError, "must start at t = 0"),
        (lambda s: signal(s, 0.05 * tau_unit, units="mV"), TypeError, "dimensionless signal"),
        (lambda s: signal(s, 0.05 * pq.m), ValueError, "another dimension"),
        (lambda s: signal(s, 0.05 * pq.s), ValueError, "another dimension"),  # seconds are not units of tau
    ],
)
def test_balanced_drive_signal_refused_before_any_work(make, error, match):
    with pytest.raises(error, match=match):
        balanced_run(make(np.zeros((N_STEPS, 1))))


def test_lyapunov_spectrum_of_a_map_takes_a_signal_per_step(seed):
    rng = np.random.default_rng(seed)
    net = RNN(random_coupling(20, 1.5, rng=seed), W_in=rng.normal(size=(20, 2)))
    s = rng.normal(size=(150, 2))
    kwargs = dict(k=3, n_transient=30, n_batches=5, rng=seed)
    from_array = lyapunov_spectrum(net, 120, inputs=s, **kwargs)
    from_signal = lyapunov_spectrum(net, 120, inputs=signal(s, 1 * step), **kwargs)
    np.testing.assert_array_equal(from_signal.exponents.magnitude, from_array.exponents.magnitude)
    with pytest.raises(ValueError, match="another dimension"):
        lyapunov_spectrum(net, 120, inputs=signal(s, 1 * pq.ms), **kwargs)


def test_lyapunov_spectrum_of_a_rate_network_takes_a_signal_at_dt(seed):
    rng = np.random.default_rng(seed)
    net = RateNetwork(random_coupling(20, 1.5, rng=seed), tau=10 * pq.ms, dt=1 * pq.ms)
    s = rng.normal(size=(100, 20))
    kwargs = dict(k=2, n_transient=20, n_batches=4, rng=seed)
    from_array = lyapunov_spectrum(net, 80, inputs=s, **kwargs)
    from_signal = lyapunov_spectrum(net, 80, inputs=signal(s, 0.001 * pq.s), **kwargs)
    np.testing.assert_array_equal(from_signal.exponents.magnitude, from_array.exponents.magnitude)
    with pytest.raises(ValueError, match="sampled at the step"):
        lyapunov_spectrum(net, 80, inputs=signal(s, 2 * pq.ms), **kwargs)
