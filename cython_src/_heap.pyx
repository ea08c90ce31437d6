"""Python access to the engine's indexed 8-ary heap, for tests against ``heapq``."""
import numpy as np

from ._heap cimport Heap, heap_build, heap_replace, heap_sink, heap_update
from ._typedefs cimport idx_t, float64_t


cdef class IndexedHeap:
    """A fixed set of items ``0..n-1`` with float keys; the smallest key (ties: lowest index) is on top.

    Parameters
    ----------
    keys : array_like of float, shape (n,)
        Initial keys (NaN is not allowed).

    Examples
    --------
    >>> from brian2_sparseprop.spiking._heap import IndexedHeap
    >>> h = IndexedHeap([3.0, 1.0, 2.0])
    >>> h.top()
    (1, 1.0)
    >>> h.update(1, 5.0)
    >>> h.top()
    (2, 2.0)
    """
    cdef Heap h
    cdef float64_t[::1] _keys
    cdef idx_t[::1] _ids
    cdef idx_t[::1] _pos

    def __init__(self, keys):
        k = np.array(keys, dtype=np.float64, ndmin=1)
        if k.ndim != 1 or k.size == 0:
            raise ValueError(f"keys must be a non-empty 1-d array, found shape {k.shape}")
        if k.size >= 2**31:
            raise ValueError(f"at most 2**31 - 1 items, found {k.size}")
        if np.isnan(k).any():
            raise ValueError("keys must not be NaN")
        self._keys = k
        self._ids = np.arange(k.size, dtype=np.int32)
        self._pos = np.empty(k.size, dtype=np.int32)
        self.h.keys = &self._keys[0]
        self.h.ids = &self._ids[0]
        self.h.pos = &self._pos[0]
        self.h.pos_stride = 1
        self.h.size = <idx_t>k.size
        heap_build(&self.h)

    def __len__(self):
        return self.h.size

    def _check(self, i):
        if not 0 <= i < self.h.size:
            raise IndexError(f"item must be in [0, {self.h.size}), found: {i}")

    def update(self, i, double key):
        """Change the key of item ``i``."""
        self._check(i)
        if key != key:
            raise ValueError("key must not be NaN")
        heap_update(&self.h, <idx_t>i, key)

    def replace(self, i, double key):
        """Change the key of item ``i`` as the engine's kicks do, without reading the old key
        (`heap_replace`); the heap ends as after `update`."""
        self._check(i)
        if key != key:
            raise ValueError("key must not be NaN")
        heap_replace(&self.h, self.h.pos[i * self.h.pos_stride], key, <idx_t>i)

    def layout(self):
        """The items in heap order (position 0 first), as a new array."""
        return np.asarray(self._ids).copy()

    def increase(self, i, double key):
        """Raise the key of item ``i`` to ``key`` (>= its key) with the sink that prefetches a level ahead."""
        self._check(i)
        if not key >= self.key(i):
            raise ValueError(f"increase needs a key >= the current key {self.key(i)}, found: {key}")
        heap_sink(&self.h, self.h.pos[i * self.h.pos_stride], key, <idx_t>i)

    def top(self):
        """The item with the smallest key (ties: lowest index), and its key."""
        return int(self.h.ids[0]), float(self.h.keys[0])

    def key(self, i):
        """The current key of item ``i``."""
        self._check(i)
        return float(self.h.keys[self.h.pos[i * self.h.pos_stride]])
