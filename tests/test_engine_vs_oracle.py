"""Small random networks: the engine against the O(N)-per-event reference simulator, spike by spike.

Spikes of one instant (cascades) carry the identical time in each simulator, but instants built from sums
(t + delay + refractory) may differ by an ulp between the two; both sequences are put in canonical order
(time, then neuron index among spikes within the tolerance of each other) before the comparison, so that
only the *set* of neurons firing at an instant must agree; the documented breadth-first order is tested
separately on hand-built cascades.
Kicks reaching a neuron at one instant are summed before the threshold test (one generation of the
instant's cascade at a time), in both simulators; the rule is tested on hand-built cases below and in
test_ties.py.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from oracle import Oracle, generator_kicks, poisson_times
from scipy import stats

from brian2_sparseprop import EventNetwork

MODELS = np.array(["lif", "qif", "theta"])


def random_csr(rng, n, k_max):
    """Random out-degree 0..k_max per neuron, distinct targets, no autapses."""
    rows = []
    for i in range(n):
        k = rng.integers(0, min(k_max, n - 1) + 1)
        others = np.delete(np.arange(n), i)
        rows.append(rng.choice(others, size=k, replace=False))
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    return indptr, np.concatenate(rows).astype(np.int64)


def random_neurons(rng, n, models, mean_driven):
    """Per-neuron parameters and initial states; ``mean_driven`` picks drives above or below rheobase."""
    lif, qif = models == "lif", models == "qif"
    drive = np.where(
        lif,
        rng.uniform(1.05, 1.8, n) if mean_driven else rng.uniform(0.5, 0.95, n),
        rng.uniform(0.05, 1.0, n) if mean_driven else rng.uniform(-0.6, -0.05, n),
    )
    threshold = np.where(qif, rng.uniform(2.0, 8.0, n), 1.0)
    reset = np.where(qif, rng.uniform(-3.0, -0.5, n), rng.uniform(-0.2, 0.2, n))
    v_init = np.where(
        models == "theta",
        rng.uniform(-np.pi, np.pi, n),
        reset + rng.uniform(0, 1, n) * (np.where(qif, 1.5, threshold) - reset),
    )
    return dict(
        model=models, tau=rng.uniform(0.005, 0.02, n), drive=drive, threshold=threshold, reset=reset, v_init=v_init
    )


def random_generator(rng, n, n_sources, rate, t_stop, w_low, w_high, delayed, period=0.0):
    """Spike-generator input: Poisson-like given times on [0, t_stop) (one period if ``period > 0``)."""
    times = [poisson_times(rng, rate, period or t_stop) for _ in range(n_sources)]
    sources = np.concatenate([np.full(len(t), s) for s, t in enumerate(times)])
    times = np.concatenate(times)
    order = np.argsort(times, kind="stable")
    rows = [rng.choice(n, size=rng.integers(1, min(3, n) + 1), replace=False) for _ in range(n_sources)]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    indices = np.concatenate(rows)
    nnz = len(indices)
    return dict(
        times=times[order],
        sources=sources[order],
        n_sources=n_sources,
        indptr=indptr,
        indices=indices,
        weights=rng.uniform(w_low, w_high, nnz),
        delays=rng.uniform(1e-4, 3e-3, nnz) if delayed else np.zeros(nnz),
        period=period,
    )


def scenario(name, rng):
    """Network parameters, optional spike-generator input (up to 30 s) and duration (s) of one scenario."""
    n = int(rng.integers(5, 51))
    generator = None
    if name == "lif-inhibitory":
        models = np.full(n, "lif")
        neurons = random_neurons(rng, n, models, mean_driven=True)
        indptr, indices = random_csr(rng, n, 8)
        syn = dict(weights=-rng.uniform(0.05, 0.3, len(indices)), delays=0.0)
        duration = 0.3
    elif name == "lif-shared-tau":
        # S1-like: few distinct taus, so the engine's transcendental-free shared-tau keys are used;
        # inhibition with and without delays, refractoriness, external kicks, long enough for re-basing
        models = np.full(n, "lif")
        neurons = random_neurons(rng, n, models, mean_driven=True)
        neurons["tau"] = rng.choice([0.01, 0.02, 0.005], n)
        neurons["threshold"] = rng.uniform(0.9, 1.2, n)  # per-neuron thresholds (and drives) with shared taus
        neurons["refractory"] = rng.choice([0.0, 1e-3], n)
        indptr, indices = random_csr(rng, n, 8)
        syn = dict(
            weights=-rng.uniform(0.02, 0.2, len(indices)),
            delays=np.where(rng.uniform(size=len(indices)) < 0.5, 0.0, rng.uniform(1e-4, 2e-3, len(indices))),
        )
        generator = random_generator(rng, n, 3, 20.0, 30.0, -0.2, 0.5, delayed=True)
        duration = 1.0
    elif name == "excitatory-cascades":
        # zero-delay excitation strong enough to chain: many neurons fire at one instant
        models = rng.choice(MODELS[:2], n)
        neurons = random_neurons(rng, n, models, mean_driven=True)
        indptr, indices = random_csr(rng, n, 6)
        syn = dict(weights=rng.uniform(0.2, 1.5, len(indices)), delays=0.0)
        duration = 0.2
    elif name == "mixed-models-delays-refractory":
        models = rng.choice(MODELS, n)
        neurons = random_neurons(rng, n, models, mean_driven=True)
        neurons["refractory"] = rng.uniform(0.0, 3e-3, n)
        indptr, indices = random_csr(rng, n, 6)
        syn = dict(weights=rng.uniform(-0.5, 0.5, len(indices)), delays=rng.uniform(1e-4, 4e-3, len(indices)))
        generator = random_generator(rng, n, 5, 100.0, 0.2, -0.5, 0.8, delayed=True, period=0.05)
        duration = 0.2
    elif name == "fluctuation-driven-generator":
        # silent without input; external spikes of both signs (instantaneous and delayed) make them fire
        models = rng.choice(MODELS, n)
        neurons = random_neurons(rng, n, models, mean_driven=False)
        indptr, indices = random_csr(rng, n, 5)
        syn = dict(weights=rng.uniform(-0.3, 0.6, len(indices)), delays=rng.uniform(1e-4, 2e-3, len(indices)))
        generator = random_generator(rng, n, 10, 300.0, 0.3, -0.3, 0.9, delayed=False)
        duration = 0.3
    elif name == "scalar-delay-excitatory":
        # Brunel-like: one delay for all synapses (simultaneous arrivals), refractoriness, external drive.
        # Refractory periods differ per neuron: with one delay d and one period r, loops of two neurons
        # put an arrival (t + r + d) exactly on the end of a refractory period (t + d + r), a case with its
        # own scenario (brunel-scalar-delay-and-refractory)
        models = rng.choice(MODELS[:2], n)
        neurons = random_neurons(rng, n, models, mean_driven=False)
        neurons["refractory"] = rng.uniform(1e-3, 3e-3, n)
        indptr, indices = random_csr(rng, n, 8)
        syn = dict(weights=rng.uniform(0.1, 0.7, len(indices)), delays=1.5e-3)
        generator = random_generator(rng, n, 10, 400.0, 0.3, 0.1, 0.9, delayed=False)
        duration = 0.3
    elif name == "brunel-scalar-delay-and-refractory":
        # S3-like: one delay (1.5 ms) and one refractory period (2 ms) for all, so that arrivals land exactly
        # on refractory ends (t + d + r) and on spike instants; same-instant kicks are absorbed by the reset
        models = np.full(n, "lif")
        neurons = random_neurons(rng, n, models, mean_driven=False)
        neurons["tau"] = 0.02
        neurons["refractory"] = 2e-3
        indptr, indices = random_csr(rng, n, 8)
        syn = dict(weights=rng.uniform(0.1, 0.7, len(indices)), delays=1.5e-3)
        generator = random_generator(rng, n, 10, 400.0, 0.3, 0.1, 0.9, delayed=False)
        duration = 0.3
    elif name == "lif-integrate-refractory":
        models = np.full(n, "lif")
        neurons = random_neurons(rng, n, models, mean_driven=True)
        neurons["refractory"] = rng.uniform(1e-3, 8e-3, n)
        neurons["integrate_refractory"] = True
        indptr, indices = random_csr(rng, n, 6)
        syn = dict(weights=rng.uniform(-0.4, 0.6, len(indices)), delays=rng.uniform(1e-4, 4e-3, len(indices)))
        duration = 0.3
    elif name == "breadth-first-mixed-signs":
        # zero delays, both signs: who fires in a cascade depends on the documented breadth-first order
        models = np.full(n, "lif")
        neurons = random_neurons(rng, n, models, mean_driven=True)
        indptr, indices = random_csr(rng, n, 6)
        syn = dict(weights=rng.uniform(-0.8, 1.2, len(indices)), delays=0.0)
        duration = 0.2
    else:
        raise ValueError(name)
    return dict(n=n, **neurons, indptr=indptr, indices=indices, **syn), generator, duration


SCENARIOS = [
    "lif-inhibitory",
    "lif-shared-tau",
    "excitatory-cascades",
    "mixed-models-delays-refractory",
    "fluctuation-driven-generator",
    "scalar-delay-excitatory",
    "brunel-scalar-delay-and-refractory",
    "lif-integrate-refractory",
    "breadth-first-mixed-signs",
]


def canonical(times, indices, tol):
    """Spikes sorted by time, with spikes closer than ``tol`` to their predecessor taken as one instant and
    sorted by index within it: exact ties of one simulator may be a few ulp apart in the other."""
    times, indices = np.asarray(times, np.longdouble), np.asarray(indices, np.int64)
    order = np.lexsort((indices, times))
    times, indices = times[order], indices[order]
    instant = np.cumsum(np.concatenate([[False], np.diff(times) > tol]))[: len(times)]
    order = np.lexsort((indices, instant))
    return times[order], indices[order]


def assert_same_spikes(engine, oracle, tol):
    t_e, i_e = canonical(engine.spike_times, engine.spike_indices, tol)
    t_o, i_o = canonical(oracle.spike_times, oracle.spike_indices, tol)
    n = min(len(i_e), len(i_o))
    differ = np.flatnonzero((i_e[:n] != i_o[:n]) | (np.abs(t_e[:n] - t_o[:n]) > tol))
    first = differ[0] if len(differ) else n
    assert len(differ) == 0 and len(i_e) == len(i_o), (
        f"{len(i_e)} engine vs {len(i_o)} oracle spikes; first difference at spike {first}: "
        f"engine {list(zip(t_e[first : first + 3], i_e[first : first + 3]))}, "
        f"oracle {list(zip(t_o[first : first + 3], i_o[first : first + 3]))}"
    )


def run_both(params, generator, duration, record_times=(), oracle_dtype=np.float64):
    engine = EventNetwork(**params)
    kicks = None
    if generator is not None:
        engine.add_spike_generator(**generator)
        gen = {k: v for k, v in generator.items() if k != "n_sources"}
        kicks = generator_kicks(**gen, t_stop=duration)
    if len(record_times):
        engine.record_states(np.arange(params["n"]), record_times)
    engine.run(duration)
    oracle = Oracle(**params, inputs=kicks, dtype=oracle_dtype)
    oracle.run(duration, record_times=record_times)
    return engine, oracle


@pytest.mark.parametrize("name", SCENARIOS)
def test_random_network_matches_oracle(name, rng):
    params, generator, duration = scenario(name, rng)
    record_times = np.sort(rng.uniform(0, duration, 7))
    engine, oracle = run_both(params, generator, duration, record_times)
    assert len(oracle.spike_times) >= 10, "scenario too quiet to test anything"
    tol = 1e-9 * np.min(params["tau"])  # issue 2: times within 1e-9 tau
    assert_same_spikes(engine, oracle, tol)
    # exact states at chosen times and at the end: the flow is Lipschitz over these short runs, so
    # spike-time agreement to 1e-9 tau gives states to about 1e-9 times the slope; 1e-6 absolute is loose
    # enough for QIF states near threshold and still fails on any missed or extra kick
    np.testing.assert_allclose(engine.state_values, np.array(oracle.state_values), rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(engine.v, oracle.v, rtol=1e-7, atol=1e-6)


@pytest.mark.slow
def test_long_shared_tau_network_run_matches_oracle(rng):
    # 30 s = 1500 to 6000 tau: the shared-tau keys are re-based many times along the way. Rounding of
    # order eps t per event is amplified by the network over such runs: the float64 oracle itself drifts
    # by ~1.4e-12 s from its long-double run after 20 s (4 times the engine's drift), so the reference
    # here is the oracle in long double
    params, generator, _ = scenario("lif-shared-tau", rng)
    record_times = np.sort(rng.uniform(0, 30.0, 7))
    engine, oracle = run_both(params, generator, 30.0, record_times, oracle_dtype=np.longdouble)
    assert_same_spikes(engine, oracle, 1e-9 * np.min(params["tau"]))
    np.testing.assert_allclose(engine.state_values, np.array(oracle.state_values, float), rtol=1e-7, atol=1e-6)


@st.composite
def tiny_networks(draw):
    """2 to 6 neurons of mixed models with continuous parameters (no accidental exact ties), autapses and
    multiple synapses allowed, zero and positive delays, both signs, and a spike generator whose spikes
    share instants."""
    n = draw(st.integers(2, 6))
    models = np.array(draw(st.lists(st.sampled_from(["lif", "qif", "theta"]), min_size=n, max_size=n)))
    lif, qif = models == "lif", models == "qif"

    def per_neuron(strategy):
        return np.array(draw(st.lists(strategy, min_size=n, max_size=n)))

    drive = np.where(
        lif,
        per_neuron(st.floats(0.6, 2.0)),
        per_neuron(st.one_of(st.floats(-0.5, -1e-3), st.floats(1e-3, 1.0), st.just(0.0))),
    )
    v0 = np.where(
        models == "theta",
        per_neuron(st.floats(-3.0, 3.0)),
        np.where(qif, per_neuron(st.floats(-1.0, 4.9)), per_neuron(st.floats(-0.5, 0.99))),
    )
    rows = [draw(st.lists(st.integers(0, n - 1), max_size=4)) for _ in range(n)]
    nnz = sum(len(r) for r in rows)
    times = np.sort(draw(st.lists(st.sampled_from([0.003, 0.005, 0.0123, 0.02, 0.031]), max_size=6)))
    params = dict(
        n=n,
        model=models,
        tau=per_neuron(st.floats(0.005, 0.02)),
        drive=drive,
        threshold=np.where(qif, 5.0, 1.0),
        reset=np.where(qif, -1.0, 0.0),
        refractory=per_neuron(st.one_of(st.just(0.0), st.floats(1e-4, 3e-3))),
        v_init=v0 + 0.0137 * np.arange(n) * (models != "lif"),
        indptr=np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(int),
        indices=np.array([j for r in rows for j in r], int),
        weights=np.array(draw(st.lists(st.floats(-0.8, 1.5), min_size=nnz, max_size=nnz))),
        delays=np.array(draw(st.lists(st.one_of(st.just(0.0), st.floats(1e-4, 3e-3)), min_size=nnz, max_size=nnz))),
    )
    generator = dict(
        times=times,
        sources=np.array(draw(st.lists(st.integers(0, 1), min_size=len(times), max_size=len(times))), int),
        n_sources=2,
        indptr=np.array([0, 2, 3]),
        indices=np.array(draw(st.lists(st.integers(0, n - 1), min_size=3, max_size=3))),
        weights=np.array(draw(st.lists(st.sampled_from([-0.5, 0.4, 1.2]), min_size=3, max_size=3))),
    )
    return params, generator


# derandomized: the same examples on every run, so that the default suite cannot turn flaky
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(network=tiny_networks())
def test_tiny_networks_match_oracle(network):
    params, generator = network
    engine, oracle = run_both(params, generator, 0.05)
    assert_same_spikes(engine, oracle, 1e-9 * params["tau"].min())
    np.testing.assert_allclose(engine.v, oracle.v, rtol=1e-7, atol=1e-6)


def test_scenarios_exercise_cascades(rng):
    # guard against a scenario that silently stops testing what it is named for
    params, generator, duration = scenario("excitatory-cascades", rng)
    oracle = Oracle(**params)
    oracle.run(duration)
    times = np.asarray(oracle.spike_times)
    assert np.count_nonzero(np.diff(times) == 0) >= 5


def test_cascade_order_is_breadth_first():
    # 0 kicks 2 (+0.6, crosses) then 1 (-0.3) in CSR order; 2 kicks 1 (+0.5). Breadth-first, neuron 1 gets
    # -0.3 before +0.5 and stays below threshold (0.9); depth-first it would get +0.5 first and fire.
    # Neurons 1 and 2 sit at their fixed points (v = drive), so their states are exact at any time.
    params = dict(
        n=3,
        model="lif",
        tau=0.01,
        drive=[1.5, 0.7, 0.5],
        v_init=[0.0, 0.7, 0.5],
        indptr=[0, 2, 2, 3],
        indices=[2, 1, 1],
        weights=[0.6, -0.3, 0.5],
    )
    engine, oracle = run_both(params, None, 0.012)
    assert list(oracle.spike_indices) == [0, 2]
    assert list(engine.spike_indices) == [0, 2]
    assert engine.spike_times[0] == engine.spike_times[1]
    np.testing.assert_allclose(engine.v, oracle.v, rtol=1e-12)


def test_kicks_arriving_together_form_the_first_level_of_the_cascade():
    # 0 reaches 1 (+0.3) and 2 (+0.7) over 1 ms delays; 1 inhibits 2 at once (-0.6). Breadth-first over the
    # instant, both arrivals are delivered before 1's spike acts: 2 fires too and 1's kick is absorbed.
    # (Completing 1's cascade before delivering the second arrival would leave 2 below threshold.)
    t0 = 0.01 * np.log(3.0)
    params = dict(
        n=3,
        model="lif",
        tau=0.01,
        drive=[1.5, 0.8, 0.5],
        v_init=[0.0, 0.8, 0.5],
        indptr=[0, 2, 3, 3],
        indices=[1, 2, 2],
        weights=[0.3, 0.7, -0.6],
        delays=[1e-3, 1e-3, 0.0],
    )
    engine, oracle = run_both(params, None, t0 + 2e-3)
    assert list(oracle.spike_indices) == [0, 1, 2]
    assert list(engine.spike_indices) == [0, 1, 2]
    assert engine.spike_times[1] == engine.spike_times[2]
    np.testing.assert_allclose(engine.v, oracle.v, rtol=1e-12)


def test_delayed_arrivals_and_external_inputs_of_one_instant_are_summed():
    # dyadic times: 0 fires on an external kick at t1 and reaches 1 (+0.7, crossing alone) at t1 + d, when
    # an external -0.6 also reaches 1: the two are summed before the threshold test (+0.1), so 1 stays
    # below threshold, at 0.6
    t1, d = 2.0**-6, 2.0**-10
    params = dict(
        n=2,
        model="lif",
        tau=0.01,
        drive=[0.0, 0.5],
        v_init=[0.0, 0.5],
        indptr=[0, 1, 1],
        indices=[1],
        weights=[0.7],
        delays=d,
    )
    generator = dict(
        times=[t1, t1 + d], sources=[0, 1], n_sources=2, indptr=[0, 1, 2], indices=[0, 1], weights=[1.5, -0.6]
    )
    engine, oracle = run_both(params, generator, t1 + 2 * d)
    assert list(oracle.spike_indices) == [0]
    assert list(engine.spike_indices) == [0]
    assert engine.v[1] == pytest.approx(0.5 + 0.1 * np.exp(-d / 0.01), rel=1e-12)  # relaxing since t1 + d
    np.testing.assert_allclose(engine.v, oracle.v, rtol=1e-12)


@pytest.mark.parametrize("weight", [0.2, 0.9], ids=["subthreshold", "fires"])
def test_state_sample_at_an_event_time_is_taken_before_the_event(weight):
    # documented (like Brian2's StateMonitor at the start of a step): a sample at t sees all events before
    # t and none at t; dyadic t so that the kick lands exactly on the sample time
    t = 2.0**-6
    params = dict(n=1, model="lif", tau=0.01, drive=0.5, v_init=[0.2])
    generator = dict(times=[t], sources=[0], n_sources=1, indptr=[0, 1], indices=[0], weights=[weight])
    engine, oracle = run_both(params, generator, 2 * t, record_times=[t])
    before = 0.5 + (0.2 - 0.5) * np.exp(-t / 0.01)
    assert oracle.state_values[0][0] == pytest.approx(before, rel=1e-14)
    assert engine.state_values[0, 0] == pytest.approx(before, rel=1e-14)


def test_cascade_records_spikes_in_breadth_first_order():
    # a chain 0 -> {3, 1} -> 2 with zero delays: breadth-first levels are [0], [3, 1], [2]
    params = dict(
        n=4,
        model="lif",
        tau=0.01,
        drive=[1.5, 0.95, 0.95, 0.95],
        v_init=[0.0, 0.95, 0.95, 0.95],
        indptr=[0, 2, 3, 3, 3],
        indices=[3, 1, 2],
        weights=[0.1, 0.1, 0.1],
    )
    engine, oracle = run_both(params, None, 0.012)
    assert list(oracle.spike_indices) == [0, 3, 1, 2]
    assert list(engine.spike_indices) == [0, 3, 1, 2]
    assert len(set(engine.spike_times)) == 1


def test_reciprocal_zero_delay_kicks_are_absorbed_by_reset():
    # 0 -> 1 -> 0 strong and instantaneous: each fires once; the kick back reaches 0 at its own spike
    # instant and is absorbed by the reset, so 0 restarts from reset
    params = dict(
        n=2,
        model="lif",
        tau=0.01,
        drive=[1.5, 0.5],
        v_init=[0.0, 0.5],
        indptr=[0, 1, 2],
        indices=[1, 0],
        weights=[2.0, 2.0],
    )
    engine, oracle = run_both(params, None, 0.02)
    assert list(engine.spike_indices) == list(oracle.spike_indices)
    np.testing.assert_allclose(engine.spike_times, oracle.spike_times, rtol=1e-14)
    np.testing.assert_allclose(engine.v, oracle.v, rtol=1e-12)


REFRACTORY_KICK = dict(  # neuron 1 fires at t0 - 2 ms (generator kick), neuron 0 kicks it at t0 (refractory)
    params=dict(
        n=2,
        model="lif",
        tau=0.01,
        drive=[1.5, 0.5],
        refractory=5e-3,
        v_init=[0.0, 0.5],
        indptr=[0, 1, 1],
        indices=[1],
        weights=[1.2],
    ),
    generator=dict(
        times=[0.01 * np.log(3.0) - 2e-3], sources=[0], n_sources=1, indptr=[0, 1], indices=[1], weights=[0.6]
    ),
)


def test_kick_during_refractoriness_is_dropped():
    # Brian2 (unless refractory): writes to v happen only when not refractory, so the kick at t0 is lost
    # and neuron 1 restarts from its reset when the period ends, below threshold for good (drive 0.5)
    t0 = 0.01 * np.log(3.0)  # first spike of neuron 0 (I = 1.5, from 0)
    engine, oracle = run_both(REFRACTORY_KICK["params"], REFRACTORY_KICK["generator"], t0 + 4e-3)
    assert list(oracle.spike_indices) == [1, 0]
    assert list(engine.spike_indices) == [1, 0]
    np.testing.assert_allclose(engine.spike_times, oracle.spike_times, rtol=1e-14)
    # from reset 0 at the end of refractoriness (t0 + 3 ms), 1 ms of free evolution towards 0.5
    assert engine.v[1] == pytest.approx(0.5 * -np.expm1(-1e-3 / 0.01), rel=1e-12)


def test_kick_during_integrated_refractoriness_adds_and_fires_at_end():
    # integrate_refractory=True (Brian2's refractory without the flag): the kick adds to the integrating
    # state, which is then above threshold: the neuron fires the moment its refractory period ends
    t0 = 0.01 * np.log(3.0)
    params = dict(REFRACTORY_KICK["params"], integrate_refractory=True)
    engine, oracle = run_both(params, REFRACTORY_KICK["generator"], t0 + 4e-3)
    assert list(oracle.spike_indices) == [1, 0, 1]
    assert list(engine.spike_indices) == [1, 0, 1]
    np.testing.assert_allclose(engine.spike_times, oracle.spike_times, rtol=1e-14)
    assert engine.spike_times[2] == pytest.approx(t0 - 2e-3 + 5e-3, rel=1e-14)


@pytest.mark.parametrize("refractory", [0.0, 1e-3])
def test_simultaneous_generator_kicks_after_a_spike_are_absorbed(refractory):
    # two generator kicks at one instant are summed and fire the neuron; it restarts from its reset (Brian2:
    # synapses act before resets within a time step)
    params = dict(n=1, model="lif", tau=0.01, drive=0.0, refractory=refractory, v_init=[0.0])
    generator = dict(
        times=[0.01, 0.01], sources=[0, 1], n_sources=2, indptr=[0, 1, 2], indices=[0, 0], weights=[1.5, 0.3]
    )
    engine, oracle = run_both(params, generator, 0.02, record_times=[0.0105])
    assert list(engine.spike_times) == [0.01]
    assert oracle.state_values[0][0] == 0.0
    assert engine.state_values[0, 0] == 0.0


def test_delayed_kicks_of_one_spike_arriving_together_are_absorbed_after_the_first_fires():
    # 0 reaches 1 twice over synapses with equal delays: the two kicks (+1.5, +0.3) are summed and fire 1,
    # which restarts from its reset
    t0 = 0.01 * np.log(3.0)
    params = dict(
        n=2,
        model="lif",
        tau=0.01,
        drive=[1.5, 0.0],
        v_init=[0.0, 0.0],
        indptr=[0, 2, 2],
        indices=[1, 1],
        weights=[1.5, 0.3],
        delays=1e-3,
    )
    engine, oracle = run_both(params, None, t0 + 2e-3, record_times=[t0 + 1.5e-3])
    assert list(oracle.spike_indices) == [0, 1] and oracle.state_values[0][1] == 0.0
    assert list(engine.spike_indices) == [0, 1]
    assert engine.state_values[0, 1] == 0.0


def test_delayed_kicks_of_two_spikes_arriving_together_are_absorbed_after_the_first_fires():
    # 0 fires at t0 and fires 1 at once (zero delay); both reach 2 over 1 ms delays: the two kicks (+1.5,
    # +0.3) are summed, 2 fires at t0 + 1 ms and restarts from its reset
    t0 = 0.01 * np.log(3.0)
    params = dict(
        n=3,
        model="lif",
        tau=0.01,
        drive=[1.5, 0.0, 0.0],
        v_init=[0.0, 0.0, 0.0],
        indptr=[0, 2, 3, 3],
        indices=[1, 2, 2],
        weights=[1.5, 1.5, 0.3],
        delays=[0.0, 1e-3, 1e-3],
    )
    engine, oracle = run_both(params, None, t0 + 2e-3, record_times=[t0 + 1.5e-3])
    assert list(oracle.spike_indices) == [0, 1, 2] and oracle.state_values[0][2] == 0.0
    assert list(engine.spike_indices) == [0, 1, 2]
    assert engine.state_values[0, 2] == 0.0


def test_kick_at_refractory_end_spike_is_absorbed():
    # integrated refractoriness (kicks then add): a kick during the period (+1.5) leaves the state above
    # threshold, so the neuron fires when the period ends (t1 + r); a kick arriving exactly then (+0.3) is
    # absorbed by that spike's reset
    t1, r = 2.0**-6, 2.0**-9
    params = dict(n=1, model="lif", tau=0.01, drive=0.0, refractory=r, v_init=[0.0], integrate_refractory=True)
    generator = dict(
        times=[t1, t1 + 2.0**-10, t1 + r],
        sources=[0, 0, 1],
        n_sources=2,
        indptr=[0, 1, 2],
        indices=[0, 0],
        weights=[1.5, 0.3],
    )
    engine, oracle = run_both(params, generator, 0.02)
    assert list(engine.spike_times) == [t1, t1 + r]
    assert oracle.v[0] == 0.0
    assert engine.v[0] == 0.0


def test_kick_at_refractory_end_instant_fires_like_at_any_other_instant():
    # dyadic times: the neuron fires at t1 and is refractory until t1 + r; at exactly t1 + r it gets +0.3,
    # +0.8 and -0.05, summed (1.05: crosses threshold with a margin): it fires. A sum landing exactly on
    # threshold would test rounding, not the rule: the engine's LIF state u = (I - v) exp(t / tau) can put
    # it an ulp below.
    t1, r = 2.0**-6, 2.0**-10
    params = dict(n=1, model="lif", tau=0.01, drive=0.0, refractory=r, v_init=[0.0])
    generator = dict(
        times=[t1, t1 + r, t1 + r, t1 + r],
        sources=[0, 1, 2, 3],
        n_sources=4,
        indptr=[0, 1, 2, 3, 4],
        indices=[0, 0, 0, 0],
        weights=[1.5, 0.3, 0.8, -0.05],
    )
    engine, oracle = run_both(params, generator, 0.03)
    assert list(oracle.spike_times) == [t1, t1 + r]
    assert list(engine.spike_times) == [t1, t1 + r]


def test_simultaneous_autonomous_spikes_all_fire_despite_inhibition_among_them():
    # four identical neurons started together cross threshold at the same instant tau ln 2; 2 inhibits 3,
    # and its kick reaches 3 in the instant 3 fires, so the reset absorbs it (Brian2: all of them spike)
    params = dict(
        n=4, model="lif", tau=0.01, drive=2.0, v_init=np.zeros(4), indptr=[0, 0, 0, 1, 1], indices=[3], weights=[-0.6]
    )
    engine, oracle = run_both(params, None, 0.01)
    assert list(oracle.spike_indices) == [0, 1, 2, 3]
    assert list(engine.spike_indices) == [0, 1, 2, 3]


# ----- Poisson inputs: statistics (the engine's RNG cannot be shared with the oracle) -----------------

KS_ALPHA = 1e-3  # reject exponential inter-arrival times only below this p-value


def relay_network(n, seed):
    """Neurons that fire on every input kick (silent LIF, kick 2 > threshold), so spikes = input events."""
    return EventNetwork(n, model="lif", tau=0.01, drive=0.0, v_init=np.zeros(n), seed=seed)


def test_poisson_input_is_poisson_at_the_given_rate(seed):
    n, rate, duration = 20, 400.0, 2.0
    net = relay_network(n, seed)
    net.add_poisson_input(rate, 2.0)
    net.run(duration)
    counts = np.bincount(net.spike_indices, minlength=n)
    # total count is Poisson(n rate T) = 16000 events: within 5 standard deviations
    expected = n * rate * duration
    assert abs(counts.sum() - expected) < 5 * np.sqrt(expected)
    isis = np.concatenate([np.diff(net.spike_times[net.spike_indices == i]) for i in range(n)])
    assert stats.kstest(isis * rate, "expon").pvalue > KS_ALPHA
    # independent processes: no two neurons share an event time
    assert len(np.unique(net.spike_times)) == len(net.spike_times)


def test_poisson_input_per_target_rates_and_targets(seed):
    rates = np.array([50.0, 200.0, 800.0])
    net = relay_network(5, seed)
    net.add_poisson_input(rates, 2.0, targets=[4, 0, 2])
    net.run(5.0)
    counts = np.bincount(net.spike_indices, minlength=5)
    assert counts[1] == 0 and counts[3] == 0
    got = counts[[4, 0, 2]]
    # each count Poisson(rate T): within 5 standard deviations
    assert np.all(np.abs(got - rates * 5.0) < 5 * np.sqrt(rates * 5.0))


@pytest.mark.parametrize("m", [1, 2, 7, 1000])
def test_alias_table_reproduces_the_weights(m, rng):
    # all Poisson sources run as one process; the alias table picks each event's source with
    # probability rate / total: reconstruct those probabilities from the table
    from brian2_sparseprop.spiking._engine import alias_table

    w = rng.uniform(0, 5, m) * (rng.random(m) < 0.8)
    w[0] = 1.0
    prob, alias = alias_table(w)
    implied = prob / m + np.bincount(alias, weights=(1 - prob) / m, minlength=m)
    np.testing.assert_allclose(implied, w / w.sum(), rtol=0, atol=1e-13)


def test_poisson_sources_share_events_among_their_targets(seed):
    # PoissonGroup + Synapses: a source's event reaches all its targets at the same time (plus delay)
    rates = np.array([100.0, 300.0])
    net = relay_network(4, seed)
    net.add_poisson_sources(rates, indptr=[0, 2, 4], indices=[0, 1, 2, 3], weights=2.0, delays=[0.0, 1e-3, 0.0, 0.0])
    net.run(4.0)
    trains = [net.spike_times[net.spike_indices == i] for i in range(4)]
    np.testing.assert_allclose(trains[1][: len(trains[0])], trains[0][: len(trains[1])] + 1e-3, rtol=1e-12)
    np.testing.assert_array_equal(trains[2], trains[3])
    for train, rate in [(trains[0], 100.0), (trains[2], 300.0)]:
        assert abs(len(train) - rate * 4.0) < 5 * np.sqrt(rate * 4.0)
        assert stats.kstest(np.diff(train) * rate, "expon").pvalue > KS_ALPHA


@pytest.mark.parametrize("name", ["lif-shared-tau", "mixed-models-delays-refractory", "lif-integrate-refractory"])
def test_starting_at_or_above_threshold_matches_oracle(name, rng):
    # a third of the neurons start at or above threshold: they fire at t = 0 (Brian2's first threshold
    # test is at t = 0), then the run goes on as any other
    params, generator, duration = scenario(name, rng)
    n = params["n"]
    idx = rng.choice(n, size=max(1, n // 3), replace=False)
    thr = np.broadcast_to(np.asarray(params["threshold"], float), (n,))
    low = np.broadcast_to(np.asarray(params["reset"], float), (n,))
    models = np.broadcast_to(np.asarray(params["model"]), (n,))
    v_init = np.where(models == "theta", -np.pi, low + 0.5 * (thr - low))
    v_init[idx] = np.where(models[idx] == "theta", v_init[idx], thr[idx] + rng.uniform(0.0, 0.5, idx.size))
    v_init[idx[0]] = thr[idx[0]] if models[idx[0]] != "theta" else v_init[idx[0]]  # exactly at threshold
    params = {**params, "v_init": v_init}
    engine, oracle = run_both(params, generator, duration)
    above = idx[models[idx] != "theta"]
    at_zero = engine.spike_indices[engine.spike_times == 0.0]
    assert set(above) <= set(at_zero.tolist())
    assert_same_spikes(engine, oracle, 1e-9 * np.min(params["tau"]))
    np.testing.assert_allclose(engine.v, oracle.v, rtol=1e-7, atol=1e-6)


@pytest.mark.parametrize(
    "name", ["lif-shared-tau", "mixed-models-delays-refractory", "scalar-delay-excitatory", "lif-integrate-refractory"]
)
def test_setting_v_mid_run_matches_oracle(name, rng):
    # set_v between two runs, like Brian2's G.v[i] = x: some neurons below, some at or above threshold
    # (they fire at once), refractory ones included; spikes in flight and external input carry on
    params, generator, duration = scenario(name, rng)
    t1 = duration / 2
    n = params["n"]
    engine = EventNetwork(**params)
    kicks = None
    if generator is not None:
        engine.add_spike_generator(**generator)
        kicks = generator_kicks(**{k: v for k, v in generator.items() if k != "n_sources"}, t_stop=duration)
    oracle = Oracle(**params, inputs=kicks)
    engine.run(t1)
    oracle.run(t1)
    idx = rng.choice(n, size=max(1, n // 3), replace=False)
    models = np.broadcast_to(np.asarray(params["model"]), (n,))[idx]
    thr = np.broadcast_to(np.asarray(params["threshold"], float), (n,))[idx]
    low = np.broadcast_to(np.asarray(params["reset"], float), (n,))[idx]
    values = np.where(
        models == "theta", rng.uniform(-np.pi, np.pi, idx.size), low + rng.uniform(0.0, 1.3, idx.size) * (thr - low)
    )
    engine.set_v(values, idx)
    oracle.v[idx] = values
    engine.run(duration - t1)
    oracle.run(duration - t1)
    assert len(oracle.spike_times) >= 10, "scenario too quiet to test anything"
    assert_same_spikes(engine, oracle, 1e-9 * np.min(params["tau"]))
    np.testing.assert_allclose(engine.v, oracle.v, rtol=1e-7, atol=1e-6)
