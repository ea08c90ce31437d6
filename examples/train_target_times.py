"""Training spike times of a recurrent LIF network
===============================================

Train a recurrent LIF network so that chosen neurons fire at target times, with exact gradients.

A recurrent network of LIF neurons (suprathreshold drives, random sparse weights with delays) is a
student; a teacher of the same structure with other weights and drives sets the targets: the first
spikes of the read-out neurons, so the targets are reachable. The weights and drives of the student are
trained with Adam (optax) on the squared distance of its spike times to the targets, through
`brian2_sparseprop.spiking.training` (exact gradients of the event-driven run).

    python examples/train_target_times.py [--quick] [--out DIR]

Prints the loss before and after; the figure (spike times against targets, before and after, and the loss
per step) goes to DIR/train_target_times.png (DIR: the current directory unless ``--out`` says).
"""

import argparse
from pathlib import Path

import numpy as np

parser = argparse.ArgumentParser(
    description=next(iter(__doc__.split("\n\n")[1:]), __doc__), formatter_class=argparse.ArgumentDefaultsHelpFormatter
)
parser.add_argument("-n", type=int, default=50, help="neurons")
parser.add_argument("--readout", type=int, default=5, help="neurons with target times")
parser.add_argument("--spikes", type=int, default=3, help="target spikes per read-out neuron")
parser.add_argument("--steps", type=int, default=300, help="optimiser steps")
parser.add_argument("--lr", type=float, default=0.005, help="Adam learning rate")
parser.add_argument("--seed", type=int, default=1, help="seed of the networks")
parser.add_argument("--quick", action="store_true", help="40 steps (overrides --steps)")
parser.add_argument("--out", type=Path, default=Path("."), help="directory of the figure")
args = parser.parse_args()
if args.quick:
    args.steps = 40

import optax  # noqa: E402

from brian2_sparseprop.spiking.training import TrainableNetwork, train  # noqa: E402

rng = np.random.default_rng(args.seed)
n, duration, tau = args.n, 0.15, 0.02
mask = (rng.random((n, n)) < 0.2) & ~np.eye(n, dtype=bool)
indptr = np.concatenate([[0], np.cumsum(mask.sum(1))])
indices = np.nonzero(mask)[1]
nnz = indices.size
model = TrainableNetwork(
    n,
    indptr,
    indices,
    n_inputs=0,
    input_indptr=[0],
    input_indices=[],
    readout=np.arange(args.readout),
    duration=duration,
    n_first=args.spikes,
    tau=tau,
    refractory=0.002,
    delays=rng.uniform(0.001, 0.005, nnz),
    trained=("weights", "drive"),
)
no_input = np.zeros((1, 0))


def random_params():
    return {"weights": rng.normal(0.0, 0.05, nnz), "drive": rng.uniform(1.1, 1.5, n)}


teacher, student = random_params(), random_params()
targets = model.first_spikes(teacher, no_input)


def loss(first_spikes, targets):
    return ((first_spikes - targets) ** 2).mean() * 1e6  # ms^2


before = model.first_spikes(student, no_input)
run = train(model, student, no_input, targets, loss, optax.adam(args.lr), epochs=args.steps, batch_size=1)
after = model.first_spikes(run.params, no_input)
rms = [float(np.sqrt(loss(x, targets))) for x in (before, after)]
print(
    f"{n} LIF neurons, {nnz} synapses; {args.readout} read-out neurons x {args.spikes} target spikes; "
    f"{args.steps} Adam steps"
)
print(f"rms distance to the targets: {rms[0]:.3f} ms before, {rms[1]:.3f} ms after")
print(f"spikes caused by a pulse (no weight gradient): {100 * np.mean(run.history['pulse_triggered']):.1f} %")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, (ax, ax_loss) = plt.subplots(1, 2, figsize=(10, 3.5), gridspec_kw={"width_ratios": [2, 1]})
for r in range(args.readout):
    ax.plot(targets[0, r] * 1000, np.full(args.spikes, r), "k|", markersize=16, label="target" if r == 0 else None)
    ax.plot(before[0, r] * 1000, np.full(args.spikes, r + 0.2), "o", color="0.6", label="before" if r == 0 else None)
    ax.plot(after[0, r] * 1000, np.full(args.spikes, r - 0.2), "o", color="C3", label="after" if r == 0 else None)
ax.set(xlabel="time (ms)", ylabel="read-out neuron", title="first spikes against target times")
ax.legend(loc="upper right", fontsize=8)
ax_loss.semilogy(run.history["step_loss"])
ax_loss.set(xlabel="step", ylabel="mean squared error (ms$^2$)", title="loss")
fig.tight_layout()
args.out.mkdir(parents=True, exist_ok=True)
fig.savefig(args.out / "train_target_times.png", dpi=120)
print(f"figure: {args.out / 'train_target_times.png'}")
