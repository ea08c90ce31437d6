"""Training the weights of an ordinary Brian2 script
==================================================

Train the synaptic weights of an unchanged Brian2 script with exact gradients, so that chosen neurons fire
at target times.

The script is plain Brian2: a spike generator drives a recurrent group of LIF neurons (``dv/dt = (I -
v)/tau``, delta-pulse synapses with delays), which project onto three read-out neurons. The training lines
around it select the device with gradients (``set_device('sparseprop', gradients=True)``), store the
network before its first run, and in each step restore it, set the weights, run it, and ask
``get_device().gradient(monitor, loss)`` for dL/dw of the recurrent and the read-out weights (Brian2
Quantities in 1/volt, one value per synapse in Brian2's order); Adam (optax) updates them. The loss is the
squared distance of each read-out neuron's first spike to its target time.

    python examples/brian2_training.py [--quick] [--out DIR]

Prints the loss falling; the figure (first spikes against targets and the loss per step) goes to
DIR/brian2_training.png (DIR: the current directory unless ``--out`` says).
"""

import argparse
from pathlib import Path

import numpy as np

parser = argparse.ArgumentParser(
    description=next(iter(__doc__.split("\n\n")[1:]), __doc__), formatter_class=argparse.ArgumentDefaultsHelpFormatter
)
parser.add_argument("-n", type=int, default=40, help="neurons of the recurrent group")
parser.add_argument("--steps", type=int, default=150, help="optimiser steps")
parser.add_argument("--lr", type=float, default=0.05, help="Adam learning rate (mV per step)")
parser.add_argument("--seed", type=int, default=2, help="seed of the script's random numbers")
parser.add_argument("--quick", action="store_true", help="30 steps (overrides --steps)")
parser.add_argument("--out", type=Path, default=Path("."), help="directory of the figure")
args = parser.parse_args()
if args.quick:
    args.steps = 30

import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from brian2 import (  # noqa: E402
    Network,
    NeuronGroup,
    SpikeGeneratorGroup,
    SpikeMonitor,
    Synapses,
    collect,
    get_device,
    ms,
    mV,
    prefs,
    seed,
    set_device,
)

import brian2_sparseprop  # noqa: E402, F401 (registers the device)

prefs.codegen.target = "numpy"  # nothing to compile: the device runs the network
set_device("sparseprop", gradients=True)  # training line: record the tape of every run

# ---------------------------------------------------------------- the Brian2 script, unchanged
seed(args.seed)
duration = 60 * ms
inputs = SpikeGeneratorGroup(5, [0, 1, 2, 3, 4], [2, 5, 8, 11, 14] * ms)
G = NeuronGroup(
    args.n,
    "dv/dt = (I - v)/tau : volt (unless refractory)\nI : volt\ntau : second (constant)",
    threshold="v > 10*mV",
    reset="v = 0*mV",
    refractory=2 * ms,
)
G.I = "8*mV + 4*mV*rand()"
G.tau = "10*ms + 5*ms*rand()"
readout = NeuronGroup(3, "dv/dt = (13*mV - v)/(15*ms) : volt", threshold="v > 10*mV", reset="v = 0*mV")
S_in = Synapses(inputs, G, "w : volt", on_pre="v_post += w")
S_in.connect(p=0.5)
S_in.w = "4*mV"
S = Synapses(G, G, "w : volt", on_pre="v_post += w", delay=1.5 * ms)
S.connect(p=0.15, condition="i != j")
S.w = "0.5*mV*randn()"
R = Synapses(G, readout, "w : volt", on_pre="v_post += w")
R.connect(p=0.5)
R.w = "0.2*mV*randn()"
R.delay = "1*ms + 2*ms*rand()"
spikes = SpikeMonitor(readout)

# ---------------------------------------------------------------- the training lines
targets = np.array([20.0, 30.0, 40.0]) * 1e-3  # s: first spike of each read-out neuron


def loss(t, i):
    """Squared distance (ms^2) of each read-out neuron's first spike to its target (a missing spike
    counts as the end of the run, without gradient)."""
    first = jnp.stack([jnp.min(jnp.where(i == k, t, float(duration))) for k in range(3)])
    return jnp.sum((first - targets) ** 2) * 1e6


def first_spikes():
    t, i = np.asarray(spikes.t_), np.asarray(spikes.i)
    return np.array([t[i == k].min() if np.any(i == k) else np.nan for k in range(3)])


net = Network(collect())  # the script's objects (run() would collect them at every step)
net.store()
params = {"S": np.asarray(S.w / mV), "R": np.asarray(R.w / mV)}  # trained weights, in mV
optimizer = optax.adam(args.lr)
state = optimizer.init(params)
history = []
for step in range(args.steps):
    net.restore()
    S.w, R.w = np.asarray(params["S"]) * mV, np.asarray(params["R"]) * mV
    net.run(duration)
    if step == 0:
        before = first_spikes()
    grad = get_device().gradient(spikes, loss, net=net)
    history.append(grad.loss)
    # dL/dw in 1/volt, times mV: the gradient by the weights in mV
    g = {"S": np.asarray(grad[S]["w"] * mV), "R": np.asarray(grad[R]["w"] * mV)}
    updates, state = optimizer.update(g, state, params)
    params = optax.apply_updates(params, updates)
    if step % max(1, args.steps // 10) == 0 or step == args.steps - 1:
        print(f"step {step:4d}: loss {grad.loss:10.4g} ms^2, spikes caused by a pulse: {grad.n_pulse_triggered}")
after = first_spikes()
print(
    f"first spikes (ms): before {np.round(before * 1e3, 2)}, after {np.round(after * 1e3, 2)}, targets {targets * 1e3}"
)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, (ax, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.2))
ax.plot(targets * 1e3, range(3), "k|", markersize=18, label="target")
ax.plot(before * 1e3, np.arange(3) + 0.15, "o", color="0.6", label="before")
ax.plot(after * 1e3, np.arange(3) - 0.15, "o", color="C3", label="after")
ax.set(xlabel="time (ms)", ylabel="read-out neuron", yticks=range(3), title="first spikes")
ax.legend(fontsize=8)
ax_loss.semilogy(history)
ax_loss.set(xlabel="step", ylabel="loss (ms$^2$)", title="loss")
fig.tight_layout()
args.out.mkdir(parents=True, exist_ok=True)
fig.savefig(args.out / "brian2_training.png", dpi=120)
print(f"figure: {args.out / 'brian2_training.png'}")
