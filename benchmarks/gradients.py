"""Cost of exact gradients on S1 (shared/DESIGN.md): forward alone, forward with the tape, backward pass.

One process, one network per size, the three measured one after another on identical copies of the run
(CPU time per network spike, and ratios against the forward run measured in the same process). The
loss is L = sum of all spike times plus the sum of final states; its gradient is taken by the shared
weight and drive (S1 has one of each: scalar gradients) and by the initial states.

With ``--lif-exp``: the same network of 'lif_exp' neurons (S1's connectivity, weights, drive and initial
states; the pulses enter an inhibitory current of time constant 5 ms), differentiated by
`brian2_sparseprop.spiking._adjoint_exp`.

With ``--linear``: the same network of 'linear' neurons, LIF with alpha-function currents
(`LinearModel.lif_alpha`, tau = 10 ms, tau_s = 5 ms, drive 1.1; S1's connectivity and initial v; the pulse
w = -0.2 into g carries the charge of S1's delta pulse, w tau_s / tau = -0.1), differentiated by
`brian2_sparseprop.spiking._adjoint_linear` (d = 3: propagators and their Van Loan integrals per arrival).

With ``--memory N DURATION``: one S1 run of N neurons over DURATION simulated seconds with the tape, then
its backward pass, and the peak memory (resident set) of the process after building, after the forward
run and after the backward pass. The issue's case, a 10^6-neuron run with 10^7 spikes:
``--memory 1000000 3``. With ``--budget MIB`` besides: the backward pass checkpointed within that budget
(`brian2_sparseprop.spiking.checkpoint`) against the unsegmented one on the same run: the bytes each
allocates (tracemalloc), CPU seconds and their ratio. With ``--theta`` or ``--linear`` besides: of S1 with
theta neurons, or with alpha currents ('linear').

With ``--theta``: the same network of theta neurons (S1's connectivity and weights, drive 1, initial
phases uniform in [-pi, pi)), differentiated by `brian2_sparseprop.spiking._adjoint_qif` (its time
includes the replay of the neurons' states at their arrivals and the sort of the arrivals).

With ``--yin-yang``: one training epoch of the Yin-Yang example's network (5 -> 60 -> 3 LIF neurons, the
5000 training samples in batches of 50, Adam) against a forward pass over the same samples in the same
batches, CPU seconds and their ratio (the epoch includes the tape, the JAX loss and the optimiser).

Usage:
    python benchmarks/gradients.py                  # N = 1e4 and 1e5
    python benchmarks/gradients.py --sizes 10000 --duration 0.5
    python benchmarks/gradients.py --sizes --yin-yang
    python benchmarks/gradients.py --sizes 10000 --lif-exp
    python benchmarks/gradients.py --sizes --memory 1000000 3
    python benchmarks/gradients.py --sizes --memory 100000 3 --budget 16 --repeats 1
    python benchmarks/gradients.py --sizes --memory 100000 1 --budget 64 --repeats 1 --theta
    python benchmarks/gradients.py --sizes --memory 20000 0.5 --budget 16 --repeats 1 --linear
    python benchmarks/gradients.py --sizes 10000 --theta
    python benchmarks/gradients.py --sizes 10000 --linear --duration 0.3
"""

import argparse
import resource
import time

import numpy as np

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.connectivity import fixed_out_degree
from brian2_sparseprop.spiking.standard import sparse_inhibitory_lif

DURATION = {10_000: 1.0, 100_000: 0.3}  # simulated seconds per size (S1: about 3.3 Hz)


def s1_lif_exp(n, k=100, seed=0):
    """S1 with exponential currents: S1's network and initial states, 'lif_exp' neurons, tau_i = 5 ms."""
    rng = np.random.default_rng(seed)
    indptr, indices = fixed_out_degree(n, k, rng)
    return EventNetwork(n, model="lif_exp", tau=0.01, drive=1.1, v_init=rng.random(n), indptr=indptr,
                        indices=indices, weights=-1.0 / np.sqrt(k), tau_i=0.005, seed=seed)  # fmt: skip


def s1_theta(n, k=100, seed=0):
    """S1 with theta neurons: S1's network and weights, drive 1, initial phases uniform in [-pi, pi)."""
    rng = np.random.default_rng(seed)
    indptr, indices = fixed_out_degree(n, k, rng)
    return EventNetwork(n, model="theta", tau=0.01, drive=1.0, v_init=rng.uniform(-np.pi, np.pi, n),
                        indptr=indptr, indices=indices, weights=-1.0 / np.sqrt(k), seed=seed)  # fmt: skip


def s1_linear(n, k=100, seed=0):
    """S1 with alpha currents ('linear', `LinearModel.lif_alpha`): S1's network and initial v, tau_s = 5 ms,
    pulses of S1's charge into g."""
    from brian2_sparseprop.spiking.linear import LinearModel

    rng = np.random.default_rng(seed)
    indptr, indices = fixed_out_degree(n, k, rng)
    model = LinearModel.lif_alpha(tau=0.01, tau_s=0.005, drive=1.1)
    return EventNetwork(n, model="linear", linear=model, v_init=rng.random(n), indptr=indptr, indices=indices,
                        weights=-0.2, seed=seed)  # fmt: skip


def measure(n, duration, repeats, build=sparse_inhibitory_lif):
    best = {"forward": np.inf, "forward+tape": np.inf, "backward": np.inf}
    for _ in range(repeats):
        for tape in (False, True):
            net = build(n)
            net.run(0.0, record_tape=tape)  # builds the engine (and starts the tape at t = 0)
            t0 = time.process_time()
            net.run(duration, record_tape=tape)
            cpu = time.process_time() - t0
            best["forward+tape" if tape else "forward"] = min(best["forward+tape" if tape else "forward"], cpu)
        spikes = net.spike_times.size
        dL = np.ones(spikes)
        t0 = time.process_time()
        g = net.gradient(dL, np.ones(n))
        best["backward"] = min(best["backward"], time.process_time() - t0)
    return spikes, best, g


def peak_memory(n, duration, build=sparse_inhibitory_lif):
    """Peak resident memory (GiB) of S1 with N neurons: built, after the forward run with the tape, after the
    backward pass (loss: the sum of the spike times and of the final states); and the run's spike count."""

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kiB on Linux

    net = build(n)
    net.run(0.0, record_tape=True)
    built = peak()
    net.run(duration, record_tape=True)
    forward = peak()
    net.gradient(np.ones(net.spike_times.size), np.ones(n))
    return net.spike_times.size, built, forward, peak()


def checkpointed(n, duration, budget, repeats, build=sparse_inhibitory_lif):
    """The checkpointed backward pass (``gradient(..., memory_budget=budget)``) against the unsegmented one on
    one S1 run with the tape: the peak of the bytes each allocates (tracemalloc, in a separate call from the
    timing; the returned gradients are scalars in S1), CPU seconds (best of ``repeats``), the segments
    (`brian2_sparseprop.spiking.checkpoint.segments`) and the largest relative difference of the gradients."""
    import tracemalloc

    from brian2_sparseprop.spiking.checkpoint import segments

    net = build(n)
    net.run(duration, record_tape=True)
    dL, dv = np.ones(net.spike_times.size), np.ones(n)
    out = {}
    for name, kw in (("unsegmented", {}), ("checkpointed", {"memory_budget": budget})):
        best = np.inf
        for _ in range(repeats):
            t0 = time.process_time()
            g = net.gradient(dL, dv, **kw)
            best = min(best, time.process_time() - t0)
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        net.gradient(dL, dv, **kw)
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        out[name] = (best, peak, g)
    (t0, m0, g0), (t1, m1, g1) = out["unsegmented"], out["checkpointed"]
    diff = max(
        float(np.max(np.abs(np.asarray(getattr(g0, f)) - np.asarray(getattr(g1, f)))))
        / max(float(np.max(np.abs(getattr(g0, f)))), 1e-300)
        for f in ("weights", "drive", "v0", "A", "b")
        if getattr(g0, f) is not None  # (A and b: 'linear' networks)
    )
    return net.spike_times.size, segments(net, budget), (t0, m0), (t1, m1), diff


def yin_yang_epoch(repeats):
    """CPU seconds of a forward pass over the Yin-Yang training split and of one training epoch (best of
    ``repeats``), in batches of 50 as examples/yin_yang.py trains."""
    import optax

    from brian2_sparseprop.datasets import latency_encode, yin_yang
    from brian2_sparseprop.spiking.training import TrainableNetwork, first_spike_cross_entropy, train

    model = TrainableNetwork.feedforward(
        (5, 60, 3), duration=0.1, tau=0.02, refractory=0.1, trained=("weights", "input_weights", "drive")
    )
    rng = np.random.default_rng(0)
    params = {
        "weights": rng.normal(0.0, 0.05, 180),
        "input_weights": rng.normal(0.0, 0.1, 300),
        "drive": np.concatenate([rng.uniform(1.1, 1.3, 60), np.full(3, 1.05)]),
    }
    x, y = yin_yang("train")
    inputs = latency_encode(x)
    loss = first_spike_cross_entropy(0.002, silent_weight=1.0)
    train(model, params, inputs[:50], y[:50], loss, optax.adam(1e-3), epochs=1, batch_size=50)  # JAX compiles
    best = {"forward": np.inf, "epoch": np.inf}
    for _ in range(repeats):
        t0 = time.process_time()
        for k in range(0, len(inputs), 50):
            model.first_spikes(params, inputs[k : k + 50])
        best["forward"] = min(best["forward"], time.process_time() - t0)
        t0 = time.process_time()
        train(model, params, inputs, y, loss, optax.adam(1e-3), epochs=1, batch_size=50, seed=0)
        best["epoch"] = min(best["epoch"], time.process_time() - t0)
    return best


def s1_table(args):
    """The S1 table: CPU per spike of the three passes and their ratios, per size."""
    print(
        f"{'N':>8} {'spikes':>8} {'fwd us/sp':>10} {'tape us/sp':>10} {'bwd us/sp':>10} {'tape/fwd':>9} {'bwd/fwd':>8}"
    )
    for n in args.sizes:
        duration = args.duration or DURATION.get(n, 0.3)
        build = (s1_lif_exp if args.lif_exp else s1_theta if args.theta else s1_linear if args.linear
                 else sparse_inhibitory_lif)  # fmt: skip
        spikes, best, g = measure(n, duration, args.repeats, build)
        us = {k: 1e6 * v / spikes for k, v in best.items()}
        print(
            f"{n:>8} {spikes:>8} {us['forward']:>10.3f} {us['forward+tape']:>10.3f} {us['backward']:>10.3f} "
            f"{best['forward+tape'] / best['forward']:>9.3f} {best['backward'] / best['forward']:>8.3f}"
            f"   (pulse-triggered {g.n_pulse_triggered}, coincident {g.n_coincident})"
        )
    print(
        "tape memory: 1 byte per spike beside the spike record (8 + 4 bytes per spike); "
        "12 bytes per external input event (S1 has none)"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=sorted(DURATION), help="S1 sizes (none: skip S1)")
    ap.add_argument("--yin-yang", action="store_true", help="also time a Yin-Yang training epoch")
    ap.add_argument("--lif-exp", action="store_true", help="S1 with exponential currents ('lif_exp')")
    ap.add_argument("--theta", action="store_true", help="S1 with theta neurons")
    ap.add_argument("--linear", action="store_true", help="S1 with alpha currents ('linear')")
    ap.add_argument("--duration", type=float, default=None, help="simulated seconds (default: per size)")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many runs of each")
    ap.add_argument("--memory", nargs=2, metavar=("N", "DURATION"), help="peak memory of S1 with N neurons")
    ap.add_argument(
        "--budget", type=float, default=None, help="with --memory: checkpointed backward within this many MiB"
    )
    args = ap.parse_args()
    for n in args.sizes:
        if n >= 1_000_000:
            raise SystemExit("sizes >= 1e6 are not run by this benchmark (memory and time on shared machines)")
    if args.sizes:
        s1_table(args)
    if args.memory:
        n, duration = int(args.memory[0]), float(args.memory[1])
        build, label = (
            (s1_theta, "S1 (theta)") if args.theta else (s1_linear, "S1 (linear, alpha currents)") if args.linear
            else (sparse_inhibitory_lif, "S1")
        )  # fmt: skip
        if args.budget is not None:
            spikes, plan, (t0, m0), (t1, m1), diff = checkpointed(n, duration, args.budget * 2**20, args.repeats, build)
            how = "each start re-run from a snapshot" if plan["rerun"] else f"{plan['groups']} replay(s)"
            print(
                f"{label} N = {n}, {duration} s, {spikes} spikes, budget {args.budget:g} MiB ({len(plan['starts'])} "
                f"segments, {how}): "
                f"backward pass allocates {m0 / 2**20:.1f} MiB unsegmented ({m0 / spikes:.0f} bytes per spike), "
                f"{m1 / 2**20:.1f} MiB checkpointed; CPU {t0:.2f} s unsegmented, {t1:.2f} s checkpointed, "
                f"ratio {t1 / t0:.2f}; largest relative difference of the gradients {diff:.1e}"
            )
            return
        spikes, built, forward, backward = peak_memory(n, duration, build)
        print(
            f"{label} N = {n}, {duration} s, {spikes} spikes: peak memory {built:.2f} GiB built, {forward:.2f} GiB "
            f"after the forward run with the tape, {backward:.2f} GiB after the backward pass "
            f"({2**30 * (backward - forward) / spikes:.0f} bytes per spike beyond the forward run, "
            "the per-synapse gradients included)"
        )
    if args.yin_yang:
        best = yin_yang_epoch(args.repeats)
        print(
            f"Yin-Yang (5-60-3, 5000 samples, batches of 50): forward pass {best['forward']:.2f} s CPU, "
            f"training epoch {best['epoch']:.2f} s CPU, epoch/forward {best['epoch'] / best['forward']:.2f}"
        )


if __name__ == "__main__":
    main()
