"""The clock's dt as the engine's time quantum through the device (issue 13 item 7).

With ``set_device('sparseprop')`` (``time_quantum='auto'``) the device passes ``dt`` to
``EventNetwork(time_quantum=dt)`` when every delay and refractory period is a whole number of dt, so that
events equal in exact arithmetic are one instant, as in Brian2's runtime: inputs due at one instant are
summed before the threshold test whatever the synapse order, and a kick due exactly when a refractory period
ends is taken. Tested: the two tie cases of the issue against Brian2's runtime, each with the check that
the test fails without a quantum (``time_quantum=None``); a delay off the grid (kept exact, no quantum;
refused with ``'dt'``); split runs, a delay changed between runs and store/restore.
"""

import warnings

import numpy as np
import pytest
from brian2 import (
    Network,
    NeuronGroup,
    SpikeGeneratorGroup,
    SpikeMonitor,
    Synapses,
    defaultclock,
    get_device,
    ms,
    run,
    second,
    set_device,
    start_scope,
)
from brian2.devices.device import reset_device

import brian2_sparseprop  # noqa: F401 (registers the device)
from brian2_sparseprop.device.device import EngineRestartWarning

DT = 0.1 * ms

#: (excitatory spike, its delay, inhibitory spike, its delay) in ms, equal sums in whole steps of 0.1 ms whose
#: sums in floating point put the excitatory arrival one rounding step before the inhibitory one
TIES = [(0.3, 0.3, 0.1, 0.5), (0.3, 1.2, 0.7, 0.8), (1.0, 0.6, 0.1, 1.5)]


@pytest.fixture
def device(numpy_target):
    """``use(name, **options)`` selects a device for a fresh scope at dt = 0.1 ms; reset after the test."""

    def use(name, **options):
        set_device(name, **options)
        start_scope()
        defaultclock.dt = DT

    yield use
    reset_device()


def tie_script(order, te, de, ti, di):
    """One LIF neuron at v = 0.5 receives +0.7 and -0.6 at one instant (0.6 < 1: no spike when summed); the
    excitatory synapse is synapse 0 for ``order = (0, 1)``, synapse 1 for ``(1, 0)``."""
    inp = SpikeGeneratorGroup(2, [0, 1], [te, ti] * ms)
    G = NeuronGroup(1, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0", method="exact")
    G.v = 0.5
    S = Synapses(inp, G, "w : 1", on_pre="v_post += w")
    S.connect(i=list(order), j=0)
    S.w = np.array([0.7, -0.6])[list(order)]
    S.delay = np.array([de, di])[list(order)] * ms
    mon = SpikeMonitor(G)
    run(5 * ms)
    return np.asarray(mon.t / ms)


@pytest.mark.parametrize("case", TIES)
@pytest.mark.parametrize("order", [(0, 1), (1, 0)], ids=["exc-first", "inh-first"])
def test_simultaneous_inputs_are_summed(device, case, order):
    te, de, ti, di = case
    assert float(te * ms + de * ms) < float(ti * ms + di * ms)  # a tie in exact arithmetic only
    device("sparseprop")
    assert tie_script(order, *case).size == 0
    reset_device()
    device("sparseprop", time_quantum=None)  # the check that this test can fail: rounding decides
    np.testing.assert_allclose(tie_script(order, *case), te + de, atol=1e-12)


@pytest.mark.parametrize("order", [(0, 1), (1, 0)], ids=["exc-first", "inh-first"])
def test_brian2s_runtime_sums_simultaneous_inputs(device, order):
    # the reference behaviour: Brian2 adds the inputs of one time step before its threshold test
    device("runtime")
    assert tie_script(order, *TIES[0]).size == 0


def ping_pong(t0, delay=1 * ms, refractory=2 * ms):
    """Two silent neurons that kick each other over threshold with a delay of half their refractory period,
    started by a generator spike at t0: each kick arrives exactly when its target's refractoriness ends."""
    inp = SpikeGeneratorGroup(1, [0], [t0])
    G = NeuronGroup(
        2,
        "dv/dt = -v/(10*ms) : 1 (unless refractory)",
        threshold="v > 1",
        reset="v = 0",
        refractory=refractory,
        method="exact",
    )
    S = Synapses(G, G, "w : 1", on_pre="v_post += w")
    S.connect(i=[0, 1], j=[1, 0])
    S.w = 1.5
    S.delay = delay
    start = Synapses(inp, G, on_pre="v_post += 1.5")
    start.connect(i=0, j=0)
    mon = SpikeMonitor(G)
    return Network(inp, G, S, start, mon), S, mon


def grid_starts(seed, n=4):
    """Start times in whole steps of dt (0 to 10 ms)."""
    return np.random.default_rng(seed).integers(0, 100, n)


def test_ping_pong_goes_on_as_in_brian2(device, seed):
    # one spike per ms from t0 for 2 s (the kick at each refractory end taken); without the quantum, the
    # rounding of (t + 1 ms) + 1 ms below t + 2 ms stops it (measured: after 993 to 1002 spikes)
    stopped = 0
    for m in grid_starts(seed):
        t0 = m * DT
        device("sparseprop")
        net, S, mon = ping_pong(t0)
        net.run(2 * second)
        t = np.asarray(mon.t)
        assert t.size == -(-(20000 - m) // 10)  # the spikes at t0 + k ms < 2 s, in steps of dt
        np.testing.assert_allclose(np.diff(t), 1e-3, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(mon.i[:4], [0, 1, 0, 1])
        reset_device()
        device("sparseprop", time_quantum=None)
        net, S, mon = ping_pong(t0)
        net.run(2 * second)
        stopped += mon.t[-1] < 1.9 * second
        reset_device()
    assert stopped == len(grid_starts(seed))


@pytest.mark.slow  # Brian2 objects and runs: seconds each on a shared machine
def test_ping_pong_goes_on_in_brian2s_runtime(device):
    # the runtime's reference behaviour: it keeps going too (each hop takes 1 ms + one dt there, since a
    # neuron kicked in a step crosses the threshold at the next)
    device("runtime")
    net, S, mon = ping_pong(0.3 * ms)
    net.run(100 * ms)
    assert mon.t[-1] > 100 * ms - 2 * (1 * ms + DT)
    np.testing.assert_allclose(np.diff(np.asarray(mon.t)), 1.1e-3, rtol=1e-9)


def test_split_runs_and_store_restore_keep_the_quantum(device):
    device("sparseprop")
    net, S, mon = ping_pong(0.7 * ms)
    net.run(2 * second)
    whole = np.asarray(mon.t)
    reset_device()
    device("sparseprop")
    net, S, mon = ping_pong(0.7 * ms)
    for _ in range(4):
        net.run(0.5 * second)
    np.testing.assert_array_equal(np.asarray(mon.t), whole)
    reset_device()
    device("sparseprop")
    net, S, mon = ping_pong(0.7 * ms)
    net.run(0.4 * second)
    net.store()
    net.run(1.6 * second)
    first = np.asarray(mon.t)
    np.testing.assert_array_equal(first, whole)
    net.restore()
    net.run(1.6 * second)  # the restored engine has the quantum: the activity goes on to the end
    np.testing.assert_array_equal(np.asarray(mon.t), whole)


def test_a_delay_off_the_grid_is_exact_without_a_quantum(device):
    # 1.05 ms at dt = 0.1 ms: Brian2's runtime would round it to 1.1 ms (a warning); the device keeps it
    # exact and runs without a quantum (refractoriness 1.5 ms ends before each kick: no tie to decide)
    device("sparseprop")
    net, S, mon = ping_pong(0.3 * ms, delay=1.05 * ms, refractory=1.5 * ms)
    net.run(50 * ms)
    np.testing.assert_allclose(np.diff(np.asarray(mon.t)), 1.05e-3, rtol=0, atol=1e-15)
    assert get_device().exact_network(net).network.time_quantum is None


def test_dt_insists(device):
    device("sparseprop", time_quantum="dt")
    net, S, mon = ping_pong(0.3 * ms, delay=1.05 * ms, refractory=1.5 * ms)
    with pytest.raises(ValueError, match=r"synaptic delay of 1\.05 ms = 10\.5.* dt"):
        net.run(10 * ms)


def test_quantum_is_dt(device):
    device("sparseprop", time_quantum="dt")
    net, S, mon = ping_pong(0.3 * ms)
    net.run(10 * ms)
    assert get_device().exact_network(net).network.time_quantum == pytest.approx(1e-4, rel=1e-15)


def test_a_refractory_period_off_the_grid_runs_without_a_quantum(device):
    device("sparseprop")
    net, S, mon = ping_pong(0.3 * ms, delay=1 * ms, refractory=1.55 * ms)
    net.run(20 * ms)
    assert get_device().exact_network(net).network.time_quantum is None
    np.testing.assert_allclose(np.diff(np.asarray(mon.t)), 1e-3, rtol=0, atol=1e-15)


def test_a_delay_moved_off_the_grid_between_runs(device):
    # 'auto': the engine restarts without the quantum and says why; 'dt': refused before the run
    device("sparseprop")
    net, S, mon = ping_pong(0.3 * ms)
    net.run(10 * ms)
    S.delay = 1.05 * ms
    with pytest.warns(EngineRestartWarning, match="time quantum"):
        net.run(10 * ms)
    assert get_device().exact_network(net).network.time_quantum is None
    reset_device()
    device("sparseprop", time_quantum="dt")
    net, S, mon = ping_pong(0.3 * ms)
    net.run(10 * ms)
    S.delay = 1.05 * ms
    with pytest.raises(ValueError, match="synaptic delay of 1.05 ms"):
        net.run(10 * ms)


def test_a_delay_moved_on_the_grid_keeps_the_running_engine(device):
    # an engine without a quantum keeps running without one (no restart, no spike in flight dropped)
    device("sparseprop")
    net, S, mon = ping_pong(0.3 * ms, delay=1.05 * ms, refractory=1.5 * ms)
    net.run(10 * ms)
    S.delay = 1 * ms
    with warnings.catch_warnings():
        warnings.simplefilter("error", EngineRestartWarning)
        net.run(10 * ms)
    assert get_device().exact_network(net).network.time_quantum is None


@pytest.mark.parametrize("value", ["always", 0.1, True])
def test_refusals(numpy_target, value):
    with pytest.raises(ValueError, match="time_quantum must be 'auto', 'dt' or None"):
        set_device("sparseprop", time_quantum=value)
    reset_device()
