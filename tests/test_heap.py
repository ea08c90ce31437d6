"""The engine's indexed priority queue against the standard library's ``heapq`` (property-based)."""

import heapq

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from brian2_sparseprop.spiking._heap import IndexedHeap


class LazyHeapq:
    """Reference: ``heapq`` with lazy invalidation; entries ``(key, index)`` so ties go to the lowest index."""

    def __init__(self, keys):
        self.keys = [float(k) for k in keys]
        self.entries = [(k, i) for i, k in enumerate(self.keys)]
        heapq.heapify(self.entries)

    def update(self, i, key):
        self.keys[i] = key
        heapq.heappush(self.entries, (key, i))

    def top(self):
        while self.entries[0][0] != self.keys[self.entries[0][1]]:
            heapq.heappop(self.entries)
        key, i = self.entries[0]
        return i, key


# Keys drawn from a handful of values (many exact ties, including +inf for "never fires") or from all
# finite floats (spike times are any doubles); NaN is never a valid key.
TIED = st.sampled_from([0.0, 1.0, 2.5, -3.0, 1e300, np.inf])
ANY = st.floats(allow_nan=False, allow_infinity=False, width=64)
KEYS = st.one_of(TIED, ANY)


@st.composite
def heap_programs(draw, max_n):
    n = draw(st.integers(1, max_n))
    keys = draw(st.lists(KEYS, min_size=n, max_size=n))
    updates = draw(st.lists(st.tuples(st.integers(0, n - 1), KEYS), max_size=200))
    return keys, updates


def check_equal(heap, ref, probe):
    i, key = heap.top()
    assert (i, key) == ref.top()
    assert heap.key(probe) == ref.keys[probe]


@settings(max_examples=100, deadline=None)
@given(program=heap_programs(max_n=20), data=st.data())
def test_small_heap_matches_heapq_after_every_update(program, data):
    keys, updates = program
    heap, ref = IndexedHeap(np.array(keys, dtype=np.float64)), LazyHeapq(keys)
    check_equal(heap, ref, 0)
    for i, key in updates:
        heap.update(i, key)
        ref.update(i, key)
        check_equal(heap, ref, data.draw(st.integers(0, len(keys) - 1)))


@pytest.mark.parametrize("op", ["update", "increase", "replace"])
@settings(max_examples=15, deadline=None)
@given(program=heap_programs(max_n=3000), data=st.data())
def test_large_heap_matches_heapq_after_every_update(op, program, data):
    # several levels of a d-ary heap, so sift-up and sift-down cross many nodes; "increase" is heap_sink
    # (the engine's removal of a firing neuron) at any node, with keys only growing; "replace" is the kicks'
    # update that reads the parent's key instead of the old one
    keys, updates = program
    heap, ref = IndexedHeap(np.array(keys, dtype=np.float64)), LazyHeapq(keys)
    for i, key in updates:
        if op == "increase":
            key = max(key, ref.keys[i])
        getattr(heap, op)(i, key)
        ref.update(i, key)
        check_equal(heap, ref, data.draw(st.integers(0, len(keys) - 1)))


@settings(max_examples=30, deadline=None)
@given(program=heap_programs(max_n=3000))
def test_replace_leaves_the_same_layout_as_update(program):
    # heap_replace decides by the parent's key, heap_update by the old key: both must move the same items
    keys, updates = program
    a, b = IndexedHeap(np.array(keys, dtype=np.float64)), IndexedHeap(np.array(keys, dtype=np.float64))
    for i, key in updates:
        a.update(i, key)
        b.replace(i, key)
        assert np.array_equal(a.layout(), b.layout())


@pytest.mark.parametrize("raise_key", ["update", "increase", "replace"])
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 500), data=st.data())
def test_popping_by_raising_the_top_key_to_inf_gives_sorted_order(raise_key, n, data):
    # the engine's use: the top neuron fires and gets a later key; raising each top to +inf in turn
    # must enumerate all items in (key, index) order, like heapq.nsmallest
    keys = data.draw(st.lists(KEYS.filter(np.isfinite), min_size=n, max_size=n))
    heap = IndexedHeap(np.array(keys, dtype=np.float64))
    order = []
    for _ in range(n):
        i, key = heap.top()
        order.append((key, i))
        getattr(heap, raise_key)(i, np.inf)
    assert order == sorted((k, i) for i, k in enumerate(keys))


def test_increase_refuses_a_smaller_key():
    heap = IndexedHeap([1.0, 2.0])
    with pytest.raises(ValueError, match="increase needs a key >= the current key 2.0, found: 1.5"):
        heap.increase(1, 1.5)


def test_ties_go_to_lowest_index():
    heap = IndexedHeap(np.full(9, 5.0))
    assert heap.top() == (0, 5.0)
    heap.update(0, 6.0)
    assert heap.top() == (1, 5.0)
    heap.update(7, 5.0)
    assert heap.top() == (1, 5.0)
    heap.update(1, 6.0)
    heap.update(2, 6.0)
    assert heap.top() == (3, 5.0)


@pytest.mark.parametrize("n", [1, 2, 8, 9, 65])
def test_key_reads_back_initial_keys(n, rng):
    keys = rng.standard_normal(n)
    heap = IndexedHeap(keys)
    assert [heap.key(i) for i in range(n)] == list(keys)
    assert heap.top() == (int(np.argmin(keys)), keys.min())
