"""Spike-timing-dependent plasticity (event-driven traces) in the engine: closed forms, the slow reference
`stdp_oracle.PlasticOracle`, continuation of runs, and refusals."""

import pickle

import numpy as np
import pytest
from stdp_oracle import PlasticOracle

from brian2_sparseprop import EventNetwork

TAU_PRE, TAU_POST, D_PRE, D_POST = 0.02, 0.03, 0.01, -0.0105


def _pair_sum(t_arr, t_post):
    """All-to-all pair-based STDP without clipping: the weight change from arrivals ``t_arr`` and
    postsynaptic spikes ``t_post``, as a sum of exponentials (a tie counts as pre before post)."""
    dt = np.subtract.outer(np.asarray(t_post), np.asarray(t_arr))  # post - pre
    ltp = np.where(dt >= 0, D_PRE * np.exp(-np.abs(dt) / TAU_PRE), 0.0)
    ltd = np.where(dt < 0, D_POST * np.exp(-np.abs(dt) / TAU_POST), 0.0)
    return ltp.sum() + ltd.sum()


def _taught(t_pre, t_post, delay, w0, **rule):
    """One LIF neuron (no drive) that fires exactly at ``t_post`` (a teacher input of weight 2 > threshold),
    and a plastic synapse from a source spiking at ``t_pre`` with ``delay``."""
    net = EventNetwork(1, drive=0.0, tau=0.01)
    times = np.concatenate([t_pre, t_post])
    sources = np.r_[np.zeros(len(t_pre), int), np.ones(len(t_post), int)]
    net.add_spike_generator(times, sources, 2, [0, 1, 2], [0, 0], weights=[w0, 2.0], delays=[delay, 0.0])
    net.add_stdp(TAU_PRE, TAU_POST, D_PRE, D_POST, source="generator", synapses=[0], **rule)
    return net


@pytest.mark.parametrize("t0", [0.0, 3.7])  # 3.7 s: the engine's epoch moves on during the run
@pytest.mark.parametrize("delay", [0.0, 0.0015])
def test_single_synapse_sum_of_exponentials(seed, delay, t0):
    rng = np.random.default_rng(seed)
    t_pre = t0 + np.sort(rng.uniform(0, 0.2, 12))
    t_post = t0 + np.sort(rng.uniform(0, 0.2, 9))
    t_post[:3] = t_pre[[2, 5, 9]] + delay  # exact ties: an arrival at a postsynaptic spike
    t_post = np.sort(t_post)
    net = _taught(t_pre, t_post, delay, 0.02)
    net.run(t0 + 0.3)
    np.testing.assert_array_equal(net.spike_times, t_post)  # the plastic input alone never fires it
    expected = 0.02 + _pair_sum(t_pre + delay, t_post)
    # each term exp(-dt/tau) carries the rounding of the times it is computed from (an ulp of t0 + 0.3 s
    # in dt, relative eps t/tau in the term) and of the product of exponentials the engine forms
    atol = 4 * np.finfo(float).eps * (1 + (t0 + 0.3) / TAU_PRE) * (abs(D_PRE) + abs(D_POST)) * t_pre.size * t_post.size
    np.testing.assert_allclose(net.synaptic_weights("generator")[0], expected, rtol=0, atol=atol)
    traces = net.stdp_traces(0)
    t_last = max(t_pre[-1] + delay, t_post[-1])
    assert traces["last_update"][0] == t_last
    arr = t_pre + delay
    apre = D_PRE * np.exp(-(t_last - arr[arr <= t_last]) / TAU_PRE).sum()
    apost = D_POST * np.exp(-(t_last - t_post[t_post <= t_last]) / TAU_POST).sum()
    np.testing.assert_allclose([traces["apre"][0], traces["apost"][0]], [apre, apost], rtol=1e-13)


def _clipped_reference(t_arr, t_post, w0, w_min, w_max):
    """The weight after the events in time order (arrivals before postsynaptic spikes at ties), clipped at
    every step."""
    events = sorted([(t, 0) for t in t_arr] + [(t, 1) for t in t_post])
    w = w0
    for t, kind in events:
        if kind == 0:  # on_pre: the postsynaptic spikes before it
            w += D_POST * np.exp(-(t - np.asarray(t_post)[np.asarray(t_post) < t]) / TAU_POST).sum()
        else:  # on_post: the arrivals up to it
            w += D_PRE * np.exp(-(t - np.asarray(t_arr)[np.asarray(t_arr) <= t]) / TAU_PRE).sum()
        w = min(max(w, w_min), w_max)
    return w


@pytest.mark.parametrize("bounds", [(0.0, 0.025), (0.015, 0.05), (0.0199, 0.0201)])
def test_single_synapse_clipping(seed, bounds):
    rng = np.random.default_rng(seed)
    t_pre = np.sort(rng.uniform(0, 0.3, 20))
    t_post = np.sort(rng.uniform(0, 0.3, 15))
    net = _taught(t_pre, t_post, 0.001, 0.02, w_min=bounds[0], w_max=bounds[1])
    net.run(0.4)
    expected = _clipped_reference(t_pre + 0.001, t_post, 0.02, *bounds)
    np.testing.assert_allclose(net.synaptic_weights("generator")[0], expected, rtol=0, atol=1e-15)
    unclipped = 0.02 + _pair_sum(t_pre + 0.001, t_post)
    assert bounds[0] <= expected <= bounds[1]
    if not bounds[0] <= unclipped <= bounds[1]:
        assert expected != pytest.approx(unclipped, abs=1e-12)  # the bounds acted


@pytest.mark.parametrize("update_first", [False, True])
def test_kick_uses_weight_at_delivery(update_first):
    """A postsynaptic spike at 1 ms, an arrival at 2 ms: the arrival depresses the synapse by
    d_post exp(-1 ms / tau_post); its kick takes the weight before (Brian2's statement order
    'v_post += w' first) or after the change (update_first)."""
    w0 = 0.2
    net = _taught(np.array([0.002]), np.array([0.001]), 0.0, w0, update_first=update_first)
    net.record_states([0], [0.003])
    net.run(0.004)
    w1 = w0 + D_POST * np.exp(-0.001 / TAU_POST)
    assert net.synaptic_weights("generator")[0] == pytest.approx(w1, abs=1e-16)
    kick = w1 if update_first else w0
    assert net.state_values[0, 0] == pytest.approx(kick * np.exp(-0.001 / 0.01), rel=1e-14)


def _random_network(seed, shared_tau):
    """A small LIF network with delays (some zero: cascades), mixed weights, plastic excitatory recurrent
    synapses, and spike-generator input through plastic synapses of a second rule."""
    rng = np.random.default_rng(seed)
    n = 12
    adj = rng.random((n, n)) < 0.35
    np.fill_diagonal(adj, False)
    indptr = np.r_[0, np.cumsum(adj.sum(1))]
    indices = np.nonzero(adj)[1]
    nnz = indices.size
    weights = np.where(rng.random(nnz) < 0.7, rng.uniform(0.05, 0.3, nnz), rng.uniform(-0.4, -0.1, nnz))
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
    g_w = rng.uniform(0.1, 0.5, g_indices.size)
    g_d = rng.choice([0.0, 0.0005], g_indices.size)
    generator = (g_times, g_sources, g_indptr, g_indices, g_w, g_d)
    rules = [
        dict(tau_pre=0.02, tau_post=0.02, d_pre=0.03, d_post=-0.032, w_min=0.0, w_max=0.4, update_first=False),
        dict(tau_pre=0.015, tau_post=0.025, d_pre=0.05, d_post=-0.04, w_min=0.05, w_max=0.6, update_first=True),
    ]
    plastic = np.flatnonzero(weights > 0)
    syn_rule = np.r_[np.where(weights > 0, 0, -1), np.ones(g_indices.size, int)]
    return kw, generator, rules, plastic, syn_rule


def _engine_network(kw, generator, rules, plastic, shared_tau):
    net = EventNetwork(len(kw["drive"]), lif_shared_tau=shared_tau, **kw)
    g_times, g_sources, g_indptr, g_indices, g_w, g_d = generator
    net.add_spike_generator(g_times, g_sources, len(g_indptr) - 1, g_indptr, g_indices, g_w, g_d)
    names = ("tau_pre", "tau_post", "d_pre", "d_post")
    net.add_stdp(*(rules[0][k] for k in names), w_min=0.0, w_max=0.4, synapses=plastic)
    net.add_stdp(*(rules[1][k] for k in names), w_min=0.05, w_max=0.6, source="generator", update_first=True)
    return net


@pytest.mark.parametrize("shared_tau", [True, False])
def test_network_against_oracle(seed, shared_tau):
    kw, generator, rules, plastic, syn_rule = _random_network(seed, shared_tau)
    net = _engine_network(kw, generator, rules, plastic, shared_tau)
    net.run(0.35)
    ref = PlasticOracle(len(kw["drive"]), generator=generator, rules=rules, syn_rule=syn_rule, **kw)
    ref.run(0.35)
    assert len(ref.spike_times) > 20  # the network is active and the weights move
    # within an instant (a cascade) the two record spikes in different orders: compare by (time, neuron)
    mine, theirs = np.lexsort((net.spike_indices, net.spike_times)), np.lexsort((ref.spike_indices, ref.spike_times))
    np.testing.assert_array_equal(net.spike_indices[mine], np.asarray(ref.spike_indices)[theirs])
    np.testing.assert_allclose(net.spike_times[mine], np.asarray(ref.spike_times)[theirs], rtol=0, atol=1e-12)
    nnz = kw["indices"].size
    w_net = np.r_[net.synaptic_weights(), net.synaptic_weights("generator")]
    assert not np.allclose(w_net, np.r_[kw["weights"], generator[4]])  # plasticity acted
    # the oracle sums its traces over the history, the engine decays them event by event, and their spike
    # times differ by rounding (up to 1.3e-14 s over seeds 0-5): weights of size 0.1-0.6 after some 50
    # events each then differ by up to 1.1e-13 (seeds 0-5); 1e-12 leaves room for other seeds
    np.testing.assert_allclose(w_net, ref.w, rtol=0, atol=1e-12)
    assert np.array_equal(w_net[:nnz][syn_rule[:nnz] < 0], kw["weights"][syn_rule[:nnz] < 0])


def test_runs_continue_exactly(seed):
    """run(a); run(b) is run(a + b), also through get_state/set_state, pickling and set_params (which
    builds the engine again and carries the weights and traces over)."""
    kw, generator, rules, plastic, _ = _random_network(seed, True)
    whole = _engine_network(kw, generator, rules, plastic, True)
    whole.run(0.3)
    parts = _engine_network(kw, generator, rules, plastic, True)
    parts.run(0.1)
    state = parts.get_state()
    weights = parts.synaptic_weights()
    parts.run(0.05)
    parts.set_state(state)
    np.testing.assert_array_equal(parts.synaptic_weights(), weights)
    n_before = parts.spike_times.size  # the record keeps the spikes of the run undone
    parts = pickle.loads(pickle.dumps(parts))
    parts.run(0.1)
    parts.set_params(drive=kw["drive"])  # a rebuild with the same values
    parts.run(0.1)
    assert whole.spike_times.size > 20
    times = parts.spike_times[parts.spike_times < 0.1]
    later = parts.spike_times[n_before:]
    np.testing.assert_array_equal(times, whole.spike_times[whole.spike_times < 0.1])
    np.testing.assert_allclose(later, whole.spike_times[whole.spike_times >= 0.1], rtol=0, atol=1e-12)
    for source in ("network", "generator"):
        np.testing.assert_allclose(parts.synaptic_weights(source), whole.synaptic_weights(source), atol=1e-13)
    for r in (0, 1):
        a, b = parts.stdp_traces(r), whole.stdp_traces(r)
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=1e-15)


def test_song_miller_abbott_poisson_inputs(seed):
    """Poisson inputs with STDP onto one LIF neuron (Song, Miller and Abbott 2000): with depression 5 %
    stronger than potentiation the synapses compete, the output rate falls from its start (all weights at
    w_max) to a fraction of it, and the weights spread out, the most of them near 0, within the bounds."""
    n_in, w_max, lr = 1000, 0.015, 0.05
    net = EventNetwork(1, tau=0.01, drive=0.0, seed=seed)
    net.add_poisson_input(np.full(n_in, 15.0), w_max, targets=np.zeros(n_in, int))
    net.add_stdp(0.02, 0.02, lr * w_max, -1.05 * lr * w_max, w_min=0.0, w_max=w_max, source="poisson")
    net.run(100.0)
    w = net.synaptic_weights("poisson") / w_max
    assert w.min() >= 0.0 and w.max() <= 1.0
    early = np.count_nonzero(net.spike_times < 5.0) / 5.0
    late = np.count_nonzero(net.spike_times >= 90.0) / 10.0
    assert early > 80 and late < 0.4 * early, (early, late)  # seeds 0-7: 100 Hz, then 19-23 Hz
    counts = np.histogram(w, bins=5, range=(0, 1))[0]
    assert counts[0] == counts.max() and w.std() > 0.25, (counts, w.std())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(tau_pre=0.0), ValueError, "tau_pre must be > 0"),
        (dict(tau_post=-1.0), ValueError, "tau_post must be > 0"),
        (dict(w_min=1.0, w_max=0.5), ValueError, "w_min must be <= w_max"),
        (dict(source="neurons"), ValueError, "source must be one of"),
        (dict(source="poisson"), ValueError, r"k must be in \[0, 0\)"),
        (dict(synapses=[0, 9]), ValueError, r"synapses must be in \[0, 2\)"),
        (dict(synapses=[1, 1]), ValueError, "must not repeat"),
        (dict(synapses=[0.5]), TypeError, "synapses must be a 1-d integer array"),
        (dict(update_first=1), TypeError, "update_first must be a bool"),
        (dict(last_update=0.1), ValueError, "last_update must be <= 0"),
        (dict(apre=[0.1, 0.2, 0.3]), ValueError, "apre must be a scalar or have one value per synapse"),
        (dict(tau_pre=1.0 * np.ones(2)), TypeError, "tau_pre must be a scalar"),
    ],
)
def test_add_stdp_refuses(kwargs, error, match):
    net = EventNetwork(2, indptr=[0, 1, 2], indices=[1, 0], weights=0.1)
    args = dict(tau_pre=0.02, tau_post=0.02, d_pre=0.01, d_post=-0.01)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        net.add_stdp(args.pop("tau_pre"), args.pop("tau_post"), args.pop("d_pre"), args.pop("d_post"), **args)


def test_refusals_of_plastic_networks():
    net = EventNetwork(2, indptr=[0, 1, 2], indices=[1, 0], weights=0.1)
    net.add_stdp(0.02, 0.02, 0.01, -0.01, synapses=[0])
    with pytest.raises(ValueError, match="has a plasticity rule already"):
        net.add_stdp(0.02, 0.02, 0.01, -0.01, synapses=[1, 0])
    with pytest.raises(NotImplementedError, match="record_tape .* fixed weights"):
        net.run(0.01, record_tape=True)
    from brian2_sparseprop.spiking.lyapunov import lyapunov_spectrum

    with pytest.raises(NotImplementedError, match="Lyapunov spectra .* fixed weights"):
        lyapunov_spectrum(net, 0.1)
    net.run(0.01)
    with pytest.raises(RuntimeError, match="add_stdp must be called before the first run"):
        net.add_stdp(0.02, 0.02, 0.01, -0.01, synapses=[1])
    with pytest.raises(ValueError, match=r"rule must be in \[0, 1\)"):
        net.stdp_traces(1)


def test_static_network_unchanged(seed):
    """A rule over no synapse leaves a network's spikes as they are without plasticity, bit for bit."""
    kw, *_ = _random_network(seed, True)
    plain = EventNetwork(len(kw["drive"]), **kw)
    plain.run(0.2)
    ruled = EventNetwork(len(kw["drive"]), **kw)
    ruled.add_stdp(0.02, 0.02, 0.01, -0.01, synapses=np.zeros(0, int))
    ruled.run(0.2)
    np.testing.assert_array_equal(plain.spike_times, ruled.spike_times)
    np.testing.assert_array_equal(ruled.synaptic_weights(), kw["weights"])


def test_rebuild_after_the_epoch_moved(seed):
    """set_params after 3 s (the engine's epoch has moved on) carries the traces over: the single-synapse
    closed form holds across it."""
    rng = np.random.default_rng(seed)
    t_pre = np.sort(rng.uniform(2.9, 3.2, 12))
    t_post = np.sort(rng.uniform(2.9, 3.2, 9))
    net = _taught(t_pre, t_post, 0.001, 0.02)
    net.run(3.05)
    net.set_params(drive=0.0)  # the same value: the engine is built again from the running one's state
    net.run(0.25)
    np.testing.assert_array_equal(net.spike_times, t_post)
    expected = 0.02 + _pair_sum(t_pre + 0.001, t_post)
    atol = 4 * np.finfo(float).eps * (1 + 3.3 / TAU_PRE) * (abs(D_PRE) + abs(D_POST)) * t_pre.size * t_post.size
    np.testing.assert_allclose(net.synaptic_weights("generator")[0], expected, rtol=0, atol=atol)


def test_set_stdp_traces_between_runs(seed):
    """Traces set to the values they hold change nothing (bit for bit); other values change the weights
    the next events make; refusals name the rule."""
    kw, generator, rules, plastic, _ = _random_network(seed, True)
    whole = _engine_network(kw, generator, rules, plastic, True)
    whole.run(0.3)
    parts = _engine_network(kw, generator, rules, plastic, True)
    parts.run(0.1)
    for r in (0, 1):
        traces = parts.stdp_traces(r)
        parts.set_stdp_traces(r, apre=traces["apre"], apost=traces["apost"])
    parts.run(0.2)
    np.testing.assert_array_equal(parts.spike_times, whole.spike_times)
    np.testing.assert_array_equal(parts.synaptic_weights(), whole.synaptic_weights())
    changed = _engine_network(kw, generator, rules, plastic, True)
    changed.run(0.1)
    changed.set_stdp_traces(0, apre=0.0, apost=0.0)
    np.testing.assert_array_equal(changed.stdp_traces(0)["apre"], 0.0)
    changed.run(0.2)
    assert not np.array_equal(changed.synaptic_weights(), whole.synaptic_weights())
    with pytest.raises(ValueError, match="rules added by add_stdp"):
        changed.set_stdp_traces(2, apre=0.0)
