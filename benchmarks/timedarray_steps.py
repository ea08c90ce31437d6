"""Cost of a TimedArray drive through the device: what each step at which the drive changes adds.

S1 (the sparse inhibitory LIF network of shared/DESIGN.md) written as a Brian2 script with its drive
``I = stim(t)`` from a TimedArray of ``--steps`` values over ``--t`` seconds (alternating 1.1 and 1.2), run
with ``set_device('sparseprop')``, against the same script with a constant drive. The device runs the
engine in segments between the steps and sets the new drive at each (`EventNetwork.set_params`); reported:
CPU seconds of both runs, the added cost per step, and that cost against simulating 1 ms of the network
(ratios within one run: read those, not the absolute numbers on a shared machine). Usage::

    python benchmarks/timedarray_steps.py [--n 100000] [--k 100] [--t 0.1] [--steps 100]
"""

import argparse
import time

import numpy as np


def build(n, k, duration, steps, seed=0):
    from brian2 import Network, NeuronGroup, SpikeMonitor, Synapses, TimedArray, ms, second

    from brian2_sparseprop.connectivity import fixed_out_degree

    rng = np.random.default_rng(seed)
    indptr, indices = fixed_out_degree(n, k, rng)
    namespace = {"tau": 10 * ms}
    if steps:
        values = np.where(np.arange(steps) % 2 == 0, 1.1, 1.2)
        namespace["stim"] = TimedArray(values, dt=duration / steps * second)
        eqs = "dv/dt = (stim(t) - v)/tau : 1"
    else:
        namespace["I"] = 1.1
        eqs = "dv/dt = (I - v)/tau : 1"
    group = NeuronGroup(n, eqs, threshold="v > 1", reset="v = 0", namespace=namespace, method="exact")
    group.v = rng.uniform(0, 1, n)
    syn = Synapses(group, group, on_pre="v_post += w", namespace={"w": -1 / np.sqrt(k)})
    syn.connect(i=np.repeat(np.arange(n), np.diff(indptr)), j=indices.astype(np.int64))
    spikes = SpikeMonitor(group)
    return Network(group, syn, spikes), spikes


def timed_run(n, k, duration, steps):
    import warnings

    from brian2 import second, start_scope

    start_scope()
    net, spikes = build(n, k, duration, steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the ExactMethodWarning of a TimedArray under method='exact'
        start = time.process_time()
        net.run(duration * second)
    return time.process_time() - start, spikes.num_spikes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--t", type=float, default=0.1, help="simulated time in s")
    parser.add_argument("--steps", type=int, default=100, help="TimedArray values over that time")
    args = parser.parse_args(argv)
    from brian2 import set_device

    import brian2_sparseprop  # noqa: F401

    set_device("sparseprop")
    timed_run(100, 10, 0.001, 0)  # one-time imports outside the timing
    constant, n_const = timed_run(args.n, args.k, args.t, 0)
    stepped, n_step = timed_run(args.n, args.k, args.t, args.steps)
    per_step = (stepped - constant) / (args.steps - 1)
    per_ms = constant / (args.t * 1000)
    print(f"N = {args.n}, K = {args.k}, {args.t} s, {args.steps} TimedArray steps")
    print(f"constant drive: {constant:.3f} CPU s ({n_const} spikes)")
    print(f"stepped drive:  {stepped:.3f} CPU s ({n_step} spikes)")
    print(f"per step: {per_step * 1000:.2f} ms = {per_step / per_ms:.2f} x the cost of simulating 1 ms")


if __name__ == "__main__":
    main()
