"""Exact simulation of an existing Brian2 script
=============================================

Switch an existing Brian2 model to exact event-driven simulation with one line.

The model below is an ordinary Brian2 script: a sparse excitatory/inhibitory network of LIF neurons
with per-neuron drive, refractoriness, synaptic delays, two sub-populations and Poisson input. The
only change for exact simulation is ``set_device('sparseprop')``; spike times are then exact (not
on the dt grid), delays are not rounded to dt, and PoissonInput is a Poisson process in continuous
time. Run with ``--runtime`` to simulate the same script with Brian2's clock-driven runtime.

    python examples/brian2_exact_mode.py [--runtime] [--duration 1.0] [--quick] [--out DIR]

The raster, rate and voltage figure goes to DIR/brian2_exact_mode.png (DIR: the current directory
unless ``--out`` says); ``--quick`` simulates 0.1 s.
"""

import argparse
from pathlib import Path

import numpy as np

parser = argparse.ArgumentParser(
    description=next(iter(__doc__.split("\n\n")[1:]), __doc__), formatter_class=argparse.ArgumentDefaultsHelpFormatter
)
parser.add_argument("--runtime", action="store_true", help="use Brian2's clock-driven runtime instead")
parser.add_argument("--duration", type=float, default=1.0, help="simulated time in s")
parser.add_argument("--quick", action="store_true", help="simulate 0.1 s (overrides --duration)")
parser.add_argument("--out", type=Path, default=Path("."), help="directory of the figure")
args = parser.parse_args()
if args.quick:
    args.duration = 0.1

from brian2 import (  # noqa: E402
    Hz,
    NeuronGroup,
    PoissonInput,
    PopulationRateMonitor,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    ms,
    mV,
    run,
    second,
    seed,
    set_device,
)

import brian2_sparseprop  # noqa: E402,F401  (registers the 'sparseprop' device)

if not args.runtime:
    set_device("sparseprop")  # the one added line

# ---------------------------------------------------------------- the unchanged Brian2 model
seed(2024)
N_E, N_I = 800, 200
tau, v_th, v_reset = 20 * ms, -50 * mV, -60 * mV
J, g = 0.5 * mV, 5.0

eqs = """
dv/dt = (v_rest - v)/tau : volt (unless refractory)
v_rest : volt
"""
neurons = NeuronGroup(N_E + N_I, eqs, threshold="v > v_th", reset="v = v_reset", refractory=2 * ms)
neurons.v_rest = "-52*mV + 2*mV*rand()"
neurons.v = "v_reset + (v_th - v_reset)*rand()"
exc, inh = neurons[:N_E], neurons[N_E:]

s_exc = Synapses(exc, neurons, on_pre="v_post += J", delay=1.5 * ms)
s_exc.connect(p=0.1)
s_inh = Synapses(inh, neurons, "w : volt", on_pre="v_post += w")
s_inh.connect(p=0.1)
s_inh.w = "-g*J"
s_inh.delay = "(0.5 + rand())*ms"
noise = PoissonInput(neurons, "v", 100, 10 * Hz, weight=0.4 * mV)

spikes = SpikeMonitor(neurons)
rate_e = PopulationRateMonitor(exc)
trace = StateMonitor(neurons, "v", record=[0, 1, N_E])

run(args.duration * second, report="text")
# ------------------------------------------------------------------------------------------

mode = "clock-driven runtime" if args.runtime else "exact (sparseprop)"
rates = spikes.count / (args.duration * second)
print(
    f"{mode}: {spikes.num_spikes} spikes, mean rate E {np.mean(rates[:N_E] / Hz):.2f} Hz, "
    f"I {np.mean(rates[N_E:] / Hz):.2f} Hz"
)
print(f"first spikes (ms): {np.round(spikes.t[:5] / ms, 6)}")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, (ax_raster, ax_rate, ax_v) = plt.subplots(
    3, 1, figsize=(8, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1, 1.3]}
)
ax_raster.plot(spikes.t / ms, spikes.i, ",k")
ax_raster.axhline(N_E, color="tab:red", lw=0.5)
ax_raster.set_ylabel("neuron")
ax_raster.set_title(f"sparse E/I network, {mode}")
ax_rate.plot(rate_e.t / ms, rate_e.smooth_rate(width=5 * ms) / Hz)
ax_rate.set_ylabel("E rate (Hz)")
for k, label in enumerate(["E 0", "E 1", "I 0"]):
    ax_v.plot(trace.t / ms, trace.v[k] / mV, lw=0.7, label=label)
ax_v.set_ylabel("v (mV)")
ax_v.set_xlabel("time (ms)")
ax_v.legend(fontsize=7, loc="lower right")
fig.tight_layout()
args.out.mkdir(parents=True, exist_ok=True)
fig.savefig(args.out / "brian2_exact_mode.png", dpi=110)
print(f"figure: {args.out / 'brian2_exact_mode.png'}")
