"""The engine's QIF/theta fast path (`kick_row` with the kernel constants of a network whose tau, drive > 0 and
threshold value are shared) against its generic path, which the same neurons take once one isolated LIF
neuron with another threshold joins the network: the spikes of the QIF/theta neurons must agree to the bit.

Exactness against closed forms and the slow reference is `test_engine_vs_oracle.py`'s (theta and QIF networks
there run on the fast path); this file checks that the fast path is the generic path's arithmetic."""

import numpy as np
import pytest

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.connectivity import fixed_out_degree


def network(model, n, seed, extra_lif, multapses):
    """n QIF/theta neurons, 20 random targets each, weights of both signs; with `extra_lif`, one more neuron
    (index n): a LIF neuron without synapses whose drive stays below its threshold (it never fires)."""
    rng = np.random.default_rng(seed)
    k = 20
    if multapses:
        indptr = np.arange(n + 1, dtype=np.int64) * k
        indices = rng.integers(0, n, n * k).astype(np.int32)  # repeated targets in some rows
    else:
        indptr, indices = fixed_out_degree(n, k, rng)
    weights = rng.normal(-0.1, 0.3, indices.size)
    if model == "theta":
        v0 = rng.uniform(-np.pi, np.pi, n)
        params = dict(threshold=5.0, reset=-5.0)  # ignored by theta neurons (+-pi)
    else:
        v0 = rng.uniform(-3.0, 3.0, n)
        params = dict(threshold=5.0, reset=-5.0)
    models = np.array([model] * n)
    threshold = np.full(n, params["threshold"])
    reset = np.full(n, params["reset"])
    if extra_lif:
        indptr = np.append(indptr, indptr[-1])
        models = np.append(models, "lif")
        v0 = np.append(v0, 0.0)
        threshold = np.append(threshold, 1.0)  # above the drive: never reached
        reset = np.append(reset, 0.0)
    return EventNetwork(
        models.size,
        model=models,
        tau=0.01,
        drive=0.5,
        threshold=threshold,
        reset=reset,
        v_init=v0,
        indptr=indptr,
        indices=indices,
        weights=weights,
        seed=seed,
    )


@pytest.mark.parametrize("model", ["theta", "qif"])
@pytest.mark.parametrize("multapses", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_path_spikes_equal_the_generic_paths_to_the_bit(model, multapses, seed):
    n = 300
    fast = network(model, n, seed, extra_lif=False, multapses=multapses)
    slow = network(model, n, seed, extra_lif=True, multapses=multapses)
    fast.run(0.5)
    slow.run(0.5)
    assert fast._engine.qf_match != -1, "the fast path should be on (shared tau, drive, threshold)"
    assert slow._engine.qf_match == -1, "the fast path should be off (two threshold values)"
    assert fast.spike_times.size > 200  # a run with many kicks of both signs
    assert np.array_equal(fast.spike_indices, slow.spike_indices)
    assert np.array_equal(fast.spike_times, slow.spike_times)
    assert np.array_equal(fast.v, slow.v[:n])
