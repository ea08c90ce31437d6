"""Exact gradients of networks of linear neurons ('linear': dx/dt = A x + b, threshold c . x >= theta,
reset of v and affine maps of the others, pulses into components): the backward pass of
cython_src/_adjoint_linear.pyx.

Checked against central finite differences of the forward engine (event order asserted unchanged), against
an independent differentiation (the recorded event order replayed as a JAX function, with
jax.scipy.linalg.expm for the propagators, a Pade approximant, no code shared with the engine's Taylor
series, and each spike time from the implicit function theorem at the threshold), against the 'lif_exp'
backward pass for the same model written as a linear one, and against closed forms of a perfect
integrator.
"""

import heapq

import numpy as np
import pytest

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.spiking.linear import LinearModel

T = 0.1


# ---------------------------------------------------------------- random networks of linear models


def model_arrays(kind, rng, n):
    """A random per-neuron linear model: variables, A (n, d, d), b (n, d), threshold coefficients, v,
    reset_others, pulse; every neuron fires on its own (drives above threshold)."""
    u = lambda lo, hi: rng.uniform(lo, hi, n)
    if kind == "alpha":  # biexponential current: tau_r dg/dt = -g, tau_s dI/dt = g - I, tau dv/dt = I0 - v + I
        tau, tau_s, tau_r = u(0.008, 0.012), u(0.004, 0.006), u(0.0015, 0.0025)
        A = np.zeros((n, 3, 3))
        A[:, 0, 0], A[:, 1, 0], A[:, 1, 1] = -1 / tau_r, 1 / tau_s, -1 / tau_s
        A[:, 2, 1], A[:, 2, 2] = 1 / tau, -1 / tau
        b = np.stack([np.zeros(n), np.zeros(n), u(1.1, 1.5) / tau], axis=1)
        return dict(variables=["g", "I", "v"], A=A, b=b, c={"v": 1.0}, v="v", ro={"I": (0.7, 0.05)}, pulse="g")
    if kind == "adaptive":  # Brian2's adaptive threshold: v > vt, v = 0, vt += dvt; pulses into v
        tau, tau_t = u(0.008, 0.012), u(0.012, 0.02)
        A = np.zeros((n, 2, 2))
        A[:, 0, 0], A[:, 1, 1] = -1 / tau, -1 / tau_t
        b = np.stack([u(1.3, 1.8) / tau, u(0.9, 1.0) / tau_t], axis=1)
        return dict(variables=["v", "vt"], A=A, b=b, c={"v": 1.0, "vt": -1.0}, v="v", ro={"vt": (0.9, 0.15)}, pulse="v")
    if kind == "pif":  # a perfect integrator of a drive and an exponentially decaying current
        tau, tau_s = u(0.008, 0.012), u(0.003, 0.006)
        A = np.zeros((n, 2, 2))
        A[:, 0, 0], A[:, 1, 0] = -1 / tau_s, 1 / tau
        b = np.stack([np.zeros(n), u(0.8, 1.2) / tau], axis=1)
        return dict(variables=["I", "v"], A=A, b=b, c={"v": 1.0}, v="v", ro={}, pulse="I")
    # 'exp2': LIF with excitatory and inhibitory exponential currents ('lif_exp' as a linear model)
    tau, tau_e, tau_i = u(0.008, 0.012), u(0.004, 0.006), u(0.007, 0.009)
    A = np.zeros((n, 3, 3))
    A[:, 0, 0], A[:, 1, 1], A[:, 2, 2] = -1 / tau_e, -1 / tau_i, -1 / tau
    A[:, 2, 0], A[:, 2, 1] = 1 / tau, 1 / tau
    b = np.stack([np.zeros(n), np.zeros(n), u(1.1, 1.5) / tau], axis=1)
    return dict(variables=["ge", "gi", "v"], A=A, b=b, c={"v": 1.0}, v="v", ro={}, pulse=("ge", "gi"))


def random_params(rng, kind, n=10, k=3, tref=0.0):
    m = model_arrays(kind, rng, n)
    d = len(m["variables"])
    vi = m["variables"].index(m["v"])
    x0 = rng.uniform(-0.2, 0.2, (n, d))
    x0[:, vi] = rng.uniform(0.0, 0.6, n)
    if kind == "adaptive":
        x0[:, 1] = rng.uniform(0.95, 1.1, n)
    targets = [rng.choice(np.delete(np.arange(n), j), size=k, replace=False) for j in range(n)]
    scale = {"alpha": 15.0, "adaptive": 0.05, "pif": 15.0, "exp2": 1.0}[kind]
    return dict(
        m,
        n=n,
        theta=np.where(np.arange(n) >= 0, 1.0, 0.0) + 0.1 * rng.uniform(-1, 1, n) if kind != "adaptive" else
        0.02 * rng.uniform(-1, 1, n),
        reset=0.1 * rng.uniform(-1, 1, n),
        x0=x0,
        tref=tref,
        indptr=np.arange(0, n * k + 1, k),
        indices=np.concatenate(targets),
        weights=scale * rng.normal(0.0, 1.0, n * k),
        delays=rng.uniform(0.0005, 0.003, n * k),
    )  # fmt: skip


def build(P, inputs=(), record=None):
    model = LinearModel(
        P["variables"],
        P["A"],
        P["b"],
        P["c"],
        theta=P["theta"],
        v=P["v"],
        reset=P["reset"],
        reset_others=P["ro"],
        pulse=P["pulse"],
        init={name: P["x0"][:, k] for k, name in enumerate(P["variables"])},
    )
    net = EventNetwork(
        P["n"],
        model="linear",
        linear=model,
        refractory=P["tref"],
        indptr=P["indptr"],
        indices=P["indices"],
        weights=P["weights"],
        delays=P["delays"],
        seed=5,
    )
    for method, kw in inputs:
        getattr(net, method)(**kw)
    if record is not None:
        net.record_states(*record)
    net.run(T, record_tape=True)
    return net


def loss_of(net, c, b, s=None):
    value = float(c @ net.spike_times + np.sum(b * net.linear_state))
    return value if s is None else value + float(np.sum(s * net.state_values))


CONFIGS = {
    "alpha": dict(kind="alpha", tref=0.0),
    "alpha-refractory": dict(kind="alpha", tref=0.002),
    "adaptive": dict(kind="adaptive", tref=0.0),
    "adaptive-refractory": dict(kind="adaptive", tref=0.001),
    "pif-refractory": dict(kind="pif", tref=0.0015),
    "exp2": dict(kind="exp2", tref=0.0),
}
# the parameters perturbed along a random direction, and where the gradient holds their derivative
KINDS = ("weights", "delays", "A", "b", "theta", "reset", "x0", "ro_scale", "ro_offset")
FIELD = dict(theta="threshold", ro_scale="reset_scale", ro_offset="reset_offset")


def perturbed(P, name, h, direction):
    """P with parameter `name` moved by h * direction (A: its entries on and below the diagonal)."""
    Q = dict(P)
    if name in ("ro_scale", "ro_offset"):
        Q["ro"] = {
            v: (s + h * direction[P["variables"].index(v)] * (name == "ro_scale"),
                o + h * direction[P["variables"].index(v)] * (name == "ro_offset"))
            for v, (s, o) in P["ro"].items()
        }  # fmt: skip
    else:
        Q[name] = P[name] + h * direction
    return Q


def direction_for(rng, P, name):
    d = len(P["variables"])
    if name == "A":  # the entries on and below the diagonal, but an integrator's zero diagonal stays 0
        mask = np.tril(np.ones((d, d), bool)) & ~((np.eye(d, dtype=bool)) & (P["A"] == 0))
        return rng.normal(size=P["A"].shape) * mask * 100.0
    if name in ("ro_scale", "ro_offset"):
        out = np.zeros(d)
        for v in P["ro"]:
            out[P["variables"].index(v)] = rng.normal()
        return out
    if name == "b":
        return rng.normal(size=P["b"].shape) * 50.0
    if name == "delays":  # delays of 0 stay 0 (the derivative there is one-sided)
        return rng.normal(size=P["delays"].shape) * (P["delays"] > 0)
    return rng.normal(size=np.shape(P[name]))


def fd_check(rng, P, net, g, c, b, names, inputs=(), record=None, s=None, rel=1e-5):
    for name in names:
        direction = direction_for(rng, P, name)
        if not direction.any():
            continue
        # the largest step of three that keeps the order of events (two spikes of a random network can be
        # closer than the first step moves them)
        for h in (1e-9, 1e-10, 1e-11) if name == "delays" else (1e-7, 1e-8, 1e-9):
            others = [build(perturbed(P, name, sign * h, direction), inputs, record) for sign in (1, -1)]
            if all(np.array_equal(o.spike_indices, net.spike_indices) for o in others):
                break
        else:
            pytest.fail(f"{name}: the order of events changes at every step down to h = {h}")
        values = [loss_of(o, c, b, s) for o in others]
        fd = (values[0] - values[1]) / (2 * h)
        got = np.sum(np.asarray(getattr(g, FIELD.get(name, name))) * direction)
        # relative 1e-5 (finite differences: truncation ~h^2, rounding ~1e-16 / h)
        assert got == pytest.approx(fd, rel=rel, abs=1e-6 * max(1.0, abs(fd))), name


@pytest.mark.parametrize("config", CONFIGS)
def test_gradient_matches_central_differences(seed, config):
    rng = np.random.default_rng(300 + seed)
    P = random_params(rng, **CONFIGS[config])
    net = build(P)
    assert net.spike_times.size > 30
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=(P["n"], len(P["variables"])))
    g = net.gradient(c, b)
    assert g.n_coincident == 0 and g.n_unresolved == 0
    if CONFIGS[config]["kind"] != "adaptive":
        assert g.n_pulse_triggered == 0
    fd_check(rng, P, net, g, c, b, KINDS)


@pytest.mark.parametrize("tref", [0.0, 0.001])
def test_zero_delay_cascades(seed, tref):
    # pulses into v with a threshold on v - vt: half the synapses without delay, so that pulse-triggered
    # spikes trigger others at the same instant (cascades): each takes its cause among the arrivals of its
    # instant recorded before it; against central differences
    # networks are drawn until one has no arrival counted as coincident (an upper bound near cascades, at
    # which the gradient is one-sided and finite differences do not apply)
    rng = np.random.default_rng(1010 + seed)
    for _ in range(10):
        P = random_params(rng, "adaptive", tref=tref)
        P["delays"] = np.where(rng.random(P["delays"].size) < 0.5, 0.0, P["delays"])
        P["weights"] = 6 * P["weights"]
        net = build(P)
        c = rng.normal(size=net.spike_times.size)
        b = rng.normal(size=(P["n"], 2))
        g = net.gradient(c, b)
        if g.n_coincident == 0:
            break
    assert g.n_pulse_triggered > 10 and g.n_unresolved == 0 and g.n_coincident == 0
    assert np.any(np.diff(net.spike_times) == 0)  # cascades
    fd_check(rng, P, net, g, c, b, KINDS)


# ---------------------------------------------------------------- the independent JAX replay


def jax_reference(P, net, c, bb, inputs=(), s=None):
    """dL/d(A, b, theta, reset, x0, reset scale and offset, weights, delays, input weights and delays) for
    L = c . spike times + sum(bb * x(T)) (+ sum(s * readouts)), by replaying the recorded events in time
    order as a JAX function: states moved by jax.scipy.linalg.expm, a spike reached on its own at
    t_k = t_rec - (g - sg(g)) / sg(g') (g = c . x - theta at the recorded time, sg: stop_gradient: the value
    t_rec, the derivative of the implicit function theorem), a spike caused by a pulse at its pulse's time."""
    import jax
    import jax.numpy as jnp
    from jax.scipy.linalg import expm

    from brian2_sparseprop.spiking.gradients import _x64

    n, V = P["n"], P["variables"]
    d = len(V)
    D = d + 1
    vi = 1 + V.index(P["v"])
    cvec = np.zeros(D)
    for name, val in P["c"].items():
        cvec[1 + V.index(name)] = val
    pos, neg = (P["pulse"], P["pulse"]) if isinstance(P["pulse"], str) else P["pulse"]
    pos, neg = 1 + V.index(pos), 1 + V.index(neg)
    tref = float(P["tref"])
    sg = jax.lax.stop_gradient

    def L(q):
        M = jnp.zeros((n, D, D)).at[:, 1:, 1:].set(q["A"]).at[:, 1:, 0].set(q["b"])
        Mc = M.at[:, vi, :].set(0.0)
        ra = jnp.concatenate([jnp.ones(1), q["ro_scale"]])  # every variable's reset map (v's is not used)
        rr = jnp.concatenate([jnp.zeros(1), q["ro_offset"]])
        y = [jnp.concatenate([jnp.ones(1), q["x0"][i]]) for i in range(n)]
        t_last = [jnp.asarray(0.0)] * n
        ref_end, ref_end_f = [None] * n, [None] * n

        def advance(i, t, t_f):
            # (decisions on the float values t_f, ref_end_f: JAX traces the arrays)
            if ref_end[i] is not None:
                stop = ref_end[i] if ref_end_f[i] <= t_f else t
                y[i] = expm(Mc[i] * (stop - t_last[i])) @ y[i]
                t_last[i] = stop
                if ref_end_f[i] > t_f:
                    return
                ref_end[i] = None
            y[i] = expm(M[i] * (t - t_last[i])) @ y[i]
            t_last[i] = t

        def kick(i, w, w_f):
            comp = neg if w_f < 0 else pos
            if comp == vi and ref_end[i] is not None:
                return  # dropped: v held
            y[i] = y[i].at[comp].add(w)

        rows = [(P["indptr"], P["indices"], q["weights"], q["delays"], P["weights"], P["delays"], j) for j in range(n)]
        for p, part in enumerate(inputs):
            w_f, dl_f = (np.broadcast_to(part[k], np.shape(part["indices"])) for k in ("weights", "delays"))
            for r in range(len(part["indptr"]) - 1):
                rows.append((part["indptr"], part["indices"], q[f"in{p}_w"], q[f"in{p}_d"], w_f, dl_f, r))
        events, seq = [], [0]

        def send(row, t_src, t_dual):
            indptr, indices, w, dl, w_f, dl_f, r = rows[row]
            for k in range(indptr[r], indptr[r + 1]):
                ev = (t_src + float(dl_f[k]), 0, seq[0], int(indices[k]), t_dual + dl[k], (w[k], float(w_f[k])))
                heapq.heappush(events, ev)
                seq[0] += 1

        if s is not None:
            for r, t_r in enumerate(net.state_times):
                for col, i in enumerate(net._sample_idx):
                    heapq.heappush(events, (float(t_r), -1, seq[0], int(i), jnp.asarray(float(t_r)), (r, col)))
                    seq[0] += 1
        if net._tape_inputs:
            for t_in, src in zip(*(np.concatenate(a) for a in zip(*net._tape_inputs)), strict=True):
                send(int(src), float(t_in), jnp.asarray(float(t_in)))
        total = jnp.asarray(0.0)
        times, neuron, kicked = net.spike_times, net.spike_indices, np.concatenate(net._tape)
        for k in range(times.size + 1):
            t_next = times[k] if k < times.size else net.t
            while events and events[0][0] < t_next - 1e-13 * (k < times.size):
                t_f, kind, _, i, ta, w = heapq.heappop(events)
                advance(i, ta, t_f)
                if kind < 0:
                    total = total + float(s[w]) * y[i][vi]
                else:
                    kick(i, *w)
            if k == times.size:
                break
            i = int(neuron[k])
            if kicked[k] and (cvec[pos] != 0 or cvec[neg] != 0):  # caused by a pulse: at its arrival time
                t_f, _, _, i2, tk, w = heapq.heappop(events)
                assert i2 == i and abs(t_f - times[k]) < 1e-12
                advance(i, tk, t_f)
                kick(i, *w)
            else:
                advance(i, jnp.asarray(times[k]), times[k])
                gval = jnp.dot(cvec, y[i]) - q["theta"][i]
                gdot = sg(jnp.dot(cvec, M[i] @ y[i]))
                tk = times[k] - (gval - sg(gval)) / gdot
                y[i] = y[i] + (M[i] @ y[i]) * (tk - times[k])  # the state at the moved spike, to first order
                t_last[i] = tk
            total = total + float(c[k]) * tk
            keep = jnp.zeros(D, bool).at[0].set(True)
            y[i] = jnp.where(keep, y[i], ra * y[i] + rr).at[vi].set(q["reset"][i])
            if tref > 0:
                ref_end[i], ref_end_f[i] = tk + tref, times[k] + tref
            send(i, times[k], tk)
        for i in range(n):
            advance(i, jnp.asarray(net.t), net.t)
            total = total + jnp.dot(bb[i], y[i][1:])
        return total

    q = {k: np.asarray(P[k], dtype=float) for k in ("A", "b", "theta", "reset", "x0", "weights", "delays")}
    q["ro_scale"] = np.array([P["ro"].get(v, (1.0, 0.0))[0] for v in V])
    q["ro_offset"] = np.array([P["ro"].get(v, (1.0, 0.0))[1] for v in V])
    for p, part in enumerate(inputs):
        q[f"in{p}_w"] = np.asarray(np.broadcast_to(part["weights"], np.shape(part["indices"])), dtype=float)
        q[f"in{p}_d"] = np.asarray(np.broadcast_to(part["delays"], np.shape(part["indices"])), dtype=float)
    with _x64():
        q = {k: jnp.asarray(a, dtype=jnp.float64) for k, a in q.items()}
        grads = jax.grad(L)(q)
    out = {k: np.array(v) for k, v in grads.items()}
    for name in ("ro_scale", "ro_offset"):
        out[name][V.index(P["v"])] = 0.0  # v takes the reset value, not a map
    out["A"] = out["A"] * np.tril(np.ones((d, d)))
    return out


@pytest.mark.slow  # ~15 s each: JAX traces a Python loop over the events
@pytest.mark.parametrize("config", ["alpha-refractory", "adaptive", "pif-refractory"])
def test_gradient_matches_jax_replay(seed, config):
    pytest.importorskip("jax")
    rng = np.random.default_rng(400 + seed)
    P = random_params(rng, n=6, **CONFIGS[config])
    net = build(P)
    assert net.spike_times.size > 15
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=(P["n"], len(P["variables"])))
    g = net.gradient(c, b)
    ref = jax_reference(P, net, c, b)
    # both exact: they agree to rounding (relative 1e-8 of the largest component)
    for name in KINDS:
        got = np.asarray(getattr(g, FIELD.get(name, name)))
        np.testing.assert_allclose(got, ref[name], rtol=1e-8, atol=1e-8 * np.abs(ref[name]).max(), err_msg=name)


# ---------------------------------------------------------------- inputs and readouts


def random_inputs(rng, n):
    """Poisson sources with their own synapses and a spike generator, mixed-sign weights, with delays."""

    def csr(m, k):
        return np.arange(0, m * k + 1, k), np.concatenate([rng.choice(n, size=k, replace=False) for _ in range(m)])

    ip_p, ix_p = csr(4, 3)
    ip_g, ix_g = csr(6, 3)
    return [
        ("add_poisson_sources", dict(rates=np.full(4, 300.0), indptr=ip_p, indices=ix_p,
                                     weights=rng.normal(0.0, 20.0, 12), delays=rng.uniform(0.0005, 0.003, 12))),
        ("add_spike_generator", dict(times=rng.uniform(0.002, T - 0.01, 30), sources=rng.integers(0, 6, 30),
                                     n_sources=6, indptr=ip_g, indices=ix_g, weights=rng.normal(10.0, 20.0, 18),
                                     delays=rng.uniform(0.0005, 0.003, 18))),
    ]  # fmt: skip


INPUT_FIELDS = {
    (0, "weights"): "poisson_weights",
    (0, "delays"): "poisson_delays",
    (1, "weights"): "generator_weights",
    (1, "delays"): "generator_delays",
    (1, "times"): "generator_times",
}


def test_input_and_readout_gradients(seed):
    # Poisson and spike-generator inputs (their weights, delays and the generator's times) and readouts of v
    # (record_states, dL_dstates), with refractoriness, against central differences
    rng = np.random.default_rng(500 + seed)
    P = random_params(rng, "alpha", n=8, tref=0.002)
    inputs = random_inputs(rng, P["n"])
    record = (rng.choice(P["n"], 4, replace=False), np.sort(rng.uniform(0.001, T, 20)))
    net = build(P, inputs, record)
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=(P["n"], 3))
    s = rng.normal(size=net.state_values.shape)
    g = net.gradient(c, b, dL_dstates=s)
    assert g.n_coincident == 0 and net.spike_times.size > 20
    fd_check(rng, P, net, g, c, b, KINDS, inputs, record, s)
    for (part, key), field in INPUT_FIELDS.items():
        direction = rng.normal(size=np.shape(inputs[part][1][key]))
        h, values = 1e-9 if key != "weights" else 1e-7, []
        for sign in (1, -1):
            moved = [(m, dict(kw, **{key: kw[key] + sign * h * direction}) if p == part else kw)
                     for p, (m, kw) in enumerate(inputs)]  # fmt: skip
            other = build(P, moved, record)
            np.testing.assert_array_equal(other.spike_indices, net.spike_indices)
            values.append(loss_of(other, c, b, s))
        fd = (values[0] - values[1]) / (2 * h)
        assert getattr(g, field)[0] @ direction == pytest.approx(fd, rel=1e-5, abs=1e-6), field


@pytest.mark.slow  # ~30 s: JAX traces a Python loop over the events
def test_inputs_and_readouts_match_jax_replay():
    pytest.importorskip("jax")
    rng = np.random.default_rng(600)
    P = random_params(rng, "adaptive", n=6, tref=0.001)
    inputs = random_inputs(rng, P["n"])
    for _m, kw in inputs:
        kw["weights"] = kw["weights"] * 0.002  # pulses into v
    record = (rng.choice(P["n"], 3, replace=False), np.sort(rng.uniform(0.001, T, 10)))
    net = build(P, inputs, record)
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=(P["n"], 2))
    s = rng.normal(size=net.state_values.shape)
    g = net.gradient(c, b, dL_dstates=s)
    parts = [{k: kw[k] for k in ("indptr", "indices", "weights", "delays")} for _m, kw in inputs]
    ref = jax_reference(P, net, c, b, parts, s)
    got = {name: np.asarray(getattr(g, FIELD.get(name, name))) for name in KINDS}
    got.update(in0_w=g.poisson_weights[0], in0_d=g.poisson_delays[0], in1_w=g.generator_weights[0],
               in1_d=g.generator_delays[0])  # fmt: skip
    for name, value in got.items():
        np.testing.assert_allclose(value, ref[name], rtol=1e-8, atol=1e-8 * np.abs(ref[name]).max(), err_msg=name)


# ---------------------------------------------------------------- cross-check, closed forms, counts, errors


def test_lif_exp_as_a_linear_model_has_the_lif_exp_gradient(seed):
    # 'lif_exp' written as a linear model (variables I_e, I_i, v): the same spikes and the same gradient as
    # the 'lif_exp' backward pass, its tau and drive derivatives by the chain rule through A and b
    rng = np.random.default_rng(700 + seed)
    P = random_params(rng, "exp2", n=10, tref=0.001)
    P["ro"] = {}
    tau_e, tau_i, tau = (-1 / P["A"][:, k, k] for k in range(3))
    drive = P["b"][:, 2] * tau
    lin = build(P)
    ref = EventNetwork(P["n"], model="lif_exp", tau=tau, tau_e=tau_e, tau_i=tau_i, drive=drive,
                       threshold=P["theta"], reset=P["reset"], refractory=P["tref"], v_init=P["x0"][:, 2],
                       i_e_init=P["x0"][:, 0], i_i_init=P["x0"][:, 1], indptr=P["indptr"], indices=P["indices"],
                       weights=P["weights"], delays=P["delays"])  # fmt: skip
    ref.run(T, record_tape=True)
    np.testing.assert_array_equal(lin.spike_indices, ref.spike_indices)
    np.testing.assert_allclose(lin.spike_times, ref.spike_times, rtol=0, atol=1e-13)
    c, bv = rng.normal(size=ref.spike_times.size), rng.normal(size=P["n"])
    g, h = lin.gradient(c, bv), ref.gradient(c, bv)
    assert g.n_coincident == h.n_coincident == 0
    # A = [[-1/te, 0, 0], [0, -1/ti, 0], [1/tau, 1/tau, -1/tau]], b = (0, 0, drive / tau)
    chain = {
        "weights": g.weights,
        "delays": g.delays,
        "threshold": g.threshold,
        "reset": g.reset,
        "v0": g.x0[:, 2],
        "i_e0": g.x0[:, 0],
        "i_i0": g.x0[:, 1],
        "drive": g.b[:, 2] / tau,
        "tau_e": g.A[:, 0, 0] / tau_e**2,
        "tau_i": g.A[:, 1, 1] / tau_i**2,
        "tau": (g.A[:, 2, 2] - g.A[:, 2, 0] - g.A[:, 2, 1] - g.b[:, 2] * drive) / tau**2,
    }
    for name, value in chain.items():
        want = getattr(h, name)
        np.testing.assert_allclose(value, want, rtol=1e-8, atol=1e-9 * np.abs(want).max(), err_msg=name)


def test_perfect_integrator_closed_form():
    # dv/dt = beta from v0, threshold theta, reset v_r, refractory t_ref: t_1 = (theta - v0) / beta,
    # t_{k+1} = t_k + t_ref + (theta - v_r) / beta; L = sum of the spike times
    beta, theta, v0, vr, tref = 40.0, 1.0, 0.2, -0.3, 0.003
    model = LinearModel(["v"], [[0.0]], [beta], {"v": 1.0}, theta=theta, reset=vr, init={"v": v0})
    net = EventNetwork(1, model="linear", linear=model, refractory=tref)
    net.run(0.2, record_tape=True)
    m = net.spike_times.size
    k = np.arange(m)
    expected = (theta - v0) / beta + k * (tref + (theta - vr) / beta)
    np.testing.assert_allclose(net.spike_times, expected, rtol=1e-13)
    g = net.gradient(np.ones(m))
    assert g.b[0] == pytest.approx(-np.sum((theta - v0) / beta**2 + k * (theta - vr) / beta**2), rel=1e-12)
    assert g.threshold == pytest.approx(np.sum(k + 1) / beta, rel=1e-12)
    assert g.reset == pytest.approx(-np.sum(k) / beta, rel=1e-12)
    assert g.x0[0, 0] == pytest.approx(-m / beta, rel=1e-12)


def test_full_and_v_final_state_derivatives_agree():
    rng = np.random.default_rng(800)
    P = random_params(rng, "alpha", n=6)
    net = build(P)
    c, bv = rng.normal(size=net.spike_times.size), rng.normal(size=6)
    full = np.zeros((6, 3))
    full[:, 2] = bv
    g1, g2 = net.gradient(c, bv), net.gradient(c, full)
    for name in ("weights", "delays", "A", "b", "x0", "threshold", "reset"):
        np.testing.assert_array_equal(getattr(g1, name), getattr(g2, name), err_msg=name)


def test_callable_loss():
    pytest.importorskip("jax")
    rng = np.random.default_rng(900)
    P = random_params(rng, "alpha", n=6)
    net = build(P)
    g = net.gradient(loss=lambda t, i, v: (t[0] - 0.01) ** 2 + v[2])
    c = np.zeros(net.spike_times.size)
    c[0] = 2 * (net.spike_times[0] - 0.01)
    h = net.gradient(c, (np.arange(6) == 2).astype(float))
    np.testing.assert_allclose(g.weights, h.weights, rtol=1e-12)
    assert g.loss == pytest.approx((net.spike_times[0] - 0.01) ** 2 + net.v[2])


def test_arrival_at_a_spike_of_its_target_is_counted():
    # two identical neurons fire on their own at the same instant and kick each other without delay
    model = LinearModel.lif_alpha(0.01, 0.005, drive=1.5)
    net = EventNetwork(2, model="linear", linear=model, indptr=[0, 1, 2], indices=[1, 0], weights=-1.0)
    net.run(0.015, record_tape=True)
    assert net.spike_times.size == 2 and net.spike_times[0] == net.spike_times[1]
    assert net.gradient(np.ones(2)).n_coincident == 2
    moved = EventNetwork(2, model="linear", linear=model, indptr=[0, 1, 2], indices=[1, 0], weights=-1.0,
                         delays=0.001)  # fmt: skip
    moved.run(0.015, record_tape=True)
    assert moved.gradient(np.ones(moved.spike_times.size)).n_coincident == 0


def test_pulse_triggered_spike_passes_its_time_to_the_pulse():
    # an adaptive-threshold neuron below threshold lifted over it by a generator pulse at 5 ms (delay 1 ms):
    # its spike is at the pulse's arrival, dL/dt goes to the generator's time and delay one for one (plus
    # the change of the vector field by the pulse, here -w (lambda^T M)_v with lambda = 0 after the spike
    # only through the reset: L = the spike time alone)
    model = LinearModel.lif_adaptive(tau=0.01, tau_t=0.015, vt_rest=1.0, dvt=0.1, drive=0.5)
    net = EventNetwork(1, model="linear", linear=model)
    net.add_spike_generator([0.005], [0], 1, [0, 1], [0], weights=0.9, delays=0.001)
    net.run(0.01, record_tape=True)
    assert net.spike_times.tolist() == [pytest.approx(0.006, abs=1e-15)]
    g = net.gradient([1.0])
    assert g.n_pulse_triggered == 1 and g.n_unresolved == 0
    assert g.generator_times[0][0] == pytest.approx(1.0, rel=1e-12)
    assert g.generator_delays[0] == pytest.approx(1.0, rel=1e-12)
    assert g.generator_weights[0] == 0.0 and g.threshold == 0.0


def test_linear_gradient_errors():
    model = LinearModel.lif_alpha(0.01, 0.005, drive=1.5)
    mixed = EventNetwork(2, model=["linear", "lif"], linear=model, drive=1.5)
    mixed.run(0.02, record_tape=True)
    with pytest.raises(NotImplementedError, match="'linear' neurons only.*found neuron 1 of model 'lif'"):
        mixed.gradient(np.zeros(mixed.spike_times.size))
    net = EventNetwork(2, model="linear", linear=model)
    net.run(0.02, record_tape=True)
    with pytest.raises(ValueError, match=r"dL_dv must have shape \(2, 3\)"):
        net.gradient(np.zeros(net.spike_times.size), np.zeros((2, 4)))


def test_spikes_at_the_end_of_a_refractory_period_are_counted():
    # a perfect integrator reset above its threshold fires again the instant its refractory period ends: those
    # spikes' times are set by the previous spike, not by a crossing (a degenerate event, counted)
    model = LinearModel.pif(drive=0.5, threshold=1.0, reset=1.2, tau=0.01, init={"v": 0.0})
    net = EventNetwork(1, model="linear", linear=model, refractory=0.002)
    net.run(0.03, record_tape=True)
    np.testing.assert_allclose(net.spike_times, [0.02, 0.022, 0.024, 0.026, 0.028], rtol=1e-12)
    assert net.gradient(np.ones(5)).n_coincident == 4


@pytest.mark.parametrize("kind", ["alpha", "exp2"])
def test_shared_model_gradient_is_the_per_neuron_one_summed(seed, kind):
    """A model whose A and b all neurons share (one accumulator row in the compiled pass): dL/dA and dL/db
    are the per-neuron gradients of the same model given per neuron, summed over the neurons; every other
    field is the same."""
    rng = np.random.default_rng(seed)
    P = random_params(rng, kind)
    P["A"], P["b"] = P["A"][0], P["b"][0]
    shared = build(P)
    per_neuron = build(dict(P, A=np.broadcast_to(P["A"], (P["n"],) + P["A"].shape).copy(),
                            b=np.broadcast_to(P["b"], (P["n"],) + P["b"].shape).copy()))  # fmt: skip
    np.testing.assert_array_equal(shared.spike_times, per_neuron.spike_times)
    c = rng.normal(size=shared.spike_times.size)
    b = rng.normal(size=shared.linear_state.shape)
    gs, gp = shared.gradient(c, b), per_neuron.gradient(c, b)
    assert np.shape(gs.A) == P["A"].shape and np.shape(gs.b) == P["b"].shape
    np.testing.assert_allclose(gs.A, gp.A.sum(axis=0), rtol=1e-12, atol=1e-12 * np.abs(gp.A).max())
    np.testing.assert_allclose(gs.b, gp.b.sum(axis=0), rtol=1e-12, atol=1e-12 * np.abs(gp.b).max())
    assert np.abs(gs.A).max() > 0 and np.abs(gs.b).max() > 0
    for name in ("weights", "delays", "x0", "threshold", "reset"):
        np.testing.assert_array_equal(getattr(gs, name), getattr(gp, name), err_msg=name)
