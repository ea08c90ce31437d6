"""The tabulated EIF kernels (_eif_table.pxd: piecewise Chebyshev series of the time function per drive).

Against mpmath at 30 digits (the helpers of test_eif.py), over both regimes and near the fixed points, with
the same tolerances as the quadrature kernels (1e-13 relative plus the conditioning of each end point) and
an absolute floor (in units of tau) of 1e-14 plus a few roundings of the time function's values (the table's
times are differences of them; near the saddle-node those values span the long passage through the
bottleneck). A deliberately coarse table fails the same check. Networks with tables against the same
networks on the quadrature kernels, spike for spike; single neurons with pulses against scipy's solve_ivp.
"""

import numpy as np
import pytest
from test_eif import DRIVES, EPS, conditioning, mp_fixed_points, mp_neuron, mp_time, sample_cases

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.spiking import _engine

TAB_DRIVES = [d for d in DRIVES if d != -1.0]  # d = -1 exactly has no table (quadrature)
X_LO, X_HI = -60.0, 15.0


def table(d, coarse=False):
    """The panel tables alone (the fast tables of drives > -1 are test_eif_fast.py's)."""
    if coarse:
        return _engine.eif_table(d, X_LO, X_HI, 1e-3, 8.0, fast_tol=None)
    return _engine.eif_table(d, X_LO, X_HI, fast_tol=None)


def rounding_of_T(d):
    """A few roundings of the time function's values: the table's absolute floor. For drive > -1, T spans the
    passage through the bottleneck (pi / sqrt(2 (drive + 1)) near the saddle-node: 1.4e5 at drive + 1 = 1e-9);
    below -1 the legs start at their fast ends and times near the fixed points are conditioned anyway."""
    span = _engine.eif_kernels("time_to", np.array([X_LO]), np.array([X_HI]), 1.0, d)[0] if d > -1 else 0.0
    return 1e-14 + 8 * EPS * span


def time_errors(d, T, rng, m=8):
    """Excess of |table - mpmath| over the tolerance, for times to a level and free evolutions."""
    a, b = sample_cases(rng, d, m)
    got = _engine.eif_kernels("time_to", a, b, 1.0, d, T)
    floor, excess = rounding_of_T(d), []
    for x0, x1, g in zip(a, b, got):
        ref = float(mp_time(x0, x1, d))
        excess.append(abs(g - ref) - (1e-13 * ref + floor + 4 * (conditioning(x0, d) + conditioning(x1, d))))
    s = got * rng.uniform(0.01, 0.99, a.size)
    x = _engine.eif_kernels("advance", a, s, 1.0, d, T)
    assert np.all((a < x) & (x < b))
    for x0, x1, si in zip(a, x, s):
        ref = float(mp_time(x0, x1, d))
        excess.append(abs(ref - si) - (1e-13 * si + floor + 4 * (conditioning(x0, d) + conditioning(x1, d))))
    return np.array(excess)


@pytest.mark.parametrize("d", TAB_DRIVES)
def test_table_against_mpmath(d, rng):
    T = table(d)
    assert sum(T.panels) > 0
    excess = time_errors(d, T, rng)
    assert np.all(excess <= 0), excess


@pytest.mark.parametrize("d", [-2.0, 0.5])
def test_coarse_table_fails(d, rng):
    # the same check on a table fitted to 1e-3 on panels up to 8 long (instead of 1e-14 and 0.5): the test
    # sees the table, not the fallback
    excess = time_errors(d, table(d, coarse=True), rng)
    assert np.any(excess > 0)


@pytest.mark.parametrize("d", [-30.0, -2.0, -1.0001, -1.0 - 1e-9])
def test_between_the_fixed_points_against_mpmath(d, rng):
    T = table(d)
    xs, xu = mp_fixed_points(d)
    gap = float(xu - xs)
    x0 = float(xs) + gap * np.concatenate([rng.uniform(0.01, 0.99, 6), [1 - 1e-9, 0.5, 1e-9]])
    s = rng.uniform(0.01, 5.0, x0.size)
    x = _engine.eif_kernels("advance", x0, s, 1.0, d, T)
    assert np.all((float(xs) <= x) & (x < x0))
    for a, x1, si in zip(x0, x, s):
        ref = float(mp_time(a, x1, d))
        tol = 1e-13 * si + 1e-14 + 4 * (conditioning(a, d) + conditioning(x1, d))
        assert abs(ref - si) <= tol, (d, a, si, x1, ref)
    assert np.all(np.isinf(_engine.eif_kernels("time_to", x0, np.full(x0.size, 5.0), 1.0, d, T)))


def test_table_and_quadrature_agree_everywhere(rng):
    # dense comparison with the quadrature kernels (1e-13 against mpmath) over the table's whole range,
    # including states outside it (the fallback) and long evolutions towards the stable point
    for d in [-30.0, -2.0, -1.05, -0.95, 0.0, 3.0]:
        T = table(d)
        a = np.concatenate([rng.uniform(X_LO, X_HI - 0.1, 3000), rng.uniform(-200, X_LO, 20)])
        b = np.minimum(a + rng.exponential(2.0, a.size), X_HI)
        q = _engine.eif_kernels("time_to", a, b, 1.0, d)
        t = _engine.eif_kernels("time_to", a, b, 1.0, d, T)
        np.testing.assert_array_equal(np.isinf(q), np.isinf(t))
        fin = np.isfinite(q)
        assert np.all(np.abs(t[fin] - q[fin]) <= 2e-13 * q[fin] + 1e-14), d
        s = rng.exponential(3.0, a.size)
        s[fin] = q[fin] * rng.uniform(0, 1, fin.sum())
        xq = _engine.eif_kernels("advance", a, s, 1.0, d)
        xt = _engine.eif_kernels("advance", a, s, 1.0, d, T)
        # the same state, or states the flow joins within 1e-13 of the time (both ways)
        lo, hi = np.minimum(xq, xt), np.maximum(xq, xt)
        gap = np.zeros(a.size)
        up = (lo < hi) & np.isfinite(_engine.eif_kernels("time_to", lo, hi, 1.0, d))
        gap[up] = _engine.eif_kernels("time_to", lo[up], hi[up], 1.0, d)
        down = (lo < hi) & ~up
        assert np.all(np.abs(xq[down] - xt[down]) <= 1e-12 * (np.abs(xq[down]) + 1)), d
        assert np.all(gap <= 2e-13 * s + 1e-14), (d, gap.max())


def test_table_checks_its_arguments():
    with pytest.raises(ValueError, match="x_lo < x_hi < 700"):
        _engine.eif_table(0.0, 5.0, 1.0)
    with pytest.raises(ValueError, match="the table is for drive 0.0, found drive 1.0"):
        _engine.eif_kernels("time_to", np.zeros(1), np.ones(1), 1.0, 1.0, table(0.0))


def eif_network(tables, seed, n=200):
    rng = np.random.default_rng(seed)
    k = 10
    indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
    indices = np.concatenate([rng.choice(n - 1, k, replace=False) for _ in range(n)])
    indices = (indices + (indices >= np.repeat(np.arange(n), k))).astype(np.int32)
    net = EventNetwork(
        n,
        model="eif",
        tau=0.01,
        drive=rng.choice([-2.0, -0.5, 0.3], n),
        threshold=5.0,
        reset=-2.0,
        v_init=rng.uniform(-3.0, 2.0, n),
        indptr=indptr,
        indices=indices,
        weights=rng.uniform(-0.3, 0.6, indices.size),
        delays=1e-3,
        seed=seed,
    )
    net.add_poisson_input(rate=100.0, weight=1.0)
    net._eif_tables = tables  # False: every EIF neuron on the quadrature kernels
    return net


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_network_matches_quadrature_engine(seed):
    nets = [eif_network(tables, seed) for tables in (True, False)]
    for net in nets:
        net.run(0.5)
    assert nets[0]._spec["eif_tab"].max() == 2 and len(nets[0]._spec["eif_tables"]) == 3
    assert len(nets[1]._spec["eif_tables"]) == 0
    a, b = nets
    assert a.spike_times.size > 1000
    np.testing.assert_array_equal(a.spike_indices, b.spike_indices)
    np.testing.assert_allclose(a.spike_times, b.spike_times, rtol=1e-12, atol=0)


def ivp_neuron(d, tau, threshold, reset, x0, pulse_times, pulse_weights, t_end):
    """Spike times of one EIF neuron with pulses by scipy's DOP853 at rtol 1e-13 (threshold as an event)."""
    from scipy.integrate import solve_ivp

    def rhs(t, x):
        return (d - x + np.exp(np.minimum(x, 50.0))) / tau  # trial stages may overshoot; the path stays < 5

    def hit(t, x):
        return x[0] - threshold

    hit.terminal, hit.direction = True, 1
    t, x, spikes = 0.0, x0, []
    for tp, w in list(zip(pulse_times, pulse_weights)) + [(t_end, 0.0)]:
        while t < tp:
            sol = solve_ivp(rhs, (t, tp), [x], method="DOP853", rtol=1e-13, atol=1e-13, events=hit)
            if sol.status == 1:
                t = sol.t_events[0][0]
                spikes.append(t)
                x = reset
            else:
                t, x = tp, sol.y[0, -1]
        x += w
        if x >= threshold:
            spikes.append(t)
            x = reset
    return np.array(spikes)


@pytest.mark.parametrize(
    "d, weights, reset",
    [(0.3, (-2.0, 1.0), -2.5), (-2.0, (-1.0, 4.0), -2.5), (-1.0001, (-0.3, 1.0), -0.3), (-30.0, (-5.0, 40.0), -28.0)],
)
def test_spike_times_with_pulses(d, weights, reset, rng):
    tau, threshold, t_end = 0.01, 5.0, 0.3
    times = np.sort(rng.uniform(0, t_end, 14))
    w = rng.uniform(*weights, times.size)
    net = EventNetwork(1, model="eif", tau=tau, drive=d, threshold=threshold, reset=reset, v_init=[-1.0])
    m = times.size
    net.add_spike_generator(times, np.arange(m), m, np.arange(m + 1), np.zeros(m, int), weights=w)
    net.run(t_end)
    assert net._spec["eif_tab"][0] == 0
    ivp = ivp_neuron(d, tau, threshold, reset, -1.0, times, w, t_end)
    assert ivp.size >= 2 and net.spike_times.size == ivp.size
    np.testing.assert_allclose(net.spike_times, ivp, rtol=1e-10, atol=0)  # DOP853's own accuracy
    if d != -30.0:
        np.testing.assert_allclose(
            net.spike_times, mp_neuron(d, tau, threshold, reset, -1.0, times, w, t_end), rtol=1e-12
        )
