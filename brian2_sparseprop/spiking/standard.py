"""The standard benchmark networks of the project (S1, S2), as ready-made `EventNetwork` instances.

They are what benchmarks, tests and examples share, so that figures compare across them. Each neuron
has k random targets (fixed out-degree, no autapses, a pair may repeat:
`brian2_sparseprop.connectivity.fixed_out_degree`); the connectivity is generated straight into the
int32 array that the engine uses, so S1 at N = 10^7 (10^9 synapses) needs about 5 GiB.
"""

import numpy as np

from .. import connectivity
from . import network
from .network import EventNetwork

__all__ = ["sparse_inhibitory_lif", "balanced_theta"]


def _memory_needed(n, k, params):
    """Estimated peak bytes of building a standard network: what the EventNetwork adds, and the
    connectivity (4 bytes per synapse, 8 per neuron) and initial states (8 per neuron) made here."""
    per_neuron = network._neuron_bytes(
        params["tau"],
        params["drive"],
        params.get("threshold", 1.0),
        params.get("reset", 0.0),
        params.get("refractory", 0.0),
        params.get("delays", 0.0),
        params["model"],
        params.get("lif_shared_tau", True),
    )
    per_synapse = network._synapse_bytes(np.zeros(0, np.int32), params["weights"], params.get("delays", 0.0), False)
    return (per_neuron + 16) * n + (4 + per_synapse) * n * k + network.CHUNK_BYTES


def _random_network(n, k, seed, initial, **params):
    """An EventNetwork of n neurons with k random targets each (n and k checked), connectivity drawn first
    and then the initial states ``initial(rng)`` from one generator seeded with ``seed``; refused with a
    MemoryError before anything is generated if it would not fit."""
    network._check_memory(_memory_needed(n, k, params), n, n * k)
    rng = np.random.default_rng(seed)
    indptr, indices = connectivity.fixed_out_degree(n, k, rng)
    return EventNetwork(n, v_init=initial(rng), indptr=indptr, indices=indices, seed=seed, copy=False, **params)


def sparse_inhibitory_lif(n, k=100, seed=0, tau=0.01, drive=1.1, **kwargs):
    """S1: sparse inhibitory LIF network, weight -1/sqrt(k), no delay, random initial v in [0, 1).

    ``tau dv/dt = drive - v``, threshold 1, reset 0, no refractoriness; each neuron has k random
    targets. The stationary rate is about 3.3-3.4 Hz for the defaults.

    Raises
    ------
    MemoryError
        If the network would not fit in the available memory (checked before generating it).

    Examples
    --------
    >>> net = sparse_inhibitory_lif(1000, seed=1)
    >>> net.run(0.5)
    >>> 1.0 < net.spike_times.size / (1000 * 0.5) < 10.0
    True
    """
    n, k, _ = connectivity._check(n, k, autapses=False, multapses=True)
    return _random_network(
        n,
        k,
        seed,
        lambda rng: rng.random(n),
        model="lif",
        tau=tau,
        drive=drive,
        threshold=1.0,
        reset=0.0,
        weights=-1.0 / np.sqrt(k),
        **kwargs,
    )


def balanced_theta(n, k=50, seed=0, tau=0.01, j0=1.0, rate=5.0, **kwargs):
    """S2: balanced theta network, weight -j0/sqrt(k), drive from the balance condition
    ``drive = tau sqrt(k) j0 rate``; random initial phases.

    Examples
    --------
    >>> net = balanced_theta(200, seed=1)
    >>> net.run(0.5)
    >>> net.spike_times.size > 0
    True
    """
    n, k, _ = connectivity._check(n, k, autapses=False, multapses=True)
    return _random_network(
        n,
        k,
        seed,
        lambda rng: rng.uniform(-np.pi, np.pi, n),
        model="theta",
        tau=tau,
        drive=tau * np.sqrt(k) * j0 * rate,
        weights=-j0 / np.sqrt(k),
        **kwargs,
    )
