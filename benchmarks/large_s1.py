"""S1 at large N: build time, run time, CPU time per spike, peak memory and the memory estimate.

Each size runs in a fresh subprocess (so that its peak resident memory is its own): it builds S1
(`brian2_sparseprop.spiking.standard.sparse_inhibitory_lif`, K = 100, so N * 100 synapses), runs the
simulated duration counting spikes without recording them, and reports
- build: CPU seconds to generate the connectivity and build the engine,
- run: CPU seconds of the run, and CPU microseconds per network spike,
- peak RSS: the process's maximum resident memory (VmHWM), in total and above the resident memory
  after importing the package (the interpreter, numpy and Brian2),
- estimate: the memory estimate that would refuse the network before building it (`MemoryError`).

Usage:
    python benchmarks/large_s1.py                         # N = 1e7, 1 s simulated (about 5 GiB)
    python benchmarks/large_s1.py --sizes 100000 1000000 10000000 --duration 1
"""

import argparse
import json
import subprocess
import sys
import time


def _status(field):
    """Bytes of a field of /proc/self/status: VmRSS, resident memory now (the maximum so far may be higher:
    imports free some of what they used); VmHWM, its maximum in this process (getrusage's maximum can be
    the parent's resident memory at the fork, when that is larger)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))


def worker(n, duration):
    """Build and run S1 of n neurons in this process; return a dict of measurements."""
    import numpy as np

    from brian2_sparseprop.spiking import standard
    from brian2_sparseprop.spiking.standard import sparse_inhibitory_lif

    rss_import = _status("VmRSS")
    k = 100
    estimate = standard._memory_needed(
        n, k, dict(model="lif", tau=0.01, drive=1.1, threshold=1.0, reset=0.0, weights=-1.0 / k**0.5)
    )
    t0 = time.process_time()
    net = sparse_inhibitory_lif(n, k=k)
    net.record_spikes(np.zeros(0, np.int32))  # count spikes, record none
    net.run(0.0)  # builds the engine
    build = time.process_time() - t0
    t0 = time.process_time()
    net.run(duration)
    run = time.process_time() - t0
    spikes = net.n_spikes
    rss = _status("VmHWM")
    return dict(
        n=n,
        synapses=n * k,
        sim_s=duration,
        build_s=build,
        run_s=run,
        spikes=spikes,
        rate_hz=spikes / (n * duration),
        us_per_spike=run / max(spikes, 1) * 1e6,
        peak_rss_gib=rss / 2**30,
        rss_import_gib=rss_import / 2**30,
        estimate_gib=estimate / 2**30,
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000_000])
    p.add_argument("--duration", type=float, default=1.0, help="simulated seconds (default 1)")
    p.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(int(args.worker[0]), float(args.worker[1]))))
        return
    print(
        "| N | synapses | build CPU s | run CPU s (sim. s) | spikes | rate Hz | us / spike | "
        "peak RSS GiB | above import GiB | B / synapse above import | estimate GiB | estimate / measured |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for n in args.sizes:
        cmd = [sys.executable, __file__, "--worker", str(n), str(args.duration)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            print(f"| {n:,} | error: {res.stderr.strip().splitlines()[-1:]} |")
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append(r)
        above = r["peak_rss_gib"] - r["rss_import_gib"]
        print(
            f"| {n:,} | {r['synapses']:.1e} | {r['build_s']:.1f} | {r['run_s']:.1f} ({r['sim_s']:g}) | "
            f"{r['spikes']:,} | {r['rate_hz']:.2f} | {r['us_per_spike']:.2f} | {r['peak_rss_gib']:.2f} | "
            f"{above:.2f} | {above * 2**30 / r['synapses']:.2f} | {r['estimate_gib']:.2f} | "
            f"{r['estimate_gib'] / above:.2f} |"
        )
        sys.stdout.flush()
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
