"""Time `brian2_sparseprop.to_neo` on the demo-size network: S1 as a Brian2 script, run with the device.

S1 (sparse inhibitory LIF, K = 100) at N = 10^5 for 1 s gives about 3.4x10^5 spikes. Timed, in CPU
seconds, best of ``--repeat``: ``to_neo(spikes)`` (the target is under 2 s; before the split by one sort
it took 338 s), and as the baseline of the same run Brian2's own per-neuron split
``SpikeMonitor.spike_trains()``. With ``--materialize`` also the first access to the trains, which is
Neo's own cost: it builds one `neo.SpikeTrain` per neuron. Usage::

    python benchmarks/to_neo.py [--n 100000] [--duration 1.0] [--repeat 3] [--materialize]
"""

import argparse
import time

import numpy as np


def s1_run(n, duration, k=100, seed=0):
    """S1 as an ordinary Brian2 script, run exactly; returns its SpikeMonitor."""
    from brian2 import Network, NeuronGroup, SpikeMonitor, Synapses, ms, second, set_device, start_scope
    from brian2.devices.device import reset_device

    from brian2_sparseprop.connectivity import fixed_out_degree

    rng = np.random.default_rng(seed)
    indptr, indices = fixed_out_degree(n, k, rng)
    set_device("sparseprop")
    start_scope()
    group = NeuronGroup(
        n, "dv/dt = (I - v)/tau : 1", threshold="v > 1", reset="v = 0", namespace={"I": 1.1, "tau": 10 * ms}
    )
    group.v = rng.uniform(0, 1, n)
    syn = Synapses(group, group, on_pre="v_post += w", namespace={"w": -1 / np.sqrt(k)})
    syn.connect(i=np.repeat(np.arange(n), np.diff(indptr)), j=indices.astype(np.int64))
    spikes = SpikeMonitor(group)
    Network(group, syn, spikes).run(duration * second)
    reset_device()
    return spikes


def best_cpu(function, repeat):
    times = []
    for _ in range(repeat):
        start = time.process_time()
        result = function()
        times.append(time.process_time() - start)
    return min(times), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of neurons (default 10^5)")
    parser.add_argument("--duration", type=float, default=1.0, help="simulated time in s (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many (default 3)")
    parser.add_argument("--materialize", action="store_true", help="also time Neo building the SpikeTrains")
    args = parser.parse_args(argv)

    from brian2.utils.logger import BrianLogger

    from brian2_sparseprop import to_neo

    # the device runs the network without Brian2's before_run, so Brian2 reports the deleted group as unused
    BrianLogger.suppress_name("unused_brian_object")
    spikes = s1_run(args.n, args.duration)
    print(f"S1, N = {args.n}, {args.duration} s: {len(spikes.t)} spikes")
    baseline, _ = best_cpu(spikes.spike_trains, args.repeat)
    seconds, block = best_cpu(lambda: to_neo(spikes), args.repeat)
    print(f"SpikeMonitor.spike_trains() (baseline): {baseline:.3f} s CPU")
    print(f"to_neo(spikes):                         {seconds:.3f} s CPU  ({seconds / baseline:.2f}x the baseline)")
    if args.materialize:
        start = time.process_time()
        trains = list(block.segments[0].spiketrains)
        print(f"first access, Neo builds {len(trains)} SpikeTrains: {time.process_time() - start:.1f} s CPU")


if __name__ == "__main__":
    main()
