"""Chaos suppression by common and independent input
=================================================

Chaos suppression in a balanced rate network by common versus independent input.

Computes, from the dynamic mean-field theory (DMFT) and from network simulations,

1. lambda_1 against the input amplitude I1 (N = 1000 networks with the theory for the same N; with
   ``--large`` also N = 5000 networks; the theory alone for N = 5000);
2. the critical amplitude I1_crit against the network size N (common input grows like sqrt(N));
3. I1_crit against the input frequency f and against the gain g, with the quasi-static (slow input) limit;
4. learning: test error of a student network trained online (full-FORCE, recursive least squares) from a
   driven teacher against I1 and against the teacher's lambda_1 (N = 500, 8 pairs per point).

Every point is stored in ``--out`` (default ``balanced_results`` in the current directory), so an
interrupted run resumes where it stopped. Figures go to ``--figures`` (default: the current directory).
The points run on ``--workers`` local processes, or on a Dask cluster (``--scheduler ADDRESS``, optional
extra ``distributed``). ``--quick`` computes part 1 only, at two amplitudes, with short runs and small
networks (its points go to ``OUT/quick``): a check that everything runs. Run:

    python examples/balanced_chaos_suppression.py --workers 2
    python examples/balanced_chaos_suppression.py --workers 2 --only learning   # one part (about 25 min)
    python examples/balanced_chaos_suppression.py --scheduler tcp://scheduler-host:8786
    python examples/balanced_chaos_suppression.py --quick
"""

import argparse
from pathlib import Path

import numpy as np

from brian2_sparseprop.experiments.balanced import (
    critical_amplitude_sweep,
    learning_vs_amplitude,
    lyapunov_vs_amplitude,
    plot_critical_amplitude,
    plot_learning,
    plot_lyapunov_vs_amplitude,
)


def main():
    parser = argparse.ArgumentParser(
        description=next(iter(__doc__.split("\n\n")[1:]), __doc__),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", default="balanced_results", help="directory of the per-point results")
    parser.add_argument("--figures", default=".", help="directory of the figures")
    parser.add_argument("--workers", type=int, default=None, help="local worker processes")
    parser.add_argument("--scheduler", default=None, help="address of a Dask scheduler to run the points on")
    parser.add_argument("--networks", type=int, default=3, help="network realisations per point")
    parser.add_argument("--learning-networks", type=int, default=8, help="teacher/student pairs per learning point")
    parser.add_argument("--only", choices=("lyapunov", "critical", "learning"), default=None, help="run one part only")
    parser.add_argument(
        "--large", action="store_true", help="also simulate N = 5000 networks (2 per point, about 25 min on 2 cores)"
    )
    parser.add_argument("--quick", action="store_true", help="part 1 only, 2 amplitudes, short runs, N = 200")
    args = parser.parse_args()
    figs = Path(args.figures)
    figs.mkdir(parents=True, exist_ok=True)
    if args.quick:
        args.out, args.only, args.large = str(Path(args.out) / "quick"), "lyapunov", False
    if args.scheduler is None:
        common = dict(out_dir=args.out, n_workers=1 if args.quick and args.workers is None else args.workers)
    else:  # any concurrent.futures.Executor works here, e.g. mpi4py.futures.MPIPoolExecutor()
        from dask.distributed import Client

        common = dict(out_dir=args.out, executor=Client(args.scheduler).get_executor())
    if args.only in (None, "lyapunov"):
        lyapunov_figures(args, figs, common)
    if args.only in (None, "critical"):
        critical_figures(figs, common)
    if args.only in (None, "learning"):
        learning_figure(args, figs, common)


def lyapunov_figures(args, figs, common):

    if args.quick:
        res = lyapunov_vs_amplitude(
            [0.0, 10.0],
            f=0.2,
            N=200,
            n_networks=1,
            theory_options=dict(t_transient=5.0, t_measure=5.0, n_phases=4),
            network_options=dict(duration=20.0, t_transient=5.0),
            **common,
        )
        plot_lyapunov_vs_amplitude(res).savefig(figs / "balanced_lyapunov_vs_I1_quick.png", dpi=120)
        return
    # 1a. theory and networks at N = 1000
    I1 = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 10.0, 20.0, 30.0, 40.0])
    res = lyapunov_vs_amplitude(
        I1, f=0.2, N=1000, n_networks=args.networks, network_options=dict(duration=200.0, t_transient=50.0), **common
    )
    plot_lyapunov_vs_amplitude(res, xscale="symlog").savefig(figs / "balanced_lyapunov_vs_I1_N1000.png", dpi=120)
    if args.large:  # 1b. networks at N = 5000
        res = lyapunov_vs_amplitude(
            [0.0, 3.0, 6.0, 40.0, 70.0],
            f=0.2,
            N=5000,
            n_networks=2,
            network_options=dict(duration=100.0, t_transient=20.0),
            **common,
        )
        plot_lyapunov_vs_amplitude(res, xscale="symlog").savefig(figs / "balanced_lyapunov_vs_I1_N5000.png", dpi=120)
    # 1c. theory alone at N = 5000 (20 points per input kind)
    I1 = np.concatenate([np.linspace(0.0, 9.0, 10), np.linspace(10.0, 100.0, 10)])
    res = lyapunov_vs_amplitude(I1, f=0.2, N=5000, **common)
    fig = plot_lyapunov_vs_amplitude(res, xscale="symlog")
    fig.savefig(figs / "balanced_lyapunov_vs_I1_N5000_theory.png", dpi=120)
    for kind, lam in res["theory"].items():
        print(kind, "N=5000 theory lambda_1:", np.round(lam.magnitude, 4).tolist())


def critical_figures(figs, common):
    # 2. I1_crit against N
    opts = dict(n_phases=8, t_transient=30.0, t_measure=30.0)
    res = critical_amplitude_sweep("N", [500, 1000, 2000, 4000, 8000], f=0.2, theory_options=opts, **common)
    plot_critical_amplitude(res).savefig(figs / "balanced_I1crit_vs_N.png", dpi=120)
    print("I1_crit vs N:", {k: np.round(v, 3).tolist() for k, v in res["I1_crit"].items()})

    # 3. I1_crit against f and g (quasi-static limit for comparison)
    opts = dict(n_phases=8, t_transient=40.0, t_measure=50.0)
    res = critical_amplitude_sweep("f", [0.02, 0.05, 0.1, 0.2, 0.5, 1.0], N=5000, theory_options=opts, **common)
    plot_critical_amplitude(res).savefig(figs / "balanced_I1crit_vs_f.png", dpi=120)
    print(
        "I1_crit vs f:",
        {k: np.round(v, 3).tolist() for k, v in res["I1_crit"].items()},
        "quasi-static:",
        {k: np.round(v, 3).tolist() for k, v in res["quasi_static"].items()},
    )
    res = critical_amplitude_sweep("g", [1.6, 2.0, 2.5, 3.0], f=0.02, N=5000, theory_options=opts, **common)
    plot_critical_amplitude(res).savefig(figs / "balanced_I1crit_vs_g.png", dpi=120)
    print(
        "I1_crit vs g:",
        {k: np.round(v, 3).tolist() for k, v in res["I1_crit"].items()},
        "quasi-static:",
        {k: np.round(v, 3).tolist() for k, v in res["quasi_static"].items()},
    )


def learning_figure(args, figs, common):
    # 4. learning (N = 500 as in the paper's Fig 7), with the DMFT's I1_crit for the same N
    crit = critical_amplitude_sweep(
        "N", [500], f=0.2, theory_options=dict(n_phases=8, t_transient=30.0, t_measure=30.0), **common
    )
    I1_crit = {k: float(v[0]) for k, v in crit["I1_crit"].items()}
    I1 = [0.0, 2.0, 4.0, 6.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 50.0]
    res = learning_vs_amplitude(
        I1, n_networks=args.learning_networks, N=500, g=2.0, f=0.2, J0=1.0, I0=1.0, t_train_max=300.0, **common
    )
    plot_learning(res, I1_crit=I1_crit).savefig(figs / "balanced_learning.png", dpi=120)
    print("I1_crit (DMFT, N = 500):", I1_crit)
    for kind in res["test_error"]:
        print(kind, "median test error:", np.round(np.median(res["test_error"][kind], axis=1), 4).tolist())
        print(kind, "fraction below 1e-2:", np.mean(res["test_error"][kind] < 1e-2, axis=1).round(2).tolist())
        print(
            kind,
            "median teacher lambda_1:",
            np.round(np.median(res["teacher_lambda1"][kind].magnitude, axis=1), 4).tolist(),
        )


if __name__ == "__main__":
    main()
