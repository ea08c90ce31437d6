"""The fast EIF tables (_eif_fast.pxd: U(x), the time to blow-up, on uniform panels of x, and its inverse X(u) on
panels indexed by the bits of u) and the engine's EIF fast path in `kick_row`.

Tolerances: U against mpmath at 30 digits to 4e-15 relative (a few roundings); X(U(x)) back to x within 4
roundings of x plus 16 roundings of u times f(x) (the conditioning of x on u: one rounding of u moves x by
f(x) ulp(u); measured up to 6.5 such units, at x = -66 for drive -0.5, 2.6 for the other drives); times and free
evolutions through the engine's readers against mpmath as in test_eif_table.py (1e-13 relative plus the
conditioning of the end points). A deliberately coarse fast table fails the same checks. Networks on the fast
tables against the same networks on the panel tables alone (spike for spike, times to 1e-12 relative), and the
fast path of `kick_row` against the engine's generic path to the bit. The pulse responses G(u) = U(X(u) + w)
against mpmath within 4e-15 relative plus 8 roundings of X(u) + w carried to G (measured up to 0.62 of that),
and a coarse one fails; states stored by U read back, store and restore as x.
"""

import mpmath as mp
import numpy as np
import pytest
from test_eif import EPS, conditioning, mp_time
from test_eif_table import time_errors

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.spiking import _engine

X_LO, X_HI = -101.0, 20.0  # the engine's range for resets near -1 (100 below) and thresholds up to 20
FAST_DRIVES = [-0.5, 0.0, 0.5, 3.0, 9.0, 50.0]  # d + 1 from 0.5 to 51 (nearer the saddle-node: no fast tables)


def fast_table(d, fast_tol=None):
    T = _engine.eif_table(d, X_LO, X_HI) if fast_tol is None else _engine.eif_table(d, X_LO, X_HI, fast_tol=fast_tol)
    assert T.fast is not None, (d, T.fast_why)
    return T


def mp_U(x, d):
    with mp.workdps(30):
        x = mp.mpf(x)
        pts = [x] + [p for p in (-30, -10, -3, -1, 0, 1, 3, 10, 30) if p > x] + [mp.inf]
        return mp.quad(lambda y: 1 / (d - y + mp.exp(y)), pts)


@pytest.mark.parametrize("d", FAST_DRIVES)
def test_U_and_its_inverse_against_mpmath(d, rng):
    T = fast_table(d)
    assert T.fast_nbytes <= 256 * 1024
    x = np.concatenate([rng.uniform(X_LO, X_HI, 12), rng.uniform(-3, 6, 12), [X_LO, X_HI]])
    U = _engine.eif_fast_kernels(T, "U", x)
    ref = np.array([float(mp_U(v, d)) for v in x])
    assert np.all(np.abs(U - ref) <= 4e-15 * ref), np.max(np.abs(U - ref) / ref)
    xs = np.linspace(X_LO, X_HI, 20001)
    back = _engine.eif_fast_kernels(T, "X", _engine.eif_fast_kernels(T, "U", xs))
    f = d - xs + np.exp(xs)
    tol = 4 * EPS * (np.abs(xs) + 1) + 16 * EPS * f * _engine.eif_fast_kernels(T, "U", xs)
    assert np.all(np.abs(back - xs) <= tol), np.max(np.abs(back - xs) / tol)
    # outside the range: NaN (the readers take the panel tables there)
    assert np.all(np.isnan(_engine.eif_fast_kernels(T, "U", np.array([X_LO - 1e-9, X_HI + 1e-9]))))


def pulse_response_errors(T, d, w, rng, m=10):
    """Errors of the tabulated pulse response G(u) = U(X(u) + w) against mpmath, relative to the tolerance:
    4e-15 of G (the fit's 1e-15 and a few roundings) plus 8 roundings of X(u) + w carried to G (|dG/dx| =
    1 / f); at u = U(x) rounded for random x, whose exact preimage is x + (U(x) - u) f(x)."""
    x = np.concatenate([rng.uniform(X_LO + 6, X_HI - 3, m), rng.uniform(-3, 6, m)])
    units = []
    for xv in x:
        with mp.workdps(30):
            um = mp_U(xv, d)
            u = float(um)
            xe = mp.mpf(xv) - (mp.mpf(u) - um) * (d - mp.mpf(xv) + mp.exp(xv))
            if xe + w >= X_HI:
                continue
            ref = float(mp_U(xe + w, d))
            f1 = float(d - (xe + w) + mp.exp(xe + w))
        g = _engine.eif_fast_kernels(T, "G", np.array([u]), weight=w)[0]
        units.append(abs(g - ref) / (4e-15 * ref + 8 * EPS * (abs(float(xe) + w) + 1) / f1))
    assert len(units) >= m
    return np.array(units)


@pytest.mark.parametrize("d", [-0.5, 0.0, 3.0, 50.0])
@pytest.mark.parametrize("w", [-5.0, -0.3, 0.6, 2.0])
def test_pulse_response_against_mpmath(d, w, rng):
    T = _engine.eif_table(d, X_LO, X_HI, kick_weights=[w, w, 0.0])  # repeats and 0 are dropped
    assert T.kick_weights == [w]
    units = pulse_response_errors(T, d, w, rng)
    assert np.all(units <= 1), units.max()  # measured up to 0.62
    # outside its range: NaN (the kick composes X and U there); for w > 0 below U(x_hi - w) the pulse fires
    lo = float(mp_U(X_HI - w, d)) if w > 0 else _engine.eif_fast_kernels(T, "U", np.array([X_HI]))[0]
    assert np.isnan(_engine.eif_fast_kernels(T, "G", np.array([lo * (1 - 1e-12)]), weight=w)[0])
    with pytest.raises(ValueError, match="no pulse response"):
        _engine.eif_fast_kernels(T, "G", np.ones(1), weight=w + 1)


def test_coarse_pulse_response_fails(rng):
    T = _engine.eif_table(0.0, X_LO, X_HI, fast_tol=1e-8, kick_weights=[0.6])
    assert np.any(pulse_response_errors(T, 0.0, 0.6, rng) > 1)


@pytest.mark.parametrize("d", FAST_DRIVES)
def test_readers_against_mpmath(d, rng):
    T = fast_table(d)
    excess = time_errors(d, T, rng, m=12)
    assert np.all(excess <= 0), excess


@pytest.mark.parametrize("d", [0.0, 3.0])
def test_coarse_fast_table_fails(d, rng):
    # fitted to 1e-6 instead of 1e-15: the same checks see the fast table, not the panel tables behind it
    T = fast_table(d, fast_tol=1e-6)
    assert T.fast[0] < fast_table(d).fast[0]
    excess = time_errors(d, T, rng, m=12)
    assert np.any(excess > 0)


@pytest.mark.parametrize("d", FAST_DRIVES)
def test_fast_and_panel_tables_agree(d, rng):
    T, P = fast_table(d), _engine.eif_table(d, X_LO, X_HI, fast_tol=None)
    assert P.fast is None and P.fast_nbytes == 0
    a = np.concatenate([rng.uniform(X_LO, X_HI - 1, 200), rng.uniform(-3, 4, 200)])
    b = np.minimum(a + rng.exponential(2.0, a.size), X_HI)
    tf = _engine.eif_kernels("time_to", a, b, 1.0, d, T)
    tp = _engine.eif_kernels("time_to", a, b, 1.0, d, P)
    cond = np.array([conditioning(x, d) for x in np.concatenate([a, b])]).reshape(2, -1).sum(0)
    assert np.all(np.abs(tf - tp) <= 2e-13 * tp + 1e-14 + 8 * cond)
    s = tp * rng.uniform(0.0, 1.0, a.size)
    xf = _engine.eif_kernels("advance", a, s, 1.0, d, T)
    xp = _engine.eif_kernels("advance", a, s, 1.0, d, P)
    # compared in time: the flow's time between the two results
    lo, hi = np.minimum(xf, xp), np.maximum(xf, xp)
    gap = np.zeros(a.size)
    m = lo < hi
    gap[m] = _engine.eif_kernels("time_to", lo[m], hi[m], 1.0, d, P)
    assert np.all(gap <= 2e-13 * s + 1e-14)


def test_out_of_range_falls_back_to_the_panel_tables(rng):
    d = 0.0
    T, P = fast_table(d), _engine.eif_table(d, X_LO, X_HI, fast_tol=None)
    a = rng.uniform(X_LO - 40, X_LO - 1e-6, 50)  # strong inhibition: below the tables' range
    b = rng.uniform(-2, X_HI, 50)
    np.testing.assert_array_equal(
        _engine.eif_kernels("time_to", a, b, 1.0, d, T), _engine.eif_kernels("time_to", a, b, 1.0, d, P)
    )
    s = rng.uniform(0.01, 1.0, 50)
    np.testing.assert_array_equal(
        _engine.eif_kernels("advance", a, s, 1.0, d, T), _engine.eif_kernels("advance", a, s, 1.0, d, P)
    )
    for x0, s0, x1 in zip(a[:6], s[:6], _engine.eif_kernels("advance", a[:6], s[:6], 1.0, d, T)):
        assert abs(float(mp_time(x0, x1, d)) - s0) <= 1e-13 * s0 + 1e-14 + 4 * conditioning(x1, d)


def test_no_fast_tables_near_the_saddle_node():
    # the bottleneck (width ~ sqrt(d + 1)) would need more than 4096 uniform panels: the panel tables serve
    T = _engine.eif_table(-1.0 + 1e-3, X_LO, X_HI)
    assert T.fast is None and T.fast_why == 1
    assert _engine.eif_table(-2.0, X_LO, X_HI).fast is None  # two fixed points: not covered
    with pytest.raises(ValueError, match="no fast tables"):
        _engine.eif_fast_kernels(T, "U", np.zeros(1))


def eif_net(n, seed, fast=True, extra_lif=False, drive=0.3, delay=1e-3, few_weights=False):
    """n EIF neurons of one drive, 10 random targets each, weights of both signs, Poisson input (delay 0:
    the kicks of a spike go through `kick_row` in the same instant, where the fast path is); with
    `extra_lif` one more neuron (a LIF one without synapses that never fires), which turns `kick_row`'s
    EIF fast path off (two threshold values); with `few_weights` the weights -0.3 and 0.6 only, whose pulse
    responses (and the Poisson input's) the table then holds."""
    rng = np.random.default_rng(seed)
    k = 10
    indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
    indices = rng.integers(0, n, n * k).astype(np.int32)
    models = np.array(["eif"] * n)
    threshold = np.full(n, 5.0)
    reset = np.full(n, -2.0)
    v0 = rng.uniform(-3.0, 2.0, n)
    if extra_lif:
        indptr = np.append(indptr, indptr[-1])
        models = np.append(models, "lif")
        threshold = np.append(threshold, 1.0)
        reset = np.append(reset, 0.0)
        v0 = np.append(v0, 0.0)
    net = EventNetwork(
        models.size,
        model=models,
        tau=0.01,
        drive=drive,
        threshold=threshold,
        reset=reset,
        v_init=v0,
        indptr=indptr,
        indices=indices,
        weights=rng.choice([-0.3, 0.6], indices.size) if few_weights else rng.uniform(-0.3, 0.6, indices.size),
        delays=delay,
        seed=seed,
    )
    net.add_poisson_input(rate=200.0, weight=0.5, targets=np.arange(n))
    net._eif_fast = fast
    return net


@pytest.mark.parametrize("few_weights", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_network_matches_the_panel_tables(seed, few_weights):
    a, b = eif_net(200, seed, few_weights=few_weights), eif_net(200, seed, fast=False, few_weights=few_weights)
    # the pulse responses round differently from X and U composed (by ~1e-16 relative per kick), which this
    # chaotic network amplifies ~10-fold in 0.25 s and ~100-fold in 0.5 s (measured up to 1.0e-13 and 1.1e-12
    # over 40 and 30 seeds): compared over 0.25 s; X and U composed agree with the panel tables to 2.6e-15
    duration = 0.25 if few_weights else 0.5
    a.run(duration)
    b.run(duration)
    assert a._spec["eif_tables"][0].fast is not None and b._spec["eif_tables"][0].fast is None
    assert a._spec["eif_tables"][0].kick_weights == ([-0.3, 0.5, 0.6] if few_weights else [])
    assert a.spike_times.size > 1000
    np.testing.assert_array_equal(a.spike_indices, b.spike_indices)
    np.testing.assert_allclose(a.spike_times, b.spike_times, rtol=1e-12 if few_weights else 1e-13, atol=0)


@pytest.mark.parametrize("few_weights", [False, True])
@pytest.mark.parametrize("drive", [0.3, -2.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_path_equals_the_generic_path_to_the_bit(drive, seed, few_weights):
    n = 200
    fast = eif_net(n, seed, drive=drive, delay=0.0, few_weights=few_weights)
    slow = eif_net(n, seed, extra_lif=True, drive=drive, delay=0.0, few_weights=few_weights)
    fast.run(0.5)
    slow.run(0.5)
    assert fast._engine.ef_match != -1 and slow._engine.ef_match == -1
    assert fast.spike_times.size > 200
    assert np.array_equal(fast.spike_indices, slow.spike_indices)
    assert np.array_equal(fast.spike_times, slow.spike_times)
    assert np.array_equal(fast.v, slow.v[:n])


def coded(net):
    """Which neurons are stored by U(x) (the kick's coordinate) instead of x."""
    return (net._spec["neurons"]["spare"] & _engine.SPARE_CODES["eif_u"]) != 0


@pytest.mark.parametrize("seed", [0, 1])
def test_states_stored_by_U_read_back_as_x(seed):
    """Kicked neurons are stored by U; what users read (v), store and set is x all the same: readback agrees
    with the panel tables' network (which stores x), and setting v of coded neurons mid-run continues as there."""
    a, b = eif_net(200, seed), eif_net(200, seed, fast=False)
    a.run(0.25)
    b.run(0.25)
    assert coded(a).mean() > 0.5 and not coded(b).any()
    np.testing.assert_allclose(a.v, b.v, rtol=1e-12, atol=1e-12)
    v = b.v
    v[::3] -= 0.5  # on coded neurons of a, among others
    a.v = v
    b.v = v
    assert coded(a).mean() > 0.5  # set states are stored by U again
    a.run(0.25)
    b.run(0.25)
    np.testing.assert_array_equal(a.spike_indices, b.spike_indices)
    np.testing.assert_allclose(a.spike_times, b.spike_times, rtol=1e-13, atol=0)


def test_a_restored_state_continues_to_the_bit():
    """get_state/set_state carry the coding: a run from a restored state repeats the original to the bit."""
    net = eif_net(200, 3)
    net.run(0.2)
    state = net.get_state()
    assert coded(net).any()
    net.run(0.2)
    first = net.spike_times[net.spike_times > 0.2].copy()
    v_first = net.v
    net.set_state(state)
    net.run(0.2)
    second = net.spike_times[net.spike_times > 0.2]
    assert first.size > 100
    np.testing.assert_array_equal(first, second[-first.size :])
    np.testing.assert_array_equal(v_first, net.v)
