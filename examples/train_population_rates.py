"""Training a recurrent network of 10^4 LIF neurons to target rates
================================================================

Shape the 10^6 inhibitory weights of a recurrent LIF network so that two populations fire at their
target rates, with exact gradients of the event-driven run.

Ten thousand LIF neurons (tau = 20 ms, refractory 2 ms) with heterogeneous drives (uniform in 1.1-1.5,
so that on their own they fire at 16-45 Hz) receive 100 inhibitory synapses each (delay 1.5 ms). The
first half of the neurons should fire at 12.5 Hz, the second half at 20 Hz: each neuron's mean
inter-spike interval over its first five spikes is trained toward its population's target by its 100
incoming weights, kept inhibitory (Dale's law: an optax transform keeps every weight <= 0). A neuron
that fires fewer than five spikes in the 0.6 s trial does not count in that step's loss. With inhibitory
pulses no spike is caused by a pulse, so every spike time depends smoothly on the weights.

    python examples/train_population_rates.py [--quick] [-n N] [--steps S] [--out DIR]

Prints the loss before and after and the cost of a gradient step against a forward run, per spike, at
this size; the figure (the mean intervals against the drives, before and after, and the loss per step)
goes to DIR/train_population_rates.png. ``--checkpoint FILE`` makes the run resumable. The cost of the
backward pass alone is measured by ``python benchmarks/gradients.py``.
"""

import argparse
import time
from pathlib import Path

import numpy as np

parser = argparse.ArgumentParser(
    description=next(iter(__doc__.split("\n\n")[1:]), __doc__), formatter_class=argparse.ArgumentDefaultsHelpFormatter
)
parser.add_argument("-n", type=int, default=10_000, help="neurons")
parser.add_argument("-k", type=int, default=100, help="inhibitory synapses per neuron (out-degree)")
parser.add_argument("--steps", type=int, default=100, help="optimiser steps")
parser.add_argument("--lr", type=float, default=0.001, help="Adam learning rate")
parser.add_argument("--seed", type=int, default=0, help="seed of the network")
parser.add_argument("--quick", action="store_true", help="N = 2000 and 15 steps (overrides -n and --steps)")
parser.add_argument("--checkpoint", type=Path, default=None, help="file that makes the run resumable")
parser.add_argument("--out", type=Path, default=Path("."), help="directory of the figure")
args = parser.parse_args()
if args.quick:
    args.n, args.steps = 2000, 15

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

from brian2_sparseprop.connectivity import fixed_out_degree  # noqa: E402
from brian2_sparseprop.spiking.training import TrainableNetwork, train  # noqa: E402

rng = np.random.default_rng(args.seed)
n, duration, n_first = args.n, 0.6, 5
indptr, indices = fixed_out_degree(n, args.k, rng)
drive = rng.uniform(1.1, 1.5, n)
model = TrainableNetwork(
    n,
    indptr,
    indices,
    n_inputs=0,
    input_indptr=[0],
    input_indices=[],
    readout=np.arange(n),
    duration=duration,
    n_first=n_first,
    tau=0.02,
    refractory=0.002,
    drive=drive,
    delays=0.0015,
    trained=("weights",),
)
target_interval = np.where(np.arange(n) < n // 2, 0.08, 0.05)  # s: 12.5 Hz and 20 Hz
no_input = np.zeros((1, 0))


def mean_interval(first_spikes):
    """Each neuron's mean inter-spike interval over its first spikes, and whether it fired them all."""
    t = first_spikes[0]
    return (t[:, -1] - t[:, 0]) / (n_first - 1), t[:, -1] < duration


def loss(first_spikes, target):
    interval, fired = mean_interval(first_spikes)
    return jnp.sum(jnp.where(fired, (interval - target) ** 2, 0.0)) / jnp.maximum(fired.sum(), 1) * 1e6  # ms^2


# Dale's law: an update never takes a weight above 0
stay_inhibitory = optax.stateless(
    lambda updates, params: jax.tree.map(lambda u, w: jnp.minimum(u, -w), updates, params)
)
optimizer = optax.chain(optax.adam(args.lr), stay_inhibitory)

params = {"weights": -rng.uniform(0.0, 0.01, indices.size)}
before = model.first_spikes(params, no_input)
run = train(
    model,
    params,
    no_input,
    target_interval[None],
    loss,
    optimizer,
    epochs=args.steps,
    batch_size=1,
    checkpoint=args.checkpoint,
    report="tqdm",
)
after = model.first_spikes(run.params, no_input)
history = np.asarray(run.history["step_loss"])
print(f"{n} neurons, {indices.size} trained weights, {args.steps} steps")
print(f"loss (mean squared error of the intervals): {history[0]:.1f} ms^2 before, {history[-1]:.1f} ms^2 after")

# the cost of a step at this size: a forward run against a whole gradient step, per spike of the run
t0 = time.process_time()
model.first_spikes(run.params, no_input)
forward = time.process_time() - t0
t0 = time.process_time()
step = model.loss_and_gradient(run.params, no_input, target_interval[None], loss)
gradient = time.process_time() - t0
print(
    f"cost per spike ({step.n_spikes} spikes): forward run {1e6 * forward / step.n_spikes:.2f} us, "
    f"gradient step (forward with tape, loss, backward) {1e6 * gradient / step.n_spikes:.2f} us, "
    f"ratio {gradient / forward:.2f}"
)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
for ax, spikes, title in zip(axes[:2], (before, after), ("before", "after"), strict=True):
    interval, fired = mean_interval(spikes)
    for half, colour, label in ((slice(0, n // 2), "C0", "12.5 Hz"), (slice(n // 2, n), "C3", "20 Hz")):
        ok = fired[half]
        ax.plot(drive[half][ok], 1e3 * interval[half][ok], ".", ms=1.5, color=colour, label=f"target {label}")
        ax.axhline(1e3 * target_interval[half][0], color=colour, lw=1)
    ax.set(xlabel="drive", ylabel="mean interval of the first 5 spikes (ms)", title=f"{title} training")
    ax.legend(loc="upper right", markerscale=6)
axes[2].semilogy(history)
axes[2].set(xlabel="step", ylabel="loss (ms$^2$)", title="training")
fig.tight_layout()
args.out.mkdir(parents=True, exist_ok=True)
fig.savefig(args.out / "train_population_rates.png", dpi=120)
print(f"figure: {args.out / 'train_population_rates.png'}")
