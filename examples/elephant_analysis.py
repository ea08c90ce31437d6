"""Elephant analysis of an exact simulation
========================================

Analyse an exactly simulated Brian2 network with Elephant, through `brian2_sparseprop.to_neo`.

A population of LIF neurons with per-neuron drive and Poisson input is run with the 'sparseprop'
device; `to_neo` turns the monitors into a Neo Block (spike trains with exact times, the membrane
potential as an AnalogSignal, the population rate), which Elephant reads directly: firing rates,
CV of the inter-spike intervals, the population time histogram and the van Rossum distances.

    python examples/elephant_analysis.py [--quick] [--out DIR]

The figure goes to DIR/elephant_analysis.png (DIR: the current directory unless ``--out`` says);
``--quick`` simulates 0.2 s instead of 2 s.
"""

import argparse
from pathlib import Path

import numpy as np
import quantities as pq

parser = argparse.ArgumentParser(
    description=next(iter(__doc__.split("\n\n")[1:]), __doc__), formatter_class=argparse.ArgumentDefaultsHelpFormatter
)
parser.add_argument("--duration", type=float, default=2.0, help="simulated time in s")
parser.add_argument("--quick", action="store_true", help="simulate 0.2 s (overrides --duration)")
parser.add_argument("--out", type=Path, default=Path("."), help="directory of the figure")
args = parser.parse_args()
if args.quick:
    args.duration = 0.2

from brian2 import (  # noqa: E402
    Hz,
    NeuronGroup,
    PoissonInput,
    SpikeMonitor,
    StateMonitor,
    ms,
    mV,
    run,
    second,
    seed,
    set_device,
)
from elephant.spike_train_dissimilarity import van_rossum_distance  # noqa: E402
from elephant.statistics import cv, isi, mean_firing_rate, time_histogram  # noqa: E402

from brian2_sparseprop import to_neo  # noqa: E402  (importing the package registers the device)

set_device("sparseprop")
seed(7)
neurons = NeuronGroup(
    50,
    "dv/dt = (I - v)/(10*ms) : volt (unless refractory)\nI : volt",
    threshold="v > 20*mV",
    reset="v = 10*mV",
    refractory=2 * ms,
)
neurons.I = "15*mV + 10*mV*i/50"
neurons.v = "10*mV*rand()"
noise = PoissonInput(neurons, "v", 200, 10 * Hz, weight=0.2 * mV)
spikes = SpikeMonitor(neurons)
voltage = StateMonitor(neurons, "v", record=[0, 25, 49])
run(args.duration * second)

block = to_neo(spikes, voltage)
segment = block.segments[0]
trains = segment.spiketrains
print(f"{len(trains)} spike trains, simulation = {trains[0].annotations['simulation']!r}, t_stop = {trains[0].t_stop}")

rates = np.array([mean_firing_rate(st).rescale(pq.Hz).magnitude for st in trains])
cvs = np.array([cv(isi(st)) if len(st) > 2 else np.nan for st in trains])
histogram = time_histogram(trains, bin_size=5 * pq.ms, output="rate")
distances = van_rossum_distance(trains[:10], time_constant=10 * pq.ms)
print(f"rates {rates.min():.1f} .. {rates.max():.1f} Hz, mean CV {np.nanmean(cvs):.3f}")
print(f"van Rossum distances among the first 10 neurons: mean {distances[np.triu_indices(10, 1)].mean():.2f}")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
drive = np.asarray(neurons.I / mV)
axes[0, 0].plot(drive, rates, "o", ms=3)
axes[0, 0].set_xlabel("drive I (mV)")
axes[0, 0].set_ylabel("rate (Hz)")
axes[0, 0].set_title("mean_firing_rate")
axes[0, 1].plot(drive, cvs, "o", ms=3, color="tab:orange")
axes[0, 1].set_xlabel("drive I (mV)")
axes[0, 1].set_ylabel("CV of ISIs")
axes[0, 1].set_title("cv(isi)")
axes[1, 0].plot(histogram.times.rescale(pq.ms), histogram.rescale(pq.Hz).magnitude[:, 0], lw=0.8)
axes[1, 0].set_xlabel("time (ms)")
axes[1, 0].set_ylabel("population rate (Hz)")
axes[1, 0].set_title("time_histogram, 5 ms bins")
signal = segment.analogsignals[0]
axes[1, 1].plot(signal.times.rescale(pq.ms)[:3000], signal.rescale(pq.mV).magnitude[:3000], lw=0.7)
axes[1, 1].set_xlabel("time (ms)")
axes[1, 1].set_ylabel("v (mV)")
axes[1, 1].set_title("AnalogSignal from the StateMonitor (exact values)")
fig.tight_layout()
args.out.mkdir(parents=True, exist_ok=True)
fig.savefig(args.out / "elephant_analysis.png", dpi=110)
print(f"figure: {args.out / 'elephant_analysis.png'}")
