"""Units of the balanced-network modules (docs/conventions.md, issue 14 items 2 and 3): without ``tau`` time
axes are in the unit ``tau`` and exponents in 1/tau; with ``tau`` every time and frequency is a Quantity
of either library, converted; wrong dimensions and ambiguous plain numbers are refused naming the
argument. Also `compare`'s times as Quantities of both libraries."""

import brian2
import elephant.signal_processing
import neo
import numpy as np
import pytest
import quantities as pq
from neo.test.tools import assert_neo_object_is_compliant

from brian2_sparseprop.device.compare import compare
from brian2_sparseprop.lyapunov import tau_unit
from brian2_sparseprop.rate import BalancedRateNetwork, SinusoidalDrive, periodic_dmft, stationary_dmft, train_student

UNITS = {"quantities": (pq.ms, pq.Hz), "brian2": (brian2.ms, brian2.Hz)}


def balanced(tau=None, ms=None, hz=None, **kwargs):
    net = BalancedRateNetwork(30, g=2.0, tau=tau, seed=2)
    if tau is None:
        return net.run(10.0, dt=0.05, t_transient=5.0, drive=SinusoidalDrive(1.0, 0.2, "independent"), **kwargs)
    return net.run(
        100 * ms, dt=0.5 * ms, t_transient=50 * ms, drive=SinusoidalDrive(1.0, 20 * hz, "independent"), **kwargs
    )


def test_balanced_without_tau_has_tau_axes_and_exponents_per_tau():
    run = balanced(n_exponents=2)
    for sig in (run.rates, run.mean_input, run.population_rate, run.local_exponents, run.spectrum.running_estimates):
        assert sig.times.units == tau_unit
        assert_neo_object_is_compliant(sig)
    assert run.rates.sampling_period == 0.05 * tau_unit and run.rates.t_start == 5 * tau_unit
    assert run.lyapunov_exponents.units == 1 / tau_unit
    assert run.local_exponents.units == 1 / tau_unit
    # Elephant's signal functions take the outputs as they are and keep their time axis
    z = elephant.signal_processing.zscore(run.rates)
    assert z.times.units == tau_unit and z.shape == run.rates.shape
    np.testing.assert_allclose(z.magnitude.mean(axis=0), 0.0, atol=1e-9)


def test_balanced_takes_tau_unit_quantities_as_their_numbers():
    plain = balanced()
    net = BalancedRateNetwork(30, g=2.0, seed=2)
    drive = SinusoidalDrive(1.0, 0.2 / tau_unit, "independent")
    quantity = net.run(10 * tau_unit, dt=0.05 * tau_unit, t_transient=5 * tau_unit, drive=drive)
    np.testing.assert_array_equal(quantity.rates.magnitude, plain.rates.magnitude)
    np.testing.assert_array_equal(quantity.lyapunov_exponents.magnitude, plain.lyapunov_exponents.magnitude)


@pytest.mark.parametrize("library", UNITS)
def test_balanced_with_tau_takes_quantities_of_both_libraries(library):
    ms, hz = UNITS[library]
    timed = balanced(tau=10 * ms, ms=ms, hz=hz)
    plain = balanced()
    np.testing.assert_array_equal(timed.rates.magnitude, plain.rates.magnitude)
    assert timed.lyapunov_exponents.units == 1 / pq.s
    np.testing.assert_allclose(timed.lyapunov_exponents.magnitude, plain.lyapunov_exponents.magnitude / 0.01)
    assert float(timed.rates.sampling_period.rescale(pq.ms)) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("tau", "kwargs", "error", "match"),
    [
        (None, dict(duration=5 * pq.ms), TypeError, r"duration must be a real number in units of tau \(tau is None\)"),
        (None, dict(duration=5.0, dt=0.5 * brian2.ms), TypeError, r"dt must be a real number in units of tau"),
        (10 * pq.ms, dict(duration=5 * pq.mV), TypeError, "duration must be a time Quantity"),
        (10 * pq.ms, dict(duration=50 * pq.ms, dt=0.5), TypeError, r"dt must be a time Quantity when tau is given"),
        (10 * pq.ms, dict(duration=50 * pq.ms, t_transient=5 * brian2.mV), TypeError, "t_transient must be a time"),
        (
            10 * pq.ms,
            dict(duration=50 * pq.ms, drive=SinusoidalDrive(1.0, 0.2)),
            TypeError,
            "frequency must be a frequency Quantity when tau is given",
        ),
        (
            None,
            dict(duration=5.0, drive=SinusoidalDrive(1.0, 20 * pq.Hz)),
            TypeError,
            r"frequency must be a real number in units of 1/tau",
        ),
    ],
)
def test_balanced_refuses_wrong_or_ambiguous_times(tau, kwargs, error, match):
    net = BalancedRateNetwork(20, seed=0, tau=tau)
    with pytest.raises(error, match=match):
        net.run(**kwargs)


@pytest.mark.parametrize("library", UNITS)
def test_periodic_dmft_with_tau_takes_quantities_and_equals_the_dimensionless_solution(library):
    ms, hz = UNITS[library]
    plain = periodic_dmft(2.0, 2.0, 0.2, N=1000, t_transient=5.0, t_measure=5.0, max_lag=2.0, dt=0.1)
    timed = periodic_dmft(
        2.0, 2.0, 20 * hz, N=1000, t_transient=50 * ms, t_measure=50 * ms, max_lag=20 * ms, dt=1 * ms, tau=10 * ms
    )
    assert plain.lyapunov_exponent.units == 1 / tau_unit and timed.lyapunov_exponent.units == 1 / pq.s
    assert float(timed.lyapunov_exponent) == pytest.approx(float(plain.lyapunov_exponent) / 0.01, rel=1e-12)
    for a, b in ((plain.mean_input, timed.mean_input), (plain.autocovariance, timed.autocovariance)):
        assert a.times.units == tau_unit and b.times.units == pq.s
        assert_neo_object_is_compliant(a)
        np.testing.assert_array_equal(a.magnitude, b.magnitude)
        np.testing.assert_allclose(a.times.magnitude * 0.01, b.times.magnitude, rtol=1e-12)
    np.testing.assert_allclose(
        plain.autocovariance.array_annotations["reference_time"] * 0.01,
        timed.autocovariance.array_annotations["reference_time"],
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(dt=0.1, tau=10 * pq.ms), r"dt must be a time Quantity when tau is given"),
        (dict(t_transient=5.0, tau=10 * pq.ms), r"t_transient must be a time Quantity when tau is given"),
        (dict(max_lag=2 * pq.mV, tau=10 * pq.ms), r"max_lag must be a time Quantity"),
        (dict(t_measure=5 * pq.ms), r"t_measure must be a real number in units of tau \(tau is None\)"),
    ],
)
def test_periodic_dmft_refuses_wrong_or_ambiguous_times(kwargs, match):
    f = 20 * pq.Hz if "tau" in kwargs else 0.2
    with pytest.raises(TypeError, match=match):
        periodic_dmft(2.0, 1.0, f, **kwargs)


def test_stationary_dmft_times_follow_tau():
    sol = stationary_dmft(2.0)
    plain = sol.autocovariance(5.0, 0.1)
    timed = sol.autocovariance(50 * brian2.ms, 1 * pq.ms, tau=10 * pq.ms)
    assert plain.times.units == tau_unit and timed.times.units == pq.s
    np.testing.assert_array_equal(plain.magnitude, timed.magnitude)
    lam = sol.lyapunov_exponent(t_max=30.0, step=0.02)
    assert lam.units == 1 / tau_unit
    lam_s = sol.lyapunov_exponent(10 * pq.ms, t_max=300 * pq.ms, step=0.2 * brian2.ms)
    assert float(lam_s) == pytest.approx(float(lam) / 0.01, rel=1e-12)
    with pytest.raises(TypeError, match=r"t_max must be a time Quantity when tau is given"):
        sol.autocovariance(5.0, tau=10 * pq.ms)
    with pytest.raises(TypeError, match=r"step must be a real number in units of tau"):
        sol.lyapunov_exponent(step=0.1 * pq.ms)


_STUDENT = dict(N=60, seed=1, n_record=2, min_periods=2, check_every=2)


def test_train_student_with_tau_equals_the_dimensionless_run():
    plain = train_student(10.0, "independent", t_transient=10.0, t_train_max=20.0, t_test=5.0, **_STUDENT)
    timed = train_student(
        10.0,
        "independent",
        f=20 * brian2.Hz,
        dt=0.5 * pq.ms,
        t_transient=100 * pq.ms,
        t_train_max=200 * brian2.ms,
        t_test=50 * pq.ms,
        tau=10 * pq.ms,
        **_STUDENT,
    )
    assert plain.output.times.units == tau_unit and timed.output.times.units == pq.s
    assert plain.output.annotations["time_unit"] == "tau" and timed.output.annotations["time_unit"] == "s"
    np.testing.assert_array_equal(plain.output.magnitude, timed.output.magnitude)
    np.testing.assert_allclose(plain.output.times.magnitude * 0.01, timed.output.times.magnitude, rtol=1e-12)
    assert plain.teacher_lambda1.units == 1 / tau_unit and timed.teacher_lambda1.units == 1 / pq.s
    assert float(timed.teacher_lambda1) == pytest.approx(float(plain.teacher_lambda1) / 0.01, rel=1e-12)
    assert float(timed.t_trained.rescale(pq.s)) == pytest.approx(float(plain.t_trained) * 0.01, rel=1e-12)
    for sig in (plain.output, plain.training_error, timed.rates):
        assert_neo_object_is_compliant(sig)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(f=0.2, tau=10 * pq.ms), r"f must be a frequency Quantity when tau is given"),
        (dict(dt=0.5 * pq.ms), r"dt must be a real number in units of tau"),
        (dict(t_test=5 * pq.mV, tau=10 * pq.ms), r"t_test must be a time Quantity"),
        (dict(tau=10.0), r"tau must be a time Quantity or None"),
    ],
)
def test_train_student_refuses_wrong_or_ambiguous_times(kwargs, match):
    with pytest.raises(TypeError, match=match):
        train_student(1.0, "common", N=10, **kwargs)


def grid_generator():
    generator = brian2.SpikeGeneratorGroup(3, [0, 1, 2, 0, 2], [1, 2, 3, 4.5, 7] * brian2.ms)
    spikes = brian2.SpikeMonitor(generator)
    brian2.run(10 * brian2.ms)
    return spikes


@pytest.mark.parametrize(
    "dt, tolerance, time_constant",
    [
        ([0.5 * brian2.ms, 0.1 * brian2.ms], 1 * brian2.ms, 10 * brian2.ms),
        (np.array([0.5, 0.1]) * pq.ms, 1 * pq.ms, 0.01 * pq.s),
        ([5e-4, 1e-4], 1e-3, 0.01),
    ],
    ids=["brian2", "quantities", "seconds"],
)
def test_compare_takes_quantities_of_both_libraries(dt, tolerance, time_constant):
    result = compare(
        grid_generator, dt=dt, tolerance=tolerance, time_constant=time_constant, target="numpy", progress=lambda s: None
    )
    assert [row["dt"] for row in result.rows] == pytest.approx([5e-4, 1e-4], rel=1e-12)
    assert result.tolerance == pytest.approx(1e-3, rel=1e-12)
    assert isinstance(result.tolerance, float)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(dt=0.1 * pq.mV), r"dt must be a time \(a Quantity in s"),
        (dict(dt=[0.1 * brian2.ms, 1 * brian2.Hz]), r"dt\[1\] must be a time"),
        (dict(tolerance=1 * brian2.mV), r"tolerance must be a time"),
        (dict(time_constant=10 * pq.Hz), r"time_constant must be a time"),
    ],
)
def test_compare_refuses_wrong_dimensions_before_any_run(kwargs, match):
    with pytest.raises(TypeError, match=match):
        compare(grid_generator, **kwargs)


def test_neo_times_in_tau_do_not_convert_to_seconds():
    sig = neo.AnalogSignal(np.zeros((3, 1)), units="dimensionless", sampling_period=1 * tau_unit)
    with pytest.raises(ValueError, match="Unable to convert"):
        sig.times.rescale(pq.s)
    assert float((5 * tau_unit).simplified) == 5.0
