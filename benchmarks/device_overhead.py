"""Device overhead and speed against Brian2, for S1 (sparse inhibitory LIF), S3 (Brunel-type E/I),
CUBA (Brian2's example: LIF with exponential excitatory and inhibitory currents, the engine's 'lif_exp') and
COBA (its conductance-based sibling, Vogels and Abbott 2005, with one synaptic time constant: the engine's
'coba').

For each network the same Brian2 script is timed:

- ``engine``: the `EventNetwork` alone, built from the arrays the device recognises, plus ``run``;
- ``device``: ``Network.run`` with ``set_device('sparseprop')`` (recognition, engine build, run,
  write-back into the monitors); the overhead is ``device / engine - 1`` (target: at most 10 %).
  Since two runs of the engine differ by more than the device costs on a loaded machine, the device's
  own CPU time is also read from inside the same ``run()`` (``device.timers``: total minus engine);
- ``runtime dt=...``: Brian2's runtime (Cython target, cache warmed by a zero-length run first);
- ``standalone dt=...`` (with ``--standalone``): cpp_standalone, the CPU time of the compiled binary
  (a child process: reading arrays, building synapses, the loop, writing results), the simulation loop
  alone as Brian2 reports it (wall clock), and the compile time (wall clock, not a ratio to compare).

Engine, device, runtime and the standalone binary are timed in CPU seconds, which other jobs on a
shared machine disturb far less than wall-clock time. Engine and device: the best of ``--repeat``
alternating runs. All times are reported as ratios to ``engine``: read the ratios, not the absolute
numbers. Usage::

    python benchmarks/device_overhead.py [--networks s1 s3 cuba coba] [--n 100000] [--t-s1 1.0] [--t-s3 0.2]
                                         [--n-cuba 4000] [--k-cuba 80] [--t-cuba 1.0]
                                         [--dt 0.1 0.01] [--standalone] [--quick] [--repeat 3]

CUBA's and COBA's rows also give the cost per synaptic event (spikes x K), the unit in which an exact engine
and a clock-driven one can be compared: the engine pays per event, Brian2's runtime per time step and neuron.
COBA uses CUBA's size options (--n-cuba, --k-cuba, --t-cuba).
"""

import argparse
import resource
import tempfile
import time

import numpy as np


def s1_network(n, k=100, seed=0):
    """S1 as an ordinary Brian2 script: dv/dt = (I - v)/tau, K random targets, weight -1/sqrt(K)."""
    from brian2 import Network, NeuronGroup, SpikeMonitor, Synapses, ms

    from brian2_sparseprop.connectivity import fixed_out_degree

    rng = np.random.default_rng(seed)
    indptr, indices = fixed_out_degree(n, k, rng)
    group = NeuronGroup(
        n, "dv/dt = (I - v)/tau : 1", threshold="v > 1", reset="v = 0", namespace={"I": 1.1, "tau": 10 * ms}, name="s1"
    )
    group.v = rng.uniform(0, 1, n)
    syn = Synapses(group, group, on_pre="v_post += w", namespace={"w": -1 / np.sqrt(k)}, name="s1_syn")
    syn.connect(i=np.repeat(np.arange(n), np.diff(indptr)), j=indices.astype(np.int64))
    spikes = SpikeMonitor(group, name="s1_spikes")
    return Network(group, syn, spikes), spikes


def s3_network(seed=0, scale=1.0):
    """S3 (Brunel 2000 type): 10,000 E + 2,500 I LIF neurons, p = 0.1, delay 1.5 ms, refractory 2 ms,
    J = 0.1 mV, g = 5, external PoissonInput at twice the threshold rate."""
    from brian2 import Network, NeuronGroup, PoissonInput, SpikeMonitor, Synapses, ms, mV, seed as brian_seed

    brian_seed(seed)
    n_e, n_i = int(10000 * scale), int(2500 * scale)
    c_e = int(0.1 * n_e)
    tau, theta, v_r, J, g = 20 * ms, 20 * mV, 10 * mV, 0.1 * mV, 5.0
    nu_thr = theta / (J * c_e * tau)
    neurons = NeuronGroup(
        n_e + n_i,
        "dv/dt = -v/tau : volt (unless refractory)",
        threshold="v > theta",
        reset="v = v_r",
        refractory=2 * ms,
        method="exact",
        namespace={"tau": tau, "theta": theta, "v_r": v_r},
        name="s3",
    )
    neurons.v = "v_r * rand()"
    exc = Synapses(neurons[:n_e], neurons, on_pre="v_post += J", delay=1.5 * ms, namespace={"J": J}, name="s3_e")
    exc.connect(p=0.1)
    inh = Synapses(
        neurons[n_e:], neurons, on_pre="v_post += -g*J", delay=1.5 * ms, namespace={"J": J, "g": g}, name="s3_i"
    )
    inh.connect(p=0.1)
    drive = PoissonInput(neurons, "v", c_e, 2 * nu_thr, weight=J)
    spikes = SpikeMonitor(neurons, name="s3_spikes")
    return Network(neurons, exc, inh, drive, spikes), spikes


def cuba_network(n, k=80, seed=0):
    """Brian2's examples/CUBA.py for n neurons (80 % excitatory), k inputs per neuron on average (80 as in
    the example: p = 0.02 at N = 4000), refractory 5 ms, spikes monitored."""
    from brian2 import Network, NeuronGroup, SpikeMonitor, Synapses, ms, mV, seed as brian_seed

    brian_seed(seed)
    namespace = dict(
        taum=20 * ms, taue=5 * ms, taui=10 * ms, Vt=-50 * mV, Vr=-60 * mV, El=-49 * mV, we=1.62 * mV, wi=-9 * mV
    )
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    P = NeuronGroup(
        n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exact", namespace=namespace, name="cuba"
    )
    P.v = "Vr + rand() * (Vt - Vr)"
    Ce = Synapses(P, P, on_pre="ge += we", namespace=namespace, name="cuba_e")
    Ci = Synapses(P, P, on_pre="gi += wi", namespace=namespace, name="cuba_i")
    Ce.connect(f"i<{int(0.8 * n)}", p=k / n)
    Ci.connect(f"i>={int(0.8 * n)}", p=k / n)
    spikes = SpikeMonitor(P, name="cuba_spikes")
    return Network(P, Ce, Ci, spikes), spikes


def coba_network(n, k=80, seed=0):
    """Brian2's COBA form (Vogels and Abbott 2005, the LIF network of Brian's COBA benchmark) for n neurons
    (80 % excitatory), k inputs per neuron on average, conductances relative to the leak, refractory 5 ms,
    spikes monitored. Both conductances decay with 5 ms (the benchmark's inhibitory one has 10 ms; the exact
    engine needs one time constant), so the inhibitory weight is doubled to keep the charge per spike."""
    from brian2 import Network, NeuronGroup, SpikeMonitor, Synapses, ms, mV, seed as brian_seed

    brian_seed(seed)
    namespace = dict(
        taum=20 * ms, taue=5 * ms, taui=5 * ms, Vt=-50 * mV, Vr=-60 * mV, El=-60 * mV, Ee=0 * mV, Ei=-80 * mV,
        we=0.6, wi=13.4,
    )  # fmt: skip
    eqs = """
    dv/dt  = (ge*(Ee-v) + gi*(Ei-v) - (v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : 1
    dgi/dt = -gi/taui : 1
    """
    P = NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, namespace=namespace, name="coba")
    P.v = "Vr + rand() * (Vt - Vr)"
    P.ge = "rand() * 1.5"  # as Brian's benchmark, some initial drive (its activity is self-sustained)
    P.gi = "rand() * 12"
    Ce = Synapses(P, P, on_pre="ge += we", namespace=namespace, name="coba_e")
    Ci = Synapses(P, P, on_pre="gi += wi", namespace=namespace, name="coba_i")
    Ce.connect(f"i<{int(0.8 * n)}", p=k / n)
    Ci.connect(f"i>={int(0.8 * n)}", p=k / n)
    spikes = SpikeMonitor(P, name="coba_spikes")
    return Network(P, Ce, Ci, spikes), spikes


def time_engine(net, duration):
    """Build the EventNetwork from the recognised arrays and run it; returns (seconds, n_spikes)."""
    from brian2_sparseprop import EventNetwork
    from brian2_sparseprop.device.recognition import recognise_network

    spec = recognise_network(net.objects, {})
    start = time.process_time()
    engine = EventNetwork(**spec.engine_kwargs(), seed=1)
    for entry in spec.poisson_inputs:
        engine.add_poisson_input(entry["rate"], entry["weight"], targets=entry["targets"])
    engine.record_spikes()
    engine.run(duration)
    return time.process_time() - start, len(engine.spike_times)


def time_device(build, duration):
    from brian2 import Network, NeuronGroup, get_device, ms, second, set_device, start_scope
    from brian2.devices.device import reset_device

    import brian2_sparseprop  # noqa: F401

    set_device("sparseprop")
    try:
        start_scope()
        warm_up = NeuronGroup(1, "dv/dt = (2 - v)/(10*ms) : 1", threshold="v > 1", reset="v = 0")
        Network(warm_up).run(1 * ms)  # one-time imports outside the timing, as for the runtime
        start_scope()
        net, spikes = build()
        start = time.process_time()
        net.run(duration * second)
        seconds = time.process_time() - start
        timers = get_device().timers
        return seconds, timers["total"] - timers["engine"], spikes.num_spikes
    finally:
        reset_device()


def time_runtime(build, duration, dt):
    from brian2 import defaultclock, ms, prefs, second, start_scope

    prefs.codegen.target = "cython"
    start_scope()
    defaultclock.dt = dt * second
    net, spikes = build()
    net.run(0 * ms)  # generate and compile (or load from the cache) outside the timing
    start = time.process_time()
    net.run(duration * second)
    prefs.codegen.target = "auto"
    return time.process_time() - start, spikes.num_spikes


def time_standalone(build, duration, dt):
    """cpp_standalone: returns (CPU s of the binary, loop s as Brian2 reports it, compile wall s, spikes).

    The project is generated and compiled first (timed by the wall clock); the binary's own CPU time
    (reading the arrays, building the synapses, the simulation loop, writing the results) is that of
    the child process, which load on a shared machine disturbs less than its wall-clock time.
    """
    from brian2 import defaultclock, device, second, set_device, start_scope
    from brian2.devices.device import reset_device

    with tempfile.TemporaryDirectory() as directory:
        set_device("cpp_standalone", directory=directory, build_on_run=False)
        try:
            start_scope()
            defaultclock.dt = dt * second
            net, spikes = build()
            net.run(duration * second)
            start = time.perf_counter()
            device.build(directory=directory, compile=True, run=False)
            compile_s = time.perf_counter() - start
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            device.run(directory=directory, with_output=False)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            return cpu, float(device._last_run_time), compile_s, spikes.num_spikes
        finally:
            device.reinit()
            reset_device()


def benchmark(name, build, duration, dts, standalone, repeat, k=None):
    from brian2 import start_scope

    print(f"\n{name}: {duration} s simulated; engine and device: best of {repeat}, alternating")
    engine_times, device_times, own_times = [], [], []
    for _ in range(repeat):
        device_s, own_s, device_spikes = time_device(build, duration)
        device_times.append(device_s)
        own_times.append(own_s)
        start_scope()
        net, _ = build()
        engine_s, engine_spikes = time_engine(net, duration)
        engine_times.append(engine_s)
    engine_s, device_s = min(engine_times), min(device_times)
    rows = [("engine alone", engine_s, engine_spikes), ("device run()", device_s, device_spikes)]
    if standalone:  # the binary's fixed cost (arrays, synapse creation, results) from a run of zero duration
        setup_s = time_standalone(build, 0.0, dts[0])[0]
        rows.append(("standalone setup only (binary, CPU)", setup_s, 0))
    for dt in dts:
        seconds, spikes = time_runtime(build, duration, dt)
        rows.append((f"runtime dt={dt * 1e3:g} ms", seconds, spikes))
        if standalone:
            cpu, loop, compile_s, spikes = time_standalone(build, duration, dt)
            rows.append((f"standalone dt={dt * 1e3:g} ms (binary, CPU)", cpu, spikes))
            rows.append((f"standalone dt={dt * 1e3:g} ms (binary - setup, CPU)", cpu - setup_s, spikes))
            rows.append((f"standalone dt={dt * 1e3:g} ms (loop only, wall)", loop, spikes))
            rows.append((f"standalone dt={dt * 1e3:g} ms (compile, wall)", compile_s, spikes))
    print(f"  {'':42s} {'seconds':>9s} {'/ engine':>9s} {'spikes':>10s}   (CPU s unless marked wall)")
    for label, seconds, spikes in rows:
        ratio = "" if "compile" in label else f"{seconds / engine_s:9.3f}"  # a one-time cost, not a ratio
        print(f"  {label:42s} {seconds:9.3f} {ratio:>9s} {spikes:10d}")
    if k:  # per synaptic event: spikes x K (the runtime's spikes differ a little: its own count)
        print(f"  per synaptic event (spikes x {k}), microseconds:")
        for label, seconds, spikes in rows:
            if spikes and "compile" not in label:
                print(f"    {label:40s} {1e6 * seconds / (spikes * k):9.3f}")
    print(
        f"  device overhead: {100 * (device_s / engine_s - 1):.1f} % of the engine's time (device / engine - 1); "
        f"the device's own CPU time within its run() (total - engine, device.timers): {min(own_times):.3f} s "
        f"= {100 * min(own_times) / engine_s:.1f} %"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", nargs="+", default=["s1", "s3", "cuba"], choices=["s1", "s3", "cuba", "coba"])
    parser.add_argument("--n", type=int, default=100_000, help="S1 size (default 1e5)")
    parser.add_argument("--t-s1", type=float, default=1.0, help="S1 simulated time in s (default 1)")
    parser.add_argument("--t-s3", type=float, default=0.2, help="S3 simulated time in s (default 0.2)")
    parser.add_argument("--n-cuba", type=int, default=4000, help="CUBA size (default 4000, as Brian2's example)")
    parser.add_argument("--k-cuba", type=int, default=80, help="CUBA inputs per neuron (default 80: p = 0.02)")
    parser.add_argument("--t-cuba", type=float, default=1.0, help="CUBA simulated time in s (default 1)")
    parser.add_argument("--dt", type=float, nargs="+", default=[0.1, 0.01], help="Brian2 time steps in ms")
    parser.add_argument("--standalone", action="store_true", help="also time cpp_standalone (compiles C++)")
    parser.add_argument("--quick", action="store_true", help="S1 with N = 1e4, S3 at 1/5 size, short runs")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of engine and device runs (best is kept)")
    args = parser.parse_args(argv)
    from brian2 import BrianLogger

    BrianLogger.suppress_name("unused_brian_object")  # the engine-alone timing builds networks it never runs
    dts = [d * 1e-3 for d in args.dt]
    if args.quick:
        args.n, args.t_s1, args.t_s3, args.n_cuba, args.t_cuba = 10_000, 0.5, 0.1, 1000, 0.2
    if "s1" in args.networks:
        benchmark(
            f"S1, N = {args.n}, K = 100", lambda: s1_network(args.n), args.t_s1, dts, args.standalone, args.repeat
        )
    if "s3" in args.networks:
        scale = 0.2 if args.quick else 1.0
        benchmark(
            f"S3, Brunel type, {int(12500 * scale)} neurons",
            lambda: s3_network(scale=scale),
            args.t_s3,
            dts,
            args.standalone,
            args.repeat,
        )

    if "cuba" in args.networks:
        benchmark(
            f"CUBA, N = {args.n_cuba}, K = {args.k_cuba}",
            lambda: cuba_network(args.n_cuba, args.k_cuba),
            args.t_cuba,
            dts,
            args.standalone,
            args.repeat,
            k=args.k_cuba,
        )
    if "coba" in args.networks:
        benchmark(
            f"COBA (one synaptic time constant), N = {args.n_cuba}, K = {args.k_cuba}",
            lambda: coba_network(args.n_cuba, args.k_cuba),
            args.t_cuba,
            dts,
            args.standalone,
            args.repeat,
            k=args.k_cuba,
        )


if __name__ == "__main__":
    main()
