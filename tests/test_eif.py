"""The exponential integrate-and-fire model ('eif', tau dx/dt = drive - x + exp(x), pulses x += w).

The engine's kernels (Gauss-Legendre quadrature of the time function and its safeguarded Newton inverse)
against mpmath at 30 digits: its own adaptive tanh-sinh quadrature of the same integral, with the fixed
points from mpmath's root finder. A time computed from a state x stored in double precision is only defined
to eps |x| / |f(x)| (the time the flow takes to move by one rounding of x), which grows without bound near a
fixed point; the tolerances below are 1e-13 relative plus this conditioning term of each end point.
Networks against the O(N) reference simulator (tests/oracle.py), whose EIF uses scipy's QUADPACK and DOP853.
"""

import mpmath as mp
import numpy as np
import pytest
from oracle import Oracle, generator_kicks
from test_engine_vs_oracle import assert_same_spikes, random_csr, random_generator

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.spiking import _engine

EPS = np.finfo(float).eps
DPS = 30
# drives on both sides of the saddle-node at -1, close to it, at it, and far from it
DRIVES = [-30.0, -5.0, -2.0, -1.1, -1.0001, -1.0 - 1e-9, -1.0, -1.0 + 1e-9, -0.9999, -0.5, 0.0, 0.5, 3.0, 50.0]


def mp_f(x, d):
    return d - x + mp.exp(x)


def mp_time(a, b, d):
    """Dimensionless time from a to b (f of one sign on [a, b]), at DPS digits."""
    with mp.workdps(DPS):
        a, b = mp.mpf(a), mp.mpf(b)
        lo, hi = min(a, b), max(a, b)
        pts = [lo] + [p for p in (mp.mpf(-1), mp.mpf(0), mp.mpf(1)) if lo < p < hi] + [hi]
        return abs(mp.quad(lambda x: 1 / mp_f(x, d), pts))


def mp_fixed_points(d):
    """(x_s, x_u) at DPS digits, or None for d > -1."""
    if d > -1:
        return None
    with mp.workdps(DPS):
        if d == -1:
            return mp.mpf(0), mp.mpf(0)
        e = -(mp.mpf(d) + 1)
        xs = mp.findroot(lambda x: mp_f(x, d), -mp.sqrt(2 * e) if e < 1 else mp.mpf(d))
        xu = mp.findroot(lambda x: mp_f(x, d), mp.sqrt(2 * e) if e < 1 else mp.log(-d) + 0.5)
        return xs, xu


def conditioning(x, d):
    """The time (dimensionless) the flow takes to move by one rounding of x: eps (|x| + 1) / |f(x)|."""
    with mp.workdps(DPS):
        return float(EPS * (abs(mp.mpf(x)) + 1) / abs(mp_f(mp.mpf(x), d)))


def sample_cases(rng, d, m):
    """m pairs a < b on which f > 0 (the time from a to b is finite), many close to the fixed points."""
    fp = mp_fixed_points(d)
    a, b = np.empty(m), np.empty(m)
    for k in range(m):
        if fp is None:
            a[k] = rng.uniform(-20, 10)
            b[k] = rng.uniform(a[k], 15)
        elif rng.integers(2):  # above the unstable fixed point, up to 1e-12 from it
            a[k] = float(fp[1]) + 10 ** rng.uniform(-12, 1)
            b[k] = rng.uniform(a[k], 15)
        else:  # below the stable one
            b[k] = float(fp[0]) - 10 ** rng.uniform(-12, 1)
            a[k] = b[k] - 10 ** rng.uniform(-3, 1.5)
    return a, b


@pytest.mark.parametrize("d", DRIVES)
def test_time_to_level_against_mpmath(d, rng):
    a, b = sample_cases(rng, d, 6)
    tau = 0.02
    got = _engine.eif_kernels("time_to", a, b, tau, d) / tau
    for x0, x1, g in zip(a, b, got):
        ref = float(mp_time(x0, x1, d))
        tol = 1e-13 * ref + 4 * (conditioning(x0, d) + conditioning(x1, d))
        assert abs(g - ref) <= tol, (d, x0, x1, g, ref, abs(g - ref) / ref)


@pytest.mark.parametrize("d", DRIVES)
def test_free_evolution_against_mpmath(d, rng):
    # from a, for a fraction of the time to b: the mpmath time from a to the state reached is that time
    a, b = sample_cases(rng, d, 6)
    tau = 0.02
    s = _engine.eif_kernels("time_to", a, b, 1.0, d) * rng.uniform(0.01, 0.99, a.size)
    x = _engine.eif_kernels("advance", a, s * tau, tau, d)
    assert np.all((a < x) & (x < b))
    for x0, x1, si in zip(a, x, s):
        ref = float(mp_time(x0, x1, d))
        tol = 1e-13 * si + 4 * (conditioning(x0, d) + conditioning(x1, d))
        assert abs(ref - si) <= tol, (d, x0, si, x1, ref, abs(ref - si) / si)


@pytest.mark.parametrize("d", [-30.0, -2.0, -1.0001, -1.0 - 1e-9])
def test_between_the_fixed_points_against_mpmath(d, rng):
    # f < 0 between x_s and x_u: x falls towards x_s, starting anywhere (also near x_u: a kick landing there)
    xs, xu = mp_fixed_points(d)
    gap = float(xu - xs)
    x0 = float(xs) + gap * np.concatenate([rng.uniform(0.01, 0.99, 4), [1 - 1e-9, 1e-9]])
    s = rng.uniform(0.01, 5.0, x0.size)
    x = _engine.eif_kernels("advance", x0, s, 1.0, d)
    assert np.all((float(xs) <= x) & (x < x0))
    for a, x1, si in zip(x0, x, s):
        ref = float(mp_time(a, x1, d))
        tol = 1e-13 * si + 4 * (conditioning(a, d) + conditioning(x1, d))
        assert abs(ref - si) <= tol, (d, a, si, x1, ref)
    # no time to any level above: never
    assert np.all(np.isinf(_engine.eif_kernels("time_to", x0, np.full(x0.size, 5.0), 1.0, d)))


@pytest.mark.parametrize("d, a, b", [(0.0, 30.0, 100.0), (0.0, 100.0, 200.0), (-2.0, 600.0, 650.0), (3.0, 8.0, 60.0)])
def test_times_between_high_levels(d, a, b):
    # f ~ e^x: the integrand falls by e^-(b - a) along the path (the reference in 200 pieces)
    with mp.workdps(DPS):
        ref = mp.quad(lambda x: 1 / mp_f(x, d), mp.linspace(a, b, 200))
    got = _engine.eif_kernels("time_to", np.array([a]), np.array([b]), 1.0, d)[0]
    assert abs(got - ref) <= 2e-12 * ref


def test_flow_where_the_time_function_is_linear():
    # close to x_s of d = -30, f is linear to rounding (f'(x_s) = -1 + 1e-13), so that the time over the
    # solver's first bracket can equal the time asked for exactly (a case that once left x unmoved)
    d = -30.0
    xs = float(mp_fixed_points(d)[0])
    for x0 in [xs + 3.35e-8, xs - 3.8e-3]:
        for s in [0.5, 1.0, 3.0]:
            x1 = _engine.eif_kernels("advance", np.array([x0]), np.array([s]), 1.0, d)[0]
            assert abs(x1 - xs) < abs(x0 - xs)
            tol = 1e-13 * s + 4 * (conditioning(x0, d) + conditioning(x1, d))
            assert abs(float(mp_time(x0, x1, d)) - s) <= tol


def test_fixed_points_and_infinite_times():
    for d in [-30.0, -2.0, -1.0001]:
        xs, xu = (float(v) for v in mp_fixed_points(d))
        # at a fixed point it stays; below the unstable one no level above it is ever reached
        np.testing.assert_array_equal(
            _engine.eif_kernels("advance", np.array([xs, xu]), np.array([1e3, 1e3]), 1.0, d), [xs, xu]
        )
        below = np.array([xu - 1e-9, xs, xs - 1.0, xs + 1e-3])
        assert np.all(np.isinf(_engine.eif_kernels("time_to", below, np.full(4, xu + 1.0), 1.0, d)))
        # converges to the stable point from both sides, to rounding, after a long time
        long = np.full(2, 80 / -np.expm1(xs))  # 80 time constants of the approach
        x = _engine.eif_kernels("advance", np.array([xs - 3.0, xu - 1e-6]), long, 1.0, d)
        np.testing.assert_allclose(x, xs, rtol=4 * EPS, atol=4 * EPS)
        # just above the unstable point: finite, and long (logarithmic in the distance)
        t = _engine.eif_kernels("time_to", np.array([xu + 1e-12]), np.array([5.0]), 1.0, d)[0]
        assert np.isfinite(t) and t > 20 / np.expm1(xu)
    # the double point of d = -1: the approach from below is algebraic (x ~ -2 / s), never reaching 0
    x = _engine.eif_kernels("advance", np.array([-0.5, -0.5]), np.array([1e3, 1e9]), 1.0, -1.0)
    assert np.all(x < 0)
    np.testing.assert_allclose(x, [-2 / 1e3, -2 / 1e9], rtol=2e-3)
    assert np.isinf(_engine.eif_kernels("time_to", np.array([0.0]), np.array([1.0]), 1.0, -1.0)[0])
    # blow-up: beyond the time to infinity the state is +inf; just before, large and finite
    for d in [0.5, -2.0]:
        x0 = 2.0
        t_inf = float(mp_time(x0, 690, d))
        x = _engine.eif_kernels("advance", np.array([x0, x0]), np.array([t_inf * (1 - 1e-9), t_inf * 1.001]), 1.0, d)
        assert 10 < x[0] < np.inf and x[1] == np.inf


def mp_advance(x, s, d, fp):
    """The state s (dimensionless time) after x, at DPS digits: Newton's iteration on the mpmath time,
    kept inside the bracket between x and the point the flow tends to (bisection otherwise)."""
    with mp.workdps(DPS):
        x = mp.mpf(x)
        up = mp_f(x, d) > 0
        if up:
            lo, hi = x, (fp[0] if fp is not None and x < fp[0] else mp.mpf(700))
        else:
            lo, hi = fp[0], x
        y = x + s * mp_f(x, d)
        for _ in range(200):
            if not (lo < y < hi):
                y = (lo + hi) / 2
            g = mp_time(x, y, d) - s
            if (g < 0) == up:
                lo = y
            else:
                hi = y
            step = g * abs(mp_f(y, d))
            y = y - step if up else y + step
            if abs(step) < mp.mpf(10) ** (-DPS + 3) * (1 + abs(y)):
                return y
        raise AssertionError("no convergence")


def mp_neuron(d, tau, threshold, reset, x0, pulse_times, pulse_weights, t_end):
    """Spike times of one EIF neuron receiving pulses, at DPS digits."""
    fp = mp_fixed_points(d)
    with mp.workdps(DPS):
        t, x, spikes = mp.mpf(0), mp.mpf(x0), []
        for tp, w in list(zip(pulse_times, pulse_weights)) + [(t_end, None)]:
            tp = mp.mpf(tp)
            while True:
                finite = fp is None or x > fp[1] or threshold < fp[0]
                t_fire = t + tau * mp_time(x, threshold, d) if finite else mp.inf
                if t_fire >= tp:
                    x = mp_advance(x, (tp - t) / tau, d, fp)
                    t = tp
                    break
                spikes.append(t_fire)
                t, x = t_fire, mp.mpf(reset)
            if w is None:
                return np.array([float(v) for v in spikes])
            x += w
            if x >= threshold:
                spikes.append(t)
                x = mp.mpf(reset)


@pytest.mark.parametrize(
    "d, weights, reset",
    [
        (0.3, (-2.0, 1.0), -2.5),  # fires on its own; pulses of both signs
        (-2.0, (-1.0, 4.0), -2.5),  # rests at x_s = -1.84; pulses across the unstable point x_u = 1.15 and back
        (-1.0001, (-0.3, 1.0), -0.3),  # near the saddle-node (x_u = -x_s = 0.014): long passages near both
    ],
)
def test_spike_times_with_pulses_against_mpmath(d, weights, reset, rng):
    tau, threshold, t_end = 0.01, 5.0, 0.3
    times = np.sort(rng.uniform(0, t_end, 14))
    w = rng.uniform(*weights, times.size)
    net = EventNetwork(1, model="eif", tau=tau, drive=d, threshold=threshold, reset=reset, v_init=[-1.0])
    m = times.size  # one source per pulse, so that each has its own weight
    net.add_spike_generator(times, np.arange(m), m, np.arange(m + 1), np.zeros(m, int), weights=w)
    net.run(t_end)
    ref = mp_neuron(d, tau, threshold, reset, -1.0, times, w, t_end)
    assert ref.size >= 3
    assert net.spike_times.size == ref.size
    np.testing.assert_allclose(net.spike_times, ref, rtol=1e-12, atol=0)


def eif_neurons(rng, n, models):
    """Per-neuron parameters: EIF drives on both sides of -1 and LIF ones about rheobase."""
    eif = models == "eif"
    return dict(
        model=models,
        tau=rng.uniform(0.005, 0.02, n),
        drive=np.where(eif, rng.uniform(-2.5, 0.5, n), rng.uniform(0.8, 1.5, n)),
        threshold=np.where(eif, rng.uniform(3.0, 8.0, n), 1.0),
        reset=np.where(eif, rng.uniform(-3.0, -1.0, n), rng.uniform(-0.2, 0.2, n)),
        v_init=np.where(eif, rng.uniform(-3.0, 1.0, n), rng.uniform(-0.2, 0.9, n)),
    )


@pytest.mark.parametrize("mixed", [False, True])
def test_random_network_matches_oracle(mixed, rng):
    n = 6
    models = rng.choice(["eif", "lif"], n) if mixed else np.full(n, "eif")
    params = dict(n=n, **eif_neurons(rng, n, models))
    indptr, indices = random_csr(rng, n, 3)
    params.update(
        indptr=indptr,
        indices=indices,
        weights=rng.uniform(-1.0, 1.5, len(indices)),
        delays=rng.uniform(1e-4, 2e-3, len(indices)),
        refractory=rng.choice([0.0, 1e-3], n),
    )
    duration = 0.1
    generator = random_generator(rng, n, 3, 200.0, duration, -0.5, 2.5, delayed=True)
    engine = EventNetwork(**params)
    engine.add_spike_generator(**generator)
    engine.run(duration)
    gen = {k: v for k, v in generator.items() if k != "n_sources"}
    oracle = Oracle(**params, inputs=generator_kicks(**gen, t_stop=duration))
    oracle.run(duration)
    assert len(oracle.spike_times) >= 10, "scenario too quiet to test anything"
    assert_same_spikes(engine, oracle, 1e-11)
    np.testing.assert_allclose(engine.v, oracle.v, rtol=1e-9, atol=1e-9)


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="threshold must be finite for 'qif' and 'eif'"):
        EventNetwork(2, model="eif", drive=0.0, threshold=np.inf)
    with pytest.raises(ValueError, match="threshold of 'eif' neurons must be < 700"):
        EventNetwork(2, model="eif", drive=0.0, threshold=[5.0, 800.0], reset=-1.0)
    with pytest.raises(ValueError, match="reset must be < threshold"):
        EventNetwork(1, model="eif", drive=0.0, threshold=1.0, reset=2.0)
    with pytest.raises(ValueError, match="integrate_refractory is supported for 'lif', 'lif_exp', 'coba' and 'linear'"):
        EventNetwork(1, model="eif", drive=0.0, threshold=5.0, reset=-1.0, refractory=1e-3, integrate_refractory=True)
    with pytest.raises(ValueError, match="model must be one of"):
        EventNetwork(1, model="exp_if")
    from brian2_sparseprop.spiking.lyapunov import lyapunov_spectrum

    net = EventNetwork(2, model="eif", drive=0.0, threshold=5.0, reset=-1.0)
    with pytest.raises(NotImplementedError, match="found model 'eif'"):
        lyapunov_spectrum(net, 0.1)
