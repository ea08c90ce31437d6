"""The standard benchmark networks of the project (S1, S2), as ready-made `EventNetwork` instances.

They are what benchmarks, tests and examples share, so that figures compare across them.
"""

import numpy as np

from .network import EventNetwork

__all__ = ["random_out_connectivity", "sparse_inhibitory_lif", "balanced_theta"]


def random_out_connectivity(n, k, rng):
    """CSR of a fixed out-degree k, targets drawn uniformly without autapses.

    Targets of one neuron are drawn independently (with replacement), so a pair appears twice with
    probability about k / n: such a pair then acts as one synapse of double weight.

    Parameters
    ----------
    n, k : int
        Number of neurons and out-degree (k < n).
    rng : numpy.random.Generator

    Returns
    -------
    indptr : ndarray of int64, shape (n + 1,)
    indices : ndarray of int32, shape (n * k,)

    Examples
    --------
    >>> import numpy as np
    >>> indptr, indices = random_out_connectivity(5, 2, np.random.default_rng(0))
    >>> indptr.tolist(), bool((indices[:2] != 0).all())
    ([0, 2, 4, 6, 8, 10], True)
    """
    if not 0 < k < n:
        raise ValueError(f"k must be in (0, n) = (0, {n}), found: {k}")
    indptr = np.arange(n + 1, dtype=np.int64) * k
    indices = np.empty(n * k, dtype=np.int32)
    block = max(1, 2**24 // k)
    for start in range(0, n, block):  # blockwise: a million rows without a 1e8 temporary of int64
        stop = min(n, start + block)
        t = rng.integers(0, n - 1, size=(stop - start, k), dtype=np.int32)
        src = np.arange(start, stop, dtype=np.int32)[:, None]
        t += t >= src  # skip the diagonal: no autapses
        indices[start * k : stop * k] = t.ravel()
    return indptr, indices


def sparse_inhibitory_lif(n, k=100, seed=0, tau=0.01, drive=1.1, **kwargs):
    """S1: sparse inhibitory LIF network, weight -1/sqrt(k), no delay, random initial v in [0, 1).

    ``tau dv/dt = drive - v``, threshold 1, reset 0, no refractoriness; each neuron has k random
    targets. The stationary rate is about 3.3-3.4 Hz for the defaults.

    Examples
    --------
    >>> net = sparse_inhibitory_lif(1000, seed=1)
    >>> net.run(0.5)
    >>> 1.0 < net.spike_times.size / (1000 * 0.5) < 10.0
    True
    """
    rng = np.random.default_rng(seed)
    indptr, indices = random_out_connectivity(n, k, rng)
    return EventNetwork(
        n,
        "lif",
        tau=tau,
        drive=drive,
        threshold=1.0,
        reset=0.0,
        v_init=rng.random(n),
        indptr=indptr,
        indices=indices,
        weights=-1.0 / np.sqrt(k),
        seed=seed,
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
    rng = np.random.default_rng(seed)
    indptr, indices = random_out_connectivity(n, k, rng)
    return EventNetwork(
        n,
        "theta",
        tau=tau,
        drive=tau * np.sqrt(k) * j0 * rate,
        v_init=rng.uniform(-np.pi, np.pi, n),
        indptr=indptr,
        indices=indices,
        weights=-j0 / np.sqrt(k),
        seed=seed,
        **kwargs,
    )
