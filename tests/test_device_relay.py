"""Groups without differential equations (relays) through the device (issue 13 item 5).

A relay, ``NeuronGroup(n, 'v : 1', threshold='v > 1', reset='v = 0')`` fed by ``on_pre='v_post += w'``, or an
event counter (``'count : 1'``, ``threshold='count >= 3'``), keeps its state between events: the device maps it
to the engine's linear model with ``dv/dt = 0`` (a perfect integrator without drive). Tested against an
independent reference that processes the events in whole time steps (integer arithmetic for the times, inputs
of one instant summed before the threshold test), against the closed form of a counter (a spike at every
third input), against Brian2's runtime (the same spikes one dt later per stage, since the runtime tests the
threshold in the step after the input), and the refusals.
"""

import heapq

import numpy as np
import pytest
from brian2 import (
    NeuronGroup,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    defaultclock,
    ms,
    run,
    seed as brian2_seed,
    set_device,
    start_scope,
)
from brian2.devices.device import reset_device

import brian2_sparseprop  # noqa: F401 (registers the device)

DT = 0.1 * ms


def relay_reference(n, arrivals, threshold, strict, refractory, outgoing):
    """Spikes ``(step, neuron)`` and final states of relays with thresholds ``v > threshold`` (``strict``) or
    ``v >= threshold``: ``arrivals`` maps a step to ``[(neuron, w)]``, ``outgoing`` a
    neuron to ``[(target, w, delay_steps)]``. At each step the inputs are summed per neuron, then every neuron
    not refractory (``refractory[i]`` steps after its spike) and above threshold fires and is reset to 0;
    inputs during refractoriness are added (the variable is no ``(unless refractory)`` one) and a neuron above
    threshold when its refractoriness ends fires then."""
    v = np.zeros(n)
    until = np.full(n, -1)
    queue = [(s, i, w) for s, items in arrivals.items() for i, w in items]
    heapq.heapify(queue)
    ends = []  # (step, neuron): refractory ends
    spikes = []
    while queue or ends:
        step = min(queue[0][0] if queue else np.inf, ends[0][0] if ends else np.inf)
        touched = set()
        while queue and queue[0][0] == step:
            _, i, w = heapq.heappop(queue)
            v[i] += w
            touched.add(i)
        while ends and ends[0][0] == step:
            touched.add(heapq.heappop(ends)[1])
        for i in sorted(touched):
            above = v[i] > threshold[i] if strict[i] else v[i] >= threshold[i]
            if above and step >= until[i]:
                spikes.append((step, i))
                v[i] = 0.0
                if refractory[i]:
                    until[i] = step + refractory[i]
                    heapq.heappush(ends, (until[i], i))
                for j, w, d in outgoing.get(i, ()):
                    heapq.heappush(queue, (step + d, j, w))
    return spikes, v


def random_inputs(rng, n_in=20, n=6, m=80, last_step=500, even=False):
    """Generator spikes on the grid (distinct steps per source), random connections and weights."""
    steps = rng.choice(np.arange(1, last_step // (2 if even else 1)), m, replace=False) * (2 if even else 1)
    sources = rng.integers(0, n_in, m)
    pre, post = np.nonzero(rng.random((n_in, n)) < 0.4)
    w = rng.uniform(0.2, 0.6, pre.size)
    return steps, sources, pre, post, w


def relay_script(steps, sources, pre, post, w, n, refractory=0 * ms, count_delay=0.5 * ms):
    """Generator -> relays G ('v > 1') -> one counter C ('count >= 3') with a delay. Returns the monitors."""
    defaultclock.dt = DT
    inp = SpikeGeneratorGroup(int(sources.max()) + 1, sources, steps * DT)
    G = NeuronGroup(n, "v : 1", threshold="v > 1", reset="v = 0", refractory=refractory)
    S = Synapses(inp, G, "w : 1", on_pre="v_post += w")
    S.connect(i=pre, j=post)
    S.w = w
    C = NeuronGroup(1, "count : 1", threshold="count >= 3", reset="count = 0")
    S2 = Synapses(G, C, on_pre="count_post += 1", delay=count_delay)
    S2.connect()
    mon_g, mon_c, state = SpikeMonitor(G), SpikeMonitor(C), StateMonitor(G, "v", record=True)
    run(60 * ms)
    return mon_g, mon_c, state, G


@pytest.mark.parametrize("refractory", [0, 7], ids=["no-refractory", "refractory-0.7ms"])
def test_relays_against_the_reference(exact, seed, refractory):
    rng = np.random.default_rng(seed)
    n = 6
    steps, sources, pre, post, w = random_inputs(rng, n=n)
    mon_g, mon_c, state, G = relay_script(steps, sources, pre, post, w, n, refractory=refractory * DT)
    arrivals = {}
    for s, src in zip(steps, sources):
        arrivals.setdefault(int(s), []).extend((int(j), wk) for i, j, wk in zip(pre, post, w) if i == src)
    outgoing = {i: [(n, 1.0, 5)] for i in range(n)}  # neuron n is the counter, 5 steps of delay
    threshold, strict = [1.0] * n + [3.0], [True] * n + [False]  # 'v > 1', 'count >= 3'
    ref_spikes, v_end = relay_reference(n + 1, arrivals, threshold, strict, [refractory] * n + [0], outgoing)
    ref_g = [(s, i) for s, i in ref_spikes if i < n]
    ref_c = [s for s, i in ref_spikes if i == n]
    got_g = sorted(zip(np.rint(np.asarray(mon_g.t) / float(DT)).astype(int), np.asarray(mon_g.i)))
    assert got_g == sorted(ref_g)
    np.testing.assert_allclose(np.sort(np.asarray(mon_g.t)), np.sort([s * float(DT) for s, _ in ref_g]), atol=1e-15)
    np.testing.assert_allclose(np.asarray(mon_c.t), np.array(ref_c) * float(DT), atol=1e-15)
    assert len(ref_c) >= 2  # the test exercises the counter
    np.testing.assert_allclose(G.v[:], v_end[:n], rtol=0, atol=1e-12)
    # the recorded state is piecewise constant: at each tick the sum of the inputs since the last reset
    assert state.v.shape == (n, 600)


@pytest.mark.parametrize(
    "condition, every", [("count > 2", 3), ("count >= 3", 3), ("count >= 2", 2), ("3 <= count", 3)]
)
def test_an_event_counter_fires_at_every_kth_input(exact, condition, every):
    # closed form: with unit inputs at the steps t_1 < t_2 < ..., a counter reset to 0 fires at t_k, t_2k, ...
    # ('count > 2' fires at the third input exactly: the engine's >= is made strict for relays)
    rng = np.random.default_rng(5)
    steps = np.sort(rng.choice(np.arange(1, 400), 40, replace=False))
    defaultclock.dt = DT
    inp = SpikeGeneratorGroup(1, np.zeros(40, int), steps * DT)
    C = NeuronGroup(1, "count : 1", threshold=condition, reset="count = 0")
    S = Synapses(inp, C, on_pre="count_post += 1")
    S.connect()
    mon = SpikeMonitor(C)
    run(50 * ms)
    np.testing.assert_allclose(np.asarray(mon.t), steps[every - 1 :: every] * float(DT), rtol=0, atol=1e-15)
    assert C.count[0] == 40 % every


@pytest.mark.slow  # Brian2 objects and runs: seconds each on a shared machine
def test_relays_against_brian2s_runtime(numpy_target, seed):
    # inputs on even steps only: Brian2's runtime fires a relay one step after its input (threshold before
    # synapses in a step) and resets it in that step, which then has no input of its own; the counter's delay
    # (4 steps) keeps its inputs on odd steps in the runtime, its spikes on even ones
    rng = np.random.default_rng(seed)
    n = 6
    steps, sources, pre, post, w = random_inputs(rng, n=n, even=True)
    results = []
    for device in ("sparseprop", "runtime"):
        set_device(device)
        start_scope()
        brian2_seed(seed)
        mon_g, mon_c, state, G = relay_script(steps, sources, pre, post, w, n, count_delay=0.4 * ms)
        results.append(
            [(np.asarray(m.t).copy(), np.asarray(m.i).copy()) for m in (mon_g, mon_c)] + [np.asarray(G.v[:]).copy()]
        )
        reset_device()
    (eg, ec, ev), (rg, rc, rv) = results
    for stage, ((te, ie), (tr, ir)) in enumerate([(eg, rg), (ec, rc)], start=1):
        oe, orr = np.lexsort((te, ie)), np.lexsort((tr, ir))
        np.testing.assert_array_equal(ie[oe], ir[orr])
        np.testing.assert_allclose(tr[orr] - te[oe], stage * float(DT), rtol=0, atol=1e-12)
    assert len(ec[0]) >= 2
    np.testing.assert_allclose(ev, rv, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "model, kwargs, match",
    [
        ("v : 1", dict(threshold="v > 1"), "without reset"),
        ("v : 1\nu : 1", dict(threshold="v > 1", reset="u = 0"), r"does not depend on \['u'\]"),
        ("v : 1 (constant)", dict(threshold="v > 1", reset="v = 0"), r"sets \['v'\]"),
        ("v : 1", dict(threshold="v > 1", reset="v -= 1"), "reset"),
        ("v : 1", dict(threshold="v*v > 1", reset="v = 0"), "not linear"),
    ],
)
def test_refusals(exact, model, kwargs, match):
    G = NeuronGroup(2, model, **kwargs)
    mon = SpikeMonitor(G) if "threshold" in kwargs else StateMonitor(G, "v", record=True)
    with pytest.raises(NotImplementedError, match=match):
        run(1 * ms)
    del mon
