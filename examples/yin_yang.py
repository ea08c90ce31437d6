"""Yin-Yang classification with exact LIF neurons
==============================================

Yin-Yang classification by a network of exact LIF neurons, trained on time-to-first-spike with exact gradients.

The Yin-Yang data set (Kriener, Goltz and Petrovici 2021; rebuilt by `brian2_sparseprop.datasets.yin_yang`)
enters as spike latencies (EventProp's encoding: 10 ms + 30 ms x for x, y, 1 - x, 1 - y, and a bias spike
at 20 ms). A hidden layer of LIF neurons with delta-pulse synapses feeds three output neurons; the class is
the output neuron that fires first, and the loss is the cross-entropy of the softmax of minus the first
spike times. Hidden and output neurons have drives above threshold, so they fire by their own drift and
the input pulses shift their crossing: their times depend smoothly on the weights, except for spikes that
a pulse causes at once (their share is printed; with delta pulses their times do not depend on the weights).
A label neuron that stays silent has no spike time to differentiate; the loss then adds its gap to
threshold at the trial's end (``--silent-weight``), whose gradient lifts it back toward firing.
Every neuron fires at most once per trial (its refractory period is the trial). Weights and drives are
trained with Adam (optax); each minibatch runs as one event-driven network of B copies.

With ``--model lif_exp`` the neurons are EventProp's: LIF with exponential synaptic currents (time constant
``--tau-syn``, 5 ms), whose spike times depend smoothly on every weight (no spike is caused by a pulse at
once); the initial weights are scaled by tau / tau_syn (a current pulse w then moves v by the same area
as a delta pulse w tau_syn / tau), and the results go to yin_yang_results/lif_exp unless ``--out`` is
given.

    python examples/yin_yang.py [--seeds 0-9] [--epochs N] [--out DIR] [--quick] [--model lif_exp]

Each seed writes DIR/yin_yang_seed<k>.json (skipped when it exists, so an interrupted sweep resumes; a
seed under way resumes from its checkpoint DIR/yin_yang_seed<k>.ckpt); then the mean +- std of the test
accuracy over the result files of the seeds asked for is printed and DIR/yin_yang.png is drawn.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np


def seed_list(text):
    """'0-9' or '0,3,5' (ranges inclusive) as a list of seeds."""
    seeds = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds.extend(range(int(lo), int(hi or lo) + 1))
    return seeds


parser = argparse.ArgumentParser(
    description=next(iter(__doc__.split("\n\n")[1:]), __doc__), formatter_class=argparse.ArgumentDefaultsHelpFormatter
)
parser.add_argument("--seeds", type=seed_list, default="0", help="seeds, e.g. 0-9 or 0,2,5")
parser.add_argument("--epochs", type=int, default=20, help="epochs over the training split")
parser.add_argument("--hidden", type=int, default=60, help="hidden neurons")
parser.add_argument("--batch-size", type=int, default=50, help="samples per minibatch")
parser.add_argument("--lr", type=float, default=0.001, help="Adam learning rate")
parser.add_argument(
    "--schedule",
    choices=("constant", "cosine"),
    default="cosine",
    help="learning rate: constant or cosine decay to 0",
)
parser.add_argument("--tau", type=float, default=0.02, help="membrane time constant (s)")
parser.add_argument(
    "--model",
    choices=("lif", "lif_exp"),
    default="lif",
    help="neuron model: LIF with delta pulses, or with exponential currents (EventProp's)",
)
parser.add_argument("--tau-syn", type=float, default=0.005, help="synaptic time constant of lif_exp (s)")
parser.add_argument("--tau-soft", type=float, default=0.002, help="softmax temperature of the first spike times (s)")
parser.add_argument(
    "--silent-weight",
    type=float,
    default=1.0,
    help="weight of the loss term that lifts a silent label neuron toward threshold (0: plain cross-entropy)",
)
parser.add_argument("--train-samples", type=int, default=5000, help="samples of the training split used")
parser.add_argument("--test-samples", type=int, default=1000, help="samples of the test (and validation) split used")
parser.add_argument("--quick", action="store_true", help="2 epochs, 300 training and 200 test samples, 20 hidden")
parser.add_argument(
    "--out",
    type=Path,
    default=None,
    help="directory of results and figure (None: yin_yang_results, or yin_yang_results/lif_exp with --model lif_exp)",
)
args = parser.parse_args()
if args.out is None:
    args.out = Path("yin_yang_results") / ("lif_exp" if args.model == "lif_exp" else "")
if args.quick:
    args.epochs, args.train_samples, args.test_samples, args.hidden = 2, 300, 200, 20

import optax  # noqa: E402

from brian2_sparseprop.datasets import latency_encode, yin_yang  # noqa: E402
from brian2_sparseprop.spiking.training import TrainableNetwork, first_spike_cross_entropy, train  # noqa: E402

N_IN, N_OUT, DURATION = 5, 3, 0.1
DRIVE_HIDDEN, DRIVE_OUT = 1.2, 1.05  # free first spikes at tau ln 6 (36 ms) and tau ln 21 (61 ms)


def build(hidden, tau):
    """Inputs -> hidden -> outputs, all-to-all between layers; neurons 0..H-1 hidden, H..H+2 outputs."""
    return TrainableNetwork.feedforward(
        (N_IN, hidden, N_OUT),
        duration=DURATION,
        tau=tau,
        refractory=DURATION,  # one spike per neuron and trial
        trained=("weights", "input_weights", "drive"),
        model=args.model,
        tau_e=args.tau_syn,
        tau_i=args.tau_syn,
    )


def initial_params(hidden, rng):
    scale = args.tau / args.tau_syn if args.model == "lif_exp" else 1.0  # the same area of the response in v
    return {
        "weights": rng.normal(0.0, 0.05 * scale, hidden * N_OUT),
        "input_weights": rng.normal(0.0, 0.1 * scale, N_IN * hidden),
        "drive": np.concatenate(
            [rng.uniform(DRIVE_HIDDEN - 0.1, DRIVE_HIDDEN + 0.1, hidden), np.full(N_OUT, DRIVE_OUT)]
        ),
    }


def learning_rate(n_samples):
    """The learning rate of Adam: constant, or a cosine decay to 0 over all the steps of the run."""
    if args.schedule == "constant":
        return args.lr
    return optax.cosine_decay_schedule(args.lr, args.epochs * -(-n_samples // args.batch_size))


def accuracy(model, params, inputs, labels, batch=500):
    first = np.concatenate([model.first_spikes(params, inputs[k : k + batch]) for k in range(0, len(inputs), batch)])
    return float((np.argmin(first[:, :, 0], axis=1) == labels).mean())


def run_seed(seed):
    path = args.out / f"yin_yang_seed{seed}.json"
    if path.exists():
        print(f"seed {seed}: {path} exists, skipped")
        return
    model = build(args.hidden, args.tau)
    x_train, y_train = yin_yang("train", n_samples=args.train_samples)
    x_val, y_val = yin_yang("validation", n_samples=args.test_samples)
    x_test, y_test = yin_yang("test", n_samples=args.test_samples)
    inputs, val_inputs, test_inputs = (latency_encode(x) for x in (x_train, x_val, x_test))
    wall = time.monotonic()
    run = train(
        model,
        initial_params(args.hidden, np.random.default_rng(seed)),
        inputs,
        y_train,
        first_spike_cross_entropy(args.tau_soft, args.silent_weight),
        optax.adam(learning_rate(args.train_samples)),
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=seed,
        checkpoint=args.out / f"yin_yang_seed{seed}.ckpt",
        validate=lambda p: accuracy(model, p, val_inputs, y_val),
        report="text",
    )
    result = dict(
        seed=seed,
        test_accuracy=accuracy(model, run.params, test_inputs, y_test),
        train_accuracy=accuracy(model, run.params, inputs, y_train),
        validation_accuracy=run.history["validation"],
        loss=run.history["loss"],
        pulse_triggered=run.history["pulse_triggered"],
        seconds=time.monotonic() - wall,
        args={k: str(v) for k, v in vars(args).items() if k != "seeds"},
    )
    path.write_text(json.dumps(result, indent=1))
    (args.out / f"yin_yang_seed{seed}.ckpt").unlink()
    print(f"seed {seed}: test accuracy {100 * result['test_accuracy']:.1f} %")


args.out.mkdir(parents=True, exist_ok=True)
for seed in args.seeds:
    run_seed(seed)
results = [json.loads((args.out / f"yin_yang_seed{s}.json").read_text()) for s in args.seeds]
acc = 100 * np.array([r["test_accuracy"] for r in results])
print(
    f"test accuracy over {acc.size} seed(s): {acc.mean():.1f} +- {acc.std(ddof=1) if acc.size > 1 else 0.0:.1f} % "
    f"(train {100 * np.mean([r['train_accuracy'] for r in results]):.1f} %; last epoch's spikes caused by a "
    f"pulse: {100 * np.mean([r['pulse_triggered'][-1] for r in results]):.0f} %)"
)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, (ax_acc, ax_pulse) = plt.subplots(1, 2, figsize=(9, 3.5))
for r in results:
    epochs = np.arange(1, len(r["validation_accuracy"]) + 1)
    ax_acc.plot(epochs, 100 * np.array(r["validation_accuracy"]), label=f"seed {r['seed']}")
    ax_pulse.plot(epochs, 100 * np.array(r["pulse_triggered"]))
title = "exponential currents" if args.model == "lif_exp" else "delta pulses"
ax_acc.set(xlabel="epoch", ylabel="validation accuracy (%)", title=f"Yin-Yang, exact LIF ({title})")
ax_pulse.set(xlabel="epoch", ylabel="spikes caused by a pulse (%)", title="weight-insensitive spikes")
if len(results) <= 10:
    ax_acc.legend(fontsize=7)
fig.tight_layout()
fig.savefig(args.out / "yin_yang.png", dpi=120)
print(f"figure: {args.out / 'yin_yang.png'}")
