"""Random sparse connectivity of fixed degree, as CSR arrays built for networks of 10^9 synapses.

One generator for the whole package. Both functions return the CSR layout of the spiking engine (and of
``scipy.sparse.csr_array`` for the matrix ``C[source, target]``): the targets of source ``j`` are
``indices[indptr[j]:indptr[j + 1]]``, ``indptr`` int64 and ``indices`` int32. The index array is written
in chunks of rows straight into its final place: apart from it, memory stays O(n) plus chunks of
``CHUNK`` entries, and no int64 or full-size temporary is made.

A rate network's coupling ``J[i, j]`` (row i receives from column j) with ``k`` inputs per unit is the
same arrays read with rows as receivers: ``fixed_out_degree(n, k, rng, multapses=False)`` gives ``k``
distinct random columns per row, so ``scipy.sparse.csr_array((values, indices, indptr), shape=(n, n))``
is such a ``J`` without a transpose.
"""

import numpy as np

from ._validation import check_int

__all__ = ["fixed_out_degree", "fixed_in_degree"]

CHUNK = 2**20  # entries drawn per step: 4 MiB of int32 (draws with multapses do not depend on it)


def _check(n, k, autapses, multapses):
    n = check_int("n", n, 1)
    if n >= 2**31 - 1:
        raise ValueError(f"n must be < 2**31 - 1 (int32 neuron indices), found: {n}")
    k = check_int("k", k, 1)
    for name, flag in (("autapses", autapses), ("multapses", multapses)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool, found: {flag!r}")
    m = n if autapses else n - 1  # number of possible partners of a neuron
    if k > m:
        raise ValueError(f"k must be in [1, {m}] for n = {n} (autapses={bool(autapses)}), found: {k}")
    return n, k, m


def _row_chunks(n, k, m, rng, autapses, multapses):
    """Yield ``(start, stop, partners)``: the k partners of rows ``start .. stop - 1``, shape (stop - start, k),
    int32, drawn uniformly from the other ``m`` neurons (with or without repeats within a row)."""
    dense = not multapses and 2 * k > m  # distinct partners, most of the row: rank random keys
    rows = max(1, CHUNK // (4 * m) if dense else CHUNK // k)  # dense: keys and their ranks are 16 B per entry
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        if multapses:
            part = rng.integers(0, m, size=(stop - start, k), dtype=np.int32)
        elif dense:
            keys = rng.random((stop - start, m))
            part = np.argpartition(keys, k - 1, axis=1)[:, :k].astype(np.int32)
            del keys
            part.sort(axis=1)
        else:
            part = _distinct_sparse(rng, stop - start, m, k)
        if not autapses:  # draws are in [0, n - 1): skip the row's own index
            part += part >= np.arange(start, stop, dtype=np.int32)[:, None]
        yield start, stop, part


def _distinct_sparse(rng, rows, m, k):
    """k distinct values in [0, m) per row, sorted, for k <= m / 2: draw with repeats, redraw the repeats.

    Every step treats all values alike, so each k-subset is equally likely; a redrawn value repeats with
    probability below k / m <= 1/2, so a few rounds suffice."""
    part = rng.integers(0, m, size=(rows, k), dtype=np.int32)
    while True:
        part.sort(axis=1)
        repeat = part[:, 1:] == part[:, :-1]
        n_repeat = int(np.count_nonzero(repeat))
        if n_repeat == 0:
            return part
        later = part[:, 1:]  # a view: writing into it redraws the second of each equal pair
        later[repeat] = rng.integers(0, m, size=n_repeat, dtype=np.int32)


def fixed_out_degree(n, k, rng=None, *, autapses=False, multapses=True):
    """Every neuron of a population of ``n`` projects to ``k`` targets drawn uniformly at random.

    Parameters
    ----------
    n : int
        Number of neurons, in [1, 2**31 - 1).
    k : int
        Out-degree, in [1, n - 1] (``[1, n]`` with autapses).
    rng : numpy.random.Generator, int or None
        Random generator or seed.
    autapses : bool
        Whether a neuron may target itself (default False).
    multapses : bool
        True (default): the k targets are drawn independently, with replacement, so a pair appears twice
        with probability about k / n and then acts as one synapse of double weight; this is S1's rule
        (shared/DESIGN.md), and its output for a seed stays fixed. False: k distinct targets, each row in
        ascending order.

    Returns
    -------
    indptr : ndarray of int64, shape (n + 1,)
        ``indptr[j] = j k``.
    indices : ndarray of int32, shape (n k,)
        The targets of neuron j are ``indices[indptr[j]:indptr[j + 1]]``.

    Raises
    ------
    TypeError
        If n or k is not an integer, or autapses or multapses is not a bool.
    ValueError
        If n or k is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> indptr, indices = fixed_out_degree(5, 2, np.random.default_rng(0))
    >>> indptr.tolist(), indices.dtype, bool((indices[:2] != 0).all())
    ([0, 2, 4, 6, 8, 10], dtype('int32'), True)
    >>> _, indices = fixed_out_degree(4, 3, 1, multapses=False)  # all other neurons, in order
    >>> indices.reshape(4, 3).tolist()
    [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]
    """
    n, k, m = _check(n, k, autapses, multapses)
    rng = np.random.default_rng(rng)
    indptr = np.arange(n + 1, dtype=np.int64) * k
    indices = np.empty(n * k, dtype=np.int32)
    for start, stop, part in _row_chunks(n, k, m, rng, autapses, multapses):
        indices[start * k : stop * k] = part.ravel()
    return indptr, indices


def fixed_in_degree(n, k, rng=None, *, autapses=False, multapses=True):
    """Every neuron of a population of ``n`` receives from ``k`` sources drawn uniformly at random.

    The result is laid out by source, as the engine needs it; the targets of a source come in ascending
    order. Built in two passes over the same random numbers (the generator's state is saved and put back
    between them): the first counts each source's targets, the second writes them into place, so that
    the only full-size array is the result.

    Parameters
    ----------
    n : int
        Number of neurons, in [1, 2**31 - 1).
    k : int
        In-degree, in [1, n - 1] (``[1, n]`` with autapses).
    rng : numpy.random.Generator, int or None
        Random generator or seed. A Generator ends in the same state as after drawing the sources once.
    autapses : bool
        Whether a neuron may receive from itself (default False).
    multapses : bool
        True (default): the k sources of a neuron are drawn independently, with replacement. False:
        k distinct sources.

    Returns
    -------
    indptr : ndarray of int64, shape (n + 1,)
    indices : ndarray of int32, shape (n k,)
        The targets of neuron j are ``indices[indptr[j]:indptr[j + 1]]``.

    Raises
    ------
    TypeError
        If n or k is not an integer, or autapses or multapses is not a bool.
    ValueError
        If n or k is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> indptr, indices = fixed_in_degree(100, 10, np.random.default_rng(0))
    >>> np.bincount(indices, minlength=100).tolist() == [10] * 100  # every neuron has 10 inputs
    True
    """
    n, k, m = _check(n, k, autapses, multapses)
    rng = np.random.default_rng(rng)
    start_state = rng.bit_generator.state
    counts = np.zeros(n, np.int64)
    for _, _, part in _row_chunks(n, k, m, rng, autapses, multapses):
        counts += np.bincount(part.ravel(), minlength=n)
    end_state = rng.bit_generator.state
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    del counts
    indices = np.empty(n * k, dtype=np.int32)
    fill = indptr[:-1].copy()  # next free slot of each source's row
    rng.bit_generator.state = start_state
    for start, _, part in _row_chunks(n, k, m, rng, autapses, multapses):
        sources = part.ravel()
        order = np.argsort(sources, kind="stable")  # by source; targets ascending within a source
        by_source = sources[order]
        rank = np.arange(order.size) - np.searchsorted(by_source, by_source, side="left")
        indices[fill[by_source] + rank] = start + order // k
        fill += np.bincount(sources, minlength=n)
    rng.bit_generator.state = end_state
    return indptr, indices
