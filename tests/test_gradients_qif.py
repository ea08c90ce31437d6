"""Exact gradients of QIF and theta networks with delta pulses (`brian2_sparseprop.spiking._adjoint_qif`).

Checked against central finite differences of the forward engine for every parameter kind, against an
independent forward-mode (dual number) replay of the recorded event sequence (written here in the phase
phi = atan(v / sqrt I), which advances linearly, for drives above rheobase, and in v with tanh below it:
a different formulation and direction of differentiation from the backward pass's hand-derived flow
Jacobians), against the closed form of a single neuron's first spike and of free stretches (differentiated
with mpmath), also on and near the stable fixed point of a drive below rheobase, and for pseudospikes
against finite differences of the pseudospike times.
"""

import math

import numpy as np
import pytest

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.spiking.gradients import lif_gradient, pseudospike_times

T = 0.08
THR, RST = 8.0, -8.0  # the QIF's finite threshold and reset


def random_params(rng, model, n=8, k=3, tref=0.0, excitable=False):
    """A small random QIF or theta network: weights of both signs, delays, per-neuron tau and drive."""
    targets = [rng.choice(np.delete(np.arange(n), j), size=k, replace=False) for j in range(n)]
    drive = rng.uniform(0.6, 1.5, n)
    if excitable:  # some neurons below rheobase (a stable fixed point) and one at I = 0
        drive[: n // 2] = rng.uniform(-0.4, -0.1, n // 2)
        drive[n // 2] = 0.0
    v_init = rng.uniform(-2.5, 1.0, n) if model == "theta" else rng.uniform(-3.0, 1.0, n)
    return dict(
        n=n,
        model=model,
        tau=0.01 + 0.002 * rng.uniform(-1, 1, n),
        drive=drive,
        threshold=THR,
        reset=RST,
        refractory=tref,
        v_init=v_init,
        indptr=np.arange(0, n * k + 1, k),
        indices=np.concatenate(targets),
        weights=rng.normal(0.0, 0.6 if excitable else 0.3, n * k) + (0.4 if excitable else 0.0),
        delays=rng.uniform(0.0005, 0.003, n * k),
    )


def input_params(rng, n, n_poisson=3, n_gen=2):
    """Poisson sources and spike generators with per-synapse weights and delays."""
    return dict(
        p_rates=np.full(n_poisson, 150.0),
        p_indptr=np.arange(n_poisson + 1) * 2,
        p_indices=rng.integers(0, n, 2 * n_poisson),
        p_weights=rng.normal(0.0, 0.4, 2 * n_poisson),
        p_delays=rng.uniform(0.0002, 0.002, 2 * n_poisson),
        g_times=np.sort(rng.uniform(0.002, T - 0.01, 4)),
        g_sources=np.array([0, 1, 0, 1]) % n_gen,
        g_indptr=np.arange(n_gen + 1) * 2,
        g_indices=rng.integers(0, n, 2 * n_gen),
        g_weights=rng.normal(0.3, 0.3, 2 * n_gen),
        g_delays=rng.uniform(0.0002, 0.002, 2 * n_gen),
    )


def simulate(params, inputs=None, duration=T):
    net = EventNetwork(**params, seed=5)
    if inputs is not None:
        net.add_poisson_sources(
            inputs["p_rates"], inputs["p_indptr"], inputs["p_indices"], inputs["p_weights"], inputs["p_delays"]
        )
        n_gen = inputs["g_indptr"].size - 1
        net.add_spike_generator(
            inputs["g_times"], inputs["g_sources"], n_gen, inputs["g_indptr"], inputs["g_indices"],
            inputs["g_weights"], inputs["g_delays"],
        )  # fmt: skip
    net.run(duration, record_tape=True)
    return net


def grad_of(g, name):
    return {
        "weights": g.weights,
        "delays": g.delays,
        "drive": g.drive,
        "v_init": g.v0,
        "tau": g.tau,
        "threshold": g.threshold,
        "reset": g.reset,
        "p_weights": g.poisson_weights[0] if g.poisson_weights else None,
        "p_delays": g.poisson_delays[0] if g.poisson_delays else None,
        "g_weights": g.generator_weights[0] if g.generator_weights else None,
        "g_delays": g.generator_delays[0] if g.generator_delays else None,
        "g_times": g.generator_times[0] if g.generator_times else None,
    }[name]


def central_difference(rng, params, inputs, net, c, b, name, h):
    """The derivative of L = c . spike times + b . v(T) along a random direction of parameter ``name``,
    by central differences (the order of the spikes must not change)."""
    src = inputs if name[:2] in ("p_", "g_") else params
    direction = rng.normal(size=np.shape(src[name]))
    values = []
    for sign in (1, -1):
        changed = {name: src[name] + sign * h * direction}
        other = (
            simulate(params, dict(inputs, **changed)) if src is inputs else simulate(dict(params, **changed), inputs)
        )
        np.testing.assert_array_equal(other.spike_indices, net.spike_indices)
        values.append(float(c @ other.spike_times + b @ other.v))
    return direction, (values[0] - values[1]) / (2 * h)


CONFIGS = {
    "theta": dict(model="theta", tref=0.0),
    "theta-refractory-inputs": dict(model="theta", tref=0.002, inputs=True),
    "theta-excitable": dict(model="theta", tref=0.0, excitable=True),
    "qif-refractory-inputs": dict(model="qif", tref=0.002, inputs=True),
    "qif-excitable": dict(model="qif", tref=0.001, excitable=True),
}


@pytest.mark.parametrize("config", CONFIGS)
def test_gradient_matches_central_differences(rng, config):
    """The excitable configurations test the claim for neurons at drive <= 0 that fire, kicked over their
    unstable fixed point by pulses: a draw in which none of them fires (all pulses too weak, e.g. seed 9)
    is outside that claim and redrawn (from the same generator, at most 10 draws; asserted)."""
    cfg = CONFIGS[config]
    for _draw in range(10):
        params = random_params(rng, cfg["model"], tref=cfg["tref"], excitable=cfg.get("excitable", False))
        inputs = input_params(rng, params["n"]) if cfg.get("inputs") else None
        net = simulate(params, inputs)
        if not cfg.get("excitable") or np.isin(net.spike_indices, np.flatnonzero(params["drive"] <= 0)).any():
            break
    else:
        raise AssertionError(f"{config}: no neuron at drive <= 0 fired in 10 draws")
    assert net.spike_times.size > 6
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=params["n"])
    g = net.gradient(c, b)
    assert g.n_coincident == 0 and g.n_unresolved == 0
    names = ["weights", "delays", "drive", "v_init", "tau"]
    if cfg["model"] == "qif":
        names += ["threshold", "reset"]
    else:
        assert g.threshold == 0.0 and g.reset == 0.0  # theta: +-pi, no parameters
    if inputs is not None:
        names += ["p_weights", "p_delays", "g_weights", "g_delays", "g_times"]
    for name in names:
        h = {"threshold": 1e-5, "reset": 1e-5}.get(name, 1e-7)  # (a threshold of 8: larger steps)
        h *= 0.01 if name in ("delays", "tau", "p_delays", "g_delays", "g_times") else 1.0
        direction, fd = central_difference(rng, params, inputs, net, c, b, name, h)
        grad = np.broadcast_to(grad_of(g, name), np.shape(direction))
        scale = np.sum(np.abs(grad * direction))
        # relative agreement 1e-5 of the directional derivative (truncation ~h^2, rounding ~1e-16 / h)
        assert np.sum(grad * direction) == pytest.approx(fd, rel=1e-5, abs=1e-7 * scale + 1e-9), name


def test_pulse_triggered_qif_spikes(rng):
    """QIF with a low threshold: pulses cause spikes, which pass their derivative to the pulse's delay and
    source; the gradient still matches central differences."""
    params = random_params(rng, "qif", tref=0.001)
    params.update(threshold=1.0, reset=-3.0, weights=np.abs(params["weights"]) + 0.3)
    net = simulate(params)
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=params["n"])
    g = net.gradient(c, b)
    assert g.n_pulse_triggered > 0 and g.n_unresolved == 0 and g.n_coincident == 0
    for name in ("weights", "delays", "drive", "v_init", "tau", "threshold", "reset"):
        h = 1e-9 if name in ("delays", "tau") else 1e-7
        direction, fd = central_difference(rng, params, None, net, c, b, name, h)
        grad = np.broadcast_to(grad_of(g, name), np.shape(direction))
        scale = np.sum(np.abs(grad * direction))
        assert np.sum(grad * direction) == pytest.approx(fd, rel=1e-5, abs=1e-7 * scale + 1e-9), name


def test_shared_parameters_and_zero_delay_cascades(rng):
    """One shared weight, delay and tau (scalar gradients), and QIF cascades of pulse-triggered spikes without
    delay (ties within a cascade are structural: not counted)."""
    params = random_params(rng, "theta")
    params.update(weights=0.2, delays=0.001, tau=0.01)
    net = simulate(params)
    c, b = rng.normal(size=net.spike_times.size), rng.normal(size=params["n"])
    g = net.gradient(c, b)
    assert np.ndim(g.weights) == np.ndim(g.delays) == np.ndim(g.tau) == 0
    for name in ("weights", "delays", "tau"):
        direction, fd = central_difference(rng, params, None, net, c, b, name, 1e-7 if name == "weights" else 1e-9)
        assert float(grad_of(g, name) * direction) == pytest.approx(fd, rel=1e-5), name
    params = random_params(rng, "qif")
    params.update(threshold=1.0, reset=-3.0, weights=np.abs(params["weights"]) + 0.5, delays=0.0)
    net = simulate(params)
    c, b = rng.normal(size=net.spike_times.size), rng.normal(size=params["n"])
    g = net.gradient(c, b)
    assert g.n_pulse_triggered > 10 and g.n_coincident == 0 and g.n_unresolved == 0
    for name in ("weights", "drive", "v_init", "tau", "threshold"):
        direction, fd = central_difference(rng, params, None, net, c, b, name, 1e-9 if name == "tau" else 1e-7)
        grad = np.broadcast_to(grad_of(g, name), np.shape(direction))
        assert np.sum(grad * direction) == pytest.approx(fd, rel=1e-5, abs=1e-7 * np.sum(np.abs(grad * direction)))


# ------------------------------------------------------------------ an independent reference: forward mode


class Dual:
    """A number with a tangent vector (forward-mode differentiation), for the reference replay."""

    __slots__ = ("x", "dx")

    def __init__(self, x, dx):
        self.x, self.dx = float(x), dx

    @staticmethod
    def lift(a):
        return a if isinstance(a, Dual) else Dual(a, 0.0)

    def __add__(self, o):
        o = Dual.lift(o)
        return Dual(self.x + o.x, self.dx + o.dx)

    __radd__ = __add__

    def __sub__(self, o):
        o = Dual.lift(o)
        return Dual(self.x - o.x, self.dx - o.dx)

    def __rsub__(self, o):
        return Dual.lift(o) - self

    def __neg__(self):
        return Dual(-self.x, -self.dx)

    def __mul__(self, o):
        o = Dual.lift(o)
        return Dual(self.x * o.x, self.dx * o.x + self.x * o.dx)

    __rmul__ = __mul__

    def __truediv__(self, o):
        o = Dual.lift(o)
        return Dual(self.x / o.x, (self.dx * o.x - self.x * o.dx) / (o.x * o.x))

    def __rtruediv__(self, o):
        return Dual.lift(o) / self

    def tan(self):
        t = math.tan(self.x)
        return Dual(t, (1.0 + t * t) * self.dx)

    def atan(self):
        return Dual(math.atan(self.x), self.dx / (1.0 + self.x * self.x))

    def sqrt(self):
        r = math.sqrt(self.x)
        return Dual(r, self.dx / (2.0 * r))

    def tanh(self):
        t = math.tanh(self.x)
        return Dual(t, (1.0 - t * t) * self.dx)

    def log(self):
        return Dual(math.log(self.x), self.dx / self.x)


def replay_gradient(params, net, c, b, duration=T):
    """dL/d(weights, delays, drive, v_init, tau) by replaying the recorded order of events in forward mode
    (dual numbers; drive != 0, no refractoriness, no pulse-triggered spikes): every arrival at its source's
    replayed time plus its delay. A neuron with drive > 0 in the phase phi = atan(v / sqrt I), which
    advances at the rate sqrt(I) / tau, its spike when phi reaches the threshold's phase; one with drive < 0
    in v itself, advanced by the tangent-addition form v -> (v + I T) / (1 - v T), T = tanh(a s) / a
    (a = sqrt(-I), s = dt / tau; from the reset -inf of a theta neuron: -1 / T), its spike from v > a at
    tau / (2 a) log((v + a) (theta - a) / ((v - a) (theta + a))) (theta = +inf: log((v + a) / (v - a)))."""
    n, indptr, indices = params["n"], params["indptr"], params["indices"]
    nnz = indices.size
    theta = params["model"] == "theta"
    times, neuron = net.spike_times, net.spike_indices
    # the event order of the run: spikes (kind 0) and arrivals (kind 1, source spike r, synapse s)
    events = [(t, 0, r, -1) for r, t in enumerate(times)]
    for r, (t, j) in enumerate(zip(times, neuron, strict=True)):
        for s in range(indptr[j], indptr[j + 1]):
            if t + params["delays"][s] < duration:
                events.append((t + params["delays"][s], 1, r, s))
    events.sort()
    sizes = (("weights", nnz), ("delays", nnz), ("drive", n), ("v_init", n), ("tau", n))
    dim, offsets = 0, {}
    for name, m in sizes:
        offsets[name], dim = dim, dim + m
    p = {
        name: [Dual(x, np.eye(1, dim, offsets[name] + k)[0]) for k, x in enumerate(np.broadcast_to(params[name], (m,)))]
        for name, m in sizes
    }
    w, d, tau = p["weights"], p["delays"], p["tau"]
    drive = p["drive"]
    assert all(x.x != 0.0 for x in drive)
    up = [x.x > 0.0 for x in drive]
    a = [x.sqrt() if up[i] else (-x).sqrt() for i, x in enumerate(drive)]
    v0 = [(x / 2).tan() if theta else x for x in p["v_init"]]
    # the state at t_last: the phase (drive > 0) or v (drive < 0; None: -inf)
    state = [(v0[i] / a[i]).atan() if up[i] else v0[i] for i in range(n)]
    t_last = [Dual(0.0, 0.0)] * n
    t_sp = [None] * times.size
    top = [Dual(math.pi / 2, 0.0) if theta else (params["threshold"] / a[i]).atan() for i in range(n)]
    bottom = [Dual(-math.pi / 2, 0.0) if theta else (params["reset"] / a[i]).atan() for i in range(n)]

    def advance(i, dt):  # v after dt from the state at t_last (drive < 0)
        tt = (a[i] * dt / tau[i]).tanh() / a[i]
        v = state[i]
        return -1.0 / tt if v is None else (v + drive[i] * tt) / (1.0 - v * tt)

    def time_to_spike(i, v):  # drive < 0, v above the unstable fixed point
        ratio = (v + a[i]) / (v - a[i])
        if not theta:
            ratio = ratio * (params["threshold"] - a[i]) / (params["threshold"] + a[i])
        return tau[i] / (2.0 * a[i]) * ratio.log()

    for _t, kind, r, s in events:
        if kind == 0:
            i = neuron[r]
            if up[i]:
                t_sp[r] = t_last[i] + (top[i] - state[i]) * tau[i] / a[i]
                state[i] = bottom[i]
            else:
                t_sp[r] = t_last[i] + time_to_spike(i, state[i])
                state[i] = None if theta else Dual(params["reset"], 0.0)
            t_last[i] = t_sp[r]
        else:
            i = indices[s]
            ta = t_sp[r] + d[s]
            if up[i]:
                ph = state[i] + a[i] * (ta - t_last[i]) / tau[i]
                state[i] = (ph.tan() + w[s] / a[i]).atan()
            else:
                v = advance(i, ta - t_last[i])
                state[i] = None if v is None else v + w[s]
            t_last[i] = ta
    L = Dual(0.0, 0.0)
    for r in range(times.size):
        L = L + c[r] * t_sp[r]
    for i in range(n):
        if up[i]:
            v_T = a[i] * (state[i] + a[i] * (duration - t_last[i]) / tau[i]).tan()
        else:
            v_T = advance(i, duration - t_last[i])
        L = L + b[i] * (2 * v_T.atan() if theta else v_T)
    return [L.dx[offsets[name] : offsets[name] + m] for name, m in sizes]


@pytest.mark.parametrize("model", ["theta", "qif"])
def test_gradient_matches_forward_mode_replay(rng, model):
    params = random_params(rng, model, n=6, k=2)
    params["threshold"], params["reset"] = 40.0, -40.0  # no pulse-triggered spikes
    net = simulate(params)
    assert net.spike_times.size > 6
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=params["n"])
    g = net.gradient(c, b)
    assert g.n_pulse_triggered == 0 and g.n_coincident == 0
    ref = replay_gradient(params, net, c, b)
    for name, r in zip(("weights", "delays", "drive", "v_init", "tau"), ref, strict=True):
        ours = np.asarray(grad_of(g, name))
        np.testing.assert_allclose(ours, r, rtol=1e-8, atol=1e-8 * np.abs(r).max(), err_msg=name)


# ------------------------------------------------------------------ closed forms


def first_spike_closed_form(model, v0, tau, drive, thr):
    """The first spike time of a neuron without input, from v0 (theta: the phase), with mpmath."""
    import mpmath as mp

    v = mp.tan(v0 / 2) if model == "theta" else v0
    if drive > 0:
        a = mp.sqrt(drive)
        top = mp.pi / 2 if model == "theta" else mp.atan(thr / a)
        return tau / a * (top - mp.atan(v / a))
    if drive == 0:
        return tau / v - (0 if model == "theta" else tau / thr)
    a = mp.sqrt(-drive)  # above the unstable fixed point: coth pieces

    def to_inf(x):  # time from x to +inf, in units of tau
        return mp.acoth(x / a) / a

    return tau * (to_inf(v) - (0 if model == "theta" else to_inf(thr)))


@pytest.mark.parametrize("model", ["theta", "qif"])
@pytest.mark.parametrize("drive", [1.7, 0.0, -0.3])
def test_single_neuron_closed_form(model, drive):
    import mpmath as mp

    with mp.workdps(30):
        tau, thr = 0.012, 5.0
        v0 = 1.5 if model == "theta" else 1.2  # above the unstable fixed point when drive < 0
        net = EventNetwork(1, model=model, tau=tau, drive=drive, threshold=thr, reset=-5.0, v_init=[v0])
        net.run(0.2, record_tape=True)
        t1 = first_spike_closed_form(model, mp.mpf(v0), mp.mpf(tau), mp.mpf(drive), mp.mpf(thr))
        assert net.spike_times[0] == pytest.approx(float(t1), rel=1e-12)
        dL = np.zeros(net.spike_times.size)
        dL[0] = 1.0
        g = net.gradient(dL)

        def d(k):
            args = [mp.mpf(v0), mp.mpf(tau), mp.mpf(drive), mp.mpf(thr)]
            return float(mp.diff(lambda x: first_spike_closed_form(model, *args[:k], x, *args[k + 1 :]), args[k]))

        assert g.v0[0] == pytest.approx(d(0), rel=1e-9)
        assert g.tau == pytest.approx(d(1), rel=1e-9)
        assert g.drive == pytest.approx(d(2), rel=1e-9)
        if model == "qif":
            assert g.threshold == pytest.approx(d(3), rel=1e-9)


# ------------------------------------------------------------------ pseudospikes


def first_spikes(t, i, n):
    return np.array([t[i == k].min() for k in range(n)])


@pytest.mark.parametrize("model", ["theta", "qif"])
def test_pseudospike_gradients(rng, model):
    """L = sum of the first spike times, a silent neuron's first spike its pseudospike: nonzero gradients
    for silent neurons, against central differences of the pseudospike times."""
    pytest.importorskip("jax")
    import jax.numpy as jnp

    params = random_params(rng, model, n=6, k=2)
    params["drive"][:3] = rng.uniform(-0.5, -0.1, 3)  # silent unless kicked over
    params["v_init"][:3] = -1.0
    params["weights"] = 0.3 * params["weights"]
    i_ps = 50.0
    coef = rng.uniform(0.5, 1.5, params["n"])

    def loss(t, i):
        first = jnp.stack([jnp.min(jnp.where(i == k, t, jnp.inf)) for k in range(params["n"])])
        return jnp.dot(coef, first)

    def value(p):
        net = simulate(p)
        ts, ix = pseudospike_times(net, i_ps)
        return float(coef @ first_spikes(np.r_[net.spike_times, ts], np.r_[net.spike_indices, ix], p["n"])), net

    L0, net = value(params)
    g = lif_gradient(net, loss=loss, pseudospikes=i_ps)
    assert g.loss == pytest.approx(L0, rel=1e-12)
    silent = g.pseudospike_indices
    assert silent.size >= 2 and (g.pseudospike_times > T).all()
    assert np.all(g.drive[silent] != 0.0) and np.all(g.v0[silent] != 0.0)
    for name in ("weights", "drive", "v_init", "tau") + (("threshold",) if model == "qif" else ()):
        h = 1e-9 if name == "tau" else 1e-7
        direction = rng.normal(size=np.shape(params[name]))
        lp, np_ = value(dict(params, **{name: params[name] + h * direction}))
        lm, nm = value(dict(params, **{name: params[name] - h * direction}))
        np.testing.assert_array_equal(np_.spike_indices, net.spike_indices)
        np.testing.assert_array_equal(nm.spike_indices, net.spike_indices)
        grad = np.broadcast_to(grad_of(g, name), np.shape(direction))
        fd = (lp - lm) / (2 * h)
        assert np.sum(grad * direction) == pytest.approx(fd, rel=1e-6, abs=1e-9), name


@pytest.mark.parametrize("model", ["theta", "qif"])
def test_pseudospike_continuous_at_trial_end(model):
    """A spike that moves past T becomes a pseudospike at T: the first spike time is continuous in the
    drive, and so is its derivative's sign (both later for a smaller drive)."""
    tau, v0 = 0.01, -1.0
    i_ps = 30.0

    def first(drive, duration):
        net = EventNetwork(1, model=model, tau=tau, drive=drive, threshold=THR, reset=RST, v_init=[v0])
        net.run(duration, record_tape=True)
        if net.spike_times.size:
            return net.spike_times[0]
        return pseudospike_times(net, i_ps)[0][0]

    net = EventNetwork(1, model=model, tau=tau, drive=1.0, threshold=THR, reset=RST, v_init=[v0])
    net.run(0.1)
    t1 = net.spike_times[0]
    for eps in (1e-6, 1e-9):
        # T just after (real spike) and just before the spike (pseudospike): equal within O(eps)
        assert abs(first(1.0, t1 + eps) - first(1.0, t1 - eps)) < 5 * eps


# ------------------------------------------------------------------ refusals


def test_refusals():
    mixed = EventNetwork(2, model=np.array(["qif", "lif"]), drive=1.5, threshold=1.0, reset=0.0)
    mixed.run(0.01, record_tape=True)
    with pytest.raises(NotImplementedError, match="'qif' and 'theta' neurons only.*'lif'"):
        mixed.gradient(np.zeros(mixed.spike_times.size))
    lif = EventNetwork(1, drive=1.5)
    lif.run(0.01, record_tape=True)
    with pytest.raises(NotImplementedError, match="pseudospikes are implemented for networks of 'qif' and 'theta'"):
        lif.gradient(np.zeros(lif.spike_times.size), pseudospikes=10.0)
    th = EventNetwork(2, model="theta", drive=[1.0, -0.5])
    th.record_states([0], [0.005])
    th.run(0.02, record_tape=True)
    with pytest.raises(ValueError, match="pseudospikes must be > 0"):
        th.gradient(np.zeros(th.spike_times.size), pseudospikes=0.0)
    with pytest.raises(ValueError, match="then one per pseudospike"):
        th.gradient(np.zeros(th.spike_times.size), pseudospikes=10.0)
    with pytest.raises(ValueError, match="drive must be > 0"):
        pseudospike_times(th, -1.0)
    g = th.gradient(np.zeros(th.spike_times.size), dL_dstates=np.zeros((1, 1)))  # zero readout derivatives
    assert np.all(g.v0 == 0.0)
    with pytest.raises(ValueError, match=r"dL_dstates must have shape \(1, 1\)"):
        th.gradient(np.zeros(th.spike_times.size), dL_dstates=np.ones((2, 1)))


def test_pseudospikes_option_of_the_method(rng):
    net = EventNetwork(2, model="theta", drive=[1.0, -0.5], v_init=[0.0, -1.0])
    net.run(0.02, record_tape=True)
    ts, ix = pseudospike_times(net, 20.0)
    assert ix.tolist() == [1]
    g = net.gradient(np.r_[np.zeros(net.spike_times.size), 1.0], pseudospikes=20.0)
    # the pseudospike's time by the silent neuron's initial phase: through v(T) only
    assert g.v0[1] < 0.0 and g.v0[0] == 0.0
    assert math.isclose(g.pseudospike_times[0], ts[0])


# ------------------------------------------------------------------ training


@pytest.mark.parametrize("model", ["theta", "qif"])
def test_trainable_network_with_pseudospikes(rng, model):
    """TrainableNetwork(model='theta' / 'qif', pseudospikes=...): silent read-out neurons get their
    pseudospike as first spike, and the batch gradient matches central differences of first_spikes."""
    pytest.importorskip("jax")
    import jax.numpy as jnp

    from brian2_sparseprop.spiking.training import TrainableNetwork

    drive = np.array([0.5, -0.2, -0.3]) + rng.uniform(-0.05, 0.05, 3)
    params = {"weights": rng.uniform(0.3, 0.6, 3), "input_weights": rng.uniform(0.2, 0.8, 3), "drive": drive}
    net = TrainableNetwork(
        3, [0, 1, 2, 3], [1, 2, 0], n_inputs=2, input_indptr=[0, 2, 3], input_indices=[0, 1, 2], readout=[1, 2],
        duration=0.05, tau=0.01, threshold=10.0, reset=-10.0, delays=0.001, input_delays=0.0005,
        trained=["weights", "input_weights", "drive"], model=model, pseudospikes=20.0,
    )  # fmt: skip
    x = np.array([[0.001, 0.004], [0.002, 0.003]])
    tgt = np.array([[0.02, 0.03], [0.025, 0.035]])
    step = net.loss_and_gradient(params, x, tgt, lambda f, t: jnp.sum((f[:, :, 0] - t) ** 2))
    silent = step.first_spikes > 0.05
    assert silent.any()  # some read-out neurons silent: pseudospikes after the trial
    for name in params:
        direction = rng.normal(size=3)
        fd, agreement = stable_central_difference(net, params, name, direction, x, tgt, silent)
        assert agreement <= 1e-6, f"{name}: no two neighbouring steps agree to 1e-6 ({agreement:.1e})"
        for value in fd:
            assert step.gradient[name] @ direction == pytest.approx(value, rel=1e-5), name


def stable_central_difference(net, params, name, direction, x, tgt, silent, steps=(1e-3, 1e-4, 1e-5, 1e-6, 1e-7)):
    """Central differences of L = sum (first spike - target)**2 along ``direction`` at a ladder of steps:
    the estimates of the two neighbouring steps that agree best, and their relative disagreement (the
    caller requires it small: the difference quotient is then verified, not assumed). The loss rounds to
    about 1e-18 (first spikes to an ulp), so a directional derivative as small as 1e-7 (the input weights
    reach silent read-out neurons near their stable fixed point only faintly; seeds 3, 6, 7) has a relative
    rounding error of 1e-5 at h = 1e-7 (2e-7 at h = 1e-5), while the larger ones (1e-5 .. 1e-4, of the
    weights and drives) are within 1e-7 at h = 1e-7 already: no single step suits every draw, and the
    truncation (~h**2) of the large steps is what the ladder's agreement rules out. Which read-out neurons
    are silent must not change within the steps used (a pseudospike becoming a spike)."""
    estimates = []
    for h in steps:
        values = []
        for sign in (1, -1):
            first = net.first_spikes(dict(params, **{name: params[name] + sign * h * direction}), x)
            values.append((np.array_equal(first > 0.05, silent), np.sum((first[:, :, 0] - tgt) ** 2)))
        estimates.append((values[0][0] and values[1][0], (values[0][1] - values[1][1]) / (2 * h)))
    pairs = [
        (abs(d1 - d2) / abs(d2), (d1, d2))
        for (same1, d1), (same2, d2) in zip(estimates[:-1], estimates[1:], strict=True)
        if same1 and same2 and d2 != 0.0
    ]
    assert pairs, f"{name}: the silent read-out neurons change within every step"
    agreement, fd = min(pairs)
    return fd, agreement


def test_trainable_network_refusals():
    from brian2_sparseprop.spiking.training import TrainableNetwork

    base = dict(n_inputs=0, input_indptr=[0], input_indices=[], readout=[0], duration=0.01)
    with pytest.raises(ValueError, match="pseudospikes are for models 'qif' and 'theta'"):
        TrainableNetwork(1, [0, 0], [], **base, pseudospikes=10.0)
    with pytest.raises(ValueError, match="pseudospikes must be > 0"):
        TrainableNetwork(1, [0, 0], [], **base, model="theta", pseudospikes=-1.0)
    net = TrainableNetwork(1, [0, 0], [], **base, model="theta", trained=["drive"])
    with pytest.raises(ValueError, match="theta neurons do not have"):
        net.loss_and_gradient({"drive": np.array([0.5])}, np.zeros((1, 0)), None, lambda f, t, gap: gap.sum())


def test_silent_theta_neuron_learns_with_pseudospikes():
    """A read-out theta neuron below rheobase, silent in every trial: without pseudospikes its first spike
    (the duration) has no gradient; with them, training its input weights and drive (optax Adam) makes it
    fire near the target time."""
    pytest.importorskip("optax")
    import jax.numpy as jnp
    import optax

    from brian2_sparseprop.spiking.training import TrainableNetwork, train

    kw = dict(
        n_inputs=2, input_indptr=[0, 1, 2], input_indices=[0, 0], readout=[0], duration=0.03, tau=0.01,
        input_delays=0.001, trained=["input_weights", "drive"], model="theta",
    )  # fmt: skip
    params = {"input_weights": np.array([0.1, 0.1]), "drive": np.array([-0.5])}
    x, target = np.array([[0.002, 0.006]]), np.array([0.015])

    def loss(first, t):
        return jnp.sum((first[:, 0, 0] - t) ** 2) * 1e4

    silent = TrainableNetwork(1, [0, 0], [], **kw)
    step = silent.loss_and_gradient(params, x, target, loss)
    assert step.first_spikes[0, 0, 0] == 0.03 and not np.any(step.gradient["drive"])
    model = TrainableNetwork(1, [0, 0], [], **kw, pseudospikes=10.0)
    before = model.loss_and_gradient(params, x, target, loss)
    assert before.first_spikes[0, 0, 0] > 0.03 and before.gradient["drive"][0] < 0  # more drive: earlier
    run = train(model, params, x, target, loss, optax.adam(0.05), epochs=60, batch_size=1)
    first = model.first_spikes(run.params, x)[0, 0, 0]
    assert first < 0.03 and abs(first - 0.015) < 0.002  # it fires in the trial, near the target


# ------------------------------------------------------------------ the stable fixed point below rheobase


def one_neuron(model, drive, v0, tau=0.01, duration=0.2, pulse=None):
    """One QIF (threshold 5, reset -5) or theta neuron from v0 (in v), with an optional input pulse (time,
    weight) from a spike generator (delay 1 ms)."""
    v_init = 2 * math.atan(v0) if model == "theta" else v0
    net = EventNetwork(1, model=model, tau=tau, drive=drive, threshold=5.0, reset=-5.0, v_init=[v_init])
    if pulse is not None:
        net.add_spike_generator([pulse[0]], [0], 1, [0, 1], [0], [pulse[1]], [0.001])
    net.run(duration, record_tape=True)
    return net


@pytest.mark.parametrize("model", ["qif", "theta"])
@pytest.mark.parametrize("drive", [-0.25, -1.0, -4.0, -9.0])
def test_fixed_point_state_derivatives_closed_form(model, drive):
    """A neuron on (v0 = -a, a = sqrt(-I)) or relaxing to (v0 = 0) the stable fixed point -a, T = 0.2 s,
    tau = 10 ms, dL/dv(T) = 1 (dL/dtheta(T) = 1 for theta): v(T) rounds to -a in most of these runs, where
    (dL/dv) (v**2 + I) is 0. Closed forms with x = a T / tau: from -a, v(T) = -a(I) + (v0 + a(I)) e^{-2 x}
    to first order, so dv(T)/dI = (1 - e^{-2 x}) / (2 a), dv(T)/dv0 = e^{-2 x}, dv(T)/dtau = 0; from 0,
    v(T) = -a tanh(x): dv/dI = (tanh x + x sech(x)**2) / (2 a), dv/dv0 = sech(x)**2, dv/dtau = a x sech(x)**2
    / tau; dtheta/dv = 2 / (1 + v(T)**2), dv/dtheta = (1 + v0**2) / 2 at the start. For x >= 20 (I <= -1)
    dL/dI is 1 / (2 sqrt(-I)) to rounding. dL/dtau there is below the rounding of v(T) (its distance from
    -a, under one ulp, times a x / tau): allowed 4 eps a x / tau. The same for a readout of v (theta) at
    t_r = 0.15 s instead of dL/dv(T) (x = a t_r / tau)."""
    a, tau, duration = math.sqrt(-drive), 0.01, 0.2
    for v0 in (-a, 0.0):
        for t_end in (duration, 0.15):
            x = a * t_end / tau
            vi = 2 * math.atan(v0) if model == "theta" else v0
            net = EventNetwork(1, model=model, tau=tau, drive=drive, threshold=5.0, reset=-5.0, v_init=[vi])
            if t_end < duration:
                net.record_states([0], [t_end])
            net.run(duration, record_tape=True)
            assert net.spike_times.size == 0
            if t_end < duration:
                g = net.gradient(np.zeros(0), dL_dstates=np.ones((1, 1)))
            else:
                g = net.gradient(np.zeros(0), dL_dv=[1.0])
            if v0 == 0.0:
                sech2 = 1.0 / math.cosh(x) ** 2
                di, dv0, dtau = (math.tanh(x) + x * sech2) / (2 * a), sech2, a * x * sech2 / tau
                v_end = -a * math.tanh(x)
            else:
                di, dv0, dtau, v_end = -math.expm1(-2 * x) / (2 * a), math.exp(-2 * x), 0.0, -a
            out = 2.0 / (1.0 + v_end * v_end) if model == "theta" else 1.0  # dtheta/dv at the end
            start = (1.0 + v0 * v0) / 2 if model == "theta" else 1.0  # dv0/dtheta0
            assert g.drive == pytest.approx(out * di, rel=1e-12)
            if x >= 20:
                assert g.drive == pytest.approx(out / (2 * math.sqrt(-drive)), rel=1e-12)
            assert g.v0[0] == pytest.approx(out * start * dv0, rel=1e-9, abs=1e-300)
            assert g.tau == pytest.approx(out * dtau, rel=1e-9, abs=4 * np.finfo(float).eps * a * x / tau)


def free_flow(v0, drive, tau, duration):
    """v(T) of tau dv/dt = v**2 + I from v0 (mpmath): (v0 + I T) / (1 - v0 T), T = tan(a s) / a, s, tanh(a s) / a."""
    import mpmath as mp

    s = duration / tau
    a = mp.sqrt(abs(drive))
    tt = mp.tan(a * s) / a if drive > 0 else (s if drive == 0 else mp.tanh(a * s) / a)
    return (v0 + drive * tt) / (1 - v0 * tt)


@pytest.mark.parametrize("drive", [-4.0, -1e-3, -1e-14, 0.0, 1e-8, 0.3])
def test_free_flow_derivatives_closed_form(drive):
    """dv(T)/dI, dv(T)/dv0 and dv(T)/dtau of a neuron without input, from states on, 1e-10 off, above and
    below the stable fixed point, over stretches from 1e-3 tau (no cancellation in the short-time form) to
    30 tau (e^{-120} at I = -4: no overflow, no loss to rounding of v(T) near the fixed point), against
    mpmath differentiation of the closed form (to 1e-12; measured 7e-15 over a wider grid)."""
    import mpmath as mp

    tau, a = 0.01, math.sqrt(abs(drive))
    checked = 0
    with mp.workdps(80):
        for v0 in (-50.0, -a, -a + 1e-10, -0.5, 0.05):
            for duration in (1e-5, 0.05, 0.3):
                net = one_neuron("qif", drive, v0, tau, duration)
                if net.spike_times.size:
                    continue  # (the closed form is that of a stretch without spike)
                args = [mp.mpf(v0), mp.mpf(drive), mp.mpf(tau), mp.mpf(duration)]
                assert float(free_flow(*args)) == pytest.approx(net.v[0], rel=1e-12, abs=1e-14)
                g = net.gradient(np.zeros(0), dL_dv=[1.0])
                for ours, k in ((g.v0[0], 0), (g.drive, 1), (g.tau, 2)):
                    ref = mp.diff(lambda x, k=k, args=args: free_flow(*args[:k], x, *args[k + 1 :]), args[k])
                    assert float(ours) == pytest.approx(float(ref), rel=1e-12, abs=1e-300), (v0, duration, k)
                checked += 1
    assert checked >= (6 if drive > 0 else 12)


def spike_after_rest(model, drive, v0, w, t_in, tau, thr=5.0):
    """The spike time (mpmath) of a neuron from v0 (in v) at drive < 0 that receives one pulse w at t_in: the
    tanh flow to t_in, then the coth flow from v + w > a to the threshold (+inf for theta)."""
    import mpmath as mp

    a = mp.sqrt(-drive)
    tt = mp.tanh(a * t_in / tau) / a
    v = (v0 + drive * tt) / (1 - v0 * tt) + w
    to_inf = mp.acoth(v / a) / a
    return t_in + tau * (to_inf - (0 if model == "theta" else mp.acoth(thr / a) / a))


@pytest.mark.parametrize("model", ["qif", "theta"])
@pytest.mark.parametrize("drive", [-0.5, -1.0, -4.0])
def test_spike_after_rest_on_the_fixed_point(model, drive):
    """A neuron on its stable fixed point (exactly, and 1e-10 above it) for 0.2 s (v rounds to -a long before
    the pulse), then a pulse lifts it over the unstable fixed point and it fires: dL/dt_spike = 1 by the
    drive, tau, v0, the pulse's weight and time, against the closed form (mpmath) and central differences."""
    import mpmath as mp

    a, tau, t_g = math.sqrt(-drive), 0.01, 0.2
    w = 2.5 * a
    for v0 in (-a, -a + 1e-10):
        net = one_neuron(model, drive, v0, tau, 0.3, pulse=(t_g, w))
        assert net.spike_times.size == 1
        g = net.gradient(np.array([1.0]))
        assert g.n_coincident == 0 and g.n_pulse_triggered == 0
        with mp.workdps(40):
            args = dict(drive=mp.mpf(drive), v0=mp.mpf(v0), w=mp.mpf(w), t_in=mp.mpf(t_g) + mp.mpf("0.001"),
                        tau=mp.mpf(tau))  # fmt: skip
            t1 = spike_after_rest(model, **args)
            assert net.spike_times[0] == pytest.approx(float(t1), rel=1e-12)

            def d(name, args=args):
                def f(value):
                    return spike_after_rest(model, **dict(args, **{name: value}))

                return float(mp.diff(f, args[name]))

            dv0 = d("v0") * ((1 + v0 * v0) / 2 if model == "theta" else 1.0)
            assert g.drive == pytest.approx(d("drive"), rel=1e-9)
            assert g.tau == pytest.approx(d("tau"), rel=1e-9)
            assert g.v0[0] == pytest.approx(dv0, rel=1e-6, abs=1e-18)
            assert np.ravel(g.generator_weights[0])[0] == pytest.approx(d("w"), rel=1e-9)
            assert np.ravel(g.generator_times[0])[0] == pytest.approx(d("t_in"), rel=1e-9)
        # central differences of the engine's spike time (the drive moves the fixed point: 1 / (2 a) of v)
        h = 1e-7
        fd = [one_neuron(model, drive + sg * h, v0, tau, 0.3, pulse=(t_g, w)).spike_times[0] for sg in (1, -1)]
        assert g.drive == pytest.approx((fd[0] - fd[1]) / (2 * h), rel=1e-6)


def network_at_rest(rng, model, offset):
    """6 neurons: 0-2 fire on their own (drive > 0); 3-5 below rheobase start on their stable fixed points
    (plus ``offset``): 3 receives pulses from 0 that lift it over its unstable fixed point (it fires), 4
    small pulses from 1 early on (it relaxes back), 5 none (it stays there: v(T) rounds to -a)."""
    drive = np.array([1.2, 0.9, 1.4, -1.0, -4.0, -2.25]) * rng.uniform(0.95, 1.05, 6)
    v_init = rng.uniform(-2.0, 1.0, 6)
    v_init[3:] = -np.sqrt(-drive[3:]) + offset
    if model == "theta":
        v_init = 2 * np.arctan(v_init)
    return dict(
        n=6, model=model, tau=0.01 * rng.uniform(0.9, 1.1, 6), drive=drive, threshold=40.0, reset=-40.0,
        refractory=0.0, v_init=v_init, indptr=np.array([0, 2, 4, 5, 6, 6, 6]), indices=np.array([3, 2, 4, 0, 1, 0]),
        weights=np.array([3.0, 0.3, 0.4, -0.3, 0.2, 0.3]) * rng.uniform(0.9, 1.1, 6),
        delays=rng.uniform(0.0005, 0.003, 6),
    )  # fmt: skip


@pytest.mark.parametrize("model", ["qif", "theta"])
@pytest.mark.parametrize("offset", [0.0, 1e-10])
def test_network_at_rest_matches_differences_and_replay(rng, model, offset):
    """Neurons started on (and 1e-10 off) their stable fixed points in a network, a loss of spike times and
    v(T): the gradient against central differences and the forward-mode replay (which writes the flow below
    rheobase in v with tanh, differentiated by dual numbers)."""
    params = network_at_rest(rng, model, offset)
    net = simulate(params, duration=0.15)
    assert 3 in net.spike_indices and 4 not in net.spike_indices and 5 not in net.spike_indices
    v5 = math.tan(net.v[5] / 2) if model == "theta" else net.v[5]
    assert offset != 0.0 or abs(v5 * v5 + params["drive"][5]) <= 8 * np.finfo(float).eps  # still there
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=params["n"])
    g = net.gradient(c, b)
    assert g.n_pulse_triggered == 0 and g.n_coincident == 0
    ref = replay_gradient(params, net, c, b, duration=0.15)
    for name, r in zip(("weights", "delays", "drive", "v_init", "tau"), ref, strict=True):
        ours = np.asarray(grad_of(g, name))
        np.testing.assert_allclose(ours, r, rtol=1e-8, atol=1e-10 * np.abs(r).max(), err_msg=name)
    assert abs(g.drive[5]) > 0.1 * abs(b[5])  # the fixed point moves with the drive
    for name in ("weights", "delays", "drive", "v_init", "tau"):
        h = 1e-7 * (0.01 if name in ("delays", "tau") else 1.0)
        direction = rng.normal(size=np.shape(params[name]))
        values = []
        for sign in (1, -1):
            other = simulate(dict(params, **{name: params[name] + sign * h * direction}), duration=0.15)
            np.testing.assert_array_equal(other.spike_indices, net.spike_indices)
            values.append(float(c @ other.spike_times + b @ other.v))
        fd = (values[0] - values[1]) / (2 * h)
        grad = np.asarray(grad_of(g, name))
        scale = np.sum(np.abs(grad * direction))
        assert np.sum(grad * direction) == pytest.approx(fd, rel=1e-5, abs=1e-7 * scale), name
