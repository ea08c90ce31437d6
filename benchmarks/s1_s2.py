"""Speed and memory of the exact engine on the standard networks S1 and S2 (shared/DESIGN.md).

Every configuration runs in a fresh subprocess (so that peak memory is its own), one after another on one
core. Reported: microseconds of CPU time per network spike, spikes per CPU second, peak resident memory,
bytes per synapse and per neuron held by the engine, and, measured in the same run, ratios against
- the conventional exact method (every neuron advanced at every spike, `brian2_sparseprop.spiking._dense`),
- Brian2 clock-driven runs (runtime/cython target) at dt = 0.1 ms and 0.01 ms;
and, with ``--eif``, the cost per spike of S1 with EIF neurons (``tau dx/dt = -x + exp(x)``, threshold 5,
reset -1, the same connectivity and weights) against LIF's, with the EIF tables (the default) and by
quadrature (``EventNetwork._eif_tables = False``).

Usage:
    python benchmarks/s1_s2.py                      # N = 1e3 .. 1e6, all baselines where affordable
    python benchmarks/s1_s2.py --sizes 1000 10000 --no-brian2
    python benchmarks/s1_s2.py --sizes 10000 --no-brian2 --eif
"""

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

SIM = {1_000: 20.0, 10_000: 5.0, 100_000: 2.0, 1_000_000: 0.5}  # simulated seconds per size


def worker(kind, n, duration):
    """Run one configuration in this process and return a dict of measurements."""
    from brian2_sparseprop.connectivity import fixed_out_degree
    from brian2_sparseprop.spiking.standard import balanced_theta, sparse_inhibitory_lif

    out = {"kind": kind, "n": n}
    if kind in ("s1", "s2", "s1_eif", "s1_eif_panel", "s1_eif_quad"):
        t0 = time.process_time()
        net = sparse_inhibitory_lif(n) if kind == "s1" else balanced_theta(n) if kind == "s2" else s1_eif(n)
        net._eif_tables = kind != "s1_eif_quad"  # EIF kernels through tables (default), or by quadrature
        net._eif_fast = kind != "s1_eif_panel"  # with the fast tables (default), or the panel tables only
        net.record_spikes(np.zeros(0, np.int32))  # count spikes, record none: the loop itself
        net.run(0.1)  # warm-up, builds the engine
        out["build_s"] = time.process_time() - t0
        s0 = net.n_spikes
        t0 = time.process_time()
        net.run(duration)
        cpu = time.process_time() - t0
        spikes = net.n_spikes - s0
        spec = net._spec
        out["engine_bytes"] = int(sum(a.nbytes for a in spec.values() if isinstance(a, np.ndarray)))
        out["synapses"] = int(spec["indices"].size)
    elif kind == "dense":
        from brian2_sparseprop.spiking._dense import dense_lif_run

        rng = np.random.default_rng(0)
        indptr, indices = fixed_out_degree(n, 100, rng)
        v = rng.random(n)
        t0 = time.process_time()
        times, _ = dense_lif_run(v, 1.1, 1.0, 0.0, 0.01, indptr, indices, -0.1, duration)
        cpu = time.process_time() - t0
        spikes = times.size
    elif kind.startswith("brian2"):
        cpu, spikes = _brian2_s1(n, duration, float(kind.split("_")[1]) * 1e-3)
    out.update(
        cpu_s=cpu,
        spikes=int(spikes),
        sim_s=duration,
        us_per_spike=cpu / max(spikes, 1) * 1e6,
        cpu_per_sim_s=cpu / duration,
        peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    return out


def s1_eif(n, k=100, seed=0, spread=0.0):
    """S1 with EIF neurons that fire on their own (drive 0 > -1), initial x uniform in [-1, 2); with `spread`
    > 0, per-synapse weights uniform within that fraction around S1's (too many distinct weights for pulse
    responses: a kick is then two table evaluations instead of one)."""
    from brian2_sparseprop import EventNetwork
    from brian2_sparseprop.connectivity import fixed_out_degree

    rng = np.random.default_rng(seed)
    indptr, indices = fixed_out_degree(n, k, rng)
    return EventNetwork(
        n,
        model="eif",
        tau=0.01,
        drive=0.0,
        threshold=5.0,
        reset=-1.0,
        v_init=rng.uniform(-1, 2, n),
        indptr=indptr,
        indices=indices,
        weights=-1.0 / np.sqrt(k) * (rng.uniform(1 - spread, 1 + spread, indices.size) if spread else 1.0),
        copy=False,
    )


def _brian2_s1(n, duration, dt):
    import brian2 as b2

    from brian2_sparseprop.connectivity import fixed_out_degree

    b2.prefs.codegen.target = "cython"
    b2.defaultclock.dt = dt * b2.second
    rng = np.random.default_rng(0)
    indptr, indices = fixed_out_degree(n, 100, rng)
    g = b2.NeuronGroup(n, "dv/dt = (1.1 - v) / (10*ms) : 1", threshold="v > 1", reset="v = 0", method="exact")
    g.v = rng.random(n)
    s = b2.Synapses(g, g, on_pre="v_post += -0.1")
    s.connect(i=np.repeat(np.arange(n), np.diff(indptr)), j=indices)
    mon = b2.SpikeMonitor(g, record=False)
    net = b2.Network(g, s, mon)
    net.run(0.1 * b2.second)  # warm-up: code generation and compilation
    c0 = mon.num_spikes
    t0 = time.process_time()
    net.run(duration * b2.second)
    return time.process_time() - t0, mon.num_spikes - c0


def run_sub(kind, n, duration):
    cmd = [sys.executable, __file__, "--worker", kind, str(n), str(duration)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        return {"kind": kind, "n": n, "error": res.stderr.strip().splitlines()[-1:]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIM))
    p.add_argument("--no-brian2", action="store_true", help="skip the Brian2 clock-driven baselines")
    p.add_argument(
        "--brian2-max-n",
        type=int,
        default=100_000,
        help="largest N for the Brian2 baselines (default 1e5; 1e6 needs about 5 GiB and minutes to build)",
    )
    p.add_argument("--eif", action="store_true", help="also S1 with EIF neurons (cost per spike against LIF)")
    p.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        kind, n, duration = args.worker
        print(json.dumps(worker(kind, int(n), float(duration))))
        return
    rows = []
    for n in args.sizes:
        sim = SIM.get(n, 1.0)
        r = run_sub("s1", n, sim)
        rows.append(r)
        base = r.get("us_per_spike")
        extra = []
        # the O(N) method: a few thousand spikes are enough to time it
        d = run_sub("dense", n, min(sim, 2000.0 / (3.4 * n)) if n > 1000 else 1.0)
        extra.append(("O(N) exact", d))
        if not args.no_brian2 and n <= args.brian2_max_n:
            extra.append(("Brian2 dt=0.1ms", run_sub("brian2_0.1", n, min(sim, 1.0, 1e5 / n))))
            extra.append(("Brian2 dt=0.01ms", run_sub("brian2_0.01", n, min(sim, 0.2, 2e4 / n))))
        if args.eif:  # EIF spikes (100 kicks each): 2e5 with the fast tables, 1e4 with the slower kernels
            extra.append(("SparseProp, EIF neurons", run_sub("s1_eif", n, min(sim, 2e5 / (9.0 * n)))))
            extra.append(("SparseProp, EIF, panel tables", run_sub("s1_eif_panel", n, min(sim, 1e4 / (9.0 * n)))))
            extra.append(("SparseProp, EIF by quadrature", run_sub("s1_eif_quad", n, min(sim, 1e4 / (9.0 * n)))))
        for label, e in extra:
            e["label"] = label
            if "us_per_spike" in e and base:
                e["ratio_to_sparseprop"] = e["us_per_spike"] / base
            rows.append(e)
        rows.append(run_sub("s2", n, sim))
        _print_table(rows)
    print(json.dumps(rows))


def _print_table(rows):
    print(
        "\n| network | N | method | us / spike | spikes / CPU s | CPU s per sim. s | peak RSS MiB | "
        "engine B/synapse | ratio to SparseProp |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['kind']} | {r['n']} | error: {r['error']} |")
            continue
        net = "S2" if r["kind"] == "s2" else "S1-EIF" if r["kind"].startswith("s1_eif") else "S1"
        method = r.get("label", "SparseProp (this engine)")
        bps = f"{(r['engine_bytes']) / max(r['synapses'], 1):.2f}" if "engine_bytes" in r else ""
        ratio = f"{r['ratio_to_sparseprop']:.1f}x" if "ratio_to_sparseprop" in r else ""
        print(
            f"| {net} | {r['n']:,} | {method} | {r['us_per_spike']:.2f} | {1e6 / r['us_per_spike']:,.0f} | "
            f"{r['cpu_per_sim_s']:.3f} | {r['peak_rss_mib']:.0f} | {bps} | {ratio} |"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
