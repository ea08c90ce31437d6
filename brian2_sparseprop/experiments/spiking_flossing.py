"""Delayed cue recall by a recurrent LIF network, trained with and without spiking gradient flossing.

Run ``sparseprop-spiking-floss`` (a quick run of under a minute) or ``sparseprop-spiking-floss --preset
full`` (the documented configuration); :func:`main` trains and records, :func:`plot_spiking_flossing`
draws the record. Needs JAX and optax (``pip install 'brian2_sparseprop[jax]'``).

The task: a network of N inhibitory LIF neurons with drives above threshold (every neuron fires on its
own; delta pulses, no delays) receives, in each trial, inhibitory kicks from ``noise`` input sources at
random times in [0, t_cue) (they set a random state), then a cue at t_cue: one of two input sources,
chosen by the sample's label c, which kicks read-out neuron c and its own random half of the other neurons.
At ``t_read = t_cue + D`` the two read-out neurons (0 and 1) are compared by their phases, ``(t_read -
t_before) / (t_after - t_before)`` from their last spike before and first spike after ``t_read``: the
answer is right if the label's neuron is behind the other by less than half a cycle. The loss pulls that
lag, ``(phase of the other - phase of the label's) mod 1``, to a quarter cycle (squared error): a target
away from the wrap of the lag at 0 and 1 (the two neurons in phase), where a spike pushed across
``t_read`` makes the phase jump (a loss on the first spike after ``t_read`` alone, such as a
cross-entropy of latencies, pushes spikes across it).
The recurrent weights, the drives and the cue's input weights (kept <= 0) are trained; the noise
synapses are frozen (the noise cannot be learnt away). The memory of the cue has to survive D ms of
autonomous dynamics, whose perturbations decay at the rates given by the Lyapunov exponents (inhibitory
LIF networks: one exponent 0, the others negative); flossing pushes the first k exponents toward 0 (before
training, and every few epochs during training, on the autonomous
network: `train_with_flossing`).

Every run (delay, seed, condition) writes its result to ``OUT/runs/`` when it finishes and is skipped on a
restart; an interrupted run resumes from its training checkpoint in ``OUT/checkpoints/``.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..connectivity import fixed_out_degree
from ._cli import add_quick

try:
    import jax.numpy as jnp
    import optax
except ImportError as exc:  # the rest of the package works without JAX
    raise ImportError(
        "brian2_sparseprop.experiments.spiking_flossing needs JAX: pip install 'brian2_sparseprop[jax]'"
    ) from exc

__all__ = ["PRESETS", "cue_recall_task", "plot_spiking_flossing", "main"]

#: the named configurations; ``quick`` is the default
PRESETS = {
    "quick": dict(
        N=20, K=5, delays=[20.0, 60.0], seeds=1, epochs=3, n_train=32, n_test=32, batch_size=16, k=3,
        floss_before=20, floss_interval=2, floss_during=5,
    ),
    "full": dict(
        N=40, K=8, delays=[50.0, 100.0, 200.0, 400.0], seeds=10, epochs=30, n_train=128, n_test=128,
        batch_size=32, k=8, floss_before=150, floss_interval=5, floss_during=20,
    ),
}  # fmt: skip


def _parse(argv):
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    preset = pre.parse_known_args(sys.argv[1:] if argv is None else argv)[0].preset
    d = PRESETS[preset]
    p = argparse.ArgumentParser(
        prog="sparseprop-spiking-floss",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Delayed cue recall by a recurrent LIF network trained with and without spiking gradient "
        "flossing, over delays and seeds; prints success rates, writes a figure and per-run JSON files "
        "(resumable).",
    )
    add_quick(p)
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="quick",
        help="named configuration (its values are the defaults below)",
    )
    p.add_argument("--N", type=int, default=d["N"], help="neurons")
    p.add_argument("--K", type=int, default=d["K"], help="out-degree of the recurrent connectivity")
    p.add_argument("--delays", type=float, nargs="+", default=d["delays"], help="delays D (ms) between cue and readout")
    p.add_argument("--seeds", type=int, default=d["seeds"], help="seeds (initial networks) per delay")
    p.add_argument("--epochs", type=int, default=d["epochs"], help="training epochs")
    p.add_argument("--n-train", type=int, default=d["n_train"], help="training samples")
    p.add_argument("--n-test", type=int, default=d["n_test"], help="test samples")
    p.add_argument("--batch-size", type=int, default=d["batch_size"], help="samples per minibatch")
    p.add_argument("--lr", type=float, default=3e-3, help="learning rate of training (Adam)")
    p.add_argument("--k", type=int, default=d["k"], help="exponents flossed")
    p.add_argument("--target", type=float, default=0.0, help="target of the flossed exponents (1/s)")
    p.add_argument("--floss-before", type=int, default=d["floss_before"], help="flossing steps before training")
    p.add_argument(
        "--floss-interval", type=int, default=d["floss_interval"], help="epochs between flossing phases (0: none)"
    )
    p.add_argument(
        "--floss-during", type=int, default=d["floss_during"], help="flossing steps per phase during training"
    )
    p.add_argument("--floss-lr", type=float, default=1e-2, help="learning rate of flossing (Adam, clipped at norm 1)")
    p.add_argument("--floss-window", type=float, default=0.2, help="window of a flossing step (s)")
    p.add_argument("--success", type=float, default=0.8, help="test accuracy counted as success (chance: 0.5)")
    p.add_argument(
        "--out", default="spiking_flossing", help="output directory (runs/, checkpoints/, the record and the figure)"
    )
    return p.parse_args(argv), preset  # fmt: skip


def cue_recall_task(n, k_out, delay, *, seed, n_train, n_test, noise=10, t_cue=0.01, window=0.03):
    """The network, data and loss of the delayed cue recall task (see the module's docstring).

    Parameters
    ----------
    n, k_out : int
        Neurons and out-degree (neurons 0 and 1 are read out).
    delay : float
        D (s) between the cue and the start of the readout window.
    seed : int
        The network (weights, drives, input synapses) depends on ``seed`` only; the data on
        ``(seed, delay)``.
    n_train, n_test : int
        Samples.
    noise : int
        Noise input sources (each kicks 4 random neurons by -0.3 at a random time in [0, t_cue)).
    t_cue, window : float
        Time of the cue (s) and length of the readout window after ``t_cue + D`` (s).

    Returns
    -------
    dict
        ``model`` (TrainableNetwork), ``params`` (initial weights and drives), ``train`` and ``test``
        (``(input_times, labels)``), ``loss`` and ``accuracy(first_spikes, labels)``.

    Examples
    --------
    >>> task = cue_recall_task(20, 5, 0.05, seed=0, n_train=8, n_test=8)
    >>> task["model"].n, task["model"].n_inputs, task["train"][0].shape
    (20, 12, (8, 12))
    """
    from ..spiking.training import TrainableNetwork

    rng = np.random.default_rng([seed, 1])
    indptr, indices = fixed_out_degree(n, k_out, rng)
    weights = -rng.uniform(0.05, 0.3, indices.size)
    drive = rng.uniform(1.1, 1.5, n)
    # inputs: noise sources onto 4 random neurons each, then two cue sources onto disjoint random halves
    halves = np.array_split(2 + rng.permutation(n - 2), 2)
    rows = [np.sort(rng.choice(n, 4, replace=False)) for _ in range(noise)]
    rows += [np.sort(np.append(h, c)) for c, h in enumerate(halves)]  # cue c kicks read-out neuron c too
    in_indptr = np.concatenate([[0], np.cumsum([r.size for r in rows])])
    in_indices = np.concatenate(rows)
    in_weights = np.concatenate([np.full(4 * noise, -0.3), np.full(in_indices.size - 4 * noise, -0.5)])
    t_read = t_cue + delay
    duration = t_read + window
    model = TrainableNetwork(
        n, indptr, indices, n_inputs=noise + 2, input_indptr=in_indptr, input_indices=in_indices,
        readout=[0, 1], duration=duration, n_first=int(np.ceil(duration * 150)) + 1, tau=0.01, drive=drive,
        threshold=1.0, reset=0.0, weights=weights, input_weights=in_weights,
        trained=["weights", "drive", "input_weights"],
    )  # fmt: skip

    def data(m, part):
        r = np.random.default_rng([seed, int(round(delay * 1e6)), part])
        labels = r.integers(0, 2, m)
        times = np.full((m, noise + 2), np.inf)
        times[:, :noise] = r.uniform(0, t_cue, (m, noise))
        times[np.arange(m), noise + labels] = t_cue
        return times, labels

    def phases(first_spikes):
        """The phase in [0, 1) of each read-out neuron at t_read: (t_read - last spike before) / (interval
        between that spike and the first one after); a missing spike before counts as one at 0."""
        before = jnp.where(first_spikes <= t_read, first_spikes, 0.0).max(axis=2)
        after = jnp.where(first_spikes > t_read, first_spikes, duration).min(axis=2)
        return (t_read - before) / (after - before)

    def lag(first_spikes, labels):
        """How far the label's read-out neuron (the one the cue kicked) is behind the other, in cycles:
        (phase of the other - phase of the label's) mod 1, in [0, 1)."""
        phi = phases(first_spikes)
        lab = jnp.asarray(labels)
        mine = jnp.take_along_axis(phi, lab[:, None], axis=1)[:, 0]
        other = jnp.take_along_axis(phi, 1 - lab[:, None], axis=1)[:, 0]
        return jnp.mod(other - mine, 1.0)

    def loss(first_spikes, labels):
        # the label's neuron a quarter cycle behind the other: a target away from the wrap of the lag at
        # 0 and 1 (the two neurons in phase), where a pushed spike would make it jump
        return jnp.mean((lag(first_spikes, labels) - 0.25) ** 2)

    def accuracy(first_spikes, labels):
        lg = np.asarray(lag(jnp.asarray(first_spikes), labels))
        return float(np.mean((lg > 0) & (lg < 0.5)))

    return dict(
        model=model,
        params={"weights": weights, "drive": drive, "input_weights": in_weights},
        n_noise_synapses=4 * noise,
        train=data(n_train, 0),
        test=data(n_test, 1),
        loss=loss,
        accuracy=accuracy,
    )


def _cue_weights_only(n_noise):
    """An optax transformation that freezes the noise synapses (the first ``n_noise`` input weights) and
    keeps the cue's weights <= 0 (inhibitory: a cue pulse cannot trigger a spike)."""

    def update(updates, state, params=None):
        u = jnp.asarray(updates["input_weights"]).at[:n_noise].set(0.0)
        u = jnp.minimum(u, -jnp.asarray(params["input_weights"]))
        return {**updates, "input_weights": u}, state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def _exponents(model, params, k, seed):
    """The first k exponents (1/s) of the autonomous network (lyapunov_spectrum, 3 s after 1 s)."""
    from ..spiking.flossing_training import flossing_network
    from ..spiking.lyapunov import lyapunov_spectrum

    net = flossing_network(model, params, seed=[seed, 7])
    net.run(0.5)
    return lyapunov_spectrum(net, 3.0, k=k, t_warmup_tangent=1.0, seed=seed).exponents.magnitude.tolist()


def run_one(a, delay_ms, seed, cond, out):
    """Train one network (one delay, seed and condition) and return its record."""
    from ..spiking.flossing_training import FlossingSchedule, keep_flossable, train_with_flossing

    t0 = time.perf_counter()
    task = cue_recall_task(a.N, a.K, delay_ms * 1e-3, seed=seed, n_train=a.n_train, n_test=a.n_test)
    model = task["model"]
    steps = (a.floss_before, a.floss_during) if cond == "flossing" else (0, 0)
    schedule = FlossingSchedule(
        k=a.k, target=a.target, steps_before=steps[0], interval=a.floss_interval, steps_during=steps[1],
        duration=a.floss_window, seed=seed,
        optimizer=optax.chain(optax.clip_by_global_norm(1.0), optax.adam(a.floss_lr)),
    )  # fmt: skip
    opt = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adam(a.lr),
        keep_flossable(model, margin=0.02),
        _cue_weights_only(task["n_noise_synapses"]),
    )
    acc0 = task["accuracy"](model.first_spikes(task["params"], task["test"][0]), task["test"][1])
    ckpt = out / "checkpoints" / f"d{delay_ms:g}_s{seed}_{cond}.pkl"
    run = train_with_flossing(
        model, task["params"], *task["train"], task["loss"], opt, epochs=a.epochs, batch_size=a.batch_size,
        flossing=schedule, seed=seed, checkpoint=ckpt,
    )  # fmt: skip
    acc = task["accuracy"](model.first_spikes(run.params, task["test"][0]), task["test"][1])
    acc_train = task["accuracy"](model.first_spikes(run.params, task["train"][0]), task["train"][1])
    return dict(
        delay_ms=delay_ms,
        seed=seed,
        condition=cond,
        test_accuracy=acc,
        train_accuracy=acc_train,
        initial_test_accuracy=acc0,
        loss=run.history["loss"],
        flossing=run.history["flossing"],
        exponents_initial=_exponents(model, task["params"], a.k, seed),
        exponents_trained=_exponents(model, run.params, a.k, seed),
        mean_weight=float(np.mean(run.params["weights"])),
        mean_drive=float(np.mean(run.params["drive"])),
        seconds=time.perf_counter() - t0,
    )


def plot_spiking_flossing(record):
    """Success rate and test accuracies against the delay, with and without flossing.

    Parameters
    ----------
    record : dict
        As `main` writes it (``OUT/record.json``): ``delays``, ``success``, ``settings`` and ``runs``, a
        list of run records with ``delay_ms``, ``condition`` (``'plain'`` or ``'flossing'``) and
        ``test_accuracy``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> runs = [dict(delay_ms=50.0, condition=c, test_accuracy=x) for c, x in
    ...         (("plain", 0.5), ("plain", 0.9), ("flossing", 0.95), ("flossing", 0.85))]
    >>> fig = plot_spiking_flossing(dict(delays=[50.0], success=0.8, settings={}, runs=runs))
    >>> [line.get_ydata().tolist() for line in fig.axes[0].get_lines()]
    [[0.5], [1.0]]
    """
    delays = record["delays"]
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for cond, color, dx in (("plain", "C0", -0.04), ("flossing", "C1", 0.04)):
        succ, counts = [], []
        for j, d in enumerate(delays):
            acc = [r["test_accuracy"] for r in record["runs"] if r["delay_ms"] == d and r["condition"] == cond]
            succ.append(float(np.mean(np.array(acc) >= record["success"])) if acc else np.nan)
            counts.append(len(acc))
            ax2.plot(
                np.full(len(acc), d) * (1 + dx), acc, "o", ms=4, alpha=0.7, color=color, label=cond if j == 0 else None
            )
        label = (
            f"{cond} ({min(counts)}-{max(counts)} seeds)"
            if min(counts) != max(counts)
            else f"{cond} ({counts[0]} seeds)"
        )
        ax1.plot(delays, succ, "o-", color=color, label=label)
    s = record["settings"]
    ax1.set(
        xscale="log", xlabel="delay D (ms)", ylabel=f"success rate (test accuracy >= {record['success']})",
        ylim=(-0.05, 1.05),
        title=f"delayed cue recall, LIF N = {s.get('N', '?')}, {s.get('epochs', '?')} epochs",
    )  # fmt: skip
    ax1.legend()
    ax2.axhline(0.5, color="0.6", lw=0.8)
    ax2.axhline(record["success"], color="0.6", lw=0.8, ls="--")
    ax2.set(xscale="log", xlabel="delay D (ms)", ylabel="test accuracy", ylim=(-0.02, 1.02), title="every run")
    ax2.legend()
    for ax in (ax1, ax2):
        ax.set_xticks(delays, [f"{d:g}" for d in delays])
        ax.minorticks_off()
    return fig


def main(argv=None):
    """Run the experiment (console script ``sparseprop-spiking-floss``): train, print the table, save the figure.

    Parameters
    ----------
    argv : list of str or None
        Command-line arguments (None: ``sys.argv[1:]``); see ``sparseprop-spiking-floss --help``.

    Returns
    -------
    int
        Exit status (0).
    """
    a, preset = _parse(argv)
    for name in ("N", "K", "seeds", "epochs", "n_train", "n_test", "batch_size", "k"):
        if getattr(a, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 1, found: {getattr(a, name)}")
    if a.k > a.N or a.K >= a.N:
        raise SystemExit(f"--k and --K must be <= --N - 1, found k={a.k}, K={a.K}, N={a.N}")
    out = Path(a.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    (out / "checkpoints").mkdir(exist_ok=True)
    settings = {k: v for k, v in vars(a).items() if k not in ("out", "quick")}
    settings["preset"] = preset
    per_run = {k: v for k, v in settings.items() if k not in ("delays", "seeds", "preset", "success")}
    runs = []
    t_start = time.perf_counter()
    for seed in range(a.seeds):  # seeds outer: a run stopped early has every delay for its first seeds
        for d in a.delays:
            for cond in ("plain", "flossing"):
                path = out / "runs" / f"d{d:g}_s{seed}_{cond}.json"
                if path.exists():
                    with open(path) as f:
                        rec = json.load(f)
                    if rec.get("settings") != per_run:
                        raise SystemExit(f"{path} was written with other settings: give another --out")
                    runs.append(rec["result"])
                    continue
                res = run_one(a, d, seed, cond, out)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(dict(settings=per_run, result=res), indent=1))
                tmp.replace(path)
                runs.append(res)
                print(
                    f"D={d:g} ms seed={seed} {cond:8s} test accuracy {res['initial_test_accuracy']:.2f} -> "
                    f"{res['test_accuracy']:.2f} (train {res['train_accuracy']:.2f}), lambda_2 "
                    f"{res['exponents_initial'][1]:.2f} -> {res['exponents_trained'][1]:.2f} /s "
                    f"({res['seconds']:.0f} s)",
                    flush=True,
                )
    record = dict(delays=a.delays, success=a.success, settings=settings, runs=runs)
    (out / "record.json").write_text(json.dumps(record, indent=1))
    print(f"\nsuccess rate (test accuracy >= {a.success}) over {a.seeds} seeds; mean test accuracy")
    print("delay (ms)  plain  flossing  | acc plain  acc flossing")
    for d in a.delays:
        acc = {
            c: [r["test_accuracy"] for r in runs if r["delay_ms"] == d and r["condition"] == c]
            for c in ("plain", "flossing")
        }
        s = {c: np.mean(np.array(v) >= a.success) for c, v in acc.items()}
        m = {c: np.mean(v) for c, v in acc.items()}
        print(f"{d:10g}  {s['plain']:5.2f}  {s['flossing']:8.2f}  | {m['plain']:9.2f}  {m['flossing']:12.2f}")
    plot_spiking_flossing(record).savefig(out / "spiking_flossing.png", dpi=120)
    print(
        f"total {time.perf_counter() - t_start:.0f} s; figure {out / 'spiking_flossing.png'}, "
        f"record {out / 'record.json'}"
    )
    return 0


if __name__ == "__main__":
    main()
