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
    scale = {"alpha": 40.0, "adaptive": 0.05, "pif": 30.0, "exp2": 3.0}[kind]
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
    return rng.normal(size=np.shape(P[name]))


def fd_check(rng, P, net, g, c, b, names, inputs=(), record=None, s=None, rel=1e-5):
    for name in names:
        direction = direction_for(rng, P, name)
        if not direction.any():
            continue
        h = 1e-9 if name in ("delays",) else 1e-7
        values = []
        for sign in (1, -1):
            other = build(perturbed(P, name, sign * h, direction), inputs, record)
            np.testing.assert_array_equal(other.spike_indices, net.spike_indices)  # the order of events kept
            values.append(loss_of(other, c, b, s))
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
