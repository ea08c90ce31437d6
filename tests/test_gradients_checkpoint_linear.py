"""Checkpointed backward passes of networks of linear neurons ('linear', `LinearModel`) against the
unsegmented pass (``gradient(..., memory_budget=...)``).

The networks are those of test_gradients_linear.py (alpha currents, the adaptive threshold, a perfect
integrator of an exponential current, two exponential currents of both signs; delays, refractoriness,
Poisson sources and spike generators), whose unsegmented gradient is checked there against central
differences and a JAX replay. Here every field of the checkpointed gradient must equal the unsegmented
one bit for bit with one segment and within rounding with more (measured over seeds 0 to 9: relative
differences of at most 3.4e-14 of each field's largest entry), with the same counts of degenerate events;
its allocations stay under the plan's bytes (tracemalloc), and the network is left as it was.
"""

import pickle

import numpy as np
import pytest
import test_gradients_linear as tl
from test_gradients_checkpoint import (
    FIELDS,
    assert_same_gradient,
    assert_same_in_groups,
    budgeted_bytes,
    budgets,
    least_budget,
)

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.spiking.checkpoint import segments
from brian2_sparseprop.spiking.linear import LinearModel

LIN_FIELDS = FIELDS + ("A", "b", "x0", "reset_scale", "reset_offset")
# test_gradients_linear's configurations, and refractory periods longer than whole segments at the least
# budget (a neuron refractory from before a segment's start to past its end)
CONFIGS = {
    **tl.CONFIGS,
    "alpha-past-segments": dict(kind="alpha", tref=0.025),
    "exp2-past-segments": dict(kind="exp2", tref=0.025),
}


def simulate(rng, config, readouts=False):
    """A random network of linear neurons (test_gradients_linear's, 16 neurons with 3 targets each) with
    Poisson sources and a spike generator, run with a tape for test_gradients_linear.T (with long
    refractory periods 24 neurons, run on with the tape for as long again)."""
    long = CONFIGS[config]["tref"] > 0.01
    n = 24 if long else 16
    P = tl.random_params(rng, n=n, **CONFIGS[config])
    record = None
    if readouts:
        record = (np.sort(rng.choice(n, 6, replace=False)), np.sort(rng.uniform(0.001, tl.T, 12)))
    net = tl.build(P, tl.random_inputs(rng, n), record)
    if long:
        net.run(tl.T, record_tape=True)
    return P, net


def kept_budgets(net):
    """Budgets from one segment (the whole pass) down to the least at which the segments' start states are
    kept from one replay: (budget, segments). (Below it each start is re-run from a snapshot, time growing
    with the square of the segments: that mode is tested on fewer networks.)"""
    whole = float(segments(net, 1e15)["bytes"])
    lo, hi = least_budget(net), whole
    while hi - lo > 0.01 * hi:
        mid = 0.5 * (lo + hi)
        if segments(net, mid)["rerun"]:
            lo = mid
        else:
            hi = mid
    out = [(b, len(segments(net, b)["starts"])) for b in whole ** np.linspace(1, 0, 4) * hi ** np.linspace(0, 1, 4)]
    assert out[0][1] == 1 and out[-1][1] >= 8
    return out


def starts_while_refractory(net, tref, budget):
    """Whether a segment within the budget starts while a neuron is refractory (a pseudo-spike), and
    whether a refractory period covers a whole segment."""
    starts = segments(net, budget)["starts"][1:]
    times = net.spike_times
    ends = np.append(starts[1:], net.t)
    inside = any(((times > s - tref) & (times < s)).any() for s in starts)
    covers = any(((times < s) & (times + tref > e)).any() for s, e in zip(starts, ends))
    return inside, covers


@pytest.mark.parametrize("config", CONFIGS)
def test_checkpointed_linear_gradient_equals_the_unsegmented_one(rng, config):
    """Every field (weights, delays, A, b, x0, threshold, reset, the reset maps' scale and offset, the
    Poisson sources' and generator's weights and delays, the generator's times) within rounding of the
    unsegmented pass, from one segment (bit for bit) down to the least budget; the same counts."""
    P, net = simulate(rng, config)
    assert net.spike_times.size > 50
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=(net.n, len(P["variables"])))  # by the whole final state vectors
    g0 = net.gradient(c, b)
    assert np.abs(g0.A).max() > 0 and np.abs(g0.generator_times[0]).max() > 0
    if P["ro"]:
        assert np.abs(g0.reset_scale).max() > 0
    tref = CONFIGS[config]["tref"]
    # (the networks with long refractory periods fire less: their budgets go down to the least one)
    tested = budgets(net) if tref > 0.01 else kept_budgets(net)
    for budget, n_seg in tested:
        assert_same_gradient(g0, net.gradient(c, b, memory_budget=budget), exact=n_seg == 1, fields=LIN_FIELDS)
    if tref > 0:
        inside, covers = starts_while_refractory(net, tref, tested[-1][0])
        assert inside
        if tref > 0.01:
            assert covers


def test_checkpointed_shared_model(rng):
    """A model that all neurons share (one dL/dM accumulator, counted once by the plan): the checkpointed
    gradient is the unsegmented one down to the least budget, and the plan holds less per neuron than for
    the same model given per neuron."""
    n = 16
    P = tl.random_params(rng, "alpha", n=n)
    P["A"], P["b"] = P["A"][0], P["b"][0]
    inputs = tl.random_inputs(rng, n)
    net = tl.build(P, inputs)
    assert net.spike_times.size > 50
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=(n, len(P["variables"])))
    g0 = net.gradient(c, b)
    assert np.shape(g0.A) == P["A"].shape
    for budget, _n_seg in kept_budgets(net):
        assert_same_gradient(g0, net.gradient(c, b, memory_budget=budget), fields=LIN_FIELDS)
    per_neuron = tl.build(dict(P, A=np.tile(P["A"], (n, 1, 1)), b=np.tile(P["b"], (n, 1))), inputs)
    np.testing.assert_array_equal(per_neuron.spike_times, net.spike_times)
    assert segments(per_neuron, 1e15)["bytes"] - segments(net, 1e15)["bytes"] == 200 * n


def test_checkpointed_zero_delay_cascades(rng):
    """Pulses into v with a threshold on v - vt, half the synapses without delay (test_gradients_linear's
    cascades): pulse-triggered spikes trigger others at the same instant, each taking its cause among the
    arrivals of its instant in the whole run's order; refractory periods so that segments start during
    them. The unsegmented gradient, the same pulse-triggered spikes."""
    for _ in range(20):  # (networks drawn until one has cascades)
        P = tl.random_params(rng, "adaptive", tref=0.001)
        P["delays"] = np.where(rng.random(P["delays"].size) < 0.5, 0.0, P["delays"])
        P["weights"] = 6 * P["weights"]
        net = tl.build(P)
        if np.any(np.diff(net.spike_times) == 0):
            break
    assert np.any(np.diff(net.spike_times) == 0)  # cascades
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=net.n)  # by v(T) alone
    g0 = net.gradient(c, b)
    assert g0.n_pulse_triggered > 10 and g0.n_unresolved == 0
    for budget, n_seg in kept_budgets(net):
        assert_same_gradient(g0, net.gradient(c, b, memory_budget=budget), exact=n_seg == 1, fields=LIN_FIELDS)


def test_checkpointed_linear_time_quantum(rng):
    """With a time quantum (delays of whole quanta) many arrivals share an instant, also arrivals of events in
    flight at a segment's start with those of the segment's own: pulses into v with a threshold on v - vt make
    pulse-triggered spikes whose cause is the first arrival of the instant that crosses, in the whole run's
    order, and ties are counted as coincident. The unsegmented gradient and counts."""
    q = 0.0005
    P = tl.random_params(rng, "adaptive", n=16, tref=0.001)
    P["weights"] = 6 * P["weights"]
    model = LinearModel(P["variables"], P["A"], P["b"], P["c"], theta=P["theta"], v=P["v"], reset=P["reset"],
                        reset_others=P["ro"], pulse=P["pulse"],
                        init={name: P["x0"][:, k] for k, name in enumerate(P["variables"])})  # fmt: skip
    net = EventNetwork(16, model="linear", linear=model, refractory=P["tref"], indptr=P["indptr"],
                       indices=P["indices"], weights=P["weights"], delays=np.round(P["delays"] / q) * q + q,
                       time_quantum=q, seed=5)  # fmt: skip
    net.run(tl.T, record_tape=True)
    c = rng.normal(size=net.spike_times.size)
    g0 = net.gradient(c)
    assert g0.n_pulse_triggered > 10 and g0.n_coincident > 0
    for budget, n_seg in budgets(net):
        assert_same_gradient(g0, net.gradient(c, memory_budget=budget), exact=n_seg == 1, fields=LIN_FIELDS)


@pytest.mark.parametrize("config", ["alpha-refractory", "adaptive-refractory", "pif-refractory"])
def test_checkpointed_linear_readouts_and_groups(rng, config, monkeypatch):
    """Readout losses (dL/dv at recorded times, some held at the reset within refractory periods), and
    segments in groups replayed from snapshots (start states kept from one replay, or re-run each): the
    unsegmented gradient."""
    P, net = simulate(rng, config, readouts=True)
    c = rng.normal(size=net.spike_times.size)
    b = rng.normal(size=(net.n, len(P["variables"])))
    ds = rng.normal(size=net.state_values.shape)
    g0 = net.gradient(c, b, dL_dstates=ds)
    budget = least_budget(net) * 1.2
    assert len(segments(net, budget)["starts"]) > 3
    assert_same_gradient(g0, net.gradient(c, b, dL_dstates=ds, memory_budget=budget), fields=LIN_FIELDS)
    gradient = lambda: net.gradient(c, b, dL_dstates=ds, memory_budget=budget)
    assert_same_in_groups(monkeypatch, g0, gradient, fields=LIN_FIELDS)


def test_linear_network_is_left_as_it_was(rng):
    """After a checkpointed gradient the network goes on as if it had not been computed (its state vectors,
    records and tape)."""
    _P, net = simulate(rng, "alpha-refractory")
    twin = pickle.loads(pickle.dumps(net))
    c = rng.normal(size=net.spike_times.size)
    assert_same_gradient(net.gradient(c), net.gradient(c, memory_budget=least_budget(net)), fields=LIN_FIELDS)
    net.run(0.03, record_tape=True)
    twin.run(0.03)
    np.testing.assert_array_equal(net.spike_times, twin.spike_times)
    np.testing.assert_array_equal(net.linear_state, twin.linear_state)
    c = rng.normal(size=net.spike_times.size)
    assert_same_gradient(net.gradient(c), net.gradient(c, memory_budget=least_budget(net)), fields=LIN_FIELDS)


def test_linear_budget_is_respected_and_the_unsegmented_pass_exceeds_it():
    """As for the other models: the checkpointed pass of a network of 300 linear neurons (two exponential
    currents, 10 targets each, Poisson input) allocates (tracemalloc) within the budget, less the result and
    the input events' dL/dt, and within the plan's bytes; the unsegmented pass exceeds the budget (one
    network: the allocations do not depend on the seed's details). Measured (5615 spikes, 18084 input
    events): the unsegmented pass 1.45 MB; 0.36 MB in 16 segments within a plan of 0.60 MB."""
    rng = np.random.default_rng(7)
    n, k = 300, 10
    m = tl.model_arrays("exp2", rng, n)
    model = LinearModel(m["variables"], m["A"], m["b"], m["c"], theta=1.0, reset=0.0, pulse=m["pulse"])
    targets = [rng.choice(np.delete(np.arange(n), j), size=k, replace=False) for j in range(n)]
    net = EventNetwork(n, model="linear", linear=model, indptr=np.arange(0, n * k + 1, k),
                       indices=np.concatenate(targets), weights=rng.normal(0.0, 0.1, n * k),
                       delays=rng.uniform(0.0005, 0.003, n * k), seed=1)  # fmt: skip
    net.add_poisson_input(200.0, 0.05, delay=0.001)
    net.run(0.3, record_tape=True)
    n_sp = net.spike_times.size
    assert n_sp > 5_000
    c = rng.normal(size=n_sp)
    work0, g0 = budgeted_bytes(net, c, LIN_FIELDS)
    budget = 0.5 * work0
    plan = segments(net, budget)
    assert not plan["rerun"] and len(plan["starts"]) > 4
    work1, g1 = budgeted_bytes(net, c, LIN_FIELDS, memory_budget=budget)
    assert_same_gradient(g0, g1, fields=LIN_FIELDS)
    assert work1 <= plan["bytes"] <= budget
    assert work0 > budget


def test_checkpointed_linear_errors(rng):
    """Too small a budget: the error of the other models, naming the least budget."""
    _P, net = simulate(rng, "alpha-refractory")
    c = np.zeros(net.spike_times.size)
    with pytest.raises(ValueError, match=r"too small for this run: found 2000 bytes, the least .* is \d+"):
        net.gradient(c, memory_budget=2000)
    with pytest.raises(ValueError, match="memory_budget is too small"):
        segments(net, 0.9 * least_budget(net))
    with pytest.raises(ValueError, match="memory_budget"):
        net.gradient(c, memory_budget=-1.0)
