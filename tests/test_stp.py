"""Short-term plasticity (Tsodyks-Markram, event-driven u and x) in the engine: closed forms of a regular
train, the slow reference `stp_oracle.StpOracle`, continuation of runs, and refusals."""

import pickle

import numpy as np
import pytest
from stp_oracle import StpOracle

from brian2_sparseprop import EventNetwork

TAU_M = 0.01


def _train(U, period, n_spikes, w=1.0, delay=0.0, t0=0.0, **stp):
    """One passive LIF neuron (no drive, unreachable threshold) fed by a regular train through one plastic
    synapse; returns the network after the train (run to its last arrival + 1 ms)."""
    times = t0 + period * np.arange(n_spikes)
    net = EventNetwork(1, drive=0.0, tau=TAU_M, threshold=1e9)
    net.add_spike_generator(times, np.zeros(n_spikes, int), 1, [0, 1], [0], weights=w, delays=delay)
    net.add_stp(U, source="generator", **stp)
    t_end = times[-1] + delay + 0.001
    net.run(t_end)
    return net, times + delay, t_end


def _v_of_kicks(kicks, arrivals, t_end):
    return float(np.sum(kicks * np.exp(-(t_end - arrivals) / TAU_M)))


@pytest.mark.parametrize("t0", [0.0, 2.5])  # 2.5 s: the engine's epoch moves on during the train
def test_depression_closed_form(seed, t0):
    """u = U constant: x before the n-th arrival is x* + (1 - x*) r**n with r = (1 - U) exp(-T/tau_d) and the
    steady state x* = (1 - e)/(1 - (1 - U) e), e = exp(-T/tau_d); the kicks are w U x."""
    rng = np.random.default_rng(seed)
    U, tau_d, period, w = rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.5), rng.uniform(0.005, 0.03), 0.7
    n = 60
    net, arrivals, t_end = _train(U, period, n, w=w, delay=0.001, t0=t0, tau_d=tau_d, order=("kick", "x"))
    e = np.exp(-period / tau_d)
    x_star = (1 - e) / (1 - (1 - U) * e)
    x_before = x_star + (1 - x_star) * ((1 - U) * e) ** np.arange(n)
    state = net.stp_state(0)
    np.testing.assert_allclose(state["x"][0], x_before[-1] * (1 - U), rtol=1e-13)
    assert state["u"][0] == U and state["last_update"][0] == arrivals[-1]
    np.testing.assert_allclose(net.v[0], _v_of_kicks(w * U * x_before, arrivals, t_end), rtol=1e-13)
    if ((1 - U) * e) ** n < 1e-14:  # the train has reached the steady state
        np.testing.assert_allclose(x_before[-1], x_star, rtol=1e-13)


@pytest.mark.parametrize("order", [("u", "kick", "x"), ("kick", "x", "u"), ("x", "u", "kick")])
def test_facilitation_and_depression_closed_form(seed, order):
    """A regular train against the Tsodyks-Markram recursion written out, and its steady state: with the
    facilitation before the kick, u after it is u+* = U (1 + (1 - U)(1 - e_f)) / (1 - (1 - U) e_f) (e_f =
    exp(-T/tau_f); u relaxes to U), and x before an arrival is x* = (1 - e_d)/(1 - (1 - u+*) e_d)."""
    rng = np.random.default_rng(seed)
    U, tau_f, tau_d, period = rng.uniform(0.05, 0.6), rng.uniform(0.05, 0.8), rng.uniform(0.05, 0.8), 0.01
    n = 400
    net, arrivals, t_end = _train(U, period, n, tau_f=tau_f, tau_d=tau_d, order=order)
    ef, ed = np.exp(-period / tau_f), np.exp(-period / tau_d)
    u, x, kicks = U, 1.0, []
    for k in range(n):
        if k:
            u, x = U + (u - U) * ef, 1 + (x - 1) * ed
        for s in order:
            if s == "u":
                u += U * (1 - u)
            elif s == "x":
                x -= u * x
            else:
                kicks.append(u * x)
    state = net.stp_state(0)
    np.testing.assert_allclose([state["u"][0], state["x"][0]], [u, x], rtol=1e-13)
    np.testing.assert_allclose(net.v[0], _v_of_kicks(np.array(kicks), arrivals, t_end), rtol=1e-13)
    if order == ("u", "kick", "x"):
        u_star = U * (1 + (1 - U) * (1 - ef)) / (1 - (1 - U) * ef)
        x_star = (1 - ed) / (1 - (1 - u_star) * ed)
        np.testing.assert_allclose([u, x, kicks[-1]], [u_star, x_star * (1 - u_star), u_star * x_star], rtol=1e-12)


def test_facilitation_only_closed_form():
    """Without depression (x = 1), u relaxing to 0 between arrivals 10 ms apart: u after the n-th arrival is
    u* + (U - u*) q**n, q = (1 - U) e, u* = U / (1 - (1 - U) e)."""
    U, tau_f, period, n = 0.2, 0.1, 0.01, 50
    net, arrivals, t_end = _train(U, period, n, tau_f=tau_f, u_rest=0.0, u=0.0, order=("u", "kick"))
    e = np.exp(-period / tau_f)
    q = (1 - U) * e
    u_star = U / (1 - q)
    u_after = u_star + (U - u_star) * q ** np.arange(n)
    np.testing.assert_allclose(net.stp_state(0)["u"][0], u_after[-1], rtol=1e-13)
    np.testing.assert_allclose(net.v[0], _v_of_kicks(u_after, arrivals, t_end), rtol=1e-13)


def _random_network(seed, shared_tau):
    """A small LIF network with delays (some zero: cascades), mixed weights, short-term plastic excitatory
    recurrent synapses (depressing and facilitating, per-synapse parameters, two orders) and spike-generator
    input through depressing synapses."""
    rng = np.random.default_rng(seed)
    n = 12
    adj = rng.random((n, n)) < 0.35
    np.fill_diagonal(adj, False)
    indptr = np.r_[0, np.cumsum(adj.sum(1))]
    indices = np.nonzero(adj)[1]
    nnz = indices.size
    weights = np.where(rng.random(nnz) < 0.7, rng.uniform(0.2, 0.6, nnz), rng.uniform(-0.4, -0.1, nnz))
    delays = rng.choice([0.0, 0.001, 0.0015, 0.0023], nnz)
    kw = dict(
        tau=0.01 if shared_tau else rng.uniform(0.008, 0.012, n),
        drive=rng.uniform(0.7, 1.3, n),
        v_init=rng.uniform(0, 0.9, n),
        refractory=0.002,
        indptr=indptr,
        indices=indices,
        weights=weights,
        delays=delays,
    )
    n_src = 4
    g_times = np.sort(rng.uniform(0, 0.3, 60))
    g_sources = rng.integers(0, n_src, 60)
    g_adj = rng.random((n_src, n)) < 0.5
    g_indptr, g_indices = np.r_[0, np.cumsum(g_adj.sum(1))], np.nonzero(g_adj)[1]
    g_w = rng.uniform(0.3, 0.9, g_indices.size)
    g_d = rng.choice([0.0, 0.0005], g_indices.size)
    generator = (g_times, g_sources, g_indptr, g_indices, g_w, g_d)
    exc = np.flatnonzero(weights > 0)
    first, second = exc[: exc.size // 2], exc[exc.size // 2 :]
    rules = [
        dict(  # facilitating and depressing, per-synapse parameters
            synapses=first,
            U=rng.uniform(0.1, 0.5, first.size),
            tau_f=rng.uniform(0.02, 0.2, first.size),
            tau_d=0.05,
            u=rng.uniform(0, 1, first.size),
            x=rng.uniform(0, 1, first.size),
            order=("u", "kick", "x"),
        ),
        dict(synapses=second, U=0.3, tau_f=0.1, tau_d=0.08, u_rest=0.1, order=("kick", "x", "u")),
        dict(source="generator", U=0.5, tau_d=0.1, order=("x", "kick")),
    ]
    return kw, generator, rules


def _engine_network(kw, generator, rules, shared_tau):
    net = EventNetwork(len(kw["drive"]), lif_shared_tau=shared_tau, **kw)
    g_times, g_sources, g_indptr, g_indices, g_w, g_d = generator
    net.add_spike_generator(g_times, g_sources, len(g_indptr) - 1, g_indptr, g_indices, g_w, g_d)
    for rule in rules:
        net.add_stp(**rule)
    return net


def _oracle_synapses(kw, generator, rules):
    """The rules as the oracle's per-synapse dicts (generator synapses numbered after the recurrent ones)."""
    nnz, m = kw["indices"].size, generator[3].size
    stp = {}
    for rule in rules:
        syn = rule["synapses"] if "synapses" in rule else nnz + np.arange(m)
        for i, k in enumerate(syn):
            p = {
                key: np.broadcast_to(rule.get(key, default), (syn.size,))[i]
                for key, default in (("U", 0.0), ("tau_f", None), ("tau_d", None))
            }
            p["u_rest"] = rule.get("u_rest", p["U"])
            p["u"] = np.broadcast_to(rule.get("u", p["u_rest"]), (syn.size,))[i]
            p["x"] = np.broadcast_to(rule.get("x", 1.0), (syn.size,))[i]
            p["order"] = rule["order"]
            stp[int(k)] = p
    return stp


@pytest.mark.parametrize("shared_tau", [True, False])
def test_network_against_oracle(seed, shared_tau):
    kw, generator, rules = _random_network(seed, shared_tau)
    net = _engine_network(kw, generator, rules, shared_tau)
    net.run(0.35)
    stp = _oracle_synapses(kw, generator, rules)
    ref = StpOracle(len(kw["drive"]), stp, generator=generator, **kw)
    ref.run(0.35)
    assert len(ref.spike_times) > 20
    _assert_as_oracle(net, ref, kw, generator, rules)
    for r in range(len(rules)):
        assert (net.stp_state(r)["last_update"] > 0).any()  # arrivals at synapses of every rule: plasticity acted
    np.testing.assert_array_equal(net.synaptic_weights(), kw["weights"])  # w itself never changes


def _assert_as_oracle(net, ref, kw, generator, rules):
    """The same spikes (to 1e-12 s) and the same u, x and last update of every plastic synapse."""
    mine, theirs = np.lexsort((net.spike_indices, net.spike_times)), np.lexsort((ref.spike_indices, ref.spike_times))
    np.testing.assert_array_equal(net.spike_indices[mine], np.asarray(ref.spike_indices)[theirs])
    np.testing.assert_allclose(net.spike_times[mine], np.asarray(ref.spike_times)[theirs], rtol=0, atol=1e-12)
    nnz = kw["indices"].size
    for r, rule in enumerate(rules):
        syn = rule["synapses"] if "synapses" in rule else nnz + np.arange(generator[3].size)
        state = net.stp_state(r)
        for key, name in (("u", "u"), ("x", "x"), ("last_update", "t")):
            np.testing.assert_allclose(state[key], [ref.stp[int(k)][name] for k in syn], rtol=0, atol=1e-12)


def test_runs_continue_exactly(seed):
    """run(a); run(b) is run(a + b), also through get_state/set_state, pickling and set_params (which
    builds the engine again and carries u and x over)."""
    kw, generator, rules = _random_network(seed, True)
    whole = _engine_network(kw, generator, rules, True)
    whole.run(0.3)
    parts = _engine_network(kw, generator, rules, True)
    parts.run(0.1)
    state = parts.get_state()
    x = parts.stp_state(0)["x"]
    parts.run(0.05)
    parts.set_state(state)
    np.testing.assert_array_equal(parts.stp_state(0)["x"], x)
    n_before = parts.spike_times.size
    parts = pickle.loads(pickle.dumps(parts))
    parts.run(0.1)
    parts.set_params(drive=kw["drive"])  # a rebuild with the same values
    parts.run(0.1)
    assert whole.spike_times.size > 20
    np.testing.assert_allclose(parts.spike_times[n_before:], whole.spike_times[whole.spike_times >= 0.1], atol=1e-12)
    for r in range(len(rules)):
        a, b = parts.stp_state(r), whole.stp_state(r)
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=1e-15)


def test_static_network_unchanged(seed):
    """A rule over no synapse leaves a network's spikes as they are without plasticity, bit for bit."""
    kw, *_ = _random_network(seed, True)
    plain = EventNetwork(len(kw["drive"]), **kw)
    plain.run(0.2)
    ruled = EventNetwork(len(kw["drive"]), **kw)
    ruled.add_stp(0.5, tau_d=0.1, order=("kick", "x"), synapses=np.zeros(0, int))
    ruled.run(0.2)
    np.testing.assert_array_equal(plain.spike_times, ruled.spike_times)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(tau_d=None), ValueError, "needs tau_d .* or tau_f"),
        (dict(tau_d=0.0), ValueError, "tau_d must be > 0"),
        (dict(tau_f=-1.0, order=("u", "kick", "x")), ValueError, "tau_f must be > 0"),
        (dict(U=1.5), ValueError, r"U must be in \[0, 1\], found 1.5"),
        (dict(x=-0.1), ValueError, r"x must be in \[0, 1\], found -0.1"),
        (dict(u=0.5), ValueError, "u_rest and u need facilitation"),
        (dict(tau_d=None, tau_f=0.1, order=("u", "kick"), x=0.5), ValueError, "x needs depression"),
        (dict(order=("kick",)), ValueError, r"order must name each of \['kick', 'x'\] once"),
        (dict(order=("kick", "x", "u")), ValueError, "order must name each of"),
        (dict(order="kick,x"), TypeError, "order must be a sequence of strings"),
        (dict(synapses=[0, 9]), ValueError, r"synapses must be in \[0, 2\)"),
        (dict(U=[0.1, 0.2, 0.3]), ValueError, "U must be a scalar or have one value per synapse"),
        (dict(last_update=0.1), ValueError, "last_update must be <= 0"),
    ],
)
def test_add_stp_refuses(kwargs, error, match):
    net = EventNetwork(2, indptr=[0, 1, 2], indices=[1, 0], weights=0.1)
    args = dict(U=0.5, tau_d=0.1, order=("kick", "x"))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        net.add_stp(**args)


def test_refusals_of_plastic_networks():
    net = EventNetwork(2, indptr=[0, 1, 2], indices=[1, 0], weights=0.1)
    net.add_stp(0.5, tau_d=0.1, order=("kick", "x"), synapses=[0])
    with pytest.raises(ValueError, match="has a plasticity rule already .*STDP and short-term"):
        net.add_stdp(0.02, 0.02, 0.01, -0.01, synapses=[1, 0])
    with pytest.raises(ValueError, match="has a plasticity rule already"):
        net.add_stp(0.5, tau_d=0.1, order=("kick", "x"))
    with pytest.raises(NotImplementedError, match="record_tape .* fixed weights"):
        net.run(0.01, record_tape=True)
    from brian2_sparseprop.spiking.lyapunov import lyapunov_spectrum

    with pytest.raises(NotImplementedError, match="Lyapunov spectra .* fixed weights"):
        lyapunov_spectrum(net, 0.1)
    net.run(0.01)
    with pytest.raises(RuntimeError, match="add_stp must be called before the first run"):
        net.add_stp(0.5, tau_d=0.1, order=("kick", "x"), synapses=[1])
    with pytest.raises(ValueError, match=r"rule must be in \[0, 1\)"):
        net.stp_state(1)


def test_poisson_sources_against_recursion(seed):
    """Poisson sources (one synapse each, delays 0 and 2 ms) through facilitating and depressing synapses
    with per-synapse U: u and x of each synapse are the Tsodyks-Markram recursion over its recorded events
    (shifted by the delay)."""
    rng = np.random.default_rng(seed)
    m = 6
    net = EventNetwork(1, drive=0.0, threshold=1e9, seed=seed)
    delays = np.where(np.arange(m) % 2, 0.002, 0.0)
    net.add_poisson_sources(rng.uniform(20, 80, m), np.arange(m + 1), np.zeros(m, int), 0.1, delays)
    U = rng.uniform(0.1, 0.6, m)
    net.add_stp(U, tau_d=0.12, tau_f=0.07, order=("u", "kick", "x"), source="poisson")
    net.record_poisson_events(0)
    net.run(0.5)
    times, sources = net.poisson_events(0)
    state = net.stp_state(0)
    for s in range(m):
        arrivals = times[sources == s] + delays[s]
        arrivals = arrivals[arrivals <= 0.5]
        assert arrivals.size > 3
        u, x, t = U[s], 1.0, 0.0
        for a in arrivals:
            u = U[s] + (u - U[s]) * np.exp(-(a - t) / 0.07)
            x = 1 + (x - 1) * np.exp(-(a - t) / 0.12)
            u += U[s] * (1 - u)
            x -= u * x
            t = a
        np.testing.assert_allclose([state["u"][s], state["x"][s]], [u, x], rtol=1e-13)
        assert state["last_update"][s] == arrivals[-1]


def test_new_delays_with_spikes_in_flight_against_oracle(seed):
    """New delays with spikes in flight (issue 14): the spikes in flight arrive after their old delays and
    move u and x at their synapses then, as in the slow reference; u and x carry over the rebuild."""
    kw, generator, rules = _random_network(seed, True)
    net = _engine_network(kw, generator, rules, True)
    ref = StpOracle(len(kw["drive"]), _oracle_synapses(kw, generator, rules), generator=generator, **kw)
    net.run(0.1)
    ref.run(0.1)
    for _ in range(100):  # on to an instant with recurrent spikes in flight
        if (net._engine.delay_queue()["src"] < len(kw["drive"])).any():
            break
        net.run(0.0005)
        ref.run(0.0005)
    else:
        pytest.fail("no recurrent spike in flight within 50 ms")
    # distinct per-synapse delays: no two paths reach one instant up to rounding
    new = np.random.default_rng(seed + 100).uniform(0.0005, 0.003, kw["indices"].size)
    net.set_params(delays=new)
    ref.set_synapses(delays=new)
    net.run(0.2)
    ref.run(0.2)
    _assert_as_oracle(net, ref, kw, generator, rules)


def test_set_stp_state_between_runs(seed):
    """Setting u and x to the values they hold changes nothing (bit for bit); other values act from the
    synapses' last arrivals on, as the rule's recursion says; refusals name the rule."""
    kw, generator, rules = _random_network(seed, True)
    whole = _engine_network(kw, generator, rules, True)
    whole.run(0.3)
    parts = _engine_network(kw, generator, rules, True)
    parts.run(0.1)
    for r in range(len(rules)):
        state = parts.stp_state(r)
        keys = {"u": state["u"], "x": state["x"]} if r < 2 else {"x": state["x"]}
        parts.set_stp_state(r, **keys)
    parts.run(0.2)
    np.testing.assert_array_equal(parts.spike_times, whole.spike_times)
    # the generator's depressing synapses exhausted at their last arrival, and new u of the first rule's:
    # as the slow reference given the same values
    changed = _engine_network(kw, generator, rules, True)
    ref = StpOracle(len(kw["drive"]), _oracle_synapses(kw, generator, rules), generator=generator, **kw)
    changed.run(0.1)
    ref.run(0.1)
    first = rules[0]["synapses"]
    new_u = np.random.default_rng(seed).uniform(0, 1, first.size)
    changed.set_stp_state(2, x=0.0)
    changed.set_stp_state(0, u=new_u)
    for k in kw["indices"].size + np.arange(generator[3].size):
        ref.stp[int(k)]["x"] = 0.0
    for k, u in zip(first, new_u):
        ref.stp[int(k)]["u"] = u
    changed.run(0.2)
    ref.run(0.2)
    _assert_as_oracle(changed, ref, kw, generator, rules)
    with pytest.raises(ValueError, match="u needs tau_f"):
        changed.set_stp_state(2, u=0.5)
    with pytest.raises(ValueError, match=r"x must be in \[0, 1\]"):
        changed.set_stp_state(0, x=1.5)
    with pytest.raises(ValueError, match="rules added by add_stp"):
        changed.set_stp_state(3, x=0.5)
