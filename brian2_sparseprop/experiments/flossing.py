"""The gradient-flossing experiment: delayed XOR (or copy) with and without flossing, over delays and seeds.

Run ``sparseprop-floss`` (or ``python -m brian2_sparseprop.experiments.flossing``); :func:`main` trains
and records, :func:`plot_flossing_experiment` draws a record. Needs JAX (``pip install
'brian2_sparseprop[jax]'``).
"""

import dataclasses
import json
import sys
import time

import numpy as np
from matplotlib.figure import Figure

from ..rate.flossing import _MODELS, FlossingSettings, init_params, train
from ._cli import parser_and_mode

try:
    import jax
except ImportError as exc:  # the rest of the package works without JAX
    raise ImportError("brian2_sparseprop.experiments.flossing needs JAX: pip install 'brian2_sparseprop[jax]'") from exc

__all__ = ["plot_flossing_experiment", "main"]


# The configuration of the reference code's README example (Engelken 2023), in this module's terms: a tanh
# RNN of 80 units, 75 of 80 exponents flossed (mean-square toward 0) on trajectories of 55 steps (16 uncounted),
# 50 flossing steps before training and 50 at each of the first two multiples of 10 training steps (Adam at
# 1e-3, its moments carried from phase to phase), then 3001 training steps on batches of 16 sequences of 300
# steps (Adam at 1e-3 after clipping the gradient norm to 0.03). Its delay d is our shorter lag: its XOR of
# the inputs d and 2d steps back is our --delays 2d, and its bits enter as 0 and 1.
PRESETS = {
    "paper": {
        "N": 80,
        "k": 75,
        "seq_len": 300,
        "batch_size": 16,
        "train_steps": 3001,
        "lr": 1e-3,
        "clip_norm": 0.03,
        "floss_steps": 50,
        "floss_horizon": 39,
        "floss_washout": 16,
        "floss_interval": 10,
        "floss_steps_during": 50,
        "floss_phases": 2,
        "floss_lr": 1e-3,
        "input_levels": [0.0, 1.0],
        "seeds": 4,
        "delays": [40, 60, 80, 100, 120, 140],
    }
}


def _parse(argv):
    p, quick = parser_and_mode(
        argv,
        prog="sparseprop-floss",
        description="Delayed-XOR training of a recurrent network with and without gradient "
        "flossing, over several delays and seeds; saves a figure and a JSON record.",
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="a named configuration (its values become the defaults; options given explicitly win): 'paper' is "
        "the reference code's README example (N = 80, 75 exponents, sequences of 300, 3001 steps of batch 16, "
        "flossing before and twice during training)",
    )
    p.add_argument("--model", choices=_MODELS, default="rnn", help="recurrent network")
    p.add_argument("--N", type=int, default=20 if quick else 80, help="units")
    p.add_argument("--g", type=float, default=1.0, help="initial gain of the recurrent weights")
    p.add_argument(
        "--delays",
        type=int,
        nargs="+",
        default=[5, 10] if quick else [10, 15, 20, 25, 30, 40],
        help="task delays d; the XOR lags are (d // 2, d)",
    )
    p.add_argument("--task", choices=("xor", "copy"), default="xor", help="delayed XOR or delayed copy")
    p.add_argument(
        "--input-levels",
        type=float,
        nargs=2,
        default=[-1.0, 1.0],
        metavar=("BIT0", "BIT1"),
        help="input values of the bits 0 and 1 (the reference code uses 0 1)",
    )
    p.add_argument("--seeds", type=int, default=1 if quick else 5, help="seeds (initial networks) per delay")
    p.add_argument("--train-steps", type=int, default=40 if quick else 2000, help="training steps")
    p.add_argument("--batch-size", type=int, default=8 if quick else 32, help="trials per training step")
    p.add_argument("--seq-len", type=int, default=None, help="steps per training sequence (None: 2 d + 20)")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate of training (Adam)")
    p.add_argument("--clip-norm", type=float, default=1.0, help="global norm the training gradient is clipped to")
    p.add_argument("--k", type=int, default=4 if quick else 8, help="exponents flossed")
    p.add_argument("--floss-steps", type=int, default=10 if quick else 200, help="flossing steps before training")
    p.add_argument("--floss-horizon", type=int, default=20 if quick else 100, help="steps of each flossing trajectory")
    p.add_argument("--floss-washout", type=int, default=10 if quick else 50, help="steps before the exponents count")
    p.add_argument(
        "--floss-interval", type=int, default=0, help="training steps between flossing phases (0: only before training)"
    )
    p.add_argument("--floss-steps-during", type=int, default=10, help="flossing steps in each phase during training")
    p.add_argument(
        "--floss-phases", type=int, default=None, help="flossing phases during training (None: to the end of training)"
    )
    p.add_argument("--floss-lr", type=float, default=3e-3, help="learning rate of flossing")
    p.add_argument(
        "--floss-lr-during",
        type=float,
        default=None,
        help="learning rate of the flossing steps during training (None: --floss-lr)",
    )
    p.add_argument("--success", type=float, default=0.9, help="final test accuracy counted as success (chance is 0.5)")
    p.add_argument(
        "--output",
        default="flossing_experiment",
        help="output prefix (relative to the current directory): writes PREFIX.png and PREFIX.json, whose "
        "runs are kept",
    )
    preset = p.parse_known_args(argv)[0].preset
    if preset is not None:
        p.set_defaults(**PRESETS[preset])
    return p.parse_args(argv)


def _resumed(path, settings):
    """The finished runs of an earlier record at ``path`` with the same ``settings`` (``{"runs": ...}``, empty
    if there is no record); SystemExit naming the settings that differ otherwise."""
    try:
        with open(path) as fh:
            old = json.load(fh)
    except FileNotFoundError:
        return {"runs": {"plain": {}, "flossing": {}}}
    differ = sorted(k for k in settings if old.get(k) != settings[k])
    if differ:
        shown = ", ".join(f"{k}: {old.get(k)!r} there, {settings[k]!r} now" for k in differ)
        raise SystemExit(f"{path} holds runs with other settings ({shown}): choose another --output")
    return {"runs": old["runs"]}


def _lags(task, d):
    return (d,) if task == "copy" else (d // 2, d)


def plot_flossing_experiment(record):
    """Success rate and final test accuracies against the delay, with and without flossing.

    Parameters
    ----------
    record : dict
        The record written by :func:`main` (``PREFIX.json``): ``delays``, ``success``, ``task``, ``model``,
        ``N``, ``train_steps``, ``seeds``, ``flossing`` (the settings) and ``runs[condition][str(delay)]``,
        a list of runs with their ``final_accuracy``, for the conditions ``'plain'`` and ``'flossing'``.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels; save it with ``fig.savefig(path)``.

    Examples
    --------
    >>> runs = {c: {"10": [{"final_accuracy": a} for a in acc]}
    ...         for c, acc in (("plain", [0.5, 0.6]), ("flossing", [1.0, 0.95]))}
    >>> record = dict(delays=[10], success=0.9, task="xor", model="rnn", N=80, train_steps=2000, seeds=2,
    ...               flossing={"interval": 0}, runs=runs)
    >>> fig = plot_flossing_experiment(record)
    >>> [line.get_ydata().tolist() for line in fig.axes[0].get_lines()]  # success rates, plain and flossing
    [[0.0], [1.0]]
    """
    delays = record["delays"]
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for cond, color in (("plain", "C0"), ("flossing", "C1")):
        acc = np.array([[r["final_accuracy"] for r in record["runs"][cond][str(d)]] for d in delays])
        succ = (acc >= record["success"]).mean(axis=1)
        ax1.plot(delays, succ, "o-", color=color, label=cond)
        for j, d in enumerate(delays):
            ax2.plot(
                np.full(acc.shape[1], d) + (-0.6 if cond == "plain" else 0.6),
                acc[j],
                ".",
                color=color,
                label=cond if j == 0 else None,
            )
    ax1.set(
        xlabel="delay d (steps)",
        ylabel=f"success rate (accuracy >= {record['success']})",
        ylim=(-0.05, 1.05),
        title=(
            f"delayed {record['task'].upper() if record['task'] == 'xor' else 'copy'}, "
            f"{record['model']} N = {record['N']}, {record['train_steps']} Adam steps"
        ),
    )
    ax1.legend(
        title="flossing before training"
        if not record["flossing"]["interval"]
        else f"flossing before and every {record['flossing']['interval']} steps"
        + (
            f" ({record['flossing']['phases_during']} times)"
            if record["flossing"].get("phases_during") is not None
            else ""
        )
    )
    ax2.axhline(0.5, color="0.6", lw=0.8)
    ax2.set(xlabel="delay d (steps)", ylabel="final test accuracy", title=f"{record['seeds']} seeds per point")
    ax2.legend()
    return fig


def main(argv=None):
    """Run the flossing experiment (console script ``sparseprop-floss``).

    For every delay ``d`` and seed, the same initial network is trained on the delayed XOR (lags
    ``(d // 2, d)``) or delayed copy task with and without flossing before training; the final test
    accuracies, success rates and exponents before/after flossing are printed and written to
    ``PREFIX.json``, the success rate against delay to ``PREFIX.png``. The JSON is rewritten after
    every run, so an interrupted experiment keeps its finished runs, and the same command run again
    goes on where it stopped (the runs of ``PREFIX.json`` with the same settings are kept; more delays or
    seeds add runs to them).

    Parameters
    ----------
    argv : list of str or None
        Command-line arguments (None: ``sys.argv[1:]``); see ``sparseprop-floss --help``.

    Returns
    -------
    int
        Exit status (0).
    """
    a = _parse(argv)
    for name in ("N", "seeds", "train_steps", "k", "floss_steps", "floss_horizon"):
        if getattr(a, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 1, found: {getattr(a, name)}")
    settings = FlossingSettings(
        k=a.k,
        horizon=a.floss_horizon,
        washout=a.floss_washout,
        steps_before=a.floss_steps,
        interval=a.floss_interval,
        steps_during=a.floss_steps_during,
        phases_during=a.floss_phases,
        lr=a.floss_lr,
        lr_during=a.floss_lr_during,
    )
    record = {
        "model": a.model,
        "N": a.N,
        "g": a.g,
        "task": a.task,
        "input_levels": a.input_levels,
        "train_steps": a.train_steps,
        "batch_size": a.batch_size,
        "seq_len": a.seq_len,
        "lr": a.lr,
        "clip_norm": a.clip_norm,
        "flossing": dataclasses.asdict(settings),
    }
    record.update(_resumed(a.output + ".json", record))
    record["delays"], record["seeds"], record["success"] = a.delays, a.seeds, a.success
    t_start = time.perf_counter()
    try:
        for d in a.delays:
            for cond in ("plain", "flossing"):
                record["runs"][cond].setdefault(str(d), [])
            for seed in range(a.seeds):
                k_init, k_train = jax.random.split(jax.random.key(seed))
                p0 = init_params(a.model, a.N, g=a.g, key=k_init)
                for cond in ("plain", "flossing"):
                    runs = record["runs"][cond][str(d)]
                    if any(r["seed"] == seed for r in runs):
                        continue
                    t0 = time.perf_counter()
                    res = train(
                        p0,
                        model=a.model,
                        lags=_lags(a.task, d),
                        n_steps=a.train_steps,
                        batch_size=a.batch_size,
                        seq_len=a.seq_len,
                        lr=a.lr,
                        clip_norm=a.clip_norm,
                        flossing=settings if cond == "flossing" else None,
                        eval_every=max(1, a.train_steps // 20),
                        levels=tuple(a.input_levels),
                        key=k_train,
                    )
                    if res.interrupted:  # train() keeps its partial metrics; the run is unfinished
                        raise KeyboardInterrupt
                    run = {
                        "seed": seed,
                        "final_accuracy": res.final_accuracy,
                        "best_accuracy": float(res.test_accuracy.max()),
                        "final_loss": float(res.test_loss[-1]),
                        "lambda_max_before": (float(res.exponents_before[0]) if res.exponents_before.size else None),
                        "lambda_max_after": (
                            float(res.exponents_after_flossing[0]) if res.exponents_after_flossing.size else None
                        ),
                        "seconds": time.perf_counter() - t0,
                    }
                    runs.append(run)
                    runs.sort(key=lambda r: r["seed"])
                    print(
                        f"d={d:3d} seed={seed} {cond:8s} acc={run['final_accuracy']:.3f} "
                        f"loss={run['final_loss']:.3f} lambda1 {run['lambda_max_before']} -> "
                        f"{run['lambda_max_after']} ({run['seconds']:.1f} s)",
                        flush=True,
                    )
                    with open(a.output + ".json", "w") as fh:
                        json.dump(record, fh, indent=1)
    except KeyboardInterrupt:
        print("interrupted; keeping the finished runs (run the same command again to go on)", file=sys.stderr)
    complete = [
        d
        for d in sorted(set(a.delays))
        if all(
            {r["seed"] for r in record["runs"][c].get(str(d), [])} >= set(range(a.seeds)) for c in ("plain", "flossing")
        )
    ]
    record["delays"] = complete  # summarised and drawn; the record keeps every finished run
    record["seconds_total"] = time.perf_counter() - t_start
    with open(a.output + ".json", "w") as fh:
        json.dump(record, fh, indent=1)
    asked = {
        c: {str(d): [r for r in record["runs"][c][str(d)] if r["seed"] < a.seeds] for d in complete}
        for c in record["runs"]
    }
    record = dict(record, runs=asked)
    print("delay  success(plain)  success(flossing)")
    for d in record["delays"]:
        s = [
            np.mean([r["final_accuracy"] >= a.success for r in record["runs"][c][str(d)]])
            for c in ("plain", "flossing")
        ]
        print(f"{d:5d}  {s[0]:14.2f}  {s[1]:17.2f}")
    print(f"total {record['seconds_total']:.0f} s")
    if record["delays"]:
        plot_flossing_experiment(record).savefig(a.output + ".png", dpi=120)
        print(f"figure: {a.output}.png, record: {a.output}.json")
    return 0


if __name__ == "__main__":
    main()
