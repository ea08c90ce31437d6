"""SparseProp against the conventional exact method (every neuron advanced at every spike) on S1."""

import numpy as np
import pytest

from brian2_sparseprop.connectivity import fixed_out_degree
from brian2_sparseprop.spiking._dense import dense_lif_run
from brian2_sparseprop.spiking.standard import sparse_inhibitory_lif


@pytest.mark.parametrize("shared", [True, False], ids=["shared-tau", "lazy"])
def test_s1_same_spike_sequence_as_conventional_method(seed, shared):
    n, duration = 1000, 1.0
    net = sparse_inhibitory_lif(n, seed=seed, lif_shared_tau=shared)
    net.run(duration)
    rng = np.random.default_rng(seed)  # the same draws as sparse_inhibitory_lif
    indptr, indices = fixed_out_degree(n, 100, rng)
    times, who = dense_lif_run(rng.random(n), 1.1, 1.0, 0.0, 0.01, indptr, indices, -0.1, duration)
    assert times.size > 2 * n  # a meaningful number of spikes (rate ~3.4 Hz)
    np.testing.assert_array_equal(net.spike_indices, who)
    # both are exact; they differ by the rounding of different arithmetic, a few ulp of t per spike
    np.testing.assert_allclose(net.spike_times, times, rtol=0, atol=1e-12)


def test_conventional_method_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="I > threshold and weight <= 0"):
        dense_lif_run(np.zeros(2), 0.9, 1.0, 0.0, 0.01, np.array([0, 1, 2]), np.array([1, 0], np.int32), -0.1, 1.0)
