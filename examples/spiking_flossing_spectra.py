"""Lyapunov spectra of spiking networks before and after gradient flossing
=======================================================================

The full Lyapunov spectrum of a chaotic balanced theta network (S2) and of a stable inhibitory LIF network
(S1), each before and after gradient flossing of its first k exponents toward 0 (``floss``: exact
gradients through the JAX replay of the recorded spikes, Adam on weights and drives).

    python examples/spiking_flossing_spectra.py [--quick] [--out DIR]

Prints the first exponents and the rates before and after, and saves the spectra (lambda_i against i/N)
to DIR/spiking_flossing_spectra.png. The full run (N = 100, K = 10, k = 3, 200 flossing steps of 0.1 s,
spectra over 10 s) takes a few minutes; ``--quick`` (N = 40, 40 steps, spectra over 2 s) seconds.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import optax
from matplotlib.figure import Figure

from brian2_sparseprop.spiking import lyapunov_spectrum
from brian2_sparseprop.spiking.flossing import floss
from brian2_sparseprop.spiking.standard import balanced_theta, sparse_inhibitory_lif


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a small network and short runs (seconds)")
    parser.add_argument("--out", type=Path, default=Path("."), help="directory of the figure")
    args = parser.parse_args(argv)
    n, k_out = (40, 8) if args.quick else (100, 10)
    steps, t_spec, t_warm = (40, 2.0, 0.5) if args.quick else (200, 10.0, 2.0)
    networks = {
        "chaotic theta network (S2)": balanced_theta(n, k=k_out, seed=0),
        "stable inhibitory LIF network (S1)": sparse_inhibitory_lif(n, k=k_out, seed=0),
    }
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, (name, net) in zip(axes, networks.items()):
        t0 = time.perf_counter()
        net.run(0.5)
        res = floss(
            net, 0.1, k=3, n_steps=steps, train=("weights", "drive"), seed=0, evaluate=None,
            optimizer=optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2)),
        )  # fmt: skip
        spectra = {}
        for label, m in (("before", net), ("after", res.network)):
            spectra[label] = s = lyapunov_spectrum(m, t_spec, k=n, t_warmup_tangent=t_warm, seed=0)
            lam = s.exponents.magnitude
            print(
                f"{name}, {label} flossing: lambda_1..4 {np.round(lam[:4], 2).tolist()} /s, sum {lam.sum():.1f} /s, "
                f"{int((np.abs(lam) < 1.0).sum())} of {n} within 1 /s of 0, "
                f"rate {s.params['n_spikes'] / (n * t_spec):.2f} Hz"
            )
            ax.plot(np.arange(1, n + 1) / n, lam, ".-" if label == "before" else "o-", ms=3, label=f"{label} flossing")
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set(xlabel="i / N", ylabel="lambda_i (1/s)", title=f"{name}\nN = {n}, K = {k_out}, k = 3 flossed")
        ax.legend()
        print(f"  ({time.perf_counter() - t0:.0f} s)")
    args.out.mkdir(parents=True, exist_ok=True)
    output = args.out / "spiking_flossing_spectra.png"
    fig.savefig(output, dpi=120)
    print(f"figure: {output}")


if __name__ == "__main__":
    main()
