"""The 'sparseprop' Brian2 device: ordinary scripts with one added line run exactly."""

import gc
import warnings

import numpy as np
import pytest
from brian2 import (
    Hz,
    Network,
    NeuronGroup,
    PoissonGroup,
    PoissonInput,
    PopulationRateMonitor,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    defaultclock,
    get_device,
    ms,
    mV,
    prefs,
    restore,
    run,
    second,
    seed as brian_seed,
    set_device,
    start_scope,
    store,
)
from brian2.codegen.runtime.cython_rt import CythonCodeObject
from brian2.codegen.runtime.cython_rt.extension_manager import CythonExtensionManager
from brian2.codegen.runtime.numpy_rt import NumpyCodeObject
from brian2.devices.device import Device, reset_device
from brian2.utils.logger import catch_logs

import brian2_sparseprop  # registers the device
from brian2_sparseprop import EventNetwork
from brian2_sparseprop.device.device import EngineRestartWarning, ExactFallbackWarning, ExactMethodWarning


def periodic_times(drive, tau, refractory, duration):
    """Closed form: LIF from v = 0, threshold 1, reset 0: first spike T0, then every T0 + refractory."""
    period0 = tau * np.log(drive / (drive - 1))
    n_spikes = int(np.floor((duration - period0) / (period0 + refractory))) + 1
    return period0 + np.arange(max(n_spikes, 0)) * (period0 + refractory)


@pytest.mark.parametrize("unless", [True, False])
def test_population_with_per_neuron_drive_and_refractoriness(exact, rng, unless):
    tau, refractory, duration = 0.01, 0.002, 0.3
    flag = " (unless refractory)" if unless else ""
    group = NeuronGroup(
        20, f"dv/dt = (I - v)/tau : 1{flag}\nI : 1", threshold="v > 1", reset="v = 0", refractory=refractory * second
    )
    drives = 1.05 + rng.uniform(0, 2, 20)
    group.I = drives
    spikes = SpikeMonitor(group)
    run(duration * second, namespace={"tau": tau * second})
    for k in range(20):
        expected = periodic_times(drives[k], tau, refractory if unless else 0.0, duration)
        if not unless:
            # integrating during refractoriness: v grows from 0 while held below threshold; the period is
            # the free period unless the neuron would fire during the refractory period
            period = tau * np.log(drives[k] / (drives[k] - 1))
            expected = period * np.arange(1, int(duration / max(period, refractory)) + 1)
            if period < refractory:
                continue  # fires at the end of each refractory period: covered by the engine's tests
        got = np.asarray(spikes.spike_trains()[k] / second)
        # tolerance: a few ulp of the spike time accumulated over the spikes of the run
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * duration * (1 + len(expected)))
    rates = spikes.count / (duration * second)
    assert np.all(rates > 0 * Hz)


def test_state_monitor_exact_at_clock_ticks(exact):
    group = NeuronGroup(2, "dv/dt = (I - v)/(10*ms) : 1\nI : 1", threshold="v > 1", reset="v = 0")
    group.I = [0.5, 0.8]
    group.v = [0.0, 0.3]
    states = StateMonitor(group, "v", record=True, dt=0.5 * ms)
    run(10 * ms)
    t = np.asarray(states.t / second)
    np.testing.assert_allclose(t, np.arange(20) * 0.0005, rtol=0, atol=1e-15)
    expected0 = 0.5 * (1 - np.exp(-t / 0.01))
    expected1 = 0.8 + (0.3 - 0.8) * np.exp(-t / 0.01)
    np.testing.assert_allclose(states.v[0], expected0, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(states.v[1], expected1, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(group.v[:], [0.5 * (1 - np.exp(-1)), 0.8 - 0.5 * np.exp(-1)], rtol=1e-13)


def test_spike_monitor_subgroup_record_false_and_rate_monitor(exact):
    group = NeuronGroup(6, "dv/dt = (I - v)/(10*ms) : 1\nI : 1", threshold="v > 1", reset="v = 0")
    group.I = "1.2 + 0.2*i"
    sub = group[2:5]
    on_sub = SpikeMonitor(sub)
    counter = SpikeMonitor(group, record=False)
    everything = SpikeMonitor(group)
    rate = PopulationRateMonitor(sub)
    run(100 * ms)
    assert set(np.unique(on_sub.i)) == {0, 1, 2}
    np.testing.assert_array_equal(on_sub.count, everything.count[2:5])
    np.testing.assert_array_equal(counter.count, everything.count)
    assert counter.num_spikes == everything.num_spikes
    in_sub = (everything.i >= 2) & (everything.i < 5)
    np.testing.assert_allclose(on_sub.t / ms, everything.t[in_sub] / ms, rtol=0, atol=0)
    assert len(rate.t) == 1000
    # the rate in each time step counts the sub-group's spikes in [t, t + dt)
    counts = np.histogram(on_sub.t / ms, bins=np.arange(1001) * 0.1)[0]
    np.testing.assert_allclose(rate.rate / Hz, counts / (3 * 1e-4))


def build_ei(n_e=80, n_i=20):
    """A small sparse E/I network with delays, subgroups and Poisson input."""
    neurons = NeuronGroup(
        n_e + n_i,
        "dv/dt = (v0 - v)/(20*ms) : volt (unless refractory)\nv0 : volt",
        threshold="v > -50*mV",
        reset="v = -60*mV",
        refractory=2 * ms,
        name="neurons",
    )
    neurons.v0 = -55 * mV
    neurons.v = "-60*mV + rand()*10*mV"
    exc, inh = neurons[:n_e], neurons[n_e:]
    s_e = Synapses(exc, neurons, on_pre="v_post += 0.5*mV", delay=1.5 * ms, name="s_e")
    s_e.connect(p=0.1)
    s_i = Synapses(inh, neurons, "w : volt", on_pre="v_post += w", name="s_i")
    s_i.connect(p=0.1)
    s_i.w = "-2*mV"
    s_i.delay = "(1 + rand())*ms"
    drive = PoissonInput(neurons, "v", 50, 20 * Hz, weight=0.4 * mV)
    spikes = SpikeMonitor(neurons, name="spikes")
    return Network(neurons, s_e, s_i, drive, spikes), spikes


def spikes_of(monitor):
    return np.asarray(monitor.t / second), np.asarray(monitor.i)


def test_seed_makes_runs_reproducible(exact, seed):
    results = []
    for s in (seed, seed, seed + 100):
        start_scope()
        brian_seed(s)
        net, spikes = build_ei()
        net.run(60 * ms)
        results.append(spikes_of(spikes))
    assert len(results[0][0]) > 10
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert len(results[0][0]) != len(results[2][0]) or not np.array_equal(results[0][0], results[2][0])


def test_several_runs_equal_one_run(exact, seed):
    brian_seed(seed)
    net, spikes = build_ei()
    net.run(30 * ms)
    net.run(25 * ms)
    net.run(5 * ms)
    assert float(net.t / ms) == pytest.approx(60)
    start_scope()
    brian_seed(seed)
    net1, spikes1 = build_ei()
    net1.run(60 * ms)
    np.testing.assert_array_equal(spikes_of(spikes)[1], spikes_of(spikes1)[1])
    np.testing.assert_allclose(spikes_of(spikes)[0], spikes_of(spikes1)[0], rtol=0, atol=1e-15)


@pytest.mark.parametrize("to_file", [False, True])
def test_store_restore_continues_exactly(exact, seed, tmp_path, to_file):
    brian_seed(seed)
    net, spikes = build_ei()
    filename = str(tmp_path / "state.pkl") if to_file else None
    net.run(20.3 * ms)  # leaves delayed spikes in flight
    net.store("mid", filename=filename)
    net.run(30 * ms)
    first = spikes_of(spikes)
    net.restore("mid", filename=filename, restore_random_state=True)
    assert float(net.t / ms) == pytest.approx(20.3)
    n_before = spikes.num_spikes
    assert n_before == np.sum(first[0] < 0.0203)
    net.run(30 * ms)
    second_run = spikes_of(spikes)
    np.testing.assert_array_equal(first[1], second_run[1])
    np.testing.assert_allclose(first[0], second_run[0], rtol=0, atol=0)
    net.restore("mid", filename=filename)  # without the random state, the Poisson input differs
    net.run(30 * ms)
    third = spikes_of(spikes)
    assert not (len(third[0]) == len(first[0]) and np.array_equal(third[0], first[0]))


def test_magic_store_restore(exact):
    group = NeuronGroup(1, "dv/dt = (1.5 - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0")
    spikes = SpikeMonitor(group)
    store()
    run(50 * ms)
    first = np.asarray(spikes.t / second)
    restore()
    assert spikes.num_spikes == 0
    run(50 * ms)
    np.testing.assert_array_equal(np.asarray(spikes.t / second), first)


def test_network_t_clock_and_lastspike(exact):
    group = NeuronGroup(1, "dv/dt = (2 - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0", refractory=3 * ms)
    net = Network(group)
    net.run(10.05 * ms)
    assert float(net.t / ms) == pytest.approx(10.05)
    assert float(defaultclock.t / ms) == pytest.approx(10.1)
    first = 0.01 * np.log(2)
    assert float(group.lastspike[0] / second) == pytest.approx(first, abs=1e-15)
    assert not group.not_refractory[0] if 0.01005 - first < 0.003 else group.not_refractory[0]


def test_user_changes_between_runs_are_used(exact):
    group = NeuronGroup(1, "dv/dt = (0.5 - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0")
    states = StateMonitor(group, "v", record=True)
    run(5 * ms)
    group.v = 0.9
    run(5 * ms)
    t = np.asarray(states.t / second)[50:] - 0.005
    np.testing.assert_allclose(states.v[0][50:], 0.5 + 0.4 * np.exp(-t / 0.01), rtol=1e-13)


def test_spike_generator_with_period_and_delays(exact):
    gen = SpikeGeneratorGroup(2, [0, 1], [1, 3] * ms, period=5 * ms)
    target = NeuronGroup(2, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0")
    syn = Synapses(gen, target, on_pre="v += 2", delay=0.25 * ms)
    syn.connect(j="i")
    gen_spikes = SpikeMonitor(gen)
    target_spikes = SpikeMonitor(target)
    run(12 * ms)
    np.testing.assert_allclose(gen_spikes.t / ms, [1, 3, 6, 8, 11], rtol=1e-12)
    np.testing.assert_array_equal(gen_spikes.i, [0, 1, 0, 1, 0])
    np.testing.assert_allclose(target_spikes.t / ms, [1.25, 3.25, 6.25, 8.25, 11.25], rtol=1e-12)


def test_poisson_group_rate(exact, seed):
    brian_seed(seed)
    source = PoissonGroup(200, 50 * Hz)
    target = NeuronGroup(200, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0")
    syn = Synapses(source, target, on_pre="v += 2")
    syn.connect(j="i")
    spikes = SpikeMonitor(target)
    run(1 * second)
    # 200 * 50 Hz * 1 s = 10000 expected, Poisson sd 100: 5 sd
    assert abs(spikes.num_spikes - 10000) < 500


def test_spike_monitor_of_a_poisson_group_records_the_events_that_drove_the_network(exact, seed):
    brian_seed(seed)
    source = PoissonGroup(5, 100 * Hz)
    target = NeuronGroup(2, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0")
    syn = Synapses(source, target, on_pre="v += 0.6")
    syn.connect()
    events, part, spikes = SpikeMonitor(source), SpikeMonitor(source[1:4]), SpikeMonitor(target)
    net = Network(source, target, syn, events, part, spikes)
    net.run(100 * ms)
    net.run(100 * ms)  # the engine continues: the second run's events follow the first's
    assert events.num_spikes > 0 and np.all(np.diff(events.t_) > 0)
    # replayed as a spike generator through the engine, the recorded events give the same spikes
    replay = EventNetwork(2, drive=0.0, tau=0.01, threshold=1.0, reset=0.0, v_init=np.zeros(2))
    all_to_all = (np.arange(6) * 2, np.tile([0, 1], 5))
    replay.add_spike_generator(np.asarray(events.t_), np.asarray(events.i), 5, *all_to_all, weights=0.6)
    replay.run(0.2)
    np.testing.assert_array_equal(replay.spike_indices, spikes.i[:])
    np.testing.assert_allclose(replay.spike_times, spikes.t_, rtol=1e-13, atol=0)
    inside = (events.i[:] >= 1) & (events.i[:] < 4)
    np.testing.assert_array_equal(part.t_, events.t_[inside])
    np.testing.assert_array_equal(part.i[:], events.i[:][inside] - 1)


def test_spike_monitor_of_a_poisson_group_has_its_rates(exact, seed):
    brian_seed(seed)
    source = PoissonGroup(100, np.tile([20, 60], 50) * Hz)
    target = NeuronGroup(1, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0")
    events = SpikeMonitor(source)
    Network(source, target, events).run(2 * second)
    # 50 sources at 20 Hz and 50 at 60 Hz for 2 s: 2000 and 6000 events expected, Poisson sd 45 and 77: 5 sd
    counts = np.bincount(events.i[:] % 2, minlength=2)
    assert abs(counts[0] - 2000) < 5 * np.sqrt(2000) and abs(counts[1] - 6000) < 5 * np.sqrt(6000)
    np.testing.assert_array_equal(events.count[:], np.bincount(events.i[:], minlength=100))


def test_spike_monitor_of_a_poisson_group_without_neurons_is_refused(exact):
    source = PoissonGroup(3, 10 * Hz)
    with pytest.raises(NotImplementedError, match="SpikeMonitor of a PoissonGroup in a network without a NeuronGroup"):
        Network(source, SpikeMonitor(source)).run(10 * ms)


@pytest.mark.parametrize("device", ["sparseprop", "runtime"])
def test_neurons_starting_above_threshold_fire_at_the_start(device, numpy_target):
    # the same with Brian2's runtime, whose first threshold test is at t = 0 after one step
    set_device(device)
    start_scope()
    try:
        group = NeuronGroup(
            3, "dv/dt = (1.2 - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0", refractory=2 * ms, method="exact"
        )
        group.v = [0.5, 1.5, 3.0]
        spikes = SpikeMonitor(group)
        run(35 * ms)
    finally:
        reset_device()
    period = 0.01 * np.log(1.2 / 0.2)  # from the reset (v integrates during the 2 ms refractoriness)
    trains = spikes.spike_trains()
    for k in (1, 2):
        np.testing.assert_allclose(
            trains[k] / second, np.arange(2) * period, atol=2e-4 if device == "runtime" else 1e-12
        )
    first = 0.01 * np.log(0.7 / 0.2)
    np.testing.assert_allclose(
        trains[0] / second, first + np.arange(2) * period, atol=2e-4 if device == "runtime" else 1e-12
    )


def test_theta_and_qif_periods(exact):
    tau = 10 * ms  # noqa: F841 (read from the namespace by the equations)
    theta = NeuronGroup(
        3, "dth/dt = ((1 - cos(th)) + (1 + cos(th))*I)/tau : 1\nI : 1", threshold="th > pi", reset="th = -pi"
    )
    theta.I = [0.25, 1.0, 4.0]
    theta.th = -np.pi
    qif = NeuronGroup(1, "dv/dt = (v**2 + 1)/tau : 1", threshold="v > 1e6", reset="v = -1e6")
    qif.v = -1e6
    t_spikes, q_spikes = SpikeMonitor(theta), SpikeMonitor(qif)
    run(200 * ms)
    for k, drive in enumerate([0.25, 1.0, 4.0]):
        isi = np.diff(t_spikes.spike_trains()[k] / second)
        # tau dtheta/dt = (1 - cos) + (1 + cos) I has the period pi tau / sqrt(I)
        np.testing.assert_allclose(isi, np.pi * 0.01 / np.sqrt(drive), rtol=1e-10)
    # tau dv/dt = v^2 + 1 from -1e6 to 1e6: tau (atan(1e6) - atan(-1e6)) = tau (pi - 2e-6) to 1e-18
    isi = np.diff(q_spikes.t / second)
    np.testing.assert_allclose(isi, 0.01 * (np.pi - 2e-6), rtol=1e-9)


@pytest.fixture
def fallback():
    """The sparseprop device with fallback=True and Brian2's numpy target for one test."""
    set_device("sparseprop", fallback=True)
    start_scope()
    prefs.codegen.target = "numpy"
    yield
    prefs.codegen.target = "auto"
    reset_device()


@pytest.fixture
def codegen_calls(monkeypatch):
    """Records every Brian2 code object created, compiled or run, and every Cython extension built."""
    calls = []

    def recorder(name, original):
        def record(*args, **kwargs):
            calls.append(name)
            return original(*args, **kwargs)

        return record

    targets = [
        (Device, "code_object"),
        (NumpyCodeObject, "compile_block"),
        (NumpyCodeObject, "run_block"),
        (CythonCodeObject, "compile_block"),
        (CythonCodeObject, "run_block"),
        (CythonExtensionManager, "create_extension"),
    ]

    def start():
        for owner, name in targets:
            monkeypatch.setattr(owner, name, recorder(f"{owner.__name__}.{name}", getattr(owner, name)))

    return calls, start


def test_exact_path_compiles_nothing(exact, codegen_calls):
    calls, start_recording = codegen_calls
    prefs.codegen.target = "auto"  # Brian2's default (the fixture restores its numpy target after the test)
    net, spikes = build_ei()  # connect() as Brian2's runtime builds it (Cython, cached), before the recording
    start_recording()
    net.run(5 * ms)
    net.store()
    net.run(5 * ms)
    net.restore()
    net.run(5 * ms)
    assert spikes.num_spikes > 0
    assert calls == []


def test_codegen_recorder_sees_a_runtime_run(codegen_calls, fallback):
    # the recorder of the test above is not blind: Brian2's runtime creates and runs code objects
    calls, start_recording = codegen_calls
    group = NeuronGroup(1, "dv/dt = (2 - v + 0.1*v**3)/(10*ms) : 1", threshold="v > 1", reset="v = 0")
    start_recording()
    with pytest.warns(ExactFallbackWarning):
        Network(group).run(1 * ms)
    assert "Device.code_object" in calls and "NumpyCodeObject.run_block" in calls


def test_refused_network_raises_before_running(exact):
    group = NeuronGroup(2, "dv/dt = (-v + v**3)/(10*ms) : 1", threshold="v > 1", reset="v = 0")
    net = Network(group)
    with pytest.raises(NotImplementedError, match=r"NeuronGroup '.*': the non-linear equation"):
        net.run(1 * ms)
    assert float(net.t / ms) == 0


def test_fallback_runs_with_runtime_and_warns_once(fallback):
    group = NeuronGroup(1, "dv/dt = (2 - v + 0.1*v**3)/(10*ms) : 1", threshold="v > 1", reset="v = 0")
    spikes = SpikeMonitor(group)
    net = Network(group, spikes)
    with pytest.warns(ExactFallbackWarning, match="non-linear equation"):
        net.run(5 * ms)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the refusal was reported once; no second warning
        net.run(5 * ms)
    assert spikes.num_spikes > 0
    assert float(net.t / ms) == pytest.approx(10)


def _profiled_group():
    group = NeuronGroup(3, "dv/dt = -v / (10*ms) : 1", threshold="v > 1", reset="v = 0")
    group.v = 1.1
    return group, Network(group)


def test_profiling_is_refused(exact):
    # Brian2's profiling times code objects that the exact engine does not run: refused before any work
    _, net = _profiled_group()
    with pytest.raises(NotImplementedError, match=r"profile=True.*get_device\(\)\.timers"):
        net.run(1 * ms, profile=True)
    assert float(net.t / ms) == 0


def test_profiling_runs_with_fallback(fallback):
    group, net = _profiled_group()
    with pytest.warns(ExactFallbackWarning, match="profile=True"):
        net.run(1 * ms, profile=True)
    assert any(name.startswith(group.name) for name, _ in net.profiling_info)


def test_fallback_must_be_bool():
    with pytest.raises(TypeError, match=r"fallback must be True or False, found: 'yes'"):
        set_device("sparseprop", fallback="yes")
    reset_device()


def test_report_text(exact, capsys):
    group = NeuronGroup(1, "dv/dt = (2 - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0")
    run(10 * ms, report="text")
    out = capsys.readouterr().out
    assert "Starting simulation at t=0. s for a duration of 10. ms" in out
    assert "(100%)" in out
    assert group.v[0] > 0


@pytest.mark.parametrize("weight", [0.5, -0.3, 2.0])
def test_theta_kick_is_a_delta_current(exact, weight):
    # tau dth/dt = (1 - cos th) + (1 + cos th) I: u = tan(th/2) = sqrt(I) tan(phi), phi advancing at
    # sqrt(I)/tau from -pi/2 (th = -pi) to pi/2 (spike); the kick sets u -> u + w at t1
    tau, drive, t1 = 0.01, 0.5, 0.004
    gen = SpikeGeneratorGroup(1, [0], [t1 * 1000] * ms)
    theta = NeuronGroup(
        1,
        "dth/dt = ((1 - cos(th)) + (1 + cos(th))*I)/tau : 1",
        threshold="th > pi",
        reset="th = -pi",
        namespace={"I": drive, "tau": tau * second},
    )
    theta.th = -np.pi
    syn = Synapses(gen, theta, on_pre="th_post = 2*arctan(tan(th_post/2) + w)", namespace={"w": weight})
    syn.connect()
    spikes = SpikeMonitor(theta)
    run(60 * ms)
    root = np.sqrt(drive)
    phase = -np.pi / 2 + root * t1 / tau
    kicked = np.arctan((root * np.tan(phase) + weight) / root)
    expected = t1 + (np.pi / 2 - kicked) * tau / root
    assert float(spikes.t[0] / second) == pytest.approx(expected, rel=1e-12)


def test_recurrent_theta_network_equals_the_engine(exact, rng):
    # an S2-like balanced theta network written in Brian2 gives the engine's spikes for the same arrays
    from brian2_sparseprop import EventNetwork

    n, k, tau = 60, 10, 0.01
    drives = 0.2 + 0.1 * rng.random(n)
    init = rng.uniform(-np.pi, np.pi, n)
    pre = np.repeat(np.arange(n), k)
    post = np.concatenate([rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)])
    theta = NeuronGroup(
        n,
        "dth/dt = ((1 - cos(th)) + (1 + cos(th))*I)/tau : 1\nI : 1",
        threshold="th > pi",
        reset="th = -pi",
        namespace={"tau": tau * second},
    )
    theta.I = drives
    theta.th = init
    syn = Synapses(theta, theta, on_pre="th_post = 2*arctan(tan(th_post/2) + w)", namespace={"w": -1 / np.sqrt(k)})
    syn.connect(i=pre, j=post)
    syn.delay = 1 * ms
    spikes = SpikeMonitor(theta)
    run(100 * ms)
    engine = EventNetwork(
        n,
        model="theta",
        tau=tau,
        drive=drives,
        v_init=init,
        indptr=np.arange(n + 1) * k,
        indices=post,
        weights=-1 / np.sqrt(k),
        delays=0.001,
    )
    engine.run(0.1)
    assert spikes.num_spikes > 50
    np.testing.assert_array_equal(np.asarray(spikes.i), engine.spike_indices)
    # tau and the drive are read back from the equation (2/f(pi), f(0)/f(pi)): equal to rounding, so the
    # spike times agree to a few ulp
    np.testing.assert_allclose(np.asarray(spikes.t / second), engine.spike_times, rtol=1e-13, atol=0)


def test_ei_network_rates_agree_with_the_runtime(seed):
    # statistical agreement of the population rate with Brian2's clock-driven runtime at dt = 0.1 ms
    rates = []
    for device in ("sparseprop", "runtime"):
        set_device(device)
        prefs.codegen.target = "numpy"
        try:
            start_scope()
            brian_seed(seed)
            net, spikes = build_ei()
            net.run(200 * ms)
            rates.append(spikes.num_spikes / (100 * 0.2))
        finally:
            prefs.codegen.target = "auto"
            reset_device()
    # about 20 spikes/s per neuron, 4000 spikes per run: Poisson sd 1.6 %; 15 % allows for the
    # clock-driven spike stamping and delay rounding at dt = 0.1 ms
    assert rates[0] > 5
    assert rates[1] == pytest.approx(rates[0], rel=0.15)


def test_changed_weights_between_runs_are_used(exact):
    gen = SpikeGeneratorGroup(1, [0, 0], [2, 7] * ms)
    target = NeuronGroup(1, "dv/dt = -v/(10*ms) : 1", threshold="v > 1", reset="v = 0")
    syn = Synapses(gen, target, "w : 1", on_pre="v_post += w")
    syn.connect()
    syn.w = 0.5
    spikes = SpikeMonitor(target)
    run(5 * ms)
    assert spikes.num_spikes == 0
    syn.w = 2.0  # changed in place in Brian2's array
    run(5 * ms)
    np.testing.assert_allclose(spikes.t / ms, [7.0], rtol=1e-12)


def test_report_callable_gets_brian2_arguments(exact):
    calls = []
    group = NeuronGroup(1, "dv/dt = (2 - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0")
    net = Network(group)
    net.run(10 * ms, report=lambda elapsed, completed, start, duration: calls.append((completed, start, duration)))
    assert calls[0][0] == 0.0 and calls[-1][0] == 1.0
    assert float(calls[0][2] / ms) == pytest.approx(10)
    assert float(calls[0][1] / ms) == 0


def test_report_must_be_known(exact):
    net = Network(NeuronGroup(1, "dv/dt = (2 - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0"))
    with pytest.raises(ValueError, match='Do not know how to handle report argument "loud"'):
        net.run(1 * ms, report="loud")
    with pytest.raises(TypeError, match="report must be 'text', 'stdout', 'stderr' or a callable.*found: int"):
        net.run(1 * ms, report=3)


def test_inputs_during_refractoriness_are_dropped_as_in_brian2(exact):
    # Brian2 (any target): a kick at 12 ms, during the refractory period after the spike at ~10.99 ms, is lost
    gen = SpikeGeneratorGroup(1, [0], [12] * ms)
    group = NeuronGroup(
        1, "dv/dt = (1.5 - v)/(10*ms) : 1 (unless refractory)", threshold="v > 1", reset="v = 0", refractory=2 * ms
    )
    syn = Synapses(gen, group, on_pre="v_post += 0.3")
    syn.connect()
    spikes = SpikeMonitor(group)
    run(30 * ms)
    first = 0.01 * np.log(3)
    # dropped kick: the second spike comes one free period after the end of refractoriness
    assert float(spikes.t[1] / second) == pytest.approx(2 * first + 0.002, rel=1e-12)


def test_changed_state_keeps_spikes_in_flight(exact):
    group = NeuronGroup(2, "dv/dt = (I - v)/(10*ms) : 1\nI : 1", threshold="v > 1", reset="v = 0")
    group.I = [2.0, 0.5]
    syn = Synapses(group, group, on_pre="v_post += 0.2", delay=5 * ms)
    syn.connect(i=0, j=1)
    states = StateMonitor(group, "v", record=[1])
    run(8 * ms)  # neuron 0 spiked at 10 ms * ln 2; its kick arrives 5 ms later
    group.v[1] = 0.3
    run(10 * ms)
    t = np.asarray(states.t / second)[80:]
    arrival = 0.01 * np.log(2) + 0.005
    expected = 0.5 - 0.2 * np.exp(-(t - 0.008) / 0.01) + 0.2 * np.exp(-(t - arrival) / 0.01) * (t >= arrival)
    np.testing.assert_allclose(states.v[0][80:], expected, rtol=1e-12)


def test_changed_state_keeps_the_poisson_stream(exact, seed):
    # reference: the same run without the change; LIF is linear, so only neuron 0 differs, by 0.5 exp(-t/tau)
    runs = []
    for change in (False, True):
        start_scope()
        brian_seed(seed)
        group = NeuronGroup(4, "dv/dt = -v/(10*ms) : 1", threshold="v > 100", reset="v = 0")
        drive = PoissonInput(group, "v", 10, 100 * Hz, weight=0.01)  # noqa: F841  (part of the network)
        states = StateMonitor(group, "v", record=True)
        run(20 * ms)
        if change:
            group.v[0] = group.v[0] + 0.5
        run(20 * ms)
        runs.append(np.array(states.v[:, 200:]))
    reference, changed = runs
    assert np.any(reference[:, -1] > 0)
    np.testing.assert_array_equal(changed[1:], reference[1:])
    t = np.arange(200) * 1e-4
    np.testing.assert_allclose(changed[0], reference[0] + 0.5 * np.exp(-t / 0.01), rtol=1e-12)


def test_to_neo_labels_exact_results_after_store_and_fallback(fallback):
    group = NeuronGroup(2, "dv/dt = (I - v)/(10*ms) : 1\nI : 1", threshold="v > 1", reset="v = 0")
    group.I = 2
    spikes = SpikeMonitor(group)
    net = Network(group, spikes)
    net.run(20 * ms)
    net.store()  # storing does not change what wrote the monitor
    assert brian2_sparseprop.to_neo(spikes).segments[0].spiketrains[0].annotations["simulation"] == "exact"
    group.run_regularly("v = v", dt=1 * ms)  # refused: the next run is Brian2's runtime
    with pytest.warns(ExactFallbackWarning, match="run_regularly"):
        net.run(20 * ms)
    assert brian2_sparseprop.to_neo(spikes).segments[0].spiketrains[0].annotations["simulation"] == "clock-driven"
    assert get_device().timers == {}  # nothing ran exactly


def test_restart_warns_what_it_drops(exact):
    group = NeuronGroup(
        2, "dv/dt = (I - v)/(10*ms) : 1\nI : 1", threshold="v > 1", reset="v = 0", refractory=3 * ms, name="g"
    )
    group.I = [2.0, 0.5]
    syn = Synapses(group, group, "w : 1", on_pre="v_post += w", delay=5 * ms)
    syn.connect(i=0, j=1)
    syn.w = 0.2
    net = Network(group, syn, name="net")
    net.run(8 * ms)  # neuron 0 spiked at 6.93 ms: refractory until 9.93 ms, its spike in flight until 11.93 ms
    syn.connect(i=1, j=0)  # new synapses: the engine restarts (a new weight would be carried over)
    syn.w = 0.1
    what = "connectivity"
    with pytest.warns(
        EngineRestartWarning,
        match=rf"Network 'net': {what} changed between runs, so the exact engine restarts from the current values "
        r"at t = 8\. ms; 1 pending delayed spike events and the refractoriness of 1 neurons are dropped",
    ) as record:
        net.run(1 * ms)
    assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing changed: no restart, no warning
        net.run(1 * ms)


def test_state_set_after_restore_is_used(exact):
    group = NeuronGroup(1, "dv/dt = (0.5 - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0")
    states = StateMonitor(group, "v", record=True)
    net = Network(group, states)
    net.run(5 * ms)
    net.store()
    net.run(5 * ms)
    net.restore()
    group.v = 0.9
    net.run(5 * ms)
    t = np.asarray(states.t / second)[50:] - 0.005
    np.testing.assert_allclose(states.v[0][50:], 0.5 + 0.4 * np.exp(-t / 0.01), rtol=1e-13)


def test_timers_split_the_run(exact):
    net, spikes = build_ei()
    net.run(20 * ms)
    timers = get_device().timers
    assert sorted(timers) == ["engine", "recognition", "total"]
    assert timers["engine"] > 0 and timers["recognition"] > 0
    # the parts are timed inside the total, by the same clock
    assert timers["engine"] + timers["recognition"] <= timers["total"]


def test_objects_belong_to_the_network_that_ran_them(exact):
    """As with Brian2's runtime: an object run in one network cannot be added to another, and deleting it
    after the run brings no warning that it was never included in a network."""
    group = NeuronGroup(2, "dv/dt = (1.5 - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0", name="owned")
    spikes = SpikeMonitor(group)
    first, second_net = Network(group, spikes), Network(group)
    first.run(5 * ms)
    with pytest.raises(RuntimeError, match="owned has already been simulated"):
        Network(group)
    with pytest.raises(RuntimeError, match="'owned' has already been run in the context of another network"):
        second_net.run(1 * ms)
    with catch_logs() as logs:
        del group, spikes
        gc.collect()
    assert not [entry for entry in logs if "never included in a network" in entry[2]]


def test_a_numerical_method_is_named_once_as_replaced_by_the_exact_solution(exact):
    group = NeuronGroup(
        2, "dv/dt = (1.5 - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0", method="euler", name="euler_lif"
    )
    spikes = SpikeMonitor(group)
    net = Network(group, spikes)
    with pytest.warns(ExactMethodWarning, match="'euler_lif' asks for method='euler'; the sparseprop device solves"):
        net.run(20 * ms)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.run(20 * ms)  # said once
    period = 10e-3 * np.log(3.0)  # exact, not Euler's
    np.testing.assert_allclose(spikes.t_[spikes.i == 0], period * np.arange(1, 4), rtol=1e-13)


def test_start_scope_gives_the_magic_network_new_objects(exact):
    # the magic network is one object for every script: after start_scope() its new objects are a new
    # network from t = 0, not a change of the last one (which warned and dropped that one's refractoriness,
    # and made later tests of a test process depend on earlier ones)
    model = dict(model="dv/dt = (2 - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0", refractory=5 * ms)
    first = NeuronGroup(1, **model)
    run(10 * ms)
    assert not first.not_refractory[0]
    store()
    run(5 * ms)
    restore()  # the engine stored at 10 ms, with the neuron refractory
    start_scope()
    group = NeuronGroup(1, **model)
    spikes = SpikeMonitor(group)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run(10 * ms)
    np.testing.assert_allclose(spikes.t / second, [0.01 * np.log(2)], rtol=1e-13)
