"""Engine builds of different git revisions against each other, on one S1 (or S2) network, in one process.

On a shared machine timings of separate runs drift by tens of percent with the load; to see a change of a
few percent, every build's engine is compiled from the revision's `cython_src/` into its own directory,
loaded into this one process as a separate module, and given its own copy of the same S1 network; then
short runs of each alternate for several rounds. Reported: the median and minimum CPU time per network
spike of each build and its median ratio to the first. All builds must produce the same spikes (checked:
the spike counts of the same runs must agree), unless ``--rounding`` says that they round differently (a
change of a kernel's arithmetic: the chaotic networks then part ways, the cost per spike stays comparable).

The revisions' engines must accept the engine specification of the installed `EventNetwork` (true for
revisions that changed only `cython_src/`; the comparison refuses otherwise, at the first failing build).

Usage::

    python benchmarks/compare_builds.py HEAD~1 HEAD [--n 1000000] [--chunk 0.05] [--rounds 8]
    python benchmarks/compare_builds.py HEAD WORKTREE       # WORKTREE: the uncommitted sources
    python benchmarks/compare_builds.py HEAD~1 HEAD --net s2 --n 100000   # S2: theta neurons
    python benchmarks/compare_builds.py 70a923a 6b7a29b --net s2 --n 100000 --rounding
    python benchmarks/compare_builds.py HEAD WORKTREE --net s1_eif --n 100000   # S1 with EIF neurons
"""

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def build(rev, where):
    """Compile the engine of git revision `rev` (or the working tree) under `where`; return the module."""
    src = where / "src"
    src.mkdir(parents=True)
    if rev == "WORKTREE":
        shutil.copytree(ROOT / "cython_src", src / "cython_src")
        shutil.copy(ROOT / "setup.py", src)
    else:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "cython_src", "setup.py"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    (src / "brian2_sparseprop" / "spiking").mkdir(parents=True)  # build_ext --inplace writes the modules there
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=src, check=True, capture_output=True
    )
    so = next((src / "brian2_sparseprop").rglob("_engine*.so"))
    # the module's init function is named after the last component only, so each build loads apart
    spec = importlib.util.spec_from_file_location(f"build_{abs(hash(rev))}._engine", so)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revs", nargs="+", help="git revisions (or WORKTREE); the first is the baseline")
    parser.add_argument(
        "--net",
        choices=["s1", "s2", "s1_eif", "s1_eif_spread"],
        default="s1",
        help="S1 (LIF, default), S2 (theta), S1-EIF, or S1-EIF with per-synapse weights (+-10 %%)",
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="network size (default 1e6)")
    parser.add_argument("--chunk", type=float, default=0.05, help="simulated seconds per timed run")
    parser.add_argument("--rounds", type=int, default=8, help="alternating rounds (default 8)")
    parser.add_argument(
        "--rounding", action="store_true", help="the builds round differently: do not require equal spike counts"
    )
    args = parser.parse_args()
    if args.n < 1000 or args.chunk <= 0 or args.rounds < 1:
        parser.error(f"need n >= 1000, chunk > 0, rounds >= 1, found {args.n}, {args.chunk}, {args.rounds}")

    import brian2_sparseprop.spiking.network as network
    from brian2_sparseprop.spiking.standard import balanced_theta, sparse_inhibitory_lif

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from s1_s2 import s1_eif

    make = {
        "s1": sparse_inhibitory_lif,
        "s2": balanced_theta,
        "s1_eif": s1_eif,
        "s1_eif_spread": lambda n: s1_eif(n, spread=0.1),
    }[args.net]

    nets = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, rev in enumerate(args.revs):
            print(f"building {rev} ...", flush=True)
            network._engine = build(rev, Path(tmp) / str(k))
            net = make(args.n)
            net.record_spikes(np.zeros(0, np.int32))
            net.run(0.02)  # transient of the initial state, and page faults
            nets[rev] = net
    times = {rev: [] for rev in args.revs}
    for r in range(args.rounds):
        counts = set()
        for rev, net in nets.items():
            s0 = net.n_spikes
            t0 = time.process_time()
            net.run(args.chunk)
            spikes = net.n_spikes - s0
            times[rev].append((time.process_time() - t0) / spikes * 1e6)
            counts.add(spikes)
        if len(counts) > 1 and not args.rounding:
            sys.exit(f"round {r}: the builds produced different spike counts {sorted(counts)}")
    base = np.median(times[args.revs[0]])
    print(f"{args.net.upper()}, N = {args.n}, {args.rounds} rounds of {args.chunk} s; CPU us per spike")
    for rev, t in times.items():
        print(
            f"{rev:>20s}  median {np.median(t):6.3f}  min {np.min(t):6.3f}  "
            f"median ratio to {args.revs[0]}: {np.median(t) / base:.3f}"
        )


if __name__ == "__main__":
    main()
